"""Lemma 1 / Eq. (1) and the finite-horizon bound, against closed forms and the extremal system;
Corollary 1: the dynamics coefficient of Eq. (1) and its gradient."""

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import imagination as im
from imagination.bounds import dynamics_coefficient, dynamics_coefficient_gradient

unit = st.floats(0.0, 0.99)
const = st.floats(0.0, 3.0)
err = st.floats(0.0, 10.0)


def extremal_gap(eps_dyn, eps_rew, gamma, L_f, L_r, L_pi, horizon):
    """|J_H - Ĵ_H| on the system where Lemma 1 is attained (paper.md §2 [check]).

    Scalar f(s, a) = L_f (s + a), pi(s) = L_pi s, r(s, a) = L_r (s + a), f̂ = f + eps_dyn,
    r̂ = r + eps_rew: every inequality of the proof holds with equality. A plain loop on purpose.
    """
    s = s_hat = 1.0
    gap = 0.0
    for t in range(horizon):
        a, a_hat = L_pi * s, L_pi * s_hat
        gap += gamma**t * ((L_r * (s_hat + a_hat) + eps_rew) - L_r * (s + a))
        s, s_hat = L_f * (s + a), L_f * (s_hat + a_hat) + eps_dyn
    return abs(gap)


def test_eq1_by_hand():
    # 0.01 / 0.1 + 0.9 * 1 * 1.5 / (0.1 * (1 - 0.9 * 0.5 * 1.5)) * 0.1 = 0.1 + 4.153846...
    assert im.return_error_bound(0.1, 0.01, 0.9, 0.5, 1.0, 0.5) == pytest.approx(
        0.1 + 0.9 * 1.5 / (0.1 * 0.325) * 0.1, rel=1e-15
    )
    assert im.compounding_rate(0.5, 0.5) == 0.75
    assert im.dynamics_multiplier(0.9, 0.5, 1.0, 0.5) == pytest.approx(0.9 * 1.5 / 0.325)


@given(err, err, unit, const, const, const, st.integers(1, 60))
def test_lemma1_finite_bound_is_attained(eps_dyn, eps_rew, gamma, L_f, L_r, L_pi, horizon):
    # On the extremal system gap == finite-horizon bound term by term (relative 1e-9 for the
    # rounding of up to 60 steps of geometric growth).
    L_f = min(L_f, 1.5 / (1 + L_pi))  # keep L^60 well inside float range
    bound = im.return_error_bound_finite(eps_dyn, eps_rew, gamma, L_f, L_r, L_pi, horizon)
    gap = extremal_gap(eps_dyn, eps_rew, gamma, L_f, L_r, L_pi, horizon)
    assert gap == pytest.approx(bound, rel=1e-9, abs=1e-12)


@given(err, err, unit, const, const, const)
def test_lemma1_finite_bound_increases_to_eq1(eps_dyn, eps_rew, gamma, L_f, L_r, L_pi):
    rate = gamma * L_f * (1 + L_pi)
    if rate >= 0.95:  # contraction with a margin, so 4000 steps converge
        L_f = 0.95 * L_f / rate
    infinite = im.return_error_bound(eps_dyn, eps_rew, gamma, L_f, L_r, L_pi)
    finite = [im.return_error_bound_finite(eps_dyn, eps_rew, gamma, L_f, L_r, L_pi, h)
              for h in (1, 2, 5, 20, 100, 4000)]
    assert np.all(np.diff(finite) >= -1e-12 * infinite)
    assert finite[-1] <= infinite * (1 + 1e-12) + 1e-300
    assert finite[-1] == pytest.approx(infinite, rel=1e-9, abs=1e-300)


def test_finite_multiplier_tends_to_eq4_multiplier():
    m = im.dynamics_multiplier(0.95, 0.8, 2.0, 0.2)
    assert im.finite_horizon_multiplier(0.95, 0.8, 2.0, 0.2, 10_000) == pytest.approx(m, rel=1e-12)
    assert im.finite_horizon_multiplier(0.95, 0.8, 2.0, 0.2, 10) < m


def test_asadi_reduction():
    # eps_rew = 0, L_pi = 0: gamma K_R Delta / ((1 - gamma)(1 - gamma K)) (Asadi et al. 2018).
    gamma, K, K_R, delta = 0.9, 1.05, 2.0, 0.03
    expected = gamma * K_R * delta / ((1 - gamma) * (1 - gamma * K))
    bound = im.return_error_bound(delta, 0.0, gamma, K, K_R, 0.0)
    assert bound == pytest.approx(expected, rel=1e-14)


def test_finite_bound_without_contraction_and_undiscounted():
    # gamma = 1, L = 2: sum_{t<H} (eps_rew + L_r eps_dyn (2^t - 1)) by hand for H = 4.
    value = im.return_error_bound_finite(0.1, 0.2, 1.0, 2.0, 3.0, 0.0, 4)
    assert value == pytest.approx(4 * 0.2 + 3.0 * 0.1 * (0 + 1 + 3 + 7))


def test_finite_bound_overflows_to_inf_without_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert im.return_error_bound_finite(0.1, 0.0, 1.0, 10.0, 1.0, 0.0, 1000) == np.inf
        # eps_dyn = 0 keeps the bound finite even when the dynamics sum explodes
        no_dyn = im.return_error_bound_finite(0.0, 0.1, 1.0, 10.0, 1.0, 0.0, 1000)
        assert no_dyn == pytest.approx(100)


def test_bounds_broadcast_over_arrays():
    gammas = np.array([0.0, 0.5, 0.9])
    out = im.return_error_bound(0.1, 0.01, gammas, 0.5, 1.0, 0.5)
    assert out.shape == (3,)
    assert out[1] == im.return_error_bound(0.1, 0.01, 0.5, 0.5, 1.0, 0.5)
    out_h = im.return_error_bound_finite(0.1, 0.01, gammas, 0.5, 1.0, 0.5, 50)
    assert np.all(out_h <= out)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: im.return_error_bound(0.1, 0.1, 1.0, 0.5, 1, 0), r"0 <= gamma < 1"),
        (lambda: im.return_error_bound(0.1, 0.1, -0.1, 0.5, 1, 0), r"0 <= gamma < 1"),
        (lambda: im.return_error_bound(-0.1, 0.1, 0.5, 0.5, 1, 0), r"eps_dyn must be finite"),
        (lambda: im.return_error_bound(0.1, np.nan, 0.5, 0.5, 1, 0), r"eps_rew must be finite"),
        (lambda: im.return_error_bound(0.1, 0.1, 0.9, 1.0, 1, 0.2), r"contraction condition"),
        (lambda: im.dynamics_multiplier(0.9, -1.0, 1, 0.2), r"L_f must be finite"),
        (lambda: im.return_error_bound_finite(0.1, 0.1, 1.01, 1, 1, 0, 5), r"0 <= gamma <= 1"),
        (lambda: im.return_error_bound_finite(0.1, 0.1, 0.9, 1, 1, 0, 0),
         r"horizon must be an integer >= 1"),
        (lambda: im.return_error_bound_finite(0.1, 0.1, 0.9, 1, 1, 0, 2.5),
         r"horizon must be an integer >= 1"),
        (lambda: im.compounding_rate(1.0, -0.5), r"L_pi must be finite"),
    ],
)
def test_bounds_reject_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@given(err, err, unit, const, const, const, st.integers(0, 5), st.floats(1.0, 2.0))
def test_lemma1_bound_monotone_in_every_argument(eps_dyn, eps_rew, gamma, L_f, L_r, L_pi, which,
                                                 factor):
    # Corollary 1's premise, and more: raising any argument never lowers either bound.
    args = [eps_dyn, eps_rew, gamma, L_f, L_r, L_pi]
    bigger = list(args)
    bigger[which] = min(args[which] * factor, 0.999) if which == 2 else args[which] * factor
    finite = [im.return_error_bound_finite(*a, 30) for a in (args, bigger)]
    assert finite[1] >= finite[0] * (1 - 1e-12)
    if max(a[2] * a[3] * (1 + a[5]) for a in (args, bigger)) < 1:
        assert im.return_error_bound(*bigger) >= im.return_error_bound(*args) * (1 - 1e-12)


@given(st.integers(0, 2**32 - 1))
def test_lemma1_bound_covers_simulated_gap(seed):
    # random nonlinear and LQG systems (chapter 1's generators): gap <= B_H at the same horizon
    rng = np.random.default_rng(seed)
    for make in (im.synthetic_configurations, im.lqg_configurations):
        assert np.all(im.figure3_ratio(make(4, horizon=40, rng=rng)) <= 1 + 1e-9)


# --------------------------------------------------------------------------- Corollary 1


@st.composite
def contracting(draw):
    """(gamma, L_f, L_r, L_pi) with gamma * L_f * (1 + L_pi) <= 0.95 (away from the blow-up)."""
    gamma = draw(st.floats(0.01, 0.99))
    L_pi = draw(st.floats(0.0, 3.0))
    L_f = draw(st.floats(0.0, 0.95 / (gamma * (1 + L_pi))))
    L_r = draw(st.floats(0.0, 5.0))
    return gamma, L_f, L_r, L_pi


def test_dynamics_coefficient_is_the_eps_dyn_coefficient_of_eq1():
    # Eq. (1) with eps_dyn = 1, eps_rew = 0 is exactly C_dyn; by hand at (0.9, 0.5, 1, 0.5):
    # 0.9 * 1.5 / (0.1 * (1 - 0.675)) = 1.35 / 0.0325.
    assert dynamics_coefficient(0.9, 0.5, 1.0, 0.5) == pytest.approx(1.35 / 0.0325, rel=1e-14)
    assert dynamics_coefficient(0.9, 0.5, 1.0, 0.5) == pytest.approx(
        im.return_error_bound(1.0, 0.0, 0.9, 0.5, 1.0, 0.5), rel=1e-14)


@given(contracting())
def test_corollary1_gradient_matches_central_differences(point):
    gamma, L_f, L_r, L_pi = point
    grad = dynamics_coefficient_gradient(gamma, L_f, L_r, L_pi)
    base = np.array([L_f, L_r, L_pi])
    for i in range(3):
        # gamma * L_f * (1 + L_pi) <= 0.95: a step of 1e-6 * max(1, x) moves it by < 1e-4, so
        # both evaluation points stay in the contraction region.
        h = 1e-6 * max(1.0, base[i])
        up, down = base.copy(), base.copy()
        up[i] += h
        down[i] = max(down[i] - h, 0.0)
        fd = (dynamics_coefficient(gamma, *up) - dynamics_coefficient(gamma, *down)) / (
            up[i] - down[i])
        # central/one-sided differences: relative truncation error O(h C''/C') and rounding
        # O(1e-16 C / h); 1e-4 relative is far above both at these h.
        assert fd == pytest.approx(grad[i], rel=1e-4, abs=1e-9)


@given(contracting(), st.integers(0, 2), st.floats(0.0, 1.0))
def test_corollary1_coefficient_is_non_decreasing_in_each_constant(point, i, step):
    gamma, L_f, L_r, L_pi = point
    x = np.array([L_f, L_r, L_pi])
    y = x.copy()
    if i == 0:
        y[0] += step * (0.95 / (gamma * (1 + L_pi)) - L_f)  # stays in the region
    elif i == 1:
        y[1] += step
    else:
        room = 0.95 / (gamma * L_f) - 1 - L_pi if L_f > 1e-3 else 10.0
        y[2] += step * min(room, 10.0)
    assert dynamics_coefficient(gamma, *y) >= dynamics_coefficient(gamma, *x) * (1 - 1e-14)
    assert all(g >= 0 for g in dynamics_coefficient_gradient(gamma, *x))


def test_dynamics_coefficient_rejects_no_contraction_and_bad_gamma():
    with pytest.raises(ValueError, match="contraction"):
        dynamics_coefficient(0.9, 1.0, 1.0, 0.2)
    with pytest.raises(ValueError, match="contraction"):
        dynamics_coefficient_gradient(0.9, 1.0, 1.0, 0.2)
    with pytest.raises(ValueError, match="gamma"):
        dynamics_coefficient_gradient(1.0, 0.1, 1.0, 0.2)
    with pytest.raises(ValueError, match="L_r"):
        dynamics_coefficient(0.5, 0.1, -1.0, 0.2)


@given(err, err, unit, const, const, const)
def test_eq1_is_its_reward_term_plus_its_dynamics_term(eps_dyn, eps_rew, gamma, L_f, L_r, L_pi):
    if gamma * L_f * (1 + L_pi) >= 1:
        with pytest.raises(ValueError, match="contraction"):
            im.dynamics_term(eps_dyn, gamma, L_f, L_r, L_pi)
        return
    total = im.return_error_bound(eps_dyn, eps_rew, gamma, L_f, L_r, L_pi)
    reward, dynamics = im.reward_term(eps_rew, gamma), im.dynamics_term(eps_dyn, gamma, L_f, L_r,
                                                                         L_pi)
    assert reward == pytest.approx(eps_rew / (1 - gamma), rel=1e-15)
    assert reward + dynamics == pytest.approx(total, rel=1e-12, abs=1e-300)


@given(err, err, st.floats(0.0, 1.0), const, const, const, st.integers(1, 60))
def test_finite_bound_is_its_reward_term_plus_its_dynamics_term(eps_dyn, eps_rew, gamma, L_f, L_r,
                                                                L_pi, horizon):
    total = im.return_error_bound_finite(eps_dyn, eps_rew, gamma, L_f, L_r, L_pi, horizon)
    reward = im.reward_term(eps_rew, gamma, horizon)
    dynamics = im.dynamics_term(eps_dyn, gamma, L_f, L_r, L_pi, horizon)
    assert reward == pytest.approx(eps_rew * sum(gamma**t for t in range(horizon)), rel=1e-12)
    assert reward + dynamics == pytest.approx(total, rel=1e-12, abs=1e-300)


# --------------------------------------------------------------------------- bound_multiplier


def test_bound_multiplier_eq1_is_dynamics_multiplier_and_eq1():
    bm = im.bound_multiplier(0.9, 0.5, 1.0, 0.2)
    assert (bm.kind, bm.horizon) == ("eq1", None)
    assert bm.multiplier == im.dynamics_multiplier(0.9, 0.5, 1.0, 0.2)
    assert bm.reward_coefficient == pytest.approx(10.0, rel=1e-15)  # 1 / (1 - 0.9)
    assert bm.bound(0.1, 0.01) == im.return_error_bound(0.1, 0.01, 0.9, 0.5, 1.0, 0.2)
    # the bound is (m eps_dyn + eps_rew) / (1 - gamma)
    assert bm.bound(0.1, 0.01) == pytest.approx((bm.multiplier * 0.1 + 0.01) * 10, rel=1e-14)


def test_bound_multiplier_finite_horizon_by_hand():
    # gamma = 1, L = L_f (1 + L_pi) = 2 * 1 = 2, H = 3: sum_{t<3} sum_{k<t} 2^k = 0 + 1 + 3 = 4,
    # sum_{t<3} gamma^t = 3, so m_H = L_r (1 + L_pi) * 4 / 3 = 1.5 * 1 * 4 / 3 = 2.
    bm = im.bound_multiplier(1.0, 2.0, 1.5, 0.0, horizon=3)
    assert (bm.kind, bm.horizon) == ("finite_horizon", 3)
    assert bm.multiplier == pytest.approx(2.0, rel=1e-15)
    assert bm.reward_coefficient == 3.0
    # U_3 = (m_H eps_dyn + eps_rew) * 3 = (2 * 0.1 + 0.01) * 3 = 0.63
    assert bm.bound(0.1, 0.01) == pytest.approx(0.63, rel=1e-14)
    assert bm.bound(0.1, 0.01) == im.return_error_bound_finite(0.1, 0.01, 1.0, 2.0, 1.5, 0.0, 3)
    assert bm.multiplier == im.finite_horizon_multiplier(1.0, 2.0, 1.5, 0.0, 3)


def test_bound_multiplier_refuses_what_it_cannot_bound():
    # chapter 7's Pendulum models: L_f about 2.9 does not contract at gamma = 0.99
    with pytest.raises(ValueError, match=r"do not contract: .* = 2\.871 >= 1.*finite horizon"):
        im.bound_multiplier(0.99, 2.9, 1.0, 0.0)
    assert im.bound_multiplier(0.99, 2.9, 1.0, 0.0, horizon=15).multiplier > 0
    with pytest.raises(ValueError, match="past the float range"):
        im.bound_multiplier(0.99, 2.9, 1.0, 0.5, horizon=100_000)  # 4.35^1e5 overflows
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # refused, without an overflow warning
        with pytest.raises(ValueError, match=r"past the float range.*rescale the reward units"):
            im.bound_multiplier(0.9, 0.0, 1e308, 10.0)  # 0.9 * 1e308 * 11 overflows
    with pytest.raises(ValueError, match="gamma must satisfy 0 <= gamma < 1"):
        im.bound_multiplier(1.0, 0.5, 1.0, 0.0)
    with pytest.raises(ValueError, match="horizon must be an integer >= 1"):
        im.bound_multiplier(0.9, 0.5, 1.0, 0.0, horizon=0)
    # a finite multiplier whose bound overflows at the given errors
    bm = im.bound_multiplier(1.0, 1e100, 1.0, 0.0, horizon=4)  # m_H ~ 1e200 / 4
    assert np.isfinite(bm.multiplier)
    with pytest.raises(ValueError, match=r"bound .* is past the float range"):
        bm.bound(1e300, 0.0)
