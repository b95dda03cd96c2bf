r"""Corollary 1's capacity trade-off, measured: a Lipschitz cap against the dynamics error.

Corollary 1 says lower Lipschitz constants tighten the bound of Eq. (1) at fixed errors; the paper
names the catch (lowering :math:`L_f` may raise :math:`\varepsilon_{\rm dyn}`) but does not measure
it. :func:`capacity_tradeoff` does: dynamics models trained by
:func:`~imagination.ensemble.train_ensemble` under a range of spectral caps on
:class:`SaturatedRotation`, with their error, their Lipschitz bound
(:mod:`imagination.lipschitz`) and the finite-horizon bound of chapter 1. Used by chapter 2
("Lipschitz constants as a representation desideratum").

References
----------
Timor, Shwartz-Ziv, Goldblum, LeCun, Harel, "On Training in Imagination", arXiv:2605.06732,
Corollary 1. Miyato et al. (2018), spectral normalisation.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .bounds import return_error_bound_finite
from .ensemble import Ensemble, heldout_errors, train_ensemble
from .lipschitz import jacobian_norm_lower, lipschitz_upper_bound

__all__ = ["CapacityTradeoff", "SaturatedRotation", "capacity_tradeoff"]


@dataclass(frozen=True)
class SaturatedRotation:
    r"""The chapter's nonlinear system: a damped rotation through a saturating ``tanh``.

    .. math::

       f(s,a)=\beta\tanh\bigl((\rho R(\vartheta)s+b\,e_2a)/\beta\bigr),\qquad
       \pi(s)=-k\,s_2,\qquad r(s,a)=-\|s\|,

    with :math:`s\in\mathbb R^2`, :math:`a\in\mathbb R`, :math:`R(\vartheta)` a rotation and
    :math:`e_2=(0,1)`. Since :math:`\beta\tanh(\cdot/\beta)` is 1-Lipschitz,
    :math:`L_f=\max(\rho,|b|)` for the sum metric (and :math:`\sqrt{\rho^2+b^2}` in the Euclidean
    norm on :math:`(s,a)`),
    :math:`L_\pi=k`, :math:`L_r=1`. With :math:`\beta\le1` and :math:`k\le1` the box
    :math:`[-1,1]^2\times[-1,1]` is invariant: :math:`|f|<\beta` and :math:`|\pi(s)|\le k`, so real
    trajectories of :math:`\pi` from the box stay where the models are trained and measured.
    A smaller :math:`\beta` saturates more (more curvature for the model to fit).
    """

    rho: float = 0.6
    theta: float = 0.5
    b: float = 0.5
    beta: float = 1.0
    k: float = 0.5

    def __post_init__(self) -> None:
        for name in ("rho", "theta", "b", "beta", "k"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"{name} must be finite, got {getattr(self, name)!r}")
        if not (self.rho >= 0 and 0 < self.beta <= 1 and 0 <= self.k <= 1):
            raise ValueError("need rho >= 0, 0 < beta <= 1 and 0 <= k <= 1 (so that the box "
                             f"[-1, 1]^3 is invariant); got rho={self.rho}, beta={self.beta}, "
                             f"k={self.k}")

    d_s = 2
    d_a = 1

    @property
    def matrix(self) -> NDArray[np.float64]:
        """:math:`[\\rho R(\\vartheta)\\;|\\;b e_2]`, shape (2, 3): the map inside the ``tanh``."""
        c, s = math.cos(self.theta), math.sin(self.theta)
        return np.array([[self.rho * c, -self.rho * s, 0.0], [self.rho * s, self.rho * c, self.b]])

    @property
    def L_f(self) -> float:
        """Lipschitz constant for the sum metric on (s, a): :math:`\\max(\\rho,|b|)`."""
        return max(self.rho, abs(self.b))

    @property
    def L_pi(self) -> float:
        return float(self.k)

    @property
    def L_r(self) -> float:
        return 1.0

    def step(self, s: ArrayLike, a: ArrayLike) -> NDArray[np.float64]:
        """:math:`f(s, a)`, vectorised over leading axes (``s`` (..., 2), ``a`` (..., 1))."""
        sa = np.concatenate([np.asarray(s, float), np.asarray(a, float)], axis=-1)
        return self.beta * np.tanh(sa @ self.matrix.T / self.beta)

    def policy(self, s: ArrayLike) -> NDArray[np.float64]:
        """:math:`\\pi(s)=-k s_2`, shape (..., 1)."""
        return -self.k * np.asarray(s, float)[..., 1:2]

    def reward(self, s: ArrayLike, a: ArrayLike | None = None) -> NDArray[np.float64]:
        """:math:`r(s,a)=-\\|s\\|`."""
        return -np.linalg.norm(np.asarray(s, float), axis=-1)


@dataclass(frozen=True)
class CapacityTradeoff:
    r"""Result of :func:`capacity_tradeoff`; per-member arrays are ordered cap-major
    (member ``i`` has cap ``caps[i // n_seeds]``), and :meth:`by_cap` reshapes them.

    Attributes
    ----------
    caps : ndarray, shape (C,)
        Network caps :math:`c` (Euclidean Lipschitz bound of the whole network); each of the
        ``n_layers`` weight matrices is capped at :math:`c^{1/n_{\rm layers}}`.
    n_seeds : int
    eps_estimate : ndarray, shape (M,)
        Held-out maximum of :math:`\|\hat f-f\|` on uniform samples of the box: an estimate
        (from below) of :math:`\varepsilon_{\rm dyn}`.
    eps_certified : ndarray, shape (M,)
        Certified :math:`\sup_s\|\hat f(s,\pi(s))-f(s,\pi(s))\|` over :math:`s\in[-1,1]^2`: the
        maximum on a cell-centred grid plus the Lipschitz slack (see :func:`capacity_tradeoff`).
    rmse : ndarray, shape (M,)
        Held-out root mean squared error.
    L_upper, L_lower : ndarray, shape (M,)
        Sum-metric upper bound (:func:`lipschitz_upper_bound`) and lower estimate
        (:func:`jacobian_norm_lower`) of the learned :math:`L_{\hat f}`.
    gaps : ndarray, shape (M, max_horizon)
        ``gaps[:, h - 1]``: the largest realised gap of the :math:`h`-step returns of :math:`\pi`
        over the start states.
    ensemble : Ensemble
        The trained dynamics models.
    config : dict
        The experiment's settings (system, gamma, horizon, sizes, seconds of training, the
        certificate's slack per member).
    """

    caps: NDArray[np.float64]
    n_seeds: int
    eps_estimate: NDArray[np.float64] = field(repr=False)
    eps_certified: NDArray[np.float64] = field(repr=False)
    rmse: NDArray[np.float64] = field(repr=False)
    L_upper: NDArray[np.float64] = field(repr=False)
    L_lower: NDArray[np.float64] = field(repr=False)
    gaps: NDArray[np.float64] = field(repr=False)
    ensemble: Ensemble = field(repr=False)
    config: dict[str, Any] = field(default_factory=dict)

    def bound(self, horizon: int, eps: str = "certified") -> NDArray[np.float64]:
        r"""Finite-horizon bound :math:`B_H` per member (chapter 1, with the learned constants).

        :func:`~imagination.bounds.return_error_bound_finite` with
        :math:`\varepsilon_{\rm rew}=0`, :math:`L_f` = ``L_upper`` and the system's
        :math:`L_r`, :math:`L_\pi`; ``eps`` picks ``eps_certified`` (a bound) or ``eps_estimate``
        (the bound evaluated at an estimate).
        """
        if eps not in ("certified", "estimate"):
            raise ValueError(f"eps must be 'certified' or 'estimate', got {eps!r}")
        system, gamma = self.config["system"], self.config["gamma"]
        e = self.eps_certified if eps == "certified" else self.eps_estimate
        return np.asarray(return_error_bound_finite(e, 0.0, gamma, self.L_upper, system.L_r,
                                                    system.L_pi, horizon))

    def gap(self, horizon: int) -> NDArray[np.float64]:
        """Largest realised gap of the ``horizon``-step returns, per member."""
        if isinstance(horizon, bool) or int(horizon) != horizon or not (
                1 <= horizon <= self.gaps.shape[1]):
            raise ValueError(f"horizon must be an integer in [1, {self.gaps.shape[1]}], "
                             f"got {horizon!r}")
        return self.gaps[:, int(horizon) - 1]

    def by_cap(self, values: ArrayLike | str) -> NDArray[np.float64]:
        """Per-member values (an array, or the name of a field) reshaped to ``(C, n_seeds)``."""
        arr = getattr(self, values, None) if isinstance(values, str) else np.asarray(values)
        if not isinstance(arr, np.ndarray) or arr.shape != (self.caps.size * self.n_seeds,):
            raise ValueError(f"{values!r} is not a per-member array of CapacityTradeoff "
                             f"(shape ({self.caps.size * self.n_seeds},))")
        return arr.reshape(self.caps.size, self.n_seeds)


def _grid_centres(grid_size: int) -> tuple[np.ndarray, float]:
    delta = 2.0 / grid_size
    axis = -1.0 + delta * (np.arange(grid_size) + 0.5)
    s = np.stack(np.meshgrid(axis, axis, indexing="ij"), axis=-1).reshape(-1, 2)
    return s, delta


def _rollout_gaps(system: SaturatedRotation, ens: Ensemble, s0: np.ndarray, gamma: float,
                  horizon: int) -> np.ndarray:
    """(M, H): largest |sum_{t<h} gamma^t (r(s_t) - r(s_hat_t))| over start states, h = 1..H."""
    M = ens.n_members
    s = s0
    s_hat = np.broadcast_to(s0, (M, *s0.shape)).copy()
    gap = np.zeros((M, s0.shape[0]))
    out = np.empty((M, horizon))
    for t in range(horizon):  # only time is sequential
        gap += gamma**t * (system.reward(s)[None] - system.reward(s_hat))
        out[:, t] = np.abs(gap).max(axis=1)
        s, a_hat = system.step(s, system.policy(s)), system.policy(s_hat)
        s_hat = ens.predict(np.concatenate([s_hat, a_hat], axis=-1))
    return out


def capacity_tradeoff(
    caps: ArrayLike,
    *,
    system: SaturatedRotation | None = None,
    n_seeds: int = 3,
    n_train: int = 3000,
    n_test: int = 10000,
    grid_size: int = 256,
    n_starts: int = 64,
    gamma: float = 0.9,
    max_horizon: int = 50,
    hidden: Sequence[int] = (64,),
    max_steps: int = 1500,
    batch_size: int = 256,
    lr: float = 3e-3,
    seed: int = 0,
) -> CapacityTradeoff:
    r"""Train dynamics models at a range of Lipschitz caps and evaluate the finite-horizon bound.

    One :func:`~imagination.ensemble.train_ensemble` call trains ``len(caps) * n_seeds``
    members (each with its own initialisation and data order) on the same ``n_train`` transitions
    :math:`(s,a)\sim U([-1,1]^3)`, :math:`s'=f(s,a)`. A network cap :math:`c` becomes the per-layer
    cap :math:`c^{1/n_{\rm layers}}`. For a one-hidden-layer ReLU network with biases this loses
    nothing: :math:`(W_1,b_1,W_2)\mapsto(\lambda W_1,\lambda b_1,W_2/\lambda)`, :math:`\lambda>0`,
    leaves the function unchanged, so every split of :math:`c` into per-layer caps with product
    :math:`c` describes the same class of functions.

    For each member:

    * ``eps_estimate``: the largest Euclidean error on ``n_test`` uniform samples of the box;
    * ``eps_certified``: Lemma 1 uses the model error only at the real pairs
      :math:`(s_t,\pi(s_t))`, which stay in the box (see :class:`SaturatedRotation`). On the
      graph :math:`s\mapsto(s,\pi(s))` the error :math:`e(s)=\|\hat f(s,\pi(s))-f(s,\pi(s))\|` is
      :math:`(L_{\hat f}+L_f)(1+L_\pi)`-Lipschitz in :math:`s`, and every point of
      :math:`[-1,1]^2` lies within :math:`\delta/\sqrt2` of a centre of the ``grid_size``
      :math:`\times` ``grid_size`` grid of cells of side :math:`\delta=2/\texttt{grid\_size}`, so
      :math:`\sup e\le\max_{\rm grid}e+(L_{\hat f}+L_f)(1+L_\pi)\,\delta/\sqrt2` with
      :math:`L_{\hat f}` the upper bound below;
    * ``L_upper`` (sum metric, blocks :math:`(d_s,d_a)`) and ``L_lower`` (on the first 4096
      test points);
    * the realised gaps of the :math:`h`-step returns of :math:`\pi`,
      :math:`h\le` ``max_horizon``, from ``n_starts`` uniform start states.

    :meth:`CapacityTradeoff.bound` then gives the finite-horizon bound of chapter 1 with the
    learned model's constants (:func:`~imagination.bounds.return_error_bound_finite` with
    :math:`\varepsilon_{\rm rew}=0`, :math:`L_f=L_{\hat f}`, the system's :math:`L_r` and
    :math:`L_\pi`): decomposing around :math:`\hat f` needs :math:`\hat f`'s constant and the
    error at the real pairs only, so with ``eps_certified`` it bounds the realised gaps.

    Parameters
    ----------
    caps : array_like, shape (C,)
        Network caps, positive, strictly increasing.
    system : SaturatedRotation, optional
        The system (default ``SaturatedRotation()``).
    n_seeds, n_train, n_test, grid_size, n_starts : int
        Members per cap and sample sizes.
    gamma : float
        Discount factor of the returns, in [0, 1].
    max_horizon : int
        Longest horizon of the realised gaps.
    hidden, max_steps, batch_size, lr
        Passed to :func:`~imagination.ensemble.train_ensemble` (``max_steps`` steps).
    seed : int
        Seeds the data and the members.

    Returns
    -------
    CapacityTradeoff

    Raises
    ------
    ValueError
        For caps that are not positive and increasing, or sizes below 1.
    """
    system = SaturatedRotation() if system is None else system
    c = np.asarray(caps, dtype=float)
    if c.ndim != 1 or c.size < 1 or not np.all(np.isfinite(c) & (c > 0)) or np.any(np.diff(c) <= 0):
        raise ValueError(f"caps must be a 1-D array of positive, strictly increasing numbers, "
                         f"got {caps!r}")
    for name, value in (("n_seeds", n_seeds), ("n_train", n_train), ("n_test", n_test),
                        ("grid_size", grid_size), ("n_starts", n_starts),
                        ("max_horizon", max_horizon),
                        ("max_steps", max_steps)):
        if isinstance(value, bool) or int(value) != value or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    if not (np.isfinite(gamma) and 0.0 <= gamma <= 1.0):
        raise ValueError(f"gamma must satisfy 0 <= gamma <= 1, got {gamma!r}")
    rng = np.random.default_rng(seed)
    d_in = system.d_s + system.d_a
    x = rng.uniform(-1.0, 1.0, size=(n_train, d_in))
    y = system.step(x[:, :system.d_s], x[:, system.d_s:])
    n_layers = len(tuple(hidden)) + 1
    member_caps = np.repeat(c, n_seeds)
    epochs = math.ceil(max_steps / math.ceil(n_train / batch_size))
    start = time.perf_counter()
    ens = train_ensemble(x, y, n_members=member_caps.size, hidden=hidden, epochs=epochs,
                         max_steps=max_steps, batch_size=batch_size, lr=lr,
                         lipschitz_cap=member_caps ** (1.0 / n_layers), seed=seed)
    seconds = time.perf_counter() - start
    x_test = rng.uniform(-1.0, 1.0, size=(n_test, d_in))
    y_test = system.step(x_test[:, :system.d_s], x_test[:, system.d_s:])
    errors = heldout_errors(ens.predict(x_test), y_test)
    blocks = (system.d_s, system.d_a)
    L_upper = np.atleast_1d(lipschitz_upper_bound(ens, input_blocks=blocks))
    L_lower = np.atleast_1d(jacobian_norm_lower(ens, x_test[:min(n_test, 4096)],
                                                input_blocks=blocks))
    s_grid, delta = _grid_centres(int(grid_size))
    sa_grid = np.concatenate([s_grid, system.policy(s_grid)], axis=-1)
    grid_err = np.linalg.norm(ens.predict(sa_grid) - system.step(s_grid, sa_grid[:, 2:]), axis=-1)
    slack = (L_upper + system.L_f) * (1.0 + system.L_pi) * delta / math.sqrt(2.0)
    eps_cert = grid_err.max(axis=1) + slack
    s0 = rng.uniform(-1.0, 1.0, size=(n_starts, system.d_s))
    return CapacityTradeoff(
        caps=c, n_seeds=int(n_seeds), eps_estimate=errors["max"], eps_certified=eps_cert,
        rmse=errors["rmse"], L_upper=L_upper, L_lower=L_lower,
        gaps=_rollout_gaps(system, ens, s0, gamma, int(max_horizon)), ensemble=ens,
        config=dict(system=system, gamma=gamma, max_horizon=int(max_horizon), n_train=n_train,
                    n_test=n_test, grid_size=grid_size, n_starts=n_starts, hidden=tuple(hidden),
                    max_steps=max_steps, batch_size=batch_size, lr=lr, seed=seed,
                    seconds=seconds, slack=slack),
    )
