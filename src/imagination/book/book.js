/* imagination-book: fit every plotly figure to its column, at any width, and to the theme.
 *
 * viz.py lays every figure out for a book-width column: the legend horizontal below the axes,
 * the sliders below the legend, and, for a grid of panels, a stacked one-column layout kept in
 * layout.meta.imagination.layout. Here, once a figure is drawn and whenever its width changes:
 *   - below NARROW px a grid of panels switches to its stacked layout (and back when wider);
 *   - the legend's rows and the depth of the tick labels and axis titles are measured, and the
 *     legend, the sliders, the bottom margin and the figure's height follow them, so that the
 *     legend never covers a panel, an axis or a slider and nothing leaves the figure;
 *   - slider step labels too close to read are hidden (the current value stays written);
 *   - the figure's background and text follow the page's light or dark theme.
 * Loaded after plotly.js; each figure's script calls imaginationFigures.fit(id) once drawn.
 * Also: the sidebar buttons of the article header work, and the page's contents fold while
 * wide code is in view (see the sections at the end).
 */
(function () {
  "use strict";
  var NARROW = 560; // px of figure width below which a grid of panels stacks
  var GAP = 10; // px between the axes, the legend and the sliders (viz.py _GAP)
  var SLIDER = 95; // px per slider (viz.py _SLIDER_HEIGHT)
  var STEP_LABEL = 40; // px a slider step label needs
  var HIDDEN = "rgba(0,0,0,0)";

  function book(gd) {
    var meta = (gd.layout.meta || {}).imagination || {};
    return meta.layout || {};
  }

  function bottomOf(elements, top) {
    var bottom = 0;
    elements.forEach(function (el) {
      var r = el.getBoundingClientRect();
      if (r.width > 0 && r.height > 0) bottom = Math.max(bottom, r.bottom - top);
    });
    return bottom;
  }

  function layoutUpdate(gd) {
    var lay = book(gd), full = gd._fullLayout, update = {};
    var narrow = !!lay.narrow && gd.clientWidth < NARROW;
    if (lay.narrow && narrow !== !!gd._imaginationNarrow) {
      Object.assign(update, narrow ? lay.narrow : lay.wide);
      gd._imaginationNarrow = narrow;
    }
    var plotHeight = (narrow ? lay.narrow_plot_height : lay.plot_height) || full._size.h;
    // Slider step labels: hidden when they would overlap (viz.py hides them beyond 12 steps).
    (gd.layout.sliders || []).forEach(function (s, i) {
      gd._imaginationStepFont = gd._imaginationStepFont || {};
      if (!(i in gd._imaginationStepFont)) gd._imaginationStepFont[i] = (s.font || {}).color;
      var crowded = full._size.w / s.steps.length < STEP_LABEL;
      var color = crowded ? HIDDEN : gd._imaginationStepFont[i];
      if ((s.font || {}).color !== color) update["sliders[" + i + "].font.color"] = color || null;
    });
    return {update: update, plotHeight: plotHeight};
  }

  function placeBelow(gd, plotHeight) {
    // Everything drawn below the plot area but the legend and the sliders: tick labels, axis
    // titles, annotations, colour bars. The legend goes under it, the sliders under the legend.
    // (Not the traces: their clipped paths may reach far beyond the plot area.)
    var full = gd._fullLayout, svg = gd.querySelector(".main-svg");
    if (!svg) return {};
    var top = svg.getBoundingClientRect().top;
    var plotBottom = full._size.t + full._size.h;
    var depth = Math.max(0, bottomOf(gd.querySelectorAll(
      ".xaxislayer-above, .yaxislayer-above, " +
      ".infolayer > g:not(.legend):not(.slider-container):not(.g-gtitle)"), top) - plotBottom);
    var legend = gd.querySelector(".infolayer .legend");
    var legendHeight = legend && full.showlegend ? legend.getBoundingClientRect().height : 0;
    var legendTop = depth + GAP;
    var sliderTop = legendTop + (legendHeight ? legendHeight + GAP : 0);
    var sliders = (gd.layout.sliders || []).length;
    var bottom = Math.ceil(sliderTop + sliders * SLIDER);
    var update = {};
    (gd.layout.sliders || []).forEach(function (s, i) {
      update["sliders[" + i + "].pad.t"] = Math.round(sliderTop + i * SLIDER);
    });
    update["legend.y"] = -legendTop / plotHeight;
    update["margin.b"] = bottom;
    update.height = Math.round(full._size.t + plotHeight + bottom);
    return update;
  }

  function get(obj, key) { // "sliders[0].font.color" in gd.layout
    return key.replace(/\[(\d+)\]/g, ".$1").split(".").reduce(function (o, k) {
      return o === undefined || o === null ? undefined : o[k];
    }, obj);
  }

  function changed(gd, update) {
    return Object.keys(update).some(function (key) {
      var now = get(gd.layout, key);
      var want = update[key];
      if (typeof want === "number" && typeof now === "number") return Math.abs(now - want) > 0.5 &&
        Math.abs(now - want) > 1e-3 * Math.abs(want);
      return JSON.stringify(now) !== JSON.stringify(want);
    });
  }

  function relayout(gd, update) {
    if (!changed(gd, update)) return Promise.resolve();
    if (update.height) gd.parentElement.style.height = update.height + "px";
    return Plotly.relayout(gd, update);
  }

  // ---------------------------------------------------------------- theme
  // In the dark theme: transparent backgrounds, the page's text colour for text and for any
  // near-black line, marker or shape (the palette's "neutral"), faint grid lines. The light
  // values (the figure's own, or null: the template's) are kept to switch back.
  var TRACE_COLORS = ["line.color", "marker.color", "marker.line.color", "textfont.color",
    "fillcolor"];
  var probe = document.createElement("canvas").getContext("2d");

  function dark() {
    return document.documentElement.dataset.theme === "dark";
  }

  function nearBlack(color) { // relative luminance below 0.07: unreadable on a dark page
    if (typeof color !== "string") return false;
    probe.fillStyle = "#fff";
    probe.fillStyle = color; // the canvas normalises any CSS colour to #rrggbb or rgba()
    var c = probe.fillStyle, rgb = c[0] === "#"
      ? [1, 3, 5].map(function (i) { return parseInt(c.slice(i, i + 2), 16); })
      : c.match(/[\d.]+/g).slice(0, 3).map(Number);
    var lin = rgb.map(function (v) {
      v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2] < 0.07;
  }

  function lightValues(gd) {
    var keys = ["paper_bgcolor", "plot_bgcolor", "font.color"], traces = {};
    Object.keys(gd._fullLayout).forEach(function (k) {
      if (/^[xy]axis\d*$/.test(k)) keys.push(k + ".gridcolor", k + ".linecolor", k + ".zerolinecolor");
    });
    (gd.layout.sliders || []).forEach(function (s, i) {
      keys.push("sliders[" + i + "].bgcolor", "sliders[" + i + "].bordercolor",
        "sliders[" + i + "].currentvalue.font.color", "sliders[" + i + "].tickcolor");
    });
    ["shapes", "annotations"].forEach(function (kind) {
      (gd.layout[kind] || []).forEach(function (item, i) {
        ["line.color", "fillcolor", "font.color", "arrowcolor"].forEach(function (k) {
          if (nearBlack(get(item, k))) keys.push(kind + "[" + i + "]." + k);
        });
      });
    });
    gd.data.forEach(function (trace, i) {
      TRACE_COLORS.forEach(function (k) {
        var v = get(trace, k);
        if (nearBlack(v)) (traces[k] = traces[k] || {})[i] = v;
      });
    });
    var layout = {};
    keys.forEach(function (k) { var v = get(gd.layout, k); layout[k] = v === undefined ? null : v; });
    return {layout: layout, traces: traces};
  }

  function themeUpdate(gd) {
    var text = getComputedStyle(document.documentElement)
      .getPropertyValue("--pst-color-text-base").trim() || "#ced6dd";
    var light = gd._imaginationLight = gd._imaginationLight || lightValues(gd);
    var update = {}, restyles = [];
    Object.keys(light.layout).forEach(function (k) {
      if (!dark()) update[k] = light.layout[k];
      else if (/(paper|plot)_bgcolor$/.test(k)) update[k] = "rgba(0,0,0,0)";
      else if (/(grid|zeroline)color$/.test(k) || /axis\d*\.linecolor$/.test(k)) {
        update[k] = "rgba(255,255,255,0.15)";
      } else if (/sliders.*bgcolor$/.test(k)) update[k] = "#5a6270";
      else update[k] = text;
    });
    Object.keys(light.traces).forEach(function (k) {
      var indices = Object.keys(light.traces[k]).map(Number), r = {};
      r[k] = dark() ? text : indices.map(function (i) { return light.traces[k][i]; });
      if (JSON.stringify(get(gd.data[indices[0]], k)) !== JSON.stringify(
        dark() ? text : light.traces[k][indices[0]])) restyles.push([r, indices]);
    });
    return {update: update, restyles: restyles};
  }

  // ---------------------------------------------------------------- driver
  function fit(gd) {
    if (typeof gd === "string") gd = document.getElementById(gd);
    if (!gd || !gd._fullLayout || gd.clientWidth === 0) return Promise.resolve();
    if (!gd._imaginationListens) { // plotly's own resize (config responsive: true) ends here
      gd._imaginationListens = true;
      gd.on("plotly_relayout", function (e) { if (e && e.autosize) fit(gd); });
    }
    if (gd._imaginationBusy) { gd._imaginationAgain = true; return gd._imaginationBusy; }
    var first = layoutUpdate(gd), theme = themeUpdate(gd);
    Object.assign(first.update, theme.update);
    gd._imaginationBusy = theme.restyles.reduce(function (done, r) {
      return done.then(function () { return Plotly.restyle(gd, r[0], r[1]); });
    }, Promise.resolve())
      .then(function () { return relayout(gd, first.update); })
      .then(function () { return relayout(gd, placeBelow(gd, first.plotHeight)); })
      .then(function () {
        gd._imaginationBusy = null;
        if (gd._imaginationAgain) { gd._imaginationAgain = false; return fit(gd); }
        gd.dataset.fitted = gd.clientWidth; // the width it was fitted at (the tests wait on it)
      });
    return gd._imaginationBusy;
  }

  function fitAll() {
    document.querySelectorAll(".js-plotly-plot").forEach(function (gd) { fit(gd); });
  }

  new MutationObserver(fitAll).observe(document.documentElement,
    {attributes: true, attributeFilter: ["data-theme"]});

  window.imaginationFigures = {fit: fit, fitAll: fitAll, NARROW: NARROW};

  // ---------------------------------------------------------------- sidebar buttons
  // Both themes bind the sidebar buttons to the first .primary-toggle / .secondary-toggle of
  // the page, the hidden one of pydata's navbar; the ones a reader sees are sphinx-book-theme's
  // (in the article header) and did nothing. Pass their clicks on to the first.
  document.addEventListener("DOMContentLoaded", function () {
    [".primary-toggle", ".secondary-toggle"].forEach(function (selector) {
      var buttons = document.querySelectorAll(selector);
      Array.prototype.slice.call(buttons, 1).forEach(function (button) {
        button.addEventListener("click", function (e) {
          e.preventDefault();
          buttons[0].click();
        });
      });
    });
  });

  // ---------------------------------------------------------------- code cells
  // From 1200 px on, code inputs run into the right margin (book.css), under the page's
  // contents. Fold the contents to their header while code is in view, as the theme does for
  // its own full-width content (its class "hide" on the secondary sidebar; hovering unfolds).
  document.addEventListener("DOMContentLoaded", function () {
    var sidebar = document.querySelector(".bd-sidebar-secondary");
    if (!sidebar || !window.IntersectionObserver) return;
    var inView = new Set();
    var observer = new IntersectionObserver(function (entries) {
      entries.forEach(function (e) {
        if (e.isIntersecting) inView.add(e.target); else inView.delete(e.target);
      });
      sidebar.classList.toggle("hide", inView.size > 0);
    }, {rootMargin: "0px 0px -33% 0px"});
    document.querySelectorAll(".bd-content div.cell_input").forEach(function (el) {
      observer.observe(el);
    });
  });
})();
