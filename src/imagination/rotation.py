r"""The overview's damped rotation: a system whose Lemma 1 constants are known in closed form.

Used by the overview ("Training in imagination at a glance") and by chapter 1's reduction to
Asadi, Misra & Littman (2018). The system has no actions (:math:`L_\pi = 0`):

.. math::

   f(s) = \rho\,R(\theta)\,s, \qquad \hat f(s) = f(s) + \varepsilon_{\rm dyn}\,e,
   \qquad r(s) = -\|s\|_2,

with :math:`R(\theta)` a rotation and :math:`e` a unit vector, so that :math:`L_f = \rho`,
:math:`L_r = 1` (Euclidean norm on states) and
:math:`\sup_s\|\hat f(s)-f(s)\| = \varepsilon_{\rm dyn}` exactly. The real trajectory spirals into
the origin; the imagined one into the fixed point of :func:`imagined_fixed_point`.

References
----------
Timor, Shwartz-Ziv, Goldblum, LeCun, Harel, "On Training in Imagination", arXiv:2605.06732,
Lemma 1 and Eq. (1).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._checks import check_gamma, check_int, check_nonneg

__all__ = ["discounted_return", "rotation_rollout"]


def rotation_rollout(
    rho: float, theta: float, s0: ArrayLike, horizon: int, *, eps_dyn: float = 0.0,
    direction: ArrayLike = (1.0, 0.0),
) -> NDArray[np.float64]:
    r"""States :math:`s_0,\dots,s_H` of :math:`s_{t+1}=\rho R(\theta)s_t+\varepsilon_{\rm dyn}e`.

    With ``eps_dyn = 0`` this is the true system of the overview; with ``eps_dyn > 0`` the
    imagined one, whose one-step error is exactly ``eps_dyn`` everywhere.

    Parameters
    ----------
    rho
        Contraction of one step, :math:`L_f = \rho \ge 0`.
    theta
        Rotation angle per step (radians).
    s0
        Start state(s), shape ``(..., 2)``: leading axes are independent rollouts.
    horizon
        Number of steps :math:`H \ge 0`.
    eps_dyn
        Constant model error added at every step, >= 0.
    direction
        The error direction :math:`e` (normalised here), shape ``(2,)``, non-zero.

    Returns
    -------
    ndarray, shape ``(H + 1, ..., 2)``
        The trajectory, time first.
    """
    s0 = np.asarray(s0, dtype=float)
    e = np.asarray(direction, dtype=float)
    if s0.shape[-1:] != (2,):
        raise ValueError(f"s0 must have shape (..., 2), got {s0.shape}")
    if e.shape != (2,) or not np.any(e):
        raise ValueError(f"direction must be a non-zero vector of shape (2,), got {e!r}")
    rho = check_nonneg("rho", rho)
    eps_dyn = check_nonneg("eps_dyn", eps_dyn)
    horizon = check_int("horizon", horizon, 0)
    c, s = np.cos(theta), np.sin(theta)
    step = rho * np.array([[c, -s], [s, c]])
    offset = eps_dyn * e / np.linalg.norm(e)
    states = np.empty((horizon + 1, *s0.shape))
    states[0] = s0
    for t in range(horizon):  # a recursion: each state needs the previous one
        states[t + 1] = states[t] @ step.T + offset
    return states


def discounted_return(rewards: ArrayLike, gamma: float) -> NDArray[np.float64] | float:
    r""":math:`\sum_{t<H}\gamma^t r_t` over the first (time) axis of ``rewards``.

    Parameters
    ----------
    rewards
        Rewards, shape ``(H, ...)``, time first.
    gamma
        Discount factor, ``0 <= gamma <= 1``.

    Returns
    -------
    float or ndarray of shape ``(...)``
    """
    r = np.asarray(rewards, dtype=float)
    gamma = float(check_gamma(gamma, allow_one=True))
    if r.ndim == 0:
        raise ValueError("rewards must have a time axis (shape (H, ...))")
    weights = gamma ** np.arange(r.shape[0], dtype=float)
    out = np.tensordot(weights, r, axes=(0, 0))
    return float(out) if np.ndim(out) == 0 else out
