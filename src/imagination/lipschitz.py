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

import copy
import importlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise as itertools_pairwise
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray

from ._checks import as_output
from .ensemble import Ensemble

__all__ = [
    "ACTIVATION_LIPSCHITZ",
    "ModuleLipschitz",
    "jacobian_norm_lower",
    "lipschitz_block_bounds",
    "lipschitz_upper_bound",
    "module_lipschitz",
    "planar_relu_lipschitz",
    "sequential_from_state_dict",
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


def _check_residual(residual: Any, d_in: int, d_out: int) -> bool:
    if not isinstance(residual, bool):
        raise ValueError(f"residual must be True or False, got {residual!r}")
    if residual and d_in != d_out:
        raise ValueError(f"residual=True needs equal input and output dimensions (the map "
                         f"x + net(x)), got {d_in} and {d_out}")
    return residual


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


def lipschitz_upper_bound(weights: Weights, *, input_blocks: Sequence[int] | None = None,
                          residual: bool = False) -> Any:
    r"""Upper bound on the Lipschitz constant of an MLP with 1-Lipschitz activations.

    Without ``input_blocks``: :math:`\prod_k\|W_k\|_2`, a bound in the Euclidean norm on the
    input, hence also for the sum metric of Lemma 1, since
    :math:`\|(s,a)\|_2\le\|s\|+\|a\|`. With ``input_blocks = (d_s, d_a)``: the tighter bound for the
    sum metric, :math:`\max_b\|W_1^{(b)}\|_2\prod_{k\ge2}\|W_k\|_2`, where :math:`W_1^{(b)}` are the
    rows of the first layer that read block :math:`b` (the operator norm of :math:`x\mapsto xW_1`
    from :math:`\sum_b\|x_b\|` to the Euclidean norm is the largest block norm; see
    :func:`lipschitz_block_bounds`). Biases do not change a Lipschitz constant; activations with
    constant at most 1 do not raise it.

    With ``residual=True`` the map is :math:`x\mapsto x+\mathrm{MLP}(x)` (latent dynamics
    :math:`f=\mathrm{id}+v` of Proposition 1): by the triangle inequality its constant is at most
    one plus the network's (the identity is 1-Lipschitz in the Euclidean norm and, with blocks,
    from the sum metric, since :math:`\|x\|_2\le\sum_b\|x_b\|`).

    Parameters
    ----------
    weights : Ensemble or list of array_like
        Layer ``k`` of shape ``(..., d_k, d_{k+1})``, applied as ``x @ W``.
    input_blocks : sequence of int, optional
        Sizes of the input blocks whose norms are summed, e.g. ``(d_s, d_a)``.
    residual : bool
        Bound the constant of :math:`x+\mathrm{MLP}(x)` instead (input and output dimensions
        equal).

    Returns
    -------
    float or ndarray, shape (...)
        One bound per member (a ``float`` for a single network).

    Raises
    ------
    ValueError
        As :func:`spectral_norms`, blocks that do not sum to the input dimension, or
        ``residual`` with different input and output dimensions.
    """
    mats = _as_weight_list(weights)
    shift = 1.0 if _check_residual(residual, mats[0].shape[-2], mats[-1].shape[-1]) else 0.0
    if input_blocks is not None:
        return as_output(shift + lipschitz_block_bounds(mats, input_blocks).max(axis=-1))
    bound = torch.linalg.matrix_norm(mats[0], ord=2)
    for w in mats[1:]:
        bound = bound * torch.linalg.matrix_norm(w, ord=2)
    return as_output(shift + bound.numpy())


def _point_jacobians(fn: Callable[[torch.Tensor], torch.Tensor], xt: torch.Tensor,
                     chunk: int) -> Iterator[torch.Tensor]:
    """The Jacobian at each point, chunk by chunk: float64 tensors (..., P_chunk, d_out, d_in).

    One backward pass per output coordinate; row ``p`` of the output must depend only on row
    ``p`` of the input (true for MLPs applied point-wise)."""
    for part in torch.split(xt, chunk, dim=-2):
        leaf = part.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            out = fn(leaf)
            if out.shape[:-1] != leaf.shape[:-1]:
                raise ValueError(f"func must map (..., P, d_in) to (..., P, d_out) with the same "
                                 f"leading axes; got {tuple(leaf.shape)} -> {tuple(out.shape)} "
                                 "(for an ensemble pass x as (M, P, d_in))")
            rows = [torch.autograd.grad(out[..., j].sum(), leaf, retain_graph=True)[0]
                    for j in range(out.shape[-1])]
        yield torch.stack(rows, dim=-2).double()  # (..., P, d_out, d_in)


def jacobian_norm_lower(
    func: Ensemble | Callable[[torch.Tensor], torch.Tensor],
    x: ArrayLike | torch.Tensor,
    *,
    input_blocks: Sequence[int] | None = None,
    chunk: int = 4096,
    residual: bool = False,
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
    ``p`` (true for MLPs applied point-wise). With ``residual=True`` the Jacobian is that of
    :math:`x\mapsto x+\mathrm{func}(x)`, :math:`I+J(x)`.

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
    residual : bool
        Estimate the constant of :math:`x+\mathrm{func}(x)` instead (``d_out == d_in``).

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
    for jac in _point_jacobians(fn, xt.to(dtype), chunk):
        if _check_residual(residual, jac.shape[-1], jac.shape[-2]):
            jac = jac + torch.eye(jac.shape[-1], dtype=jac.dtype)
        if blocks is None:
            norms = torch.linalg.matrix_norm(jac, ord=2)
        else:
            norms = torch.stack([torch.linalg.matrix_norm(j, ord=2)
                                 for j in torch.split(jac, blocks, dim=-1)], -1).amax(-1)
        top = norms.amax(-1)
        best = top if best is None else torch.maximum(best, top)
    assert best is not None
    return as_output(best.numpy())


def planar_relu_lipschitz(net: Ensemble, *, residual: bool = False, tol: float = 1e-9) -> Any:
    r"""The exact Lipschitz constant, on all of :math:`\mathbb R^2`, of one-hidden-layer ReLU
    networks with two inputs: a certificate with no slack.

    A network :math:`x\mapsto W_2^\top\mathrm{ReLU}(W_1^\top x+b_1)+b_2` is affine on each region
    of the arrangement of the lines :math:`\ell_k=\{x:\ a_k^\top x+c_k=0\}` (:math:`a_k` the
    :math:`k`-th column of :math:`W_1`), with Jacobian :math:`W_1D W_2` (row convention),
    :math:`D` the diagonal 0/1 pattern of the active units. On a convex domain a continuous
    piecewise-affine map has as Lipschitz constant the largest operator norm of its pieces
    (split any segment at the lines it crosses), so the constant is the largest
    :math:`\|W_1DW_2\|_2` over the patterns of the regions with an interior. Every such region has
    a vertex :math:`\ell_i\cap\ell_j` on its boundary unless all lines are parallel (a region
    without a vertex is bounded by whole lines, a half-plane or a strip, which any non-parallel
    line would cross), and when no third line passes through that vertex the four regions around
    it have the pattern of the other units at the vertex and the four choices for units
    :math:`i,j`. So the maximum over all vertices of these four patterns is the constant,
    exactly (up to rounding). With ``residual=True`` the Jacobians are :math:`I+W_1DW_2`: the
    constant of :math:`x\mapsto x+\mathrm{net}(x)`, the latent dynamics :math:`f=\mathrm{id}+v`
    of Proposition 1 when the network is a velocity map :math:`v`.

    Parameters
    ----------
    net : Ensemble
        Two layers (one hidden ReLU layer), input dimension 2, linear output; all members.
    residual : bool
        The constant of :math:`x+\mathrm{net}(x)` (output dimension 2).
    tol : float
        Relative tolerance of the general-position checks (parallel lines, a third line through
        a vertex).

    Returns
    -------
    float or ndarray, shape (M,)
        One constant per member (a ``float`` for one member); it is at least
        :func:`jacobian_norm_lower` on any points and at most :func:`lipschitz_upper_bound`.

    Raises
    ------
    ValueError
        For another architecture, or a network whose lines are not in general position (all
        parallel, or three through one point): there the enumeration could miss a region.
    """
    if not isinstance(net, Ensemble):
        raise ValueError(f"net must be an Ensemble, got {type(net).__name__}")
    if len(net.params) != 2 or net.output != "linear" or net.params[0][0].shape[-2] != 2:
        raise ValueError("planar_relu_lipschitz needs one hidden ReLU layer, two inputs and a "
                         "linear output")
    W1, c = (t.detach().double().numpy() for t in net.params[0])  # (M, 2, n), (M, n)
    W2 = net.params[1][0].detach().double().numpy()  # (M, n, d_out)
    identity = np.eye(2) if _check_residual(residual, 2, W2.shape[-1]) else 0.0
    if not (np.isfinite(tol) and 0 < tol < 1):
        raise ValueError(f"tol must lie in (0, 1), got {tol!r}")
    M, n = c.shape
    norm_a = np.linalg.norm(W1, axis=1)  # (M, n)
    live = norm_a > 0  # a unit with a_k = 0 is constant: no line, and its pattern never matters
    rank1 = np.einsum("mdk,mko->mkdo", W1, W2)  # (M, n, 2, d_out): unit k's term of the Jacobian
    i_all, j_all = np.triu_indices(n, 1)
    best = np.zeros(M)
    found = np.zeros(M, dtype=bool)
    for start in range(0, i_all.size, 2048):
        i, j = i_all[start:start + 2048], j_all[start:start + 2048]
        ai, aj, ci, cj = W1[:, :, i], W1[:, :, j], c[:, i], c[:, j]  # (M, 2, P), (M, P)
        det = ai[:, 0] * aj[:, 1] - ai[:, 1] * aj[:, 0]
        ok = np.abs(det) > tol * norm_a[:, i] * norm_a[:, j]  # not parallel (nor a dead unit)
        safe = np.where(ok, det, 1.0)
        x = np.stack([(-ci * aj[:, 1] + ai[:, 1] * cj) / safe,
                      (-ai[:, 0] * cj + aj[:, 0] * ci) / safe], axis=1)  # (M, 2, P): vertices
        pre = np.einsum("mdk,mdp->mpk", W1, x) + c[:, None, :]  # (M, P, n)
        scale = norm_a[:, None, :] * np.linalg.norm(x, axis=1)[:, :, None] + np.abs(c)[:, None]
        near = (np.abs(pre) <= tol * scale) & live[:, None, :]
        near[:, np.arange(i.size), i] = near[:, np.arange(i.size), j] = False
        if np.any(near & ok[:, :, None]):
            raise ValueError("the network's lines are not in general position (three through "
                             "one vertex): the enumeration of its regions would not be exact")
        active = (pre > 0) & live[:, None, :]
        active[:, np.arange(i.size), i] = active[:, np.arange(i.size), j] = False
        base = np.einsum("mpk,mkdo->mpdo", active.astype(float), rank1) + identity
        ri, rj = rank1[:, i], rank1[:, j]  # (M, P, 2, d_out)
        jac = np.stack([base, base + ri, base + rj, base + ri + rj], axis=2)
        norms = np.linalg.norm(jac, ord=2, axis=(-2, -1)).max(axis=2)  # (M, P)
        best = np.maximum(best, np.where(ok, norms, 0.0).max(axis=1))
        found |= ok.any(axis=1)
    if not np.all(found):
        raise ValueError("every member needs two units with non-parallel lines: with all lines "
                         "parallel the regions have no vertex to enumerate")
    return as_output(best)


# --------------------------------------------------------------------------- a user's network

#: Lipschitz constant of each supported activation: :math:`\sup_x|\sigma'(x)|`, rounded *up*
#: (derivations in :func:`module_lipschitz`). LeakyReLU and ELU depend on their parameter.
ACTIVATION_LIPSCHITZ: dict[str, float | str] = {
    "ReLU": 1.0,
    "Tanh": 1.0,
    "Sigmoid": 0.25,
    "LeakyReLU": "max(1, |negative_slope|)",
    "ELU": "max(1, |alpha|)",
    "SiLU": 1.09984,
    "GELU": 1.128905,  # approximate="none" (erf form)
    "GELU(tanh)": 1.128994,  # approximate="tanh"
}


@dataclass(frozen=True)
class ModuleLipschitz:
    r"""Lipschitz constant of a network, bracketed: what :func:`module_lipschitz` returns.

    Attributes
    ----------
    upper : float or ndarray
        Certified upper bound (Euclidean norms on input and output); with ``input_blocks`` one
        entry per block: the constant in that block with the others held fixed.
    lower : float or ndarray
        The largest spectral norm of the Jacobian over the points (of its column block, with
        ``input_blocks``): a lower estimate, since the constant is at least that.
    layers : tuple of str
        Each layer with the factor it contributes to ``upper``, e.g. ``"Linear(16->64) 3.21"``.
    input_blocks : tuple of int or None
        The blocks of the sum metric, e.g. ``(d_s, d_a)``.
    residual : bool
        Whether the map bounded is :math:`s + \mathrm{net}(s, a)`.
    n_points : int
        Points the lower estimate looked at.
    """

    upper: Any
    lower: Any
    layers: tuple[str, ...]
    input_blocks: tuple[int, ...] | None
    residual: bool
    n_points: int

    @property
    def upper_max(self) -> float:
        r"""The upper bound for Lemma 1's sum metric, :math:`\max_b` of ``upper`` (``upper``
        itself without blocks): :math:`\|g(x)-g(x')\|\le\sum_bL_b\|x_b-x'_b\|\le
        \max_bL_b\sum_b\|x_b-x'_b\|`."""
        return float(np.max(self.upper))

    @property
    def lower_max(self) -> float:
        """The lower estimate for the sum metric, :math:`\\max_b` of ``lower``."""
        return float(np.max(self.lower))


def _activation_constant(layer: torch.nn.Module) -> float | None:
    """The Lipschitz constant of a supported activation, ``None`` for any other layer."""
    nn = torch.nn
    if isinstance(layer, nn.ReLU | nn.Tanh):
        return 1.0
    if isinstance(layer, nn.Sigmoid):
        return 0.25
    if isinstance(layer, nn.LeakyReLU):
        return max(1.0, abs(float(layer.negative_slope)))
    if isinstance(layer, nn.ELU):
        return max(1.0, abs(float(layer.alpha)))
    if isinstance(layer, nn.SiLU):
        return float(ACTIVATION_LIPSCHITZ["SiLU"])
    if isinstance(layer, nn.GELU):
        key = "GELU(tanh)" if layer.approximate == "tanh" else "GELU"
        return float(ACTIVATION_LIPSCHITZ[key])
    return None


def _flat_layers(module: torch.nn.Module) -> list[torch.nn.Module]:
    if isinstance(module, torch.nn.Sequential):
        return [leaf for child in module for leaf in _flat_layers(child)]
    return [module]


def module_lipschitz(module: torch.nn.Module, x: ArrayLike | torch.Tensor, *,
                     input_blocks: Sequence[int] | None = None,
                     residual: bool = False) -> ModuleLipschitz:
    r"""Certified upper bound and Jacobian lower estimate of a torch network's Lipschitz constant.

    For :math:`g=\ell_K\circ\cdots\circ\ell_1`, each layer either affine,
    :math:`\ell(h)=Wh+b`, or an activation applied entry by entry, the Lipschitz constant in the
    Euclidean norm satisfies

    .. math::

       \max_p\|J_g(x_p)\|_2\ \le\ \mathrm{Lip}(g)\ \le\ \prod_{\ell\ \text{affine}}\|W_\ell\|_2
       \prod_{\ell\ \text{activation}}\sup_t|\sigma_\ell'(t)|,

    the right side because a composition's constant is at most the product of its layers'
    constants, an affine layer's is :math:`\|W\|_2` (biases do not matter) and an entry-wise
    activation's is :math:`\sup|\sigma'|` (its Jacobian is diagonal); the left side because the
    Jacobian's norm at a differentiable point never exceeds the constant. The spectral norms are
    exact singular values in float64, so a single ``Linear`` gives ``upper == lower``.

    The activation constants :math:`\sup_t|\sigma'(t)|` (:data:`ACTIVATION_LIPSCHITZ`):

    * ReLU: :math:`\sigma'\in\{0,1\}`, so 1. LeakyReLU with slope :math:`s`:
      :math:`\sigma'\in\{s,1\}`, so :math:`\max(1,|s|)`.
    * Tanh: :math:`\sigma'=1-\tanh^2t\le1`, equality at 0. Sigmoid:
      :math:`\sigma'=\sigma(1-\sigma)\le1/4` (the product of two numbers summing to 1), at 0.
    * ELU with parameter :math:`\alpha`: :math:`\sigma'=1` for :math:`t>0` and
      :math:`\alpha e^t` for :math:`t<0`, of modulus below :math:`|\alpha|`, so
      :math:`\max(1,|\alpha|)`.
    * SiLU, :math:`t\,\mathrm{sigmoid}(t)`: :math:`\sigma'=s(1+t(1-s))` with
      :math:`s=\mathrm{sigmoid}(t)`, and :math:`\sigma''=s(1-s)(2+t(1-2s))` vanishes where
      :math:`t\tanh(t/2)=2`, :math:`t^*=\pm2.399357`: the maximum is
      :math:`\sigma'(t^*)=1.0998393`, the minimum :math:`1-1.0998393=-0.0998393` (since
      :math:`\sigma'(t)+\sigma'(-t)=1`); constant 1.09984.
    * GELU, :math:`t\,\Phi(t)`: :math:`\sigma'=\Phi(t)+t\varphi(t)` and
      :math:`\sigma''=\varphi(t)(2-t^2)` vanishes at :math:`t=\pm\sqrt2`:
      :math:`\sigma'(\sqrt2)=\Phi(\sqrt2)+\sqrt2\,\varphi(\sqrt2)=1.1289041`, and
      :math:`\sigma'(-\sqrt2)=-0.1289041`; constant 1.128905. The tanh approximation
      (``approximate="tanh"``) has its maximum 1.1289931 (found numerically); constant 1.128994.

    The constants are rounded *up* (1.0998 for SiLU or 1.1289 for GELU would sit below the
    supremum and certify nothing); the tests check each against a dense grid of the derivative.

    Parameters
    ----------
    module : torch.nn.Module
        A ``torch.nn.Sequential`` (nested ones are flattened) of ``Linear`` layers and ReLU,
        LeakyReLU, Tanh, Sigmoid, ELU, SiLU or GELU activations; a bare ``Linear`` counts as a
        one-layer network. Its parameters are copied to float64 on the CPU (a module on a GPU
        works too); the module is not changed.
    x : array_like or torch.Tensor, shape (n, d_in)
        Points for the lower estimate: where the network is used (e.g. the states and actions of
        the training data). The upper bound does not depend on them.
    input_blocks : sequence of int, optional
        Sizes of the input blocks of Lemma 1's sum metric, e.g. ``(d_s, d_a)``: ``upper`` and
        ``lower`` then hold one entry per block, the first layer's factor being the spectral
        norm of the columns that read the block (:func:`lipschitz_block_bounds`). The constant
        for the sum metric is their maximum (:attr:`ModuleLipschitz.upper_max`).
    residual : bool
        Bound :math:`s+\mathrm{net}(s,a)` instead of the network: with ``input_blocks`` the state
        is the first block and the output must have its size; without, ``d_out == d_in``. The
        state block's upper bound becomes :math:`1+U_s` (triangle inequality; exactly
        :math:`\|I+W_s\|_2` for a single ``Linear``) and its lower estimate
        :math:`\max_p\|I+J_s(x_p)\|_2`.

    Returns
    -------
    ModuleLipschitz
        ``upper`` and ``lower``: floats, or arrays of one entry per block.

    Raises
    ------
    ValueError
        For a layer that is not a ``Linear`` or a supported activation (the message names it),
        a module that is not such a sequence, layer sizes that do not chain, non-finite
        weights, ``x`` of the wrong shape or not finite, blocks that do not sum to ``d_in``, or
        a residual map whose output size does not match its state.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 2))
    >>> r = module_lipschitz(net, torch.randn(5, 3))
    >>> bool(abs(r.upper - r.lower) < 1e-12)  # one Linear: both are ||W||_2
    True
    """
    nn = torch.nn
    if not isinstance(module, nn.Module):
        raise ValueError(f"module must be a torch.nn.Module (a torch.nn.Sequential of Linear "
                         f"layers and activations), got {type(module).__name__}")
    layers = _flat_layers(module)
    if not layers:
        raise ValueError("module is an empty torch.nn.Sequential: there is no network to bound")
    supported = "Linear, ReLU, LeakyReLU, Tanh, Sigmoid, ELU, SiLU, GELU"
    factors: list[float | torch.Tensor] = []
    names: list[str] = []
    d_in = d_cur = None
    first_linear = None
    for k, layer in enumerate(layers):
        if isinstance(layer, nn.Linear):
            w = layer.weight.detach().to(device="cpu", dtype=torch.float64)
            if not bool(torch.isfinite(w).all()) or (
                    layer.bias is not None and not bool(torch.isfinite(layer.bias).all())):
                raise ValueError(f"layer {k} ({layer}): weights must be finite")
            if d_cur is not None and w.shape[1] != d_cur:
                raise ValueError(f"layer {k} ({layer}) takes {w.shape[1]} inputs but the layers "
                                 f"before it give {d_cur}")
            d_in = w.shape[1] if d_in is None else d_in
            d_cur = w.shape[0]
            if first_linear is None:
                first_linear = (len(factors), w)
            norm = torch.linalg.matrix_norm(w, ord=2)
            factors.append(norm)
            names.append(f"Linear({w.shape[1]}->{w.shape[0]}) {float(norm):.6g}")
            continue
        c = _activation_constant(layer)
        if c is None:
            raise ValueError(f"layer {k} is {type(layer).__name__} ({layer}): module_lipschitz "
                             f"supports only {supported}")
        factors.append(c)
        names.append(f"{layer} {c:g}")

    xt = torch.as_tensor(x.detach().cpu() if isinstance(x, torch.Tensor) else np.asarray(x))
    if (xt.dim() != 2 or xt.shape[0] == 0 or not torch.is_floating_point(xt)
            or not bool(torch.isfinite(xt).all())):
        raise ValueError(f"x must be a finite float array of points (n, d_in) with n >= 1, got "
                         f"shape {tuple(xt.shape)}")
    if d_in is not None and xt.shape[1] != d_in:
        raise ValueError(f"x has {xt.shape[1]} columns but the network takes {d_in} inputs")
    d_in = int(xt.shape[1])
    d_out = d_in if d_cur is None else int(d_cur)
    blocks = _check_blocks(input_blocks, d_in)
    if residual:
        d_state = d_in if blocks is None else blocks[0]
        if d_out != d_state:
            need = ("the state block, input_blocks[0]" if blocks is not None
                    else "the input (no input_blocks given)")
            raise ValueError(f"residual=True bounds s + net(s, a), so the output size {d_out} "
                             f"must equal that of {need} = {d_state}")

    # Upper bound: per block, the product of every layer's factor, the first Linear's factor
    # replaced by the spectral norm of its columns that read the block.
    part_blocks = [d_in] if blocks is None else blocks
    rest = torch.tensor(1.0, dtype=torch.float64)
    for j, f in enumerate(factors):
        if first_linear is None or j != first_linear[0]:
            rest = rest * f
    if first_linear is None:
        block_norms = torch.ones(len(part_blocks), dtype=torch.float64)
        w_first = None
    else:
        w_first = first_linear[1]
        block_norms = torch.stack([torch.linalg.matrix_norm(p, ord=2)
                                   for p in torch.split(w_first, part_blocks, dim=1)])
    upper = (block_norms * rest).numpy()
    single_linear = len(layers) == 1 and first_linear is not None
    if residual:
        if single_linear:
            assert w_first is not None
            w_s = w_first[:, :part_blocks[0]]
            upper[0] = float(torch.linalg.matrix_norm(
                torch.eye(w_s.shape[0], dtype=torch.float64) + w_s, ord=2))
        else:
            upper[0] = 1.0 + upper[0]

    # Lower estimate: the Jacobian at every point, in float64, of each column block.
    net = copy.deepcopy(module).to(device="cpu", dtype=torch.float64)
    lower = np.zeros(len(part_blocks))
    for jac in _point_jacobians(net, xt.to(torch.float64), 4096):
        parts = list(torch.split(jac, part_blocks, dim=-1))
        if residual:
            parts[0] = parts[0] + torch.eye(parts[0].shape[-1], dtype=torch.float64)
        top = torch.stack([torch.linalg.matrix_norm(p, ord=2).amax(-1) for p in parts]).numpy()
        lower = np.maximum(lower, top)
    if blocks is None:
        upper_out: Any = float(upper[0])
        lower_out: Any = float(lower[0])
    else:
        upper_out, lower_out = upper, lower
    return ModuleLipschitz(upper_out, lower_out, tuple(names),
                           None if blocks is None else tuple(blocks), bool(residual),
                           int(xt.shape[0]))


#: Activation names of :func:`sequential_from_state_dict` -> the torch layer.
_ACTIVATION_LAYERS: dict[str, Callable[[], torch.nn.Module]] = {
    "relu": torch.nn.ReLU,
    "leaky_relu": torch.nn.LeakyReLU,
    "tanh": torch.nn.Tanh,
    "sigmoid": torch.nn.Sigmoid,
    "elu": torch.nn.ELU,
    "silu": torch.nn.SiLU,
    "gelu": torch.nn.GELU,
    "gelu_tanh": lambda: torch.nn.GELU(approximate="tanh"),
}


def sequential_from_state_dict(state_dict: Any, layers: Sequence[int],
                               activation: str) -> torch.nn.Sequential:
    r"""Rebuild ``Sequential(Linear, activation, Linear, ..., Linear)`` from its state_dict.

    The network has ``len(layers) - 1`` Linear layers, the :math:`k`-th mapping
    ``layers[k]`` to ``layers[k + 1]`` inputs, with ``activation`` between them; in the
    state_dict of such a ``torch.nn.Sequential`` the :math:`k`-th Linear is module ``2k``, so the
    keys are ``0.weight, 0.bias, 2.weight, 2.bias, ...`` (a layer without bias has no
    ``.bias`` key). Every key, shape and value is checked before anything is loaded.

    Parameters
    ----------
    state_dict : mapping of str to torch.Tensor
        E.g. ``torch.load(path, weights_only=True)`` of ``torch.save(model.state_dict(), path)``.
    layers : sequence of int
        Layer sizes, input first, at least two, e.g. ``(16, 64, 12)``.
    activation : str
        One of ``relu, leaky_relu, tanh, sigmoid, elu, silu, gelu, gelu_tanh`` (torch's default
        parameters: LeakyReLU slope 0.01, ELU alpha 1).

    Returns
    -------
    torch.nn.Sequential
        In float32 (or the state's dtype), in eval mode.

    Raises
    ------
    ValueError
        If the object is not a mapping of tensors, a key is missing or unexpected, a shape
        differs from what ``layers`` needs, a value is not finite, or the activation is unknown.
    """
    if activation not in _ACTIVATION_LAYERS:
        raise ValueError(f"activation must be one of {', '.join(_ACTIVATION_LAYERS)}, got "
                         f"{activation!r}")
    sizes = [int(v) for v in layers]
    if len(sizes) < 2 or any(v < 1 for v in sizes):
        raise ValueError(f"layers must be at least two sizes >= 1, input first, got {layers!r}")
    if not isinstance(state_dict, dict) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state_dict.items()):
        raise ValueError(f"the file holds a {type(state_dict).__name__}, not a state_dict (a "
                         "dict of tensors, as model.state_dict() gives)")
    shown = ", ".join(list(state_dict)[:8]) + (", ..." if len(state_dict) > 8 else "")
    spec = ",".join(map(str, sizes))
    modules: list[torch.nn.Module] = []
    expected = set()
    for k, (a, b) in enumerate(itertools_pairwise(sizes)):
        w_key, b_key = f"{2 * k}.weight", f"{2 * k}.bias"
        if w_key not in state_dict:
            raise ValueError(f"no key {w_key!r} for Linear({a}, {b}) of layers {spec} (keys "
                             f"found: {shown or 'none'})")
        w = state_dict[w_key]
        bias = state_dict.get(b_key)
        for key, value, shape in ((w_key, w, (b, a)), (b_key, bias, (b,))):
            if value is None:
                continue
            if tuple(value.shape) != shape:
                raise ValueError(f"{key!r} has shape {tuple(value.shape)}, but layers {spec} need "
                                 f"{shape} (Linear({a}, {b}))")
            if not torch.is_floating_point(value) or not bool(torch.isfinite(value).all()):
                raise ValueError(f"{key!r} must hold finite floating-point numbers")
        lin = torch.nn.Linear(a, b, bias=bias is not None, dtype=w.dtype)
        with torch.no_grad():
            lin.weight.copy_(w)
            if bias is not None:
                lin.bias.copy_(bias)
        expected |= {w_key} | ({b_key} if bias is not None else set())
        if k:
            modules.append(_ACTIVATION_LAYERS[activation]())
        modules.append(lin)
    extra = [key for key in state_dict if key not in expected]
    if extra:
        raise ValueError(f"unexpected keys {', '.join(extra[:5])}: the file holds another "
                         f"network than Linear layers {spec} with {activation} between (keys "
                         f"found: {shown})")
    return torch.nn.Sequential(*modules).eval()
