"""Build every chapter as a reveal.js deck that presents with no network: ``python -m d2l_bn.slides``.

``jupyter nbconvert --to slides`` links reveal.js, require.js, jQuery and MathJax from CDNs, so a classroom without
internet gets a blank page. This builder fetches those libraries once from the npm registry (``npm pack``, each
tarball checked against its sha512 integrity), unpacks them into ``<out>/_static/`` and points the decks at that
local copy. The output folder is self-contained: copy it to a USB stick and open ``<out>/index.html``.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbconvert import SlidesExporter

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE_DIR = Path(__file__).resolve().parent / "slides_template"


@dataclass(frozen=True)
class Asset:
    """One npm package the decks load, pinned by version and integrity, and the file the decks link to."""

    name: str
    version: str
    integrity: str
    entry: str  # path inside the package that the deck references

    @property
    def folder(self) -> str:
        return self.name


ASSETS = (
    Asset("reveal.js", "4.6.1", "sha512-1CW0auaXNPmwmvQ7TwpszwVxMi2Xr5cTS3J3EBC/HHgbPF32Dn7aiu/LKWDOGjMbaDwKQiGmfqcoGQ74"
          "HUHCMw==", "dist/reveal.js"),
    Asset("requirejs", "2.3.8", "sha512-7/cTSLOdYkNBNJcDMWf+luFvMriVm7eYxp4BcFCsAX0wF421Vyce5SXP17c+Jd5otXKGNehIonFlyQ"
          "XSowL6Mw==", "require.js"),
    Asset("jquery", "3.7.1", "sha512-m4avr8yL8kmFN8psrbFFFmB/If14iN5o9nw/NgnnM+kybDJpRsAynV2BsfpTYrTRysYUdADVD7CkUUizg"
          "kpLfg==", "dist/jquery.min.js"),
    Asset("mathjax", "2.7.9", "sha512-NOGEDTIM9+MrsqnjPEjVGNx4q0GQxqm61yQwSK+/5S59i26wId5IC5gNu9/bu8+CCVl5p9G2IHcAl/wJ"
          "a+5+BQ==", "MathJax.js"),
)


def sri_digest(path: Path) -> str:
    """npm's integrity string (``sha512-<base64>``) of a file."""
    return "sha512-" + base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode()


def fetch_asset(asset: Asset, static_dir: Path) -> Path:
    """Unpack ``asset`` under ``static_dir/<name>`` (skipped when already there) and return that folder."""
    target = static_dir / asset.folder
    marker = target / ".version"
    if marker.exists() and marker.read_text() == asset.version:
        return target
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError(f"npm is needed once to fetch {asset.name}@{asset.version} for offline slides: install "
                           f"Node.js (which brings npm), or copy a built slides folder from a machine that has it")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([npm, "pack", f"{asset.name}@{asset.version}", "--silent"], cwd=tmp, check=True,
                       stdout=subprocess.DEVNULL)
        tarball = next(Path(tmp).glob("*.tgz"))
        if sri_digest(tarball) != asset.integrity:
            raise RuntimeError(f"{tarball.name} does not match its pinned integrity; refusing to use it "
                               f"(delete npm's cache with `npm cache clean --force` and try again)")
        staging = Path(tempfile.mkdtemp(dir=static_dir))  # same file system: the final rename is atomic
        with tarfile.open(tarball) as archive:
            archive.extractall(staging, filter="data")
        shutil.rmtree(target, ignore_errors=True)
        (staging / "package").rename(target)
        staging.rmdir()
    marker.write_text(asset.version)
    return target


def make_exporter(static_prefix: str = "_static") -> SlidesExporter:
    """A SlidesExporter whose every script and stylesheet is a relative path under ``static_prefix``."""
    exporter = SlidesExporter(extra_template_basedirs=[str(TEMPLATE_DIR)], template_name="offline_reveal")
    exporter.reveal_url_prefix = f"{static_prefix}/reveal.js"
    exporter.require_js_url = f"{static_prefix}/requirejs/require.js"
    exporter.jquery_url = f"{static_prefix}/jquery/dist/jquery.min.js"
    exporter.mathjax_url = f"{static_prefix}/mathjax/MathJax.js?config=TeX-AMS_CHTML-full,Safe"
    exporter.reveal_theme = "white"  # "simple" (the default) imports its fonts from a web font service
    exporter.reveal_scroll = True  # long code cells scroll instead of overflowing the slide
    return exporter


def build_deck(notebook: Path, out_dir: Path, exporter: SlidesExporter | None = None) -> Path:
    """Write ``out_dir/<notebook stem>.slides.html`` and return its path (assets must already be in out_dir)."""
    exporter = exporter or make_exporter()
    nb = nbformat.read(notebook, as_version=4)
    nb.metadata.pop("widgets", None)  # saved widget state would pull the widget renderer from a CDN
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": notebook.stem}})
    path = out_dir / f"{notebook.stem}.slides.html"
    path.write_text(body, encoding="utf-8")
    return path


def build_all(notebooks: list[Path], out_dir: Path) -> list[Path]:
    """Fetch the assets once, build one deck per notebook and an index page linking them."""
    out_dir.mkdir(parents=True, exist_ok=True)
    static_dir = out_dir / "_static"
    static_dir.mkdir(exist_ok=True)
    for asset in ASSETS:
        fetch_asset(asset, static_dir)
    exporter = make_exporter()
    decks = [build_deck(nb, out_dir, exporter) for nb in notebooks]
    links = "\n".join(f'<li><a href="{d.name}">{d.stem.removesuffix(".slides")}</a></li>' for d in decks)
    (out_dir / "index.html").write_text(f"<!DOCTYPE html><meta charset='utf-8'><title>d2l-bn slides</title>"
                                        f"<h1>d2l-bn: lecture slides</h1><ul>{links}</ul>\n", encoding="utf-8")
    return decks


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebooks/*.ipynb")
    parser.add_argument("--out", type=Path, default=ROOT / "slides", help="output folder (default: slides/)")
    args = parser.parse_args(argv)
    notebooks = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    for deck in build_all(notebooks, args.out):
        print(f"wrote {deck}")
    print(f"open {args.out / 'index.html'} in a browser (no network needed)")


if __name__ == "__main__":
    main()
