"""Timing helpers and dated records for the benchmarks and the performance chapter.

Benchmarks time a fast path against its plain reference loop *in the same run* (absolute times on a
shared machine drift, ratios much less) and write dated JSON records to ``benchmarks/results/``;
``make book`` records each notebook's execution time and each page's weight there too. The
performance chapter reads those records with :func:`load_records`.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["best_time", "load_records", "machine_record", "write_record"]

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
    for name in ("numpy", "scipy", "torch", "plotly"):
        module = sys.modules.get(name)
        if module is not None:
            versions[name] = getattr(module, "__version__", "?")
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
