"""Vectorised REINFORCE estimates against a plain per-rollout Python loop (Theorem 2's estimator).

Chapter: notebooks/05_reinforce_noisy_rewards.ipynb. Library: imagination.reinforce.

Both paths consume the SAME uniforms (one for the state, one for the action per step), so they
sample the same trajectories and must give the same estimates (checked to 1e-10). The fast path
is `sample_rollouts` + `reinforce_estimates`: a Python loop over the H time steps only, numpy
over all R*K rollouts. The reference is the textbook loop, one rollout at a time.

    python benchmarks/bench_reinforce.py           # timed run, writes results/bench_reinforce.json
    python benchmarks/bench_reinforce.py --smoke   # tiny, correctness only, writes nothing
"""

import argparse
from pathlib import Path

import numpy as np

from imagination.book.records import best_time, write_record
from imagination.reinforce import (
    random_tabular_mdp,
    reinforce_estimates_fast,
    reinforce_estimates_loop,
)

RESULTS = Path(__file__).resolve().parent / "results" / "bench_reinforce.json"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, correctness only")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def main():
    args = parse_args()
    n_states, n_actions, horizon, gamma = 5, 3, 20, 0.9
    n_rep, n_rollouts = (3, 4) if args.smoke else (5000, 4)  # R * K = 20,000 rollouts
    rng = np.random.default_rng(args.seed)
    mdp = random_tabular_mdp(n_states, n_actions, gamma=gamma, rng=rng)
    theta = rng.standard_normal((n_states, n_actions))
    uniforms = rng.random((n_rep, n_rollouts, horizon, 2))

    repeats = 1 if args.smoke else 5
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
        write_record(RESULTS, {
            "benchmark": "bench_reinforce",
            "sizes": {"n_states": n_states, "n_actions": n_actions, "horizon": horizon,
                      "gamma": gamma, "R": n_rep, "K": n_rollouts},
            "seconds": {"vectorised": t_fast, "loop": t_loop},
            "speedup": speedup,
        })
        print(f"wrote {RESULTS}")
    print(f"speedup: {speedup:.1f}x")


if __name__ == "__main__":
    main()
