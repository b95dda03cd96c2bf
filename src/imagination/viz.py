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
_SLIDER_TOP = 75  # px below the plot area: clears tick labels and the x-axis title
_SLIDER_HEIGHT = 95  # px per slider: current value, rail, step labels
_MAX_LABELLED_STEPS = 12  # more step labels than this overlap on a book-width page


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
        title={"font": {"size": 18}},
        legend={"font": {"size": 13}},
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
    fig = figure_from_traces(base, note=note, **style)
    sliders = [_slider(a, "restyle", _restyle_steps(grid, a, len(b_values)), 0)]
    if b:
        sliders.append(_slider(b, "restyle", _visible_steps(grid[a.index, 0], len(b_values)), 1))
    _place_sliders(fig, sliders, style.get("layout"))
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


def _slider(param: Parameter, method: str, args: list[list[Any]], row: int) -> dict[str, Any]:
    # Too many step labels overlap; then only the current value is written out.
    labels_hidden = len(param.values) > _MAX_LABELLED_STEPS
    return {
        "active": param.index,
        "currentvalue": {"prefix": f"{param.label} = ", "font": {"size": 14}},
        "steps": [{"method": method, "args": step, "label": f"{v:{param.fmt}}"}
                  for v, step in zip(param.values, args, strict=True)],
        "x": 0.0, "len": 1.0, "y": 0.0, "yanchor": "top",
        "pad": {"t": _SLIDER_TOP + row * _SLIDER_HEIGHT, "b": 10},
        "font": {"color": "rgba(0,0,0,0)"} if labels_hidden else {},
    }


def _place_sliders(fig: go.Figure, sliders: list[dict[str, Any]],
                   layout: Mapping[str, Any] | None) -> None:
    bottom = _SLIDER_TOP + len(sliders) * _SLIDER_HEIGHT + 10
    # Explicit height: book_ext sizes the <div> from layout.height. User layout wins.
    fig.update_layout(sliders=sliders, margin={"b": bottom}, height=420 + bottom)
    if layout:
        fig.update_layout(**dict(layout))


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
    """A layout dict for a grid of panels, with the title and a horizontal legend on top.

    plotly's ``make_subplots`` grid (axes ``x``, ``y`` for panel 1, ``xk``, ``yk`` for panel
    ``k``; see :func:`subplot_axes`), without its template, plus the legend and title placed in
    pixels from the top of the figure so that they never cover a panel.

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
        Figure height in pixels.
    legend_rows
        Rows of legend entries to leave room for above the panels.
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
    legend = {"orientation": "h", "x": 0, "yref": "container", "y": 1 - 44 / height,
              "yanchor": "top"}
    return lay | {"height": height, "margin": {"t": 80 + 24 * legend_rows}, "legend": legend,
                  "title": {"y": 1 - 10 / height, "yanchor": "top"}}


def subplot_axes(panel: int) -> dict[str, str]:
    """The axis names of panel ``panel`` (1-based) of a :func:`subplot_layout` grid, for a trace."""
    if isinstance(panel, bool) or not isinstance(panel, int) or panel < 1:
        raise ValueError(f"panel must be an integer >= 1, got {panel!r}")
    suffix = "" if panel == 1 else str(panel)
    return {"xaxis": "x" + suffix, "yaxis": "y" + suffix}


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
