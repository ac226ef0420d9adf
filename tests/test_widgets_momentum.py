"""Spec for the momentum explorer of chapter 04: BN's running statistics as momentum and batch size move."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from d2l_bn.widgets.momentum import MomentumExplorer, running_stats_trajectory
from explorer_checks import assert_refused_keeping_the_last_picture


def test_running_stats_trajectory_matches_pytorch_batchnorm_for_every_momentum():
    torch.manual_seed(0)
    batches = [torch.randn(8, 1, dtype=torch.float64) * 3 + 2 for _ in range(12)]
    means = np.array([b.mean().item() for b in batches])
    variances = np.array([b.var().item() for b in batches])          # unbiased, as PyTorch tracks it
    for momentum in (0.0, 0.1, 0.5, 1.0, None):
        bn = nn.BatchNorm1d(1, momentum=momentum).double()
        for b in batches:
            bn(b)
        running_mean, running_var = running_stats_trajectory(means, variances, momentum)
        assert len(running_mean) == len(batches) + 1 and running_mean[0] == 0.0 and running_var[0] == 1.0
        assert running_mean[-1] == pytest.approx(bn.running_mean.item(), rel=1e-12, abs=1e-12)
        assert running_var[-1] == pytest.approx(bn.running_var.item(), rel=1e-12, abs=1e-12)


def test_cumulative_momentum_gives_the_plain_average_of_the_batches():
    explorer = MomentumExplorer(cumulative=True, batch_size=8)
    data = explorer.data
    assert data["momentum"] is None
    assert data["running_mean"][-1] == pytest.approx(data["batch_means"].mean(), rel=1e-12)
    assert data["running_var"][-1] == pytest.approx(data["batch_vars"].mean(), rel=1e-12)
    assert explorer.text().startswith("momentum None (cumulative average), batch 8")


def test_batch_statistics_are_unbiased_and_come_from_the_fixed_stream():
    explorer = MomentumExplorer(batch_size=5)
    batches = explorer.stream[:, :5]
    np.testing.assert_allclose(explorer.data["batch_means"], batches.mean(axis=1))
    np.testing.assert_allclose(explorer.data["batch_vars"], batches.var(axis=1, ddof=1))
    # Same seed, same stream: two explorers show the same picture.
    assert np.array_equal(MomentumExplorer(batch_size=5).stream, explorer.stream)


def test_momentum_one_tracks_the_last_batch_and_momentum_zero_never_moves():
    explorer = MomentumExplorer(momentum=1.0, batch_size=16)
    assert explorer.data["running_mean"][-1] == pytest.approx(explorer.data["batch_means"][-1])
    explorer.set(momentum=0.0)
    assert np.all(explorer.data["running_mean"] == 0.0) and np.all(explorer.data["running_var"] == 1.0)


def test_pytorch_momentum_is_one_minus_the_d2l_and_keras_momentum_in_the_readout():
    explorer = MomentumExplorer(momentum=0.1)
    assert "momentum 0.10 (= 0.90 in d2l/Keras)" in explorer.text()
    explorer.set(momentum=0.01)
    assert "momentum 0.01 (= 0.99 in d2l/Keras)" in explorer.text()


def test_larger_batches_give_less_noisy_batch_statistics_and_a_smaller_train_eval_gap():
    explorer = MomentumExplorer(momentum=0.1, batch_size=4)
    small = explorer.data
    large = explorer.set(batch_size=128).data
    assert large["batch_means"].var() < small["batch_means"].var() / 10      # variance of a mean ~ 1/m
    assert large["mean_abs_train_eval_gap"] < small["mean_abs_train_eval_gap"] / 2
    # with enough steps and batches the running statistics approach the population's
    assert large["running_mean"][-1] == pytest.approx(explorer.population_mean, abs=0.2)
    assert large["running_var"][-1] == pytest.approx(explorer.population_var, rel=0.1)
    assert abs(large["final_eval_error"]) < 0.05


def test_small_momentum_lags_behind_the_population_after_a_few_steps():
    explorer = MomentumExplorer(momentum=0.01, batch_size=64)
    lagging = explorer.data["running_mean"][-1]
    # 150 steps at 0.01: (0.99)^150 = 22% of the initial 0 is still in the average
    expected = explorer.population_mean * (1 - 0.99 ** explorer.steps)
    assert lagging == pytest.approx(expected, abs=0.15)
    assert explorer.set(momentum=0.1).data["running_mean"][-1] == pytest.approx(explorer.population_mean, abs=0.2)


def test_moving_a_control_redraws_the_picture_and_the_readout():
    explorer = MomentumExplorer()
    png, text, data = explorer.png, explorer.text(), explorer.data
    assert png.startswith(b"\x89PNG")
    explorer.controls["momentum"].value = 0.5                         # as the mouse would
    assert explorer.png != png and explorer.text() != text
    assert not np.array_equal(explorer.data["running_mean"], data["running_mean"])
    explorer.controls["cumulative"].value = True
    assert explorer.data["momentum"] is None


@pytest.mark.parametrize("bad,fragment", [
    (dict(batch_size=1), "needs at least 2 values per channel"),
    (dict(batch_size=0), "batch size must be between 2 and"),
    (dict(batch_size=10_000), "batch size must be between 2 and"),
    (dict(momentum=1.5), "momentum must be in [0, 1]"),
    (dict(momentum=float("nan")), "momentum must be in [0, 1]"),
])
def test_bad_values_become_a_message_and_keep_the_last_picture(bad, fragment):
    assert_refused_keeping_the_last_picture(MomentumExplorer(), bad, fragment,
                                            good=dict(batch_size=16, momentum=0.1))


def test_redraw_is_fast_enough_for_a_slider():
    explorer = MomentumExplorer()
    times = []
    for momentum in (0.2, 0.3, 0.4, 0.5, 0.6):
        explorer.set(momentum=momentum)
        times.append(explorer.render_seconds)
    # Budget 0.2 s on a 2-core laptop; 2x headroom for a busy test machine, best of five redraws.
    assert math.isfinite(min(times)) and min(times) < 0.4
