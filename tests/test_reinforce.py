"""Theorem 2, Proposition 2 and the erratum (paper.md §5) on small random tabular MDPs.

Exact checks compare two independent computations (autograd through the DP against an
enumeration of all trajectories); statistical checks use fixed seeds and 5-standard-error
tolerances, derived next to each assertion.
"""

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import imagination as im
import imagination.reinforce as rf
from imagination.reinforce import (
    NOISE_DISTRIBUTIONS,
    TabularMDP,
    bias_gradient,
    exact_added_variance,
    exact_estimator_mean,
    exact_gradient,
    exact_objective,
    exact_w2,
    noise_variance_bound,
    random_tabular_mdp,
    reinforce_estimates,
    reinforce_estimates_loop,
    reward_noise,
    sample_rollouts,
    softmax_policy,
)


def problem(n_states=3, n_actions=2, gamma=0.8, seed=0):
    rng = np.random.default_rng(seed)
    mdp = random_tabular_mdp(n_states, n_actions, gamma=gamma, rng=rng)
    return mdp, rng.standard_normal((n_states, n_actions))


# --------------------------------------------------------------------------- exact quantities


def test_softmax_policy_rows_are_distributions():
    theta = np.array([[0.0, 0.0], [np.log(3.0), 0.0], [1000.0, 0.0]])
    # Row 2: e^log3 / (e^log3 + 1) = 3/4; row 3 would overflow without the max shift.
    np.testing.assert_allclose(softmax_policy(theta), [[0.5, 0.5], [0.75, 0.25], [1.0, 0.0]],
                               rtol=1e-15, atol=1e-300)


def test_exact_objective_by_hand():
    # One state, actions with rewards 1 and 3, P = 1, uniform policy: E[r_t] = 2 every step, so
    # J_3 = 2 (1 + 0.5 + 0.25) = 3.5.
    mdp = TabularMDP(P=np.ones((1, 2, 1)), r=[[1.0, 3.0]], mu=[1.0], gamma=0.5)
    assert exact_objective(mdp, np.zeros((1, 2)), 3) == pytest.approx(3.5, rel=1e-15)


@pytest.mark.parametrize("gamma", [0.0, 0.7, 0.95])
@pytest.mark.parametrize("horizon", [1, 4, 12])
def test_exact_gradient_matches_finite_differences(gamma, horizon):
    mdp, theta = problem(4, 3, gamma, seed=1)
    g = exact_gradient(mdp, theta, horizon)
    h, fd = 1e-6, np.zeros_like(theta)
    for i in np.ndindex(theta.shape):
        e = np.zeros_like(theta)
        e[i] = h
        fd[i] = (exact_objective(mdp, theta + e, horizon)
                 - exact_objective(mdp, theta - e, horizon)) / (2 * h)
    # Central differences: truncation ~h^2 J''' ~ 1e-12, rounding ~1e-16 |J| / h ~ 1e-10.
    np.testing.assert_allclose(fd, g, rtol=1e-6, atol=1e-6 * np.abs(g).max())


@pytest.mark.parametrize("gamma", [0.0, 0.5, 0.9])
@pytest.mark.parametrize("horizon", [1, 3, 5])
def test_theorem2_discounted_estimator_mean_is_exact_gradient(gamma, horizon):
    # Theorem 2 with sigma = 0: the enumerated mean of the gamma^t-weighted estimator equals
    # autograd through the DP (two independent computations of g_H).
    mdp, theta = problem(3, 2, gamma, seed=2)
    np.testing.assert_allclose(exact_estimator_mean(mdp, theta, horizon),
                               exact_gradient(mdp, theta, horizon), rtol=0, atol=1e-10)


@pytest.mark.parametrize("weighting", ["discounted", "undiscounted"])
@pytest.mark.parametrize("gamma", [0.0, 0.5, 0.7, 0.95])
def test_estimator_mean_by_enumeration_equals_dynamic_programming(weighting, gamma):
    # Two independent computations of E[g^(1)]: a sum over all (S A)^H trajectories against the
    # policy-gradient recursion (forward state distributions, backward action values). Both are
    # sums of O(1) terms in float64, so they agree to rounding, far inside 1e-10.
    mdp, theta = problem(3, 2, gamma, seed=8)
    b = np.random.default_rng(80).standard_normal((3, 2))
    for labels in (None, mdp.r + b):
        enum = exact_estimator_mean(mdp, theta, 5, rewards=labels, weighting=weighting)
        dp = rf.estimator_mean_dp(mdp, theta, 5, rewards=labels, weighting=weighting)
        np.testing.assert_allclose(enum, dp, rtol=0, atol=1e-10)
    if weighting == "discounted":  # and the DP's mean is g_H, a third computation (autograd)
        np.testing.assert_allclose(rf.estimator_mean_dp(mdp, theta, 5),
                                   exact_gradient(mdp, theta, 5), rtol=0, atol=1e-10)


def test_erratum_undiscounted_estimator_is_biased():
    # paper.md §5: without the gamma^t weight the estimator is biased for g_H (3 states,
    # gamma 0.7, H 6). Its enumerated mean equals the independent DP to 1e-10, and its distance
    # to g_H exceeds that agreement by six orders of magnitude or more: a bias, not rounding.
    mdp, theta = problem(3, 2, gamma=0.7, seed=0)
    g = exact_gradient(mdp, theta, 6)
    undiscounted = exact_estimator_mean(mdp, theta, 6, weighting="undiscounted")
    np.testing.assert_allclose(
        undiscounted, rf.estimator_mean_dp(mdp, theta, 6, weighting="undiscounted"),
        rtol=0, atol=1e-10)
    assert np.linalg.norm(undiscounted - g) > 1e6 * 1e-10


@pytest.mark.parametrize("gamma", [0.0, 0.7])
def test_erratum_forms_agree_only_when_horizon_is_one(gamma):
    # At H = 1 both forms are score_0 * r_0. At gamma = 0 with H > 1 they still differ: the
    # undiscounted form adds E[score_t r_t] for t >= 1, which g_H = E[score_0 r_0] does not have.
    mdp, theta = problem(3, 2, gamma, seed=3)
    for horizon in (1, 3):
        diff = (exact_estimator_mean(mdp, theta, horizon, weighting="undiscounted")
                - exact_gradient(mdp, theta, horizon))
        if horizon == 1:
            assert np.abs(diff).max() < 1e-12
        else:
            assert np.linalg.norm(diff) > 0.05 * np.linalg.norm(exact_gradient(mdp, theta, 3))


def test_proposition2_bias_gradient_is_exact_shift():
    mdp, theta = problem(3, 2, gamma=0.8, seed=4)
    b = np.random.default_rng(40).standard_normal((3, 2))
    shifted = exact_estimator_mean(mdp, theta, 5, rewards=mdp.r + b)
    np.testing.assert_allclose(shifted, exact_gradient(mdp, theta, 5)
                               + bias_gradient(mdp, theta, 5, b), rtol=0, atol=1e-10)
    # A constant bias has zero gradient: sum_t gamma^t c does not depend on the policy.
    np.testing.assert_allclose(bias_gradient(mdp, theta, 5, np.full((3, 2), 2.5)), 0, atol=1e-14)


def test_theorem2_needs_noise_independent_of_the_action():
    # Counterexample: eta = +c for action 0 and -c p0/p1 for action 1 has mean zero under the
    # policy in every state (so E[sum_t gamma^t eta_t] = 0), yet it moves the estimator's mean.
    mdp, theta = problem(3, 2, gamma=0.8, seed=5)
    pi = softmax_policy(theta)
    eta = np.stack([np.ones(3), -pi[:, 0] / pi[:, 1]], axis=1)
    np.testing.assert_allclose((pi * eta).sum(axis=1), 0, atol=1e-15)
    assert abs(exact_objective(replace(mdp, r=eta), theta, 6)) < 1e-12
    g = exact_gradient(mdp, theta, 6)
    shift = exact_estimator_mean(mdp, theta, 6, rewards=mdp.r + eta) - g
    np.testing.assert_allclose(shift, bias_gradient(mdp, theta, 6, eta), atol=1e-10)
    assert np.linalg.norm(shift) > 0.1 * np.linalg.norm(g)


def test_noise_variance_bound_by_hand():
    assert noise_variance_bound(2.0, 5, 0.5, 4, 0.5) == 5.0  # 2 * 5 * 0.5 / (4 * 0.25)
    assert noise_variance_bound(0.0, 5, 0.5, 4, 0.5) == 0.0


def test_score_weight_sum_by_hand_and_against_exact_fractions():
    # S_3(1/2) = 1 + 4/4 + 9/16 = 41/16; S_6(0.7) = 9.46 (the number) against the
    # paper's H / (1 - gamma)^2 = 66.7 and the horizon-free 1.49 / 0.51^3 = 11.2.
    assert rf.score_weight_sum(3, 0.5) == 41 / 16
    assert rf.score_weight_sum(6, 0.7) == pytest.approx(9.4613951464, rel=1e-10)
    assert rf.score_weight_sum(5, 0.0) == 1.0  # gamma = 0: only t = 0 counts
    # the long-horizon branch (closed form minus a positive tail) against exact rationals
    from fractions import Fraction
    for horizon, gamma in ((100_001, 0.9999), (250_000, 0.99999), (10**7, 0.5)):
        x = Fraction(gamma) ** 2
        total = (1 + x) / (1 - x) ** 3
        tail = x**horizon * (total + 2 * horizon / (1 - x) ** 2 + horizon**2 / (1 - x)) \
            if horizon < 10**6 else Fraction(0)
        assert rf.score_weight_sum(horizon, gamma) == pytest.approx(float(total - tail),
                                                                    rel=1e-9)
    # power = 1: sum (t+1) x^t, S_3 = 1 + 2/4 + 3/16 = 27/16; long horizons against rationals
    assert rf.score_weight_sum(3, 0.5, power=1) == 27 / 16
    for horizon, gamma in ((100_001, 0.9999), (300_000, 0.99999)):
        x = Fraction(gamma) ** 2
        total = 1 / (1 - x) ** 2
        exact = total - x**horizon * (total + horizon / (1 - x))
        assert rf.score_weight_sum(horizon, gamma, power=1) == pytest.approx(float(exact),
                                                                             rel=1e-9)
    # the two branches meet: S_H is increasing, and at the switch the next term is tiny
    for power in (1, 2):
        assert (rf.score_weight_sum(100_000, 0.999, power=power)
                <= rf.score_weight_sum(100_001, 0.999, power=power))


@settings(max_examples=60)
@given(st.integers(1, 400), st.floats(0.0, 0.999))
def test_weighted_noise_bound_is_below_the_papers_and_the_horizon_free_one(horizon, gamma):
    # (t+1) gamma^t <= 1/(1-gamma) term by term, and the partial sum is below the full series.
    tight = rf.noise_variance_bound_weighted(1.3, horizon, 0.7, 2, gamma)
    paper = noise_variance_bound(1.3, horizon, 0.7, 2, gamma)
    free = rf.noise_variance_bound_horizon_free(1.3, 0.7, 2, gamma)
    assert tight <= paper * (1 + 1e-12) and tight <= free * (1 + 1e-12)
    assert rf.noise_variance_bound_weighted(1.3, horizon + 1, 0.7, 2, gamma) >= tight


def test_horizon_free_bound_is_the_limit_of_the_weighted_one():
    for gamma in (0.0, 0.5, 0.9):
        free = rf.noise_variance_bound_horizon_free(2.0, 0.5, 4, gamma)
        assert rf.noise_variance_bound_weighted(2.0, 5000, 0.5, 4, gamma) == pytest.approx(
            free, rel=1e-12)


@settings(max_examples=40)
@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 5), st.floats(0.0, 0.99),
       st.integers(0, 2**32 - 1))
def test_weighted_noise_bound_holds_exactly(n_states, n_actions, horizon, gamma, seed):
    # The exact added variance of the gamma^t-weighted estimator (enumeration) is at most
    # sigma^2 W_H^2 S_H / K, which is at most both of the looser bounds.
    mdp, theta = problem(n_states, n_actions, gamma, seed)
    w2 = exact_w2(mdp, theta, horizon)
    added = exact_added_variance(mdp, theta, horizon, 1.5, 3)
    assert added <= rf.noise_variance_bound_weighted(1.5, horizon, w2, 3, gamma) * (1 + 1e-12)
    # sharper: the scores are martingale differences, so (t+1)^2 can be (t+1)
    sharper = 1.5 * w2 * rf.score_weight_sum(horizon, gamma, power=1) / 3
    assert added <= sharper * (1 + 1e-12)


def test_weighted_noise_bound_does_not_cover_the_unweighted_form():
    # Without the gamma^t weight v_t' = sum_{t<=t'} gamma^(t'-t) psi_t lacks the factor gamma^t'
    # and its noise term grows like H. One state, two actions, uniform policy: the scores are
    # +-(1/2, -1/2), independent with E||psi||^2 = 1/2 = W_H^2, so the added variance is
    # sum_{t'<H} sum_{t<=t'} gamma^(2(t'-t)) / 2, at gamma = 0.5, H = 8 about 5.11, while the
    # weighted bound is S_8(0.5) / 2, about 1.48; the paper's bound still covers it.
    mdp = TabularMDP(P=np.ones((1, 2, 1)), r=np.zeros((1, 2)), mu=[1.0], gamma=0.5)
    theta = np.zeros((1, 2))
    w2 = exact_w2(mdp, theta, 8)
    assert w2 == pytest.approx(0.5, rel=1e-12)
    added = exact_added_variance(mdp, theta, 8, 1.0, 1, weighting="undiscounted")
    by_hand = sum(0.25 ** (tp - t) for tp in range(8) for t in range(tp + 1)) / 2
    assert added == pytest.approx(by_hand, rel=1e-12)
    assert added > 3 * rf.noise_variance_bound_weighted(1.0, 8, w2, 1, 0.5)
    assert added <= noise_variance_bound(1.0, 8, w2, 1, 0.5)


@settings(max_examples=40)
@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 4), st.floats(0.0, 0.99),
       st.integers(0, 2**32 - 1), st.sampled_from(["discounted", "undiscounted"]))
def test_theorem2_noise_bound_holds(n_states, n_actions, horizon, gamma, seed, weighting):
    mdp, theta = problem(n_states, n_actions, gamma, seed)
    w2 = exact_w2(mdp, theta, horizon)
    assert 0.0 <= w2 <= 2.0  # ||onehot(a) - pi(.|s)||^2 = 1 - 2 pi(a|s) + ||pi(.|s)||^2 <= 2
    added = exact_added_variance(mdp, theta, horizon, 1.5, 3, weighting=weighting)
    assert added <= noise_variance_bound(1.5, horizon, w2, 3, gamma) * (1 + 1e-12)


# --------------------------------------------------------------------------- sampling


def test_sample_rollouts_draws_its_uniforms_from_rng():
    mdp, theta = problem(4, 3, seed=6)
    a = sample_rollouts(mdp, theta, 7, (5, 3), np.random.default_rng(60))
    u = np.random.default_rng(60).random((5, 3, 7, 2))
    b = sample_rollouts(mdp, theta, 7, (5, 3), uniforms=u)
    for field in ("states", "actions", "rewards", "scores"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))


@pytest.mark.parametrize("weighting", ["discounted", "undiscounted"])
@pytest.mark.parametrize("noisy", [False, True])
def test_vectorised_estimates_equal_plain_loop(weighting, noisy):
    mdp, theta = problem(4, 3, gamma=0.9, seed=7)
    rng = np.random.default_rng(70)
    u = rng.random((3, 4, 6, 2))
    rollouts = sample_rollouts(mdp, theta, 6, (3, 4), uniforms=u)
    rewards = rollouts.rewards + rng.standard_normal(rollouts.rewards.shape) if noisy else None
    fast = reinforce_estimates(rollouts, mdp.gamma, rewards=rewards, weighting=weighting)
    slow, traj = reinforce_estimates_loop(mdp, theta, 6, u, rewards=rewards,
                                          weighting=weighting)
    np.testing.assert_array_equal(rollouts.states, traj[..., 0])
    np.testing.assert_array_equal(rollouts.actions, traj[..., 1])
    np.testing.assert_allclose(fast, slow, rtol=0, atol=1e-12)
    # the one-call fast path is the same computation
    np.testing.assert_array_equal(
        im.reinforce_estimates_fast(mdp, theta, 6, u, rewards=rewards, weighting=weighting), fast)


@pytest.mark.parametrize("distribution", NOISE_DISTRIBUTIONS)
def test_reward_noise_has_zero_mean_and_variance_sigma2(distribution):
    n, sigma2 = 200_000, 2.5
    x = reward_noise((n,), sigma2, distribution, np.random.default_rng(8))
    # Mean: SE sqrt(sigma2 / n). Variance: SE sqrt((m4 - sigma2^2) / n), m4 from the sample.
    assert abs(x.mean()) < 5 * np.sqrt(sigma2 / n)
    assert abs(x.var() - sigma2) < 5 * np.sqrt((np.mean(x**4) - sigma2**2) / n)
    skewness = np.mean(x**3) / sigma2**1.5
    assert skewness > 1.5 if distribution == "skewed" else abs(skewness) < 0.1
    if distribution == "uniform":
        assert np.abs(x).max() <= np.sqrt(3 * sigma2)
    assert np.all(reward_noise((3,), 0.0, distribution, np.random.default_rng(0)) == 0)


# --------------------------------------------------------------------------- statistical

R, K, H = 4000, 4, 5


@pytest.mark.parametrize("sigma2", [0.5, 4.0])
@pytest.mark.parametrize("distribution", NOISE_DISTRIBUTIONS)
def test_theorem2_unbiased_under_zero_mean_noise(distribution, sigma2):
    mdp, theta = problem(3, 2, gamma=0.8, seed=9)
    rng = np.random.default_rng([9, NOISE_DISTRIBUTIONS.index(distribution), int(sigma2)])
    rollouts = sample_rollouts(mdp, theta, H, (R, K), rng)
    eta = reward_noise(rollouts.rewards.shape, sigma2, distribution, rng)
    est = reinforce_estimates(rollouts, mdp.gamma, rewards=rollouts.rewards + eta)
    se = est.std(axis=0, ddof=1) / np.sqrt(R)
    # 5 SE per coordinate: under the CLT P(|Z| > 5) = 5.7e-7, so over 6 cases x 6 coordinates
    # the chance of any false alarm is below 36 * 5.7e-7 = 2e-5 (Bonferroni); seeds are fixed.
    g = exact_gradient(mdp, theta, H)
    assert np.all(np.abs(est.mean(axis=0) - g) <= 5 * se)
    # Power check: the same labels reject the undiscounted form of the erratum (19-42 SE here).
    undiscounted = reinforce_estimates(rollouts, mdp.gamma, rewards=rollouts.rewards + eta,
                                       weighting="undiscounted")
    assert np.any(np.abs(undiscounted.mean(axis=0) - g) > 5 * se)


def trace_variance(x):
    """Trace of the sample covariance of rows of x, and its standard error.

    T = sum_i ||x_i - mean||^2 / (n - 1); by the CLT Var(T) ~ Var(||X - mu||^2) / n, estimated
    from the same squared distances: no normality assumed (the skewed noise is not normal).
    """
    x = x.reshape(len(x), -1)
    d = np.sum((x - x.mean(axis=0)) ** 2, axis=1)
    return d.sum() / (len(x) - 1), d.std(ddof=1) / np.sqrt(len(x)), d


@pytest.mark.parametrize("distribution", ["gaussian", "skewed"])
def test_theorem2_added_variance_matches_exact_term(distribution):
    mdp, theta = problem(3, 2, gamma=0.8, seed=10)
    rng = np.random.default_rng([10, NOISE_DISTRIBUTIONS.index(distribution)])
    sigma2 = 2.0
    rollouts = sample_rollouts(mdp, theta, H, (R, K), rng)
    eta = reward_noise(rollouts.rewards.shape, sigma2, distribution, rng)
    clean = reinforce_estimates(rollouts, mdp.gamma)
    noisy = reinforce_estimates(rollouts, mdp.gamma, rewards=rollouts.rewards + eta)
    noise_part = reinforce_estimates(rollouts, mdp.gamma, rewards=eta)
    # Same rollouts: the estimator is linear in the labels, so noisy - clean is the noise part.
    np.testing.assert_allclose(noisy - clean, noise_part, rtol=0, atol=1e-12)
    exact = exact_added_variance(mdp, theta, H, sigma2, K)
    measured, se, _ = trace_variance(noise_part)
    assert abs(measured - exact) <= 5 * se
    # Var[noisy] - Var[clean] also holds the sample cross-covariance (mean 0); pair the squared
    # distances row by row so its SE covers that term too.
    _, _, d_noisy = trace_variance(noisy)
    _, _, d_clean = trace_variance(clean)
    diff = d_noisy - d_clean
    assert abs(diff.sum() / (R - 1) - exact) <= 5 * diff.std(ddof=1) / np.sqrt(R)
    bound = noise_variance_bound(sigma2, H, exact_w2(mdp, theta, H), K, mdp.gamma)
    assert exact <= bound and measured <= bound


def test_proposition2_bias_does_not_average_away():
    mdp, theta = problem(3, 2, gamma=0.8, seed=11)
    rng = np.random.default_rng(11)
    b = rng.standard_normal((3, 2))
    g, grad_b = exact_gradient(mdp, theta, H), bias_gradient(mdp, theta, H, b)
    bias2 = float(np.sum(grad_b**2))
    assert bias2 > 0.1 * np.sum(g**2)  # a bias that matters at this theta
    n_rep, mse, var1 = 2000, {}, None
    for k in (1, 8, 64):
        rollouts = sample_rollouts(mdp, theta, H, (n_rep, k), rng)
        labels = rollouts.rewards + b[rollouts.states, rollouts.actions]
        est = reinforce_estimates(rollouts, mdp.gamma, rewards=labels)
        se = est.std(axis=0, ddof=1) / np.sqrt(n_rep)
        assert np.all(np.abs(est.mean(axis=0) - (g + grad_b)) <= 5 * se)  # Bonferroni as above
        sq = np.sum((est - g) ** 2, axis=(1, 2))
        mse[k] = (sq.mean(), sq.std(ddof=1) / np.sqrt(n_rep))
        if k == 1:
            var1, var1_se, _ = trace_variance(est)
            continue
        # E||g~ - g_H||^2 = Var[g~^(1)] / K + ||grad B_H||^2, Var[g~^(1)] measured at K = 1.
        tol = 5 * np.hypot(mse[k][1], var1_se / k)
        assert abs(mse[k][0] - (var1 / k + bias2)) <= tol
    assert mse[64][0] > 0.9 * bias2  # 64 rollouts: the error is still the bias
    assert mse[1][0] > mse[8][0] > mse[64][0]


# --------------------------------------------------------------------------- contracts


def test_tabular_mdp_arrays_are_read_only():
    mdp, _ = problem()
    with pytest.raises(ValueError, match="read-only"):
        mdp.r[0, 0] = 1.0


MDP, THETA = problem(2, 2, seed=12)
ROLLOUTS = sample_rollouts(MDP, THETA, 3, (2, 2), np.random.default_rng(0))
GEN = np.random.default_rng(0)
P_OK = np.full((2, 2, 2), 0.5)


@pytest.mark.parametrize(("call", "match"), [
    (lambda: TabularMDP(P_OK, np.zeros((2, 2)), [0.5, 0.5], 1.0), "gamma"),
    (lambda: TabularMDP(P_OK, np.zeros((2, 2)), [0.5, 0.5], -0.1), "gamma"),
    (lambda: TabularMDP(P_OK, np.zeros((2, 2)), [0.5, 0.5], np.nan), "gamma"),
    (lambda: TabularMDP(np.full((2, 2, 3), 1 / 3), np.zeros((2, 2)), [0.5, 0.5], 0.5), "P"),
    (lambda: TabularMDP(P_OK * 0.9, np.zeros((2, 2)), [0.5, 0.5], 0.5), "P"),
    (lambda: TabularMDP(P_OK * [-1, 3], np.zeros((2, 2)), [0.5, 0.5], 0.5), "P"),
    (lambda: TabularMDP(P_OK, np.zeros((2, 3)), [0.5, 0.5], 0.5), "r"),
    (lambda: TabularMDP(P_OK, np.zeros((2, 2)), [1.0], 0.5), "mu"),
    (lambda: TabularMDP(P_OK, np.zeros((2, 2)), [0.6, 0.6], 0.5), "mu"),
    (lambda: random_tabular_mdp(0, 2, gamma=0.5, rng=GEN), "n_states"),
    (lambda: random_tabular_mdp(2, 2, gamma=0.5, rng=0), "rng"),
    (lambda: softmax_policy(np.zeros(3)), "theta"),
    (lambda: softmax_policy([[0.0, np.nan]]), "theta"),
    (lambda: exact_objective(MDP, THETA, 0), "horizon"),
    (lambda: exact_gradient(MDP, np.zeros((2, 3)), 3), "theta"),
    (lambda: sample_rollouts(MDP, THETA, 3, (4, 0), GEN), "shape"),  # K < 1
    (lambda: sample_rollouts(MDP, THETA, 3, (), GEN), "shape"),
    (lambda: sample_rollouts(MDP, THETA, 3, (2, 2)), "rng"),
    (lambda: sample_rollouts(MDP, THETA, 3, (2, 2), uniforms=np.zeros((2, 2, 3))), "uniforms"),
    (lambda: sample_rollouts(MDP, THETA, 3, (1,), uniforms=np.ones((1, 3, 2))), "uniforms"),
    (lambda: reinforce_estimates(ROLLOUTS, 1.0), "gamma"),
    (lambda: reinforce_estimates(ROLLOUTS, 0.5, weighting="average"), "weighting"),
    (lambda: reinforce_estimates(ROLLOUTS, 0.5, rewards=np.zeros((2, 3))), "rewards"),
    (lambda: reward_noise((3,), -1.0, "gaussian", GEN), "sigma2"),
    (lambda: reward_noise((3,), 1.0, "cauchy", GEN), "distribution"),
    (lambda: exact_added_variance(MDP, THETA, 3, 1.0, 0), "n_rollouts"),
    (lambda: exact_added_variance(MDP, THETA, 3, -1.0, 1), "sigma2"),
    (lambda: exact_estimator_mean(MDP, THETA, 3, rewards=np.zeros(2)), "rewards"),
    (lambda: exact_w2(MDP, THETA, 30), "smaller MDP or horizon"),
    (lambda: noise_variance_bound(-1.0, 5, 0.5, 4, 0.5), "sigma2"),
    (lambda: noise_variance_bound(1.0, 0, 0.5, 4, 0.5), "horizon"),
    (lambda: noise_variance_bound(1.0, 5, -0.5, 4, 0.5), "w2"),
    (lambda: noise_variance_bound(1.0, 5, 0.5, 0.5, 0.5), "n_rollouts"),
    (lambda: noise_variance_bound(1.0, 5, 0.5, 4, 1.0), "gamma"),
    (lambda: rf.score_weight_sum(0, 0.5), "horizon"),
    (lambda: rf.score_weight_sum(3, 1.0), "gamma"),
    (lambda: rf.score_weight_sum(3, 0.5, power=3), "power"),
    (lambda: rf.noise_variance_bound_weighted(-1.0, 5, 0.5, 4, 0.5), "sigma2"),
    (lambda: rf.noise_variance_bound_weighted(1.0, 5, -0.5, 4, 0.5), "w2"),
    (lambda: rf.noise_variance_bound_weighted(1.0, 5, 0.5, 0.5, 0.5), "n_rollouts"),
    (lambda: rf.noise_variance_bound_horizon_free(1.0, 0.5, 4, 1.0), "gamma"),
    (lambda: rf.noise_variance_bound_horizon_free(1.0, np.nan, 4, 0.5), "w2"),
    (lambda: rf.estimator_mean_dp(MDP, THETA, 3, weighting="average"), "weighting"),
    (lambda: rf.estimator_mean_dp(MDP, THETA, 3, rewards=np.zeros(2)), "rewards"),
    (lambda: bias_gradient(MDP, THETA, 3, np.zeros(3)), "b"),
])
def test_value_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ----------------------------------------------------------------- continuous-state test bed


@pytest.fixture(scope="module")
def linear_bed():
    rng = np.random.default_rng(7)
    system = rf.random_linear_gaussian_system(2, 1, gamma=0.9, rng=rng)
    return system, 0.3 * rng.normal(size=(1, 2)), 5


def test_linear_exact_gradient_matches_finite_differences(linear_bed):
    system, K, H = linear_bed
    g = rf.linear_exact_gradient(system, K, H)
    h, fd = 1e-6, np.zeros_like(K)
    for i in np.ndindex(K.shape):
        e = np.zeros_like(K)
        e[i] = h
        fd[i] = (rf.linear_exact_objective(system, K + e, H)
                 - rf.linear_exact_objective(system, K - e, H)) / (2 * h)
    assert np.allclose(g, fd, rtol=1e-6, atol=1e-9)


def test_theorem2_unbiased_on_the_linear_gaussian_system(linear_bed):
    # 3 noise distributions x 2 coordinates, 5 SE each (false-alarm chance ~ 3e-6).
    system, K, H = linear_bed
    rng = np.random.default_rng(11)
    g = rf.linear_exact_gradient(system, K, H)
    rollouts = rf.sample_linear_rollouts(system, K, H, (4000, 4), rng)
    for dist in rf.NOISE_DISTRIBUTIONS:
        noise = rf.reward_noise(rollouts.rewards.shape, 2.0, dist, rng)
        est = rf.reinforce_estimates(rollouts, system.gamma, rewards=rollouts.rewards + noise)
        z = np.abs(est.mean(0) - g) / (est.std(0, ddof=1) / np.sqrt(4000))
        assert np.all(z < 5), (dist, z)


def test_theorem2_added_variance_exact_on_the_linear_gaussian_system(linear_bed):
    system, K, H = linear_bed
    rng = np.random.default_rng(12)
    rollouts = rf.sample_linear_rollouts(system, K, H, (8000, 2), rng)
    noise = rf.reward_noise(rollouts.rewards.shape, 1.5, "gaussian", rng)
    x = rf.reinforce_estimates(rollouts, system.gamma, rewards=noise).reshape(8000, -1)
    d = np.sum((x - x.mean(0)) ** 2, axis=1)  # the noise part alone: rewards are the noise
    exact = rf.linear_exact_added_variance(system, K, H, 1.5, 2)
    assert abs(d.mean() - exact) < 5 * d.std(ddof=1) / np.sqrt(8000)


def test_linear_system_rejects_bad_input(linear_bed):
    system, K, H = linear_bed
    with pytest.raises(ValueError, match="K must"):
        rf.linear_exact_objective(system, np.zeros((2, 2)), H)
    with pytest.raises(ValueError, match="sigma_a must be"):
        rf.LinearGaussianSystem(A=system.A, B=system.B, Q=system.Q, R=system.R, s0=system.s0,
                                sigma_a=0.0, gamma=0.9)
    with pytest.raises(ValueError, match="A must be"):
        rf.LinearGaussianSystem(A=np.eye(3), B=system.B, Q=system.Q, R=system.R, s0=system.s0,
                                sigma_a=0.5, gamma=0.9)
    with pytest.raises(ValueError, match="gamma"):
        rf.random_linear_gaussian_system(2, 1, gamma=1.0, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="horizon"):
        rf.linear_exact_added_variance(system, K, 0, 1.0, 1)
