"""The checks of `train_ch6` and `evaluate_accuracy_gpu`, kept out of the trainer's flow.

Each one turns a run that would go wrong silently, or fail deep inside PyTorch, into an error (or, for a
diverging loss, a report) that says what happened and what to change.
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Optional

import torch

from d2l_bn.metrics import History


def _label_message(name: str, label: int, where: str, num_classes: int) -> str:
    return (f'{name} holds label {label} ({where}), but the net has {num_classes} outputs, so labels must be in '
            f'[0, {num_classes}): in the test set it would count as a wrong prediction, in training it breaks '
            f'the loss. Fix the labels (e.g. look at labels.unique()) or give the net one output per class')


def _check_batch_labels(y: Optional[torch.Tensor], num_classes: int, name: str, batch: int) -> None:
    """A batch's labels, when they are on the CPU (a DataLoader's are): a host operation, no device sync."""
    if y is not None and len(y):
        low, high = (int(v) for v in torch.aminmax(y))
        if low < 0 or high >= num_classes:
            raise ValueError(_label_message(name, low if low < 0 else high, f'batch {batch}', num_classes))


def _checked_device(device: Any) -> torch.device:
    """A device that exists here, or a ValueError that says what to use instead (before anything is done)."""
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device must be a torch.device or a name such as 'cpu' or 'cuda:0', got {device!r}; "
                         f'use device=try_gpu(), which picks a GPU if there is one, else the CPU') from err
    if device.type == 'cuda':
        count = torch.cuda.device_count()
        if count == 0:
            raise ValueError(f'no CUDA device: {device} was asked for, but torch.cuda.is_available() is False '
                             f'here; use device=try_gpu(), which falls back to the CPU')
        if device.index is not None and device.index >= count:
            raise ValueError(f'no CUDA device {device}: this machine has {count} (cuda:0 to cuda:{count - 1}); '
                             f'use device=try_gpu()')
    elif device.type == 'mps' and not torch.backends.mps.is_available():
        raise ValueError('no MPS device (Apple GPU) here; use device=try_gpu(), which falls back to the CPU')
    return device


def _check_args(num_epochs: Any, lr: Any) -> None:
    if isinstance(num_epochs, bool) or not isinstance(num_epochs, numbers.Integral) or num_epochs < 1:
        raise ValueError(f'num_epochs must be a whole number >= 1, got {num_epochs!r}; '
                         f'e.g. train_ch6(net, train_iter, test_iter, num_epochs=10, lr=0.9)')
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not math.isfinite(lr) or lr <= 0:
        raise ValueError(f'lr must be a positive finite number, got {lr!r}; '
                         f'd2l uses lr=0.9 for LeNet and lr=1.0 for LeNet with batch norm')


def _check_schedule(lr_schedule: Any) -> None:
    if lr_schedule is None:
        return
    if not callable(lr_schedule):
        raise ValueError(f'lr_schedule must be a function of the fraction of training done (0 to 1) returning '
                         f'a factor for lr, e.g. lr_schedule=cosine_schedule; got {lr_schedule!r}')
    for progress in (0.0, 0.5, 1.0):
        factor = lr_schedule(progress)
        if isinstance(factor, bool) or not isinstance(factor, numbers.Real) or not 0 <= factor < math.inf:
            raise ValueError(f'lr_schedule({progress}) returned {factor!r}; it must return a finite factor '
                             f'>= 0 that multiplies lr (1.0 = lr unchanged)')


def _forward(net, X, train_iter):
    """net(X) in training; a batch of one that batch norm refuses gets the fix for where it came from."""
    try:
        return net(X)
    except ValueError as err:
        if X.shape[0] != 1 or 'more than 1 value per channel' not in str(err):
            raise
        raise ValueError(
            f'{err}\nThis training batch holds a single example: the last batch of an epoch is that small when '
            f'the training set size leaves a remainder of 1 after batches of '
            f'{getattr(train_iter, "batch_size", "batch_size")}. Pass drop_last=True to the loader '
            f'(load_data_fashion_mnist(..., drop_last=True), TensorLoader(..., drop_last=True) or '
            f'DataLoader(..., drop_last=True)), or choose another batch size') from err


# A mean cross-entropy this many times the loss of guessing uniformly (ln C) means the outputs have blown up: a
# net that learns starts near ln C and goes down. d2l's LeNet at lr=1e6 reaches ~1e7 without ever becoming inf.
DIVERGED_FACTOR = 100


def divergence_bound(num_classes: int) -> float:
    """The mean training loss above which training counts as diverged (230 for 10 classes)."""
    return DIVERGED_FACTOR * math.log(max(num_classes, 2))


def _has_diverged(train_l: float, num_classes: int) -> bool:
    return not math.isfinite(train_l) or train_l > divergence_bound(num_classes)


def _report_divergence(history: History, bad_step: int, steps_before: int, epoch: int, step_loss: float,
                       num_classes: int, lr: float) -> None:
    history.diverged, history.diverged_at_step = True, bad_step
    what = (f'became {step_loss}' if not math.isfinite(step_loss) else
            f'reached {step_loss:.3g}, more than {DIVERGED_FACTOR} times the loss of guessing uniformly '
            f'(ln {num_classes} = {math.log(num_classes):.2f})')
    print(f'training diverged: the loss {what} at step {bad_step} (epoch {epoch + 1}, batch '
          f'{bad_step - steps_before}), so training stopped there and returns the {len(history.epochs)} '
          f'completed epoch(s). The usual fixes: a smaller learning rate (lr={lr:g} now; try lr={lr / 10:g}), '
          f'inputs scaled to about [0, 1], or batch norm, which tolerates larger rates. The weights are now '
          f'useless (huge or inf/NaN): build the net anew (or train again with init=True) before the next run.')
