"""Minibatch stochastic gradient descent from scratch (d2l's `sgd`)."""
from __future__ import annotations

from typing import Iterable

import torch
from torch import Tensor


def check_sgd_arguments(lr: float, batch_size: int) -> None:
    """Raise a ValueError that names the fix if `sgd` cannot take a meaningful step with these arguments.

    Chapter 02's lesson calls this in one line, so that its `sgd` shows only d2l's update.
    """
    if not lr > 0:
        raise ValueError(f"lr must be > 0 (it is the step size), got {lr}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1 (the number of examples whose losses were "
                         f"summed), got {batch_size}; pass the batch size the loss was summed over")




def sgd(params: Iterable[Tensor], lr: float, batch_size: int) -> None:
    """One SGD step: param -= lr * param.grad / batch_size, then zero the gradients.

    d2l's from-scratch loops (d2l-zh 2.0) call `l.sum().backward()`, so each gradient
    is a SUM over the batch; dividing by batch_size turns it into the gradient of the
    MEAN loss. Hence `sgd(params, lr, batch_size)` after `loss.sum().backward()` is the
    same step as `torch.optim.SGD(params, lr)` after `loss.mean().backward()`. Pass the
    batch's actual size (`X.shape[0]`): an epoch's last batch may be smaller than the others.
    Parameters whose grad is None (not used in the loss) are left untouched.
    """
    check_sgd_arguments(lr, batch_size)
    with torch.no_grad():   # the update itself is not part of the model to differentiate
        for param in params:
            if param.grad is None:
                continue
            param -= lr * param.grad / batch_size
            param.grad.zero_()
