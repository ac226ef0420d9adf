"""``normalization_family``: Wu & He's (2018, Fig. 2) cube for each of the five normalizations of chapter 07.

A feature-map tensor is drawn as a cube with axes N (examples, into the page), C (channels, across) and H x W
(the pixels, flattened, up). The shaded cells are the values that share ONE mean and variance with the value in
the front top-left corner. They are not drawn from a table: :func:`shared_statistics` perturbs that one value and
marks every output of :func:`d2l_bn.normalization.five_normalizations` that moves, so the picture shows what the
code computes. RMSNorm shades the same cells as LayerNorm; it only skips subtracting the mean.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Polygon

from d2l_bn.figures.output import new_figure
from d2l_bn.normalization import five_normalizations

N, C, HW, GROUPS = 4, 6, 5, 3
DEPTH = (0.45, 0.3)        # how far one step along N moves a cell: right and up (an oblique projection)
SHADE, PLAIN = "#6fa8dc", "white"


def shared_statistics(seed: int = 0) -> dict[str, np.ndarray]:
    """Per normalization, a boolean (N, C, HW) mask: the outputs that change when value (0, 0, 0) changes."""
    generator = torch.Generator().manual_seed(seed)
    X = torch.randn(N, C, HW, 1, generator=generator, dtype=torch.float64)
    moved = X.clone()
    moved[0, 0, 0, 0] += 3.0
    before, after = five_normalizations(X, GROUPS), five_normalizations(moved, GROUPS)
    masks = {name: ((after[name] - before[name]).abs() > 1e-12)[..., 0].numpy() for name in before}
    for mask in masks.values():
        mask[0, 0, 0] = True                   # the corner shares its statistics with itself
    return masks


def _cell(ax: Axes, corners: list[tuple[float, float]], shaded: bool) -> None:
    ax.add_patch(Polygon(corners, closed=True, facecolor=SHADE if shaded else PLAIN, edgecolor="0.35",
                         linewidth=0.6))


def draw_cube(ax: Axes, mask: np.ndarray, title: str) -> None:
    """The front face (n = 0), the top (h = top row) and the right side (c = last) of the (N, C, HW) cube."""
    dx, dy = DEPTH
    for c in range(C):                         # front face: columns c, rows h (h = 0 at the top)
        for h in range(HW):
            y = HW - 1 - h
            _cell(ax, [(c, y), (c + 1, y), (c + 1, y + 1), (c, y + 1)], mask[0, c, h])
    for n in range(N):                         # top face: the top row of every example
        for c in range(C):
            x0, y0 = c + n * dx, HW + n * dy
            _cell(ax, [(x0, y0), (x0 + 1, y0), (x0 + 1 + dx, y0 + dy), (x0 + dx, y0 + dy)], mask[n, c, 0])
    for n in range(N):                         # right side: the last channel of every example
        for h in range(HW):
            x0, y0 = C + n * dx, HW - 1 - h + n * dy
            _cell(ax, [(x0, y0), (x0 + dx, y0 + dy), (x0 + dx, y0 + 1 + dy), (x0, y0 + 1)], mask[n, C - 1, h])
    ax.annotate("", xy=(C, -0.5), xytext=(0, -0.5), arrowprops={"arrowstyle": "->", "lw": 0.8})
    ax.text(C / 2, -0.6, "C", ha="center", va="top", fontsize=9)
    ax.annotate("", xy=(-0.5, HW), xytext=(-0.5, 0), arrowprops={"arrowstyle": "->", "lw": 0.8})
    ax.text(-0.6, HW / 2, "H, W", ha="right", va="center", fontsize=9, rotation=90)
    ax.annotate("", xy=(C + 0.3 + N * dx, 0.2 + N * dy), xytext=(C + 0.3, 0.2),
                arrowprops={"arrowstyle": "->", "lw": 0.8})
    ax.text(C + 0.45 + N * dx, N * dy, "N", ha="left", va="center", fontsize=9)
    ax.set_xlim(-1.6, C + N * dx + 1.2)
    ax.set_ylim(-1.4, HW + N * dy + 0.3)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title, fontsize=10)


def normalization_family(quick: bool = False, full: bool = False) -> tuple[Figure, dict[str, Any]]:
    """Five cubes side by side; data: each normalization's mask and the number of values per statistic."""
    masks = shared_statistics()
    subtitles = {"BatchNorm": "per channel", "LayerNorm": "per example", "InstanceNorm": "per example, channel",
                 "GroupNorm": f"per example, {C // GROUPS} channels", "RMSNorm": "LayerNorm's cells, no mean"}
    figure = new_figure(11.0, 2.9)
    for ax, (name, mask) in zip(figure.subplots(1, 5), masks.items()):
        draw_cube(ax, mask, f"{name}\n{subtitles[name]}")
    figure.subplots_adjust(left=0.01, right=0.99, bottom=0.02, top=0.8, wspace=0.05)
    return figure, {"masks": masks, "values_per_statistic": {k: int(m.sum()) for k, m in masks.items()}}
