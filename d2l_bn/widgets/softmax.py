"""Temperature explorer: what dividing the logits by T does to a softmax.

The question a learner asks after meeting softmax: "the scores are arbitrary numbers, so how much does their
*scale* matter?" Softmax is invariant to adding a constant to every logit but NOT to multiplying them: the
probabilities of ``softmax(z / T)`` sharpen towards a one-hot vector at the argmax as the temperature T -> 0 and
flatten towards the uniform distribution as T -> infinity. One slider (T, on a log scale because the interesting
range spans orders of magnitude), one picture (the probability bars, and the entropy along all temperatures with
the current one marked), one line of numbers (max probability and entropy).

The default scores are real ones: the logits that softmax regression, trained with d2l's recipe, gives the
first shirt of Fashion-MNIST's test set (:func:`softmax_regression_logits` recomputes them; a test holds the
constants to it). Pass ``logits=`` (and ``source=``) to explore your own model's scores.
"""
from __future__ import annotations

import math
from typing import Any, Optional, Sequence

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.figure import Figure

from d2l_bn.losses import softmax
from d2l_bn.widgets.base import Explorer
from d2l_bn.widgets.controls import PassThroughLogSlider

__all__ = ["EXAMPLE_IMAGE_INDEX", "EXAMPLE_LABELS", "EXAMPLE_LOGITS", "EXAMPLE_SOURCE", "TemperatureExplorer",
           "softmax_entropy", "softmax_regression_logits"]

EXAMPLE_LABELS = ("t-shirt", "trouser", "pullover", "dress", "coat",
                  "sandal", "shirt", "sneaker", "bag", "ankle boot")
#: Test image 9 of Fashion-MNIST, the test set's first shirt.
EXAMPLE_IMAGE_INDEX = 9
#: ``softmax_regression_logits()`` rounded to 2 decimals: a trained model's scores for that shirt. The
#: classes that look like a shirt (coat, pullover) score high too, so the flattening with T is easy to see.
EXAMPLE_LOGITS = (1.44, 0.92, 3.01, 1.40, 6.84, -6.12, 7.75, -9.70, 1.77, -7.31)
EXAMPLE_SOURCE = (f"logits of softmax regression (trained 10 epochs on Fashion-MNIST) "
                  f"for test image {EXAMPLE_IMAGE_INDEX}, a shirt")


def softmax_regression_logits(image_index: int = EXAMPLE_IMAGE_INDEX, num_epochs: int = 10, lr: float = 0.1,
                              batch_size: int = 256, seed: int = 0) -> list[float]:
    """Train softmax regression on Fashion-MNIST's 60,000 training images; its logits for one test image.

    d2l's recipe (minibatch SGD on the mean cross-entropy, lr 0.1, batch 256, 10 epochs), with zero initial
    weights and a shuffling generator seeded with `seed`, so the result is the same on every run (up to float
    rounding). About 3 s of CPU.
    """
    from d2l_bn.data import fashion_mnist_tensors    # only when asked: the explorer itself needs no data

    images, labels = fashion_mnist_tensors(train=True)
    X = images.reshape(len(images), -1).float() / 255
    W = torch.zeros(X.shape[1], 10, requires_grad=True)
    b = torch.zeros(10, requires_grad=True)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(num_epochs):
        order = torch.randperm(len(labels), generator=generator)
        for start in range(0, len(labels), batch_size):
            batch = order[start:start + batch_size]
            torch.nn.functional.cross_entropy(X[batch] @ W + b, labels[batch]).backward()
            with torch.no_grad():
                for param in (W, b):
                    param -= lr * param.grad
                    param.grad = None
    test_images, _ = fashion_mnist_tensors(train=False)
    with torch.no_grad():
        return (test_images[image_index].reshape(-1).float() / 255 @ W + b).tolist()


def softmax_entropy(probs: torch.Tensor) -> torch.Tensor:
    """Entropy -sum p log p in nats along the last dimension, with 0 log 0 = 0 (torch.special.entr)."""
    return torch.special.entr(probs).sum(dim=-1)


class TemperatureExplorer(Explorer):
    """Slide the temperature T and watch ``softmax(logits / T)`` sharpen (small T) or flatten (large T).

    ``logits``: one score per class (a sequence, or a tensor of shape (C,) or (1, C), e.g. ``net(X[:1])``);
    ``labels``: the class names (None numbers them); ``source``: one line saying where the scores come from,
    shown above the bars (by default the example's, else "your logits").

    ``data`` holds ``temperature``, ``logits``, ``probs`` (numpy, sums to 1), ``entropy`` (nats),
    ``max_prob``, ``argmax``, ``max_entropy`` (= ln n, the uniform distribution's) and the curve
    ``curve_temperatures`` / ``curve_entropy`` drawn on the right.
    """

    def __init__(self, logits: Optional[Sequence[float] | torch.Tensor] = None,
                 labels: Optional[Sequence[str]] = EXAMPLE_LABELS, temperature: float = 1.0, *,
                 source: Optional[str] = None, t_min: float = 0.05, t_max: float = 100.0) -> None:
        if logits is None:
            logits, source = EXAMPLE_LOGITS, EXAMPLE_SOURCE if source is None else source
        self.source = "your logits" if source is None else str(source)
        scores = (logits.detach().to("cpu", torch.float64) if isinstance(logits, torch.Tensor)
                  else torch.as_tensor(logits, dtype=torch.float64))    # not via float32: keep every digit
        if scores.dim() == 2 and scores.shape[0] == 1:
            scores = scores[0]                        # one row of a batch, e.g. net(X[:1])
        if scores.dim() != 1 or scores.numel() < 2:
            raise ValueError(f"logits must be a flat list of at least two scores (one per class), "
                             f"got shape {tuple(scores.shape)}; pass one example's row, e.g. net(X)[0]")
        if not torch.isfinite(scores).all():
            raise ValueError("logits must be finite numbers; replace inf/nan scores")
        self.logits = scores
        n = scores.numel()
        self.labels = list(labels) if labels is not None else [str(i) for i in range(n)]
        if len(self.labels) != n:
            raise ValueError(f"got {len(self.labels)} labels for {n} logits; pass one label per logit "
                             f"(or labels=None to number them)")
        if not (math.isfinite(t_min) and math.isfinite(t_max) and 0 < t_min < t_max):
            raise ValueError(f"need 0 < t_min < t_max for the slider's range, got t_min={t_min}, t_max={t_max}")
        # The entropy curve depends only on the logits: compute it once, not on every slider move.
        self.curve_temperatures = np.geomspace(t_min, t_max, 200)
        temperatures = torch.as_tensor(self.curve_temperatures).unsqueeze(1)
        self.curve_entropy = softmax_entropy(self._softmax(temperatures)).numpy()
        # The slider's exponents on its 0.01 grid: a browser snaps the handle to min + k * step and, for a slider
        # that updates while dragged, sends that value back as soon as it is drawn (T = 1 would become 0.998).
        low, high = (round(rounding(math.log10(t) / 0.01) * 0.01, 2)
                     for t, rounding in ((t_min, math.floor), (t_max, math.ceil)))
        slider = PassThroughLogSlider(value=temperature, base=10, min=low, max=high,
                                      step=0.01, description="temperature T", readout_format=".3g",
                                      continuous_update=True, style={"description_width": "initial"},
                                      layout=widgets.Layout(width="420px"))
        self._artists: dict[str, Any] = {}
        super().__init__({"temperature": slider}, figsize=(8.0, 3.2))

    def _softmax(self, temperature: float | torch.Tensor) -> torch.Tensor:
        # softmax(z / T) = softmax((z - max z) / T): every score is <= 0 before the division, so a tiny T
        # gives exp(-inf) = 0 and exp(0) = 1 (a clean one-hot) instead of inf - inf = nan.
        return softmax((self.logits - self.logits.max()) / temperature)

    def validate(self, temperature: float) -> None:
        if not math.isfinite(temperature) or temperature <= 0:
            raise ValueError(f"temperature must be > 0 (the logits are divided by it), got {temperature}; "
                             f"small T sharpens towards one-hot, large T flattens towards uniform")

    def compute(self, temperature: float) -> dict[str, Any]:
        probs = self._softmax(temperature)
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
        if not self._artists:
            self._artists = self._layout(figure, data)
        a = self._artists
        for i, (rect, p) in enumerate(zip(a["bars"], data["probs"])):
            rect.set_height(p)
            rect.set_color("C3" if i == data["argmax"] else "C0")
        a["title"].set_text(f"softmax(logits / T), T = {data['temperature']:.3g}")
        a["marker"].set_data([data["temperature"]], [data["entropy"]])

    def _layout(self, figure: Figure, data: dict[str, Any]) -> dict[str, Any]:
        """Axes and artists, made once; later changes only move them (several times faster than redrawing)."""
        bars, curve = figure.subplots(1, 2, gridspec_kw={"width_ratios": [1.4, 1]})
        positions = np.arange(len(data["probs"]))
        rects = bars.bar(positions, data["probs"], color="C0")
        bars.axhline(1 / len(positions), color="gray", linestyle=":", linewidth=1, label="uniform")
        bars.set_xticks(positions, self.labels, rotation=40, ha="right", fontsize=9)
        bars.set_ylim(0, 1.05)
        bars.set_ylabel("probability", fontsize=10)
        bars.legend(loc="upper left", fontsize=9, frameon=False)
        title = bars.set_title(" ", fontsize=11)

        curve.plot(data["curve_temperatures"], data["curve_entropy"], color="C0")
        curve.axhline(data["max_entropy"], color="gray", linestyle=":", linewidth=1, label="ln n (uniform)")
        (marker,) = curve.plot([], [], "o", color="C3")
        curve.set_xscale("log")
        curve.set_ylim(0, data["max_entropy"] * 1.1)
        curve.set_xlabel("temperature T", fontsize=10)
        curve.set_ylabel("entropy (nats)", fontsize=10)
        curve.legend(loc="lower right", fontsize=9, frameon=False)
        for ax in (bars, curve):
            ax.tick_params(labelsize=9)
        figure.suptitle(self.source, fontsize=9, color="0.3")
        figure.tight_layout()
        return {"bars": rects, "title": title, "marker": marker}

    def describe(self, data: dict[str, Any]) -> str:
        return (f"T = {data['temperature']:.3g}: max prob {data['max_prob']:.3f} "
                f"({self.labels[data['argmax']]}), entropy {data['entropy']:.3f} nats "
                f"(one-hot 0, uniform {data['max_entropy']:.3f})")
