"""Each benchmark in its tiny smoke mode: correctness only, no timing is asserted."""

import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parents[1] / "benchmarks"
# the resumable runners' smoke modes stop a tiny run, resume it, compare it with a straight one
BENCHMARKS = [*sorted(HERE.glob("bench_*.py")), HERE / "paper_scale_figure1.py",
              HERE / "figure3_sweep.py", HERE / "ell_sweep.py"]


@pytest.mark.parametrize("script", BENCHMARKS, ids=lambda p: p.stem)
def test_benchmark_smoke(script, tmp_path):
    out = subprocess.run([sys.executable, str(script), "--smoke"], capture_output=True, text=True,
                         cwd=tmp_path, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr


def test_bench_teacher_student_prints_its_three_last_lines(tmp_path):
    out = subprocess.run([sys.executable, str(HERE / "bench_teacher_student.py"), "--smoke"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=300)
    last = out.stdout.strip().splitlines()[-3:]
    assert [line.split(":")[0] for line in last] == ["peak fraction", "paper estimate",
                                                     "speedup"], out.stdout
    assert last[1].endswith(" min") and last[2].endswith("x")


@pytest.mark.slow
def test_chapter_9_executes_after_every_benchmark_reruns_at_ci(tmp_path, monkeypatch):
    """Rerun each timing benchmark at ``ci`` in a scratch copy, then execute chapter 9 there:
    the ci records are added beside the committed ones, which stay byte for byte, and the page
    reads all of them."""
    import os
    import shutil

    import nbformat
    from nbclient import NotebookClient

    from imagination.book.records import notebook_glues

    root = HERE.parent
    shutil.copytree(HERE, tmp_path / "benchmarks")
    (tmp_path / "notebooks").mkdir()
    shutil.copy(root / "notebooks" / "09_performance.ipynb", tmp_path / "notebooks")
    results = tmp_path / "benchmarks" / "results"
    before = {p.name: p.read_bytes() for p in results.glob("*.json")}
    env = {**os.environ, "IMAGINATION_SCALE": "ci", "IMAGINATION_STATIC": "1"}
    for script in sorted((tmp_path / "benchmarks").glob("bench_*.py")):
        out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                             cwd=tmp_path, env=env, timeout=600)
        assert out.returncode == 0, out.stdout + out.stderr
    after = {p.name: p.read_bytes() for p in results.glob("*.json")}
    assert {"bench_teacher_student_ci.json", "bench_reinforce_ci.json"} <= set(after)
    assert all(after[name] == data for name, data in before.items()
               if not name.endswith("_ci.json")), "a ci run changed a record of another key"
    path = tmp_path / "notebooks" / "09_performance.ipynb"
    nb = nbformat.read(path, as_version=4)
    monkeypatch.setenv("IMAGINATION_SCALE", "ci")  # the kernel inherits the environment
    monkeypatch.setenv("IMAGINATION_STATIC", "1")
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    nbformat.write(nb, path)
    tables = "".join("".join(o.get("data", {}).get("text/markdown", ""))
                     for c in nb.cells for o in c.get("outputs", []))
    assert "`bench_teacher_student_ci`" in tables and "`bench_reinforce_ci`" in tables
    assert notebook_glues(path)["trainer_record"] != "'not recorded'"
