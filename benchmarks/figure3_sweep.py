"""Figure 3's generator sweep: which choices do the paper's numbers need? (resumable record)

Chapter: notebooks/01_simulation_lemma.ipynb, "What the paper's numbers need". Library:
imagination.figure3_sweep, imagination.load_figure3_sweep.

The paper reports median and maximum R = gap/bound on 150 synthetic and 375 LQG configurations
without saying how it drew them. This runs the book's generators over a factorial grid of their
choices (GRID below: 10 factors; 17,280 synthetic and 28,800 LQG family cells, which pair into
86,400 cells) at the paper's sizes and H = 400, with the chapter's own stream. It is inference
about an unknown generator, not a reproduction by tuning: the book's default Figure 3 is the
default level of every factor.

Too large for the chapter's time budget (about 4 minutes on 2 cores), so it is a resumable run
like paper_scale_figure1.py: each chunk (one state dimension, the unit at which the default draws
are made) is written to benchmarks/results/figure3_sweep.json as soon as it ends; run the script
again and it computes only the chunks the record lacks. A record of another configuration (grid,
sizes, streams) is never overwritten silently: the script stops and says so (--fresh replaces it).
The page reads the record and recomputes a few cells (CHECK below) against it.

    python benchmarks/figure3_sweep.py            # run or resume until complete
    python benchmarks/figure3_sweep.py --check    # recompute the CHECK sub-grids, compare
    python benchmarks/figure3_sweep.py --smoke    # tiny grid: stop, resume, compare, check
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

import imagination as im

RECORD = Path(__file__).resolve().parent / "results" / "figure3_sweep.json"
# Chapter 1's stream: default_rng(SEED) after SKIP doubles (the 6 x 40 uniforms of its "constants
# cannot be improved" cell), so the default cell is the page's Figure 3 draw for draw; the
# chapter asserts that its stream at Figure 3 is this one.
SEED, SKIP, EXTRA_SEED = 20260506, 240, 20260507
N = {"synthetic": 150, "lqg": 375}
GRID: dict[str, list[Any]] = {
    "reward_phase": ["as_built", "random", "vanishing"],
    "budget": ["dyn_only", -3.0, -2.5, -2.0, -1.5, -1.0, -0.5, "independent", 1.0, "rew_only"],
    "constants": ["tight", "two_layer"],
    "rate": ["today", "edge"],
    "gamma": ["U[0.5,0.99]", 0.9, 0.99],
    "d_s": [2, 4, 8, 16],
    "horizon": [100, 400],
    "bound": ["finite", "eq1"],
    "reward_centre": ["origin", 0.5, 1.0, 2.0, 4.0],
    "reward_bias": ["none", "random", "cos"],
}
# Sub-grids the chapter (and --check) recompute: the default cell with every phase, budget,
# horizon and bound; the cells that hold the paper's LQG pair (d_s = 2); a reordered cell (centre
# and cos). Each costs two rollouts.
CHECK: list[dict[str, list[Any]]] = [
    {"reward_phase": GRID["reward_phase"], "budget": GRID["budget"],
     "horizon": GRID["horizon"], "bound": GRID["bound"]},
    {"d_s": [2], "rate": ["edge"], "gamma": [0.99]},
    {"d_s": [4], "gamma": [0.99], "reward_phase": ["random"], "budget": [-1.5],
     "reward_centre": [2.0], "reward_bias": ["cos"]},
]
# float32 storage rounds by at most 2**-24 relative; one more bit allows for another machine's
# BLAS/LAPACK (QR, SVD and eigh change the last bits of a float64 and no more).
CHECK_RTOL = 2.0**-23
SMOKE_GRID: dict[str, list[Any]] = {
    "reward_phase": ["as_built", "vanishing"], "budget": ["dyn_only", "independent"],
    "constants": ["tight", "two_layer"], "rate": ["today"], "gamma": ["U[0.5,0.99]"],
    "d_s": [2, 3], "horizon": [10, 20], "bound": ["finite", "eq1"],
    "reward_centre": ["origin", 1.0], "reward_bias": ["none", "cos"],
}
SMOKE_N = {"synthetic": 12, "lqg": 15}


def stream() -> np.random.Generator:
    """The chapter's Generator at the point where it draws Figure 3's configurations."""
    rng = np.random.default_rng(SEED)
    rng.random(SKIP)
    return rng


def config(grid: dict[str, list[Any]], n: dict[str, int]) -> dict[str, Any]:
    """What a record is a record of: grid, sizes and streams (compared before resuming)."""
    return json.loads(json.dumps({"kind": "figure3 generator sweep", "levels": grid, "n": n,
                                  "d_a": 2, "seed": SEED, "skip": SKIP,
                                  "extra_seed": EXTRA_SEED}))


def run(path: Path, grid: dict[str, list[Any]], n: dict[str, int], *, fresh: bool = False,
        stop_after: int | None = None) -> dict[str, Any]:
    """Run or resume the sweep, writing the record after every chunk; return the record.

    ``stop_after`` stops after that many new chunks (the smoke test's interruption).
    """
    header = config(grid, n)
    chunks: dict[str, Any] = {}
    if path.exists():
        old = json.loads(path.read_text())
        if any(old.get(k) != v for k, v in header.items()):
            if not fresh:
                sys.exit(f"{path} records another configuration (grid, sizes or streams); "
                         "refusing to overwrite it: pass --fresh to replace it")
            print(f"{path}: another configuration, replaced (--fresh)")
        else:
            chunks = old.get("chunks", {})
    done = 0
    for ds in grid["d_s"]:
        if str(ds) in chunks:
            print(f"d_s={ds}: recorded, skipped")
            continue
        if stop_after is not None and done >= stop_after:
            print("stopped (run again to resume)")
            break
        t0 = time.perf_counter()
        sweep = im.figure3_sweep(rng=stream(), n=n, extra_seed=EXTRA_SEED, seed=SEED, skip=SKIP,
                                 **dict(grid, d_s=[ds]))
        chunk = sweep.to_record()
        chunk["timing_s"]["wall"] = round(time.perf_counter() - t0, 3)
        chunks[str(ds)] = chunk
        done += 1
        complete = all(str(d) in chunks for d in grid["d_s"])
        record = {**im.machine_record(), **header, "complete": complete,
                  "total_s": round(sum(c["timing_s"]["wall"] for c in chunks.values()), 3),
                  "chunks": {str(d): chunks[str(d)] for d in grid["d_s"] if str(d) in chunks}}
        tmp = path.with_suffix(".tmp")
        tmp.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(record, separators=(",", ":")) + "\n")
        tmp.replace(path)  # atomic: an interrupted run keeps every finished chunk
        print(f"d_s={ds}: {chunk['timing_s']['rollouts']} rollouts in "
              f"{chunk['timing_s']['wall']:.1f} s", flush=True)
    return json.loads(path.read_text())


def check(path: Path, grid: dict[str, list[Any]], n: dict[str, int],
          cells: list[dict[str, list[Any]]]) -> list[float]:
    """Recompute each sub-grid of ``cells`` and compare it with the record (CHECK_RTOL)."""
    record = im.load_figure3_sweep(path)
    out = []
    for sub in cells:
        levels = {f: sub.get(f, [im.FIGURE3_DEFAULTS[f]]) for f in im.FIGURE3_FACTORS}
        fresh = im.figure3_sweep(rng=stream(), n=n, extra_seed=EXTRA_SEED, seed=SEED, skip=SKIP,
                                 **levels)
        worst = record.largest_difference(fresh)
        print(f"{'ok ' if worst <= CHECK_RTOL else 'BAD'} {worst:.2e}  {sub}")
        assert worst <= CHECK_RTOL, f"recompute differs from the record by {worst:.3g}: {sub}"
        out.append(worst)
    return out


def smoke() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "smoke.json"
        run(path, SMOKE_GRID, SMOKE_N, stop_after=1)
        assert not json.loads(path.read_text())["complete"]
        assert im.load_figure3_sweep(path).info["missing"] == [3]
        run(path, SMOKE_GRID, SMOKE_N)
        resumed = im.load_figure3_sweep(path)
        straight = im.figure3_sweep(rng=stream(), n=SMOKE_N, extra_seed=EXTRA_SEED, seed=SEED,
                                    skip=SKIP, **SMOKE_GRID)
        # the record holds float32: the resumed run equals the straight one to that rounding
        assert resumed.largest_difference(straight) <= CHECK_RTOL
        check(path, SMOKE_GRID, SMOKE_N,
              [{"d_s": [3], "horizon": [10, 20], "reward_centre": [1.0]}])
        other = dict(SMOKE_GRID, horizon=[10])
        try:  # another configuration is refused, not overwritten
            run(path, other, SMOKE_N)
        except SystemExit:
            pass
        else:
            raise AssertionError("a record of another configuration was overwritten")
        print("smoke: resumed run equals the straight run; recompute matches; refusal works")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="recompute CHECK and compare")
    parser.add_argument("--smoke", action="store_true", help="tiny grid in a temporary file")
    parser.add_argument("--fresh", action="store_true",
                        help="replace a record of another configuration")
    args = parser.parse_args()
    if args.smoke:
        smoke()
    elif args.check:
        t0 = time.perf_counter()
        check(RECORD, GRID, N, CHECK)
        print(f"recompute: {time.perf_counter() - t0:.1f} s")
    else:
        record = run(RECORD, GRID, N, fresh=args.fresh)
        print(f"complete: {record['complete']}; {record['total_s']:.0f} s of chunks; "
              f"{RECORD.stat().st_size / 1e3:.0f} kB")


if __name__ == "__main__":
    main()
