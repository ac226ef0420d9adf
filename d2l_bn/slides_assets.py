"""The four JavaScript libraries the decks load, fetched once from npm and cut down to the files a deck uses.

Why pruned: an npm package ships sources, maps, demos and every theme; the decks load a handful of its files.
MathJax 3's single-file build (``es5/tex-chtml-full.js``, every TeX extension inside, plus its web fonts)
replaces MathJax 2's 73 MB package, so the whole ``slides/`` folder fits an e-mail.
Why checked: each tarball must match the sha512 integrity pinned here (the one npm records) before any of it is
unpacked, so a classroom copy is exactly the code that was reviewed.
"""
from __future__ import annotations

import base64
import hashlib
import re
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

Log = Callable[[str], None]

MARKER = ".fetched"  # written last into an asset's folder: "<name>@<version>: <entries>"
LEGAL = ("LICENSE*", "package.json")  # kept in every asset: the licence travels with the code
CSS_LINK = re.compile(r"""url\(\s*["']?([^"')]+)["']?\s*\)|@import\s+["']([^"']+)["']""")


@dataclass(frozen=True)
class Asset:
    """One npm package the decks load, pinned by version and integrity, and the files of it they load."""

    name: str
    version: str
    integrity: str
    entries: tuple[str, ...]  # paths (or glob patterns) inside the package; the CSS they link is kept as well

    @property
    def folder(self) -> str:
        return self.name

    @property
    def stamp(self) -> str:
        return f"{self.name}@{self.version}: {' '.join(self.entries)}"


ASSETS = (
    Asset("reveal.js", "4.6.1", "sha512-1CW0auaXNPmwmvQ7TwpszwVxMi2Xr5cTS3J3EBC/HHgbPF32Dn7aiu/LKWDOGjMbaDwKQiGmfqcoGQ"
          "74HUHCMw==", ("dist/reveal.js", "dist/reveal.css", "dist/theme/white.css", "plugin/notes/notes.js")),
    Asset("requirejs", "2.3.8", "sha512-7/cTSLOdYkNBNJcDMWf+luFvMriVm7eYxp4BcFCsAX0wF421Vyce5SXP17c+Jd5otXKGNehIonFlyQ"
          "XSowL6Mw==", ("require.js",)),
    Asset("jquery", "3.7.1", "sha512-m4avr8yL8kmFN8psrbFFFmB/If14iN5o9nw/NgnnM+kybDJpRsAynV2BsfpTYrTRysYUdADVD7CkUUizg"
          "kpLfg==", ("dist/jquery.min.js",)),
    Asset("mathjax", "3.2.2", "sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW"
          "0OhGw==", ("es5/tex-chtml-full.js", "es5/output/chtml/fonts/woff-v2/*.woff")),
)


def sri_digest(path: Path) -> str:
    """npm's integrity string (``sha512-<base64>``) of a file."""
    return "sha512-" + base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode()


def css_references(text: str) -> list[str]:
    """The local files a stylesheet links (``url(...)``, ``@import``), without query or fragment."""
    refs = (next(g for g in m.groups() if g) for m in CSS_LINK.finditer(text))
    return [re.split(r"[?#]", r)[0] for r in refs if not r.startswith(("data:", "http:", "https:", "//"))]


def files_to_keep(package: Path, asset: Asset) -> set[Path]:
    """The asset's entry files, its licence, and every file its kept stylesheets link, transitively."""
    keep: set[Path] = set()
    for pattern in asset.entries:
        found = [p for p in package.glob(pattern) if p.is_file()]
        if not found:
            raise RuntimeError(f"{asset.name}@{asset.version} has no {pattern}; the package layout changed: update "
                               f"Asset.entries in {__name__}")
        keep.update(found)
    keep.update(p for pattern in LEGAL for p in package.glob(pattern) if p.is_file())
    stylesheets = [p for p in keep if p.suffix == ".css"]
    while stylesheets:
        css = stylesheets.pop()
        for ref in css_references(css.read_text(encoding="utf-8")):
            target = (css.parent / ref).resolve()
            if target.is_file() and target.is_relative_to(package.resolve()) and target not in keep:
                keep.add(target)
                if target.suffix == ".css":
                    stylesheets.append(target)
    return {p.resolve() for p in keep}


def prune(package: Path, keep: set[Path]) -> None:
    """Delete every file of ``package`` not in ``keep``, then the folders left empty."""
    for path in sorted(package.rglob("*"), reverse=True):  # children before their folders
        if path.is_file() and path.resolve() not in keep:
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()


def is_fetched(asset: Asset, static_dir: Path) -> bool:
    marker = static_dir / asset.folder / MARKER
    return marker.is_file() and marker.read_text(encoding="utf-8") == asset.stamp


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def fetch_asset(asset: Asset, static_dir: Path, log: Log = print) -> Path:
    """Unpack the used files of ``asset`` under ``static_dir/<name>`` (skipped when already there); return it."""
    target = static_dir / asset.folder
    if is_fetched(asset, static_dir):
        log(f"{asset.name}@{asset.version}: already in {target}")
        return target
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError(f"npm is needed once to fetch {asset.name}@{asset.version} for offline slides: install "
                           f"Node.js (which brings npm), or copy a built slides folder from a machine that has it")
    log(f"{asset.name}@{asset.version}: fetching from the npm registry (npm pack) ...")
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
        package = staging / "package"
        unpacked = folder_size(package)
        keep = files_to_keep(package, asset)
        prune(package, keep)
        (package / MARKER).write_text(asset.stamp, encoding="utf-8")
        shutil.rmtree(target, ignore_errors=True)
        package.rename(target)
        staging.rmdir()
    log(f"{asset.name}@{asset.version}: sha512 integrity checked; kept {len(keep)} files "
        f"({folder_size(target) / 1e3:,.0f} kB of {unpacked / 1e3:,.0f} kB) in {target}")
    return target


def remove_stale_assets(static_dir: Path, log: Log = print) -> None:
    """Delete folders of libraries the decks no longer load (an older build's MathJax 2, say)."""
    current = {asset.folder for asset in ASSETS}
    for folder in static_dir.iterdir():
        ours = (folder / MARKER).exists() or (folder / ".version").exists()  # .version: builds before pruning
        if folder.is_dir() and folder.name not in current and ours:
            shutil.rmtree(folder)
            log(f"removed {folder} (no deck loads it)")
