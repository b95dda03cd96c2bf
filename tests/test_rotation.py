"""The overview's rotation system: exact one-step error, closed-form fixed point, returns."""

import numpy as np
import pytest

import imagination as im


def test_imagined_step_error_is_exactly_eps_dyn():
    rng = np.random.default_rng(0)
    s = rng.normal(size=(100, 2))
    real = im.rotation_rollout(0.8, 0.5, s, 1)[1]
    imagined = im.rotation_rollout(0.8, 0.5, s, 1, eps_dyn=0.3, direction=(3.0, 4.0))
    err = np.linalg.norm(imagined[1] - real, axis=-1)
    assert np.allclose(err, 0.3, rtol=1e-12)


def test_imagined_trajectory_converges_to_shifted_fixed_point():
    rho, theta, eps = 0.8, 0.5, 0.1
    R = rho * np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    fixed = np.linalg.solve(np.eye(2) - R, eps * np.array([1.0, 0.0]))
    traj = im.rotation_rollout(rho, theta, [1.0, 0.0], 400, eps_dyn=eps)
    assert np.allclose(traj[-1], fixed, atol=1e-12)
    assert np.allclose(im.rotation_rollout(rho, theta, [1.0, 0.0], 400)[-1], 0.0, atol=1e-12)


def test_rollout_broadcasts_over_start_states():
    s0 = np.array([[1.0, 0.0], [0.0, 2.0]])
    both = im.rotation_rollout(0.9, 0.3, s0, 5)
    assert both.shape == (6, 2, 2)
    assert np.allclose(both[:, 1], im.rotation_rollout(0.9, 0.3, s0[1], 5))


def test_discounted_return_by_hand():
    assert im.discounted_return([1.0, 2.0, 3.0], 0.5) == pytest.approx(1 + 1 + 0.75)
    out = im.discounted_return(np.ones((3, 2)), 1.0)
    assert np.allclose(out, [3.0, 3.0])


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: im.rotation_rollout(0.8, 0.1, [1.0, 0.0, 0.0], 3), r"shape \(\.\.\., 2\)"),
        (lambda: im.rotation_rollout(-0.1, 0.1, [1.0, 0.0], 3), r"rho must be"),
        (lambda: im.rotation_rollout(0.8, 0.1, [1.0, 0.0], -1), r"horizon must be"),
        (lambda: im.rotation_rollout(0.8, 0.1, [1.0, 0.0], 3, eps_dyn=-1), r"eps_dyn must be"),
        (lambda: im.rotation_rollout(0.8, 0.1, [1.0, 0.0], 3, direction=(0, 0)), r"non-zero"),
        (lambda: im.discounted_return([1.0], 1.5), r"0 <= gamma <= 1"),
        (lambda: im.discounted_return(1.0, 0.5), r"time axis"),
    ],
)
def test_systems_reject_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("rho", [0.0, 0.5, 0.8, 0.95])
@pytest.mark.parametrize("theta", [0.0, 0.5, 1.5, 3.0])
def test_imagined_fixed_point_is_where_a_long_simulation_settles(rho, theta):
    eps = 0.07
    end = im.rotation_rollout(rho, theta, [1.0, -1.0], 3000, eps_dyn=eps, direction=(0.6, 0.8))[-1]
    point = im.imagined_fixed_point(rho, theta, eps, direction=(0.6, 0.8))
    np.testing.assert_allclose(end, point, rtol=0, atol=1e-13)
    # the closed form of its distance: eps / sqrt(1 - 2 rho cos(theta) + rho^2)
    assert np.linalg.norm(end) == pytest.approx(im.fixed_point_distance(rho, theta, eps),
                                                rel=1e-12)


def test_fixed_point_distance_is_at_most_eps_over_one_minus_rho_and_can_fall_with_rho():
    rho = np.linspace(0.0, 0.99, 100)
    assert np.all(im.fixed_point_distance(rho, 0.0, 1.0) == pytest.approx(1 / (1 - rho)))
    assert np.all(im.fixed_point_distance(rho, 0.7, 1.0) <= 1 / (1 - rho))
    assert np.all(np.diff(im.fixed_point_distance(rho[rho > 0.1], 1.5, 1.0)) < 0)
    with pytest.raises(ValueError, match="rho must satisfy 0 <= rho < 1"):
        im.fixed_point_distance(1.0, 0.5, 1.0)
    with pytest.raises(ValueError, match="rho must satisfy 0 <= rho < 1"):
        im.imagined_fixed_point(1.2, 0.5, 1.0)
