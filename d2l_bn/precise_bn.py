"""Precise BN: recompute batch norm's running statistics under the final weights, after training.

During training BN's running averages are exponential averages of batch statistics, each computed with the
weights of its own step; at the end they describe a mixture of networks that no longer exist. Ioffe & Szegedy's
Algorithm 2 uses population statistics of the trained network instead, and Wu & Johnson (2021, "Rethinking
'Batch' in BatchNorm") call recomputing them "precise BN". This is the course's one implementation (chapter 04
writes it out; 05, 06 and later chapters import it). ``torch.optim.swa_utils.update_bn`` does the same for
PyTorch's layers; a test holds the two equal.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Optional

import torch
from torch import nn

from d2l_bn.layers import BatchNorm


def bn_layers(net: nn.Module) -> list[nn.Module]:
    """Every batch-norm layer in `net` that keeps running statistics: ours and PyTorch's (1d, 2d, 3d)."""
    return [m for m in net.modules()
            if isinstance(m, (BatchNorm, nn.modules.batchnorm._BatchNorm)) and m.track_running_stats]


@torch.no_grad()
def recompute_bn_statistics(net: nn.Module, batches: Iterable[Any], num_batches: Optional[int] = None,
                            device: Optional[torch.device] = None) -> nn.Module:
    """Replace every BN layer's running statistics by plain averages of batch statistics over `batches`.

    `batches` yields inputs X or (X, y) pairs (a data loader); `num_batches` stops after that many. The
    weights do not change (no gradients are computed); each BN layer's momentum and each module's
    train/eval mode are restored afterwards. Returns `net`, changed in place. As in torch's `update_bn`, the
    whole network runs in training mode during the pass (dropout included).

    Why momentum=None: it makes the running statistics the cumulative (equal-weight) average of the batch
    statistics, the paper's E[mu_B] and m/(m-1) E[sigma_B^2], instead of an exponential average that
    forgets all but the last few dozen batches.
    """
    layers = bn_layers(net)
    _check_recompute_args(layers, num_batches)
    if device is None:
        device = next((p.device for p in net.parameters()), torch.device("cpu"))
    momenta = [m.momentum for m in layers]
    modes = [(m, m.training) for m in net.modules()]
    for m in layers:
        m.reset_running_stats()
        m.momentum = None          # cumulative average: every batch gets the same weight
    seen = 0
    try:
        net.train()                # BN normalises with, and records, the batch statistics
        for seen, batch in enumerate(batches, 1):
            X = batch[0] if isinstance(batch, (tuple, list)) else batch
            net(X.to(device))
            if num_batches is not None and seen >= num_batches:
                break
    finally:
        for m, momentum in zip(layers, momenta):
            m.momentum = momentum
        for module, mode in modes:
            module.training = mode
    _check_saw_batches(seen)
    return net


def _check_recompute_args(layers: list[nn.Module], num_batches: Optional[int]) -> None:
    if num_batches is not None and (isinstance(num_batches, bool) or not isinstance(num_batches, int)
                                    or num_batches < 1):
        raise ValueError(f"num_batches must be a positive int or None (all batches), got {num_batches!r}")
    if not layers:
        raise ValueError("the network has no batch-norm layer that tracks running statistics: "
                         "there is nothing to recompute")


def _check_saw_batches(seen: int) -> None:
    if seen == 0:
        raise ValueError("batches yielded nothing: pass a non-empty loader of training inputs")
