r"""The simulation lemma with a learned reward (Lemma 1, Eq. (1)) and its finite-horizon form.

Setting (paper §1): a deterministic MDP with dynamics :math:`f`, reward :math:`r`, a
deterministic policy :math:`\pi`, and learned models :math:`\hat f,\hat r` with sup-norm errors
:math:`\varepsilon_{\rm dyn},\varepsilon_{\rm rew}`. Lipschitz constants are taken with respect to
the sum metric on :math:`\mathcal S\times\mathcal A`, and :math:`L = L_f(1+L_\pi)` is the
compounding rate. Lemma 1 (Eq. (1)): if :math:`\gamma L<1`,

.. math::

   |J(\pi,\mathcal M)-J(\pi,\hat{\mathcal M})| \le \frac{\varepsilon_{\rm rew}}{1-\gamma}
   + \frac{\gamma L_r(1+L_\pi)}{(1-\gamma)(1-\gamma L)}\,\varepsilon_{\rm dyn}.

The finite-horizon form sums the same per-step bound over :math:`t<H` only, so it needs no
contraction and allows :math:`\gamma = 1`.

Every function broadcasts over array arguments (returning an array) and returns a ``float``
for scalar arguments.

References
----------
Timor, Shwartz-Ziv, Goldblum, LeCun, Harel, "On Training in Imagination", arXiv:2605.06732,
Lemma 1 and Eqs. (1), (4).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ._checks import as_output, check_gamma, check_int, check_nonneg_arrays

__all__ = [
    "BoundMultiplier",
    "bound_multiplier",
    "compounding_rate",
    "dynamics_coefficient",
    "dynamics_coefficient_gradient",
    "dynamics_multiplier",
    "dynamics_term",
    "finite_horizon_multiplier",
    "return_error_bound",
    "return_error_bound_finite",
    "reward_term",
]

# Terms of the finite sum are added in chunks of this many steps (bounded memory for any H).
_CHUNK = 1 << 16


def compounding_rate(L_f: ArrayLike, L_pi: ArrayLike) -> Any:
    r"""Compounding rate :math:`L_{\rm comp} = L_f(1+L_\pi)` of the state error (paper §1).

    Parameters
    ----------
    L_f
        Lipschitz constant of the dynamics w.r.t. the sum metric on (s, a), >= 0.
    L_pi
        Lipschitz constant of the policy, >= 0.

    Returns
    -------
    float or ndarray
        :math:`L_f(1+L_\pi)`: one step of :math:`s\mapsto f(s,\pi(s))` expands distances by at
        most this factor.
    """
    L_f, L_pi = check_nonneg_arrays(L_f=L_f, L_pi=L_pi)
    return as_output(L_f * (1.0 + L_pi))


def _check_contraction(gamma: np.ndarray, L_f: np.ndarray, L_pi: np.ndarray) -> np.ndarray:
    rate = gamma * L_f * (1.0 + L_pi)
    if np.any(rate >= 1):
        raise ValueError(
            "Eq. (1) needs the contraction condition gamma * L_f * (1 + L_pi) < 1, got "
            f"{np.max(rate):.6g}; use return_error_bound_finite for a finite horizon instead"
        )
    return rate


def dynamics_multiplier(gamma: ArrayLike, L_f: ArrayLike, L_r: ArrayLike, L_pi: ArrayLike) -> Any:
    r"""The multiplier :math:`m = \gamma L_r(1+L_\pi)/(1-\gamma L_f(1+L_\pi))` of Eq. (4).

    It is the ratio of the dynamics coefficient to the reward coefficient in Eq. (1): the bound
    is :math:`(m\,\varepsilon_{\rm dyn} + \varepsilon_{\rm rew})/(1-\gamma)`.

    Parameters
    ----------
    gamma
        Discount factor, ``0 <= gamma < 1``.
    L_f, L_r, L_pi
        Lipschitz constants of dynamics, reward (sum metric on (s, a)) and policy, >= 0.

    Returns
    -------
    float or ndarray
        The multiplier :math:`m \ge 0`.

    Raises
    ------
    ValueError
        If ``gamma`` is outside ``[0, 1)``, a constant is negative, or
        ``gamma * L_f * (1 + L_pi) >= 1``.
    """
    gamma = check_gamma(gamma, allow_one=False)
    L_f, L_r, L_pi = check_nonneg_arrays(L_f=L_f, L_r=L_r, L_pi=L_pi)
    rate = _check_contraction(gamma, L_f, L_pi)
    return as_output(gamma * L_r * (1.0 + L_pi) / (1.0 - rate))


def return_error_bound(
    eps_dyn: ArrayLike,
    eps_rew: ArrayLike,
    gamma: ArrayLike,
    L_f: ArrayLike,
    L_r: ArrayLike,
    L_pi: ArrayLike,
) -> Any:
    r"""Right-hand side of Eq. (1), the return gap bound of Lemma 1.

    .. math::

       \frac{\varepsilon_{\rm rew}}{1-\gamma}
       + \frac{\gamma L_r(1+L_\pi)}{(1-\gamma)(1-\gamma L_f(1+L_\pi))}\,\varepsilon_{\rm dyn}

    Parameters
    ----------
    eps_dyn, eps_rew
        Sup-norm errors of the learned dynamics and reward, >= 0.
    gamma
        Discount factor, ``0 <= gamma < 1``.
    L_f, L_r, L_pi
        Lipschitz constants (sum metric on (s, a)), >= 0, with ``gamma * L_f * (1 + L_pi) < 1``.

    Returns
    -------
    float or ndarray
        The bound on :math:`|J(\pi,\mathcal M)-J(\pi,\hat{\mathcal M})|`.

    Raises
    ------
    ValueError
        If ``gamma`` is outside ``[0, 1)``, an argument is negative or not finite, or the
        contraction condition ``gamma * L_f * (1 + L_pi) < 1`` fails.

    Examples
    --------
    >>> return_error_bound(0.1, 0.01, 0.9, 0.5, 1.0, 0.5)  # 0.01/0.1 + 0.9*1.5/(0.1*0.325)*0.1
    4.253846153846...
    """
    eps_dyn, eps_rew = check_nonneg_arrays(eps_dyn=eps_dyn, eps_rew=eps_rew)
    m = np.asarray(dynamics_multiplier(gamma, L_f, L_r, L_pi))
    gamma = np.asarray(gamma, dtype=float)
    return as_output((eps_rew + m * eps_dyn) / (1.0 - gamma))


def _discount_sum(gamma: float, horizon: int) -> float:
    # sum_{t<H} gamma^t, exact at gamma = 1 and stable near it.
    if gamma == 1.0:
        return float(horizon)
    if gamma == 0.0:
        return 1.0
    return float(-np.expm1(horizon * np.log(gamma)) / (1.0 - gamma))


def _compounded_sum(gamma: float, rate: float, horizon: int) -> float:
    # sum_{t<H} gamma^t e_t with e_t = sum_{k<t} rate^k (the state-error factor of step (i)),
    # in log space so that geometric growth past float range gives inf, not an overflow warning.
    total = 0.0
    log_gamma = np.log(gamma) if gamma > 0 else -np.inf
    for start in range(1, horizon, _CHUNK):  # e_0 = 0: the sum starts at t = 1
        t = np.arange(start, min(start + _CHUNK, horizon), dtype=float)
        if rate == 1.0:
            log_e = np.log(t)
        elif rate == 0.0:
            log_e = np.zeros_like(t)
        elif rate > 1.0:
            y = t * np.log(rate)
            log_e = y + np.log(-np.expm1(-y)) - np.log(rate - 1.0)
        else:
            log_e = np.log(np.expm1(t * np.log(rate)) / (rate - 1.0))
        with np.errstate(over="ignore"):
            terms = np.exp(t * log_gamma + log_e)
            total += float(terms.sum())
        if not np.isfinite(total):
            return np.inf
        if terms[-1] <= total * 1e-18 and terms[-1] <= terms[0]:
            break  # terms are decaying geometrically and no longer change the sum
    return total


def _finite_coefficients(
    gamma: ArrayLike, L_f: ArrayLike, L_r: ArrayLike, L_pi: ArrayLike, horizon: int
) -> tuple[np.ndarray, np.ndarray]:
    horizon = check_int("horizon", horizon, 1)
    gamma = check_gamma(gamma, allow_one=True)
    L_f, L_r, L_pi = check_nonneg_arrays(L_f=L_f, L_r=L_r, L_pi=L_pi)
    g, lf, lr, lp = np.broadcast_arrays(gamma, L_f, L_r, L_pi)
    c_rew = np.empty(g.shape)
    c_dyn = np.empty(g.shape)
    for idx in np.ndindex(g.shape):
        c_rew[idx] = _discount_sum(g[idx], int(horizon))
        rate = lf[idx] * (1.0 + lp[idx])
        c_dyn[idx] = lr[idx] * (1.0 + lp[idx]) * _compounded_sum(g[idx], rate, int(horizon))
    return c_rew, c_dyn


def return_error_bound_finite(
    eps_dyn: ArrayLike,
    eps_rew: ArrayLike,
    gamma: ArrayLike,
    L_f: ArrayLike,
    L_r: ArrayLike,
    L_pi: ArrayLike,
    horizon: int,
) -> Any:
    r"""Finite-horizon form of Lemma 1: the bound on the gap of the :math:`H`-step returns.

    .. math::

       \Bigl|\sum_{t<H}\gamma^t\bigl(r(s_t,a_t)-\hat r(\hat s_t,\hat a_t)\bigr)\Bigr|
       \le \varepsilon_{\rm rew}\sum_{t<H}\gamma^t
       + L_r(1+L_\pi)\,\varepsilon_{\rm dyn}\sum_{t<H}\gamma^t\sum_{k<t}L^k,
       \qquad L = L_f(1+L_\pi).

    Valid for any :math:`L_f \ge 0` and :math:`0\le\gamma\le1`; when :math:`\gamma L<1` it
    increases with :math:`H` to the right-hand side of Eq. (1).

    Parameters
    ----------
    eps_dyn, eps_rew
        Sup-norm model errors, >= 0.
    gamma
        Discount factor, ``0 <= gamma <= 1``.
    L_f, L_r, L_pi
        Lipschitz constants (sum metric on (s, a)), >= 0; no contraction condition.
    horizon
        Number of steps :math:`H \ge 1`.

    Returns
    -------
    float or ndarray
        The bound; ``inf`` where the geometric growth exceeds the float range.

    Raises
    ------
    ValueError
        If ``horizon`` is not a positive integer, ``gamma`` is outside ``[0, 1]``, or an
        argument is negative or not finite.
    """
    eps_dyn, eps_rew = check_nonneg_arrays(eps_dyn=eps_dyn, eps_rew=eps_rew)
    c_rew, c_dyn = _finite_coefficients(gamma, L_f, L_r, L_pi, horizon)
    with np.errstate(invalid="ignore", over="ignore"):  # inf * 0 is 0 here, not nan; overflow: inf
        dyn = np.where(eps_dyn == 0, 0.0, c_dyn * eps_dyn)
    return as_output(eps_rew * c_rew + dyn)


def finite_horizon_multiplier(
    gamma: ArrayLike, L_f: ArrayLike, L_r: ArrayLike, L_pi: ArrayLike, horizon: int
) -> Any:
    r"""Dynamics coefficient over reward coefficient of the finite-horizon bound.

    .. math::

       m_H = \frac{L_r(1+L_\pi)\sum_{t<H}\gamma^t\sum_{k<t}L^k}{\sum_{t<H}\gamma^t},

    so that the bound of :func:`return_error_bound_finite` is
    :math:`(m_H\varepsilon_{\rm dyn}+\varepsilon_{\rm rew})\sum_{t<H}\gamma^t`. Under contraction
    it tends to the multiplier of Eq. (4) (:func:`dynamics_multiplier`) as :math:`H\to\infty`.

    Parameters
    ----------
    gamma
        Discount factor, ``0 <= gamma <= 1``.
    L_f, L_r, L_pi
        Lipschitz constants, >= 0.
    horizon
        Number of steps :math:`H \ge 1`.

    Returns
    -------
    float or ndarray
        :math:`m_H \ge 0` (``inf`` past the float range).
    """
    c_rew, c_dyn = _finite_coefficients(gamma, L_f, L_r, L_pi, horizon)
    return as_output(c_dyn / c_rew)


def dynamics_coefficient(gamma: ArrayLike, L_f: ArrayLike, L_r: ArrayLike, L_pi: ArrayLike) -> Any:
    r"""The dynamics coefficient of Eq. (1) (Corollary 1): :math:`C_{\rm dyn}=m/(1-\gamma)`.

    .. math::

       C_{\rm dyn}=\frac{\gamma L_r(1+L_\pi)}{(1-\gamma)(1-\gamma L_f(1+L_\pi))},

    with :math:`m` the multiplier of Eq. (4) (:func:`dynamics_multiplier`).

    Parameters
    ----------
    gamma
        Discount factor, ``0 <= gamma < 1``.
    L_f, L_r, L_pi
        Lipschitz constants (sum metric on (s, a)), >= 0, with ``gamma * L_f * (1 + L_pi) < 1``.

    Returns
    -------
    float or ndarray

    Raises
    ------
    ValueError
        As :func:`dynamics_multiplier` (gamma outside [0, 1), a negative
        constant, or no contraction).
    """
    m = np.asarray(dynamics_multiplier(gamma, L_f, L_r, L_pi))
    return as_output(m / (1.0 - np.asarray(gamma, dtype=float)))


def dynamics_coefficient_gradient(
    gamma: ArrayLike, L_f: ArrayLike, L_r: ArrayLike, L_pi: ArrayLike
) -> tuple[Any, Any, Any]:
    r"""Partial derivatives of :math:`C_{\rm dyn}` in :math:`L_f, L_r, L_\pi` (Corollary 1).

    With :math:`L=L_f(1+L_\pi)`,

    .. math::

       \frac{\partial C_{\rm dyn}}{\partial L_f}
       =\frac{\gamma^2L_r(1+L_\pi)^2}{(1-\gamma)(1-\gamma L)^2},
       \qquad
       \frac{\partial C_{\rm dyn}}{\partial L_r}=\frac{\gamma(1+L_\pi)}{(1-\gamma)(1-\gamma L)},
       \qquad
       \frac{\partial C_{\rm dyn}}{\partial L_\pi}=\frac{\gamma L_r}{(1-\gamma)(1-\gamma L)^2},

    each a ratio of non-negative factors on :math:`\gamma L<1` (the last from
    :math:`\frac{d}{du}\frac{u}{1-ku}=\frac1{(1-ku)^2}` with :math:`u=1+L_\pi`,
    :math:`k=\gamma L_f`).

    Parameters
    ----------
    gamma, L_f, L_r, L_pi
        As :func:`dynamics_coefficient`.

    Returns
    -------
    tuple of (float or ndarray)
        :math:`(\partial_{L_f}C, \partial_{L_r}C, \partial_{L_\pi}C)`, broadcast together.

    Raises
    ------
    ValueError
        As :func:`dynamics_coefficient`.
    """
    dynamics_multiplier(gamma, L_f, L_r, L_pi)  # validates, incl. the contraction condition
    g, lf, lr, lp = np.broadcast_arrays(*(np.asarray(v, dtype=float)
                                          for v in (gamma, L_f, L_r, L_pi)))
    one_minus = 1.0 - g * lf * (1.0 + lp)
    d_lf = g**2 * lr * (1.0 + lp) ** 2 / ((1.0 - g) * one_minus**2)
    d_lr = g * (1.0 + lp) / ((1.0 - g) * one_minus)
    d_lp = g * lr / ((1.0 - g) * one_minus**2)
    return as_output(d_lf), as_output(d_lr), as_output(d_lp)


def reward_term(eps_rew: ArrayLike, gamma: ArrayLike, horizon: int | None = None) -> Any:
    r"""The reward term of Lemma 1's bound: :math:`\varepsilon_{\rm rew}/(1-\gamma)` (Eq. (1)).

    With ``horizon`` :math:`H`, the finite-horizon form's
    :math:`\varepsilon_{\rm rew}\sum_{t<H}\gamma^t`. It involves no Lipschitz constant: the
    reward error does not compound. :func:`return_error_bound` is this plus
    :func:`dynamics_term`.

    Parameters
    ----------
    eps_rew
        Sup-norm reward error, >= 0.
    gamma
        Discount factor, ``0 <= gamma < 1`` (``<= 1`` with a horizon).
    horizon
        ``None`` for Eq. (1), or :math:`H\ge1`.

    Returns
    -------
    float or ndarray
    """
    if horizon is None:
        (eps,) = check_nonneg_arrays(eps_rew=eps_rew)
        return as_output(eps / (1.0 - check_gamma(gamma)))
    return return_error_bound_finite(0.0, eps_rew, gamma, 0.0, 0.0, 0.0, horizon)


def dynamics_term(eps_dyn: ArrayLike, gamma: ArrayLike, L_f: ArrayLike, L_r: ArrayLike,
                  L_pi: ArrayLike, horizon: int | None = None) -> Any:
    r"""The dynamics term of Lemma 1's bound (the one that compounds).

    .. math::

       \frac{\gamma L_r(1+L_\pi)}{(1-\gamma)(1-\gamma L_f(1+L_\pi))}\,\varepsilon_{\rm dyn}

    (Eq. (1), contraction needed), or with ``horizon`` :math:`H` the finite-horizon form's
    :math:`L_r(1+L_\pi)\,\varepsilon_{\rm dyn}\sum_{t<H}\gamma^t\sum_{k<t}L^k` (any
    :math:`L_f`). :func:`return_error_bound` is :func:`reward_term` plus this.

    Parameters
    ----------
    eps_dyn, gamma, L_f, L_r, L_pi
        As in :func:`return_error_bound` (or :func:`return_error_bound_finite`).
    horizon
        ``None`` for Eq. (1), or :math:`H\ge1`.

    Returns
    -------
    float or ndarray

    Raises
    ------
    ValueError
        As :func:`return_error_bound` (without a horizon: also when the contraction condition
        fails) or :func:`return_error_bound_finite`.
    """
    if horizon is None:
        return return_error_bound(eps_dyn, 0.0, gamma, L_f, L_r, L_pi)
    return return_error_bound_finite(eps_dyn, 0.0, gamma, L_f, L_r, L_pi, horizon)


@dataclass(frozen=True)
class BoundMultiplier:
    r"""Which form of Lemma 1's bound applies to a set of constants, and its two coefficients.

    Either bound is :math:`(m\,\varepsilon_{\rm dyn}+\varepsilon_{\rm rew})\,c_{\rm rew}`, so
    Theorem 1 splits a budget the same way with either multiplier.

    Attributes
    ----------
    kind : str
        ``"eq1"`` (Eq. (1), infinite horizon, needs :math:`\gamma L_f(1+L_\pi)<1`) or
        ``"finite_horizon"`` (:math:`U_H` of chapter 1, any :math:`L_f`, :math:`0\le\gamma\le1`).
    horizon : int or None
        :math:`H` for the finite-horizon form.
    gamma, L_f, L_r, L_pi : float
        The constants.
    multiplier : float
        :math:`m` (:func:`dynamics_multiplier`) or :math:`m_H` (:func:`finite_horizon_multiplier`).
    reward_coefficient : float
        :math:`1/(1-\gamma)` or :math:`\sum_{t<H}\gamma^t`.
    """

    kind: str
    horizon: int | None
    gamma: float
    L_f: float
    L_r: float
    L_pi: float
    multiplier: float
    reward_coefficient: float

    def bound(self, eps_dyn: float, eps_rew: float) -> float:
        r"""The bound at these errors: :func:`return_error_bound` (Eq. (1)) or
        :func:`return_error_bound_finite` (:math:`U_H`).

        Raises
        ------
        ValueError
            If an error is negative or not finite, or the bound is past the float range.
        """
        constants = (self.gamma, self.L_f, self.L_r, self.L_pi)
        if self.horizon is None:
            value = float(return_error_bound(eps_dyn, eps_rew, *constants))
        else:
            value = float(return_error_bound_finite(eps_dyn, eps_rew, *constants, self.horizon))
        if not math.isfinite(value):
            raise ValueError(f"the bound at eps_dyn = {eps_dyn:.6g}, eps_rew = {eps_rew:.6g} is "
                             "past the float range")
        return value


def bound_multiplier(gamma: float, L_f: float, L_r: float, L_pi: float,
                     horizon: int | None = None) -> BoundMultiplier:
    r"""The multiplier of Theorem 1 from Lipschitz constants, for Eq. (1) or a finite horizon.

    Without ``horizon``: Eq. (1) and its multiplier :math:`m` (:func:`dynamics_multiplier`),
    which need the contraction condition :math:`\gamma L_f(1+L_\pi)<1`. With ``horizon``
    :math:`H`: the finite-horizon bound :math:`U_H` (:func:`return_error_bound_finite`) and its
    multiplier :math:`m_H` (:func:`finite_horizon_multiplier`), valid for any :math:`L_f` and
    :math:`0\le\gamma\le1`: the form that fits world models whose dynamics expand (learned
    dynamics rarely contract) and agents that imagine over a short horizon.

    Parameters
    ----------
    gamma
        Discount factor: ``0 <= gamma < 1`` without a horizon, ``0 <= gamma <= 1`` with one.
    L_f, L_r, L_pi
        Lipschitz constants (sum metric on (s, a)), >= 0.
    horizon
        ``None`` for Eq. (1), or the number of imagined steps :math:`H\ge1`.

    Returns
    -------
    BoundMultiplier

    Raises
    ------
    ValueError
        If an argument is out of range; without a horizon, if the constants do not contract
        (the message says that a finite horizon removes the condition); or if the multiplier
        is past the float range (:math:`L^H` overflows).
    """
    if horizon is None:
        try:
            with np.errstate(over="ignore"):  # past the float range: refused below, no warning
                m = dynamics_multiplier(gamma, L_f, L_r, L_pi)
        except ValueError as exc:
            if "contraction" not in str(exc):
                raise
            rate = float(np.asarray(gamma, dtype=float) * compounding_rate(L_f, L_pi))
            raise ValueError(
                f"the constants do not contract: gamma * L_f * (1 + L_pi) = {rate:.6g} >= 1, and "
                "Eq. (1) needs the contraction condition gamma * L_f * (1 + L_pi) < 1 (Lemma 1); "
                "a finite horizon H (the length of the imagined rollouts) gives the "
                "finite-horizon bound U_H, which holds for any L_f"
            ) from None
        reward = 1.0 / (1.0 - float(gamma))
    else:
        m = finite_horizon_multiplier(gamma, L_f, L_r, L_pi, horizon)
        reward = _discount_sum(float(gamma), int(horizon))
    m = float(m)
    if not math.isfinite(m):
        why = ("gamma L_r (1 + L_pi) / (1 - gamma L_f (1 + L_pi)) overflows; rescale the reward "
               "units" if horizon is None else
               f"L = L_f (1 + L_pi) = {float(compounding_rate(L_f, L_pi)):.6g} compounded over "
               f"{horizon} steps; shorten the horizon")
        raise ValueError(
            f"the multiplier is past the float range (over {np.finfo(float).max:.3g}): {why}")
    return BoundMultiplier("eq1" if horizon is None else "finite_horizon",
                           None if horizon is None else int(horizon), float(gamma), float(L_f),
                           float(L_r), float(L_pi), m, reward)
