"""Run a notebook's committed Colab setup cell as Colab would, but installing d2l_bn from this clone.

    python .ci/run_setup_cell_as_colab.py notebooks/01_softmax_regression.ipynb

The Colab-like stage's check that the setup cell installs d2l_bn and nothing Colab already has: the cell runs
with a stand-in `google.colab` module (so its `if` takes the Colab branch) and its `git+` address replaced by this
clone's folder (CI has no network). Exit 1 if the cell fails or says it replaced a preinstalled package.
"""
from __future__ import annotations

import contextlib
import importlib
import io
import sys
import types
from pathlib import Path

import tomllib

import nbformat

ROOT = Path(__file__).resolve().parents[1]
SETUP_MARK = "# Colab setup"            # as d2l_bn.colab writes it (d2l_bn is not importable before the cell runs)


def repository_url() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]["Repository"].rstrip("/")


def main(notebook: str) -> int:
    cell = next(c for c in nbformat.read(notebook, as_version=4).cells if c.cell_type == "code")
    address = f"git+{repository_url()}"
    if not cell.source.startswith(SETUP_MARK) or address not in cell.source:
        print(f"{notebook}: the first code cell is not the setup cell for {address}")
        return 1
    source = cell.source.replace(address, ROOT.as_uri())
    sys.modules["google"] = types.ModuleType("google")
    sys.modules["google.colab"] = types.ModuleType("google.colab")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(source, f"{notebook} (setup cell)", "exec"), {"__name__": "__main__"})
    print(printed.getvalue(), end="")
    if "replaced Colab's own" in printed.getvalue():
        return 1
    importlib.invalidate_caches()
    import d2l_bn  # noqa: F401  (installed by the cell)
    print(f"d2l_bn importable from {Path(d2l_bn.__file__).parent}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
