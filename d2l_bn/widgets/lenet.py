"""Retrain LeNet with batch norm live: does the test accuracy care about the batch size and BN's momentum?

Chapter 5's question, asked of the real network rather than a toy: two sliders, the minibatch size and the
momentum of every BN layer (PyTorch's meaning: the weight of the NEW batch in the running averages), and each
change retrains d2l's BN-LeNet (sigmoid, average pooling, nn.BatchNorm, SGD with lr 1.0, Xavier init) from the
same seed. Two things to discover:

* momentum only matters at TEST time: training normalises with batch statistics whatever the momentum, so the
  training loss curves coincide, while the test accuracy (eval mode: running statistics) collapses at
  momentum 0 -- the running averages never leave their start (mean 0, variance 1);
* the batch size changes both the number of SGD steps per epoch and the noise in the batch statistics; on the
  short CPU budget the steps win (batch 64 ends well above batch 256, batch 1024 far below).

On a GPU each run uses the full training set (60,000 examples, 10 epochs: seconds); on a CPU a subset sized to
answer in a few seconds. An ``ipywidgets.IntProgress`` bar counts the minibatches while a run trains. Every
run's test accuracy is kept, by setting, in a small comparison table (drawn beside the curves and listed in
``explorer.runs``); returning to a setting reuses its result, since the same seed gives the same run.
"""
from __future__ import annotations

import time
from typing import Any, Optional

import ipywidgets as widgets
import torch
from matplotlib.figure import Figure
from torch import nn

from d2l_bn.devices import try_gpu
from d2l_bn.models import init_xavier, lenet_bn
from d2l_bn.widgets.base import Explorer
from d2l_bn.widgets.controls import PassThroughFloatSlider, PassThroughIntSlider, one_thread

__all__ = ['LeNetExplorer', 'default_budget']

EVAL_BATCH_SIZE = 2048


def default_budget(device: torch.device) -> dict[str, int]:
    """How much to train per run: the book's full recipe on a GPU, a few seconds' worth on a CPU."""
    if device.type == 'cuda':
        return {'num_train': 60_000, 'num_test': 10_000, 'num_epochs': 10}
    return {'num_train': 6_000, 'num_test': 2_000, 'num_epochs': 3}


class LeNetExplorer(Explorer):
    """Two sliders (batch size, BN momentum); each change retrains BN-LeNet and adds a row to the table.

    ``data`` holds ``batch_size``, ``momentum``, ``epochs`` (1..E), ``train_loss`` and ``train_acc`` (per
    epoch, training mode), ``test_acc`` (per epoch, eval mode), ``final_test_acc``, ``running_mean_first`` and
    ``running_var_first`` (the first BN layer's running statistics after training), ``seconds``,
    ``num_train``, ``num_test``, ``device``, ``cached`` (True when the result was reused) and ``runs`` (a
    list of dicts, one per setting tried: batch_size, momentum, test_acc, seconds).

    data: optional ``(train_images, train_labels, test_images, test_labels)``, uint8 images (N, 1, 28, 28) or
    (N, 28, 28) and int64 labels; by default the Fashion-MNIST subsets of `default_budget`.
    """

    def __init__(self, batch_size: int = 256, momentum: float = 0.1, *, lr: float = 1.0,
                 num_epochs: Optional[int] = None, num_train: Optional[int] = None,
                 num_test: Optional[int] = None, data: Optional[tuple[torch.Tensor, ...]] = None,
                 device: Optional[torch.device] = None, seed: int = 0) -> None:
        self.device = try_gpu() if device is None else torch.device(device)
        budget = default_budget(self.device)
        self.num_epochs = budget['num_epochs'] if num_epochs is None else num_epochs
        if self.num_epochs < 1:
            raise ValueError(f'num_epochs must be >= 1, got {num_epochs}')
        if not lr > 0:
            raise ValueError(f'lr must be positive, got {lr}; the book trains BN-LeNet with lr=1.0')
        self.lr, self.seed = lr, seed
        if data is None:
            from d2l_bn.data import fashion_mnist_tensors
            data = (*fashion_mnist_tensors(train=True), *fashion_mnist_tensors(train=False))
        train_x, train_y, test_x, test_y = data
        n_train = budget['num_train'] if num_train is None else num_train
        n_test = budget['num_test'] if num_test is None else num_test
        # The first n of each split: a fixed subset, so every run sees the same examples. Kept as uint8 on the
        # device (a quarter of float32's memory); converted to [0, 1] floats per batch.
        self.train_x, self.train_y = self._prepare(train_x[:n_train], train_y[:n_train])
        self.test_x, self.test_y = self._prepare(test_x[:n_test], test_y[:n_test])
        self.runs: list[dict[str, Any]] = []
        self._results: dict[tuple[int, float], dict[str, Any]] = {}
        self.progress = widgets.IntProgress(value=0, min=0, max=1, description='training',
                                            style={'description_width': 'initial'},
                                            layout=widgets.Layout(width='360px'))
        batch_slider = PassThroughIntSlider(
            value=batch_size, min=8, max=1024, step=8, description='batch size', continuous_update=False,
            style={'description_width': 'initial'}, layout=widgets.Layout(width='360px'))
        momentum_slider = PassThroughFloatSlider(
            value=momentum, min=0.0, max=1.0, step=0.05, description='BN momentum', readout_format='.2f',
            continuous_update=False, style={'description_width': 'initial'}, layout=widgets.Layout(width='360px'))
        super().__init__({'batch_size': batch_slider, 'momentum': momentum_slider}, figsize=(9.0, 2.8))
        self.widget = widgets.VBox([widgets.HBox(list(self.controls.values())), self.progress,
                                    self.image, self.readout])

    def _prepare(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if images.dim() == 3:
            images = images.unsqueeze(1)
        if images.dtype != torch.uint8 or images.shape[1:] != (1, 28, 28) or len(images) != len(labels):
            raise ValueError('data must hold uint8 images (N, 1, 28, 28) or (N, 28, 28) with one label each')
        if len(images) < 2:
            raise ValueError(f'need at least 2 examples per split, got {len(images)}')
        return images.to(self.device), labels.to(self.device, torch.int64)

    # --- the explorer's three methods ---------------------------------------------------------------------
    def compute(self, batch_size: int, momentum: float) -> dict[str, Any]:
        n = len(self.train_y)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 2 <= batch_size <= n:
            raise ValueError(f'batch size must be a whole number from 2 to {n} (the training examples used), got '
                             f'{batch_size!r}: batch norm needs at least two examples to compute a variance')
        if not isinstance(momentum, (int, float)) or not 0.0 <= momentum <= 1.0:   # also refuses nan
            raise ValueError(f'momentum must be in [0, 1], got {momentum!r}: it is the weight of the newest '
                             f"batch in BN's running averages (PyTorch's default 0.1)")
        key = (int(batch_size), round(float(momentum), 6))
        if key in self._results:
            return dict(self._results[key], cached=True, runs=list(self.runs))
        result = self._train(*key)
        self._results[key] = result
        self.runs = [r for r in self.runs if (r['batch_size'], r['momentum']) != key]
        self.runs.append({'batch_size': key[0], 'momentum': key[1], 'test_acc': result['final_test_acc'],
                          'seconds': result['seconds']})
        return dict(result, cached=False, runs=list(self.runs))

    def draw(self, figure: Figure, data: dict[str, Any]) -> None:
        curves, table = figure.subplots(1, 2, gridspec_kw={'width_ratios': [1.3, 1], 'wspace': 0.45})
        epochs = data['epochs']
        curves.plot(epochs, data['train_loss'], '-', label='train loss')
        curves.plot(epochs, data['train_acc'], 'm--', label='train acc')
        curves.plot(epochs, data['test_acc'], 'g-.', label='test acc')
        curves.set_xlabel('epoch')
        curves.set_xlim(1, max(2, len(epochs)))
        curves.set_xticks(epochs if len(epochs) <= 10 else epochs[::2])
        curves.set_ylim(0, max(1.0, max(data['train_loss']) * 1.05))
        curves.grid(True, alpha=0.3)
        curves.legend(fontsize=8, loc='best')
        curves.set_title(f"batch {data['batch_size']}, momentum {data['momentum']:.2f}", fontsize=9)

        runs = data['runs']
        labels = [f"B={r['batch_size']}, m={r['momentum']:.2f}" for r in runs]
        current = [(r['batch_size'], r['momentum']) == (data['batch_size'], data['momentum']) for r in runs]
        colors = ['C2' if c else 'C7' for c in current]
        positions = [-i for i in range(len(runs))]         # the first run on top
        table.barh(positions, [r['test_acc'] for r in runs], color=colors, height=0.6)
        table.set_ylim(0.6 - max(len(runs), 5), 0.6)      # bars keep their thickness as runs are added
        for y, r in zip(positions, runs):
            table.text(min(r['test_acc'], 1.0) + 0.01, y, f"{r['test_acc']:.3f}", va='center', fontsize=7)
        table.set_yticks(positions, labels, fontsize=7)
        table.set_xlim(0, 1.15)
        table.set_xlabel('final test accuracy')
        table.set_title('runs so far (current in green)', fontsize=9)
        figure.subplots_adjust(left=0.07, right=0.98, bottom=0.17, top=0.88)

    def describe(self, data: dict[str, Any]) -> str:
        best = max(data['runs'], key=lambda r: r['test_acc'])
        return (f"batch {data['batch_size']}, momentum {data['momentum']:.2f}: test acc "
                f"{data['final_test_acc']:.3f} after {len(data['epochs'])} epoch(s) on {data['num_train']} "
                f"examples ({data['device']}){' [reused]' if data['cached'] else ''}; "
                f"{len(data['runs'])} run(s) so far, best {best['test_acc']:.3f} "
                f"(batch {best['batch_size']}, momentum {best['momentum']:.2f})")

    # --- the training run ---------------------------------------------------------------------------------
    def _train(self, batch_size: int, momentum: float) -> dict[str, Any]:
        start = time.perf_counter()
        n = len(self.train_y)
        # Drop a last batch of one example: BN cannot compute a variance from it (and would raise).
        steps = n // batch_size + (1 if n % batch_size >= 2 else 0)
        self.progress.max, self.progress.value = steps * self.num_epochs, 0
        # Each change of the bar is a message to the browser: ~100 per run, not one per step (2,350 on a GPU).
        self._progress_every = max(1, self.progress.max // 100)
        rng = torch.random.fork_rng(devices=[self.device] if self.device.type == 'cuda' else [])
        # CPU: one thread, LeNet's operations are too small to share between cores (see controls.one_thread).
        # GPU: deterministic cuDNN, so that two runs differing only in BN's momentum train identically.
        settings = (one_thread() if self.device.type == 'cpu'
                    else torch.backends.cudnn.flags(enabled=True, benchmark=False, deterministic=True))
        with rng, settings:
            torch.manual_seed(self.seed)  # a private stream: the notebook's random numbers are untouched
            net = lenet_bn()
            for module in net.modules():
                if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
                    module.momentum = momentum
            net.apply(init_xavier)
            net.to(self.device)
            optimizer = torch.optim.SGD(net.parameters(), lr=self.lr)
            generator = torch.Generator().manual_seed(self.seed)
            history = [], [], []
            for _ in range(self.num_epochs):
                loss_sum, correct = self._train_epoch(net, optimizer, batch_size, steps, generator)
                # one host sync per epoch for the two training numbers
                loss_total, correct_total = torch.stack([loss_sum, correct.to(loss_sum.dtype)]).tolist()
                seen = min(steps * batch_size, n)
                history[0].append(loss_total / seen)
                history[1].append(correct_total / seen)
                history[2].append(self._test_accuracy(net))
        first_bn = next(m for m in net.modules() if isinstance(m, nn.BatchNorm2d))
        return {
            'batch_size': batch_size, 'momentum': momentum,
            'epochs': list(range(1, self.num_epochs + 1)),
            'train_loss': history[0], 'train_acc': history[1], 'test_acc': history[2],
            'final_test_acc': history[2][-1],
            'running_mean_first': first_bn.running_mean.cpu().numpy(),
            'running_var_first': first_bn.running_var.cpu().numpy(),
            'seconds': time.perf_counter() - start,
            'num_train': n, 'num_test': len(self.test_y), 'device': str(self.device),
        }

    def _train_epoch(self, net: nn.Module, optimizer: torch.optim.Optimizer, batch_size: int, steps: int,
                     generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        net.train()
        order = torch.randperm(len(self.train_y), generator=generator).to(self.device)
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), dtype=torch.int64, device=self.device)
        for step in range(steps):
            idx = order[step * batch_size:(step + 1) * batch_size]
            X, y = self.train_x[idx].float().div_(255), self.train_y[idx]
            y_hat = net(X)
            loss = nn.functional.cross_entropy(y_hat, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            with torch.no_grad():  # summed on the device: no per-batch host sync
                loss_sum += loss.detach() * len(y)
                correct += (y_hat.argmax(dim=1) == y).sum()
            if (step + 1) % self._progress_every == 0:
                self.progress.value += self._progress_every
        self.progress.value += steps % self._progress_every      # the epoch's remainder
        return loss_sum, correct

    def _test_accuracy(self, net: nn.Module) -> float:
        net.eval()  # running statistics: this is where momentum shows
        correct = torch.zeros((), dtype=torch.int64, device=self.device)
        with torch.no_grad():
            for start in range(0, len(self.test_y), EVAL_BATCH_SIZE):
                X = self.test_x[start:start + EVAL_BATCH_SIZE].float().div_(255)
                correct += (net(X).argmax(dim=1) == self.test_y[start:start + EVAL_BATCH_SIZE]).sum()
        return correct.item() / len(self.test_y)
