"""What if my batch is tiny? Batch statistics, the normalised activation and accuracy against batch size.

Batch normalization divides by statistics of the current minibatch. Those statistics are estimates: their
noise shrinks like 1/sqrt(batch size), and at batch size 2 the normalised value of a feature can only be -1 or
+1. :class:`BatchSizeExplorer` trains a small MLP live -- one pass over a few thousand examples (but at least
`min_steps` SGD steps, so that huge batches get a fair number of updates), with the learning rate scaled like
sqrt(batch size) (Krizhevsky 2014: gradient noise falls like 1/sqrt(B), so the step may grow like sqrt(B)) --
and draws, for one hidden feature:

1. the histogram of its batch means, 2. of its batch variances (what BN subtracts and divides by in training),
3. the values the next layer sees in training (normalised with batch statistics) against those it sees in
   prediction (normalised with the running statistics) -- the train/eval mismatch that small batches create.

Everything runs on the CPU on a few thousand examples kept in memory: the net is so small that a GPU would
spend its time launching kernels, and a redraw stays under a few seconds on a 2-core laptop.
"""
from __future__ import annotations

import copy
from typing import Any

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn
from torch.nn import functional as F

from d2l_bn.widgets.base import Explorer
from d2l_bn.widgets.controls import one_thread

BATCH_SIZES = tuple(2 ** k for k in range(10))   # 1, 2, 4, ..., 512


def small_mlp(batch_norm: bool, num_hiddens: int = 32, num_inputs: int = 784,
              num_outputs: int = 10) -> nn.Sequential:
    """Linear -> (BatchNorm1d) -> ReLU -> Linear: the smallest net where BN sits between two layers."""
    norm = nn.BatchNorm1d(num_hiddens) if batch_norm else nn.Identity()
    return nn.Sequential(nn.Linear(num_inputs, num_hiddens), norm, nn.ReLU(),
                         nn.Linear(num_hiddens, num_outputs))


def train_steps(net: nn.Module, X: torch.Tensor, y: torch.Tensor, batch_size: int, num_steps: int,
                lr: float, generator: torch.Generator) -> torch.Tensor:
    """Minibatch SGD for `num_steps` steps on in-memory tensors; returns the per-step losses (no host syncs)."""
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    # Sampling with replacement keeps every step's cost independent of the subset's size.
    batches = torch.randint(len(X), (num_steps, batch_size), generator=generator)
    losses = torch.empty(num_steps)
    net.train()
    for step, idx in enumerate(batches):
        loss = F.cross_entropy(net(X[idx]), y[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses[step] = loss.detach()
    return losses


def batch_statistics(values: torch.Tensor, batch_size: int, num_batches: int,
                     generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Means, biased variances and normalised values of one feature over `num_batches` random batches.

    `values` holds the feature for every example (1-D). The normalised values are those BN computes in
    training, (x - batch mean) / sqrt(batch var + eps), for every member of every batch.
    """
    batches = values[torch.randint(len(values), (num_batches, batch_size), generator=generator)]
    means = batches.mean(dim=1)
    variances = batches.var(dim=1, unbiased=False)
    normalised = (batches - means[:, None]) / torch.sqrt(variances[:, None] + 1e-5)
    return means, variances, normalised.flatten()



class BatchSizeExplorer(Explorer):
    """Batch size (1 ... 512) and BN on/off -> batch statistics of one feature and a live-trained net's accuracy.

    Pass `images`/`labels` (uint8 or float images, any shape with 784 values per example) to choose the data;
    by default the first `num_train` training and `num_val` validation images of Fashion-MNIST, both from its
    training set (`validation_split`): a learner moving the sliders is choosing, so the test set stays out.
    """

    trains = True

    def __init__(self, images: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                 val_images: torch.Tensor | None = None, val_labels: torch.Tensor | None = None, *,
                 batch_size: int = 2, batch_norm: bool = True, num_train: int = 4096, num_val: int = 1000,
                 min_steps: int = 100, num_hiddens: int = 32, lr_per_sqrt_batch: float = 0.03,
                 max_lr: float = 0.6, feature: int = 0, seed: int = 0) -> None:
        if images is None or val_images is None:
            from d2l_bn.data import fashion_mnist_tensors, validation_split   # only when asked: tests pass tensors
            (images, labels), (val_images, val_labels) = validation_split(*fashion_mnist_tensors(train=True))
        self.X, self.y = self._as_rows(images[:num_train]), labels[:num_train].cpu()
        self.X_val, self.y_val = self._as_rows(val_images[:num_val]), val_labels[:num_val].cpu()
        self.min_steps, self.num_hiddens = min_steps, num_hiddens
        self.lr_per_sqrt_batch, self.max_lr = lr_per_sqrt_batch, max_lr
        self.feature, self.seed = feature, seed
        # The same initial weights for every setting, drawn once here under a private seed: the runs (which may
        # train in a background thread) never touch the global random generator the notebook is using.
        self._initial_nets = {}
        with torch.random.fork_rng(devices=[]):
            for with_bn in (True, False):
                torch.manual_seed(seed)
                self._initial_nets[with_bn] = small_mlp(with_bn, num_hiddens, num_inputs=self.X.shape[1])
        controls = {
            "batch_size": widgets.SelectionSlider(options=list(BATCH_SIZES), value=batch_size,
                                                  description="batch size", continuous_update=False),
            "batch_norm": widgets.Checkbox(value=batch_norm, description="batch norm"),
        }
        super().__init__(controls, figsize=(10.0, 3.2))

    @staticmethod
    def _as_rows(images: torch.Tensor) -> torch.Tensor:
        """Images of any layout -> float32 rows on the CPU, scaled to [0, 1] if they came as uint8."""
        X = images.detach().cpu().reshape(len(images), -1)
        return X.float() / 255 if X.dtype == torch.uint8 else X.float()

    def validate(self, batch_size: int, batch_norm: bool) -> None:
        if batch_norm and batch_size == 1:
            raise ValueError(
                "batch size 1 with batch norm in training: a batch of one example is its own mean, so every "
                "normalised value is 0 and BN outputs beta whatever the input (PyTorch refuses: 'Expected more "
                "than 1 value per channel when training'). Use batch size >= 2, or switch batch norm off.")

    def compute(self, batch_size: int, batch_norm: bool) -> dict[str, Any]:
        generator = torch.Generator().manual_seed(self.seed)
        net = copy.deepcopy(self._initial_nets[batch_norm])
        num_steps = max(self.min_steps, len(self.X) // batch_size)
        lr = min(self.lr_per_sqrt_batch * batch_size ** 0.5, self.max_lr)
        with one_thread():
            losses = train_steps(net, self.X, self.y, batch_size, num_steps, lr, generator)
        self.check_superseded()                  # a newer setting arrived while this one trained: drop it
        net.eval()
        with torch.no_grad(), one_thread():
            accuracy = (net(self.X_val).argmax(dim=1) == self.y_val).float().mean()
            feature = net[0](self.X)[:, self.feature]           # the pre-BN activation of one unit
        # Enough batches for a smooth histogram, but no more than ~8k normalised values to draw.
        num_batches = max(64, 8192 // batch_size)
        means, variances, x_hat_train = batch_statistics(feature, batch_size, num_batches, generator)
        if batch_norm:
            bn = net[1]
            x_hat_eval = ((feature - bn.running_mean[self.feature])
                          / torch.sqrt(bn.running_var[self.feature] + bn.eps))
        else:
            x_hat_train = x_hat_eval = feature       # no normalisation: the next layer sees the raw activation
        return {
            "batch_size": batch_size, "batch_norm": batch_norm, "num_steps": num_steps, "lr": lr,
            "val_accuracy": float(accuracy), "final_loss": float(losses[-20:].mean()),
            "population_mean": float(feature.mean()), "population_var": float(feature.var(unbiased=False)),
            "batch_means": means.numpy(), "batch_vars": variances.numpy(),
            "x_hat_train": x_hat_train.numpy(), "x_hat_eval": x_hat_eval.numpy(),
        }

    def draw(self, figure: Figure, data: dict[str, Any]) -> None:
        figure.clear()   # cheap next to the training run
        axes = figure.subplots(1, 3)
        # Fixed axes in units of the whole data's statistics, so that settings can be compared by eye.
        std = max(data["population_var"], 1e-12) ** 0.5
        means = (data["batch_means"] - data["population_mean"]) / std
        ratios = data["batch_vars"] / max(data["population_var"], 1e-12)
        for ax, values, edges, reference, title in (
                (axes[0], means, np.linspace(-3, 3, 49), 0.0, "(batch mean - mean) / std"),
                (axes[1], ratios, np.linspace(0, 4, 49), 1.0, "batch variance / variance")):
            ax.hist(np.clip(values, edges[0], edges[-1]), bins=edges, density=True, color="C0")
            ax.axvline(reference, color="C3", linestyle="--", label="whole data")
            ax.set_title(f"unit {self.feature}: {title}", fontsize=10)
            ax.set_yticks([])
            ax.tick_params(labelsize=9)
        axes[0].legend(loc="upper right", fontsize=9)   # "best" searches: slow
        ax = axes[2]
        bins = np.linspace(-4, 4, 61) if data["batch_norm"] else 40
        if data["batch_norm"]:
            ax.hist(data["x_hat_train"], bins=bins, density=True, alpha=0.6, label="train (batch stats)")
            ax.hist(data["x_hat_eval"], bins=bins, density=True, alpha=0.6, label="prediction (running stats)")
            ax.set_title("normalised activation", fontsize=10)
        else:
            ax.hist(data["x_hat_train"], bins=bins, density=True, alpha=0.6, label="train = prediction")
            ax.set_title("activation (no BN)", fontsize=10)
        ax.legend(loc="upper right", fontsize=9)
        ax.set_yticks([])
        ax.tick_params(labelsize=9)
        figure.suptitle(f"batch size {data['batch_size']}, BN {'on' if data['batch_norm'] else 'off'}: "
                        f"validation accuracy {data['val_accuracy']:.2f} after {data['num_steps']} steps",
                        fontsize=11)
        figure.subplots_adjust(left=0.02, right=0.98, bottom=0.1, top=0.8, wspace=0.1)

    def describe(self, data: dict[str, Any]) -> str:
        spread = float(np.std(data["batch_means"])) / max(data["population_var"], 1e-12) ** 0.5
        return (f"batch size {data['batch_size']}, BN {'on' if data['batch_norm'] else 'off'}: "
                f"validation accuracy {data['val_accuracy']:.2f} after {data['num_steps']} SGD steps; "
                f"batch means of unit {self.feature} scatter by {spread:.2f} population std")
