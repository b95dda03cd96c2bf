"""Corollary 1, the spectral upper bound and the Jacobian lower estimate of a network's Lipschitz
constant, the capacity trade-off experiment (tiny budget) and the curvature-penalised trainer."""

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import imagination as im
from imagination.bounds import dynamics_coefficient, dynamics_coefficient_gradient
from imagination.lipschitz import (
    SaturatedRotation,
    capacity_tradeoff,
    jacobian_norm_lower,
    lipschitz_upper_bound,
    spectral_norms,
    train_velocity_ensemble,
)

# --------------------------------------------------------------------------- Corollary 1


@st.composite
def contracting(draw):
    """(gamma, L_f, L_r, L_pi) with gamma * L_f * (1 + L_pi) <= 0.95 (away from the blow-up)."""
    gamma = draw(st.floats(0.01, 0.99))
    L_pi = draw(st.floats(0.0, 3.0))
    L_f = draw(st.floats(0.0, 0.95 / (gamma * (1 + L_pi))))
    L_r = draw(st.floats(0.0, 5.0))
    return gamma, L_f, L_r, L_pi


def test_dynamics_coefficient_is_the_eps_dyn_coefficient_of_eq1():
    # Eq. (1) with eps_dyn = 1, eps_rew = 0 is exactly C_dyn; by hand at (0.9, 0.5, 1, 0.5):
    # 0.9 * 1.5 / (0.1 * (1 - 0.675)) = 1.35 / 0.0325.
    assert dynamics_coefficient(0.9, 0.5, 1.0, 0.5) == pytest.approx(1.35 / 0.0325, rel=1e-14)
    assert dynamics_coefficient(0.9, 0.5, 1.0, 0.5) == pytest.approx(
        im.return_error_bound(1.0, 0.0, 0.9, 0.5, 1.0, 0.5), rel=1e-14)


@given(contracting())
def test_corollary1_gradient_matches_central_differences(point):
    gamma, L_f, L_r, L_pi = point
    grad = dynamics_coefficient_gradient(gamma, L_f, L_r, L_pi)
    base = np.array([L_f, L_r, L_pi])
    for i in range(3):
        # gamma * L_f * (1 + L_pi) <= 0.95: a step of 1e-6 * max(1, x) moves it by < 1e-4, so
        # both evaluation points stay in the contraction region.
        h = 1e-6 * max(1.0, base[i])
        up, down = base.copy(), base.copy()
        up[i] += h
        down[i] = max(down[i] - h, 0.0)
        fd = (dynamics_coefficient(gamma, *up) - dynamics_coefficient(gamma, *down)) / (
            up[i] - down[i])
        # central/one-sided differences: relative truncation error O(h C''/C') and rounding
        # O(1e-16 C / h); 1e-4 relative is far above both at these h.
        assert fd == pytest.approx(grad[i], rel=1e-4, abs=1e-9)


@given(contracting(), st.integers(0, 2), st.floats(0.0, 1.0))
def test_corollary1_coefficient_is_non_decreasing_in_each_constant(point, i, step):
    gamma, L_f, L_r, L_pi = point
    x = np.array([L_f, L_r, L_pi])
    y = x.copy()
    if i == 0:
        y[0] += step * (0.95 / (gamma * (1 + L_pi)) - L_f)  # stays in the region
    elif i == 1:
        y[1] += step
    else:
        room = 0.95 / (gamma * L_f) - 1 - L_pi if L_f > 1e-3 else 10.0
        y[2] += step * min(room, 10.0)
    assert dynamics_coefficient(gamma, *y) >= dynamics_coefficient(gamma, *x) * (1 - 1e-14)
    assert all(g >= 0 for g in dynamics_coefficient_gradient(gamma, *x))


def test_dynamics_coefficient_rejects_no_contraction_and_bad_gamma():
    with pytest.raises(ValueError, match="contraction"):
        dynamics_coefficient(0.9, 1.0, 1.0, 0.2)
    with pytest.raises(ValueError, match="contraction"):
        dynamics_coefficient_gradient(0.9, 1.0, 1.0, 0.2)
    with pytest.raises(ValueError, match="gamma"):
        dynamics_coefficient_gradient(1.0, 0.1, 1.0, 0.2)
    with pytest.raises(ValueError, match="L_r"):
        dynamics_coefficient(0.5, 0.1, -1.0, 0.2)


# --------------------------------------------------------------------------- network estimates


def random_mlp(rng, sizes, members, activation):
    """Weights (M, d_in, d_out), biases, and a torch forward with the given activation."""
    ws = [torch.from_numpy(rng.standard_normal((members, a, b)) / np.sqrt(a))
          for a, b in itertools.pairwise(sizes)]
    bs = [torch.from_numpy(rng.standard_normal((members, 1, b))) for b in sizes[1:]]

    def forward(x):
        h = x
        for k, (w, b) in enumerate(zip(ws, bs, strict=True)):
            h = h @ w + b
            if k < len(ws) - 1:
                h = activation(h)
        return h

    return ws, forward


@pytest.mark.parametrize("activation", [torch.relu, torch.tanh])
@pytest.mark.parametrize("sizes", [(3, 16, 2), (5, 32, 32, 4), (2, 8, 8, 8, 1)])
def test_spectral_upper_bound_dominates_the_gradient_norm_on_random_networks(activation, sizes):
    rng = np.random.default_rng(len(sizes))
    ws, forward = random_mlp(rng, sizes, 6, activation)
    x = torch.from_numpy(3 * rng.standard_normal((6, 2000, sizes[0])))
    lower, upper = jacobian_norm_lower(forward, x), lipschitz_upper_bound(ws)
    assert lower.shape == upper.shape == (6,)
    assert np.all(lower <= upper * (1 + 1e-12))
    assert np.all(lower > 0)
    # and both bound the difference quotients they claim to: lower from below only at
    # differentiable points, upper from above everywhere
    x2 = x + 0.5 * torch.from_numpy(rng.standard_normal(x.shape))
    q = ((forward(x) - forward(x2)).norm(dim=-1) / (x - x2).norm(dim=-1)).amax(-1).numpy()
    assert np.all(q <= upper * (1 + 1e-12))
    # with the sum metric on two input blocks (d_s, d_a) the bound is tighter but still above
    blocks = (sizes[0] - 1, 1)
    lower_b = jacobian_norm_lower(forward, x, input_blocks=blocks)
    upper_b = lipschitz_upper_bound(ws, input_blocks=blocks)
    assert np.all(lower_b <= upper_b * (1 + 1e-12)) and np.all(upper_b <= upper * (1 + 1e-12))
    s, a = x[..., :-1] - x2[..., :-1], x[..., -1:] - x2[..., -1:]
    q_sum = ((forward(x) - forward(x2)).norm(dim=-1) / (s.norm(dim=-1) + a.norm(dim=-1)))
    assert np.all(q_sum.amax(-1).numpy() <= upper_b * (1 + 1e-12))


def test_estimates_are_exact_for_a_linear_map():
    # A single layer x -> x W: the Jacobian is W everywhere, so lower estimate = upper bound =
    # ||W||_2 (Euclidean), and = max(||W_s||, ||W_a||) for the sum metric over the blocks.
    rng = np.random.default_rng(1)
    w = torch.from_numpy(rng.standard_normal((3, 4, 2)))
    x = torch.from_numpy(rng.standard_normal((3, 5, 4)))
    expected = np.linalg.norm(w.numpy(), ord=2, axis=(1, 2))
    np.testing.assert_allclose(jacobian_norm_lower(lambda z: z @ w, x), expected, rtol=1e-12)
    np.testing.assert_allclose(lipschitz_upper_bound([w]), expected, rtol=1e-12)
    blocks = np.maximum(np.linalg.norm(w[:, :3].numpy(), ord=2, axis=(1, 2)),
                        np.linalg.norm(w[:, 3:].numpy(), ord=2, axis=(1, 2)))
    np.testing.assert_allclose(jacobian_norm_lower(lambda z: z @ w, x, input_blocks=(3, 1)),
                               blocks, rtol=1e-12)
    np.testing.assert_allclose(lipschitz_upper_bound([w], input_blocks=(3, 1)), blocks,
                               rtol=1e-12)


def test_jacobian_rows_match_torch_functional_jacobian():
    rng = np.random.default_rng(2)
    ws, forward = random_mlp(rng, (3, 8, 3), 1, torch.tanh)
    x = torch.from_numpy(rng.standard_normal((1, 1, 3)))
    jac = torch.autograd.functional.jacobian(lambda z: forward(z.view(1, 1, 3)).view(3), x.view(3))
    assert jacobian_norm_lower(forward, x) == pytest.approx(
        float(torch.linalg.matrix_norm(jac, ord=2)), rel=1e-12)
    assert spectral_norms(ws).shape == (1, 2)


def test_estimates_on_an_ensemble_and_chunking():
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, (300, 3))
    ens = im.train_ensemble(x, np.sin(x[:, :2]), n_members=3, max_steps=5, seed=0)
    pts = rng.uniform(-1, 1, (50, 3))
    whole = jacobian_norm_lower(ens, pts)
    np.testing.assert_allclose(jacobian_norm_lower(ens, pts, chunk=7), whole, rtol=1e-12)
    assert whole.shape == (3,)
    assert np.all(whole <= lipschitz_upper_bound(ens) * (1 + 1e-6))


@pytest.mark.parametrize(("call", "match"), [
    (lambda: lipschitz_upper_bound([]), "non-empty"),
    (lambda: lipschitz_upper_bound([np.ones((3, 2)), np.ones((3, 2))]), "inputs"),
    (lambda: lipschitz_upper_bound([np.array([[np.nan]])]), "finite"),
    (lambda: lipschitz_upper_bound([np.ones((3, 2))], input_blocks=(2, 2)), "input_blocks"),
    (lambda: spectral_norms(np.ones((2, 2))), "list"),
    (lambda: jacobian_norm_lower(lambda z: z.sum(-2), np.ones((4, 2))), "leading axes"),
    (lambda: jacobian_norm_lower(lambda z: z, np.ones((0, 2))), "P >= 1"),
    (lambda: jacobian_norm_lower(lambda z: z, np.ones((3, 2)), chunk=0), "chunk"),
])
def test_estimates_reject_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# --------------------------------------------------------------------------- the experiments


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
