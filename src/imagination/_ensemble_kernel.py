"""The C training step of :func:`imagination.ensemble.train_ensemble`: build, cache, load.

Private: the public contract is ``train_ensemble``, whose result does not depend on which step
ran (both equal :func:`~imagination.ensemble.train_sequential` to float32 rounding;
``tests/test_ensemble.py``).

``_ensemble_kernel.c`` trains one member at a time through an epoch's steps, with everything
the member touches in the core's cache; the torch step (:mod:`imagination._ensemble_step`)
runs each op over all members, streaming ``(M, 256, 64)`` activations through memory. On a
two-core machine the kernel is several times faster (``benchmarks/bench_teacher_student.py``).

It serves the paper's network shape and its neighbours: one hidden ReLU layer whose width is
a multiple of 16, 1 to 16 outputs, on the CPU, without spectral caps. Everything else, or a
machine without a C compiler, trains with the torch step. The compiler is ``$CC``, else ``cc``
or ``gcc`` on the ``PATH``; each shape is compiled once (about a second) for this CPU
(``-march=native``) into ``$IMAGINATION_KERNEL_CACHE``, else ``$XDG_CACHE_HOME/imagination``,
else ``~/.cache/imagination``. ``IMAGINATION_KERNEL=off`` turns it off.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

__all__: list[str] = []

SOURCE = Path(__file__).with_name("_ensemble_kernel.c")
FLAGS = ("-O3", "-march=native", "-fno-math-errno", "-std=gnu11", "-shared", "-fPIC")
#: A deliberate bug compiled in (tests only; see the C source): 0 none, 1 the last batch's
#: normalisation, 2 W0's gradient 1 % too large on every other step.
BUG = 0
#: Why the kernel last failed to build here ("" when it built or was never tried).
last_error = ""
_lock = threading.Lock()
_loaded: dict[tuple[int, int, int, int], ctypes.CDLL | None] = {}


def supports(sizes: tuple[int, ...], device_type: str, capped: bool) -> bool:
    """Whether the kernel can train networks of layer widths ``sizes`` (before compiling)."""
    if os.environ.get("IMAGINATION_KERNEL", "").lower() in ("off", "0", "no", "false"):
        return False
    return (device_type == "cpu" and not capped and len(sizes) == 3 and sizes[1] % 16 == 0
            and 1 <= sizes[2] <= 16)


def for_network(sizes: tuple[int, ...], device_type: str,
                capped: bool) -> ctypes.CDLL | None:
    """The kernel that trains networks of layer widths ``sizes``, or None: it does not serve
    them (:func:`supports`) or does not build here (:func:`load`)."""
    return load(*sizes) if supports(sizes, device_type, capped) else None


def _cache_dir() -> Path:
    env = os.environ.get("IMAGINATION_KERNEL_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "imagination"


def _cpu_signature() -> str:
    """What -march=native compiles for: the CPU's flags where Linux lists them."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    return line
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _compile(cc: str, defines: list[str], target: Path) -> str:
    """Compile into ``target`` (atomically); returns the compiler's complaint, or ""."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=target.parent)
    os.close(fd)
    try:
        for flags in (FLAGS, tuple(f for f in FLAGS if f != "-march=native")):
            run = subprocess.run([cc, *flags, *defines, str(SOURCE), "-o", tmp, "-lm"],
                                 capture_output=True, text=True, timeout=300, check=False)
            if run.returncode == 0:
                os.replace(tmp, target)
                return ""
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    lines = (run.stderr or run.stdout).strip().splitlines()
    errors = [line for line in lines if "error" in line] or lines
    return errors[0] if errors else f"{cc} exited with status {run.returncode}"


def load(d_in: int, hidden: int, d_out: int) -> ctypes.CDLL | None:
    """The kernel for ``d_in`` inputs, ``hidden`` units and ``d_out`` outputs, or None.

    Compiled on first use and cached on disk (keyed by the source, flags, shape, compiler and
    CPU); None, with the reason in :data:`last_error`, where no compiler builds it.
    """
    global last_error
    key = (d_in, hidden, d_out, BUG)
    with _lock:
        if key in _loaded:
            return _loaded[key]
        lib = None
        cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
        if cc is None:
            last_error = "no C compiler (cc, gcc or $CC) on this machine"
        else:
            defines = [f"-DDIN1={d_in + 1}", f"-DH={hidden}", f"-DDOUT={d_out}",
                       f"-DIMAGINATION_BUG={BUG}"]
            digest = hashlib.sha256("\n".join([SOURCE.read_text(), *FLAGS, *defines, cc,
                                               _cpu_signature()]).encode()).hexdigest()[:16]
            target = _cache_dir() / f"ensemble_kernel_{digest}.so"
            try:
                error = "" if target.exists() else _compile(cc, defines, target)
            except (OSError, subprocess.SubprocessError) as e:
                error = str(e)
            if error:
                last_error = error
            else:
                try:
                    lib = ctypes.CDLL(str(target))
                except OSError as e:
                    last_error = str(e)
                else:
                    _declare(lib)
                    last_error = ""
        _loaded[key] = lib
        return lib


def _declare(lib: ctypes.CDLL) -> None:
    p, i64, f64 = ctypes.c_void_p, ctypes.c_int64, ctypes.c_double
    lib.epoch_steps.restype = None
    lib.epoch_steps.argtypes = [p, p, p, i64, i64, i64, i64, p, p, p, p, i64, f64, f64, f64,
                                f64, p, i64, ctypes.c_int, p]
    lib.kernel_work_floats.restype = i64
    lib.kernel_work_floats.argtypes = [i64]
