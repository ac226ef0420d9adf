"""benchmarks/widgets.py keeps running: the explorers' speed targets live there, and no unit test reads a clock.

These tests check only that the benchmark runs and that every change it times is a real one (accepted, not a
reused result); they assert nothing about how long anything took.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXPLORER_MODULES = {"softmax": "temperature", "dropout": "dropout", "momentum": "momentum", "sgd": "sgd",
                    "batch_size": "batch_size", "lenet": "lenet", "replicas": "replicas", "depth": "depth"}


def load_benchmark():
    spec = importlib.util.spec_from_file_location("widgets_benchmark", ROOT / "benchmarks" / "widgets.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module             # dataclasses look their module up there
    spec.loader.exec_module(module)             # importing runs nothing
    return module


def test_the_benchmark_can_time_every_explorer_of_the_package():
    modules = {path.stem for path in (ROOT / "d2l_bn" / "widgets").glob("*.py")} - {"__init__", "base", "controls"}
    assert modules == set(EXPLORER_MODULES)     # a new explorer needs a case in benchmarks/widgets.py
    names = load_benchmark().parse_args(["--only", *EXPLORER_MODULES.values()]).only
    assert names == list(EXPLORER_MODULES.values())


@pytest.mark.real_data
def test_the_benchmark_prints_a_row_per_explorer_and_every_timed_change_is_a_fresh_accepted_one(capsys):
    assert load_benchmark().main(["--only", "dropout", "momentum"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith(("dropout ", "momentum "))]
    assert len(rows) == 2 and all("(8 changes)" in row and "< 0.2 s per change" in row for row in rows)
    assert "refused or reused" not in out
