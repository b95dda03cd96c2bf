"""The built book (``make book`` / ``make notebooks html``): every page, numbering, offline assets,
page weights. The build itself runs with ``-W``, so any Sphinx warning already failed it."""

from __future__ import annotations

import json
import re

import pytest

from imagination.book.extension import PLOTLY_JS, bundle_trace_types

from .conftest import PAGES, TOC, is_stub

pytestmark = pytest.mark.book

MAX_PAGE_BYTES = 5 * 1024 * 1024  # design.md §4, not counting the shared plotly.js
OFF_HOST = re.compile(r"""<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)=["'](?:https?:)?//""",
                      re.I)


def _html(built_book, page):
    return (built_book / f"{page}.html").read_text(encoding="utf-8")


@pytest.mark.parametrize("page", PAGES)
def test_every_toc_page_is_built(built_book, page):
    assert (built_book / f"{page}.html").exists()


def test_chapters_are_numbered_one_to_seven_and_back_matter_is_not(built_book):
    nav = _html(built_book, TOC["root"])
    link = r'class="reference internal" href="[^"]*(\d\d)_[a-z_]+\.html">(\d+)\. '
    numbered = re.findall(link, nav)
    assert [(nb, int(n)) for nb, n in numbered] == [(f"{i:02d}", i) for i in range(1, 8)]
    for back in ("08_your_own_models", "09_performance", "00_overview"):
        link = re.search(rf'href="[^"]*{back}\.html">([^<]*)<', nav)
        assert link and not re.match(r"\s*\d+\.", link.group(1)), f"{back} is numbered"


@pytest.mark.parametrize("page", PAGES)
def test_no_asset_comes_from_off_host(built_book, page):
    html = _html(built_book, page)
    assert not OFF_HOST.findall(html), f"{page} loads assets from another host"
    assert "cdn.plot.ly" not in html and "cdn.jsdelivr.net/npm/mathjax" not in html


def test_offline_assets_are_shipped(built_book):
    assert (built_book / "_static" / PLOTLY_JS).stat().st_size > 1_000_000
    assert (built_book / "_static" / "imagination.js").exists()
    assert (built_book / "_static" / "mathjax" / "tex-chtml.js").exists()
    assert 'src="../_static/mathjax/tex-chtml.js' in _html(built_book, TOC["root"])


@pytest.mark.parametrize("page", PAGES)
def test_page_weight(built_book, page):
    html = _html(built_book, page)
    size = len(html.encode())
    for ref in set(re.findall(r'src="(?:\.\./)*(_images/[^"]+)"', html)):
        size += (built_book / ref).stat().st_size
    assert size < MAX_PAGE_BYTES, f"{page}: {size / 1e6:.2f} MB (limit 5 MB without plotly.js)"


@pytest.mark.parametrize("page", [p for p in PAGES if p.startswith("notebooks/")])
def test_no_error_output_on_notebook_pages(built_book, page):
    html = _html(built_book, page)
    assert "Traceback (most recent call last)" not in html
    assert 'class="output traceback' not in html


def test_stub_pages_say_they_are_not_written(built_book):
    for page in filter(is_stub, PAGES):
        assert "not written yet" in _html(built_book, page), page


def test_overview_figures_carry_captions_and_alt_text(built_book):
    html = _html(built_book, "notebooks/00_overview")
    figure = r'<figure class="imagination-figure" role="img" aria-label="([^"]+)"'
    figures = re.findall(figure, html)
    assert len(figures) >= 2 and all(len(alt) > 20 for alt in figures)
    assert html.count('class="imagination-caption"') == len(figures)
    assert "vary all parameters" in html


@pytest.mark.parametrize("page", [p for p in PAGES if p.startswith("notebooks/")])
def test_no_widget_state_reaches_static_pages(built_book, page):
    # ipywidgets state makes myst-nb load widget JavaScript from a CDN (design.md §4)
    html = _html(built_book, page)
    assert "application/vnd.jupyter.widget" not in html
    assert "jupyter-widgets" not in html


def _figure_traces(html: str) -> list[dict]:
    """The trace dicts of every ``Plotly.newPlot(id, data, ...)`` call of a built page."""
    decoder, traces = json.JSONDecoder(), []
    for call in re.finditer(r'Plotly\.newPlot\(\s*"[^"]+",\s*', html):
        data, _ = decoder.raw_decode(html, call.end())
        traces += data
    return traces


def test_every_figure_trace_type_is_in_the_plotly_bundle(built_book):
    # The book ships plotly.js's cartesian bundle only: every trace type any figure of the
    # built book draws must be registered in it (the build fails earlier on a figure that
    # is not, in the mime renderer; this checks the pages as built).
    used: dict[str, set[str]] = {}
    for page in PAGES:
        for trace in _figure_traces(_html(built_book, page)):
            used.setdefault(trace.get("type", "scatter"), set()).add(page)
    assert "scatter" in used and "heatmap" in used  # the scan found the figures
    missing = {t: sorted(pages) for t, pages in used.items() if t not in bundle_trace_types()}
    assert not missing, f"trace types missing from {PLOTLY_JS}: {missing}"
