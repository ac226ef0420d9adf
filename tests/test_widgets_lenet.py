"""Spec for chapter 05's LeNetExplorer: batch size and BN momentum sliders that retrain BN-LeNet live.

The tests train on a few hundred synthetic 28x28 images (the class is which quadrant is bright), one or two
epochs, so each run takes well under a second and no Fashion-MNIST is needed.
"""
from __future__ import annotations

import time

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
    return LeNetExplorer(data=data, device='cpu', **kwargs)


def test_first_run_trains_on_construction_and_learns_the_easy_task(data):
    explorer = make(data, batch_size=32)
    d = explorer.data
    assert d['batch_size'] == 32 and d['momentum'] == pytest.approx(0.1)
    assert d['epochs'] == [1, 2] and len(d['train_loss']) == len(d['test_acc']) == 2
    assert d['num_train'] == 320 and d['num_test'] == 160 and d['device'] == 'cpu'
    assert d['final_test_acc'] > 0.5                 # 4 classes: chance is 0.25
    assert d['train_loss'][-1] < d['train_loss'][0]
    assert explorer.png.startswith(b'\x89PNG') and explorer.message == ''
    assert len(d['runs']) == 1 and d['runs'][0]['test_acc'] == d['final_test_acc']


def test_progress_bar_counts_every_minibatch_of_the_run(data):
    explorer = make(data, batch_size=32)
    assert explorer.progress.max == explorer.progress.value == 2 * 320 // 32
    explorer.set(batch_size=96)                      # 320 = 3 * 96 + 32: four batches per epoch
    assert explorer.progress.max == explorer.progress.value == 2 * 4
    explorer.set(batch_size=106)                     # 320 = 3 * 106 + 2: the last batch of 2 is kept
    assert explorer.progress.max == 2 * 4
    explorer.set(batch_size=319)                     # 320 = 319 + 1: a batch of one cannot be normalised
    assert explorer.progress.max == 2 * 1 and explorer.message == ''
    assert explorer.progress in explorer.widget.children


def test_progress_bar_sends_about_a_hundred_updates_per_run_not_one_per_step(data):
    explorer = make(data, batch_size=32)
    values = []
    explorer.progress.observe(lambda change: values.append(change['new']), names='value')
    explorer.set(batch_size=2)                       # 160 steps per epoch, 320 in all
    assert values[-1] == explorer.progress.max == 320
    assert len(values) <= 110 and values[0] == 0 and values[1:] == sorted(values[1:])


def test_each_new_setting_adds_a_row_and_returning_to_one_reuses_it(data):
    explorer = make(data, batch_size=32)
    png = explorer.png
    explorer.set(momentum=0.5)
    assert [(r['batch_size'], r['momentum']) for r in explorer.runs] == [(32, 0.1), (32, 0.5)]
    assert explorer.png != png and not explorer.data['cached']
    first = explorer.runs[0]['test_acc']
    trainings = []
    train = explorer._train
    explorer._train = lambda *args: trainings.append(args) or train(*args)
    explorer.set(momentum=0.1)
    assert explorer.data['cached'] and trainings == []            # same seed, same run: nothing to retrain
    assert explorer.data['final_test_acc'] == first and len(explorer.runs) == 2
    assert '2 run(s) so far' in explorer.text() and '[reused]' in explorer.text()


def test_same_seed_gives_the_same_run_and_leaves_the_global_random_stream_alone(data):
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    a = make(data, batch_size=64).data
    assert torch.equal(torch.rand(3), expected_next)  # training drew from a private generator
    b = make(data, batch_size=64).data
    assert a['train_loss'] == b['train_loss'] and a['test_acc'] == b['test_acc']


def test_momentum_changes_only_the_running_statistics_not_the_training_curve(data):
    explorer = make(data, batch_size=32)
    at_01 = explorer.data
    at_05 = explorer.set(momentum=0.5).data
    # training mode normalises with batch statistics: momentum cannot change what is learned
    np.testing.assert_allclose(at_05['train_loss'], at_01['train_loss'], rtol=1e-5)
    assert not np.allclose(at_05['running_mean_first'], at_01['running_mean_first'])


def test_momentum_zero_keeps_the_initial_running_statistics_and_ruins_eval(data):
    explorer = make(data, batch_size=32)
    good = explorer.data['final_test_acc']
    frozen = explorer.set(momentum=0.0).data
    np.testing.assert_array_equal(frozen['running_mean_first'], np.zeros(6, dtype=np.float32))
    np.testing.assert_array_equal(frozen['running_var_first'], np.ones(6, dtype=np.float32))
    assert frozen['final_test_acc'] < good


@pytest.mark.parametrize('values, words', [
    ({'batch_size': 0}, 'batch size must be a whole number from 2'),
    ({'batch_size': 1}, 'at least two examples'),
    ({'batch_size': 10_000}, 'from 2 to 320'),
    ({'momentum': -0.1}, 'momentum must be in [0, 1]'),
    ({'momentum': 1.5}, 'momentum must be in [0, 1]'),
    ({'momentum': float('nan')}, 'momentum must be in [0, 1]'),
])
def test_bad_values_become_a_message_and_keep_the_last_picture(data, values, words):
    explorer = make(data, batch_size=32, num_epochs=1)
    png, runs = explorer.png, list(explorer.runs)
    explorer.set(**values)
    assert words in explorer.message and explorer.text().startswith('⚠')
    assert explorer.png == png and explorer.runs == runs
    explorer.set(batch_size=32, momentum=0.1)
    assert explorer.message == ''


def test_sliders_retrain_only_when_released(data):
    explorer = make(data, batch_size=32, num_epochs=1)
    # a retraining per pixel of slider travel would queue dozens of runs
    assert all(control.continuous_update is False for control in explorer.controls.values())


def test_a_cpu_run_with_the_default_budget_is_sized_for_a_few_seconds():
    budget = default_budget(torch.device('cpu'))
    assert budget['num_train'] * budget['num_epochs'] <= 20_000      # ~ a third of one full epoch
    assert default_budget(torch.device('cuda')) == {'num_train': 60_000, 'num_test': 10_000, 'num_epochs': 10}


def test_redraw_of_a_small_run_is_fast(data):
    explorer = make(data, batch_size=64, num_epochs=1)
    start = time.perf_counter()
    explorer.set(batch_size=32)
    assert time.perf_counter() - start < 10.0        # generous: the machine is shared
    assert explorer.render_seconds < 10.0
