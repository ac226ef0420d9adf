"""Build every chapter as a reveal.js deck that presents with no network: ``python -m d2l_bn.slides``.

``jupyter nbconvert --to slides`` links reveal.js, require.js, jQuery and MathJax from CDNs, so a classroom without
internet gets a blank page. This builder fetches those libraries once from the npm registry (``npm pack``, each
tarball checked against its sha512 integrity, then cut down to the files the decks load: ``slides_assets``),
unpacks them into ``<out>/_static/`` and points the decks at that local copy. The output folder is
self-contained: copy it to a USB stick and open ``<out>/index.html``, the course's title page (``slides_index``).

Cell tags decide what a slide shows (``remove_input``: the figure without its code; ``slides_cells``), and
``--check`` opens every deck in Chromium at 1280x720 and lists each slide that does not fit (``slides_check``).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import nbformat
from nbconvert import SlidesExporter

from d2l_bn._folders import unwritable_reason
from d2l_bn.slides_assets import ASSETS, Asset, Log, fetch_asset, remove_stale_assets, sri_digest
from d2l_bn.slides_cells import prepare_for_slides
from d2l_bn.slides_index import write_title_page

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE_DIR = Path(__file__).resolve().parent / "slides_template"
SLIDE_WIDTH, SLIDE_HEIGHT = 1280, 720  # one 16:9 projector screen; reveal.js scales the slide to the window

__all__ = ["ASSETS", "Asset", "build_all", "build_deck", "fetch_asset", "main", "make_exporter", "sri_digest"]


def say(message: str) -> None:
    """Progress on stdout at once (not when the buffer fills), so a long fetch is never silent."""
    print(message, flush=True)


def make_exporter(static_prefix: str = "_static") -> SlidesExporter:
    """A SlidesExporter whose every script and stylesheet is a relative path under ``static_prefix``."""
    exporter = SlidesExporter(extra_template_basedirs=[str(TEMPLATE_DIR)], template_name="offline_reveal")
    exporter.reveal_url_prefix = f"{static_prefix}/reveal.js"
    exporter.require_js_url = f"{static_prefix}/requirejs/require.js"
    exporter.jquery_url = f"{static_prefix}/jquery/dist/jquery.min.js"
    exporter.mathjax_url = f"{static_prefix}/mathjax/es5/tex-chtml-full.js"
    exporter.reveal_theme = "white"  # "simple" (the default) imports its fonts from a web font service
    exporter.reveal_width, exporter.reveal_height = str(SLIDE_WIDTH), str(SLIDE_HEIGHT)
    return exporter


def build_deck(notebook: Path, out_dir: Path, exporter: SlidesExporter | None = None) -> Path:
    """Write ``out_dir/<notebook stem>.slides.html`` and return its path (assets must already be in out_dir)."""
    exporter = exporter or make_exporter()
    nb = prepare_for_slides(nbformat.read(notebook, as_version=4))
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": notebook.stem}})
    path = out_dir / f"{notebook.stem}.slides.html"
    path.write_text(body, encoding="utf-8")
    return path


def build_all(notebooks: list[Path], out_dir: Path, log: Log = say) -> list[Path]:
    """Fetch the assets once, build one deck per notebook and the title page linking them."""
    out_dir.mkdir(parents=True, exist_ok=True)
    static_dir = out_dir / "_static"
    static_dir.mkdir(exist_ok=True)
    remove_stale_assets(static_dir, log)
    for asset in ASSETS:
        fetch_asset(asset, static_dir, log)
    exporter = make_exporter()
    decks = []
    for notebook in notebooks:
        decks.append(build_deck(notebook, out_dir, exporter))
        log(f"wrote {decks[-1]}")
    log(f"wrote {write_title_page(out_dir, notebooks, decks, ROOT / 'README.md')}")
    return decks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m d2l_bn.slides", description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebooks/*.ipynb")
    parser.add_argument("--out", type=Path, default=ROOT / "slides", help="output folder (default: slides/)")
    parser.add_argument("--check", action="store_true",
                        help="then open every deck in Chromium at 1280x720, step through every slide and fragment and "
                             "list every slide that overflows, has no title, opens with code or adds an empty step "
                             "(exit status 1 if any)")
    parser.add_argument("--report", type=Path, help="with --check: also write the list into this file")
    parser.add_argument("--screenshots", type=Path,
                        help="with --check: save the first slide of each deck and the largest figure slide here")
    args = parser.parse_args(argv)
    if (args.report or args.screenshots) and not args.check:
        parser.error("--report and --screenshots go with --check")
    notebooks = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    # Everything that can be wrong with the arguments is found before the four libraries are fetched.
    missing = [str(nb) for nb in notebooks if not nb.is_file()]
    if missing:
        parser.error(f"notebook(s) not found: {', '.join(missing)}; pass paths of existing .ipynb files "
                     f"(or none, for every notebooks/*.ipynb)")
    if not notebooks:
        parser.error(f"no notebooks to build: {ROOT / 'notebooks'} has no .ipynb files; pass some paths")
    not_notebooks = [str(nb) for nb in notebooks if nb.suffix != ".ipynb"]
    if not_notebooks:
        parser.error(f"not notebook(s): {', '.join(not_notebooks)}; pass .ipynb files")
    reason = unwritable_reason(args.out)
    if reason:
        parser.error(f"cannot write into --out {args.out} ({reason}); choose a folder you can write to")
    if args.check:
        from d2l_bn.slides_check import why_no_browser

        reason = why_no_browser()
        if reason:
            parser.error(f"--check {reason}")
    try:
        decks = build_all(notebooks, args.out)
    except (RuntimeError, OSError, subprocess.CalledProcessError) as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 1
    say(f"open {args.out / 'index.html'} in a browser (no network needed)")
    if not args.check:
        return 0
    from d2l_bn.slides_check import check_decks, format_report

    reports = check_decks(decks, notebooks, screenshots=args.screenshots, log=say)
    text = format_report(reports)
    print(text, end="")
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(text, encoding="utf-8")
        say(f"wrote {args.report}")
    return 1 if any(r.failing or r.load_errors for r in reports) else 0


if __name__ == "__main__":
    sys.exit(main())
