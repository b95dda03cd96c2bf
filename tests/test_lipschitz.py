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




# --------------------------------------------------------------------------- residual maps


@pytest.mark.parametrize("sizes", [(3, 16, 3), (2, 8, 8, 2)])
def test_residual_estimates_bound_the_map_x_plus_net(sizes):
    # x + net(x): the Jacobian is I + J, so the lower estimate is the largest ||I + J(x)||, and
    # 1 + prod ||W_k|| bounds every difference quotient of x + net(x) (triangle inequality).
    rng = np.random.default_rng(sum(sizes))
    ws, forward = random_mlp(rng, sizes, 4, torch.relu)
    x = torch.from_numpy(2 * rng.standard_normal((4, 1500, sizes[0])))
    lower = jacobian_norm_lower(forward, x, residual=True)
    upper = lipschitz_upper_bound(ws, residual=True)
    np.testing.assert_allclose(upper, 1 + lipschitz_upper_bound(ws), rtol=1e-15)
    assert np.all(lower <= upper * (1 + 1e-12))
    x2 = x + 0.3 * torch.from_numpy(rng.standard_normal(x.shape))
    q = (((x + forward(x)) - (x2 + forward(x2))).norm(dim=-1) / (x - x2).norm(dim=-1)).amax(-1)
    assert np.all(q.numpy() <= upper * (1 + 1e-12))


def test_residual_estimates_of_a_linear_map():
    # x -> x + x W: Jacobian I + W everywhere (row convention: (I + W)^T, same norm).
    rng = np.random.default_rng(5)
    w = torch.from_numpy(rng.standard_normal((3, 2, 2)))
    x = torch.from_numpy(rng.standard_normal((3, 4, 2)))
    expected = np.linalg.norm(np.eye(2) + w.numpy(), ord=2, axis=(1, 2))
    np.testing.assert_allclose(jacobian_norm_lower(lambda z: z @ w, x, residual=True), expected,
                               rtol=1e-12)


# --------------------------------------------------------------------------- exact, in the plane


def relu_ensemble(rng, n_units, members=3, d_out=2, scale=1.0):
    """An untrained one-hidden-layer ReLU Ensemble with Gaussian weights (float64)."""
    from imagination.ensemble import Ensemble

    w1 = torch.from_numpy(rng.standard_normal((members, 2, n_units)))
    b1 = torch.from_numpy(scale * rng.standard_normal((members, n_units)))
    w2 = torch.from_numpy(rng.standard_normal((members, n_units, d_out)) / np.sqrt(n_units))
    b2 = torch.from_numpy(rng.standard_normal((members, d_out)))
    return Ensemble(params=[(w1, b1), (w2, b2)], output="linear", losses=np.zeros((0, members)))


def regions_by_linear_programming(w1, b1, w2, residual):
    """The largest Jacobian norm over all activation patterns whose region has an interior,
    found by one LP per pattern (max delta s.t. +-(a_k x + c_k) >= delta): an independent,
    exponential-time computation of the same constant."""
    from scipy.optimize import linprog

    n = b1.size
    best = 0.0
    for pattern in itertools.product((0.0, 1.0), repeat=n):
        sign = 2 * np.array(pattern) - 1  # +1: active (a x + c > 0), -1: inactive
        # variables (x0, x1, delta): maximise delta; -sign_k (a_k x + c_k) + delta <= 0
        a_ub = np.column_stack([-sign[:, None] * w1.T, np.ones(n)])
        res = linprog([0, 0, -1], A_ub=a_ub, b_ub=sign * b1,
                      bounds=[(None, None), (None, None), (None, 1.0)])
        if res.status == 0 and -res.fun > 1e-9:
            jac = w1 @ np.diag(pattern) @ w2 + (np.eye(2) if residual else 0)
            best = max(best, np.linalg.norm(jac, 2))
    return best


@pytest.mark.parametrize("residual", [False, True])
def test_planar_relu_lipschitz_equals_the_maximum_over_all_regions(residual):
    rng = np.random.default_rng(11 + residual)
    net = relu_ensemble(rng, 7, members=3)
    exact = im.planar_relu_lipschitz(net, residual=residual)
    for m in range(3):
        w1, b1 = (t[m].numpy() for t in net.params[0])
        ref = regions_by_linear_programming(w1, b1, net.params[1][0][m].numpy(), residual)
        assert exact[m] == pytest.approx(ref, rel=1e-12)


def test_planar_relu_lipschitz_sits_between_the_two_estimates():
    rng = np.random.default_rng(12)
    net = relu_ensemble(rng, 40, members=4, d_out=3)
    exact = im.planar_relu_lipschitz(net)
    g = np.stack(np.meshgrid(np.linspace(-30, 30, 601), np.linspace(-30, 30, 601)), -1)
    lower = jacobian_norm_lower(net, g.reshape(-1, 2))
    assert np.all(lower <= exact * (1 + 1e-12))
    assert np.all(exact <= lipschitz_upper_bound(net) * (1 + 1e-12))
    assert np.all(lower >= 0.9 * exact)  # a dense grid over a wide box finds nearly all of it
    # one member alone gives a float
    from imagination.ensemble import Ensemble

    one = Ensemble(params=[(w[:1], b[:1]) for w, b in net.params], output="linear",
                   losses=np.zeros((0, 1)))
    assert im.planar_relu_lipschitz(one) == pytest.approx(float(exact[0]), rel=1e-15)


def test_planar_relu_lipschitz_rejects_what_it_cannot_certify():
    from imagination.ensemble import Ensemble

    rng = np.random.default_rng(13)
    deep = im.train_ensemble(rng.standard_normal((20, 2)), rng.standard_normal((20, 2)),
                             n_members=1, hidden=(4, 4), max_steps=1)
    with pytest.raises(ValueError, match="one hidden ReLU layer"):
        im.planar_relu_lipschitz(deep)
    three_d = im.train_ensemble(rng.standard_normal((20, 3)), rng.standard_normal((20, 2)),
                                n_members=1, hidden=(4,), max_steps=1)
    with pytest.raises(ValueError, match="two inputs"):
        im.planar_relu_lipschitz(three_d)
    net = relu_ensemble(rng, 3, members=1, d_out=3)
    with pytest.raises(ValueError, match="equal input and output"):
        im.planar_relu_lipschitz(net, residual=True)

    def planar(w1, b1):
        w1 = torch.tensor(w1, dtype=torch.float64)[None]
        b1 = torch.tensor(b1, dtype=torch.float64)[None]
        w2 = torch.ones((1, w1.shape[-1], 2), dtype=torch.float64)
        return Ensemble(params=[(w1, b1), (w2, torch.zeros((1, 2), dtype=torch.float64))],
                        output="linear", losses=np.zeros((0, 1)))

    # three lines through the origin: the regions there are not the four of a crossing
    with pytest.raises(ValueError, match="general position"):
        im.planar_relu_lipschitz(planar([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]], [0.0, 0.0, 0.0]))
    # parallel lines only: no vertex to enumerate
    with pytest.raises(ValueError, match="parallel"):
        im.planar_relu_lipschitz(planar([[1.0, 2.0], [0.0, 0.0]], [0.0, 1.0]))
    with pytest.raises(ValueError, match="tol"):
        im.planar_relu_lipschitz(net, tol=0.0)
    with pytest.raises(ValueError, match="residual"):
        lipschitz_upper_bound([np.ones((3, 2))], residual=True)
    with pytest.raises(ValueError, match="residual"):
        jacobian_norm_lower(lambda z: z[..., :1], np.ones((3, 2)), residual=True)


# --------------------------------------------------------------------------- module_lipschitz

nn = torch.nn
ACTIVATIONS = [nn.ReLU(), nn.LeakyReLU(0.01), nn.LeakyReLU(3.0), nn.LeakyReLU(-2.5), nn.Tanh(),
               nn.Sigmoid(), nn.ELU(), nn.ELU(alpha=2.5), nn.ELU(alpha=0.3), nn.SiLU(),
               nn.GELU(), nn.GELU(approximate="tanh")]


@pytest.mark.parametrize("act", ACTIVATIONS, ids=repr)
def test_activation_constant_is_the_sup_of_the_derivative_on_a_dense_grid(act):
    # A network of one activation: lower = max |sigma'| over the points (the Jacobian is the
    # 1x1 derivative), upper = the constant. On 480,001 points of [-12, 12] (spacing 5e-5; the
    # derivatives are flat at their extrema, so the grid misses the sup by < 1e-8) the constant
    # must be above the grid's maximum and at most 2e-6 above it (rounded up to 6 digits).
    grid = torch.linspace(-12, 12, 480_001, dtype=torch.float64)[:, None]
    r = im.module_lipschitz(nn.Sequential(act), grid)
    assert r.lower <= r.upper < r.lower + 2e-6, (r.lower, r.upper)


def test_rounded_down_constants_would_not_certify():
    # The sup of SiLU' is 1.0998393 and of GELU' 1.1289041: 1.0998 and 1.1289 lie below them.
    grid = torch.linspace(-12, 12, 480_001, dtype=torch.float64)[:, None]
    assert im.module_lipschitz(nn.Sequential(nn.SiLU()), grid).lower > 1.0998
    assert im.module_lipschitz(nn.Sequential(nn.GELU()), grid).lower > 1.1289
    assert im.ACTIVATION_LIPSCHITZ["Sigmoid"] == 0.25 and im.ACTIVATION_LIPSCHITZ["Tanh"] == 1.0


def random_module(seed, sizes, act, scale=1.5):
    torch.manual_seed(seed)
    layers = []
    for k, (a, b) in enumerate(itertools.pairwise(sizes)):
        lin = nn.Linear(a, b)
        with torch.no_grad():
            lin.weight.mul_(scale * np.sqrt(a))  # weights of order 1, so the nets expand
        layers += [lin] + ([act] if k < len(sizes) - 2 else [])
    return nn.Sequential(*layers)


@pytest.mark.parametrize("act", ACTIVATIONS[:1] + ACTIVATIONS[4:], ids=repr)
@pytest.mark.parametrize("sizes", [(6, 32, 4), (5, 16, 16, 5)])
def test_module_upper_bound_dominates_jacobians_and_difference_quotients(act, sizes):
    net = random_module(len(sizes), sizes, act)
    rng = np.random.default_rng(0)
    x = torch.from_numpy(2 * rng.standard_normal((3000, sizes[0])))
    r = im.module_lipschitz(net, x)
    assert 0 < r.lower <= r.upper
    # the upper bound is the product of the layers' factors
    norms = [np.linalg.norm(m.weight.detach().double().numpy(), 2) for m in net
             if isinstance(m, nn.Linear)]
    c = im.lipschitz.module_lipschitz(nn.Sequential(act), torch.zeros(1, 1)).upper
    assert r.upper == pytest.approx(np.prod(norms) * c ** (len(norms) - 1), rel=1e-12)
    # certified: every difference quotient is below it (float64 net)
    net64 = net.double()
    x2 = x + 0.3 * torch.from_numpy(rng.standard_normal(x.shape))
    with torch.no_grad():
        q = (net64(x) - net64(x2)).norm(dim=-1) / (x - x2).norm(dim=-1)
    assert float(q.max()) <= r.upper
    # the sum metric over two blocks: each block's entries bracket its own quotients
    blocks = (sizes[0] - 2, 2)
    rb = im.module_lipschitz(net, x, input_blocks=blocks)
    assert rb.upper.shape == rb.lower.shape == (2,)
    assert np.all(rb.lower <= rb.upper) and rb.upper_max <= r.upper * (1 + 1e-12)
    for b, sl in enumerate((slice(0, blocks[0]), slice(blocks[0], None))):
        xb = x.clone()
        xb[:, sl] = x2[:, sl]
        with torch.no_grad():
            qb = (net64(x) - net64(xb)).norm(dim=-1) / (x - xb).norm(dim=-1)
        assert float(qb.max()) <= rb.upper[b]
    assert net[0].weight.dtype == torch.float64  # we converted it above; the call did not


def test_module_lipschitz_leaves_the_module_alone():
    net = random_module(0, (3, 8, 2), nn.Tanh())
    before = [p.detach().clone() for p in net.parameters()]
    im.module_lipschitz(net, np.zeros((4, 3)))
    assert all(p.dtype == torch.float32 for p in net.parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters(), strict=True))


def test_single_linear_gives_upper_equal_to_lower():
    torch.manual_seed(1)
    lin = nn.Linear(6, 4)
    x = torch.randn(7, 6)
    w = lin.weight.detach().double().numpy()
    r = im.module_lipschitz(nn.Sequential(lin), x)
    assert r.upper == pytest.approx(np.linalg.norm(w, 2), rel=1e-13)
    assert r.lower == pytest.approx(r.upper, rel=1e-12)
    rb = im.module_lipschitz(lin, x, input_blocks=(4, 2))  # a bare Linear is accepted too
    expected = [np.linalg.norm(w[:, :4], 2), np.linalg.norm(w[:, 4:], 2)]
    np.testing.assert_allclose(rb.upper, expected, rtol=1e-13)
    np.testing.assert_allclose(rb.lower, expected, rtol=1e-12)
    # residual: s + W_s s + W_a a has the exact constants ||I + W_s|| and ||W_a||
    sq = nn.Linear(6, 4)
    rr = im.module_lipschitz(sq, x, input_blocks=(4, 2), residual=True)
    ws = sq.weight.detach().double().numpy()
    expected = [np.linalg.norm(np.eye(4) + ws[:, :4], 2), np.linalg.norm(ws[:, 4:], 2)]
    np.testing.assert_allclose(rr.upper, expected, rtol=1e-13)
    np.testing.assert_allclose(rr.lower, expected, rtol=1e-12)


def test_residual_map_bounds():
    # s + net(s, a) with s in R^4, a in R^2: the state block's upper bound is 1 + the net's, and
    # its lower estimate the largest ||I + J_s|| (checked at one point against torch's jacobian).
    net = random_module(3, (6, 16, 4), nn.Tanh(), scale=0.5)
    x = torch.randn(200, 6, dtype=torch.float64)
    plain = im.module_lipschitz(net, x, input_blocks=(4, 2))
    res = im.module_lipschitz(net, x, input_blocks=(4, 2), residual=True)
    assert res.upper[0] == pytest.approx(1 + plain.upper[0], rel=1e-15)
    assert res.upper[1] == plain.upper[1] and res.lower[1] == plain.lower[1]
    assert res.lower[0] <= res.upper[0]
    net64 = net.double()
    point = im.module_lipschitz(net, x[:1], input_blocks=(4, 2), residual=True)
    jac = torch.autograd.functional.jacobian(lambda z: z[:4] + net64(z), x[0])
    assert point.lower[0] == pytest.approx(
        float(torch.linalg.matrix_norm(jac[:, :4], ord=2)), rel=1e-12)
    # the residual map's difference quotients in the state block stay below its bound
    s2 = x.clone()
    s2[:, :4] += 0.5 * torch.randn(200, 4, dtype=torch.float64)
    with torch.no_grad():
        q = ((x[:, :4] + net64(x)) - (s2[:, :4] + net64(s2))).norm(dim=-1) / (x - s2).norm(dim=-1)
    assert float(q.max()) <= res.upper[0]
    # without blocks: d_out == d_in
    sq = random_module(4, (5, 8, 5), nn.ReLU())
    r = im.module_lipschitz(sq, torch.randn(50, 5), residual=True)
    assert r.upper == pytest.approx(1 + im.module_lipschitz(sq, torch.randn(2, 5)).upper)


class Custom(nn.Module):
    def forward(self, x):
        return x


@pytest.mark.parametrize(("module", "x", "kwargs", "match"), [
    (nn.Sequential(nn.Linear(3, 4), nn.Softplus(), nn.Linear(4, 1)), np.zeros((2, 3)), {},
     r"layer 1 is Softplus .*supports only Linear"),
    (nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.1)), np.zeros((2, 3)), {}, "layer 1 is Dropout"),
    (nn.Sequential(nn.BatchNorm1d(3), nn.Linear(3, 1)), np.zeros((2, 3)), {},
     "layer 0 is BatchNorm1d"),
    (Custom(), np.zeros((2, 3)), {}, "layer 0 is Custom"),
    ("not a module", np.zeros((2, 3)), {}, "torch.nn.Module"),
    (nn.Sequential(), np.zeros((2, 3)), {}, "empty"),
    (nn.Sequential(nn.Linear(3, 4), nn.Linear(5, 1)), np.zeros((2, 3)), {}, "takes 5 inputs"),
    (nn.Sequential(nn.Linear(3, 4)), np.zeros((2, 2)), {}, "2 columns"),
    (nn.Sequential(nn.Linear(3, 4)), np.zeros(3), {}, r"\(n, d_in\)"),
    (nn.Sequential(nn.Linear(3, 4)), np.full((2, 3), np.nan), {}, "finite"),
    (nn.Sequential(nn.Linear(3, 4)), np.zeros((2, 3)), {"input_blocks": (2, 2)}, "input_blocks"),
    (nn.Sequential(nn.Linear(3, 4)), np.zeros((2, 3)), {"residual": True}, "output size 4"),
    (nn.Sequential(nn.Linear(3, 3)), np.zeros((2, 3)), {"residual": True,
                                                        "input_blocks": (2, 1)}, "state block"),
])
def test_module_lipschitz_rejects_bad_input(module, x, kwargs, match):
    with pytest.raises(ValueError, match=match):
        im.module_lipschitz(module, x, **kwargs)
