"""Lemma 1's scalar test beds: the extremal system attains the finite-horizon bound, the
nonlinear one stays under it."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import imagination as im


def test_lemma1_extremal_gaps_equal_the_finite_bound():
    # the scalar construction attains B_H at every horizon, contracting or not
    for params in [(0.1, 0.2, 0.9, 0.5, 1.0, 0.5), (0.05, 0.0, 1.0, 1.3, 2.0, 0.2)]:
        gaps = im.extremal_gaps(*params, 30)
        bounds = [im.return_error_bound_finite(*params, h) for h in range(1, 31)]
        assert np.allclose(gaps, bounds, rtol=1e-10, atol=0)


def test_scalar_nonlinear_gaps_stay_under_the_bound():
    params = (0.1, 0.05, 0.95, 0.9, 1.5, 0.7)  # gamma L_f (1 + L_pi) > 1: no Eq. (1)
    gaps = im.scalar_nonlinear_gaps(*params, 40)
    bounds = np.array([im.return_error_bound_finite(*params, h) for h in range(1, 41)])
    assert np.all(gaps <= bounds) and np.all(gaps > 0)


@settings(max_examples=40)
@given(st.floats(0.0, 0.3), st.floats(0.0, 0.2), st.floats(0.5, 1.0), st.floats(0.3, 1.5),
       st.floats(0.5, 2.0), st.floats(0.0, 1.0))
def test_lemma1_finite_bound_covers_the_nonlinear_system_over_chapter1s_slider_ranges(
        eps_dyn, eps_rew, gamma, L_f, L_r, L_pi):
    # every parameter of chapter 1's horizon figure, live sliders included, over its whole range
    gaps = im.scalar_nonlinear_gaps(eps_dyn, eps_rew, gamma, L_f, L_r, L_pi, 60)
    bounds = np.array([im.return_error_bound_finite(eps_dyn, eps_rew, gamma, L_f, L_r, L_pi, h)
                       for h in range(1, 61)])
    assert np.all(gaps <= bounds * (1 + 1e-12))


@pytest.mark.parametrize("fn", ["extremal_gaps", "scalar_nonlinear_gaps"])
def test_scalar_gap_functions_reject_bad_input(fn):
    with pytest.raises(ValueError, match="gamma must satisfy"):
        getattr(im, fn)(0.1, 0.1, 1.5, 0.5, 1.0, 0.5, 10)
    with pytest.raises(ValueError, match="L_pi must be finite"):
        getattr(im, fn)(0.1, 0.1, 0.5, 0.5, 1.0, -0.5, 10)
    with pytest.raises(ValueError, match="horizon must be an integer >= 1"):
        getattr(im, fn)(0.1, 0.1, 0.5, 0.5, 1.0, 0.5, 0)
