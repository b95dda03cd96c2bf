"""environment.yml (Binder) must mirror requirements.txt: everything exactly, torch by version."""

import re
from pathlib import Path

import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]


def _pins(lines):
    pins = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        req = Requirement(line)
        spec = str(req.specifier)
        assert spec.startswith("==") and "," not in spec, f"not an exact pin: {line!r}"
        pins[req.name.lower().replace("_", "-")] = spec[2:]
    return pins


def test_requirements_are_exact_pins():
    pins = _pins((ROOT / "requirements.txt").read_text().splitlines())
    assert pins["torch"] == "2.13.0"
    assert "jupyter-book" in pins and pins["jupyter-book"].startswith("1.")


def test_environment_mirrors_requirements():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    reqs = _pins((ROOT / "requirements.txt").read_text().splitlines())
    deps = env["dependencies"]
    pip_section = next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)
    conda = [d for d in deps if isinstance(d, str)]
    env_pins = _pins(pip_section)
    torch_conda = [d for d in conda if re.match(r"pytorch(-cpu)?[=<> ]", d)]
    assert len(torch_conda) == 1, f"environment.yml needs one conda torch, found {torch_conda}"
    assert torch_conda[0].split("=", 1)[1].strip("=") == reqs.pop("torch")
    assert "torch" not in env_pins, "torch comes from conda-forge's CPU build, not pip"
    assert env_pins == reqs
    python = next(d for d in conda if d.startswith("python"))
    assert python == "python=3.11"


def test_pyproject_keeps_ranges():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = project["dependencies"] + [d for ds in project["optional-dependencies"].values()
                                       for d in ds]
    pinned = [s for s in specs if "==" in s]
    assert not pinned, f"pyproject.toml takes ranges; pins go in requirements: {pinned}"
    assert project["name"] == "imagination-book"
    assert project["scripts"]["imagination"] == "imagination.cli:main"
