"""Lecture decks: they present with no network (every script, stylesheet and font a local file, and only the
files the decks load), a slide shows what the cell tags say, and index.html is the course's title page."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import nbformat
import pytest
from bs4 import BeautifulSoup

from d2l_bn.slides import ASSETS, build_all, build_deck, sri_digest
from d2l_bn.slides_assets import MARKER, Asset, fetch_asset, files_to_keep, prune, remove_stale_assets
from d2l_bn.slides_cells import prepare_for_slides, slide_type
from d2l_bn.slides_index import LEADING_NUMBER, inline_markdown, readme_summaries, write_title_page

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url\(\s*["']?([^"')]+)["']?\s*\)|"""
                  r"""@import\s+["']([^"']+)["']|import\s+\w+\s+from\s+["']([^"']+)["']""")


def references(text: str) -> list[str]:
    return [next(g for g in m.groups() if g) for m in LINK.finditer(text)]


def is_remote(ref: str) -> bool:
    return bool(urlsplit(ref).scheme in ("http", "https") or ref.startswith("//"))


def test_reference_scanner_sees_remote_links():
    html = ('<script src="https://cdn.example/x.js"></script><link href="//cdn.example/y.css">'
            "<style>@import url(https://fonts.example/f.css);</style>")
    assert [is_remote(r) for r in references(html)] == [True, True, True]


@pytest.mark.skipif(shutil.which("npm") is None, reason="npm fetches reveal.js, MathJax, require.js and jQuery once")
def test_built_deck_references_only_local_assets():
    notebook = sorted((ROOT / "notebooks").glob("0*.ipynb"))[0]
    out = ROOT / "slides"   # keeps the fetched libraries between runs; ignored by git
    deck = build_all([notebook], out)[0]
    html = deck.read_text(encoding="utf-8")
    refs = [r for r in references(html) if not r.startswith(("#", "data:"))]
    assert not [r for r in refs if is_remote(r)], "the deck links to the network"
    local = {r.split("?")[0] for r in refs}
    for needed in ("_static/reveal.js/dist/reveal.css", "_static/requirejs/require.js",
                   "_static/mathjax/es5/tex-chtml-full.js", "_static/jquery/dist/jquery.min.js"):
        assert needed in local
    missing = [r for r in local if not (out / r).exists()]
    assert not missing, f"the deck links to files that are not there: {missing}"
    # The scripts reveal.js is loaded with are required by name in the footer, not linked: check them too.
    for module in ("_static/reveal.js/dist/reveal.js", "_static/reveal.js/plugin/notes/notes.js"):
        assert f'"{module}"' in html and (out / module).exists()
    # The theme's own @imports (fonts) must stay local as well.
    theme = re.search(r'href="(_static/reveal\.js/dist/theme/\w+\.css)"', html).group(1)
    theme_refs = references((out / theme).read_text(encoding="utf-8"))
    assert theme_refs and not [r for r in theme_refs if is_remote(r)], theme_refs
    # And the libraries are exactly the pinned, integrity-checked versions, cut down to what the decks load.
    static = out / "_static"
    for asset in ASSETS:
        folder = static / asset.folder
        assert (folder / MARKER).read_text(encoding="utf-8") == asset.stamp
        shipped = {p.resolve() for p in folder.rglob("*") if p.is_file() and p.name != MARKER}
        assert shipped == files_to_keep(folder, asset), f"{asset.name}: files no deck loads are shipped"
    assert sorted(p.name for p in static.iterdir()) == sorted(a.folder for a in ASSETS)
    size = sum(p.stat().st_size for p in static.rglob("*") if p.is_file())
    assert size < 5_000_000, f"the libraries take {size / 1e6:.1f} MB; the deck folder must fit an e-mail"


def test_pinned_integrity_is_checked(tmp_path):
    blob = tmp_path / "x.tgz"
    blob.write_bytes(b"reveal")
    assert sri_digest(blob).startswith("sha512-") and sri_digest(blob) != ASSETS[0].integrity


# --- the libraries: only the files the decks load ----------------------------------------------------------

def test_pruning_keeps_the_entries_the_licence_and_what_kept_stylesheets_link(tmp_path):
    package = tmp_path / "package"
    for name, text in {"dist/theme/white.css": "@import url(./fonts/sans.css); h1 { color: red }",
                       "dist/theme/fonts/sans.css": "@font-face { src: url('./sans.woff?#x') format('woff') }",
                       "dist/theme/fonts/sans.woff": "font", "dist/theme/black.css": "", "dist/app.js": "",
                       "demo.html": "", "LICENSE": "MIT", "package.json": "{}"}.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(text)
    asset = Asset("demo", "1.0.0", "sha512-x", ("dist/app.js", "dist/theme/white.css"))
    keep = files_to_keep(package, asset)
    prune(package, keep)
    assert sorted(str(p.relative_to(package)) for p in package.rglob("*") if p.is_file()) == [
        "LICENSE", "dist/app.js", "dist/theme/fonts/sans.css", "dist/theme/fonts/sans.woff",
        "dist/theme/white.css", "package.json"]


def test_an_entry_missing_from_the_package_names_where_to_fix_it(tmp_path):
    (tmp_path / "package").mkdir()
    with pytest.raises(RuntimeError, match=r"has no es5/tex-chtml-full\.js.*Asset\.entries"):
        files_to_keep(tmp_path / "package", Asset("mathjax", "3.2.2", "sha512-x", ("es5/tex-chtml-full.js",)))


def test_fetching_says_what_it_is_doing_before_npm_runs(tmp_path, monkeypatch):
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    npm = fake_bin / "npm"
    npm.write_text("#!/bin/sh\necho 'not the real package' > mathjax-3.2.2.tgz\n")
    npm.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake_bin}:{os.environ['PATH']}")
    said = []
    with pytest.raises(RuntimeError, match="does not match its pinned integrity"):
        fetch_asset(ASSETS[-1], tmp_path, log=said.append)
    assert said == [f"{ASSETS[-1].name}@{ASSETS[-1].version}: fetching from the npm registry (npm pack) ..."]
    assert not (tmp_path / ASSETS[-1].folder).exists(), "nothing of a package that failed its check is kept"


def test_libraries_from_an_older_build_are_removed_and_other_folders_kept(tmp_path):
    (tmp_path / "mathjax2").mkdir()
    (tmp_path / "mathjax2" / ".version").write_text("2.7.9")   # the marker builds before pruning wrote
    (tmp_path / "my_notes").mkdir()
    remove_stale_assets(tmp_path, log=lambda message: None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["my_notes"]


# --- what a slide shows: cell tags, skipped cells, no empty steps ------------------------------------------

PNG = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")


def tagged_notebook():
    nb = nbformat.v4.new_notebook()
    slide = {"slideshow": {"slide_type": "slide"}}
    nb.cells = [
        nbformat.v4.new_markdown_cell("# A figure, not its code", metadata=slide),
        nbformat.v4.new_code_cell("draw_the_figure_with_forty_lines()", metadata={"tags": ["remove_input"]},
                                  outputs=[nbformat.v4.new_output("display_data", {"image/png": PNG,
                                                                                   "text/plain": "<Figure>"})]),
        nbformat.v4.new_code_cell("print(timing())", metadata={"tags": ["nbval-ignore-output"]},
                                  outputs=[nbformat.v4.new_output("stream", text="took 3 s\n")]),
        nbformat.v4.new_code_cell("secret_helper()", metadata={"tags": ["remove_cell"]}),
        nbformat.v4.new_code_cell("assert claim_holds()", metadata={"slideshow": {"slide_type": "skip"}}),
        nbformat.v4.new_code_cell("quiet_setup()", metadata={"tags": ["remove_input"],
                                                             "slideshow": {"slide_type": "fragment"}}),
        nbformat.v4.new_markdown_cell("The point, shown on the next press."),
        nbformat.v4.new_markdown_cell("What to say here.", metadata={"slideshow": {"slide_type": "notes"}}),
    ]
    return nb


def test_a_slide_shows_the_figure_not_its_code_and_no_test_machinery(tmp_path):
    notebook = tmp_path / "figure.ipynb"
    nbformat.write(tagged_notebook(), notebook)
    deck = build_deck(notebook, tmp_path)
    soup = BeautifulSoup(deck.read_text(encoding="utf-8"), "html.parser")
    slides = soup.select(".reveal .slides section")
    text = slides[0].get_text()
    assert "draw_the_figure_with_forty_lines" not in text and soup.select("section img[src^='data:image/png']")
    assert "print(timing())" in text and "took 3 s" in text   # untagged code stays
    assert "nbval" not in text.lower(), "a cell tag shows on the slide"
    assert "secret_helper" not in text and "assert claim_holds" not in text
    assert "What to say here." in soup.select_one("aside.notes").get_text()
    # The fragment cell showed nothing (code removed, no output): the next cell starts the fragment instead.
    for notes in soup.select("aside.notes"):
        notes.decompose()   # the speaker's notes sit inside the fragment, hidden; the room sees the rest
    fragments = soup.select(".fragment")
    assert len(fragments) == 1 and fragments[0].get_text().strip() == "The point, shown on the next press."
    assert "quiet_setup" not in text


def test_a_dropped_cell_passes_the_slide_it_started_to_the_next_cell():
    nb = nbformat.v4.new_notebook()
    empty_slide = nbformat.v4.new_markdown_cell("  ", metadata={"slideshow": {"slide_type": "slide"}})
    nb.cells = [nbformat.v4.new_markdown_cell("# One"), empty_slide,
                nbformat.v4.new_markdown_cell("two", metadata={"slideshow": {"slide_type": "fragment"}}),
                nbformat.v4.new_markdown_cell("three")]
    kept = prepare_for_slides(nb).cells
    assert [c.source for c in kept] == ["# One", "two", "three"]
    assert [slide_type(c) for c in kept] == ["-", "slide", "-"]
    assert slide_type(nb.cells[2]) == "fragment", "the notebook itself is not changed"


# --- the title page ----------------------------------------------------------------------------------------

def test_the_title_page_lists_chapters_with_their_titles_summaries_and_decks(tmp_path):
    notebooks = [ROOT / "notebooks" / "explorers.ipynb", ROOT / "notebooks" / "04_batch_norm_theory.ipynb",
                 ROOT / "notebooks" / "01_softmax_regression.ipynb"]
    decks = [tmp_path / f"{nb.stem}.slides.html" for nb in notebooks]
    page = write_title_page(tmp_path, notebooks, decks, ROOT / "README.md").read_text(encoding="utf-8")
    soup = BeautifulSoup(page, "html.parser")
    rows = [(li.select_one(".number").get_text(), li.select_one("a.title").get_text(), li.select_one("a")["href"])
            for li in soup.select("li")]
    assert rows == [("01", "Softmax regression and cross-entropy", "01_softmax_regression.slides.html"),
                    ("04", "Batch normalization: theory and from scratch", "04_batch_norm_theory.slides.html"),
                    ("", "Explorers: every widget of the course in one place", "explorers.slides.html")]
    summary = soup.select("li")[0].select_one(".summary").get_text()
    assert summary == readme_summaries(ROOT / "README.md")["01_softmax_regression"] and "cross-entropy" in summary
    assert "batch normalization" in soup.h1.get_text()
    assert not [r for r in references(page) if is_remote(r)]


def test_a_chapter_number_and_markdown_are_taken_off_the_titles():
    assert inline_markdown("scratch BN vs `nn.BatchNorm2d`, <b>") == \
        "scratch BN vs <code>nn.BatchNorm2d</code>, &lt;b&gt;"
    assert LEADING_NUMBER.sub("", "6. Batch Normalization in Practice") == "Batch Normalization in Practice"
    assert LEADING_NUMBER.sub("", "04 Batch normalization") == "Batch normalization"


# --- the command line: arguments are checked before anything is fetched ------------------------------------

@pytest.fixture
def no_fetching(monkeypatch):
    import d2l_bn.slides as slides

    def must_not_fetch(*args, **kwargs):
        raise AssertionError("nothing may be fetched before the arguments are checked")

    monkeypatch.setattr(slides, "fetch_asset", must_not_fetch)
    return slides


def test_a_missing_notebook_is_named_before_the_libraries_are_fetched(no_fetching, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        no_fetching.main([str(ROOT / "notebooks" / "01_softmax_regression.ipynb"), "nope.ipynb",
                          "--out", str(tmp_path)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: python -m d2l_bn.slides")
    assert "notebook(s) not found: nope.ipynb" in err and "Traceback" not in err


def test_an_unwritable_output_folder_is_refused_before_the_libraries_are_fetched(no_fetching, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")   # nothing can be created below it, not even by root
    notebook = str(ROOT / "notebooks" / "01_softmax_regression.ipynb")
    with pytest.raises(SystemExit):
        no_fetching.main([notebook, "--out", str(blocker / "slides")])
    assert f"cannot write into --out {blocker / 'slides'}" in capsys.readouterr().err


def test_a_failed_fetch_is_a_message_and_exit_status_1_not_a_traceback(monkeypatch, tmp_path, capsys):
    import d2l_bn.slides as slides

    def no_npm(asset, static_dir, log=None):
        raise RuntimeError("npm is needed once to fetch reveal.js@4.6.1 for offline slides: install Node.js")

    monkeypatch.setattr(slides, "fetch_asset", no_npm)
    assert slides.main([str(ROOT / "notebooks" / "01_softmax_regression.ipynb"), "--out", str(tmp_path)]) == 1
    assert capsys.readouterr().err == ("python -m d2l_bn.slides: error: npm is needed once to fetch reveal.js@4.6.1 "
                                       "for offline slides: install Node.js\n")


def test_the_usage_line_names_the_module_to_run():
    done = subprocess.run([sys.executable, "-m", "d2l_bn.slides", "--help"], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert done.returncode == 0 and done.stdout.startswith("usage: python -m d2l_bn.slides")


def test_report_and_screenshots_need_check(no_fetching, tmp_path, capsys):
    with pytest.raises(SystemExit):
        no_fetching.main([str(ROOT / "notebooks" / "01_softmax_regression.ipynb"), "--out", str(tmp_path),
                          "--report", str(tmp_path / "r.txt")])
    assert "--report and --screenshots go with --check" in capsys.readouterr().err
