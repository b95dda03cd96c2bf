"""The converse of Proposition 1: the curvature-penalised velocity trainer."""

import numpy as np
import pytest

import imagination as im
from imagination.curvature_penalty import train_velocity_ensemble


def test_velocity_trainer_without_penalty_equals_train_ensemble():
    # With lambda = 0 the loss is train_ensemble's and the generators are the same, so the
    # members must agree up to float32 rounding (the forward pass sees twice the rows, which
    # changes how the matmul kernels round: 1e-5 after 40 steps of size <= lr, as in the
    # ensemble-vs-sequential test).
    rng = np.random.default_rng(6)
    z = rng.standard_normal((400, 2))
    z_next = z + 0.3 * np.tanh(z[:, ::-1])
    ours = train_velocity_ensemble(z, z_next, [0.0, 0.0], max_steps=40, batch_size=64, seed=3)
    ref = im.train_ensemble(z, z_next - z, n_members=2, epochs=100, max_steps=40, batch_size=64,
                            seed=3)
    gap = max(float((a - b).abs().max()) for a, b in zip(ours.weights, ref.weights, strict=True))
    assert gap < 1e-5
    np.testing.assert_allclose(ours.losses, ref.losses, rtol=1e-4, atol=1e-7)


def test_curvature_penalty_straightens_the_learned_velocities():
    # Smoke run with a budget big enough to see the penalty act: consecutive model velocities
    # on the data must turn less with lambda = 1 than with lambda = 0 (same data, same seeds).
    rng = np.random.default_rng(7)
    z = rng.uniform(-2, 2, (600, 2))
    z_next = z + np.array([1.0, 0.0]) + 0.5 * np.sin(2 * z[:, ::-1])
    ens = train_velocity_ensemble(z, z_next, [0.0, 1.0], max_steps=300, lr=3e-3, seed=0)
    curv = im.curvature_loss(ens.predict(z), ens.predict(z_next)).mean(axis=1)
    assert curv[1] < curv[0]
    assert np.all(np.isfinite(ens.losses))


def test_curvature_penalty_experiment_measures_both_constants():
    # Smoke run: shapes, and the order of the three measurements of each constant (Jacobian
    # lower <= exact <= spectral upper), for v_theta and for id + v_theta, whose exact constant
    # lies in [|1 - L_v|, 1 + L_v] of the exact L_v; the true planar sine dynamics have 1 + eps.
    r = im.curvature_penalty_experiment([0.0, 1.0], n_seeds=2, n_trajectories=40, length=4,
                                        max_steps=30, hidden=(16,), seed=1)
    for name in ("L_lower", "L_exact", "L_upper", "Lf_lower", "Lf_exact", "Lf_upper"):
        assert r.by_weight(name).shape == (2, 2)
    slack = 1 + 1e-5  # float32 networks
    assert np.all(r.L_lower <= r.L_exact * slack) and np.all(r.L_exact <= r.L_upper * slack)
    assert np.all(r.Lf_lower <= r.Lf_exact * slack) and np.all(r.Lf_exact <= r.Lf_upper * slack)
    np.testing.assert_allclose(r.Lf_upper, 1 + r.L_upper, rtol=1e-12)
    lo, hi = im.dynamics_lipschitz_interval(r.L_exact)
    assert np.all((r.Lf_exact >= lo * (1 - 1e-9)) & (r.Lf_exact <= hi * (1 + 1e-9)))
    assert r.true_Lf == pytest.approx(1.5, rel=1e-12)
    assert r.true_Lf_lower <= r.true_Lf * (1 + 1e-12)
    deep = im.curvature_penalty_experiment([0.0], n_seeds=2, n_trajectories=20, length=2,
                                           max_steps=2, hidden=(8, 8), seed=1)
    assert np.all(np.isnan(deep.L_exact)) and np.all(np.isnan(deep.Lf_exact))  # not planar-exact


@pytest.mark.parametrize(("kwargs", "match"), [
    (dict(z_next=np.zeros((5, 3))), "both be"),
    (dict(curvature_weight=[-1.0]), "weights >= 0"),
    (dict(curvature_weight=0.5), "1-D"),
    (dict(hidden=()), "hidden"),
    (dict(max_steps=0), "max_steps"),
    (dict(lr=0.0), "lr"),
    (dict(z_t=np.full((5, 2), np.inf)), "finite"),
])
def test_velocity_trainer_rejects_bad_input(kwargs, match):
    args = dict(z_t=np.zeros((5, 2)), z_next=np.ones((5, 2)), curvature_weight=[0.0]) | kwargs
    with pytest.raises(ValueError, match=match):
        train_velocity_ensemble(args.pop("z_t"), args.pop("z_next"),
                                args.pop("curvature_weight"), **args)
