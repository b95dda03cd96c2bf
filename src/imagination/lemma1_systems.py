r"""Lemma 1's scalar test beds: a system that attains the bound, and one that does not.

Chapter 1 ("The simulation lemma") uses them to show that the constants of Eq. (1) cannot be
improved (:func:`extremal_gaps`: every inequality of the proof holds with equality) and to plot
the realised gap against the finite-horizon bound on a nonlinear system with exactly the given
constants (:func:`scalar_nonlinear_gaps`).

References
----------
Timor, Shwartz-Ziv, Goldblum, LeCun, Harel, "On Training in Imagination", arXiv:2605.06732,
Lemma 1 and Eq. (1).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._checks import check_gamma, check_int, check_nonneg

__all__ = ["extremal_gaps", "scalar_nonlinear_gaps"]


def _check_lemma1_args(eps_dyn: float, eps_rew: float, gamma: float, L_f: float, L_r: float,
                       L_pi: float, horizon: int) -> None:
    for name, value in (("eps_dyn", eps_dyn), ("eps_rew", eps_rew), ("L_f", L_f), ("L_r", L_r),
                        ("L_pi", L_pi)):
        check_nonneg(name, value)
    check_gamma(gamma, allow_one=True)
    check_int("horizon", horizon, 1)


def extremal_gaps(eps_dyn: float, eps_rew: float, gamma: float, L_f: float, L_r: float,
                  L_pi: float, horizon: int) -> NDArray[np.float64]:
    r"""Return gaps of the system on which Lemma 1 is attained (paper.md §2), for every horizon.

    Scalar :math:`f(s,a)=L_f(s+a)`, :math:`\pi(s)=L_\pi s`, :math:`r(s,a)=L_r(s+a)`, learned
    :math:`\hat f=f+\varepsilon_{\rm dyn}`, :math:`\hat r=r+\varepsilon_{\rm rew}`, both from
    :math:`s_0=1`. Every inequality of the proof of Lemma 1 holds with equality, so the gap of
    the :math:`h`-step returns equals the finite-horizon bound at :math:`h` term by term.

    Parameters
    ----------
    eps_dyn, eps_rew
        Model errors, >= 0.
    gamma
        Discount factor, ``0 <= gamma <= 1``.
    L_f, L_r, L_pi
        Lipschitz constants of the construction, >= 0.
    horizon
        Number of steps :math:`H \ge 1`.

    Returns
    -------
    ndarray, shape ``(H,)``
        ``gaps[h - 1]`` = :math:`|J_h - \hat J_h|` for :math:`h = 1, \dots, H`.
    """
    _check_lemma1_args(eps_dyn, eps_rew, gamma, L_f, L_r, L_pi, horizon)
    return _scalar_gaps(
        f=lambda s, a: L_f * (s + a), f_hat=lambda s, a: L_f * (s + a) + eps_dyn,
        pi=lambda s: L_pi * s,
        r=lambda s, a: L_r * (s + a), r_hat=lambda s, a: L_r * (s + a) + eps_rew,
        gamma=gamma, horizon=horizon, s0=1.0)


def scalar_nonlinear_gaps(eps_dyn: float, eps_rew: float, gamma: float, L_f: float, L_r: float,
                          L_pi: float, horizon: int, *, s0: float = 0.5) -> NDArray[np.float64]:
    r"""Return gaps of a scalar nonlinear system with the given constants, for every horizon.

    :math:`f(s,a)=L_f\tanh(s+a)`, :math:`\pi(s)=L_\pi\sin s`, :math:`r(s,a)=L_r\sin(s+a)`;
    learned :math:`\hat f=f+\varepsilon_{\rm dyn}\cos s` and
    :math:`\hat r=r+\varepsilon_{\rm rew}\cos(s-a)`. Since :math:`\tanh` and :math:`\sin` are
    1-Lipschitz, :math:`|g(s+a)-g(s'+a')|\le|s-s'|+|a-a'|`: the constants are exactly
    :math:`L_f, L_r, L_\pi` (sum metric), and the sup-norm errors are
    :math:`\varepsilon_{\rm dyn}, \varepsilon_{\rm rew}` (attained where the cosine is
    :math:`\pm1`). Unlike :func:`extremal_gaps`, the errors need not line up, so the gap is
    usually well below the bound.

    Parameters
    ----------
    eps_dyn, eps_rew, gamma, L_f, L_r, L_pi, horizon
        As in :func:`extremal_gaps`.
    s0
        Common start state.

    Returns
    -------
    ndarray, shape ``(H,)``
        ``gaps[h - 1]`` = :math:`|J_h - \hat J_h|` for :math:`h = 1, \dots, H`.
    """
    _check_lemma1_args(eps_dyn, eps_rew, gamma, L_f, L_r, L_pi, horizon)
    return _scalar_gaps(
        f=lambda s, a: L_f * np.tanh(s + a),
        f_hat=lambda s, a: L_f * np.tanh(s + a) + eps_dyn * np.cos(s),
        pi=lambda s: L_pi * np.sin(s),
        r=lambda s, a: L_r * np.sin(s + a),
        r_hat=lambda s, a: L_r * np.sin(s + a) + eps_rew * np.cos(s - a),
        gamma=gamma, horizon=horizon, s0=float(s0))


def _scalar_gaps(*, f: Any, f_hat: Any, pi: Any, r: Any, r_hat: Any, gamma: float,
                 horizon: int, s0: float) -> NDArray[np.float64]:
    # |J_h - Ĵ_h| for h = 1..H of a scalar system and its model, both from s0.
    s = s_hat = s0
    gaps = np.empty(horizon)
    partial = 0.0
    for t in range(horizon):  # a recursion in t; scalar, so no batching to gain
        a, a_hat = pi(s), pi(s_hat)
        partial += gamma**t * (r(s, a) - r_hat(s_hat, a_hat))
        gaps[t] = abs(partial)
        s, s_hat = f(s, a), f_hat(s_hat, a_hat)
    return gaps
