"""Argument checks shared by every module of the library (private: not part of the API).

Each check returns the validated value (converted) or raises ``ValueError`` with a message that
names the argument and says what is allowed. Defined once here; no module defines its own copy
or imports another module's private checks.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike


def as_output(x: Any) -> Any:
    """A Python ``float`` for a 0-d result, the array otherwise (the return convention)."""
    return float(x) if np.ndim(x) == 0 else x


def check_finite(name: str, value: Any) -> float:
    """A finite real number."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a finite real number, got {value!r}") from None
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return v


def check_positive(name: str, value: Any, meaning: str = "") -> float:
    """A finite number > 0; ``meaning`` is appended to the message (why it must be positive)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"{name} must be finite and > 0{meaning}, got {value!r}")
    return v


def check_nonneg(name: str, value: Any) -> float:
    """A finite number >= 0."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}") from None
    if not 0.0 <= v < math.inf:  # also rejects nan
        raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
    return v


def check_nonneg_arrays(**named: ArrayLike) -> list[np.ndarray]:
    """Arrays (or scalars) whose every entry is finite and >= 0, in the order given."""
    arrays = []
    for name, value in named.items():
        a = np.asarray(value, dtype=float)
        if np.any(np.isnan(a)) or np.any(a < 0) or np.any(np.isinf(a)):
            raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
        arrays.append(a)
    return arrays


def check_gamma(gamma: ArrayLike, *, allow_one: bool = False) -> np.ndarray:
    """Discount factor(s) in ``[0, 1)``, or ``[0, 1]`` with ``allow_one`` (finite horizons)."""
    try:
        g = np.asarray(gamma, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"gamma must be a number, got {gamma!r}") from None
    upper_ok = g <= 1 if allow_one else g < 1
    if np.any(np.isnan(g)) or np.any(g < 0) or not np.all(upper_ok):
        allowed = "0 <= gamma <= 1" if allow_one else "0 <= gamma < 1"
        raise ValueError(f"gamma must satisfy {allowed}, got {gamma!r}")
    return g


def check_int(name: str, value: Any, minimum: int) -> int:
    """An integer (a Python or numpy integer, not a bool or a float) >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_rng(rng: Any, name: str = "rng") -> np.random.Generator:
    """A ``numpy.random.Generator``: every random draw of the library goes through one.

    ``name`` is the argument's name in the message (a function may take several generators).
    """
    if not isinstance(rng, np.random.Generator):
        raise ValueError(
            f"{name} must be a numpy.random.Generator (e.g. np.random.default_rng(0)), got "
            f"{type(rng).__name__}"
        )
    return rng


def check_float_array(name: str, value: ArrayLike, n: int | None = None, *,
                      positive: bool = True, upper: float = np.inf) -> np.ndarray:
    """A read-only 1-D float array (of length ``n`` if given), entries finite, > 0 (or >= 0
    with ``positive=False``) and < ``upper``."""
    arr = np.array(value, dtype=float, ndmin=1)
    if arr.ndim != 1 or (n is not None and arr.shape != (n,)):
        raise ValueError(f"{name} must have shape (n,){'' if n is None else f' = ({n},)'}, "
                         f"got {arr.shape}")
    ok = np.isfinite(arr) & (arr > 0 if positive else arr >= 0) & (arr < upper)
    if not np.all(ok):
        bound = "> 0" if positive else ">= 0"
        extra = f" and < {upper}" if np.isfinite(upper) else ""
        raise ValueError(f"every {name} must be finite, {bound}{extra}; got {value!r}")
    arr.setflags(write=False)
    return arr


def check_positive_array(name: str, value: Any) -> np.ndarray:
    """A non-empty float array (any shape, or a scalar) whose every entry is finite and > 0."""
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a finite number (or array) > 0, got {value!r}") from None
    if arr.size == 0 or not np.all(np.isfinite(arr) & (arr > 0)):
        raise ValueError(f"{name} must be finite and > 0 everywhere, got {value!r}")
    return arr
