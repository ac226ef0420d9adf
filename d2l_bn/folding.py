"""Folding batch norm into the convolution before it, for inference.

In eval mode BN is a fixed affine map per channel c: y = s_c * (x - mu_c) + beta_c with
s_c = gamma_c / sqrt(var_c + eps) (running statistics). When x is the output of a convolution,
x_c = W_c * input + b_c, the two compose into ONE convolution with

    W'_c = s_c * W_c            (every weight of output channel c's filter, whatever its input channels)
    b'_c = s_c * (b_c - mu_c) + beta_c

so a deployed network does one operation where it did two. Output channel c is dimension 0 of a Conv2d's
weight (out_channels, in_channels / groups, kH, kW) for every `groups`: a grouped or depthwise convolution folds
per output channel exactly like a dense one. (ConvTranspose2d stores output channels in dimension 1; it is
refused here rather than folded wrongly.)

Folding is exact only for BN in eval mode with running statistics: in training mode BN normalises with the
statistics of each batch, which no fixed weights can reproduce, so such a BN is refused.
"""
from __future__ import annotations

import copy

import torch
from torch import fx, nn


def check_foldable(conv: nn.Module, bn: nn.Module) -> None:
    """Refuse, naming the fix, a pair that one convolution cannot reproduce exactly."""
    if type(conv) is not nn.Conv2d:
        raise ValueError(f"can only fold into an nn.Conv2d, got {type(conv).__name__} (a ConvTranspose2d keeps "
                         f"its output channels in weight dimension 1, not 0)")
    if not isinstance(bn, nn.BatchNorm2d):
        raise ValueError(f"can only fold an nn.BatchNorm2d, got {type(bn).__name__}")
    if bn.training:
        raise RuntimeError("the BN layer is in training mode: it normalises with each batch's own statistics, "
                           "which no fixed weights can reproduce. Call net.eval() before folding")
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError("the BN layer has no running statistics (track_running_stats=False): it normalises "
                         "with the batch's statistics even in eval mode, so it cannot be folded")
    if conv.out_channels != bn.num_features:
        raise ValueError(f"the convolution has {conv.out_channels} output channels but the BN layer normalises "
                         f"{bn.num_features}: they are not a conv-BN pair")


@torch.no_grad()
def fold_conv_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """One Conv2d that computes bn(conv(x)) for the eval-mode `bn`."""
    check_foldable(conv, bn)
    scale = torch.rsqrt(bn.running_var + bn.eps)
    shift = -bn.running_mean * scale
    if bn.affine:
        scale, shift = scale * bn.weight, shift * bn.weight + bn.bias
    folded = copy.deepcopy(conv)
    # one factor per output channel: dimension 0 of the weight, for any groups
    folded.weight.copy_(conv.weight * scale.reshape(-1, 1, 1, 1))
    bias = conv.bias if conv.bias is not None else torch.zeros_like(scale)
    folded.bias = nn.Parameter(bias * scale + shift)
    return folded


def _set_submodule(root: nn.Module, target: str, module: nn.Module) -> None:
    parent, _, name = target.rpartition(".")
    setattr(root.get_submodule(parent) if parent else root, name, module)


def fold_batch_norms(net: nn.Module) -> fx.GraphModule:
    """A copy of `net` in which every BatchNorm2d applied directly to a Conv2d's output is folded into it.

    The network is traced with torch.fx to find the pairs: a BN whose input is a convolution whose output
    is used by nothing else. A BN that follows anything else (a ReLU, a sum, the input) stays as it is.
    `net` itself is not changed; it must be in eval mode (else RuntimeError, see `fold_conv_bn`).
    """
    if net.training:
        raise RuntimeError("the network is in training mode: its BN layers use batch statistics, which cannot "
                           "be folded. Call net.eval() before folding")
    graph_module = fx.symbolic_trace(copy.deepcopy(net))
    modules = dict(graph_module.named_modules())
    for node in list(graph_module.graph.nodes):
        if node.op != "call_module" or not isinstance(modules[node.target], nn.BatchNorm2d):
            continue
        source = node.args[0]
        if (isinstance(source, fx.Node) and source.op == "call_module"
                and type(modules[source.target]) is nn.Conv2d and len(source.users) == 1):
            folded = fold_conv_bn(modules[source.target], modules[node.target])
            _set_submodule(graph_module, source.target, folded)
            node.replace_all_uses_with(source)
            graph_module.graph.erase_node(node)
    graph_module.delete_all_unused_submodules()
    graph_module.recompile()
    return graph_module.eval()


def count_batch_norms(net: nn.Module) -> int:
    """How many BatchNorm2d layers `net` still runs."""
    return sum(isinstance(m, nn.BatchNorm2d) for m in net.modules())
