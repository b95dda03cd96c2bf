"""The package: a flat public API, cheap to import, a working console script."""

import subprocess
import sys

import pytest

import imagination as im


def test_public_names_resolve():
    for name in im.__all__:
        if name in im._LAZY:
            pytest.importorskip("plotly")
        assert getattr(im, name) is not None, name


def test_import_is_lazy_about_torch_and_plotly():
    code = ("import sys, imagination; "
            "print(sorted(m for m in ('torch', 'plotly', 'ipywidgets') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        im.nope  # noqa: B018


def test_console_script_answers_version():
    from imagination.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert main([]) == 0


def test_old_module_paths_and_renamed_names_still_resolve():
    # The architecture step moved code into one module per result; old paths stay thin
    # re-exports and renamed names keep their old names as aliases (book/api.md lists them).
    import importlib

    old_paths = {
        "imagination.systems": ("Figure3Batch", "AllocationBatch", "RealisedSplit",
                                "pendulum_step", "rotation_rollout", "value_family_grid"),
        "imagination.teacher_student": ("train_ensemble", "train_sequential", "Ensemble",
                                        "mlp_forward", "member_generators", "heldout_errors"),
        "imagination.lipschitz": ("capacity_tradeoff", "SaturatedRotation",
                                  "curvature_penalty_experiment", "train_velocity_ensemble"),
        "imagination.scale": ("by_scale", "current_scale", "is_static"),
        "imagination.timing": ("best_time", "write_record", "book_build_record"),
        "imagination.book_ext": ("PlotlyMimeRenderer", "plotly_json_to_html", "setup"),
    }
    for path, names in old_paths.items():
        module = importlib.import_module(path)
        for name in names:
            assert getattr(module, name) is not None, (path, name)
    assert im.teacher_student.train_ensemble is im.ensemble.train_ensemble
    assert im.Figure3Batch is im.Figure3Systems
    assert im.AllocationBatch is im.AllocationProblems
    assert im.RealisedSplit is im.RealisedOptimum
    assert im.realised_split is im.surface_optimal_split
