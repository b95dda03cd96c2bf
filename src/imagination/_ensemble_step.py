"""The hand-written training step behind :func:`imagination.ensemble.train_ensemble`.

Private: the public contract is ``train_ensemble``. :func:`train_flat` trains the members
through the C kernel of :mod:`imagination._ensemble_kernel` where it serves the shape and builds
(one member at a time, in cache; the paper's network), else through the torch step below, both
over the same flat buffers. Where an autograd loop builds a graph every step, the torch step

* keeps every parameter of every member in ONE flat tensor (a view per layer), the gradient in a
  second and Adam's two moments in two more, so the optimiser step is seven element-wise ops over
  four flat tensors, the ops of ``torch.optim.Adam`` in its order (the same update for the same
  gradient);
* folds the first layer's bias into its weight (an extra input row) and gives the data pool a
  column of ones, so layer 1 is one ``bmm`` and its bias gradient comes with the weight gradient;
* gathers a batch with ONE ``index_select`` from a pool whose rows hold ``[x, 1, y]``, padded to
  a multiple of 8 floats, instead of a ``gather`` and two ``index_select`` per step;
* writes the backward pass by hand (ReLU hidden layers, linear or ``tanh`` output, squared loss)
  into preallocated buffers: no graph and no allocation inside the loop;
* on the CPU, trains disjoint groups of members in their own Python threads with one intra-op
  thread each (members never interact), instead of an OpenMP fork/join in each of the ~25 ops of
  a step, which on a shared machine waits for its slowest thread.

Everything is exact float32: the products go through ``torch.bmm`` at the default
``float32_matmul_precision`` ("highest"), MKL's fp32 batched GEMM on the CPU (lowering the
precision would send them to oneDNN, which on a CPU with AMX means bf16). The result equals the
autograd loop and :func:`~imagination.ensemble.train_sequential` to float32 rounding
(``tests/test_ensemble.py`` derives the tolerance).
"""

from __future__ import annotations

import itertools
import math
import threading
from collections.abc import Callable, Sequence
from typing import Any

import torch

from imagination import _ensemble_kernel

__all__: list[str] = []

# torch.optim.Adam's defaults (the library uses them; rounding_tolerance derives from them).
_BETA1, _BETA2, _EPS = 0.9, 0.999, 1e-8


def _project_spectral(w: torch.Tensor, cap: torch.Tensor) -> None:
    """Scale each member's matrix down to spectral norm <= cap (in place; no-op below the cap)."""
    sigma = torch.linalg.matrix_norm(w, ord=2)
    w.mul_(torch.clamp(cap / sigma.clamp_min(1e-30), max=1.0)[:, None, None])


def _pad8(n: int) -> int:
    return -(-n // 8) * 8


class _FlatMLP:
    """Parameters, gradients, Adam moments and activation buffers of ``M`` stacked MLPs.

    Storage, chosen by timing every orientation of the five products of a step:

    * layer 0's weight has its bias folded in as an extra input row: ``(M, d_0 + 1, d_1)``;
      the data carry a column of ones, so the bias costs neither an add nor a reduction;
    * hidden layers ``k >= 1``: ``W (M, d_k, d_{k+1})`` and ``b (M, 1, d_{k+1})`` (folding them
      too needs a ones column in every activation, and ``bmm`` into a strided view copies);
    * the LAST layer is stored transposed, ``(M, d_out, d_L)`` (``nn.Linear``'s own layout), and
      its output too, ``(M, d_out, B)``: with ``d_out`` = 12 or 1 the element-wise tail then
      runs along the batch (256 contiguous floats instead of 12 or 1), and for ``d_out = 1`` the
      products become matrix-vector products in MKL's fast orientation (about 2x on those).

    Hidden activations are ``(M, B, d)``.
    """

    transpose_last = True  # False: every layer in the (M, d_in, d_out) layout (for timing)

    def __init__(self, sizes: Sequence[int], init: list[tuple[torch.Tensor, torch.Tensor]],
                 device: torch.device):
        self.sizes = tuple(sizes)
        L = self.L = len(sizes) - 1
        M = self.M = init[0][0].shape[0]
        self.fold = [k == 0 for k in range(L)]  # bias folded into the weight (layer 0)
        # stored transposed: the last layer (see the class docstring)
        self.trans = [k == L - 1 and self.transpose_last for k in range(L)]
        w_shapes, b_shapes = [], []
        for k in range(L):
            d_in, d_out = sizes[k] + self.fold[k], sizes[k + 1]
            w_shapes.append((M, d_out, d_in) if self.trans[k] else (M, d_in, d_out))
            b_shapes.append(None if self.fold[k] else
                            (M, d_out, 1) if self.trans[k] else (M, 1, d_out))
        blocks = [s for pair in zip(w_shapes, b_shapes, strict=True) for s in pair if s is not None]
        numel = sum(math.prod(s) for s in blocks)
        # One flat tensor each: Adam is then 7 element-wise ops in all, not 7 per layer.
        self.flat = torch.empty(numel, device=device)
        self.grad = torch.zeros(numel, device=device)
        self.exp_avg = torch.zeros(numel, device=device)
        self.exp_avg_sq = torch.zeros(numel, device=device)
        self.denom = torch.empty(numel, device=device)  # Adam's scratch
        off = 0

        def take(shape: tuple[int, ...] | None) -> tuple[Any, Any]:
            nonlocal off
            if shape is None:
                return None, None
            n = math.prod(shape)
            views = self.flat[off:off + n].view(shape), self.grad[off:off + n].view(shape)
            off += n
            return views

        self.W, self.gW, self.b, self.gb = [], [], [], []
        for k in range(L):
            w, gw = take(w_shapes[k])
            b, gb = take(b_shapes[k])
            self.W.append(w), self.gW.append(gw), self.b.append(b), self.gb.append(gb)
        with torch.no_grad():
            for k in range(L):
                w, b = init[k]  # (M, d_k, d_{k+1}) and (M, d_{k+1}), the library's layout
                if self.fold[k]:
                    w = torch.cat([w, b.unsqueeze(1)], dim=1)
                self.W[k].copy_(w.transpose(1, 2) if self.trans[k] else w)
                if not self.fold[k]:
                    self.b[k].copy_(b.view(self.b[k].shape))
        self.step_count = 0
        self._acts: dict[int, tuple[list[torch.Tensor], list[torch.Tensor]]] = {}

    def weights(self, k: int) -> torch.Tensor:
        """Layer ``k``'s weight matrix without a folded bias, ``(M, d_k, d_{k+1})`` (a view)."""
        return self._library_layout(self.W, self.b, k)[0]

    def _library_layout(self, W: list[torch.Tensor], b: list[Any],
                        k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Layer ``k`` of storage (W, b) as ``(M, d_k, d_{k+1})`` and ``(M, d_{k+1})``."""
        w = W[k].transpose(1, 2) if self.trans[k] else W[k]
        if self.fold[k]:
            return w[:, :-1], w[:, -1]
        return w, b[k].reshape(self.M, -1)

    def params(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The library's layout: ``[(W (M, d_in, d_out), b (M, d_out)), ...]``, fresh copies."""
        return [tuple(t.contiguous().clone() for t in self._library_layout(self.W, self.b, k))
                for k in range(self.L)]

    def grads(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The last gradient, in the library's layout (for tests)."""
        return [tuple(t.contiguous().clone() for t in self._library_layout(self.gW, self.gb, k))
                for k in range(self.L)]

    def _buffers(self, batch: int) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        # One set per batch size (the full batch and the epoch's smaller last one): a [:, :b]
        # view of a larger buffer would not be contiguous per member, and bmm(out=view) copies.
        if batch not in self._acts:
            dev, M = self.flat.device, self.M
            shapes = [(M, d, batch) if t else (M, batch, d)
                      for d, t in zip(self.sizes[1:], self.trans, strict=True)]
            self._acts[batch] = ([torch.empty(s, device=dev) for s in shapes],
                                 [torch.empty(s, device=dev) for s in shapes])
        return self._acts[batch]

    def forward_backward(self, xb: torch.Tensor, yb: torch.Tensor, output: str,
                         loss_out: torch.Tensor) -> None:
        """Gradient of ``sum_m mean_{batch, out}(f_m(x) - y)^2`` into ``self.grad``.

        ``xb`` ``(M, B, d_0 + 1)`` (ones column last), ``yb`` ``(M, B, d_out)`` (views of the
        gathered batch are fine); each member's batch MSE is written to ``loss_out`` ``(M,)``.
        """
        B = xb.shape[1]
        a, g = self._buffers(B)  # a[k]: output of layer k; g[k]: dLoss/d(its pre-activation)
        L = self.L
        inputs = [xb, *a[:-1]]
        # ---- forward: relu(inp @ W + b) for hidden layers; the last one linear or tanh
        for k in range(L):
            if self.trans[k]:
                torch.bmm(self.W[k], inputs[k].transpose(1, 2), out=a[k])  # (M, d_out, B)
            else:
                torch.bmm(inputs[k], self.W[k], out=a[k])
            if not self.fold[k]:
                a[k].add_(self.b[k])
            if k < L - 1:
                a[k].relu_()
        pred, err = a[L - 1], g[L - 1]  # (M, d_out, B) when transposed
        if output == "tanh":
            pred.tanh_()
        # ---- loss and its gradient, in autograd's order: mse_loss_backward gives
        # (2 / N) * (pred - y), then tanh_backward multiplies by (1 - pred^2).
        n_out = B * self.sizes[-1]
        torch.sub(pred, yb.transpose(1, 2) if self.trans[L - 1] else yb, out=err)
        flat_err = err.view(self.M, -1)
        torch.linalg.vecdot(flat_err, flat_err, out=loss_out)
        loss_out.div_(n_out)
        err.mul_(2.0 / n_out)
        if output == "tanh":
            torch.ops.aten.tanh_backward.grad_input(err, pred, grad_input=err)
        # ---- backward
        for k in range(L - 1, -1, -1):
            inp = inputs[k]
            if self.trans[k]:
                torch.bmm(g[k], inp, out=self.gW[k])  # (M, d_out, d_in)
            else:
                torch.bmm(inp.transpose(1, 2), g[k], out=self.gW[k])
            if not self.fold[k]:
                torch.sum(g[k], dim=2 if self.trans[k] else 1, keepdim=True, out=self.gb[k])
            if k > 0:
                # dLoss/d(input of layer k), then through the ReLU: zero where the unit was off
                if self.trans[k]:
                    torch.bmm(g[k].transpose(1, 2), self.W[k], out=g[k - 1])
                else:
                    torch.bmm(g[k], self.W[k].transpose(1, 2), out=g[k - 1])
                torch.ops.aten.threshold_backward.grad_input(g[k - 1], a[k - 1], 0,
                                                             grad_input=g[k - 1])

    def adam_step(self, lr: float) -> None:
        """``torch.optim.Adam`` (default betas, eps; no weight decay) over the flat buffers.

        The same ops in the same order as torch's single-tensor and foreach implementations, so
        the update is bit-identical to theirs for the same gradient.
        """
        self.step_count += 1
        bias_correction1 = 1 - _BETA1 ** self.step_count
        bias_correction2 = 1 - _BETA2 ** self.step_count
        step_size = lr / bias_correction1
        bias_correction2_sqrt = bias_correction2 ** 0.5
        self.exp_avg.lerp_(self.grad, 1 - _BETA1)
        self.exp_avg_sq.mul_(_BETA2).addcmul_(self.grad, self.grad, value=1 - _BETA2)
        torch.sqrt(self.exp_avg_sq, out=self.denom)
        self.denom.div_(bias_correction2_sqrt).add_(_EPS)
        self.flat.addcdiv_(self.exp_avg, self.denom, value=-step_size)

    def project(self, caps: torch.Tensor) -> None:
        """Spectral projection of every weight matrix (bias excluded), as the library does."""
        for k in range(self.L):
            _project_spectral(self.weights(k), caps[:, k])


def _member_groups(n_members: int, workers: int) -> list[slice]:
    """Contiguous, nearly equal slices of the members, one per worker (none empty)."""
    workers = max(1, min(int(workers), n_members))
    bounds = [round(i * n_members / workers) for i in range(workers + 1)]
    return [slice(a, b) for a, b in itertools.pairwise(bounds)]


class _EarlyStopping:
    """Each member's best validation loss so far, the step it came at and its parameters.

    Checked at the end of every epoch (and after the last step); a member is done once
    ``patience`` checks in a row have not improved its best. Members never interact, so the
    ensemble trains on until every member is done, and each member's result is its best.
    """

    def __init__(self, net: _FlatMLP, xv: torch.Tensor, yv: torch.Tensor, output: str,
                 patience: int, forward: Callable[..., torch.Tensor]):
        # forward: the library's mlp_forward, passed in (ensemble imports this module)
        self.xv, self.yv, self.output, self.patience = xv, yv, output, patience
        self.forward = forward
        M = net.M
        self.best_loss = torch.full((M,), math.inf, device=xv.device)
        self.best_step = torch.zeros(M, dtype=torch.long, device=xv.device)
        self.since = torch.zeros(M, dtype=torch.long, device=xv.device)
        self.best = net.params()

    def check(self, net: _FlatMLP, step: int) -> bool:
        """Record the members that improved at ``step``; True when every member is done."""
        params = [net._library_layout(net.W, net.b, k) for k in range(net.L)]
        loss = ((self.forward(params, self.xv, output=self.output) - self.yv) ** 2).mean(
            dim=(1, 2))
        better = loss < self.best_loss
        self.best_loss = torch.where(better, loss, self.best_loss)
        self.best_step[better] = step + 1  # steps taken when the best was reached
        for (bw, bb), (w, b) in zip(self.best, params, strict=True):
            bw[better], bb[better] = w[better], b[better]
        self.since = torch.where(better, 0, self.since + 1)
        return bool((self.since >= self.patience).all())


def _epoch_rows(gens: Sequence[torch.Generator], idx: torch.Tensor) -> torch.Tensor:
    """Each member's pool rows ``(M, n)`` in this epoch's order: one permutation per member
    from the member's own generator (on the CPU, as the reference draws it)."""
    perm = torch.stack([torch.randperm(idx.shape[1], generator=g) for g in gens])
    return idx.gather(1, perm.to(idx.device))


def _train_group(net: _FlatMLP, gens: Sequence[torch.Generator], pool: torch.Tensor,
                 idx: torch.Tensor, losses: torch.Tensor, d_in: int, d_out: int, output: str,
                 steps: int, per_epoch: int, batch_size: int, lr: float,
                 caps: torch.Tensor | None, stopper: _EarlyStopping | None = None) -> int:
    """The training loop of one group of members (all of them, or one worker's share).

    Returns the number of steps taken (fewer than ``steps`` when ``stopper`` ends it).
    """
    M, n = idx.shape
    width = pool.shape[1]
    rows = None
    batch_buf: dict[int, torch.Tensor] = {}
    for step in range(steps):
        if step % per_epoch == 0:
            rows = _epoch_rows(gens, idx)
        start = (step % per_epoch) * batch_size
        B = min(batch_size, n - start)
        if B not in batch_buf:
            batch_buf[B] = torch.empty(M * B, width, device=pool.device)
        buf = batch_buf[B]
        torch.index_select(pool, 0, rows[:, start:start + B].reshape(-1), out=buf)
        buf3 = buf.view(M, B, width)
        net.forward_backward(buf3[:, :, :d_in + 1], buf3[:, :, d_in + 1:d_in + 1 + d_out],
                             output, losses[step])
        net.adam_step(lr)
        if caps is not None:
            net.project(caps)
        if stopper is not None and (step % per_epoch == per_epoch - 1 or step == steps - 1) \
                and stopper.check(net, step):
            return step + 1
    return steps


def _train_group_kernel(net: _FlatMLP, kernel: Any, gens: Sequence[torch.Generator],
                        xpool: torch.Tensor, ypool: torch.Tensor, idx: torch.Tensor,
                        losses: torch.Tensor, output: str, steps: int, per_epoch: int,
                        batch_size: int, lr: float, stopper: _EarlyStopping | None) -> int:
    """:func:`_train_group` through the C kernel (:mod:`imagination._ensemble_kernel`), an
    epoch per call: the same data order, the same Adam, the same early-stopping checks."""
    M, n = idx.shape
    work = torch.empty(kernel.kernel_work_floats(batch_size))  # torch aligns it to 64 bytes
    step = 0
    while step < steps:
        rows = _epoch_rows(gens, idx)
        count = min(per_epoch, steps - step)
        # ctypes releases the GIL for the call: worker threads train in parallel
        kernel.epoch_steps(xpool.data_ptr(), ypool.data_ptr(), rows.data_ptr(), M, n, count,
                           batch_size, net.flat.data_ptr(), net.grad.data_ptr(),
                           net.exp_avg.data_ptr(), net.exp_avg_sq.data_ptr(), net.step_count,
                           lr, _BETA1, _BETA2, _EPS, losses[step].data_ptr(),
                           losses.stride(0), int(output == "tanh"), work.data_ptr())
        net.step_count += count
        step += count
        if stopper is not None and stopper.check(net, step - 1):
            return step
    return steps


def _run_threads(fn: Callable[[int], None], count: int) -> None:
    """``fn(0), ..., fn(count - 1)`` in ``count`` threads, each with one intra-op thread.

    ``torch.set_num_threads`` also sets MKL's process-wide count, so the caller's count is
    restored afterwards. An exception in a worker is re-raised here.
    """
    before = torch.get_num_threads()
    errors: list[BaseException] = []

    def target(i: int) -> None:
        try:
            torch.set_num_threads(1)
            fn(i)
        except BaseException as e:  # re-raised in the caller's thread
            errors.append(e)

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        torch.set_num_threads(before)
    if errors:
        raise errors[0]


def train_flat(px: torch.Tensor, py: torch.Tensor, idx: torch.Tensor, sizes: Sequence[int],
               caps: torch.Tensor | None, steps: int, per_epoch: int, *,
               init: list[tuple[torch.Tensor, torch.Tensor]], gens: Sequence[torch.Generator],
               output: str, batch_size: int, lr: float, device: torch.device, workers: int,
               validation: tuple[torch.Tensor, torch.Tensor] | None = None, patience: int = 10,
               forward: Callable[..., torch.Tensor] | None = None,
               ) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], torch.Tensor,
                          torch.Tensor | None]:
    """Train the members of a validated problem.

    ``init`` is the members' initial ``[(W (M, d_in, d_out), b (M, d_out)), ...]`` and ``gens``
    their generators (the data order); ``workers`` groups of members train in their own threads.
    With ``validation = (xv (M, V, d_in), yv (M, V, d_out))`` each member stops improving after
    ``patience`` epochs without a better validation loss and returns its best parameters
    (``forward``, the library's ``mlp_forward``, computes the validation loss).

    Returns the parameters, the losses ``(steps taken, M)`` (``nan`` after a group stopped) and
    each member's step count at its best validation loss (``None`` without validation).
    """
    M = idx.shape[0]
    if caps is not None:
        caps = caps.to(device)
    # The pool: rows [x, 1, y, pad] (aligned to 8 floats), so one index_select fetches a batch.
    d_in, d_out = sizes[0], sizes[-1]
    width = _pad8(d_in + 1 + d_out)
    pool = torch.zeros(px.shape[0], width)
    pool[:, :d_in] = px
    pool[:, d_in] = 1.0
    pool[:, d_in + 1:d_in + 1 + d_out] = py
    pool, idx = pool.to(device), idx.to(device)
    losses = torch.full((steps, M), math.nan, device=device)
    groups = _member_groups(M, workers)
    nets = [_FlatMLP(sizes, [(w[g], b[g]) for w, b in init], device) for g in groups]
    stoppers: list[_EarlyStopping | None] = [None] * len(groups)
    if validation is not None:
        xv, yv = (t.to(device) for t in validation)
        stoppers = [_EarlyStopping(net, xv[g], yv[g], output, patience, forward)
                    for net, g in zip(nets, groups, strict=True)]
    taken = [0] * len(groups)
    # the C step where it serves this shape and builds here (else torch's)
    kernel = _ensemble_kernel.for_network(tuple(sizes), device.type, caps is not None)
    if kernel is not None:
        xpool = pool[:, :d_in + 1].contiguous()
        ypool = pool[:, d_in + 1:d_in + 1 + d_out].contiguous()

    def run(i: int) -> None:
        g = groups[i]
        net, group_caps = nets[i], None if caps is None else caps[g]
        with torch.no_grad():
            if kernel is not None:
                taken[i] = _train_group_kernel(net, kernel, gens[g], xpool, ypool, idx[g],
                                               losses[:, g], output, steps, per_epoch,
                                               batch_size, lr, stoppers[i])
                return
            if group_caps is not None:
                net.project(group_caps)  # the initial weights are projected too
            taken[i] = _train_group(net, gens[g], pool, idx[g], losses[:, g], d_in, d_out,
                                    output, steps, per_epoch, batch_size, lr, group_caps,
                                    stoppers[i])

    if len(groups) == 1:
        run(0)
    else:
        _run_threads(run, len(groups))
    parts = [net.params() if st is None else st.best for net, st in zip(nets, stoppers,
                                                                         strict=True)]
    params = [(torch.cat([p[k][0] for p in parts]), torch.cat([p[k][1] for p in parts]))
              for k in range(len(sizes) - 1)]
    best = None if validation is None else torch.cat([st.best_step for st in stoppers])
    return params, losses[:max(taken)], best
