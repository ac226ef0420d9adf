"""SGD explorer: what do the batch size and the learning rate do to a short training run?

The two knobs every training script has, and the question a learner asks about them: "if I make the batch
bigger (or the step larger), do I get a lower loss, or just a different curve?" Two sliders, one picture. Each
move reruns a short minibatch SGD training of a small MLP on a fixed subset of images held in memory, from the
same initial weights and with the same shuffling seed, so the only thing that changes between two curves is the
slider that moved. The loss of the whole subset is drawn twice:

* against the number of **updates** (log scale): per update, a large batch is the better step (less noise);
* against the number of **examples seen**: per example, i.e. per unit of computation, small batches go further,
  because they take more steps for the same work.

A grey reference curve (the settings the explorer started with) stays put so a learner compares against it.
A learning rate that is too large makes the loss blow up; the run then stops, the curve ends where it was last
sane and the readout says so, instead of drawing a wall of NaNs (or raising).
"""
from __future__ import annotations

import copy
import math
from typing import Any, Callable, Optional

import ipywidgets as widgets
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import nn

from d2l_bn.optim import sgd
from d2l_bn.widgets.base import Explorer
from d2l_bn.widgets.controls import PassThroughIntSlider, PassThroughLogSlider, one_thread

#: A run counts as diverged once its loss is not finite or exceeds this multiple of the starting loss. With a
#: stable cross-entropy the loss of a too-large step rarely overflows: the ReLUs die and the loss climbs to
#: large finite values that never come back. Stopping there keeps the picture readable and the redraw fast.
DIVERGENCE_FACTOR = 10.0




def loss_checkpoints(num_updates: int, num_points: int = 24) -> np.ndarray:
    """Update counts (0 and `num_updates` included) at which to measure the loss.

    Half spaced geometrically (for the log-scale "updates" axis), half linearly (for the "examples seen" axis),
    so both panels have points everywhere without evaluating after every one of thousands of updates.
    """
    geometric = np.geomspace(1, max(num_updates, 1), num_points)
    linear = np.linspace(0, num_updates, num_points)
    return np.unique(np.concatenate([[0], np.round(geometric), np.round(linear)]).astype(np.int64))


def sgd_loss_curve(net: nn.Module, features: torch.Tensor, labels: torch.Tensor, batch_size: int, lr: float,
                   num_epochs: int, seed: int = 0, interrupt: Optional[Callable[[], None]] = None) -> dict[str, Any]:
    """Train `net` in place by minibatch SGD and return the whole-set loss at a few checkpoints.

    Each epoch visits the examples in a fresh random order (from a generator seeded with `seed`, so equal
    arguments give equal curves) cut into ceil(n / batch_size) batches, the last one possibly smaller. The
    update is d2l's: the loss is summed over the batch and :func:`d2l_bn.optim.sgd` divides by the batch's
    actual size, i.e. a step along the mean gradient.

    Returns ``updates``, ``examples`` (examples seen at each checkpoint) and ``loss`` as numpy arrays, truncated
    at the first checkpoint where the run diverged, plus ``diverged_at`` (that update, or None).
    ``interrupt``, if given, is called at every checkpoint and may raise to abandon the run.
    """
    n = len(labels)
    per_epoch = math.ceil(n / batch_size)
    total = per_epoch * num_epochs
    checkpoints = set(loss_checkpoints(total).tolist())
    generator = torch.Generator().manual_seed(seed)
    updates, losses, diverged_at = [], [], None

    def measure(update: int) -> bool:
        """Record the whole-set loss; False once it has blown up (one host sync per checkpoint, not per batch)."""
        if interrupt is not None:
            interrupt()
        with torch.no_grad():
            loss = float(F.cross_entropy(net(features), labels))
        if not math.isfinite(loss) or (losses and loss > DIVERGENCE_FACTOR * losses[0]):
            return False
        updates.append(update)
        losses.append(loss)
        return True

    measure(0)
    update = 0
    for _ in range(num_epochs):
        order = torch.randperm(n, generator=generator)
        for start in range(0, n, batch_size):
            batch = order[start:start + batch_size]
            loss = F.cross_entropy(net(features[batch]), labels[batch], reduction="sum")
            loss.backward()
            sgd(net.parameters(), lr, len(batch))
            update += 1
            if update in checkpoints and not measure(update):
                diverged_at = update
                break
        if diverged_at is not None:
            break
    updates = np.asarray(updates, dtype=np.int64)
    # Every batch but an epoch's last is full, so examples seen follow from the update count.
    examples = (updates // per_epoch) * n + np.minimum((updates % per_epoch) * batch_size, n)
    return {"updates": updates, "examples": examples, "loss": np.asarray(losses),
            "diverged_at": diverged_at, "updates_per_epoch": per_epoch, "total_updates": total}



class SGDExplorer(Explorer):
    """Slide the batch size and the learning rate; a short SGD run redraws the loss curves.

    ``features`` (N, ...) float and ``labels`` (N,) int64 are the fixed training subset (flattened and kept on
    the CPU: for a model this small the per-update overhead, not arithmetic, is the cost, and CPU runs are
    bit-reproducible). The model is an MLP ``inputs -> num_hiddens (ReLU) -> classes`` with the same initial
    weights (from `seed`) in every run.

    ``data`` holds ``batch_size``, ``lr``, ``updates``, ``examples``, ``loss`` (numpy, the whole-subset mean
    cross-entropy at each checkpoint), ``diverged_at`` (update or None), ``updates_per_epoch``,
    ``total_updates``, ``initial_loss``, ``final_loss`` and ``reference`` (the same for the starting settings).
    """

    trains = True

    def __init__(self, features: torch.Tensor, labels: torch.Tensor, *, batch_size: int = 32, lr: float = 0.05,
                 num_epochs: int = 2, num_hiddens: int = 32, seed: int = 0,
                 lr_range: tuple[float, float] = (1e-3, 10.0)) -> None:
        self.features = torch.as_tensor(features).detach().cpu().float().flatten(1)
        self.labels = torch.as_tensor(labels).detach().cpu().long()
        if len(self.features) != len(self.labels) or len(self.labels) < 2:
            raise ValueError(f"need one label per example and at least two examples, got {len(self.features)} "
                             f"examples and {len(self.labels)} labels")
        if num_epochs < 1:
            raise ValueError(f"num_epochs must be >= 1, got {num_epochs}")
        if not 0 < lr_range[0] < lr_range[1]:
            raise ValueError(f"lr_range must be (low, high) with 0 < low < high, got {lr_range}")
        self.num_epochs, self.seed = int(num_epochs), int(seed)
        num_classes = int(self.labels.max()) + 1
        # Build the initial weights once, from their own seed, without disturbing the notebook's random state.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.net = nn.Sequential(nn.Linear(self.features.shape[1], num_hiddens), nn.ReLU(),
                                     nn.Linear(num_hiddens, num_classes))
        self.reference: dict[str, Any] = {}
        n = len(self.labels)
        controls = {
            "batch_size": PassThroughIntSlider(
                value=batch_size, min=1, max=n, description="batch size", continuous_update=False,
                style={"description_width": "initial"}, layout=widgets.Layout(width="380px")),
            "lr": PassThroughLogSlider(
                value=lr, base=10, min=math.log10(lr_range[0]), max=math.log10(lr_range[1]), step=0.1,
                description="learning rate", readout_format=".3g", continuous_update=False,
                style={"description_width": "initial"}, layout=widgets.Layout(width="380px")),
        }
        super().__init__(controls, figsize=(9.0, 3.4))
        # The first run is the reference that later pictures draw in grey.
        self.reference = {key: value for key, value in self.data.items() if key != "reference"}

    def validate(self, batch_size: int, lr: float) -> None:
        n = len(self.labels)
        if batch_size < 1:
            raise ValueError(f"batch size must be >= 1 (examples per update), got {batch_size}; "
                             f"1 is plain SGD, {n} is full-batch gradient descent on this subset")
        if batch_size > n:
            raise ValueError(f"batch size {batch_size} is larger than the subset ({n} examples); "
                             f"pick at most {n}, which already is full-batch gradient descent")
        if not (math.isfinite(lr) and lr > 0):
            raise ValueError(f"learning rate must be a positive number (the step size), got {lr}; "
                             f"try 0.1 and move it by factors of 10")

    def compute(self, batch_size: int, lr: float) -> dict[str, Any]:
        net = copy.deepcopy(self.net)             # the initial weights, fresh for every run
        with one_thread():
            curve = sgd_loss_curve(net, self.features, self.labels, int(batch_size), float(lr),
                                   self.num_epochs, self.seed, interrupt=self.check_superseded)
        return {"batch_size": int(batch_size), "lr": float(lr), **curve,
                "initial_loss": float(curve["loss"][0]), "final_loss": float(curve["loss"][-1]),
                "reference": self.reference}

    def draw(self, figure: Figure, data: dict[str, Any]) -> None:
        figure.clear()   # cheap next to the training run
        by_updates, by_examples = figure.subplots(1, 2, sharey=True)
        label = f"batch {data['batch_size']}, lr {data['lr']:.3g}"
        reference = data["reference"]
        for axes, x in ((by_updates, "updates"), (by_examples, "examples")):
            if reference:
                ref_label = f"start: batch {reference['batch_size']}, lr {reference['lr']:.3g}"
                axes.plot(reference[x], reference["loss"], color="0.6", linestyle="--", label=ref_label)
            axes.plot(data[x], data["loss"], "-", color="C0", marker=".", markersize=4, label=label)
            if data["diverged_at"] is not None:
                axes.axvline(data[x][-1], color="C3", linestyle=":", linewidth=1)
            axes.axhline(data["initial_loss"], color="0.8", linewidth=0.8)
            axes.tick_params(labelsize=9)
        by_updates.set_xscale("symlog", linthresh=1)
        by_updates.set_xlim(0, None)
        by_updates.set_xlabel("updates (log scale)", fontsize=10)
        by_updates.set_ylabel("training loss (whole subset)", fontsize=10)
        by_examples.set_xlabel("examples seen", fontsize=10)
        by_examples.set_xlim(0, self.num_epochs * len(self.labels))
        by_updates.set_ylim(0, 1.3 * data["initial_loss"])
        by_updates.legend(loc="lower left", fontsize=9, frameon=False)
        if data["diverged_at"] is not None:
            by_examples.text(0.5, 0.9, f"diverged by update {data['diverged_at']}:\nlower the learning rate",
                             transform=by_examples.transAxes, ha="center", va="top", color="C3", fontsize=10)
        figure.suptitle(f"{label}: {data['updates_per_epoch']} update(s) per epoch, {self.num_epochs} epoch(s) "
                        f"of {len(self.labels)} examples", fontsize=11)
        figure.subplots_adjust(left=0.08, right=0.98, bottom=0.15, top=0.88, wspace=0.08)

    def describe(self, data: dict[str, Any]) -> str:
        head = (f"batch {data['batch_size']}, lr {data['lr']:.3g}: {data['updates_per_epoch']} update(s) "
                f"per epoch, {data['total_updates']} in {self.num_epochs} epoch(s)")
        if data["diverged_at"] is not None:
            return (f"{head}; DIVERGED by update {data['diverged_at']} (loss became non-finite or over "
                    f"{DIVERGENCE_FACTOR:g}x its start {data['initial_loss']:.3f}): lower the learning rate")
        return f"{head}; loss {data['initial_loss']:.3f} -> {data['final_loss']:.3f}"
