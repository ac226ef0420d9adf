"""Spec for the SGD explorer of chapter 02: batch size and learning rate sliders rerun a short training."""
from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from d2l_bn.data import fashion_mnist_tensors
from d2l_bn.widgets.controls import one_thread
from d2l_bn.widgets.sgd import SGDExplorer, loss_checkpoints, sgd_loss_curve
from explorer_checks import assert_refused_keeping_the_last_picture

NUM_EXAMPLES = 1000          # what the notebook passes: a fixed Fashion-MNIST subset held in memory


@pytest.fixture(scope="module")
def subset() -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = fashion_mnist_tensors(train=True)
    return images[:NUM_EXAMPLES].float() / 255, labels[:NUM_EXAMPLES]


@pytest.fixture
def explorer(subset) -> SGDExplorer:
    return SGDExplorer(*subset, batch_size=32, lr=0.05)


def test_updates_per_epoch_and_examples_seen_follow_from_the_batch_size(explorer):
    for batch_size in (1, 8, 128, 300, NUM_EXAMPLES):
        data = explorer.set(batch_size=batch_size).data
        per_epoch = math.ceil(NUM_EXAMPLES / batch_size)
        assert data["updates_per_epoch"] == per_epoch
        assert data["total_updates"] == 2 * per_epoch and data["updates"][-1] == 2 * per_epoch
        assert data["updates"][0] == 0 and data["examples"][0] == 0
        assert data["examples"][-1] == 2 * NUM_EXAMPLES       # every run sees the same 2 epochs of examples
        assert np.all(np.diff(data["examples"]) > 0)
    # batch 300: updates 1..3 are full batches, the 4th is the epoch's last 100 examples
    data = explorer.set(batch_size=300).data
    examples_at = dict(zip(data["updates"].tolist(), data["examples"].tolist()))
    assert examples_at[1] == 300 and examples_at[4] == 1000 and examples_at[5] == 1300


def test_curve_is_minibatch_sgd_on_the_mean_loss_as_torch_optim_does_it(subset):
    features, labels = subset[0].flatten(1), subset[1]
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(784, 16), torch.nn.ReLU(), torch.nn.Linear(16, 10))
    reference = copy.deepcopy(net)
    trainer = torch.optim.SGD(reference.parameters(), lr=0.1)
    generator = torch.Generator().manual_seed(3)
    with one_thread():                                     # as the explorer runs it
        curve = sgd_loss_curve(net, features, labels, batch_size=64, lr=0.1, num_epochs=2, seed=3)
        for _ in range(2):
            order = torch.randperm(NUM_EXAMPLES, generator=generator)
            for start in range(0, NUM_EXAMPLES, 64):
                batch = order[start:start + 64]
                trainer.zero_grad()
                F.cross_entropy(reference(features[batch]), labels[batch]).backward()
                trainer.step()
    for p, q in zip(net.parameters(), reference.parameters()):
        torch.testing.assert_close(p, q)
    with torch.no_grad():
        assert curve["loss"][-1] == pytest.approx(F.cross_entropy(reference(features), labels).item(), rel=1e-5)


def test_same_settings_give_the_same_curve_and_the_notebooks_random_state_is_untouched(subset):
    torch.manual_seed(123)
    state = torch.get_rng_state()
    explorer = SGDExplorer(*subset)
    assert torch.equal(torch.get_rng_state(), state)         # the explorer seeds its own generators
    first = explorer.set(batch_size=8, lr=0.05).data
    explorer.set(batch_size=100, lr=0.5)
    again = explorer.set(batch_size=8, lr=0.05).data
    np.testing.assert_array_equal(first["loss"], again["loss"])
    np.testing.assert_array_equal(first["updates"], again["updates"])


def test_small_batches_win_per_example_and_large_batches_per_update(explorer):
    small = explorer.set(batch_size=4, lr=0.05).data
    large = explorer.set(batch_size=250, lr=0.05).data
    # Per example: after the same 2 epochs, the small batch is far lower.
    assert small["final_loss"] < large["final_loss"] - 0.5
    # Per update: after its 8 updates the large batch is ahead of the small one after at least as many.
    k = large["total_updates"]
    loss_small_after_k = small["loss"][np.searchsorted(small["updates"], k)]
    assert large["loss"][-1] < loss_small_after_k


def test_too_large_learning_rate_is_a_divergence_report_with_a_truncated_curve(explorer):
    good = explorer.data
    data = explorer.set(lr=10.0).data
    assert explorer.message == ""                             # not refused: it is a result worth seeing
    assert data["diverged_at"] is not None and 0 < data["diverged_at"] <= data["total_updates"]
    assert len(data["loss"]) < len(loss_checkpoints(data["total_updates"]))     # the curve stops early
    assert np.all(np.isfinite(data["loss"])) and data["updates"][-1] < data["diverged_at"]
    assert "DIVERGED" in explorer.text() and "lower the learning rate" in explorer.text()
    assert explorer.png.startswith(b"\x89PNG") and explorer.png != b""
    assert good["diverged_at"] is None


@pytest.mark.parametrize("values,complaint", [
    ({"batch_size": 0}, "batch size must be >= 1"),
    ({"batch_size": -3}, "batch size must be >= 1"),
    ({"batch_size": NUM_EXAMPLES + 1}, "larger than the subset"),
    ({"lr": 0.0}, "learning rate must be a positive number"),
    ({"lr": -0.1}, "learning rate must be a positive number"),
    ({"lr": float("nan")}, "learning rate must be a positive number"),
    ({"lr": float("inf")}, "learning rate must be a positive number"),
])
def test_bad_values_become_a_message_and_keep_the_last_picture(explorer, values, complaint):
    assert_refused_keeping_the_last_picture(explorer, values, complaint, good=dict(batch_size=16, lr=0.05))
    assert explorer.data["batch_size"] == 16


def test_values_the_sliders_cannot_show_are_refused_and_a_refused_set_moves_nothing(explorer):
    for bad, words in ((dict(batch_size=0, lr=-1.0), "batch size must be >= 1"),
                       (dict(batch_size=8, lr=20.0), "outside the range"),       # lr slider ends at 10
                       (dict(batch_size=8, lr=0.0001), "outside the range"),     # ... and starts at 0.001
                       (dict(batch_size=2.5), "not a whole number"),
                       (dict(lr=0.12345), "would read 0.123")):
        result = explorer.set(**bad)
        assert words in result.message, (bad, result.message)
        assert explorer.values == {"batch_size": 32, "lr": 0.05}


def test_on_the_same_two_epochs_batch_8_ends_far_lower_than_full_batch(explorer):
    # what chapter 02 says next to its explorer: the same computation, a far lower loss per example
    small = explorer.set(batch_size=8, lr=0.05).data
    large = explorer.set(batch_size=NUM_EXAMPLES, lr=0.05).data
    assert small["updates_per_epoch"] == 125 and large["updates_per_epoch"] == 1
    assert small["examples"][-1] == large["examples"][-1] == 2 * NUM_EXAMPLES
    assert small["final_loss"] < large["final_loss"] - 0.5


def test_moving_a_slider_retrains_in_the_background_and_redraws_the_picture_and_the_readout(explorer):
    png, text = explorer.png, explorer.text()
    explorer.controls["batch_size"].value = 64                # as the mouse would
    explorer.wait()                                           # it trained in a worker thread
    assert explorer.png != png and explorer.text() != text
    assert explorer.text().startswith("batch 64, lr 0.05: 16 update(s) per epoch, 32 in 2 epoch(s); loss 2.3")
    assert explorer.controls["lr"].continuous_update is False  # a rerun per release, not per pixel


def test_training_runs_on_one_thread_and_restores_the_thread_count(explorer, monkeypatch):
    threads = torch.get_num_threads()
    seen = []
    original = F.cross_entropy
    monkeypatch.setattr(F, "cross_entropy", lambda *a, **k: (seen.append(torch.get_num_threads()),
                                                             original(*a, **k))[1])
    explorer.set(batch_size=500)
    assert seen and set(seen) == {1}
    assert torch.get_num_threads() == threads


def test_display_carries_a_static_png_and_the_readout_as_text(explorer):
    bundle = explorer._repr_mimebundle_()
    assert bundle["image/png"] and bundle["text/plain"] == explorer.text()


def test_bad_construction_arguments_name_the_fix(subset):
    features, labels = subset
    with pytest.raises(ValueError, match="one label per example"):
        SGDExplorer(features, labels[:-1])
    with pytest.raises(ValueError, match="num_epochs must be >= 1"):
        SGDExplorer(features, labels, num_epochs=0)
    with pytest.raises(ValueError, match="0 < low < high"):
        SGDExplorer(features, labels, lr_range=(1.0, 0.1))
