r"""The overview's damped rotation: a system whose Lemma 1 constants are known in closed form.

Used by the overview ("Training in imagination at a glance") and by chapter 1's reduction to
Asadi, Misra & Littman (2018). The system has no actions (:math:`L_\pi = 0`):

.. math::

   f(s) = \rho\,R(\theta)\,s, \qquad \hat f(s) = f(s) + \varepsilon_{\rm dyn}\,e,
   \qquad r(s) = -\|s\|_2,

with :math:`R(\theta)` a rotation and :math:`e` a unit vector, so that :math:`L_f = \rho`,
:math:`L_r = 1` (Euclidean norm on states) and
:math:`\sup_s\|\hat f(s)-f(s)\| = \varepsilon_{\rm dyn}` exactly. The real trajectory spirals into
the origin; the imagined one into the fixed point of :func:`imagined_fixed_point`, at the
distance :func:`fixed_point_distance`.

References
----------
Timor, Shwartz-Ziv, Goldblum, LeCun, Harel, "On Training in Imagination", arXiv:2605.06732,
Lemma 1 and Eq. (1).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._checks import as_output, check_gamma, check_int, check_nonneg, check_nonneg_arrays

__all__ = [
    "discounted_return",
    "fixed_point_distance",
    "imagined_fixed_point",
    "rotation_rollout",
]


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


def imagined_fixed_point(rho: float, theta: float, eps_dyn: float,
                         direction: ArrayLike = (1.0, 0.0)) -> NDArray[np.float64]:
    r"""Where the imagined rotation settles: :math:`(I-\rho R(\theta))^{-1}\varepsilon_{\rm dyn}e`.

    The imagined step :math:`\hat s\mapsto\rho R(\theta)\hat s+\varepsilon_{\rm dyn}e` is a
    contraction for :math:`0\le\rho<1`, so every imagined trajectory converges to its fixed point
    :math:`\hat s^\ast=\rho R(\theta)\hat s^\ast+\varepsilon_{\rm dyn}e`. Its distance from the
    real fixed point (the origin) is

    .. math::

       \|\hat s^\ast\|=\frac{\varepsilon_{\rm dyn}}{\sqrt{1-2\rho\cos\theta+\rho^2}},

    since :math:`I-\rho R(\theta)` is :math:`1-\rho e^{i\theta}` acting on :math:`\mathbb C`, of
    modulus :math:`\sqrt{1-2\rho\cos\theta+\rho^2}`. It is at most
    :math:`\varepsilon_{\rm dyn}/(1-\rho)` (at :math:`\theta=0`), and, unlike the dynamics term
    of Eq. (1), need not grow with :math:`\rho`: it falls with :math:`\rho` where
    :math:`\cos\theta<\rho`.

    Parameters
    ----------
    rho
        Contraction of one step, ``0 <= rho < 1``.
    theta
        Rotation angle per step (radians).
    eps_dyn
        The constant model error, >= 0.
    direction
        Its direction :math:`e` (normalised here), non-zero, shape ``(2,)``.

    Returns
    -------
    ndarray, shape ``(2,)``
    """
    rho = check_nonneg("rho", rho)
    if rho >= 1:
        raise ValueError(f"rho must satisfy 0 <= rho < 1 (a contraction has a fixed point), "
                         f"got {rho!r}")
    eps_dyn = check_nonneg("eps_dyn", eps_dyn)
    e = np.asarray(direction, dtype=float)
    if e.shape != (2,) or not np.any(e):
        raise ValueError(f"direction must be a non-zero vector of shape (2,), got {e!r}")
    c, s = np.cos(theta), np.sin(theta)
    step = rho * np.array([[c, -s], [s, c]])
    return np.linalg.solve(np.eye(2) - step, eps_dyn * e / np.linalg.norm(e))


def fixed_point_distance(rho: ArrayLike, theta: ArrayLike, eps_dyn: ArrayLike) -> Any:
    r""":math:`\|\hat s^\ast\|=\varepsilon_{\rm dyn}/\sqrt{1-2\rho\cos\theta+\rho^2}`, the
    distance of :func:`imagined_fixed_point` from the origin (broadcast over the arguments).

    Raises
    ------
    ValueError
        If ``rho`` is not in ``[0, 1)`` or ``eps_dyn`` is negative.
    """
    r = np.asarray(rho, dtype=float)
    if np.any(~((r >= 0) & (r < 1))):
        raise ValueError(f"rho must satisfy 0 <= rho < 1, got {rho!r}")
    (eps,) = check_nonneg_arrays(eps_dyn=eps_dyn)
    return as_output(eps / np.sqrt(1.0 - 2.0 * r * np.cos(theta) + r * r))
