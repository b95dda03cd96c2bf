"""imagination.book: glue_many glues numbers under a prefix as plain Python values."""

import numpy as np
import pytest

from imagination.book import glue_many


def test_glue_many_glues_each_value_as_a_python_number(monkeypatch):
    glued = {}
    myst_nb = pytest.importorskip("myst_nb")
    monkeypatch.setattr(myst_nb, "glue",
                        lambda name, value, display=True: glued.update({name: (value, display)}))
    glue_many("fig3_", median=np.float64(0.5), n=np.int64(7), label="x")
    assert glued == {"fig3_median": (0.5, False), "fig3_n": (7, False), "fig3_label": ("x", False)}
    assert type(glued["fig3_median"][0]) is float and type(glued["fig3_n"][0]) is int
    with pytest.raises(ValueError, match="at least one"):
        glue_many("x")
