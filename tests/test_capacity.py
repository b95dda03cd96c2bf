"""Corollary 1's capacity trade-off: the saturated rotation and the experiment at a tiny budget."""

import numpy as np
import pytest

from imagination.capacity import SaturatedRotation, capacity_tradeoff


def test_saturated_rotation_constants_and_invariant_box():
    system = SaturatedRotation(rho=0.7, b=0.4, beta=0.5, k=0.8)
    rng = np.random.default_rng(4)
    s, a = rng.uniform(-1, 1, (2, 20000, 2)), rng.uniform(-1, 1, (2, 20000, 1))
    q = (np.linalg.norm(system.step(s[0], a[0]) - system.step(s[1], a[1]), axis=-1)
         / (np.linalg.norm(s[0] - s[1], axis=-1) + np.abs(a[0] - a[1])[:, 0]))
    assert system.L_f == 0.7 and np.all(q <= system.L_f * (1 + 1e-12))
    assert np.all(np.abs(system.step(s[0], system.policy(s[0]))) < 0.5)
    assert np.all(np.abs(system.policy(s[0])) <= 0.8)
    with pytest.raises(ValueError, match="invariant"):
        SaturatedRotation(beta=1.5)


def test_capacity_tradeoff_smoke():
    # Tiny budget: checks the plumbing and the claims that hold at any budget.
    caps = np.array([0.2, 1.0, 5.0])
    r = capacity_tradeoff(caps, n_seeds=2, n_train=256, n_test=500, grid_size=30, n_starts=8,
                          max_horizon=5, max_steps=30, seed=1)
    assert r.by_cap("L_upper").shape == (3, 2)
    assert r.ensemble.n_members == 6 and r.ensemble.steps == 30
    cap = np.repeat(caps, 2)
    assert np.all(r.L_upper <= cap * (1 + 1e-5))  # the projection holds the cap
    assert np.all(r.L_lower <= r.L_upper * (1 + 1e-6))
    for h in range(1, 6):  # Lemma 1 with the learned constants covers every realised gap
        assert np.all(r.gap(h) <= r.bound(h))
    assert np.all(r.bound(5) > 0) and np.all(np.isfinite(r.bound(5, "estimate")))
    assert r.by_cap(r.bound(5)).shape == (3, 2)
    # the certificate covers the error at random points of the policy's graph
    system = r.config["system"]
    s = np.random.default_rng(9).uniform(-1, 1, (4000, 2))
    sa = np.concatenate([s, system.policy(s)], axis=-1)
    err = np.linalg.norm(r.ensemble.predict(sa) - system.step(s, system.policy(s)), axis=-1)
    assert np.all(err.max(axis=1) <= r.eps_certified)
    with pytest.raises(ValueError, match="per-member"):
        r.by_cap("caps")
    with pytest.raises(ValueError, match="horizon"):
        r.gap(6)
    with pytest.raises(ValueError, match="certified"):
        r.bound(5, "sup")


@pytest.mark.parametrize(("kwargs", "match"), [
    (dict(caps=[1.0, 0.5]), "increasing"),
    (dict(caps=[0.0, 1.0]), "positive"),
    (dict(caps=[1.0], n_seeds=0), "n_seeds"),
    (dict(caps=[1.0], max_horizon=0), "max_horizon"),
    (dict(caps=[1.0], gamma=1.5), "gamma"),
])
def test_capacity_tradeoff_rejects_bad_input(kwargs, match):
    caps = kwargs.pop("caps")
    with pytest.raises(ValueError, match=match):
        capacity_tradeoff(caps, **kwargs)
