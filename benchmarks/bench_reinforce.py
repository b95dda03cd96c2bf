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
import datetime
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

from imagination.reinforce import (
    random_tabular_mdp,
    reinforce_estimates,
    sample_rollouts,
    softmax_policy,
)

RESULTS = Path(__file__).resolve().parent / "results" / "bench_reinforce.json"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, correctness only")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


# ------------------------------------------------------------ reference: one rollout at a time


def draw(p, u):
    """Inverse CDF of one categorical distribution."""
    return min(int(np.searchsorted(np.cumsum(p), u, side="right")), len(p) - 1)


def loop_estimates(mdp, theta, horizon, uniforms):
    pi = softmax_policy(theta)
    S, A = pi.shape
    *batch, K = uniforms.shape[:-2]
    out = np.zeros((*batch, S, A))
    for idx in np.ndindex(*batch, K):
        u = uniforms[idx]
        s, traj = draw(mdp.mu, u[0, 0]), []
        for t in range(horizon):
            a = draw(pi[s], u[t, 1])
            traj.append((s, a))
            if t + 1 < horizon:
                s = draw(mdp.P[s, a], u[t + 1, 0])
        G, est = 0.0, np.zeros((S, A))
        for t in reversed(range(horizon)):  # reward-to-go, gamma^t-weighted score terms
            s, a = traj[t]
            G = mdp.r[s, a] + mdp.gamma * G
            score = np.zeros((S, A))
            score[s] = -pi[s]
            score[s, a] += 1.0
            est += mdp.gamma**t * G * score
        out[idx[:-1]] += est / K
    return out


# ------------------------------------------------------------ fast path


def fast_estimates(mdp, theta, horizon, uniforms):
    rollouts = sample_rollouts(mdp, theta, horizon, uniforms.shape[:-2], uniforms=uniforms)
    return reinforce_estimates(rollouts, mdp.gamma)


# ------------------------------------------------------------ timing


def best_of(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return result, min(times)


def main():
    args = parse_args()
    n_states, n_actions, horizon, gamma = 5, 3, 20, 0.9
    n_rep, n_rollouts = (3, 4) if args.smoke else (5000, 4)  # R * K = 20,000 rollouts
    rng = np.random.default_rng(args.seed)
    mdp = random_tabular_mdp(n_states, n_actions, gamma=gamma, rng=rng)
    theta = rng.standard_normal((n_states, n_actions))
    uniforms = rng.random((n_rep, n_rollouts, horizon, 2))

    fast, t_fast = best_of(lambda: fast_estimates(mdp, theta, horizon, uniforms), 1 if args.smoke
                           else 5)
    slow, t_loop = best_of(lambda: loop_estimates(mdp, theta, horizon, uniforms), 1)
    np.testing.assert_allclose(fast, slow, rtol=0, atol=1e-10)
    speedup = t_loop / t_fast

    print(f"S={n_states} A={n_actions} H={horizon} gamma={gamma} R={n_rep} K={n_rollouts} "
          f"({n_rep * n_rollouts} rollouts)")
    print(f"max |fast - loop| = {np.abs(fast - slow).max():.2e}")
    print(f"vectorised: {t_fast:.4f} s (best of {1 if args.smoke else 5})")
    print(f"plain loop: {t_loop:.4f} s")
    if not args.smoke:
        record = {
            "benchmark": "bench_reinforce",
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "machine": {"platform": platform.platform(), "processor": platform.processor(),
                        "machine": platform.machine()},
            "python": sys.version.split()[0],
            "numpy": np.__version__,
            "sizes": {"n_states": n_states, "n_actions": n_actions, "horizon": horizon,
                      "gamma": gamma, "R": n_rep, "K": n_rollouts},
            "seconds": {"vectorised": t_fast, "loop": t_loop},
            "speedup": speedup,
        }
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(record, indent=2) + "\n")
        print(f"wrote {RESULTS}")
    print(f"speedup: {speedup:.1f}x")


if __name__ == "__main__":
    main()
