"""Chapter 07's data-parallel runs: the training loop they share with one process, and the worker functions.

The workers are run by :func:`d2l_bn.distributed.run_processes` as ``worker(rank, world_size, ...)`` in
processes that joined one gloo group; they live here, not in the notebook, because a spawned process imports
its function by name. Everything they need travels as arguments (tensors are pickled), everything they find
comes back as their return value.

One loop for both worlds: :func:`train_one_epoch` cuts one seeded permutation of the training images into
global batches of ``world_size * batch_size``; replica ``rank`` trains on its slice of each. With
``world_size=1`` it is plain minibatch SGD, so a run with DistributedDataParallel (DDP) and synchronised BN sees
exactly the global batches that one process with batch ``world_size * batch_size`` sees.
"""
from __future__ import annotations

import time
import warnings
from typing import Any, Callable, Optional

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.distributed.algorithms.ddp_comm_hooks.default_hooks import allreduce_hook
from torch.nn.parallel import DistributedDataParallel

from d2l_bn.normalization import small_cnn
from d2l_bn.sync_bn import ALL_REDUCES, SyncBatchNorm

__all__ = ["accuracy", "bn_placement_worker", "bn_steps", "ddp_training_worker", "gpu_comparison_worker",
           "sync_bn_check_worker", "train_one_epoch"]


def as_float_images(images: Tensor) -> Tensor:
    """uint8 (N, 28, 28) or (N, 1, 28, 28) -> float (N, 1, 28, 28) in [0, 1]."""
    images = images.float().div(255)
    return images.unsqueeze(1) if images.dim() == 3 else images


def train_one_epoch(net: nn.Module, images: Tensor, labels: Tensor, batch_size: int, lr: float, seed: int,
                    rank: int = 0, world_size: int = 1, max_steps: Optional[int] = None,
                    ghost_batches: int = 1, after_step: Optional[Callable[[int], Any]] = None) -> list[float]:
    """One epoch of SGD on global batches of world_size * batch_size; replica `rank` takes its slice of each.

    ghost_batches=k (one process only) computes, for each batch, what k DDP replicas without SyncBN compute:
    each k-th of the batch is normalised on its own (a "ghost batch"), the k gradients are averaged, and the
    running statistics are those of the first slice (DDP copies replica 0's buffers before every forward).
    after_step(step) is called after each step (step 1, 2, ...). Returns the seconds each step took (wall
    clock). A last, incomplete global batch is dropped.
    """
    if ghost_batches > 1 and (world_size > 1 or batch_size % ghost_batches):
        raise ValueError(f"ghost_batches={ghost_batches} needs one process and a batch size divisible by it, got "
                         f"world_size={world_size}, batch_size={batch_size}")
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
    global_batch = world_size * batch_size
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    net.train()
    seconds = []
    # On a CPU, oneDNN's convolutions cost more than PyTorch's own for a few images (small_cnn, 2 images a
    # step: about 1.9 against 1.2 ms); the results agree to float rounding.
    onednn = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = onednn and batch_size // ghost_batches > 4
    try:
        for step in range(len(order) // global_batch):
            if max_steps is not None and step == max_steps:
                break
            start = time.perf_counter()
            idx = order[step * global_batch:(step + 1) * global_batch][rank * batch_size:(rank + 1) * batch_size]
            optimizer.zero_grad()
            for ghost, part in enumerate(idx.chunk(ghost_batches)):
                kept = [b.clone() for b in net.buffers()] if ghost else []
                (F.cross_entropy(net(as_float_images(images[part])), labels[part]) / ghost_batches).backward()
                for buffer, value in zip(net.buffers(), kept):    # slices 2, 3, ... keep no statistics
                    buffer.copy_(value)
            optimizer.step()
            seconds.append(time.perf_counter() - start)
            if after_step is not None:
                after_step(step + 1)
    finally:
        torch.backends.mkldnn.enabled = onednn
    return seconds


@torch.no_grad()
def accuracy(net: nn.Module, images: Tensor, labels: Tensor, batch_size: int = 1000) -> float:
    """Fraction classified correctly, in eval mode (BN with its running statistics)."""
    net.eval()
    correct = sum(int((net(as_float_images(images[i:i + batch_size])).argmax(1) == labels[i:i + batch_size]).sum())
                  for i in range(0, len(images), batch_size))
    return correct / len(images)


def bn_placement_worker(rank: int, world_size: int, shards: Tensor, lr: float) -> dict[str, Any]:
    """DDP around BatchNorm1d -> Linear, trained on shards[rank] (steps, B, features), once with DDP's default
    ``broadcast_buffers=True`` and once without. Per setting: the BN outputs of the first step and the
    running mean and variance after every step, as this replica has them."""
    out = {}
    for broadcast in (True, False):
        torch.manual_seed(0)                      # the same initial weights on every replica
        net = nn.Sequential(nn.BatchNorm1d(shards.shape[-1]), nn.Linear(shards.shape[-1], 1))
        with warnings.catch_warnings():       # newer PyTorch renames it forward_sync_buffers; both still work
            warnings.simplefilter("ignore", FutureWarning)
            ddp = DistributedDataParallel(net, broadcast_buffers=broadcast)
        optimizer = torch.optim.SGD(ddp.parameters(), lr=lr)
        means, variances, bn_outputs = [], [], []
        hook = net[0].register_forward_hook(lambda module, inputs, output: bn_outputs.append(output.detach()))
        for X in shards[rank]:
            loss = ddp(X).square().mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            means.append(net[0].running_mean.clone())
            variances.append(net[0].running_var.clone())
        hook.remove()
        out[broadcast] = {"first_bn_output": bn_outputs[0], "running_mean": torch.stack(means),
                          "running_var": torch.stack(variances), "weight": net[1].weight.detach().clone()}
    return out


def bn_steps(bn: nn.Module, batches: Tensor, upstream: Tensor) -> list[dict[str, Tensor]]:
    """Run a BN layer in training mode over each batch; per step its output Y and the gradients of
    L = sum(Y * upstream) with respect to the input (dX) and to gamma and beta (dgamma, dbeta)."""
    steps = []
    for X, dY in zip(batches, upstream):
        X = X.clone().requires_grad_()
        bn.zero_grad()
        Y = bn.train()(X)
        (Y * dY).sum().backward()
        steps.append({"Y": Y.detach(), "dX": X.grad, "dgamma": bn.weight.grad.clone(),
                      "dbeta": bn.bias.grad.clone()})
    return steps


def sync_bn_check_worker(rank: int, world_size: int, batches: Tensor, upstream: Tensor, sizes: list[int],
                         state: dict[str, Tensor], momentum: Optional[float]) -> dict[str, Any]:
    """Our SyncBatchNorm on this replica's rows of each global batch (``sizes``: the replicas' batch sizes,
    which may differ), for a comparison with one nn.BatchNorm on the whole batches: :func:`bn_steps` on the
    slice, the final state_dict and the all-reduces made. Also: what nn.SyncBatchNorm does with a CPU tensor."""
    start, stop = sum(sizes[:rank]), sum(sizes[:rank + 1])
    bn = SyncBatchNorm(batches.shape[2], momentum=momentum)
    bn.load_state_dict(state)
    ALL_REDUCES.update(calls=0, floats=0)
    steps = bn_steps(bn, batches[:, start:stop], upstream[:, start:stop])
    try:                                           # PyTorch's own, in a gloo group on the CPU
        nn.SyncBatchNorm(batches.shape[2]).train()(batches[0, start:stop])
        pytorch_sync_bn_error = None
    except Exception as err:                       # noqa: BLE001 - the chapter shows whatever it raises
        pytorch_sync_bn_error = f"{type(err).__name__}: {err}"
    return {"steps": steps, "state": {k: v.clone() for k, v in bn.state_dict().items()},
            "all_reduces": dict(ALL_REDUCES), "pytorch_sync_bn_error": pytorch_sync_bn_error}


def ddp_training_worker(rank: int, world_size: int, data: dict[str, Tensor], runs: list[dict[str, Any]]
                        ) -> list[dict[str, Any]]:
    """DDP training of :func:`~d2l_bn.normalization.small_cnn` with BN, one run per dict of ``runs``
    (keys: seed, batch_size per replica, lr, sync, and optionally max_steps); ``data`` holds train_images,
    train_labels and, for a test accuracy, test_images and test_labels (uint8 images). Per run: the seconds per
    step (this replica), the all-reduces of our SyncBatchNorm and of DDP's gradient buckets, and on rank 0
    the state_dict after the first step (the replicas agree) and the test accuracy."""
    results = []
    for run in runs:
        net = small_cnn("bn", seed=run["seed"])
        if run["sync"]:
            net = SyncBatchNorm.convert_sync_batchnorm(net)
        ddp = DistributedDataParallel(net)
        buckets = []
        ddp.register_comm_hook(None, lambda group, bucket: buckets.append(1) or allreduce_hook(group, bucket))
        ALL_REDUCES.update(calls=0, floats=0)
        first_step = {}

        def keep_first_state(step: int) -> None:
            if step == 1:
                first_step.update({k: v.clone() for k, v in net.state_dict().items()})
        seconds = train_one_epoch(ddp, data["train_images"], data["train_labels"], run["batch_size"], run["lr"],
                                  run["seed"], rank, world_size, run.get("max_steps"), after_step=keep_first_state)
        result = {**run, "seconds_per_step": seconds, "steps": len(seconds), "sync_bn_all_reduces": dict(ALL_REDUCES),
                  "gradient_all_reduces": len(buckets)}
        if rank == 0:
            result["state_after_first_step"] = first_step
            if "test_images" in data:
                result["test_accuracy"] = accuracy(net, data["test_images"], data["test_labels"])
        results.append(result)
    return results


def gpu_comparison_worker(rank: int, world_size: int, batches: Tensor, upstream: Tensor, sizes: list[int],
                          state: dict[str, Tensor]) -> dict[str, Any]:
    """On GPU `rank` (an NCCL group): our SyncBatchNorm and PyTorch's, :func:`bn_steps` on this replica's
    slice of each batch; both results and final states on the CPU, for the chapter to compare."""
    device = torch.device("cuda", rank)
    torch.cuda.set_device(device)
    start, stop = sum(sizes[:rank]), sum(sizes[:rank + 1])
    out = {}
    for name, layer in (("ours", SyncBatchNorm(batches.shape[2])), ("pytorch", nn.SyncBatchNorm(batches.shape[2]))):
        layer.load_state_dict(state)
        steps = bn_steps(layer.to(device), batches[:, start:stop].to(device), upstream[:, start:stop].to(device))
        out[name] = {"steps": [{key: value.cpu() for key, value in step.items()} for step in steps],
                     "state": {key: value.cpu() for key, value in layer.state_dict().items()}}
    return out
