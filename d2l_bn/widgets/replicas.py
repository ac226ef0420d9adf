"""ReplicasExplorer: what does each replica's BN normalise with, with and without synchronised statistics?

The question a learner asks in chapter 07: "I train on R GPUs with b examples each; how noisy are the
statistics BN uses, and does SyncBN fix that?" Without sync every replica normalises with the mean and variance
of its own b values (per channel; a fully connected layer's one value per example); with sync all of them use
the R * b values of the global batch. The explorer draws one channel's values from N(0, 1) (a fixed, seeded
stream: moving a control re-reads the same numbers) and shows, for the replicas' batches of ``steps`` steps:

1. the batch means they normalised with, as a histogram, against N(0, 1/m), m the values per statistic;
2. the train/eval gap of an input x = ``probe`` (in population standard deviations) that is the first example
   of replica 0's batch: its output in training mode (batch statistics) minus its output in eval mode
   (population statistics, what well-converged running averages hold), on average in absolute value, against
   the batch per replica, with sync off and on.

Analytic curve (first order in 1/m, for Gaussian values): the batch mean has variance 1/m and the batch standard
deviation about 1/(2m), so the gap is about normal with variance (1 + probe^2 / 2) / m and its mean absolute
value is sqrt(2/pi) * sqrt((1 + probe^2 / 2) / m). For a few values per statistic the measured gap is larger
than this first-order formula (1/sigma_B of a tiny batch has a heavy tail).
"""
from __future__ import annotations

import math
from typing import Any

import ipywidgets as widgets
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from d2l_bn.widgets.base import Explorer
from d2l_bn.widgets.controls import PassThroughIntSlider

__all__ = ["ReplicasExplorer", "analytic_gap", "normalising_statistics"]

EPS = 1e-5
BATCH_SIZES = 2 ** np.arange(0, 9)        # 1 ... 256 per replica: the x-axis of the right panel


def analytic_gap(m: np.ndarray | float, probe: float) -> np.ndarray | float:
    """Mean |train-mode output - eval-mode output| of input `probe` when BN's statistics come from m values."""
    return math.sqrt(2 / math.pi) * np.sqrt((1 + probe ** 2 / 2) / np.asarray(m, dtype=float))


def normalising_statistics(stream: np.ndarray, replicas: int, batch_size: int, sync: bool
                           ) -> tuple[np.ndarray, np.ndarray]:
    """(means, biased variances), shape (steps, replicas): what each replica normalised with at each step.

    Replica r's batch at step t is stream[t, r*b:(r+1)*b]; with sync every replica uses the whole global batch
    stream[t, :R*b], so all columns are equal.
    """
    values = stream[:, :replicas * batch_size]
    if sync:
        means, variances = values.mean(axis=1, keepdims=True), values.var(axis=1, keepdims=True)
        return np.repeat(means, replicas, axis=1), np.repeat(variances, replicas, axis=1)
    per_replica = values.reshape(len(stream), replicas, batch_size)
    return per_replica.mean(axis=2), per_replica.var(axis=2)


class ReplicasExplorer(Explorer):
    """Sliders for the number of replicas and the batch per replica, a tick box for synchronised BN.

    ``data`` holds ``replicas``, ``batch_size``, ``sync``, ``values_per_statistic`` (m), ``means`` and
    ``variances`` (steps x replicas), ``std_of_mean`` (measured) and ``analytic_std_of_mean`` (1/sqrt(m)),
    ``gap`` (the measured mean |train - eval| output of the probe) and ``analytic_gap``.
    """

    MAX_REPLICAS = 16

    def __init__(self, replicas: int = 4, batch_size: int = 8, sync: bool = False, *, steps: int = 200,
                 probe: float = 1.5, seed: int = 0) -> None:
        if steps < 10:
            raise ValueError(f"steps must be >= 10 for a histogram worth reading, got {steps}")
        self.steps, self.probe = steps, probe
        rng = np.random.default_rng(seed)
        self.stream = rng.standard_normal((steps, self.MAX_REPLICAS * int(BATCH_SIZES[-1])))
        controls = {
            "replicas": PassThroughIntSlider(value=replicas, min=1, max=self.MAX_REPLICAS, description="replicas",
                                             continuous_update=True),
            "batch_size": PassThroughIntSlider(value=batch_size, min=1, max=int(BATCH_SIZES[-1]),
                                               description="batch / replica", continuous_update=False,
                                               style={"description_width": "initial"}),
            "sync": widgets.Checkbox(value=sync, description="SyncBN", indent=False),
        }
        self._artists: dict[str, Any] = {}
        super().__init__(controls, figsize=(10.0, 3.3))

    def validate(self, replicas: int, batch_size: int, sync: bool) -> None:
        if not 1 <= replicas <= self.MAX_REPLICAS:
            raise ValueError(f"replicas must be between 1 and {self.MAX_REPLICAS}, got {replicas}")
        if not 1 <= batch_size <= BATCH_SIZES[-1]:
            raise ValueError(f"batch / replica must be between 1 and {BATCH_SIZES[-1]}, got {batch_size}")
        m = batch_size * (replicas if sync else 1)
        if m < 2:
            raise ValueError(f"{m} value per statistic: BN in training needs at least 2 values per channel (one "
                             "value minus its own mean is 0); tick SyncBN with 2 or more replicas, or use a "
                             "batch of 2 or more per replica")

    def compute(self, replicas: int, batch_size: int, sync: bool) -> dict[str, Any]:
        means, variances = normalising_statistics(self.stream, replicas, batch_size, sync)
        m = batch_size * (replicas if sync else 1)
        # The probe is an example of replica 0's batch (its first), so its training-mode output is bounded, as
        # in a real network (|x_hat| <= sqrt(m - 1)); the statistics drawn on the left are those without it.
        with_probe = self.stream[:, :replicas * batch_size].copy()
        with_probe[:, 0] = self.probe
        probe_means, probe_variances = normalising_statistics(with_probe, replicas, batch_size, sync)
        train_outputs = (self.probe - probe_means[:, 0]) / np.sqrt(probe_variances[:, 0] + EPS)
        return {
            "replicas": replicas, "batch_size": batch_size, "sync": bool(sync), "values_per_statistic": m,
            "means": means, "variances": variances,
            "std_of_mean": float(means[:, 0].std()), "analytic_std_of_mean": 1 / math.sqrt(m),
            "gap": float(np.abs(train_outputs - self.probe).mean()),
            "analytic_gap": float(analytic_gap(m, self.probe)),
        }

    def draw(self, figure: Figure, data: dict[str, Any]) -> None:
        if not self._artists:
            self._artists = self._layout(figure)
        a = self._artists
        counts, _ = np.histogram(np.clip(data["means"], -1.5, 1.5), bins=a["edges"], density=True)
        for rect, height in zip(a["bars"], counts):
            rect.set_height(height)
        m = data["values_per_statistic"]
        a["density"].set_ydata(np.sqrt(m / (2 * math.pi)) * np.exp(-m * a["grid"] ** 2 / 2))
        a["hist_title"].set_text(f"batch means used: {m} value{'s' if m > 1 else ''} each")
        a["synced"].set_ydata(analytic_gap(BATCH_SIZES * data["replicas"], self.probe))
        a["here"].set_data([data["batch_size"]], [data["gap"]])
        a["here"].set_color("C2" if data["sync"] else "C3")

    def _layout(self, figure: Figure) -> dict[str, Any]:
        """Axes, fixed limits and artists, made once: a change only updates heights and y values."""
        left, right = figure.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.2]})
        edges = np.linspace(-1.5, 1.5, 41)
        bars = left.bar(edges[:-1], np.zeros(40), width=np.diff(edges), align="edge", color="0.7")
        grid = np.linspace(-1.5, 1.5, 301)
        (density,) = left.plot(grid, np.zeros_like(grid), color="C0", label="N(0, 1/m)")
        left.axvline(0, color="C3", linestyle="--", linewidth=1)
        left.set(xlim=(-1.5, 1.5), ylim=(0, 4.5), xlabel="batch mean (population std)")
        hist_title = left.set_title("", fontsize=10)
        left.legend(loc="upper right", fontsize=8, frameon=False)
        right.loglog(BATCH_SIZES[1:], analytic_gap(BATCH_SIZES[1:], self.probe), color="C3",
                     label="sync off (analytic)")
        (synced,) = right.loglog(BATCH_SIZES, analytic_gap(BATCH_SIZES, self.probe), color="C2",
                                 label="sync on, these replicas (analytic)")
        (here,) = right.loglog([8], [0.3], "o", markersize=8, markeredgecolor="k")
        right.set_xticks(BATCH_SIZES, [str(b) for b in BATCH_SIZES])
        right.minorticks_off()
        right.set(ylim=(0.01, 2.0), xlabel="batch per replica")
        right.set_title(f"train/eval gap of x = {self.probe:g} std", fontsize=10)
        measured = Line2D([], [], linestyle="none", marker="o", markersize=7, markerfacecolor="white",
                          markeredgecolor="k", label="measured, this setting (colour: sync)")
        right.legend(handles=[*right.get_lines()[:2], measured], loc="lower left", fontsize=8, frameon=False)
        figure.subplots_adjust(left=0.05, right=0.98, bottom=0.16, top=0.9, wspace=0.2)
        return {"edges": edges, "bars": bars, "grid": grid, "density": density, "hist_title": hist_title,
                "synced": synced, "here": here}

    def describe(self, data: dict[str, Any]) -> str:
        r, b, m = data["replicas"], data["batch_size"], data["values_per_statistic"]
        how = f"all replicas share the {m} values of the global batch" if data["sync"] else \
            f"each replica normalises with its own {b} value{'s' if b > 1 else ''}"
        return (f"{r} replica{'s' if r > 1 else ''} x {b} per replica, SyncBN {'on' if data['sync'] else 'off'}: "
                f"{how}; std of the batch mean {data['std_of_mean']:.3f} (analytic 1/sqrt({m}) = "
                f"{data['analytic_std_of_mean']:.3f}); train/eval gap of x = {self.probe:g}: {data['gap']:.3f} "
                f"(analytic {data['analytic_gap']:.3f})")
