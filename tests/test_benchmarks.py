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
