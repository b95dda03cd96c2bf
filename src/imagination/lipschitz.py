r"""Lipschitz constants of neural networks: certified upper bounds and Jacobian lower estimates.

Lemma 1 needs the Lipschitz constants :math:`L_f, L_r, L_\pi` of the models it is applied to. For
an MLP :math:`x\mapsto W_n\sigma(\cdots\sigma(W_1x+b_1)\cdots)+b_n` with 1-Lipschitz activations
(ReLU, tanh), the product of the layers' spectral norms bounds the Lipschitz constant in the
Euclidean norm from **above** (:func:`lipschitz_upper_bound`); the largest spectral norm of the
Jacobian over sample points bounds it from **below** (:func:`jacobian_norm_lower`). With
``input_blocks`` both refer to the sum metric of Lemma 1 on :math:`(s,a)`,
:math:`\|s-s'\|+\|a-a'\|`: the first layer's factor becomes the largest spectral norm of its
blocks, and the Jacobian's norm the largest norm of its blocks (the operator norm from the sum
metric to the Euclidean norm). Weight matrices follow the row convention of
:class:`~imagination.ensemble.Ensemble`: ``W`` of shape ``(..., d_in, d_out)``, applied as
``x @ W`` (pass ``nn.Linear.weight.T``).

Used by chapter 2 (Corollary 1: the capacity trade-off, :mod:`imagination.capacity`; the
curvature penalty, :mod:`imagination.curvature_penalty`) and chapter 7 (certificates of the
Pendulum models). Corollary 1 itself, the monotonicity of the dynamics coefficient of Eq. (1), is
:func:`~imagination.bounds.dynamics_coefficient` and its gradient.

References
----------
Timor, Shwartz-Ziv, Goldblum, LeCun, Harel, "On Training in Imagination", arXiv:2605.06732,
Corollary 1. Miyato et al. (2018), spectral normalisation. Gouk et al. (2021), Lipschitz
regularisation.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray

from ._checks import as_output
from .ensemble import Ensemble

__all__ = [
    "jacobian_norm_lower",
    "lipschitz_block_bounds",
    "lipschitz_upper_bound",
    "spectral_norms",
]

# Names that lived here before chapter 2's experiments got modules of their own (old paths keep
# working: ``imagination.lipschitz.capacity_tradeoff``).
_MOVED = {
    "SaturatedRotation": "imagination.capacity",
    "CapacityTradeoff": "imagination.capacity",
    "capacity_tradeoff": "imagination.capacity",
    "CurvaturePenalty": "imagination.curvature_penalty",
    "curvature_penalty_experiment": "imagination.curvature_penalty",
    "train_velocity_ensemble": "imagination.curvature_penalty",
}


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        return getattr(importlib.import_module(_MOVED[name]), name)
    raise AttributeError(f"module 'imagination.lipschitz' has no attribute {name!r}")


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
        return as_output(lipschitz_block_bounds(mats, input_blocks).max(axis=-1))
    bound = torch.linalg.matrix_norm(mats[0], ord=2)
    for w in mats[1:]:
        bound = bound * torch.linalg.matrix_norm(w, ord=2)
    return as_output(bound.numpy())


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
        An :class:`~imagination.ensemble.Ensemble` (its differentiable ``forward``), or a
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
    return as_output(best.numpy())
