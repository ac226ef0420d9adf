"""Spec for the momentum explorer of chapter 04: BN's running statistics as momentum and batch size move."""
from __future__ import annotations

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


def test_the_readout_gives_the_old_value_convention_of_keras_and_d2l_zh_beside_pytorchs():
    # d2l-en v1.0 (release 1.0.3) passes momentum=0.1 as PyTorch does; Keras and d2l-zh write 0.9 for the same.
    explorer = MomentumExplorer(momentum=0.1)
    assert "momentum 0.10 (= 0.90 in Keras' and d2l-zh's convention)" in explorer.text()
    explorer.set(momentum=0.01)
    assert "momentum 0.01 (= 0.99 in Keras' and d2l-zh's convention)" in explorer.text()
    assert "d2l/Keras" not in explorer.text()


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
    (dict(batch_size=16.5), "not a whole number"),
    (dict(momentum=1.5), "momentum must be in [0, 1]"),
    (dict(momentum=float("nan")), "momentum must be in [0, 1]"),
    (dict(momentum=0.005), "would read 0.01"),
    (dict(cumulative=1), "not True or False"),
    (dict(momentum=0.5, batch_size=1), "needs at least 2 values per channel"),   # momentum stays 0.1 too
])
def test_bad_values_become_a_message_and_keep_the_last_picture(bad, fragment):
    assert_refused_keeping_the_last_picture(MomentumExplorer(), bad, fragment,
                                            good=dict(batch_size=16, momentum=0.1))


def test_keras_momentum_is_too_slow_and_larger_batches_shrink_the_train_eval_gap():
    # what chapter 04 says next to its explorer
    explorer = MomentumExplorer(momentum=0.1, batch_size=16)
    start = explorer.data
    slow = explorer.set(momentum=0.01).data                  # Keras' default 0.99 in PyTorch's convention
    assert slow["running_mean"][-1] < start["running_mean"][-1] - 0.3
    large = explorer.set(momentum=0.1, batch_size=128).data
    assert large["mean_abs_train_eval_gap"] < start["mean_abs_train_eval_gap"] / 2


def steps_to_arrive(running: np.ndarray, truth: float) -> int:
    """The first step at which the running value is within a quarter of its initial distance to the truth."""
    gap = np.abs(running - truth)
    return int(np.argmax(gap < 0.25 * gap[0]))


@pytest.mark.parametrize("seed", range(5))
def test_a_larger_momentum_arrives_sooner_and_is_noisier_once_there(seed):
    """explorers.ipynb's claim, on five streams: 0.5 against 0.1 at batch 16.

    Theory: the start (0) decays like (1 - m)^t (a quarter left after 2 steps at 0.5, 13 at 0.1), and in the
    steady state the running mean's variance is m / (2 - m) times one batch mean's, so 0.5's standard
    deviation is sqrt((1/3) / (0.1/1.9)) = 2.5x 0.1's.
    """
    explorer = MomentumExplorer(batch_size=16, seed=seed)
    quick = explorer.set(momentum=0.5).data["running_mean"]
    slow = explorer.set(momentum=0.1).data["running_mean"]
    truth = explorer.population_mean
    assert steps_to_arrive(quick, truth) + 5 < steps_to_arrive(slow, truth)
    assert quick[75:].std() > 1.5 * slow[75:].std()
