"""Colab support: one setup cell per notebook and one badge per chapter, from one configured URL.

The repository URL lives in ``pyproject.toml`` (``[project.urls] Repository``). ``python -m d2l_bn.colab`` writes
it into the first code cell of every notebook (which installs ``d2l_bn`` only when running on Colab, and says
whether a GPU is attached) and into README's "Open in Colab" badges. ``tests/test_colab.py`` fails when they drift.
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


def repository_url(pyproject: Path = ROOT / "pyproject.toml") -> str:
    """The course repository's URL, from the one place it is configured."""
    return tomllib.loads(pyproject.read_text())["project"]["urls"]["Repository"].rstrip("/")


def setup_cell_source(url: str) -> str:
    """A cell that does nothing outside Colab; on Colab it installs d2l_bn and checks for the GPU."""
    return f'''{SETUP_MARK} (does nothing outside Colab): install d2l_bn from the course repository, check the GPU.
import sys

if "google.colab" in sys.modules:
    import subprocess

    import torch

    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "d2l-bn @ git+{url}"], check=True)
    print("GPU:", torch.cuda.get_device_name(0) if torch.cuda.is_available()
          else "none; choose Runtime > Change runtime type > GPU, then run all cells again")'''


def colab_url(url: str, notebook: Path) -> str:
    """Colab's address for a notebook of a GitHub repository (branch main)."""
    match = re.fullmatch(r"https://github\.com/([^/]+/[^/]+)", url)
    if not match:
        raise ValueError(f"Colab opens notebooks from GitHub; set [project.urls] Repository to "
                         f"https://github.com/OWNER/NAME (got {url!r})")
    return f"https://colab.research.google.com/github/{match.group(1)}/blob/main/notebooks/{notebook.name}"


def badges_markdown(url: str, notebooks: list[Path]) -> str:
    rows = [f"| {nb.stem} | [![Open In Colab]({BADGE_IMAGE})]({colab_url(url, nb)}) |" for nb in notebooks]
    return "\n".join([BADGES_BEGIN, "| notebook | Colab |", "|---|---|", *rows, BADGES_END])


def chapter_notebooks(root: Path = ROOT) -> list[Path]:
    return sorted((root / "notebooks").glob("*.ipynb"))


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


def write_badges(readme: Path, url: str, notebooks: list[Path]) -> bool:
    text = readme.read_text()
    block = badges_markdown(url, notebooks)
    pattern = re.compile(re.escape(BADGES_BEGIN) + ".*?" + re.escape(BADGES_END), re.DOTALL)
    if not pattern.search(text):
        raise ValueError(f"{readme} has no {BADGES_BEGIN} ... {BADGES_END} block to fill")
    new = pattern.sub(lambda _: block, text)
    readme.write_text(new)
    return new != text


def main() -> None:
    url = repository_url()
    notebooks = chapter_notebooks()
    changed = [nb.name for nb in notebooks if write_setup_cell(nb, url)]
    write_badges(ROOT / "README.md", url, notebooks)
    print(f"repository: {url}")
    print("setup cell written into: " + (", ".join(changed) or "nothing (all up to date)"))
    if changed:
        print("execute those notebooks again and save them (README: For maintainers)")


if __name__ == "__main__":
    main()
