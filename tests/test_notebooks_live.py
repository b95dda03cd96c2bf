"""In a live kernel (IMAGINATION_STATIC unset) the overview's figures are ipywidgets controls for
every parameter, not static plotly sliders: what a reader gets in JupyterLab or Binder."""

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
WIDGET = "application/vnd.jupyter.widget-view+json"
PLOTLY = "application/vnd.plotly.v1+json"


@pytest.fixture()
def live_env(monkeypatch):
    monkeypatch.delenv("IMAGINATION_STATIC", raising=False)
    monkeypatch.setenv("IMAGINATION_SCALE", "ci")


def test_overview_is_live_without_static_flag(live_env, tmp_path):
    nb = nbformat.read(ROOT / "notebooks" / "00_overview.ipynb", as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    figure_cells = [c for c in nb.cells
                    if c.cell_type == "code" and "interactive_figure(" in c.source]
    assert len(figure_cells) == 2
    for cell in figure_cells:
        data = [o.get("data", {}) for o in cell.outputs if o.output_type in ("display_data",
                                                                           "execute_result")]
        assert any(WIDGET in d for d in data), "a live kernel must show widgets"
        assert not any(PLOTLY in d for d in data), "no static plotly figure in a live kernel"
    # every parameter of every figure is a control: one slider model per im.Parameter
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    sliders = [m for m in state.values() if m["model_name"] in ("FloatSliderModel",
                                                                 "FloatLogSliderModel")]
    n_params = sum(c.source.count("im.Parameter(") for c in figure_cells)
    assert n_params >= 4 and len(sliders) == n_params
    assert os.environ.get("IMAGINATION_STATIC") is None
