"""MomentumExplorer: what do BN's running averages remember, and what does ``eval()`` then output?

The question a learner asks in chapter 4: "momentum 0.1 in PyTorch (and in d2l-en v1.0), 0.9 in d2l-zh and
older d2l, 0.99 in Keras, or ``None`` -- what do these numbers do to the statistics BN uses at test time, and how
does the batch size matter?" The explorer feeds one channel of BN a fixed, seeded stream of activations whose
population mean and variance are known, and draws three panels against the training step:

1. the per-batch means, the running mean and the population mean;
2. the per-batch (unbiased) variances, the running variance and the population variance;
3. the output for one fixed input ``x``: in training mode (it depends on which batch ``x`` sits in), in eval
   mode (running statistics: what ``eval()`` would give if training stopped at this step) and the ideal
   output with the population statistics.

The running averages follow PyTorch exactly: ``new = (1 - m) * old + m * batch`` with ``m`` the weight of the
new batch, starting from mean 0 and variance 1, the variance tracked unbiased; ``momentum=None`` (the
"cumulative" checkbox) is the plain average of all batches so far.
"""
from __future__ import annotations

import math
from typing import Any, Optional

import ipywidgets as widgets
import numpy as np
from matplotlib.figure import Figure

from d2l_bn.widgets.base import Explorer
from d2l_bn.widgets.controls import PassThroughFloatSlider, PassThroughIntSlider


def running_stats_trajectory(batch_means: np.ndarray, batch_vars: np.ndarray, momentum: Optional[float],
                             init_mean: float = 0.0, init_var: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Running mean and variance after 0, 1, ..., T batches (arrays of length T + 1), PyTorch's rule.

    ``momentum`` is the weight of the NEW batch (PyTorch's convention, which d2l-en v1.0 follows; Keras,
    d2l-zh and d2l-en before v1.0 write ``1 - momentum``, the weight of the old value); ``None`` weights batch t
    by ``1/t``, i.e. the cumulative average of all batches.
    ``batch_vars`` must already be the unbiased batch variances: that is what PyTorch stores.
    """
    steps = len(batch_means)
    running_mean, running_var = np.empty(steps + 1), np.empty(steps + 1)
    running_mean[0], running_var[0] = init_mean, init_var
    for t in range(steps):
        factor = 1.0 / (t + 1) if momentum is None else momentum
        running_mean[t + 1] = (1 - factor) * running_mean[t] + factor * batch_means[t]
        running_var[t + 1] = (1 - factor) * running_var[t] + factor * batch_vars[t]
    return running_mean, running_var


class MomentumExplorer(Explorer):
    """Sliders for momentum and batch size (plus "cumulative (None)"); running statistics vs the truth.

    Everything random is drawn once, in ``__init__``, from ``seed``: moving a slider only re-reads the same
    stream (batch t of size m is the first m values of row t), so differences between pictures come from the
    settings alone, never from new noise.

    ``data`` holds ``momentum`` (None when cumulative), ``batch_size``, the per-step arrays ``batch_means``,
    ``batch_vars`` (unbiased), ``running_mean`` / ``running_var`` (length steps + 1, from 0 / 1),
    ``train_outputs`` / ``eval_outputs`` / ``train_eval_gap`` for the probe input, the scalar ``ideal_output``,
    ``mean_abs_train_eval_gap`` (second half of the steps) and ``final_eval_error`` (eval minus ideal at the end).
    """

    MAX_BATCH_SIZE = 256

    def __init__(self, momentum: float = 0.1, cumulative: bool = False, batch_size: int = 16, *,
                 steps: int = 150, mean: float = 2.0, var: float = 9.0, probe: float = 5.0,
                 eps: float = 1e-5, seed: int = 0) -> None:
        if steps < 1 or var <= 0 or eps <= 0:
            raise ValueError(f"need steps >= 1, var > 0 and eps > 0, got steps={steps}, var={var}, eps={eps}")
        self.steps, self.population_mean, self.population_var = steps, mean, var
        self.probe, self.eps = probe, eps
        rng = np.random.default_rng(seed)
        self.stream = mean + math.sqrt(var) * rng.standard_normal((steps, self.MAX_BATCH_SIZE))
        controls = {
            "momentum": PassThroughFloatSlider(value=momentum, min=0.0, max=1.0, step=0.01,
                                                description="momentum", readout_format=".2f",
                                                continuous_update=False),
            "cumulative": widgets.Checkbox(value=cumulative, description="cumulative (None)", indent=False),
            "batch_size": PassThroughIntSlider(value=batch_size, min=1, max=self.MAX_BATCH_SIZE,
                                                description="batch size", continuous_update=False),
        }
        self._artists: dict[str, Any] = {}
        super().__init__(controls, figsize=(10.0, 3.2))

    def validate(self, momentum: float, cumulative: bool, batch_size: int) -> None:
        if batch_size == 1:
            raise ValueError("batch size 1: BN in training needs at least 2 values per channel (one value minus "
                             "its own mean is 0, so every output would be beta); pick a batch size of 2 or more")
        if not 2 <= batch_size <= self.MAX_BATCH_SIZE:
            raise ValueError(f"batch size must be between 2 and {self.MAX_BATCH_SIZE}, got {batch_size}")
        if not cumulative and not (math.isfinite(momentum) and 0.0 <= momentum <= 1.0):
            raise ValueError(f"momentum must be in [0, 1] (or tick 'cumulative'), got {momentum}")

    def compute(self, momentum: float, cumulative: bool, batch_size: int) -> dict[str, Any]:
        m = None if cumulative else float(momentum)
        batches = self.stream[:, :batch_size]
        batch_means = batches.mean(axis=1)
        batch_vars = batches.var(axis=1, ddof=1)          # unbiased: what the running average tracks
        running_mean, running_var = running_stats_trajectory(batch_means, batch_vars, m)
        # Training mode: put the probe x in place of the batch's first value; its output depends on the others.
        with_probe = batches.copy()
        with_probe[:, 0] = self.probe
        train_outputs = ((self.probe - with_probe.mean(axis=1))
                         / np.sqrt(with_probe.var(axis=1) + self.eps))   # biased var normalises the batch
        eval_outputs = (self.probe - running_mean) / np.sqrt(running_var + self.eps)
        ideal_output = (self.probe - self.population_mean) / math.sqrt(self.population_var + self.eps)
        # The same x, same step: its training-mode output minus what eval() would give right after that step.
        train_eval_gap = train_outputs - eval_outputs[1:]
        return {
            "momentum": m, "batch_size": batch_size,
            "batch_means": batch_means, "batch_vars": batch_vars,
            "running_mean": running_mean, "running_var": running_var,
            "train_outputs": train_outputs, "eval_outputs": eval_outputs, "ideal_output": ideal_output,
            "train_eval_gap": train_eval_gap,
            # over the second half only: by then the running averages have forgotten their start (0, 1), so
            # what remains is the batch-to-batch noise of training mode (and any lag of a small momentum)
            "mean_abs_train_eval_gap": float(np.abs(train_eval_gap[self.steps // 2:]).mean()),
            "final_eval_error": float(eval_outputs[-1] - ideal_output),
        }

    def draw(self, figure: Figure, data: dict[str, Any]) -> None:
        if not self._artists:
            self._artists = self._layout(figure)
        for (dots, line), key_dots, key_line in zip(self._artists["panels"],
                                                   ("batch_means", "batch_vars", "train_outputs"),
                                                   ("running_mean", "running_var", "eval_outputs")):
            dots.set_ydata(data[key_dots])
            line.set_ydata(data[key_line])

    def _layout(self, figure: Figure) -> dict[str, Any]:
        """Axes, fixed limits and empty artists, made once; a change only replaces the artists' y values.

        Fixed limits and margins: the curves, not the scales, change when a slider moves.
        """
        steps = np.arange(self.steps + 1)
        batch_steps = steps[1:]               # batch t is seen at step t
        sd = math.sqrt(self.population_var)
        ideal = (self.probe - self.population_mean) / math.sqrt(self.population_var + self.eps)
        panels = [  # (truth, title, fixed y-limits, labels)
            (self.population_mean, "mean", (min(-0.5, self.population_mean - 2 * sd), self.population_mean + 2 * sd),
             ("per batch", "running", "population")),
            (self.population_var, "variance", (0.0, 3.0 * self.population_var),
             ("per batch", "running", "population")),
            (ideal, f"output for x = {self.probe:g}", (ideal - 1.5, ideal + 1.5), ("train()", "eval()", "ideal")),
        ]
        artists = []
        for ax, (truth, title, ylim, names) in zip(figure.subplots(1, 3), panels):
            (dots,) = ax.plot(batch_steps, np.zeros(self.steps), ".", color="0.6", markersize=3)
            (line,) = ax.plot(steps, np.zeros(self.steps + 1), "-", color="C0")
            ax.axhline(truth, color="C3", linestyle="--")
            ax.set_ylim(*ylim)
            ax.set_xticks([0, self.steps // 2, self.steps])
            ax.set_yticks(np.linspace(*ylim, 4).round(1))
            ax.tick_params(labelsize=9)
            ax.set_title(title, fontsize=10)
            # Coloured words instead of a legend: they read the same and draw several times faster.
            for k, (name, color) in enumerate(zip(names, ("0.45", "C0", "C3"))):
                ax.text(0.98, 0.04 + 0.09 * (2 - k), name, color=color, fontsize=9, ha="right",
                        transform=ax.transAxes, bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none",
                                                      "pad": 0.5})
            artists.append((dots, line))
        figure.text(0.5, 0.02, "training step", ha="center", fontsize=10)
        figure.subplots_adjust(left=0.04, right=0.99, bottom=0.15, top=0.9, wspace=0.2)
        return {"panels": artists}

    def describe(self, data: dict[str, Any]) -> str:
        m = data["momentum"]
        setting = ("momentum None (cumulative average)" if m is None
                   else f"momentum {m:.2f} (= {1 - m:.2f} in Keras' and d2l-zh's convention)")
        return (f"{setting}, batch {data['batch_size']}: after {self.steps} steps running mean "
                f"{data['running_mean'][-1]:.2f} (population {self.population_mean:g}), running var "
                f"{data['running_var'][-1]:.2f} (population {self.population_var:g}); eval output for "
                f"x={self.probe:g}: {data['eval_outputs'][-1]:.3f} (ideal {data['ideal_output']:.3f}); "
                f"train-vs-eval gap {data['mean_abs_train_eval_gap']:.3f} on average (second half)")
