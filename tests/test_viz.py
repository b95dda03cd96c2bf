"""Tests of imagination.viz: static slider figures, live widgets, errors, import cost."""

from __future__ import annotations

import base64
import json
import subprocess
import sys

import numpy as np
import plotly.graph_objects as go
import pytest

from imagination import viz
from imagination.viz import COLORS, LiveFigure, Parameter, interactive_figure

T = np.arange(30)
STYLE = {"title": "Test", "caption": "What to look at.", "alt": "A test figure."}


def curves(gamma: float, L_f: float = 1.0, H: float = 10.0) -> list[dict]:
    """Two changing curves and one fixed reference line."""
    return [
        {"type": "scatter", "x": T, "y": (gamma * L_f) ** T, "name": "true",
         "line": {"color": COLORS["true"]}},
        {"type": "scatter", "x": T, "y": H * (gamma * L_f) ** T, "name": "bound"},
        {"type": "scatter", "x": [0, 29], "y": [1, 1], "name": "paper"},
    ]


def heat(gamma: float, L_f: float = 1.0, H: float = 10.0) -> list[dict]:
    return [{"type": "heatmap", "z": np.outer(np.arange(4), np.arange(5)) * gamma * L_f,
             "x": np.arange(5), "y": np.arange(4)}]


GAMMA = Parameter("gamma", "γ", [0.5, 0.7, 0.9, 0.99], default=0.9)
LF = Parameter("L_f", "L_f", [0.5, 1.0, 1.5], default=1.0, fmt=".2f")
HOR = Parameter("H", "H", [10.0, 50.0], default=10.0)
PARAMS = [GAMMA, LF, HOR]


def decode(value):
    """A restyle value as numpy: plotly.js typed-array spec, list, or array."""
    if isinstance(value, dict) and "bdata" in value:
        assert value["dtype"] == "f4"
        array = np.frombuffer(base64.b64decode(value["bdata"]), dtype="<f4")
        shape = value.get("shape")
        return array.reshape([int(n) for n in shape.split(",")]) if shape else array
    return np.asarray(value)


def close(a, b) -> bool:
    return np.allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=1e-6,
                       atol=1e-6)


def apply_restyle(data: list[dict], args: list) -> None:
    """Apply a slider step's restyle args to a list of trace dicts (like plotly.js)."""
    update, indices = args
    for path, values in update.items():
        for k, index in enumerate(indices):
            data[index][path] = values[k % len(values)]


def static(func=curves, names=("gamma",), params=PARAMS, **kw) -> go.Figure:
    return interactive_figure(func, params, static=names, mode="static", **STYLE, **kw)


# ----------------------------------------------------------------------------- static mode


def test_one_parameter_steps_equal_func_on_grid():
    fig = static()
    (slider,) = fig.layout.sliders
    assert slider.active == GAMMA.index == 2
    assert [s.label for s in slider.steps] == ["0.5", "0.7", "0.9", "0.99"]
    assert slider.currentvalue.prefix == "γ = "
    for value, step in zip(GAMMA.values, slider.steps, strict=True):
        assert step.method == "restyle"
        update, indices = step.args
        # only y changes: x and the fixed third trace stay out of the steps
        assert set(update) == {"y"} and list(indices) == [0, 1]
        expected = curves(value)
        for k, index in enumerate(indices):
            assert close(decode(update["y"][k]), expected[index]["y"])


def test_initial_data_is_func_at_defaults_as_float32():
    fig = static()
    for trace, expected in zip(fig.data, curves(0.9), strict=True):
        assert trace.y.dtype == np.float32 and close(trace.y, expected["y"])
    spec = json.loads(fig.to_json())
    assert spec["data"][0]["y"]["dtype"] == "f4"
    assert spec["layout"]["sliders"][0]["steps"][0]["args"][0]["y"][0]["dtype"] == "f4"
    assert fig.layout.template.layout.colorway[0] == COLORS["true"]


def test_two_parameters_product_grid_is_exact():
    fig = static(names=("gamma", "L_f"))
    slider_a, slider_b = fig.layout.sliders
    n = len(curves(0.9))
    assert len(fig.data) == n * len(LF.values)
    assert (slider_a.active, slider_b.active) == (GAMMA.index, LF.index)
    for step_a, a in zip(slider_a.steps, GAMMA.values, strict=True):
        data = [{"y": t.y} for t in fig.data]
        apply_restyle(data, step_a.args)
        for j, b in enumerate(LF.values):
            for t, expected in enumerate(curves(a, b)):
                assert close(decode(data[j * n + t]["y"]), expected["y"]), (a, b, t)


def test_two_parameters_slider_b_shows_one_copy():
    fig = static(names=("gamma", "L_f"))
    n = len(curves(0.9))
    visible = [bool(t.visible) for t in fig.data]
    assert visible == [j == LF.index for j in range(3) for _ in range(n)]
    for j, step in enumerate(fig.layout.sliders[1].steps):
        update, indices = step.args
        assert set(update) == {"visible"} and list(indices) == list(range(3 * n))
        assert list(update["visible"]) == [k == j for k in range(3) for _ in range(n)]


def test_heatmap_z_is_restyled_with_shape():
    fig = static(func=heat, names=("gamma", "L_f"))
    assert fig.data[0].z.dtype == np.float32
    for step, a in zip(fig.layout.sliders[0].steps, GAMMA.values, strict=True):
        update, _ = step.args
        assert set(update) == {"z"}
        for k, b in enumerate(LF.values):
            z = decode(update["z"][k])
            assert z.shape == (4, 5) and close(z, heat(a, b)[0]["z"])


def test_meta_note_layout_and_plain_figure():
    fig = static(names=(), layout={"xaxis": {"title": {"text": "t"}}})
    assert not fig.layout.sliders and fig.layout.xaxis.title.text == "t"
    meta = fig.layout.meta["imagination"]
    assert meta["caption"] == STYLE["caption"] and meta["alt"] == STYLE["alt"]
    assert meta["note"].startswith("Open in Binder (or JupyterLab) to vary all parameters")
    assert "γ = 0.9" in meta["note"] and "L_f = 1.00" in meta["note"]
    assert fig.layout.template.layout.font.size >= 13
    full = interactive_figure(lambda gamma: curves(gamma), [GAMMA], static=["gamma"],
                              mode="static", **STYLE)
    assert full.layout.meta["imagination"]["note"] == ""
    assert full.layout.margin.b > 75 and full.layout.height > full.layout.margin.b


def test_figure_from_traces_styles_plain_figures():
    fig = viz.figure_from_traces(curves(0.5), **STYLE)
    assert fig.layout.template.layout.colorway[1] == COLORS["imagined"]
    assert fig.data[2].y.dtype == np.float32
    assert fig.layout.meta["imagination"]["alt"] == STYLE["alt"]


# ----------------------------------------------------------------------------- errors


def test_error_more_than_two_static():
    with pytest.raises(ValueError, match="at most 2"):
        static(names=("gamma", "L_f", "H"))


def test_error_unknown_static_name():
    with pytest.raises(ValueError, match=r"\['beta'\] are not parameters; allowed"):
        static(names=("beta",))


def test_error_default_off_grid():
    with pytest.raises(ValueError, match=r"default 0\.8 is not one of its values"):
        Parameter("gamma", "γ", [0.5, 0.9], default=0.8)


@pytest.mark.parametrize("values", [[], [0.9, 0.5], [0.5, np.nan], [0.5, 0.5]])
def test_error_bad_grid(values):
    with pytest.raises(ValueError, match=r"empty|finite|increasing"):
        Parameter("gamma", "γ", values, default=0.5)


def test_error_too_many_combinations():
    a = Parameter("gamma", "γ", np.linspace(0.1, 0.9, 30), default=0.1)
    b = Parameter("L_f", "L_f", np.linspace(0.5, 1.5, 20), default=0.5)
    with pytest.raises(ValueError, match=r"30 \(γ\) x 20 \(L_f\) = 600 .* limit is 400"):
        static(names=("gamma", "L_f"), params=[a, b, HOR])


def test_error_trace_count_changes():
    def func(gamma, L_f, H):
        return curves(gamma)[: 2 if gamma < 0.95 else 3]

    with pytest.raises(ValueError, match=r"returned 3 traces, but 2 .* at γ = 0.99"):
        static(func=func)


def test_error_trace_keys_change():
    def func(gamma, L_f, H):
        trace = {"type": "scatter", "x": T, "y": gamma**T}
        return [trace | ({"name": "x"} if gamma > 0.6 else {})]

    with pytest.raises(ValueError, match="keys must not change"):
        static(func=func)


def test_error_figure_too_large(monkeypatch):
    monkeypatch.setattr(viz, "MAX_FIGURE_CHARS", 5_000)
    with pytest.raises(ValueError, match="coarsen the grid"):
        static()


def test_error_missing_alt():
    with pytest.raises(ValueError, match="alt must be a non-empty string"):
        interactive_figure(curves, PARAMS, mode="static", title="t", caption="c", alt=" ")


# ----------------------------------------------------------------------------- live mode


def test_live_has_control_per_parameter_and_update():
    live = interactive_figure(curves, PARAMS, static=["gamma"], mode="live", **STYLE)
    assert isinstance(live, LiveFigure)
    assert list(live.controls) == ["gamma", "L_f", "H"]
    assert live.controls["L_f"].min == 0.5 and live.controls["L_f"].max == 1.5
    assert all(c.continuous_update is False for c in live.controls.values())
    fig = live.update(gamma=0.6, H=20.0)
    assert isinstance(fig, go.Figure) and live.controls["gamma"].value == 0.6
    for trace, expected in zip(fig.data, curves(0.6, 1.0, 20.0), strict=True):
        assert close(trace.y, expected["y"])
    assert fig.layout.meta["imagination"]["note"] == ""
    with pytest.raises(ValueError, match="unknown parameter"):
        live.update(beta=1.0)
    with pytest.raises(ValueError, match="outside its range"):
        live.update(gamma=2.0)


def test_live_slider_change_recomputes():
    calls = []

    def func(gamma, L_f, H):
        calls.append((gamma, L_f, H))
        return curves(gamma, L_f, H)

    log_h = Parameter("H", "H", [1.0, 10.0, 100.0], default=10.0, log=True)
    live = interactive_figure(func, [GAMMA, LF, log_h], mode="live", **STYLE)
    assert type(live.controls["H"]).__name__ == "FloatLogSlider"
    live.controls["L_f"].value = 0.75
    assert len(calls) == 2 and calls[-1] == (0.9, 0.75, 10.0)
    (output,) = live.output.outputs
    plotted = output["data"]["application/vnd.plotly.v1+json"]["data"][0]["y"]
    assert close(decode(plotted), curves(0.9, 0.75)[0]["y"])
    assert "application/vnd.jupyter.widget-view+json" in live._repr_mimebundle_()


@pytest.mark.parametrize(("env", "kind"), [("1", go.Figure), ("0", LiveFigure)])
def test_mode_none_reads_environment(monkeypatch, env, kind):
    monkeypatch.setenv("IMAGINATION_STATIC", env)
    assert isinstance(interactive_figure(curves, PARAMS, static=["gamma"], **STYLE), kind)


def test_import_is_cheap():
    code = ("import sys, imagination.viz; "
            "print(any(m.split('.')[0] in ('plotly', 'ipywidgets') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


# ----------------------------------------------------------------------------- helpers and figures


def test_subplot_layout_and_axes_name_the_panels():
    lay = viz.subplot_layout(2, 2, ["a", "b", "c", "d"], {"vertical_spacing": 0.3}, height=500,
                             legend_rows=2, xaxis3={"type": "log"})
    assert lay["height"] == 500 and lay["margin"]["t"] == viz._TOP + viz._TOP_TITLES
    assert lay["xaxis3"]["type"] == "log" and "template" not in lay
    assert [a["text"] for a in lay["annotations"]] == ["a", "b", "c", "d"]
    assert viz.subplot_axes(1) == {"xaxis": "x", "yaxis": "y"}
    assert viz.subplot_axes(4) == {"xaxis": "x4", "yaxis": "y4"}
    with pytest.raises(ValueError, match="no axis 'xaxis9'"):
        viz.subplot_layout(1, 2, ["a", "b"], xaxis9={})
    with pytest.raises(ValueError, match="panel must be an integer >= 1"):
        viz.subplot_axes(0)


def test_interval_bars_reach_the_interval_ends():
    bars = viz.interval_bars([1.0, 2.0], [0.5, 1.0], [1.5, 4.0])
    assert bars["type"] == "data" and bars["symmetric"] is False
    # a bar drawn from the value reaches lo and hi exactly
    assert list(np.array([1.0, 2.0]) + bars["array"]) == [1.5, 4.0]
    assert list(np.array([1.0, 2.0]) - bars["arrayminus"]) == [0.5, 1.0]
    # a percentile interval that misses its estimate: the bar is negative, not clipped
    assert viz.interval_bars([2.0], [0.0], [1.0])["array"][0] == -1.0
    with pytest.raises(ValueError, match="values, lo and hi must have one length"):
        viz.interval_bars([1.0, 2.0], [0.5], [1.5, 4.0])


def test_result_figures_draw_what_the_library_computed():
    import imagination as im

    rng = np.random.default_rng(0)
    n = np.repeat([1e3, 1e4, 1e5], 4)
    dyn = im.fit_power_law(n, 0.3 * n**-0.1 * np.exp(0.02 * rng.standard_normal(12)),
                           n_boot=100, rng=rng)
    rew = im.fit_power_law(n, 90 * n**-0.9 * np.exp(0.02 * rng.standard_normal(12)),
                           n_boot=100, rng=rng)
    a = im.optimal_allocation(1e5, 1.0, 2.0, dyn.law, rew.law, 3.0)
    fig = viz.allocation_figure(n, dyn.law(n), n, rew.law(n), dyn, rew, a, budget=1e5,
                                cost_dyn=1.0, cost_rew=2.0, multiplier=3.0,
                                share_interval=(0.2, 0.4))
    objective = next(t for t in fig.data if t.xaxis == "x2" and t.mode == "lines")
    share = np.linspace(0.002, 0.998, 400)  # the figure's grid of dynamics shares
    expected = im.budget_line_objective(share, 1e5, 1.0, 2.0, dyn.law, rew.law, 3.0)
    np.testing.assert_allclose(objective.y, expected, rtol=1e-6)  # stored as float32
    assert fig.layout.shapes[0].x0 == 20.0 and fig.layout.meta["imagination"]["alt"]
    noise = im.MeasuredNoise([0.1, 1.0, 10.0], [1.0, 0.3, 0.2])
    fig = viz.label_cost_figure(noise, [0.1, 1.0, 10.0], [1.0, 0.3, 0.2], rollout_cost=0.5,
                                best_cost=1.0)
    star = fig.data[-1]
    assert star.x[0] == 1.0 and star.y[0] == pytest.approx(1.5 * 0.3, rel=1e-6)


# ----------------------------------------------------------------------------- the book's layout


def bottom_stack(fig):
    """px below the plot area, from the top: axes, legend, sliders (as viz lays them out)."""
    lay = fig.layout
    plot = lay.meta["imagination"]["layout"]["plot_height"]
    return plot, -lay.legend.y * plot, [s.pad.t for s in lay.sliders]


@pytest.mark.parametrize("user_legend", [
    {"x": 0.98, "xanchor": "right", "y": 0.98, "bgcolor": "rgba(255,255,255,0.85)"},
    {"orientation": "h", "y": 1.02, "yanchor": "bottom"},
    {"orientation": "h", "y": -0.25}])
def test_every_legend_goes_below_the_axes_whatever_the_figure_asked(user_legend):
    # a legend inside the plot, one above it, one at a guessed offset: all end up the same
    fig = viz.figure_from_traces(curves(0.5), **STYLE, layout={
        "legend": user_legend, "height": 500, "xaxis": {"title": "t"}})
    legend = fig.layout.legend
    assert (legend.orientation, legend.x, legend.xanchor, legend.yanchor) == ("h", 0, "left", "top")
    assert legend.xref == legend.yref == "paper" and legend.bgcolor == "rgba(0,0,0,0)"
    plot, legend_top, _ = bottom_stack(fig)
    # below the tick labels and the x-axis title, and inside the figure with its rows
    assert legend_top >= viz._AXIS_DEPTH + viz._AXIS_TITLE
    assert fig.layout.margin.b >= legend_top + viz._LEGEND_ROW
    assert fig.layout.height == fig.layout.margin.t + plot + fig.layout.margin.b


def test_plot_area_keeps_the_height_the_figure_asked_for():
    # height minus the figure's own margins is the plot area; the legend adds below it
    fig = viz.figure_from_traces(curves(0.5), **STYLE, layout={
        "height": 600, "margin": {"t": 140, "b": 60}})
    assert fig.layout.meta["imagination"]["layout"]["plot_height"] == 600 - 140 - 60
    plain = viz.figure_from_traces(curves(0.5), **STYLE)
    assert plain.layout.meta["imagination"]["layout"]["plot_height"] == viz._DEFAULT_PLOT_HEIGHT
    # styling twice changes nothing (apply_style may run on a styled figure)
    again = viz.apply_style(go.Figure(fig), **STYLE)
    assert again.layout.height == fig.layout.height and again.layout.legend.y == fig.layout.legend.y


def test_sliders_stand_below_the_legend_one_under_the_other():
    fig = static(names=("gamma", "L_f"), layout={"xaxis": {"title": "t"}})
    _, legend_top, pads = bottom_stack(fig)
    legend_rows = 1  # three short names fit one row
    assert pads[0] >= legend_top + legend_rows * viz._LEGEND_ROW
    assert pads[1] == pads[0] + viz._SLIDER_HEIGHT
    assert fig.layout.margin.b >= pads[1] + viz._SLIDER_HEIGHT - viz._GAP
    assert all(s.y == 0 and s.yanchor == "top" and s.len == 1 for s in fig.layout.sliders)


def test_legend_estimate_wraps_rows_and_counts_only_shown_entries():
    many = [{"type": "scatter", "x": [0], "y": [0], "name": f"a fairly long legend entry {i}"}
            for i in range(8)]
    fig = viz.figure_from_traces(many, **STYLE)
    assert viz._legend_height(fig) >= 3 * viz._LEGEND_ROW  # ~240 px each, 640 px per row
    hidden = [t | {"showlegend": False} for t in many[1:]] + many[:1]
    assert viz._legend_height(viz.figure_from_traces(hidden, **STYLE)) == 0  # one entry
    assert viz._legend_height(viz.figure_from_traces(many, **STYLE,
                                                     layout={"showlegend": False})) == 0


def test_a_row_of_panels_stacks_for_a_phone_and_comes_back():
    lay = viz.subplot_layout(1, 3, ["a", "b", "c"], height=480)
    traces = [{"type": "scatter", "x": [0, 1], "y": [0, 1], **viz.subplot_axes(k)}
              for k in (1, 2, 3)]
    fig = viz.figure_from_traces(traces, **STYLE, layout=lay)
    book = fig.layout.meta["imagination"]["layout"]
    narrow, wide = book["narrow"], book["wide"]
    tops = [narrow[f"yaxis{s}.domain"][1] for s in ("", "2", "3")]
    assert tops == sorted(tops, reverse=True) and tops[0] == 1  # left panel on top
    for s in ("", "2", "3"):
        assert narrow[f"xaxis{s}.domain"] == [0, 1]  # every panel the full width
        assert wide[f"xaxis{s}.domain"] == list(fig.layout[f"xaxis{s}"].domain)
    lows = [narrow[f"yaxis{s}.domain"][0] for s in ("", "2", "3")]
    assert all(lo > next_top for lo, next_top in zip(lows, tops[1:], strict=False))
    assert book["narrow_plot_height"] == 3 * viz._NARROW_PANEL + 2 * viz._NARROW_PANEL_GAP
    # the subplot titles ride with their panels: centred, on each panel's top edge
    for i, top in enumerate(tops):
        assert narrow[f"annotations[{i}].x"] == 0.5 and narrow[f"annotations[{i}].y"] == top
        assert wide[f"annotations[{i}].x"] == fig.layout.annotations[i].x


def test_hand_made_side_by_side_panels_stack_too_and_single_panels_do_not():
    fig = viz.figure_from_traces(
        [{"x": [0], "y": [0]}, {"x": [0], "y": [0], "xaxis": "x2", "yaxis": "y2"}], **STYLE,
        layout={"xaxis": {"domain": [0, 0.45]}, "xaxis2": {"domain": [0.55, 1], "anchor": "y2"},
                "yaxis2": {"anchor": "x2"},
                "shapes": [{"type": "rect", "xref": "paper", "yref": "paper", "x0": 0.6,
                            "x1": 0.7, "y0": 0, "y1": 1}]})
    narrow = fig.layout.meta["imagination"]["layout"]["narrow"]
    assert narrow["yaxis.domain"][0] > narrow["yaxis2.domain"][1]
    assert narrow["shapes[0].x0"] == pytest.approx((0.6 - 0.55) / 0.45, abs=1e-3)
    assert narrow["shapes[0].y1"] == narrow["yaxis2.domain"][1]
    single = viz.figure_from_traces(curves(0.5), **STYLE)
    assert "narrow" not in single.layout.meta["imagination"]["layout"]
