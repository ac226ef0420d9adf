"""Every deck, presented as a lecturer presents it: Chromium at 1280x720, offline, → pressed through every slide.

The decks are built by ``python -m d2l_bn.slides`` (into ``slides/``, which keeps the fetched libraries) and
walked by ``d2l_bn.slides_check``, the same code as ``python -m d2l_bn.slides --check``. Always checked: every
deck loads with no network and no missing file or script error, → reaches every slide, and no press of → is an
empty step. The screenshots (the first slide of each deck, the largest figure slide) and the full report are
saved under ``artifacts/browser/decks/``.

The bar of issue 13 is checked too: every slide fits the screen, has a title and does not open with code. The
report lists every offending slide.

Locally these tests skip when Chromium or Playwright is missing; with ``D2L_BN_REQUIRE_BROWSER=1`` (CI) they fail.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import nbformat
import pytest

from d2l_bn.slides import ASSETS, build_all, build_deck, fetch_asset
from d2l_bn.slides_check import check_decks, find_chromium, format_report, why_no_browser

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts" / "browser" / "decks"


@pytest.fixture(scope="module")
def browser():
    reason = why_no_browser()
    if reason:
        if os.environ.get("D2L_BN_REQUIRE_BROWSER") == "1":
            pytest.fail(f"the deck check {reason}")
        pytest.skip(f"the deck check {reason}")
    if shutil.which("npm") is None:
        pytest.skip("npm fetches reveal.js and MathJax once")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=find_chromium(), args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def static_dir(browser) -> Path:
    """The libraries, fetched once into slides/_static (kept between runs, ignored by git)."""
    static = ROOT / "slides" / "_static"
    static.mkdir(parents=True, exist_ok=True)
    for asset in ASSETS:
        fetch_asset(asset, static)
    return static


@pytest.fixture(scope="module")
def reports(browser, static_dir):
    """Build every deck as the command does, and walk every one."""
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    decks = build_all(notebooks, ROOT / "slides")
    reports = check_decks(decks, notebooks, screenshots=ARTIFACTS, browser=browser)
    (ARTIFACTS / "decks-report.txt").write_text(format_report(reports), encoding="utf-8")
    return reports


def test_every_deck_loads_offline_and_arrow_right_reaches_every_slide(reports):
    assert len(reports) == len(list((ROOT / "notebooks").glob("*.ipynb")))
    for report in reports:
        assert not report.load_errors, f"{report.deck}: {report.load_errors}"
        assert report.slides > 1 and report.visited == report.slides, (
            f"{report.deck}: → reached {report.visited} of {report.slides} slides")
        assert (ARTIFACTS / f"{report.deck}_first_slide.png").stat().st_size > 10_000
    assert (ARTIFACTS / "figure_slide.png").stat().st_size > 10_000


def test_no_press_of_arrow_right_is_an_empty_step(reports):
    empty = [f"{r.deck} slide {s.number}: {s.kinds['empty step']}" for r in reports for s in r.problems
             if "empty step" in s.kinds]
    assert not empty, "\n".join(empty)


def test_every_slide_fits_1280x720_has_a_title_and_does_not_open_with_code(reports):
    failing = [r for r in reports if r.failing]
    assert not failing, "slides to fix:\n" + format_report(failing)


# --- the check itself finds what it is for: a deck made to fail -------------------------------------------

def lecture_with_mistakes() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    new_slide = {"slideshow": {"slide_type": "slide"}}
    fragment = {"slideshow": {"slide_type": "fragment"}}
    nb.cells = [
        nbformat.v4.new_markdown_cell("# A slide that fits\n\nOne idea.", metadata=new_slide),
        nbformat.v4.new_code_cell("x = " + " + ".join(["1"] * 60), metadata=new_slide),   # ~240 characters
        nbformat.v4.new_markdown_cell("## Far too long\n\n" + "\n\n".join(f"line {i}" for i in range(40)),
                                      metadata=new_slide),
        nbformat.v4.new_markdown_cell("The fragment below the screen.", metadata=fragment),
        nbformat.v4.new_markdown_cell("## An empty fragment", metadata=new_slide),
        nbformat.v4.new_markdown_cell("<span></span>", metadata=fragment),   # renders nothing
        nbformat.v4.new_code_cell("hidden()", metadata={**fragment, "tags": ["remove_input"]}),  # dropped
    ]
    return nb


def test_the_check_names_slide_number_and_pixels_of_every_kind_of_problem(browser, static_dir, tmp_path):
    notebook = tmp_path / "99_mistakes.ipynb"
    nbformat.write(lecture_with_mistakes(), notebook)
    shutil.copytree(static_dir, tmp_path / "_static")
    deck = build_deck(notebook, tmp_path)
    [report] = check_decks([deck], [notebook], browser=browser, log=lambda message: None)
    found = {s.number: s.kinds for s in report.problems}
    assert report.slides == 4 and report.steps == 6, "the cell with nothing to show added a step"
    assert 1 not in found
    assert found[2]["too wide"].startswith("code ") and found[2]["too wide"].endswith("px too wide (cell c1)")
    assert "no title" in found[2] and "opens with code" in found[2]
    assert found[3]["too tall"].endswith(" of 720)") and int(found[3]["too tall"].split()[0]) > 500
    # On a slide too tall for the screen the deck scrolls a new fragment into sight: not an empty step.
    assert "empty step" not in found[3]
    assert found[4] == {"empty step": "fragment 1 shows nothing new"}
    assert "slide 3 \"Far too long\" [c2-c3]: " in format_report([report])
