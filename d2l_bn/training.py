"""d2l's `train_ch6` and `evaluate_accuracy_gpu`, rebuilt so the GPU never waits for the CPU.

d2l's loop calls `float(loss)` and `accuracy(...)` after every batch. Each call is a
host sync: the CPU stops until the GPU has finished, so the two never overlap. Here the
running loss sum and correct count stay on the device as tensors and are read a few
times per epoch (the points the animator draws) and once at the end of the epoch.

It accepts any iterable of (X, y) batches -- a torch DataLoader, as d2l passes -- and
takes a fast path for an in-memory loader (duck typing: one with `.images`, `.labels`
and `.batch_size`, e.g. d2l_bn.data's TensorLoader): the uint8 images are moved to the
device once, each batch is gathered by index from a per-epoch permutation and only
then converted to float/255 (`d2l_bn._batches`), and evaluation uses large batches (2048 on a GPU),
since in eval mode the batch size changes nothing but the speed.

Otherwise it is d2l's trainer: Xavier init, SGD, cross-entropy, an animated plot and the
same two lines at the end. It also returns a `History`, survives Ctrl-C (returning what
it has), and turns a CUDA out-of-memory error into advice. Nothing goes wrong silently:
a device that does not exist is refused before the weights are touched; a loss that
becomes inf or NaN stops training (detected from the sums read for the plot, so without a
sync per batch) and the History says at which step; labels outside [0, number of outputs)
are refused when the data enters the trainer or the evaluator (a test label out of range
would otherwise count as a wrong answer); a batch of one example that batch norm refuses
is explained (drop_last=True).
"""
from __future__ import annotations

import contextlib
import math
from typing import Any, Callable, Iterator, Optional

import torch
from torch import nn

from d2l_bn._batches import Batches, _DeviceData, _eval_batches, _is_in_memory, _shuffle_generator, _train_batches
from d2l_bn._training_checks import (_check_args, _check_batch_labels, _check_schedule, _checked_device,
                                     _forward, _has_diverged, _report_divergence,
                                     divergence_bound)
from d2l_bn.devices import describe_device, try_gpu
# Re-exported: d2l's readers find Timer, Accumulator and accuracy next to train_ch6.
from d2l_bn.metrics import Accumulator, History, Timer, accuracy, count_correct  # noqa: F401

__all__ = ['Accumulator', 'History', 'Timer', 'accuracy', 'count_correct', 'cosine_schedule',
           'evaluate_accuracy_gpu', 'train_ch6']

PLOTS_PER_EPOCH = 5  # as d2l: the training curves get 5 points per epoch
_OutOfMemoryError = getattr(torch, 'OutOfMemoryError', torch.cuda.OutOfMemoryError)


@contextlib.contextmanager
def _eval_mode(net: Any) -> Iterator[None]:
    """net.eval() for the block, then give every submodule back its own previous mode."""
    if not isinstance(net, nn.Module):
        yield
        return
    modes = [(m, m.training) for m in net.modules()]
    net.eval()
    try:
        yield
    finally:
        for module, mode in modes:
            module.training = mode


def _accuracy_of(net: Any, batches: Batches, device: torch.device, data: Optional[_DeviceData] = None,
                 name: str = 'the data iterator') -> float:
    """Accuracy over `batches`; every label is checked against the net's number of outputs."""
    correct, n = torch.zeros((), dtype=torch.int64, device=device), 0
    out_of_range = torch.zeros((), dtype=torch.int64, device=device)  # labels seen only on the device
    num_classes = None
    with _eval_mode(net), torch.no_grad():
        for batch, (X, y, y_host) in enumerate(batches, 1):
            y_hat = net(X)
            if num_classes is None:
                num_classes = y_hat.shape[-1] if y_hat.dim() > 1 else None
                if data is not None and num_classes is not None:
                    data.check_labels(num_classes, name)
            if num_classes is not None:
                if y_host is not None:
                    _check_batch_labels(y_host, num_classes, name, batch)
                elif data is None:
                    out_of_range += ((y < 0) | (y >= num_classes)).sum()
            correct += count_correct(y_hat, y)
            n += y.shape[0]
    if n == 0:
        raise ValueError('the data iterator yielded no examples; pass a non-empty test set')
    correct, out_of_range = torch.stack([correct, out_of_range]).tolist()  # the only host sync
    if out_of_range:
        raise ValueError(f'{name} holds {out_of_range} label(s) outside [0, {num_classes}), the range of the '
                         f"net's {num_classes} outputs: they would count as wrong predictions. Fix the labels "
                         f'or give the net one output per class')
    return correct / n


def _model_device(net: Any) -> torch.device:
    if isinstance(net, nn.Module):
        for tensor in net.parameters():
            return tensor.device
    return torch.device('cpu')


def evaluate_accuracy_gpu(net, data_iter, device=None) -> float:
    """Compute the accuracy for a model on a dataset using a GPU (eval mode, no grad; mode restored)."""
    device = _model_device(net) if device is None else _checked_device(device)
    data = _DeviceData(data_iter, device) if _is_in_memory(data_iter) else None
    return _accuracy_of(net, _eval_batches(data_iter, data, device), device, data, 'data_iter')


def cosine_schedule(progress: float) -> float:
    """Learning-rate factor that falls from 1 to 0 along half a cosine as training goes from start to end.

    For `train_ch6(..., lr_schedule=cosine_schedule)`: at a constant lr the last epoch's weights are
    one noisy SGD sample; letting the step shrink to zero lets them settle (Loshchilov & Hutter, 2017).
    """
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def _plot_points(num_batches: Optional[int]) -> set[int]:
    """Batch numbers (1-based) after which the curves get a point; just the end if the length is unknown."""
    if not num_batches:
        return set()
    return {max(1, round(num_batches * k / PLOTS_PER_EPOCH)) for k in range(1, PLOTS_PER_EPOCH + 1)}


def _progress_bar(show: bool, epoch: int, num_epochs: int, total: Optional[int]):
    if not show:
        return None
    from tqdm.auto import tqdm
    return tqdm(total=total, desc=f'epoch {epoch}/{num_epochs}', unit='batch')


def train_ch6(net, train_iter, test_iter, num_epochs, lr, device=None, *,
              animate: bool = True, init: bool = True, seed: Optional[int] = None,
              progress: Optional[bool] = None,
              lr_schedule: Optional[Callable[[float], float]] = None) -> History:
    """Train a model with a GPU (defined in Chapter 6), d2l-style; return the measured History.

    device: None means `try_gpu()`. animate: draw d2l's live plot (headless: kept in
    `History.figure`). init: apply d2l's Xavier init first; pass False to continue
    training a net. seed: seeds torch (weights, dropout) and, for an in-memory loader
    without its own generator, the shuffling. progress: a tqdm bar per epoch; None
    means "only when not animating". lr_schedule: None keeps lr constant (d2l); a function
    f(fraction of training done, from 0 at the first step) makes each step's learning rate
    lr * f(...), e.g. `cosine_schedule`. Ctrl-C stops cleanly and returns the epochs done; so
    does a loss that becomes inf or NaN, with `History.diverged` set and the step it happened at.
    """
    _check_args(num_epochs, lr)
    _check_schedule(lr_schedule)
    device = try_gpu() if device is None else _checked_device(device)  # before the weights are touched
    if seed is not None:
        torch.manual_seed(seed)
    if init:
        from d2l_bn.models import init_xavier  # the lesson's init lives with the models
        net.apply(init_xavier)
    print('training on', describe_device(device))
    try:
        return _fit(net, train_iter, test_iter, num_epochs, lr, device, animate, seed,
                    (not animate) if progress is None else progress, lr_schedule)
    except _OutOfMemoryError as err:
        size = getattr(train_iter, 'batch_size', None) or 256
        raise RuntimeError(
            f'{device} ran out of memory while training with batch size {size}: reload the data '
            f'with a smaller one, e.g. load_data_fashion_mnist(batch_size={max(1, size // 2)}), '
            f'or free memory (delete unused nets and tensors, or restart the kernel)') from err


def _fit(net, train_iter, test_iter, num_epochs, lr, device, animate, seed, progress, lr_schedule) -> History:
    wall, timer, timing = Timer(), Timer(), False
    net.to(device)
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    loss = nn.CrossEntropyLoss()
    if animate:
        from d2l_bn.plotting import Animator   # here, not at the top: `import d2l_bn` needs no matplotlib
    # d2l's x range [1, num_epochs]; a single epoch gets [0, 1] (matplotlib warns on an empty range)
    animator = Animator(xlabel='epoch', xlim=[1, num_epochs] if num_epochs > 1 else [0, 1],
                        legend=['train loss', 'train acc', 'test acc']) if animate else None
    history = History(device=str(device), figure=animator.fig if animator else None)
    train_data = _DeviceData(train_iter, device) if _is_in_memory(train_iter) else None
    test_data = _DeviceData(test_iter, device) if _is_in_memory(test_iter) else None
    generator = _shuffle_generator(train_iter, seed) if train_data is not None else None
    num_batches = len(train_iter) if hasattr(train_iter, '__len__') else None
    plot_at = _plot_points(num_batches)
    epoch, batch, n, n_trained, bar, num_classes = 0, 0, 0, 0, None, None
    step = 0

    def read(loss_sum, correct):  # one host sync for both numbers
        total_loss, total_correct = torch.stack([loss_sum, correct.to(loss_sum.dtype)]).tolist()
        return total_loss / n, total_correct / n

    try:
        for epoch in range(num_epochs):
            net.train()
            loss_sum = torch.zeros((), device=device)
            correct = torch.zeros((), dtype=torch.int64, device=device)
            n, batch, steps_before = 0, 0, step
            step_losses = []  # this epoch's losses, left on the device: read only if the sum goes inf/NaN
            bar = _progress_bar(progress, epoch + 1, num_epochs, num_batches)
            timer.start()
            timing = True
            for batch, (X, y, y_host) in enumerate(_train_batches(train_iter, train_data, device, generator), 1):
                step += 1
                if lr_schedule is not None:  # a plain float per step: no tensor, no sync
                    done = (epoch + (batch - 1) / num_batches) / num_epochs if num_batches else epoch / num_epochs
                    for group in optimizer.param_groups:
                        group['lr'] = lr * lr_schedule(done)
                optimizer.zero_grad(set_to_none=True)
                y_hat = _forward(net, X, train_iter)
                if num_classes is None:  # the labels meet the net's outputs: check them all, once
                    num_classes = y_hat.shape[-1]
                    for data, name in ((train_data, 'train_iter'), (test_data, 'test_iter')):
                        if data is not None:
                            data.check_labels(num_classes, name)
                _check_batch_labels(y_host, num_classes, 'train_iter', batch)
                l = loss(y_hat, y)
                l.backward()
                optimizer.step()
                with torch.no_grad():
                    loss_sum += l.detach() * y.shape[0]
                    correct += count_correct(y_hat, y)
                step_losses.append(l.detach())
                n += y.shape[0]
                if bar is not None:
                    bar.update()
                if batch in plot_at:
                    train_l, train_acc = read(loss_sum, correct)
                    timer.stop()
                    timing = False
                    if _has_diverged(train_l, num_classes):
                        break
                    if animator is not None:
                        animator.add(epoch + batch / num_batches, (train_l, train_acc, None))
                    if bar is not None:
                        bar.set_postfix(loss=f'{train_l:.3f}', train_acc=f'{train_acc:.3f}')
                    timer.start()
                    timing = True
            if n == 0:
                raise ValueError('train_iter yielded no batches; pass a non-empty training set')
            train_l, train_acc = read(loss_sum, correct)  # also waits for the epoch's last kernels
            if timing:
                timer.stop()
                timing = False
            n_trained, n = n_trained + n, 0
            if _has_diverged(train_l, num_classes):
                losses = torch.stack(step_losses)
                bad = (~torch.isfinite(losses) | (losses > divergence_bound(num_classes))).nonzero()
                # (a sum can overflow while every loss is finite: then blame the last step)
                first_bad = int(bad[0]) if len(bad) else len(step_losses) - 1
                _report_divergence(history, steps_before + first_bad + 1, steps_before, epoch,
                                   float(losses[first_bad]), num_classes, lr)
                break
            test_acc = _accuracy_of(net, _eval_batches(test_iter, test_data, device), device, test_data,
                                    'test_iter')
            history.epochs.append(epoch + 1)
            history.train_loss.append(train_l)
            history.train_acc.append(train_acc)
            history.test_acc.append(test_acc)
            if animator is not None:  # the train curves too when their points were not drawn
                animator.add(epoch + 1, (None, None, test_acc) if plot_at else (train_l, train_acc, test_acc))
            if bar is not None:
                bar.set_postfix(loss=f'{train_l:.3f}', train_acc=f'{train_acc:.3f}',
                                test_acc=f'{test_acc:.3f}')
                bar.close()
    except KeyboardInterrupt:
        if timing:
            timer.stop()
        n_trained += n
        history.interrupted = True
        print(f'training interrupted at epoch {epoch + 1}, batch {batch}: returning the history '
              f'of the {len(history.epochs)} completed epoch(s)')
    finally:
        if bar is not None:
            bar.close()
    history.examples_per_sec = n_trained / timer.sum() if timer.sum() > 0 else 0.0
    history.seconds = wall.stop()
    print(history.summary())
    return history
