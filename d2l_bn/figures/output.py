"""Making a figure twice gives the same bytes: fixed seeds, one thread, and files without dates or random ids.

Why bother: the figures are committed next to the slides, so a regeneration that changed nothing must leave
``git status`` clean; and a diff that does appear then means the numbers changed, not the clock.

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
from pathlib import Path
from typing import Iterator, Sequence

import matplotlib
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
