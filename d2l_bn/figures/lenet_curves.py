"""``lenet_curves``: d2l's LeNet and LeNet with batch norm, trained side by side on Fashion-MNIST.

The point of chapter 8.5 in one picture: with the same data, epochs and batch size, the sigmoid LeNet barely
starts learning while LeNet-BN is already accurate. Training all 60,000 images for 10 epochs twice takes many
minutes on a laptop CPU, so by default both nets see the same fixed 10,000-image subset for 5 epochs (the title
says so); ``--full`` runs d2l's recipe. Learning rates are d2l's: 0.9 without BN, 1.0 with. Both use
``d2l_bn.train_ch6`` (Xavier init, SGD, batch 256) on the CPU, seeded, so the curves are reproducible.
"""
from __future__ import annotations

import contextlib
import io
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure

from d2l_bn.data import TensorLoader, fashion_mnist_tensors
from d2l_bn.figures.output import BN_COLOR, NO_BN_COLOR, new_figure
from d2l_bn.models import lenet, lenet_bn
from d2l_bn.training import train_ch6

BATCH_SIZE, SEED = 256, 0
NETS = (("LeNet", lenet, 0.9, NO_BN_COLOR), ("LeNet-BN", lenet_bn, 1.0, BN_COLOR))


def _budget(quick: bool, full: bool) -> tuple[int, int, int]:
    """(training images, test images, epochs)."""
    if quick:
        return 1024, 1000, 2
    if full:
        return 60_000, 10_000, 10
    return 10_000, 10_000, 5


def lenet_curves(quick: bool = False, full: bool = False) -> tuple[Figure, dict[str, Any]]:
    """Test accuracy (left) and training loss (right) per epoch for both nets.

    data[name] holds the per-epoch "test_acc", "train_loss" and "train_acc" arrays of each net.
    """
    num_train, num_test, epochs = _budget(quick, full)
    train_images, train_labels = fashion_mnist_tensors(train=True)
    test_images, test_labels = fashion_mnist_tensors(train=False)
    # The first num_train images: Fashion-MNIST's training file is already in random class order.
    train_iter = TensorLoader(train_images[:num_train], train_labels[:num_train], BATCH_SIZE, shuffle=True,
                              seed=SEED)
    test_iter = TensorLoader(test_images[:num_test], test_labels[:num_test], BATCH_SIZE, shuffle=False)
    data: dict[str, Any] = {"epochs": np.arange(1, epochs + 1), "num_train": num_train, "num_test": num_test}
    for name, build, lr, _ in NETS:
        torch.manual_seed(SEED)
        net = build()
        with contextlib.redirect_stdout(io.StringIO()):     # train_ch6's d2l-style printout: not ours to show
            history = train_ch6(net, train_iter, test_iter, epochs, lr, device="cpu", animate=False,
                                progress=False, seed=SEED)
        data[name] = {key: np.array(getattr(history, key)) for key in ("test_acc", "train_loss", "train_acc")}
        data[name]["lr"] = lr
    figure = new_figure(9.0, 3.6)
    acc_ax, loss_ax = figure.subplots(1, 2)
    for name, _, lr, color in NETS:
        label = f"{name} (lr {lr:g})"
        acc_ax.plot(data["epochs"], data[name]["test_acc"], "o-", color=color, label=label)
        loss_ax.plot(data["epochs"], data[name]["train_loss"], "o-", color=color, label=label)
        acc_ax.annotate(f"{data[name]['test_acc'][-1]:.2f}", (data["epochs"][-1], data[name]["test_acc"][-1]),
                        textcoords="offset points", xytext=(6, -3), fontsize=8, color=color)
    acc_ax.set(xlabel="epoch", ylabel="test accuracy", ylim=(0, 1), title="test accuracy")
    loss_ax.set(xlabel="epoch", ylabel="training loss", ylim=(0, None), title="training loss (cross-entropy)")
    for ax in (acc_ax, loss_ax):
        ax.set_xticks(data["epochs"] if epochs <= 10 else ax.get_xticks())
        ax.set_xlim(0.7, epochs + 0.5)
        ax.legend(loc="best")
    subset = "all 60,000" if num_train == 60_000 else f"the first {num_train:,}"
    figure.suptitle(f"Fashion-MNIST, {subset} training images, {epochs} epochs, batch {BATCH_SIZE}, SGD, "
                    f"Xavier init, seed {SEED} (CPU); test accuracy on {num_test:,} test images", fontsize=9)
    figure.subplots_adjust(left=0.08, right=0.96, bottom=0.15, top=0.86, wspace=0.28)
    return figure, data
