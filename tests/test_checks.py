"""The shared argument checks (imagination._checks): what each accepts, converts and refuses."""

import math

import numpy as np
import pytest

from imagination import _checks as c


def test_as_output_returns_a_float_for_0d_and_the_array_otherwise():
    assert type(c.as_output(np.float64(2.5))) is float and c.as_output(np.array(1.0)) == 1.0
    arr = np.arange(3.0)
    assert c.as_output(arr) is arr


def test_scalar_checks_accept_and_convert():
    assert c.check_finite("x", "1.5") == 1.5 and c.check_finite("x", -2) == -2.0
    assert c.check_positive("x", 3) == 3.0
    assert c.check_nonneg("x", 0) == 0.0
    assert c.check_int("n", np.int64(4), 1) == 4
    assert c.check_gamma(0.5).shape == () and float(c.check_gamma(1.0, allow_one=True)) == 1.0
    rng = np.random.default_rng(0)
    assert c.check_rng(rng) is rng
    a, b = c.check_nonneg_arrays(a=[0.0, 1.0], b=2.0)
    assert a.tolist() == [0.0, 1.0] and float(b) == 2.0
    f = c.check_float_array("w", [1.0, 2.0], 2)
    assert not f.flags.writeable
    assert c.check_positive_array("m", [[1.0, 2.0]]).shape == (1, 2)
    assert c.check_positive_array("m", 3).shape == ()


@pytest.mark.parametrize(("call", "match"), [
    (lambda: c.check_finite("x", math.inf), "x must be finite"),
    (lambda: c.check_finite("x", "one"), "x must be a finite real number"),
    (lambda: c.check_positive("budget", 0.0, ": why"), r"budget must be finite and > 0: why"),
    (lambda: c.check_positive("budget", None), "budget must be a finite number > 0"),
    (lambda: c.check_nonneg("eps", -1e-12), "eps must be finite and >= 0"),
    (lambda: c.check_nonneg("eps", math.nan), "eps must be finite and >= 0"),
    (lambda: c.check_nonneg_arrays(L_f=[1.0, -1.0]), "L_f must be finite and >= 0"),
    (lambda: c.check_gamma(1.0), r"0 <= gamma < 1"),
    (lambda: c.check_gamma([0.5, 1.01], allow_one=True), r"0 <= gamma <= 1"),
    (lambda: c.check_gamma(math.nan), "gamma must satisfy"),
    (lambda: c.check_int("n", 2.0, 1), "n must be an integer >= 1"),
    (lambda: c.check_int("n", True, 0), "n must be an integer >= 0"),
    (lambda: c.check_int("n", 0, 1), "n must be an integer >= 1"),
    (lambda: c.check_rng(0), "rng must be a numpy.random.Generator"),
    (lambda: c.check_float_array("w", [[1.0]]), r"w must have shape \(n,\)"),
    (lambda: c.check_float_array("w", [1.0], 2), r"w must have shape \(n,\) = \(2,\)"),
    (lambda: c.check_float_array("w", [0.0]), "every w must be finite, > 0"),
    (lambda: c.check_float_array("g", [1.0], upper=1.0), "and < 1.0"),
    (lambda: c.check_positive_array("m", [1.0, 0.0]), "m must be finite and > 0 everywhere"),
    (lambda: c.check_positive_array("m", []), "m must be finite and > 0 everywhere"),
    (lambda: c.check_positive_array("m", "x"), r"m must be a finite number \(or array\) > 0"),
])
def test_checks_refuse_with_a_message_naming_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_nonnegative_float_array_allows_zero():
    assert c.check_float_array("w", [0.0, 1.0], positive=False).tolist() == [0.0, 1.0]
