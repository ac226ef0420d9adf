"""The two-command setup a newcomer meets: pyproject is the single source of truth, conda delegates to it."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_environment_yml_parses_and_installs_this_project_with_dev_extra():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["name"] == "d2l-bn"
    deps = env["dependencies"]
    python = [d for d in deps if isinstance(d, str) and d.startswith("python")]
    assert python and re.fullmatch(r"python=3\.1[12]", python[0]), python
    pip_sections = [d["pip"] for d in deps if isinstance(d, dict) and "pip" in d]
    assert pip_sections == [['-e ".[dev]"']], "conda must delegate to pyproject (pip install -e .[dev])"
    # One source of truth: no runtime package is named again in environment.yml.
    named = {d.split("=")[0] for d in deps if isinstance(d, str)}
    assert named <= {"python", "pip"}, named


def test_pyproject_declares_package_with_ranges_not_pins():
    project = pyproject()["project"]
    assert project["name"] == "d2l-bn"
    assert project["requires-python"] == ">=3.10"
    runtime = {re.split(r"[<>=!~ \[]", d)[0]: d for d in project["dependencies"]}
    for needed in ("torch", "torchvision", "matplotlib", "ipywidgets", "numpy", "tqdm"):
        assert needed in runtime, f"{needed} missing from runtime dependencies"
        assert "==" not in runtime[needed], f"{runtime[needed]}: keep a range so Colab's torch is left alone"
    assert runtime["ipywidgets"].startswith("ipywidgets>=7.7")   # Colab preinstalls 7.7.1 (tests/test_colab.py)
    dev = {re.split(r"[<>=!~ \[]", d)[0] for d in project["optional-dependencies"]["dev"]}
    assert {"pytest", "nbval", "jupyterlab", "ipykernel"} <= dev


def test_readme_gives_the_install_open_and_test_commands():
    readme = (ROOT / "README.md").read_text()
    assert 'pip install -e ".[dev]"' in readme
    assert "conda env create -f environment.yml" in readme
    assert "jupyter lab notebooks/" in readme
    assert re.search(r"^pytest$", readme, re.MULTILINE), "README must show the test command on its own line"


def test_ci_script_runs_the_readme_test_command_and_refuses_no_tests():
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^pytest$", ci, re.MULTILINE)
    assert '"$status" -eq 5' in ci


def test_pytest_runs_every_notebook_under_nbval_in_strict_mode():
    options = pyproject()["tool"]["pytest"]["ini_options"]
    assert "notebooks" in options["testpaths"]
    assert "--nbval " in options["addopts"] + " " and "--nbval-lax" not in options["addopts"]
