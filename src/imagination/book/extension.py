"""Offline plotly in the book: a myst-nb mime renderer and a Sphinx extension.

Plotly in a kernel emits ``application/vnd.plotly.v1+json``, which myst-nb drops with a
warning. :class:`PlotlyMimeRenderer` (registered under the ``myst_nb.mime_renderers``
entry point in ``pyproject.toml``) turns that JSON into a ``<div>`` plus an inline
``Plotly.newPlot`` call, and :func:`setup` ships the ``plotly.min.js`` of the installed
plotly package into the build's ``_static/`` and loads it on every page. Nothing comes
from a CDN (design.md §4); plotly's own HTML renderers are not used because they inline
5 MB of JavaScript per figure or hard-code a CDN MathJax.

List ``imagination.book_ext`` under ``sphinx.extra_extensions`` in ``_config.yml``.
"""

from __future__ import annotations

import html
import json
import shutil
from pathlib import Path
from typing import Any, ClassVar

__all__ = ["PLOTLY_JS", "PLOTLY_MIME", "PlotlyMimeRenderer", "plotly_json_to_html", "setup"]

PLOTLY_MIME = "application/vnd.plotly.v1+json"
PLOTLY_JS = "plotly.min.js"
BOOK_CSS = "imagination.css"


def plotly_json_to_html(spec: dict[str, Any] | str) -> str:
    """Render a plotly figure spec (the mime bundle's JSON) to an HTML fragment.

    The fragment assumes ``plotly.min.js`` is already loaded by the page; it neither
    includes plotly.js nor MathJax, and never auto-plays animation frames.

    Parameters
    ----------
    spec
        The figure as a dict (``data``, ``layout``, optional ``frames``, ``config``) or its
        JSON text.

    Returns
    -------
    str
        ``<div>...</div>`` HTML with the inline drawing script.
    """
    import plotly.io as pio  # lazy: the book build only

    if isinstance(spec, str):
        spec = json.loads(spec)
    if not isinstance(spec, dict) or "data" not in spec:
        raise ValueError("a plotly spec must be a dict with a 'data' key (got "
                         f"{type(spec).__name__})")
    fig = {k: spec[k] for k in ("data", "layout", "frames") if k in spec}
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
    )
    return _wrap_figure(div, _figure_meta(fig))


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
    parts = [f'<figure class="imagination-figure" role="img" aria-label="{alt}">', div]
    if caption or note:
        parts.append("<figcaption>")
        if caption:
            parts.append(f'<span class="imagination-caption">{caption}</span>')
        if note:
            parts.append(f' <span class="imagination-note"><em>{note}</em></span>')
        parts.append("</figcaption>")
    parts.append("</figure>")
    return "".join(parts)


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
    import plotly

    static = Path(app.outdir) / "_static"
    static.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(Path(plotly.__file__).parent / "package_data" / PLOTLY_JS, static / PLOTLY_JS)
    shutil.copyfile(Path(__file__).with_name("book.css"), static / BOOK_CSS)


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
    """Sphinx entry point: load ``plotly.min.js`` on every page and copy it into ``_static``."""
    # Early priority so plotly.js is defined before the inline scripts of the figures run.
    app.add_js_file(PLOTLY_JS, priority=100)
    app.add_css_file(BOOK_CSS)
    app.connect("build-finished", _copy_assets)
    # early: html-page-context stops at the first handler that returns a template name
    app.connect("html-page-context", _dedupe_scripts, priority=100)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
