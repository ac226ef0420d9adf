"""Spec for the replicas explorer of chapter 07: the statistics each data-parallel replica's BN normalises with."""
from __future__ import annotations

import math

import numpy as np
import pytest

from d2l_bn.widgets.replicas import ReplicasExplorer, analytic_gap, normalising_statistics
from explorer_checks import assert_refused_keeping_the_last_picture


def test_without_sync_each_replica_uses_its_own_slice_and_with_sync_all_use_the_global_batch():
    stream = np.arange(24.0).reshape(2, 12)
    means, _ = normalising_statistics(stream, replicas=3, batch_size=4, sync=False)
    np.testing.assert_array_equal(means, [[1.5, 5.5, 9.5], [13.5, 17.5, 21.5]])
    means, variances = normalising_statistics(stream, replicas=3, batch_size=4, sync=True)
    np.testing.assert_array_equal(means, [[5.5] * 3, [17.5] * 3])
    np.testing.assert_allclose(variances[0], np.var(np.arange(12.0)))


@pytest.mark.parametrize("replicas,batch_size", [(4, 8), (16, 16), (2, 64)])
def test_the_spread_of_the_batch_means_is_one_over_root_m_measured_and_analytic(replicas, batch_size):
    explorer = ReplicasExplorer(replicas, batch_size)
    for sync in (False, True):
        data = explorer.set(sync=sync).data
        m = batch_size * (replicas if sync else 1)
        assert data["values_per_statistic"] == m and data["analytic_std_of_mean"] == pytest.approx(1 / math.sqrt(m))
        # 200 steps: the measured std is within 4 of its standard errors (about std / sqrt(400)) of 1/sqrt(m)
        assert data["std_of_mean"] == pytest.approx(1 / math.sqrt(m), rel=4 / math.sqrt(400))


def test_sync_shrinks_noise_and_gap_by_about_root_replicas_and_changes_nothing_for_one_replica():
    explorer = ReplicasExplorer(replicas=16, batch_size=16)
    off = explorer.data
    on = explorer.set(sync=True).data
    assert off["std_of_mean"] / on["std_of_mean"] == pytest.approx(4.0, rel=0.25)
    assert off["gap"] / on["gap"] == pytest.approx(4.0, rel=0.25)
    single = ReplicasExplorer(replicas=1, batch_size=8)
    assert single.data["gap"] == single.set(sync=True).data["gap"]


def test_the_measured_gap_follows_the_first_order_formula_for_large_batches():
    explorer = ReplicasExplorer(replicas=1, batch_size=256)
    assert explorer.data["gap"] == pytest.approx(analytic_gap(256, explorer.probe), rel=0.15)
    assert explorer.data["analytic_gap"] == pytest.approx(math.sqrt(2 / math.pi * (1 + 1.5 ** 2 / 2) / 256))


def test_fewer_than_two_values_per_statistic_are_refused_but_sync_rescues_a_batch_of_one():
    explorer = ReplicasExplorer(replicas=4, batch_size=8)
    assert_refused_keeping_the_last_picture(explorer, {"batch_size": 1}, "at least 2 values per channel",
                                            {"batch_size": 1, "sync": True})
    assert explorer.data["values_per_statistic"] == 4
    assert_refused_keeping_the_last_picture(explorer, {"replicas": 17}, "between 1 and 16", {"replicas": 16})
    assert_refused_keeping_the_last_picture(explorer, {"batch_size": 2.5}, "whole number", {"batch_size": 2})
    with pytest.raises(ValueError, match="at least 2 values per channel"):
        ReplicasExplorer(replicas=1, batch_size=1, sync=True)


def test_the_readout_names_the_setting_and_its_numbers():
    text = ReplicasExplorer(replicas=4, batch_size=8, sync=False).text()
    assert text.startswith("4 replicas x 8 per replica, SyncBN off: each replica normalises with its own 8 values")
    assert "analytic 1/sqrt(8) = 0.354" in text
