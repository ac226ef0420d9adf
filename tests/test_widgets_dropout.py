"""Spec for the dropout explorer of chapter 03: one layer's activations under dropout in train() and eval()."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from d2l_bn.widgets.dropout import DropoutExplorer, example_activations
from explorer_checks import assert_refused_keeping_the_last_picture


def test_train_output_is_input_times_mask_scaled_by_one_over_one_minus_p():
    for p in (0.1, 0.5, 0.9):
        data = DropoutExplorer(p=p).data
        X, kept = data["activations"], data["kept"]
        np.testing.assert_allclose(data["train_output"], X * kept / (1 - p), rtol=1e-6)
        assert data["scale"] == pytest.approx(1 / (1 - p))
        assert data["num_zeroed"] == (~kept).sum() and data["num_units"] == X.size == 256


def test_eval_output_is_the_input_unchanged_for_every_p():
    explorer = DropoutExplorer()
    for p in (0.0, 0.3, 0.95):
        data = explorer.set(p=p).data
        np.testing.assert_array_equal(data["eval_output"], data["activations"])
        assert data["mean_eval"] == data["mean_before"]


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
@pytest.mark.parametrize("side", [16, 64])                      # 256 units (one layer) and 4096
def test_fraction_zeroed_is_p_within_binomial_standard_error(p, side):
    explorer = DropoutExplorer(torch.ones(side, side), p=p)
    fraction = explorer.data["fraction_zeroed"]
    standard_error = math.sqrt(p * (1 - p) / side ** 2)
    assert abs(fraction - p) < 4 * standard_error
    assert explorer.data["scale"] == 1 / (1 - p)


def test_mean_after_dropout_equals_mean_before_on_average_over_draws():
    explorer = DropoutExplorer(p=0.5)
    means = np.array([explorer.compute(p=0.5, seed=s)["mean_train"] for s in range(200)])
    before = explorer.data["mean_before"]
    standard_error = means.std(ddof=1) / math.sqrt(len(means))
    assert abs(means.mean() - before) < 4 * standard_error
    assert means.std() > 0.005                          # each single draw does move the mean


def test_p_zero_keeps_every_unit_and_changes_nothing():
    data = DropoutExplorer(p=0.0).data
    assert data["num_zeroed"] == 0 and data["kept"].all()
    np.testing.assert_array_equal(data["train_output"], data["activations"])


def test_same_draw_gives_the_same_mask_and_another_draw_a_different_one():
    explorer = DropoutExplorer(p=0.5, seed=3)
    kept = explorer.data["kept"].copy()
    explorer.set(seed=4)
    assert not np.array_equal(explorer.data["kept"], kept)
    explorer.set(seed=3)
    np.testing.assert_array_equal(explorer.data["kept"], kept)


def test_mask_is_visible_even_where_the_activation_is_zero():
    X = example_activations()
    X[:, :8] = 0.0                                      # a dead half, as after a ReLU
    data = DropoutExplorer(X, p=0.5).data
    assert (~data["kept"][:, :8]).any() and data["kept"][:, :8].any()
    assert data["num_zeroed"] == (~data["kept"]).sum()


def test_moving_the_sliders_leaves_the_notebooks_random_numbers_untouched():
    torch.manual_seed(0)
    expected = torch.rand(5)
    torch.manual_seed(0)
    explorer = DropoutExplorer()
    explorer.set(p=0.3, seed=7)
    assert torch.equal(torch.rand(5), expected)


def test_moving_the_slider_redraws_the_picture_and_the_readout():
    explorer = DropoutExplorer()
    png, text = explorer.png, explorer.text()
    assert png.startswith(b"\x89PNG")
    explorer.controls["p"].value = 0.8                  # as the mouse would
    assert explorer.png != png and explorer.text() != text
    assert explorer.text().startswith("p = 0.80 (draw 0): ")
    assert "survivors x5.00" in explorer.text()


@pytest.mark.parametrize("bad", [1.0, -0.1, 1.5, float("nan")])
def test_p_outside_zero_to_one_becomes_a_message_and_keeps_the_last_picture(bad):
    explorer = DropoutExplorer(p=0.5)
    assert_refused_keeping_the_last_picture(explorer, dict(p=bad), "p must be a probability in [0, 1)",
                                            good=dict(p=0.25))
    assert explorer.data["p"] == 0.25


def test_a_value_a_slider_cannot_show_is_refused_not_clamped_or_truncated():
    explorer = DropoutExplorer(p=0.5, seed=3)
    for bad, words in ((dict(seed=100), "outside the range"),          # the mask slider ends at 20
                       (dict(seed=2.5), "not a whole number"),         # an IntSlider would keep 2
                       (dict(seed=-1), "must be >= 0"),
                       (dict(p=0.97), "outside the range"),            # valid p, but the slider ends at 0.95
                       (dict(p=0.33), "pass 0.3 or 0.35"),             # between two of its positions
                       (dict(p=0.2, seed=100), "outside the range")):  # all or nothing: p stays 0.5 too
        assert_refused_keeping_the_last_picture(explorer, bad, words, good=dict(p=0.5, seed=3))
    assert explorer.set(p=0.35, seed=20).accepted and explorer.values == {"p": 0.35, "seed": 20}


def test_a_refused_drag_puts_the_slider_back():
    explorer = DropoutExplorer(p=0.5)
    explorer.controls["p"].value = 1.0                  # typed into the readout
    assert explorer.message.startswith("p must be a probability") and explorer.values["p"] == 0.5
    assert explorer.data["p"] == 0.5


def test_custom_activations_on_any_device_and_bad_ones_name_the_fix():
    hidden = torch.relu(torch.linspace(-1, 1, 256)).reshape(16, 16)
    explorer = DropoutExplorer(hidden, p=0.5)
    assert explorer.data["mean_before"] == pytest.approx(float(hidden.mean()), rel=1e-6)
    with pytest.raises(ValueError, match="reshape"):
        DropoutExplorer(torch.ones(256))
    with pytest.raises(ValueError, match="finite"):
        DropoutExplorer(torch.tensor([[1.0, float("inf")]]))


def test_example_activations_are_deterministic_non_negative_and_one_layer_sized():
    X = example_activations()
    assert X.shape == (16, 16) and X.dtype == torch.float32
    assert torch.equal(X, example_activations())
    assert X.min() >= 0 and X.max() <= 1


def test_display_bundle_carries_live_widget_static_png_and_deterministic_text():
    bundle = DropoutExplorer()._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["image/png"]
    assert bundle["text/plain"] == DropoutExplorer().text()
