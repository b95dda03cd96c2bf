"""The offline plotly renderer of the book (src/imagination/book/extension.py)."""

import json
from importlib.metadata import entry_points
from pathlib import Path
from types import SimpleNamespace

import plotly.graph_objects as go
import pytest
from docutils import nodes

from imagination.book import extension as book_ext


def _mime(content, mime_type=book_ext.PLOTLY_MIME):
    return SimpleNamespace(mime_type=mime_type, content=content,
                           string=content if isinstance(content, str) else json.dumps(content))


def test_renderer_is_registered_for_myst_nb():
    eps = entry_points(group="myst_nb.mime_renderers")
    assert any(ep.value == "imagination.book.extension:PlotlyMimeRenderer" for ep in eps)
    # and it wins over text/html in the html builder
    assert ("html", book_ext.PLOTLY_MIME, 1) in book_ext.PlotlyMimeRenderer.mime_priority_overrides


def test_plotly_json_becomes_offline_html():
    fig = go.Figure(go.Scatter(x=[0, 1], y=[2, 3]))
    fig.update_layout(meta={"imagination": {"caption": "A caption", "alt": "Alt <text>",
                                            "note": "Open in Binder"}})
    out = book_ext.PlotlyMimeRenderer.handle_mime(None, _mime(fig.to_plotly_json()), False)
    assert isinstance(out, list) and isinstance(out[0], nodes.raw)
    html = out[0].astext()
    assert "Plotly.newPlot" in html and 'class="plotly-graph-div"' in html
    assert "cdn" not in html.lower() and "<script src" not in html  # plotly.js comes from _static
    assert 'aria-label="Alt &lt;text&gt;"' in html
    assert "<figcaption>" in html and "A caption" in html and "Open in Binder" in html
    # the JSON text form (how nbformat may hand it over) renders the same figure
    again = book_ext.PlotlyMimeRenderer.handle_mime(None, _mime(json.dumps(fig.to_plotly_json())),
                                                    False)
    assert "Plotly.newPlot" in again[0].astext()


def test_other_mime_types_are_left_to_myst_nb():
    assert book_ext.PlotlyMimeRenderer.handle_mime(None, _mime("x", "text/html"), False) is None


def test_bad_spec_is_a_clear_error():
    with pytest.raises(ValueError, match="'data' key"):
        book_ext.plotly_json_to_html({"layout": {}})


def test_setup_ships_plotly_js(tmp_path: Path):
    calls = {"js": [], "events": []}
    app = SimpleNamespace(
        add_js_file=lambda name, **kw: calls["js"].append((name, kw)),
        add_css_file=lambda name, **kw: calls["js"].append((name, kw)),
        connect=lambda event, fn, **kw: calls["events"].append((event, fn)),
        outdir=str(tmp_path),
        builder=SimpleNamespace(format="html"),
    )
    meta = book_ext.setup(app)
    assert meta["parallel_read_safe"]
    assert calls["js"][0][0] == "plotly.min.js"
    handlers = dict(calls["events"])
    assert set(handlers) == {"build-finished", "html-page-context"}
    handlers["build-finished"](app, None)
    shipped = tmp_path / "_static" / "plotly.min.js"
    assert shipped.stat().st_size > 1_000_000  # the real library, not a stub
    assert (tmp_path / "_static" / "imagination.css").read_text().startswith("/*")


def test_duplicate_inline_scripts_are_dropped_in_place():
    # sphinx-thebe registers the same inline script twice (filename None and ""): keep one,
    # and keep the builder's list object, which MathJax appends to afterwards.
    from sphinx.builders.html._assets import _JavaScript

    scripts = [_JavaScript(None, body="const X = 1"), _JavaScript("", body="const X = 1"),
               _JavaScript("a.js"), _JavaScript("b.js")]
    context = {"script_files": scripts}
    book_ext._dedupe_scripts(None, "page", "page.html", context, None)
    assert context["script_files"] is scripts
    assert [str(getattr(s, "filename", "") or "") for s in scripts] == ["", "a.js", "b.js"]
