"""Figure 1's open choices, studied: schedules, metrics, teachers, and a factorial (§4.1).

Chapter: notebooks/03_power_laws.ipynb (it reads the record). Library: imagination.scaling_study.

The paper states its teachers, students, optimiser and sizes, but not its training schedule, its
error metric, its behaviour policy or the student's output head. Every cell here is one
`scaling_study` at N in {2k, 5k, 10k, 20k} with 5 independent teacher draws x 4 students each
(20 students per size and model, one ensemble), all six error metrics measured:

* schedule: a fixed number of optimiser steps at every size, 250 to 10,000 (x40); 20 and 200
  epochs; trained to convergence (early stopping on a validation split, at most 300 epochs,
  patience 10), with the paper's teachers, the uniform behaviour and the tanh head;
* factorial: head (tanh, linear) x behaviour (uniform, policy, attractor) x schedule (200 epochs,
  converged); the reward student has no head to choose, so a linear-head cell trains the
  dynamics only and takes its reward from the tanh cell;
* ablations under the converged schedule: fan-in teachers (no saturation), state dimension 1
  and 4 (dynamics only; 12 is the factorial's cell).

One resumable run: each cell is written to results/figure1_studies.json when it ends (with its
seconds, machine, load and date); a rerun trains only the cells the record lacks, and refuses a
record of another configuration.

    python benchmarks/figure1_studies.py                   # run or resume until complete
    python benchmarks/figure1_studies.py --deadline 12:40  # stop before a cell ending later
    python benchmarks/figure1_studies.py --check           # recompute the cheapest cell's reward
                                                           # students against the record
    python benchmarks/figure1_studies.py --smoke           # tiny run: stop, resume, compare
"""

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from imagination import scaling_study
from imagination.book.records import deadline_from, machine_record

RECORD = Path(__file__).resolve().parent / "results" / "figure1_studies.json"
KIND = "figure1 studies"
CONFIG = dict(sizes=[2_000, 5_000, 10_000, 20_000], n_teachers=5, n_seeds=4, patience=10,
              seed=0)
SMOKE = dict(sizes=[200, 400], n_teachers=2, n_seeds=2, patience=2, seed=0)
CONVERGED = dict(schedule="converged", budget=300)
DEFAULT = dict(dyn_output="tanh", behaviour="uniform", teacher_init="normal", d_s=12)


def cells(smoke=False):
    """Every cell's parameters (beyond CONFIG), cheapest study first, without duplicates."""
    schedules = [dict(schedule="steps", budget=b) for b in (250, 1000, 4000, 10_000)]
    schedules += [dict(schedule="epochs", budget=20), dict(schedule="epochs", budget=200),
                  CONVERGED]
    if smoke:
        schedules = [dict(schedule="steps", budget=5), dict(schedule="converged", budget=4)]
    out = [{**DEFAULT, **s, "models": ["dyn", "rew"]} for s in schedules]
    for s in schedules[-2:]:  # 200 epochs and converged
        for head in ("tanh", "linear"):
            for behaviour in ("uniform", "policy", "attractor"):
                out.append({**DEFAULT, **s, "dyn_output": head, "behaviour": behaviour,
                            "models": ["dyn", "rew"] if head == "tanh" else ["dyn"]})
    out += [{**DEFAULT, **schedules[-1], "teacher_init": "fan_in", "models": ["dyn", "rew"]}]
    out += [{**DEFAULT, **schedules[-1], "d_s": d, "models": ["dyn"]} for d in (1, 4)]
    unique = {}
    for c in out:
        unique.setdefault(key(c), c)
    return list(unique.values())


def key(cell):
    return json.dumps(cell, sort_keys=True)


def load(path, config):
    if not path.is_file():
        return {"kind": KIND, "config": config, "cells": {}}
    record = json.loads(path.read_text())
    if record.get("kind") != KIND or record.get("config") != config:
        raise ValueError(f"{path} holds another configuration ({record.get('config')}); "
                         "move it away to start a new record")
    return record


def save(path, record):
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(record, indent=1) + "\n")
    os.replace(tmp, path)  # a run killed mid-write leaves the old file whole


def run(path, config, todo, end=math.inf):
    """Train the cells the record lacks; stop before a cell that would end after ``end``."""
    record = load(path, config)
    last = None
    for cell in todo:
        if key(cell) in record["cells"]:
            continue
        if last is not None and time.time() + last > end:
            print(f"stopped before the deadline; run again to resume from {path}")
            return record, False
        start = time.perf_counter()
        result = scaling_study(**{k: v for k, v in config.items()}, **cell)
        last = time.perf_counter() - start
        record["cells"][key(cell)] = {"params": cell, "result": result.to_record(),
                                      "seconds": last, **machine_record()}
        save(path, record)
        print(f"{len(record['cells'])}/{len(todo)} {cell['schedule']} {cell['budget']} "
              f"{cell['dyn_output']} {cell['behaviour']} {cell['teacher_init']} d_s={cell['d_s']}"
              f" {cell['models']}: {last:.0f} s", flush=True)
    return record, True


def check(path, config):
    """Recompute the cheapest cell's reward students and compare them with the record."""
    record = load(path, config)
    cell = cells()[0]
    stored = record["cells"].get(key(cell))
    if stored is None:
        raise ValueError(f"{path} has no cell {key(cell)} yet")
    again = scaling_study(**config, **{**cell, "models": ["rew"]})
    got, want = again.errors["rew"]["mse"], np.asarray(stored["result"]["errors"]["rew"]["mse"])
    gap = float(np.abs(got / want - 1).max())
    print(f"recomputed {key(cell)} (reward): largest relative difference {gap:.1e}")
    return gap


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deadline", help="UTC time HH:MM: stop before a cell that would end "
                        "later (the first cell of a call always runs)")
    parser.add_argument("--check", action="store_true", help="recompute a cell, compare")
    parser.add_argument("--smoke", action="store_true", help="tiny configuration, temporary file")
    args = parser.parse_args()
    if args.check:
        # float32 training on another machine may round differently: 1e-4 relative
        sys.exit(0 if check(RECORD, CONFIG) <= 1e-4 else 1)
    if not args.smoke:
        record, complete = run(RECORD, CONFIG, cells(), deadline_from(args.deadline))
        print("complete" if complete else "incomplete", f"{len(record['cells'])} cells")
        return
    with tempfile.TemporaryDirectory() as tmp:  # stop after the first cell, then resume
        path = Path(tmp) / "smoke.json"
        todo = cells(smoke=True)
        _, complete = run(path, SMOKE, todo, end=0.0)
        assert not complete
        record, complete = run(path, SMOKE, todo)
        straight = scaling_study(**SMOKE, **todo[1])
        same = np.array_equal(np.asarray(record["cells"][key(todo[1])]["result"]["errors"]
                                         ["dyn"]["rmse"]), straight.errors["dyn"]["rmse"])
        print(f"complete {complete}, {len(record['cells'])} cells; resumed cell equals a straight "
              f"run: {same}")
        sys.exit(0 if complete and same else 1)


if __name__ == "__main__":
    main()
