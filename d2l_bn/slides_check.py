"""Does every slide fit the screen? Open each deck in Chromium as a lecturer would, press → until the end, measure.

A deck is opened offline in a 1280x720 window with reveal.js's own scaling, and → is pressed through every slide
and fragment. After each press the current slide is measured in its own pixels (reveal.js then scales the whole
slide to the window):

- ``too tall``: the slide's content is taller than the slide (it would run off the bottom of the screen);
- ``too wide``: a code block or printed output is wider than its box (lines cut off or scrolled sideways), or
  the slide itself is wider than the screen;
- ``no title``: no heading on the slide; ``opens with code``: its first cell shows code before any text;
- ``empty step``: a press that changed nothing visible (an empty fragment), or a slide showing nothing.

and, as advice for whoever shortens the slides (not counted as a failure), ``long code``: more than ~15 lines
or ~80 characters a line of code on one slide. Every problem names the deck, the slide number reveal.js shows
(bottom right) and the notebook cells on the slide (``c12`` = the 13th cell, as JupyterLab counts from 0), so
the report says where to edit: ``python -m d2l_bn.slides --check --report FILE``.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import nbformat

from d2l_bn.slides import SLIDE_HEIGHT, SLIDE_WIDTH
from d2l_bn.slides_measure import MEASURE_JS, SETTLE_JS

VIEWPORT = {"width": 1280, "height": 720}
MAX_CODE_LINES, MAX_CODE_CHARS = 15, 80
FAILING = ("too tall", "too wide", "no title", "opens with code", "empty step")


@dataclass
class SlideProblems:
    """What is wrong with one slide; ``kinds`` maps a kind of problem to its detail (pixels, cell)."""

    number: int
    title: str
    cells: str
    kinds: dict[str, str] = field(default_factory=dict)
    pixels: dict[str, int] = field(default_factory=dict)  # the worst overflow of each kind, over all steps

    @property
    def failing(self) -> bool:
        return any(kind in FAILING for kind in self.kinds)


@dataclass
class DeckReport:
    """One deck's walk: its size, its tallest slide and every slide with a problem."""

    deck: str
    slides: int = 0
    steps: int = 0
    visited: int = 0  # slides the walk reached; equal to ``slides`` when → reaches every one
    tallest: int = 0  # px, the content height of the tallest slide (the slide is SLIDE_HEIGHT px tall)
    tallest_slide: int = 0
    problems: list[SlideProblems] = field(default_factory=list)
    load_errors: list[str] = field(default_factory=list)

    @property
    def failing(self) -> list[SlideProblems]:
        return [p for p in self.problems if p.failing]


def find_chromium() -> str | None:
    """Debian's Chromium (what CI installs), found as the browser tests find it."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def why_no_browser() -> str | None:
    """Why the check cannot run here (Playwright or Chromium missing), or None when it can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "needs Playwright: pip install playwright (it comes with the [dev] extra)"
    if find_chromium() is None:
        return "needs Chromium: apt-get install chromium (Debian/Ubuntu)"
    return None


def cell_labels(notebook: Path | None) -> dict[str, str]:
    """``{cell id: "c<index>"}`` for the notebook a deck was built from (the deck's HTML carries cell ids)."""
    if notebook is None:
        return {}
    cells = nbformat.read(notebook, as_version=4).cells
    return {cell.get("id", ""): f"c{i}" for i, cell in enumerate(cells) if cell.get("id")}


def cell_range(labels: list[str]) -> str:
    """``["c3", "c4", "c5", "c9"]`` -> ``"c3-c5, c9"``."""
    numbers = sorted({int(label[1:]) for label in labels})
    runs: list[list[int]] = []
    for n in numbers:
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    return ", ".join(f"c{r[0]}" if len(r) == 1 else f"c{r[0]}-c{r[-1]}" for r in runs)


def _note(slide: SlideProblems, kind: str, detail: str, pixels: int = 0) -> None:
    """Keep the first detail of a kind, or the one with the most pixels."""
    if kind not in slide.kinds or pixels > slide.pixels.get(kind, 0):
        slide.kinds[kind], slide.pixels[kind] = detail, pixels


def _record_step(report: DeckReport, slides: dict, step: dict, previous: dict | None, labels: dict) -> None:
    key = (step["h"], step["v"])
    if key not in slides:
        slides[key] = SlideProblems(step["number"], step["title"],
                                    cell_range([labels[c] for c in step["cells"] if c in labels]))
    slide = slides[key]
    if step["height"] > report.tallest:
        report.tallest, report.tallest_slide = step["height"], step["number"]
    over = step["height"] - SLIDE_HEIGHT
    if over > 0:
        _note(slide, "too tall", f"{over} px too tall ({step['height']} of {SLIDE_HEIGHT})", over)
    for wide in step["wide"]:
        where = f" (cell {labels.get(wide['cell'], '?')})" if wide["cell"] else ""
        _note(slide, "too wide", f"{wide['what']} {wide['px']} px too wide{where}", wide["px"])
    if step["slideWidth"] > SLIDE_WIDTH:
        over = step["slideWidth"] - SLIDE_WIDTH
        _note(slide, "too wide", f"slide {over} px too wide", over)
    if not step["hasHeading"]:
        _note(slide, "no title", "no heading")
    if step["opensWithCode"]:
        _note(slide, "opens with code", "first cell shows code")
    same_slide = previous is not None and (previous["h"], previous["v"]) == key
    if not step["signature"]:
        _note(slide, "empty step", f"nothing visible at step {step['f'] + 2 if step['f'] is not None else 1}")
    elif same_slide and step["signature"] == previous["signature"]:
        _note(slide, "empty step", f"fragment {step['f'] + 1} shows nothing new")
    elif same_slide and step["fragmentOffScreen"]:
        _note(slide, "empty step", f"fragment {step['f'] + 1} appears below the screen")
    elif previous is not None and not same_slide and step["signature"] == previous["signature"]:
        _note(slide, "empty step", "looks the same as the slide before")
    if step["codeLines"] > MAX_CODE_LINES or step["codeChars"] > MAX_CODE_CHARS:
        _note(slide, "long code", f"{step['codeLines']} code lines, longest {step['codeChars']} characters")


def walk_deck(browser, deck: Path, notebook: Path | None = None, screenshot: Path | None = None,
              log: Callable[[str], None] = print) -> tuple[DeckReport, dict | None]:
    """Press → through ``deck`` and measure every step; return its report and its largest figure slide."""
    report = DeckReport(deck.name.removesuffix(".slides.html"))
    labels = cell_labels(notebook)
    context = browser.new_context(offline=True, viewport=VIEWPORT)  # a classroom with no network
    page = context.new_page()
    page.on("request", lambda r: None if r.url.startswith(("file:", "data:", "blob:"))
            else report.load_errors.append(f"asked the network for {r.url}"))
    page.on("requestfailed", lambda r: report.load_errors.append(f"could not load {r.url} ({r.failure})"))
    page.on("pageerror", lambda e: report.load_errors.append(f"script error: {e}"))
    page.goto(deck.as_uri())
    # "complete": the deferred MathJax script has run and every image and font file has arrived.
    page.wait_for_function("document.readyState === 'complete' && window.Reveal && Reveal.isReady()",
                           timeout=60_000)
    page.evaluate(SETTLE_JS)
    if screenshot is not None:
        page.screenshot(path=str(screenshot))
    slides: dict = {}
    previous, figure = None, None
    for _ in range(5_000):  # a deck of 5,000 steps is a bug in the deck, not a lecture
        step = page.evaluate(MEASURE_JS)
        report.steps += 1
        _record_step(report, slides, step, previous, labels)
        if step["figure"] > (figure or {}).get("figure", 0.0):
            figure = {**step, "deck": report.deck, "uri": deck.as_uri()}
        previous = step
        page.keyboard.press("ArrowRight")
        if page.evaluate("JSON.stringify(Reveal.getIndices())") == step["indices"]:
            break  # the last step: → changes nothing
    report.slides = page.evaluate("Reveal.getTotalSlides()")
    report.visited = len(slides)
    report.problems = [s for s in slides.values() if s.kinds]
    context.close()
    log(f"checked {report.deck}: {report.slides} slides, {report.steps} steps, "
        f"{len(report.failing)} slide(s) to fix")
    return report, figure


def screenshot_slide(browser, figure: dict, path: Path) -> None:
    """A screenshot of one slide (as the room sees it at 1280x720), after its transition has finished."""
    context = browser.new_context(offline=True, viewport=VIEWPORT)
    page = context.new_page()
    page.goto(f"{figure['uri']}#/{figure['h']}/{figure['v']}")
    page.wait_for_function("document.readyState === 'complete' && window.Reveal && Reveal.isReady()",
                           timeout=60_000)
    page.evaluate(f"Reveal.slide({figure['h']}, {figure['v']}, {figure['f'] if figure['f'] is not None else -1})")
    page.evaluate(SETTLE_JS)
    page.wait_for_timeout(1_500)
    page.screenshot(path=str(path))
    context.close()


def check_decks(decks: list[Path], notebooks: list[Path] | None = None, screenshots: Path | None = None,
                log: Callable[[str], None] = print, browser=None) -> list[DeckReport]:
    """Walk every deck (built from ``notebooks``, same order) in Chromium; save screenshots if asked.

    ``browser``: a Playwright browser to use (a test's); by default Chromium is started and closed here.
    """
    if browser is None:
        reason = why_no_browser()
        if reason:
            raise RuntimeError(f"the deck check {reason}")
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=find_chromium(), args=["--no-sandbox"])
            try:
                return check_decks(decks, notebooks, screenshots, log, browser)
            finally:
                browser.close()
    if screenshots is not None:
        screenshots.mkdir(parents=True, exist_ok=True)
    reports, figures = [], []
    for deck, notebook in zip(decks, notebooks or [None] * len(decks)):
        first = screenshots / f"{deck.name.removesuffix('.slides.html')}_first_slide.png" if screenshots else None
        report, figure = walk_deck(browser, deck, notebook, first, log)
        reports.append(report)
        if figure and not any(s.number == figure["number"] and s.failing for s in report.problems):
            figures.append(figure)  # a figure slide to show off must itself fit
    if screenshots is not None and figures:
        best = max(figures, key=lambda f: f["figure"])
        screenshot_slide(browser, best, screenshots / "figure_slide.png")
        log(f"figure slide: {best['deck']} slide {best['number']} -> {screenshots / 'figure_slide.png'}")
    return reports


def format_report(reports: list[DeckReport]) -> str:
    """The list phase 2 works from: every slide with a problem, deck by deck, and a summary."""
    lines = [f"Deck check: Chromium, window {VIEWPORT['width']}x{VIEWPORT['height']}, slides "
             f"{SLIDE_WIDTH}x{SLIDE_HEIGHT} px scaled by reveal.js; slide numbers as the deck shows them; "
             f"'long code' (>{MAX_CODE_LINES} lines or >{MAX_CODE_CHARS} characters) is advice, not a failure."]
    for r in reports:
        lines.append("")
        lines.append(f"{r.deck}: {r.slides} slides, {r.steps} steps; tallest slide {r.tallest} px (slide "
                     f"{r.tallest_slide}); {len(r.failing)} slide(s) to fix")
        lines.extend(f"  ! {error}" for error in r.load_errors)
        for s in sorted(r.problems, key=lambda s: s.number):
            title = f'"{s.title}"' if s.title else "(untitled)"
            cells = f" [{s.cells}]" if s.cells else ""
            lines.append(f"  slide {s.number} {title}{cells}: " + "; ".join(s.kinds.values()))
    lines.append("")
    lines.append("Summary: slides to fix per deck (too tall / too wide / no title / opens with code / empty step)")
    for r in reports:
        counts = [sum(kind in s.kinds for s in r.problems) for kind in FAILING[:5]]
        lines.append(f"  {r.deck}: {len(r.failing)} of {r.slides} ({' / '.join(map(str, counts))})"
                     + (f", {len(r.load_errors)} load error(s)" if r.load_errors else ""))
    return "\n".join(lines) + "\n"
