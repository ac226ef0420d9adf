"""Spec for d2l_bn.metrics / d2l_bn.training: d2l's trainer, minus the host syncs, plus Ctrl-C and OOM care.

Everything runs on tiny synthetic data (a few hundred 1x28x28 noise images whose class is
which quadrant is bright), so the tests do not need Fashion-MNIST or d2l_bn.data.
"""
from __future__ import annotations

import math
import re

import matplotlib

matplotlib.use('Agg')

import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from d2l_bn import metrics, training  # noqa: E402
from d2l_bn.metrics import Accumulator, Timer, accuracy, count_correct  # noqa: E402
from d2l_bn.training import History, cosine_schedule, evaluate_accuracy_gpu, train_ch6  # noqa: E402
from synthetic_data import NUM_CLASSES, bright_quadrant_images  # noqa: E402



class InMemoryLoader:
    """The duck type train_ch6 recognises (like d2l_bn.data.TensorLoader), written out for the test."""

    def __init__(self, images, labels, batch_size, shuffle=False, seed=0, iterable=True):
        self.images, self.labels, self.batch_size, self.shuffle = images, labels, batch_size, shuffle
        self.generator = torch.Generator().manual_seed(seed)
        self.iterations = 0
        self.iterable = iterable

    def __len__(self):
        return math.ceil(len(self.labels) / self.batch_size)

    def __iter__(self):
        assert self.iterable, 'the fast path should batch .images itself, not iterate the loader'
        self.iterations += 1
        n = len(self.labels)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        for start in range(0, n, self.batch_size):
            idx = order[start:start + self.batch_size]
            yield self.images[idx].float() / 255, self.labels[idx]


def small_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.AvgPool2d(4), nn.Flatten(), nn.Linear(7 * 7, NUM_CLASSES))


@pytest.fixture(autouse=True)
def one_thread():
    """These nets are tiny: a second intra-op thread only adds contention (tests share 2 cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='module')
def data():
    train_images, train_labels = bright_quadrant_images(256, seed=1)
    test_images, test_labels = bright_quadrant_images(128, seed=2)
    return train_images, train_labels, test_images, test_labels


def data_loaders(data, batch_size=32, shuffle=False, seed=0):
    """The same data as torch DataLoaders (float in [0, 1]), the way d2l passes it."""
    train_images, train_labels, test_images, test_labels = data
    generator = torch.Generator().manual_seed(seed)
    train = DataLoader(TensorDataset(train_images.float() / 255, train_labels), batch_size,
                       shuffle=shuffle, generator=generator)
    test = DataLoader(TensorDataset(test_images.float() / 255, test_labels), batch_size)
    return train, test


def memory_loaders(data, batch_size=32, shuffle=False, seed=0, iterable=True):
    train_images, train_labels, test_images, test_labels = data
    return (InMemoryLoader(train_images, train_labels, batch_size, shuffle, seed, iterable),
            InMemoryLoader(test_images, test_labels, batch_size, iterable=iterable))


def quiet_train(net, train_iter, test_iter, num_epochs=3, lr=0.5, **kwargs) -> History:
    kwargs = {'animate': False, 'progress': False, 'init': False, 'device': 'cpu', **kwargs}
    return train_ch6(net, train_iter, test_iter, num_epochs, lr, **kwargs)


# --- Timer, Accumulator, accuracy ---------------------------------------------------------------

def test_timer_records_each_interval_and_reports_avg_sum_cumsum(monkeypatch):
    clock = iter([10.0, 11.0, 20.0, 23.0])
    monkeypatch.setattr(metrics.time, 'perf_counter', lambda: next(clock))
    timer = Timer()  # starts at 10
    assert timer.stop() == 1.0
    timer.start()  # 20
    assert timer.stop() == 3.0
    assert timer.times == [1.0, 3.0]
    assert timer.sum() == 4.0 and timer.avg() == 2.0 and timer.cumsum() == [1.0, 4.0]


def test_accumulator_sums_numbers_and_tensors_per_slot_and_resets():
    acc = Accumulator(3)
    acc.add(1, torch.tensor(2.5), 3)
    acc.add(0.5, 1, torch.tensor(4))
    assert [acc[0], acc[1], acc[2]] == [1.5, 3.5, 7.0]
    acc.reset()
    assert acc.data == [0.0, 0.0, 0.0]


def test_accuracy_counts_correct_argmax_predictions_as_float():
    y_hat = torch.tensor([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    y = torch.tensor([1, 1, 1])
    assert accuracy(y_hat, y) == 2.0 and isinstance(accuracy(y_hat, y), float)
    assert accuracy(torch.tensor([1, 0, 1]), y) == 2.0  # already labels


def test_count_correct_stays_a_tensor_on_the_device_for_sync_free_sums():
    count = count_correct(torch.tensor([[0.1, 0.9], [0.8, 0.2]]), torch.tensor([1, 1]))
    assert torch.is_tensor(count) and count.dim() == 0 and count.dtype == torch.int64
    assert count.item() == 1


# --- evaluate_accuracy_gpu ------------------------------------------------------------------------

def quadrant_classifier() -> nn.Module:
    """Scores each quadrant by its mean brightness: always right in eval mode. In train mode the
    Dropout(p=1) zeroes the input, every score ties and it answers 0 -- so a wrong mode shows."""
    return nn.Sequential(nn.Dropout(p=1.0), nn.AvgPool2d(14), nn.Flatten())


@pytest.mark.parametrize('kind', ['DataLoader', 'in-memory'])
def test_evaluate_accuracy_gpu_gives_the_known_accuracy_in_eval_mode_and_restores_modes(kind):
    images, labels = bright_quadrant_images(100, seed=3)
    labels[:10] = (labels[:10] + 1) % NUM_CLASSES  # 10 wrong answers out of 100
    loader = (DataLoader(TensorDataset(images.float() / 255, labels), batch_size=16) if kind == 'DataLoader'
              else InMemoryLoader(images, labels, batch_size=16, iterable=False))
    net = quadrant_classifier()
    net.train()
    net[1].eval()  # a mixed state must come back as it was
    assert evaluate_accuracy_gpu(net, loader) == pytest.approx(0.9)
    assert [m.training for m in net] == [True, False, True] and net.training


def test_evaluate_accuracy_gpu_rejects_an_empty_data_set():
    with pytest.raises(ValueError, match='no examples'):
        evaluate_accuracy_gpu(quadrant_classifier(), [])


# --- train_ch6 ------------------------------------------------------------------------------------

def test_train_ch6_learns_a_learnable_task_and_returns_one_history_entry_per_epoch(data, capsys):
    history = quiet_train(small_net(), *data_loaders(data, shuffle=True), num_epochs=4)
    assert history.epochs == [1, 2, 3, 4]
    assert len(history.train_loss) == len(history.train_acc) == len(history.test_acc) == 4
    assert history.train_loss[-1] < 0.5 * history.train_loss[0]
    assert history.train_acc[-1] > history.train_acc[0] and history.test_acc[-1] > 0.9
    assert history.examples_per_sec > 0 and history.seconds > 0
    assert history.device == 'cpu' and not history.interrupted
    out = capsys.readouterr().out
    assert re.search(r'^training on cpu \(1 thread\)$', out, re.M)
    assert re.search(r'^loss \d\.\d{3}, train acc \d\.\d{3}, test acc \d\.\d{3}$', out, re.M)
    assert re.search(r'^\d+\.\d examples/sec on cpu$', out, re.M)
    assert history.summary() in out


def test_train_ch6_gives_the_same_history_for_a_dataloader_and_an_in_memory_loader(data):
    from_dataloader = quiet_train(small_net(), *data_loaders(data))
    from_memory = quiet_train(small_net(), *memory_loaders(data, iterable=False))
    for key in ('train_loss', 'train_acc', 'test_acc'):
        assert getattr(from_memory, key) == pytest.approx(getattr(from_dataloader, key), abs=1e-6)


class OnlyIterable:
    """Hides a loader's attributes, so train_ch6 must take the generic path and iterate it."""

    def __init__(self, loader):
        self.loader = loader

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        return iter(self.loader)


def test_train_ch6_shuffles_an_in_memory_loader_as_iterating_it_would(data):
    """The fast path draws each epoch's permutation from the loader's own generator."""
    train_iter, test_iter = memory_loaders(data, shuffle=True, seed=5)
    iterated = quiet_train(small_net(), OnlyIterable(train_iter), test_iter)
    train_iter, test_iter = memory_loaders(data, shuffle=True, seed=5, iterable=False)
    batched = quiet_train(small_net(), train_iter, test_iter)
    assert batched.train_loss == pytest.approx(iterated.train_loss, abs=1e-6)
    assert batched.test_acc == pytest.approx(iterated.test_acc, abs=1e-6)


class SeededLoader(InMemoryLoader):
    """An in-memory loader that exposes its seed but not its generator (like d2l_bn.data.TensorLoader)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seed = kwargs.get('seed', 0)
        self._generator, self.generator = self.generator, None

    def __iter__(self):
        self.generator = self._generator
        yield from super().__iter__()


def test_train_ch6_shuffles_a_loader_without_a_generator_from_its_seed_the_same_way_every_call(data):
    train_images, train_labels, test_images, test_labels = data
    test_iter = InMemoryLoader(test_images, test_labels, 32)

    def seeded():
        return SeededLoader(train_images, train_labels, 32, shuffle=True, seed=11)

    iterated = quiet_train(small_net(), OnlyIterable(seeded()), test_iter, num_epochs=1)
    loader = seeded()
    first, second = (quiet_train(small_net(), loader, test_iter, num_epochs=1) for _ in range(2))
    assert first.train_loss == pytest.approx(iterated.train_loss, abs=1e-6)
    assert second.train_loss == first.train_loss and loader.iterations == 0


def test_train_ch6_batches_an_in_memory_loader_itself_without_iterating_it(data):
    train_iter, test_iter = memory_loaders(data, iterable=False)  # iterating would raise
    history = quiet_train(small_net(), train_iter, test_iter, num_epochs=1)
    assert history.epochs == [1] and train_iter.iterations == 0


def test_train_ch6_accepts_a_plain_iterable_without_len(data):
    train_iter, test_iter = data_loaders(data)

    class NoLen:
        def __iter__(self):
            return iter(train_iter)

    history = quiet_train(small_net(), NoLen(), test_iter, num_epochs=2, animate=True)
    assert history.epochs == [1, 2]
    lines = history.figure.axes[0].get_lines()  # without a length: one point per epoch for each curve
    assert [list(line.get_xdata()) for line in lines] == [[1, 2]] * 3


def test_train_ch6_with_the_same_seed_reproduces_init_and_history(data):
    runs = [quiet_train(small_net(), *memory_loaders(data, shuffle=True), init=True, seed=3)
            for _ in range(2)]
    assert runs[0].as_dict() | {'seconds': 0, 'examples_per_sec': 0} == \
        runs[1].as_dict() | {'seconds': 0, 'examples_per_sec': 0}


def test_train_ch6_applies_the_models_xavier_init_to_every_module(data, monkeypatch):
    models = pytest.importorskip('d2l_bn.models')
    seen = []
    monkeypatch.setattr(models, 'init_xavier', seen.append)
    net = small_net()
    quiet_train(net, *memory_loaders(data), num_epochs=1, init=True)
    assert seen == [*net, net]  # net.apply visits the children first, then the net


class InterruptAfter(nn.Module):
    """Wraps a net; the k-th forward pass in training mode raises KeyboardInterrupt, like Ctrl-C."""

    def __init__(self, net, k, error=KeyboardInterrupt):
        super().__init__()
        self.net, self.k, self.error, self.calls = net, k, error, 0

    def forward(self, X):
        if self.training:
            self.calls += 1
            if self.calls == self.k:
                raise self.error('simulated')
        return self.net(X)


@pytest.mark.parametrize('kind', ['DataLoader', 'in-memory'])
def test_ctrl_c_mid_epoch_returns_the_completed_epochs_marked_interrupted(data, kind, capsys):
    loaders = data_loaders(data) if kind == 'DataLoader' else memory_loaders(data, iterable=False)
    batches_per_epoch = len(loaders[0])  # 8
    net = InterruptAfter(small_net(), k=2 * batches_per_epoch + 3)
    history = quiet_train(net, *loaders, num_epochs=5)
    assert history.interrupted and history.epochs == [1, 2] and len(history.test_acc) == 2
    assert history.examples_per_sec > 0
    out = capsys.readouterr().out
    assert 'training interrupted at epoch 3, batch 3' in out
    assert 'loss ' in out and 'examples/sec on cpu' in out


def test_ctrl_c_in_the_first_batch_returns_an_empty_history(data):
    history = quiet_train(InterruptAfter(small_net(), k=1), *memory_loaders(data), num_epochs=2)
    assert history.interrupted and history.epochs == [] and 'no epoch completed' in history.summary()


def test_out_of_memory_becomes_a_runtime_error_suggesting_a_smaller_batch(data):
    oom = getattr(torch, 'OutOfMemoryError', torch.cuda.OutOfMemoryError)
    net = InterruptAfter(small_net(), k=2, error=oom)
    with pytest.raises(RuntimeError, match=r'batch size 32.*batch_size=16') as info:
        quiet_train(net, *memory_loaders(data))
    assert isinstance(info.value.__cause__, oom)


@pytest.mark.parametrize('num_epochs', [0, -1, 2.5, True, '3'])
def test_train_ch6_rejects_a_bad_num_epochs_naming_the_fix(data, num_epochs):
    with pytest.raises(ValueError, match='num_epochs must be a whole number >= 1'):
        quiet_train(small_net(), *memory_loaders(data), num_epochs=num_epochs)


@pytest.mark.parametrize('lr', [0, -0.1, float('nan'), float('inf'), '0.1'])
def test_train_ch6_rejects_a_bad_lr_naming_the_fix(data, lr):
    with pytest.raises(ValueError, match='lr must be a positive finite number'):
        quiet_train(small_net(), *memory_loaders(data), lr=lr)


def test_train_ch6_rejects_an_empty_training_set(data):
    _, test_iter = memory_loaders(data)
    with pytest.raises(ValueError, match='train_iter yielded no batches'):
        quiet_train(small_net(), [], test_iter)


def test_train_ch6_animates_headless_with_five_points_per_epoch_and_one_test_point(data):
    history = train_ch6(small_net(), *memory_loaders(data), 2, 0.5, 'cpu', init=False)
    lines = history.figure.axes[0].get_lines()
    assert [len(line.get_xdata()) for line in lines] == [10, 10, 2]
    assert list(lines[2].get_xdata()) == [1, 2]
    assert list(lines[2].get_ydata()) == pytest.approx(history.test_acc)
    assert lines[0].get_ydata()[-1] == pytest.approx(history.train_loss[-1])
    assert [t.get_text() for t in history.figure.axes[0].get_legend().get_texts()] == \
        ['train loss', 'train acc', 'test acc']


def test_a_single_epoch_plots_over_0_to_1_without_a_matplotlib_warning(data, recwarn):
    history = train_ch6(small_net(), *memory_loaders(data), 1, 0.5, 'cpu', init=False)
    assert history.figure.axes[0].get_xlim() == (0, 1)   # d2l's [1, num_epochs] would be empty
    assert not [w for w in recwarn if 'xlim' in str(w.message)]


# --- learning-rate schedule ----------------------------------------------------------------------

@pytest.mark.parametrize('kind', ['dataloader', 'memory'])
def test_lr_schedule_sees_the_fraction_of_training_done_at_every_step(data, kind):
    seen = []

    def spy(progress):
        seen.append(progress)
        return 1.0

    loaders = data_loaders(data) if kind == 'dataloader' else memory_loaders(data)
    quiet_train(small_net(), *loaders, num_epochs=2, lr_schedule=spy)
    steps = 2 * 256 // 32
    assert seen[-steps:] == pytest.approx([i / steps for i in range(steps)])


def test_lr_schedule_sets_each_steps_learning_rate_to_lr_times_the_factor(data, monkeypatch):
    used = []
    step = torch.optim.SGD.step

    def recording_step(self, *args, **kwargs):
        used.append(self.param_groups[0]['lr'])
        return step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.SGD, 'step', recording_step)
    quiet_train(small_net(), *memory_loaders(data), num_epochs=1, lr=0.5, lr_schedule=cosine_schedule)
    assert used == pytest.approx([0.5 * cosine_schedule(i / 8) for i in range(8)])
    assert used[0] == 0.5 and used[-1] < 0.02


def test_a_constant_factor_of_one_is_d2ls_constant_lr_and_zero_leaves_the_weights_alone(data):
    plain = quiet_train(small_net(), *memory_loaders(data))
    constant = quiet_train(small_net(), *memory_loaders(data), lr_schedule=lambda t: 1.0)
    assert (constant.train_loss, constant.test_acc) == (plain.train_loss, plain.test_acc)
    net = small_net()
    before = [p.detach().clone() for p in net.parameters()]
    quiet_train(net, *memory_loaders(data), lr_schedule=lambda t: 0.0)
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))


def test_cosine_schedule_falls_from_one_to_zero_through_one_half():
    assert [cosine_schedule(t) for t in (0, 0.5, 1)] == pytest.approx([1, 0.5, 0], abs=1e-12)
    assert all(cosine_schedule(a / 10) > cosine_schedule(b / 10) for a, b in zip(range(10), range(1, 11)))


@pytest.mark.parametrize('schedule, match', [
    ('cosine', 'must be a function'),
    (lambda t: -1.0, 'factor >= 0'),
    (lambda t: float('nan'), 'factor >= 0'),
    (lambda t: torch.tensor(1.0), 'factor >= 0'),
])
def test_a_bad_lr_schedule_is_refused_before_training_naming_the_fix(data, schedule, match):
    with pytest.raises(ValueError, match=match):
        quiet_train(small_net(), *memory_loaders(data), lr_schedule=schedule)


def test_train_ch6_shows_a_progress_bar_per_epoch_when_not_animating(data, capsys):
    quiet_train(small_net(), *memory_loaders(data), num_epochs=2, progress=None)
    err = capsys.readouterr().err
    assert 'epoch 1/2' in err and 'epoch 2/2' in err and 'test_acc=' in err


def test_history_as_dict_is_plain_data_without_the_figure():
    history = History(epochs=[1], train_loss=[0.5], train_acc=[0.8], test_acc=[0.75],
                      examples_per_sec=1234.56, seconds=2.0, device='cpu')
    assert history.as_dict() == {'epochs': [1], 'train_loss': [0.5], 'train_acc': [0.8],
                                 'test_acc': [0.75], 'examples_per_sec': 1234.56, 'seconds': 2.0,
                                 'device': 'cpu', 'interrupted': False, 'diverged': False,
                                 'diverged_at_step': None}
    assert history.summary() == 'loss 0.500, train acc 0.800, test acc 0.750\n1234.6 examples/sec on cpu'


def test_train_ch6_defaults_to_try_gpu(data, monkeypatch):
    chosen = []
    monkeypatch.setattr(training, 'try_gpu', lambda: chosen.append(1) or torch.device('cpu'))
    history = train_ch6(small_net(), *memory_loaders(data), 1, 1.0, animate=False, progress=False, init=False)
    assert chosen == [1] and history.device == 'cpu'


# --- nothing silently wrong: divergence, devices, labels, a batch of one ----------------------------------

class NaNAfter(nn.Module):
    """Wraps a net; from its k-th training forward pass on, the output is NaN (as after a diverging step)."""

    def __init__(self, net, k):
        super().__init__()
        self.net, self.k, self.calls = net, k, 0

    def forward(self, X):
        out = self.net(X)
        if self.training:
            self.calls += 1
            if self.calls >= self.k:
                return out * float('nan')
        return out


@pytest.mark.parametrize('k', [3, 8, 2 * 8 + 5])   # mid-epoch, the epoch's last batch, in epoch 3
def test_a_loss_that_becomes_nan_stops_training_and_marks_the_history_with_the_step(data, k, capsys):
    history = quiet_train(NaNAfter(small_net(), k), *memory_loaders(data), num_epochs=5)
    assert history.diverged and history.diverged_at_step == k and not history.interrupted
    assert history.epochs == list(range(1, (k - 1) // 8 + 1)), 'the epochs completed before it'
    assert all(math.isfinite(v) for v in history.train_loss)
    out = capsys.readouterr().out
    assert f'the loss became nan at step {k} (epoch {(k - 1) // 8 + 1}, batch {(k - 1) % 8 + 1})' in out
    assert 'a smaller learning rate (lr=0.5 now; try lr=0.05)' in out and 'build the net anew' in out
    assert f'(then training diverged at step {k})' in history.summary()


def test_a_diverging_learning_rate_is_stopped_not_trained_on_and_plotted(data, capsys):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(),
                        nn.Linear(64, NUM_CLASSES))
    history = train_ch6(net, *data_loaders(data), 3, 1e6, 'cpu', init=True, seed=0)
    assert history.diverged and history.epochs == [] and history.diverged_at_step <= 8
    lines = history.figure.axes[0].get_lines()
    assert all(math.isfinite(y) for line in lines for y in line.get_ydata()), 'no inf/NaN point is drawn'
    assert 'training diverged' in capsys.readouterr().out


def test_a_loss_that_explodes_but_stays_finite_is_divergence_too(data, capsys):
    """A sigmoid net at lr=1e6 (like d2l's LeNet there): huge finite losses, never inf; 100 x ln C calls it."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.Sigmoid(), nn.Linear(32, NUM_CLASSES))
    history = train_ch6(net, *data_loaders(data), 3, 1e6, 'cpu', animate=False, progress=False, init=True, seed=0)
    assert history.diverged and history.epochs == []
    out = capsys.readouterr().out
    assert re.search(rf'the loss reached \S+, more than 100 times the loss of guessing uniformly '
                     rf'\(ln {NUM_CLASSES} = {math.log(NUM_CLASSES):.2f}\) at step {history.diverged_at_step} ', out)


def test_an_ordinary_run_is_not_called_diverged(data):
    history = quiet_train(small_net(), *memory_loaders(data, shuffle=True), num_epochs=3, lr=0.9)
    assert not history.diverged and history.diverged_at_step is None and len(history.epochs) == 3


def test_divergence_is_read_without_a_host_sync_per_batch(data, monkeypatch):
    """Only the plot points and the epoch ends read from the device (5 + 1 per epoch, plus the evaluation)."""
    reads = []
    tolist = torch.Tensor.tolist

    def counting_tolist(self):
        reads.append(1)
        return tolist(self)

    monkeypatch.setattr(torch.Tensor, 'tolist', counting_tolist)
    quiet_train(small_net(), *memory_loaders(data), num_epochs=2)
    assert len(reads) == 2 * (5 + 1 + 1)


@pytest.mark.skipif(torch.cuda.is_available(), reason='this machine has a GPU')
@pytest.mark.parametrize('device', ['cuda', 'cuda:0', torch.device('cuda')])
def test_a_cuda_device_without_a_gpu_is_refused_before_the_weights_are_touched(data, device):
    net = small_net()
    before = [p.detach().clone() for p in net.parameters()]
    with pytest.raises(ValueError, match=r'no CUDA device: .* use device=try_gpu\(\)'):
        train_ch6(net, *memory_loaders(data), 1, 0.5, device, animate=False, progress=False)
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters())), 'init must not have run'
    with pytest.raises(ValueError, match='no CUDA device'):
        evaluate_accuracy_gpu(net, memory_loaders(data)[1], device)


@pytest.mark.parametrize('device', ['gpu', 'cuda:x', 3.5])
def test_a_device_name_that_is_not_one_is_refused_naming_the_fix(data, device):
    with pytest.raises(ValueError, match=r'device must be a torch.device or a name .*use device=try_gpu'):
        quiet_train(small_net(), *memory_loaders(data), device=device)


def with_label(labels, index, value):
    labels = labels.clone()
    labels[index] = value
    return labels


@pytest.mark.parametrize('kind', ['DataLoader', 'in-memory'])
@pytest.mark.parametrize('bad', [12, -1])
def test_a_test_label_outside_the_nets_outputs_is_refused_not_counted_as_wrong(data, kind, bad):
    train_images, train_labels, test_images, test_labels = data
    bad_data = (train_images, train_labels, test_images, with_label(test_labels, 70, bad))
    loaders = data_loaders(bad_data) if kind == 'DataLoader' else memory_loaders(bad_data)
    where = 'batch 3' if kind == 'DataLoader' else 'example 70'
    message = rf'test_iter holds label {bad} \({where}\), but the net has {NUM_CLASSES} outputs'
    with pytest.raises(ValueError, match=message):
        quiet_train(small_net(), *loaders, num_epochs=1)
    with pytest.raises(ValueError, match=rf'data_iter holds label {bad} \({where}\)'):
        evaluate_accuracy_gpu(small_net(), loaders[1])


def test_a_training_label_out_of_range_is_refused_before_any_step(data):
    train_images, train_labels, test_images, test_labels = data
    net = small_net()
    before = [p.detach().clone() for p in net.parameters()]
    loaders = memory_loaders((train_images, with_label(train_labels, 200, 10), test_images, test_labels))
    with pytest.raises(ValueError, match=r'train_iter holds label 10 \(example 200\)'):
        quiet_train(net, *loaders)
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))
    loaders = data_loaders((train_images, with_label(train_labels, 40, 10), test_images, test_labels))
    with pytest.raises(ValueError, match=r'train_iter holds label 10 \(batch 2\)'):
        quiet_train(small_net(), *loaders)


def test_device_side_labels_of_a_plain_iterable_are_checked_at_the_end_of_the_evaluation(data):
    """Labels that never pass through the CPU are counted on the device and read with the accuracy."""
    _, _, test_images, test_labels = data

    class OnDevice:   # yields labels that are not CPU tensors (here: the meta device stands in for a GPU)
        def __iter__(self):
            for start in range(0, 128, 32):
                X = test_images[start:start + 32].float() / 255
                yield X, with_label(test_labels, 70, 12)[start:start + 32]

    batches = ((X, y, None) for X, y in OnDevice())   # as _moved passes device labels
    with pytest.raises(ValueError, match=rf'holds 1 label\(s\) outside \[0, {NUM_CLASSES}\)'):
        training._accuracy_of(small_net(), batches, torch.device('cpu'))


def bn_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, NUM_CLASSES))


@pytest.mark.parametrize('kind', ['DataLoader', 'in-memory'])
def test_a_last_batch_of_one_example_that_batch_norm_refuses_names_drop_last(data, kind):
    train_images, train_labels, test_images, test_labels = data
    odd = (train_images[:225], train_labels[:225], test_images, test_labels)   # 225 = 7 * 32 + 1
    loaders = data_loaders(odd) if kind == 'DataLoader' else memory_loaders(odd)
    with pytest.raises(ValueError, match=r'more than 1 value per channel[\s\S]*single example[\s\S]*'
                                         r'drop_last=True'):
        quiet_train(bn_net(), *loaders, num_epochs=1)


def test_drop_last_trains_the_same_data_without_the_batch_of_one(data):
    from d2l_bn.data import TensorLoader
    train_images, train_labels, test_images, test_labels = data
    train_iter = TensorLoader(train_images[:225], train_labels[:225], 32, shuffle=True, drop_last=True)
    test_iter = TensorLoader(test_images, test_labels, 32, shuffle=False)
    history = quiet_train(bn_net(), train_iter, test_iter, num_epochs=1)
    assert history.epochs == [1] and not history.diverged
