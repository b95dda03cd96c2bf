"""systems.pendulum_step (chapter 7's true system) against Gymnasium's own Pendulum-v1."""

import numpy as np
import pytest

import imagination as im

gymnasium = pytest.importorskip("gymnasium")


def test_pendulum_step_reproduces_gymnasium():
    env = gymnasium.make("Pendulum-v1").unwrapped
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    th = rng.uniform(-2 * np.pi, 2 * np.pi, 500)
    thd = rng.uniform(-8, 8, 500)
    u = rng.uniform(-3, 3, 500)  # beyond the torque limit too: the clip is part of the step
    nth, nthd, rew = im.pendulum_step(th, thd, u)
    for i in range(500):
        env.state = np.array([th[i], thd[i]])
        _, reward, *_ = env.step(np.array([u[i]]))
        assert env.state[0] == nth[i] and env.state[1] == nthd[i]
        # rewards up to 16 in size: numpy squares arrays and scalars with different roundings
        assert abs(reward - rew[i]) <= 8 * np.finfo(float).eps * 16


def test_pendulum_step_rejects_non_finite_input():
    with pytest.raises(ValueError, match="finite"):
        im.pendulum_step(np.nan, 0.0, 0.0)
