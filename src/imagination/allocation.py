r"""The optimal split of a sample budget between dynamics and reward data: Theorem 1, Eq. (4).

A budget :math:`B` buys :math:`N_{\rm dyn}` dynamics samples at :math:`c_{\rm dyn}` each and
:math:`N_{\rm rew}` reward samples at :math:`c_{\rm rew}` each. With the power laws (3),
:math:`\varepsilon_{\rm dyn}=A_dN_{\rm dyn}^{-\alpha}` and
:math:`\varepsilon_{\rm rew}=A_rN_{\rm rew}^{-\beta}`, the bound (1) equals
:math:`(m\,\varepsilon_{\rm dyn}+\varepsilon_{\rm rew})/(1-\gamma)` with the multiplier
:math:`m=\gamma L_r(1+L_\pi)/(1-\gamma L_f(1+L_\pi))`, so Theorem 1 minimises

.. math::

   F(N_{\rm dyn}, N_{\rm rew}) = m\,A_dN_{\rm dyn}^{-\alpha} + A_rN_{\rm rew}^{-\beta}
   \quad\text{subject to}\quad c_{\rm dyn}N_{\rm dyn}+c_{\rm rew}N_{\rm rew}=B .

Its unique minimiser satisfies the fixed point of Eq. (4),

.. math::

   \frac{N^*_{\rm dyn}}{N^*_{\rm rew}}=\frac{\alpha}{\beta}\,m\,
   \frac{c_{\rm rew}}{c_{\rm dyn}}\,\frac{\varepsilon^*_{\rm dyn}}{\varepsilon^*_{\rm rew}},
   \qquad\text{equivalently}\qquad N_{\rm dyn}^{\alpha+1}=\kappa\,N_{\rm rew}^{\beta+1},\quad
   \kappa=\frac{\alpha}{\beta}\,\frac{c_{\rm rew}}{c_{\rm dyn}}\,m\,\frac{A_d}{A_r}.

:func:`optimal_allocation` solves it exactly: with :math:`x` the dynamics share of the budget
and :math:`u=\log(x/(1-x))` its log-odds, the condition reads

.. math::

   h(u) := (\alpha+1)\log x-(\beta+1)\log(1-x) = c
   := \log\frac{\alpha\,m\,A_d\,(B/c_{\rm dyn})^{-\alpha}}{\beta\,A_r\,(B/c_{\rm rew})^{-\beta}},

where :math:`h'(u)=(\alpha+1)(1-x)+(\beta+1)x` lies between :math:`1+\min(\alpha,\beta)` and
:math:`1+\max(\alpha,\beta)`: one monotone root, bracketed exactly, found by Brent's method to
machine precision, and explicit (:math:`u=c/(\alpha+1)`) when :math:`\alpha=\beta`.

References
----------
Timor, Shwartz-Ziv, Goldblum, LeCun, Harel, "On Training in Imagination", arXiv:2605.06732,
Theorem 1 and Eqs. (3), (4).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import brentq
from scipy.special import expit, log_expit

from ._checks import as_output, check_positive

__all__ = [
    "EDGE_SHARE",
    "MIN_VALID_DRAWS",
    "Allocation",
    "AllocationDraws",
    "SplitCoverage",
    "allocation_bootstrap",
    "allocation_kappa",
    "budget_line",
    "budget_line_objective",
    "optimal_allocation",
    "split_cost_elasticity",
    "split_interval_coverage",
]


@dataclass(frozen=True)
class Allocation:
    r"""The optimal split of Theorem 1.

    Attributes
    ----------
    n_dyn, n_rew : float
        :math:`N^*_{\rm dyn}` and :math:`N^*_{\rm rew}` (continuous, positive), on the budget
        line :math:`c_{\rm dyn}N_{\rm dyn}+c_{\rm rew}N_{\rm rew}=B`.
    ratio : float
        :math:`N^*_{\rm dyn}/N^*_{\rm rew}`, the left side of Eq. (4).
    eps_dyn, eps_rew : float
        The errors at the optimum, :math:`A_dN_{\rm dyn}^{*-\alpha}` and
        :math:`A_rN_{\rm rew}^{*-\beta}`, which appear on the right side of Eq. (4).
    objective : float
        :math:`m\,\varepsilon^*_{\rm dyn}+\varepsilon^*_{\rm rew}`: :math:`(1-\gamma)` times the
        bound (1) at the optimum.
    dyn_share, rew_share : float
        Budget shares :math:`c_{\rm dyn}N^*_{\rm dyn}/B` and :math:`c_{\rm rew}N^*_{\rm rew}/B`
        (each computed directly, so a share close to 0 keeps its relative precision).
    """

    n_dyn: float
    n_rew: float
    ratio: float
    eps_dyn: float
    eps_rew: float
    objective: float
    dyn_share: float
    rew_share: float

    def at_budget_edge(self, min_share: float | None = None) -> str | None:
        r"""Which stream, if any, gets less than ``min_share`` of the budget.

        Theorem 1 always has an interior optimum, but one that gives a stream almost nothing
        (by default under :data:`EDGE_SHARE` = 1% of the budget) says that the bound is
        dominated by the other stream's error: the split then hangs on the fitted laws far
        from where they were measured, and a small change in a multiplier or exponent moves it
        a lot.

        Parameters
        ----------
        min_share
            Threshold in ``(0, 0.5)``; :data:`EDGE_SHARE` when ``None``.

        Returns
        -------
        str or None
            ``"dyn"`` if :math:`c_{\rm dyn}N^*_{\rm dyn}/B` is below it, ``"rew"`` if the
            reward share is, ``None`` otherwise.
        """
        threshold = EDGE_SHARE if min_share is None else float(min_share)
        if not 0 < threshold < 0.5:
            raise ValueError(f"min_share must lie in (0, 0.5), got {min_share!r}")
        if self.dyn_share < threshold:
            return "dyn"
        if self.rew_share < threshold:
            return "rew"
        return None


#: A stream below this share of the budget is at its edge (:meth:`Allocation.at_budget_edge`).
EDGE_SHARE = 0.01


def _law(name: str, symbol: str, law: Any) -> tuple[float, float]:
    if not (hasattr(law, "coef") and hasattr(law, "exponent")):
        raise ValueError(
            f"{name} must be a power law with fields coef and exponent, e.g. "
            f"im.PowerLaw(coef, exponent) (Eq. (3)); got {type(law).__name__}"
        )
    coef = check_positive(f"{name}.coef", law.coef)
    exponent = check_positive(
        f"{name}.exponent ({symbol})", law.exponent,
        ": with a non-positive exponent more samples do not lower the error, and Theorem 1 has "
        "no interior optimum",
    )
    return coef, exponent


def _check_multiplier(multiplier: Any) -> float:
    try:
        m = float(multiplier)
    except (TypeError, ValueError):
        raise ValueError(f"multiplier must be a finite number > 0, got {multiplier!r}") from None
    if m == 0:
        raise ValueError(
            "multiplier = 0 means the dynamics error does not enter the bound (e.g. gamma = 0 or "
            "L_r = 0 in gamma L_r (1 + L_pi) / (1 - gamma L_f (1 + L_pi))): the bound is then "
            "smallest with the whole budget on reward samples (N_dyn = 0), so the split of "
            "Theorem 1 degenerates; give a multiplier > 0"
        )
    if not (math.isfinite(m) and m > 0):
        raise ValueError(
            f"multiplier must be finite and > 0 (it is gamma L_r (1 + L_pi) / "
            f"(1 - gamma L_f (1 + L_pi)) under contraction), got {multiplier!r}"
        )
    return m


def _check(budget: Any, cost_dyn: Any, cost_rew: Any, dyn_law: Any, rew_law: Any,
           multiplier: Any) -> tuple[float, ...]:
    B = check_positive("budget", budget)
    c_d = check_positive("cost_dyn", cost_dyn)
    c_r = check_positive("cost_rew", cost_rew)
    A_d, alpha = _law("dyn_law", "alpha", dyn_law)
    A_r, beta = _law("rew_law", "beta", rew_law)
    m = _check_multiplier(multiplier)
    return B, c_d, c_r, A_d, alpha, A_r, beta, m


def allocation_kappa(cost_dyn: float, cost_rew: float, dyn_law: Any, rew_law: Any,
                     multiplier: float) -> float:
    r"""The constant :math:`\kappa` of the explicit route of Theorem 1.

    At the optimum :math:`N_{\rm dyn}^{\alpha+1}=\kappa N_{\rm rew}^{\beta+1}`, with

    .. math::

       \kappa=\frac{\alpha}{\beta}\,\frac{c_{\rm rew}}{c_{\rm dyn}}\,m\,\frac{A_d}{A_r}

    Parameters
    ----------
    cost_dyn, cost_rew
        Cost of one dynamics and one reward sample, > 0.
    dyn_law, rew_law
        :class:`~imagination.scaling.PowerLaw` of each error, coefficients and exponents > 0.
    multiplier
        The multiplier :math:`m>0` of Eq. (4).

    Returns
    -------
    float

    Raises
    ------
    ValueError
        As :func:`optimal_allocation`.
    """
    _, c_d, c_r, A_d, alpha, A_r, beta, m = _check(1.0, cost_dyn, cost_rew, dyn_law, rew_law,
                                                    multiplier)
    return alpha / beta * c_r / c_d * m * A_d / A_r


def _log_odds(B: float, c_d: float, c_r: float, A_d: float, alpha: float, A_r: float,
              beta: float, m: float) -> float:
    # The KKT condition as h(u) = c in the log-odds u of the dynamics budget share (module doc).
    c = (math.log(alpha / beta) + math.log(m) + math.log(A_d / A_r)
         - alpha * math.log(B / c_d) + beta * math.log(B / c_r))
    if alpha == beta:
        return c / (alpha + 1.0)  # h(u) = (alpha + 1) u exactly

    def h(u: float) -> float:
        return (alpha + 1.0) * log_expit(u) - (beta + 1.0) * log_expit(-u) - c

    # h(u) - h(0) lies between k_lo u and k_hi u (the bounds on h'), so the root is bracketed
    # by (c - h0)/k_hi and (c - h0)/k_lo; a small margin absorbs rounding at the ends.
    h0 = (beta - alpha) * math.log(2.0)
    k_lo, k_hi = 1.0 + min(alpha, beta), 1.0 + max(alpha, beta)
    ends = sorted(((c - h0) / k_hi, (c - h0) / k_lo))
    lo = ends[0] - 1e-6 * (1.0 + abs(ends[0]))
    hi = ends[1] + 1e-6 * (1.0 + abs(ends[1]))
    return float(brentq(h, lo, hi, xtol=1e-14, rtol=4 * np.finfo(float).eps, maxiter=500))


def optimal_allocation(budget: float, cost_dyn: float, cost_rew: float, dyn_law: Any,
                       rew_law: Any, multiplier: float) -> Allocation:
    r"""The split of Theorem 1: the exact minimiser of the bound (1) on the budget line.

    Minimises ``multiplier * dyn_law(n_dyn) + rew_law(n_rew)`` subject to
    ``cost_dyn * n_dyn + cost_rew * n_rew = budget``, with ``n_dyn, n_rew`` continuous and
    positive. The objective is strictly convex on the budget line, so the KKT point is the
    unique minimiser; it satisfies the fixed point of Eq. (4) and
    :math:`N_{\rm dyn}^{\alpha+1}=\kappa N_{\rm rew}^{\beta+1}` (:func:`allocation_kappa`).

    The root is found exactly (not on a grid): a monotone equation in the log-odds of the
    dynamics budget share, bracketed in closed form and solved by Brent's method to machine
    precision; when the exponents are equal the solution is explicit,
    :math:`N^*_{\rm dyn}/N^*_{\rm rew}=\kappa^{1/(\alpha+1)}`. ``n_dyn`` and ``n_rew`` are
    exact to better than ``1e-9`` relative.

    Parameters
    ----------
    budget
        The budget :math:`B>0`.
    cost_dyn, cost_rew
        Cost of one dynamics sample and of one reward sample, > 0.
    dyn_law
        :math:`\varepsilon_{\rm dyn}=A_dN_{\rm dyn}^{-\alpha}`: an
        :class:`~imagination.scaling.PowerLaw` (or anything with fields ``coef`` and
        ``exponent``, such as a :class:`~imagination.scaling.PowerLawFit`), both > 0.
    rew_law
        :math:`\varepsilon_{\rm rew}=A_rN_{\rm rew}^{-\beta}`, likewise.
    multiplier
        The multiplier :math:`m>0` of Eq. (4), e.g.
        :func:`~imagination.bounds.dynamics_multiplier` or a realised :math:`S_f/S_r`.

    Returns
    -------
    Allocation

    Raises
    ------
    ValueError
        If the budget, a cost, a coefficient, an exponent or the multiplier is not finite and
        positive. A zero multiplier gets its own message: the dynamics error then does not
        enter the bound (e.g. :math:`\gamma=0` or :math:`L_r=0`).

    Examples
    --------
    >>> from imagination.scaling import PowerLaw
    >>> a = optimal_allocation(100.0, 1.0, 1.0, PowerLaw(1.0, 1.0), PowerLaw(1.0, 1.0), 4.0)
    >>> round(a.ratio, 12)  # alpha = beta: kappa**(1/2) = 4**(1/2)
    2.0
    """
    B, c_d, c_r, A_d, alpha, A_r, beta, m = _check(budget, cost_dyn, cost_rew, dyn_law, rew_law,
                                                    multiplier)
    u = _log_odds(B, c_d, c_r, A_d, alpha, A_r, beta, m)
    dyn_share, rew_share = float(expit(u)), float(expit(-u))
    n_dyn, n_rew = budget_line(B, c_d, c_r, log_odds=u)
    if not (n_dyn > 0 and n_rew > 0 and math.isfinite(n_dyn) and math.isfinite(n_rew)):
        raise ValueError(
            f"the optimum is outside the float range (log-odds of the dynamics share {u:.4g}): "
            "rescale the budget, costs or coefficients"
        )
    eps_dyn = A_d * n_dyn ** (-alpha)
    eps_rew = A_r * n_rew ** (-beta)
    return Allocation(
        n_dyn=n_dyn, n_rew=n_rew, ratio=float(math.exp(u) * c_r / c_d),
        eps_dyn=eps_dyn, eps_rew=eps_rew, objective=m * eps_dyn + eps_rew,
        dyn_share=dyn_share, rew_share=rew_share,
    )


def budget_line(budget: ArrayLike, cost_dyn: ArrayLike, cost_rew: ArrayLike, *,
                dyn_share: ArrayLike | None = None, log_odds: ArrayLike | None = None,
                log: bool = False) -> tuple[Any, Any]:
    r"""Sample sizes on the budget line :math:`c_{\rm dyn}N_{\rm dyn}+c_{\rm rew}N_{\rm rew}=B`.

    The one place the library turns a point of the budget line into sample sizes. With
    :math:`x` the dynamics share of the budget,

    .. math::

       N_{\rm dyn}=\frac{xB}{c_{\rm dyn}},\qquad N_{\rm rew}=\frac{(1-x)B}{c_{\rm rew}},

    given either by ``dyn_share`` :math:`x\in(0,1)` or by its log-odds ``log_odds``
    :math:`u=\log(x/(1-x))`, which keeps shares like :math:`10^{-30}` exact and may be complex
    (for complex-step derivatives).

    Parameters
    ----------
    budget, cost_dyn, cost_rew
        :math:`B`, :math:`c_{\rm dyn}`, :math:`c_{\rm rew}` > 0; scalars or arrays that
        broadcast with the points.
    dyn_share, log_odds
        The points, exactly one of the two (any shape).
    log
        Return :math:`(\log N_{\rm dyn},\log N_{\rm rew})` instead (computed without forming
        the sizes: no underflow for extreme shares).

    Returns
    -------
    n_dyn, n_rew : float or ndarray
        Broadcast over the inputs.

    Raises
    ------
    ValueError
        If not exactly one of ``dyn_share`` and ``log_odds`` is given, a share is not strictly
        between 0 and 1, or the budget or a cost is not finite and positive.
    """
    B, c_d, c_r = (np.asarray(v) for v in (budget, cost_dyn, cost_rew))
    for name, v in (("budget", B), ("cost_dyn", c_d), ("cost_rew", c_r)):
        if not np.all(np.isfinite(v) & (v > 0)):
            raise ValueError(f"{name} must be finite and > 0, got {v!r}")
    if (dyn_share is None) == (log_odds is None):
        raise ValueError("give exactly one of dyn_share and log_odds")
    if log_odds is not None:
        u = np.asarray(log_odds)
        if log:
            return np.log(B / c_d) - np.log1p(np.exp(-u)), np.log(B / c_r) - np.log1p(np.exp(u))
        # expit is exact at both ends for real u; complex u takes the same formula by hand
        x, y = ((1.0 / (1.0 + np.exp(-u)), 1.0 / (1.0 + np.exp(u))) if np.iscomplexobj(u)
                else (expit(u), expit(-u)))
    else:
        x = np.asarray(dyn_share, dtype=float)
        if np.any(~(x > 0)) or np.any(~(x < 1)):
            raise ValueError("dyn_share must lie strictly between 0 and 1 (both streams need "
                             "samples)")
        y = 1.0 - x
        if log:
            return np.log(x * B / c_d), np.log(y * B / c_r)
    return as_output(B * x / c_d), as_output(B * y / c_r)


def budget_line_objective(dyn_share: ArrayLike, budget: float, cost_dyn: float, cost_rew: float,
                          dyn_law: Any, rew_law: Any, multiplier: float) -> NDArray[np.float64]:
    r"""The objective :math:`m\,\varepsilon_{\rm dyn}+\varepsilon_{\rm rew}` along the budget line.

    With :math:`x` the dynamics share of the budget, :math:`N_{\rm dyn}=xB/c_{\rm dyn}` and
    :math:`N_{\rm rew}=(1-x)B/c_{\rm rew}`; the bound (1) is this divided by :math:`1-\gamma`.

    Parameters
    ----------
    dyn_share
        Shares :math:`0<x<1` (any shape).
    budget, cost_dyn, cost_rew, dyn_law, rew_law, multiplier
        As in :func:`optimal_allocation`.

    Returns
    -------
    ndarray
        Same shape as ``dyn_share``.

    Raises
    ------
    ValueError
        As :func:`optimal_allocation`, or if a share is not strictly between 0 and 1.
    """
    _, _, _, A_d, alpha, A_r, beta, m = _check(budget, cost_dyn, cost_rew, dyn_law, rew_law,
                                                multiplier)
    n_dyn, n_rew = budget_line(budget, cost_dyn, cost_rew, dyn_share=dyn_share)
    return m * A_d * n_dyn ** (-alpha) + A_r * n_rew ** (-beta)


def split_cost_elasticity(alpha: float, beta: float, dyn_share: ArrayLike) -> NDArray[np.float64]:
    r"""How the optimal split answers dearer dynamics samples: its cost elasticity.

    Differentiating :math:`N_{\rm dyn}^{\alpha+1}=\kappa N_{\rm rew}^{\beta+1}` on the budget
    line at fixed :math:`B` and :math:`c_{\rm rew}` gives, with :math:`x` the dynamics budget share
    at the optimum,

    .. math::

       \frac{d\log(N^*_{\rm dyn}/N^*_{\rm rew})}{d\log c_{\rm dyn}}
       = \frac{(\alpha-\beta)\,x-1}{(\alpha+1)-(\alpha-\beta)\,x},

    whose denominator is at least :math:`\beta+1>0`. The split falls with the cost ratio exactly
    where :math:`(\alpha-\beta)x<1`: always when :math:`\alpha\le\beta+1`, and for
    :math:`\alpha>\beta+1` only while :math:`x<1/(\alpha-\beta)` (a book result, sharper than
    the paper's sufficient condition :math:`\alpha\le\beta`).

    Parameters
    ----------
    alpha, beta
        Exponents of the two power laws, > 0.
    dyn_share
        Dynamics budget share(s) at the optimum, in ``(0, 1)``.

    Returns
    -------
    ndarray
        The elasticity, same shape as ``dyn_share``.
    """
    a = check_positive("alpha", alpha)
    b = check_positive("beta", beta)
    x = np.asarray(dyn_share, dtype=float)
    if np.any(~(x > 0)) or np.any(~(x < 1)):
        raise ValueError("dyn_share must lie strictly between 0 and 1")
    return ((a - b) * x - 1.0) / ((a + 1.0) - (a - b) * x)


#: Fewer valid joint bootstrap draws than this and :meth:`AllocationDraws.interval` gives none.
MIN_VALID_DRAWS = 40


@dataclass(frozen=True)
class AllocationDraws:
    r"""Theorem 1's optimum re-solved on joint bootstrap draws of both power laws.

    Attributes
    ----------
    n_dyn, n_rew, ratio, dyn_share : ndarray, shape (V,)
        The optimum of each valid draw (both exponents > 0).
    n_boot : int
        Joint draws made.
    excluded : float
        Fraction of the draws excluded for a non-positive exponent (no optimum there).
    """

    n_dyn: NDArray[np.float64]
    n_rew: NDArray[np.float64]
    ratio: NDArray[np.float64]
    dyn_share: NDArray[np.float64]
    n_boot: int
    excluded: float

    @property
    def n_valid(self) -> int:
        """Number of valid draws."""
        return int(self.ratio.size)

    def interval(self, name: str, level: float = 0.95) -> tuple[float, float] | None:
        """Percentile interval of ``name`` (a field) over the valid draws; ``None`` if fewer
        than :data:`MIN_VALID_DRAWS`."""
        if name not in ("n_dyn", "n_rew", "ratio", "dyn_share"):
            raise ValueError(f"name must be one of n_dyn, n_rew, ratio, dyn_share; got {name!r}")
        if not 0 < level < 1:
            raise ValueError(f"level must lie in (0, 1), got {level!r}")
        values = getattr(self, name)
        if values.size < MIN_VALID_DRAWS:
            return None
        tail = (100.0 - 100.0 * level) / 2  # in percent: exactly 2.5 for level 0.95
        lo, hi = np.percentile(values, [tail, 100.0 - tail])
        return float(lo), float(hi)


def _log_odds_batch(B: float, c_d: float, c_r: float, A_d: np.ndarray, alpha: np.ndarray,
                    A_r: np.ndarray, beta: np.ndarray, m: float) -> np.ndarray:
    # The condition h(u) = c of the module doc for many laws at once, by Newton's method. h is
    # increasing with h' between 1 + min(alpha, beta) and 1 + max(alpha, beta), and convex
    # (beta > alpha) or concave (beta < alpha): its tangents lie on one side of it, so from any
    # start the first step lands on that side of the root and the iterates then move to it
    # monotonically (global, quadratic convergence; one step when alpha = beta, h linear).
    c = (np.log(alpha / beta) + math.log(m) + np.log(A_d / A_r)
         - alpha * math.log(B / c_d) + beta * math.log(B / c_r))
    a1, b1 = alpha + 1.0, beta + 1.0
    u = (c - (beta - alpha) * math.log(2.0)) / (0.5 * (a1 + b1))  # the middle of the bracket
    for _ in range(200):
        h = a1 * log_expit(u) - b1 * log_expit(-u) - c
        step = h / (a1 * expit(-u) + b1 * expit(u))
        u = u - step
        if np.all(np.abs(step) <= 4 * np.finfo(float).eps * (1.0 + np.abs(u))):
            break
    return u


def allocation_bootstrap(budget: float, cost_dyn: float, cost_rew: float, dyn_fit: Any,
                         rew_fit: Any, multiplier: float) -> AllocationDraws:
    r"""Sampling distribution of Theorem 1's split from the bootstrap draws of both fits.

    Draw :math:`i` of the dynamics fit is paired with draw :math:`i` of the reward fit: the two
    fits' bootstraps are independent, so the pairs are draws of the joint sampling distribution
    of both laws. Each pair with both exponents :math:`>0` gets its exact optimum (the optimum of
    :func:`optimal_allocation`, solved for all draws at once: Newton's method on the monotone
    condition of the module doc, convex or concave, so it converges from any start; it agrees
    with :func:`optimal_allocation` to about ``1e-14`` relative); the others have no interior
    optimum and are counted in ``excluded``.

    Parameters
    ----------
    budget, cost_dyn, cost_rew, multiplier
        As in :func:`optimal_allocation`.
    dyn_fit, rew_fit
        :class:`~imagination.scaling.PowerLawFit` of each learning curve, with the same number
        of bootstrap draws (``boot``, shape ``(n_boot, 2)`` of ``(coef, exponent)``).

    Returns
    -------
    AllocationDraws

    Raises
    ------
    ValueError
        If the fits carry different numbers of draws, a coefficient is not finite and positive,
        an optimum falls outside the float range, or as :func:`optimal_allocation`.
    """
    d, r = np.asarray(dyn_fit.boot, dtype=float), np.asarray(rew_fit.boot, dtype=float)
    if d.shape != r.shape or d.ndim != 2 or d.shape[1:] != (2,):
        raise ValueError(f"dyn_fit.boot and rew_fit.boot must both have shape (n_boot, 2), got "
                         f"{d.shape} and {r.shape}")
    B = check_positive("budget", budget)
    c_d = check_positive("cost_dyn", cost_dyn)
    c_r = check_positive("cost_rew", cost_rew)
    m = _check_multiplier(multiplier)
    if not np.all(np.isfinite(d) & np.isfinite(r)) or np.any(d[:, 0] <= 0) or np.any(r[:, 0] <= 0):
        raise ValueError("every bootstrap draw must have a finite coef > 0 and a finite exponent")
    valid = (d[:, 1] > 0) & (r[:, 1] > 0)
    (A_d, alpha), (A_r, beta) = d[valid].T, r[valid].T
    u = _log_odds_batch(B, c_d, c_r, A_d, alpha, A_r, beta, m)
    n_dyn, n_rew = budget_line(B, c_d, c_r, log_odds=u)
    n_dyn, n_rew = np.asarray(n_dyn, dtype=float), np.asarray(n_rew, dtype=float)
    if not np.all(np.isfinite(u) & (n_dyn > 0) & (n_rew > 0) & np.isfinite(n_dyn)
                  & np.isfinite(n_rew)):
        raise ValueError("the optimum of a bootstrap draw is outside the float range: rescale "
                         "the budget, costs or coefficients")
    n_boot = int(d.shape[0])
    return AllocationDraws(n_dyn=n_dyn, n_rew=n_rew, ratio=np.exp(u) * c_r / c_d,
                           dyn_share=expit(u), n_boot=n_boot,
                           excluded=float(1.0 - valid.mean()) if n_boot else 0.0)


@dataclass(frozen=True)
class SplitCoverage:
    r"""How often the bootstrap interval of Theorem 1's split covers the true split.

    Attributes
    ----------
    truth : Allocation
        The optimum on the true laws, the target of every interval.
    n : ndarray, shape (R,)
        The sample sizes of a curve's rows (each distinct size repeated ``seeds`` times).
    dyn_errors, rew_errors : ndarray, shape (n_sets, R)
        The regenerated learning curves, one row per data set.
    intervals : ndarray, shape (n_sets, 2)
        The interval of :math:`N_{\rm dyn}/N_{\rm rew}` of each data set (``nan`` where fewer
        than :data:`MIN_VALID_DRAWS` draws were valid).
    covered : ndarray of bool, shape (n_sets,)
        Whether each interval holds ``truth.ratio``.
    level : float
        The nominal level.
    n_boot : int
        Bootstrap draws per fit.
    """

    truth: Allocation
    n: NDArray[np.float64]
    dyn_errors: NDArray[np.float64]
    rew_errors: NDArray[np.float64]
    intervals: NDArray[np.float64]
    covered: NDArray[np.bool_]
    level: float
    n_boot: int

    @property
    def n_sets(self) -> int:
        """Data sets regenerated."""
        return int(self.covered.size)

    @property
    def coverage(self) -> float:
        """Fraction of the data sets whose interval covers the true split."""
        return float(self.covered.mean())

    @property
    def standard_error(self) -> float:
        r"""Binomial standard error of the coverage at the nominal level,
        :math:`\sqrt{p(1-p)/n_{\rm sets}}` with :math:`p` = ``level``."""
        return math.sqrt(self.level * (1.0 - self.level) / self.n_sets)

    @property
    def z(self) -> float:
        """(coverage - level) / standard_error: how many standard errors off nominal."""
        return (self.coverage - self.level) / self.standard_error


def split_interval_coverage(dyn_law: Any, rew_law: Any, sizes: ArrayLike, seeds: int,
                            sigma_dyn: float, sigma_rew: float, budget: float, cost_dyn: float,
                            cost_rew: float, multiplier: float, *, n_sets: int,
                            rng: np.random.Generator, n_boot: int = 1000,
                            level: float = 0.95) -> SplitCoverage:
    r"""Coverage of the split's bootstrap interval, measured on curves drawn from known laws.

    Each of ``n_sets`` data sets holds two learning curves with ``seeds`` rows at each size,
    :math:`\varepsilon=A\,n^{-a}e^{\sigma z}` with :math:`z` standard normal (log-normal scatter,
    as the example files in ``book/data/``), dynamics rows drawn before reward rows from ``rng``.
    Each set then goes through what ``imagination allocate`` does: both fits
    (:func:`~imagination.scaling.fit_power_law`, one generator seeded with the set's index
    ``i``, as ``--seed i``), the joint bootstrap of the split (:func:`allocation_bootstrap`)
    and its percentile interval (:meth:`AllocationDraws.interval`). The interval should hold the
    split of the true laws (:func:`optimal_allocation`) in a fraction ``level`` of the sets, up
    to the binomial standard error :attr:`SplitCoverage.standard_error`. A set whose fitted
    exponent is not positive (no optimum) counts as not covered.

    Parameters
    ----------
    dyn_law, rew_law
        The true laws (:class:`~imagination.scaling.PowerLaw`, exponents > 0).
    sizes
        The distinct sample sizes, > 0.
    seeds
        Rows per size, >= 2.
    sigma_dyn, sigma_rew
        Log-space noise of each curve, > 0.
    budget, cost_dyn, cost_rew, multiplier
        As in :func:`optimal_allocation`.
    n_sets
        Data sets, >= 1.
    rng
        Draws the curves.
    n_boot
        Bootstrap draws per fit, >= 1.
    level
        Nominal level of the interval, in (0, 1).

    Returns
    -------
    SplitCoverage
    """
    from ._checks import check_int, check_rng
    from .scaling import fit_power_law

    check_rng(rng)
    n_sets = check_int("n_sets", n_sets, 1)
    seeds = check_int("seeds", seeds, 2)
    n_boot = check_int("n_boot", n_boot, 1)
    s_d = check_positive("sigma_dyn", sigma_dyn)
    s_r = check_positive("sigma_rew", sigma_rew)
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level!r}")
    truth = optimal_allocation(budget, cost_dyn, cost_rew, dyn_law, rew_law, multiplier)
    levels = np.asarray(sizes, dtype=float).ravel()
    if levels.size < 2 or np.any(~(levels > 0)) or np.unique(levels).size != levels.size:
        raise ValueError(f"sizes must be at least two distinct sample sizes > 0, got {sizes!r}")
    n = np.repeat(levels, seeds)
    dyn_errors = np.empty((n_sets, n.size))
    rew_errors = np.empty((n_sets, n.size))
    intervals = np.full((n_sets, 2), np.nan)
    for i in range(n_sets):
        dyn_errors[i] = dyn_law(n) * np.exp(s_d * rng.standard_normal(n.size))
        rew_errors[i] = rew_law(n) * np.exp(s_r * rng.standard_normal(n.size))
        boot_rng = np.random.default_rng(i)
        fits = [fit_power_law(n, e[i], n_boot=n_boot, rng=boot_rng)
                for e in (dyn_errors, rew_errors)]
        if min(f.exponent for f in fits) <= 0:
            continue
        ci = allocation_bootstrap(budget, cost_dyn, cost_rew, *fits, multiplier).interval(
            "ratio", level)
        if ci is not None:
            intervals[i] = ci
    covered = (intervals[:, 0] <= truth.ratio) & (truth.ratio <= intervals[:, 1])
    return SplitCoverage(truth, n, dyn_errors, rew_errors, intervals, covered, float(level),
                         n_boot)
