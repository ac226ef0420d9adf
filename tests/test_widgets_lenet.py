"""Spec for chapter 05's LeNetExplorer: batch size and BN momentum sliders that retrain BN-LeNet live.

Most tests train on a few hundred synthetic 28x28 images (the class is which quadrant is bright), one or two
epochs and one seed, so each run takes well under a second and no Fashion-MNIST is needed; the last ones
check the claims chapter 05 makes about the explorer's default budget on Fashion-MNIST.
"""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from d2l_bn.widgets.lenet import LeNetExplorer, default_budget
from synthetic_data import bright_quadrant_images


@pytest.fixture(scope='module')
def data():
    return (*bright_quadrant_images(320, seed=1), *bright_quadrant_images(160, seed=2))


def make(data, **kwargs) -> LeNetExplorer:
    kwargs.setdefault('num_epochs', 2)
    kwargs.setdefault('num_seeds', 1)
    return LeNetExplorer(data=data, device='cpu', **kwargs)


def test_first_run_trains_on_construction_and_learns_the_easy_task(data):
    explorer = make(data, batch_size=32)
    d = explorer.data
    assert d['batch_size'] == 32 and d['momentum'] == pytest.approx(0.1) and d['seeds'] == [0]
    assert d['epochs'] == [1, 2] and len(d['train_loss_per_seed'][0]) == len(d['train_acc_per_seed'][0]) == 2
    assert d['num_train'] == 320 and d['num_val'] == 160 and d['device'] == 'cpu'
    assert d['final_val_acc'][0] > 0.5                    # 4 classes: chance is 0.25
    assert d['train_loss_per_seed'][0][-1] < d['train_loss_per_seed'][0][0]
    assert explorer.png.startswith(b'\x89PNG') and explorer.message == ''
    assert len(d['runs']) == 1 and d['runs'][0]['val_accs'] == d['final_val_acc']


def test_every_setting_is_trained_from_several_seeds_and_the_readout_shows_each(data):
    explorer = make(data, batch_size=32, num_seeds=3, seed=5)
    d = explorer.data
    assert d['seeds'] == [5, 6, 7] and len(d['final_val_acc']) == len(d['train_loss_per_seed']) == 3
    assert d['mean_val_acc'] == pytest.approx(np.mean(d['final_val_acc']))
    assert len(set(map(tuple, d['train_loss_per_seed']))) == 3      # different initial weights and shuffles
    seeds_text = ', '.join(f'{a:.2f}' for a in d['final_val_acc'])
    assert f"validation acc {d['mean_val_acc']:.2f} (seeds: {seeds_text})" in explorer.text()
    # seed 5 of a three-seed explorer is the same run as seed 5 alone
    alone = make(data, batch_size=32, seed=5).data
    assert alone['train_loss_per_seed'][0] == d['train_loss_per_seed'][0]
    assert alone['final_val_acc'][0] == d['final_val_acc'][0]


def test_progress_bar_counts_every_minibatch_of_every_seed(data):
    explorer = make(data, batch_size=32, num_seeds=2)
    assert explorer.progress.max == explorer.progress.value == 2 * 2 * 320 // 32
    explorer.set(batch_size=96)                      # 320 = 3 * 96 + 32: four batches per epoch
    assert explorer.progress.max == explorer.progress.value == 2 * 2 * 4
    explorer.set(batch_size=106)                     # 320 = 3 * 106 + 2: the last batch of 2 is kept
    assert explorer.progress.max == 2 * 2 * 4
    explorer.set(batch_size=160)
    assert explorer.progress.max == 2 * 2 * 2 and explorer.message == ''
    assert explorer.progress in explorer.widget.children


def test_a_last_batch_of_one_is_dropped_because_bn_cannot_normalise_it():
    images, labels = bright_quadrant_images(65, seed=3)
    explorer = LeNetExplorer(data=(images, labels, images, labels), device='cpu', num_epochs=1, num_seeds=1,
                             batch_size=64)           # 65 = 64 + 1
    assert explorer.message == '' and explorer.progress.max == 1


def test_progress_bar_sends_about_a_hundred_updates_per_setting_not_one_per_step(data):
    explorer = make(data, batch_size=32)
    values = []
    explorer.progress.observe(lambda change: values.append(change['new']), names='value')
    explorer.set(batch_size=8)                       # 40 steps per epoch, 80 in all
    assert values[-1] == explorer.progress.max == 80
    assert len(values) <= 110 and values[0] == 0 and values[1:] == sorted(values[1:])


def test_each_new_setting_adds_a_row_and_returning_to_one_reuses_it(data):
    explorer = make(data, batch_size=32)
    png = explorer.png
    explorer.set(momentum=0.5)
    assert [(r['batch_size'], r['momentum']) for r in explorer.runs] == [(32, 0.1), (32, 0.5)]
    assert explorer.png != png and not explorer.data['cached']
    first = explorer.runs[0]['val_accs']
    trainings = []
    train = explorer._train_seeds
    explorer._train_seeds = lambda *args: trainings.append(args) or train(*args)
    explorer.set(momentum=0.1)
    assert explorer.data['cached'] and trainings == []            # same seeds, same runs: nothing to retrain
    assert explorer.data['final_val_acc'] == first and len(explorer.runs) == 2
    assert '2 setting(s) so far' in explorer.text() and '[reused]' in explorer.text()


def test_same_seed_gives_the_same_run_and_leaves_the_global_random_stream_alone(data):
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    explorer = make(data, batch_size=64)
    a = explorer.data
    explorer.set(batch_size=32)                       # trains again: still no global random numbers drawn
    assert torch.equal(torch.rand(3), expected_next)
    b = make(data, batch_size=64).data
    assert a['train_loss_per_seed'] == b['train_loss_per_seed'] and a['final_val_acc'] == b['final_val_acc']


def test_momentum_changes_only_the_running_statistics_not_the_training_curve(data):
    explorer = make(data, batch_size=32)
    at_01 = explorer.data
    at_05 = explorer.set(momentum=0.5).data
    # training mode normalises with batch statistics: momentum cannot change what is learned
    np.testing.assert_allclose(at_05['train_loss_per_seed'], at_01['train_loss_per_seed'], rtol=1e-5)
    assert not np.allclose(at_05['running_mean_first'], at_01['running_mean_first'])


def test_momentum_zero_keeps_the_initial_running_statistics_and_ruins_eval(data):
    explorer = make(data, batch_size=32)
    good = explorer.data
    frozen = explorer.set(momentum=0.0).data
    np.testing.assert_array_equal(frozen['running_mean_first'], np.zeros(6, dtype=np.float32))
    np.testing.assert_array_equal(frozen['running_var_first'], np.ones(6, dtype=np.float32))
    np.testing.assert_allclose(frozen['train_loss_per_seed'], good['train_loss_per_seed'], rtol=1e-4)
    assert frozen['final_val_acc'][0] < good['final_val_acc'][0] - 0.2
    explorer.set(momentum=0.1)
    assert explorer.data['cached'] and explorer.data['final_val_acc'] == good['final_val_acc']


@pytest.mark.parametrize('values, words', [
    ({'batch_size': 0}, 'batch size must be a whole number from 2'),
    ({'batch_size': 1}, 'at least two examples'),
    ({'batch_size': 10_000}, 'from 2 to 320'),
    ({'batch_size': 4}, 'outside the range'),          # fine for BN, but the slider starts at 8
    ({'batch_size': 32.5}, 'not a whole number'),
    ({'momentum': -0.1}, 'momentum must be in [0, 1]'),
    ({'momentum': 1.5}, 'momentum must be in [0, 1]'),
    ({'momentum': float('nan')}, 'momentum must be in [0, 1]'),
    ({'momentum': 0.123}, 'would read 0.12'),
    ({'batch_size': 64, 'momentum': 1.5}, 'momentum must be in [0, 1]'),   # batch size stays 32 too
])
def test_bad_values_become_a_message_and_keep_the_last_picture(data, values, words):
    explorer = make(data, batch_size=32, num_epochs=1)
    png, runs = explorer.png, list(explorer.runs)
    result = explorer.set(**values)
    assert words in result.message and explorer.text().startswith('⚠')
    assert explorer.png == png and explorer.runs == runs
    assert explorer.values == {'batch_size': 32, 'momentum': 0.1}
    explorer.set(batch_size=32, momentum=0.1)
    assert explorer.message == ''


def test_sliders_retrain_only_when_released(data):
    explorer = make(data, batch_size=32, num_epochs=1)
    # a retraining per pixel of slider travel would queue dozens of runs
    assert all(control.continuous_update is False for control in explorer.controls.values())
    assert explorer.trains                             # and a move trains in a worker thread


def test_twenty_arrow_key_presses_train_the_last_setting_only(data):
    explorer = make(data, batch_size=32, num_epochs=1)
    trained, pressing = [], threading.Event()
    train = explorer._train_seeds

    def train_after_the_presses(*args):               # holds each run until all twenty presses are in
        trained.append(args)
        while not pressing.wait(0.005):
            explorer.check_superseded()
        return train(*args)

    explorer._train_seeds = train_after_the_presses
    for k in range(1, 21):                             # momentum 0.05, 0.10, ..., 1.00
        explorer.controls['momentum'].value = round(0.05 * k, 2)
    pressing.set()
    explorer.wait()
    assert explorer.values['momentum'] == 1.0 and explorer.data['momentum'] == 1.0
    assert trained[-1] == (32, 1.0)
    # A run started for a stale value is stopped at its next progress tick, and never shown or cached.
    assert [(r['batch_size'], r['momentum']) for r in explorer.runs] == [(32, 0.1), (32, 1.0)]
    assert explorer.text().startswith('batch 32, momentum 1.00')


def test_a_cpu_run_with_the_default_budget_is_sized_for_a_few_seconds():
    budget = default_budget(torch.device('cpu'))
    # ~90 us of CPU per training image for BN-LeNet on one core: 3 seeds x 6,000 images ~ 1.6 s
    assert 3 * budget['num_train'] * budget['num_epochs'] <= 20_000
    assert default_budget(torch.device('cuda'))['num_train'] == 50_000   # every training image after the split


@pytest.fixture(scope='module')
def fashion_explorer():
    return LeNetExplorer(device='cpu')                 # the CPU default: 3 seeds, 2,000 images, 3 epochs


@pytest.mark.real_data
def test_on_fashion_mnist_validation_images_come_from_the_training_set_not_the_test_set(fashion_explorer):
    from d2l_bn.data import fashion_mnist_tensors, validation_split
    (_, _), (val_x, val_y) = validation_split(*fashion_mnist_tensors(train=True))
    assert torch.equal(fashion_explorer.val_x[:, 0], val_x[:1000]) and torch.equal(fashion_explorer.val_y,
                                                                                   val_y[:1000])


@pytest.mark.real_data
def test_on_fashion_mnist_momentum_zero_breaks_eval_and_batch_64_beats_256_on_the_short_budget(fashion_explorer):
    # what chapter 05 says about its explorer, decided on three seeds per setting
    at_256 = fashion_explorer.set(batch_size=256, momentum=0.1).data
    frozen = fashion_explorer.set(momentum=0.0).data
    np.testing.assert_allclose(frozen['train_loss_per_seed'], at_256['train_loss_per_seed'], rtol=1e-4)
    assert max(frozen['final_val_acc']) < min(at_256['final_val_acc']) - 0.2
    at_64 = fashion_explorer.set(batch_size=64, momentum=0.1).data
    # four times the SGD steps: better in every seed, by more than the seeds scatter
    assert min(at_64['final_val_acc']) > max(at_256['final_val_acc'])
    assert at_64['mean_val_acc'] > at_256['mean_val_acc'] + 0.05
