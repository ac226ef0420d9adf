"""What a notebook cell shows on a slide: the cell tags that hide code or cells, and no step that shows nothing.

A lecture slide shows the figure a cell draws, not the 40 lines that draw it; in JupyterLab the student still
sees and runs everything. The notebook says which with cell tags (metadata, invisible in both places), applied
by nbconvert's own ``TagRemovePreprocessor``:

- ``remove_input``: the slide shows the cell's output (its figure) and not its code;
- ``remove_output``: the slide shows the code and not its output;
- ``remove_cell``: the cell is not on the slides at all.

(The hyphenated spellings that Jupyter Book uses, ``remove-input`` and so on, work too.) ``nbval-ignore-output``
and every other tag stay metadata and never show. Cells whose slide type is ``skip`` are left out by nbconvert.

A cell that shows nothing once its tags are applied (its code removed and no output, an empty markdown cell) is
dropped, and the slide or fragment it started passes to the cell after it: otherwise pressing the arrow key would
advance an invisible step, or open a slide with a blank first step.
"""
from __future__ import annotations

import copy

from nbconvert.preprocessors import TagRemovePreprocessor
from nbformat import NotebookNode

REMOVE_INPUT_TAGS = {"remove_input", "remove-input"}
REMOVE_OUTPUT_TAGS = {"remove_output", "remove-output"}
REMOVE_CELL_TAGS = {"remove_cell", "remove-cell"}

STARTS = ("slide", "subslide", "fragment")  # slide types that begin something a key press reveals
OFF_SLIDE = ("skip", "notes")  # slide types that are never on the slide itself


def slide_type(cell: NotebookNode) -> str:
    return (cell.metadata.get("slideshow") or {}).get("slide_type") or "-"


def set_slide_type(cell: NotebookNode, value: str) -> None:
    cell.metadata.setdefault("slideshow", {})["slide_type"] = value


def output_shows_something(output: NotebookNode) -> bool:
    if output.output_type == "stream":
        return bool(output.get("text", "").strip())
    if output.output_type == "error":
        return True
    data = output.get("data", {})
    return any(str(value).strip() for value in data.values())


def shows_something(cell: NotebookNode) -> bool:
    """Whether the cell puts anything on a slide once its tags are applied (skip and notes cells: never)."""
    if slide_type(cell) in OFF_SLIDE:
        return False
    # TagRemovePreprocessor marks a removed input in the cell's metadata; nbconvert's templates then skip it.
    source_shown = bool(cell.source.strip()) and not cell.metadata.get("transient", {}).get("remove_source", False)
    return source_shown or any(output_shows_something(o) for o in cell.get("outputs", []))


def apply_tags(nb: NotebookNode) -> NotebookNode:
    """A copy of ``nb`` with the slide tags applied by nbconvert's TagRemovePreprocessor."""
    remover = TagRemovePreprocessor(enabled=True, remove_input_tags=REMOVE_INPUT_TAGS,
                                    remove_all_outputs_tags=REMOVE_OUTPUT_TAGS, remove_cell_tags=REMOVE_CELL_TAGS)
    tagged, _ = remover(copy.deepcopy(nb), {})
    return tagged


def drop_cells_that_show_nothing(nb: NotebookNode) -> NotebookNode:
    """Remove visible-typed cells that show nothing; a slide or fragment one of them began passes to the next."""
    kept: list[NotebookNode] = []
    pending: str | None = None  # the start a dropped cell leaves to the next cell on a slide
    for cell in nb.cells:
        kind = slide_type(cell)
        if kind in OFF_SLIDE:
            kept.append(cell)
            continue
        if not shows_something(cell):
            if kind in STARTS and (pending is None or STARTS.index(kind) < STARTS.index(pending)):
                pending = kind
            continue
        if pending is not None:
            # A dropped slide start wins over this cell's fragment or continuation; its own slide start stays.
            if kind not in STARTS or STARTS.index(pending) < STARTS.index(kind):
                set_slide_type(cell, pending)
            pending = None
        kept.append(cell)
    nb.cells = kept
    return nb


def prepare_for_slides(nb: NotebookNode) -> NotebookNode:
    """The notebook as the deck shows it: tags applied, empty steps removed, saved widget state dropped."""
    prepared = drop_cells_that_show_nothing(apply_tags(nb))
    prepared.metadata.pop("widgets", None)  # saved widget state would pull the widget renderer from a CDN
    return prepared
