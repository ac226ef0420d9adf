"""The explorer pattern every widget of the course follows (d2l_bn.widgets.base.Explorer)."""
from __future__ import annotations

import base64

import ipywidgets as widgets
import numpy as np
import pytest

from d2l_bn.widgets.base import Explorer


class SquaresExplorer(Explorer):
    """A minimal explorer: y = x**2 for x in 0..n-1."""

    def __init__(self) -> None:
        super().__init__({"n": widgets.IntSlider(value=3, min=0, max=10, description="n"),
                          "style": widgets.Dropdown(options=["line", "dots"], value="line")})

    def compute(self, n, style):
        if n == 0:
            raise ValueError("n must be at least 1: drag the slider right")
        return {"x": np.arange(n), "style": style}

    def draw(self, figure, data):
        figure.add_subplot().plot(data["x"], data["x"] ** 2, "-" if data["style"] == "line" else "o")

    def describe(self, data):
        return f"n = {len(data['x'])}, sum of squares = {int((data['x'] ** 2).sum())}"


def test_explorer_draws_on_creation_and_redraws_when_set():
    explorer = SquaresExplorer()
    first = explorer.png
    assert first.startswith(b"\x89PNG") and explorer.text() == "n = 3, sum of squares = 5"
    explorer.set(n=5)
    assert explorer.png != first and explorer.text() == "n = 5, sum of squares = 30"
    assert explorer.image.value == explorer.png


def test_moving_a_control_like_a_learner_redraws_too():
    explorer = SquaresExplorer()
    explorer.controls["n"].value = 4
    assert explorer.text() == "n = 4, sum of squares = 14"


def test_refused_values_become_a_message_and_keep_the_last_picture():
    explorer = SquaresExplorer().set(n=4)
    picture = explorer.png
    explorer.set(n=0)
    assert "at least 1" in explorer.message and explorer.text().startswith("⚠")
    assert "at least 1" in explorer.readout.value
    assert explorer.png == picture and len(explorer.data["x"]) == 4
    explorer.set(n=2)
    assert explorer.message == "" and explorer.text() == "n = 2, sum of squares = 1"


def test_a_value_the_control_does_not_offer_is_a_message_not_a_traceback():
    explorer = SquaresExplorer()
    explorer.set(style="bars")
    assert "not one of the values" in explorer.message


def test_unknown_control_names_the_known_ones():
    with pytest.raises(ValueError, match=r"\['n', 'style'\]"):
        SquaresExplorer().set(m=1)


def test_display_carries_live_widget_static_png_and_plain_text():
    explorer = SquaresExplorer()
    bundle = explorer._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert base64.b64decode(bundle["image/png"]) == explorer.png
    assert bundle["text/plain"] == explorer.text()
