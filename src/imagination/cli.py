r"""The ``imagination`` command line: the paper's answers for your own measurements.

Two subcommands, each a thin layer over the library (nothing is re-implemented here):

``imagination allocate``
    fits the power laws of Eq. (3) to measured learning curves of a dynamics model and a reward
    model (:func:`imagination.fit_power_law`), solves Theorem 1 on the budget line
    :math:`c_{\rm dyn}N_{\rm dyn}+c_{\rm rew}N_{\rm rew}=B` (:func:`imagination.optimal_allocation`)
    and reports the split with a 95% interval taken from the joint bootstrap draws of both fits
    (:func:`imagination.allocation_bootstrap`), plus the bound of Eq. (1) when the discount and
    the Lipschitz constants are given.
``imagination fidelity``
    interpolates measured reward-label noise :math:`\sigma^2(c)` against the label cost per rollout
    (:class:`imagination.MeasuredNoise`, PCHIP in :math:`\log c`), classifies the shape of the
    noise term of Corollary 2, :math:`(c_0+c)\,\sigma^2(c)`, at the measured costs
    (:func:`imagination.noise_cost_regime`) and minimises it on the interpolated curve
    (:func:`imagination.optimal_label_cost`).

Input files are CSV with a header line (``n,error`` or ``cost,noise_variance``); blank lines and
lines starting with ``#`` are ignored. Bad input (a missing or malformed file, a non-positive
budget, a failing contraction condition, ...) ends with exit status 2 and one line on stderr that
says what is wrong and where: the file and line, or the option.

Every command is also callable in-process: :func:`main` takes the argument list and returns the
exit status, :func:`run` returns the result object (:class:`AllocateResult` or
:class:`FidelityResult`) with its text, JSON and figure (from :mod:`imagination.viz`). The module
only parses, calls the library and reports.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
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
    from .fidelity import MeasuredNoise
    from .scaling import PowerLawFit

__all__ = [
    "AllocateResult",
    "CommandError",
    "Curve",
    "FidelityResult",
    "build_parser",
    "main",
    "read_curve",
    "run",
]

DYN_COLUMNS = ("n", "error")
NOISE_COLUMNS = ("cost", "noise_variance")
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
    value = _number(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must satisfy 0 <= gamma < 1, got {text}")
    return value


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

Input files: CSV with the header line 'n,error' and one row per measurement: n = training samples
(> 0), error = the model's held-out error (> 0, any metric, the same for every row), several rows
per n (one per seed). Blank lines and lines starting with '#' are ignored."""

ALLOCATE_EPILOG = """\
example:
  imagination allocate --dyn-curve book/data/dyn_curve.csv --rew-curve book/data/rew_curve.csv \\
      --cost-dyn 1 --cost-rew 10 --budget 2.5e5 --gamma 0.9 --L-f 0.5 --L-r 1 --L-pi 0.2

The 95% intervals come from the joint bootstrap draws (coef, exponent) of both fits (rows resampled
within each n); draws with a non-positive exponent have no optimum and are excluded (their share is
printed). Exit status 2 on bad input, with one line on stderr naming the file and line or option."""

FIDELITY_HELP = """\
Corollary 2 of the paper on your own label-noise measurements: a budget B buys K = B / (c0 + c)
rollouts whose reward labels cost c each (c0 = the cost of the rollout itself), and the noise term
of Theorem 2 is proportional to sigma^2(c) / K = (c0 + c) sigma^2(c) / B. This command interpolates
your measured sigma^2(c) (PCHIP in log c, which keeps its monotone stretches monotone), classifies
the shape of (c0 + c) sigma^2(c) at the measured costs and finds the best label cost on the
interpolated curve between the cheapest and the dearest measured cost.

Input file: CSV with the header line 'cost,noise_variance' and one row per measurement:
cost = label cost per rollout (> 0, your budget unit), noise_variance = variance of the
reward-label noise at that cost (>= 0; 0 means clean labels). Rows with the same cost are
averaged. Blank lines and lines starting with '#' are ignored."""

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
                       help="CSV 'n,error': held-out error of the dynamics model (e.g. state "
                       "prediction error) against its number of training transitions")
    files.add_argument("--rew-curve", required=True, metavar="FILE", type=Path,
                       help="CSV 'n,error': held-out error of the reward model (in reward units) "
                       "against its number of reward-labelled training samples")
    budget = alloc.add_argument_group("budget (one unit of your choice: dollars, GPU-hours, ...)")
    budget.add_argument("--cost-dyn", required=True, type=_positive, metavar="C",
                        help="cost of one dynamics sample (a transition), > 0")
    budget.add_argument("--cost-rew", required=True, type=_positive, metavar="C",
                        help="cost of one reward-labelled sample, > 0")
    budget.add_argument("--budget", required=True, type=_positive, metavar="B",
                        help="total budget B = c_dyn N_dyn + c_rew N_rew, > 0")
    mult = alloc.add_argument_group(
        "the multiplier m of Eq. (4): give --multiplier, or all four constants")
    mult.add_argument("--multiplier", type=_positive, metavar="M",
                      help="m > 0, dimensionless: the weight of eps_dyn against eps_rew in the "
                      "bound (e.g. from realised sensitivities S_f / S_r, chapter 4)")
    mult.add_argument("--gamma", type=_discount, metavar="G",
                      help="discount factor, 0 <= gamma < 1")
    mult.add_argument("--L-f", dest="L_f", type=_nonnegative, metavar="X",
                      help="Lipschitz constant of the dynamics f(s, a), >= 0: state distance per "
                      "unit of ||ds|| + ||da|| (sum metric)")
    mult.add_argument("--L-r", dest="L_r", type=_nonnegative, metavar="X",
                      help="Lipschitz constant of the reward r(s, a), >= 0: reward units per unit "
                      "of ||ds|| + ||da||")
    mult.add_argument("--L-pi", dest="L_pi", type=_nonnegative, metavar="X",
                      help="Lipschitz constant of the policy, >= 0: action distance per unit of "
                      "state distance. Needs gamma L_f (1 + L_pi) < 1 (Lemma 1)")
    _add_common(alloc, bootstrap=True)

    fid = commands.add_parser(
        "fidelity", help="choose the reward-label cost per rollout (Corollary 2)",
        description=FIDELITY_HELP, epilog=FIDELITY_EPILOG, formatter_class=_Formatter)
    fid.add_argument("--noise-curve", required=True, metavar="FILE", type=Path,
                     help="CSV 'cost,noise_variance': measured label-noise variance (reward "
                     "units squared, >= 0) against the label cost per rollout (> 0)")
    fid.add_argument("--budget", required=True, type=_positive, metavar="B",
                     help="total budget for rollouts and their labels, > 0, in the unit of "
                     "the costs")
    fid.add_argument("--rollout-cost", type=_nonnegative, default=0.0, metavar="C0",
                     help="fixed cost c0 of one rollout besides its labels, >= 0, in the unit "
                     "of the costs (default 0: the paper's Phi(c) = c sigma^2(c))")
    _add_common(fid, bootstrap=False)
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
    """Measurements read from a CSV file by :func:`read_curve`.

    Attributes
    ----------
    path : Path
        The file.
    columns : tuple of str
        The column names of its header, e.g. ``("n", "error")``.
    x, y : ndarray
        The two columns, one entry per data row.
    lines : ndarray
        The line number of each data row in the file (for messages).
    """

    path: Path
    columns: tuple[str, str]
    x: np.ndarray
    y: np.ndarray
    lines: np.ndarray

    @property
    def levels(self) -> np.ndarray:
        """The distinct values of the first column, sorted."""
        return np.unique(self.x)


def read_curve(path: str | Path, columns: tuple[str, str], *,
               y_min_exclusive: bool = True) -> Curve:
    """Read a two-column CSV of measurements, checking every line.

    Parameters
    ----------
    path
        The file. Blank lines and lines starting with ``#`` are skipped; the first other line
        must be the header ``columns[0],columns[1]`` (case and spaces ignored).
    columns
        The expected column names, e.g. ``("n", "error")``.
    y_min_exclusive
        ``True``: the second column must be > 0 (errors, fitted in log space); ``False``: >= 0
        (variances). The first column must always be > 0.

    Returns
    -------
    Curve

    Raises
    ------
    CommandError
        With a one-line message naming the file and, where there is one, the line: for a missing
        or unreadable file, an empty one, a wrong header, a row without exactly two values, a
        value that is not a finite number or out of range, no data rows, or fewer than two
        distinct values in the first column.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise CommandError(f"{path}: not a UTF-8 text file (expected CSV with header "
                           f"'{','.join(columns)}')") from None
    rows = [(k, line) for k, line in enumerate(text.splitlines(), 1)
            if line.strip() and not line.lstrip().startswith("#")]
    header_text = ",".join(columns)
    if not rows:
        raise CommandError(f"{path}: the file is empty; expected the header '{header_text}' "
                           "and one row per measurement")
    (head_line, head), data = rows[0], rows[1:]
    names = [f.strip().lower() for f in next(csv.reader([head]))]
    if names != list(columns):
        raise CommandError(f"{path}, line {head_line}: the header is {head.strip()!r}; expected "
                           f"'{header_text}'")
    if not data:
        raise CommandError(f"{path}: no data rows after the header on line {head_line}")
    values = np.empty((len(data), 2))
    for i, (k, line) in enumerate(data):
        fields = [f.strip() for f in next(csv.reader([line]))]
        if len(fields) != 2:
            raise CommandError(f"{path}, line {k}: expected 2 values ({header_text}), got "
                               f"{len(fields)}: {line.strip()!r}")
        for j, (name, field) in enumerate(zip(columns, fields, strict=True)):
            values[i, j] = _cell(path, k, name, field,
                                 strict=(j == 0 or y_min_exclusive))
    x, y = values.T
    lines = np.array([k for k, _ in data])
    if np.unique(x).size < 2:
        raise CommandError(f"{path}: every row has {columns[0]} = {x[0]:g}; need at least two "
                           f"distinct {columns[0]} to fit a curve")
    return Curve(path, columns, x, y, lines)


def _cell(path: Path, line: int, name: str, field: str, *, strict: bool) -> float:
    try:
        value = float(field)
    except ValueError:
        raise CommandError(f"{path}, line {line}: {name} = {field!r} is not a number") from None
    if not math.isfinite(value):
        raise CommandError(f"{path}, line {line}: {name} = {field!r} is not a finite number")
    if strict and value <= 0:
        why = " (the power law is fitted to its logarithm)" if name == "error" else ""
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
        }

    def text(self) -> str:
        """The text report printed without ``--json``."""
        a = self.allocation
        lines = ["power laws of Eq. (3), fitted by least squares in log-log",
                 *_law_text("dynamics", "eps_dyn", self.dyn, self.dyn_fit),
                 *_law_text("reward", "eps_rew", self.rew, self.rew_fit), ""]
        if self.constants:
            c = self.constants
            lines.append(f"multiplier   m = {self.multiplier:.4g} from gamma = {c['gamma']:g}, "
                         f"L_f = {c['L_f']:g}, L_r = {c['L_r']:g}, L_pi = {c['L_pi']:g}")
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
        if self.bound is not None:
            lines.append(f"  Eq. (1) bound          |J(pi, M) - J(pi, M_hat)| <= {self.bound:.4g}")
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


def _multiplier(args: argparse.Namespace) -> tuple[float, dict[str, float] | None]:
    import imagination as im

    names = {"gamma": "--gamma", "L_f": "--L-f", "L_r": "--L-r", "L_pi": "--L-pi"}
    given = [name for name in names if getattr(args, name) is not None]
    if args.multiplier is not None:
        if given:
            raise CommandError("give either --multiplier or the constants --gamma --L-f --L-r "
                               f"--L-pi, not both (got --multiplier and {names[given[0]]})")
        return args.multiplier, None
    if len(given) < len(names):
        missing = " ".join(names[n] for n in names if n not in given)
        raise CommandError(f"the multiplier of Eq. (4) needs --multiplier, or --gamma --L-f "
                           f"--L-r --L-pi together (missing {missing})")
    constants = {name: float(getattr(args, name)) for name in names}
    try:  # the library checks the contraction condition of Lemma 1
        m = float(im.dynamics_multiplier(**constants))
    except ValueError as exc:
        raise CommandError(f"--gamma --L-f --L-r --L-pi: {exc}") from None
    if m <= 0:
        raise CommandError(f"--gamma --L-f --L-r --L-pi give the multiplier m = {m:g}: with "
                           "gamma = 0 or L_r = 0 dynamics errors do not enter Eq. (1) and there "
                           "is nothing to split (Theorem 1 needs m > 0)")
    return m, constants


def _fit(curve: Curve, n_boot: int, rng: np.random.Generator) -> PowerLawFit:
    import imagination as im

    fit = im.fit_power_law(curve.x, curve.y, n_boot=n_boot, rng=rng)
    if fit.exponent <= 0:
        raise CommandError(f"{curve.path}: the fitted exponent is {fit.exponent:.4g} <= 0: the "
                           "error does not fall with n, and Theorem 1 needs a falling power law")
    return fit


def allocate(args: argparse.Namespace) -> AllocateResult:
    """Run ``imagination allocate`` on parsed arguments (see :func:`build_parser`)."""
    import imagination as im

    from .allocation import allocation_bootstrap, optimal_allocation

    multiplier, constants = _multiplier(args)
    dyn = read_curve(args.dyn_curve, DYN_COLUMNS)
    rew = read_curve(args.rew_curve, DYN_COLUMNS)
    rng = np.random.default_rng(args.seed)
    dyn_fit, rew_fit = _fit(dyn, args.n_boot, rng), _fit(rew, args.n_boot, rng)
    line = (args.budget, args.cost_dyn, args.cost_rew)
    alloc = optimal_allocation(*line, dyn_fit.law, rew_fit.law, multiplier)
    bound = (None if constants is None
             else float(im.return_error_bound(alloc.eps_dyn, alloc.eps_rew, **constants)))
    draws = allocation_bootstrap(*line, dyn_fit, rew_fit, multiplier)
    return AllocateResult(dyn, rew, dyn_fit, rew_fit, multiplier, constants, args.budget,
                          args.cost_dyn, args.cost_rew, alloc, bound, draws)


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

    curve = read_curve(args.noise_curve, NOISE_COLUMNS, y_min_exclusive=False)
    sigma2 = im.MeasuredNoise.from_measurements(curve.x, curve.y)
    costs, noise = sigma2.costs, sigma2.noise
    c_min, c_max, c0 = float(costs[0]), float(costs[-1]), args.rollout_cost
    cost = float(im.optimal_label_cost(sigma2, c_min, c_max, rollout_cost=c0))
    # The shape is judged at the measured costs: between them the interpolant only guesses,
    # and its small wiggles would turn a measured monotone curve into a spurious hump.
    regime = im.noise_cost_regime(costs, sigma2, rollout_cost=c0)
    return FidelityResult(curve, costs, noise, sigma2, args.budget, c0, cost, regime)


# --------------------------------------------------------------------------- entry points


def run(argv: Sequence[str]) -> AllocateResult | FidelityResult:
    """Parse ``argv`` and compute the command's result without printing or plotting.

    Raises
    ------
    CommandError
        For bad input (the message is the one line :func:`main` prints), or when no command
        is given.
    """
    args = build_parser().parse_args([str(a) for a in argv])
    return _compute(args)


def _compute(args: argparse.Namespace) -> AllocateResult | FidelityResult:
    if args.command is None:
        raise CommandError("no command given; use 'imagination allocate' or 'imagination "
                           "fidelity' (see 'imagination --help')")
    try:
        return allocate(args) if args.command == "allocate" else fidelity(args)
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
    prog = f"imagination {command}" if command in ("allocate", "fidelity") else "imagination"
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help(sys.stdout)
            return 0
        result = _compute(args)
        if args.plot is not None:
            try:
                fig = result.figure()
            except ImportError as exc:
                raise CommandError("--plot needs plotly: pip install "
                                   "'imagination-book[viz]'") from exc
            write_plot(fig, args.plot)
    except CommandError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    text = json.dumps(result.to_dict(), indent=2) if args.json else result.text()
    if args.plot is not None and not args.json:
        text += f"\nfigure written to {args.plot}"
    try:
        print(text)
    except BrokenPipeError:  # e.g. piped into `head`: not an error of the input
        # Python's documented recipe: point stdout at devnull so the exit flush is quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
