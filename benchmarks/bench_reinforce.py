"""Vectorised REINFORCE estimates against a plain per-rollout Python loop (Theorem 2's estimator).

Chapter: notebooks/05_reinforce_noisy_rewards.ipynb. Library: imagination.reinforce.

Both paths consume the SAME uniforms (one for the state, one for the action per step), so they
sample the same trajectories and must give the same estimates (checked to 1e-10). The fast path
is `sample_rollouts` + `reinforce_estimates`: a Python loop over the H time steps only, numpy
over all R*K rollouts. The reference is the textbook loop, one rollout at a time.

    python benchmarks/bench_reinforce.py           # at IMAGINATION_SCALE (book): R = 5,000
    IMAGINATION_SCALE=ci python benchmarks/bench_reinforce.py   # R = 500
    python benchmarks/bench_reinforce.py --smoke   # tiny, correctness only, writes nothing

The record is keyed by scale (results/bench_reinforce_<scale>.json, imagination.record_path): a
run at one scale never replaces the record of another.
"""

import argparse
from pathlib import Path

import numpy as np

from imagination.book.records import best_time, record_path, write_record
from imagination.book.scale import by_scale, current_scale
from imagination.reinforce import (
    random_tabular_mdp,
    reinforce_estimates_fast,
    reinforce_estimates_loop,
)

RESULTS = Path(__file__).resolve().parent / "results"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, correctness only")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def main():
    args = parse_args()
    n_states, n_actions, horizon, gamma = 5, 3, 20, 0.9
    scale = "smoke" if args.smoke else current_scale()
    n_rep = 3 if args.smoke else by_scale(ci=500, book=5000, paper=20_000)
    n_rollouts = 4  # K: R * K = 20,000 rollouts at the book scale
    rng = np.random.default_rng(args.seed)
    mdp = random_tabular_mdp(n_states, n_actions, gamma=gamma, rng=rng)
    theta = rng.standard_normal((n_states, n_actions))
    uniforms = rng.random((n_rep, n_rollouts, horizon, 2))

    repeats = 1 if args.smoke else by_scale(ci=3, book=5, paper=5)
    fast, t_fast = best_time(
        lambda: reinforce_estimates_fast(mdp, theta, horizon, uniforms), repeats)
    (slow, _), t_loop = best_time(lambda: reinforce_estimates_loop(mdp, theta, horizon, uniforms))
    np.testing.assert_allclose(fast, slow, rtol=0, atol=1e-10)
    speedup = t_loop / t_fast

    print(f"S={n_states} A={n_actions} H={horizon} gamma={gamma} R={n_rep} K={n_rollouts} "
          f"({n_rep * n_rollouts} rollouts)")
    print(f"max |fast - loop| = {np.abs(fast - slow).max():.2e}")
    print(f"vectorised: {t_fast:.4f} s (best of {repeats})")
    print(f"plain loop: {t_loop:.4f} s")
    if not args.smoke:
        path = write_record(record_path(RESULTS, "bench_reinforce", scale), {
            "benchmark": "bench_reinforce", "scale": scale, "device": "cpu",
            "sizes": {"n_states": n_states, "n_actions": n_actions, "horizon": horizon,
                      "gamma": gamma, "R": n_rep, "K": n_rollouts},
            "seconds": {"vectorised": t_fast, "loop": t_loop},
            "speedup": speedup,
        })
        print(f"wrote {path}")
    print(f"speedup: {speedup:.1f}x")


if __name__ == "__main__":
    main()
