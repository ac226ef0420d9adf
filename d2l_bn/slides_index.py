"""The title page of the deck folder (``index.html``): the course, then one line per chapter with a link to its deck.

Nothing here is typed twice: a chapter's title is its notebook's first heading (what the student sees on top of
the notebook) and its one-line description is the README's chapter table (what a visitor of the repository
reads). The page is one self-contained file, with no script and nothing fetched, like the decks.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
LEADING_NUMBER = re.compile(r"^\d+\.?\s+")  # "01 Softmax ..." or "6. Batch ..." in a notebook's heading
README_ROW = re.compile(  # | 01 | [Title](notebooks/01_name.ipynb) | what you learn |
    r"^\|\s*(\d+)\s*\|\s*\[[^\]]*\]\(notebooks/([^)]+)\.ipynb\)\s*\|\s*(.+?)\s*\|\s*$", re.MULTILINE)
INLINE_CODE = re.compile(r"`([^`]+)`")


@dataclass(frozen=True)
class DeckEntry:
    """One line of the title page."""

    number: str | None  # "01" for a chapter; None for a deck outside the numbered chapters (the explorers)
    title: str
    summary: str  # markdown, one line; may be empty
    href: str


def notebook_title(notebook: Path) -> str:
    """The text of the notebook's first markdown heading, without the chapter number it starts with."""
    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            match = HEADING.search(cell.source)
            if match:
                return LEADING_NUMBER.sub("", match.group(1))
    return notebook.stem.replace("_", " ")


def readme_summaries(readme: Path) -> dict[str, str]:
    """``{notebook stem: what you learn}`` from the README's chapter table (empty if there is no README)."""
    if not readme.is_file():
        return {}
    return {stem: summary for _, stem, summary in README_ROW.findall(readme.read_text(encoding="utf-8"))}


def course_title(readme: Path) -> str:
    if readme.is_file():
        match = HEADING.search(readme.read_text(encoding="utf-8"))
        if match:
            return match.group(1)
    return "Lecture slides"


def deck_entries(notebooks: list[Path], decks: list[Path], readme: Path) -> list[DeckEntry]:
    """One entry per deck, numbered chapters first, in the order of their numbers."""
    summaries = readme_summaries(readme)
    entries = []
    for notebook, deck in zip(notebooks, decks):
        number = re.match(r"\d+", notebook.stem)
        entries.append(DeckEntry(number.group(0) if number else None, notebook_title(notebook),
                                 summaries.get(notebook.stem, ""), deck.name))
    return sorted(entries, key=lambda e: (e.number is None, e.number or "", e.title))


def inline_markdown(text: str) -> str:
    """Escaped HTML of one line of README markdown; only `code` spans are kept as markup."""
    parts = INLINE_CODE.split(text)
    return "".join(f"<code>{html.escape(p)}</code>" if i % 2 else html.escape(p) for i, p in enumerate(parts))


STYLE = """
body { font-family: "Source Sans Pro", Helvetica, Arial, sans-serif; max-width: 60rem; margin: 3rem auto;
       padding: 0 1.5rem; color: #222; line-height: 1.45; }
h1 { font-size: 2.2rem; margin-bottom: .2rem; }
p.how { color: #555; margin-top: 0; }
ol { list-style: none; padding: 0; }
li { display: grid; grid-template-columns: 3.2rem 1fr; padding: .8rem 0; border-top: 1px solid #ddd; }
.number { font-size: 1.6rem; font-weight: 600; color: #2a76dd; }
a.title { font-size: 1.3rem; font-weight: 600; color: #222; text-decoration: none; }
a.title:hover { text-decoration: underline; color: #2a76dd; }
.summary { color: #444; }
code { font-size: .95em; background: #f3f3f3; padding: 0 .2em; border-radius: 3px; }
kbd { border: 1px solid #bbb; border-radius: 3px; padding: 0 .3em; font-size: .9em; }
"""


def title_page(entries: list[DeckEntry], title: str) -> str:
    """The HTML of the title page."""
    items = []
    for entry in entries:
        summary = f'<div class="summary">{inline_markdown(entry.summary)}</div>' if entry.summary else ""
        items.append(f'<li><span class="number">{html.escape(entry.number or "")}</span><div>'
                     f'<a class="title" href="{html.escape(entry.href)}">{html.escape(entry.title)}</a>'
                     f'{summary}</div></li>')
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>{html.escape(title)}: lecture slides</title><style>{STYLE}</style></head>\n<body>\n'
            f'<h1>{html.escape(title)}</h1>\n'
            f'<p class="how">Lecture slides, one deck per chapter; they work with no network. In a deck: '
            f'<kbd>→</kbd>/<kbd>Space</kbd> next step, <kbd>S</kbd> speaker notes, <kbd>F</kbd> full screen, '
            f'<kbd>Esc</kbd> overview.</p>\n<ol>\n' + "\n".join(items) + "\n</ol>\n</body></html>\n")


def write_title_page(out_dir: Path, notebooks: list[Path], decks: list[Path], readme: Path) -> Path:
    """Write ``out_dir/index.html`` linking ``decks`` (built from ``notebooks``, in the same order)."""
    page = out_dir / "index.html"
    page.write_text(title_page(deck_entries(notebooks, decks, readme), course_title(readme)), encoding="utf-8")
    return page
