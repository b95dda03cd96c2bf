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
import math
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

__all__ = ["best_time", "deadline_from", "figure1_runs", "load_records", "machine_record",
           "notebook_glues", "provenance", "record_path", "trainer_benchmarks", "write_record"]

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


def deadline_from(text: str | None) -> float:
    """The epoch time of the next ``HH:MM`` UTC (``inf`` for ``None``): a resumable run's
    ``--deadline`` (a time already past today means tomorrow).

    Raises
    ------
    ValueError
        If ``text`` is not ``HH:MM`` with a valid hour and minute.
    """
    if text is None:
        return math.inf
    now = datetime.datetime.now(datetime.UTC)
    hour, minute = (int(v) for v in text.split(":"))
    end = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if end <= now:
        end += datetime.timedelta(days=1)
    return time.time() + (end - now).total_seconds()


def machine_record() -> dict[str, Any]:
    """Where and when a measurement was taken: date (UTC), machine, CPU count, load, versions."""
    versions = {"python": sys.version.split()[0]}
    for name in ("numpy", "scipy", "torch", "plotly", "jupyter-book", "imagination-book"):
        try:  # installed versions, read without importing anything
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "machine": platform.machine(),
                    "cpus": os.cpu_count(),
                    # other work on the machine when the record was taken (a timing's context)
                    "load_average_1min": round(os.getloadavg()[0], 2)},
        "versions": versions,
    }


#: The fields that name a record: a run writes only over a record with the same values.
RECORD_KEY = ("benchmark", "scale", "device")


def record_path(directory: str | Path, benchmark: str, scale: str,
                device: str = "cpu") -> Path:
    """Where the record of ``benchmark`` run at ``scale`` on ``device`` lives.

    ``<directory>/<benchmark>_<scale>.json`` on the CPU and ``<benchmark>_<scale>_<type>.json``
    on another device type (``"cuda:1"`` gives ``_cuda``): one file per key, so a run at one
    scale or on one device never replaces the record of another.

    Raises
    ------
    ValueError
        If ``benchmark`` or ``scale`` is empty or holds a path separator.
    """
    for name, value in (("benchmark", benchmark), ("scale", scale)):
        if not value or "/" in value or "\\" in value:
            raise ValueError(f"{name} must be a plain non-empty name, got {value!r}")
    kind = str(device).split(":")[0]
    suffix = "" if kind == "cpu" else f"_{kind}"
    return Path(directory) / f"{benchmark}_{scale}{suffix}.json"


def write_record(path: str | Path, record: dict[str, Any]) -> Path:
    """Write ``record`` merged over :func:`machine_record` as indented JSON; return the path.

    A file already at ``path`` is replaced only by a record with the same key
    (:data:`RECORD_KEY`: benchmark, scale, device, where either names them).

    Raises
    ------
    ValueError
        If the file at ``path`` holds a record of another key, or is not a JSON object.
    """
    path = Path(path)
    if path.is_file():
        try:
            old = json.loads(path.read_text())
        except ValueError:
            raise ValueError(f"{path} exists and is not a JSON record; not overwritten") from None
        if not isinstance(old, dict):
            raise ValueError(f"{path} exists and is not a JSON record; not overwritten")
        clash = {k: (old.get(k), record.get(k)) for k in RECORD_KEY
                 if old.get(k) != record.get(k)}
        if clash:
            raise ValueError(f"{path} holds a record of another key (old, new): {clash}; "
                             "write it under its own name (record_path)")
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


# --------------------------------------------------------------- what chapter 9 reads from them
def provenance(record: dict[str, Any]) -> str:
    """``"x86_64, 2 CPUs | python 3.11.7, numpy 2.4.6, torch 2.13.0"`` (``"-"`` where missing)."""
    m, v = record.get("machine") or {}, record.get("versions") or {}
    versions = ", ".join(f"{k} {v[k]}" for k in ("python", "numpy", "torch") if k in v)
    return f"{m.get('machine', '-')}, {m.get('cpus', '-')} CPUs | {versions or '-'}"


def trainer_benchmarks(records: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per record of ``benchmarks/bench_teacher_student.py``, whatever its key or format.

    Rows hold ``name, scale, device, date, speedup, peak_fraction, paper_estimate_min, step``
    (which step the ensemble ran: the C kernel or the torch step), ``torch_fraction`` and
    ``torch_estimate_min`` (the torch step's, timed beside the kernel), ``note`` and
    ``provenance``; a field the record lacks (a record of an older format) is ``None``.
    """
    rows = []
    for name, rec in sorted(records.items()):
        if not name.startswith("bench_teacher_student"):
            continue
        estimate = rec.get("paper_estimate_min")
        if estimate is None and isinstance(rec.get("paper_estimate"), dict):
            estimate = rec["paper_estimate"].get("total_seconds", math.nan) / 60  # old format
        rows.append({"name": name, "scale": rec.get("scale"), "device": rec.get("device", "cpu"),
                     "date": str(rec.get("date", "-"))[:10], "speedup": rec.get("speedup"),
                     "peak_fraction": rec.get("peak_fraction"), "paper_estimate_min": estimate,
                     "step": rec.get("step"),
                     "torch_fraction": rec.get("peak_fraction_torch_step"),
                     "torch_estimate_min": rec.get("paper_estimate_torch_step_min"),
                     "note": rec.get("note"), "provenance": provenance(rec)})
    return rows


def figure1_runs(records: dict[str, dict[str, Any]], *,
                 batch_size: int = 256) -> list[dict[str, Any]]:
    """One row per recorded Figure 1 run (``figure1_paper_scale*.json``), complete or not.

    Rows hold ``name, chunks, chunks_total, steps_share, minutes`` (measured training),
    ``projected_min`` (the measured chunks plus, for each model, the remaining steps at the rate
    of its last recorded chunk; ``None`` without a chunk of that model), ``complete``,
    ``dates``, ``devices``, ``load_average`` (the median over the chunks, where recorded),
    ``metrics`` and ``provenance``. A record that is not a Figure 1 checkpoint is skipped.
    """
    rows = []
    for name, rec in sorted(records.items()):
        config, chunks = rec.get("config"), rec.get("chunks")
        if not name.startswith("figure1_paper_scale") or not isinstance(config, dict) \
                or not isinstance(chunks, dict):
            continue
        sizes, models = config.get("sizes", []), config.get("models", ["dyn", "rew"])
        epochs = config.get("epochs", 200)
        planned = {(m, int(n)): epochs * math.ceil(int(n) / batch_size)
                   for n in sizes for m in models}
        done = {(c["model"], int(c["n"])): c for c in chunks.values()}
        seconds = sum(c["seconds"] for c in done.values())
        projected: float | None = seconds
        for m in models:
            mine = sorted((n, c) for (mm, n), c in done.items() if mm == m)
            left = sum(s for (mm, n), s in planned.items() if mm == m and (mm, n) not in done)
            if left and not mine:
                projected = None
            elif left and projected is not None:
                last = mine[-1][1]
                projected += left * last["seconds"] / last["steps"]
        loads = [c["machine"]["load_average_1min"] for c in done.values()
                 if "load_average_1min" in c.get("machine", {})]
        first = next(iter(done.values()), {})
        rows.append({
            "name": name, "chunks": len(done), "chunks_total": len(planned),
            "steps_share": sum(c["steps"] for c in done.values()) / max(sum(planned.values()), 1),
            "minutes": seconds / 60,
            "projected_min": None if projected is None else projected / 60,
            "complete": set(done) >= set(planned),
            "dates": sorted({str(c.get("date", "-"))[:10] for c in done.values()}),
            "devices": sorted({str(c.get("device", "cpu")) for c in done.values()}),
            "load_average": float(np.median(loads)) if loads else None,
            "metrics": sorted(first.get("errors", {})), "provenance": provenance(first)})
    return rows
