r"""Teacher-student learning curves (§4.1, Figure 1) and the batched ensemble trainer.

The paper measures how the errors of a learned dynamics model and a learned reward model fall with
their sample sizes (Eq. (3)) on frozen random *teacher* networks: two-layer ReLU MLPs of width 64
with weights :math:`\mathcal N(0,1)`, :math:`d_s=12`, :math:`d_a=4`,

.. math::

   s_{t+1}=\tanh\bigl(f_{\rm dyn}([s_t,a_t])\bigr),\qquad r_t=f_{\rm rew}([s_t,a_t])/\sqrt{64},

and *students* of the same architecture trained with Adam (lr :math:`10^{-3}`, batch 256, 200
epochs) on :math:`N` transitions, 100 seeds per :math:`N`.

The headline is :func:`train_ensemble`: the members of an experiment (seeds, sizes' replicas,
Lipschitz caps) are trained as *one* batched model. Weights are stacked along a leading member
axis, every layer is one batched matmul, and one Adam step updates all members. Each member keeps
its own initialisation and data order, drawn from its own ``torch.Generator``, so member ``m``'s
result does not depend on how many members share its batch, and a plain per-member loop
(:func:`train_sequential`, the reference) reproduces it up to float32 rounding.

Decisions the paper leaves open (documented in chapter 3):

* behaviour policy: :math:`s_0\sim U[-1,1]^{d_s}`, :math:`a_t\sim U[-1,1]^{d_a}` i.i.d., episodes of
  500 steps;
* each seed draws its own subset of :math:`N` transitions from a pool of collected episodes twice
  the largest :math:`N`, plus its own initialisation and data order (teachers fixed);
* students: the teacher's architecture, PyTorch's default ``nn.Linear`` initialisation, and the
  dynamics student keeps the teacher's ``tanh`` output;
* error of one held-out transition: the Euclidean norm :math:`\|\hat y-y\|` (the norm of Eq. (1));
  the metrics are its mean square (MSE), the root of that (RMSE) and its maximum over the held-out
  set (an empirical sup: an *estimate* of Eq. (1)'s :math:`\varepsilon`).
"""

from __future__ import annotations

import itertools
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray

from .scaling import PowerLawFit, fit_power_law
from .timing import machine_record

__all__ = [
    "ERROR_METRICS",
    "PAPER_SIZES",
    "Ensemble",
    "ScalingResult",
    "Teachers",
    "collect_transitions",
    "heldout_errors",
    "load_scaling_record",
    "make_teachers",
    "member_generators",
    "mlp_forward",
    "scaling_experiment",
    "train_ensemble",
    "train_sequential",
]

ERROR_METRICS = ("mse", "rmse", "max")
#: The sample sizes of Figure 1 (§4.1): 2k to 200k transitions.
PAPER_SIZES: tuple[int, ...] = (2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 200_000)
_OUTPUTS = ("linear", "tanh")
_INITS = ("default", "normal", "fan_in")
Params = list[tuple[torch.Tensor, torch.Tensor]]
#: An extra loss term of train_ensemble: (model, xb, yb, pred) -> one value per member.
Penalty = Callable[[Callable[[torch.Tensor], torch.Tensor], torch.Tensor, torch.Tensor,
                    torch.Tensor], torch.Tensor]


# --------------------------------------------------------------------------- the MLP itself
def _init_layer(
    d_in: int, d_out: int, init: str, generator: torch.Generator, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """One layer's (W, b), W of shape (d_in, d_out) (the transpose of ``nn.Linear.weight``)."""
    if init == "default":
        # nn.Linear's default: kaiming_uniform(a=sqrt(5)) for W and U(+-1/sqrt(fan_in)) for b,
        # both of which are U(-1/sqrt(d_in), 1/sqrt(d_in)).
        bound = 1.0 / math.sqrt(d_in)
        w = (torch.rand(d_out, d_in, generator=generator, dtype=dtype) * 2 - 1) * bound
        b = (torch.rand(d_out, generator=generator, dtype=dtype) * 2 - 1) * bound
    else:
        scale = 1.0 if init == "normal" else 1.0 / math.sqrt(d_in)
        w = torch.randn(d_out, d_in, generator=generator, dtype=dtype) * scale
        b = torch.randn(d_out, generator=generator, dtype=dtype) * scale
    return w.T.contiguous(), b


def _init_members(
    sizes: Sequence[int], generators: Sequence[torch.Generator], init: str, dtype: torch.dtype
) -> Params:
    """Stacked parameters: member m's layers drawn from ``generators[m]`` only."""
    per_member = [
        [_init_layer(a, b, init, g, dtype) for a, b in itertools.pairwise(sizes)]
        for g in generators
    ]
    return [
        (torch.stack([m[k][0] for m in per_member]), torch.stack([m[k][1] for m in per_member]))
        for k in range(len(sizes) - 1)
    ]


def mlp_forward(params: Params, x: torch.Tensor, *, output: str = "linear") -> torch.Tensor:
    """Batched MLP: ReLU between layers, ``output`` (``"linear"`` or ``"tanh"``) after the last.

    Parameters
    ----------
    params : list of (W, b)
        ``W`` of shape ``(M, d_in, d_out)`` and ``b`` of shape ``(M, d_out)`` for each layer.
    x : torch.Tensor, shape (M, P, d_in)
        Inputs of each member.

    Returns
    -------
    torch.Tensor, shape (M, P, d_out)
    """
    h = x
    last = len(params) - 1
    for k, (w, b) in enumerate(params):
        h = torch.baddbmm(b.unsqueeze(1), h, w)
        if k < last:
            h = torch.relu(h)
    return torch.tanh(h) if output == "tanh" else h


def member_generators(seed: int, n_members: int) -> list[torch.Generator]:
    """One ``torch.Generator`` per member, seeded from ``numpy.random.SeedSequence(seed)``.

    Member ``m``'s stream depends on ``(seed, m)`` only, not on ``n_members``.
    """
    children = np.random.SeedSequence(seed).spawn(n_members)
    return [torch.Generator().manual_seed(int(c.generate_state(1, np.uint64)[0] >> 1))
            for c in children]


# --------------------------------------------------------------------------- the ensemble
@dataclass
class Ensemble:
    """``M`` MLPs with stacked parameters, as returned by :func:`train_ensemble`.

    Attributes
    ----------
    params : list of (W, b)
        Layer ``k``: ``W`` of shape ``(M, d_k, d_{k+1})`` (the transpose of ``nn.Linear.weight``),
        ``b`` of shape ``(M, d_{k+1})``.
    output : str
        ``"linear"`` or ``"tanh"``, applied after the last layer.
    losses : ndarray, shape (steps, M)
        Training loss (mean squared error of the batch, per member) at every step.
    steps : int
        Optimiser steps taken.
    """

    params: Params
    output: str
    losses: np.ndarray = field(repr=False)
    steps: int = 0

    @property
    def n_members(self) -> int:
        return int(self.params[0][0].shape[0])

    @property
    def weights(self) -> list[torch.Tensor]:
        """The stacked weight matrices, ``(M, d_in, d_out)`` each."""
        return [w for w, _ in self.params]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Differentiable forward pass; ``x`` is ``(P, d_in)`` (shared) or ``(M, P, d_in)``."""
        if x.dim() == 2:
            x = x.unsqueeze(0).expand(self.n_members, -1, -1)
        return mlp_forward(self.params, x, output=self.output)

    def predict(self, x: ArrayLike, *, chunk: int = 65536) -> NDArray[np.float64]:
        """Predictions ``(M, P, d_out)``, float64, for inputs ``(P, d_in)`` or ``(M, P, d_in)``."""
        xt = torch.as_tensor(np.asarray(x), dtype=self.params[0][0].dtype)
        axis = xt.dim() - 2
        with torch.no_grad():
            parts = [self.forward(p) for p in torch.split(xt, chunk, dim=axis)]
        return torch.cat(parts, dim=1).double().numpy()


def _check_data(x: Any, y: Any, n_members: Any, index: Any) -> tuple[torch.Tensor, torch.Tensor,
                                                                      torch.Tensor]:
    """Pool (P, d_in), targets (P, d_out) and per-member row index (M, n)."""
    xa = np.asarray(x, dtype=np.float32)
    ya = np.asarray(y, dtype=np.float32)
    if ya.ndim == xa.ndim - 1:
        ya = ya[..., None]
    if xa.ndim not in (2, 3) or ya.shape[:-1] != xa.shape[:-1]:
        raise ValueError(
            f"x must be (N, d_in) or (M, N, d_in) and y (N, d_out) or (M, N, d_out) with the same "
            f"leading axes; got x {xa.shape} and y {ya.shape}")
    if not (np.all(np.isfinite(xa)) and np.all(np.isfinite(ya))):
        raise ValueError("x and y must be finite")
    if xa.ndim == 3:
        if index is not None or n_members is not None:
            raise ValueError("with per-member data x of shape (M, N, d_in), give neither index "
                             "nor n_members")
        M, n = xa.shape[:2]
        idx = np.arange(M * n).reshape(M, n)
        xa, ya = xa.reshape(M * n, -1), ya.reshape(M * n, -1)
    elif index is not None:
        if n_members is not None:
            raise ValueError("give either index (each member's rows) or n_members, not both")
        idx = np.asarray(index)
        if idx.ndim != 2 or not np.issubdtype(idx.dtype, np.integer) or idx.size == 0:
            raise ValueError(f"index must be a non-empty integer array (M, n), got {idx.shape}")
        if idx.min() < 0 or idx.max() >= xa.shape[0]:
            raise ValueError(f"index rows must lie in [0, {xa.shape[0]})")
    else:
        if n_members is None or int(n_members) != n_members or n_members < 1:
            raise ValueError("with shared data x of shape (N, d_in), give n_members >= 1 "
                             "(or index, each member's rows)")
        idx = np.broadcast_to(np.arange(xa.shape[0]), (int(n_members), xa.shape[0]))
    if xa.shape[0] == 0:
        raise ValueError("x has no rows")
    return torch.from_numpy(xa), torch.from_numpy(ya), torch.from_numpy(np.array(idx, np.int64))


def _check_caps(lipschitz_cap: Any, n_members: int, n_layers: int) -> torch.Tensor | None:
    if lipschitz_cap is None:
        return None
    cap = np.asarray(lipschitz_cap, dtype=float)
    if cap.ndim == 1:
        cap = cap[:, None]  # one cap per member, for every layer
    try:
        cap = np.broadcast_to(cap, (n_members, n_layers))
    except ValueError:
        raise ValueError(
            f"lipschitz_cap must be a scalar, (M,) or (M, n_layers) = ({n_members}, {n_layers}); "
            f"got shape {np.shape(lipschitz_cap)}") from None
    if np.any(~np.isfinite(cap)) or np.any(cap <= 0):
        raise ValueError("every lipschitz_cap must be finite and > 0")
    return torch.tensor(cap, dtype=torch.float32)


def _project_spectral(w: torch.Tensor, cap: torch.Tensor) -> None:
    """Scale each member's matrix down to spectral norm <= cap (in place; no-op below the cap)."""
    sigma = torch.linalg.matrix_norm(w, ord=2)
    w.mul_(torch.clamp(cap / sigma.clamp_min(1e-30), max=1.0)[:, None, None])


def _check_training(hidden: Any, output: Any, epochs: Any, max_steps: Any, batch_size: Any,
                    lr: Any) -> tuple[int, ...]:
    widths = tuple(int(h) for h in hidden)
    if any(h < 1 for h in widths) or tuple(hidden) != widths:
        raise ValueError(f"hidden must be a sequence of positive integers, got {hidden!r}")
    if output not in _OUTPUTS:
        raise ValueError(f"output must be one of {_OUTPUTS}, got {output!r}")
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    if max_steps is not None and (int(max_steps) != max_steps or max_steps < 1):
        raise ValueError(f"max_steps must be None or an integer >= 1, got {max_steps!r}")
    if not (np.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be finite and > 0, got {lr!r}")
    return widths


def _n_steps(n: int, batch_size: int, epochs: int, max_steps: int | None) -> int:
    total = int(epochs) * math.ceil(n / batch_size)
    return total if max_steps is None else min(total, int(max_steps))


class _Problem(NamedTuple):
    """Validated inputs of a training run, shared by the fast path and its reference."""

    px: torch.Tensor  # (P, d_in) pool of inputs
    py: torch.Tensor  # (P, d_out) pool of targets
    idx: torch.Tensor  # (M, n) rows of each member
    sizes: tuple[int, ...]  # layer widths, input to output
    caps: torch.Tensor | None  # (M, n_layers) spectral caps
    steps: int
    per_epoch: int  # batches per epoch


def _problem(x: Any, y: Any, n_members: Any, index: Any, hidden: Any, output: Any, epochs: Any,
             max_steps: Any, batch_size: Any, lr: Any, lipschitz_cap: Any) -> _Problem:
    widths = _check_training(hidden, output, epochs, max_steps, batch_size, lr)
    px, py, idx = _check_data(x, y, n_members, index)
    M, n = idx.shape
    sizes = (px.shape[1], *widths, py.shape[1])
    caps = _check_caps(lipschitz_cap, M, len(sizes) - 1)
    return _Problem(px, py, idx, sizes, caps, _n_steps(n, batch_size, epochs, max_steps),
                    math.ceil(n / batch_size))


def train_ensemble(
    x: ArrayLike,
    y: ArrayLike,
    *,
    n_members: int | None = None,
    index: ArrayLike | None = None,
    hidden: Sequence[int] = (64,),
    output: Literal["linear", "tanh"] = "linear",
    epochs: int = 200,
    max_steps: int | None = None,
    batch_size: int = 256,
    lr: float = 1e-3,
    lipschitz_cap: float | ArrayLike | None = None,
    seed: int = 0,
    penalty: Penalty | None = None,
) -> Ensemble:
    """Train ``M`` MLP regressors as one batched ensemble with Adam and a squared loss.

    Every member has its own initialisation (PyTorch's ``nn.Linear`` default) and its own data
    order (a fresh permutation of its rows each epoch, the last batch of an epoch smaller, as
    ``DataLoader(shuffle=True)``), both drawn from its own generator (:func:`member_generators`).
    The loss is the *sum* over members of each member's batch mean squared error, so each member
    gets exactly its own gradient, and Adam, being element-wise, makes exactly its own update:
    the result equals :func:`train_sequential` up to float32 rounding.

    Parameters
    ----------
    x, y : array_like
        Inputs ``(N, d_in)`` and targets ``(N, d_out)`` (or ``(N,)``) shared by all members, or
        ``(M, N, d_in)`` and ``(M, N, d_out)``: each member its own data.
    n_members : int, optional
        With shared data and no ``index``: how many members (each its own init and order).
    index : array_like of int, shape (M, n), optional
        With shared data: member ``m`` trains on rows ``index[m]`` of ``x`` (its own subset).
    hidden : sequence of int
        Hidden widths (ReLU); the default ``(64,)`` is the paper's two-layer MLP of width 64.
    output : {"linear", "tanh"}
        Activation after the last layer (``"tanh"`` for the paper's dynamics student).
    epochs : int
        Passes over each member's ``n`` rows: ``epochs * ceil(n / batch_size)`` steps ...
    max_steps : int, optional
        ... at most this many (the scale setting's cap; training may stop mid-epoch).
    batch_size, lr : int, float
        Adam's batch size and learning rate (the paper: 256 and 1e-3; other Adam settings default).
    lipschitz_cap : float or array_like, optional
        Spectral-norm cap of each weight matrix: a scalar, one per member ``(M,)`` or per member
        and layer ``(M, n_layers)``. After every step each matrix is scaled down to spectral norm
        at most its cap (a projection; matrices under the cap are untouched), so member ``m`` is
        :math:`\\prod_k \\text{cap}_{mk}`-Lipschitz in the Euclidean norm (ReLU and tanh are
        1-Lipschitz), hence also for the sum metric on :math:`(s, a)` of Lemma 1
        (:math:`\\|(s,a)\\|_2\\le\\|s\\|+\\|a\\|`). The initial weights are projected too.
    seed : int
        Seed of the members' generators.
    penalty : callable, optional
        An extra term of each member's loss, ``penalty(model, xb, yb, pred) -> (M,)`` tensor, with
        ``model`` the differentiable batched forward (``(M, B, d_in) -> (M, B, d_out)``), the
        batch ``xb``, ``yb`` and the predictions ``pred = model(xb)`` (e.g. the curvature penalty
        of chapter 2, which needs the model at a second point). ``losses`` then hold the total.

    Returns
    -------
    Ensemble

    Raises
    ------
    ValueError
        On inconsistent shapes, non-finite data, a bad index, non-positive sizes, rates or caps.
    """
    px, py, idx, sizes, caps, steps, per_epoch = _problem(
        x, y, n_members, index, hidden, output, epochs, max_steps, batch_size, lr, lipschitz_cap)
    M, n = idx.shape
    gens = member_generators(seed, M)
    params = _init_members(sizes, gens, "default", torch.float32)
    flat = [t.requires_grad_() for layer in params for t in layer]
    opt = torch.optim.Adam(flat, lr=lr, foreach=True)
    if caps is not None:
        with torch.no_grad():
            for k, (w, _) in enumerate(params):
                _project_spectral(w, caps[:, k])
    losses = torch.empty(steps, M)
    step, perm = 0, None
    while step < steps:
        if step % per_epoch == 0:
            # One permutation per member and epoch, each from the member's own generator.
            perm = torch.stack([torch.randperm(n, generator=g) for g in gens])
        start = (step % per_epoch) * batch_size
        # gather + index_select: several times faster than advanced indexing on CPU
        batch = idx.gather(1, perm[:, start:start + batch_size]).view(-1)
        xb = px.index_select(0, batch).view(M, -1, px.shape[1])
        yb = py.index_select(0, batch).view(M, -1, py.shape[1])
        pred = mlp_forward(params, xb, output=output)
        per_member = ((pred - yb) ** 2).mean(dim=(1, 2))
        if penalty is not None:
            per_member = per_member + penalty(
                lambda z: mlp_forward(params, z, output=output), xb, yb, pred)
        opt.zero_grad(set_to_none=True)
        per_member.sum().backward()
        opt.step()
        if caps is not None:
            with torch.no_grad():
                for k, (w, _) in enumerate(params):
                    _project_spectral(w, caps[:, k])
        losses[step] = per_member.detach()
        step += 1
    for t in flat:
        t.requires_grad_(False)
    return Ensemble(params, output, losses.numpy(), steps)


def train_sequential(
    x: ArrayLike,
    y: ArrayLike,
    *,
    n_members: int | None = None,
    index: ArrayLike | None = None,
    hidden: Sequence[int] = (64,),
    output: Literal["linear", "tanh"] = "linear",
    epochs: int = 200,
    max_steps: int | None = None,
    batch_size: int = 256,
    lr: float = 1e-3,
    lipschitz_cap: float | ArrayLike | None = None,
    seed: int = 0,
) -> Ensemble:
    """The plain reference for :func:`train_ensemble`: one ``nn.Sequential`` and one
    ``torch.optim.Adam`` per member, trained in a Python loop over members and batches.

    Same arguments, same generators and hence the same initialisation and data order; returns the
    members stacked into an :class:`Ensemble` so the two can be compared. Slow by design: it is
    the reference of ``benchmarks/bench_teacher_student.py`` and of the equivalence test.
    """
    px, py, idx, sizes, caps, steps, per_epoch = _problem(
        x, y, n_members, index, hidden, output, epochs, max_steps, batch_size, lr, lipschitz_cap)
    M, n = idx.shape
    members, losses = [], torch.empty(steps, M)
    for m, g in enumerate(member_generators(seed, M)):
        layers: list[torch.nn.Module] = []
        for k, (a, b) in enumerate(itertools.pairwise(sizes)):
            lin = torch.nn.Linear(a, b)
            w, bias = _init_layer(a, b, "default", g, torch.float32)
            with torch.no_grad():
                lin.weight.copy_(w.T)
                lin.bias.copy_(bias)
            layers += [lin, torch.nn.ReLU()] if k < len(sizes) - 2 else [lin]
        if output == "tanh":
            layers.append(torch.nn.Tanh())
        net = torch.nn.Sequential(*layers)
        linears = [mod for mod in net if isinstance(mod, torch.nn.Linear)]

        def project(net_linears: list[torch.nn.Linear] = linears, member: int = m) -> None:
            if caps is None:
                return
            with torch.no_grad():
                for k, lin in enumerate(net_linears):
                    sigma = torch.linalg.matrix_norm(lin.weight, ord=2)
                    lin.weight.mul_(torch.clamp(caps[member, k] / sigma, max=1.0))

        project()
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        for step in range(steps):
            if step % per_epoch == 0:
                perm = torch.randperm(n, generator=g)
            start = (step % per_epoch) * batch_size
            rows = idx[m, perm[start:start + batch_size]]
            loss = torch.nn.functional.mse_loss(net(px[rows]), py[rows])
            opt.zero_grad()
            loss.backward()
            opt.step()
            project()
            losses[step, m] = loss.detach()
        members.append([(lin.weight.detach().T.contiguous(), lin.bias.detach().clone())
                        for lin in linears])
    params = [(torch.stack([mem[k][0] for mem in members]),
               torch.stack([mem[k][1] for mem in members])) for k in range(len(sizes) - 1)]
    return Ensemble(params, output, losses.numpy(), steps)


def heldout_errors(pred: ArrayLike, y: ArrayLike) -> dict[str, NDArray[np.float64]]:
    """Held-out errors of each member: MSE, RMSE and max of the per-transition Euclidean error.

    Parameters
    ----------
    pred : array_like, shape (M, P, d_out)
        Predictions of ``M`` members on ``P`` held-out transitions.
    y : array_like, shape (P, d_out) or (P,)
        Targets.

    Returns
    -------
    dict
        ``{"mse", "rmse", "max"}``, each of shape ``(M,)``. With
        :math:`e_i=\\|\\hat y_i-y_i\\|_2`: MSE :math:`=\\operatorname{mean}_i e_i^2`, RMSE its
        square root, max :math:`=\\max_i e_i`, an empirical sup-norm error (an estimate, from
        below, of Eq. (1)'s :math:`\\varepsilon`).
    """
    p = np.asarray(pred, dtype=float)
    t = np.asarray(y, dtype=float)
    if t.ndim == 1:
        t = t[:, None]
    if p.ndim != 3 or p.shape[1:] != t.shape:
        raise ValueError(
            f"pred must be (M, P, d_out) matching y (P, d_out); got {p.shape} and {t.shape}")
    e2 = np.sum((p - t) ** 2, axis=-1)
    mse = e2.mean(axis=1)
    return {"mse": mse, "rmse": np.sqrt(mse), "max": np.sqrt(e2.max(axis=1))}


# --------------------------------------------------------------------------- teachers and data
@dataclass(frozen=True)
class Teachers:
    """The frozen teachers of §4.1: ``s'=tanh(f_dyn([s, a]))`` and ``r=f_rew([s, a])/sqrt(width)``.

    Attributes
    ----------
    dyn, rew : list of (W, b)
        Single-member stacked parameters (float64) of the two MLPs.
    d_s, d_a, width : int
    init : str
        ``"normal"`` (weights and biases :math:`\\mathcal N(0,1)`, the paper) or ``"fan_in"``
        (:math:`\\mathcal N(0,1/\\text{fan-in})`).
    """

    dyn: Params = field(repr=False)
    rew: Params = field(repr=False)
    d_s: int
    d_a: int
    width: int
    init: str

    def _inputs(self, s: ArrayLike, a: ArrayLike) -> torch.Tensor:
        sa = np.concatenate([np.asarray(s, float), np.asarray(a, float)], axis=-1)
        if sa.shape[-1] != self.d_s + self.d_a:
            raise ValueError(f"states must have {self.d_s} and actions {self.d_a} coordinates")
        return torch.from_numpy(sa.reshape(1, -1, sa.shape[-1]))

    def preactivation(self, s: ArrayLike, a: ArrayLike) -> NDArray[np.float64]:
        """``f_dyn([s, a])``, the dynamics teacher's output before ``tanh``."""
        out = mlp_forward(self.dyn, self._inputs(s, a))
        return out[0].numpy().reshape(*np.shape(s)[:-1], self.d_s)

    def step(self, s: ArrayLike, a: ArrayLike) -> NDArray[np.float64]:
        """The true next state ``tanh(f_dyn([s, a]))``."""
        return np.tanh(self.preactivation(s, a))

    def reward(self, s: ArrayLike, a: ArrayLike) -> NDArray[np.float64]:
        """The true reward ``f_rew([s, a]) / sqrt(width)``."""
        out = mlp_forward(self.rew, self._inputs(s, a))[0, :, 0].numpy()
        return out.reshape(np.shape(s)[:-1]) / math.sqrt(self.width)


def make_teachers(
    d_s: int = 12, d_a: int = 4, width: int = 64, *, init: str = "normal", seed: int = 0
) -> Teachers:
    """Draw the two frozen teachers of §4.1 (one hidden layer of ``width``, with biases).

    Parameters
    ----------
    d_s, d_a, width : int
        State and action dimensions and hidden width (the paper: 12, 4, 64).
    init : {"normal", "fan_in"}
        ``"normal"``: weights and biases :math:`\\mathcal N(0,1)`, as the paper states;
        ``"fan_in"``: :math:`\\mathcal N(0,1/\\text{fan-in})`, which does not saturate ``tanh``.
    seed : int
        Seed of the teachers' generator.
    """
    for name, value in (("d_s", d_s), ("d_a", d_a), ("width", width)):
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    if init not in ("normal", "fan_in"):
        raise ValueError(f"teacher init must be 'normal' or 'fan_in', got {init!r}")
    g = torch.Generator().manual_seed(int(seed))
    d_in = d_s + d_a
    dyn = _init_members((d_in, width, d_s), [g], init, torch.float64)
    rew = _init_members((d_in, width, 1), [g], init, torch.float64)
    return Teachers(dyn, rew, int(d_s), int(d_a), int(width), init)


def collect_transitions(
    teachers: Teachers, n_episodes: int, *, episode_length: int = 500, rng: np.random.Generator
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Roll out the behaviour policy on the teachers: ``n_episodes`` episodes, vectorised.

    Behaviour policy (our choice; the paper does not state one): :math:`s_0\\sim U[-1,1]^{d_s}`
    and actions :math:`a_t\\sim U[-1,1]^{d_a}` i.i.d.

    Returns
    -------
    x : ndarray, shape (n_episodes * episode_length, d_s + d_a)
        The inputs :math:`[s_t, a_t]`, episode by episode.
    s_next : ndarray, shape (n_episodes * episode_length, d_s)
    r : ndarray, shape (n_episodes * episode_length,)
    """
    for name, value in (("n_episodes", n_episodes), ("episode_length", episode_length)):
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    s = rng.uniform(-1, 1, size=(n_episodes, teachers.d_s))
    a = rng.uniform(-1, 1, size=(episode_length, n_episodes, teachers.d_a))
    states = np.empty((episode_length + 1, n_episodes, teachers.d_s))
    states[0] = s
    for t in range(episode_length):  # only time is sequential
        states[t + 1] = teachers.step(states[t], a[t])
    x = np.concatenate([states[:-1], a], axis=-1).transpose(1, 0, 2).reshape(-1, teachers.d_s
                                                                               + teachers.d_a)
    r = teachers.reward(x[:, :teachers.d_s], x[:, teachers.d_s:])
    return x, states[1:].transpose(1, 0, 2).reshape(-1, teachers.d_s), r


# --------------------------------------------------------------------------- the experiment
@dataclass(frozen=True)
class ScalingResult:
    """Learning curves of :func:`scaling_experiment`.

    Attributes
    ----------
    sizes : ndarray, shape (S,)
        The sample sizes :math:`N`.
    errors : dict
        ``errors[model][metric]`` of shape ``(S, n_seeds)``; ``model`` in ``{"dyn", "rew"}``,
        ``metric`` in :data:`ERROR_METRICS`.
    steps : ndarray, shape (S,)
        Optimiser steps per member at each size.
    seconds : float
        Wall-clock time of the training.
    preactivation_std : float
        Standard deviation of the dynamics teacher's pre-``tanh`` output on the data.
    saturated_fraction : float
        Fraction of next-state coordinates with :math:`|s'|>0.99` (``tanh`` saturated).
    """

    sizes: np.ndarray
    errors: dict[str, dict[str, np.ndarray]] = field(repr=False)
    steps: np.ndarray
    seconds: float
    preactivation_std: float
    saturated_fraction: float
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def n_seeds(self) -> int:
        return int(next(iter(self.errors.values()))["rmse"].shape[1])

    def at_sizes(self, sizes: Sequence[int]) -> ScalingResult:
        """The learning curves at ``sizes`` only (each one of ``self.sizes``; ``seconds`` kept).

        For comparing two runs on the sizes they share, e.g. a capped run with the recorded
        paper-scale one.
        """
        wanted = np.asarray(sizes)
        missing = sorted(set(wanted.ravel().tolist()) - set(self.sizes.tolist()))
        if wanted.ndim != 1 or wanted.size == 0 or missing:
            raise ValueError(f"sizes must be a non-empty subset of {self.sizes.tolist()}; "
                             f"not in it: {missing}")
        keep = np.isin(self.sizes, wanted)
        return replace(self, sizes=self.sizes[keep], steps=self.steps[keep],
                       errors={m: {k: v[keep] for k, v in d.items()}
                               for m, d in self.errors.items()})

    def fit(self, model: str, metric: str = "rmse", *, n_boot: int = 1000,
            rng: np.random.Generator) -> PowerLawFit:
        """Fit Eq. (3) to one learning curve (every seed a row) with :func:`fit_power_law`."""
        if model not in self.errors or metric not in ERROR_METRICS:
            raise ValueError(f"model must be 'dyn' or 'rew' and metric one of {ERROR_METRICS}")
        err = self.errors[model][metric]
        return fit_power_law(np.repeat(self.sizes, err.shape[1]), err.ravel(), n_boot=n_boot,
                             rng=rng)


def scaling_experiment(
    sizes: Sequence[int],
    n_seeds: int,
    *,
    epochs: int = 200,
    max_steps: int | None = None,
    d_s: int = 12,
    d_a: int = 4,
    width: int = 64,
    teacher_init: str = "normal",
    n_test: int = 5000,
    episode_length: int = 500,
    models: Sequence[str] = ("dyn", "rew"),
    seed: int = 0,
    checkpoint: str | os.PathLike[str] | None = None,
    on_chunk: Callable[[str, int, dict[str, Any]], None] | None = None,
) -> ScalingResult:
    """Run the §4.1 teacher-student experiment: learning curves of dynamics and reward students.

    For every size ``N`` in ``sizes``, ``n_seeds`` students of each model are trained as one
    :func:`train_ensemble`, each on its own random subset of ``N`` transitions drawn without
    replacement from a pool of ``2 * max(sizes)`` collected transitions, with its own
    initialisation and data order; errors are measured on ``n_test`` held-out transitions from
    separate episodes.

    Parameters
    ----------
    sizes : sequence of int
        Sample sizes (the paper: 2k, 5k, 10k, 20k, 50k, 100k, 200k).
    n_seeds : int
        Students per size and model (the paper: 100).
    epochs, max_steps : int
        Passes over the data (the paper: 200) and an optional cap on optimiser steps.
    d_s, d_a, width, teacher_init
        Teacher dimensions and initialisation (:func:`make_teachers`).
    n_test, episode_length : int
        Held-out transitions (the paper: 5,000) and episode length (500).
    models : sequence of str
        Which students to train: ``"dyn"``, ``"rew"`` or both.
    seed : int
        Seeds the teachers, the data, the subsets and the students.
    checkpoint : path, optional
        A JSON file that makes a long run resumable (the paper scale takes hours on 2 CPU cores).
        After each *chunk* (one model at one size) its errors, optimiser steps, wall-clock seconds
        and :func:`~imagination.timing.machine_record` are written there; a later call with the
        same configuration skips the chunks the file holds and trains the rest. Every random draw
        is made in the same order either way, so a resumed run gives the straight run's result.
    on_chunk : callable, optional
        Called as ``on_chunk(model, n, chunk)`` after each chunk is trained (and checkpointed),
        with ``chunk`` the dict just recorded; an exception it raises stops the run there (a
        runner with a deadline does that).

    Returns
    -------
    ScalingResult
        ``seconds`` is the sum of the chunks' measured times (recorded ones included).

    Raises
    ------
    ValueError
        On bad sizes or counts, or a ``checkpoint`` written for another configuration.
    """
    size_arr = np.asarray(sizes)
    if size_arr.ndim != 1 or size_arr.size < 1 or np.any(size_arr < 1) or not np.all(
            size_arr == np.round(size_arr)):
        raise ValueError(f"sizes must be a non-empty sequence of positive integers, got {sizes!r}")
    if int(n_seeds) != n_seeds or n_seeds < 1:
        raise ValueError(f"n_seeds must be an integer >= 1, got {n_seeds!r}")
    if int(n_test) != n_test or n_test < 1:
        raise ValueError(f"n_test must be an integer >= 1, got {n_test!r}")
    if not models or any(m not in ("dyn", "rew") for m in models):
        raise ValueError(f"models must be a non-empty subset of ('dyn', 'rew'), got {models!r}")
    size_arr = size_arr.astype(int)
    seeds = np.random.SeedSequence(seed).spawn(3)
    teachers = make_teachers(d_s, d_a, width, init=teacher_init,
                             seed=int(seeds[0].generate_state(1)[0]))
    rng = np.random.default_rng(seeds[1])
    pool_size = 2 * int(size_arr.max())
    x, s_next, r = collect_transitions(teachers, math.ceil(pool_size / episode_length),
                                       episode_length=episode_length, rng=rng)
    x_test, s_test, r_test = collect_transitions(teachers, math.ceil(n_test / episode_length),
                                                 episode_length=episode_length, rng=rng)
    x_test, s_test, r_test = x_test[:n_test], s_test[:n_test], r_test[:n_test]
    pre = teachers.preactivation(x[:, :d_s], x[:, d_s:])
    targets = {"dyn": (s_next, "tanh", s_test), "rew": (r, "linear", r_test)}
    config = dict(n_seeds=int(n_seeds), epochs=epochs, max_steps=max_steps, d_s=d_s, d_a=d_a,
                  width=width, teacher_init=teacher_init, n_test=n_test,
                  episode_length=episode_length, seed=seed)
    data = {"preactivation_std": float(pre.std()),
            "saturated_fraction": float(np.mean(np.abs(s_next) > 0.99))}
    store = _Checkpoint(checkpoint, {**config, "sizes": size_arr.tolist(),
                                     "models": list(models)}, data)
    chunks = store.chunks
    student_seeds = seeds[2].generate_state(2 * size_arr.size)
    for i, n in enumerate(size_arr):
        # Each seed its own subset: the first n of an independent permutation of the pool.
        index = np.argsort(rng.random((int(n_seeds), x.shape[0])), axis=1)[:, :n]
        for j, model in enumerate(models):
            key = f"{model}:{n}"
            if key in chunks:
                continue
            y, output, y_test = targets[model]
            start = time.perf_counter()
            ens = train_ensemble(x, y, index=index, output=output, epochs=epochs,  # type: ignore[arg-type]
                                 max_steps=max_steps, seed=int(student_seeds[2 * i + j]))
            err = heldout_errors(ens.predict(x_test), y_test)
            store.add(key, {"model": model, "n": int(n), "steps": int(ens.steps),
                            "seconds": time.perf_counter() - start,
                            "errors": {k: v.tolist() for k, v in err.items()}})
            if on_chunk is not None:
                on_chunk(model, int(n), chunks[key])
    return _result_from_chunks(chunks, size_arr.tolist(), list(models), config, data)


def _result_from_chunks(chunks: dict[str, dict[str, Any]], sizes: list[int], models: list[str],
                        config: dict[str, Any], data: dict[str, float]) -> ScalingResult:
    """Assemble the learning curves of ``sizes`` (every model of each recorded in ``chunks``)."""
    used = [chunks[f"{m}:{n}"] for n in sizes for m in models]
    return ScalingResult(
        sizes=np.array(sizes, dtype=int),
        errors={m: {k: np.array([chunks[f"{m}:{n}"]["errors"][k] for n in sizes])
                    for k in ERROR_METRICS} for m in models},
        steps=np.array([chunks[f"{models[-1]}:{n}"]["steps"] for n in sizes]),
        seconds=float(sum(c["seconds"] for c in used)),
        config=config,
        **data,
    )


def load_scaling_record(path: str | os.PathLike[str]) -> ScalingResult:
    """The learning curves recorded so far in a :func:`scaling_experiment` checkpoint file.

    A long run (``benchmarks/paper_scale_figure1.py``: Figure 1 at the paper's scale) is recorded
    chunk by chunk; this returns the sizes at which every model is recorded, in order, and lists
    the others in ``config["pending_sizes"]`` (empty once the run is complete).

    Parameters
    ----------
    path : path
        The checkpoint (a JSON file written by :func:`scaling_experiment`).

    Returns
    -------
    ScalingResult
        ``seconds`` is the measured training time of the sizes returned.

    Raises
    ------
    ValueError
        If the file is missing, is not such a checkpoint, or holds no complete size yet.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no scaling_experiment record at {path}")
    data = _read_checkpoint(path)
    config, chunks = dict(data["config"]), data["chunks"]
    sizes, models = config.pop("sizes"), config.pop("models")
    done = [n for n in sizes if all(f"{m}:{n}" in chunks for m in models)]
    if not done:
        raise ValueError(f"{path} holds no size at which every model is trained yet")
    config["pending_sizes"] = [n for n in sizes if n not in done]
    return _result_from_chunks(chunks, done, models, config, data["data"])


_CHECKPOINT_KIND = "scaling_experiment checkpoint"


def _read_checkpoint(path: Path) -> dict[str, Any]:
    """The JSON object of a checkpoint file, or ValueError if it is not one."""
    data = json.loads(path.read_text())
    if not isinstance(data, dict) or data.get("kind") != _CHECKPOINT_KIND:
        raise ValueError(f"{path} is not a scaling_experiment checkpoint")
    return data


class _Checkpoint:
    """Chunk records keyed ``"model:n"``, kept in a JSON file when a path is given."""

    def __init__(self, path: str | os.PathLike[str] | None, config: dict[str, Any],
                 data: dict[str, float]) -> None:
        self.path = None if path is None else Path(path)
        self.config = json.loads(json.dumps(config))  # as JSON returns it: tuples become lists
        self.data = data  # statistics of the collected data: a fingerprint of teachers and data
        self.chunks: dict[str, dict[str, Any]] = {}
        if self.path is not None and self.path.exists():
            saved = _read_checkpoint(self.path)
            if saved["config"] != self.config:
                raise ValueError(
                    f"checkpoint {self.path} was written for another configuration "
                    f"({saved['config']}; this run: {self.config}): give a new path or delete "
                    f"the file")
            # same configuration but other data means the code that draws them has changed
            if not all(np.isclose(saved["data"][k], v, rtol=1e-9, atol=0) for k, v in data.items()):
                raise ValueError(
                    f"checkpoint {self.path} was written for other teachers or data "
                    f"({saved['data']}; this run: {data}): the code that draws them has changed")
            self.chunks = saved["chunks"]

    def add(self, key: str, chunk: dict[str, Any]) -> None:
        """Record a chunk (with where and when it ran) and rewrite the file atomically."""
        self.chunks[key] = {**chunk, **machine_record()}
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(self.path.name + ".tmp")
            tmp.write_text(json.dumps({"kind": _CHECKPOINT_KIND, "config": self.config,
                                       "data": self.data, "chunks": self.chunks},
                                      indent=1) + "\n")
            os.replace(tmp, self.path)  # a run killed mid-write leaves the old file whole
