"""Figure 3's configurations: exact simulation, exact model errors, valid Lipschitz constants,
and Lemma 1 (Eq. (1), finite-horizon form) checked on the paper's 150 + 375 configurations."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from imagination.bounds import return_error_bound_finite
from imagination.systems import (
    Figure3Systems,
    figure3_ratio,
    figure3_rollout,
    lqg_configurations,
    simulate_gap,
    synthetic_configurations,
)

MAKERS = {"synthetic": synthetic_configurations, "lqg": lqg_configurations}
HORIZON = 200
# Lipschitz and containment checks allow rounding only, nothing more.
REL = 1e-12


@pytest.fixture(scope="module")
def paper_batches() -> dict[str, Figure3Systems]:
    """The paper's sizes (§3.1): 150 synthetic, then 375 LQG, from one Generator seeded 0."""
    rng = np.random.default_rng(0)
    return {
        "synthetic": synthetic_configurations(150, horizon=HORIZON, rng=rng),
        "lqg": lqg_configurations(375, horizon=HORIZON, rng=rng),
    }


def reference_gap(b: Figure3Systems, i: int, horizon: int) -> float:
    """|J_H - Ĵ_H| of configuration i, one step at a time, straight from the formulas."""
    syn = b.family == "synthetic"
    A, B, K = b.A[i], b.B[i], b.K[i]

    def pi(s):
        return np.tanh(K @ s) if syn else -(K @ s)

    def f(s, a):
        return np.tanh(A @ s + B @ a) if syn else A @ s + B @ a

    def r(s, a):
        if syn:
            return float(b.w[i] @ np.sin(b.C[i] @ s + b.D[i] @ a))
        return -float(s @ b.Q[i] @ s + a @ b.R[i] @ a)

    def f_hat(s, a):
        phase = float(b.q_dyn[i] @ np.concatenate([s, a]))
        return f(s, a) + b.eps_dyn[i] * (b.e1[i] * math.cos(phase) + b.e2[i] * math.sin(phase))

    def r_hat(s, a):
        return r(s, a) + b.eps_rew[i] * math.cos(float(b.q_rew[i] @ np.concatenate([s, a])))

    s, s_hat, total = b.s0[i].copy(), b.s0[i].copy(), 0.0
    for t in range(horizon):
        a, a_hat = pi(s), pi(s_hat)
        total += b.gamma[i] ** t * (r(s, a) - r_hat(s_hat, a_hat))
        s, s_hat = f(s, a), f_hat(s_hat, a_hat)
    return abs(total)


@pytest.mark.parametrize("family", MAKERS)
def test_batched_simulation_equals_reference_loop(family, paper_batches):
    b = paper_batches[family]
    for i in (0, 1, 7, b.n // 2, b.n - 1):
        assert b.gap[i] == pytest.approx(reference_gap(b, i, HORIZON), rel=1e-12, abs=0)
    # A shorter horizon through the public function, too.
    short = simulate_gap(b, horizon=5)
    assert short[3] == pytest.approx(reference_gap(b, 3, 5), rel=1e-12, abs=0)


@pytest.mark.parametrize("family", MAKERS)
def test_rollout_matches_gap(family, paper_batches):
    b = paper_batches[family]
    traj = figure3_rollout(b)
    assert traj.states.shape == (HORIZON + 1, b.n, b.d_s)
    assert traj.model_actions.shape == (HORIZON + 1, b.n, b.d_a)
    assert traj.rewards.shape == (HORIZON, b.n)
    assert np.array_equal(traj.states[0], traj.model_states[0])  # the same s_0
    weights = b.gamma[None, :] ** np.arange(HORIZON)[:, None]
    gap = np.abs(np.sum(weights * (traj.rewards - traj.model_rewards), axis=0))
    assert np.allclose(gap, b.gap, rtol=1e-12, atol=0)
    assert np.array_equal(simulate_gap(b), b.gap)


def _points(rng, b: Figure3Systems, k: int) -> tuple[np.ndarray, np.ndarray]:
    # Synthetic constants are global: points of all sizes. LQG constants hold on the ball of
    # radius rho (actions: ||K|| rho), so draw uniformly inside those balls.
    if b.family == "synthetic":
        scale = 10.0 ** rng.uniform(-1, 1, (k, b.n, 1))
        return scale * rng.normal(size=(k, b.n, b.d_s)), scale * rng.normal(size=(k, b.n, b.d_a))

    def ball(radius, d):
        x = rng.normal(size=(k, b.n, d))
        x /= np.linalg.norm(x, axis=-1, keepdims=True)
        return x * (radius[:, None] * rng.uniform(size=(k, b.n, 1)) ** (1 / d))

    return ball(b.radius, b.d_s), ball(b.L_pi * b.radius, b.d_a)


@pytest.mark.parametrize("family", MAKERS)
def test_model_errors_are_exact(family, paper_batches):
    b = paper_batches[family]
    s, a = _points(np.random.default_rng(1), b, 50)
    f, f_hat = b.dynamics(s, a), b.model_dynamics(s, a)
    # f^ - f cancels about log10(|f| / eps_dyn) <= 5 of the 16 digits: hence rtol 1e-10.
    assert np.allclose(np.linalg.norm(f_hat - f, axis=-1), b.eps_dyn, rtol=1e-10, atol=0)
    r, r_hat = b.reward(s, a), b.model_reward(s, a)
    assert np.all(np.abs(r_hat - r) <= b.eps_rew * (1 + REL) + 4e-16 * np.abs(r))
    # The sup is attained: at the origin r = 0 and the cosine is 1, so r^ - r = eps_rew exactly.
    zero_s, zero_a = np.zeros((b.n, b.d_s)), np.zeros((b.n, b.d_a))
    assert np.array_equal(b.model_reward(zero_s, zero_a) - b.reward(zero_s, zero_a), b.eps_rew)


@pytest.mark.parametrize("family", MAKERS)
def test_lipschitz_constants_hold(family, paper_batches):
    b = paper_batches[family]
    rng = np.random.default_rng(2)
    s, a = _points(rng, b, 200)
    s2, a2 = _points(rng, b, 200)
    # Near pairs too, where the local slope is largest relative to the distance.
    near = rng.uniform(size=(200, b.n, 1)) < 0.5
    s2 = np.where(near, s + 1e-3 * (s2 - s), s2)
    a2 = np.where(near, a + 1e-3 * (a2 - a), a2)
    ds = np.linalg.norm(s - s2, axis=-1)
    dist = ds + np.linalg.norm(a - a2, axis=-1)
    df = np.linalg.norm(b.dynamics(s, a) - b.dynamics(s2, a2), axis=-1)
    dr = np.abs(b.reward(s, a) - b.reward(s2, a2))
    dpi = np.linalg.norm(b.policy(s) - b.policy(s2), axis=-1)
    assert np.all(df <= b.L_f * dist * (1 + REL))
    assert np.all(dr <= b.L_r * dist * (1 + REL))
    assert np.all(dpi <= b.L_pi * ds * (1 + REL))


def test_lqg_trajectories_stay_in_the_ball(paper_batches):
    b = paper_batches["lqg"]
    traj = figure3_rollout(b)
    rho = b.radius * (1 + REL)
    for states in (traj.states, traj.model_states):
        assert np.all(np.linalg.norm(states, axis=-1) <= rho)
    for actions in (traj.actions, traj.model_actions):
        assert np.all(np.linalg.norm(actions, axis=-1) <= b.L_pi * rho)
    # The closed loop is a contraction in spectral norm, not only in spectral radius.
    closed_loop = b.A - b.B @ b.K
    assert np.all(np.linalg.norm(closed_loop, ord=2, axis=(-2, -1)) < 1)
    for P in (b.Q, b.R):  # symmetric positive semi-definite cost weights
        assert np.array_equal(P, np.swapaxes(P, -1, -2))
        assert np.all(np.linalg.eigvalsh(P) >= -1e-12)


@pytest.mark.parametrize("family", MAKERS)
def test_contraction_holds_everywhere(family, paper_batches):
    b = paper_batches[family]
    assert np.all(b.gamma * b.L_f * (1 + b.L_pi) < 1)
    assert np.all((b.gamma >= 0.5) & (b.gamma <= 0.99))


@pytest.mark.parametrize("family", MAKERS)
def test_lemma1_bound_covers_figure3_configurations(family, paper_batches):
    """The paper's claim (Figure 3): gap <= finite-horizon bound in every configuration."""
    b = paper_batches[family]
    R = figure3_ratio(b)
    assert R.shape == (b.n,)
    assert np.all(R <= 1 + 1e-9), f"Lemma 1 violated: max R = {R.max()!r}"
    # The check has teeth: somewhere the gap is more than half the bound, so an error of a
    # factor 2 in a constant or in the simulated gap would make the line above fail ...
    assert R.max() > 0.5
    # ... and dropping the dynamics term of the bound is violated somewhere.
    reward_only = return_error_bound_finite(0.0, b.eps_rew, b.gamma, b.L_f, b.L_r, b.L_pi, HORIZON)
    assert np.any(b.gap > reward_only)


def test_ratio_uses_the_finite_bound_at_the_same_horizon(paper_batches):
    b = paper_batches["synthetic"]
    bound = return_error_bound_finite(
        b.eps_dyn, b.eps_rew, b.gamma, b.L_f, b.L_r, b.L_pi, b.horizon
    )
    assert np.array_equal(figure3_ratio(b), b.gap / bound)


@pytest.mark.parametrize("family", MAKERS)
def test_same_seed_same_batch(family):
    make = MAKERS[family]
    one = make(6, horizon=20, rng=np.random.default_rng(5), d_s=3, d_a=1)
    two = make(6, horizon=20, rng=np.random.default_rng(5), d_s=3, d_a=1)
    other = make(6, horizon=20, rng=np.random.default_rng(6), d_s=3, d_a=1)
    for field in dataclasses.fields(Figure3Systems):
        x, y = getattr(one, field.name), getattr(two, field.name)
        assert (x is None and y is None) or np.array_equal(x, y), field.name
    assert not np.array_equal(one.gap, other.gap)
    assert one.A.shape == (6, 3, 3) and one.K.shape == (6, 1, 3)


def test_batch_is_immutable(paper_batches):
    b = paper_batches["synthetic"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        b.gap = b.gap * 0  # type: ignore[misc]
    with pytest.raises(ValueError, match="read-only"):
        b.gap[0] = 0.0


@pytest.mark.parametrize("family", MAKERS)
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n": 0}, r"n must be an integer >= 1"),
        ({"n": 2.0}, r"n must be an integer >= 1"),
        ({"n": True}, r"n must be an integer >= 1"),
        ({"horizon": 0}, r"horizon must be an integer >= 1"),
        ({"horizon": 1.5}, r"horizon must be an integer >= 1"),
        ({"d_s": 1}, r"d_s must be an integer >= 2"),
        ({"d_a": 0}, r"d_a must be an integer >= 1"),
        ({"rng": None}, r"rng must be a numpy.random.Generator"),
        ({"rng": 0}, r"rng must be a numpy.random.Generator"),
        ({"rng": np.random.RandomState(0)}, r"rng must be a numpy.random.Generator"),
    ],
)
def test_configurations_reject_bad_input(family, kwargs, match):
    args = {"n": 3, "horizon": 4, "rng": np.random.default_rng(0), **kwargs}
    with pytest.raises(ValueError, match=match):
        MAKERS[family](args.pop("n"), **args)


def test_simulation_functions_reject_bad_input(paper_batches):
    b = paper_batches["lqg"]
    with pytest.raises(ValueError, match=r"horizon must be an integer >= 1"):
        simulate_gap(b, horizon=0)
    with pytest.raises(ValueError, match=r"horizon must be an integer >= 1"):
        figure3_rollout(b, horizon=-3)
    with pytest.raises(ValueError, match=r"batch must be a Figure3Systems"):
        figure3_ratio({"gap": 1.0})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"family must be one of"):
        dataclasses.replace(b, family="pendulum")
    with pytest.raises(ValueError, match=r"Q is required"):
        dataclasses.replace(b, Q=None)
