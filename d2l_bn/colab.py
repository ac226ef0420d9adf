"""Colab support: one setup cell per notebook and one badge per chapter, from one configured URL.

The repository URL lives in ``pyproject.toml`` (``[project.urls] Repository``). ``python -m d2l_bn.colab`` writes
it into the first code cell of every notebook (which installs ``d2l_bn`` only when running on Colab, and says
whether a GPU is attached) and into README's "Open in Colab" badges. ``tests/test_colab.py`` fails when they drift.

The graded exercises (``exercises/source/``) get the same setup cell. Their badges open the *student* versions,
which are generated, not committed: an instructor publishes ``exercises/release/`` as the branch
``STUDENT_BRANCH`` of the same repository (docs/instructor-guide.md), never the source, which holds the answers.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
SETUP_MARK = "# Colab setup"
BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
BADGES_BEGIN, BADGES_END = "<!-- colab badges: begin -->", "<!-- colab badges: end -->"
EXERCISE_BADGES_BEGIN = "<!-- colab exercise badges: begin -->"
EXERCISE_BADGES_END = "<!-- colab exercise badges: end -->"
STUDENT_BRANCH = "student"   # holds the generated student versions: <chapter>/<chapter>_exercises.ipynb


def repository_url(pyproject: Path = ROOT / "pyproject.toml") -> str:
    """The course repository's URL, from the one place it is configured."""
    return tomllib.loads(pyproject.read_text())["project"]["urls"]["Repository"].rstrip("/")


def setup_cell_source(url: str) -> str:
    """A cell that does nothing outside Colab; on Colab it installs d2l_bn and checks for the GPU.

    Colab's kernel is already running with its own IPython, ipywidgets and torch: pip must add only what is
    missing (d2l_bn's requirements are ranges that Colab's versions meet). The cell prints what pip installed
    and names any preinstalled package it replaced, which would need a restart of the session.
    """
    return f'''{SETUP_MARK} (does nothing outside Colab): install d2l_bn and only what Colab lacks; check the GPU.
import sys

if "google.colab" in sys.modules:
    import json, re, subprocess, tempfile
    from importlib import metadata

    import torch

    def canonical(name):
        return re.sub(r"[-_.]+", "-", name).lower()

    preinstalled = {{canonical(d.metadata["Name"]): d.version for d in metadata.distributions()}}
    report = tempfile.mkdtemp() + "/pip-report.json"        # pip's JSON list of what it installed
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--report", report,
                    "d2l-bn @ git+{url}"], check=True)
    installed = {{canonical(i["metadata"]["name"]): i["metadata"]["version"] for i in json.load(open(report))["install"]}}
    print("installed:", ", ".join(f"{{name}} {{version}}" for name, version in installed.items()))
    replaced = [f"{{n}} {{preinstalled[n]}} -> {{v}}" for n, v in installed.items() if n in preinstalled and n != "d2l-bn"]
    if replaced:
        print("replaced Colab's own", ", ".join(replaced), "- choose Runtime > Restart session, then run all cells")
    print("GPU:", torch.cuda.get_device_name(0) if torch.cuda.is_available()
          else "none; choose Runtime > Change runtime type > GPU, then run all cells again")'''


def _github_repository(url: str) -> str:
    match = re.fullmatch(r"https://github\.com/([^/]+/[^/]+)", url)
    if not match:
        raise ValueError(f"Colab opens notebooks from GitHub; set [project.urls] Repository to "
                         f"https://github.com/OWNER/NAME (got {url!r})")
    return match.group(1)


def colab_url(url: str, notebook: Path) -> str:
    """Colab's address for a notebook of a GitHub repository (branch main)."""
    return f"https://colab.research.google.com/github/{_github_repository(url)}/blob/main/notebooks/{notebook.name}"


def student_colab_url(url: str, exercise: Path) -> str:
    """Colab's address for the published student version of an exercise notebook (branch STUDENT_BRANCH)."""
    return (f"https://colab.research.google.com/github/{_github_repository(url)}/blob/{STUDENT_BRANCH}/"
            f"{exercise.parent.name}/{exercise.name}")


def badges_markdown(url: str, notebooks: list[Path]) -> str:
    rows = [f"| {nb.stem} | [![Open In Colab]({BADGE_IMAGE})]({colab_url(url, nb)}) |" for nb in notebooks]
    return "\n".join([BADGES_BEGIN, "| notebook | Colab |", "|---|---|", *rows, BADGES_END])


def exercise_badges_markdown(url: str, exercises: list[Path]) -> str:
    rows = [f"| {nb.parent.name} | [![Open In Colab]({BADGE_IMAGE})]({student_colab_url(url, nb)}) |"
            for nb in exercises]
    return "\n".join([EXERCISE_BADGES_BEGIN, "| graded exercises | Colab (student version) |", "|---|---|", *rows,
                      EXERCISE_BADGES_END])


def chapter_notebooks(root: Path = ROOT) -> list[Path]:
    return sorted((root / "notebooks").glob("*.ipynb"))


def exercise_notebooks(root: Path = ROOT) -> list[Path]:
    """The instructor (source) notebooks of the graded exercises, one per chapter."""
    return sorted((root / "exercises" / "source").glob("*/*.ipynb"))


def write_setup_cell(notebook: Path, url: str) -> bool:
    """Insert or update the setup cell (first code cell); return True when the file changed.

    A changed notebook must be executed again (its execution counts shift): see README.
    """
    nb = nbformat.read(notebook, as_version=4)
    source = setup_cell_source(url)
    first_code = next((c for c in nb.cells if c.cell_type == "code"), None)
    if first_code is not None and first_code.source.startswith(SETUP_MARK):
        if first_code.source == source:
            return False
        first_code.source = source
    else:
        cell = nbformat.v4.new_code_cell(source)
        cell.metadata["slideshow"] = {"slide_type": "skip"}
        index = nb.cells.index(first_code) if first_code is not None else len(nb.cells)
        nb.cells.insert(index, cell)
    nbformat.write(nb, notebook)
    return True


def _fill_block(readme: Path, begin: str, end: str, block: str) -> bool:
    text = readme.read_text()
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.DOTALL)
    if not pattern.search(text):
        raise ValueError(f"{readme} has no {begin} ... {end} block to fill")
    new = pattern.sub(lambda _: block, text)
    readme.write_text(new)
    return new != text


def write_badges(readme: Path, url: str, notebooks: list[Path]) -> bool:
    return _fill_block(readme, BADGES_BEGIN, BADGES_END, badges_markdown(url, notebooks))


def write_exercise_badges(readme: Path, url: str, exercises: list[Path]) -> bool:
    return _fill_block(readme, EXERCISE_BADGES_BEGIN, EXERCISE_BADGES_END, exercise_badges_markdown(url, exercises))


def main() -> None:
    url = repository_url()
    notebooks = chapter_notebooks()
    changed = [nb.name for nb in notebooks + exercise_notebooks() if write_setup_cell(nb, url)]
    write_badges(ROOT / "README.md", url, notebooks)
    write_exercise_badges(ROOT / "README.md", url, exercise_notebooks())
    print(f"repository: {url}")
    print("setup cell written into: " + (", ".join(changed) or "nothing (all up to date)"))
    if changed:
        print("execute those notebooks again and save them (README: For maintainers); exercise notebooks are "
              "committed without outputs")


if __name__ == "__main__":
    main()
