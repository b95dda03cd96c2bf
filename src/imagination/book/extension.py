"""Offline plotly in the book: a myst-nb mime renderer and a Sphinx extension.

Plotly in a kernel emits ``application/vnd.plotly.v1+json``, which myst-nb drops with a
warning. :class:`PlotlyMimeRenderer` (registered under the ``myst_nb.mime_renderers``
entry point in ``pyproject.toml``) turns that JSON into a ``<figure>``: the figure's title as
HTML text (it wraps on a phone), a ``<div>`` with an inline ``Plotly.newPlot`` call, and the
caption. :func:`setup` ships three assets into the build's ``_static/`` and loads them on
every page:

- ``plotly-cartesian.min.js``: plotly.js's cartesian bundle (0.50 MB gzipped, against 1.47 MB
  for the full ``plotly.min.js``), vendored from the npm package
  ``plotly.js-cartesian-dist-min`` at the version plotly.py bundles, with its licence, in
  ``vendor/``. It holds the trace types of :func:`bundle_trace_types`; a figure with any
  other type fails the build.
- ``imagination.js`` (``book.js``): fits each figure to its column and theme (the
  legend below the axes, stacked panels on a phone, light and dark).
- ``imagination.css`` (``book.css``).

It also drops the theme's icon script (``templates/static/webpack-macros.html``). Nothing
comes from a CDN (design.md §4); plotly's own HTML renderers are not used because they
inline 5 MB of JavaScript per figure or hard-code a CDN MathJax. The live path (JupyterLab,
Binder) does not go through this module: there plotly's own renderer draws the figures.

List ``imagination.book.extension`` under ``sphinx.extra_extensions`` in ``_config.yml``.
"""

from __future__ import annotations

import functools
import html
import json
import re
import shutil
from pathlib import Path
from typing import Any, ClassVar

__all__ = ["BOOK_JS", "PLOTLY_JS", "PLOTLY_MIME", "PlotlyMimeRenderer", "bundle_trace_types",
           "bundle_version", "plotly_json_to_html", "setup"]

PLOTLY_MIME = "application/vnd.plotly.v1+json"
PLOTLY_JS = "plotly-cartesian.min.js"
BOOK_JS = "imagination.js"
BOOK_CSS = "imagination.css"
HERE = Path(__file__).parent
VENDOR = HERE / "vendor"


@functools.cache
def bundle_trace_types() -> frozenset[str]:
    """The trace types the vendored plotly.js bundle registers (``scatter``, ``heatmap``, ...).

    Read from the bundle itself: each trace module is declared there as
    ``moduleType:"trace",name:"<type>"``.
    """
    text = (VENDOR / PLOTLY_JS).read_text(encoding="utf-8")
    return frozenset(re.findall(r'moduleType:"trace",name:"(\w+)"', text))


def bundle_version() -> str:
    """The plotly.js version of the vendored bundle, from its licence header (``"4.1.1"``)."""
    with open(VENDOR / PLOTLY_JS, encoding="utf-8") as f:
        head = f.read(200)
    match = re.search(r"plotly\.js \(cartesian - minified\) v(\S+)", head)
    if not match:
        raise ValueError(f"no version in the header of {VENDOR / PLOTLY_JS}")
    return match.group(1)


def plotly_json_to_html(spec: dict[str, Any] | str) -> str:
    """Render a plotly figure spec (the mime bundle's JSON) to an HTML fragment.

    The fragment assumes plotly.js and ``imagination.js`` are already loaded by the
    page; it neither includes plotly.js nor MathJax, and never auto-plays animation frames.
    The figure's title becomes HTML text above the plot.

    Parameters
    ----------
    spec
        The figure as a dict (``data``, ``layout``, optional ``frames``, ``config``) or its
        JSON text.

    Returns
    -------
    str
        ``<figure>...</figure>`` HTML with the inline drawing script.

    Raises
    ------
    ValueError
        If ``spec`` is not a figure, or uses a trace type the vendored bundle lacks.
    """
    import plotly.io as pio  # lazy: the book build only

    if isinstance(spec, str):
        spec = json.loads(spec)
    if not isinstance(spec, dict) or "data" not in spec:
        raise ValueError("a plotly spec must be a dict with a 'data' key (got "
                         f"{type(spec).__name__})")
    missing = {t.get("type", "scatter") for t in spec["data"]} - bundle_trace_types()
    if missing:
        raise ValueError(f"trace types {sorted(missing)} are not in the book's plotly.js bundle "
                         f"({PLOTLY_JS}: {sorted(bundle_trace_types())}); vendor a bundle "
                         "that has them (see imagination/book/vendor/README.md)")
    fig = {k: spec[k] for k in ("data", "layout", "frames") if k in spec}
    title = _pop_title(fig)
    config = {"displaylogo": False, "responsive": True, **spec.get("config", {})}
    height = fig.get("layout", {}).get("height") or 480
    div = pio.to_html(
        fig,
        config=config,
        include_plotlyjs=False,
        include_mathjax=False,
        full_html=False,
        auto_play=False,
        validate=False,
        default_width="100%",
        default_height=f"{height}px",
        post_script="window.imaginationFigures && imaginationFigures.fit('{plot_id}');",
    )
    return _wrap_figure(div, _figure_meta(fig) | {"title": title})


def _pop_title(fig: dict[str, Any]) -> str:
    # The title as HTML text wraps at any width; inside the SVG it would run off a phone.
    layout = fig.setdefault("layout", {})
    title = layout.get("title")
    text = title.get("text", "") if isinstance(title, dict) else str(title or "")
    if text:
        layout["title"] = {**title, "text": ""} if isinstance(title, dict) else {"text": ""}
    return text


def _figure_meta(fig: dict[str, Any]) -> dict[str, str]:
    # viz.py stores caption, alt text and the "open in Binder" note in layout.meta.imagination.
    meta = fig.get("layout", {}).get("meta")
    meta = meta.get("imagination", {}) if isinstance(meta, dict) else {}
    return {k: str(meta.get(k) or "") for k in ("caption", "alt", "note")}


def _wrap_figure(div: str, meta: dict[str, str]) -> str:
    # A <figure> with role=img and aria-label gives screen readers the alt text; the caption
    # and the note are real text on the page (searchable, readable without JavaScript).
    alt = html.escape(meta["alt"] or meta["caption"] or "interactive figure", quote=True)
    caption = html.escape(meta["caption"])
    note = html.escape(meta["note"])
    parts = [f'<figure class="imagination-figure" role="img" aria-label="{alt}">']
    if meta.get("title"):
        # plotly titles are HTML-like (<br>, <sub>, <sup>): keep those, escape the rest
        parts.append(f'<div class="imagination-figure-title">{_title_html(meta["title"])}</div>')
    parts.append(div)
    if caption or note:
        parts.append("<figcaption>")
        if caption:
            parts.append(f'<span class="imagination-caption">{caption}</span>')
        if note:
            parts.append(f' <span class="imagination-note"><em>{note}</em></span>')
        parts.append("</figcaption>")
    parts.append("</figure>")
    return "".join(parts)


def _title_html(title: str) -> str:
    text = html.escape(title, quote=False)
    return re.sub(r"&lt;(/?(?:br|sub|sup|b|i|em))\s*/?&gt;", r"<\1>", text, flags=re.I)


class PlotlyMimeRenderer:
    """myst-nb mime renderer plugin for plotly's JSON output (see module docstring)."""

    # Prefer the plotly JSON over any text/html or text/plain fallback in the html builders.
    mime_priority_overrides: ClassVar[list[tuple[str, str, int | None]]] = [
        ("html", PLOTLY_MIME, 1),
        ("dirhtml", PLOTLY_MIME, 1),
        ("singlehtml", PLOTLY_MIME, 1),
    ]

    @staticmethod
    def handle_mime(renderer: Any, data: Any, inline: bool) -> list[Any] | None:
        """Return a raw-HTML docutils node for plotly JSON, ``None`` for any other mime type."""
        if data.mime_type != PLOTLY_MIME:
            return None
        from docutils import nodes

        content = data.content if isinstance(data.content, dict) else json.loads(data.string)
        html = plotly_json_to_html(content)
        return [nodes.raw(text=html, format="html", classes=["output", "plotly-figure"])]


def _copy_assets(app: Any, exc: Exception | None) -> None:
    if exc is not None or app.builder.format != "html":
        return
    static = Path(app.outdir) / "_static"
    static.mkdir(parents=True, exist_ok=True)
    for source, name in ((VENDOR / PLOTLY_JS, PLOTLY_JS), (HERE / "book.js", BOOK_JS),
                         (HERE / "book.css", BOOK_CSS)):
        shutil.copyfile(source, static / name)


def _add_templates(app: Any, config: Any) -> None:
    # before the theme's: our static/webpack-macros.html wraps the theme's without its icon script
    config.templates_path = [str(HERE / "templates"), *config.templates_path]


def _dedupe_scripts(app: Any, pagename: str, templatename: str, context: dict, doctree: Any
                    ) -> None:
    # sphinx-thebe (always loaded by Jupyter Book 1) registers its inline configuration script
    # on every env-before-read-docs event; a second copy re-declares a `const` and throws a
    # page error in the browser. Keep the first copy of each script.
    seen: set[tuple[str, str]] = set()
    unique = []
    for js in context["script_files"]:
        # the copies differ only in filename None vs "" (both mean "inline")
        body = getattr(js, "attributes", {}).get("body", "")
        key = (str(getattr(js, "filename", js) or ""), str(body))
        if key not in seen:
            seen.add(key)
            unique.append(js)
    # in place: the list is the builder's own, and later handlers (MathJax) append to it
    context["script_files"][:] = unique


def setup(app: Any) -> dict[str, Any]:
    """Sphinx entry point: load plotly.js and the figure script on every page, ship them."""
    # Early priority so plotly.js and the fitting script are defined before the inline
    # scripts of the figures run.
    app.add_js_file(PLOTLY_JS, priority=100)
    app.add_js_file(BOOK_JS, priority=101)
    app.add_css_file(BOOK_CSS)
    app.connect("config-inited", _add_templates)
    app.connect("build-finished", _copy_assets)
    # early: html-page-context stops at the first handler that returns a template name
    app.connect("html-page-context", _dedupe_scripts, priority=100)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
