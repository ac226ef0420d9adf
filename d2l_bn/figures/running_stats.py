"""The running averages BN keeps for ``eval()``: how momentum trades lag for noise, and what eval() then outputs.

Both figures feed one channel a seeded stream of batches from a population with mean 2 and variance 9, so the
right answer is known. ``running_stats_momentum`` uses PyTorch's update rule through
``d2l_bn.widgets.momentum.running_stats_trajectory`` (the chapter-4 explorer's, tested against
``nn.BatchNorm1d``); ``train_eval_gap`` drives the course's ``BatchNorm`` layer itself, step by step.
"""
from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np
import torch
from matplotlib.figure import Figure

from d2l_bn.figures.output import TRUTH_COLOR, new_figure, plain_log_ticks
from d2l_bn.layers import BatchNorm, batch_norm
from d2l_bn.widgets.momentum import running_stats_trajectory

POPULATION_MEAN, POPULATION_VAR = 2.0, 9.0
MOMENTA: tuple[Optional[float], ...] = (0.01, 0.1, 0.5, None)
MOMENTUM_COLORS = ("C2", "C0", "C1", "C4")
PROBE = 5.0                                   # the fixed input whose output train_eval_gap follows


def _stream(steps: int, batch_size: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return POPULATION_MEAN + math.sqrt(POPULATION_VAR) * rng.standard_normal((steps, batch_size))


def _momentum_label(momentum: Optional[float]) -> str:
    if momentum is None:
        return "None (cumulative average)"
    return f"{momentum:g}  (Keras, d2l-zh: {1 - momentum:g})"


def running_stats_momentum(quick: bool = False, full: bool = False) -> tuple[Figure, dict[str, Any]]:
    """Running mean (left) and variance (right) against the step, one line per momentum.

    data["running_means"][k] is the trajectory for MOMENTA[k] (length steps + 1: before any batch, the
    layer's initial mean 0 and variance 1, then after each batch).
    """
    steps, batch_size = (100 if quick else 200), 16
    batches = _stream(steps, batch_size)
    batch_means, batch_vars = batches.mean(axis=1), batches.var(axis=1, ddof=1)   # PyTorch tracks unbiased
    trajectories = [running_stats_trajectory(batch_means, batch_vars, m) for m in MOMENTA]
    data = {"momenta": MOMENTA, "batch_size": batch_size, "batch_means": batch_means, "batch_vars": batch_vars,
            "running_means": np.array([mean for mean, _ in trajectories]),
            "running_vars": np.array([var for _, var in trajectories]),
            "population_mean": POPULATION_MEAN, "population_var": POPULATION_VAR}
    figure = new_figure(11.0, 4.2)
    step = np.arange(steps + 1)
    panels = (("mean", batch_means, data["running_means"], POPULATION_MEAN, (-1.0, 5.0)),
              ("variance (unbiased)", batch_vars, data["running_vars"], POPULATION_VAR, (0.0, 22.0)))
    # The noisiest line (momentum 0.5) goes underneath, thin, so it cannot hide the others.
    order = sorted(range(len(MOMENTA)), key=lambda k: -(MOMENTA[k] or 0.0))
    for ax, (what, per_batch, running, truth, ylim) in zip(figure.subplots(1, 2), panels):
        ax.plot(step[1:], per_batch, ".", color="0.65", ms=3, label=f"per batch ({batch_size} values)")
        for k in order:
            momentum = MOMENTA[k]
            ax.plot(step, running[k], color=MOMENTUM_COLORS[k], lw=1.0 if momentum == 0.5 else 1.8,
                    label=f"momentum {_momentum_label(momentum)}")
        ax.axhline(truth, color=TRUTH_COLOR, ls="--", lw=1.2, zorder=3, label="population")
        ax.set_ylim(*ylim)
        ax.set_xlim(0, steps)
        ax.set_xlabel("training step (batches seen)")
        ax.set_title(f"running {what} (population: {truth:g})")
    handles, labels = ax.get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncols=3, fontsize=8, markerscale=2.5)
    figure.suptitle("PyTorch's rule: running = (1 - m) * running + m * batch statistic, from mean 0, var 1; "
                    "None: the average of all batches so far", fontsize=9)
    figure.subplots_adjust(left=0.05, right=0.99, bottom=0.25, top=0.86, wspace=0.15)
    return figure, data


def gap_over_steps(batch_size: int, steps: int, momentum: float = 0.1, seed: int = 0) -> dict[str, np.ndarray]:
    """Train a BatchNorm(1) on the stream; after each step, PROBE's output in train mode and in eval mode.

    Train mode: the output PROBE would get as one member of this step's batch (it replaces the first value;
    the functional form leaves the running averages alone). Eval mode: the layer's output for PROBE alone,
    using the running averages right after this step.
    """
    layer = BatchNorm(1, num_dims=2, momentum=momentum).double()
    batches = torch.from_numpy(_stream(steps, batch_size, seed)).unsqueeze(-1)     # (steps, batch, 1)
    probe = torch.tensor([[PROBE]], dtype=torch.float64)
    train_out, eval_out = np.empty(steps), np.empty(steps)
    with torch.no_grad():
        for t, batch in enumerate(batches):
            layer.train()
            layer(batch)
            with_probe = batch.clone()
            with_probe[0] = PROBE
            y, _, _ = batch_norm(with_probe, layer.weight, layer.bias, None, None, layer.eps, momentum, True)
            train_out[t] = y[0, 0].item()
            layer.eval()
            eval_out[t] = layer(probe).item()
    ideal = (PROBE - POPULATION_MEAN) / math.sqrt(POPULATION_VAR + layer.eps)
    return {"train_outputs": train_out, "eval_outputs": eval_out, "ideal_output": ideal}


def train_eval_gap(quick: bool = False, full: bool = False) -> tuple[Figure, dict[str, Any]]:
    """Left: PROBE's train- and eval-mode outputs over steps (batch 16). Right: the mean gap vs batch size."""
    steps, batch_size = (100 if quick else 300), 16
    data: dict[str, Any] = gap_over_steps(batch_size, steps)
    data["batch_size"] = batch_size
    sizes = np.array([2, 4, 8, 16, 32, 64, 128, 256])
    # Second half only: by then the running averages have forgotten their start (mean 0, var 1).
    gaps = [gap_over_steps(int(m), steps) for m in sizes]
    data["batch_sizes"] = sizes
    data["mean_abs_gap"] = np.array([np.abs(g["train_outputs"] - g["eval_outputs"])[steps // 2:].mean()
                                     for g in gaps])
    figure = new_figure(10.0, 3.6)
    left, right = figure.subplots(1, 2, gridspec_kw={"width_ratios": (1.6, 1.0)})
    step = np.arange(1, steps + 1)
    left.plot(step, data["train_outputs"], ".", color="0.55", ms=3.5, label="train(): batch statistics")
    left.plot(step, data["eval_outputs"], color="C0", lw=1.6, label="eval(): running statistics")
    left.axhline(data["ideal_output"], color=TRUTH_COLOR, ls="--", lw=1.2, label="population statistics")
    left.set_ylim(data["ideal_output"] - 1.2, data["ideal_output"] + 2.2)
    left.set_xlim(0, steps)
    left.set_xlabel("training step")
    left.set_ylabel(f"BN output for x = {PROBE:g}")
    left.set_title(f"same input, two modes (batch {batch_size}, momentum 0.1)")
    left.legend(loc="upper right", ncols=3, fontsize=7.5, markerscale=2.5)
    right.loglog(sizes, data["mean_abs_gap"], "o-", color="C0", ms=5, label="measured")
    # C / sqrt(m) through the measured points (least squares in log space)
    reference = np.exp(np.mean(np.log(data["mean_abs_gap"] * np.sqrt(sizes)))) / np.sqrt(sizes)
    right.loglog(sizes, reference, ":", color="0.5", label="slope -1/2")
    plain_log_ticks(right, sizes)
    right.set_xlabel("batch size")
    right.set_ylabel("mean |train - eval| output")
    right.set_title(f"the gap shrinks with the batch (steps {steps // 2}-{steps})")
    right.legend(loc="lower left")
    figure.subplots_adjust(left=0.07, right=0.98, bottom=0.15, top=0.9, wspace=0.3)
    return figure, data
