"""The batched linear algebra of the test beds (imagination._linalg) against plain loops."""

import numpy as np

from imagination._linalg import batched_matvec, spectral_norm


def test_batched_matvec_equals_a_loop_over_configurations_and_samples():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((5, 3, 4))
    v = rng.standard_normal((7, 5, 4))  # 7 samples of each of 5 configurations
    out = batched_matvec(X, v)
    expected = np.array([[X[n] @ v[k, n] for n in range(5)] for k in range(7)])
    np.testing.assert_allclose(out, expected, rtol=1e-14)


def test_spectral_norm_is_the_largest_singular_value():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((6, 3, 5))
    expected = [np.linalg.svd(x, compute_uv=False)[0] for x in X]
    np.testing.assert_allclose(spectral_norm(X), expected, rtol=1e-13)
