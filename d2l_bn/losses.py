"""Softmax and cross-entropy from scratch, numerically stable.

The log-sum-exp trick: for any constant c,
    log sum_j exp(x_j) = c + log sum_j exp(x_j - c).
Choosing c = max_j x_j makes every exponent <= 0, so exp never overflows (the
largest term is exactly exp(0) = 1, so the sum is >= 1 and its log is finite).
softmax(x)_i = exp(x_i - c) / sum_j exp(x_j - c) is the same identity: the
constant cancels between numerator and denominator.

d2l's `cross_entropy(y_hat, y)` takes PROBABILITIES and computes -log(y_hat[y]).
For a confident wrong prediction the softmax probability of the true class
underflows to 0 in float32 and the loss becomes inf (its gradient NaN). Ours takes
LOGITS and computes -log_softmax directly, where the subtraction x_y - logsumexp(x)
stays finite -- the same reason nn.CrossEntropyLoss takes logits.
"""
from __future__ import annotations

import torch
from torch import Tensor


def _check_logits(X: Tensor, name: str = "X") -> None:
    """Input check for softmax/log_softmax (kept out of the lesson's code in chapter 01)."""
    if X.dim() < 1:
        raise ValueError(f"{name} must have at least one dimension (classes on the last), "
                         f"got a scalar; reshape to (N, num_classes)")


def _check_cross_entropy_args(logits: Tensor, y: Tensor) -> None:
    """Input checks for cross_entropy: shapes and the labels' dtype (kept out of the lesson's code).

    Label values are not range-checked here (that would force a host sync every batch
    on a GPU); an out-of-range label fails inside `gather`.
    """
    if logits.dim() != 2:
        raise ValueError(f"logits must be 2-D (N, num_classes), got shape {tuple(logits.shape)}; "
                         f"flatten extra dimensions or add a batch dimension with unsqueeze(0)")
    if y.dim() != 1 or y.shape[0] != logits.shape[0]:
        raise ValueError(f"y must be 1-D with one label per row of logits ({logits.shape[0]}), "
                         f"got shape {tuple(y.shape)}; pass class indices, not one-hot vectors")
    if y.dtype.is_floating_point or y.dtype.is_complex or y.dtype == torch.bool:
        raise ValueError(f"y must hold integer class indices, got dtype {y.dtype}; use y.long()")


def log_softmax(X: Tensor) -> Tensor:
    """log softmax along the last dimension: x_i - logsumexp(x), via max subtraction."""
    _check_logits(X)
    shifted = X - X.max(dim=-1, keepdim=True).values
    return shifted - torch.log(torch.exp(shifted).sum(dim=-1, keepdim=True))


def softmax(X: Tensor) -> Tensor:
    """Row-wise softmax (along the last dimension), stable for logits of any size."""
    _check_logits(X)
    X_exp = torch.exp(X - X.max(dim=-1, keepdim=True).values)   # every exponent <= 0
    return X_exp / X_exp.sum(dim=-1, keepdim=True)


def cross_entropy(logits: Tensor, y: Tensor) -> Tensor:
    """Per-example cross-entropy loss from LOGITS (N, C) and integer labels y (N,).

    Equals F.cross_entropy(logits, y, reduction='none'). Returns a vector of N losses (no
    reduction), like the `cross_entropy` of d2l-en 0.17 and d2l-zh 2.0 (d2l-en 1.0's returns
    their mean), so a training loop can sum or average it.
    """
    _check_cross_entropy_args(logits, y)
    # -log p_y = logsumexp(x) - x_y, read off log_softmax at each row's label.
    return -log_softmax(logits).gather(1, y.long().unsqueeze(1)).squeeze(1)
