"""``batch_size_noise``: why small batches make BN noisy -- the batch statistics' spread against batch size.

For a batch of m values from a distribution with variance sigma^2, the batch mean has standard deviation
sigma / sqrt(m): a line of slope -1/2 on log-log axes. The (biased) batch variance that BN divides by has, for
Gaussian values, standard deviation sigma^2 * sqrt(2 (m - 1)) / m, also slope -1/2 once m is more than a few.
The figure measures both on seeded samples and draws the theory through them.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure

from d2l_bn.figures.output import new_figure, plain_log_ticks

MEAN, STD = 2.0, 3.0


def measure_batch_noise(batch_sizes: np.ndarray, repeats: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Std, over `repeats` batches, of each batch size's mean and biased variance; and the theory for both."""
    rng = np.random.default_rng(seed)
    std_of_mean, std_of_var = [], []
    for m in batch_sizes:
        batches = MEAN + STD * rng.standard_normal((repeats, int(m)))
        std_of_mean.append(batches.mean(axis=1).std(ddof=1))
        std_of_var.append(batches.var(axis=1).std(ddof=1))
    m = batch_sizes.astype(float)
    return {
        "batch_sizes": batch_sizes, "std_of_mean": np.array(std_of_mean), "std_of_var": np.array(std_of_var),
        "theory_std_of_mean": STD / np.sqrt(m),
        "theory_std_of_var": STD ** 2 * np.sqrt(2 * (m - 1)) / m,
    }


def loglog_slope(x: np.ndarray, y: np.ndarray) -> float:
    """Least-squares slope of log y against log x."""
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def batch_size_noise(quick: bool = False, full: bool = False) -> tuple[Figure, dict[str, Any]]:
    """Two log-log panels (batch mean, batch variance): measured dots, theory line, fitted slope."""
    repeats = 500 if quick else 4000
    data = measure_batch_noise(2 ** np.arange(1, 11), repeats)
    data["slope_of_mean"] = loglog_slope(data["batch_sizes"], data["std_of_mean"])
    data["slope_of_var"] = loglog_slope(data["batch_sizes"][2:], data["std_of_var"][2:])  # m >= 8: past the bend
    figure = new_figure(8.0, 3.3)
    panels = (
        ("mean", "std of the batch mean $\\mu_B$", "$\\sigma/\\sqrt{m}$", data["slope_of_mean"]),
        ("var", "std of the batch variance $\\sigma_B^2$", "$\\sigma^2\\sqrt{2(m-1)}/m$", data["slope_of_var"]),
    )
    for ax, (key, title, formula, slope) in zip(figure.subplots(1, 2), panels):
        m = data["batch_sizes"]
        ax.loglog(m, data[f"theory_std_of_{key}"], "-", color="0.6", lw=1.5, label=f"theory: {formula}")
        ax.loglog(m, data[f"std_of_{key}"], "o", color="C0", ms=5, label="measured")
        plain_log_ticks(ax, m)
        ax.set_xlabel("batch size m")
        ax.set_title(title)
        ax.text(0.97, 0.93, f"fitted slope {slope:.2f}\n(theory -1/2)", transform=ax.transAxes, ha="right",
                va="top", fontsize=8)
        ax.legend(loc="lower left")
    figure.suptitle(f"values ~ N({MEAN:g}, {STD:g}$^2$); each dot: {repeats} seeded batches",
                    fontsize=9, y=0.99)
    figure.subplots_adjust(left=0.08, right=0.98, bottom=0.16, top=0.84, wspace=0.25)
    return figure, data

