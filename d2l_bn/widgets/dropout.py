"""Dropout explorer: what inverted dropout does to one layer's activations as p grows.

The questions a learner asks after meeting dropout: "how much of the layer is actually gone at p = 0.5?",
"why are the survivors brighter?" and "what changes in eval()?". One slider (the drop probability p), one
picture (the activations, the training-mode output -- about a fraction p of the units zeroed, the others scaled
by 1/(1-p) -- and the eval-mode output, which is the input unchanged, on one colour scale, plus the three means),
one line of numbers (the fraction zeroed and the mean before and after). A second slider draws a new mask, as
every training step does: the fraction and the mean wobble around p and the input's mean, they do not drift.

The masks come from the course's own `dropout_layer` under a private seed (``torch.random.fork_rng``), so moving
the sliders never changes the random numbers the rest of the notebook draws.
"""
from __future__ import annotations

import math
from typing import Any, Optional

import ipywidgets as widgets
import torch
from matplotlib.figure import Figure

from d2l_bn.layers import Dropout, dropout_layer
from d2l_bn.widgets.base import Explorer
from d2l_bn.widgets.controls import PassThroughFloatSlider, PassThroughIntSlider

__all__ = ["DropoutExplorer", "example_activations"]



def example_activations(height: int = 16, width: int = 16) -> torch.Tensor:
    """A smooth, non-negative (post-ReLU-like) height x width map standing in for a layer's hidden units.

    Deterministic (no random numbers), with values in [0, 1] and mean 0.5, so the picture is the same on every
    machine and a learner can see at a glance which units a mask removed.
    """
    if height < 1 or width < 1:
        raise ValueError(f"height and width must be >= 1, got {height}x{width}")
    rows = torch.linspace(0, 2 * math.pi, height, dtype=torch.float64).reshape(-1, 1)
    cols = torch.linspace(0, 2 * math.pi, width, dtype=torch.float64).reshape(1, -1)
    pattern = 0.5 + 0.5 * torch.sin(1.5 * rows) * torch.cos(cols)
    return pattern.float()


class DropoutExplorer(Explorer):
    """Slide the drop probability p and compare one layer's activations in train() and eval() mode.

    ``data`` holds ``p``, ``seed``, ``activations`` (the input, numpy), ``kept`` (the boolean mask),
    ``train_output`` (``dropout_layer(activations, p)``), ``eval_output`` (``Dropout(p).eval()`` applied to the
    input: the input itself), ``scale`` (1/(1-p), what survivors are multiplied by), ``num_units``,
    ``num_zeroed``, ``fraction_zeroed``, and the means ``mean_before``, ``mean_train``, ``mean_eval``.
    """

    def __init__(self, activations: Optional[torch.Tensor] = None, p: float = 0.5, seed: int = 0,
                 max_seed: int = 20) -> None:
        X = example_activations() if activations is None else torch.as_tensor(activations)
        if X.dim() != 2 or X.numel() < 2:
            raise ValueError(f"activations must be a 2-D map with at least two units, got shape "
                             f"{tuple(X.shape)}; reshape a layer's hidden units, e.g. h.reshape(16, 16)")
        X = X.detach().to("cpu", torch.float32)    # the picture is drawn on the CPU whatever the device
        if not torch.isfinite(X).all():
            raise ValueError("activations must be finite numbers; replace inf/nan values")
        self.activations = X
        p_slider = PassThroughFloatSlider(value=p, min=0.0, max=0.95, step=0.05, description="drop probability p",
                                          readout_format=".2f", continuous_update=True,
                                          style={"description_width": "initial"},
                                          layout=widgets.Layout(width="360px"))
        seed_slider = PassThroughIntSlider(value=seed, min=0, max=max_seed, description="mask draw",
                                           continuous_update=True, style={"description_width": "initial"},
                                           layout=widgets.Layout(width="280px"))
        self._artists: dict[str, Any] = {}
        super().__init__({"p": p_slider, "seed": seed_slider}, figsize=(10.0, 3.0))

    def validate(self, p: float, seed: int) -> None:
        if not 0.0 <= p < 1.0:                     # also refuses nan
            raise ValueError(f"p must be a probability in [0, 1), got {p}: p is the chance that a unit is "
                             f"zeroed, and p = 1 zeroes the whole layer, so nothing reaches the next one "
                             f"(and no gradient flows back); try p = 0.5")
        if seed < 0:
            raise ValueError(f"the mask draw (a seed) must be >= 0, got {seed}")

    def compute(self, p: float, seed: int) -> dict[str, Any]:
        X = self.activations
        with torch.random.fork_rng(devices=[]):    # a private draw: the notebook's RNG stream is untouched
            torch.manual_seed(seed)
            train_output = dropout_layer(X, p)
            # The same seed gives the same mask again; a map of ones makes it visible even where X is 0.
            torch.manual_seed(seed)
            kept = dropout_layer(torch.ones_like(X), p) != 0
        eval_output = Dropout(p).eval()(X)         # eval(): dropout is the identity
        num_zeroed = int((~kept).sum())
        return {
            "p": float(p),
            "seed": int(seed),
            "activations": X.numpy(),
            "kept": kept.numpy(),
            "train_output": train_output.numpy(),
            "eval_output": eval_output.numpy(),
            "scale": 1.0 / (1.0 - p),
            "num_units": X.numel(),
            "num_zeroed": num_zeroed,
            "fraction_zeroed": num_zeroed / X.numel(),
            "mean_before": float(X.mean()),
            "mean_train": float(train_output.mean()),
            "mean_eval": float(eval_output.mean()),
        }

    def draw(self, figure: Figure, data: dict[str, Any]) -> None:
        if not self._artists:
            self._artists = self._layout(figure, data)
        a = self._artists
        # One colour scale for all three maps, so the survivors' 1/(1-p) brightening is visible.
        vmax = max(float(data["train_output"].max()), float(data["activations"].max()), 1e-12)
        for image, key in zip(a["images"], ("activations", "train_output", "eval_output")):
            image.set_data(data[key])
            image.set_clim(0.0, vmax)
        a["train_title"].set_text(f"train(): {data['num_zeroed']} zeroed,\nthe rest x{data['scale']:.2f}")
        means = [data["mean_before"], data["mean_train"], data["mean_eval"]]
        for rect, mean in zip(a["bars"], means):
            rect.set_height(mean)
        a["reference"].set_ydata([data["mean_before"]] * 2)
        a["bar_axes"].set_ylim(0, max(means) * 1.3 + 1e-12)

    def _layout(self, figure: Figure, data: dict[str, Any]) -> dict[str, Any]:
        """Axes and artists, made once; later changes only update them (several times faster than redrawing)."""
        grid = figure.subplots(1, 6, gridspec_kw={"width_ratios": [1, 1, 1, 0.06, 0.3, 1.1], "wspace": 0.25})
        *image_axes, colorbar_axes, spacer, bars = grid
        spacer.axis("off")                        # room for the colour bar's tick labels
        images, titles = [], []
        for ax, title in zip(image_axes, ("activations (input)", " \n ", "eval(): identity,\nthe input")):
            images.append(ax.imshow(data["activations"], cmap="viridis", vmin=0.0, vmax=1.0,
                                    interpolation="nearest"))
            titles.append(ax.set_title(title, fontsize=10))
            ax.set_xticks([])
            ax.set_yticks([])
        figure.colorbar(images[-1], cax=colorbar_axes)
        colorbar_axes.tick_params(labelsize=9)
        for image in images[:-1]:                 # every map follows the colour bar's scale
            image.set_norm(images[-1].norm)
        rects = bars.bar([0, 1, 2], [0, 0, 0], color=["C7", "C1", "C2"])
        reference = bars.axhline(0, color="gray", linestyle=":", linewidth=1)
        bars.set_xticks([0, 1, 2], ["input", "train", "eval"], fontsize=9)
        bars.set_title("mean activation", fontsize=10)
        bars.tick_params(axis="y", labelsize=9)
        figure.subplots_adjust(left=0.02, right=0.98, bottom=0.1, top=0.8)
        return {"images": images, "train_title": titles[1], "bars": rects, "reference": reference,
                "bar_axes": bars}

    def describe(self, data: dict[str, Any]) -> str:
        return (f"p = {data['p']:.2f} (draw {data['seed']}): {data['num_zeroed']} of {data['num_units']} units "
                f"zeroed ({data['fraction_zeroed']:.1%}), survivors x{data['scale']:.2f}; "
                f"mean before {data['mean_before']:.3f}, after: train {data['mean_train']:.3f}, "
                f"eval {data['mean_eval']:.3f}")
