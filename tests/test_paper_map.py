"""The paper map's table of reported numbers: one Status word per row, a count that matches, and
every `reproduced` row's criterion true of the value the last `make book` glued.

The criterion of a row reads ``notebook::glue OP value`` with OP one of ``=``, ``<=``, ``>=`` or
``in [lo, hi]``; the value checked is the one recorded in
``benchmarks/results/book_glues_book.json`` (written by ``benchmarks/record_book.py`` at the end of
``make book``), so the statuses describe the book at ``book`` scale, as the map says.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAP = ROOT / "book" / "paper_map.md"
RECORD = ROOT / "benchmarks" / "results" / "book_glues_book.json"
STATUSES = ("reproduced", "located", "differs")
CRITERION = re.compile(
    r"`(?P<nb>[\w]+)::(?P<name>\w+)`\s*(?:(?P<op><=|>=|=)\s*(?P<value>[-+\d.eE]+)"
    r"|in\s*\[(?P<lo>[-+\d.eE]+),\s*(?P<hi>[-+\d.eE]+)\])")


def _rows():
    text = MAP.read_text(encoding="utf-8")
    section = text[text.index("## Figures and reported numbers"):]
    section = section[:section.index("\n## ", 5)]
    lines = [ln for ln in section.splitlines() if ln.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    rows = [[c.strip() for c in ln.strip("|").split(" | ")] for ln in lines[2:]]
    return header, rows, section


def test_every_row_has_one_status_word_and_the_count_line_is_true():
    header, rows, section = _rows()
    assert header[-1] == "Status" and header[-2] == "Reproduced when"
    assert rows and all(len(r) == len(header) for r in rows)
    counts = Counter(r[-1] for r in rows)
    assert set(counts) <= set(STATUSES), counts
    line = re.search(r"\*\*Status count\*\*: (\d+) reproduced, (\d+) located, (\d+) differs\.",
                     section)
    assert line, "the line under the table that counts each status is missing"
    assert tuple(int(g) for g in line.groups()) == tuple(counts[s] for s in STATUSES)


def test_reproduced_rows_state_a_criterion_and_the_others_none():
    _, rows, _ = _rows()
    for row in rows:
        found = CRITERION.search(row[-2])
        assert (row[-1] == "reproduced") == bool(found), row[:2]


def _check(criterion: re.Match, value: float) -> bool:
    if criterion["lo"] is not None:
        return float(criterion["lo"]) <= value <= float(criterion["hi"])
    bound = float(criterion["value"])
    return {"=": value == bound, "<=": value <= bound, ">=": value >= bound}[criterion["op"]]


def test_every_reproduced_row_holds_in_the_book_scale_record():
    if not RECORD.is_file():
        pytest.fail(f"{RECORD.relative_to(ROOT)} is missing: run `make book` and commit it")
    glued = json.loads(RECORD.read_text())["notebooks"]
    _, rows, _ = _rows()
    for row in rows:
        if row[-1] != "reproduced":
            continue
        c = CRITERION.search(row[-2])
        text = glued.get(c["nb"], {}).get(c["name"])
        assert text is not None, f"{c['nb']}::{c['name']} is not in the record: rerun make book"
        value = float(text.strip("'\""))
        assert _check(c, value), f"{row[1]}: {c['nb']}::{c['name']} = {value} fails {row[-2]!r}"


def test_the_criterion_check_can_fail():
    # the comparison itself, on made-up values: a criterion that a value violates is caught
    c = CRITERION.search("`nb::x` in [0.99, 1]")
    assert _check(c, 0.995) and not _check(c, 0.98)
    c = CRITERION.search("`nb::x` <= 1e-6")
    assert _check(c, 5e-7) and not _check(c, 2e-6)
    c = CRITERION.search("`nb::x` = 30")
    assert _check(c, 30.0) and not _check(c, 29.0)
