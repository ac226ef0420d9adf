"""What does depth do to the gradients at initialisation, with and without BN and skip connections?

:class:`DepthExplorer` builds a deep ReLU MLP (`d2l_bn.resnet.deep_mlp`: width 64, He init, each hidden layer
Linear -> [BN] -> ReLU, optionally with a skip x + layer(x)) for three seeds, runs one batch of Fashion-MNIST
forward and backward in training mode, and draws per layer:

1. the norm of the gradient of the layer's weight, divided by that of the last hidden layer (1 at the right
   end; a curve rising to the left means gradients grow towards the input);
2. the standard deviation of the layer's output (the forward pass).

Nothing is trained: a change costs one forward and backward pass per seed (well under a second on a CPU for
100 layers). The three settings that chapter 08 measures are there to find: BN without skips (gradients
explode towards the input, faster the deeper; Yang et al., 2019), BN with skips (a mild slope), no BN (He init:
gradients stay level without skips; with skips the forward pass grows with every block).
"""
from __future__ import annotations

from typing import Any, Optional

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.figure import Figure

from d2l_bn.diagnostics import gradient_norm_profile, recording
from d2l_bn.resnet import deep_mlp
from d2l_bn.widgets.base import Explorer
from d2l_bn.widgets.controls import PassThroughIntSlider, one_thread

SEEDS = (0, 1, 2)


def depth_profile(X: torch.Tensor, y: torch.Tensor, depth: int, batch_norm: bool, skip: bool,
                  width: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(gradient norm of hidden layers 2..depth relative to the last one, output std of layers 1..depth).

    One forward/backward pass of `deep_mlp(depth, width, batch_norm=..., skip=..., activation='relu')` at
    initialisation (seeded), in training mode.
    """
    net = deep_mlp(depth, width, batch_norm=batch_norm, skip=skip, seed=seed)
    blocks = list(net)[1:-1]
    with recording({str(k): block for k, block in enumerate(blocks)}) as (outputs, _):
        grads = gradient_norm_profile(net, X, y, [block.linear.weight for block in blocks[1:]])
    stds = np.array([outputs[str(k)].std().item() for k in range(depth)])
    return (grads / grads[-1]).numpy(), stds


class DepthExplorer(Explorer):
    """Depth (3-100 hidden layers), BN on/off and skip on/off -> per-layer gradient norms at initialisation.

    `images`, `labels`: the batch to measure with (the first `batch_size` examples; uint8 or float images with
    784 values each); by default the first training images of Fashion-MNIST. ``data`` holds ``depth``,
    ``batch_norm``, ``skip``, ``grad_ratio`` (seeds x (depth - 1): gradient norms relative to the last hidden
    layer), ``stds`` (seeds x depth) and ``first_to_last`` (median over the seeds of layer 2's ratio).
    """

    MAX_DEPTH = 100

    def __init__(self, images: Optional[torch.Tensor] = None, labels: Optional[torch.Tensor] = None, *,
                 depth: int = 20, batch_norm: bool = True, skip: bool = False, batch_size: int = 128,
                 width: int = 64) -> None:
        if images is None or labels is None:
            from d2l_bn.data import fashion_mnist_tensors
            images, labels = fashion_mnist_tensors(train=True)
        if len(images) < 2 or len(images) != len(labels):
            raise ValueError("pass at least 2 images and one label per image")
        X = images[:batch_size]
        self.X = (X.float() / 255 if X.dtype == torch.uint8 else X.float()).reshape(len(X), -1)
        self.y = labels[:batch_size].long()
        self.width = width
        controls = {
            "depth": PassThroughIntSlider(value=depth, min=3, max=self.MAX_DEPTH, description="depth",
                                          continuous_update=False),
            "batch_norm": widgets.Checkbox(value=batch_norm, description="BN", indent=False),
            "skip": widgets.Checkbox(value=skip, description="skip connections", indent=False),
        }
        super().__init__(controls, figsize=(10.0, 3.4))

    def validate(self, depth: int, batch_norm: bool, skip: bool) -> None:
        if not 3 <= depth <= self.MAX_DEPTH:
            raise ValueError(f"depth must be between 3 and {self.MAX_DEPTH} hidden layers, got {depth}")

    def compute(self, depth: int, batch_norm: bool, skip: bool) -> dict[str, Any]:
        with one_thread():
            runs = [depth_profile(self.X, self.y, depth, batch_norm, skip, self.width, seed) for seed in SEEDS]
        grad_ratio = np.stack([r[0] for r in runs])
        return {"depth": depth, "batch_norm": batch_norm, "skip": skip, "grad_ratio": grad_ratio,
                "stds": np.stack([r[1] for r in runs]), "first_to_last": float(np.median(grad_ratio[:, 0]))}

    def draw(self, figure: Figure, data: dict[str, Any]) -> None:
        figure.clear()
        left, right = figure.subplots(1, 2)
        panels = ((left, data["grad_ratio"], 2, "gradient norm / last layer's", "||dL/dW|| relative to the last layer"),
                  (right, data["stds"], 1, "std of the output", "forward: std of each layer's output"))
        for ax, values, first, ylabel, title in panels:
            layers = np.arange(first, first + values.shape[1])
            ax.fill_between(layers, values.min(0), values.max(0), color="C0", alpha=0.25, lw=0)
            ax.plot(layers, np.median(values, 0), color="C0", marker=".", markersize=3)
            ax.axhline(1.0, color="0.5", lw=0.8, ls="--")
            ax.set_yscale("log")
            finite = values[np.isfinite(values) & (values > 0)]
            if finite.size:   # at least 0.1 to 10, so that a flat profile looks flat
                ax.set_ylim(min(finite.min() / 2, 0.1), max(finite.max() * 2, 10.0))
            ax.set_xlabel("layer (input side on the left)", fontsize=10)
            ax.set_ylabel(ylabel, fontsize=10)
            ax.set_title(title, fontsize=11)
            ax.tick_params(labelsize=9)
        figure.subplots_adjust(left=0.08, right=0.98, bottom=0.16, top=0.88, wspace=0.3)

    def describe(self, data: dict[str, Any]) -> str:
        setting = f"depth {data['depth']}, BN {'on' if data['batch_norm'] else 'off'}, " \
                  f"skips {'on' if data['skip'] else 'off'}"
        if not np.isfinite(data["grad_ratio"]).all():
            return (f"{setting}: the gradients overflow float32 in some seeds: the forward pass grows with every "
                    f"block (right panel) until the loss's gradient is inf")
        return (f"{setting}: at initialisation the gradient of layer 2 is {data['first_to_last']:.3g} times the "
                f"last layer's (median of {len(SEEDS)} seeds)")
