"""Lecture decks must present with no network: every script, stylesheet and font is a local file."""
from __future__ import annotations

import re
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from d2l_bn.slides import ASSETS, build_all, sri_digest

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
                   "_static/mathjax/MathJax.js", "_static/jquery/dist/jquery.min.js"):
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
    # And the libraries are exactly the pinned, integrity-checked versions.
    for asset in ASSETS:
        assert (out / "_static" / asset.folder / ".version").read_text() == asset.version


def test_pinned_integrity_is_checked(tmp_path):
    blob = tmp_path / "x.tgz"
    blob.write_bytes(b"reveal")
    assert sri_digest(blob).startswith("sha512-") and sri_digest(blob) != ASSETS[0].integrity
