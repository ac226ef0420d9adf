"""``ioffe_percentiles``: Figure 1 of Ioffe & Szegedy (2015), "internal covariate shift", on Fashion-MNIST.

The paper trained a fully connected net (three hidden layers of 100 sigmoid units, batches of 60) on MNIST and
plotted, over training, the 15th, 50th and 85th percentiles of the input to one sigmoid of the last hidden
layer: without BN that distribution drifts as the layers below change; with BN it stays put, because BN fixes
its mean and variance per batch and only gamma and beta (learned, slowly) move it. We repeat the experiment on a
Fashion-MNIST subset with the course's ``BatchNorm``, a few thousand steps instead of 50,000.

The percentiles are taken over a fixed probe set of test images, recorded every few steps. For the BN net the
probe is normalised with its own batch statistics (as training does) without touching the running averages.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from d2l_bn.data import fashion_mnist_tensors
from d2l_bn.figures.output import BN_COLOR, NO_BN_COLOR, new_figure
from d2l_bn.layers import BatchNorm
from d2l_bn.models import init_xavier

HIDDEN, BATCH_SIZE, LR, SEED = 100, 60, 0.5, 0
PERCENTILES = (15, 50, 85)
UNIT = 0                                 # the sigmoid we follow (any unit of the last hidden layer would do)


def sigmoid_mlp(batch_norm: bool) -> nn.Sequential:
    """784 -> 100 -> 100 -> 100 -> 10, sigmoid hidden units; with BN before each sigmoid if batch_norm."""
    layers: list[nn.Module] = [nn.Flatten()]
    width = 784
    for _ in range(3):
        layers.append(nn.Linear(width, HIDDEN))
        if batch_norm:
            layers.append(BatchNorm(HIDDEN, num_dims=2))
        layers.append(nn.Sigmoid())
        width = HIDDEN
    layers.append(nn.Linear(width, 10))
    return nn.Sequential(*layers)


def _last_sigmoid_inputs(net: nn.Sequential, X: torch.Tensor) -> torch.Tensor:
    """What the last hidden sigmoid receives for X, (len(X), HIDDEN), computed as training would see it.

    In train mode the BN layers normalise with the batch's own statistics and update their running averages;
    the averages are put back afterwards, so looking does not change the network.
    """
    saved = {name: buffer.clone() for name, buffer in net.named_buffers()}
    last_sigmoid = [m for m in net if isinstance(m, nn.Sigmoid)][-1]
    captured: list[torch.Tensor] = []
    hook = last_sigmoid.register_forward_hook(lambda module, inputs, output: captured.append(inputs[0]))
    try:
        with torch.no_grad():
            net(X)
    finally:
        hook.remove()
        for name, buffer in net.named_buffers():
            buffer.copy_(saved[name])
    return captured[0]


def train_and_watch(batch_norm: bool, steps: int, record_every: int, train: tuple[torch.Tensor, torch.Tensor],
                    test: tuple[torch.Tensor, torch.Tensor], probe: torch.Tensor) -> dict[str, np.ndarray]:
    """SGD on `train` for `steps` batches; every `record_every` steps, test accuracy and the percentiles.

    Returns "steps" (R,), "test_acc" (R,) and "percentiles" (R, 3, HIDDEN): per recorded step, the 15/50/85th
    percentiles of every unit of the last hidden layer's sigmoid input over the probe images.
    """
    torch.manual_seed(SEED)
    net = sigmoid_mlp(batch_norm)
    net.apply(init_xavier)
    optimizer = torch.optim.SGD(net.parameters(), lr=LR)
    generator = torch.Generator().manual_seed(SEED)           # same batches for both nets
    images, labels = train
    order = torch.empty(0, dtype=torch.long)
    recorded_steps, accuracies, percentiles = [], [], []
    q = torch.tensor(PERCENTILES, dtype=torch.float32) / 100
    for step in range(steps + 1):
        if step % record_every == 0:
            net.train()
            percentiles.append(torch.quantile(_last_sigmoid_inputs(net, probe), q, dim=0))
            net.eval()
            with torch.no_grad():
                accuracies.append((net(test[0]).argmax(dim=1) == test[1]).float().mean())
            recorded_steps.append(step)
        if step == steps:
            break
        if len(order) < BATCH_SIZE:                            # a new epoch: a new permutation
            order = torch.randperm(len(labels), generator=generator)
        batch, order = order[:BATCH_SIZE], order[BATCH_SIZE:]
        net.train()
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(net(images[batch]), labels[batch]).backward()
        optimizer.step()
    return {"steps": np.array(recorded_steps), "test_acc": torch.stack(accuracies).numpy(),
            "percentiles": torch.stack(percentiles).numpy()}


def drift(percentiles: np.ndarray) -> np.ndarray:
    """Per unit, how far its distribution moved from where it started, relative to how wide it ever was.

    max over time of |median(t) - median(0)| + |spread(t) - spread(0)|, spread = 85th - 15th percentile,
    divided by the largest spread over time (not the first: without BN a unit can start almost constant, and
    dividing by that would make any drift look infinite); shape (HIDDEN,). About 0 means a stable input
    distribution; 1 or more means it moved by as much as it is wide.
    """
    median, spread = percentiles[:, 1], percentiles[:, 2] - percentiles[:, 0]
    moved = np.abs(median - median[0]) + np.abs(spread - spread[0])
    return moved.max(axis=0) / spread.max(axis=0)


def _budget(quick: bool) -> tuple[int, int, int, int]:
    """(training images, steps, record every, test images)."""
    return (2000, 300, 10, 1000) if quick else (10_000, 3000, 25, 10_000)


def ioffe_percentiles(quick: bool = False, full: bool = False) -> tuple[Figure, dict[str, Any]]:
    """(a) test accuracy against steps, both nets; (b) without BN and (c) with BN, percentiles of one input.

    full changes nothing here: 3,000 steps already show the whole story (the paper's 50,000 would take minutes).
    """
    num_train, steps, record_every, num_test = _budget(quick)
    images, labels = fashion_mnist_tensors(train=True)
    test_images, test_labels = fashion_mnist_tensors(train=False)
    train = (images[:num_train].unsqueeze(1) / 255, labels[:num_train])
    test = (test_images[:num_test].unsqueeze(1) / 255, test_labels[:num_test])
    probe = test[0][:1000]
    runs = {name: train_and_watch(bn, steps, record_every, train, test, probe)
            for name, bn in (("without BN", False), ("with BN", True))}
    data: dict[str, Any] = {name: {**run, "drift": drift(run["percentiles"])} for name, run in runs.items()}
    data.update(unit=UNIT, steps=steps, num_train=num_train)
    figure = new_figure(11.0, 3.5)
    acc_ax, *pct_axes = figure.subplots(1, 3)
    for (name, run), color in zip(data.items(), (NO_BN_COLOR, BN_COLOR)):
        acc_ax.plot(run["steps"], run["test_acc"], color=color, lw=1.6, label=name)
    acc_ax.set(xlabel="training step", ylabel="test accuracy", ylim=(0, 1), xlim=(0, steps),
               title="(a) test accuracy")
    acc_ax.legend(loc="lower right")
    lows = [data[name]["percentiles"][:, :, UNIT].min() for name in runs]
    highs = [data[name]["percentiles"][:, :, UNIT].max() for name in runs]
    ylim = (min(lows) - 0.9, max(highs) + 0.9)                 # one scale for (b) and (c): compare them
    for ax, name, letter, color in zip(pct_axes, runs, "bc", (NO_BN_COLOR, BN_COLOR)):
        run = data[name]
        ax.plot(run["steps"], run["percentiles"][:, 1, UNIT], "-", color=color, lw=1.6, label="median")
        for k in (0, 2):
            ax.plot(run["steps"], run["percentiles"][:, k, UNIT], ":", color=color, lw=1.6,
                    label="15th and 85th percentiles" if k == 0 else None)
        ax.set(xlabel="training step", xlim=(0, steps), ylim=ylim,
               title=f"({letter}) {name}: input of one sigmoid")
        ax.text(0.97, 0.04, f"drift {run['drift'][UNIT]:.2f}  (median of all {HIDDEN} units: "
                f"{np.median(run['drift']):.2f})", transform=ax.transAxes, ha="right", va="bottom", fontsize=7.5)
        ax.legend(loc="upper left", ncols=2, fontsize=7.5)
    figure.suptitle(f"3-layer sigmoid MLP ({HIDDEN} units per layer), SGD lr {LR:g}, batch {BATCH_SIZE}, "
                    f"{steps} steps on {num_train:,} Fashion-MNIST images; percentiles over 1,000 test images",
                    fontsize=9)
    figure.text(0.06, 0.0, "drift: the largest move of the median plus the change of the 15-85 spread since step 0, "
                "relative to the widest spread; ~0 = a stable input distribution", fontsize=7.5, color="0.3")
    figure.subplots_adjust(left=0.06, right=0.98, bottom=0.19, top=0.85, wspace=0.25)
    return figure, data
