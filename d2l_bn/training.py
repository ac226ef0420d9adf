"""d2l's `train_ch6` and `evaluate_accuracy_gpu`, rebuilt so the GPU never waits for the CPU.

d2l's loop calls `float(loss)` and `accuracy(...)` after every batch. Each call is a
host sync: the CPU stops until the GPU has finished, so the two never overlap. Here the
running loss sum and correct count stay on the device as tensors and are read a few
times per epoch (the points the animator draws) and once at the end of the epoch.

It accepts any iterable of (X, y) batches -- a torch DataLoader, as d2l passes -- and
takes a fast path for an in-memory loader (duck typing: one with `.images`, `.labels`
and `.batch_size`, e.g. d2l_bn.data's TensorLoader): the uint8 images are moved to the
device once, each batch is gathered by index from a per-epoch permutation and only
then converted to float/255, and evaluation uses large batches (2048 on a GPU), since in
eval mode the batch size changes nothing but the speed.

Otherwise it is d2l's trainer: Xavier init, SGD, cross-entropy, an animated plot and the
same two lines at the end. It also returns a `History`, survives Ctrl-C (returning what
it has), and turns a CUDA out-of-memory error into advice.
"""
from __future__ import annotations

import contextlib
import math
import numbers
from typing import Any, Callable, Iterable, Iterator, Optional

import torch
from torch import nn

from d2l_bn.devices import describe_device, try_gpu
# Re-exported: d2l's readers find Timer, Accumulator and accuracy next to train_ch6.
from d2l_bn.metrics import Accumulator, History, Timer, accuracy, count_correct  # noqa: F401
from d2l_bn.plotting import Animator

__all__ = ['Accumulator', 'History', 'Timer', 'accuracy', 'count_correct', 'cosine_schedule',
           'evaluate_accuracy_gpu', 'train_ch6']

# Evaluation batch size for the in-memory path. Big batches keep a GPU busy; on a CPU,
# LeNet evaluates ~2x faster in batches of 256-512 than of 2048 (measured: cache-bound).
EVAL_BATCH_SIZE = {'cuda': 2048, 'cpu': 512}
PLOTS_PER_EPOCH = 5  # as d2l: the training curves get 5 points per epoch
_OutOfMemoryError = getattr(torch, 'OutOfMemoryError', torch.cuda.OutOfMemoryError)
Batches = Iterable[tuple[torch.Tensor, torch.Tensor]]


class _DeviceData:
    """An in-memory loader's images and labels, resident on the device, batched by index."""

    def __init__(self, loader: Any, device: torch.device):
        images = loader.images if loader.images.dim() == 4 else loader.images.unsqueeze(1)
        async_copy = device.type == 'cuda'  # only host->GPU copies may overlap safely
        self.images = images.to(device, non_blocking=async_copy)  # uint8: a quarter of float32's memory
        self.labels = loader.labels.to(device=device, dtype=torch.int64, non_blocking=async_copy)

    def batches(self, batch_size: int, order: Optional[torch.Tensor] = None,
                drop_last: bool = False) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.labels)
        stop = n - n % batch_size if drop_last else n
        for start in range(0, stop, batch_size):
            if order is None:  # slices are views: nothing is copied but the float batch
                X, y = self.images[start:start + batch_size], self.labels[start:start + batch_size]
            else:  # index_select: ~3x faster than X[idx] on the CPU (measured)
                idx = order[start:start + batch_size]
                X, y = self.images.index_select(0, idx), self.labels.index_select(0, idx)
            # torch.div(uint8, 255) is float32 in one kernel, bit-identical to ToTensor's float().div(255)
            yield (torch.div(X, 255) if X.dtype == torch.uint8 else X.float()), y


def _is_in_memory(loader: Any) -> bool:
    """Duck typing for the fast path; a loader that resizes on the fly must be iterated instead."""
    return (torch.is_tensor(getattr(loader, 'images', None))
            and torch.is_tensor(getattr(loader, 'labels', None))
            and isinstance(getattr(loader, 'batch_size', None), int)
            and not getattr(loader, 'resize', None))


def _shuffle_generator(loader: Any, seed: Optional[int]) -> torch.Generator:
    """Where each epoch's permutation comes from.

    The loader's public `generator` if it has one: then batching it here gives exactly
    the batches that iterating it would. Otherwise a fresh generator seeded with `seed`,
    else with the loader's `seed`, else from torch's global RNG (so torch.manual_seed
    still makes the run reproducible); with a fixed seed every call sees the same order.
    """
    generator = getattr(loader, 'generator', None)
    if isinstance(generator, torch.Generator):
        return generator
    if seed is None:
        seed = getattr(loader, 'seed', None)
    if not isinstance(seed, int):
        seed = int(torch.randint(2 ** 62, ()).item())
    return torch.Generator().manual_seed(seed)


def _moved(loader: Batches, device: torch.device) -> Batches:
    """Any loader's batches on `device`; async only host->GPU (a GPU->host copy could be read too early)."""
    async_copy = device.type == 'cuda'
    return ((X.to(device, non_blocking=async_copy), y.to(device, non_blocking=async_copy)) for X, y in loader)


def _train_batches(loader: Any, data: Optional[_DeviceData], device: torch.device,
                   generator: Optional[torch.Generator]) -> Batches:
    if data is None:
        return _moved(loader, device)
    order = None
    if getattr(loader, 'shuffle', False):
        order = torch.randperm(len(data.labels), generator=generator, device=generator.device)
        order = order.to(device, non_blocking=device.type == 'cuda')
    return data.batches(loader.batch_size, order, drop_last=getattr(loader, 'drop_last', False))


def _eval_batches(loader: Any, data: Optional[_DeviceData], device: torch.device) -> Batches:
    if data is None:
        return _moved(loader, device)
    return data.batches(max(EVAL_BATCH_SIZE.get(device.type, 512), loader.batch_size))


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


def _accuracy_of(net: Any, batches: Batches, device: torch.device) -> float:
    correct, n = torch.zeros((), dtype=torch.int64, device=device), 0
    with _eval_mode(net), torch.no_grad():
        for X, y in batches:
            correct += count_correct(net(X), y)
            n += y.shape[0]
    if n == 0:
        raise ValueError('the data iterator yielded no examples; pass a non-empty test set')
    return correct.item() / n  # the only host sync of the evaluation


def _model_device(net: Any) -> torch.device:
    if isinstance(net, nn.Module):
        for tensor in net.parameters():
            return tensor.device
    return torch.device('cpu')


def evaluate_accuracy_gpu(net, data_iter, device=None) -> float:
    """Compute the accuracy for a model on a dataset using a GPU (eval mode, no grad; mode restored)."""
    device = _model_device(net) if device is None else torch.device(device)
    data = _DeviceData(data_iter, device) if _is_in_memory(data_iter) else None
    return _accuracy_of(net, _eval_batches(data_iter, data, device), device)


def _check_args(num_epochs: Any, lr: Any) -> None:
    if isinstance(num_epochs, bool) or not isinstance(num_epochs, numbers.Integral) or num_epochs < 1:
        raise ValueError(f'num_epochs must be a whole number >= 1, got {num_epochs!r}; '
                         f'e.g. train_ch6(net, train_iter, test_iter, num_epochs=10, lr=0.9)')
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not math.isfinite(lr) or lr <= 0:
        raise ValueError(f'lr must be a positive finite number, got {lr!r}; '
                         f'd2l uses lr=0.9 for LeNet and lr=1.0 for LeNet with batch norm')


def cosine_schedule(progress: float) -> float:
    """Learning-rate factor that falls from 1 to 0 along half a cosine as training goes from start to end.

    For `train_ch6(..., lr_schedule=cosine_schedule)`: at a constant lr the last epoch's weights are
    one noisy SGD sample; letting the step shrink to zero lets them settle (Loshchilov & Hutter, 2017).
    """
    return 0.5 * (1.0 + math.cos(math.pi * progress))


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
    lr * f(...), e.g. `cosine_schedule`. Ctrl-C stops cleanly and returns the epochs done.
    """
    _check_args(num_epochs, lr)
    _check_schedule(lr_schedule)
    device = try_gpu() if device is None else torch.device(device)
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
    # d2l's x range [1, num_epochs]; a single epoch gets [0, 1] (matplotlib warns on an empty range)
    animator = Animator(xlabel='epoch', xlim=[1, num_epochs] if num_epochs > 1 else [0, 1],
                        legend=['train loss', 'train acc', 'test acc']) if animate else None
    history = History(device=str(device), figure=animator.fig if animator else None)
    train_data = _DeviceData(train_iter, device) if _is_in_memory(train_iter) else None
    test_data = _DeviceData(test_iter, device) if _is_in_memory(test_iter) else None
    generator = _shuffle_generator(train_iter, seed) if train_data is not None else None
    num_batches = len(train_iter) if hasattr(train_iter, '__len__') else None
    plot_at = _plot_points(num_batches)
    epoch, batch, n, n_trained, bar = 0, 0, 0, 0, None

    def read(loss_sum, correct):  # one host sync for both numbers
        total_loss, total_correct = torch.stack([loss_sum, correct.to(loss_sum.dtype)]).tolist()
        return total_loss / n, total_correct / n

    try:
        for epoch in range(num_epochs):
            net.train()
            loss_sum = torch.zeros((), device=device)
            correct = torch.zeros((), dtype=torch.int64, device=device)
            n, batch = 0, 0
            bar = _progress_bar(progress, epoch + 1, num_epochs, num_batches)
            timer.start()
            timing = True
            for batch, (X, y) in enumerate(_train_batches(train_iter, train_data, device, generator), 1):
                if lr_schedule is not None:  # a plain float per step: no tensor, no sync
                    done = (epoch + (batch - 1) / num_batches) / num_epochs if num_batches else epoch / num_epochs
                    for group in optimizer.param_groups:
                        group['lr'] = lr * lr_schedule(done)
                optimizer.zero_grad(set_to_none=True)
                y_hat = net(X)
                l = loss(y_hat, y)
                l.backward()
                optimizer.step()
                with torch.no_grad():
                    loss_sum += l.detach() * y.shape[0]
                    correct += count_correct(y_hat, y)
                n += y.shape[0]
                if bar is not None:
                    bar.update()
                if batch in plot_at:
                    train_l, train_acc = read(loss_sum, correct)
                    timer.stop()
                    timing = False
                    if animator is not None:
                        animator.add(epoch + batch / num_batches, (train_l, train_acc, None))
                    if bar is not None:
                        bar.set_postfix(loss=f'{train_l:.3f}', train_acc=f'{train_acc:.3f}')
                    timer.start()
                    timing = True
            if n == 0:
                raise ValueError('train_iter yielded no batches; pass a non-empty training set')
            train_l, train_acc = read(loss_sum, correct)  # also waits for the epoch's last kernels
            timer.stop()
            timing = False
            n_trained, n = n_trained + n, 0
            test_acc = _accuracy_of(net, _eval_batches(test_iter, test_data, device), device)
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
