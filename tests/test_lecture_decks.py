"""What an instructor needs from every chapter's deck, read from the notebooks themselves (issue 13).

The browser test (tests/browser/test_slides_in_browser.py) measures whether each slide fits 1280x720; these
checks need no browser: speaker notes in every section, lesson code short enough to read from the back of the
room, and exercise answers that the lecturer reveals one at a time.
"""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from d2l_bn.colab import chapter_notebooks
from d2l_bn.slides_cells import apply_tags, shows_something, slide_type

MAX_CODE_LINES = 18   # "~15 lines" of lesson code on a slide (issue 13); longer code goes to a `skip` cell or the package
NOTEBOOKS = chapter_notebooks()


def sections(nb: nbformat.NotebookNode) -> list[list[nbformat.NotebookNode]]:
    """The notebook cut at every `slide`: one list of cells per section of the deck."""
    found: list[list[nbformat.NotebookNode]] = []
    for cell in nb.cells:
        if slide_type(cell) == "slide" or not found:
            found.append([])
        found[-1].append(cell)
    return found


def heading(section: list[nbformat.NotebookNode]) -> str:
    first = next((c for c in section if c.cell_type == "markdown" and c.source.strip()), None)
    return first.source.strip().splitlines()[0] if first is not None else "(no markdown)"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_every_section_of_the_deck_has_speaker_notes(notebook: Path):
    nb = nbformat.read(notebook, as_version=4)
    without = [heading(s) for s in sections(nb)
               if any(slide_type(c) == "slide" for c in s) and not any(slide_type(c) == "notes" for c in s)]
    assert not without, f"{notebook.name}: sections without a `notes` cell: {without}"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_code_shown_on_a_slide_is_about_15_lines_at_most(notebook: Path):
    nb = apply_tags(nbformat.read(notebook, as_version=4))
    long = [f"c{i} ({len(c.source.splitlines())} lines)" for i, c in enumerate(nb.cells)
            if c.cell_type == "code" and shows_something(c)
            and not c.metadata.get("transient", {}).get("remove_source", False)
            and len(c.source.splitlines()) > MAX_CODE_LINES]
    assert not long, f"{notebook.name}: code cells too long for a slide: {long}"


def exercise_answers(nb: nbformat.NotebookNode) -> list[tuple[int, nbformat.NotebookNode]] | None:
    """The markdown cells that begin an answer ("### Answer 2", "**Answer.**"), after the "## Exercises" heading.

    None when the notebook has no exercises (the explorers).
    """
    start = next((i for i, c in enumerate(nb.cells)
                  if c.cell_type == "markdown" and c.source.lstrip().startswith("## Exercises")), None)
    if start is None:
        return None
    return [(i, c) for i, c in enumerate(nb.cells[start:], start) if c.cell_type == "markdown"
            and re.match(r"(#+\s*)?\**\s*Answer", c.source.lstrip())]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_each_exercise_answer_is_its_own_slide_after_the_questions(notebook: Path):
    answers = exercise_answers(nbformat.read(notebook, as_version=4))
    if answers is None:
        pytest.skip(f"{notebook.name} has no exercises")
    assert answers, f"{notebook.name}: exercises without answers (a markdown cell starting with an Answer heading)"
    hidden = [f"c{i}" for i, c in answers if slide_type(c) != "subslide"]
    assert not hidden, f"{notebook.name}: answers that are not their own subslide: {hidden}"
