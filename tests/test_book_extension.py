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
    fig.update_layout(title={"text": "A <b>long</b> title & more<br>on two lines"},
                      meta={"imagination": {"caption": "A caption", "alt": "Alt <text>",
                                            "note": "Open in Binder"}})
    out = book_ext.PlotlyMimeRenderer.handle_mime(None, _mime(fig.to_plotly_json()), False)
    assert isinstance(out, list) and isinstance(out[0], nodes.raw)
    html = out[0].astext()
    assert "Plotly.newPlot" in html and 'class="plotly-graph-div"' in html
    assert "cdn" not in html.lower() and "<script src" not in html  # plotly.js comes from _static
    assert 'aria-label="Alt &lt;text&gt;"' in html
    assert "<figcaption>" in html and "A caption" in html and "Open in Binder" in html
    # the title is HTML text above the plot (it wraps), and no longer drawn inside the SVG
    assert ('<div class="imagination-figure-title">A <b>long</b> title &amp; more<br>on two '
            "lines</div>") in html
    assert '"title":{"text":""}' in html.replace(" ", "")
    # once drawn, the book's script fits the figure to its column
    assert "imaginationFigures.fit(" in html
    # the JSON text form (how nbformat may hand it over) renders the same figure
    again = book_ext.PlotlyMimeRenderer.handle_mime(None, _mime(json.dumps(fig.to_plotly_json())),
                                                    False)
    assert "Plotly.newPlot" in again[0].astext()


def test_a_trace_type_outside_the_bundle_fails_the_build():
    fig = go.Figure(go.Scatter3d(x=[0], y=[0], z=[0]))
    with pytest.raises(ValueError, match=r"trace types \['scatter3d'\] are not in the book"):
        book_ext.plotly_json_to_html(fig.to_plotly_json())


def test_vendored_bundle_matches_plotly_py_and_carries_its_licence():
    from plotly.offline import get_plotlyjs_version

    # the cartesian bundle of the very plotly.js that plotly.py bundles (and JupyterLab runs)
    assert book_ext.bundle_version() == get_plotlyjs_version()
    assert {"scatter", "heatmap", "box", "bar", "contour", "histogram"} <= (
        book_ext.bundle_trace_types())
    assert "scatter3d" not in book_ext.bundle_trace_types()
    licence = (book_ext.VENDOR / "plotly.js.LICENSE").read_text()
    assert "MIT License" in licence and "Plotly" in licence
    readme = (book_ext.VENDOR / "README.md").read_text()
    assert f"version {book_ext.bundle_version()}" in readme


def test_other_mime_types_are_left_to_myst_nb():
    assert book_ext.PlotlyMimeRenderer.handle_mime(None, _mime("x", "text/html"), False) is None


def test_bad_spec_is_a_clear_error():
    with pytest.raises(ValueError, match="'data' key"):
        book_ext.plotly_json_to_html({"layout": {}})


def test_setup_ships_the_cartesian_bundle_script_and_css(tmp_path: Path):
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
    # plotly.js first, then the fitting script, both before any figure's inline script
    assert [(n, kw["priority"]) for n, kw in calls["js"][:2]] == [
        ("plotly-cartesian.min.js", 100), ("imagination.js", 101)]
    handlers = dict(calls["events"])
    assert set(handlers) == {"config-inited", "build-finished", "html-page-context"}
    handlers["build-finished"](app, None)
    static = tmp_path / "_static"
    assert (static / "plotly-cartesian.min.js").read_bytes() == (
        book_ext.VENDOR / "plotly-cartesian.min.js").read_bytes()
    assert "imaginationFigures" in (static / "imagination.js").read_text()
    assert (static / "imagination.css").read_text().startswith("/*")
    assert not (static / "plotly.min.js").exists()  # the full 4.8 MB bundle is not shipped
    config = SimpleNamespace(templates_path=["_templates"])
    handlers["config-inited"](app, config)
    assert config.templates_path == [str(book_ext.HERE / "templates"), "_templates"]


def test_the_theme_macros_lose_only_the_icon_script():
    # Render our static/webpack-macros.html over the theme's own, as Sphinx's loader does
    # ("!" = the theme's file), and compare with the theme's.
    import jinja2
    import pydata_sphinx_theme

    theme = (Path(pydata_sphinx_theme.__file__).parent / "theme" / "pydata_sphinx_theme"
             / "static" / "webpack-macros.html").read_text()
    ours = (book_ext.HERE / "templates" / "static" / "webpack-macros.html").read_text()
    env = jinja2.Environment(loader=jinja2.DictLoader(
        {"!static/webpack-macros.html": theme, "static/webpack-macros.html": ours}))
    env.globals["pathto"] = lambda path, _=0: path
    mine = env.get_template("static/webpack-macros.html").module
    orig = env.get_template("!static/webpack-macros.html").module
    head = str(mine.head_js_preload())
    assert "fontawesome.js" in str(orig.head_js_preload()) and "fontawesome.js" not in head
    assert "bootstrap.js" in head and "pydata-sphinx-theme.js" in head
    assert str(mine.head_pre_assets()) == str(orig.head_pre_assets())
    assert str(mine.body_post()) == str(orig.body_post())


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
