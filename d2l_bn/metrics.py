"""Counting, timing and keeping score: d2l's `Timer`, `Accumulator`, `accuracy`, a sync-free
count, and the `History` that `train_ch6` returns.

`accuracy` returns a Python float like d2l's, which forces the CPU to wait for the GPU
(a "host sync"). Calling it once per batch serialises CPU and GPU, so the trainer uses
`count_correct` instead: it returns a tensor that stays on the device and is summed
there, and the host reads the total only a few times per epoch.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional

import numpy as np
import torch

if TYPE_CHECKING:   # only a type here: importing matplotlib is left to the code that plots
    from matplotlib.figure import Figure


class Timer:
    """Record multiple running times."""

    def __init__(self):
        self.times = []
        self.start()

    def start(self):
        """Start the timer."""
        self.tik = time.perf_counter()

    def stop(self):
        """Stop the timer and record the time in a list."""
        self.times.append(time.perf_counter() - self.tik)
        return self.times[-1]

    def avg(self):
        """Return the average time."""
        return sum(self.times) / len(self.times)

    def sum(self):
        """Return the sum of time."""
        return sum(self.times)

    def cumsum(self):
        """Return the accumulated time."""
        return np.array(self.times).cumsum().tolist()


class Accumulator:
    """For accumulating sums over `n` variables."""

    def __init__(self, n):
        self.data = [0.0] * n

    def add(self, *args):
        self.data = [a + float(b) for a, b in zip(self.data, args)]

    def reset(self):
        self.data = [0.0] * len(self.data)

    def __getitem__(self, idx):
        return self.data[idx]


def count_correct(y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Number of correct predictions as a 0-d int64 tensor on y's device (no host sync).

    `y_hat` holds either class scores (N, num_classes) -- the argmax is the prediction --
    or predicted labels (N,).
    """
    if y_hat.dim() > 1 and y_hat.shape[1] > 1:
        y_hat = y_hat.argmax(dim=1)
    return (y_hat.to(y.dtype) == y).sum()


def accuracy(y_hat: torch.Tensor, y: torch.Tensor) -> float:
    """Compute the number of correct predictions (a float count, as in d2l; divide by len(y) for a rate)."""
    return float(count_correct(y_hat, y))


@dataclass
class History:
    """What `train_ch6` measured: one entry per *completed* epoch (epochs are numbered from 1).

    `examples_per_sec` counts training only (as d2l: no evaluation, no plotting);
    `seconds` is the whole wall-clock time of the call. `interrupted` is True when
    Ctrl-C stopped training early; `diverged` when the training loss became inf or NaN
    or exploded (over 100 x ln(number of classes)), which stops training too
    (`diverged_at_step`: the first such step, counted from 1 over all epochs); `figure`
    is the animated plot (None if animate=False).
    """
    epochs: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    examples_per_sec: float = 0.0
    seconds: float = 0.0
    device: str = 'cpu'
    interrupted: bool = False
    diverged: bool = False
    diverged_at_step: Optional[int] = None
    figure: Optional[Figure] = field(default=None, repr=False, compare=False)

    def summary(self) -> str:
        """d2l's two closing lines: final loss and accuracies, then the throughput."""
        if self.epochs:
            first = (f'loss {self.train_loss[-1]:.3f}, train acc {self.train_acc[-1]:.3f}, '
                     f'test acc {self.test_acc[-1]:.3f}')
        else:
            first = 'no epoch completed'
        if self.diverged:
            first += f' (then training diverged at step {self.diverged_at_step})'
        return f'{first}\n{self.examples_per_sec:.1f} examples/sec on {self.device}'

    def as_dict(self) -> dict[str, Any]:
        """The numbers as plain Python values (e.g. for json.dump); the figure is left out."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != 'figure'}
