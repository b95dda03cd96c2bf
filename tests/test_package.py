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
