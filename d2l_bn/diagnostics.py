"""Looking inside a deep network: hooks that keep each layer's output and gradient, and per-layer statistics.

The diagnostics Karpathy's "makemore, part 3" made popular, as small reusable pieces:

* `recording(modules)`: a forward hook on each watched module keeps its output; a tensor hook on that output
  keeps the gradient that flows back into it (``register_full_backward_hook`` would do too, but PyTorch then
  forbids changing the module's inputs or outputs in place, which some networks do: ``ReLU(inplace=True)``);
* `saturation` (share of tanh outputs near +-1, where the derivative is nearly 0), `layer_statistics` (mean,
  std, saturation and gradient norm per layer);
* `gradient_norm_profile`: one forward/backward pass, the norm of the gradient of each chosen weight;
* `train_steps_with_ratios`: plain minibatch SGD on tensors that records, at every step, the loss and each
  weight's update-to-data ratio ||dW|| / ||W|| (how far one step moves a layer, relative to its size).

Plots of these numbers: `d2l_bn.diagnostics_plots`.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn
from torch.nn import functional as F


@contextlib.contextmanager
def recording(modules: Mapping[str, nn.Module]) -> Iterator[tuple[dict, dict]]:
    """Keep each module's output and the gradient that flows back into it."""
    outputs, grads = {}, {}

    def keep(name):
        def hook(module, inputs, output):
            outputs[name] = output.detach()
            if output.requires_grad:
                output.register_hook(lambda grad: grads.__setitem__(name, grad.detach()))
        return hook

    handles = [module.register_forward_hook(keep(name)) for name, module in modules.items()]
    try:
        yield outputs, grads
    finally:
        for handle in handles:
            handle.remove()


def saturation(t: torch.Tensor, threshold: float = 0.97) -> float:
    """Share of the values whose magnitude exceeds `threshold`: for tanh outputs, the units that barely learn.

    tanh'(z) = 1 - tanh(z)^2, so where |tanh(z)| > 0.97 less than 6% of the gradient passes.
    """
    if not 0 < threshold < 1:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}; 0.97 is the usual choice for tanh")
    return (t.abs() > threshold).float().mean().item()


def layer_statistics(outputs: Mapping[str, torch.Tensor],
                     grads: Optional[Mapping[str, torch.Tensor]] = None) -> dict[str, dict[str, float]]:
    """Per layer: mean, std and saturation of its output and, when recorded, the norm of its gradient."""
    stats = {}
    for name, out in outputs.items():
        stats[name] = {"mean": out.mean().item(), "std": out.std().item(), "saturation": saturation(out)}
        if grads is not None and name in grads:
            stats[name]["grad_norm"] = grads[name].norm().item()
    return stats


def hidden_weights(net: nn.Module) -> list[nn.Parameter]:
    """The weight of every Linear and Conv2d layer in `net`, in order (biases and BN parameters left out)."""
    return [m.weight for m in net.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]


def gradient_norm_profile(net: nn.Module, X: torch.Tensor, y: torch.Tensor,
                          weights: Optional[list[torch.Tensor]] = None) -> torch.Tensor:
    """||dL/dW|| for each weight in `weights` (default: every Linear/Conv2d weight), from one batch.

    The net runs in training mode (BN uses the batch statistics, as in the first step of training); the
    gradients it leaves are cleared again, and each module's mode is restored.
    """
    weights = hidden_weights(net) if weights is None else weights
    if not weights:
        raise ValueError("the network has no Linear or Conv2d weight to measure; pass weights=[...]")
    modes = [(m, m.training) for m in net.modules()]
    net.train()
    try:
        grads = torch.autograd.grad(F.cross_entropy(net(X), y), weights)
    finally:
        for module, mode in modes:
            module.training = mode
    return torch.stack([g.norm() for g in grads]).detach()


@dataclass
class StepLog:
    """What `train_steps_with_ratios` recorded: `losses` (steps,), `update_ratios` (steps, number of weights)."""
    losses: torch.Tensor
    update_ratios: torch.Tensor


def train_steps_with_ratios(net: nn.Module, X: torch.Tensor, y: torch.Tensor, steps: int, batch_size: int,
                            lr: float, *, seed: int = 0, weights: Optional[list[torch.Tensor]] = None) -> StepLog:
    """Minibatch SGD for `steps` steps on in-memory tensors, recording the loss and the update-to-data ratios.

    Batches are drawn with replacement from a generator seeded with `seed`. The update-to-data ratio of a
    weight W is ||W_after - W_before|| / ||W_before||, per step (Karpathy's rule of thumb: about 1e-3; far
    below, the layer hardly learns; far above, it is being rewritten every step). Loss and ratios stay on the
    device until the end (no host sync per step). A loss that becomes inf or NaN stops the run: the log then
    ends at that step.
    """
    if steps < 1 or batch_size < 1 or not lr > 0:
        raise ValueError(f"need steps >= 1, batch_size >= 1 and lr > 0, got {steps}, {batch_size}, {lr}")
    weights = hidden_weights(net) if weights is None else weights
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    losses, ratios = [], []
    net.train()
    for step in range(steps):
        idx = torch.randint(len(X), (batch_size,), generator=generator).to(X.device)
        loss = F.cross_entropy(net(X[idx]), y[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        before = [w.detach().clone() for w in weights]
        optimizer.step()
        losses.append(loss.detach())
        ratios.append(torch.stack([(w.detach() - b).norm() / b.norm() for w, b in zip(weights, before)])
                      if weights else loss.new_zeros(0))
        if step % 50 == 49 and not torch.isfinite(torch.stack(losses[-50:])).all():
            break
    losses, ratios = torch.stack(losses).cpu(), torch.stack(ratios).cpu()
    finite = torch.isfinite(losses)
    if not finite.all():
        stop = int((~finite).nonzero()[0]) + 1
        losses, ratios = losses[:stop], ratios[:stop]
    return StepLog(losses, ratios)
