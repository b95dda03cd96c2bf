"""Every page of the built book in headless Chromium: loads cleanly and offline, math renders,
every plotly figure draws, and on each written notebook of 00-07 a native slider moves the plot.
The notebook pages are also read on a 390-px phone: figures whose legend and title stay off the
plot, code that is never cut, a light page (compressed weight), controls that work."""

from __future__ import annotations

import os
import tomllib

import pytest

from .browser_harness import CHROMIUM, serve, visit_page
from .conftest import HTML, PAGES, ROOT, TOC, is_stub, require

pytestmark = pytest.mark.browser

SCREENSHOTS = ROOT / "_build" / "screenshots"
DESKTOP, PHONE = 1280, 390
# Chapter pages (every notebook): read at both widths. The other pages at the desktop width.
NOTEBOOKS = [p for p in PAGES if p.startswith("notebooks/")]
BOTH = [(p, w) for w in (DESKTOP, PHONE) for p in (PAGES if w == DESKTOP else NOTEBOOKS)]
# Notebooks 00-07 must each carry a working native slider once written (08 and 09 are exempt).
SLIDER_PAGES = [p for p in NOTEBOOKS if p[10:12] <= "07" and not is_stub(p)]
MAX_COMPRESSED_BYTES = 1_500_000  # an empty-cache load of a chapter page, gzip as a host sends
MAX_VISIBLE_CODE_LINES = 60  # per chapter page, code cells not folded by hide-input
RUFF_LINE_LENGTH = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["ruff"][
    "line-length"]


def _id(value):
    return f"{value}px" if isinstance(value, int) else value


@pytest.fixture(scope="session")
def browser(built_book):
    require(CHROMIUM.exists(), f"{CHROMIUM} not found: install Debian's chromium "
            "(apt-get install chromium) to run the browser tests")
    from playwright.sync_api import sync_playwright

    from .browser_harness import launch

    with sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()


@pytest.fixture(scope="session")
def server(built_book):
    srv, url = serve(HTML)
    yield url
    srv.shutdown()


@pytest.fixture(scope="session")
def visits(browser, server):
    cache = {}

    def get(page: str, width: int = DESKTOP):
        if (page, width) not in cache:
            # screenshots at the desktop width only: a phone-width page is very long to shoot
            cache[page, width] = visit_page(browser, server, f"{page}.html", width=width,
                                            drag_sliders=page in SLIDER_PAGES,
                                            screenshot_dir=SCREENSHOTS if width == DESKTOP
                                            else None)
        return cache[page, width]
    return get


@pytest.mark.parametrize(("page", "width"), BOTH, ids=_id)
def test_page_loads_cleanly_and_offline(visits, page, width):
    v = visits(page, width)
    assert not v.off_host_requests, f"requests leaving 127.0.0.1: {v.off_host_requests}"
    assert not v.bad_responses, f"failed responses (404s): {v.bad_responses}"
    assert not v.console_errors, f"console errors: {v.console_errors}"
    assert not v.page_errors, f"uncaught page errors: {v.page_errors}"
    assert v.error_outputs == 0, "the page shows an error output"


@pytest.mark.parametrize("page", PAGES)
def test_math_renders(visits, page):
    m = visits(page).math
    assert m["errors"] == 0, f"{m['errors']} MathJax errors"
    assert m["typeset"] == m["nodes"], f"only {m['typeset']} of {m['nodes']} math nodes typeset"


@pytest.mark.parametrize(("page", "width"), BOTH, ids=_id)
def test_every_plotly_figure_draws(visits, page, width):
    for fig in visits(page, width).figures:
        assert fig["drawn"], f"figure {fig['id']} was not drawn"
        assert fig["traces"] > 0, f"figure {fig['id']} has no drawn trace"


def test_pages_with_math_and_figures_exist(visits):
    # Guards the checks above against vacuity: the intro has math, the overview has figures.
    assert visits(TOC["root"]).math["nodes"] > 0
    assert len(visits("notebooks/00_overview").figures) > 0


@pytest.mark.parametrize("width", [DESKTOP, PHONE], ids=_id)
@pytest.mark.parametrize("page", SLIDER_PAGES)
def test_native_slider_changes_the_plot(visits, page, width):
    changes = visits(page, width).slider_changes
    assert changes, f"{page} has no native plotly slider"
    moved = [name for name, changed in changes if changed]
    assert moved, f"dragging the sliders of {page} changed no plotted data: {changes}"
    assert len(moved) == len(changes), f"sliders that change nothing: {changes}"


@pytest.mark.parametrize("width", [DESKTOP, PHONE], ids=_id)
@pytest.mark.parametrize("page", NOTEBOOKS)
def test_legends_and_titles_stay_off_the_plot_and_inside_the_figure(visits, page, width):
    v = visits(page, width)
    problems = [f"{fig['id'][:8]} ({fig['width']} px): {p}" for fig in v.layout
                for p in fig["problems"]]
    assert not problems, f"{len(problems)} layout problems at {width} px: {problems}"
    if width == PHONE:  # the figures really are phone-sized, not wider than the screen
        assert all(fig["width"] <= PHONE for fig in v.layout), [f["width"] for f in v.layout]


@pytest.mark.parametrize("width", [DESKTOP, PHONE], ids=_id)
@pytest.mark.parametrize("page", NOTEBOOKS)
def test_no_code_line_is_cut(visits, page, width):
    code = visits(page, width).code
    cut = [c["longest"] for c in code if c["cut"]]
    assert not cut, f"{len(cut)} of {len(code)} code blocks scroll sideways at {width} px"


def test_code_column_holds_ruff_line_length_at_desktop_width(visits):
    # ruff's line length and the page's column in step: a ruff-clean line never wraps at 1280
    chars = visits("notebooks/04_optimal_allocation", DESKTOP).code_column
    assert chars >= RUFF_LINE_LENGTH, (f"the code column holds {chars:.0f} characters at "
                                       f"{DESKTOP} px, ruff allows {RUFF_LINE_LENGTH}")


@pytest.mark.parametrize("width", [DESKTOP, PHONE], ids=_id)
@pytest.mark.parametrize("page", [p for p in NOTEBOOKS if p[10:12] <= "07"])
def test_at_most_60_visible_code_lines_per_chapter(visits, page, width):
    lines = sum(c["lines"] for c in visits(page, width).code if c["visible"])
    assert lines <= MAX_VISIBLE_CODE_LINES, f"{lines} visible code lines"


@pytest.mark.parametrize("width", [DESKTOP, PHONE], ids=_id)
@pytest.mark.parametrize("page", NOTEBOOKS)
def test_chapter_page_weight_compressed(visits, page, width):
    v = visits(page, width)
    heaviest = sorted(v.weight.items(), key=lambda kv: -kv[1])[:5]
    assert v.compressed_bytes <= MAX_COMPRESSED_BYTES, (
        f"{v.compressed_bytes / 1e6:.2f} MB gzip-compressed (limit 1.5 MB); heaviest: "
        + ", ".join(f"{url.rsplit('/', 1)[-1]} {n / 1e6:.2f} MB" for url, n in heaviest))
    assert not any("fontawesome.js" in url for url in v.weight), "the icon script is loaded"
    assert any("plotly-cartesian.min.js" in url for url in v.weight)


def test_screenshots_are_written(visits):
    v = visits(TOC["root"])
    assert v.screenshot is not None and v.screenshot.stat().st_size > 10_000
    assert os.path.getsize(v.screenshot) > 0


@pytest.mark.parametrize("width", [DESKTOP, PHONE], ids=_id)
def test_controls_work_and_figures_follow_the_theme(browser, server, width):
    from .browser_harness import check_controls

    # a chapter page with a figure (whose colours are checked) and few others to refit
    c = check_controls(browser, server, "notebooks/05_reinforce_noisy_rewards.html", width=width)
    icons = c["icons"]
    assert icons["count"] >= 4 and icons["font"], icons  # drawn by the theme's CSS font
    assert not icons["blank"], f"icons without a glyph: {icons['blank']}"
    light, dark, back = c["figure"]
    assert (light["theme"], dark["theme"], back["theme"]) == ("light", "dark", "light")
    assert light["background"] == back["background"] == "rgb(255, 255, 255)"
    assert dark["background"] == "rgba(0, 0, 0, 0)" and dark["text"] > 0.4 > light["text"]
    assert c["search"], "the search button opens no search dialog"
    assert c["primary"], "the sidebar toggle does nothing"
    assert c.get("secondary", True), "the contents button opens no contents"
    assert c["download"], "the download button opens no menu"
