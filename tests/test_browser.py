"""Every page of the built book in headless Chromium: loads cleanly and offline, math renders,
every plotly figure draws, and on each written notebook of 00-07 a native slider moves the plot."""

from __future__ import annotations

import os

import pytest

from .browser_harness import CHROMIUM, serve, visit_page
from .conftest import HTML, PAGES, ROOT, TOC, is_stub, require

pytestmark = pytest.mark.browser

SCREENSHOTS = ROOT / "_build" / "screenshots"


# Notebooks 00-07 must each carry a working native slider once written (08 and 09 are exempt).
SLIDER_PAGES = [p for p in PAGES if p.startswith("notebooks/0") and p[10:12] <= "07"
                and not is_stub(p)]


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

    def get(page: str):
        if page not in cache:
            cache[page] = visit_page(browser, server, f"{page}.html",
                                     drag_sliders=page in SLIDER_PAGES,
                                     screenshot_dir=SCREENSHOTS)
        return cache[page]
    return get


@pytest.mark.parametrize("page", PAGES)
def test_page_loads_cleanly_and_offline(visits, page):
    v = visits(page)
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


@pytest.mark.parametrize("page", PAGES)
def test_every_plotly_figure_draws(visits, page):
    for fig in visits(page).figures:
        assert fig["drawn"], f"figure {fig['id']} was not drawn"
        assert fig["traces"] > 0, f"figure {fig['id']} has no drawn trace"


def test_pages_with_math_and_figures_exist(visits):
    # Guards the checks above against vacuity: the intro has math, the overview has figures.
    assert visits(TOC["root"]).math["nodes"] > 0
    assert len(visits("notebooks/00_overview").figures) > 0


@pytest.mark.parametrize("page", SLIDER_PAGES)
def test_native_slider_changes_the_plot(visits, page):
    changes = visits(page).slider_changes
    assert changes, f"{page} has no native plotly slider"
    moved = [name for name, changed in changes if changed]
    assert moved, f"dragging the sliders of {page} changed no plotted data: {changes}"
    assert len(moved) == len(changes), f"sliders that change nothing: {changes}"


def test_screenshots_are_written(visits):
    v = visits(TOC["root"])
    assert v.screenshot is not None and v.screenshot.stat().st_size > 10_000
    assert os.path.getsize(v.screenshot) > 0
