"""Shared test settings: the hypothesis ``ci`` profile and paths of the built book."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
# Every page of the book, root first, in _toc.yml order (the book and browser tests visit them).
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text())
PAGES = [TOC["root"]] + [c["file"] for part in TOC["parts"] for c in part["chapters"]]

# Property tests must never flake on a loaded 2-core machine: no deadline, derandomised,
# a fixed number of examples (design.md §6). HYPOTHESIS_PROFILE=dev explores more.
settings.register_profile(
    "ci",
    deadline=None,
    derandomize=True,
    max_examples=200,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None, max_examples=2000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def is_stub(page: str) -> bool:
    """Whether a TOC page is a notebook still marked ``"imagination": {"stub": true}``."""
    nb = ROOT / f"{page}.ipynb"
    return nb.exists() and bool(
        json.loads(nb.read_text())["metadata"].get("imagination", {}).get("stub"))


def require(ok: bool, reason: str) -> None:
    """Skip with a visible reason locally; fail in CI, where ``.ci/run`` sets
    ``IMAGINATION_REQUIRE_BROWSER=1`` so that a missing book or browser cannot pass silently."""
    if ok:
        return
    if os.environ.get("IMAGINATION_REQUIRE_BROWSER", "0") == "1":
        pytest.fail(reason + " (required: IMAGINATION_REQUIRE_BROWSER=1)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def built_book() -> Path:
    """The built HTML book (``make book``, or ``make notebooks html`` at ci scale)."""
    require((HTML / "index.html").exists(), f"no built book at {HTML}: run `make book` first")
    return HTML
