"""Network Lipschitz estimates: the spectral upper bound dominates the Jacobian lower estimate,
both exact for a linear map."""

import itertools

import numpy as np
import pytest
import torch

import imagination as im
from imagination.lipschitz import (
    jacobian_norm_lower,
    lipschitz_upper_bound,
    spectral_norms,
)

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
    # The ensemble runs in float32, and another chunk size may take another matmul kernel, which
    # rounds each 64-term sum of the hidden layer differently: agreement to 64 float32 ulps
    # (7.6e-6 relative), far below what a lost or repeated chunk would change.
    rtol = 64 * float(np.finfo(np.float32).eps)
    np.testing.assert_allclose(jacobian_norm_lower(ens, pts, chunk=7), whole, rtol=rtol)
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


