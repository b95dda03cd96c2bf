"""The book's plumbing, apart from the paper's results: the scale setting
(:mod:`imagination.book.scale`), dated benchmark records (:mod:`imagination.book.records`), the
Sphinx extension that renders plotly figures offline (:mod:`imagination.book.extension`) and
:func:`glue_many` for notebooks.

Nothing here computes a result of the paper; the flat API (``import imagination as im``) still
exposes ``im.by_scale``, ``im.current_scale``, ``im.is_static`` and the record helpers.
"""

from __future__ import annotations

from typing import Any

__all__ = ["glue_many"]


def glue_many(prefix: str = "", **values: Any) -> None:
    """Glue several numbers for the notebook's text at once (myst-nb ``glue``, not displayed).

    ``glue_many("fig3_", median=m, max=x)`` glues ``fig3_median`` and ``fig3_max``. NumPy
    scalars are converted to Python numbers, so the glued text is the same as for a plain value.

    Raises
    ------
    ValueError
        If no value is given.
    """
    from myst_nb import glue

    if not values:
        raise ValueError("glue_many needs at least one name=value")
    for name, value in values.items():
        if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
            value = value.item()
        glue(f"{prefix}{name}", value, display=False)
