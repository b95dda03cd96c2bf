"""Figure 1 at the paper's own scale (§4.1), measured: 2 models x 7 sizes x 100 seeds x 200 epochs.

Chapter: notebooks/03_power_laws.ipynb (the recorded learning curves and fits) and
notebooks/09_performance.ipynb (the measured time). Library: imagination.scaling_experiment.

This is chapter 3's main experiment at `IMAGINATION_SCALE=paper` (the same call, the same seed):
1,400 student trainings, about 60 million Adam steps. On 2 CPU cores it takes hours, more than one
sitting, so it is resumable. Each *chunk* (one model at one size: its 100 students trained as one
ensemble) is written to benchmarks/results/figure1_paper_scale.json as soon as it ends, with its
errors, its measured seconds, the machine and the date. Run the script again and it trains only the
chunks the record lacks; the random draws are made in the same order either way, so the result is
the straight run's (tested in tests/test_teacher_student.py).

    python benchmarks/paper_scale_figure1.py                    # run or resume until complete
    python benchmarks/paper_scale_figure1.py --deadline 12:40   # stop (between chunks) before one
                                                                # that would end after 12:40 UTC
                                                                # (estimated from the chunk before;
                                                                # a call's first chunk always runs)
    python benchmarks/paper_scale_figure1.py --smoke            # tiny run: stop, resume, compare
    python benchmarks/paper_scale_figure1.py --device cuda      # the same run on a GPU, recorded
                                                                # in figure1_paper_scale_cuda.json

Records are keyed by device: a CPU run writes figure1_paper_scale.json, a run on DEVICE writes
figure1_paper_scale_DEVICE.json; neither touches the other. The first record (2026-11-30, the
autograd trainer, three metrics, 196 minutes) is kept as figure1_paper_scale_2026-11-30.json.
"""

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from imagination import ERROR_METRICS, PAPER_SIZES, scaling_experiment
from imagination.book.records import deadline_from

RESULTS = Path(__file__).resolve().parent / "results"
PAPER = dict(sizes=PAPER_SIZES, n_seeds=100, epochs=200, seed=0)  # chapter 3 at paper scale
SMOKE = dict(sizes=(200, 400), n_seeds=3, epochs=2, seed=0, n_test=100, episode_length=50)


class Deadline(Exception):
    """Raised between chunks when the next one would end after the deadline."""


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deadline", help="UTC time HH:MM: stop before a chunk that would end "
                        "later (the first chunk of a call always runs)")
    parser.add_argument("--smoke", action="store_true", help="tiny configuration, temporary file")
    parser.add_argument("--device", default="cpu", help="where the students train: cpu (default), "
                        "cuda, cuda:1, ...; the record's name carries it")
    return parser.parse_args()


def chunk_guard(config, end):
    """on_chunk callback: report the chunk; stop if the next would not end before ``end``."""
    order = [(m, n) for n in config["sizes"] for m in ("dyn", "rew")]
    done = set()

    def on_chunk(model, n, chunk):
        done.add((model, n))
        rate = chunk["seconds"] / chunk["steps"]  # this chunk's seconds per step
        print(f"{model} N={n:>7,}: {chunk['steps']:,} steps in {chunk['seconds'] / 60:.1f} min "
              f"({rate * 1e3:.1f} ms per step of {config['n_seeds']} members)", flush=True)
        pending = [c for c in order if c not in done and c[1] >= n]
        if pending:
            m_next, n_next = pending[0]
            needed = rate * config["epochs"] * math.ceil(n_next / 256)
            if time.time() + needed > end:
                raise Deadline(f"next: {m_next} N={n_next:,}, about {needed / 60:.0f} min")

    return on_chunk


def record_path(device):
    """The record of a run on ``device``: one file per device type, never shared."""
    kind = str(device).split(":")[0]
    return RESULTS / ("figure1_paper_scale.json" if kind == "cpu" else
                      f"figure1_paper_scale_{kind}.json")


def run(path, config, end, device="cpu"):
    try:
        result = scaling_experiment(**config, checkpoint=path, on_chunk=chunk_guard(config, end),
                                    device=device)
    except Deadline as stop:
        print(f"stopped before the deadline ({stop}); run again to resume from {path}")
        return None
    print(f"complete: {len(config['sizes'])} sizes x 2 models, {result.seconds / 60:.1f} min of "
          f"measured training in all")
    for model in ("dyn", "rew"):
        fit = result.fit(model, "rmse", rng=np.random.default_rng(0))
        lo, hi = fit.exponent_ci
        print(f"{model}: RMSE = {fit.coef:.3g} N^(-{fit.exponent:.3f}), 95% CI of the exponent "
              f"[{lo:.3f}, {hi:.3f}]")
    return result


def main():
    args = parse_args()
    if not args.smoke:
        try:
            end = deadline_from(args.deadline)
            run(record_path(args.device), PAPER, end, args.device)
        except ValueError as exc:  # a bad --device or --deadline: one line, exit 2
            print(f"paper_scale_figure1.py: error: {exc}", file=sys.stderr)
            sys.exit(2)
        return
    with tempfile.TemporaryDirectory() as tmp:  # stop after the first chunk, then resume
        path = Path(tmp) / "smoke.json"
        assert run(path, SMOKE, end=time.time()) is None
        resumed = run(path, SMOKE, math.inf, args.device)
        straight = scaling_experiment(**SMOKE)
        differ = {(m, k): float(np.abs(resumed.errors[m][k] - straight.errors[m][k]).max())
                  for m in ("dyn", "rew") for k in ERROR_METRICS
                  if not np.array_equal(resumed.errors[m][k], straight.errors[m][k])}
        same = not differ
        print(f"resumed run equals the straight run: {same}")
        for (m, k), gap in differ.items():  # what differs, to diagnose a failure
            print(f"  {m} {k}: largest difference {gap:.3e}")
        sys.exit(0 if same else 1)


if __name__ == "__main__":
    main()
