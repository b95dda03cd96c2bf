"""The scale setting: how big every experiment of the book is (design.md §5).

``IMAGINATION_SCALE`` is read here and nowhere else. Every experiment takes its sizes
from :func:`by_scale`, so one variable moves the whole book between

``ci``
    the test suite: each notebook in tens of seconds on two cores;
``book`` (the default when the variable is unset)
    the rendered book and Binder: cheap experiments at the paper's full size, expensive
    ones with capped optimisation steps and seeds (each page says which);
``paper``
    the paper's own sizes (e.g. 100 seeds x 7 sizes x 200 epochs for Figure 1), for a
    GPU or a long run.

Every assertion of the book must hold at every scale.
"""

from __future__ import annotations

import os
from typing import Literal, TypeVar

__all__ = ["SCALES", "ScaleName", "by_scale", "current_scale", "is_static"]

ScaleName = Literal["ci", "book", "paper"]
SCALES: tuple[ScaleName, ...] = ("ci", "book", "paper")
ENV_SCALE = "IMAGINATION_SCALE"
ENV_STATIC = "IMAGINATION_STATIC"

T = TypeVar("T")


def current_scale() -> ScaleName:
    """Return the scale named by ``IMAGINATION_SCALE`` (``"book"`` when unset or empty).

    Raises
    ------
    ValueError
        If the variable holds anything other than ``ci``, ``book`` or ``paper``.
    """
    value = os.environ.get(ENV_SCALE, "").strip().lower() or "book"
    if value not in SCALES:
        raise ValueError(
            f"{ENV_SCALE}={os.environ.get(ENV_SCALE)!r} is not a scale; "
            f"allowed: {', '.join(SCALES)} (unset means 'book')"
        )
    return value  # type: ignore[return-value]


def by_scale(*, ci: T, book: T, paper: T, scale: ScaleName | None = None) -> T:
    """Pick the value for the current scale.

    Parameters
    ----------
    ci, book, paper
        The value (a size, a count, a tuple of sizes) to use at each scale.
    scale
        Override the environment (for tests); ``None`` reads ``IMAGINATION_SCALE``.

    Returns
    -------
    The value given for the active scale.

    Examples
    --------
    >>> by_scale(ci=10, book=100, paper=1000, scale="ci")
    10
    """
    if scale is None:
        scale = current_scale()
    elif scale not in SCALES:
        raise ValueError(f"scale={scale!r} is not a scale; allowed: {', '.join(SCALES)}")
    return {"ci": ci, "book": book, "paper": paper}[scale]


def is_static() -> bool:
    """Whether figures must be static HTML (``IMAGINATION_STATIC=1``) rather than live widgets.

    The Makefile sets ``IMAGINATION_STATIC=1`` for book builds and nbmake; a kernel where it
    is unset (JupyterLab, Binder) gets live ipywidgets controls.

    Raises
    ------
    ValueError
        If the variable is set to something other than ``0``/``1``/``true``/``false``/empty.
    """
    value = os.environ.get(ENV_STATIC, "").strip().lower()
    if value in ("", "0", "false", "no"):
        return False
    if value in ("1", "true", "yes"):
        return True
    raise ValueError(f"{ENV_STATIC}={value!r}: use 1 (static pages) or 0/unset (live widgets)")
