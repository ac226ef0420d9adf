"""Making a figure twice gives the same bytes on the same machine: fixed seeds, one thread, files without dates.

Why bother: the figures are committed next to the slides, so a regeneration that changed nothing must leave
``git status`` clean; and a diff that does appear then means the numbers changed, not the clock.

On another CPU the bytes of the two figures that train a network (``lenet_curves``, ``ioffe_percentiles``)
may differ: PyTorch picks other vectorised kernels there (e.g. AVX2 instead of AVX-512), which round
differently, and training carries the difference on. What stays the same is everything but the last digits:
:func:`svg_difference` and :func:`png_difference` measure how far two files are apart, and a test holds
figures made on two floating-point paths to tolerances far below what the eye can see.

* Numbers: every figure seeds its own generators (so ``--only`` gives the same picture as a full run) and runs
  under :func:`reproducible`: one CPU thread (a multi-threaded reduction may add in a different order) and
  ``torch.use_deterministic_algorithms``.
* SVG: matplotlib stamps a date and random ids (clip paths, glyphs) into every SVG; a fixed
  ``svg.hashsalt`` makes the ids depend on the content only and ``metadata={'Date': None}`` drops the date.
  Text is drawn as paths (``svg.fonttype='path'``), so the file looks the same without our fonts.
* PNG: Agg's raster and zlib are deterministic; ``metadata={'Software': None}`` drops the matplotlib version,
  so a matplotlib upgrade that draws the same pixels writes the same file.
"""
from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Iterator, Sequence

import matplotlib
import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

PNG_DPI = 150
STYLE = {
    "svg.hashsalt": "d2l-bn",
    "svg.fonttype": "path",
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
# The colours every figure uses for the two networks it compares.
NO_BN_COLOR, BN_COLOR, TRUTH_COLOR = "C1", "C0", "C3"


@contextlib.contextmanager
def reproducible() -> Iterator[None]:
    """One thread, deterministic kernels and the course's plot style for the block; all restored after."""
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    try:
        with matplotlib.rc_context(STYLE):
            yield
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)


def new_figure(width: float, height: float) -> Figure:
    """A Figure that pyplot never sees: no window, no registry to leak, no backend to choose."""
    figure = Figure(figsize=(width, height))
    FigureCanvasAgg(figure)
    return figure


def plain_log_ticks(ax: Axes, xticks: Sequence[float]) -> None:
    """Log-log axes labelled 2, 4, 8 ... and 0.1, 0.2, 0.5, 1 ... instead of bare powers of ten."""
    ax.set_xticks(xticks, [f"{v:g}" for v in xticks])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.yaxis.set_minor_locator(NullLocator())


def save(figure: Figure, out_dir: Path, name: str) -> list[Path]:
    """Write ``<name>.svg`` and ``<name>.png`` (150 dpi) into out_dir; return both paths.

    Call inside :func:`reproducible`: the SVG hash salt must be set when the file is written.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    svg, png = out_dir / f"{name}.svg", out_dir / f"{name}.png"
    figure.savefig(svg, format="svg", metadata={"Date": None}, bbox_inches="tight")
    figure.savefig(png, format="png", dpi=PNG_DPI, metadata={"Software": None}, bbox_inches="tight")
    return [svg, png]


# A number on its own, not digits inside an id such as clip path 'p8e3f1a...' (the ids must match exactly).
_NUMBER = re.compile(rb'(?<![\w.])-?\d+(?:\.\d+)?(?:e[-+]?\d+)?(?![\w.])')


def svg_difference(a: bytes, b: bytes) -> float:
    """The largest difference between corresponding numbers (coordinates, in points) of two SVG files.

    inf when the files differ in anything but numbers (other elements, ids or text) or in how many there are.
    """
    if _NUMBER.sub(b'#', a) != _NUMBER.sub(b'#', b):
        return float('inf')
    numbers_a = np.array([float(x) for x in _NUMBER.findall(a)])
    numbers_b = np.array([float(x) for x in _NUMBER.findall(b)])
    return float(np.abs(numbers_a - numbers_b).max(initial=0.0))


def png_difference(a: Path, b: Path) -> tuple[float, float]:
    """(largest difference of a pixel channel in grey levels of 255, fraction of pixels that differ at all).

    (inf, 1.0) when the images differ in size.
    """
    from matplotlib import image
    pixels_a, pixels_b = image.imread(a), image.imread(b)
    if pixels_a.shape != pixels_b.shape:
        return float('inf'), 1.0
    difference = np.abs(pixels_a.astype(np.float64) - pixels_b.astype(np.float64)).max(axis=-1)
    return float(difference.max() * 255), float((difference > 0).mean())
