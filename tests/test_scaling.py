"""Eq. (3): PowerLaw and fit_power_law (least squares in log-log, bootstrap within each n)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import imagination as im

SIZES = np.array([2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5])


def synthetic_curve(coef, exponent, sigma, seeds, rng):
    """Rows (n, err) of the law with i.i.d. log-normal noise of log-sd sigma."""
    n = np.repeat(SIZES, seeds)
    return n, coef * n ** (-exponent) * np.exp(sigma * rng.standard_normal(n.size))


def test_power_law_evaluates_eq3():
    law = im.PowerLaw(0.34, 0.11)
    # 0.34 * 1000^-0.11 = 0.34 * exp(-0.11 ln 1000)
    assert law(1000.0) == pytest.approx(0.34 * np.exp(-0.11 * np.log(1000.0)), rel=1e-15)
    np.testing.assert_allclose(law(np.array([1.0, 10.0])), [0.34, 0.34 * 10**-0.11])
    assert law.factor_per_decade() == pytest.approx(10**0.11)
    with pytest.raises(ValueError, match="coef"):
        im.PowerLaw(0.0, 0.1)
    with pytest.raises(ValueError, match="exponent"):
        im.PowerLaw(1.0, float("nan"))
    with pytest.raises(ValueError, match="> 0"):
        law(0.0)


def test_eq3_fit_is_exact_on_noiseless_curves():
    fit = im.fit_power_law(SIZES, 90.4 * SIZES**-0.96, n_boot=10, rng=np.random.default_rng(0))
    assert fit.exponent == pytest.approx(0.96, rel=1e-12)
    assert fit.coef == pytest.approx(90.4, rel=1e-10)
    assert fit.r2 == pytest.approx(1.0)
    assert fit.law == im.PowerLaw(fit.coef, fit.exponent)


@given(coef=st.floats(0.01, 100), exponent=st.floats(-0.5, 1.5), seed=st.integers(0, 2**31))
def test_eq3_fit_recovers_exponent_within_its_standard_error(coef, exponent, seed):
    # OLS slope SE = sigma / sqrt(Sxx); 5 SE covers all but ~6e-7 of draws.
    rng = np.random.default_rng(seed)
    n, err = synthetic_curve(coef, exponent, 0.1, 5, rng)
    fit = im.fit_power_law(n, err, n_boot=0, rng=rng)
    x = np.log(n)
    se = 0.1 / np.sqrt(np.sum((x - x.mean()) ** 2))
    assert abs(fit.exponent - exponent) < 5 * se
    assert np.isnan(fit.exponent_ci[0]) and fit.boot.shape == (0, 2)


def test_eq3_bootstrap_ci_coverage_is_near_nominal():
    # 200 synthetic repetitions of 8 seeds per n; the within-n bootstrap rescales deviations by
    # sqrt(k/(k-1)) so its variance is unbiased, and the 95% interval's coverage must lie in
    # [0.85, 0.99]: the binomial SD at p = 0.95 and 200 draws is 0.015.
    rng = np.random.default_rng(1)
    hits = 0
    for _ in range(200):
        n, err = synthetic_curve(0.34, 0.11, 0.2, 8, rng)
        lo, hi = im.fit_power_law(n, err, n_boot=400, rng=rng).exponent_ci
        hits += lo <= 0.11 <= hi
    coverage = hits / 200
    print(f"coverage of the 95% CI: {coverage:.3f}")
    assert 0.85 <= coverage <= 0.99


def test_eq3_bootstrap_keeps_the_design_and_is_joint():
    rng = np.random.default_rng(2)
    n, err = synthetic_curve(2.0, 0.5, 0.1, 4, rng)
    fit = im.fit_power_law(n, err, n_boot=300, rng=rng)
    assert fit.boot_method == "rows within n"
    assert fit.boot.shape == (300, 2) and np.all(fit.boot[:, 0] > 0)
    lo, hi = fit.exponent_ci
    assert lo < fit.exponent < hi
    # coefficient and exponent of a log-log fit are strongly correlated across draws
    assert abs(np.corrcoef(np.log(fit.boot[:, 0]), fit.boot[:, 1])[0, 1]) > 0.5
    # one row per n: resampling within n would change nothing, so residuals are resampled
    single = im.fit_power_law(SIZES, 2.0 * SIZES**-0.5 * np.exp(0.1 * rng.standard_normal(7)),
                              n_boot=300, rng=rng)
    assert single.boot_method == "residuals"
    assert single.exponent_ci[1] - single.exponent_ci[0] > 0


def test_eq3_fit_reproducible_with_the_same_generator():
    n, err = synthetic_curve(1.0, 0.3, 0.1, 3, np.random.default_rng(3))
    a = im.fit_power_law(n, err, n_boot=50, rng=np.random.default_rng(9))
    b = im.fit_power_law(n, err, n_boot=50, rng=np.random.default_rng(9))
    np.testing.assert_array_equal(a.boot, b.boot)


@pytest.mark.parametrize(
    ("n", "err", "kwargs", "match"),
    [
        ([1, 2, 3], [1, 2], {}, "same length"),
        ([0, 2, 3], [1, 2, 3], {}, "sample size"),
        ([-1, 2, 3], [1, 2, 3], {}, "sample size"),
        ([1, 2, 3], [1, 0, 3], {}, "error"),
        ([1, 2, 3], [1, np.inf, 3], {}, "error"),
        ([5, 5, 5], [1, 2, 3], {}, "two distinct"),
        ([1, 2, 3], [1, 2, 3], {"n_boot": -1}, "n_boot"),
        ([1, 2, 3], [1, 2, 3], {"n_boot": 2.5}, "n_boot"),
    ],
)
def test_fit_power_law_rejects_bad_input(n, err, kwargs, match):
    with pytest.raises(ValueError, match=match):
        im.fit_power_law(n, err, rng=np.random.default_rng(0), **kwargs)


def test_band_is_the_pointwise_percentile_of_the_bootstrap_laws():
    rng = np.random.default_rng(5)
    n = np.repeat([100, 300, 1000, 3000], 6)
    fit = im.fit_power_law(n, 2 * n**-0.4 * np.exp(0.1 * rng.standard_normal(n.size)),
                           n_boot=300, rng=rng)
    grid = np.array([100.0, 1000.0, 3000.0])
    lo, hi = fit.band(grid)
    laws = np.array([[a * x**-k for x in grid] for a, k in fit.boot])  # a plain loop
    np.testing.assert_allclose(lo, np.percentile(laws, 2.5, axis=0), rtol=1e-12)
    np.testing.assert_allclose(hi, np.percentile(laws, 97.5, axis=0), rtol=1e-12)
    assert np.all(lo < fit.law(grid)) and np.all(fit.law(grid) < hi)
    narrow = fit.band(grid, level=0.5)
    assert np.all(narrow[0] >= lo) and np.all(narrow[1] <= hi)
    with pytest.raises(ValueError, match="no bootstrap draws"):
        im.fit_power_law(n, 2 * n**-0.4, n_boot=0, rng=rng).band(grid)
    with pytest.raises(ValueError, match="level must lie in"):
        fit.band(grid, level=1.0)


@pytest.mark.parametrize("seeds", [2, 3, 10])
def test_eq3_bootstrap_variance_is_unbiased(seeds):
    # The exponent is -slope = -sum_i w_i ybar_i with w_i = k (x_i - xbar) / Sxx over the
    # distinct n. A replicate's mean at n_i is ybar_i plus sqrt(k/(k-1)) times the mean of k
    # deviations drawn from that n, whose variance is (k-1)/k * s_i^2 / k (s_i^2 the unbiased
    # variance of the rows at n_i); so Var*(exponent) = sum_i w_i^2 s_i^2 / k exactly. Without
    # the rescaling it would be (k-1)/k of that: 1/2 at k = 2, which this test catches.
    rng = np.random.default_rng(seeds)
    n, err = synthetic_curve(0.34, 0.11, 0.2, seeds, rng)
    fit = im.fit_power_law(n, err, n_boot=40_000, rng=rng)
    x = np.log(SIZES)
    w = seeds * (x - x.mean()) / (seeds * np.sum((x - x.mean()) ** 2))
    s2 = np.log(err).reshape(SIZES.size, seeds).var(axis=1, ddof=1)
    expected = np.sum(w**2 * s2 / seeds)
    # relative Monte Carlo SD of a variance from 40,000 draws: sqrt(2 / 40000) = 0.7%
    assert np.var(fit.boot[:, 1]) == pytest.approx(expected, rel=0.035)
    # the residual scheme (one row per n): Var* = (R/(R-2)) * mean(resid^2) / Sxx
    single = im.fit_power_law(SIZES, err[::seeds], n_boot=40_000, rng=rng)
    xs = np.log(SIZES)
    resid = np.log(err[::seeds]) - np.log(single.coef) + single.exponent * xs
    expected = np.mean(resid**2) * 7 / 5 / np.sum((xs - xs.mean()) ** 2)
    assert np.var(single.boot[:, 1]) == pytest.approx(expected, rel=0.035)


def test_eq3_bootstrap_fast_path_equals_a_plain_loop():
    # Each replicate refitted by np.polyfit on rows built by hand from the same integers: the
    # rows sorted by n, position j takes row pick[j] of its n, its deviation from the mean at n
    # times sqrt(k/(k-1)) added to that mean.
    rng = np.random.default_rng(5)
    n, err = synthetic_curve(0.34, 0.11, 0.1, 4, rng)
    perm = rng.permutation(n.size)  # rows in any order
    n, err = n[perm], err[perm]
    fit = im.fit_power_law(n, err, n_boot=50, rng=np.random.default_rng(8))
    pick = np.random.default_rng(8).integers(0, 4, size=(50, n.size))
    order = np.argsort(n, kind="stable")
    y = np.log(err)
    for b in range(50):
        xs, ys = [], []
        for j, row in enumerate(order):
            same = order[(j // 4) * 4:(j // 4) * 4 + 4]  # the rows at this position's n
            mean = y[same].mean()
            xs.append(np.log(n[row]))
            ys.append(mean + np.sqrt(4 / 3) * (y[same[pick[b, j]]] - mean))
        slope, intercept = np.polyfit(xs, ys, 1)
        np.testing.assert_allclose(fit.boot[b], [np.exp(intercept), -slope], rtol=1e-10)
