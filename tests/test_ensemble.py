"""The batched ensemble trainer against its plain reference loop: equivalence, spectral caps,
the penalty hook, held-out errors and bad input."""

import numpy as np
import pytest
import torch

import imagination as im
from imagination import ensemble


@pytest.fixture(scope="module")
def data():
    teachers = im.make_teachers(seed=0)
    x, s_next, r = im.collect_transitions(teachers, 2, episode_length=300,
                                          rng=np.random.default_rng(0))
    return teachers, x, s_next, r


def _max_weight_gap(a, b):
    return max(float((wa - wb).abs().max()) for (wa, _), (wb, _) in zip(a.params, b.params,
                                                                          strict=True))


@pytest.mark.parametrize("output", ["tanh", "linear"])
def test_ensemble_members_match_sequential_training(data, output):
    # Same generators, so same initialisation and data order: the only difference is how float32
    # kernels round (batched vs single matmuls). After 60 Adam steps of size <= lr = 1e-3 the
    # weights must agree to 1e-5 (about 100 float32 ulps at weights of order 0.1-1), while two
    # different members differ by far more than that (checked below, so the test has teeth).
    _, x, s_next, r = data
    y = s_next if output == "tanh" else r
    index = np.argsort(np.random.default_rng(1).random((3, x.shape[0])), axis=1)[:, :500]
    kwargs = dict(index=index, output=output, max_steps=60, batch_size=64, seed=4)
    fast = im.train_ensemble(x, y, **kwargs)
    slow = im.train_sequential(x, y, **kwargs)
    assert fast.steps == slow.steps == 60
    assert _max_weight_gap(fast, slow) < 1e-5
    np.testing.assert_allclose(fast.losses, slow.losses, rtol=1e-4, atol=1e-6)
    assert float((fast.params[0][0][0] - fast.params[0][0][1]).abs().max()) > 1e-2


def test_ensemble_with_caps_matches_sequential_and_respects_caps(data):
    _, x, s_next, _ = data
    caps = np.array([[0.5, 0.7], [1.0, 1.0], [3.0, 2.0]])
    kwargs = dict(n_members=3, output="tanh", max_steps=40, batch_size=128, lipschitz_cap=caps,
                  seed=2)
    fast = im.train_ensemble(x, s_next, **kwargs)
    slow = im.train_sequential(x, s_next, **kwargs)
    # spectral norms come from an SVD in both paths, which rounds differently: 1e-4.
    assert _max_weight_gap(fast, slow) < 1e-4
    norms = np.stack([torch.linalg.matrix_norm(w, ord=2).numpy() for w in fast.weights], axis=1)
    assert np.all(norms <= caps * (1 + 1e-5))
    assert np.any(norms > caps * 0.99)  # the caps bind: training pushes against them


def test_member_result_does_not_depend_on_ensemble_size(data):
    _, x, _, r = data
    index = np.argsort(np.random.default_rng(5).random((4, x.shape[0])), axis=1)[:, :300]
    big = im.train_ensemble(x, r, index=index, max_steps=25, seed=7)
    small = im.train_ensemble(x, r, index=index[:1], max_steps=25, seed=7)
    for (wb, bb), (ws, bs) in zip(big.params, small.params, strict=True):
        torch.testing.assert_close(wb[:1], ws, rtol=0, atol=1e-6)
        torch.testing.assert_close(bb[:1], bs, rtol=0, atol=1e-6)


def test_training_reduces_the_loss_and_predict_shapes(data):
    _, x, _, r = data
    ens = im.train_ensemble(x, r, n_members=2, epochs=40, seed=0)
    assert ens.steps == 40 * int(np.ceil(x.shape[0] / 256))
    assert ens.losses.shape == (ens.steps, 2)
    assert np.all(ens.losses[-10:].mean(0) < 0.5 * ens.losses[:10].mean(0))
    pred = ens.predict(x[:7])
    assert pred.shape == (2, 7, 1) and pred.dtype == np.float64
    per_member = ens.predict(np.stack([x[:7], x[7:14]]))
    np.testing.assert_allclose(per_member[0], pred[0], rtol=1e-6)


def test_epoch_schedule_and_step_cap(data):
    _, x, _, r = data
    # ceil(1000/256) = 4 batches per epoch
    assert ensemble._n_steps(1000, 256, 200, None) == 200 * 4
    assert ensemble._n_steps(1000, 256, 200, 123) == 123
    ens = im.train_ensemble(x[:100], r[:100], n_members=1, epochs=3, batch_size=64, seed=0)
    assert ens.steps == 6  # 2 batches (64 + 36) per epoch


def test_heldout_errors_by_hand():
    y = np.array([[0.0, 0.0], [1.0, 1.0]])
    pred = np.array([[[3.0, 4.0], [1.0, 1.0]]])  # errors 5 and 0
    err = im.heldout_errors(pred, y)
    assert err["mse"][0] == pytest.approx(12.5)  # (25 + 0) / 2
    assert err["rmse"][0] == pytest.approx(np.sqrt(12.5))
    assert err["max"][0] == pytest.approx(5.0)
    # per element: the four squared errors 9, 16, 0, 0 average to 6.25 = 12.5 / d_out
    assert err["mse_elem"][0] == pytest.approx(6.25)
    assert err["rmse_elem"][0] == pytest.approx(2.5)
    assert err["max_elem"][0] == pytest.approx(4.0)  # the largest coordinate error
    scalar = im.heldout_errors(np.zeros((2, 3, 1)), np.ones(3))
    assert scalar["max"].tolist() == [1.0, 1.0]
    for name in ("mse", "rmse", "max"):  # a scalar target: the two families coincide
        np.testing.assert_array_equal(scalar[name], scalar[name + "_elem"])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_members": None}, "n_members"),
        ({"n_members": 2, "index": np.zeros((2, 3), int)}, "not both"),
        ({"index": np.zeros((2, 3))}, "integer"),
        ({"index": np.full((2, 3), 10**6)}, "index rows"),
        ({"n_members": 2, "hidden": (0,)}, "hidden"),
        ({"n_members": 2, "output": "relu"}, "output"),
        ({"n_members": 2, "epochs": 0}, "epochs"),
        ({"n_members": 2, "max_steps": 0}, "max_steps"),
        ({"n_members": 2, "lr": -1.0}, "lr"),
        ({"n_members": 2, "lipschitz_cap": -1.0}, "lipschitz_cap"),
        ({"n_members": 2, "lipschitz_cap": np.ones((3, 2))}, "lipschitz_cap"),
    ],
)
def test_train_ensemble_rejects_bad_input(data, kwargs, match):
    _, x, _, r = data
    with pytest.raises(ValueError, match=match):
        im.train_ensemble(x, r, **kwargs)


def test_penalty_hook_adds_a_per_member_loss(data):
    # A zero penalty changes nothing; a penalty on the size of the predictions (weight 0 for
    # member 0, 10 for member 1) shrinks member 1's outputs and leaves member 0's fit as it was.
    _, x, _, r = data
    kwargs = dict(n_members=2, max_steps=150, seed=5)
    plain = im.train_ensemble(x, r, **kwargs)
    zero = im.train_ensemble(x, r, penalty=lambda model, xb, yb, pred: 0.0 * pred.sum(dim=(1, 2)),
                             **kwargs)
    assert _max_weight_gap(plain, zero) == 0.0
    weight = torch.tensor([0.0, 10.0])
    shrunk = im.train_ensemble(
        x, r, penalty=lambda model, xb, yb, pred: weight * (pred**2).mean(dim=(1, 2)), **kwargs)
    assert _max_weight_gap(plain, shrunk) > 0
    torch.testing.assert_close(shrunk.params[0][0][0], plain.params[0][0][0])
    size = np.abs(shrunk.predict(x)).mean(axis=(1, 2))
    assert size[1] < 0.5 * np.abs(plain.predict(x)).mean(axis=(1, 2))[1]
