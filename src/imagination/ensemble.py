r"""The batched ensemble trainer: many small MLP regressors trained as one model.

Chapters 2, 3 and 7 train many small networks at once (seeds, data sizes, Lipschitz caps,
curvature weights). :func:`train_ensemble` stacks their weights along a leading member axis, runs
every layer as one batched matmul and updates all members with one Adam step. Each member keeps its
own initialisation and data order, drawn from its own ``torch.Generator``
(:func:`member_generators`), so member ``m``'s result does not depend on how many members share
its batch, and a plain per-member loop (:func:`train_sequential`, the reference) reproduces it up
to float32 rounding. :func:`heldout_errors` measures the members on held-out data.

Used by §4.1's teacher-student experiment (:mod:`imagination.teacher_student`, chapter 3, Figure
1), the capacity trade-off and the curvature penalty of chapter 2 (:mod:`imagination.capacity`,
:mod:`imagination.curvature_penalty`) and the Pendulum models of chapter 7
(:mod:`imagination.pendulum`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray

from imagination._checks import check_int, check_nonneg
from imagination._ensemble_step import _BETA1, _BETA2, _project_spectral, train_flat

__all__ = [
    "ERROR_METRICS",
    "Ensemble",
    "heldout_errors",
    "init_members",
    "member_generators",
    "mlp_forward",
    "rounding_tolerance",
    "train_ensemble",
    "train_sequential",
]

#: The held-out error metrics of :func:`heldout_errors`: per transition vector (the Euclidean
#: norm of Eq. (1)) and per element (PyTorch's default ``MSELoss`` averages over elements).
ERROR_METRICS = ("mse", "rmse", "max", "mse_elem", "rmse_elem", "max_elem")
_OUTPUTS = ("linear", "tanh")
_INITS = ("default", "normal", "fan_in")
#: Stacked parameters: one ``(W, b)`` per layer, ``W`` of shape ``(M, d_in, d_out)``.
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


def init_members(
    sizes: Sequence[int], generators: Sequence[torch.Generator], init: str, dtype: torch.dtype
) -> Params:
    """Stacked parameters of ``len(generators)`` MLPs with layer widths ``sizes``.

    Member ``m``'s layers are drawn from ``generators[m]`` only. ``init``: ``"default"``
    (``nn.Linear``'s), ``"normal"`` (weights and biases :math:`\\mathcal N(0,1)`) or ``"fan_in"``
    (:math:`\\mathcal N(0,1/\\text{fan-in})`).
    """
    if init not in _INITS:
        raise ValueError(f"init must be one of {_INITS}, got {init!r}")
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
    best_steps : ndarray of int, shape (M,), optional
        With early stopping (``train_ensemble(validation=...)``): the steps each member had
        taken at its best validation loss, whose parameters ``params`` hold.
    """

    params: Params
    output: str
    losses: np.ndarray = field(repr=False)
    steps: int = 0
    best_steps: np.ndarray | None = field(default=None, repr=False)

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
        w = self.params[0][0]
        xt = torch.as_tensor(np.asarray(x), dtype=w.dtype, device=w.device)
        axis = xt.dim() - 2
        with torch.no_grad():
            parts = [self.forward(p) for p in torch.split(xt, chunk, dim=axis)]
        return torch.cat(parts, dim=1).double().cpu().numpy()


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
    device: str | torch.device = "cpu",
    workers: int | None = None,
    validation: tuple[ArrayLike, ArrayLike] | None = None,
    patience: int = 10,
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
    device : str or torch.device
        Where the parameters, data and work live (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...); the
        returned parameters stay there. Permutations are drawn on the CPU from the members'
        generators, so the data order is the same on every device.
    workers : int, optional
        On the CPU, the members are split into this many groups, each trained in its own thread
        with one intra-op thread (members never interact); default ``torch.get_num_threads()`` on
        the CPU, 1 elsewhere. The result does not depend on it.
    validation : (x_val, y_val), optional
        Early stopping: validation inputs and targets, shared ``(V, d_in)``, ``(V, d_out)`` or
        one set per member ``(M, V, d_in)``, ``(M, V, d_out)``. After every epoch (and the last
        step) each member's validation mean squared error is computed; a member whose best has
        not improved for ``patience`` epochs is done, training ends when every member is done
        (``epochs`` is then the most it may take), and each member returns the parameters of
        its best epoch (:attr:`Ensemble.best_steps`). Not with ``penalty``.
    patience : int
        Epochs without a better validation loss before a member is done.

    Returns
    -------
    Ensemble

    Raises
    ------
    ValueError
        On inconsistent shapes, non-finite data, a bad index, non-positive sizes, rates or caps.

    Notes
    -----
    Without ``penalty`` the step is written by hand: for one hidden layer whose width is a
    multiple of 16, 1 to 16 outputs, on the CPU and without caps, a C kernel compiled on first
    use (``imagination._ensemble_kernel``; a machine without a C compiler, or
    ``IMAGINATION_KERNEL=off``, falls back), else torch operations over flat buffers (forward,
    backward and Adam; ``imagination._ensemble_step``). Both are float32 throughout and equal
    :func:`train_sequential` to float32 rounding. With ``penalty`` it is the autograd loop (the
    penalty may be any differentiable function). ``benchmarks/bench_teacher_student.py`` times
    them.
    """
    problem = _problem(x, y, n_members, index, hidden, output, epochs, max_steps, batch_size, lr,
                       lipschitz_cap)
    dev = _check_device(device)
    workers = (torch.get_num_threads() if dev.type == "cpu" else 1) if workers is None \
        else check_int("workers", workers, 1)
    val = _check_validation(validation, patience, penalty, problem)
    gens = member_generators(seed, problem.idx.shape[0])
    init = init_members(problem.sizes, gens, "default", torch.float32)
    best = None
    if penalty is None:
        params, losses, best = train_flat(*problem, init=init, gens=gens, output=output,
                                          batch_size=batch_size, lr=lr, device=dev,
                                          workers=workers, validation=val,
                                          patience=int(patience), forward=mlp_forward)
    else:
        params, losses = _train_autograd(problem, init, gens, output, batch_size, lr, penalty,
                                         dev)
    return Ensemble(params, output, losses.cpu().numpy(), int(losses.shape[0]),
                    None if best is None else best.cpu().numpy())


def _check_validation(validation: Any, patience: Any, penalty: Any,
                      problem: _Problem) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Validation data as (M, V, d_in), (M, V, d_out) float32 tensors, or None."""
    if validation is None:
        return None
    if penalty is not None:
        raise ValueError("validation (early stopping) is not available with a penalty")
    check_int("patience", patience, 1)
    try:
        xv, yv = (np.asarray(v, dtype=np.float32) for v in validation)
    except (TypeError, ValueError):
        raise ValueError("validation must be a pair (x_val, y_val) of arrays") from None
    M, d_in, d_out = problem.idx.shape[0], problem.sizes[0], problem.sizes[-1]
    if yv.ndim == xv.ndim - 1:
        yv = yv[..., None]
    if xv.ndim == 2:
        xv, yv = np.broadcast_to(xv, (M, *xv.shape)), np.broadcast_to(yv, (M, *yv.shape))
    if xv.ndim != 3 or xv.shape[0] != M or xv.shape[2] != d_in or yv.shape != (
            *xv.shape[:2], d_out) or xv.shape[1] == 0:
        raise ValueError(f"validation must be (V, {d_in}) and (V, {d_out}) arrays, or "
                         f"({M}, V, {d_in}) and ({M}, V, {d_out}); got {xv.shape} and "
                         f"{yv.shape}")
    if not (np.all(np.isfinite(xv)) and np.all(np.isfinite(yv))):
        raise ValueError("validation data must be finite")
    return torch.from_numpy(np.ascontiguousarray(xv)), torch.from_numpy(np.ascontiguousarray(yv))


def _check_device(device: Any) -> torch.device:
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device must name a torch device (\"cpu\", \"cuda\", \"cuda:0\", ...), "
                         f"got {device!r}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r}: no CUDA device is available here")
    return dev


def _train_autograd(problem: _Problem, init: Params, gens: list[torch.Generator], output: str,
                    batch_size: int, lr: float, penalty: Penalty,
                    dev: torch.device) -> tuple[Params, torch.Tensor]:
    """The autograd loop of :func:`train_ensemble` (the ``penalty`` path)."""
    px, py, idx, _, caps, steps, per_epoch = problem
    M, n = idx.shape
    params = [(w.to(dev), b.to(dev)) for w, b in init]
    flat = [t.requires_grad_() for layer in params for t in layer]
    opt = torch.optim.Adam(flat, lr=lr, foreach=True)
    px, py, idx = px.to(dev), py.to(dev), idx.to(dev)
    if caps is not None:
        caps = caps.to(dev)
        with torch.no_grad():
            for k, (w, _) in enumerate(params):
                _project_spectral(w, caps[:, k])
    losses = torch.empty(steps, M, device=dev)
    perm = None
    for step in range(steps):
        if step % per_epoch == 0:
            # One permutation per member and epoch, each from the member's own generator.
            perm = torch.stack([torch.randperm(n, generator=g) for g in gens]).to(dev)
        start = (step % per_epoch) * batch_size
        # gather + index_select: several times faster than advanced indexing on CPU
        batch = idx.gather(1, perm[:, start:start + batch_size]).view(-1)
        xb = px.index_select(0, batch).view(M, -1, px.shape[1])
        yb = py.index_select(0, batch).view(M, -1, py.shape[1])
        pred = mlp_forward(params, xb, output=output)
        per_member = ((pred - yb) ** 2).mean(dim=(1, 2))
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
    for t in flat:
        t.requires_grad_(False)
    return params, losses


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


def rounding_tolerance(steps: int, sum_length: int, theta_max: float, *,
                       lr: float = 1e-3) -> float:
    r"""The largest weight difference two exact-float32 implementations of the same training
    may show after ``steps`` Adam steps: how :func:`train_ensemble` is checked against
    :func:`train_sequential` (first order in the unit roundoff :math:`u=2^{-24}`, short horizon).

    1. Both start from identical weights and Adam state and see identical batches (the same
       generators); every difference starts in how a gradient entry is rounded.
    2. A gradient entry is a sum of at most :math:`K` = ``sum_length`` products (the batch size
       for weight gradients, the width for back-propagated errors), summed in different orders.
       Each is within :math:`\gamma_K\sum|\text{terms}|` of the exact sum,
       :math:`\gamma_K=Ku/(1-Ku)` (Higham, *Accuracy and Stability of Numerical Algorithms*,
       2nd ed., §3.1), so the two differ by a relative :math:`\rho\le2\gamma_K` where the sum
       does not cancel heavily.
    3. Adam's step is :math:`\eta\,m/\sqrt v`: a relative error :math:`\rho` in the gradients
       moves :math:`m` and :math:`\sqrt v` by at most :math:`\rho` each, the step by at most
       :math:`2\rho\eta|m/\sqrt v|`, and :math:`|m/\sqrt v|\le R`,
       :math:`R^2=(1-\beta_1)^2/((1-\beta_2)(1-\beta_1^2/\beta_2))` (Cauchy-Schwarz over the
       two moving averages; :math:`R=7.27` at Adam's defaults).
    4. Each run rounds its weight update once per step: :math:`2u\,\theta_{\max}` on the
       difference.
    5. Over a short horizon (``steps * lr`` well below 1) the differences add up unamplified:

       .. math:: \text{tol}=\text{steps}\,(2u\,\theta_{\max}+4R\gamma_K\eta).

    For 40 steps, :math:`K=256`, :math:`\theta_{\max}=0.3`: 1.9e-5, an upper bound (correct
    implementations land near 1e-7); two members, or a wrong gradient, differ by far more.

    Raises
    ------
    ValueError
        If ``steps`` or ``sum_length`` is not a positive integer (or ``sum_length * u >= 1``),
        or ``theta_max`` or ``lr`` is negative or not finite.
    """
    steps, sum_length = check_int("steps", steps, 1), check_int("sum_length", sum_length, 1)
    theta_max, lr = check_nonneg("theta_max", theta_max), check_nonneg("lr", lr)
    u = 2.0**-24
    if sum_length * u >= 1:
        raise ValueError(f"sum_length must be below 2**24, got {sum_length}")
    gamma = sum_length * u / (1 - sum_length * u)
    # Adam's defaults, which train_ensemble's step uses
    r_bound = math.sqrt((1 - _BETA1) ** 2 / ((1 - _BETA2) * (1 - _BETA1**2 / _BETA2)))
    return float(steps * (2 * u * theta_max + 4 * r_bound * gamma * lr))


def heldout_errors(pred: ArrayLike, y: ArrayLike) -> dict[str, NDArray[np.float64]]:
    r"""Held-out errors of each member, per transition vector and per element.

    With :math:`\hat y_i-y_i\in\mathbb R^{d}` the error of transition :math:`i` and
    :math:`e_i=\|\hat y_i-y_i\|_2` its Euclidean norm (the norm of Eq. (1)):

    * ``"mse"`` :math:`=\operatorname{mean}_i e_i^2`, ``"rmse"`` its square root and ``"max"``
      :math:`=\max_i e_i`, an empirical sup-norm error (an estimate, from below, of Eq. (1)'s
      :math:`\varepsilon`);
    * ``"mse_elem"`` :math:`=\operatorname{mean}_{i,j}(\hat y_{ij}-y_{ij})^2=\mathrm{MSE}/d`
      (what ``torch.nn.MSELoss`` reports), ``"rmse_elem"`` its square root and ``"max_elem"``
      :math:`=\max_{i,j}|\hat y_{ij}-y_{ij}|`.

    For a scalar target (:math:`d=1`) the two families coincide.

    Parameters
    ----------
    pred : array_like, shape (M, P, d_out)
        Predictions of ``M`` members on ``P`` held-out transitions.
    y : array_like, shape (P, d_out) or (P,)
        Targets.

    Returns
    -------
    dict
        One array of shape ``(M,)`` per name of :data:`ERROR_METRICS`.
    """
    p = np.asarray(pred, dtype=float)
    t = np.asarray(y, dtype=float)
    if t.ndim == 1:
        t = t[:, None]
    if p.ndim != 3 or p.shape[1:] != t.shape:
        raise ValueError(
            f"pred must be (M, P, d_out) matching y (P, d_out); got {p.shape} and {t.shape}")
    diff = p - t
    e2 = np.sum(diff**2, axis=-1)
    mse = e2.mean(axis=1)
    mse_elem = mse / t.shape[-1]
    return {"mse": mse, "rmse": np.sqrt(mse), "max": np.sqrt(e2.max(axis=1)),
            "mse_elem": mse_elem, "rmse_elem": np.sqrt(mse_elem),
            "max_elem": np.abs(diff).max(axis=(1, 2))}
