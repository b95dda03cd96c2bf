r"""Cheap noisy reward labels or expensive clean ones: Corollary 2, repaired and measured.

Setting (paper §6): the reward labels of one rollout cost :math:`c`, their noise variance is
:math:`\sigma^2(c)=\sigma_\eta^2(c)`, and a budget :math:`B` buys :math:`K=B/c` rollouts. The noise
term of Theorem 2, :math:`\sigma^2HW_H^2/(K(1-\gamma)^2)`, becomes

.. math::

   \frac{\Phi(c)\,H\,W_H^2}{B(1-\gamma)^2},\qquad \Phi(c)=c\,\sigma^2(c),

a one-dimensional problem in :math:`c` (Corollary 2). This module adds what the book needs on top:

- a fixed cost :math:`c_0\ge0` of the rollout itself (*departure*: the paper's :math:`K=B/c`
  degenerates as :math:`c\to0`), so :math:`K=B/(c_0+c)` and the objective is
  :math:`\Psi(c)=(c_0+c)\,\sigma^2(c)` (:func:`label_cost_objective`, :func:`optimal_label_cost`);
- the **full** variance of the :math:`K`-rollout estimator, noise-free term included,

  .. math::

     \operatorname{Var}[\hat g_K]=\frac{c_0+c}{B}\bigl(V_0+S\,\sigma^2(c)\bigr),

  with :math:`V_0=\operatorname{Var}[\hat g^{(1)}]_{\eta\equiv0}` (one rollout, true rewards) and
  :math:`S=\mathbb E[\sum_{t'}\|v_{t'}\|^2]` the exact noise coefficient of Theorem 2's proof
  (:func:`imagination.exact_added_variance` with unit variance and one rollout). It is
  :math:`\Psi` for the shifted noise :math:`\sigma^2(c)+V_0/S` (:func:`budgeted_gradient_variance`,
  :func:`optimal_label_cost_full`);
- the paper's three noise-cost regimes with their closed-form optima (:class:`PowerLawNoise`,
  :class:`BoundedFidelity`, :class:`NoiseFloor`), a classifier for the shape of a measured curve
  (:func:`noise_cost_regime`), and the measurement on chapter 5's tabular test bed
  (:func:`per_rollout_estimates`, :func:`budgeted_gradient_mse`, :func:`budgeted_training`).

References
----------
Timor, Shwartz-Ziv, Goldblum, LeCun, Harel, "On Training in Imagination", arXiv:2605.06732,
Theorem 2, Corollary 2 and Figure 5.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize_scalar

from ._checks import as_output, check_finite, check_nonneg, check_positive
from .reinforce import (
    TabularMDP,
    exact_objective,
    reinforce_estimates,
    reward_noise,
    sample_rollouts,
)

__all__ = [
    "GRID_POINTS",
    "NOISE_COST_REGIMES",
    "TIE_RTOL",
    "BoundedFidelity",
    "BudgetedMSE",
    "BudgetedTraining",
    "MeasuredNoise",
    "NoiseFloor",
    "PowerLawNoise",
    "budgeted_gradient_mse",
    "budgeted_gradient_variance",
    "budgeted_training",
    "clean_estimator_variance",
    "label_cost_grid",
    "label_cost_objective",
    "noise_cost_regime",
    "optimal_label_cost",
    "optimal_label_cost_full",
    "per_rollout_estimates",
]

#: Points of the log grid that :func:`optimal_label_cost` searches before refining.
GRID_POINTS = 4097
#: Objective values within this relative distance of the minimum are ties (cheapest c wins).
TIE_RTOL = 1e-12
#: The shapes :func:`noise_cost_regime` can return.
NOISE_COST_REGIMES = ("increasing", "decreasing", "interior", "endpoints", "flat")
# Rollouts sampled at once by per_rollout_estimates (scores: 8 * H * S * A bytes each).
_CHUNK_ROLLOUTS = 1 << 16

NoiseVariance = Callable[[np.ndarray], ArrayLike]


# --------------------------------------------------------------------------- validation


def _check_interval(c_min: Any, c_max: Any) -> tuple[float, float]:
    lo, hi = check_finite("c_min", c_min), check_finite("c_max", c_max)
    if not 0 < lo < hi:
        raise ValueError(f"the label costs must satisfy 0 < c_min < c_max, got c_min={c_min!r}, "
                         f"c_max={c_max!r}")
    return lo, hi


def _check_costs(c: ArrayLike) -> np.ndarray:
    arr = np.asarray(c, dtype=float)
    if arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError("label costs c must be finite and > 0 (a non-empty array), got "
                         f"{np.array2string(arr.ravel()[:5])}{'...' if arr.size > 5 else ''}")
    return arr


def _variance_at(noise_variance: Any, c: np.ndarray) -> np.ndarray:
    """sigma^2(c) from a vectorised callable, checked: same shape as c, finite, >= 0."""
    if not callable(noise_variance):
        raise ValueError("noise_variance must be a vectorised callable c -> sigma^2(c), got "
                         f"{type(noise_variance).__name__}")
    s2 = np.asarray(noise_variance(c), dtype=float)
    if s2.shape != c.shape:
        raise ValueError(f"noise_variance must return an array of the same shape as c: got shape "
                         f"{s2.shape} for c of shape {c.shape} (vectorise it, e.g. with "
                         "np.full_like(c, value) for a constant)")
    if not np.all(np.isfinite(s2)):
        raise ValueError("noise_variance returned a non-finite value (nan or inf)")
    if np.any(s2 < 0):
        i = int(np.argmin(s2))
        raise ValueError(f"noise_variance must be >= 0 (a variance), got {s2.flat[i]:.6g} at "
                         f"c = {c.flat[i]:.6g}")
    return s2


def label_cost_objective(c: ArrayLike, noise_variance: NoiseVariance, *,
                         rollout_cost: float = 0.0) -> Any:
    r"""The objective of Corollary 2, :math:`\Psi(c)=(c_0+c)\,\sigma^2(c)` (:math:`\Phi` at 0).

    With :math:`K=B/(c_0+c)` rollouts, the noise term of Theorem 2 is
    :math:`\Psi(c)\,HW_H^2/(B(1-\gamma)^2)` (the bound) or :math:`\Psi(c)\,S/B` (exact), so
    :math:`B` and the constants scale :math:`\Psi` without moving its minimiser.

    Parameters
    ----------
    c
        Label costs per rollout, finite and > 0 (any shape).
    noise_variance
        Vectorised callable :math:`c\mapsto\sigma^2(c)\ge0`, returning the shape of its input.
    rollout_cost
        The fixed cost :math:`c_0\ge0` of a rollout itself (*book*); 0 gives :math:`\Phi`.

    Returns
    -------
    float or ndarray
        :math:`\Psi(c)`, the shape of ``c``.

    Raises
    ------
    ValueError
        For a cost <= 0, a negative ``rollout_cost``, or a ``noise_variance`` that is not
        callable, returns another shape, a non-finite or a negative value.

    Examples
    --------
    >>> label_cost_objective(4.0, lambda c: 2.0 / c)  # Phi = c * A / c = A: the flat case p = 1
    2.0
    >>> label_cost_objective(4.0, lambda c: 2.0 / c, rollout_cost=1.0)  # (1 + 4) * 2 / 4
    2.5
    """
    c_arr = _check_costs(c)
    c0 = check_nonneg("rollout_cost", rollout_cost)
    return as_output((c0 + c_arr) * _variance_at(noise_variance, c_arr))


def budgeted_gradient_variance(c: ArrayLike, noise_variance: NoiseVariance, *, budget: float,
                               clean_variance: float, noise_coef: float,
                               rollout_cost: float = 0.0) -> Any:
    r"""The full variance of :math:`\hat g_K` when the budget buys :math:`K=B/(c_0+c)` rollouts.

    By Theorem 2's proof (the law of total variance, chapter 5),

    .. math::

       \operatorname{Var}[\hat g_K]=\frac{V_0+S\,\sigma^2(c)}{K}
       =\frac{(c_0+c)\bigl(V_0+S\,\sigma^2(c)\bigr)}{B}
       =\frac{S}{B}\,\Psi_{\sigma^2+V_0/S}(c),

    the objective :func:`label_cost_objective` for the shifted noise variance
    :math:`\sigma^2(c)+V_0/S`. :math:`K` is treated as a real number here (the relaxation of the
    paper); with whole rollouts it is :math:`\lfloor B/(c_0+c)\rfloor`.

    Parameters
    ----------
    c
        Label costs, finite and > 0.
    noise_variance
        Vectorised callable :math:`c\mapsto\sigma^2(c)\ge0`.
    budget
        :math:`B>0`.
    clean_variance
        :math:`V_0=\operatorname{Var}[\hat g^{(1)}]_{\eta\equiv0}\ge0`, one rollout on the true
        rewards (e.g. :func:`clean_estimator_variance`).
    noise_coef
        :math:`S=\mathbb E[\sum_{t'}\|v_{t'}\|^2]>0`, e.g.
        ``exact_added_variance(mdp, theta, H, 1.0, 1)``; Theorem 2's bound uses
        :math:`HW_H^2/(1-\gamma)^2` instead.
    rollout_cost
        :math:`c_0\ge0`.

    Returns
    -------
    float or ndarray
        The variance (= mean-squared error against :math:`g_H`, the estimator being unbiased).
    """
    b = check_positive("budget", budget)
    v0 = check_nonneg("clean_variance", clean_variance)
    s = check_positive("noise_coef", noise_coef)
    c_arr = _check_costs(c)
    c0 = check_nonneg("rollout_cost", rollout_cost)
    return as_output((c0 + c_arr) * (v0 + s * _variance_at(noise_variance, c_arr)) / b)


# --------------------------------------------------------------------------- the optimum


def label_cost_grid(c_min: float, c_max: float, n: int = GRID_POINTS) -> NDArray[np.float64]:
    """The log-spaced grid of label costs searched by :func:`optimal_label_cost`.

    Parameters
    ----------
    c_min, c_max
        The interval, ``0 < c_min < c_max``; both are grid points exactly.
    n
        Number of points, >= 3.

    Returns
    -------
    ndarray, shape ``(n,)``
    """
    lo, hi = _check_interval(c_min, c_max)
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 3:
        raise ValueError(f"n must be an integer >= 3, got {n!r}")
    grid = np.geomspace(lo, hi, int(n))
    grid[0], grid[-1] = lo, hi
    return grid


def optimal_label_cost(noise_variance: NoiseVariance, c_min: float, c_max: float, *,
                       rollout_cost: float = 0.0) -> float:
    r"""The label cost minimising :math:`(c_0+c)\,\sigma^2(c)` on :math:`[c_{\min},c_{\max}]`.

    With ``rollout_cost=0`` this is the minimiser of the paper's :math:`\Phi(c)=c\,\sigma^2(c)`
    (Corollary 2). Global search on a log grid of :data:`GRID_POINTS` points, then a bounded
    Brent refinement (in :math:`\log c`) between the two neighbours of the best grid point.

    **Assumption.** The result is exact to :math:`10^{-6}` relative when :math:`\Psi` is unimodal
    or monotone on the interval, or piecewise monotone with pieces wider than a grid step (a
    factor :math:`(c_{\max}/c_{\min})^{1/4096}`): then the best grid point lies next to the global
    minimiser and the refinement bracket contains it. A minimum narrower than a grid step can be
    missed, and a degenerate minimum (:math:`\Psi-\Psi^*\propto|c-c^*|^q`, :math:`q>2`) is located
    only to about :math:`\epsilon^{1/q}` relative by any method (:math:`\epsilon` the machine
    precision). **Ties**: grid values within :data:`TIE_RTOL` (:math:`10^{-12}`) relative of the
    minimum are ties, and ties go to the cheapest :math:`c` (e.g. :math:`c_{\min}` for a flat
    :math:`\Phi`, the cheap end when the two ends of regime (b) are equal); where the objective is
    flat to that tolerance between grid neighbours, the cheapest tie is resolved to the grid's
    resolution. Inside a curved basin the refinement follows differences below the tolerance
    (they still locate the minimiser).

    Parameters
    ----------
    noise_variance
        Vectorised callable :math:`c\mapsto\sigma^2(c)\ge0` returning the shape of its input.
    c_min, c_max
        The interval, ``0 < c_min < c_max``.
    rollout_cost
        :math:`c_0\ge0` (*book*): the budget buys :math:`K=B/(c_0+c)` rollouts.

    Returns
    -------
    float
        The minimiser :math:`c^*`.

    Raises
    ------
    ValueError
        For ``c_min <= 0``, ``c_min >= c_max``, a negative ``rollout_cost``, or a
        ``noise_variance`` that returns another shape, a non-finite or a negative value.

    Examples
    --------
    >>> round(optimal_label_cost(PowerLawNoise(1.0, 0.5), 1e-3, 1e3, rollout_cost=2.0), 6)
    2.0
    """
    lo, hi = _check_interval(c_min, c_max)
    c0 = check_nonneg("rollout_cost", rollout_cost)
    grid = label_cost_grid(lo, hi)
    values = (c0 + grid) * _variance_at(noise_variance, grid)
    m = float(values.min())
    i = int(np.flatnonzero(values <= m + TIE_RTOL * abs(m))[0])  # the cheapest tie on the grid
    tol = TIE_RTOL * abs(float(values[i]))
    if i + 1 < grid.size and values[i + 1] <= values[i] + tol:
        return float(grid[i])  # flat at the grid's resolution: the cheapest tie

    def objective(log_c: float) -> float:
        c = np.array([np.exp(log_c)])
        return float(((c0 + c) * _variance_at(noise_variance, c))[0])

    # A curved basin: refine between the neighbours, where sub-tie differences still locate the
    # minimiser (a flat-bottomed but curved minimum is not a tie of distinct candidates).
    a, b = np.log(grid[max(i - 1, 0)]), np.log(grid[min(i + 1, grid.size - 1)])
    res = minimize_scalar(objective, bounds=(a, b), method="bounded", options={"xatol": 1e-12})
    c_ref = float(np.clip(np.exp(res.x), lo, hi))
    return c_ref if objective(np.log(c_ref)) < values[i] else float(grid[i])


def optimal_label_cost_full(noise_variance: NoiseVariance, c_min: float, c_max: float, *,
                            clean_variance: float, noise_coef: float,
                            rollout_cost: float = 0.0) -> float:
    r"""The label cost that minimises the full variance :func:`budgeted_gradient_variance`.

    That variance is :math:`(S/B)\,\Psi(c)` for the noise :math:`\sigma^2(c)+V_0/S`, so this is
    :func:`optimal_label_cost` of the shifted noise (same assumption, same tie rule); :math:`B`
    does not move it. Adding :math:`(c_0+c)V_0/S`, increasing in :math:`c`, can only move the
    minimiser toward cheaper labels.

    Parameters
    ----------
    noise_variance
        Vectorised callable :math:`c\mapsto\sigma^2(c)\ge0`.
    c_min, c_max
        The interval, ``0 < c_min < c_max``.
    clean_variance
        :math:`V_0\ge0`.
    noise_coef
        :math:`S>0`.
    rollout_cost
        :math:`c_0\ge0`.

    Returns
    -------
    float
    """
    rho = check_nonneg("clean_variance", clean_variance) / check_positive("noise_coef", noise_coef)

    def shifted(c: np.ndarray) -> np.ndarray:
        return _variance_at(noise_variance, c) + rho

    return optimal_label_cost(shifted, c_min, c_max, rollout_cost=rollout_cost)


def noise_cost_regime(c: ArrayLike, noise_variance: NoiseVariance | ArrayLike, *,
                      rollout_cost: float = 0.0, rtol: float = 1e-9) -> str:
    r"""The shape of :math:`\Psi(c)=(c_0+c)\,\sigma^2(c)` on a range of costs: which label to buy.

    Works on a callable or on sampled arrays: pass the costs ``c`` (increasing) and either the
    callable :math:`\sigma^2` (evaluated at ``c``; for an interval use :func:`label_cost_grid`) or
    the measured :math:`\sigma^2` at ``c`` (the points themselves, or an interpolant evaluated on
    a fine grid). To interpolate measured points, interpolate :math:`\Psi` itself with PCHIP
    (e.g. in :math:`\log c`) and pass :math:`\sigma^2=\Psi/(c_0+c)`: PCHIP keeps the monotonicity of
    the data it interpolates, whereas :math:`c\,\sigma^2` of an interpolated :math:`\sigma^2` can
    wiggle between the points. With :math:`\tau=` ``rtol`` :math:`\cdot\max|\Psi|`:

    - ``"flat"``: :math:`\max\Psi-\min\Psi\le\tau` (any label; the tie rule picks the cheapest);
    - ``"increasing"``: every step rises by at least :math:`-\tau`: buy the cheapest labels;
    - ``"decreasing"``: every step falls by at least :math:`-\tau`: buy the dearest labels;
    - ``"interior"``: not monotone, and the cheapest minimiser (within :math:`\tau`) lies strictly
      inside the range: an interior optimum (regime (c) with :math:`c_0>0`);
    - ``"endpoints"``: not monotone, and the cheapest minimiser is an end of the range (a hump, as
      in regime (b)): compare the two ends.

    Parameters
    ----------
    c
        Costs, finite, > 0, strictly increasing, at least 2 points.
    noise_variance
        Vectorised callable :math:`c\mapsto\sigma^2(c)`, or an array of the shape of ``c``; values
        finite and >= 0.
    rollout_cost
        :math:`c_0\ge0`.
    rtol
        Tolerance relative to :math:`\max|\Psi|`, >= 0; raise it for noisy measured curves.

    Returns
    -------
    str
        One of :data:`NOISE_COST_REGIMES`.

    Examples
    --------
    >>> grid = label_cost_grid(0.1, 10.0)
    >>> noise_cost_regime(grid, NoiseFloor(0.5, 2.0)), noise_cost_regime(
    ...     grid, NoiseFloor(0.5, 2.0), rollout_cost=1.0)
    ('increasing', 'interior')
    """
    c_arr = _check_costs(c)
    if c_arr.ndim != 1 or c_arr.size < 2 or np.any(np.diff(c_arr) <= 0):
        raise ValueError("c must be a 1-D strictly increasing array of at least 2 costs")
    c0 = check_nonneg("rollout_cost", rollout_cost)
    tol_rel = check_nonneg("rtol", rtol)
    if callable(noise_variance):
        s2 = _variance_at(noise_variance, c_arr)
    else:
        s2 = _variance_at(lambda _c: noise_variance, c_arr)
    psi = (c0 + c_arr) * s2
    tol = tol_rel * float(np.max(np.abs(psi)))
    step = np.diff(psi)
    if psi.max() - psi.min() <= tol:
        return "flat"
    if np.all(step >= -tol):
        return "increasing"
    if np.all(step <= tol):
        return "decreasing"
    i = int(np.flatnonzero(psi <= psi.min() + tol)[0])
    return "endpoints" if i in (0, psi.size - 1) else "interior"


# --------------------------------------------------------------------------- the three regimes


def _clip(c: float, lo: float, hi: float) -> float:
    return float(min(max(c, lo), hi))


@dataclass(frozen=True)
class PowerLawNoise:
    r"""Regime (a) of Figure 5: :math:`\sigma^2(c)=A\,c^{-p}`, so :math:`\Phi=A\,c^{1-p}`.

    Parameters
    ----------
    coef
        :math:`A>0`.
    exponent
        :math:`p`, any finite value.
    """

    coef: float
    exponent: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "coef", check_positive("coef", self.coef))
        object.__setattr__(self, "exponent", check_finite("exponent", self.exponent))

    def __call__(self, c: ArrayLike) -> Any:
        """:math:`A\\,c^{-p}` for costs ``c > 0`` (float for a scalar, else an array)."""
        return as_output(self.coef * _check_costs(c) ** (-self.exponent))

    def optimum(self, c_min: float, c_max: float, *, rollout_cost: float = 0.0) -> float:
        r"""Closed-form minimiser of :math:`(c_0+c)\,A\,c^{-p}` on :math:`[c_{\min},c_{\max}]`.

        :math:`\Psi'(c)=A\,c^{-p-1}\bigl((1-p)\,c-p\,c_0\bigr)`. For :math:`p<1` it changes sign
        once, at :math:`c^*=p\,c_0/(1-p)` (:math:`\le0`, i.e. the cheapest label, when
        :math:`p\le0` or :math:`c_0=0`); for :math:`p>1` it is negative: the dearest label. At
        :math:`p=1`, :math:`\Psi=A(1+c_0/c)` falls when :math:`c_0>0` and is flat when
        :math:`c_0=0` (tie: the cheapest).
        """
        lo, hi = _check_interval(c_min, c_max)
        c0, p = check_nonneg("rollout_cost", rollout_cost), self.exponent
        if p < 1:
            return _clip(p * c0 / (1 - p), lo, hi)
        return hi if (p > 1 or c0 > 0) else lo


@dataclass(frozen=True)
class BoundedFidelity:
    r"""Regime (b) of Figure 5: :math:`\sigma^2=\sigma_0^2(1-c/c_{\max})` on :math:`(0,c_{\max}]`.

    Parameters
    ----------
    sigma0_sq
        :math:`\sigma_0^2>0`, the noise of free labels.
    c_max
        :math:`c_{\max}>0`, the cost of perfect labels.
    """

    sigma0_sq: float
    c_max: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "sigma0_sq", check_positive("sigma0_sq", self.sigma0_sq))
        object.__setattr__(self, "c_max", check_positive("c_max", self.c_max))

    def __call__(self, c: ArrayLike) -> Any:
        """:math:`\\sigma_0^2(1-c/c_{\\max})` for ``0 < c <= c_max``."""
        c_arr = _check_costs(c)
        if np.any(c_arr > self.c_max):
            raise ValueError(f"BoundedFidelity is defined for 0 < c <= c_max = {self.c_max}, got "
                             f"c up to {c_arr.max():.6g}")
        return as_output(self.sigma0_sq * (1.0 - c_arr / self.c_max))

    def optimum(self, c_min: float, c_max: float, *, rollout_cost: float = 0.0) -> float:
        r"""Closed-form minimiser of :math:`(c_0+c)\,\sigma_0^2(1-c/c_{\max})` on the interval.

        A concave parabola with roots :math:`-c_0` and :math:`c_{\max}`, symmetric about
        :math:`(c_{\max}-c_0)/2`: the minimum is at the end farther from that vertex, the dearest
        end :math:`c_{\rm hi}` when :math:`c_{\min}+c_{\rm hi}>c_{\max}-c_0`, else the cheapest (a
        tie goes to the cheapest). Here ``c_max`` is the upper end :math:`c_{\rm hi}` of the
        search interval, at most :attr:`c_max`.
        """
        lo, hi = _check_interval(c_min, c_max)
        if hi > self.c_max:
            raise ValueError(f"the interval must end at or before c_max = {self.c_max}, got {hi}")
        c0 = check_nonneg("rollout_cost", rollout_cost)
        return hi if lo + hi > self.c_max - c0 else lo


@dataclass(frozen=True)
class NoiseFloor:
    r"""Regime (c) of Figure 5: :math:`\sigma^2(c)=\sigma_{\rm floor}^2+A/c`.

    So :math:`\Phi=\sigma_{\rm floor}^2c+A`.

    Parameters
    ----------
    floor
        :math:`\sigma_{\rm floor}^2\ge0`.
    coef
        :math:`A\ge0`.
    """

    floor: float
    coef: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "floor", check_nonneg("floor", self.floor))
        object.__setattr__(self, "coef", check_nonneg("coef", self.coef))

    def __call__(self, c: ArrayLike) -> Any:
        """:math:`\\sigma_{\\rm floor}^2+A/c` for costs ``c > 0``."""
        return as_output(self.floor + self.coef / _check_costs(c))

    def optimum(self, c_min: float, c_max: float, *, rollout_cost: float = 0.0) -> float:
        r"""Closed-form minimiser of :math:`(c_0+c)(\sigma_{\rm floor}^2+A/c)` on the interval.

        :math:`\Psi=c_0\sigma_{\rm floor}^2+A+\sigma_{\rm floor}^2c+c_0A/c`, convex in
        :math:`c>0`, with :math:`\Psi'=0` at :math:`c^*=\sqrt{c_0A/\sigma_{\rm floor}^2}`
        (clipped to the interval; :math:`c_0=0` or :math:`A=0`: the cheapest;
        :math:`\sigma_{\rm floor}^2=0<c_0A`: the dearest).
        """
        lo, hi = _check_interval(c_min, c_max)
        c0 = check_nonneg("rollout_cost", rollout_cost)
        num = c0 * self.coef
        if num == 0:
            return lo  # Psi increasing (or flat when the floor is 0 too): the cheapest
        if self.floor == 0:
            return hi  # Psi = c0 A / c + A falls
        return _clip(float(np.sqrt(num / self.floor)), lo, hi)


@dataclass(frozen=True, eq=False)
class MeasuredNoise:
    r"""Measured label noise: :math:`\sigma^2(c)` interpolated between measured costs.

    The fourth noise model beside the three regimes of Corollary 2, for your own measurements
    (``imagination fidelity``, chapter 8): a PCHIP interpolant of the measured variances in
    :math:`\log c`, which keeps every monotone stretch of the data monotone and never overshoots
    its neighbours (so it stays :math:`\ge0`), equal to the measured value at a measured cost,
    and defined only on the measured range :math:`[c_1, c_K]` (no extrapolation).

    Parameters
    ----------
    costs
        The distinct measured costs, strictly increasing, > 0 (at least two).
    noise
        The measured variance at each cost, >= 0 (0: clean labels).

    Notes
    -----
    Use :meth:`from_measurements` for raw rows (repeated costs are averaged).
    """

    costs: NDArray[np.float64]
    noise: NDArray[np.float64]

    def __post_init__(self) -> None:
        from scipy.interpolate import PchipInterpolator

        c = np.array(self.costs, dtype=float)
        v = np.array(self.noise, dtype=float)
        if c.ndim != 1 or c.size < 2 or v.shape != c.shape:
            raise ValueError(f"costs and noise must be 1-D arrays of the same length >= 2, got "
                             f"shapes {c.shape} and {v.shape}")
        if not np.all(np.isfinite(c) & (c > 0)) or np.any(np.diff(c) <= 0):
            raise ValueError("costs must be finite, > 0 and strictly increasing (average "
                             "repeated costs with MeasuredNoise.from_measurements)")
        if not np.all(np.isfinite(v) & (v >= 0)):
            raise ValueError("noise must hold finite variances >= 0")
        for name, arr in (("costs", c), ("noise", v)):
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)
        object.__setattr__(self, "_log_c", np.log(c))
        object.__setattr__(self, "_pchip", PchipInterpolator(self._log_c, v, extrapolate=False))

    @classmethod
    def from_measurements(cls, costs: ArrayLike, noise: ArrayLike) -> MeasuredNoise:
        """The noise model of raw measurements: rows with the same cost are averaged."""
        c = np.asarray(costs, dtype=float)
        v = np.asarray(noise, dtype=float)
        if c.ndim != 1 or v.shape != c.shape:
            raise ValueError(f"costs and noise must be 1-D arrays of the same length, got "
                             f"shapes {c.shape} and {v.shape}")
        distinct, group = np.unique(c, return_inverse=True)
        if distinct.size < 2:
            raise ValueError("need measurements at two or more distinct costs")
        return cls(distinct, np.bincount(group, weights=v) / np.bincount(group))

    def __call__(self, c: ArrayLike) -> Any:
        r""":math:`\sigma^2(c)` for costs on the measured range (float for a scalar)."""
        c_arr = _check_costs(c)
        log_c = np.log(c_arr)
        lo, hi = self._log_c[0], self._log_c[-1]
        # exp(log c) can round just past an end: allow that much, refuse real extrapolation
        slack = 1e-12 * max(1.0, abs(lo), abs(hi))
        if np.any(log_c < lo - slack) or np.any(log_c > hi + slack):
            raise ValueError(f"MeasuredNoise is defined on the measured costs "
                             f"[{self.costs[0]:.6g}, {self.costs[-1]:.6g}]; got c from "
                             f"{c_arr.min():.6g} to {c_arr.max():.6g}")
        x = np.clip(log_c, lo, hi)
        at = np.minimum(np.searchsorted(self._log_c, x), self._log_c.size - 1)
        # at a measured cost the measured value exactly (a clean end stays 0, not 1e-17); PCHIP
        # stays between neighbouring data, so the clip at 0 only removes rounding
        out = np.where(self._log_c[at] == x, self.noise[at], np.maximum(self._pchip(x), 0.0))
        return as_output(out)


# --------------------------------------------------------------------------- measurement


def per_rollout_estimates(mdp: TabularMDP, theta: ArrayLike, horizon: int, n_repetitions: int,
                          n_rollouts: int, rng: np.random.Generator, *,
                          distribution: str = "gaussian"
                          ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    r"""One-rollout REINFORCE estimates on the true rewards and on unit label noise.

    The estimator of chapter 5 (:func:`imagination.reinforce_estimates`) is linear in the reward
    labels, so with labels :math:`r+\sigma\xi` (:math:`\xi` unit-variance noise) one rollout's
    estimate is ``clean + sigma * noise``: one pool of rollouts serves every noise level and every
    :math:`K\le` ``n_rollouts`` (common random numbers across label costs). Sampled in chunks to
    bound memory.

    Parameters
    ----------
    mdp, theta, horizon
        As in :func:`imagination.sample_rollouts`.
    n_repetitions, n_rollouts
        :math:`R\ge1` independent repetitions of :math:`K_{\max}\ge1` rollouts.
    rng
        The source of every random draw.
    distribution
        Of the unit noise :math:`\xi`, one of :data:`imagination.NOISE_DISTRIBUTIONS`.

    Returns
    -------
    clean, noise : ndarray, shape ``(n_repetitions, n_rollouts, S, A)``
    """
    for name, v in (("n_repetitions", n_repetitions), ("n_rollouts", n_rollouts)):
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    theta = np.asarray(theta, dtype=float)
    chunk = max(1, _CHUNK_ROLLOUTS // int(n_rollouts))
    clean, noise = [], []
    for start in range(0, int(n_repetitions), chunk):
        rows = min(chunk, int(n_repetitions) - start)
        ro = sample_rollouts(mdp, theta, horizon, (rows, int(n_rollouts), 1), rng)
        xi = reward_noise(ro.rewards.shape, 1.0, distribution, rng)
        clean.append(reinforce_estimates(ro, mdp.gamma))
        noise.append(reinforce_estimates(ro, mdp.gamma, rewards=xi))
    return np.concatenate(clean), np.concatenate(noise)


def clean_estimator_variance(clean: ArrayLike) -> tuple[float, float]:
    r""":math:`V_0=\operatorname{Var}[\hat g^{(1)}]_{\eta\equiv0}` (covariance trace), with its SE.

    Parameters
    ----------
    clean
        One-rollout estimates on the true rewards, shape ``(n, ...)`` with ``n >= 2`` (e.g. the
        ``clean`` output of :func:`per_rollout_estimates`, reshaped to one rollout per row).

    Returns
    -------
    value, standard_error : float
        The mean of :math:`d_i=\|x_i-\bar x\|^2\,n/(n-1)` and its standard error
        :math:`\mathrm{sd}(d)/\sqrt n` (no normality assumed).
    """
    x = np.asarray(clean, dtype=float)
    if x.ndim < 1 or x.shape[0] < 2 or not np.all(np.isfinite(x)):
        raise ValueError(f"clean must be a finite array with at least 2 rows, got shape {x.shape}")
    x = x.reshape(x.shape[0], -1)
    n = x.shape[0]
    d = np.sum((x - x.mean(axis=0)) ** 2, axis=1) * n / (n - 1)
    return float(d.mean()), float(d.std(ddof=1) / np.sqrt(n))


@dataclass(frozen=True)
class BudgetedMSE:
    r"""Measured mean-squared error of :math:`\hat g_K` against :math:`g_H`, per label cost.

    Attributes
    ----------
    costs : ndarray, shape ``(G,)``
        The label costs :math:`c`.
    n_rollouts : ndarray of int, shape ``(G,)``
        :math:`K=\lfloor B/(c_0+c)\rfloor`.
    mse, se : ndarray, shape ``(G,)``
        Mean over repetitions of :math:`\|\hat g_K-g_H\|^2` and its standard error.
    """

    costs: np.ndarray
    n_rollouts: np.ndarray
    mse: np.ndarray
    se: np.ndarray


def budgeted_gradient_mse(clean: ArrayLike, noise: ArrayLike, exact: ArrayLike, costs: ArrayLike,
                          noise_variance: NoiseVariance, *, budget: float,
                          rollout_cost: float = 0.0) -> BudgetedMSE:
    r"""Spend a budget :math:`B` at each label cost and measure the gradient error.

    At cost :math:`c` the budget buys :math:`K=\lfloor B/(c_0+c)\rfloor` whole rollouts, each with
    labels of variance :math:`\sigma^2(c)`; the estimate of a repetition is the mean of
    ``clean + sqrt(sigma^2(c)) * noise`` over its first :math:`K` rollouts (see
    :func:`per_rollout_estimates`), and its error is :math:`\|\hat g_K-g_H\|^2`.

    Parameters
    ----------
    clean, noise
        Per-rollout estimates, shape ``(R, K_max, ...)``, ``R >= 2``.
    exact
        :math:`g_H`, the shape of one estimate.
    costs
        Label costs, finite, > 0, shape ``(G,)``.
    noise_variance
        Vectorised callable :math:`c\mapsto\sigma^2(c)\ge0`.
    budget
        :math:`B>0`, with :math:`1\le\lfloor B/(c_0+c)\rfloor\le K_{\max}` at every cost.
    rollout_cost
        :math:`c_0\ge0`.

    Returns
    -------
    BudgetedMSE
    """
    clean_a, noise_a = np.asarray(clean, dtype=float), np.asarray(noise, dtype=float)
    if clean_a.shape != noise_a.shape or clean_a.ndim < 2 or clean_a.shape[0] < 2:
        raise ValueError("clean and noise must share a shape (R, K_max, ...) with R >= 2, got "
                         f"{clean_a.shape} and {noise_a.shape}")
    g = np.asarray(exact, dtype=float)
    if g.shape != clean_a.shape[2:]:
        raise ValueError(f"exact must have shape {clean_a.shape[2:]}, got {g.shape}")
    c = _check_costs(costs)
    if c.ndim != 1:
        raise ValueError(f"costs must be 1-D, got shape {c.shape}")
    b, c0 = check_positive("budget", budget), check_nonneg("rollout_cost", rollout_cost)
    k = np.floor(b / (c0 + c) * (1 + 1e-12)).astype(int)  # exact quotients stay whole
    k_max = clean_a.shape[1]
    if k.min() < 1 or k.max() > k_max:
        raise ValueError(f"the budget buys between {k.min()} and {k.max()} rollouts on these "
                         f"costs; it must be between 1 and K_max = {k_max} everywhere")
    sigma = np.sqrt(_variance_at(noise_variance, c))
    R = clean_a.shape[0]
    cum_clean = np.cumsum(clean_a.reshape(R, k_max, -1), axis=1)[:, k - 1]  # (R, G, D)
    cum_noise = np.cumsum(noise_a.reshape(R, k_max, -1), axis=1)[:, k - 1]
    est = (cum_clean + sigma[None, :, None] * cum_noise) / k[None, :, None]
    sq = np.sum((est - g.reshape(1, 1, -1)) ** 2, axis=2)  # (R, G)
    return BudgetedMSE(costs=c, n_rollouts=k, mse=sq.mean(axis=0),
                       se=sq.std(axis=0, ddof=1) / np.sqrt(R))


# --------------------------------------------------------------------------- training


@dataclass(frozen=True)
class BudgetedTraining:
    r"""Learning curves of budgeted REINFORCE at one label cost.

    Attributes
    ----------
    returns : ndarray, shape ``(n_seeds, n_steps + 1)``
        The exact :math:`J_H(\theta)` before the first step and after each step.
    n_rollouts : int
        :math:`K=\lfloor B_{\rm step}/(c_0+c)\rfloor` per step.
    label_cost, sigma2 : float
        :math:`c` and :math:`\sigma^2(c)`.
    spent : float
        Budget spent per seed, :math:`T\,K\,(c_0+c)`.
    """

    returns: np.ndarray
    n_rollouts: int
    label_cost: float
    sigma2: float
    spent: float


def budgeted_training(mdp: TabularMDP, theta0: ArrayLike, horizon: int, *, label_cost: float,
                      sigma2: float, step_budget: float, n_steps: int, learning_rate: float,
                      n_seeds: int, rng: np.random.Generator, rollout_cost: float = 0.0,
                      distribution: str = "gaussian") -> BudgetedTraining:
    r"""Gradient ascent with REINFORCE, each step spending the same budget on labels of one cost.

    Each step buys :math:`K=\lfloor B_{\rm step}/(c_0+c)\rfloor` rollouts with labels
    :math:`r+\eta`, :math:`\operatorname{Var}\eta=\sigma^2`, and moves
    :math:`\theta\leftarrow\theta+\alpha\,\hat g_K` (chapter 5's unbiased estimator). The noise,
    the update and the bookkeeping are vectorised over seeds; the rollouts are sampled per seed,
    since each seed has its own policy. :math:`J_H` is evaluated exactly after every step.

    Parameters
    ----------
    mdp, theta0, horizon
        The test bed and the initial logits (shared by all seeds).
    label_cost
        :math:`c>0`.
    sigma2
        :math:`\sigma^2(c)\ge0`.
    step_budget
        :math:`B_{\rm step}>0`, enough for one rollout: :math:`B_{\rm step}\ge c_0+c`.
    n_steps, n_seeds
        Integers >= 1.
    learning_rate
        :math:`\alpha>0`.
    rng
        Parent generator; each seed gets an independent child (``rng.spawn``).
    rollout_cost
        :math:`c_0\ge0`.
    distribution
        Of the label noise, one of :data:`imagination.NOISE_DISTRIBUTIONS`.

    Returns
    -------
    BudgetedTraining
    """
    c, s2 = check_positive("label_cost", label_cost), check_nonneg("sigma2", sigma2)
    b = check_positive("step_budget", step_budget)
    lr = check_positive("learning_rate", learning_rate)
    c0 = check_nonneg("rollout_cost", rollout_cost)
    for name, v in (("n_steps", n_steps), ("n_seeds", n_seeds)):
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    k = int(np.floor(b / (c0 + c) * (1 + 1e-12)))
    if k < 1:
        raise ValueError(f"step_budget = {b} buys no rollout at c0 + c = {c0 + c}")
    thetas = np.repeat(np.asarray(theta0, dtype=float)[None], int(n_seeds), axis=0)
    rngs = rng.spawn(int(n_seeds))
    returns = np.empty((int(n_seeds), int(n_steps) + 1))
    returns[:, 0] = exact_objective(mdp, thetas[0], horizon)
    for step in range(1, int(n_steps) + 1):
        rollouts = [sample_rollouts(mdp, th, horizon, (k,), g) for th, g in zip(thetas, rngs,
                                                                                 strict=True)]
        eta = np.sqrt(s2) * np.stack([reward_noise((k, horizon), 1.0, distribution, g)
                                      for g in rngs])
        thetas += lr * np.stack([reinforce_estimates(ro, mdp.gamma, rewards=ro.rewards + e)
                                 for ro, e in zip(rollouts, eta, strict=True)])
        returns[:, step] = [exact_objective(mdp, th, horizon) for th in thetas]
    return BudgetedTraining(returns=returns, n_rollouts=k, label_cost=c, sigma2=s2,
                            spent=float(n_steps) * k * (c0 + c))
