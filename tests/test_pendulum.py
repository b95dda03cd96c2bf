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


# --------------------------------------------------------------------------- chapter 7's pipeline
TASK = im.PendulumTask()


@pytest.fixture(scope="module")
def tiny_models():
    # The whole learned-model pipeline at a tiny budget (a smoke run of chapter 7).
    return im.fit_pendulum_models(TASK, np.array([16, 64]), n_seeds=2, max_steps=60,
                                  n_test=500, grid_size=64, seed=3)


def test_true_constants_bound_the_step_and_reward():
    # Empirical difference quotients on random pairs never exceed the derived constants.
    rng = np.random.default_rng(0)
    x, y = (rng.uniform(-TASK.box, TASK.box, (20000, 3)) for _ in range(2))
    fx, fy = (np.stack(im.pendulum_step(*z.T)[:2], -1) for z in (x, y))
    dist = np.linalg.norm(x[:, :2] - y[:, :2], axis=1) + np.abs(x[:, 2] - y[:, 2])
    assert np.max(np.linalg.norm(fx - fy, axis=1) / dist) <= TASK.L_f
    half = np.array([TASK.domain_theta, TASK.domain_theta_dot, 2.0])
    x, y = (rng.uniform(-half, half, (20000, 3)) for _ in range(2))
    rx, ry = (im.pendulum_step(*z.T)[2] for z in (x, y))
    dist = np.linalg.norm(x[:, :2] - y[:, :2], axis=1) + np.abs(x[:, 2] - y[:, 2])
    assert np.max(np.abs(rx - ry) / dist) <= TASK.L_r
    assert TASK.L_f > 1  # the near-identity step expands: paper's contraction needs tiny gamma


def test_policy_keeps_real_trajectories_in_the_domain():
    states, rewards = im.pendulum_rollout(TASK, TASK.start_states(500, np.random.default_rng(1)),
                                          200)
    assert TASK.in_domain(states) and states.shape == (500, 201, 2)
    assert np.all(rewards <= 0) and np.all(rewards >= -TASK.R_max)


def test_rollout_matches_a_plain_loop_over_gymnasium():
    env = gymnasium.make("Pendulum-v1").unwrapped
    env.reset(seed=0)
    s0 = TASK.start_states(3, np.random.default_rng(2))
    states, rewards = im.pendulum_rollout(TASK, s0, 20)
    for p in range(3):
        env.state = s0[p].copy()
        for t in range(20):
            _, reward, *_ = env.step(TASK.policy(env.state))
            assert np.allclose(env.state, states[p, t + 1], rtol=0, atol=1e-12)
            assert abs(reward - rewards[p, t]) <= 1e-12


def test_certificates_cover_random_points_of_the_domain(tiny_models):
    m = tiny_models
    rng = np.random.default_rng(4)
    probe = rng.uniform([-TASK.domain_theta, -TASK.domain_theta_dot],
                        [TASK.domain_theta, TASK.domain_theta_dot], (50000, 2))
    nxt, rew = im.pendulum_rollout(TASK, probe, 1)
    err_dyn = np.linalg.norm(m.dynamics(np.broadcast_to(probe, (m.n_members, *probe.shape)))
                             - nxt[None, :, 1], axis=-1).max(axis=1)
    err_rew = np.abs(m.reward(probe, paired=False) - rew[:, 0]).max(axis=1)
    assert np.all(err_dyn <= m.eps_dyn) and np.all(err_rew <= m.eps_rew)
    assert np.all(m.margin_dyn > 0) and np.all(m.grid_max_dyn < m.eps_dyn)


def test_lemma1_bound_covers_pendulum_gaps_at_every_horizon(tiny_models):
    m = tiny_models
    s0 = TASK.start_states(16, np.random.default_rng(5))
    _, real = im.pendulum_rollout(TASK, s0, 30)
    gaps = im.return_gaps(real, im.imagined_rewards(m, im.imagined_rollout(m, s0, 30)), 1.0)
    for h in range(1, 31):
        bound = im.return_error_bound_finite(m.eps_dyn, m.eps_rew, 1.0, m.L_f_hat, m.L_r_hat,
                                             TASK.L_pi, h)
        assert np.all(gaps[..., h - 1].max(axis=1) <= bound)


def test_learned_constants_are_upper_bounds(tiny_models):
    m = tiny_models
    pts = np.random.default_rng(6).uniform(-TASK.box, TASK.box, (2000, 3))
    low = im.jacobian_norm_lower(m.dyn, pts, input_blocks=(2, 1))
    assert np.all(low <= m.L_f_hat - 1 + 1e-6)
    blocks = im.lipschitz_block_bounds(m.dyn, (1, 1, 1))  # per input coordinate
    assert blocks.shape == (m.n_members, 3)
    assert np.allclose(blocks.max(axis=-1),
                       im.lipschitz_upper_bound(m.dyn, input_blocks=(1, 1, 1)), rtol=1e-12)
    low = im.jacobian_norm_lower(m.dyn, pts, input_blocks=(1, 1, 1))
    assert np.all(low <= blocks.max(axis=-1) * (1 + 1e-6))


def test_imagined_rewards_are_clipped_and_shaped(tiny_models):
    m = tiny_models
    traj = im.imagined_rollout(m, TASK.start_states(5, np.random.default_rng(7)), 12)
    paired = im.imagined_rewards(m, traj)
    every = im.imagined_rewards(m, traj, paired=False)
    assert paired.shape == (m.n_members, 5, 12) and every.shape == (m.n_members, m.n_members, 5, 12)
    assert np.all(paired <= 0) and np.all(paired >= -TASK.R_max)
    for k in range(m.n_members):  # the paired values are the diagonal of the full table
        assert np.allclose(every[k, k], paired[k], rtol=0, atol=1e-12)


def test_return_gaps_by_hand():
    real = np.array([[-1.0, -2.0, -3.0]])
    imag = np.array([[-1.5, -1.0, -3.0]])
    # differences 0.5, -1, 0 with weights 1, 0.5, 0.25: cumulative 0.5, 0.0, 0.0
    assert np.allclose(im.return_gaps(real, imag, 0.5), [[0.5, 0.0, 0.0]])
    assert np.allclose(im.return_gaps(real, imag, 1.0), [[0.5, 0.5, 0.5]])


def test_realised_split_recovers_the_optimum_of_a_separable_surface():
    # E = 2 N_d^-0.5 + N_r^-0.5 on a fine grid: the realised split must match Theorem 1's.
    sizes = np.geomspace(10, 1e5, 41)
    nd, nr = np.meshgrid(sizes, sizes, indexing="ij")
    surface = 2 * nd**-0.5 + nr**-0.5
    n_d, n_r = im.realised_split(sizes, surface, 2e4, 1.0, 1.0, n_grid=20001)
    exact = im.optimal_allocation(2e4, 1.0, 1.0, im.PowerLaw(2.0, 0.5), im.PowerLaw(1.0, 0.5), 1.0)
    assert abs(np.log(n_d / n_r) - np.log(exact.ratio)) < 0.01


def test_reward_sensitivity_is_exact_and_dynamics_sensitivity_is_capped_by_lemma1():
    s0 = TASK.start_states(32, np.random.default_rng(8))
    S_f, S_r = im.pendulum_sensitivities(TASK, s0, 30, gamma=0.9)
    assert S_r == pytest.approx((1 - 0.9**30) / (1 - 0.9), rel=1e-12)
    c_dyn = im.finite_horizon_multiplier(0.9, TASK.L_f, TASK.L_r, TASK.L_pi, 30) * S_r
    assert 0 < S_f <= c_dyn


def test_return_error_surface_shape(tiny_models):
    s0 = TASK.start_states(4, np.random.default_rng(9))
    E = im.return_error_surface(tiny_models, s0, 10)
    assert E.shape == (2, 2, 2) and np.all(E >= 0)


@pytest.mark.parametrize("kwargs, match", [
    (dict(theta_max=3.5), "wrap"),
    (dict(theta_dot_max=7.5), "clips"),
    (dict(Kp=0.0), "Kp"),
    (dict(domain_theta=1.5), "domain"),
    (dict(start_theta_dot=0.9), "start"),
])
def test_pendulum_task_rejects_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        im.PendulumTask(**kwargs)


def test_pendulum_functions_reject_bad_input(tiny_models):
    s0 = np.zeros((2, 2))
    with pytest.raises(ValueError, match="start states"):
        im.pendulum_rollout(TASK, np.zeros((2, 3)), 5)
    with pytest.raises(ValueError, match="horizon"):
        im.pendulum_rollout(TASK, s0, 0)
    with pytest.raises(ValueError, match="gamma"):
        im.return_gaps(np.zeros((2, 3)), np.zeros((2, 3)), 1.5)
    with pytest.raises(ValueError, match="match"):
        im.return_gaps(np.zeros((2, 3)), np.zeros((2, 4)), 0.9)
    with pytest.raises(ValueError, match="sizes"):
        im.fit_pendulum_models(TASK, np.array([64, 16]))
    with pytest.raises(ValueError, match="n_seeds"):
        im.fit_pendulum_models(TASK, np.array([16]), n_seeds=0)
    with pytest.raises(ValueError, match="budget line"):
        im.realised_split([16, 64], np.ones((2, 2)), 1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="cost_dyn"):
        im.realised_split([16, 64], np.ones((2, 2)), 100.0, 0.0, 1.0)
    with pytest.raises(ValueError, match=r"\(M, P, H \+ 1, 2\)"):
        im.imagined_rewards(tiny_models, np.zeros((1, 2, 3, 2)))
    with pytest.raises(ValueError, match="h must"):
        im.pendulum_sensitivities(TASK, s0, 5, h=0.0)
    with pytest.raises(ValueError, match="input_blocks"):
        im.lipschitz_block_bounds(tiny_models.dyn, (2, 2))


def test_pendulum_shifts_are_the_shifted_returns_of_a_plain_loop():
    s0 = TASK.start_states(3, np.random.default_rng(11))
    shifts = im.PendulumShifts(TASK, s0, 20, gamma=0.9)
    assert shifts.n == 12
    gap = shifts.value_gap(np.full(12, 1e-3), np.full(12, 2e-3))
    discount = 0.9 ** np.arange(20)
    for k, d in enumerate(shifts.directions):  # a plain rollout per start and direction
        for p in range(3):
            _, base = im.pendulum_rollout(TASK, s0[p:p + 1], 20)
            _, moved = im.pendulum_rollout(TASK, s0[p:p + 1], 20, shift=1e-3 * d)
            expected = (moved - base)[0] @ discount + 2e-3 * discount.sum()
            assert gap[3 * k + p] == pytest.approx(expected, rel=1e-12, abs=1e-15)
    S_f, _ = im.pendulum_sensitivities(TASK, s0, 20, gamma=0.9)
    per = np.abs(shifts.value_gap(np.full(12, 1e-4), 0.0)).reshape(4, 3).mean(axis=1) / 1e-4
    assert S_f == pytest.approx(per.max(), rel=1e-12)
    with pytest.raises(ValueError, match="unit vectors"):
        im.PendulumShifts(TASK, s0, 20, directions=np.array([[2.0, 0.0]]))


def test_surface_split_interval_resamples_seeds():
    sizes = np.geomspace(10, 1e4, 13)
    nd, nr = np.meshgrid(sizes, sizes, indexing="ij")
    rng = np.random.default_rng(12)
    per_seed = np.stack([(2 + 0.3 * rng.standard_normal()) * nd**-0.5 + nr**-0.5
                         for _ in range(5)])
    lo, hi = im.surface_split_interval(sizes, per_seed, 2e3, 1.0, 1.0, n_boot=50,
                                       rng=np.random.default_rng(0))
    point = np.divide(*im.surface_optimal_split(sizes, per_seed.mean(axis=0), 2e3, 1.0, 1.0))
    assert lo <= point <= hi and lo < hi
    # the same draws by hand
    draws = np.random.default_rng(0).integers(0, 5, size=(50, 5))
    ratios = [np.divide(*im.surface_optimal_split(sizes, per_seed[k].mean(axis=0), 2e3, 1.0,
                                                  1.0)) for k in draws]
    assert (lo, hi) == (np.quantile(ratios, 0.025), np.quantile(ratios, 0.975))


def test_closed_loop_is_the_models_step_under_the_policy(tiny_models):
    torch = pytest.importorskip("torch")
    states = np.random.default_rng(13).uniform(-0.2, 0.2, (tiny_models.n_members, 5, 2))
    out = tiny_models.closed_loop(torch.from_numpy(states)).detach().numpy()
    np.testing.assert_allclose(out, tiny_models.dynamics(states), rtol=1e-6, atol=1e-7)
    # the policy works on tensors as on arrays
    z = torch.from_numpy(states)
    np.testing.assert_array_equal(TASK.policy(z).numpy(), TASK.policy(states))
