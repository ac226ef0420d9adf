"""Execute notebooks top to bottom in a fresh kernel of this environment, as Colab runs them; exit 1 on an error.

    python .ci/execute_notebooks.py notebooks/*.ipynb

The Colab-like stage's check (.ci/colab-like): nbclient and ipykernel are Colab's versions there, so every cell
and every assert of the course runs on Colab's Jupyter stack. Saved outputs are not compared (nbval does that on
the main environment); nothing is written back.
"""
from __future__ import annotations

import sys
import time
from importlib import metadata
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError


def execute(path: Path) -> str | None:
    """Run one notebook; return None if every cell ran, else the error of the first cell that failed."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=1800, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    try:
        client.execute()
    except CellExecutionError as error:
        return str(error)
    return None


def main(paths: list[str]) -> int:
    versions = ", ".join(f"{name} {metadata.version(name)}" for name in
                         ("ipykernel", "ipython", "ipywidgets", "nbclient", "jupyter_client", "traitlets"))
    print(f"Python {sys.version.split()[0]}; {versions}", flush=True)
    failed = []
    for path in map(Path, paths):
        start = time.perf_counter()
        error = execute(path)
        print(f"{path.name}: {'ok' if error is None else 'FAILED'} in {time.perf_counter() - start:.0f} s", flush=True)
        if error is not None:
            print(error, flush=True)
            failed.append(path.name)
    print("every notebook ran" if not failed else f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
