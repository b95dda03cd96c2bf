"""Figures of the book: one pure function, a static or a live figure (design.md §4).

A chapter writes a pure function ``params -> list of plotly trace dicts`` and calls
:func:`interactive_figure` once. With ``IMAGINATION_STATIC=1`` (book builds, nbmake) it
returns a :class:`plotly.graph_objects.Figure` whose native plotly sliders step through a
precomputed grid of at most two parameters, so they keep working in static HTML; the other
parameters stay at their defaults and the figure says so. In a live kernel (JupyterLab,
Binder) it returns a :class:`LiveFigure`: an ipywidgets control for every parameter and a
figure recomputed on each change.

Two static sliders are combined without JavaScript: one copy of the traces per value of
the second parameter B; slider A restyles the data of all copies, slider B restyles only
``visible``. The attributes are disjoint, so the sliders compose.

Every figure uses one colour-blind-safe palette (Okabe-Ito, :data:`COLORS`), the
registered template :data:`TEMPLATE_NAME`, and carries its caption, alt text and note in
``layout.meta["imagination"]`` (read by :mod:`imagination.book.extension`).

plotly and ipywidgets are imported lazily, so importing this module is cheap.
"""

from __future__ import annotations

import base64
import itertools
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from .book.scale import is_static

if TYPE_CHECKING:
    import plotly.graph_objects as go

__all__ = [
    "COLORS",
    "MAX_COMBINATIONS",
    "MAX_FIGURE_CHARS",
    "PALETTE",
    "TEMPLATE_NAME",
    "LiveFigure",
    "Parameter",
    "allocation_figure",
    "apply_style",
    "figure_from_traces",
    "interactive_figure",
    "interval_bars",
    "label_cost_figure",
    "subplot_axes",
    "subplot_layout",
]

#: Okabe-Ito colours by role; distinguishable under the common colour-vision deficiencies.
COLORS: dict[str, str] = {
    "true": "#0072B2",  # blue
    "imagined": "#E69F00",  # orange
    "bound": "#D55E00",  # vermillion
    "paper": "#CC79A7",  # reddish purple
    "accent": "#009E73",  # bluish green
    "sky": "#56B4E9",
    "yellow": "#F0E442",
    "neutral": "#000000",
}
#: The Okabe-Ito sequence for further traces (the template's colorway). Yellow comes late:
#: it has the least contrast on white.
PALETTE: tuple[str, ...] = (
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000", "#F0E442",
)
TEMPLATE_NAME = "imagination"
MAX_STATIC = 2
MAX_COMBINATIONS = 400
MAX_FIGURE_CHARS = 1_500_000
_MIME = "application/vnd.plotly.v1+json"
_SLIDER_HEIGHT = 95  # px per slider: current value, rail, step labels
_MAX_LABELLED_STEPS = 12  # more step labels than this overlap on a book-width page
_TEXT = "#2a3f5f"  # the template's text colour (plotly_white)
# Layout of every figure, in px (see "responsive layout" below). The book's script
# (imagination/book/book.js) re-measures the legend and the axes at the reader's width.
_TOP = 36  # above the plot area: room for the mode bar (the book shows the title as HTML)
_TOP_TITLES = 26  # more above the plot area when the top panels carry subplot titles
_AXIS_DEPTH = 30  # below the plot area: x tick labels ...
_AXIS_TITLE = 28  # ... and an x-axis title
_GAP = 10  # between the axes, the legend and the sliders
_LEGEND_ROW = 22  # one row of legend entries (font 13)
_NOMINAL_WIDTH = 640  # px of plot width the Python-side legend estimate assumes
_DEFAULT_PLOT_HEIGHT = 340  # plot area of a figure that sets no height
_MIN_PLOT_HEIGHT = 200
_NARROW_PANEL = 250  # plot height of one panel when a grid stacks on a phone ...
_NARROW_PANEL_GAP = 100  # ... and between stacked panels (tick labels, axis and panel titles)


@dataclass(frozen=True)
class Parameter:
    """One parameter of a figure function: its slider label, grid and default.

    Parameters
    ----------
    name
        Keyword under which the value is passed to the figure function.
    label
        Shown on the slider, e.g. ``"γ"`` or ``"ε_dyn"``.
    values
        The grid: the steps of a static slider and the range of the live slider. Finite,
        strictly increasing, non-empty (positive when ``log``).
    default
        Initial value; must be on the grid (compared with :func:`numpy.isclose`, then
        replaced by the grid value).
    log
        Live slider on a log scale (``FloatLogSlider``).
    fmt
        Format spec of the values on the sliders (Python and d3 syntax, e.g. ``".3g"``).

    Raises
    ------
    ValueError
        If the name is not an identifier, the grid is empty, non-finite, unsorted or (with
        ``log``) not positive, the default is off the grid, or ``fmt`` is not a format spec.
    """

    name: str
    label: str
    values: Sequence[float]
    default: float
    log: bool = False
    fmt: str = ".3g"

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"Parameter name {self.name!r} must be a Python identifier")
        values = tuple(float(v) for v in self.values)
        _check_grid(self.name, values, self.log)
        hits = np.flatnonzero(np.isclose(values, float(self.default)))
        if hits.size == 0:
            raise ValueError(f"Parameter {self.name!r}: default {self.default} is not one of "
                             f"its values {list(values)}")
        try:
            format(values[0], self.fmt)
        except ValueError as exc:
            raise ValueError(f"Parameter {self.name!r}: fmt={self.fmt!r} is not a format "
                             "spec for floats (e.g. '.3g', '.2f')") from exc
        # Frozen dataclass: normalise once so the default is exactly a grid value.
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "default", values[int(hits[0])])

    @property
    def index(self) -> int:
        """Index of the default in ``values`` (the slider's initial ``active`` step)."""
        return self.values.index(self.default)

    def describe(self, value: float | None = None) -> str:
        """``"label = value"`` with the parameter's format (the default when ``None``)."""
        return f"{self.label} = {self.default if value is None else value:{self.fmt}}"




def _check_grid(name: str, values: tuple[float, ...], log: bool) -> None:
    if not values:
        raise ValueError(f"Parameter {name!r}: values is empty; give at least one grid value")
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"Parameter {name!r}: values must be finite, got {list(values)}")
    if any(b <= a for a, b in itertools.pairwise(values)):
        raise ValueError(f"Parameter {name!r}: values must be strictly increasing, "
                         f"got {list(values)}")
    if log and values[0] <= 0:
        raise ValueError(f"Parameter {name!r}: log=True needs positive values, "
                         f"got {list(values)}")


# --------------------------------------------------------------------------- styling


def _ensure_template() -> None:
    """Register the ``imagination`` template on first use (not at import: plotly is lazy)."""
    import plotly.colors
    import plotly.graph_objects as go
    import plotly.io as pio

    if TEMPLATE_NAME in pio.templates:
        return
    template = go.layout.Template(pio.templates["plotly_white"])
    sequential = plotly.colors.sequential.Viridis
    template.layout.update(
        colorway=list(PALETTE),
        font={"size": 14},
        # Left-aligned over the plot, pushing the top margin to fit (the live figure; the
        # book shows the title as HTML text above the figure, where it wraps).
        title={"font": {"size": 18}, "x": 0, "xanchor": "left", "xref": "paper",
               "y": 1, "yanchor": "top", "yref": "container", "pad": {"t": 10},
               "automargin": True},
        legend={"font": {"size": 13}, "orientation": "h", "bgcolor": "rgba(0,0,0,0)"},
        margin={"l": 60, "r": 20},
        hoverlabel={"font": {"size": 13}},
        colorscale={"sequential": sequential, "sequentialminus": sequential,
                    "diverging": plotly.colors.diverging.PuOr},
    )
    # plotly_white pins plasma on each 2-D trace type; replace it wherever it is set.
    for trace_type in template.data:
        for trace in template.data[trace_type]:
            if "colorscale" in trace and trace.colorscale is not None:
                trace.colorscale = sequential
    pio.templates[TEMPLATE_NAME] = template


def apply_style(fig: go.Figure, *, title: str, caption: str, alt: str, note: str = "",
                layout: Mapping[str, Any] | None = None) -> go.Figure:
    """Apply the book's template, title, caption, alt text and note to a figure (in place).

    Every figure then gets the book's layout, whatever ``layout`` asked for: the legend
    horizontal below the axes (and above any slider), never over the plot area; the plot
    area's height kept; and, for a grid of panels, a stacked one-column layout for narrow
    screens in ``layout.meta["imagination"]["layout"]``, which the book applies on a phone.

    Parameters
    ----------
    fig
        The figure to style.
    title
        Figure title.
    caption
        What to look at; shown under the figure in the book.
    alt
        Alt text for screen readers.
    note
        Extra line under the caption (e.g. which parameters are fixed); may be empty.
    layout
        Layout overrides, merged last (e.g. axis titles, ranges).

    Returns
    -------
    plotly.graph_objects.Figure
        ``fig`` itself, with ``layout.meta["imagination"] = {"caption", "alt", "note"}``.

    Raises
    ------
    ValueError
        If ``caption`` or ``alt`` is empty: every figure of the book needs both.
    """
    for what, text in (("caption", caption), ("alt", alt)):
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"{what} must be a non-empty string (got {text!r}): every "
                             "figure needs a caption that says what to look at and alt text")
    _ensure_template()
    fig.update_layout(template=TEMPLATE_NAME, title={"text": title})
    if layout:
        fig.update_layout(**dict(layout))
    fig.update_layout(meta={"imagination": {"caption": caption, "alt": alt, "note": note}})
    _fit_layout(fig)
    return fig


def figure_from_traces(traces: Sequence[Mapping[str, Any]], *, title: str, caption: str,
                       alt: str, layout: Mapping[str, Any] | None = None,
                       note: str = "") -> go.Figure:
    """Build a styled figure from plotly trace dicts (numeric arrays stored as float32).

    Parameters
    ----------
    traces
        Trace dicts such as ``{"type": "scatter", "x": ..., "y": ...}`` (or plotly trace
        objects).
    title, caption, alt, layout, note
        As in :func:`apply_style`.

    Returns
    -------
    plotly.graph_objects.Figure

    Raises
    ------
    ValueError
        If ``traces`` is not a sequence of trace dicts, or caption/alt is empty.
    """
    import plotly.graph_objects as go

    fig = go.Figure(data=_as_traces(traces, "figure_from_traces"))
    return apply_style(fig, title=title, caption=caption, alt=alt, note=note, layout=layout)


# --------------------------------------------------------------------------- responsive layout
#
# One layout for every figure, from a 390-px phone to a wide screen. Below the plot area, from
# the top: tick labels and x-axis titles, the legend (horizontal; its entries wrap into rows),
# then the sliders; the figure grows by what it needs there, and the plot area keeps its height.
# Here the legend's rows are estimated for a book-width figure (what a live kernel shows); in
# the book, book/book.js measures the drawn legend and axes at the reader's width and moves the
# legend and the sliders, and switches a grid of panels to the stacked layout computed here.


def _fit_layout(fig: go.Figure) -> None:
    """Place the legend and the sliders below the axes; store the stacked layout (in place)."""
    lay = fig.layout
    meta = dict(lay.meta["imagination"])
    book = dict(meta.get("layout") or {})
    sliders = len(lay.sliders)
    if "plot_height" not in book:  # first fit: the plot area the figure's own layout leaves
        if lay.height is None:
            plot_height = _DEFAULT_PLOT_HEIGHT
        else:
            top = _TOP if lay.margin.t is None else lay.margin.t
            bottom = _AXIS_DEPTH + _AXIS_TITLE if lay.margin.b is None else lay.margin.b
            plot_height = lay.height - top - bottom - sliders * _SLIDER_HEIGHT
        book["plot_height"] = max(_MIN_PLOT_HEIGHT, int(plot_height))
    plot_height = book["plot_height"]
    top = _TOP + (_TOP_TITLES if _has_top_titles(lay) else 0)
    legend_top = _axis_depth(fig) + _GAP
    legend_height = _legend_height(fig)
    slider_top = legend_top + (legend_height + _GAP if legend_height else 0)
    bottom = slider_top + sliders * _SLIDER_HEIGHT if sliders else slider_top
    for i, slider in enumerate(lay.sliders):
        slider.update(x=0, len=1, y=0, yanchor="top", pad={"t": slider_top + i * _SLIDER_HEIGHT})
    fig.update_layout(
        height=top + plot_height + bottom, margin={"t": top, "b": bottom},
        legend={"orientation": "h", "x": 0, "xanchor": "left", "xref": "paper",
                "y": -legend_top / plot_height, "yanchor": "top", "yref": "paper",
                "bgcolor": "rgba(0,0,0,0)"})
    stacked = _stacked_layout(fig)
    if stacked:
        book["wide"], book["narrow"], book["narrow_plot_height"] = stacked
    fig.update_layout(meta={"imagination": meta | {"layout": book}})


def _has_top_titles(lay: Any) -> bool:
    """Whether annotations stand on the top edge of the plot area (subplot titles)."""
    return any(a.yref == "paper" and a.y is not None and a.y >= 1 - 1e-9
               and a.yanchor == "bottom" for a in lay.annotations)


def _axis_depth(fig: go.Figure) -> int:
    """px below the plot area taken by x tick labels and, if any, an x-axis title."""
    titled = any(axis.title.text for axis in fig.select_xaxes())
    return _AXIS_DEPTH + (_AXIS_TITLE if titled else 0)


def _legend_height(fig: go.Figure) -> int:
    """Estimated px of the horizontal legend at a book-width figure (0 when none is shown)."""
    import re

    entries = [re.sub(r"<[^>]+>", "", t.name or "") for t in fig.data
               if t.showlegend is not False and t.visible is not False]
    shown = fig.layout.showlegend
    if shown is False or not entries or (len(entries) < 2 and shown is not True):
        return 0
    rows, used = 1, 0.0
    for text in entries:
        width = 40 + 7.5 * len(text)  # symbol, padding and text at font size 13
        if used and used + width > _NOMINAL_WIDTH:
            rows, used = rows + 1, 0.0
        used += width
    return rows * _LEGEND_ROW + 6


def _stacked_layout(fig: go.Figure) -> tuple[dict[str, Any], dict[str, Any], int] | None:
    """For a grid of panels side by side: relayout updates to one column and back.

    Returns ``(wide, narrow, narrow_plot_height)``: ``narrow`` gives every panel the full
    width and its own row (in reading order: top row first, left to right), and moves
    the annotations and shapes drawn in paper coordinates on a panel (subplot titles, bands)
    with it; ``wide`` restores the figure's own values. ``None`` for a single column.
    """
    lay = fig.layout
    rects: dict[tuple[float, float, float, float], set[str]] = {}
    for trace in fig.data:
        x_name = "xaxis" + (getattr(trace, "xaxis", None) or "x")[1:]
        y_name = "yaxis" + (getattr(trace, "yaxis", None) or "y")[1:]
        if lay[y_name].overlaying and lay[y_name].overlaying != "free":
            y_name = "yaxis" + lay[y_name].overlaying[1:]
        x0, x1 = lay[x_name].domain or (0, 1)
        y0, y1 = lay[y_name].domain or (0, 1)
        rects.setdefault((x0, x1, y0, y1), set()).update((x_name, y_name))
    if len({(x0, x1) for x0, x1, _, _ in rects}) < 2:
        return None
    order = sorted(rects, key=lambda r: (-r[3], r[0]))
    n = len(order)
    total = n * _NARROW_PANEL + (n - 1) * _NARROW_PANEL_GAP
    new: dict[tuple[float, float, float, float], tuple[float, float, float, float]] = {}
    wide: dict[str, Any] = {}
    narrow: dict[str, Any] = {}
    for k, rect in enumerate(order):
        top = k * (_NARROW_PANEL + _NARROW_PANEL_GAP)  # px from the top of the plot area
        low, high = 1 - (top + _NARROW_PANEL) / total, 1 - top / total
        new[rect] = (0.0, 1.0, round(low, 4), round(high, 4))
        for axis in sorted(rects[rect]):
            domain = list(new[rect][:2] if axis.startswith("x") else new[rect][2:])
            if narrow.get(f"{axis}.domain", domain) != domain:
                return None  # an axis shared by two panels: no stacked layout
            narrow[f"{axis}.domain"] = domain
            wide[f"{axis}.domain"] = list(lay[axis].domain or (0, 1))
    for kind, items in (("annotations", lay.annotations), ("shapes", lay.shapes)):
        for i, item in enumerate(items):
            moved = _move_with_panel(item, kind, new)
            for key, value in moved.items():
                narrow[f"{kind}[{i}].{key}"] = value
                wide[f"{kind}[{i}].{key}"] = item[key]
    return wide, narrow, total


def _move_with_panel(item: Any, kind: str, new: Mapping[tuple, tuple]) -> dict[str, float]:
    """Paper coordinates of an annotation or shape, mapped from its panel to the panel's
    stacked place (empty when it is not in paper coordinates or on no panel)."""
    if item.xref != "paper" or item.yref != "paper":
        return {}
    keys = (("x",), ("y",)) if kind == "annotations" else (("x0", "x1"), ("y0", "y1"))
    if any(item[k] is None for ks in keys for k in ks):
        return {}
    xs, ys = [item[k] for k in keys[0]], [item[k] for k in keys[1]]
    for (x0, x1, y0, y1), (u0, u1, v0, v1) in new.items():
        # on the panel, or just above it (a subplot title stands on its top edge)
        if (all(x0 - 0.01 <= x <= x1 + 0.01 for x in xs)
                and all(y0 - 0.01 <= y <= y1 + 0.08 for y in ys)):
            moved = {k: round(u0 + (item[k] - x0) / (x1 - x0) * (u1 - u0), 4) for k in keys[0]}
            moved |= {k: round(v0 + (item[k] - y0) / (y1 - y0) * (v1 - v0), 4) for k in keys[1]}
            return moved
    return {}


# --------------------------------------------------------------------------- trace data


def _as_traces(result: Any, where: str) -> list[dict[str, Any]]:
    """Validate a figure function's result; copy it with numeric arrays as float32."""
    if isinstance(result, Mapping) or not isinstance(result, Sequence):
        raise ValueError(f"{where}: the figure function must return a list of plotly trace "
                         f"dicts, got {type(result).__name__}")
    traces = []
    for trace in result:
        if hasattr(trace, "to_plotly_json"):
            trace = trace.to_plotly_json()
        if not isinstance(trace, Mapping):
            raise ValueError(f"{where}: each trace must be a dict like {{'type': 'scatter', "
                             f"'x': ..., 'y': ...}}, got {type(trace).__name__}")
        traces.append({"type": "scatter", **_float32_tree(trace)})
    return traces


def _float32_tree(node: Mapping[str, Any]) -> dict[str, Any]:
    # float32 halves the payload; plotly 7 ships numpy arrays as base64 typed arrays.
    return {k: _float32_tree(v) if isinstance(v, Mapping) else _float32(v)
            for k, v in node.items()}


def _float32(value: Any) -> Any:
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return value.item()
    if not isinstance(value, list | tuple | np.ndarray) or len(value) == 0:
        return value
    try:
        array = np.asarray(value)
    except ValueError:  # ragged lists: leave them to plotly
        return value
    return array.astype(np.float32) if array.dtype.kind in "fiu" else value


def _flatten(node: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Leaves of a trace dict under restyle's dotted paths (``"marker.color"``)."""
    flat: dict[str, Any] = {}
    for key, value in node.items():
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        if a.dtype.kind in "fc" and b.dtype.kind in "fc":
            return a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=True))
        return a.shape == b.shape and bool(np.all(a == b))
    return bool(a == b)


def _encode(value: Any) -> Any:
    """JSON-ready restyle value: float32 arrays as plotly.js typed-array specs.

    Slider step ``args`` are not converted by plotly.py (they would become long decimal
    lists); plotly.js decodes these specs in its data_array coercion.
    """
    if not (isinstance(value, np.ndarray) and value.dtype == np.float32 and value.size):
        return value.tolist() if isinstance(value, np.ndarray) else value
    array = np.ascontiguousarray(value, dtype="<f4")
    spec = {"dtype": "f4", "bdata": base64.b64encode(array.tobytes()).decode("ascii")}
    if array.ndim > 1:
        spec["shape"] = ", ".join(str(n) for n in array.shape)
    return spec


# --------------------------------------------------------------------------- evaluation


def _evaluate(func: Callable[..., Any], parameters: Sequence[Parameter],
              values: Mapping[str, float]) -> list[dict[str, Any]]:
    kwargs = {p.name: p.default for p in parameters} | dict(values)
    where = _describe(parameters, kwargs)
    try:
        result = func(**kwargs)
    except Exception as exc:
        exc.add_note(f"while evaluating the figure function at {where}")
        raise
    return _as_traces(result, f"at {where}")


def _describe(parameters: Sequence[Parameter], values: Mapping[str, float]) -> str:
    return ", ".join(p.describe(values[p.name]) for p in parameters if p.name in values)


def _check_structure(reference: list[dict[str, Any]], traces: list[dict[str, Any]],
                     where: str, ref_where: str) -> None:
    """Same trace count, types and attribute paths everywhere on the grid."""
    problem = None
    if len(traces) != len(reference):
        problem = f"{len(traces)} traces, but {len(reference)} at {ref_where}"
    else:
        for i, (t, r) in enumerate(zip(traces, reference, strict=True)):
            if t["type"] != r["type"] or set(_flatten(t)) != set(_flatten(r)):
                problem = (f"trace {i} has type {t['type']!r} and keys {sorted(_flatten(t))}, "
                           f"but {r['type']!r} and {sorted(_flatten(r))} at {ref_where}")
                break
    if problem:
        raise ValueError(f"the figure function returned {problem} at {where}: the number of "
                         "traces, their types and their keys must not change across the grid")


def _check_static(parameters: Sequence[Parameter], static: Sequence[str]) -> list[Parameter]:
    """The static parameters, in the order given, after checking names and grid size."""
    by_name = {p.name: p for p in parameters}
    if len(by_name) != len(parameters):
        raise ValueError(f"parameter names must be unique, got {[p.name for p in parameters]}")
    if isinstance(static, str):
        static = (static,)
    unknown = [s for s in static if s not in by_name]
    if unknown:
        raise ValueError(f"static names {unknown} are not parameters; allowed: {list(by_name)}")
    if len(static) > MAX_STATIC or len(set(static)) != len(static):
        raise ValueError(f"static={list(static)}: give at most {MAX_STATIC} distinct names "
                         "(plotly sliders cannot combine more without JavaScript)")
    swept = [by_name[s] for s in static]
    sizes = [len(p.values) for p in swept]
    if math.prod(sizes) > MAX_COMBINATIONS:
        grid = " x ".join(f"{n} ({p.label})" for n, p in zip(sizes, swept, strict=True))
        raise ValueError(f"the static grid has {grid} = {math.prod(sizes)} combinations; the "
                         f"limit is {MAX_COMBINATIONS}: coarsen the grids")
    return swept


# --------------------------------------------------------------------------- static mode


def _static_figure(func: Callable[..., Any], parameters: Sequence[Parameter],
                   swept: list[Parameter], **style: Any) -> go.Figure:
    import plotly.graph_objects as go

    fixed = [p for p in parameters if p not in swept]
    note = ("Open in Binder (or JupyterLab) to vary all parameters: "
            + ", ".join(p.describe() for p in fixed) + " fixed here.") if fixed else ""
    if not swept:
        return figure_from_traces(_evaluate(func, parameters, {}), note=note, **style)
    a, b = swept[0], (swept[1] if len(swept) == 2 else None)
    b_values = b.values if b else (None,)
    grid = _static_grid(func, parameters, a, b)
    j0 = b.index if b else 0
    base = [dict(t, visible=t.get("visible", True) if j == j0 else False)
            for j in range(len(b_values)) for t in grid[a.index, j]]
    sliders = [_slider(a, "restyle", _restyle_steps(grid, a, len(b_values)))]
    if b:
        sliders.append(_slider(b, "restyle", _visible_steps(grid[a.index, 0], len(b_values))))
    # The sliders first: apply_style places them below the axes and the legend.
    fig = go.Figure(data=_as_traces(base, "interactive_figure"), layout={"sliders": sliders})
    apply_style(fig, note=note, **style)
    _check_size(fig, swept)
    return fig


def _static_grid(func: Callable[..., Any], parameters: Sequence[Parameter], a: Parameter,
                 b: Parameter | None) -> dict[tuple[int, int], list[dict[str, Any]]]:
    """Traces at every (i, j) of the product grid; j is 0 when there is no B."""
    b_values = b.values if b else (None,)
    grid, where = {}, {}
    for i, av in enumerate(a.values):
        for j, bv in enumerate(b_values):
            values = {a.name: av} | ({b.name: bv} if b else {})
            grid[i, j] = _evaluate(func, parameters, values)
            where[i, j] = _describe(parameters, {p.name: p.default for p in parameters} | values)
    ref = (a.index, b.index if b else 0)
    for key, traces in grid.items():
        _check_structure(grid[ref], traces, where[key], where[ref])
    return grid


def _restyle_steps(grid: dict[tuple[int, int], list[dict[str, Any]]], a: Parameter,
                   n_copies: int) -> list[list[Any]]:
    """Restyle args of slider A: only the attributes that change with A, for all copies."""
    flat = {key: [_flatten(t) for t in traces] for key, traces in grid.items()}
    n = len(flat[0, 0])
    changing = {t: {path for path in flat[0, 0][t] for i in range(len(a.values))
                    for j in range(n_copies)
                    if not _same(flat[i, j][t][path], flat[0, j][t][path])}
                for t in range(n)}
    positions = [t for t in range(n) if changing[t]]
    paths = sorted(set().union(*changing.values()))
    indices = [j * n + t for j in range(n_copies) for t in positions]
    return [[{path: [_encode(flat[i, j][t].get(path)) for j in range(n_copies)
                     for t in positions] for path in paths}, indices]
            for i in range(len(a.values))]


def _visible_steps(traces: list[dict[str, Any]], n_copies: int) -> list[list[Any]]:
    """Restyle args of slider B: step j shows copy j only (keeping legendonly traces)."""
    n = len(traces)
    return [[{"visible": [t.get("visible", True) if j == k else False
                          for k in range(n_copies) for t in traces]},
             list(range(n * n_copies))] for j in range(n_copies)]


def _slider(param: Parameter, method: str, args: list[list[Any]]) -> dict[str, Any]:
    # Too many step labels overlap; then only the current value is written out. The
    # vertical place (pad.t below the plot area) is set by _fit_layout.
    labels_hidden = len(param.values) > _MAX_LABELLED_STEPS
    return {
        "active": param.index,
        # its own colour: it would inherit the hidden step labels' (book.js themes it)
        "currentvalue": {"prefix": f"{param.label} = ", "font": {"size": 14, "color": _TEXT}},
        "steps": [{"method": method, "args": step, "label": f"{v:{param.fmt}}"}
                  for v, step in zip(param.values, args, strict=True)],
        "x": 0.0, "len": 1.0, "y": 0.0, "yanchor": "top", "pad": {"b": 10},
        "font": {"color": "rgba(0,0,0,0)"} if labels_hidden else {},
    }


def _check_size(fig: go.Figure, swept: list[Parameter]) -> None:
    chars = len(fig.to_json())
    if chars > MAX_FIGURE_CHARS:
        sizes = ", ".join(f"{p.label}: {len(p.values)} values" for p in swept)
        raise ValueError(f"the static figure is {chars / 1e6:.2f} MB serialised (limit "
                         f"{MAX_FIGURE_CHARS / 1e6:.1f} MB): coarsen the grid ({sizes}) or "
                         "return fewer points per trace")


# --------------------------------------------------------------------------- live mode


class LiveFigure:
    """Live figure: an ipywidgets control per parameter above a recomputed plotly figure.

    Displays in Jupyter through :attr:`widget` (an ``ipywidgets.VBox``). Built by
    :func:`interactive_figure` in live mode; every slider change calls :meth:`update`.

    Attributes
    ----------
    widget : ipywidgets.VBox
        The controls and the output area.
    controls : dict[str, ipywidgets.FloatSlider | ipywidgets.FloatLogSlider]
        One control per parameter, by name.
    output : ipywidgets.Output
        Holds the current figure.
    figure : plotly.graph_objects.Figure
        The figure last drawn.
    """

    def __init__(self, func: Callable[..., Any], parameters: Sequence[Parameter],
                 **style: Any) -> None:
        import ipywidgets

        self._func, self._parameters, self._style = func, tuple(parameters), style
        self.controls = {p.name: _control(ipywidgets, p) for p in parameters}
        self.output = ipywidgets.Output()
        self.widget = ipywidgets.VBox([*self.controls.values(), self.output])
        self._syncing = False
        for control in self.controls.values():
            control.observe(self._on_change, names="value")
        self.figure = self.update()

    def update(self, **values: float) -> go.Figure:
        """Recompute and redraw at the current slider values, overridden by ``values``.

        Parameters
        ----------
        **values
            New values by parameter name; the sliders move to them.

        Returns
        -------
        plotly.graph_objects.Figure
            The new figure (also shown in :attr:`output`).

        Raises
        ------
        ValueError
            For an unknown name or a value outside the parameter's ``[min, max]``.
        """
        self._move_sliders(values)
        current = {name: float(c.value) for name, c in self.controls.items()}
        traces = _evaluate(self._func, self._parameters, current | values)
        self.figure = figure_from_traces(traces, **self._style)
        bundle = json.loads(self.figure.to_json())
        # Plain display_data: the same mime bundle plotly emits, and it works (and is
        # testable) outside a kernel too.
        self.output.outputs = ({"output_type": "display_data", "metadata": {},
                                "data": {_MIME: bundle, "text/plain": "<plotly figure>"}},)
        return self.figure

    def _move_sliders(self, values: Mapping[str, float]) -> None:
        for name, value in values.items():
            if name not in self.controls:
                raise ValueError(f"update() got unknown parameter {name!r}; allowed: "
                                 f"{list(self.controls)}")
            p = next(p for p in self._parameters if p.name == name)
            if not p.values[0] <= value <= p.values[-1]:
                raise ValueError(f"{name}={value} is outside its range "
                                 f"[{p.values[0]}, {p.values[-1]}]")
        self._syncing = True  # the observers must not recompute once per moved slider
        try:
            for name, value in values.items():
                self.controls[name].value = value
        finally:
            self._syncing = False

    def _on_change(self, change: Mapping[str, Any]) -> None:
        if not self._syncing:
            self.update()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)


def _control(ipywidgets: Any, p: Parameter) -> Any:
    """A slider over the parameter's range, finer than its grid; updates on release."""
    lo, hi = p.values[0], p.values[-1]
    common = {"value": p.default, "description": p.label, "continuous_update": False,
              "readout_format": p.fmt, "disabled": lo == hi,
              "style": {"description_width": "initial"},
              "layout": ipywidgets.Layout(width="min(100%, 520px)")}
    if p.log:
        span = math.log10(hi) - math.log10(lo)
        return ipywidgets.FloatLogSlider(base=10, min=math.log10(lo), max=math.log10(hi),
                                         step=span / 200 if span else 1.0, **common)
    return ipywidgets.FloatSlider(min=lo, max=hi, step=(hi - lo) / 200 if hi > lo else 1.0,
                                  **common)


# --------------------------------------------------------------------------- entry point


def interactive_figure(func: Callable[..., Any], parameters: Sequence[Parameter], *,
                       static: Sequence[str] = (), title: str, caption: str, alt: str,
                       layout: Mapping[str, Any] | None = None,
                       mode: Literal["static", "live"] | None = None) -> go.Figure | LiveFigure:
    """The figure of a pure function of parameters: static plotly sliders, or live widgets.

    Parameters
    ----------
    func
        ``func(**{p.name: value for p in parameters})`` returns a list of plotly trace dicts.
        Across the static grid the number of traces, their types and keys must not change.
    parameters
        All parameters of ``func``, with grids and defaults.
    static
        Names (at most two) that get plotly sliders in static mode; the others stay at their
        defaults, named in the figure's note. The first name is slider A (restyles data),
        the second slider B (one trace copy per value, toggles visibility).
    title, caption, alt, layout
        As in :func:`apply_style`.
    mode
        ``"static"``, ``"live"``, or ``None`` to read ``IMAGINATION_STATIC``
        (:func:`imagination.book.scale.is_static`).

    Returns
    -------
    plotly.graph_objects.Figure or LiveFigure
        Static: a figure with native sliders (works in static HTML). Live: a
        :class:`LiveFigure` with a control for every parameter.

    Raises
    ------
    ValueError
        For an unknown or repeated static name, more than two, a product grid over
        ``MAX_COMBINATIONS`` (both modes); in static mode also for trace structure that
        changes across the grid, or a figure over ``MAX_FIGURE_CHARS`` serialised.

    Examples
    --------
    >>> import numpy as np
    >>> g = Parameter("gamma", "γ", values=[0.5, 0.9, 0.99], default=0.9)
    >>> def curve(gamma):
    ...     t = np.arange(50)
    ...     return [{"type": "scatter", "x": t, "y": gamma**t, "name": "true"}]
    >>> fig = interactive_figure(curve, [g], static=["gamma"], title="Discount",
    ...                          caption="Higher γ decays slower.", alt="Decay curves",
    ...                          mode="static")
    >>> len(fig.layout.sliders[0].steps)
    3
    """
    if mode is None:
        mode = "static" if is_static() else "live"
    if mode not in ("static", "live"):
        raise ValueError(f"mode={mode!r}; allowed: 'static', 'live' or None (read "
                         "IMAGINATION_STATIC)")
    # Checked in both modes, so a notebook that works live also builds statically.
    swept = _check_static(parameters, static)
    style = {"title": title, "caption": caption, "alt": alt, "layout": layout}
    if mode == "live":
        return LiveFigure(func, parameters, **style)
    return _static_figure(func, parameters, swept, **style)


# --------------------------------------------------------------------------- subplot grids


def subplot_layout(rows: int, cols: int, titles: Sequence[str],
                   grid: Mapping[str, Any] | None = None, *, height: int = 600,
                   legend_rows: int = 1, **axes: Mapping[str, Any]) -> dict[str, Any]:
    """A layout dict for a grid of panels, one title per panel.

    plotly's ``make_subplots`` grid (axes ``x``, ``y`` for panel 1, ``xk``, ``yk`` for panel
    ``k``; see :func:`subplot_axes`), without its template. :func:`apply_style` puts the legend
    below the panels and, on a phone, stacks the panels in one column.

    Parameters
    ----------
    rows, cols
        Grid size.
    titles
        One title per panel.
    grid
        More ``make_subplots`` keywords (``specs``, ``column_widths``, ...), and overrides of
        ``horizontal_spacing`` (default 0.1) and ``vertical_spacing`` (0.2).
    height
        Figure height in pixels, without the legend below the panels.
    legend_rows
        No effect (the legend's rows are measured now); kept so that older calls still work.
    **axes
        Settings merged into the named axes, e.g. ``xaxis2={"type": "log"}``.

    Returns
    -------
    dict
        For ``layout=`` of :func:`figure_from_traces` or :func:`interactive_figure`.
    """
    from plotly.subplots import make_subplots

    kw = {"horizontal_spacing": 0.1, "vertical_spacing": 0.2} | dict(grid or {})
    lay = make_subplots(rows=rows, cols=cols, subplot_titles=list(titles),
                        **kw).layout.to_plotly_json()
    lay = {k: v for k, v in lay.items() if k != "template"}
    for name, settings in axes.items():
        if name not in lay:
            raise ValueError(f"no axis {name!r} in a {rows} x {cols} grid")
        lay[name] = lay[name] | dict(settings)
    return lay | {"height": height, "margin": {"t": _TOP + _TOP_TITLES,
                                               "b": _AXIS_DEPTH + _AXIS_TITLE}}


def subplot_axes(panel: int) -> dict[str, str]:
    """The axis names of panel ``panel`` (1-based) of a :func:`subplot_layout` grid, for a trace."""
    if isinstance(panel, bool) or not isinstance(panel, int) or panel < 1:
        raise ValueError(f"panel must be an integer >= 1, got {panel!r}")
    suffix = "" if panel == 1 else str(panel)
    return {"xaxis": "x" + suffix, "yaxis": "y" + suffix}


def interval_bars(values: ArrayLike, lo: ArrayLike, hi: ArrayLike) -> dict[str, Any]:
    """Plotly's asymmetric error bars (a trace's ``error_y``) from ``values`` to ``[lo, hi]``.

    The bars reach ``hi - value`` up and ``value - lo`` down. A percentile bootstrap interval
    need not contain its point estimate; such a bar comes out negative on one side, as the
    numbers are, rather than being clipped.

    Raises
    ------
    ValueError
        If the three differ in length.
    """
    v, a, b = (np.asarray(t, dtype=float).ravel() for t in (values, lo, hi))
    if not v.shape == a.shape == b.shape:
        raise ValueError(f"values, lo and hi must have one length, got {v.size}, {a.size}, "
                         f"{b.size}")
    return {"type": "data", "symmetric": False, "array": b - v, "arrayminus": v - a}


# --------------------------------------------------------------------------- figures of results


def allocation_figure(dyn_n: ArrayLike, dyn_err: ArrayLike, rew_n: ArrayLike, rew_err: ArrayLike,
                      dyn_fit: Any, rew_fit: Any, allocation: Any, *, budget: float,
                      cost_dyn: float, cost_rew: float, multiplier: float,
                      share_interval: tuple[float, float] | None = None) -> go.Figure:
    r"""Theorem 1 on measured learning curves: the fits and the objective on the budget line.

    Left: the measured errors, the fitted power laws of Eq. (3) and each model's error at the
    optimum. Right: :math:`m\varepsilon_{\rm dyn}+\varepsilon_{\rm rew}` along the budget line
    (:func:`~imagination.allocation.budget_line_objective`) against the dynamics budget share,
    the optimum marked and, if given, its interval shaded. Used by ``imagination allocate --plot``
    and chapter 8.

    Parameters
    ----------
    dyn_n, dyn_err, rew_n, rew_err
        The measured learning curves (sample sizes and errors).
    dyn_fit, rew_fit
        Their fits (:class:`~imagination.scaling.PowerLawFit`, or anything with ``coef``,
        ``exponent`` and a callable ``law``).
    allocation
        The optimum (:class:`~imagination.allocation.Allocation`).
    budget, cost_dyn, cost_rew, multiplier
        The budget line and the multiplier of Eq. (4).
    share_interval
        An interval of the dynamics budget share (fractions), e.g. a bootstrap interval.

    Returns
    -------
    plotly.graph_objects.Figure
    """
    from .allocation import budget_line_objective

    a, c = allocation, COLORS
    traces: list[dict[str, Any]] = []
    for name, n, err, fit, n_opt, eps_opt, color in (
            ("dynamics", dyn_n, dyn_err, dyn_fit, a.n_dyn, a.eps_dyn, c["true"]),
            ("reward", rew_n, rew_err, rew_fit, a.n_rew, a.eps_rew, c["imagined"])):
        n = np.asarray(n, dtype=float)
        lo, hi = min(n.min(), n_opt), max(n.max(), n_opt)
        grid = np.geomspace(lo / 1.5, hi * 1.5, 80)
        traces += [
            {"mode": "markers", "x": n, "y": np.asarray(err, dtype=float),
             "name": f"{name}: measured",
             "marker": {"color": color, "size": 5, "opacity": 0.55}},
            {"mode": "lines", "x": grid, "y": fit.law(grid),
             "name": f"{name}: {fit.coef:.3g} N<sup>−{fit.exponent:.3g}</sup>",
             "line": {"color": color}},
            {"mode": "markers", "x": [n_opt], "y": [eps_opt], "name": f"{name}: optimum",
             "marker": {"color": color, "symbol": "star", "size": 14,
                        "line": {"color": "black", "width": 1}}, "showlegend": False},
        ]
    share = np.linspace(0.002, 0.998, 400)
    objective = budget_line_objective(share, budget, cost_dyn, cost_rew, dyn_fit.law,
                                      rew_fit.law, multiplier)
    traces += [
        {"mode": "lines", "x": 100 * share, "y": objective, "xaxis": "x2", "yaxis": "y2",
         "name": "m ε<sub>dyn</sub> + ε<sub>rew</sub>", "line": {"color": c["neutral"]}},
        {"mode": "markers", "x": [100 * a.dyn_share], "y": [a.objective], "xaxis": "x2",
         "yaxis": "y2", "name": "optimal split",
         "marker": {"color": c["bound"], "symbol": "star", "size": 14}},
    ]
    shapes = []
    if share_interval:
        shapes.append({"type": "rect", "xref": "x2", "yref": "y2 domain",
                       "x0": 100 * share_interval[0], "x1": 100 * share_interval[1], "y0": 0,
                       "y1": 1, "fillcolor": c["bound"], "opacity": 0.25, "line": {"width": 0}})
    return figure_from_traces(
        traces, title="Fitted learning curves and the optimal split",
        caption="Left: the measured errors (dots), the fitted power laws of Eq. (3) (lines) "
        "and each model's error at the optimal split (stars). Right: the objective "
        "m ε_dyn + ε_rew along the budget line against the budget share spent on "
        "dynamics samples; the star is Theorem 1's optimum and the shaded band its 95% "
        "bootstrap interval.",
        alt="Two panels: falling learning curves of the dynamics and the reward model on "
        "log-log axes with fitted lines; a U-shaped objective against the dynamics budget "
        "share with its minimum marked and a shaded interval around it.",
        layout={"xaxis": {"title": "training samples N", "type": "log", "domain": [0, 0.44]},
                "yaxis": {"title": "held-out error", "type": "log"},
                "xaxis2": {"title": "budget share on dynamics (%)", "domain": [0.56, 1],
                           "anchor": "y2", "range": [0, 100]},
                "yaxis2": {"title": "m ε<sub>dyn</sub> + ε<sub>rew</sub>", "anchor": "x2",
                           "range": [0, 3 * a.objective]},
                "shapes": shapes, "height": 480, "legend": {"orientation": "h", "y": -0.2}})


def label_cost_figure(noise_variance: Callable[[Any], Any], costs: ArrayLike, noise: ArrayLike,
                      *, rollout_cost: float, best_cost: float) -> go.Figure:
    r"""Corollary 2 on measured label noise: the noise curve and the objective it gives.

    Left: the measured variances and the noise model between them. Right: the noise term of
    Corollary 2, :math:`(c_0+c)\,\sigma^2(c)` (:func:`~imagination.fidelity.label_cost_objective`),
    with the best label cost marked. Used by ``imagination fidelity --plot`` and chapter 8.

    Parameters
    ----------
    noise_variance
        The noise model :math:`c\mapsto\sigma^2(c)` (e.g.
        :class:`~imagination.fidelity.MeasuredNoise`), defined from the smallest to the largest
        measured cost.
    costs, noise
        The measurements (rows; repeated costs allowed).
    rollout_cost, best_cost
        :math:`c_0` and the best cost found.

    Returns
    -------
    plotly.graph_objects.Figure
    """
    from .fidelity import label_cost_objective

    c = COLORS
    x = np.asarray(costs, dtype=float)
    lo, hi = float(x.min()), float(x.max())
    grid = np.geomspace(lo, hi, 300)
    best = float(np.asarray(label_cost_objective(best_cost, noise_variance,
                                                 rollout_cost=rollout_cost)))
    pad = 0.04 * np.log10(hi / lo)  # keep end points off the axes
    x_range = [np.log10(lo) - pad, np.log10(hi) + pad]
    traces: list[dict[str, Any]] = [
        {"mode": "markers", "x": x, "y": np.asarray(noise, dtype=float), "name": "measured σ²",
         "marker": {"color": c["true"], "size": 7}},
        {"mode": "lines", "x": grid, "y": noise_variance(grid), "name": "PCHIP in log c",
         "line": {"color": c["true"]}},
        {"mode": "lines", "x": grid,
         "y": label_cost_objective(grid, noise_variance, rollout_cost=rollout_cost),
         "xaxis": "x2", "yaxis": "y2",
         "name": f"(c<sub>0</sub> + c) σ²(c), c<sub>0</sub> = {rollout_cost:g}",
         "line": {"color": c["imagined"]}},
        {"mode": "markers", "x": [best_cost], "y": [best], "xaxis": "x2", "yaxis": "y2",
         "name": f"best cost c* = {best_cost:.3g}",
         "marker": {"color": c["bound"], "symbol": "star", "size": 14}},
    ]
    return figure_from_traces(
        traces, title="Label noise against cost, and the noise term it buys",
        caption="Left: the measured label-noise variance (dots) and its monotone (PCHIP) "
        "interpolant in log c. Right: the noise term of Corollary 2, (c₀ + c) σ²(c), which "
        "is proportional to σ²/K for K = B/(c₀ + c) rollouts; the star is the best label "
        "cost on the measured range.",
        alt="Two panels against the label cost on a log axis: the noise variance falling "
        "with cost, and the objective curve with its minimum marked by a star.",
        layout={"xaxis": {"title": "label cost per rollout c", "type": "log",
                          "domain": [0, 0.44], "range": x_range},
                "yaxis": {"title": "noise variance σ²", "rangemode": "tozero"},
                "xaxis2": {"title": "label cost per rollout c", "type": "log",
                           "domain": [0.56, 1], "anchor": "y2", "range": x_range},
                "yaxis2": {"title": "(c<sub>0</sub> + c) σ²(c)", "anchor": "x2",
                           "rangemode": "tozero"},
                "height": 460, "legend": {"orientation": "h", "y": -0.22}})
