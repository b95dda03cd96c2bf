"""The `imagination` command line: round trips through the library and every kind of bad input."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import imagination as im
from imagination.allocation import optimal_allocation
from imagination.cli import main, run

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "book" / "data"
SIZES = np.array([2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5])
TRUE_DYN = im.PowerLaw(0.34, 0.11)  # the paper's fitted laws (Figure 1) as ground truth
TRUE_REW = im.PowerLaw(90.4, 0.96)
GAMMA, L_F, L_R, L_PI = 0.9, 0.5, 1.0, 0.2
LINE = ["--cost-dyn", "1", "--cost-rew", "10", "--budget", "2.5e5"]
CONSTANTS = ["--gamma", str(GAMMA), "--L-f", str(L_F), "--L-r", str(L_R), "--L-pi", str(L_PI)]


# --------------------------------------------------------------------------- helpers


def write_csv(path: Path, header: str, rows, comment: str | None = None) -> Path:
    lines = ([f"# {comment}"] if comment else []) + [header]
    lines += [",".join(f"{v:.17g}" for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def law_rows(law: im.PowerLaw, sigma: float, seeds: int, rng: np.random.Generator):
    """Rows (n, err) of the law with i.i.d. log-normal noise of log-sd sigma, `seeds` per n."""
    n = np.repeat(SIZES, seeds)
    return np.column_stack([n, law(n) * np.exp(sigma * rng.standard_normal(n.size))])


def curves(tmp_path: Path, rng: np.random.Generator, seeds: int = 8, dyn=TRUE_DYN,
           sigma_dyn: float = 0.04) -> list[str]:
    dyn_file = write_csv(tmp_path / "dyn.csv", "n,error", law_rows(dyn, sigma_dyn, seeds, rng))
    rew_file = write_csv(tmp_path / "rew.csv", "n,error", law_rows(TRUE_REW, 0.08, seeds, rng))
    return ["--dyn-curve", str(dyn_file), "--rew-curve", str(rew_file)]


def cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def cli_json(capsys, *argv) -> dict:
    # exit status 0; stderr empty but for warnings (tested on their own)
    code, out, err = cli(capsys, *argv, "--json")
    assert code == 0 and all(" warning: " in line for line in err.splitlines()), err
    return json.loads(out)


def assert_bad_input(capsys, argv, *fragments: str) -> str:
    """Exit status 2, nothing on stdout, exactly one line on stderr containing the fragments."""
    code, out, err = cli(capsys, *argv)
    assert code == 2, (code, out, err)
    assert out == ""
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert err.startswith("imagination") and "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    return err


def multiplier() -> float:
    return im.dynamics_multiplier(GAMMA, L_F, L_R, L_PI)


# --------------------------------------------------------------------------- help


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "allocate" in out and "fidelity" in out and "constants" in out


@pytest.mark.parametrize(("command", "options"), [
    ("allocate", ["--dyn-curve", "--rew-curve", "--cost-dyn", "--cost-rew", "--budget",
                  "--multiplier", "--gamma", "--L-f", "--L-r", "--L-pi", "--horizon", "--n-boot",
                  "--seed", "--json", "--plot", "--n-column", "--error-column"]),
    ("fidelity", ["--noise-curve", "--budget", "--rollout-cost", "--json", "--plot",
                  "--cost-column", "--noise-column"]),
])
def test_subcommand_help_explains_every_option_with_units(capsys, command, options):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for option in options:
        assert option in out, option
    assert "> 0" in out and ">= 0" in out and "unit" in out
    assert ("0 <= gamma < 1" in out) == (command == "allocate")
    assert ("n,error" if command == "allocate" else "cost,noise_variance") in out


def test_no_command_prints_help(capsys):
    code, out, _ = cli(capsys)
    assert code == 0 and "allocate" in out


# --------------------------------------------------------------------------- allocate


def test_allocate_reports_the_library_optimum_on_the_fitted_laws(tmp_path, capsys):
    files = curves(tmp_path, np.random.default_rng(3))
    res = cli_json(capsys, "allocate", *files, *LINE, *CONSTANTS, "--n-boot", "200")
    for key in ("dyn_law", "rew_law", "n_dyn", "n_rew", "ratio", "budget_share_dyn",
                "objective", "split_ci", "bound"):
        assert key in res, key
    for key in ("coef", "exponent", "exponent_ci"):
        assert key in res["dyn_law"] and key in res["rew_law"], key
    dyn = im.PowerLaw(res["dyn_law"]["coef"], res["dyn_law"]["exponent"])
    rew = im.PowerLaw(res["rew_law"]["coef"], res["rew_law"]["exponent"])
    a = optimal_allocation(2.5e5, 1.0, 10.0, dyn, rew, multiplier())
    assert (res["n_dyn"], res["n_rew"], res["ratio"]) == (a.n_dyn, a.n_rew, a.ratio)
    assert res["objective"] == a.objective
    assert res["budget_share_dyn"] == pytest.approx(1.0 * a.n_dyn / 2.5e5, rel=1e-12)
    assert res["multiplier"] == pytest.approx(multiplier(), rel=1e-15)
    assert res["bound"] == pytest.approx(
        im.return_error_bound(a.eps_dyn, a.eps_rew, GAMMA, L_F, L_R, L_PI), rel=1e-12)
    # the text report shows the same numbers
    code, out, _ = cli(capsys, "allocate", *files, *LINE, *CONSTANTS, "--n-boot", "200")
    assert code == 0
    for text in (f"{a.n_dyn:,.0f}", f"{a.n_rew:,.0f}", f"{a.ratio:.4g}", f"{a.objective:.4g}",
                 f"{res['bound']:.4g}", f"{dyn.exponent:.4g}", "excluded"):
        assert text in out, text


def test_allocate_without_constants_has_no_bound(tmp_path, capsys):
    files = curves(tmp_path, np.random.default_rng(4))
    res = cli_json(capsys, "allocate", *files, *LINE, "--multiplier", "2.5", "--n-boot", "0")
    assert res["bound"] is None and res["split_ci"] is None and res["multiplier"] == 2.5
    assert res["dyn_law"]["exponent_ci"] is None


def test_allocate_interval_comes_from_the_joint_bootstrap_draws(tmp_path, capsys):
    # The interval must be the percentiles of Theorem 1's split over the paired draws
    # (coef, exponent) of both fits, made in the documented order from one seeded generator.
    rng = np.random.default_rng(5)
    files = curves(tmp_path, rng, seeds=4)
    res = cli_json(capsys, "allocate", *files, *LINE, *CONSTANTS, "--n-boot", "300",
                   "--seed", "7")
    draws = np.random.default_rng(7)
    fits = [im.fit_power_law(*np.loadtxt(f, delimiter=",", skiprows=1).T, n_boot=300,
                             rng=draws) for f in (files[1], files[3])]
    ok = (fits[0].boot[:, 1] > 0) & (fits[1].boot[:, 1] > 0)
    splits = [optimal_allocation(2.5e5, 1.0, 10.0, im.PowerLaw(*d), im.PowerLaw(*r),
                                 multiplier())
              for d, r in zip(fits[0].boot[ok], fits[1].boot[ok], strict=True)]
    for key, field in (("split_ci", "ratio"), ("n_dyn_ci", "n_dyn"), ("n_rew_ci", "n_rew"),
                       ("budget_share_dyn_ci", "dyn_share")):
        expected = np.percentile([getattr(s, field) for s in splits], [2.5, 97.5])
        np.testing.assert_allclose(res[key], expected, rtol=1e-12)


def test_allocate_round_trip_covers_the_true_split(tmp_path, capsys):
    # 100 data sets drawn from known laws; the reported 95% interval must contain the split
    # that optimal_allocation gives on the TRUE laws. The within-n bootstrap (deviations
    # rescaled by sqrt(k/(k-1))) covers about 94% with k = 10 seeds per n and a little less with
    # k = 8 (test_allocation.py measures it); the binomial SD over 100 sets is 0.025, and 4 SD
    # below 0.93 is 0.83. The fitted exponents must also lie within 5 OLS standard errors of the
    # truth.
    truth = optimal_allocation(2.5e5, 1.0, 10.0, TRUE_DYN, TRUE_REW, multiplier())
    rng = np.random.default_rng(2026)
    x = np.log(np.repeat(SIZES, 8))
    sxx = np.sum((x - x.mean()) ** 2)
    hits = {"split_ci": 0, "n_dyn_ci": 0, "n_rew_ci": 0}
    for rep in range(100):
        files = curves(tmp_path, rng)
        res = cli_json(capsys, "allocate", *files, *LINE, *CONSTANTS, "--n-boot", "200",
                       "--seed", str(rep))
        assert abs(res["dyn_law"]["exponent"] - 0.11) < 5 * 0.04 / np.sqrt(sxx)
        assert abs(res["rew_law"]["exponent"] - 0.96) < 5 * 0.08 / np.sqrt(sxx)
        for key, value in (("split_ci", truth.ratio), ("n_dyn_ci", truth.n_dyn),
                           ("n_rew_ci", truth.n_rew)):
            lo, hi = res[key]
            hits[key] += lo <= value <= hi
    for key, count in hits.items():
        assert count >= 83, (key, count)


def test_allocate_excludes_and_reports_draws_with_non_positive_exponent(tmp_path, capsys):
    # A nearly flat, noisy dynamics curve: some bootstrap exponents fall to <= 0.
    files = curves(tmp_path, np.random.default_rng(11), seeds=3, dyn=im.PowerLaw(0.3, 0.02),
                   sigma_dyn=0.3)
    argv = ["allocate", *files, *LINE, "--multiplier", "2", "--n-boot", "400"]
    res = cli_json(capsys, *argv)
    fits = [im.fit_power_law(*np.loadtxt(f, delimiter=",", skiprows=1).T, n_boot=400,
                             rng=np.random.default_rng(0)) for f in (files[1], files[3])]
    expected = 1 - np.mean((fits[0].boot[:, 1] > 0) & (fits[1].boot[:, 1] > 0))
    assert res["dyn_law"]["exponent"] > 0
    assert 0 < res["bootstrap"]["excluded_fraction"] == pytest.approx(expected, abs=1e-15)
    assert res["bootstrap"]["valid"] == round(400 * (1 - expected))
    _, out, _ = cli(capsys, *argv)
    assert f"{expected:.1%} of the draws excluded for a non-positive exponent" in out


def test_allocate_notes_extrapolation(tmp_path, capsys):
    files = curves(tmp_path, np.random.default_rng(6))
    code, out, _ = cli(capsys, "allocate", *files, "--cost-dyn", "1", "--cost-rew", "10",
                       "--budget", "2.5e7", "--multiplier", "3", "--n-boot", "0")
    assert code == 0 and "N_dyn is outside the measured n" in out
    res = cli_json(capsys, "allocate", *files, *LINE, *CONSTANTS, "--n-boot", "0")
    assert res["extrapolated"] == {"dyn": False, "rew": False}


def test_shipped_learning_curves_recover_their_documented_laws(capsys):
    # The example files say they were drawn from eps = 0.34 N^-0.11 and 90.4 N^-0.96.
    res = cli_json(capsys, "allocate", "--dyn-curve", DATA / "dyn_curve.csv",
                   "--rew-curve", DATA / "rew_curve.csv", *LINE, *CONSTANTS)
    for key, law in (("dyn_law", TRUE_DYN), ("rew_law", TRUE_REW)):
        lo, hi = res[key]["exponent_ci"]
        assert lo <= law.exponent <= hi, key
        assert res[key]["rows"] == 70 and res[key]["sizes"] == 7


def test_allocate_plot_writes_a_self_contained_html_figure(tmp_path, capsys):
    pytest.importorskip("plotly")
    files = curves(tmp_path, np.random.default_rng(8))
    target = tmp_path / "split.html"
    code, out, _ = cli(capsys, "allocate", *files, *LINE, "--multiplier", "2", "--n-boot",
                       "100", "--plot", target)
    assert code == 0 and f"figure written to {target}" in out
    page = target.read_text()
    assert "Plotly.newPlot" in page and "<script src=" not in page  # plotly.js is inlined
    assert "the optimal split" in page
    fig = run(["allocate", *files, *LINE, "--multiplier", "2", "--n-boot", "100"]).figure()
    assert len(fig.data) == 8 and fig.layout.shapes  # 2 x (data, fit, optimum) + objective


# --------------------------------------------------------------------------- fidelity


def noise_file(tmp_path: Path, sigma2, costs, name: str = "noise.csv") -> str:
    costs = np.asarray(costs, dtype=float)
    return str(write_csv(tmp_path / name, "cost,noise_variance",
                         np.column_stack([costs, sigma2(costs)])))


def test_fidelity_round_trip_noise_floor_with_rollout_cost(tmp_path, capsys):
    # Regime (c) with c0 > 0: (c0 + c)(f + A/c) has its minimum at c* = sqrt(c0 A / f).
    floor, coef, c0 = 0.2, 0.5, 0.5
    true_sigma2 = im.NoiseFloor(floor, coef)
    path = noise_file(tmp_path, true_sigma2, np.geomspace(0.05, 5, 25))
    res = cli_json(capsys, "fidelity", "--noise-curve", path, "--budget", "1000",
                   "--rollout-cost", str(c0))
    c_star = np.sqrt(c0 * coef / floor)
    assert res["regime"] == "interior"
    # The CLI minimises the PCHIP interpolant; with eps its largest relative error against
    # the true sigma^2 on the range, Psi_true(c_cli) <= Psi_true(c*) (1 + eps) / (1 - eps).
    interp = run(["fidelity", "--noise-curve", path, "--budget", "1000"]).noise_variance
    grid = im.label_cost_grid(0.05, 5)
    eps = float(np.max(np.abs(interp(grid) / true_sigma2(grid) - 1)))
    assert 0 < eps < 0.01

    def psi(c):
        return (c0 + c) * true_sigma2(np.asarray(c))

    assert psi(res["cost"]) <= psi(c_star) * (1 + eps) / (1 - eps)
    assert res["n_rollouts"] == pytest.approx(1000 / (c0 + res["cost"]), rel=1e-15)
    assert res["objective"] == pytest.approx(
        im.label_cost_objective(res["cost"], interp, rollout_cost=c0), rel=1e-12)


@pytest.mark.parametrize(("sigma2", "c0", "regime", "end"), [
    (im.NoiseFloor(0.2, 0.5), 0.0, "increasing", "cheapest"),  # regime (c), paper's Phi
    (im.PowerLawNoise(1.0, 0.5), 0.0, "increasing", "cheapest"),  # regime (a), p < 1
    (im.PowerLawNoise(1.0, 2.0), 0.0, "decreasing", "dearest"),  # regime (a), p > 1
    (im.BoundedFidelity(2.0, 4.0), 0.0, "endpoints", "dearest"),  # regime (b): clean end
    (im.BoundedFidelity(2.0, 4.0), 1.0, "endpoints", "dearest"),
])
def test_fidelity_regimes_of_corollary2(tmp_path, capsys, sigma2, c0, regime, end):
    costs = np.geomspace(0.25, 4.0, 9)
    path = noise_file(tmp_path, sigma2, costs)
    res = cli_json(capsys, "fidelity", "--noise-curve", path, "--budget", "50",
                   "--rollout-cost", str(c0))
    assert res["regime"] == regime
    assert res["cost"] == pytest.approx(costs[0] if end == "cheapest" else costs[-1],
                                        rel=1e-9)
    assert res["cost_range"] == [costs[0], costs[-1]]


def test_fidelity_flat_measured_curve(tmp_path, capsys):
    # Regime (a) with p = 1: c sigma^2(c) = A at every measured cost.
    path = noise_file(tmp_path, lambda c: 2.0 / c, [0.5, 1.0, 2.0, 4.0])
    res = cli_json(capsys, "fidelity", "--noise-curve", path, "--budget", "10")
    assert res["regime"] == "flat"
    assert all(row["objective"] == pytest.approx(2.0, rel=1e-15) for row in res["curve"])
    assert res["best_measured"]["cost"] == 0.5  # ties go to the cheapest


def test_fidelity_averages_repeated_costs_and_prints_the_table(tmp_path, capsys):
    path = write_csv(tmp_path / "n.csv", "cost,noise_variance",
                     [(1, 2.0), (1, 4.0), (2, 1.0), (4, 0.2)])
    res = cli_json(capsys, "fidelity", "--noise-curve", path, "--budget", "60",
                   "--rollout-cost", "2")
    first = res["curve"][0]
    assert (first["cost"], first["noise_variance"]) == (1.0, 3.0)
    assert first["n_rollouts"] == 20.0 and first["objective"] == 9.0  # (2 + 1) * 3
    code, out, _ = cli(capsys, "fidelity", "--noise-curve", path, "--budget", "60",
                       "--rollout-cost", "2")
    assert code == 0 and "best cost" in out and f"{res['cost']:.4g}" in out


def test_fidelity_shipped_examples(capsys):
    res = cli_json(capsys, "fidelity", "--noise-curve", DATA / "label_noise.csv",
                   "--budget", "1000", "--rollout-cost", "0.5")
    assert res["regime"] == "interior" and 0.05 < res["cost"] < 5
    res = cli_json(capsys, "fidelity", "--noise-curve", DATA / "label_noise_bounded.csv",
                   "--budget", "1000")
    assert res["regime"] == "endpoints" and res["cost"] == 4.0 and res["objective"] == 0.0


# --------------------------------------------------------------------------- bad input


@pytest.fixture
def good(tmp_path):
    """Valid learning curves and noise curve, and a writer for broken variants."""
    files = curves(tmp_path, np.random.default_rng(1), seeds=2)
    noise = noise_file(tmp_path, im.NoiseFloor(0.2, 0.5), [0.1, 1.0, 10.0])

    def broken(text: str, name: str = "bad.csv") -> str:
        path = tmp_path / name
        path.write_text(text)
        return str(path)

    return {"dyn": files[1], "rew": files[3], "noise": noise, "broken": broken,
            "dir": str(tmp_path)}


def allocate_argv(good, dyn=None, rew=None, extra=("--multiplier", "2")):
    return ["allocate", "--dyn-curve", dyn or good["dyn"], "--rew-curve", rew or good["rew"],
            *LINE, *extra, "--n-boot", "50"]


BAD_CURVES = [
    # (file content, fragments of the one-line message)
    ("", ["the file is empty", "n,error"]),
    ("# only a comment\n\n", ["the file is empty"]),
    ("size,err\n1000,0.1\n", ["line 1", "header", "'n,error'"]),
    ("1000,0.1\n2000,0.05\n", ["line 1", "header"]),
    ("n,error\n", ["no data rows"]),
    ("n,error\n1000,0.1\n2000,abc\n", ["line 3", "'abc' is not a number"]),
    ("n,error\n1000,0.1\n2000,nan\n", ["line 3", "not a finite number"]),
    ("# c\nn,error\n1000,0.1\n0,0.05\n", ["line 4", "n must be > 0"]),
    ("n,error\n1000,0.1\n-5,0.05\n", ["line 3", "n must be > 0"]),
    ("n,error\n1000,0.1\n2000,0\n", ["line 3", "error must be > 0"]),
    ("n,error\n1000,-0.1\n2000,0.1\n", ["line 2", "error must be > 0"]),
    ("n,error\n1000,0.1,7\n2000,0.1\n", ["line 2", "expected 2 values"]),
    ("n,error\n1000\n", ["line 2", "expected 2 values"]),
    ("n,error\n1000,0.1\n1000,0.2\n", ["two distinct n"]),
]


@pytest.mark.parametrize(("content", "fragments"), BAD_CURVES)
@pytest.mark.parametrize("which", ["dyn", "rew"])
def test_allocate_bad_learning_curve(good, capsys, content, fragments, which):
    path = good["broken"](content)
    argv = allocate_argv(good, **{which: path})
    assert_bad_input(capsys, argv, path, *fragments)


def test_allocate_missing_and_unreadable_files(good, capsys, tmp_path):
    missing = str(tmp_path / "nope.csv")
    assert_bad_input(capsys, allocate_argv(good, dyn=missing), "cannot read", missing)
    assert_bad_input(capsys, allocate_argv(good, rew=good["dir"]), "cannot read")
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\xff\xfe\x00\x81garbage")
    assert_bad_input(capsys, allocate_argv(good, dyn=str(binary)), "not a UTF-8 text file")


def test_allocate_rising_curve_has_no_optimum(good, capsys):
    path = good["broken"]("n,error\n1000,0.1\n1000,0.11\n2000,0.2\n2000,0.21\n")
    assert_bad_input(capsys, allocate_argv(good, dyn=path), path, "exponent", "<= 0")


@pytest.mark.parametrize(("option", "value", "fragment"), [
    ("--budget", "0", "argument --budget: must be > 0"),
    ("--budget", "-100", "argument --budget: must be > 0"),
    ("--budget", "lots", "argument --budget: 'lots' is not a number"),
    ("--budget", "inf", "argument --budget: must be a finite number"),
    ("--cost-dyn", "0", "argument --cost-dyn: must be > 0"),
    ("--cost-rew", "-1", "argument --cost-rew: must be > 0"),
])
def test_allocate_non_positive_budget_or_cost(good, capsys, option, value, fragment):
    argv = allocate_argv(good)
    argv[argv.index(option) + 1] = value
    assert_bad_input(capsys, argv, fragment, "imagination allocate --help")


@pytest.mark.parametrize(("extra", "fragments"), [
    (["--multiplier", "0"], ["argument --multiplier: must be > 0"]),
    (["--multiplier", "-2"], ["argument --multiplier: must be > 0"]),
    (["--gamma", "1", "--L-f", "0.5", "--L-r", "1", "--L-pi", "0"],
     ["argument --gamma: must satisfy 0 <= gamma < 1"]),
    (["--gamma", "0.9", "--L-f", "-0.5", "--L-r", "1", "--L-pi", "0"],
     ["argument --L-f: must be >= 0"]),
    # gamma L_f (1 + L_pi) = 0.9 * 1 * 1.5 = 1.35 >= 1: Lemma 1 does not apply
    (["--gamma", "0.9", "--L-f", "1", "--L-r", "1", "--L-pi", "0.5"],
     ["do not contract", "= 1.35 >= 1", "contraction condition", "give --horizon H"]),
    (["--gamma", "0", "--L-f", "1", "--L-r", "1", "--L-pi", "0.5"], ["multiplier m = 0"]),
    (["--gamma", "0.9", "--L-f", "0.5", "--L-r", "0", "--L-pi", "0"], ["multiplier m = 0"]),
    (["--gamma", "0.9", "--L-f", "0.5"], ["missing --L-r --L-pi"]),
    (["--multiplier", "2", "--gamma", "0.9"], ["not both"]),
    ([], ["needs --multiplier"]),
])
def test_allocate_bad_multiplier_or_constants(good, capsys, extra, fragments):
    assert_bad_input(capsys, allocate_argv(good, extra=extra), *fragments)


def test_missing_option_and_unknown_command(good, capsys):
    argv = allocate_argv(good)
    del argv[argv.index("--budget"):argv.index("--budget") + 2]
    assert_bad_input(capsys, argv, "the following arguments are required: --budget")
    assert_bad_input(capsys, ["allocat"], "invalid choice: 'allocat'")
    assert_bad_input(capsys, ["fidelity", "--noise-curve", good["noise"]], "--budget")


def test_plot_into_a_missing_folder(good, capsys, tmp_path):
    pytest.importorskip("plotly")
    target = tmp_path / "no" / "such" / "folder" / "fig.html"
    assert_bad_input(capsys, [*allocate_argv(good), "--plot", target], "--plot: cannot write",
                     str(target))


BAD_NOISE = [
    ("", ["the file is empty", "cost,noise_variance"]),
    ("cost,sigma2\n1,0.5\n", ["line 1", "header", "'cost,noise_variance'"]),
    ("cost,noise_variance\n", ["no data rows"]),
    ("cost,noise_variance\n1,0.5\n2,high\n", ["line 3", "'high' is not a number"]),
    ("cost,noise_variance\n1,0.5\n0,0.2\n", ["line 3", "cost must be > 0"]),
    ("cost,noise_variance\n-1,0.5\n2,0.2\n", ["line 2", "cost must be > 0"]),
    ("cost,noise_variance\n1,0.5\n2,-0.2\n", ["line 3", "noise_variance must be >= 0"]),
    ("cost,noise_variance\n1,0.5\n2,inf\n", ["line 3", "not a finite number"]),
    ("cost,noise_variance\n1,0.5\n1,0.4\n", ["two distinct cost"]),
    ("cost,noise_variance\n1,0.5,3\n", ["line 2", "expected 2 values"]),
]


@pytest.mark.parametrize(("content", "fragments"), BAD_NOISE)
def test_fidelity_bad_noise_curve(good, capsys, content, fragments):
    path = good["broken"](content)
    assert_bad_input(capsys, ["fidelity", "--noise-curve", path, "--budget", "10"], path,
                     *fragments)


def test_fidelity_bad_options_and_files(good, capsys, tmp_path):
    base = ["fidelity", "--noise-curve", good["noise"]]
    assert_bad_input(capsys, [*base, "--budget", "0"], "argument --budget: must be > 0")
    assert_bad_input(capsys, [*base, "--budget", "-3"], "argument --budget: must be > 0")
    assert_bad_input(capsys, [*base, "--budget", "10", "--rollout-cost", "-1"],
                     "argument --rollout-cost: must be >= 0")
    missing = str(tmp_path / "absent.csv")
    assert_bad_input(capsys, ["fidelity", "--noise-curve", missing, "--budget", "10"],
                     "cannot read", missing)
    assert_bad_input(capsys, ["fidelity", "--noise-curve", good["dir"], "--budget", "10"],
                     "cannot read")


def test_zero_noise_is_allowed(tmp_path, capsys):
    path = noise_file(tmp_path, lambda c: np.zeros_like(c), [1.0, 2.0])
    res = cli_json(capsys, "fidelity", "--noise-curve", path, "--budget", "10")
    assert res["regime"] == "flat" and res["cost"] == 1.0 and res["objective"] == 0.0


# --------------------------------------------------------------------------- console script


def test_console_script_runs_and_fails_cleanly(tmp_path):
    script = Path(sys.executable).with_name("imagination")
    if not script.exists():
        pytest.skip(f"no console script beside {sys.executable}: install the package")
    ok = subprocess.run([script, "fidelity", "--noise-curve", DATA / "label_noise.csv",
                         "--budget", "1000", "--rollout-cost", "0.5", "--json"],
                        capture_output=True, text=True, check=False, cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["regime"] == "interior"
    bad = tmp_path / "bad.csv"
    bad.write_text("n,error\n1000,0.1\n2000,zero\n")
    fail = subprocess.run([script, "allocate", "--dyn-curve", bad, "--rew-curve", bad,
                           *LINE, "--multiplier", "2"],
                          capture_output=True, text=True, check=False, cwd=tmp_path)
    assert fail.returncode == 2 and fail.stdout == ""
    assert fail.stderr.count("\n") == 1 and "Traceback" not in fail.stderr
    assert f"{bad}, line 3: error = 'zero' is not a number" in fail.stderr


# --------------------------------------------------------------------------- allocate --horizon

PENDULUM_LIKE = ["--gamma", "0.99", "--L-f", "2.9", "--L-r", "1", "--L-pi", "0.5"]


def test_allocate_horizon_uses_the_finite_horizon_bound(tmp_path, capsys):
    # Chapter 7's Pendulum models have L_f about 2.9: gamma L_f (1 + L_pi) = 4.3 >= 1, so only
    # the finite-horizon bound U_H applies; its multiplier m_H splits the budget.
    files = curves(tmp_path, np.random.default_rng(12))
    res = cli_json(capsys, "allocate", *files, *LINE, *PENDULUM_LIKE, "--horizon", "15",
                   "--n-boot", "200")
    assert (res["bound_kind"], res["horizon"]) == ("finite_horizon", 15)
    m_h = im.finite_horizon_multiplier(0.99, 2.9, 1.0, 0.5, 15)
    assert res["multiplier"] == m_h
    dyn = im.PowerLaw(res["dyn_law"]["coef"], res["dyn_law"]["exponent"])
    rew = im.PowerLaw(res["rew_law"]["coef"], res["rew_law"]["exponent"])
    a = optimal_allocation(2.5e5, 1.0, 10.0, dyn, rew, m_h)
    assert res["n_dyn"] == pytest.approx(a.n_dyn, rel=1e-12)
    assert res["bound"] == pytest.approx(
        im.return_error_bound_finite(a.eps_dyn, a.eps_rew, 0.99, 2.9, 1.0, 0.5, 15), rel=1e-12)
    # U_H = (m_H eps_dyn + eps_rew) sum_{t<H} gamma^t
    s_h = (1 - 0.99**15) / (1 - 0.99)
    assert res["bound"] == pytest.approx((m_h * a.eps_dyn + a.eps_rew) * s_h, rel=1e-12)
    code, out, _ = cli(capsys, "allocate", *files, *LINE, *PENDULUM_LIKE, "--horizon", "15",
                       "--n-boot", "0")
    assert code == 0 and f"m_H = {m_h:.4g}" in out and "finite horizon H = 15" in out
    assert "U_H bound (H = 15" in out and f"{res['bound']:.4g}" in out
    # gamma = 1 is allowed with a horizon (an undiscounted imagined return)
    undiscounted = cli_json(capsys, "allocate", *files, *LINE, "--gamma", "1", "--L-f", "2.9",
                            "--L-r", "1", "--L-pi", "0.5", "--horizon", "15", "--n-boot", "0")
    assert undiscounted["multiplier"] == im.finite_horizon_multiplier(1.0, 2.9, 1.0, 0.5, 15)


def test_allocate_reports_which_bound(tmp_path, capsys):
    files = curves(tmp_path, np.random.default_rng(13))
    eq1 = cli_json(capsys, "allocate", *files, *LINE, *CONSTANTS, "--n-boot", "0")
    assert (eq1["bound_kind"], eq1["horizon"]) == ("eq1", None)
    assert eq1["multiplier"] == multiplier()
    # under contraction a long horizon approaches Eq. (1) from below
    long = cli_json(capsys, "allocate", *files, *LINE, *CONSTANTS, "--horizon", "2000",
                    "--n-boot", "0")
    assert long["bound_kind"] == "finite_horizon"
    assert long["multiplier"] == pytest.approx(eq1["multiplier"], rel=1e-9)
    assert long["multiplier"] <= eq1["multiplier"]
    given = cli_json(capsys, "allocate", *files, *LINE, "--multiplier", "2", "--n-boot", "0")
    assert (given["bound_kind"], given["horizon"], given["bound"]) == (None, None, None)
    _, out, _ = cli(capsys, "allocate", *files, *LINE, *CONSTANTS, "--n-boot", "0")
    assert "Eq. (1), infinite horizon" in out and "Eq. (1) bound" in out


@pytest.mark.parametrize(("extra", "fragments"), [
    # non-contracting constants without --horizon: the message says to give one
    (PENDULUM_LIKE, ["do not contract", "4.3065 >= 1", "give --horizon H"]),
    (["--multiplier", "2", "--horizon", "15"], ["--horizon", "not both"]),
    ([*PENDULUM_LIKE, "--multiplier", "2", "--horizon", "15"], ["not both"]),
    (["--gamma", "1", "--L-f", "0.5", "--L-r", "1", "--L-pi", "0"],
     ["argument --gamma: must satisfy 0 <= gamma < 1 without --horizon"]),
    (["--gamma", "1.5", "--L-f", "0.5", "--L-r", "1", "--L-pi", "0", "--horizon", "5"],
     ["argument --gamma: must satisfy"]),
    ([*PENDULUM_LIKE, "--horizon", "0"], ["argument --horizon: must be >= 1"]),
    ([*PENDULUM_LIKE, "--horizon", "15.5"], ["argument --horizon", "not a whole number"]),
    (["--horizon", "15"], ["needs --multiplier, or --gamma"]),
    ([*PENDULUM_LIKE, "--horizon", "1"], ["multiplier m = 0", "--horizon 1"]),
    # L^H past the float range: 4.35^1e5
    ([*PENDULUM_LIKE, "--horizon", "100000"], ["multiplier is past the float range"]),
    # Eq. (1)'s multiplier past it: gamma L_r (1 + L_pi) = 0.9 * 1e308 * 11
    (["--gamma", "0.9", "--L-f", "0", "--L-r", "1e308", "--L-pi", "10"],
     ["multiplier is past the float range"]),
])
def test_allocate_bad_horizon_input(good, capsys, extra, fragments):
    assert_bad_input(capsys, allocate_argv(good, extra=extra), *fragments)


def test_allocate_bound_past_the_float_range(tmp_path, capsys):
    # U_H = (m_H eps_dyn + eps_rew) * 40 with m_H about 3e305 finite: errors of about 90 (a
    # dynamics error in large units) push it past the float range.
    bm = im.bound_multiplier(1.0, 1.2e8, 1.0, 0.0, horizon=40)
    assert np.isfinite(bm.multiplier) and bm.multiplier * 40 * 50 > np.finfo(float).max
    files = curves(tmp_path, np.random.default_rng(16), dyn=im.PowerLaw(340.0, 0.11))
    extra = ["--gamma", "1", "--L-f", "1.2e8", "--L-r", "1", "--L-pi", "0", "--horizon", "40"]
    assert_bad_input(capsys, ["allocate", *files, *LINE, *extra, "--n-boot", "0"], "bound",
                     "past the float range")


def test_allocate_warns_at_the_edge_of_the_budget(tmp_path, capsys):
    files = curves(tmp_path, np.random.default_rng(14))
    argv = ["allocate", *files, *LINE, "--multiplier", "1e-4", "--n-boot", "0"]
    code, out, err = cli(capsys, *argv)
    res = run(argv)
    assert res.allocation.dyn_share < 0.01  # the precondition: an edge split
    assert code == 0 and "N_dyn" in out
    assert err.count("\n") == 1
    assert err.startswith("imagination allocate: warning: the split is at the edge of the "
                          "budget: the dynamics model gets")
    res_json = cli_json_with_warning(capsys, *argv)
    assert len(res_json["warnings"]) == 1 and "edge of the budget" in res_json["warnings"][0]
    # the mirror image, and a split inside the budget: no warning
    assert "reward model gets" in run(["allocate", *files, *LINE, "--multiplier", "1e6",
                                       "--n-boot", "0"]).warnings()[0]
    code, _, err = cli(capsys, "allocate", *files, *LINE, *CONSTANTS, "--n-boot", "0")
    assert code == 0 and err == ""
    assert cli_json(capsys, "allocate", *files, *LINE, *CONSTANTS, "--n-boot", "0")[
        "warnings"] == []


def cli_json_with_warning(capsys, *argv) -> dict:
    code, out, err = cli(capsys, *argv, "--json")
    assert code == 0 and "warning" in err
    return json.loads(out)


# --------------------------------------------------------------------------- input columns


def tracker_export(path: Path, source: Path, sep: str, names=("N", "Error")) -> Path:
    """The rows of an n,error file as an experiment tracker exports them: more columns, other
    case, another order, optionally tab-separated."""
    n, err = np.loadtxt(source, delimiter=",", comments="#", skiprows=1).T
    lines = [sep.join(["step", "Run Name", names[1], "seed", names[0]])]
    for i, (a, b) in enumerate(zip(n, err, strict=True)):
        lines.append(sep.join([str(100 * i), f"run-{i}", repr(float(b)), str(i % 7),
                               repr(float(a))]))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("sep", [",", "\t"])
def test_allocate_reads_tracker_exports_by_column_name(tmp_path, capsys, sep):
    files = curves(tmp_path, np.random.default_rng(15))
    plain = cli_json(capsys, "allocate", *files, *LINE, *CONSTANTS, "--n-boot", "100")
    dyn = tracker_export(tmp_path / "dyn.tsv", Path(files[1]), sep)
    rew = tracker_export(tmp_path / "rew.tsv", Path(files[3]), sep)
    res = cli_json(capsys, "allocate", "--dyn-curve", dyn, "--rew-curve", rew, *LINE,
                   *CONSTANTS, "--n-boot", "100")
    for key in ("n_dyn", "n_rew", "split_ci", "bound"):
        assert res[key] == plain[key], key
    # other names, chosen with the options
    dyn = tracker_export(tmp_path / "d2.csv", Path(files[1]), sep, ("samples", "heldout_rmse"))
    rew = tracker_export(tmp_path / "r2.csv", Path(files[3]), sep, ("samples", "heldout_rmse"))
    res = cli_json(capsys, "allocate", "--dyn-curve", dyn, "--rew-curve", rew, *LINE,
                   *CONSTANTS, "--n-boot", "100", "--n-column", "SAMPLES",
                   "--error-column", "heldout_RMSE")
    assert res["n_dyn"] == plain["n_dyn"]


def test_fidelity_reads_columns_by_name(tmp_path, capsys):
    costs = np.geomspace(0.05, 5, 9)
    sigma2 = im.NoiseFloor(0.2, 0.5)(costs)
    plain = noise_file(tmp_path, im.NoiseFloor(0.2, 0.5), costs)
    tsv = tmp_path / "noise.tsv"
    tsv.write_text("batch\tLabel Cost\tvar\n" + "".join(
        f"{i}\t{float(c)!r}\t{float(v)!r}\n"
        for i, (c, v) in enumerate(zip(costs, sigma2, strict=True))))
    a = cli_json(capsys, "fidelity", "--noise-curve", plain, "--budget", "10",
                 "--rollout-cost", "0.5")
    b = cli_json(capsys, "fidelity", "--noise-curve", tsv, "--budget", "10", "--rollout-cost",
                 "0.5", "--cost-column", "label cost", "--noise-column", "VAR")
    assert a["cost"] == b["cost"] and a["regime"] == b["regime"]
    assert_bad_input(capsys, ["fidelity", "--noise-curve", tsv, "--budget", "10"], str(tsv),
                     "line 1", "no column 'cost'", "columns found: 'batch', 'Label Cost', 'var'",
                     "--cost-column")


@pytest.mark.parametrize(("content", "extra", "fragments"), [
    ("step,N,err\n1,1000,0.1\n2,2000,0.05\n", [],
     ["line 1", "no column 'error'", "columns found: 'step', 'N', 'err'", "--error-column"]),
    ("step,N,err\n1,1000,0.1\n2,2000,0.05\n", ["--n-column", "size"],
     ["no column 'size'", "--n-column"]),
    ("n\terror\tseed\n1000\t0.1\t0\n2000\tbad\t1\n", [], ["line 3", "error = 'bad'"]),
    ("n\terror\tseed\n1000\t0.1\t0\n2000\t0.1\n", [],
     ["line 3", "expected 3 values (tab-separated", "got 2"]),
    ("# tracker export\nn,N,error\n1000,1,0.1\n", [], ["line 2", "names column 'n' 2 times"]),
    ("n,error,run\n1000,0.1,a\n1000,0.2,b\n", [], ["two distinct n"]),
])
def test_allocate_bad_columns(good, capsys, content, extra, fragments):
    path = good["broken"](content)
    argv = [*allocate_argv(good, dyn=path), *extra]
    assert_bad_input(capsys, argv, path, *fragments)


# --------------------------------------------------------------------------- constants

torch = pytest.importorskip("torch")


def saved_network(tmp_path: Path, sizes=(16, 64, 12), activation=None, seed=0,
                  name="net.pt"):
    torch.manual_seed(seed)
    layers = []
    for k, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers += [torch.nn.Linear(a, b)] + ([activation or torch.nn.Tanh()]
                                             if k < len(sizes) - 2 else [])
    net = torch.nn.Sequential(*layers)
    path = tmp_path / name
    torch.save(net.state_dict(), path)
    return net, path


def test_constants_reports_module_lipschitz_in_the_form_allocate_takes(tmp_path, capsys):
    net, path = saved_network(tmp_path)
    x = np.random.default_rng(3).uniform(-1, 1, (300, 16))
    points = tmp_path / "points.csv"
    points.write_text(",".join(f"x{j}" for j in range(16)) + "\n"
                      + "".join(",".join(repr(float(v)) for v in row) + "\n" for row in x))
    argv = ["constants", "--weights", path, "--layers", "16,64,12", "--activation", "tanh",
            "--role", "dynamics", "--input-blocks", "12,4", "--residual", "--points", points]
    res = cli_json(capsys, *argv)
    ref = im.module_lipschitz(net, x, input_blocks=(12, 4), residual=True)
    assert res["option"] == "--L-f" and res["n_points"] == 300
    # upper: the library's, rounded UP to 6 significant digits (still an upper bound)
    assert ref.upper_max <= res["upper"] <= ref.upper_max * (1 + 1e-5)
    assert res["lower"] == pytest.approx(ref.lower_max, rel=1e-12)
    np.testing.assert_allclose(res["upper_blocks"], ref.upper, rtol=1e-12)
    np.testing.assert_allclose(res["lower_blocks"], ref.lower, rtol=1e-12)
    code, out, _ = cli(capsys, *argv)
    assert code == 0
    assert f"--L-f {res['upper']:.6g}" in out and f"{res['lower']:.6g}" in out
    # the printed constant is accepted by allocate as it is
    assert _option_value(out, "--L-f") == res["upper"]


def _option_value(text: str, option: str) -> float:
    line = next(ln for ln in text.splitlines() if ln.startswith("for imagination allocate"))
    return float(line.split(option)[1].split()[0])


@pytest.mark.parametrize(("role", "option"), [("reward", "--L-r"), ("policy", "--L-pi")])
def test_constants_roles_and_a_single_linear_layer(tmp_path, capsys, role, option):
    # One Linear layer: the Jacobian is W everywhere, so lower = upper = ||W||_2 (up to the
    # upward rounding of the printed bound).
    net, path = saved_network(tmp_path, sizes=(5, 3))
    res = cli_json(capsys, "constants", "--weights", path, "--layers", "5,3", "--activation",
                   "relu", "--role", role)
    w = net[0].weight.detach().double().numpy()
    assert res["option"] == option
    assert res["lower"] == pytest.approx(np.linalg.norm(w, 2), rel=1e-12)
    assert res["lower"] <= res["upper"] <= res["lower"] * (1 + 1e-5)


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "sigmoid", "elu", "silu", "gelu",
                                        "gelu_tanh", "TANH"])
def test_constants_every_activation(tmp_path, capsys, activation):
    name = activation.lower()
    layer = im.lipschitz._ACTIVATION_LAYERS[name]()
    net, path = saved_network(tmp_path, sizes=(3, 8, 8, 2), activation=layer)
    res = cli_json(capsys, "constants", "--weights", path, "--layers", "3,8,8,2",
                   "--activation", activation, "--role", "reward")
    ref = im.module_lipschitz(net, np.random.default_rng(0).standard_normal((2048, 3)))
    assert res["lower"] == pytest.approx(ref.lower, rel=1e-12)
    assert ref.upper <= res["upper"] <= ref.upper * (1 + 1e-5)


def test_constants_bad_input(tmp_path, capsys):
    net, path = saved_network(tmp_path)
    base = ["constants", "--weights", path, "--layers", "16,64,12", "--activation", "tanh",
            "--role", "dynamics"]

    def argv(**change):
        out = list(base)
        for option, value in change.items():
            flag = "--" + option.replace("_", "-")
            if flag in out:
                out[out.index(flag) + 1] = value
            else:
                out += [flag, value] if value is not None else [flag]
        return out

    whole = tmp_path / "whole.pt"
    torch.save(net, whole)  # a pickled module, not a state_dict
    assert_bad_input(capsys, argv(weights=whole), "is not a weights file", "weights_only=True",
                     "nothing in it was run", "a pickled torch.nn.modules.container.Sequential",
                     "a whole model")
    text = tmp_path / "notes.pt"
    text.write_text("not weights\n")
    assert_bad_input(capsys, argv(weights=text), "is not a weights file",
                     "not a file saved by torch.save")
    assert_bad_input(capsys, argv(weights=tmp_path / "absent.pt"), "cannot read")
    assert_bad_input(capsys, argv(layers="16,32,12"), "'0.weight' has shape (64, 16)",
                     "need (32, 16)")
    assert_bad_input(capsys, argv(layers="16,64,12,3"), "no key '4.weight'")
    assert_bad_input(capsys, argv(layers="16"), "at least an input and an output size")
    assert_bad_input(capsys, argv(layers="16,x"), "argument --layers")
    assert_bad_input(capsys, argv(activation="softplus"), "argument --activation")
    assert_bad_input(capsys, argv(role="value"), "argument --role")
    assert_bad_input(capsys, argv(input_blocks="12,3"), "--input-blocks", "summing to the "
                     "input dimension 16")
    assert_bad_input(capsys, argv(residual=None), "--residual", "output size 12",
                     "no input_blocks")
    points = tmp_path / "p.csv"
    points.write_text("a,b\n1,2\n")
    assert_bad_input(capsys, argv(points=points), str(points), "2 columns but the network "
                     "takes 16 inputs")
    points.write_text(",".join("x" * 16) + "\n" + ",".join(["1"] * 15 + ["oops"]) + "\n")
    assert_bad_input(capsys, argv(points=points), str(points), "line 2", "'oops' is not a number")
    # a network with a layer module_lipschitz does not support (a BatchNorm between)
    odd = torch.nn.Sequential(torch.nn.Linear(16, 64), torch.nn.BatchNorm1d(64),
                              torch.nn.Linear(64, 12))
    bn = tmp_path / "bn.pt"
    torch.save(odd.state_dict(), bn)
    assert_bad_input(capsys, argv(weights=bn), "unexpected keys 1.weight",
                     "Linear layers 16,64,12 with tanh between")


class _Payload:
    """Unpickling this object would create a file: the safe loader must never do it."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_constants_never_runs_a_pickle(tmp_path, capsys):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    torch.save({"0.weight": _Payload(str(marker))}, evil)
    assert not marker.exists()
    assert_bad_input(capsys, ["constants", "--weights", evil, "--layers", "4,2", "--activation",
                              "relu", "--role", "policy"], "is not a weights file",
                     "nothing in it was run")
    assert not marker.exists()


def test_constants_without_torch_exits_2_saying_how_to_install_it(tmp_path):
    # A stand-in package named torch that fails to import, first on the path.
    fake = tmp_path / "fake" / "torch"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'torch'\", name='torch')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(fake.parent), str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-m", "imagination.cli", "constants", "--weights",
                           tmp_path / "x.pt", "--layers", "4,2", "--activation", "relu",
                           "--role", "policy"], capture_output=True, text=True, check=False,
                          env=env, cwd=tmp_path)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "needs torch" in proc.stderr and "pip install torch" in proc.stderr


# --------------------------------------------------------------------------- installed script


def console_scripts() -> list[list[str]]:
    """The installed entry point when it is installed beside this interpreter, else the module
    it runs (``python -m imagination.cli``: the same ``main``)."""
    entry = Path(sys.executable).with_name("imagination")
    return [[str(entry)]] if entry.exists() else [[sys.executable, "-m", "imagination.cli"]]


def script_env() -> dict[str, str]:
    # the package under test first on the path (the entry point may come from another checkout)
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"),
                                                         os.environ.get("PYTHONPATH", "")])}


@pytest.mark.parametrize("script", console_scripts(), ids=lambda s: Path(s[-1]).name)
def test_console_script_new_commands_as_a_subprocess(tmp_path, script):
    def call(*argv):
        return subprocess.run([*script, *map(str, argv)], capture_output=True, text=True,
                              check=False, cwd=tmp_path, env=script_env())

    _, weights = saved_network(tmp_path)
    ok = call("constants", "--weights", weights, "--layers", "16,64,12", "--activation", "tanh",
              "--role", "dynamics", "--input-blocks", "12,4", "--json")
    assert ok.returncode == 0, ok.stderr
    l_f = json.loads(ok.stdout)["upper"]
    curves_ = ["--dyn-curve", DATA / "dyn_curve.csv", "--rew-curve", DATA / "rew_curve.csv"]
    constants = ["--gamma", "0.99", "--L-f", l_f, "--L-r", "1", "--L-pi", "0.5"]
    ok = call("allocate", *curves_, *LINE, *constants, "--horizon", "15", "--json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["bound_kind"] == "finite_horizon"
    # bad input: one line on stderr, exit status 2, no traceback
    bn = tmp_path / "bn.pt"
    torch.save(torch.nn.Sequential(torch.nn.Linear(16, 64), torch.nn.BatchNorm1d(64),
                                   torch.nn.Linear(64, 12)).state_dict(), bn)
    text = tmp_path / "notes.pt"
    text.write_text("hello\n")
    for argv, fragment in [
        (["allocate", *curves_, *LINE, *constants], "give --horizon H"),
        (["constants", "--weights", bn, "--layers", "16,64,12", "--activation", "tanh",
          "--role", "dynamics"], "unexpected keys"),
        (["constants", "--weights", text, "--layers", "16,64,12", "--activation", "tanh",
          "--role", "dynamics"], "is not a weights file"),
        (["allocate", *curves_, *LINE, "--multiplier", "2", "--n-column", "size"],
         "columns found: 'n', 'error'"),
    ]:
        fail = call(*argv)
        assert fail.returncode == 2 and fail.stdout == "", (argv, fail.stderr)
        assert fail.stderr.count("\n") == 1 and "Traceback" not in fail.stderr
        assert fragment in fail.stderr, fail.stderr
