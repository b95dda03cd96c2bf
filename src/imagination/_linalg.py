"""Batched linear algebra shared by the test beds of Figure 3 and Figures 2 and 4 (private)."""

from __future__ import annotations

import numpy as np


def batched_matvec(X: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``X[n] @ v[..., n, :]``: one matrix per configuration, any number of leading sample axes.

    ``X`` has shape ``(n, i, j)``, ``v`` shape ``(..., n, j)``, so that no Python loop runs over
    configurations.
    """
    return np.einsum("nij,...nj->...ni", X, v)


def spectral_norm(X: np.ndarray) -> np.ndarray:
    """Largest singular value of each matrix of a stack ``(..., i, j)``."""
    return np.linalg.norm(X, ord=2, axis=(-2, -1))
