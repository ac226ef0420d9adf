"""BatchSizeExplorer: what a learner sees when the batch gets tiny, driven from Python."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from d2l_bn.widgets.batch_size import BATCH_SIZES, BatchSizeExplorer, batch_statistics


def clustered_data(num: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Ten Gaussian clusters in 784 dimensions: as large as Fashion-MNIST rows, learnable in a few steps."""
    gen = torch.Generator().manual_seed(seed)
    centres = torch.randn(10, 784, generator=torch.Generator().manual_seed(123))
    labels = torch.randint(10, (num,), generator=gen)
    return centres[labels] + 2.0 * torch.randn(num, 784, generator=gen), labels


@pytest.fixture(scope="module")
def explorer() -> BatchSizeExplorer:
    X, y = clustered_data(4096, seed=0)
    X_val, y_val = clustered_data(1000, seed=1)
    return BatchSizeExplorer(X, y, X_val, y_val, batch_size=64, batch_norm=True)


def test_batch_size_slider_offers_powers_of_two_from_1_to_512(explorer):
    assert BATCH_SIZES == (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
    assert tuple(explorer.controls["batch_size"].options) == BATCH_SIZES
    assert explorer.controls["batch_size"].continuous_update is False


def test_batch_of_two_normalises_every_value_to_plus_or_minus_one(explorer):
    data = explorer.set(batch_size=2, batch_norm=True).data
    magnitudes = np.abs(data["x_hat_train"])
    # Two values a, b: mean (a+b)/2, biased std |a-b|/2, so each sits exactly one std away: +-1, whatever a, b
    # are. Only pairs closer than sqrt(eps) land in between, shrunk by eps.
    assert np.all(magnitudes <= 1 + 1e-5)
    assert np.mean(np.abs(magnitudes - 1) < 1e-2) > 0.99


def test_batch_means_scatter_shrinks_like_one_over_sqrt_batch_size(explorer):
    spread = {}
    for size in (4, 64):
        data = explorer.set(batch_size=size, batch_norm=True).data
        spread[size] = np.std(data["batch_means"]) / np.sqrt(data["population_var"])
    assert spread[4] == pytest.approx(1 / np.sqrt(4), rel=0.15)
    assert spread[64] == pytest.approx(1 / np.sqrt(64), rel=0.25)


def test_batch_statistics_returns_biased_variances_and_bn_normalised_values():
    values = torch.arange(10.0)
    means, variances, normalised = batch_statistics(values, 5, 3, torch.Generator().manual_seed(0))
    assert means.shape == variances.shape == (3,)
    assert normalised.shape == (15,)
    batch = normalised.reshape(3, 5)
    torch.testing.assert_close(batch.mean(dim=1), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(batch.var(dim=1, unbiased=False), variances / (variances + 1e-5))


def test_moving_a_control_changes_the_data_and_the_picture(explorer):
    explorer.set(batch_size=64, batch_norm=True)
    before_png, before_acc = explorer.png, explorer.data["val_accuracy"]
    explorer.set(batch_norm=False)
    assert explorer.data["batch_norm"] is False
    assert explorer.png != before_png
    explorer.set(batch_size=8)
    assert explorer.data["batch_size"] == 8
    assert explorer.data["val_accuracy"] != before_acc or explorer.data["num_steps"] != 100


def test_batch_size_one_with_bn_is_a_message_not_a_traceback(explorer):
    explorer.set(batch_size=16, batch_norm=True)
    kept = explorer.data
    explorer.set(batch_size=1, batch_norm=True)
    assert "batch size 1" in explorer.message and "switch batch norm off" in explorer.message
    assert explorer.text().startswith("⚠")
    assert explorer.data is kept                      # the last good picture stays
    assert explorer.values == {"batch_size": 16, "batch_norm": True}   # neither control moved
    assert explorer.set(batch_size=1, batch_norm=False).accepted   # without BN a batch of one is plain SGD
    assert explorer.message == "" and explorer.data["batch_norm"] is False
    assert explorer.data["batch_size"] == 1 and explorer.data["num_steps"] == 4096


def test_a_batch_size_the_slider_does_not_offer_is_a_message(explorer):
    explorer.set(batch_size=32, batch_norm=True)
    for bad in (0, 3, -2, 1024, 32.5, True):
        explorer.set(batch_size=bad)
        assert "not offered" in explorer.message
        assert explorer.values["batch_size"] == 32
    explorer.set(batch_size=3, batch_norm=False)               # all or nothing: BN stays on
    assert "not offered" in explorer.message and explorer.values == {"batch_size": 32, "batch_norm": True}
    explorer.set(batch_size=32)
    assert explorer.message == ""


def test_same_settings_give_the_same_numbers(explorer):
    first = explorer.set(batch_size=16, batch_norm=True).data
    explorer.set(batch_size=32)
    again = explorer.set(batch_size=16).data
    assert first["val_accuracy"] == again["val_accuracy"]
    np.testing.assert_array_equal(first["batch_means"], again["batch_means"])


def test_text_output_is_the_readout(explorer):
    explorer.set(batch_size=4, batch_norm=True)
    text = explorer.text()
    assert text.startswith("batch size 4, BN on: validation accuracy")
    assert explorer._repr_mimebundle_()["text/plain"] == text
    assert "image/png" in explorer._repr_mimebundle_()


@pytest.mark.parametrize("batch_size,batch_norm,steps", [(1, False, 4096), (2, True, 2048), (512, True, 100)])
def test_one_pass_over_the_data_but_at_least_min_steps(explorer, batch_size, batch_norm, steps):
    """The extremes the controls allow: one pass over the 4096 examples, or min_steps (100) if that is more."""
    explorer.set(batch_size=64)
    result = explorer.set(batch_size=batch_size, batch_norm=batch_norm)
    assert result.accepted and explorer.data["num_steps"] == steps


def test_a_tiny_batch_normalises_to_two_values_and_a_larger_one_to_a_continuous_spread(explorer):
    # what chapter 06 says next to its explorer
    tiny = explorer.set(batch_size=2, batch_norm=True).data
    assert np.abs(np.abs(tiny["x_hat_train"]) - 1).mean() < 0.01
    large = explorer.set(batch_size=64).data
    assert np.abs(large["x_hat_train"]).std() > 0.3
    assert large["batch_means"].std() < tiny["batch_means"].std() / 4


def test_moving_a_control_retrains_in_the_background(explorer):
    explorer.set(batch_size=16, batch_norm=True)
    explorer.controls["batch_norm"].value = False             # as the mouse would
    explorer.wait()
    assert explorer.data["batch_norm"] is False and explorer.values["batch_norm"] is False
    assert explorer.text().startswith("batch size 16, BN off")


def test_training_leaves_the_notebooks_random_numbers_alone(explorer):
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    explorer.set(batch_size=8, batch_norm=True)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.real_data
def test_on_fashion_mnist_a_batch_of_two_hurts_with_bn_but_not_without():
    # what chapter 06 says next to its explorer: +0.1 accuracy from batch 2 to 64 with BN, or from switching BN off
    explorer = BatchSizeExplorer(batch_size=2, batch_norm=True)     # its default: validation images, as in 06
    with_bn = explorer.data["val_accuracy"]
    without_bn = explorer.set(batch_norm=False).data["val_accuracy"]
    bn_at_64 = explorer.set(batch_size=64, batch_norm=True).data["val_accuracy"]
    assert without_bn - with_bn > 0.1
    assert bn_at_64 - with_bn > 0.1
