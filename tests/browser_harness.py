"""Drive headless Debian Chromium over the built book (design.md §4, "Browser tests").

Never ``playwright install``: the Python package brings its driver, Debian brings the browser.
Each page is visited once; the visit records everything the browser tests assert on.
"""

from __future__ import annotations

import functools
import http.server
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
LOCAL_HOSTS = {"127.0.0.1"}

# Plotly drawing: every graph div initialised, with its SVG and at least one trace drawn.
JS_FIGURES = """() => [...document.querySelectorAll('.plotly-graph-div')].map(d => ({
  id: d.id, drawn: d.classList.contains('js-plotly-plot') && !!d.querySelector('.main-svg'),
  traces: d.querySelectorAll('.trace, .hm, .heatmaplayer image, .contourlayer path').length,
  sliders: d.querySelectorAll('.slider-group').length}))"""
# Math: every Sphinx math node typeset by MathJax, none with a TeX error.
JS_MATH = """() => ({nodes: document.querySelectorAll('span.math, div.math').length,
  typeset: [...document.querySelectorAll('span.math, div.math')]
             .filter(e => e.querySelector('mjx-container')).length,
  errors: document.querySelectorAll('mjx-merror, .MathJax_Error').length})"""
# What a slider changes: line paths, heatmap images and trace visibility of one figure.
JS_SIGNATURE = """(id) => { const d = document.getElementById(id);
  const parts = [...d.querySelectorAll('.scatterlayer .js-line, .scatterlayer .js-fill')]
                  .map(p => p.getAttribute('d'));
  const href = i => i.getAttribute('href') || i.getAttribute('xlink:href') || '';
  parts.push(...[...d.querySelectorAll('.heatmaplayer image, .hm image')]
                  .map(i => href(i).length + ':' + href(i).slice(-64)));
  parts.push(...[...d.querySelectorAll('.trace')]
                  .map(t => t.style.opacity + t.getAttribute('class')));
  return parts.join('|'); }"""


@dataclass
class PageVisit:
    """What one page load showed."""

    url: str
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    bad_responses: list[str] = field(default_factory=list)
    off_host_requests: list[str] = field(default_factory=list)
    figures: list[dict] = field(default_factory=list)
    math: dict = field(default_factory=dict)
    error_outputs: int = 0
    slider_changes: list[tuple[str, bool]] = field(default_factory=list)
    screenshot: Path | None = None


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output readable
        pass


def serve(directory: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    """Serve ``directory`` on 127.0.0.1 (a free port) from a daemon thread."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def launch(playwright):
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                                      headless=True)


def _route(visit: PageVisit):
    def handle(route):
        host = urlparse(route.request.url).hostname
        if route.request.url.startswith(("data:", "blob:")) or host in LOCAL_HOSTS:
            route.continue_()
        else:
            visit.off_host_requests.append(route.request.url)
            route.abort()
    return handle


def _drag_slider(page, fig_id: str, index: int) -> bool:
    """Drag slider ``index`` of figure ``fig_id`` to its far end; True if the plot changed."""
    fig = page.locator(f"[id='{fig_id}']")
    fig.scroll_into_view_if_needed()
    slider = fig.locator(".slider-group").nth(index)
    rail = slider.locator(".slider-rail-rect").bounding_box()
    grip = slider.locator(".slider-grip-rect").bounding_box()
    before = page.evaluate(JS_SIGNATURE, fig_id)
    x0, y0 = grip["x"] + grip["width"] / 2, grip["y"] + grip["height"] / 2
    # go to whichever end of the rail is farther from the grip
    left, right = rail["x"] + 2, rail["x"] + rail["width"] - 2
    target = left if abs(x0 - left) > abs(x0 - right) else right
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(target, y0, steps=12)
    page.mouse.up()
    page.wait_for_timeout(400)
    return page.evaluate(JS_SIGNATURE, fig_id) != before


def visit_page(browser, base_url: str, path: str, *, drag_sliders: bool,
               screenshot_dir: Path | None = None) -> PageVisit:
    """Load one page, wait for MathJax and plotly, and record what the tests assert on."""
    visit = PageVisit(url=base_url + path)
    context = browser.new_context(viewport={"width": 1280, "height": 900},
                                  service_workers="block")
    page = context.new_page()
    page.on("console", lambda m: m.type == "error" and visit.console_errors.append(m.text))
    page.on("pageerror", lambda e: visit.page_errors.append(str(e)))
    page.on("response", lambda r: r.status >= 400 and visit.bad_responses.append(
        f"{r.status} {r.url}"))
    page.route("**/*", _route(visit))
    # "load" then explicit waits: Chromium's network-idle signal is unreliable here.
    page.goto(visit.url, wait_until="load")
    if page.locator("span.math, div.math").count():
        # MathJax loads deferred; its startup promise resolves after the first typeset.
        page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise",
                               timeout=30_000)
        page.evaluate("() => MathJax.startup.promise.then(() => true)")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.plotly-graph-div')]"
        ".every(d => d.classList.contains('js-plotly-plot'))", timeout=30_000)
    visit.math = page.evaluate(JS_MATH)
    visit.figures = page.evaluate(JS_FIGURES)
    visit.error_outputs = page.locator(".output.traceback, .output.error").count()
    if screenshot_dir is not None:
        screenshot_dir.mkdir(parents=True, exist_ok=True)
        visit.screenshot = screenshot_dir / (path.replace("/", "__").removesuffix(".html") + ".png")
        page.screenshot(path=str(visit.screenshot), full_page=True)
    if drag_sliders:
        for fig in visit.figures:
            for i in range(fig["sliders"]):
                visit.slider_changes.append((f"{fig['id']}#{i}", _drag_slider(page, fig["id"], i)))
        if screenshot_dir is not None and visit.slider_changes:
            page.screenshot(path=str(visit.screenshot.with_name(
                visit.screenshot.stem + "__after_drag.png")), full_page=True)
    context.close()
    return visit
