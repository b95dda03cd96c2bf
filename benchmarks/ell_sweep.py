"""Where do the paper's 0.684 and 7.585 come from? A resumable sweep of the generators' choices.

Chapter: notebooks/04_optimal_allocation.ipynb, "Where 0.684 and 7.585 come from" (it reads the
record and recomputes a few cells at every scale). Library: imagination.figure4_ell_cell,
imagination.figure2_ell_cell, imagination.evaluate_readings (the readings R1-R4 of ell).

Writes benchmarks/results/ell_sweep.json: the book-scale readings of chapter 4's own draws, two
sweeps and two bisected contours, every cell with its measured seconds.

- ``fig4``: Figure 4's generator (imagination.figure4_configurations), 30 configurations per cell,
  the same seed in every cell (common random numbers), over the error direction, the scale of Q
  against R, the start-state norm, the dimensions and the budget (a full grid, 192 cells), plus
  one-factor-at-a-time cells for the budget, the cost ratio, gamma L_f (1 + L_pi) and the seed.
- ``fig2``: Figure 2's 3 x 3 grids (imagination.value_family_grid) for the sup-norm control
  (quadratic family, global multiplier), the quadratic family with S_f/S_r, and tanh and sin, over
  the budget, the start state s0, the finite-difference step h and the common exponent.
- ``curves``: median |ell| of the control and of tanh/sin pooled against the budget.
- ``contour``/``contour_exponent``: for each s0, the budget at which the control's median |ell| is
  0.684 (bisection), and tanh/sin's median |ell| there.

The run is resumable: cells already in the record are skipped and the record is rewritten
(atomically) every few seconds, so an interrupted run loses at most the cell in progress.

    python benchmarks/ell_sweep.py                   # run or resume everything (about 30 min)
    python benchmarks/ell_sweep.py --section fig2    # one section
    python benchmarks/ell_sweep.py --minutes 10      # stop (between cells) after about 10 minutes
    python benchmarks/ell_sweep.py --check           # recompute the check cells, compare
    python benchmarks/ell_sweep.py --smoke           # tiny run in a temporary file: stop, resume
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

import imagination as im

RECORD = Path(__file__).resolve().parent / "results" / "ell_sweep.json"
GRID = 2001  # chapter 4's GRID at book scale
N_CONFIGS, SEED, H = 30, 4242, 1e-6
PAPER = {"linear": 0.0, "tanh_sin": 0.054, "control": 0.684, "figure4": 7.585}
READING_NAMES = {"resolved": "R1 log r(m) - log r*",
                 "fixed_point": "R2 log((alpha/beta) m (c_rew/c_dyn) eps*_dyn/eps*_rew) - log r*",
                 "multiplier": "R3 log(m / (S_f/S_r))",
                 "resolved_reference": "R4 log r(m) - log r(S_f/S_r)"}

# ------------------------------------------------------------------------------ the cells


def fig4_cells() -> list[dict[str, Any]]:
    """Option dicts of the Figure 4 sweep (JSON-ready; defaults omitted)."""
    cells: list[dict[str, Any]] = []
    for direction, q_over_r, s0_scale, dims, budget in itertools.product(
            ("steepest", "random", "phase"), (0.01, 0.1, 1.0, 10.0), (0.5, 1.0, 4.0, 16.0),
            ((4, 2), (12, 4)), ((1e4, 1e6), (1e8, 1e10))):
        cells.append({"direction": direction, "q_over_r": q_over_r, "s0_scale": s0_scale,
                      "dims": list(dims), "budget": list(budget)})
    for direction in ("steepest", "random"):
        one: list[dict[str, Any]] = [
            {"budget": [1e2, 1e4]}, {"budget": [1e6, 1e8]}, {"budget": [1e10, 1e12]},
            {"budget": [1e5, 1e5]}, {"cost_ratio": [1.0, 1.0]}, {"cost_ratio": [0.01, 0.1]},
            {"cost_ratio": [10.0, 100.0]}, {"rate": [0.224, 0.224]}, {"rate": [0.228, 0.228]}]
        one += [{"seed": s} for s in (1, 2, 3, 4)]
        cells += [{"direction": direction, **c} for c in one]
    cells += [{"direction": "phase", "seed": s} for s in (1, 2, 3, 4)]
    return cells


FIG2_GROUPS = (("control", "quadratic", "global"), ("quadratic", "quadratic", "realised"),
               ("tanh", "tanh", "realised"), ("sin", "sin", "realised"))
FIG2_BUDGETS = (1e3, 3e3, 1e4, 3e4, 1e5, 3e5, 1e6, 3e6, 1e7, 3e7, 1e8)
FIG2_S0 = (0.2, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6)
FIG2_H = (1e-6, 1e-3)
FIG2_EXPONENTS = (0.25, 0.5, 1.0)


def fig2_cells() -> list[dict[str, Any]]:
    """Parameter dicts of the Figure 2 sweep."""
    return [{"group": g, "budget": b, "s0": s0, "h": h, "exponent": e}
            for g, _, _ in FIG2_GROUPS for b in FIG2_BUDGETS for s0 in FIG2_S0
            for h in FIG2_H for e in FIG2_EXPONENTS]


def run_fig4(params: dict[str, Any], *, grid: int = GRID, n: int = N_CONFIGS) -> dict[str, Any]:
    opts = dict(params)
    seed = opts.pop("seed", SEED)
    return im.figure4_ell_cell(n=n, seed=seed, grid=grid, h=H, **opts)


def run_fig2(params: dict[str, Any], *, grid: int = GRID) -> dict[str, Any]:
    family, multiplier = {g: (f, m) for g, f, m in FIG2_GROUPS}[params["group"]]
    return im.figure2_ell_cell(family, multiplier, grid=grid, h=params["h"],
                               budget=params["budget"], s0=params["s0"],
                               exponent=params["exponent"])


# The cells chapter 4 and `--check` recompute (cheap ones: a Figure 2 cell takes about 0.1 s, the
# Figure 4 cell about 1-6 s on 2 loaded cores).
CHECK_FIG2 = ({"group": "control", "budget": 1e5, "s0": 0.5, "h": 1e-3, "exponent": 0.5},
              {"group": "tanh", "budget": 3e4, "s0": 0.5, "h": 1e-6, "exponent": 0.5},
              {"group": "sin", "budget": 1e6, "s0": 0.35, "h": 1e-3, "exponent": 0.25})
CHECK_FIG4 = ({"direction": "steepest", "q_over_r": 1.0, "s0_scale": 1.0, "dims": [4, 2],
               "budget": [1e4, 1e6]},)

# ------------------------------------------------------------------------------ book scale


def book_tables() -> dict[str, Any]:
    """Chapter 4's Figure 2 and Figure 4 at book scale (GRID = 2001), under every reading.

    Replays the notebook's random stream (seed 4242; 7 draws of 500 before Figure 2, as at book
    scale) so that the linear group and Figure 4 are the notebook's own configurations at book
    scale; adds the sign test on non-aligned (phase-field) errors for four seeds.
    """
    rng = np.random.default_rng(4242)
    n_random = 500
    for lo, hi in ((2, 6), (-1, 1), (-1, 1), (-1, 1), (0.05, 2), (0.05, 2), (-2, 2)):
        rng.uniform(lo, hi, n_random)
    groups = {"linear": (im.linear_value_configurations(30, rng=rng), "realised")}
    for family in ("tanh", "sin", "quadratic"):
        groups[family] = (im.value_family_grid(family), "realised")
    groups["control"] = (groups["quadratic"][0], "global")
    out: dict[str, Any] = {}
    for name, (batch, multiplier) in groups.items():
        start = time.perf_counter()
        res = im.evaluate_readings(batch, multiplier, grid=GRID, h=H)
        out[name] = {**im.summarise_readings(res, absolute=True),
                     "ell": {k: getattr(res.readings, k).tolist() for k in im.ELL_READINGS},
                     "seconds": time.perf_counter() - start}
    pooled = {k: np.r_[out["tanh"]["ell"][k], out["sin"]["ell"][k]] for k in im.ELL_READINGS}
    out["tanh_sin"] = {k: {"median": float(np.median(np.abs(v)))} for k, v in pooled.items()}
    start = time.perf_counter()
    fig4 = im.figure4_configurations(30, rng=rng)
    res = im.evaluate_readings(fig4, "global", grid=GRID, h=H)
    out["figure4"] = {**im.summarise_readings(res), "seconds": time.perf_counter() - start,
                      "ell": {k: getattr(res.readings, k).tolist() for k in im.ELL_READINGS}}
    nonaligned = []
    for seed in (4242, 1, 2, 3):
        batch = im.figure4_configurations(30, rng=np.random.default_rng(seed), direction="phase")
        res = im.evaluate_readings(batch, "global", grid=GRID, h=H, on_boundary="nan")
        nonaligned.append(res)
        if seed == 4242:
            out["nonaligned"] = {**im.summarise_readings(res),
                                 "ell": {k: getattr(res.readings, k).tolist()
                                         for k in im.ELL_READINGS},
                                 "crossing": res.crossing.tolist()}
    out["nonaligned_pooled"] = {}
    for k in im.ELL_READINGS:
        v = np.concatenate([getattr(r.readings, k) for r in nonaligned])
        out["nonaligned_pooled"][k] = im.sign_test(v[np.isfinite(v)])._asdict()
    out["nonaligned_pooled"]["crossings"] = int(sum(int(r.crossing.sum()) for r in nonaligned))
    return out


# ------------------------------------------------------------------------------ joint location


def pooled_tanh_sin(reading: str, **options: Any) -> float | None:
    """Median |ell| over the 18 tanh and sin configurations (the paper's pooled 0.054)."""
    values = []
    for family in ("tanh", "sin"):
        try:
            res = im.evaluate_readings(im.value_family_grid(family, **options), "realised",
                                       grid=GRID, h=H)
        except ValueError:
            return None
        values.append(getattr(res.readings, reading))
    return float(np.median(np.abs(np.concatenate(values))))


def control_median(reading: str, **options: Any) -> float | None:
    """Median |ell| of the sup-norm control (quadratic family, global multiplier)."""
    try:
        res = im.evaluate_readings(im.value_family_grid("quadratic", **options), "global",
                                   grid=GRID, h=H)
    except ValueError:
        return None
    return float(np.median(np.abs(getattr(res.readings, reading))))


def joint_contour(reading: str, s0_values: tuple[float, ...], *, target: float = 0.684,
                  log_b: tuple[float, float] = (3.5, 9.0), steps: int = 22,
                  exponent: float = 0.5) -> list[dict]:
    """For each s0, the budget at which the control's median |ell| equals ``target`` under
    ``reading`` (bisection in log10 B; an infeasible budget counts as too small, since the
    control's |ell| rises with B), and the pooled tanh/sin median |ell| there."""
    rows = []
    for s0 in s0_values:
        start = time.perf_counter()
        lo, hi = log_b
        v_hi = control_median(reading, s0=s0, budget=10**hi, exponent=exponent)
        if v_hi is None or v_hi < target:
            rows.append({"s0": s0, "budget": None, "control_at_max_budget": v_hi,
                         "seconds": time.perf_counter() - start})
            continue
        for _ in range(steps):
            mid = 0.5 * (lo + hi)
            v = control_median(reading, s0=s0, budget=10**mid, exponent=exponent)
            if v is None or v < target:
                lo = mid
            else:
                hi = mid
        B = 10**hi
        value = control_median(reading, s0=s0, budget=B, exponent=exponent)
        if value is None or abs(value - target) > 1e-3:  # above target already where feasible
            rows.append({"s0": s0, "budget": None, "control_at_min_feasible_budget": value,
                         "min_feasible_budget": B, "seconds": time.perf_counter() - start})
            continue
        rows.append({"s0": s0, "budget": B, "control": value,
                     "tanh_sin": pooled_tanh_sin(reading, s0=s0, budget=B, exponent=exponent),
                     "seconds": time.perf_counter() - start})
    return rows


CONTOUR_S0_WIDE = (0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5)
CONTOUR_S0 = (0.25, 0.3, 0.325, 0.35, 0.375, 0.4, 0.41, 0.42, 0.425, 0.43, 0.44, 0.45,
              0.475, 0.5)
CURVE_BUDGETS = tuple(float(b) for b in 10 ** np.arange(4.0, 8.01, 0.25))


def budget_curves(s0_values: tuple[float, ...] = (0.5, 0.425),
                  budgets: tuple[float, ...] = CURVE_BUDGETS) -> list[dict[str, Any]]:
    """Median |ell| of the control and pooled tanh/sin against the budget, every reading."""
    rows = []
    for s0 in s0_values:
        for B in budgets:
            row: dict[str, Any] = {"s0": s0, "budget": float(B)}
            for reading in im.ELL_READINGS:
                row[f"control_{reading}"] = control_median(reading, s0=s0, budget=float(B))
                row[f"tanh_sin_{reading}"] = pooled_tanh_sin(reading, s0=s0, budget=float(B))
            rows.append(row)
    return rows


# ------------------------------------------------------------------------------ the record


def _round(obj: Any) -> Any:
    if isinstance(obj, float):
        return float(f"{obj:.12g}") if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _round(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_round(v) for v in obj]
    return obj


def key_of(params: dict[str, Any]) -> str:
    """A cell's identity: its parameters as sorted JSON."""
    return json.dumps(params, sort_keys=True)


def load(path: Path = RECORD) -> dict[str, Any]:
    """The record (cells as lists of ``{"params", "result"}``), or an empty one."""
    if path.exists():
        return json.loads(path.read_text())
    return {"cells": {"fig4": [], "fig2": []}}


def save(record: dict[str, Any], path: Path = RECORD) -> None:
    """Rewrite the record atomically. ``meta.runs`` lists every run that computed part of it
    (machine, versions, date, what it computed); ``meta``'s own date, machine and versions are
    those of the latest."""
    meta = record.setdefault("meta", {})
    runs = meta.get("runs", [])
    if runs:
        meta.update({k: runs[-1][k] for k in ("date", "machine", "versions") if k in runs[-1]})
    meta.update({"grid": GRID, "n_configs": N_CONFIGS, "seed": SEED, "h": H, "paper": PAPER,
                 "readings": READING_NAMES,
                 "check_cells": {"fig2": list(CHECK_FIG2), "fig4": list(CHECK_FIG4)}})
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(_round(record), indent=None, separators=(",", ":")) + "\n")
    tmp.replace(path)


SECTIONS = ("book", "contour", "contour_exponent", "curves", "fig2", "fig4")


def run(sections: list[str], minutes: float, *, path: Path = RECORD,
        cells: dict[str, list[dict[str, Any]]] | None = None,
        runners: dict[str, Any] | None = None, max_cells: float = math.inf) -> bool:
    """Run or resume ``sections`` (stopping between cells after ``minutes`` or ``max_cells``
    cells); return whether everything asked for is in the record."""
    record = load(path)
    end = time.time() + 60 * minutes
    last = time.time()
    this_run: dict[str, Any] = {**im.machine_record(), "computed": {}, "seconds": 0.0}
    started = time.perf_counter()

    def note(name: str, count: int = 1) -> None:
        if not this_run["computed"]:
            record.setdefault("meta", {}).setdefault("runs", []).append(this_run)
        this_run["computed"][name] = this_run["computed"].get(name, 0) + count
        this_run["seconds"] = time.perf_counter() - started

    single = {"book": book_tables, "curves": budget_curves,
              "contour_exponent": lambda: {f"{r} exponent {e}":
                                           joint_contour(r, CONTOUR_S0_WIDE, exponent=e)
                                           for r in ("resolved", "fixed_point")
                                           for e in (0.25, 1.0)},
              "contour": lambda: {r: joint_contour(r, CONTOUR_S0)
                                  for r in ("resolved", "fixed_point")}}
    for name, fn in single.items():
        if name in sections and name not in record:
            start = time.perf_counter()
            record[name] = fn()
            record.setdefault("seconds", {})[name] = time.perf_counter() - start
            note(name)
            save(record, path)
            print(f"{name} done in {record['seconds'][name]:.1f} s", flush=True)
    cells = cells or {"fig2": fig2_cells(), "fig4": fig4_cells()}
    runners = runners or {"fig2": run_fig2, "fig4": run_fig4}
    computed = 0
    for section in ("fig2", "fig4"):
        if section not in sections:
            continue
        done_list = record.setdefault("cells", {}).setdefault(section, [])
        done = {key_of(c["params"]) for c in done_list}
        pending = [c for c in cells[section] if key_of(c) not in done]
        print(f"{section}: {len(pending)} of {len(cells[section])} cells to run", flush=True)
        for i, params in enumerate(pending):
            if time.time() > end or computed >= max_cells:
                save(record, path)
                print("stopped; run again to resume", flush=True)
                return False
            done_list.append({"params": params, "result": runners[section](params)})
            computed += 1
            note(f"{section} cells")
            if time.time() - last > 10 or i == len(pending) - 1:
                save(record, path)
                last = time.time()
                print(f"  {section} {i + 1}/{len(pending)} "
                      f"({done_list[-1]['result']['seconds']:.2f} s last cell)", flush=True)
    save(record, path)
    return True


def cell_result(record: dict[str, Any], section: str, params: dict[str, Any]) -> dict | None:
    """The recorded result of one cell, or None."""
    key = key_of(params)
    for c in record.get("cells", {}).get(section, []):
        if key_of(c["params"]) == key:
            return c["result"]
    return None


def check(record: dict[str, Any] | None = None, *, rtol: float = 1e-7) -> list[str]:
    """Recompute the check cells and compare their medians with the record; the mismatches."""
    record = load() if record is None else record
    problems = []
    for section, cells, fn in (("fig2", CHECK_FIG2, run_fig2), ("fig4", CHECK_FIG4, run_fig4)):
        for params in cells:
            stored = cell_result(record, section, params)
            if stored is None:
                problems.append(f"{section} {params}: not in the record")
                continue
            fresh = fn(params)
            if ("infeasible" in fresh) != ("infeasible" in stored):
                problems.append(f"{section} {params}: feasibility differs from the record")
                continue
            if "infeasible" in fresh:
                continue
            for reading in im.ELL_READINGS:
                a, b = stored[reading]["median"], fresh[reading]["median"]
                if not math.isclose(a, b, rel_tol=rtol, abs_tol=1e-12):
                    problems.append(f"{section} {params} {reading}: record {a}, now {b}")
    return problems


def smoke() -> None:
    """A tiny sweep in a temporary file: stopped after its first cell, resumed, and compared
    with a straight run of the same cells (which must agree to the last digit)."""
    cells = {"fig2": [{"group": "control", "budget": 1e5, "s0": 0.5, "h": 1e-3, "exponent": 0.5},
                      {"group": "tanh", "budget": 1e3, "s0": 0.5, "h": 1e-6, "exponent": 0.5}],
             "fig4": [{"direction": "phase", "dims": [3, 1]}]}
    runners = {"fig2": lambda p: run_fig2(p, grid=101),
               "fig4": lambda p: run_fig4(p, grid=101, n=3)}
    with tempfile.TemporaryDirectory() as tmp:
        resumed, straight = Path(tmp) / "resumed.json", Path(tmp) / "straight.json"
        assert not run(["fig2", "fig4"], math.inf, path=resumed, cells=cells, runners=runners,
                       max_cells=1)
        assert len(load(resumed)["cells"]["fig2"]) == 1
        assert run(["fig2", "fig4"], math.inf, path=resumed, cells=cells, runners=runners)
        assert run(["fig2", "fig4"], math.inf, path=straight, cells=cells, runners=runners)
        a, b = load(resumed), load(straight)
        assert "infeasible" in cell_result(a, "fig2", cells["fig2"][1])
        for section, params in (("fig2", cells["fig2"][0]), ("fig4", cells["fig4"][0])):
            ra, rb = cell_result(a, section, params), cell_result(b, section, params)
            for reading in im.ELL_READINGS:
                assert ra[reading] == rb[reading], (section, reading)
        assert a["meta"]["date"] and a["meta"]["versions"]["numpy"]
        assert [r["computed"] for r in a["meta"]["runs"]] == [{"fig2 cells": 1},
                                                              {"fig2 cells": 1, "fig4 cells": 1}]
    print("smoke run: stopped, resumed and straight runs agree")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--section", action="append", choices=SECTIONS)
    parser.add_argument("--minutes", type=float, default=math.inf)
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    if args.smoke:
        smoke()
        return
    if args.check:
        problems = check()
        print("\n".join(problems) or "record reproduced")
        sys.exit(1 if problems else 0)
    run(args.section or list(SECTIONS), args.minutes)


if __name__ == "__main__":
    main()
