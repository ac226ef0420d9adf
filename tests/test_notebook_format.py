"""Committed notebooks are in the form JupyterLab saves them, so opening one does not mark it modified."""
import json
from pathlib import Path

import pytest

from d2l_bn.notebook_format import KERNELSPEC, main, normalized

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_saved_as_jupyterlab_saves_it(path):
    text = path.read_text(encoding="utf-8")
    assert normalized(text) == text, f"run: python -m d2l_bn.notebook_format {path.relative_to(path.parents[1])}"


def test_normalizing_writes_jupyterlab_kernelspec_and_javascript_numbers(tmp_path):
    notebook = {"cells": [], "nbformat": 4, "nbformat_minor": 5,
                "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                             "widgets": {"state": {"max": 10.0, "step": 0.5}}}}
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(notebook))
    assert main(["--check", str(path)]) == 1
    assert main([str(path)]) == 0
    saved = json.loads(path.read_text())
    assert saved["metadata"]["kernelspec"] == KERNELSPEC
    assert saved["metadata"]["widgets"]["state"] == {"max": 10, "step": 0.5}
    assert '"max": 10,' in path.read_text()          # written as JavaScript writes it, not 10.0
    assert main(["--check", str(path)]) == 0


def test_a_missing_notebook_is_named(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main([str(tmp_path / "missing.ipynb")])
    assert "missing.ipynb" in capsys.readouterr().err
