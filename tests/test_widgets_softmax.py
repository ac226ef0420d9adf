"""Spec for the temperature explorer of chapter 01: softmax(logits / T) as the slider moves."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from d2l_bn.widgets.softmax import (EXAMPLE_IMAGE_INDEX, EXAMPLE_LABELS, EXAMPLE_LOGITS, EXAMPLE_SOURCE,
                                    TemperatureExplorer, softmax_regression_logits)
from explorer_checks import assert_refused_keeping_the_last_picture

# The slider redraws while it is dragged, so it holds only its positions, 10 ** (k / 100): T = 10 ** e.
COLD, COOL, WARM, HOT, HOTTEST = 10 ** -1.3, 10 ** -0.6, 10 ** 0.6, 10 ** 1.3, 10 ** 2.0  # 0.05 0.25 4 20 100


def test_probabilities_are_softmax_of_logits_over_temperature_and_sum_to_one():
    explorer = TemperatureExplorer()
    for temperature in (COLD, COOL, 1.0, WARM, HOT, HOTTEST):
        assert explorer.set(temperature=temperature).accepted
        expected = torch.softmax(torch.tensor(EXAMPLE_LOGITS, dtype=torch.float64) / temperature, dim=0)
        np.testing.assert_allclose(explorer.data["probs"], expected.numpy(), rtol=1e-12, atol=1e-15)
        assert explorer.data["probs"].sum() == pytest.approx(1.0, abs=1e-12)
        assert explorer.message == ""


def test_entropy_increases_with_temperature_from_one_hot_to_uniform():
    explorer = TemperatureExplorer()
    entropies = [explorer.set(temperature=t).data["entropy"] for t in (COLD, COOL, 1.0, WARM, HOT, HOTTEST)]
    assert all(a < b for a, b in zip(entropies, entropies[1:]))  # hotter = flatter = more uncertain
    assert entropies[0] < 1e-3                                    # T -> 0: nearly one-hot
    assert entropies[-1] > 0.99 * math.log(10)                    # T = 100 (the slider's end): nearly uniform
    assert np.all(np.diff(explorer.data["curve_entropy"]) > 0)     # the drawn curve says the same


def test_small_temperature_approaches_one_hot_at_the_argmax_and_large_approaches_uniform():
    explorer = TemperatureExplorer()
    explorer.set(temperature=COLD)
    argmax = int(np.argmax(EXAMPLE_LOGITS))
    assert explorer.data["argmax"] == argmax
    one_hot = np.eye(len(EXAMPLE_LOGITS))[argmax]
    np.testing.assert_allclose(explorer.data["probs"], one_hot, atol=1e-3)
    explorer.set(temperature=HOTTEST)
    np.testing.assert_allclose(explorer.data["probs"], np.full(10, 0.1), atol=0.02)
    assert explorer.data["argmax"] == argmax                      # the ranking never changes, only the spread


def test_a_tiny_temperature_gives_a_clean_one_hot_not_nan():
    # 1e-310 is a denormal float: z / T overflows to inf, and a naive softmax computes inf - inf = nan.
    explorer = TemperatureExplorer(t_min=1e-320, t_max=1.0, temperature=1.0)
    data = explorer.set(temperature=1e-310).data
    assert np.all(np.isfinite(data["probs"])) and data["max_prob"] == 1.0 and data["entropy"] == 0.0
    assert "nan" not in explorer.text() and explorer.text().startswith("T = 1e-310: max prob 1.000 (shirt)")
    assert np.all(np.isfinite(explorer.curve_entropy))


def test_a_temperature_the_slider_cannot_show_is_refused_not_clamped_or_rounded():
    explorer = TemperatureExplorer()
    data = explorer.data
    for bad, words in ((1e-310, "outside the range"), (200.0, "outside the range"),
                       (0.3, "pass 10 ** -0.53 (= 0.2951) or 10 ** -0.52 (= 0.302)"),   # between two positions
                       ("hot", "not a number")):
        result = explorer.set(temperature=bad)
        assert words in result.message and explorer.values["temperature"] == 1.0 and explorer.data is data


def test_moving_the_slider_redraws_the_picture_and_the_readout():
    explorer = TemperatureExplorer()
    png, text = explorer.png, explorer.text()
    assert png.startswith(b"\x89PNG")
    explorer.controls["temperature"].value = 10 ** -0.7           # as the mouse would: one of its positions
    assert explorer.png != png and explorer.text() != text
    assert explorer.text().startswith("T = 0.2: max prob 0.990 (shirt)")


def test_a_temperature_typed_between_two_positions_is_refused_and_the_slider_goes_back():
    explorer = TemperatureExplorer()
    explorer.controls["temperature"].value = 0.3
    assert "between two positions" in explorer.message and explorer.values["temperature"] == 1.0


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_non_positive_or_non_finite_temperature_becomes_a_message_and_keeps_the_last_picture(bad):
    explorer = TemperatureExplorer(temperature=10 ** 0.3)
    assert_refused_keeping_the_last_picture(explorer, dict(temperature=bad), "temperature must be > 0",
                                            good=dict(temperature=10 ** -0.3))
    assert explorer.data["temperature"] == 10 ** -0.3


def test_custom_logits_and_labels_and_bad_construction_arguments_name_the_fix():
    explorer = TemperatureExplorer(logits=[0.0, 1.0], labels=None)
    assert explorer.data["max_entropy"] == pytest.approx(math.log(2))
    # Two classes: softmax of two logits is the sigmoid of their difference.
    assert explorer.data["probs"][1] == pytest.approx(1 / (1 + math.exp(-1.0)))
    assert explorer.labels == ["0", "1"] and "(1)" in explorer.text()   # labels=None numbers the classes
    assert explorer.source == "your logits"
    with pytest.raises(ValueError, match="one label per logit"):
        TemperatureExplorer(logits=[1.0, 2.0, 3.0], labels=["a", "b"])
    with pytest.raises(ValueError, match="at least two"):
        TemperatureExplorer(logits=[1.0])
    with pytest.raises(ValueError, match="finite"):
        TemperatureExplorer(logits=[1.0, float("inf")])
    with pytest.raises(ValueError, match="t_min < t_max"):
        TemperatureExplorer(t_min=0.0)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        TemperatureExplorer(temperature=0.0)
    with pytest.raises(ValueError, match="between two positions"):
        TemperatureExplorer(temperature=0.3)


def test_a_models_output_row_is_accepted_as_it_comes():
    # What chapter 01 passes: one row of a trained model's output, still attached to autograd.
    net = torch.nn.Linear(4, 10)
    row = net(torch.ones(1, 4))
    explorer = TemperatureExplorer(logits=row, source="our softmax regression, test image 0")
    np.testing.assert_allclose(explorer.data["logits"], row.detach().double().numpy()[0])
    assert explorer.source == "our softmax regression, test image 0"
    assert explorer.labels == list(EXAMPLE_LABELS)


def test_default_scores_are_labelled_as_what_they_are():
    explorer = TemperatureExplorer()
    assert explorer.source == EXAMPLE_SOURCE and f"test image {EXAMPLE_IMAGE_INDEX}" in EXAMPLE_SOURCE
    assert explorer.figure.texts[0].get_text() == EXAMPLE_SOURCE   # shown above the bars


@pytest.mark.real_data
def test_default_logits_are_a_trained_softmax_regressions_scores_for_a_real_shirt():
    from d2l_bn.data import fashion_mnist_tensors
    _, test_labels = fashion_mnist_tensors(train=False)
    shirt = EXAMPLE_LABELS.index("shirt")
    assert int(test_labels[EXAMPLE_IMAGE_INDEX]) == shirt                       # a shirt ...
    assert int((test_labels[:EXAMPLE_IMAGE_INDEX] == shirt).sum()) == 0       # ... the test set's first
    # Retrain with the documented recipe: the shipped constants are its logits, rounded to 2 decimals.
    np.testing.assert_allclose(softmax_regression_logits(), EXAMPLE_LOGITS, atol=0.011)


def test_display_bundle_carries_live_widget_static_png_and_deterministic_text():
    bundle = TemperatureExplorer()._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["image/png"]
    assert bundle["text/plain"] == TemperatureExplorer().text()
