"""Synchronised batch norm from scratch: BN whose statistics are those of the batches of ALL processes.

In data-parallel training each process (replica) sees only its own slice of the global batch, and
``nn.BatchNorm`` normalises with that slice's statistics. :class:`SyncBatchNorm` instead sums, over all processes
of the ``torch.distributed`` group, what the global statistics need:

* forward: one all-reduce of each channel's count, sum and sum of squares -> the global mean and variance;
* backward: one all-reduce of each channel's sum of dY and of dY * X_hat -> the input gradient of BN on the
  global batch. (gamma's and beta's gradients stay local sums, as for every parameter: DDP averages them.)

Why float64 sums: the variance is E[x^2] - E[x]^2, and in float32 a channel whose |mean| is 1,000 times its
standard deviation loses every digit of it (the two terms agree in their first ~6 digits, float32 keeps ~7).
Each float32 value squares exactly in float64 and the subtraction keeps about 16 - 2 * log10(|mean| / std)
digits. (PyTorch's own ``nn.SyncBatchNorm`` all-gathers each replica's mean and variance and merges them
instead: sound too, but it needs an all-gather, and it runs only on GPUs.)

Outside a process group (or in a group of one) :class:`SyncBatchNorm` is plain batch norm, so the same module
runs in a notebook and in every replica. The running statistics follow PyTorch: ``momentum`` is the weight of
the new batch (``None``: cumulative average) and the running variance is unbiased with the GLOBAL count.
Batches of different sizes on different processes are fine: the counts are summed too.
"""
from __future__ import annotations

from typing import Any, Optional

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn import functional as F

__all__ = ["ALL_REDUCES", "SyncBatchNorm", "SyncBatchNormFunction", "all_reduce_sum", "global_batch_statistics",
           "sync_bn_backward", "sync_bn_forward", "sync_bn_input_grad", "update_running_stats"]

#: Counts of this process's all-reduces: "calls", and "floats" (their size).
ALL_REDUCES = {"calls": 0, "floats": 0}


def in_process_group() -> bool:
    return dist.is_available() and dist.is_initialized()


def all_reduce_sum(tensor: Tensor) -> Tensor:
    """Sum `tensor` over every process of the group, in place, and count
    the call; outside a group there is nothing to add."""
    if in_process_group():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        ALL_REDUCES["calls"] += 1
        ALL_REDUCES["floats"] += tensor.numel()
    return tensor


def channel_view(v: Tensor, X: Tensor) -> Tensor:
    """A per-channel vector shaped to broadcast against X = (N, C, ...)."""
    return v.view(1, -1, *([1] * (X.dim() - 2)))


def global_batch_statistics(X: Tensor) -> tuple[Tensor, Tensor, int]:
    """Per channel: mean, biased variance and count of the global batch."""
    dims = [d for d in range(X.dim()) if d != 1]
    X64 = X.detach().double()      # float64: E[x^2] - E[x]^2 keeps digits
    count = X64.new_full((1,), X.numel() // X.shape[1])
    sums = torch.cat([count, X64.sum(dims), X64.square().sum(dims)])
    all_reduce_sum(sums)           # one all-reduce: count, sums, squares
    count, (total, total_sq) = sums[0], sums[1:].view(2, -1)
    mean = total / count
    var = (total_sq / count - mean.square()).clamp_min(0)
    return mean.to(X.dtype), var.to(X.dtype), int(count)


def sync_bn_input_grad(dY: Tensor, X_hat: Tensor, gamma: Tensor,
                       inv_std: Tensor, count: int) -> Tensor:
    """dL/dX of BN on the global batch, for this process's slice."""
    dims = [d for d in range(dY.dim()) if d != 1]
    sums = torch.cat([dY.sum(dims), (dY * X_hat).sum(dims)])
    mean_dY, mean_dY_X_hat = all_reduce_sum(sums).div(count).view(2, -1)
    return channel_view(gamma * inv_std, dY) * (
        dY - channel_view(mean_dY, dY)
        - X_hat * channel_view(mean_dY_X_hat, dY))


def sync_bn_forward(ctx: Any, X: Tensor, gamma: Tensor, beta: Tensor,
                    eps: float):
    """Training-mode BN over the global batch. Returns Y and, without
    gradient, the global mean, variance and count."""
    mean, var, count = global_batch_statistics(X)
    if count < 2:
        raise ValueError(f"SyncBatchNorm needs at least 2 values per channel"
                         f" over all processes, got {count}: use a larger"
                         f" batch (or eval())")
    inv_std = torch.rsqrt(var + eps)
    X_hat = (X - channel_view(mean, X)) * channel_view(inv_std, X)
    ctx.save_for_backward(X_hat, gamma, inv_std)
    ctx.count = count
    count = torch.tensor(count)
    ctx.mark_non_differentiable(mean, var, count)
    Y = X_hat * channel_view(gamma, X) + channel_view(beta, X)
    return Y, mean, var, count


def sync_bn_backward(ctx: Any, dY: Tensor, *unused: Tensor):
    """Gradients of X (global sums), gamma and beta (local sums)."""
    X_hat, gamma, inv_std = ctx.saved_tensors
    dims = [d for d in range(dY.dim()) if d != 1]
    dX = None
    if ctx.needs_input_grad[0]:
        dX = sync_bn_input_grad(dY, X_hat, gamma, inv_std, ctx.count)
    # gamma's and beta's gradients stay local sums: DDP averages them
    return dX, (dY * X_hat).sum(dims), dY.sum(dims), None


class SyncBatchNormFunction(torch.autograd.Function):
    """Batch norm with the statistics of every process's batch."""
    forward = staticmethod(sync_bn_forward)
    backward = staticmethod(sync_bn_backward)


@torch.no_grad()
def update_running_stats(bn: nn.Module, mean: Tensor, var: Tensor,
                         count: int) -> None:
    """PyTorch's rule: new = (1 - m) old + m batch, with m = momentum
    (None: 1 / batches so far); the variance is made unbiased with the
    GLOBAL count."""
    bn.num_batches_tracked += 1
    m = bn.momentum
    if m is None:
        m = 1.0 / bn.num_batches_tracked.item()
    bn.running_mean.mul_(1 - m).add_(mean, alpha=m)
    bn.running_var.mul_(1 - m).add_(var * count / (count - 1), alpha=m)


class SyncBatchNorm(nn.modules.batchnorm._BatchNorm):
    """A drop-in for ``nn.BatchNorm1d/2d/3d`` (same arguments, parameters and buffers) that normalises with
    the statistics of the batches of all processes in training mode; ``eval()`` uses the running statistics.

    Runs on the CPU (gloo) as well as on GPUs; ``track_running_stats=False`` is not supported.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: Optional[float] = 0.1,
                 affine: bool = True, track_running_stats: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        if not track_running_stats:
            raise ValueError("this SyncBatchNorm always tracks running statistics; use nn.BatchNorm with "
                             "track_running_stats=False for batch statistics at eval time")
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype)

    def _check_input_dim(self, X: Tensor) -> None:
        if X.dim() < 2:
            raise ValueError(f"expected an input (N, C, ...) with at least 2 dimensions, got {X.dim()}")

    def forward(self, X: Tensor) -> Tensor:
        self._check_input_dim(X)
        if X.shape[1] != self.num_features:
            raise ValueError(f"expected {self.num_features} channels (dimension 1), got {X.shape[1]}")
        if not self.training:
            return F.batch_norm(X, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0,
                                self.eps)
        gamma = self.weight if self.affine else torch.ones(self.num_features, dtype=X.dtype, device=X.device)
        beta = self.bias if self.affine else torch.zeros_like(gamma)
        Y, mean, var, count = SyncBatchNormFunction.apply(X, gamma, beta, self.eps)
        update_running_stats(self, mean, var, int(count))
        return Y

    @classmethod
    def convert_sync_batchnorm(cls, module: nn.Module) -> nn.Module:
        """``module`` with every ``nn.BatchNorm1d/2d/3d`` replaced by this class, parameters and running
        statistics copied, like ``torch.nn.SyncBatchNorm.convert_sync_batchnorm``."""
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(module, cls):
            if not module.track_running_stats:
                raise ValueError(f"{module} has track_running_stats=False, which this SyncBatchNorm does "
                                 "not support; keep running statistics or leave the layer unconverted")
            converted = cls(module.num_features, module.eps, module.momentum, module.affine,
                            device=module.running_mean.device, dtype=module.running_mean.dtype)
            converted.load_state_dict(module.state_dict())
            converted.train(module.training)
            return converted
        for name, child in module.named_children():
            module.add_module(name, cls.convert_sync_batchnorm(child))
        return module
