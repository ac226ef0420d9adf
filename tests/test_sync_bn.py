"""Spec for chapter 07's synchronised batch norm (d2l_bn.sync_bn) and its process launcher (d2l_bn.distributed).

The contract: in training mode, processes that each hold a slice of a global batch compute, together, exactly what
one nn.BatchNorm computes on the whole batch (outputs, input gradients, summed gamma/beta gradients, running
statistics), also when the slices differ in size; and no process is ever left behind.
"""
from __future__ import annotations

import time

import pytest
import torch
import torch.distributed as dist
from torch import nn

import d2l_bn.distributed as distributed
from d2l_bn.data_parallel import bn_steps, sync_bn_check_worker
from d2l_bn.distributed import WorkerError, children_left, run_processes
from d2l_bn.sync_bn import SyncBatchNorm, global_batch_statistics


def reference_bn(channels: int, momentum) -> nn.BatchNorm2d:
    torch.manual_seed(1)
    bn = nn.BatchNorm2d(channels, momentum=momentum)
    with torch.no_grad():
        bn.weight.uniform_(0.5, 2.0)
        bn.bias.uniform_(-1.0, 1.0)
    return bn


@pytest.mark.parametrize("momentum", [0.1, None])
def test_in_one_process_sync_bn_is_pytorch_batch_norm(momentum):
    torch.manual_seed(0)
    batches, upstream = torch.randn(3, 6, 4, 5, 5) * 3 + 2, torch.randn(3, 6, 4, 5, 5)
    reference = reference_bn(4, momentum)
    ours = SyncBatchNorm(4, momentum=momentum)
    ours.load_state_dict(reference.state_dict())
    for want, got in zip(bn_steps(reference, batches, upstream),
                         bn_steps(ours, batches, upstream)):
        for key in want:
            torch.testing.assert_close(got[key], want[key])
    for key, value in reference.state_dict().items():
        torch.testing.assert_close(ours.state_dict()[key], value)
    ours.eval(), reference.eval()
    torch.testing.assert_close(ours(batches[0]), reference(batches[0]))


def test_two_processes_with_unequal_batches_compute_what_one_batch_norm_computes_on_the_global_batch():
    torch.manual_seed(0)
    sizes = [3, 5]                                        # unequal slices of global batches of 8
    batches, upstream = torch.randn(2, 8, 4, 3, 3) * 2 + 1, torch.randn(2, 8, 4, 3, 3)
    reference = reference_bn(4, 0.1)
    state = {k: v.clone() for k, v in reference.state_dict().items()}
    replicas = run_processes(sync_bn_check_worker, 2, batches, upstream, sizes, state, 0.1)
    for step, want in enumerate(bn_steps(reference, batches, upstream)):
        got = [replica["steps"][step] for replica in replicas]
        torch.testing.assert_close(torch.cat([g["Y"] for g in got]), want["Y"])
        torch.testing.assert_close(torch.cat([g["dX"] for g in got]), want["dX"])
        # gamma's and beta's gradients stay local sums: what DDP (or an all-reduce) adds up
        torch.testing.assert_close(sum(g["dgamma"] for g in got), want["dgamma"])
        torch.testing.assert_close(sum(g["dbeta"] for g in got), want["dbeta"])
    for replica in replicas:                              # the GLOBAL count makes the variance unbiased
        for key, value in reference.state_dict().items():
            torch.testing.assert_close(replica["state"][key], value)
        # per step one all-reduce forward (2C + 1 numbers) and one backward (2C)
        assert replica["all_reduces"] == {"calls": 4, "floats": 2 * (9 + 8)}
        assert "SyncBatchNorm expected input tensor to be on GPU" in replica["pytorch_sync_bn_error"]
    assert children_left() == []


def test_float32_sums_of_squares_lose_the_variance_when_the_mean_dwarfs_the_spread_and_ours_do_not():
    torch.manual_seed(0)
    X = (1000.0 + 0.01 * torch.randn(4096, 1)).float()        # |mean| / std = 100,000
    true_var = X.double().var(unbiased=False)
    naive = (X.square().mean(0) - X.mean(0).square())[0]       # float32 E[x^2] - E[x]^2
    assert abs(naive - true_var) > 10 * true_var               # not even the order of magnitude
    _, var, count = global_batch_statistics(X)
    assert count == 4096
    assert abs(var[0].double() - true_var) < 1e-3 * true_var


def test_convert_sync_batchnorm_replaces_every_bn_layer_and_keeps_its_state():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4, 3), nn.BatchNorm1d(3))
    net(torch.randn(5, 1, 3, 3))                               # move the running statistics off their start
    state = {k: v.clone() for k, v in net.state_dict().items()}
    converted = SyncBatchNorm.convert_sync_batchnorm(net)
    assert [type(m) for m in converted if isinstance(m, nn.modules.batchnorm._BatchNorm)] == [SyncBatchNorm] * 2
    for key, value in converted.state_dict().items():
        torch.testing.assert_close(value, state[key])


def test_bad_inputs_are_refused_with_a_message_that_names_the_fix():
    with pytest.raises(ValueError, match="at least 2 values per channel"):
        SyncBatchNorm(3)(torch.randn(1, 3))
    with pytest.raises(ValueError, match="expected 3 channels"):
        SyncBatchNorm(3)(torch.randn(4, 5))
    with pytest.raises(ValueError, match="track_running_stats=False"):
        SyncBatchNorm.convert_sync_batchnorm(nn.BatchNorm1d(3, track_running_stats=False))
    with pytest.raises(ValueError, match="define it in a module"):
        run_processes(lambda rank, world_size: rank, 2)
    with pytest.raises(ValueError, match="world_size"):
        run_processes(sync_bn_check_worker, 0)


def failing_worker(rank: int, world_size: int) -> None:
    """Rank 1 fails at once; rank 0 waits in a collective that can never complete."""
    if rank == 1:
        raise RuntimeError("replica 1 gave up")
    dist.barrier()


def sleeping_worker(rank: int, world_size: int) -> None:
    time.sleep(60)


def test_a_failing_worker_is_reported_with_its_traceback_and_no_process_is_left():
    with pytest.raises(WorkerError, match="(?s)worker 1 of 2 failed.*replica 1 gave up"):
        run_processes(failing_worker, 2, timeout=120)
    assert children_left() == []


def test_a_run_past_its_timeout_is_stopped_and_no_process_is_left():
    with pytest.raises(TimeoutError, match="larger timeout"):
        run_processes(sleeping_worker, 2, timeout=2)
    assert children_left() == []


def test_an_interrupt_while_waiting_stops_every_process(monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(distributed, "wait", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_processes(sleeping_worker, 2)
    assert children_left() == []
