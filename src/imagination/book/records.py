"""Timing helpers and dated records for the benchmarks and the performance chapter.

Benchmarks time a fast path against its plain reference loop *in the same run* (absolute times on a
shared machine drift, ratios much less) and write dated JSON records to ``benchmarks/results/``;
``make book`` records each notebook's execution time and each page's weight there too. The
performance chapter reads those records with :func:`load_records`.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["best_time", "load_records", "machine_record", "notebook_glues", "write_record"]

T = TypeVar("T")


def best_time(fn: Callable[[], T], repeats: int = 1) -> tuple[T, float]:
    """Call ``fn`` ``repeats`` times; return its last result and the fastest wall-clock time (s).

    The minimum is the least disturbed by other load on the machine.
    """
    if int(repeats) != repeats or repeats < 1:
        raise ValueError(f"repeats must be an integer >= 1, got {repeats!r}")
    best, result = float("inf"), None
    for _ in range(int(repeats)):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return result, best  # type: ignore[return-value]


def machine_record() -> dict[str, Any]:
    """Where and when a measurement was taken: date (UTC), machine, CPU count and versions."""
    versions = {"python": sys.version.split()[0]}
    for name in ("numpy", "scipy", "torch", "plotly", "jupyter-book", "imagination-book"):
        try:  # installed versions, read without importing anything
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "machine": platform.machine(),
                    "cpus": os.cpu_count()},
        "versions": versions,
    }


def write_record(path: str | Path, record: dict[str, Any]) -> Path:
    """Write ``record`` merged over :func:`machine_record` as indented JSON; return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**machine_record(), **record}, indent=2) + "\n")
    return path


def load_records(directory: str | Path) -> dict[str, dict[str, Any]]:
    """Every ``*.json`` record in ``directory``, keyed by file stem (empty if there is none).

    Raises
    ------
    ValueError
        If ``directory`` exists but is not a directory, or a record is not a JSON object.
    """
    directory = Path(directory)
    if not directory.exists():
        return {}
    if not directory.is_dir():
        raise ValueError(f"{directory} is not a directory of JSON records")
    records = {}
    for path in sorted(directory.glob("*.json")):
        data = json.loads(path.read_text())
        if not isinstance(data, dict):
            raise ValueError(f"{path}: a record must be a JSON object")
        records[path.stem] = data
    return records


def book_build_record(junit_xml: str | Path, html_dir: str | Path, *, scale: str) -> dict[str, Any]:
    """Execution time of every notebook (from nbmake's JUnit report) and weight of every page.

    Parameters
    ----------
    junit_xml
        The report ``make book`` writes (``_build/reports/notebooks-<scale>.xml``).
    html_dir
        The built book (``_build/html``); a page's weight is its HTML file, without the shared
        plotly.js bundle.
    scale
        The scale the notebooks ran at.

    Returns
    -------
    dict
        ``{"kind", "scale", "notebooks": {name: seconds}, "pages": {name: bytes}}``.
    """
    import xml.etree.ElementTree as ET

    junit_xml, html_dir = Path(junit_xml), Path(html_dir)
    if not junit_xml.is_file():
        raise ValueError(f"no JUnit report at {junit_xml}: run the notebooks first")
    if not (html_dir / "index.html").is_file():
        raise ValueError(f"no built book at {html_dir}")
    notebooks = {}
    for case in ET.parse(junit_xml).getroot().iter("testcase"):
        name = case.get("name", "").removesuffix(".ipynb")
        if case.find("failure") is not None or case.find("error") is not None:
            raise ValueError(f"{junit_xml}: notebook {name} failed; record only a green build")
        notebooks[name] = float(case.get("time", "nan"))
    pages = {p.stem: p.stat().st_size for p in sorted((html_dir / "notebooks").glob("*.html"))}
    return {"kind": "book build", "scale": scale, "notebooks": dict(sorted(notebooks.items())),
            "pages": pages}


def notebook_glues(notebook: str | Path) -> dict[str, str]:
    """The values a notebook glued (myst-nb ``glue``), as their plain-text form, by name.

    Parameters
    ----------
    notebook
        An *executed* notebook (``.ipynb``).

    Returns
    -------
    dict
        ``{name: text}``, e.g. ``{"fig3_violations": "0"}``.

    Raises
    ------
    ValueError
        If the file is not a notebook.
    """
    path = Path(notebook)
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
        cells = nb["cells"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path} is not a readable notebook: {exc}") from None
    glued = {}
    for cell in cells:
        for output in cell.get("outputs", []):
            meta = output.get("metadata", {}).get("scrapbook")
            if meta:
                data = output.get("data", {})
                text = data.get(meta.get("mime_prefix", "") + "text/plain",
                                data.get("text/plain", ""))
                glued[meta["name"]] = "".join(text)
    return glued
