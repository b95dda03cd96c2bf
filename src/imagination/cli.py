r"""The ``imagination`` command line: the paper's answers for your own measurements.

Three subcommands, each a thin layer over the library (nothing is re-implemented here):

``imagination allocate``
    fits the power laws of Eq. (3) to measured learning curves of a dynamics model and a reward
    model (:func:`imagination.fit_power_law`), solves Theorem 1 on the budget line
    :math:`c_{\rm dyn}N_{\rm dyn}+c_{\rm rew}N_{\rm rew}=B` (:func:`imagination.optimal_allocation`)
    and reports the split with a 95% interval taken from the joint bootstrap draws of both fits
    (:func:`imagination.allocation_bootstrap`), plus the bound of Eq. (1) when the discount and
    the Lipschitz constants are given, or with ``--horizon H`` the finite-horizon bound
    :math:`U_H` and its multiplier :math:`m_H`, which need no contraction
    (:func:`imagination.bound_multiplier`). A split that leaves a model under 1% of the budget
    gets a warning on stderr.
``imagination fidelity``
    interpolates measured reward-label noise :math:`\sigma^2(c)` against the label cost per rollout
    (:class:`imagination.MeasuredNoise`, PCHIP in :math:`\log c`), classifies the shape of the
    noise term of Corollary 2, :math:`(c_0+c)\,\sigma^2(c)`, at the measured costs
    (:func:`imagination.noise_cost_regime`) and minimises it on the interpolated curve
    (:func:`imagination.optimal_label_cost`).
``imagination constants``
    reads the state_dict of a ``torch.nn.Sequential(Linear, activation, ..., Linear)`` with
    ``torch.load(..., weights_only=True)`` (never an arbitrary pickle), rebuilds the network
    (:func:`imagination.sequential_from_state_dict`) and brackets its Lipschitz constant
    (:func:`imagination.module_lipschitz`), printed as the option ``allocate`` takes.

Input files are CSV or TSV (tab-separated when the header line holds a tab) with a header line;
the columns are chosen by name, case-insensitively (``n`` and ``error``, or ``cost`` and
``noise_variance``, unless options name others), and other columns are ignored; blank lines and
lines starting with ``#`` are ignored. Bad input (a missing or malformed file, a missing column,
a non-positive budget, constants that do not contract without ``--horizon``, a file that is not
plain weights, ...) ends with exit status 2 and one line on stderr that says what is wrong and
where: the file and line, or the option.

Every command is also callable in-process: :func:`main` takes the argument list and returns the
exit status, :func:`run` returns the result object (:class:`AllocateResult`,
:class:`FidelityResult` or :class:`ConstantsResult`) with its text and JSON (and for the first
two a figure, from :mod:`imagination.viz`). The module only parses, calls the library and
reports.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import math
import os
import pickle
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import numpy as np

from .allocation import MIN_VALID_DRAWS

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from .allocation import Allocation, AllocationDraws
    from .bounds import BoundMultiplier
    from .fidelity import MeasuredNoise
    from .lipschitz import ModuleLipschitz
    from .scaling import PowerLawFit

__all__ = [
    "AllocateResult",
    "CommandError",
    "ConstantsResult",
    "Curve",
    "FidelityResult",
    "build_parser",
    "main",
    "read_curve",
    "read_points",
    "run",
]

DYN_COLUMNS = ("n", "error")
NOISE_COLUMNS = ("cost", "noise_variance")
#: Activations of ``imagination constants --activation`` -> how to build them in torch.
ACTIVATIONS = ("relu", "leaky_relu", "tanh", "sigmoid", "elu", "silu", "gelu", "gelu_tanh")
#: ``--role`` -> the option of ``imagination allocate`` that takes the constant.
ROLES = {"dynamics": "--L-f", "reward": "--L-r", "policy": "--L-pi"}
#: Points of the lower estimate when ``--points`` is not given.
DEFAULT_POINTS = 2048
#: Fewer valid joint bootstrap draws than this and no interval is reported.

REGIME_TEXT = {
    "increasing": "rising with c: cheaper labels are better",
    "decreasing": "falling with c: dearer labels are better",
    "interior": "not monotone and lowest inside the measured range",
    "endpoints": "not monotone and lowest at an end (as in regime (b))",
    "flat": "the same at every cost: the label cost does not matter",
}


class CommandError(ValueError):
    """Bad input to the command line; the message names the file and line, or the option."""


# --------------------------------------------------------------------------- parsing


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line (:class:`CommandError`), not usage text."""

    def error(self, message: str) -> NoReturn:
        raise CommandError(f"{message} (see '{self.prog} --help')")


class _Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=30, width=100)


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def _positive(text: str) -> float:
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _nonnegative(text: str) -> float:
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _discount(text: str) -> float:
    # gamma = 1 is allowed only with --horizon (checked once all options are read)
    value = _number(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must satisfy 0 <= gamma < 1 (0 <= gamma <= 1 with "
                                         f"--horizon), got {text}")
    return value


def _horizon(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of steps") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1 (imagined steps), got {text}")
    return value


def _sizes(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of whole "
                                         "numbers, e.g. 16,64,12") from None
    if any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"every size must be >= 1, got {text}")
    return values


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


ALLOCATE_HELP = """\
Theorem 1 of the paper on your own learning curves: how to split a budget between samples for the
dynamics model (N_dyn, at cost c_dyn each) and reward-labelled samples for the reward model
(N_rew, at cost c_rew each) so that the bound of Eq. (1),
  (m * eps_dyn + eps_rew) / (1 - gamma),
is smallest on the budget line c_dyn N_dyn + c_rew N_rew = B. Each model's held-out error is fitted
as a power law eps = A N^(-exponent) (Eq. (3)) to your measurements.

Input files: CSV or TSV (tab-separated when the header line has a tab) with a header line and one
row per measurement, e.g. 'n,error': n = training samples (> 0), error = the model's held-out
error (> 0, any metric, the same for every row), several rows per n (one per seed). Columns are
chosen by name, case-insensitively (--n-column, --error-column); other columns (step, seed, run
name, ...) are ignored. Blank lines and lines starting with '#' are ignored.

Bound: with --gamma --L-f --L-r --L-pi, the bound of Eq. (1) (infinite horizon; needs
gamma L_f (1 + L_pi) < 1); add --horizon H for the finite-horizon bound U_H over H imagined steps
(chapter 1), which holds for any L_f: the usual case for learned dynamics, which rarely contract."""

ALLOCATE_EPILOG = """\
examples:
  imagination allocate --dyn-curve book/data/dyn_curve.csv --rew-curve book/data/rew_curve.csv \\
      --cost-dyn 1 --cost-rew 10 --budget 2.5e5 --gamma 0.9 --L-f 0.5 --L-r 1 --L-pi 0.2
  imagination allocate --dyn-curve book/data/dyn_curve.csv --rew-curve book/data/rew_curve.csv \\
      --cost-dyn 1 --cost-rew 10 --budget 2.5e5 --gamma 0.99 --L-f 2.9 --L-r 1 --L-pi 0.5 \\
      --horizon 15

The 95% intervals come from the joint bootstrap draws (coef, exponent) of both fits (rows resampled
within each n, deviations rescaled to unbiased variance); draws with a non-positive exponent have
no optimum and are excluded (their share is printed). A split that leaves either model under 1% of
the budget gets a warning on stderr. Exit status 2 on bad input, with one line on stderr naming the
file and line or option."""

FIDELITY_HELP = """\
Corollary 2 of the paper on your own label-noise measurements: a budget B buys K = B / (c0 + c)
rollouts whose reward labels cost c each (c0 = the cost of the rollout itself), and the noise term
of Theorem 2 is proportional to sigma^2(c) / K = (c0 + c) sigma^2(c) / B. This command interpolates
your measured sigma^2(c) (PCHIP in log c, which keeps its monotone stretches monotone), classifies
the shape of (c0 + c) sigma^2(c) at the measured costs and finds the best label cost on the
interpolated curve between the cheapest and the dearest measured cost.

Input file: CSV or TSV (tab-separated when the header line has a tab) with a header line, e.g.
'cost,noise_variance', and one row per measurement: cost = label cost per rollout (> 0, your
budget unit), noise_variance = variance of the reward-label noise at that cost (>= 0; 0 means
clean labels). Columns are chosen by name, case-insensitively (--cost-column, --noise-column);
other columns are ignored. Rows with the same cost are averaged. Blank lines and lines starting
with '#' are ignored."""

CONSTANTS_HELP = """\
The Lipschitz constants that 'imagination allocate' asks for (--L-f, --L-r, --L-pi), computed for
a network you trained: a torch.nn.Sequential(Linear, activation, Linear, ..., Linear) saved as a
state_dict (keys 0.weight, 0.bias, 2.weight, ...). Two numbers bracket the constant:
  upper  a certified upper bound: the product of the layers' spectral norms (exact SVD in
         float64) and the activation's constant; pass this one to allocate;
  lower  the largest spectral norm of the network's Jacobian over the points: the constant is at
         least this (a lower estimate; the gap shows how loose the upper bound is).
Norms are Euclidean; with --input-blocks, the sum metric ||ds|| + ||da|| of Lemma 1 (the constant
is the largest over the blocks). A state_dict holds no activations: --activation must be the one the
network was trained with.

Needs torch (pip install torch; CPU build: pip install torch --index-url
https://download.pytorch.org/whl/cpu)."""

CONSTANTS_EPILOG = """\
example:
  imagination constants --weights dynamics.pt --layers 16,64,12 --activation tanh \\
      --role dynamics --input-blocks 12,4 --residual --points transitions.csv

The weights are read with torch.load(FILE, weights_only=True): a file that is not plain tensors
is refused (exit status 2) and nothing in it runs. Exit status 2 on bad input, with one line on
stderr naming the file or option."""

FIDELITY_EPILOG = """\
example:
  imagination fidelity --noise-curve book/data/label_noise.csv --budget 1000 --rollout-cost 0.5

No extrapolation: the best cost is searched only between the cheapest and the dearest measured cost.
Exit status 2 on bad input, with one line on stderr naming the file and line or option."""


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``imagination`` command."""
    from . import __version__

    parser = _Parser(
        prog="imagination",
        description="The paper's answers for your own world models: 'On Training in Imagination' "
        "(Timor et al., arXiv:2605.06732).",
        epilog="Run 'imagination COMMAND --help' for the options of a command, with units.",
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", title="commands", metavar="COMMAND")

    alloc = commands.add_parser(
        "allocate", help="split a sample budget between the dynamics and the reward model "
        "(Theorem 1, Eq. (4))", description=ALLOCATE_HELP, epilog=ALLOCATE_EPILOG,
        formatter_class=_Formatter)
    files = alloc.add_argument_group("learning curves")
    files.add_argument("--dyn-curve", required=True, metavar="FILE", type=Path,
                       help="CSV/TSV with columns n,error: held-out error of the dynamics model "
                       "(e.g. state prediction error) against its number of training transitions")
    files.add_argument("--rew-curve", required=True, metavar="FILE", type=Path,
                       help="CSV/TSV with columns n,error: held-out error of the reward model (in "
                       "reward units) against its number of reward-labelled training samples")
    files.add_argument("--n-column", default=DYN_COLUMNS[0], metavar="NAME",
                       help="name of the sample-size column in both files, case-insensitive "
                       f"(default {DYN_COLUMNS[0]})")
    files.add_argument("--error-column", default=DYN_COLUMNS[1], metavar="NAME",
                       help="name of the error column in both files, case-insensitive "
                       f"(default {DYN_COLUMNS[1]})")
    budget = alloc.add_argument_group("budget (one unit of your choice: dollars, GPU-hours, ...)")
    budget.add_argument("--cost-dyn", required=True, type=_positive, metavar="C",
                        help="cost of one dynamics sample (a transition), > 0")
    budget.add_argument("--cost-rew", required=True, type=_positive, metavar="C",
                        help="cost of one reward-labelled sample, > 0")
    budget.add_argument("--budget", required=True, type=_positive, metavar="B",
                        help="total budget B = c_dyn N_dyn + c_rew N_rew, > 0")
    mult = alloc.add_argument_group(
        "the multiplier m of Eq. (4): give --multiplier, or all four constants (and --horizon "
        "for a finite horizon)")
    mult.add_argument("--multiplier", type=_positive, metavar="M",
                      help="m > 0, dimensionless: the weight of eps_dyn against eps_rew in the "
                      "bound (e.g. from realised sensitivities S_f / S_r, chapter 4)")
    mult.add_argument("--gamma", type=_discount, metavar="G",
                      help="discount factor, 0 <= gamma < 1 (0 <= gamma <= 1 with --horizon)")
    mult.add_argument("--L-f", dest="L_f", type=_nonnegative, metavar="X",
                      help="Lipschitz constant of the dynamics f(s, a), >= 0: state distance per "
                      "unit of ||ds|| + ||da|| (sum metric)")
    mult.add_argument("--L-r", dest="L_r", type=_nonnegative, metavar="X",
                      help="Lipschitz constant of the reward r(s, a), >= 0: reward units per unit "
                      "of ||ds|| + ||da||")
    mult.add_argument("--L-pi", dest="L_pi", type=_nonnegative, metavar="X",
                      help="Lipschitz constant of the policy, >= 0: action distance per unit of "
                      "state distance. Without --horizon, needs gamma L_f (1 + L_pi) < 1 "
                      "(Lemma 1)")
    mult.add_argument("--horizon", type=_horizon, metavar="H",
                      help="imagined steps H >= 1 (e.g. 15 for a Dreamer-style agent): use the "
                      "finite-horizon bound U_H and its multiplier m_H (chapter 1), valid for any "
                      "L_f; needs the four constants, not --multiplier")
    _add_common(alloc, bootstrap=True)

    fid = commands.add_parser(
        "fidelity", help="choose the reward-label cost per rollout (Corollary 2)",
        description=FIDELITY_HELP, epilog=FIDELITY_EPILOG, formatter_class=_Formatter)
    fid.add_argument("--noise-curve", required=True, metavar="FILE", type=Path,
                     help="CSV/TSV with columns cost,noise_variance: measured label-noise "
                     "variance (reward units squared, >= 0) against the label cost per rollout "
                     "(> 0)")
    fid.add_argument("--cost-column", default=NOISE_COLUMNS[0], metavar="NAME",
                     help=f"name of the cost column, case-insensitive (default {NOISE_COLUMNS[0]})")
    fid.add_argument("--noise-column", default=NOISE_COLUMNS[1], metavar="NAME",
                     help="name of the noise-variance column, case-insensitive (default "
                     f"{NOISE_COLUMNS[1]})")
    fid.add_argument("--budget", required=True, type=_positive, metavar="B",
                     help="total budget for rollouts and their labels, > 0, in the unit of "
                     "the costs")
    fid.add_argument("--rollout-cost", type=_nonnegative, default=0.0, metavar="C0",
                     help="fixed cost c0 of one rollout besides its labels, >= 0, in the unit "
                     "of the costs (default 0: the paper's Phi(c) = c sigma^2(c))")
    _add_common(fid, bootstrap=False)

    con = commands.add_parser(
        "constants", help="Lipschitz constants of a saved network, in the form allocate takes",
        description=CONSTANTS_HELP, epilog=CONSTANTS_EPILOG, formatter_class=_Formatter)
    net = con.add_argument_group("the network")
    net.add_argument("--weights", required=True, metavar="FILE", type=Path,
                     help="a state_dict saved with torch.save(model.state_dict(), FILE), read "
                     "with torch.load(FILE, weights_only=True): never an arbitrary pickle")
    net.add_argument("--layers", required=True, type=_sizes, metavar="D0,D1,...",
                     help="layer sizes, input first, e.g. 16,64,12: "
                     "Linear(16, 64), activation, Linear(64, 12)")
    net.add_argument("--activation", required=True, type=str.lower, choices=ACTIVATIONS,
                     metavar="NAME", help="the activation between the Linear layers: "
                     + ", ".join(ACTIVATIONS))
    net.add_argument("--role", required=True, choices=ROLES, metavar="ROLE",
                     help="dynamics (prints --L-f), reward (--L-r) or policy (--L-pi)")
    net.add_argument("--input-blocks", type=_sizes, metavar="DS,DA",
                     help="sizes of the input blocks of Lemma 1's sum metric ||ds|| + ||da||, "
                     "e.g. 12,4 for a state of 12 and an action of 4 numbers; they must sum to "
                     "the input size")
    net.add_argument("--residual", action="store_true",
                     help="the model predicts s + net(s, a) (a residual or delta model): bound "
                     "that map; the output size must be the state's (the first block)")
    net.add_argument("--points", metavar="FILE", type=Path,
                     help="CSV/TSV of inputs, a header line and one row per point (e.g. states "
                     "and actions of your data), for the lower estimate (default: "
                     f"{DEFAULT_POINTS} standard normal points, seed 0)")
    out = con.add_argument_group("output")
    out.add_argument("--json", action="store_true",
                     help="print one JSON object instead of the text report")
    return parser


def _add_common(sub: argparse.ArgumentParser, *, bootstrap: bool) -> None:
    out = sub.add_argument_group("output")
    if bootstrap:
        out.add_argument("--n-boot", type=_count, default=1000, metavar="K",
                         help="bootstrap draws per fit (default 1000; 0: no intervals)")
        out.add_argument("--seed", type=_count, default=0, metavar="S",
                         help="seed of the bootstrap, a whole number >= 0 (default 0)")
    out.add_argument("--json", action="store_true",
                     help="print one JSON object instead of the text report")
    out.add_argument("--plot", type=Path, metavar="FILE.html",
                     help="also write an interactive plotly figure to this HTML file "
                     "(self-contained, works offline; needs plotly)")


# --------------------------------------------------------------------------- input files


@dataclass(frozen=True)
class Curve:
    """Measurements read from a CSV or TSV file by :func:`read_curve`.

    Attributes
    ----------
    path : Path
        The file.
    columns : tuple of str
        The two columns used, as the header names them, e.g. ``("n", "error")``.
    x, y : ndarray
        The two columns, one entry per data row.
    lines : ndarray
        The line number of each data row in the file (for messages).
    delimiter : str
        ``","`` or ``"\\t"`` (tab-separated when the header line holds a tab).
    """

    path: Path
    columns: tuple[str, str]
    x: np.ndarray
    y: np.ndarray
    lines: np.ndarray
    delimiter: str = ","

    @property
    def levels(self) -> np.ndarray:
        """The distinct values of the first column, sorted."""
        return np.unique(self.x)


@dataclass(frozen=True)
class _Table:
    path: Path
    delimiter: str
    head_line: int
    names: list[str]  # as written in the header, stripped
    data: list[tuple[int, list[str]]]  # (line number, fields)


def _read_table(path: str | Path, expected: str) -> _Table:
    """Header and rows of a CSV/TSV file: tab-delimited when the header has a tab, else commas.

    Blank lines and lines starting with ``#`` are skipped; the first other line is the header.
    Every data row must have as many fields as the header. ``expected`` describes the header in
    messages."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise CommandError(f"{path}: not a UTF-8 text file (expected CSV or TSV with "
                           f"{expected})") from None
    rows = [(k, line) for k, line in enumerate(text.splitlines(), 1)
            if line.strip() and not line.lstrip().startswith("#")]
    if not rows:
        raise CommandError(f"{path}: the file is empty; expected {expected} and one row per "
                           "measurement")
    (head_line, head), data = rows[0], rows[1:]
    delimiter = "\t" if "\t" in head else ","
    names = [f.strip() for f in next(csv.reader([head], delimiter=delimiter))]
    if not data:
        raise CommandError(f"{path}: no data rows after the header on line {head_line}")
    table = []
    kind = "tab" if delimiter == "\t" else "comma"
    for k, line in data:
        fields = [f.strip() for f in next(csv.reader([line], delimiter=delimiter))]
        if len(fields) != len(names):
            raise CommandError(f"{path}, line {k}: expected {len(names)} values ({kind}-separated, "
                               f"as the header on line {head_line}), got {len(fields)}: "
                               f"{line.strip()!r}")
        table.append((k, fields))
    return _Table(path, delimiter, head_line, names, table)


def _column(table: _Table, name: str, option: str, expected: str) -> int:
    """Index of the column called ``name`` (case-insensitive) in the table's header."""
    lowered = [n.lower() for n in table.names]
    hits = [j for j, n in enumerate(lowered) if n == name.lower()]
    if len(hits) > 1:
        raise CommandError(f"{table.path}, line {table.head_line}: the header names column "
                           f"{name!r} {len(hits)} times")
    if not hits:
        found = ", ".join(repr(n) for n in table.names)
        raise CommandError(f"{table.path}, line {table.head_line}: the header has no column "
                           f"{name!r} (columns found: {found}); expected a header naming "
                           f"{expected}, or choose the column with {option}")
    return hits[0]


def read_curve(path: str | Path, columns: tuple[str, str], *,
               y_min_exclusive: bool = True,
               options: tuple[str, str] = ("--n-column", "--error-column")) -> Curve:
    """Read two columns of measurements from a CSV or TSV file, checking every line.

    Parameters
    ----------
    path
        The file. Blank lines and lines starting with ``#`` are skipped; the first other line
        is the header. Tab-separated when the header holds a tab, comma-separated otherwise
        (as experiment trackers export them).
    columns
        The names of the two columns to use, e.g. ``("n", "error")``, matched to the header
        case-insensitively (surrounding spaces ignored); other columns (step, seed, run name,
        ...) are ignored.
    y_min_exclusive
        ``True``: the second column must be > 0 (errors, fitted in log space); ``False``: >= 0
        (variances). The first column must always be > 0.
    options
        The command-line options that choose each column (named in messages).

    Returns
    -------
    Curve

    Raises
    ------
    CommandError
        With a one-line message naming the file and, where there is one, the line: for a missing
        or unreadable file, an empty one, a header without one of the columns (the message lists
        the columns found), a row with another number of values than the header, a value that
        is not a finite number or out of range, no data rows, or fewer than two distinct values
        in the first column.
    """
    example = f"'{columns[0]},{columns[1]}'"
    table = _read_table(path, f"a header line naming the columns, e.g. {example}")
    path = table.path
    index = [_column(table, name, option, f"the columns, e.g. {example}")
             for name, option in zip(columns, options, strict=True)]
    names = (table.names[index[0]], table.names[index[1]])
    values = np.empty((len(table.data), 2))
    for i, (k, fields) in enumerate(table.data):
        for j, (name, col) in enumerate(zip(names, index, strict=True)):
            values[i, j] = _cell(path, k, name, fields[col], strict=(j == 0 or y_min_exclusive),
                                 log=(j == 1 and y_min_exclusive))
    x, y = values.T
    lines = np.array([k for k, _ in table.data])
    if np.unique(x).size < 2:
        raise CommandError(f"{path}: every row has {names[0]} = {x[0]:g}; need at least two "
                           f"distinct {names[0]} to fit a curve")
    return Curve(path, names, x, y, lines, table.delimiter)


def read_points(path: str | Path, d_in: int) -> np.ndarray:
    """Read input points (one per row, ``d_in`` numeric columns) from a CSV or TSV file.

    The first line that is not blank or a ``#`` comment is a header (any column names); every
    value must be a finite number.

    Raises
    ------
    CommandError
        With a one-line message naming the file and line.
    """
    table = _read_table(path, f"a header line and {d_in} columns, one per network input")
    if len(table.names) != d_in:
        raise CommandError(f"{table.path}, line {table.head_line}: the header has "
                           f"{len(table.names)} columns but the network takes {d_in} inputs")
    out = np.empty((len(table.data), d_in))
    for i, (k, fields) in enumerate(table.data):
        for j, field in enumerate(fields):
            out[i, j] = _cell(table.path, k, table.names[j] or f"column {j + 1}", field,
                              strict=False, signed=True)
    return out


def _cell(path: Path, line: int, name: str, field: str, *, strict: bool, log: bool = False,
          signed: bool = False) -> float:
    try:
        value = float(field)
    except ValueError:
        raise CommandError(f"{path}, line {line}: {name} = {field!r} is not a number") from None
    if not math.isfinite(value):
        raise CommandError(f"{path}, line {line}: {name} = {field!r} is not a finite number")
    if signed:
        return value
    if strict and value <= 0:
        why = " (the power law is fitted to its logarithm)" if log else ""
        raise CommandError(f"{path}, line {line}: {name} must be > 0{why}, got {field}")
    if value < 0:
        raise CommandError(f"{path}, line {line}: {name} must be >= 0 (a variance), got {field}")
    return value


# --------------------------------------------------------------------------- allocate


@dataclass(frozen=True)
class AllocateResult:
    """What ``imagination allocate`` computed (see :func:`run`).

    Attributes
    ----------
    dyn, rew : Curve
        The learning curves read.
    dyn_fit, rew_fit : PowerLawFit
        Their power-law fits (Eq. (3)) with bootstrap draws.
    multiplier : float
        The multiplier ``m`` of Eq. (4), given or from the constants.
    constants : dict or None
        ``gamma, L_f, L_r, L_pi`` when given.
    budget, cost_dyn, cost_rew : float
        The budget line.
    allocation : Allocation
        Theorem 1's optimum on the fitted laws (:func:`imagination.optimal_allocation`).
    bound : float or None
        Eq. (1) at the optimum's errors (needs the constants).
    bootstrap : AllocationDraws
        The optimum re-solved on every valid joint bootstrap draw of both fits
        (:func:`imagination.allocation_bootstrap`).
    bound_form : BoundMultiplier or None
        Which bound the constants gave (:func:`imagination.bound_multiplier`): Eq. (1), or the
        finite-horizon :math:`U_H` with ``--horizon``; ``None`` with ``--multiplier``.
    """

    dyn: Curve
    rew: Curve
    dyn_fit: PowerLawFit
    rew_fit: PowerLawFit
    multiplier: float
    constants: dict[str, float] | None
    budget: float
    cost_dyn: float
    cost_rew: float
    allocation: Allocation
    bound: float | None
    bootstrap: AllocationDraws
    bound_form: BoundMultiplier | None = None

    @property
    def bound_kind(self) -> str | None:
        """``"eq1"``, ``"finite_horizon"`` or ``None`` (no constants, no bound)."""
        return None if self.bound_form is None else self.bound_form.kind

    @property
    def horizon(self) -> int | None:
        """The horizon ``H`` of the finite-horizon bound, ``None`` otherwise."""
        return None if self.bound_form is None else self.bound_form.horizon

    def warnings(self) -> list[str]:
        """Warnings about the split (printed on stderr): a model left with under
        :data:`imagination.EDGE_SHARE` of the budget
        (:meth:`imagination.Allocation.at_budget_edge`)."""
        from .allocation import EDGE_SHARE

        edge = self.allocation.at_budget_edge()
        if edge is None:
            return []
        name, share = (("dynamics", self.allocation.dyn_share) if edge == "dyn"
                       else ("reward", self.allocation.rew_share))
        return [f"the split is at the edge of the budget: the {name} model gets {share:.3g} of "
                f"it (under {EDGE_SHARE:.0%}); the bound is dominated by the other model's "
                "error, and the split rests on its fitted law far from the measurements"]

    @property
    def share_dyn(self) -> float:
        """Budget share of the dynamics samples, ``c_dyn N_dyn / B``."""
        return float(self.allocation.dyn_share)

    @property
    def draws(self) -> dict[str, np.ndarray]:
        """Per valid joint bootstrap draw: ``n_dyn``, ``n_rew``, ``ratio``, ``share_dyn``."""
        b = self.bootstrap
        return {"n_dyn": b.n_dyn, "n_rew": b.n_rew, "ratio": b.ratio, "share_dyn": b.dyn_share}

    @property
    def excluded(self) -> float:
        """Fraction of joint draws excluded for a non-positive exponent."""
        return self.bootstrap.excluded

    @property
    def n_boot(self) -> int:
        """Joint draws made."""
        return self.bootstrap.n_boot

    def interval(self, name: str) -> tuple[float, float] | None:
        """95% percentile interval of ``name`` over the valid joint draws (``None`` if too few)."""
        return self.bootstrap.interval("dyn_share" if name == "share_dyn" else name)

    def extrapolated(self) -> dict[str, bool]:
        """Whether the optimal ``N`` of each stream lies outside its measured range of ``n``."""
        return {name: not (curve.x.min() <= n <= curve.x.max())
                for name, curve, n in (("dyn", self.dyn, self.allocation.n_dyn),
                                       ("rew", self.rew, self.allocation.n_rew))}

    def to_dict(self) -> dict[str, Any]:
        """The JSON object printed by ``--json``."""
        a = self.allocation
        return {
            "command": "allocate",
            "dyn_law": _law_dict(self.dyn, self.dyn_fit),
            "rew_law": _law_dict(self.rew, self.rew_fit),
            "multiplier": self.multiplier,
            "constants": self.constants,
            "bound_kind": self.bound_kind,
            "horizon": self.horizon,
            "budget": self.budget, "cost_dyn": self.cost_dyn, "cost_rew": self.cost_rew,
            "n_dyn": a.n_dyn, "n_rew": a.n_rew, "ratio": a.ratio,
            "budget_share_dyn": self.share_dyn, "budget_share_rew": a.rew_share,
            "eps_dyn": a.eps_dyn, "eps_rew": a.eps_rew, "objective": a.objective,
            "bound": self.bound,
            "split_ci": self.interval("ratio"),
            "n_dyn_ci": self.interval("n_dyn"), "n_rew_ci": self.interval("n_rew"),
            "budget_share_dyn_ci": self.interval("share_dyn"),
            "bootstrap": {"draws": self.n_boot, "valid": int(self.draws["ratio"].size),
                          "excluded_fraction": self.excluded},
            "extrapolated": self.extrapolated(),
            "warnings": self.warnings(),
        }

    def text(self) -> str:
        """The text report printed without ``--json``."""
        a = self.allocation
        lines = ["power laws of Eq. (3), fitted by least squares in log-log",
                 *_law_text("dynamics", "eps_dyn", self.dyn, self.dyn_fit),
                 *_law_text("reward", "eps_rew", self.rew, self.rew_fit), ""]
        if self.constants:
            c = self.constants
            given = (f"gamma = {c['gamma']:g}, L_f = {c['L_f']:g}, L_r = {c['L_r']:g}, "
                     f"L_pi = {c['L_pi']:g}")
            if self.horizon is None:
                lines.append(f"multiplier   m = {self.multiplier:.4g} from {given}")
                lines.append(f"{'':<13}(Eq. (1), infinite horizon; gamma L_f (1 + L_pi) = "
                             f"{c['gamma'] * c['L_f'] * (1 + c['L_pi']):.4g} < 1)")
            else:
                lines.append(f"multiplier   m_H = {self.multiplier:.4g} from {given}")
                lines.append(f"{'':<13}(finite horizon H = {self.horizon}: the bound U_H of "
                             "chapter 1, any L_f)")
        else:
            lines.append(f"multiplier   m = {self.multiplier:.4g}  (given)")
        lines += [f"budget line  {self.cost_dyn:g} N_dyn + {self.cost_rew:g} N_rew = "
                  f"{self.budget:g}", "",
                  "optimal split (Theorem 1: least m eps_dyn + eps_rew on the budget line)",
                  f"  {'':<22}{'optimum':>10}  95% interval"]
        share_ci = self.interval("share_dyn")
        rows = [("N_dyn", a.n_dyn, self.interval("n_dyn"), ",.0f"),
                ("N_rew", a.n_rew, self.interval("n_rew"), ",.0f"),
                ("N_dyn / N_rew", a.ratio, self.interval("ratio"), ".4g"),
                ("budget share dynamics", a.dyn_share, share_ci, ".1%"),
                ("budget share reward", a.rew_share,
                 None if share_ci is None else (1 - share_ci[1], 1 - share_ci[0]), ".1%")]
        for label, value, ci, fmt in rows:
            lines.append(f"  {label:<22}{value:>10{fmt}}  {_ci_text(ci, fmt)}".rstrip())
        lines += [f"  errors at the optimum  eps_dyn = {a.eps_dyn:.4g}, eps_rew = {a.eps_rew:.4g}",
                  f"  objective              m eps_dyn + eps_rew = {a.objective:.4g}"]
        if self.bound is not None and self.horizon is None:
            lines.append(f"  Eq. (1) bound          |J(pi, M) - J(pi, M_hat)| <= {self.bound:.4g}")
        elif self.bound is not None:
            label = f"U_H bound (H = {self.horizon})"
            lines.append(f"  {label:<22} |J_H(pi, M) - J_H(pi, M_hat)| <= {self.bound:.4g}")
        else:
            lines.append("  Eq. (1) bound          needs --gamma --L-f --L-r --L-pi")
        lines.append("")
        valid = self.draws["ratio"].size
        if self.n_boot == 0:
            lines.append("intervals: none (--n-boot 0)")
        else:
            how = {"rows within n": "rows resampled within each n",
                   "residuals": "residuals resampled where an n has a single row"}
            methods = sorted({how.get(m, m) for m in (self.dyn_fit.boot_method,
                                                       self.rew_fit.boot_method)})
            lines += [f"95% intervals: {self.n_boot} joint bootstrap draws of the two fits",
                      f"  ({'; '.join(methods)})",
                      f"  {self.excluded:.1%} of the draws excluded for a non-positive exponent"
                      + ("" if valid >= MIN_VALID_DRAWS
                         else f"; fewer than {MIN_VALID_DRAWS} valid draws are left")]
        for name, out in self.extrapolated().items():
            if out:
                curve = self.dyn if name == "dyn" else self.rew
                lines += [f"note: N_{name} is outside the measured n ({curve.x.min():g} to "
                          f"{curve.x.max():g}) of", f"      {curve.path}: the power law is "
                          "extrapolated there"]
        return "\n".join(lines)

    def figure(self) -> go.Figure:
        """Learning curves with their fits, and the objective along the budget line
        (:func:`imagination.viz.allocation_figure`)."""
        from .viz import allocation_figure

        return allocation_figure(
            self.dyn.x, self.dyn.y, self.rew.x, self.rew.y, self.dyn_fit, self.rew_fit,
            self.allocation, budget=self.budget, cost_dyn=self.cost_dyn,
            cost_rew=self.cost_rew, multiplier=self.multiplier,
            share_interval=self.interval("share_dyn"))


def _law_dict(curve: Curve, fit: PowerLawFit) -> dict[str, Any]:
    ci = fit.exponent_ci
    return {"file": str(curve.path), "rows": int(curve.x.size),
            "sizes": int(curve.levels.size), "coef": fit.coef, "exponent": fit.exponent,
            "exponent_ci": None if math.isnan(ci[0]) else [ci[0], ci[1]], "r2": fit.r2,
            "boot_method": fit.boot_method}


def _law_text(label: str, symbol: str, curve: Curve, fit: PowerLawFit) -> list[str]:
    ci = fit.exponent_ci
    ci_text = "" if math.isnan(ci[0]) else f"  exponent 95% CI [{ci[0]:.4g}, {ci[1]:.4g}]"
    return [f"  {label} model  {curve.path}: {curve.x.size} rows at {curve.levels.size} n, "
            f"{curve.x.min():g} to {curve.x.max():g}",
            f"    {symbol} = {fit.coef:.4g} N^-{fit.exponent:.4g}{ci_text}  R^2 = {fit.r2:.3f}"]


def _ci_text(ci: tuple[float, float] | None, fmt: str) -> str:
    return "" if ci is None else f"[{ci[0]:{fmt}}, {ci[1]:{fmt}}]"


def _multiplier(args: argparse.Namespace) -> tuple[float, BoundMultiplier | None]:
    import imagination as im

    names = {"gamma": "--gamma", "L_f": "--L-f", "L_r": "--L-r", "L_pi": "--L-pi"}
    given = [name for name in names if getattr(args, name) is not None]
    if args.multiplier is not None:
        if args.horizon is not None:
            raise CommandError("--horizon selects the finite-horizon multiplier m_H from the "
                               "constants --gamma --L-f --L-r --L-pi; give either --multiplier "
                               "or --horizon with the constants, not both")
        if given:
            raise CommandError("give either --multiplier or the constants --gamma --L-f --L-r "
                               f"--L-pi, not both (got --multiplier and {names[given[0]]})")
        return args.multiplier, None
    if len(given) < len(names):
        missing = " ".join(names[n] for n in names if n not in given)
        raise CommandError(f"the multiplier of Eq. (4) needs --multiplier, or --gamma --L-f "
                           f"--L-r --L-pi together (missing {missing})")
    constants = {name: float(getattr(args, name)) for name in names}
    if args.horizon is None and constants["gamma"] >= 1:
        raise CommandError(f"argument --gamma: must satisfy 0 <= gamma < 1 without --horizon "
                           f"(Eq. (1) sums an infinite horizon), got {args.gamma:g}")
    try:  # the library checks the contraction condition of Lemma 1 and the float range
        bm = im.bound_multiplier(**constants, horizon=args.horizon)
    except ValueError as exc:
        text = str(exc)
        if "do not contract" in text:
            text = text.replace("a finite horizon H (the length of the imagined rollouts) gives",
                                "give --horizon H (the length of the imagined rollouts) for")
        raise CommandError(f"--gamma --L-f --L-r --L-pi: {text}") from None
    if bm.multiplier <= 0:
        why = ("with gamma = 0 or L_r = 0" if args.horizon is None
               else "with gamma = 0, L_r = 0 or --horizon 1 (no step where a state error can "
                    "act)")
        raise CommandError(f"--gamma --L-f --L-r --L-pi give the multiplier m = "
                           f"{bm.multiplier:g}: {why} dynamics errors do not enter the bound and "
                           "there is nothing to split (Theorem 1 needs m > 0)")
    return bm.multiplier, bm


def _fit(curve: Curve, n_boot: int, rng: np.random.Generator) -> PowerLawFit:
    import imagination as im

    fit = im.fit_power_law(curve.x, curve.y, n_boot=n_boot, rng=rng)
    if fit.exponent <= 0:
        raise CommandError(f"{curve.path}: the fitted exponent is {fit.exponent:.4g} <= 0: the "
                           "error does not fall with n, and Theorem 1 needs a falling power law")
    return fit


def allocate(args: argparse.Namespace) -> AllocateResult:
    """Run ``imagination allocate`` on parsed arguments (see :func:`build_parser`)."""
    from .allocation import allocation_bootstrap, optimal_allocation

    multiplier, bound_form = _multiplier(args)
    columns = (args.n_column, args.error_column)
    dyn = read_curve(args.dyn_curve, columns)
    rew = read_curve(args.rew_curve, columns)
    rng = np.random.default_rng(args.seed)
    dyn_fit, rew_fit = _fit(dyn, args.n_boot, rng), _fit(rew, args.n_boot, rng)
    line = (args.budget, args.cost_dyn, args.cost_rew)
    alloc = optimal_allocation(*line, dyn_fit.law, rew_fit.law, multiplier)
    bound = None if bound_form is None else bound_form.bound(alloc.eps_dyn, alloc.eps_rew)
    draws = allocation_bootstrap(*line, dyn_fit, rew_fit, multiplier)
    constants = (None if bound_form is None else
                 {"gamma": bound_form.gamma, "L_f": bound_form.L_f, "L_r": bound_form.L_r,
                  "L_pi": bound_form.L_pi})
    return AllocateResult(dyn, rew, dyn_fit, rew_fit, multiplier, constants, args.budget,
                          args.cost_dyn, args.cost_rew, alloc, bound, draws, bound_form)


# --------------------------------------------------------------------------- fidelity


@dataclass(frozen=True)
class FidelityResult:
    """What ``imagination fidelity`` computed (see :func:`run`).

    Attributes
    ----------
    curve : Curve
        The noise measurements read (repeated costs averaged in ``costs``/``noise``).
    costs, noise : ndarray
        Distinct measured costs and their mean noise variances.
    noise_variance : MeasuredNoise
        The noise model ``c -> sigma^2(c)`` (PCHIP in log c) on ``[costs[0], costs[-1]]``.
    budget, rollout_cost : float
        ``B`` and ``c0``.
    cost : float
        The best label cost per rollout (:func:`imagination.optimal_label_cost`).
    regime : str
        Shape of ``(c0 + c) sigma^2(c)`` on the measured range.
    """

    curve: Curve
    costs: np.ndarray
    noise: np.ndarray
    noise_variance: MeasuredNoise
    budget: float
    rollout_cost: float
    cost: float
    regime: str

    def objective(self, c: Any) -> np.ndarray:
        """``(c0 + c) sigma^2(c)`` (:func:`imagination.label_cost_objective`)."""
        import imagination as im

        return im.label_cost_objective(c, self.noise_variance, rollout_cost=self.rollout_cost)

    @property
    def n_rollouts(self) -> float:
        """Rollouts the budget buys at the best cost, ``B / (c0 + c*)``."""
        return self.budget / (self.rollout_cost + self.cost)

    def table(self) -> list[dict[str, float]]:
        """The objective along the measured curve, one row per distinct cost."""
        objective = np.asarray(self.objective(self.costs), dtype=float)
        return [{"cost": float(c), "noise_variance": float(s), "n_rollouts":
                 float(self.budget / (self.rollout_cost + c)), "objective": float(o)}
                for c, s, o in zip(self.costs, self.noise, objective, strict=True)]

    def best_measured(self) -> dict[str, float]:
        """The measured cost with the least objective (ties: the cheapest)."""
        table = self.table()
        least = min(row["objective"] for row in table)
        return next(row for row in table if row["objective"] == least)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object printed by ``--json``."""
        best = float(np.asarray(self.objective(self.cost)))
        return {"command": "fidelity", "file": str(self.curve.path), "budget": self.budget,
                "rollout_cost": self.rollout_cost, "cost_range": [float(self.costs[0]),
                                                                   float(self.costs[-1])],
                "regime": self.regime, "cost": self.cost, "n_rollouts": self.n_rollouts,
                "noise_variance": float(np.asarray(self.noise_variance(self.cost))),
                "objective": best, "noise_term": best / self.budget,
                "best_measured": self.best_measured(), "curve": self.table()}

    def text(self) -> str:
        """The text report printed without ``--json``."""
        d = self.to_dict()
        c0, m = self.rollout_cost, d["best_measured"]
        lines = [f"label noise   {self.curve.path}: {self.curve.x.size} rows at "
                 f"{self.costs.size} costs, {self.costs[0]:g} to {self.costs[-1]:g}",
                 f"{'':<14}sigma^2(c) interpolated by PCHIP in log c, no extrapolation",
                 f"budget        B = {self.budget:g} buys K = B / (c0 + c) rollouts; c0 = {c0:g}",
                 f"shape         {self.regime}: (c0 + c) sigma^2(c) at the measured costs is",
                 f"{'':<14}{REGIME_TEXT[self.regime]}", "",
                 f"best cost     c* = {self.cost:.4g} per rollout",
                 f"rollouts      K = B / (c0 + c*) = {self.n_rollouts:,.1f}",
                 f"noise         sigma^2(c*) = {d['noise_variance']:.4g}",
                 f"objective     (c0 + c*) sigma^2(c*) = {d['objective']:.4g}",
                 f"noise term    sigma^2(c*) / K = {d['noise_term']:.4g} "
                 "(times H W_H^2 / (1 - gamma)^2)",
                 f"best measured c = {m['cost']:.4g}: (c0 + c) sigma^2 = {m['objective']:.4g}"
                 + _excess(m["objective"], d["objective"]), "",
                 "objective along the measured curve",
                 f"  {'cost c':>10}  {'sigma^2(c)':>11}  {'rollouts K':>11}  "
                 f"{'(c0+c) sigma^2':>14}"]
        for row in self.table():
            lines.append(f"  {row['cost']:>10.4g}  {row['noise_variance']:>11.4g}  "
                         f"{row['n_rollouts']:>11,.1f}  {row['objective']:>14.4g}")
        return "\n".join(lines)

    def figure(self) -> go.Figure:
        """The interpolated noise curve and the objective along it, best cost marked
        (:func:`imagination.viz.label_cost_figure`)."""
        from .viz import label_cost_figure

        return label_cost_figure(self.noise_variance, self.curve.x, self.curve.y,
                                 rollout_cost=self.rollout_cost, best_cost=self.cost)


def _excess(measured: float, optimum: float) -> str:
    if measured == optimum:
        return " (the optimum)"
    return f", {measured / optimum - 1:.2%} above c*"


def fidelity(args: argparse.Namespace) -> FidelityResult:
    """Run ``imagination fidelity`` on parsed arguments (see :func:`build_parser`)."""
    import imagination as im

    curve = read_curve(args.noise_curve, (args.cost_column, args.noise_column),
                       y_min_exclusive=False, options=("--cost-column", "--noise-column"))
    sigma2 = im.MeasuredNoise.from_measurements(curve.x, curve.y)
    costs, noise = sigma2.costs, sigma2.noise
    c_min, c_max, c0 = float(costs[0]), float(costs[-1]), args.rollout_cost
    cost = float(im.optimal_label_cost(sigma2, c_min, c_max, rollout_cost=c0))
    # The shape is judged at the measured costs: between them the interpolant only guesses,
    # and its small wiggles would turn a measured monotone curve into a spurious hump.
    regime = im.noise_cost_regime(costs, sigma2, rollout_cost=c0)
    return FidelityResult(curve, costs, noise, sigma2, args.budget, c0, cost, regime)


# --------------------------------------------------------------------------- constants


@dataclass(frozen=True)
class ConstantsResult:
    """What ``imagination constants`` computed (see :func:`run`).

    Attributes
    ----------
    weights : Path
        The state_dict file.
    layers : tuple of int
        Layer sizes, input first.
    activation, role : str
        As given; ``role`` picks the option of ``allocate`` (:data:`ROLES`).
    estimate : ModuleLipschitz
        :func:`imagination.module_lipschitz` of the network.
    points : str
        Where the points of the lower estimate came from (a file, or standard normal).
    """

    weights: Path
    layers: tuple[int, ...]
    activation: str
    role: str
    estimate: ModuleLipschitz
    points: str

    @property
    def option(self) -> str:
        """The option of ``imagination allocate`` that takes this constant."""
        return ROLES[self.role]

    @property
    def upper(self) -> float:
        """The certified upper bound for the sum metric (largest over the blocks), rounded up
        to 6 significant digits so that the printed number is still an upper bound."""
        return _round_up(self.estimate.upper_max)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object printed by ``--json``."""
        e = self.estimate
        blocks = e.input_blocks is not None
        return {"command": "constants", "weights": str(self.weights), "layers": list(self.layers),
                "activation": self.activation, "role": self.role, "option": self.option,
                "upper": self.upper, "lower": e.lower_max,
                "upper_blocks": np.asarray(e.upper).tolist() if blocks else None,
                "lower_blocks": np.asarray(e.lower).tolist() if blocks else None,
                "input_blocks": list(e.input_blocks) if blocks else None,
                "residual": e.residual, "points": self.points, "n_points": e.n_points,
                "layer_factors": list(e.layers)}

    def text(self) -> str:
        """The text report printed without ``--json``."""
        e = self.estimate
        lines = [f"network      {self.weights}: "
                 + ", ".join(f"Linear({a}, {b})" for a, b in itertools.pairwise(self.layers))
                 + f" with {self.activation} between" + (", residual s + net(s, a)"
                                                         if e.residual else ""),
                 f"factors      {'; '.join(e.layers)}"]
        if e.input_blocks is not None:
            lines.append(f"blocks       {', '.join(map(str, e.input_blocks))} (sum metric of "
                         "Lemma 1: the constant is the largest block's)")
            for b, (u, lo) in enumerate(zip(np.asarray(e.upper), np.asarray(e.lower),
                                            strict=True)):
                lines.append(f"  block {b} ({e.input_blocks[b]} inputs)  upper "
                             f"{_round_up(float(u)):.6g}  lower {lo:.6g}")
        lines += [f"lower        {e.lower_max:.6g}  (largest Jacobian norm over {e.n_points} "
                  f"points: {self.points})",
                  f"upper        {self.upper:.6g}  (certified: layer norms by exact SVD times the "
                  "activation's constant)", "",
                  f"for imagination allocate:  {self.option} {self.upper:.6g}   "
                  f"(lower estimate {e.lower_max:.6g})"]
        return "\n".join(lines)


def _load_failure(exc: Exception) -> str:
    """What the safe loader refused, in a few words (torch's own message suggests loading the
    file unsafely, which this command never does)."""
    found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(exc))
    if isinstance(exc, pickle.UnpicklingError) and found:
        return (f"it holds a pickled {found.group(1)}, not only tensors and plain containers: "
                "e.g. a whole model saved with torch.save(model, FILE)")
    first = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip().splitlines()
    detail = " ".join(first[0].split())[:120] if first else ""
    return f"not a file saved by torch.save: {type(exc).__name__}" + (f": {detail}"
                                                                      if detail else "")


def _round_up(value: float, digits: int = 6) -> float:
    """``value`` rounded up to ``digits`` significant digits (so a bound stays a bound)."""
    if value <= 0 or not math.isfinite(value):
        return float(value)
    scale = 10.0 ** (digits - 1 - math.floor(math.log10(value)))
    rounded = math.ceil(value * scale * (1 - 1e-15)) / scale
    return float(rounded if rounded >= value else math.nextafter(rounded, math.inf))


def constants(args: argparse.Namespace) -> ConstantsResult:
    """Run ``imagination constants`` on parsed arguments (see :func:`build_parser`)."""
    try:
        import torch

        from .lipschitz import module_lipschitz, sequential_from_state_dict
    except ModuleNotFoundError as exc:
        if exc.name != "torch":
            raise
        raise CommandError("needs torch, which is not installed: pip install torch (the CPU "
                           "build: pip install torch --index-url "
                           "https://download.pytorch.org/whl/cpu)") from None
    if len(args.layers) < 2:
        raise CommandError(f"argument --layers: give at least an input and an output size, e.g. "
                           f"16,64,12; got {','.join(map(str, args.layers))}")
    path = args.weights
    if not path.is_file():
        raise CommandError(f"cannot read {path}: no such file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any failure of the safe loader means: refused
        raise CommandError(f"{path} is not a weights file: torch.load(..., weights_only=True) "
                           f"refused it ({_load_failure(exc)}), and nothing in it was run; save "
                           "plain weights with torch.save(model.state_dict(), FILE)") from None
    try:
        net = sequential_from_state_dict(state, args.layers, args.activation)
    except ValueError as exc:
        raise CommandError(f"{path}: {exc}") from None
    d_in = args.layers[0]
    if args.points is not None:
        x = read_points(args.points, d_in)
        source = str(args.points)
    else:
        x = np.random.default_rng(0).standard_normal((DEFAULT_POINTS, d_in))
        source = "standard normal, seed 0; give --points for your data"
    try:
        estimate = module_lipschitz(net, x, input_blocks=args.input_blocks,
                                    residual=args.residual)
    except ValueError as exc:
        option = "--residual" if "residual" in str(exc) else "--input-blocks"
        raise CommandError(f"{option}: {exc}") from None
    return ConstantsResult(path, tuple(args.layers), args.activation, args.role, estimate,
                           source)


# --------------------------------------------------------------------------- entry points


def run(argv: Sequence[str]) -> AllocateResult | FidelityResult | ConstantsResult:
    """Parse ``argv`` and compute the command's result without printing or plotting.

    Raises
    ------
    CommandError
        For bad input (the message is the one line :func:`main` prints), or when no command
        is given.
    """
    args = build_parser().parse_args([str(a) for a in argv])
    return _compute(args)


def _compute(args: argparse.Namespace) -> AllocateResult | FidelityResult | ConstantsResult:
    if args.command is None:
        raise CommandError("no command given; use 'imagination allocate', 'imagination "
                           "fidelity' or 'imagination constants' (see 'imagination --help')")
    command = {"allocate": allocate, "fidelity": fidelity, "constants": constants}[args.command]
    try:
        return command(args)
    except CommandError:
        raise
    except ValueError as exc:  # the library's own validation, e.g. an extreme fitted law
        raise CommandError(str(exc)) from None


def write_plot(fig: go.Figure, path: str | Path) -> None:
    """Write ``fig`` as a self-contained HTML page (plotly.js inlined: works offline)."""
    import html

    import plotly.io as pio

    meta = fig.layout.meta["imagination"] if fig.layout.meta else {}
    div = pio.to_html(fig, include_plotlyjs=True, full_html=False,
                      config={"displaylogo": False, "responsive": True})
    title = html.escape(fig.layout.title.text or "imagination")
    page = (f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{title}</title></head>"
            "<body style='font-family: sans-serif; max-width: 1100px; margin: auto'>\n"
            f"{div}\n<p>{html.escape(meta.get('caption', ''))}</p>\n</body></html>\n")
    try:
        Path(path).write_text(page, encoding="utf-8")
    except OSError as exc:
        raise CommandError(f"--plot: cannot write {path}: {exc.strerror or exc}") from None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0, or 2 for bad input).

    Parameters
    ----------
    argv
        The arguments after ``imagination`` (``sys.argv[1:]`` when ``None``).
    """
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    command = next((a for a in argv if not a.startswith("-")), None)
    prog = (f"imagination {command}" if command in ("allocate", "fidelity", "constants")
            else "imagination")
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help(sys.stdout)
            return 0
        result = _compute(args)
        if getattr(args, "plot", None) is not None:
            try:
                fig = result.figure()
            except ImportError as exc:
                raise CommandError("--plot needs plotly: pip install "
                                   "'imagination-book[viz]'") from exc
            write_plot(fig, args.plot)
    except CommandError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    for warning in result.warnings() if isinstance(result, AllocateResult) else []:
        print(f"{prog}: warning: {warning}", file=sys.stderr)
    text = json.dumps(result.to_dict(), indent=2) if args.json else result.text()
    if getattr(args, "plot", None) is not None and not args.json:
        text += f"\nfigure written to {args.plot}"
    try:
        print(text)
    except BrokenPipeError:  # e.g. piped into `head`: not an error of the input
        # Python's documented recipe: point stdout at devnull so the exit flush is quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
