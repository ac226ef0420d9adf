"""Spec for the temperature explorer of chapter 01: softmax(logits / T) as the slider moves."""
from __future__ import annotations

import math
import time

import numpy as np
import pytest
import torch

from d2l_bn.widgets.softmax import EXAMPLE_LOGITS, TemperatureExplorer
from explorer_checks import assert_refused_keeping_the_last_picture


def test_probabilities_are_softmax_of_logits_over_temperature_and_sum_to_one():
    explorer = TemperatureExplorer()
    for temperature in (0.05, 0.3, 1.0, 4.0, 20.0):
        explorer.set(temperature=temperature)
        expected = torch.softmax(torch.tensor(EXAMPLE_LOGITS, dtype=torch.float64) / temperature, dim=0)
        np.testing.assert_allclose(explorer.data["probs"], expected.numpy(), rtol=1e-12, atol=1e-15)
        assert explorer.data["probs"].sum() == pytest.approx(1.0, abs=1e-12)
        assert explorer.message == ""


def test_entropy_increases_with_temperature_from_one_hot_to_uniform():
    explorer = TemperatureExplorer()
    entropies = [explorer.set(temperature=t).data["entropy"] for t in (0.05, 0.2, 1.0, 5.0, 20.0)]
    assert all(a < b for a, b in zip(entropies, entropies[1:]))
    assert entropies[0] < 1e-3                                    # T -> 0: nearly one-hot
    assert entropies[-1] == pytest.approx(math.log(10), abs=0.01)  # T -> inf: nearly uniform
    assert np.all(np.diff(explorer.data["curve_entropy"]) > 0)     # the drawn curve says the same


def test_small_temperature_approaches_one_hot_at_the_argmax_and_large_approaches_uniform():
    explorer = TemperatureExplorer().set(temperature=0.05)
    argmax = int(np.argmax(EXAMPLE_LOGITS))
    assert explorer.data["argmax"] == argmax
    one_hot = np.eye(len(EXAMPLE_LOGITS))[argmax]
    np.testing.assert_allclose(explorer.data["probs"], one_hot, atol=1e-3)
    explorer.set(temperature=20.0)
    np.testing.assert_allclose(explorer.data["probs"], np.full(10, 0.1), atol=0.02)
    assert explorer.data["argmax"] == argmax                      # the ranking never changes, only the spread


def test_moving_the_slider_redraws_the_picture_and_the_readout():
    explorer = TemperatureExplorer()
    png, text = explorer.png, explorer.text()
    assert png.startswith(b"\x89PNG")
    explorer.controls["temperature"].value = 0.2                  # as the mouse would
    assert explorer.png != png and explorer.text() != text
    assert explorer.text().startswith("T = 0.2: max prob 0.9")


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_non_positive_or_non_finite_temperature_becomes_a_message_and_keeps_the_last_picture(bad):
    explorer = TemperatureExplorer(temperature=2.0)
    assert_refused_keeping_the_last_picture(explorer, dict(temperature=bad), "temperature must be > 0",
                                            good=dict(temperature=0.5))
    assert explorer.data["temperature"] == 0.5


def test_slider_does_not_silently_clamp_a_refused_value_to_its_range():
    explorer = TemperatureExplorer().set(temperature=0)
    assert explorer.values["temperature"] == 0 and explorer.message


def test_custom_logits_and_labels_and_bad_construction_arguments_name_the_fix():
    explorer = TemperatureExplorer(logits=[0.0, 1.0], labels=None)
    assert explorer.data["max_entropy"] == pytest.approx(math.log(2))
    # Two classes: softmax of two logits is the sigmoid of their difference.
    assert explorer.data["probs"][1] == pytest.approx(1 / (1 + math.exp(-1.0)))
    assert explorer.labels == ["0", "1"] and "(1)" in explorer.text()   # labels=None numbers the classes
    with pytest.raises(ValueError, match="one label per logit"):
        TemperatureExplorer(logits=[1.0, 2.0, 3.0], labels=["a", "b"])
    with pytest.raises(ValueError, match="at least two"):
        TemperatureExplorer(logits=[1.0])
    with pytest.raises(ValueError, match="finite"):
        TemperatureExplorer(logits=[1.0, float("inf")])


def test_display_bundle_carries_live_widget_static_png_and_deterministic_text():
    bundle = TemperatureExplorer()._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["image/png"]
    assert bundle["text/plain"] == TemperatureExplorer().text()


def test_redraw_is_fast_enough_to_follow_the_slider():
    explorer = TemperatureExplorer()
    start = time.perf_counter()
    for temperature in (0.1, 0.5, 2.0, 10.0):
        explorer.set(temperature=temperature)
    assert (time.perf_counter() - start) / 4 < 1.0   # generous: CI machines are shared and slow
