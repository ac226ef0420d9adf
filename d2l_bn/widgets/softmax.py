"""Temperature explorer: what dividing the logits by T does to a softmax.

The question a learner asks after meeting softmax: "the scores are arbitrary numbers, so how much does their
*scale* matter?" Softmax is invariant to adding a constant to every logit but NOT to multiplying them: the
probabilities of ``softmax(z / T)`` sharpen towards a one-hot vector at the argmax as the temperature T -> 0 and
flatten towards the uniform distribution as T -> infinity. One slider (T, on a log scale because the interesting
range spans orders of magnitude), one picture (the probability bars, and the entropy along all temperatures with
the current one marked), one line of numbers (max probability and entropy).
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.figure import Figure

from d2l_bn.losses import softmax
from d2l_bn.widgets.base import Explorer
from d2l_bn.widgets.controls import PassThroughLogSlider

#: A plausible set of scores a Fashion-MNIST classifier might give an image of a shirt: the classes that look
#: like a shirt (T-shirt, pullover, coat) score high too, so the flattening with T is easy to see.
EXAMPLE_LABELS = ("t-shirt", "trouser", "pullover", "dress", "coat",
                  "sandal", "shirt", "sneaker", "bag", "ankle boot")
EXAMPLE_LOGITS = (2.0, -1.0, 1.5, 0.5, 1.0, -2.0, 2.5, -2.5, -0.5, -3.0)



def softmax_entropy(probs: torch.Tensor) -> torch.Tensor:
    """Entropy -sum p log p in nats along the last dimension, with 0 log 0 = 0 (torch.special.entr)."""
    return torch.special.entr(probs).sum(dim=-1)


class TemperatureExplorer(Explorer):
    """Slide the temperature T and watch ``softmax(logits / T)`` sharpen (small T) or flatten (large T).

    ``data`` holds ``temperature``, ``logits``, ``probs`` (numpy, sums to 1), ``entropy`` (nats),
    ``max_prob``, ``argmax``, ``max_entropy`` (= ln n, the uniform distribution's) and the curve
    ``curve_temperatures`` / ``curve_entropy`` drawn on the right.
    """

    def __init__(self, logits: Sequence[float] = EXAMPLE_LOGITS, labels: Sequence[str] | None = EXAMPLE_LABELS,
                 temperature: float = 1.0, t_min: float = 0.05, t_max: float = 20.0) -> None:
        self.logits = torch.as_tensor(logits, dtype=torch.float64)
        if self.logits.dim() != 1 or self.logits.numel() < 2:
            raise ValueError(f"logits must be a flat list of at least two scores (one per class), "
                             f"got shape {tuple(self.logits.shape)}")
        if not torch.isfinite(self.logits).all():
            raise ValueError("logits must be finite numbers; replace inf/nan scores")
        n = self.logits.numel()
        self.labels = list(labels) if labels is not None else [str(i) for i in range(n)]
        if len(self.labels) != n:
            raise ValueError(f"got {len(self.labels)} labels for {n} logits; pass one label per logit "
                             f"(or labels=None to number them)")
        if not 0 < t_min < t_max:
            raise ValueError(f"need 0 < t_min < t_max for the slider's range, got t_min={t_min}, t_max={t_max}")
        # The entropy curve depends only on the logits: compute it once, not on every slider move.
        self.curve_temperatures = np.geomspace(t_min, t_max, 200)
        temperatures = torch.as_tensor(self.curve_temperatures).unsqueeze(1)
        self.curve_entropy = softmax_entropy(softmax(self.logits / temperatures)).numpy()
        slider = PassThroughLogSlider(value=temperature, base=10, min=math.log10(t_min), max=math.log10(t_max),
                                    step=0.01, description="temperature T", readout_format=".3g",
                                    continuous_update=True, style={"description_width": "initial"},
                                    layout=widgets.Layout(width="420px"))
        super().__init__({"temperature": slider}, figsize=(8.0, 2.8))

    def compute(self, temperature: float) -> dict[str, Any]:
        if not math.isfinite(temperature) or temperature <= 0:
            raise ValueError(f"temperature must be > 0 (the logits are divided by it), got {temperature}; "
                             f"small T sharpens towards one-hot, large T flattens towards uniform")
        probs = softmax(self.logits / temperature)
        argmax = int(probs.argmax())
        return {
            "temperature": float(temperature),
            "logits": self.logits.numpy(),
            "probs": probs.numpy(),
            "entropy": float(softmax_entropy(probs)),
            "max_prob": float(probs[argmax]),
            "argmax": argmax,
            "max_entropy": math.log(self.logits.numel()),
            "curve_temperatures": self.curve_temperatures,
            "curve_entropy": self.curve_entropy,
        }

    def draw(self, figure: Figure, data: dict[str, Any]) -> None:
        bars, curve = figure.subplots(1, 2, gridspec_kw={"width_ratios": [1.4, 1]})
        positions = np.arange(len(data["probs"]))
        colors = ["C3" if i == data["argmax"] else "C0" for i in positions]
        bars.bar(positions, data["probs"], color=colors)
        bars.axhline(1 / len(positions), color="gray", linestyle=":", linewidth=1, label="uniform")
        bars.set_xticks(positions, self.labels, rotation=45, ha="right", fontsize=8)
        bars.set_ylim(0, 1.05)
        bars.set_ylabel("probability")
        bars.set_title(f"softmax(logits / T), T = {data['temperature']:.3g}", fontsize=10)
        bars.legend(loc="upper left", fontsize=8, frameon=False)

        curve.plot(data["curve_temperatures"], data["curve_entropy"], color="C0")
        curve.axhline(data["max_entropy"], color="gray", linestyle=":", linewidth=1, label="ln n (uniform)")
        curve.plot([data["temperature"]], [data["entropy"]], "o", color="C3")
        curve.set_xscale("log")
        curve.set_ylim(0, data["max_entropy"] * 1.1)
        curve.set_xlabel("temperature T")
        curve.set_ylabel("entropy (nats)")
        curve.legend(loc="lower right", fontsize=8, frameon=False)
        figure.tight_layout()

    def describe(self, data: dict[str, Any]) -> str:
        return (f"T = {data['temperature']:.3g}: max prob {data['max_prob']:.3f} "
                f"({self.labels[data['argmax']]}), entropy {data['entropy']:.3f} nats "
                f"(one-hot 0, uniform {data['max_entropy']:.3f})")
