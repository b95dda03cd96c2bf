r"""Lipschitz constants as a representation desideratum (Corollary 1); estimates for torch models.

Three parts, used by chapter 2 ("Lipschitz constants as a representation desideratum") and, for
the estimates, chapter 7:

**Corollary 1.** The dynamics coefficient of Eq. (1),

.. math::

   C_{\rm dyn}=\frac{\gamma L_r(1+L_\pi)}{(1-\gamma)(1-\gamma L_f(1+L_\pi))},

is non-decreasing in each of :math:`L_f, L_r, L_\pi` on the contraction region
:math:`\gamma L_f(1+L_\pi)<1` (:func:`~imagination.bounds.dynamics_coefficient` and its
gradient, in :mod:`imagination.bounds`).

**Estimates of a network's Lipschitz constant.** For an MLP :math:`x\mapsto W_n\sigma(\cdots
\sigma(W_1x+b_1)\cdots)+b_n` with 1-Lipschitz activations (ReLU, tanh), the product of the layers'
spectral norms bounds the Lipschitz constant in the Euclidean norm from **above**
(:func:`lipschitz_upper_bound`); the largest spectral norm of the Jacobian over sample points bounds
it from **below** (:func:`jacobian_norm_lower`). With ``input_blocks`` both refer to the sum metric
of Lemma 1 on :math:`(s,a)`, :math:`\|s-s'\|+\|a-a'\|`: the first layer's factor becomes the largest
spectral norm of its blocks, and the Jacobian's norm the largest norm of its blocks (the operator
norm from the sum metric to the Euclidean norm). Weight matrices follow the row convention of
:class:`~imagination.teacher_student.Ensemble`: ``W`` of shape ``(..., d_in, d_out)``, applied as
``x @ W`` (pass ``nn.Linear.weight.T``).

**Two experiments.** :func:`capacity_tradeoff` quantifies the trade-off the paper names but does
not measure: dynamics models trained by :func:`~imagination.teacher_student.train_ensemble` under a
range of spectral caps, on :class:`SaturatedRotation`, with their error, their Lipschitz bound and
the finite-horizon bound of chapter 1. :func:`train_velocity_ensemble` fits velocity maps with a
curvature penalty (the converse of Proposition 1), through ``train_ensemble``'s penalty hook.

References
----------
Timor, Shwartz-Ziv, Goldblum, LeCun, Harel, "On Training in Imagination", arXiv:2605.06732,
Corollary 1 and Proposition 1. Miyato et al. (2018), spectral normalisation. Gouk et al. (2021),
Lipschitz regularisation.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray

from .bounds import _out, return_error_bound_finite
from .teacher_student import (
    Ensemble,
    heldout_errors,
    train_ensemble,
)

__all__ = [
    "CapacityTradeoff",
    "CurvaturePenalty",
    "SaturatedRotation",
    "capacity_tradeoff",
    "curvature_penalty_experiment",
    "jacobian_norm_lower",
    "lipschitz_block_bounds",
    "lipschitz_upper_bound",
    "spectral_norms",
    "train_velocity_ensemble",
]

Weights = Ensemble | Sequence[ArrayLike | torch.Tensor]


# --------------------------------------------------------------------------- network estimates


def _as_weight_list(weights: Weights) -> list[torch.Tensor]:
    mats = weights.weights if isinstance(weights, Ensemble) else weights
    if isinstance(mats, np.ndarray | torch.Tensor) or not isinstance(mats, Sequence) or not mats:
        raise ValueError("weights must be an Ensemble or a non-empty list of weight matrices "
                         "(..., d_in, d_out), one per layer")
    out = []
    for k, w in enumerate(mats):
        t = torch.as_tensor(np.asarray(w) if not isinstance(w, torch.Tensor) else w.detach())
        if t.dim() < 2 or not torch.is_floating_point(t) or not bool(torch.isfinite(t).all()):
            raise ValueError(f"layer {k}: weights must be finite float matrices of shape "
                             f"(..., d_in, d_out), got shape {tuple(t.shape)}")
        if k and t.shape[-2] != out[-1].shape[-1]:
            raise ValueError(f"layer {k} takes {t.shape[-2]} inputs but layer {k - 1} gives "
                             f"{out[-1].shape[-1]} outputs")
        out.append(t.double())
    return out


def _check_blocks(input_blocks: Sequence[int] | None, d_in: int) -> list[int] | None:
    if input_blocks is None:
        return None
    blocks = [int(b) for b in input_blocks]
    if (not blocks or any(b < 1 for b in blocks) or sum(blocks) != d_in
            or blocks != list(input_blocks)):
        raise ValueError(f"input_blocks must be positive integers summing to the input "
                         f"dimension {d_in} (e.g. (d_s, d_a)), got {input_blocks!r}")
    return blocks


def spectral_norms(weights: Weights) -> NDArray[np.float64]:
    r"""Largest singular value of every layer's weight matrix.

    Parameters
    ----------
    weights : Ensemble or list of array_like
        Layer ``k`` of shape ``(..., d_k, d_{k+1})``; leading (member) axes broadcast.

    Returns
    -------
    ndarray, shape (..., n_layers)
        :math:`\|W_k\|_2`, computed in float64 from an SVD.

    Raises
    ------
    ValueError
        If ``weights`` is empty, not finite, or the layer shapes do not chain.
    """
    mats = _as_weight_list(weights)
    norms = [torch.linalg.matrix_norm(w, ord=2) for w in mats]
    return torch.stack(torch.broadcast_tensors(*norms), dim=-1).numpy()


def lipschitz_block_bounds(weights: Weights, input_blocks: Sequence[int]) -> NDArray[np.float64]:
    r"""Upper bounds on an MLP's Lipschitz constant in each block of its input, the others fixed.

    For the input block :math:`b` (rows :math:`W_1^{(b)}` of the first layer),
    :math:`x_b\mapsto\mathrm{MLP}(x)` with the other blocks fixed is
    :math:`\|W_1^{(b)}\|_2\prod_{k\ge2}\|W_k\|_2`-Lipschitz (Euclidean norms; 1-Lipschitz
    activations). With one coordinate per block, ``input_blocks = (1,) * d_in``, these are the
    per-coordinate constants that certify a grid of cells of different sides (chapter 7): moving
    one coordinate at a time, :math:`|g(x)-g(y)|\le\sum_b L_b\|x_b-y_b\|`.

    Parameters
    ----------
    weights : Ensemble or list of array_like
        Layer ``k`` of shape ``(..., d_k, d_{k+1})``, applied as ``x @ W``.
    input_blocks : sequence of int
        Sizes of the input blocks, summing to the input dimension, e.g. ``(d_s, d_a)``.

    Returns
    -------
    ndarray, shape (..., n_blocks)
        One bound per member and block.

    Raises
    ------
    ValueError
        As :func:`spectral_norms`, or blocks that do not sum to the input dimension.
    """
    mats = _as_weight_list(weights)
    blocks = _check_blocks(input_blocks, mats[0].shape[-2])
    if blocks is None:
        raise ValueError("input_blocks must be given, e.g. (d_s, d_a)")
    parts = torch.split(mats[0], blocks, dim=-2)
    bound = torch.stack([torch.linalg.matrix_norm(p, ord=2) for p in parts], -1)
    for w in mats[1:]:
        bound = bound * torch.linalg.matrix_norm(w, ord=2)[..., None]
    return bound.numpy()


def lipschitz_upper_bound(weights: Weights, *,
                          input_blocks: Sequence[int] | None = None) -> Any:
    r"""Upper bound on the Lipschitz constant of an MLP with 1-Lipschitz activations.

    Without ``input_blocks``: :math:`\prod_k\|W_k\|_2`, a bound in the Euclidean norm on the
    input, hence also for the sum metric of Lemma 1, since
    :math:`\|(s,a)\|_2\le\|s\|+\|a\|`. With ``input_blocks = (d_s, d_a)``: the tighter bound for the
    sum metric, :math:`\max_b\|W_1^{(b)}\|_2\prod_{k\ge2}\|W_k\|_2`, where :math:`W_1^{(b)}` are the
    rows of the first layer that read block :math:`b` (the operator norm of :math:`x\mapsto xW_1`
    from :math:`\sum_b\|x_b\|` to the Euclidean norm is the largest block norm; see
    :func:`lipschitz_block_bounds`). Biases do not change a Lipschitz constant; activations with
    constant at most 1 do not raise it.

    Parameters
    ----------
    weights : Ensemble or list of array_like
        Layer ``k`` of shape ``(..., d_k, d_{k+1})``, applied as ``x @ W``.
    input_blocks : sequence of int, optional
        Sizes of the input blocks whose norms are summed, e.g. ``(d_s, d_a)``.

    Returns
    -------
    float or ndarray, shape (...)
        One bound per member (a ``float`` for a single network).

    Raises
    ------
    ValueError
        As :func:`spectral_norms`, or blocks that do not sum to the input dimension.
    """
    mats = _as_weight_list(weights)
    if input_blocks is not None:
        return _out(lipschitz_block_bounds(mats, input_blocks).max(axis=-1))
    bound = torch.linalg.matrix_norm(mats[0], ord=2)
    for w in mats[1:]:
        bound = bound * torch.linalg.matrix_norm(w, ord=2)
    return _out(bound.numpy())


def jacobian_norm_lower(
    func: Ensemble | Callable[[torch.Tensor], torch.Tensor],
    x: ArrayLike | torch.Tensor,
    *,
    input_blocks: Sequence[int] | None = None,
    chunk: int = 4096,
) -> Any:
    r"""Lower estimate of a map's Lipschitz constant: the largest Jacobian norm over points.

    .. math::

       \hat L_{\rm low}=\max_p\ \|J(x_p)\|,
       \qquad J(x)=\frac{\partial\,\mathrm{func}(x)}{\partial x},

    with :math:`\|\cdot\|` the spectral norm, or with ``input_blocks`` the largest spectral norm of
    the column blocks (the operator norm from the sum metric on the blocks to the Euclidean norm).
    At every point where the map is differentiable :math:`\|J(x)\|` is at most its Lipschitz
    constant in that metric, so the maximum is a lower bound on it (up to the float rounding of
    autograd), and tends to it as the points fill the domain. Jacobians come from torch autograd,
    one backward pass per output coordinate; this assumes output row ``p`` depends only on input row
    ``p`` (true for MLPs applied point-wise).

    Parameters
    ----------
    func : Ensemble or callable
        An :class:`~imagination.teacher_student.Ensemble` (its differentiable ``forward``), or a
        torch callable mapping ``x`` of shape ``(..., P, d_in)`` to ``(..., P, d_out)`` with the
        same leading axes.
    x : array_like or torch.Tensor, shape (P, d_in) or (M, P, d_in)
        The points. For an ensemble, ``(P, d_in)`` is shared by all members.
    input_blocks : sequence of int, optional
        Sizes of the input blocks of the sum metric, e.g. ``(d_s, d_a)``.
    chunk : int
        Points per autograd pass (memory).

    Returns
    -------
    float or ndarray, shape (...)
        One estimate per member (leading axes of ``x``), a ``float`` for a single map.

    Raises
    ------
    ValueError
        If ``x`` is not finite or has no point, the output's leading axes differ from the input's,
        or the blocks do not sum to ``d_in``.
    """
    xt = torch.as_tensor(x.detach() if isinstance(x, torch.Tensor) else np.asarray(x))
    if xt.dim() < 2 or xt.shape[-2] == 0 or not bool(torch.isfinite(xt).all()):
        raise ValueError(f"x must be a finite array of points (..., P, d_in) with P >= 1, "
                         f"got shape {tuple(xt.shape)}")
    if not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk must be an integer >= 1, got {chunk!r}")
    if isinstance(func, Ensemble):
        dtype = func.params[0][0].dtype
        if xt.dim() == 2:
            xt = xt.unsqueeze(0).expand(func.n_members, -1, -1)
        fn: Callable[[torch.Tensor], torch.Tensor] = func.forward
    else:
        dtype = xt.dtype if torch.is_floating_point(xt) else torch.float64
        fn = func
    blocks = _check_blocks(input_blocks, xt.shape[-1])
    best = None
    for part in torch.split(xt.to(dtype), chunk, dim=-2):
        leaf = part.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            out = fn(leaf)
            if out.shape[:-1] != leaf.shape[:-1]:
                raise ValueError(f"func must map (..., P, d_in) to (..., P, d_out) with the same "
                                 f"leading axes; got {tuple(leaf.shape)} -> {tuple(out.shape)} "
                                 "(for an ensemble pass x as (M, P, d_in))")
            rows = [torch.autograd.grad(out[..., j].sum(), leaf, retain_graph=True)[0]
                    for j in range(out.shape[-1])]
        jac = torch.stack(rows, dim=-2).double()  # (..., P, d_out, d_in)
        if blocks is None:
            norms = torch.linalg.matrix_norm(jac, ord=2)
        else:
            norms = torch.stack([torch.linalg.matrix_norm(j, ord=2)
                                 for j in torch.split(jac, blocks, dim=-1)], -1).amax(-1)
        top = norms.amax(-1)
        best = top if best is None else torch.maximum(best, top)
    assert best is not None
    return _out(best.numpy())


# --------------------------------------------------------------------------- the capacity trade-off


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

    One :func:`~imagination.teacher_student.train_ensemble` call trains ``len(caps) * n_seeds``
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
        Passed to :func:`~imagination.teacher_student.train_ensemble` (``max_steps`` steps).
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


# --------------------------------------------------------------------------- the converse question


def train_velocity_ensemble(
    z_t: ArrayLike,
    z_next: ArrayLike,
    curvature_weight: ArrayLike,
    *,
    hidden: Sequence[int] = (64,),
    max_steps: int = 1000,
    batch_size: int = 256,
    lr: float = 1e-3,
    seed: int = 0,
) -> Ensemble:
    r"""Fit velocity maps :math:`v_\theta(z)\approx z_{t+1}-z_t` with a curvature penalty.

    Member :math:`m` minimises, over batches of consecutive pairs :math:`(z_t,z_{t+1})` of a
    latent trajectory,

    .. math::

       \frac1{|B|}\sum_{t\in B}\Bigl[\tfrac1d\|v_\theta(z_t)-(z_{t+1}-z_t)\|^2
       +\lambda_m\bigl(1-\cos(v_\theta(z_t),v_\theta(z_{t+1}))\bigr)\Bigr],

    the squared loss of :func:`~imagination.teacher_student.train_ensemble` plus
    :math:`\lambda_m` times the curvature loss of Proposition 1 on the model's own consecutive
    velocities (temporal straightening, Wang et al. 2026). The penalty needs the model at a second
    point per sample, :math:`z_{t+1}`, so it goes through ``train_ensemble``'s ``penalty`` hook
    (which passes the differentiable batched model); everything else is ``train_ensemble``'s:
    stacked members, one Adam step for all, each member its own initialisation (``nn.Linear``
    default) and data order from :func:`~imagination.teacher_student.member_generators`.

    Parameters
    ----------
    z_t, z_next : array_like, shape (N, d)
        Consecutive latent states (shared by all members).
    curvature_weight : array_like, shape (M,)
        :math:`\lambda_m\ge0`, one per member (``M`` members).
    hidden, max_steps, batch_size, lr, seed
        MLP widths (ReLU, linear output) and Adam settings, as in ``train_ensemble``.

    Returns
    -------
    Ensemble
        The velocity maps; ``losses`` holds each member's total loss per step.

    Raises
    ------
    ValueError
        On mismatched or non-finite data, negative weights or non-positive sizes.
    """
    za = np.asarray(z_t, dtype=np.float32)
    zb = np.asarray(z_next, dtype=np.float32)
    if za.ndim != 2 or za.shape != zb.shape or za.shape[0] < 1:
        raise ValueError(f"z_t and z_next must both be (N, d) with N >= 1; got {za.shape}, "
                         f"{zb.shape}")
    lam = np.asarray(curvature_weight, dtype=float)
    if lam.ndim != 1 or lam.size < 1 or not np.all(np.isfinite(lam) & (lam >= 0)):
        raise ValueError(f"curvature_weight must be a 1-D array of finite weights >= 0 (one per "
                         f"member), got {curvature_weight!r}")
    if not hidden:
        raise ValueError(f"hidden must be a non-empty sequence of positive integers, "
                         f"got {hidden!r}")
    weight = torch.tensor(lam, dtype=torch.float32)

    def curvature(model: Any, xb: torch.Tensor, yb: torch.Tensor,
                  pred: torch.Tensor) -> torch.Tensor:
        # the model's own velocity one step later, at z_{t+1} = z_t + (z_{t+1} - z_t)
        cos = torch.nn.functional.cosine_similarity(pred, model(xb + yb), dim=-1)
        return weight * (1.0 - cos).mean(dim=1)

    # the data order and every check of the squared-loss part are train_ensemble's own
    return train_ensemble(za, zb - za, n_members=lam.size, hidden=hidden, epochs=2**62,
                          max_steps=max_steps, batch_size=batch_size, lr=lr, seed=seed,
                          penalty=curvature)


@dataclass(frozen=True)
class CurvaturePenalty:
    r"""Result of :func:`curvature_penalty_experiment`; per-member arrays are ordered
    weight-major (member ``i`` has weight ``weights[i // n_seeds]``).

    Attributes
    ----------
    weights : ndarray, shape (K,)
        Curvature weights :math:`\lambda`.
    n_seeds : int
    curvature : ndarray, shape (M,)
        Mean curvature loss of the model's consecutive velocities on held-out pairs.
    fit : ndarray, shape (M,)
        Held-out mean squared error of the velocity (per coordinate).
    L_lower, L_upper : ndarray, shape (M,)
        :func:`jacobian_norm_lower` on the held-out states and :func:`lipschitz_upper_bound`.
    true_curvature : float
        Mean curvature loss of the true field on the same pairs.
    true_L : float
        The true field's Lipschitz constant :math:`\varepsilon` (exact).
    true_L_lower : float
        :func:`jacobian_norm_lower` of the true field on the held-out states (what the models'
        lower estimate is measured against).
    ensemble : Ensemble
    config : dict
    """

    weights: NDArray[np.float64]
    n_seeds: int
    curvature: NDArray[np.float64] = field(repr=False)
    fit: NDArray[np.float64] = field(repr=False)
    L_lower: NDArray[np.float64] = field(repr=False)
    L_upper: NDArray[np.float64] = field(repr=False)
    true_curvature: float
    true_L: float
    true_L_lower: float
    ensemble: Ensemble = field(repr=False)
    config: dict[str, Any] = field(default_factory=dict)

    def by_weight(self, name: str) -> NDArray[np.float64]:
        """A per-member field reshaped to ``(K, n_seeds)``."""
        values = getattr(self, name, None)
        if (not isinstance(values, np.ndarray)
                or values.shape != (self.weights.size * self.n_seeds,)):
            raise ValueError(f"{name!r} is not a per-member field of CurvaturePenalty")
        return values.reshape(self.weights.size, self.n_seeds)


def curvature_penalty_experiment(
    weights: ArrayLike,
    *,
    n_seeds: int = 3,
    eps: float = 0.5,
    drift: float = 0.75,
    n_trajectories: int = 400,
    length: int = 8,
    max_steps: int = 1500,
    lr: float = 3e-3,
    hidden: Sequence[int] = (64,),
    seed: int = 0,
) -> CurvaturePenalty:
    r"""The converse of Proposition 1, measured: does penalising curvature lower the Lipschitz
    constant of a learned velocity map?

    Latent trajectories :math:`z_{t+1}=z_t+v(z_t)` of a 2-D sine field
    :math:`v(z)=c+\varepsilon\,Q\sin(Pz+\varphi)`
    (:func:`~imagination.straightening.random_velocity_fields`, exactly
    :math:`\varepsilon`-Lipschitz) with a drift :math:`c=(\texttt{drift},0)`; since
    :math:`\|Q\sin(\cdot)\|\le\sqrt2`, ``drift`` :math:`>\sqrt2\,\varepsilon` keeps
    :math:`v\ne0` everywhere, so the curvature loss is defined. ``n_trajectories`` start uniformly
    in :math:`[-2,2]^2` and run ``length`` steps; a random half of the trajectories trains, the
    other half is held out. For every weight :math:`\lambda`, ``n_seeds`` velocity maps are fitted
    by :func:`train_velocity_ensemble` (one call for all members) and measured on the held-out
    pairs.

    Parameters
    ----------
    weights : array_like, shape (K,)
        Curvature weights :math:`\lambda\ge0`.
    n_seeds : int
    eps, drift : float
        The field's Lipschitz constant (in (0, 1)) and drift (> ``sqrt(2) * eps``).
    n_trajectories, length : int
        Data: trajectories (>= 2) and their number of steps.
    max_steps, lr, hidden
        Training, as in :func:`train_velocity_ensemble`.
    seed : int

    Returns
    -------
    CurvaturePenalty

    Raises
    ------
    ValueError
        For ``eps`` outside (0, 1), a drift that allows ``v = 0``, or bad sizes and weights.
    """
    from .straightening import curvature_loss, random_velocity_fields

    if not (0.0 < eps < 1.0):
        raise ValueError(f"eps must lie in (0, 1), got {eps!r}")
    if not (np.isfinite(drift) and drift > math.sqrt(2.0) * eps):
        raise ValueError(f"drift must exceed sqrt(2) * eps = {math.sqrt(2.0) * eps:.4g} so that "
                         f"the velocity never vanishes, got {drift!r}")
    for name, value, low in (("n_seeds", n_seeds, 1), ("n_trajectories", n_trajectories, 2),
                             ("length", length, 1)):
        if isinstance(value, bool) or int(value) != value or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    lam = np.asarray(weights, dtype=float)
    if lam.ndim != 1 or lam.size < 1:
        raise ValueError(f"weights must be a 1-D array of curvature weights, got {weights!r}")
    rng = np.random.default_rng(seed)
    field_ = random_velocity_fields("sine", [eps], 2, rng=rng, offset_scale=0.0)
    c = np.array([drift, 0.0])

    def v(z: np.ndarray) -> np.ndarray:
        return c + field_(z[None])[0]

    z = [rng.uniform(-2.0, 2.0, size=(int(n_trajectories), 2))]
    for _ in range(int(length)):  # only time is sequential
        z.append(z[-1] + v(z[-1]))
    traj = np.stack(z, axis=1)  # (n_trajectories, length + 1, 2)
    order = rng.permutation(int(n_trajectories))
    half = int(n_trajectories) // 2
    train, test = traj[order[:half]], traj[order[half:]]
    za, zb = train[:, :-1].reshape(-1, 2), train[:, 1:].reshape(-1, 2)
    ta, tb = test[:, :-1].reshape(-1, 2), test[:, 1:].reshape(-1, 2)
    ens = train_velocity_ensemble(za, zb, np.repeat(lam, int(n_seeds)), hidden=hidden,
                                  max_steps=max_steps, lr=lr, seed=seed)
    pa, pb = ens.predict(ta), ens.predict(tb)
    P = torch.from_numpy(field_.inner[0])
    Q = torch.from_numpy(field_.linear[0])
    phase = torch.from_numpy(field_.phase[0])

    def v_torch(x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(c) + eps * torch.sin(x @ P.T + phase) @ Q.T

    return CurvaturePenalty(
        weights=lam, n_seeds=int(n_seeds),
        curvature=np.asarray(curvature_loss(pa, pb)).mean(axis=1),
        fit=((pa - (tb - ta)) ** 2).mean(axis=(1, 2)),
        L_lower=np.atleast_1d(jacobian_norm_lower(ens, ta)),
        L_upper=np.atleast_1d(lipschitz_upper_bound(ens)),
        true_curvature=float(np.mean(curvature_loss(v(ta), v(tb)))),
        true_L=float(eps),
        true_L_lower=float(jacobian_norm_lower(v_torch, ta)),
        ensemble=ens,
        config=dict(eps=eps, drift=drift, n_trajectories=n_trajectories, length=length,
                    max_steps=max_steps, lr=lr, hidden=tuple(hidden), seed=seed,
                    n_train_pairs=za.shape[0], n_test_pairs=ta.shape[0]),
    )
