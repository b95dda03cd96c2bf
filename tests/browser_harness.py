"""Drive headless Debian Chromium over the built book (design.md §4, "Browser tests").

Never ``playwright install``: the Python package brings its driver, Debian brings the browser.
Each page is visited once per window width (1280 px desktop, 390 px phone); the visit records
everything the browser tests assert on.
"""

from __future__ import annotations

import functools
import gzip
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
  // markers-only traces draw no line: their points' positions
  parts.push(...[...d.querySelectorAll('.scatterlayer .point')]
                  .map(p => p.getAttribute('transform')));
  return parts.join('|'); }"""


# Code cells: lines of the visible (not folded) inputs, and whether a block scrolls sideways.
JS_CODE = """() => [...document.querySelectorAll('div.cell_input pre')].map(p => {
  const text = p.textContent.replace(/\\n$/, '');
  // folded (hide-input) code sits in a closed <details>: not visible until a reader opens it
  const shown = !p.closest('details:not([open])') && p.getClientRects().length > 0;
  return {visible: shown, lines: text.split('\\n').length,
          cut: p.scrollWidth > p.clientWidth + 1,
          longest: Math.max(...text.split('\\n').map(l => l.length))}; })"""
# How many monospace characters the code column holds (its text box over one glyph's width).
JS_CODE_COLUMN = """() => { const p = document.querySelector('div.cell_input pre');
  if (!p) return null;
  const s = document.createElement('span'); s.textContent = 'x'.repeat(100); p.appendChild(s);
  const glyph = s.getBoundingClientRect().width / 100; s.remove();
  const cs = getComputedStyle(p);
  return (p.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight)) / glyph; }"""
# Figure layout: the legend and the title cover no plot area (.nsewdrag: one per panel), no
# axis title, tick label or slider, and stay inside the figure; no text leaves the figure.
JS_LAYOUT = """() => {
  const R = e => e.getBoundingClientRect();
  const live = e => { const r = R(e); return r.width > 0 && r.height > 0; };
  const hit = (a, b) => Math.min(a.right, b.right) - Math.max(a.left, b.left) > 1 &&
                        Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > 1;
  const inside = (a, f) => a.left >= f.left - 1 && a.right <= f.right + 1 &&
                           a.top >= f.top - 1 && a.bottom <= f.bottom + 1;
  return [...document.querySelectorAll('.js-plotly-plot')].map(gd => {
    const fig = R(gd.querySelector('.main-svg')), problems = [];
    const plots = [...gd.querySelectorAll('.nsewdrag')].map(R);
    const boxes = [];
    const legend = gd.querySelector('.infolayer .legend');
    if (legend && live(legend)) boxes.push(['legend', legend]);
    const title = gd.querySelector('.gtitle');
    if (title && title.textContent.trim()) boxes.push(['title', title]);
    const html = gd.closest('figure') && gd.closest('figure').querySelector(
      '.imagination-figure-title');
    for (const [name, el] of boxes) {
      if (plots.some(p => hit(R(el), p))) problems.push(name + ' covers the plot area');
      if (!inside(R(el), fig)) problems.push(name + ' leaves the figure');
      for (const other of gd.querySelectorAll(
          '.slider-group, .g-xtitle, .g-ytitle, .xtick text, .ytick text, .annotation'))
        if (live(other) && hit(R(el), R(other))) {
          problems.push(name + ' covers ' + other.getAttribute('class')); break; }
    }
    if (html && plots.some(p => hit(R(html), p))) problems.push('HTML title covers the plot');
    if (html && html.scrollWidth > html.clientWidth + 1) problems.push('HTML title is cut');
    for (const t of gd.querySelectorAll('.infolayer text, .xtick text, .ytick text'))
      if (live(t) && t.textContent.trim() && !inside(R(t), fig))
        problems.push('text leaves the figure: ' + t.textContent.trim().slice(0, 40));
    return {id: gd.id, width: Math.round(fig.width), problems};
  }); }"""
FITTED = """() => [...document.querySelectorAll('.js-plotly-plot')].every(d =>
  !window.imaginationFigures || (d.dataset.fitted && !d._imaginationBusy))"""


@dataclass
class PageVisit:
    """What one page load showed."""

    url: str
    width: int = 1280
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    bad_responses: list[str] = field(default_factory=list)
    off_host_requests: list[str] = field(default_factory=list)
    figures: list[dict] = field(default_factory=list)
    math: dict = field(default_factory=dict)
    error_outputs: int = 0
    slider_changes: list[tuple[str, bool]] = field(default_factory=list)
    screenshot: Path | None = None
    # every response's body gzip-compressed (what a web host sends), by URL
    weight: dict[str, int] = field(default_factory=dict)
    code: list[dict] = field(default_factory=list)
    code_column: float | None = None
    layout: list[dict] = field(default_factory=list)

    @property
    def compressed_bytes(self) -> int:
        """Bytes of an empty-cache load as a web host sends them (gzip where it helps)."""
        return sum(self.weight.values())


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
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    fig = page.locator(f"[id='{fig_id}']")
    slider = fig.locator(".slider-group").nth(index)
    # the slider itself in mid-screen: a tall figure (stacked panels) may not fit the window,
    # and the page's sticky header covers the top of it
    slider.evaluate("el => el.scrollIntoView({block: 'center'})")
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
    try:  # plotly redraws within a few frames; only a slider that changes nothing waits long
        page.wait_for_function(f"([id, before]) => ({JS_SIGNATURE})(id) !== before",
                               arg=[fig_id, before], timeout=2_000)
    except PlaywrightTimeout:
        return False
    return True


def _compressed(response) -> int:
    try:
        body = response.body()
    except Exception:  # a redirect or an aborted request has no body
        return 0
    # Hosts gzip text (HTML, JS, CSS, SVG); fonts and images are sent as they are.
    return min(len(body), len(gzip.compress(body, compresslevel=6)))


def visit_page(browser, base_url: str, path: str, *, drag_sliders: bool, width: int = 1280,
               screenshot_dir: Path | None = None, theme: str | None = None) -> PageVisit:
    """Load one page at a window ``width``, wait for MathJax, plotly and the figures' fitting,
    and record what the tests assert on. ``theme`` ("dark") is set before the page loads."""
    visit = PageVisit(url=base_url + path, width=width)
    context = browser.new_context(viewport={"width": width, "height": 900},
                                  service_workers="block")
    if theme:
        context.add_init_script(f"localStorage.setItem('theme', '{theme}'); "
                                f"localStorage.setItem('mode', '{theme}');")
    page = context.new_page()
    responses = []
    page.on("console", lambda m: m.type == "error" and visit.console_errors.append(m.text))
    page.on("pageerror", lambda e: visit.page_errors.append(str(e)))
    page.on("response", lambda r: r.status >= 400 and visit.bad_responses.append(
        f"{r.status} {r.url}"))
    page.on("response", lambda r: responses.append(r))
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
    page.wait_for_function(FITTED, timeout=30_000)
    page.evaluate("() => document.fonts.ready.then(() => true)")
    visit.math = page.evaluate(JS_MATH)
    visit.figures = page.evaluate(JS_FIGURES)
    visit.layout = page.evaluate(JS_LAYOUT)
    visit.code = page.evaluate(JS_CODE)
    visit.code_column = page.evaluate(JS_CODE_COLUMN)
    visit.error_outputs = page.locator(".output.traceback, .output.error").count()
    if screenshot_dir is not None:
        screenshot_dir.mkdir(parents=True, exist_ok=True)
        name = path.replace("/", "__").removesuffix(".html") + f"__{width}{theme or ''}"
        visit.screenshot = screenshot_dir / f"{name}.png"
        # whole chapter pages; the reference pages (the API page is very long) their first screen
        page.screenshot(path=str(visit.screenshot), full_page=path.startswith("notebooks/"))
    if drag_sliders:
        for fig in visit.figures:
            for i in range(fig["sliders"]):
                visit.slider_changes.append((f"{fig['id']}#{i}", _drag_slider(page, fig["id"], i)))
        if screenshot_dir is not None and visit.slider_changes:
            page.screenshot(path=str(visit.screenshot.with_name(
                visit.screenshot.stem + "__after_drag.png")))  # the last dragged figure in view
    visit.weight = {r.url: _compressed(r) for r in responses}
    context.close()
    return visit


# Icons drawn by the theme's CSS web font (no icon script): every visible icon element has a
# glyph in its ::before and the Font Awesome font family, and the font has loaded.
JS_ICONS = """() => { const icons = [...document.querySelectorAll(
    '.fa-solid, .fas, .fa-regular, .far')].filter(e => e.getClientRects().length > 0);
  return {count: icons.length, font: document.fonts.check('900 16px "Font Awesome 6 Free"'),
          blank: icons.filter(e => { const b = getComputedStyle(e, '::before');
            return !b.content || b.content === 'none' || b.content === 'normal' ||
                   !b.fontFamily.includes('Font Awesome') || e.getBoundingClientRect().width < 4;
          }).map(e => e.className)}; }"""
# The first figure's colours: its background and the luminance of its tick labels.
JS_FIGURE_COLOURS = """() => { const gd = document.querySelector('.js-plotly-plot');
  const lum = c => { const v = c.match(/[\\d.]+/g).slice(0, 3).map(Number).map(x => x / 255)
    .map(x => x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4);
    return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]; };
  const tick = gd.querySelector('.xtick text');
  return {theme: document.documentElement.dataset.theme,
          background: getComputedStyle(gd.querySelector('.main-svg')).backgroundColor,
          text: lum(getComputedStyle(tick).fill)}; }"""


def check_controls(browser, base_url: str, path: str, *, width: int) -> dict:
    """Click the page's controls (theme, search, sidebars, download) and record what changed."""
    context = browser.new_context(viewport={"width": width, "height": 900},
                                  service_workers="block")
    page = context.new_page()
    page.route("**/*", _route(PageVisit(url=path)))
    page.goto(base_url + path, wait_until="load")
    page.wait_for_function(FITTED, timeout=30_000)
    page.evaluate("() => document.fonts.ready.then(() => true)")
    out = {"icons": page.evaluate(JS_ICONS), "figure": [page.evaluate(JS_FIGURE_COLOURS)]}
    settled = FITTED.replace("d.dataset.fitted &&", "")

    def click(selector: str) -> None:
        # let the last button's tooltip go (it shows on hover and on focus): it would take the click
        page.mouse.move(0, 0)
        page.evaluate("() => document.activeElement && document.activeElement.blur()")
        page.locator(".tooltip").first.wait_for(state="detached", timeout=5_000)
        page.locator(selector).filter(visible=True).first.click()
        page.wait_for_timeout(300)

    for theme in ("dark", "light"):  # the button cycles light, auto (light here), dark
        for _ in range(3):
            click(".theme-switch-button")
            if page.evaluate("() => document.documentElement.dataset.theme") == theme:
                break
        page.wait_for_function(settled, timeout=30_000)
        out["figure"].append(page.evaluate(JS_FIGURE_COLOURS))
    is_open = "(id) => document.getElementById(id).open"
    click(".search-button__button")
    out["search"] = page.evaluate(is_open, "pst-search-dialog")
    page.keyboard.press("Escape")
    page.wait_for_timeout(300)
    # the site navigation: a sidebar that hides (wide) or a dialog that opens (narrow)
    sidebar = """() => [document.getElementById('pst-primary-sidebar-modal').open,
      Math.round(document.querySelector('.bd-sidebar-primary').getBoundingClientRect().right)]"""
    before = page.evaluate(sidebar)
    click(".primary-toggle")
    out["primary"] = page.evaluate(sidebar) != before
    page.keyboard.press("Escape")
    page.wait_for_timeout(300)
    if width < 1200:  # below 1200 px the page's contents open from a header button
        click(".secondary-toggle")
        out["secondary"] = page.evaluate(is_open, "pst-secondary-sidebar-modal")
        page.keyboard.press("Escape")
        page.wait_for_timeout(300)
    click(".dropdown-download-buttons button")
    out["download"] = page.locator(".dropdown-download-buttons .dropdown-menu.show").count() > 0
    context.close()
    return out
