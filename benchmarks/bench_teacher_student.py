"""The batched ensemble trainer against a plain per-member training loop (§4.1, Figure 1).

Chapter: notebooks/03_power_laws.ipynb. Library: imagination.teacher_student.

Both paths train the SAME members: the same teacher data, each member's own subset, and the same
per-member generators, hence the same initialisation and data order, with Adam (lr 1e-3, batch
256) on the squared error. The reference (`train_sequential`) is the textbook loop: one
`nn.Sequential` and one `torch.optim.Adam` per member, one batch at a time. The fast path
(`train_ensemble`) stacks the members' weights, runs every layer as one batched matmul and takes
one Adam step for all. They must agree to 1e-4 in every weight (fused kernels round differently).

    python benchmarks/bench_teacher_student.py            # timed run, writes the JSON record
    python benchmarks/bench_teacher_student.py --smoke    # tiny, correctness only, writes nothing
    python benchmarks/bench_teacher_student.py --paper    # also time paper-scale steps and
                                                          # estimate the full Figure 1 run

`--paper` times a few hundred ensemble steps with the paper's 100 members at every size and
extrapolates to the paper's 200 epochs (2 models x 7 sizes x 100 seeds): an estimate, labelled
as such in the record. The full run, measured and resumable, is benchmarks/paper_scale_figure1.py.
"""

import argparse
import math
from pathlib import Path

import numpy as np
import torch

from imagination import teacher_student as ts
from imagination.book.records import best_time, write_record

RESULTS = Path(__file__).resolve().parent / "results" / "bench_teacher_student.json"
PAPER_SIZES = ts.PAPER_SIZES


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, correctness only")
    parser.add_argument("--paper", action="store_true", help="estimate the paper-scale run")
    parser.add_argument("--members", type=int, default=100)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def paper_estimate(x, s_next, r, rng, steps):
    """Seconds per ensemble step (100 members) at each paper size, and the extrapolated total.

    A step's time is the difference between training ``2 * steps`` and ``steps`` steps, divided
    by ``steps``: fixed costs (set-up, the first epoch's 100 permutations of N rows) cancel, which
    a plain ``t(steps) / steps`` would spread over too few steps at large N.
    """
    per_size = {}
    for n in PAPER_SIZES:
        index = np.argsort(rng.random((100, x.shape[0])), axis=1)[:, :n]
        seconds = 0.0
        for y, output in ((s_next, "tanh"), (r, "linear")):
            def train(k, y=y, output=output, index=index):
                return ts.train_ensemble(x, y, index=index, output=output, max_steps=k, seed=1)

            t_short, t_long = (best_time(lambda k=k: train(k))[1] for k in (steps, 2 * steps))
            seconds += (t_long - t_short) / steps
        per_size[n] = seconds  # both models, one step each
    total = sum(s * 200 * math.ceil(n / 256) for n, s in per_size.items())
    return per_size, total


def main():
    args = parse_args()
    members, steps, n = (3, 20, 600) if args.smoke else (args.members, args.steps, 5000)
    rng = np.random.default_rng(args.seed)
    teachers = ts.make_teachers(seed=args.seed)
    pool = 2 * max(PAPER_SIZES) if args.paper else 2 * n
    x, s_next, r = ts.collect_transitions(teachers, math.ceil(pool / 500), rng=rng)
    index = np.argsort(rng.random((members, x.shape[0])), axis=1)[:, :n]
    kwargs = dict(index=index, output="tanh", max_steps=steps, seed=args.seed)

    ts.train_ensemble(x, s_next, **{**kwargs, "max_steps": 2})  # warm-up (allocations, threads)
    fast, t_fast = best_time(lambda: ts.train_ensemble(x, s_next, **kwargs))
    slow, t_loop = best_time(lambda: ts.train_sequential(x, s_next, **kwargs))
    gap = max(float((a - b).abs().max()) for (a, _), (b, _) in zip(fast.params, slow.params,
                                                                   strict=True))
    assert gap < 1e-4, f"ensemble and sequential training disagree by {gap:.2e}"
    speedup = t_loop / t_fast
    threads = torch.get_num_threads()
    print(f"members={members} N={n} steps={steps} batch=256 threads={threads}")
    print(f"max |ensemble - sequential| weight = {gap:.2e}")
    print(f"ensemble:   {t_fast:.3f} s ({t_fast / steps * 1e3:.2f} ms per step, all members)")
    print(f"sequential: {t_loop:.3f} s ({t_loop / steps / members * 1e3:.3f} ms per member-step)")
    record = None
    if not args.smoke:
        record = {
            "benchmark": "bench_teacher_student",
            "torch_threads": threads,
            "sizes": {"members": members, "N": n, "steps": steps, "batch": 256},
            "seconds": {"ensemble": t_fast, "sequential": t_loop},
            "max_weight_gap": gap,
            "speedup": speedup,
        }
    if args.paper and not args.smoke:
        per_size, total = paper_estimate(x, s_next, r, rng, max(50, steps // 3))
        print("paper scale, seconds per step (both models, 100 members):",
              {k: round(v, 4) for k, v in per_size.items()})
        print(f"paper scale (2 x 7 x 100 students, 200 epochs), estimated: {total / 60:.1f} min")
        record["paper_estimate"] = {"kind": "extrapolated from timed steps",
                                    "seconds_per_step": {str(k): v for k, v in per_size.items()},
                                    "total_seconds": total}
    if record is not None:
        print(f"wrote {write_record(RESULTS, record)}")
    print(f"speedup: {speedup:.1f}x")


if __name__ == "__main__":
    main()
