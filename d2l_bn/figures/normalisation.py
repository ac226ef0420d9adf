"""``bn_data_flow``: one small batch through batch norm, one step per panel, under a diagram of the data flow.

Three features on very different scales (about 6 +- 3, -2 +- 0.5 and 0.5 +- 1.5) go in; after subtracting the
batch mean and dividing by the batch standard deviation every feature has mean 0 and variance 1; gamma and beta
then give each feature the scale and offset the network learned. The numbers come from the course's own
``d2l_bn.batch_norm``, so the picture shows what the code computes. The diagram above adds what the panels
cannot: the running averages that training keeps and ``eval()`` uses instead of the batch statistics.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.text import Text

from d2l_bn.figures.output import new_figure
from d2l_bn.layers import batch_norm

N, C, EPS = 8, 3, 1e-5
FEATURE_MEANS, FEATURE_STDS = (6.0, -2.0, 0.5), (3.0, 0.5, 1.5)
GAMMA, BETA = (2.0, 0.5, 1.0), (1.0, -1.0, 0.0)
FEATURE_COLORS = ("C0", "C2", "C4")


def batch_steps(seed: int = 0) -> dict[str, np.ndarray]:
    """The batch and every intermediate of BN's training-mode forward pass, as float64 arrays."""
    rng = np.random.default_rng(seed)
    X = np.asarray(FEATURE_MEANS) + np.asarray(FEATURE_STDS) * rng.standard_normal((N, C))
    mean, var = X.mean(axis=0), X.var(axis=0)                     # biased: it normalises the batch
    X_hat = (X - mean) / np.sqrt(var + EPS)
    gamma, beta = np.asarray(GAMMA), np.asarray(BETA)
    Y, _, _ = batch_norm(torch.from_numpy(X), torch.from_numpy(gamma), torch.from_numpy(beta), None, None,
                         EPS, 0.1, training=True)
    return {"X": X, "mean": mean, "var": var, "centered": X - mean, "X_hat": X_hat,
            "gamma": gamma, "beta": beta, "Y": Y.numpy()}


def _box(ax: Axes, x: float, y: float, text: str, color: str = "0.3", dashed: bool = False) -> Text:
    return ax.text(x, y, text, ha="center", va="center", fontsize=9, transform=ax.transAxes,
                   bbox={"boxstyle": "round,pad=0.45", "facecolor": "white", "edgecolor": color,
                         "linestyle": "--" if dashed else "-"})


def _arrow(ax: Axes, start: Text, end: Text, text: str = "", dashed: bool = False,
           x: Optional[float] = None) -> None:
    """An arrow from box `start` to box `end`, clipped at both boxes' outlines; vertical at `x` if given."""
    (x0, y0), (x1, y1) = start.get_position(), end.get_position()
    if x is not None:
        x0 = x1 = x
    ax.annotate("", xy=(x1, y1), xytext=(x0, y0), xycoords="axes fraction",
                arrowprops={"arrowstyle": "-|>", "color": "0.3", "linestyle": "--" if dashed else "-",
                            "patchA": start.get_bbox_patch(), "patchB": end.get_bbox_patch(),
                            "shrinkA": 2, "shrinkB": 2})
    if text:
        ax.text(x0 + 0.01, (y0 + y1) / 2, text, fontsize=8, color="0.3", transform=ax.transAxes,
                ha="left", va="center")


def _draw_flow(ax: Axes, centers: list[float]) -> None:
    ax.set_axis_off()
    top, low = 0.80, 0.22
    boxes = [
        _box(ax, centers[0], top, "batch $x$: $N \\times C$\n(one row per example)"),
        _box(ax, centers[1], top, "per feature, over the batch:\n"
             "$\\mu_B = \\frac{1}{N}\\sum_i x_i$,  $\\sigma_B^2 = \\frac{1}{N}\\sum_i (x_i - \\mu_B)^2$"),
        _box(ax, centers[2], top, "$\\hat{x} = (x - \\mu_B)\\,/\\,\\sqrt{\\sigma_B^2 + \\epsilon}$\n"
             "mean 0, variance 1"),
        _box(ax, centers[3], top, "$y = \\gamma\\,\\hat{x} + \\beta$\n($\\gamma, \\beta$ learned)"),
    ]
    running = _box(ax, (centers[1] + centers[2]) / 2, low,
                   "train(): running_mean $\\leftarrow (1-m)\\,$running_mean$ + m\\,\\mu_B$,   "
                   "running_var $\\leftarrow (1-m)\\,$running_var$ + m\\,\\frac{N}{N-1}\\sigma_B^2$\n"
                   "eval():  $\\hat{x} = (x - $running_mean$)\\,/\\,\\sqrt{\\mathrm{running\\_var} + \\epsilon}$"
                   "   (no batch statistics: each example on its own)", color="C3", dashed=True)
    for a, b in zip(boxes, boxes[1:]):
        _arrow(ax, a, b)
    _arrow(ax, boxes[1], running, "train(): update", x=centers[1])
    _arrow(ax, running, boxes[2], "eval(): used instead", dashed=True, x=centers[2])


def _draw_step(ax: Axes, values: np.ndarray, title: str, notes: list[str]) -> None:
    offsets = np.linspace(-0.22, 0.22, N)                         # spread the 8 points sideways, no randomness
    for j in range(C):
        ax.scatter(j + offsets, values[:, j], s=16, color=FEATURE_COLORS[j], zorder=3)
        mean, std = values[:, j].mean(), values[:, j].std()
        ax.plot([j - 0.3, j + 0.3], [mean, mean], color="k", lw=1.2)
        ax.plot([j, j], [mean - std, mean + std], color="k", lw=0.8, alpha=0.6)
    ax.axhline(0, color="0.8", lw=0.8, zorder=0)
    low, high = values.min(), values.max()
    pad = 0.12 * (high - low)
    ax.set_ylim(low - 4.2 * pad, high + pad)
    for j, note in enumerate(notes):
        ax.text(j, low - 1.2 * pad, note, ha="center", va="top", fontsize=7.5, color=FEATURE_COLORS[j])
    ax.set_xticks(range(C), [f"feature {j + 1}" for j in range(C)])
    ax.set_xlim(-0.55, C - 0.45)
    ax.set_title(title, fontsize=9.5)


def bn_data_flow(quick: bool = False, full: bool = False) -> tuple[Figure, dict[str, Any]]:
    """The data-flow diagram over four panels: raw batch, centred, normalised, scaled and shifted.

    Black bars: the mean of each feature over the batch (horizontal) and +- one standard deviation.
    quick and full change nothing here: the batch is tiny either way.
    """
    data = batch_steps()
    figure = new_figure(12.0, 6.4)
    grid = figure.add_gridspec(2, 4, height_ratios=(1.0, 1.9), hspace=0.12, wspace=0.28,
                               left=0.05, right=0.99, top=0.97, bottom=0.1)
    stats = [f"$\\mu$={m:.2f}\n$\\sigma^2$={v:.2f}" for m, v in zip(data["mean"], data["var"])]
    steps = [
        (data["X"], "1. raw batch $x$ (N=8, C=3)", stats),
        (data["centered"], "2. subtract the batch mean: $x - \\mu_B$",
         [f"$\\mu$=0\n$\\sigma^2$={v:.2f}" for v in data["var"]]),
        (data["X_hat"], "3. divide by $\\sqrt{\\sigma_B^2 + \\epsilon}$: $\\hat{x}$",
         ["$\\mu$=0\n$\\sigma^2$=1.00"] * C),
        (data["Y"], "4. scale and shift: $y = \\gamma\\,\\hat{x} + \\beta$",
         [f"$\\gamma$={g:g}, $\\beta$={b:g}\n$\\mu$={b:g}, $\\sigma^2$={g * g:g}"
          for g, b in zip(data["gamma"], data["beta"])]),
    ]
    for k, (values, title, notes) in enumerate(steps):
        _draw_step(figure.add_subplot(grid[1, k]), values, title, notes)
    # Diagram boxes sit over the panels they belong to (the axes span the figure's panel area).
    _draw_flow(figure.add_subplot(grid[0, :]), [0.11, 0.37, 0.635, 0.885])
    figure.text(0.05, 0.01, "black bar: the feature's mean over the batch; grey line: ± one standard deviation. "
                "Panel 4 computed by d2l_bn.batch_norm (training mode, eps = 1e-5).", fontsize=8, color="0.3")
    return figure, data
