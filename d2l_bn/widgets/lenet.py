"""Retrain LeNet with batch norm live: does the accuracy care about the batch size and BN's momentum?

Chapter 5's question, asked of the real network rather than a toy: two sliders, the minibatch size and the
momentum of every BN layer (PyTorch's meaning: the weight of the NEW batch in the running averages), and each
change retrains d2l's BN-LeNet (sigmoid, average pooling, nn.BatchNorm, SGD with lr 1.0, Xavier init) from
several seeds. Two things to discover:

* momentum only matters at TEST time: training normalises with batch statistics whatever the momentum, so the
  training loss curves coincide, while the accuracy in eval mode (running statistics) collapses at momentum 0
  -- the running averages never leave their start (mean 0, variance 1);
* the batch size changes both the number of SGD steps per epoch and the noise in the batch statistics; on the
  short CPU budget the steps win (small batches end higher, batch 1024 far below).

A short run is noisy: on the CPU budget, seed-to-seed differences at one setting are about as large as the
effect of a small change of the batch size. So each setting is trained from ``num_seeds`` seeds (3 by default;
initial weights and shuffling differ), and the picture and readout show every seed's accuracy, not one number.
Accuracy is measured on validation images carved from the training set (``d2l_bn.data.validation_split``):
comparing settings is choosing, and the course never chooses on the test set.

On a GPU each run uses all 50,000 training images left after the split (a budget not measured yet: no session
had a GPU); on a CPU 2,000 images, about 3 s of CPU time per setting for the three seeds on the 2-core CI machine
(``benchmarks/widgets.py``; fewer images left batch 256 untrained for some seeds). An ``ipywidgets.IntProgress``
bar counts the minibatches while a setting trains. Every setting's accuracies are kept in a comparison table (drawn
beside the curves and listed in ``explorer.runs``); returning to a setting reuses its result, since the same seeds
give the same runs.
"""
from __future__ import annotations

import copy
import time
from typing import Any, Optional

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from d2l_bn.devices import try_gpu
from d2l_bn.models import init_xavier, lenet_bn
from d2l_bn.optim import sgd
from d2l_bn.widgets.base import Explorer
from d2l_bn.widgets.controls import PassThroughFloatSlider, PassThroughIntSlider, one_thread

__all__ = ['LeNetExplorer', 'default_budget']

EVAL_BATCH_SIZE = 500     # larger batches ran slower per image on the CPU (cache)


def default_budget(device: torch.device) -> dict[str, int]:
    """How much to train per seed: all training images on a GPU, about 1 s of CPU time per seed on a CPU."""
    if device.type == 'cuda':
        return {'num_train': 50_000, 'num_val': 10_000, 'num_epochs': 3}
    return {'num_train': 2_000, 'num_val': 1_000, 'num_epochs': 3}


class LeNetExplorer(Explorer):
    """Two sliders (batch size, BN momentum); each change retrains BN-LeNet from several seeds.

    ``data`` holds ``batch_size``, ``momentum``, ``seeds``, ``epochs`` (1..E), per seed and epoch
    ``train_loss_per_seed`` and ``train_acc_per_seed`` (training mode, lists of lists), ``final_val_acc`` (the
    validation accuracy after the last epoch, eval mode, one per seed) and its mean ``mean_val_acc``,
    ``running_mean_first`` and ``running_var_first`` (the first BN layer's running statistics
    after training the first seed), ``seconds``, ``num_train``, ``num_val``, ``device``, ``cached`` (True when
    the result was reused) and ``runs`` (one dict per setting tried: batch_size, momentum, val_accs, mean_val_acc,
    seconds).

    data: optional ``(train_images, train_labels, val_images, val_labels)``, uint8 images (N, 1, 28, 28) or
    (N, 28, 28) and int64 labels; by default the Fashion-MNIST subsets of `default_budget`, the validation
    images from ``validation_split`` of the training set.
    """

    trains = True

    def __init__(self, batch_size: int = 256, momentum: float = 0.1, *, lr: float = 1.0,
                 num_epochs: Optional[int] = None, num_train: Optional[int] = None,
                 num_val: Optional[int] = None, num_seeds: int = 3, data: Optional[tuple[torch.Tensor, ...]] = None,
                 device: Optional[torch.device] = None, seed: int = 0) -> None:
        self.device = try_gpu() if device is None else torch.device(device)
        budget = default_budget(self.device)
        self.num_epochs = budget['num_epochs'] if num_epochs is None else num_epochs
        if self.num_epochs < 1:
            raise ValueError(f'num_epochs must be >= 1, got {num_epochs}')
        if not lr > 0:
            raise ValueError(f'lr must be positive, got {lr}; the book trains BN-LeNet with lr=1.0')
        if num_seeds < 1:
            raise ValueError(f'num_seeds must be >= 1, got {num_seeds}; 3 show how much one run is luck')
        self.lr, self.seeds = lr, [seed + k for k in range(num_seeds)]
        if data is None:
            from d2l_bn.data import fashion_mnist_tensors, validation_split
            (train_x, train_y), (val_x, val_y) = validation_split(*fashion_mnist_tensors(train=True))
        else:
            train_x, train_y, val_x, val_y = data
        n_train = budget['num_train'] if num_train is None else num_train
        n_val = budget['num_val'] if num_val is None else num_val
        # The first n of each split: a fixed subset, so every run sees the same examples. Kept as uint8 on the
        # device (a quarter of float32's memory); converted to [0, 1] floats per batch.
        self.train_x, self.train_y = self._prepare(train_x[:n_train], train_y[:n_train])
        self.val_x, self.val_y = self._prepare(val_x[:n_val], val_y[:n_val])
        # Initial weights, one set per seed, drawn once here under a private seed: the runs (which may train in
        # a background thread) never touch the global random generator the notebook is using.
        self._initial_nets = []
        with torch.random.fork_rng(devices=[]):
            for s in self.seeds:
                torch.manual_seed(s)
                net = lenet_bn()
                net.apply(init_xavier)
                self._initial_nets.append(net)
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
        super().__init__({'batch_size': batch_slider, 'momentum': momentum_slider}, figsize=(10.0, 3.4))
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

    # --- the explorer's methods ---------------------------------------------------------------------------
    def validate(self, batch_size: int, momentum: float) -> None:
        n = len(self.train_y)
        if not 2 <= batch_size <= n:
            raise ValueError(f'batch size must be a whole number from 2 to {n} (the training examples used), got '
                             f'{batch_size!r}: batch norm needs at least two examples to compute a variance')
        if not 0.0 <= momentum <= 1.0:   # also refuses nan
            raise ValueError(f'momentum must be in [0, 1], got {momentum!r}: it is the weight of the newest '
                             f"batch in BN's running averages (PyTorch's default 0.1)")

    def compute(self, batch_size: int, momentum: float) -> dict[str, Any]:
        key = (int(batch_size), round(float(momentum), 6))
        if key in self._results:
            return dict(self._results[key], cached=True, runs=list(self.runs))
        result = self._train_seeds(*key)
        self.check_superseded()          # finished, but a newer setting is waiting: keep it out of the table
        self._results[key] = result
        self.runs = [r for r in self.runs if (r['batch_size'], r['momentum']) != key]
        self.runs.append({'batch_size': key[0], 'momentum': key[1], 'val_accs': result['final_val_acc'],
                          'mean_val_acc': result['mean_val_acc'], 'seconds': result['seconds']})
        return dict(result, cached=False, runs=list(self.runs))

    def draw(self, figure: Figure, data: dict[str, Any]) -> None:
        figure.clear()   # cheap next to the training run; the table grows with every setting
        curves, table = figure.subplots(1, 2, gridspec_kw={'width_ratios': [1.2, 1], 'wspace': 0.5})
        epochs = data['epochs']
        for k, (loss, acc) in enumerate(zip(data['train_loss_per_seed'], data['train_acc_per_seed'])):
            first = k == 0
            curves.plot(epochs, loss, '-', color='C0', alpha=0.6, label='train loss' if first else None)
            curves.plot(epochs, acc, '--', color='m', alpha=0.6, label='train acc' if first else None)
        # eval mode, once per seed after the last epoch: the number the table compares
        curves.plot([epochs[-1]] * len(data['final_val_acc']), data['final_val_acc'], 'o', color='C2',
                    label='validation acc')
        curves.set_xlabel('epoch (one line per seed)', fontsize=10)
        curves.set_xlim(0.9, max(2, len(epochs)) + 0.1)
        curves.set_xticks(epochs if len(epochs) <= 10 else epochs[::2])
        curves.set_ylim(0, max(1.0, max(max(loss) for loss in data['train_loss_per_seed']) * 1.05))
        curves.grid(True, alpha=0.3)
        curves.legend(fontsize=9, loc='upper right')   # 'best' searches: slow
        curves.tick_params(labelsize=9)
        curves.set_title(f"batch {data['batch_size']}, momentum {data['momentum']:.2f}", fontsize=10)

        runs = data['runs']
        labels = [f"B={r['batch_size']}, m={r['momentum']:.2f}" for r in runs]
        current = [(r['batch_size'], r['momentum']) == (data['batch_size'], data['momentum']) for r in runs]
        positions = [-i for i in range(len(runs))]         # the first run on top
        table.barh(positions, [r['mean_val_acc'] for r in runs], color=['C2' if c else 'C7' for c in current],
                   height=0.6, alpha=0.5)
        for y, r in zip(positions, runs):                 # every seed is a dot: the spread is in sight
            table.plot(r['val_accs'], [y] * len(r['val_accs']), 'k|', markersize=12)
            table.text(min(max(r['val_accs']), 1.0) + 0.02, y, f"{r['mean_val_acc']:.2f}", va='center', fontsize=9)
        table.set_ylim(0.6 - max(len(runs), 5), 0.6)      # bars keep their thickness as runs are added
        table.set_yticks(positions, labels, fontsize=9)
        table.set_xlim(0, 1.15)
        table.tick_params(axis='x', labelsize=9)
        table.set_xlabel('validation accuracy (| one seed, bar: mean)', fontsize=10)
        table.set_title('settings so far (current in green)', fontsize=10)
        figure.subplots_adjust(left=0.06, right=0.98, bottom=0.17, top=0.9)

    def describe(self, data: dict[str, Any]) -> str:
        accs = ', '.join(f'{a:.2f}' for a in data['final_val_acc'])
        best = max(data['runs'], key=lambda r: r['mean_val_acc'])
        return (f"batch {data['batch_size']}, momentum {data['momentum']:.2f}: validation acc "
                f"{data['mean_val_acc']:.2f} (seeds: {accs}) after {len(data['epochs'])} epoch(s) on "
                f"{data['num_train']} examples ({data['device']}){' [reused]' if data['cached'] else ''}; "
                f"{len(data['runs'])} setting(s) so far, best mean {best['mean_val_acc']:.2f} "
                f"(batch {best['batch_size']}, momentum {best['momentum']:.2f})")

    # --- the training runs --------------------------------------------------------------------------------
    def _train_seeds(self, batch_size: int, momentum: float) -> dict[str, Any]:
        start = time.perf_counter()
        n = len(self.train_y)
        # Drop a last batch of one example: BN cannot compute a variance from it (and would raise).
        steps = n // batch_size + (1 if n % batch_size >= 2 else 0)
        self.progress.max, self.progress.value = steps * self.num_epochs * len(self.seeds), 0
        # Each change of the bar is a message to the browser: ~100 per setting, not one per step.
        self._progress_every = max(1, self.progress.max // 100)
        runs = [self._train(initial, seed, batch_size, momentum, steps)
                for initial, seed in zip(self._initial_nets, self.seeds)]
        final = [val_acc for _, val_acc, _ in runs]
        first_bn = next(m for m in runs[0][2].modules() if isinstance(m, nn.BatchNorm2d))
        return {
            'batch_size': batch_size, 'momentum': momentum, 'seeds': list(self.seeds),
            'epochs': list(range(1, self.num_epochs + 1)),
            'train_loss_per_seed': [h[0] for h, _, _ in runs], 'train_acc_per_seed': [h[1] for h, _, _ in runs],
            'final_val_acc': final, 'mean_val_acc': float(np.mean(final)),
            'running_mean_first': first_bn.running_mean.cpu().numpy(),
            'running_var_first': first_bn.running_var.cpu().numpy(),
            'seconds': time.perf_counter() - start,
            'num_train': n, 'num_val': len(self.val_y), 'device': str(self.device),
        }

    def _train(self, initial: nn.Module, seed: int, batch_size: int, momentum: float,
               steps: int) -> tuple[tuple[list[float], list[float]], float, nn.Module]:
        """One seed: ((train losses, train accuracies) per epoch, the final validation accuracy, the net)."""
        n = len(self.train_y)
        # CPU: one thread, LeNet's operations are too small to share between cores (see controls.one_thread).
        # GPU: deterministic cuDNN, so that two runs differing only in BN's momentum train identically.
        settings = (one_thread() if self.device.type == 'cpu'
                    else torch.backends.cudnn.flags(enabled=True, benchmark=False, deterministic=True))
        with settings:
            net = copy.deepcopy(initial)                  # no random numbers drawn here (see __init__)
            for module in net.modules():
                if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
                    module.momentum = momentum
            net.to(self.device)
            generator = torch.Generator().manual_seed(seed)
            history = [], []
            for _ in range(self.num_epochs):
                loss_sum, correct = self._train_epoch(net, batch_size, steps, generator)
                # one host sync per epoch for the two training numbers
                loss_total, correct_total = torch.stack([loss_sum, correct.to(loss_sum.dtype)]).tolist()
                seen = min(steps * batch_size, n)
                history[0].append(loss_total / seen)
                history[1].append(correct_total / seen)
            val_acc = self._val_accuracy(net)
        return history, val_acc, net

    def _train_epoch(self, net: nn.Module, batch_size: int, steps: int,
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
            loss.backward()
            # The course's sgd (chapter 02) on the MEAN loss, hence batch_size=1. (torch.optim.SGD computes the
            # same step, but creating the first one imports torch._dynamo: a second of a learner's first wait.)
            sgd(net.parameters(), self.lr, 1)
            with torch.no_grad():  # summed on the device: no per-batch host sync
                loss_sum += loss.detach() * len(y)
                correct += (y_hat.argmax(dim=1) == y).sum()
            if (step + 1) % self._progress_every == 0:
                self.progress.value += self._progress_every
                self.check_superseded()       # a newer slider position stops this run here
        self.progress.value += steps % self._progress_every      # the epoch's remainder
        return loss_sum, correct

    def _val_accuracy(self, net: nn.Module) -> float:
        net.eval()  # running statistics: this is where momentum shows
        correct = torch.zeros((), dtype=torch.int64, device=self.device)
        with torch.no_grad():
            for start in range(0, len(self.val_y), EVAL_BATCH_SIZE):
                X = self.val_x[start:start + EVAL_BATCH_SIZE].float().div_(255)
                correct += (net(X).argmax(dim=1) == self.val_y[start:start + EVAL_BATCH_SIZE]).sum()
        return correct.item() / len(self.val_y)
