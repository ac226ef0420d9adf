"""What a chapter writes out as the lesson must stay the code that later chapters import.

Convention (as in the d2l book's ``#@save``): a notebook code cell whose first line is
``# @save d2l_bn.<module>`` defines functions/classes that must be identical (same syntax tree, docstrings
included; comments and formatting may differ) to the ones of the same name in that module.
"""
from __future__ import annotations

import ast
import importlib
import inspect
import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
SAVE_MARK = re.compile(r"^#\s*@save\s+(d2l_bn(?:\.\w+)+)\s*$")


def saved_definitions() -> list[tuple[str, str, str, ast.AST]]:
    """(notebook, module, name, node) for every top-level def/class in an ``@save`` cell."""
    found = []
    for path in NOTEBOOKS:
        for cell in json.loads(path.read_text())["cells"]:
            source = "".join(cell["source"])
            if cell["cell_type"] != "code" or not source.strip():
                continue
            mark = SAVE_MARK.match(source.splitlines()[0])
            if not mark:
                continue
            tree = ast.parse(source)
            defs = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
            assert defs, f"{path.name}: an '# @save' cell must define at least one function or class"
            found += [(path.name, mark.group(1), node.name, node) for node in defs]
    return found


def test_notebooks_exist():
    assert NOTEBOOKS, "no notebooks found under notebooks/"


@pytest.mark.parametrize("notebook,module,name,node", saved_definitions(),
                         ids=lambda v: v if isinstance(v, str) else "")
def test_saved_notebook_code_equals_package_code(notebook, module, name, node):
    package_object = getattr(importlib.import_module(module), name, None)
    assert package_object is not None, f"{notebook} saves {name} into {module}, which does not define it"
    package_node = ast.parse(inspect.getsource(package_object).strip()).body[0]
    assert ast.dump(node) == ast.dump(package_node), (
        f"{notebook}: {name} differs from {module}.{name}; the lesson and the package must stay equal "
        f"(copy the one you changed over the other)")
