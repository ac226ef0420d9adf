"""Plots of `d2l_bn.diagnostics`' numbers: per-layer histograms, per-layer profiles and update-to-data ratios.

Each helper draws on an Axes it is given (so a notebook cell lays out the figure and the helper fills one
panel) and returns nothing. matplotlib is imported here only, never by `d2l_bn.diagnostics`.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Optional

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.axes import Axes

from d2l_bn.diagnostics import saturation


def plot_histograms(ax: Axes, tensors: Mapping[str, torch.Tensor], title: str = "", *,
                    value_range: Optional[tuple[float, float]] = None, bins: int = 60,
                    show_saturation: bool = False) -> None:
    """One density curve per layer (makemore-style): how the values of each layer's output are spread.

    The legend gives each layer's standard deviation and, with `show_saturation`, the share of |values| > 0.97.
    """
    for name, t in tensors.items():
        values = t.detach().flatten().float().cpu()
        low, high = value_range if value_range is not None else (values.min().item(), values.max().item())
        density, edges = np.histogram(values.numpy(), bins=bins, range=(low, high), density=True)
        label = f"{name}: std {values.std():.2g}"
        if show_saturation:
            label += f", sat. {saturation(values):.0%}"
        ax.plot((edges[:-1] + edges[1:]) / 2, density, label=label)
    ax.set_title(title, fontsize=11)
    ax.legend(fontsize=8, loc="upper right")


def plot_layer_profile(ax: Axes, profiles: Mapping[str, Sequence[float]], ylabel: str, title: str = "", *,
                       first_layer: int = 1, log: bool = True) -> None:
    """One line per setting: a number (gradient norm, std, saturation) against the layer's depth."""
    for name, values in profiles.items():
        values = np.asarray(values, dtype=float)
        ax.plot(np.arange(first_layer, first_layer + len(values)), values, marker=".", label=name)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("layer")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=11)
    ax.legend(fontsize=8)


def plot_update_ratios(ax: Axes, ratios: torch.Tensor, title: str = "", *,
                       layer_names: Optional[Sequence[str]] = None, target: float = 1e-3) -> None:
    """log10 of each weight's update-to-data ratio ||dW|| / ||W|| against the training step, one line per layer.

    The dashed line marks `target` (1e-3, Karpathy's rule of thumb): far below it a layer hardly learns.
    """
    ratios = ratios.detach().cpu().double()
    names = layer_names if layer_names is not None else [f"layer {k + 1}" for k in range(ratios.shape[1])]
    colors = colormaps["viridis"](np.linspace(0, 0.9, len(names)))   # the input layer dark, the last light
    for k, (name, color) in enumerate(zip(names, colors)):
        ax.plot(torch.log10(ratios[:, k].clamp_min(1e-20)).numpy(), color=color, lw=1, label=name)
    ax.axhline(np.log10(target), color="k", ls="--", lw=1)
    ax.set_xlabel("step")
    ax.set_ylabel("log10 ||dW|| / ||W||")
    ax.set_title(title, fontsize=11)
