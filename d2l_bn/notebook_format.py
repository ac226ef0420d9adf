"""Keep committed notebooks in the form JupyterLab saves them: ``python -m d2l_bn.notebook_format [--check] NB ...``.

Why: a notebook executed by nbconvert differs from what JupyterLab would write in two ways, and JupyterLab marks
such a notebook modified as soon as it is opened, then autosaves it — a learner's clone shows a diff they never
made. (1) JupyterLab writes the kernelspec of the kernel it starts, "Python 3 (ipykernel)". (2) JupyterLab's
frontend is JavaScript, which has one number type: the widget state's ``10.0`` comes back as ``10``. The files
are otherwise written by the same function (``nbformat.write``: sorted keys, indent 1), so fixing these two
makes the bytes equal. ``tests/test_notebook_format.py`` checks every committed notebook.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import nbformat

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def _as_javascript_numbers(value: Any) -> Any:
    """Integral floats become ints, as a JSON round trip through JavaScript writes them."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return type(value)((key, _as_javascript_numbers(item)) for key, item in value.items())
    if isinstance(value, list):
        return [_as_javascript_numbers(item) for item in value]
    return value


def normalized(text: str) -> str:
    """The notebook `text` as JupyterLab would save it."""
    notebook = nbformat.reads(text, as_version=4)
    notebook.metadata["kernelspec"] = dict(KERNELSPEC)
    notebook = nbformat.from_dict(_as_javascript_numbers(notebook))
    return nbformat.writes(notebook) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m d2l_bn.notebook_format", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a notebook would change")
    parser.add_argument("notebooks", nargs="+", type=Path)
    args = parser.parse_args(argv)
    missing = [str(path) for path in args.notebooks if not path.is_file()]
    if missing:
        parser.error(f"no such notebook: {', '.join(missing)}")
    changed = []
    for path in args.notebooks:
        text = path.read_text(encoding="utf-8")
        fixed = normalized(text)
        if fixed != text:
            changed.append(str(path))
            if not args.check:
                path.write_text(fixed, encoding="utf-8")
    if args.check and changed:
        print("not in the form JupyterLab saves (run python -m d2l_bn.notebook_format on them): "
              + ", ".join(changed))
        return 1
    for name in changed:
        print(f"normalized {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
