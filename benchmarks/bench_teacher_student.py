"""The batched ensemble trainer at the paper's shape against a plain per-member loop (§4.1, Fig. 1).

Chapter: notebooks/09_performance.ipynb (and 03_power_laws.ipynb, which the trainer serves).
Library: imagination.train_ensemble (the C kernel of imagination._ensemble_kernel where it
builds, else the torch step of imagination._ensemble_step) and imagination.train_sequential.

The shape never changes with the scale: 100 members x batch 256, layers 16-64-12 (tanh; the
dynamics student) and 16-64-1 (linear; the reward student), Adam lr 1e-3, each member on its own
subset of N rows. IMAGINATION_SCALE sets N, the number of timed steps k and the repeats.

Method:
* a step's time is [t(2k) - t(k)] / k with k a whole number of epochs, so set-up cancels and the
  per-epoch permutations are counted in proportion; t(k) and t(2k) are each the MINIMUM over
  interleaved repeats (every variant, and the peak, is timed once per repeat in turn, so a noisy
  neighbour hits all alike);
* the loop (train_sequential, one nn.Sequential and one Adam per member) trains a few members on
  one intra-op thread; its cost is linear in members, so it is reported per member-step;
* the ensemble is timed as train_ensemble runs it (the C kernel where it builds), and also with
  the kernel turned off (IMAGINATION_KERNEL=off: the torch step), to show what each part buys;
* the peak is timed in the same run at the same thread count: a large fp32 matmul through MKL
  (torch.mm, torch.bmm) and through oneDNN (torch.ops.mkldnn._linear_pointwise, exact fp32:
  its error against float64 is checked), the best of them.

FLOP: 2 per multiply-add of the forward and backward matrix products. Dynamics: forward
16*64 + 64*12, weight gradients the same, the back-propagated error 64*12: 8,704 FLOP per sample
(the folded bias row not counted). Reward: 4,480.

Before timing, the run checks that the ensemble equals the loop to float32 rounding
(imagination.rounding_tolerance) over 20 steps. Records are keyed by scale and device
(imagination.record_path): a run at one scale never replaces the record of another.

    python benchmarks/bench_teacher_student.py                 # at IMAGINATION_SCALE (book)
    IMAGINATION_SCALE=ci python benchmarks/bench_teacher_student.py
    python benchmarks/bench_teacher_student.py --smoke         # tiny, checks only, writes nothing
    python benchmarks/bench_teacher_student.py --device cuda   # the ensemble on a GPU

The last three lines, at every scale:
    peak fraction: F        GFLOP/s of the dynamics step over the best in-run fp32 matmul GFLOP/s
    paper estimate: M min   303,200 steps per model x (t_dyn + t_rew) / 60
    speedup: Nx             loop us per member-step / ensemble us per member-step (dyn + rew)
"""

import argparse
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

import imagination as im
from imagination import _ensemble_kernel
from imagination.book.records import record_path, write_record

RESULTS = Path(__file__).resolve().parent / "results"
MEMBERS, BATCH, HIDDEN = 100, 256, 64
D_IN, D_OUT = 16, {"dyn": 12, "rew": 1}
FLOP_PER_SAMPLE = {m: 2 * (2 * (D_IN * HIDDEN + HIDDEN * d) + HIDDEN * d)
                   for m, d in D_OUT.items()}  # 8,704 and 4,480
PAPER_STEPS = sum(200 * math.ceil(n / BATCH) for n in im.PAPER_SIZES)  # 303,200 per model
# N per member (a multiple of the batch: whole epochs), k timed steps, repeats, loop members
SCALES = {
    "smoke": dict(n=1024, k=4, repeats=1, loop_members=1),
    "ci": dict(n=4096, k=16, repeats=2, loop_members=1),
    "book": dict(n=20_480, k=80, repeats=5, loop_members=2),
    "paper": dict(n=20_480, k=160, repeats=7, loop_members=4),
}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny, checks only, writes nothing")
    parser.add_argument("--device", default="cpu", help="where the ensemble trains (cpu, cuda)")
    return parser.parse_args()


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def peak_gflops(size=2048):
    """GFLOP/s of large fp32 matmuls (MKL mm and bmm, oneDNN linear) at this thread count."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    out, half = torch.empty(size, size), size // 2
    ab, bb = torch.randn(8, half, half), torch.randn(8, half, half)
    outb = torch.empty(8, half, half)
    wt = b.t().contiguous()  # linear computes x @ w.T
    calls = {"mkl_mm": (lambda: torch.mm(a, b, out=out), 2 * size**3),
             "mkl_bmm": (lambda: torch.bmm(ab, bb, out=outb), 2 * 8 * half**3),
             "onednn_linear": (lambda: torch.ops.mkldnn._linear_pointwise(a, wt, None, "none",
                                                                          [], ""), 2 * size**3)}
    result = {}
    for name, (fn, flop) in calls.items():
        fn()
        result[name] = flop / min(timed(fn) for _ in range(2)) / 1e9
    return result


def onednn_relative_error(size=512):
    """Relative error of the oneDNN route against float64 (fp32-sized when it is exact fp32)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    ref = a.double() @ b.double()
    one = torch.ops.mkldnn._linear_pointwise(a, b.t().contiguous(), None, "none", [], "")
    return float((one.double() - ref).abs().max() / ref.abs().max())


def main():
    args = parse_args()
    scale = "smoke" if args.smoke else im.current_scale()
    n, k, repeats, loop_m = (SCALES[scale][key] for key in ("n", "k", "repeats", "loop_members"))
    try:
        device = torch.device(args.device)
    except RuntimeError:
        sys.exit(f"bench_teacher_student.py: error: --device {args.device!r} is not a device")
    threads = torch.get_num_threads()
    rng = np.random.default_rng(0)
    x, s_next, r = im.collect_transitions(im.make_teachers(seed=0), math.ceil(2 * n / 500),
                                          rng=rng)
    index = np.argsort(rng.random((MEMBERS, x.shape[0])), axis=1)[:, :n]
    targets = {"dyn": (s_next, "tanh"), "rew": (r, "linear")}
    if os.environ.get("IMAGINATION_KERNEL"):
        sys.exit("bench_teacher_student.py: error: unset IMAGINATION_KERNEL (the benchmark "
                 "times the ensemble with and without the kernel itself)")
    kernel = all(_ensemble_kernel.for_network((D_IN, HIDDEN, d), device.type, False) is not None
                 for d in D_OUT.values())
    step = "C kernel" if kernel else ("torch step" + (f" (no kernel: {_ensemble_kernel.last_error})"
                                                      if _ensemble_kernel.last_error else ""))
    print(f"scale={scale}: {MEMBERS} members x batch {BATCH}, layers {D_IN}-{HIDDEN}-12/1, "
          f"N={n} ({n // BATCH} steps per epoch), k={k}, {repeats} interleaved repeats, "
          f"intra-op threads={threads}, device={device}, cpus={os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.2f}; the ensemble's step: {step}")

    # 1. the ensemble trains the loop's members, to float32 rounding (derived tolerance)
    gaps = {}
    for model, (y, output) in targets.items():
        kw = dict(index=index[:2], output=output, max_steps=20, seed=1)
        fast, ref = im.train_ensemble(x, y, device=device, **kw), im.train_sequential(x, y, **kw)
        gap = max(float((p.cpu() - q).abs().max()) for la, lb in zip(fast.params, ref.params,
                                                                     strict=True)
                  for p, q in zip(la, lb, strict=True))
        theta = max(float(q.abs().max()) for layer in ref.params for q in layer)
        tol = im.rounding_tolerance(20, BATCH, theta)
        print(f"{model}: max |ensemble - loop| weight after 20 steps {gap:.1e} "
              f"(derived float32 tolerance {tol:.1e})")
        assert gap <= tol, f"{model}: the ensemble and the loop disagree ({gap:.2e} > {tol:.2e})"
        gaps[model] = {"gap": gap, "tolerance": tol}
    onednn_err = onednn_relative_error()
    assert onednn_err < 1e-5, f"the oneDNN route is not fp32-exact here ({onednn_err:.1e})"

    # 2. interleaved timing: every variant at k and 2k steps, and the peak, once per repeat
    def ensemble(model, steps):
        y, output = targets[model]
        return im.train_ensemble(x, y, index=index, output=output, max_steps=steps, seed=1,
                                 device=device)

    def torch_step(model, steps):
        os.environ["IMAGINATION_KERNEL"] = "off"
        try:
            return ensemble(model, steps)
        finally:
            del os.environ["IMAGINATION_KERNEL"]

    def loop(model, steps):
        y, output = targets[model]
        torch.set_num_threads(1)  # its matrices are tiny: one thread is its faster setting
        try:
            return im.train_sequential(x, y, index=index[:loop_m], output=output,
                                       max_steps=steps, seed=1)
        finally:
            torch.set_num_threads(threads)

    variants = {f"{kind}_{m}": (lambda s, f=f, m=m: f(m, s))
                for kind, f in (("ensemble", ensemble), ("torch", torch_step), ("loop", loop))
                for m in targets}
    for fn in variants.values():
        fn(2)  # warm-up: allocations, thread pools
    best = {name: [math.inf, math.inf] for name in variants}
    peaks = {}
    for _ in range(repeats):
        for name, value in peak_gflops().items():
            peaks[name] = max(peaks.get(name, 0.0), value)
        for name, fn in variants.items():
            for i, steps in enumerate((k, 2 * k)):
                if device.type == "cuda":
                    torch.cuda.synchronize()
                best[name][i] = min(best[name][i], timed(lambda fn=fn, s=steps: fn(s)))
    step_s = {name: max(t2 - t1, 1e-12) / k for name, (t1, t2) in best.items()}
    unreliable = sorted(name for name, (t1, t2) in best.items() if t2 <= t1)
    if unreliable:  # a noisy machine and too few repeats (the smoke run): say so
        print(f"timing unreliable, t(2k) <= t(k) for {unreliable}: raise the repeats")

    # 3. the report
    peak = max(peaks.values())
    print("peak fp32 matmul GFLOP/s (best over repeats): "
          + ", ".join(f"{name} {v:.1f}" for name, v in peaks.items())
          + f" (oneDNN relative error against float64 {onednn_err:.1e})")
    record = {"benchmark": "bench_teacher_student", "scale": scale, "device": str(device),
              "shape": {"members": MEMBERS, "batch": BATCH, "layers": [D_IN, HIDDEN, "12 or 1"]},
              "sizes": {"N": n, "k": k, "repeats": repeats, "loop_members": loop_m},
              "torch_threads": threads, "step": step, "equivalence": gaps, "peak_gflops": peaks,
              "unreliable": unreliable, "variants": {}}
    for name, s in step_s.items():
        model = name.rsplit("_", 1)[1]
        members = loop_m if name.startswith("loop") else MEMBERS
        gflops = FLOP_PER_SAMPLE[model] * BATCH * members / s / 1e9
        print(f"{name:>13}: {s * 1e3:8.3f} ms per step of {members:3d} member(s), "
              f"{s / members * 1e6:8.2f} us per member-step, {gflops:6.1f} GFLOP/s "
              f"({gflops / peak:.1%} of peak)")
        record["variants"][name] = {"ms_per_step": s * 1e3, "members": members,
                                    "us_per_member_step": s / members * 1e6, "gflops": gflops}
    us = {name: v["us_per_member_step"] for name, v in record["variants"].items()}
    fraction = record["variants"]["ensemble_dyn"]["gflops"] / peak
    minutes = PAPER_STEPS * (step_s["ensemble_dyn"] + step_s["ensemble_rew"]) / 60
    minutes_torch = PAPER_STEPS * (step_s["torch_dyn"] + step_s["torch_rew"]) / 60
    speedup = (us["loop_dyn"] + us["loop_rew"]) / (us["ensemble_dyn"] + us["ensemble_rew"])
    record.update(peak_fraction=fraction, paper_estimate_min=minutes, speedup=speedup,
                  paper_estimate_torch_step_min=minutes_torch,
                  peak_fraction_torch_step=record["variants"]["torch_dyn"]["gflops"] / peak)
    if not args.smoke:
        path = write_record(record_path(RESULTS, "bench_teacher_student", scale, str(device)),
                            record)
        print(f"wrote {path}")
    print(f"peak fraction: {fraction:.3f}")
    print(f"paper estimate: {minutes:.1f} min")
    print(f"speedup: {speedup:.1f}x")


if __name__ == "__main__":
    main()
