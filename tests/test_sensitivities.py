"""Realised sensitivities and realised optimal splits (paper §4.2, Figures 2 and 4).

The linear value family has closed forms for everything: its return error is exactly
S_f eps_dyn + S_r eps_rew, so the realised optimum must be Eq. (4) with the realised multiplier.
The aligned LQG systems are checked against Lemma 1 (S_f / S_r <= m) and their quadratic form.
"""

import dataclasses

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import imagination as im
from imagination import PowerLaw


def discount_sums(gamma, horizon):
    t = np.arange(horizon)
    w = gamma[:, None] ** t
    return w.sum(1), (w * t).sum(1), (w * t**2).sum(1)


def test_realised_sensitivities_linear_family_analytic():
    batch = im.linear_value_configurations(30, rng=np.random.default_rng(0))
    system = batch.system
    S_f, S_r = im.realised_sensitivities(batch)
    s0, s1, _ = discount_sums(system.gamma, system.horizon)
    # The gap is linear, so the forward difference is exact up to rounding: about
    # 1e-16 * H / h = 1e-16 * 1000 / 1e-6 = 1e-7 absolute on sums of size >= 1.
    np.testing.assert_allclose(S_f, system.L_r * s1, rtol=1e-7)
    np.testing.assert_allclose(S_r, s0, rtol=1e-7)
    # Long horizon: S_r = 1 / (1 - gamma) and the realised multiplier is gamma L_r / (1 - gamma),
    # the global one (identity dynamics attain Lemma 1).
    np.testing.assert_allclose(s0, 1 / (1 - system.gamma), rtol=1e-13)
    np.testing.assert_allclose(S_f / S_r, batch.global_multiplier, rtol=1e-7)


def test_realised_sensitivities_quadratic_family_forward_difference():
    batch = im.value_family_grid("quadratic", gamma=0.7, s0=0.3, L_r=1.5, lam=2.0)
    h = 1e-4
    S_f, _ = im.realised_sensitivities(batch, h=h)
    _, s1, s2 = discount_sums(batch.system.gamma, batch.system.horizon)
    # r = (L_r lam / 2) s^2 and s_hat_t = s0 + t h: the one-sided quotient is exactly
    # L_r lam (s0 sum t gamma^t + (h / 2) sum t^2 gamma^t).
    np.testing.assert_allclose(S_f, 1.5 * 2.0 * (0.3 * s1 + h / 2 * s2), rtol=1e-9)


def predicted_ratios(batch, multiplier):
    return np.array([im.optimal_allocation(batch.budget[i], batch.cost_dyn[i], batch.cost_rew[i],
                                           batch.dyn_law(i), batch.rew_law(i), multiplier[i]).ratio
                     for i in range(batch.n)])


def test_figure2_linear_family_prediction_is_exact():
    batch = im.linear_value_configurations(12, rng=np.random.default_rng(1))
    S_f, S_r = im.realised_sensitivities(batch)
    realised = im.realised_optimal_split(batch)
    ell = np.log(predicted_ratios(batch, S_f / S_r) / realised.ratio)
    assert np.all(np.abs(ell) <= 1e-6)


def test_realised_split_equals_closed_form_at_equal_exponents():
    # The linear family with alpha = beta: the realised optimum must be kappa**(1 / (alpha + 1))
    # with m = S_f / S_r, whatever the budget.
    batch = im.linear_value_configurations(6, rng=np.random.default_rng(2))
    batch = dataclasses.replace(batch, beta=batch.alpha)
    S_f, S_r = im.realised_sensitivities(batch)
    kappa = batch.cost_rew / batch.cost_dyn * (S_f / S_r) * batch.dyn_coef / batch.rew_coef
    realised = im.realised_optimal_split(batch)
    np.testing.assert_allclose(realised.ratio, kappa ** (1 / (batch.alpha + 1)), rtol=1e-7)


def test_realised_split_is_a_local_minimum_of_the_simulated_error():
    batch = im.value_family_grid("sin")
    realised = im.realised_optimal_split(batch)
    for step in (1e-3, -1e-3):
        nearby = np.abs(batch.system.value_gap(*batch.errors(realised.log_odds + step)))
        assert np.all(nearby > realised.error)


@pytest.mark.parametrize("family", ["tanh", "sin"])
def test_figure2_nonlinear_families_agree_within_log3(family):
    batch = im.value_family_grid(family)
    S_f, S_r = im.realised_sensitivities(batch)
    ell = np.log(predicted_ratios(batch, S_f / S_r) / im.realised_optimal_split(batch).ratio)
    assert np.all(np.abs(ell) <= np.log(3))
    # Concave values near s0: the realised marginal sensitivity falls below S_f, so the prediction
    # over-shoots slightly (ell > 0) and never under-shoots.
    assert np.all(ell > 0)


def test_figure2_sup_norm_control_over_shoots():
    batch = im.value_family_grid("quadratic")
    ell = np.log(predicted_ratios(batch, batch.global_multiplier)
                 / im.realised_optimal_split(batch).ratio)
    assert np.all(ell > 0)


def test_value_families_are_sign_aligned():
    for family in im.VALUE_FAMILIES:
        batch = im.value_family_grid(family)
        eps = np.linspace(1e-4, batch.max_error, 50)[:, None] * np.ones(batch.n)
        assert np.all(batch.system.value_gap(eps, 0 * eps) > 0)
        assert np.all(np.diff(batch.system.value_gap(eps, 0 * eps), axis=0) > 0), family
        np.testing.assert_allclose(batch.system.value_gap(0 * eps, eps),
                                   eps / (1 - batch.system.gamma), rtol=1e-12)


@pytest.fixture(scope="module")
def lqg():
    return im.figure4_configurations(8, rng=np.random.default_rng(3))


def test_figure4_configurations_match_paper_settings(lqg):
    s = lqg.system
    rate = s.gamma * s.L_f * (1 + s.L_pi)
    assert np.all(s.gamma == 0.8) and np.all((rate >= 0.224) & (rate <= 0.228))
    assert np.all(np.linalg.norm(s.A - s.B @ s.K, ord=2, axis=(-2, -1)) < 1)
    np.testing.assert_allclose(lqg.global_multiplier,
                               im.dynamics_multiplier(s.gamma, s.L_f, s.L_r, s.L_pi))


def test_aligned_lqg_gap_is_quadratic_in_the_dynamics_error(lqg):
    s = lqg.system
    eps = np.array([0.0, 0.05, 0.1, 0.15])[:, None] * np.ones(s.n)
    d = -s.value_gap(eps, 0 * eps)  # a eps + b eps^2 with a, b >= 0
    second = d[2] - 2 * d[1] + d[0]
    assert np.all(d[1:] > 0) and np.all(second >= 0)
    np.testing.assert_allclose(d[3] - 3 * d[2] + 3 * d[1] - d[0], 0, atol=1e-12 * d[3].max())
    np.testing.assert_allclose(-s.value_gap(0 * eps, eps)[1:], eps[1:] / (1 - s.gamma),
                               rtol=1e-12)


def test_aligned_lqg_direction_is_the_steepest(lqg):
    S_f, _ = im.realised_sensitivities(lqg)
    rng = np.random.default_rng(4)
    for _ in range(5):
        e = rng.standard_normal(lqg.system.e.shape)
        e /= np.linalg.norm(e, axis=-1, keepdims=True)
        other, _ = im.realised_sensitivities(dataclasses.replace(lqg.system, e=e))
        # Both are first-order slopes up to O(h) curvature terms (b h / a ~ 1e-5).
        assert np.all(other <= S_f * (1 + 1e-4))


def test_figure4_lemma1_caps_the_realised_multiplier_and_prediction_over_shoots(lqg):
    S_f, S_r = im.realised_sensitivities(lqg)
    assert np.all(S_f / S_r <= lqg.global_multiplier)
    realised = im.realised_optimal_split(lqg, grid=201)
    ratios = predicted_ratios(lqg, lqg.global_multiplier)
    assert np.all(np.log(ratios / realised.ratio) > 0)


def test_realised_split_is_independent_of_the_grid(lqg):
    a = im.realised_optimal_split(lqg, grid=101)
    b = im.realised_optimal_split(lqg, grid=1001)
    np.testing.assert_allclose(a.log_odds, b.log_odds, rtol=0, atol=1e-10)


class RewardOnly:
    """A system where dynamics error does not matter: the optimum is at the end of the line."""

    n = 2

    def value_gap(self, eps_dyn, eps_rew):
        return np.asarray(eps_rew) + 0 * np.asarray(eps_dyn)


def test_sensitivity_functions_reject_bad_input():
    ones = np.ones(2)
    batch = im.AllocationProblems(RewardOnly(), 100 * ones, ones, ones, ones, 0.5 * ones, ones,
                               0.5 * ones, ones)
    with pytest.raises(ValueError, match="at an end of the searched interval"):
        im.realised_optimal_split(batch)
    with pytest.raises(ValueError, match="h must be finite and > 0"):
        im.realised_sensitivities(batch, h=0.0)
    with pytest.raises(ValueError, match="AllocationProblems or a system"):
        im.realised_sensitivities(42)
    with pytest.raises(ValueError, match="batch must be an AllocationProblems"):
        im.realised_optimal_split(RewardOnly())
    with pytest.raises(ValueError, match="grid must be an integer >= 3"):
        im.realised_optimal_split(batch, grid=2)
    with pytest.raises(ValueError, match="every budget must be finite, > 0"):
        im.AllocationProblems(RewardOnly(), -ones, ones, ones, ones, ones, ones, ones, ones)
    with pytest.raises(ValueError, match="max_error must be > 0"):
        im.AllocationProblems(RewardOnly(), ones, ones, ones, ones, ones, ones, ones, ones,
                           max_error=0.0)
    tight = im.AllocationProblems(RewardOnly(), ones, ones, ones, ones, ones, ones, ones, ones,
                               max_error=0.5)
    with pytest.raises(ValueError, match="no point of the budget line"):
        tight.search_interval()


def test_system_constructors_reject_bad_input():
    with pytest.raises(ValueError, match="family must be one of"):
        im.value_family_grid("cubic")
    with pytest.raises(ValueError, match=r"r'\(s0\) > 0"):
        im.value_family_grid("sin", s0=2.0)  # sin falls at s = 2: the errors would not align
    with pytest.raises(ValueError, match="every sigma_ratios must be finite, > 0"):
        im.value_family_grid("tanh", sigma_ratios=(0.3, -1.0))
    with pytest.raises(ValueError, match="every gamma must be finite, > 0 and < 1"):
        im.value_family_grid("tanh", gamma=1.0)
    with pytest.raises(ValueError, match="gamma must satisfy 0 < gamma < 1"):
        im.figure4_configurations(3, rng=np.random.default_rng(0), gamma=1.2)
    with pytest.raises(ValueError, match="rate must be an interval"):
        im.figure4_configurations(3, rng=np.random.default_rng(0), rate=(0.5, 0.2))
    with pytest.raises(ValueError, match=r"rng must be a numpy\.random\.Generator"):
        im.linear_value_configurations(3, rng=0)


def test_allocation_batch_laws_are_power_laws(lqg):
    assert lqg.dyn_law(0) == PowerLaw(0.34, 0.11) and lqg.rew_law(0) == PowerLaw(90.4, 0.96)


def test_predicted_split_solves_theorem1_per_problem():
    problems = im.value_family_grid("tanh")
    m = np.linspace(1.0, 5.0, problems.n)
    pred = im.predicted_split(problems, m)
    for i in (0, 4, problems.n - 1):  # against optimal_allocation by hand
        a = im.optimal_allocation(problems.budget[i], problems.cost_dyn[i], problems.cost_rew[i],
                                  problems.dyn_law(i), problems.rew_law(i), m[i])
        assert (pred.ratio[i], pred.eps_dyn[i], pred.dyn_share[i]) == (a.ratio, a.eps_dyn,
                                                                       a.dyn_share)
    assert np.all(im.predicted_split(problems, 2.0).ratio == im.predicted_split(
        problems, np.full(problems.n, 2.0)).ratio)
    with pytest.raises(ValueError, match="problems must be an AllocationProblems"):
        im.predicted_split(problems.system, m)


# Bit-for-bit freeze of today's generators and realised optima (taken before the keyword options
# of figure4_configurations and the signed realised optimum were added): the new options' defaults
# and the aligned path of the realised optimum must reproduce these arrays to the last bit. The
# digests are of the float64 bytes, so they hold for this project's pinned numpy/scipy stack.
def _digest(*arrays):
    import hashlib

    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(np.asarray(a, dtype=float)).tobytes())
    return h.hexdigest()[:16]


def test_figure4_configurations_defaults_are_frozen_bit_for_bit():
    b = im.figure4_configurations(5, rng=np.random.default_rng(11))
    s = b.system
    assert _digest(b.budget, b.cost_dyn, b.cost_rew, b.dyn_coef, b.alpha, b.rew_coef, b.beta,
                   b.global_multiplier) == "579467390e5e2202"
    assert _digest(s.A, s.B, s.K, s.Q, s.R, s.s0, s.e, s.eps_cap, s.radius, s.L_f, s.L_r,
                   s.L_pi) == "72e7a2f890c73ed2"
    assert s.horizon == 202
    b2 = im.figure4_configurations(4, rng=np.random.default_rng(12), d_s=3, d_a=1,
                                   budget=(1e2, 1e3), cost_ratio=(1.0, 2.0), rate=(0.1, 0.2),
                                   gamma=0.7, horizon=40)
    s2 = b2.system
    assert _digest(b2.budget, b2.cost_dyn, b2.global_multiplier, s2.A, s2.B, s2.e,
                   s2.L_r) == "190b14f6388d27eb"


def test_realised_optimal_split_is_frozen_bit_for_bit_on_aligned_batches():
    b = im.figure4_configurations(5, rng=np.random.default_rng(11))
    assert _digest(*im.realised_optimal_split(b, grid=401)) == "ec900618bbbdf981"
    frozen = {"tanh": "623842702f550e7b", "sin": "82fa28899deb66ce",
              "quadratic": "7b8d285eea85aece"}
    for family, expected in frozen.items():
        got = _digest(*im.realised_optimal_split(im.value_family_grid(family), grid=401))
        assert got == expected, family
    linear = im.linear_value_configurations(6, rng=np.random.default_rng(2))
    assert _digest(*im.realised_optimal_split(linear, grid=401)) == "d8d331df657b13f5"


# --------------------------------------------------------------------------------------------
# The readings of ell on the test beds, the aligned theorem, the non-aligned sign test
# --------------------------------------------------------------------------------------------


def test_figure4_options_share_draws_and_reject_bad_input():
    """Common random numbers: another budget interval maps the same uniforms, same systems."""
    a = im.figure4_configurations(8, rng=np.random.default_rng(3))
    b = im.figure4_configurations(8, rng=np.random.default_rng(3), budget=(1e6, 1e8))
    np.testing.assert_allclose(np.log10(b.budget) - np.log10(a.budget), 2.0, atol=1e-12)
    assert np.array_equal(a.system.A, b.system.A) and np.array_equal(a.cost_dyn, b.cost_dyn)
    c = im.figure4_configurations(8, rng=np.random.default_rng(3), s0_scale=4.0, q_over_r=0.1)
    np.testing.assert_allclose(c.system.s0, 4 * a.system.s0, rtol=1e-15)
    np.testing.assert_allclose(c.system.Q / c.system.R[:, :1, :1],
                               0.1 * a.system.Q / a.system.R[:, :1, :1], rtol=1e-12)
    d = im.figure4_configurations(8, rng=np.random.default_rng(3), direction="random")
    assert np.all(np.einsum("ni,ni->n", d.system.e, a.system.e) >= 0)  # signed: still aligned
    with pytest.raises(ValueError, match="direction"):
        im.figure4_configurations(2, rng=np.random.default_rng(0), direction="up")
    with pytest.raises(ValueError, match="s0_scale"):
        im.figure4_configurations(2, rng=np.random.default_rng(0), s0_scale=0)
    with pytest.raises(ValueError, match="budget"):
        im.figure4_configurations(2, rng=np.random.default_rng(0), budget=(1e4, 1e2))


def test_phase_field_errors_are_exact_and_the_gap_analytic():
    batch = im.figure4_configurations(5, rng=np.random.default_rng(8), direction="phase",
                                      horizon=50)
    s = batch.system
    assert isinstance(s, im.PhaseFieldLQGSystems)
    theta = np.linspace(0, 2 * np.pi, 17)[:, None, None]
    field = s.e1 * np.cos(theta) + s.e2 * np.sin(theta)
    np.testing.assert_allclose(np.linalg.norm(field, axis=-1), 1.0, rtol=1e-12)
    e_d, e_r = np.full(5, 0.01), np.full(5, 0.02)
    cs = s.value_gap(e_d + 1e-30j, e_r).imag / 1e-30
    fd = (s.value_gap(e_d + 1e-6, e_r) - s.value_gap(e_d - 1e-6, e_r)) / 2e-6
    np.testing.assert_allclose(cs, fd, rtol=1e-6, atol=1e-10)
    # reward part by hand: sum_t gamma^t eps_rew cos(theta_r(t)) with the model's own trajectory
    only_rew = s.value_gap(0.0, e_r)
    d_s = s.s0.shape[-1]
    p_rew = s.q_rew[:, :d_s] - np.einsum("nji,nj->ni", s.K, s.q_rew[:, d_s:])
    M, x, want = s.A - s.B @ s.K, s.s0.copy(), np.zeros(5)
    for t in range(50):
        want += 0.8**t * 0.02 * np.cos(np.einsum("ni,ni->n", p_rew, x) + s.phase_rew)
        x = np.einsum("nij,nj->ni", M, x)
    np.testing.assert_allclose(only_rew, want, rtol=1e-12, atol=1e-15)


def test_signed_realised_optimum_against_a_dense_grid_of_the_simulated_gap():
    """On non-aligned errors: never worse than a zoomed dense grid of the simulated |gap|, equal
    to it where smooth, and at a cancellation the gap is zero (the crossing branch runs)."""
    batch = im.figure4_configurations(4, rng=np.random.default_rng(13), direction="phase",
                                      horizon=60)
    res = im.realised_optimal_split_signed(batch, grid=401)
    lo, hi = batch.search_interval()

    def err(u):
        return np.abs(batch.system.value_gap(*batch.errors(u)))

    cols = np.arange(batch.n)
    for _ in range(3):
        u = lo + (hi - lo) * np.linspace(0, 1, 8_001)[:, None]
        k = np.argmin(err(u), axis=0)
        step = u[1] - u[0]
        lo, hi = u[np.maximum(k - 2, 0), cols], u[np.minimum(k + 2, 8_000), cols]
    u_bf = u[k, cols]
    e_ours, e_bf = err(res.log_odds[None, :])[0], err(u_bf[None, :])[0]
    assert np.all(e_ours <= e_bf + 1e-9 * np.maximum(e_ours, e_bf))
    smooth = ~res.crossing
    assert np.all(np.abs(res.log_odds - u_bf)[smooth] < 4 * np.maximum(step[smooth], 1e-7))
    assert res.crossing.any() and np.all(res.error[res.crossing] < 1e-9)
    # realised_optimal_split gives the same optima (it is the signed search without `crossing`)
    np.testing.assert_array_equal(im.realised_optimal_split(batch, grid=401).log_odds,
                                  res.log_odds)


def test_signed_realised_optimum_equals_the_library_on_aligned_batches():
    batch = im.figure4_configurations(6, rng=np.random.default_rng(5))
    ours = im.realised_optimal_split_signed(batch, grid=401)
    ref = im.realised_optimal_split(batch, grid=401)
    for name in im.RealisedOptimum._fields:
        np.testing.assert_array_equal(getattr(ours, name), getattr(ref, name))
    assert not ours.crossing.any()
    flat = RewardOnly()
    ones = np.ones(2)
    problems = im.AllocationProblems(flat, 100 * ones, ones, ones, ones, 0.5 * ones, ones,
                                     0.5 * ones, ones)
    nan = im.realised_optimal_split_signed(problems, grid=11, on_boundary="nan")
    assert np.all(np.isnan(nan.ratio)) and not nan.crossing.any()


def test_batch_readings_against_brute_force_on_the_simulated_gap():
    """evaluate_readings' R1 and R2 against the realised optimum of a zoomed dense grid of the
    simulated |gap|, re-solved by scalar optimal_allocation (R1) and Eq. (4) by hand (R2)."""
    batch = im.figure4_configurations(3, rng=np.random.default_rng(13), horizon=60)
    res = im.evaluate_readings(batch, grid=401, h=1e-6)
    lo, hi = batch.search_interval()
    cols = np.arange(batch.n)
    for _ in range(3):
        u = lo + (hi - lo) * np.linspace(0, 1, 8_001)[:, None]
        k = np.argmin(np.abs(batch.system.value_gap(*batch.errors(u))), axis=0)
        lo, hi = u[np.maximum(k - 2, 0), cols], u[np.minimum(k + 2, 8_000), cols]
    u_bf = u[k, cols]
    r_bf = np.exp(u_bf) * batch.cost_rew / batch.cost_dyn
    e_d, e_r = batch.errors(u_bf)
    m = batch.global_multiplier
    fixed = np.log(batch.alpha / batch.beta * m * batch.cost_rew / batch.cost_dyn * e_d / e_r
                   / r_bf)
    resolved = np.log([optimal_allocation_ratio(batch, i, m[i]) for i in range(3)]) - np.log(r_bf)
    np.testing.assert_allclose(res.readings.fixed_point, fixed, atol=1e-4)
    np.testing.assert_allclose(res.readings.resolved, resolved, atol=1e-4)
    S_f, S_r = im.realised_sensitivities(batch)
    np.testing.assert_allclose(res.readings.multiplier, np.log(m / (S_f / S_r)), rtol=1e-14)


def optimal_allocation_ratio(batch, i, m):
    return im.optimal_allocation(batch.budget[i], batch.cost_dyn[i], batch.cost_rew[i],
                                 batch.dyn_law(i), batch.rew_law(i), m).ratio


@settings(max_examples=30)
@given(seed=st.integers(0, 2**31 - 1), direction=st.sampled_from(["steepest", "random"]),
       s0_scale=st.floats(0.25, 16), q_over_r=st.floats(0.01, 100),
       log_budget=st.floats(3.0, 9.0), log_cost=st.floats(-2.0, 2.0))
def test_theorem_aligned_ell_is_nonnegative_under_every_reading(seed, direction, s0_scale,
                                                                q_over_r, log_budget, log_cost):
    """Chapter 4's theorem: sign-aligned constant errors, the global multiplier and a realised
    optimum where the constants hold (eps*_dyn <= eps_cap) give S_f/S_r <= m_eff = D'(eps*)/S_r
    <= m_H <= m, hence every reading of ell is >= 0; moreover 0 <= R1 <= R2 <= R3 and
    R4 <= R3 (the elasticity is < 1, D is convex)."""
    batch = im.figure4_configurations(
        2, rng=np.random.default_rng(seed), direction=direction, s0_scale=s0_scale,
        q_over_r=q_over_r, budget=(10**log_budget, 10**log_budget),
        cost_ratio=(10**log_cost, 10**log_cost), horizon=60)
    res = im.evaluate_readings(batch, grid=201, on_boundary="nan")
    ok = np.isfinite(res.realised_ratio) & (res.eps_dyn <= batch.system.eps_cap)
    assume(ok.any())
    s = batch.system
    m_H = im.finite_horizon_multiplier(s.gamma, s.L_f, s.L_r, s.L_pi, s.horizon)
    R = res.readings
    assert np.all((res.S_f / res.S_r)[ok] <= m_H[ok] * (1 + 1e-9))
    assert np.all(R.m_eff[ok] <= m_H[ok] * (1 + 1e-6))
    for name in im.ELL_READINGS:
        assert np.all(getattr(R, name)[ok] >= -1e-6), name
    assert np.all(R.resolved[ok] <= R.fixed_point[ok] + 1e-6)
    assert np.all(R.fixed_point[ok] <= R.multiplier[ok] + 1e-6)
    assert np.all(R.resolved_reference[ok] <= R.multiplier[ok] + 1e-6)


def test_nonaligned_sign_test_counts_by_a_plain_loop():
    """The sign test on phase-field (non-aligned) errors recounted by a plain loop: scalar
    optimal_allocation for R1, Eq. (4)'s right side by hand for R2, the binomial tail by
    math.comb, the median by sorting. Some residuals are negative: here the test can fail."""
    import math

    batch = im.figure4_configurations(12, rng=np.random.default_rng(4242), direction="phase",
                                      horizon=80)
    res = im.evaluate_readings(batch, grid=801, on_boundary="nan")
    for name in ("resolved", "fixed_point"):
        values = []
        for i in range(batch.n):
            r_star = res.realised_ratio[i]
            if not math.isfinite(r_star):
                continue
            m = batch.global_multiplier[i]
            if name == "resolved":
                pred = optimal_allocation_ratio(batch, i, m)
            else:
                pred = (batch.alpha[i] / batch.beta[i] * m * batch.cost_rew[i]
                        / batch.cost_dyn[i] * res.eps_dyn[i] / res.eps_rew[i])
            values.append(math.log(pred / r_star))
        positive = 0
        for v in values:
            if v > 0:
                positive += 1
        n = len(values)
        p = sum(math.comb(n, k) for k in range(positive, n + 1)) / 2**n
        ordered = sorted(values)
        median = (ordered[(n - 1) // 2] + ordered[n // 2]) / 2
        got = getattr(res.readings, name)
        test = im.sign_test(got[np.isfinite(got)])
        assert (test.n, test.positive, test.ties) == (n, positive, 0)
        assert math.isclose(test.p_value, p, rel_tol=1e-9)
        assert math.isclose(test.median, median, rel_tol=1e-6)
        assert positive < n  # some prediction under-shoots: no theorem fixes the sign here


def test_sign_test_ties_and_bad_input():
    t = im.sign_test([1.0, 0.0, -2.0, 3.0])
    assert (t.n, t.ties, t.positive) == (4, 1, 2) and t.p_value == pytest.approx(0.5)
    assert im.sign_test([0.1, -0.1], tie_tol=0.2).p_value == 1.0
    with pytest.raises(ValueError, match="ell"):
        im.sign_test([])
    with pytest.raises(ValueError, match="tie_tol"):
        im.sign_test([1.0], tie_tol=-1)


def test_control_multiplier_reading_in_closed_form():
    """Quadratic family, global multiplier, by hand: D(e) = lam (s0 e S1 + e^2 S2 / 2) with
    S1 = sum t g^t = g/(1-g)^2, S2 = sum t^2 g^t = g(1+g)/(1-g)^3, S_r = 1/(1-g), m = g/(1-g)
    (L_r = lam = 1), so S_f(h)/S_r = g/(1-g) (s0 + h (1+g)/(2(1-g))) and
    R3 = -log(s0 + h (1+g)/(2(1-g))): log 2 - log 1.009 = 0.6842 at s0 = 0.5, h = 1e-3, g = 0.8."""
    import math

    for s0, h in ((0.5, 1e-6), (0.5, 1e-3), (0.35, 1e-3)):
        res = im.evaluate_readings(im.value_family_grid("quadratic", s0=s0), "global", grid=401,
                                   h=h)
        np.testing.assert_allclose(res.readings.multiplier, -math.log(s0 + h * 1.8 / 0.4),
                                   rtol=1e-6)
    assert round(-math.log(0.5 + 1e-3 * 1.8 / 0.4), 3) == 0.684


def test_ell_sweep_record_check_cells_recompute():
    """The recorded sweep (benchmarks/results/ell_sweep.json): its check cells recomputed now."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "ell_sweep.py"
    spec = importlib.util.spec_from_file_location("ell_sweep", path)
    sweep = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sweep)
    assert sweep.RECORD.exists(), "benchmarks/results/ell_sweep.json is missing"
    record = sweep.load()
    assert len(record["cells"]["fig4"]) == len(sweep.fig4_cells())
    assert len(record["cells"]["fig2"]) == len(sweep.fig2_cells())
    assert sweep.check(record) == []
