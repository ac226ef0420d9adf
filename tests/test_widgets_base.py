"""The explorer pattern every widget of the course follows (d2l_bn.widgets.base.Explorer)."""
from __future__ import annotations

import base64
import threading

import ipywidgets as widgets
import numpy as np
import pytest

from d2l_bn.widgets.base import Explorer, SetResult
from d2l_bn.widgets.controls import (PassThroughFloatSlider, PassThroughIntSlider, PassThroughLogSlider,
                                     outside_range, wrong_type)


class SquaresExplorer(Explorer):
    """A minimal explorer: y = x**2 for x in 0..n-1."""

    def __init__(self, n: int = 3) -> None:
        super().__init__({"n": widgets.IntSlider(value=n, min=0, max=10, description="n"),
                          "style": widgets.Dropdown(options=["line", "dots"], value="line")})

    def validate(self, n, style):
        if n == 0:
            raise ValueError("n must be at least 1: drag the slider right")

    def compute(self, n, style):
        return {"x": np.arange(n), "style": style}

    def draw(self, figure, data):
        figure.clear()
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
    explorer = SquaresExplorer(n=4)
    picture = explorer.png
    explorer.set(n=0)
    assert "at least 1" in explorer.message and explorer.text().startswith("⚠")
    assert "at least 1" in explorer.readout.value
    assert explorer.png == picture and len(explorer.data["x"]) == 4
    assert explorer.values["n"] == 4                          # the control did not move either
    explorer.set(n=2)
    assert explorer.message == "" and explorer.text() == "n = 2, sum of squares = 1"


def test_a_refused_set_changes_nothing_not_even_the_controls_it_could_have_taken():
    explorer = SquaresExplorer(n=4)
    data, png = explorer.data, explorer.png
    result = explorer.set(n=7, style="bars")                  # n=7 is fine, "bars" is not
    assert not result.accepted and "not offered" in result.message
    assert explorer.values == {"n": 4, "style": "line"}
    assert explorer.data is data and explorer.png == png
    result = explorer.set(n=0, style="dots")                  # refused by validate: dots not taken either
    assert explorer.values == {"n": 4, "style": "line"} and "at least 1" in result.message


def test_a_refused_move_of_a_control_puts_the_control_back():
    explorer = SquaresExplorer(n=4)
    explorer.controls["n"].value = 0                          # as a learner dragging to 0
    assert "at least 1" in explorer.message
    assert explorer.values["n"] == 4 and len(explorer.data["x"]) == 4


def test_values_a_control_cannot_show_exactly_are_refused_not_rounded_or_clamped():
    explorer = SquaresExplorer(n=4)
    for bad, words in ((2.7, "not a whole number"), (True, "not a whole number"), (11, "outside the range"),
                       (-1, "outside the range"), ("3", "not a whole number")):
        result = explorer.set(n=bad)
        assert words in result.message, (bad, result.message)
        assert explorer.values["n"] == 4 and len(explorer.data["x"]) == 4
    assert explorer.set(n=3.0).accepted and explorer.values["n"] == 3   # a whole float is shown exactly


def test_a_value_the_control_does_not_offer_is_a_message_not_a_traceback():
    explorer = SquaresExplorer()
    explorer.set(style="bars")
    assert "not offered" in explorer.message and "'line', 'dots'" in explorer.message


def test_unknown_control_names_the_known_ones():
    with pytest.raises(ValueError, match=r"\['n', 'style'\]"):
        SquaresExplorer().set(m=1)


def test_starting_values_that_would_be_refused_raise_with_the_same_message():
    with pytest.raises(ValueError, match="at least 1"):
        SquaresExplorer(n=0)


def test_set_returns_a_result_whose_repr_is_the_readout_not_a_second_widget():
    explorer = SquaresExplorer()
    result = explorer.set(n=5)
    assert isinstance(result, SetResult) and result.accepted and result.message == ""
    assert repr(result) == result.text == explorer.text() == "n = 5, sum of squares = 30"
    assert result.data is explorer.data
    # IPython shows an object through these hooks; a result has none of them, so a cell ending in .set(...)
    # prints one line instead of displaying the live widget a second time.
    assert not any(hasattr(result, hook) for hook in ("_repr_mimebundle_", "_ipython_display_", "_repr_png_"))
    refused = explorer.set(n=0)
    assert not refused.accepted and repr(refused).startswith("⚠") and refused.data is explorer.data


def test_display_carries_live_widget_static_png_and_plain_text():
    explorer = SquaresExplorer()
    bundle = explorer._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert base64.b64decode(bundle["image/png"]) == explorer.png
    assert bundle["text/plain"] == explorer.text()


def test_pngs_are_rgb_at_the_figures_dpi():
    from io import BytesIO

    from PIL import Image
    explorer = SquaresExplorer()
    image = Image.open(BytesIO(explorer.png))
    width, height = explorer.figure.get_size_inches() * explorer.figure.dpi
    assert image.size == (round(width), round(height)) and image.mode == "RGB"
    assert explorer.figure.dpi >= 100                         # readable text on a laptop screen


# --- what each kind of control can show ----------------------------------------------------------------------
def test_a_slider_that_redraws_on_release_refuses_values_its_readout_would_round():
    slider = PassThroughFloatSlider(min=0.0, max=1.0, step=0.05, readout_format=".2f", description="p",
                                    continuous_update=False)
    assert outside_range(slider, 0.35) is None and outside_range(slider, 0.33) is None
    assert outside_range(slider, 0.1 + 0.2) is None           # float noise below the readout is not a change
    assert "would read 0.33" in outside_range(slider, 0.333)
    assert "outside the range" in outside_range(slider, 1.2)
    assert "outside the range" in outside_range(slider, float("nan"))
    assert "not a number" in wrong_type(slider, "0.5") and "not a number" in wrong_type(slider, None)


def test_a_slider_that_redraws_while_dragged_holds_only_its_positions():
    # The browser would move 0.33 to 0.35 as soon as it draws the handle, and send 0.35 back.
    slider = PassThroughFloatSlider(min=0.0, max=1.0, step=0.05, readout_format=".2f", description="p",
                                    continuous_update=True)
    assert outside_range(slider, 0.35) is None and outside_range(slider, 0.1 + 0.2) is None
    assert "pass 0.3 or 0.35" in outside_range(slider, 0.33)


def test_log_slider_range_is_in_values_and_its_positions_are_powers():
    slider = PassThroughLogSlider(base=10, min=-2, max=1, step=0.01, readout_format=".3g", description="T",
                                  continuous_update=True)
    assert outside_range(slider, 0.01) is None and outside_range(slider, 10.0) is None
    assert outside_range(slider, 1.0) is None and outside_range(slider, 10 ** -0.52) is None
    assert "outside the range" in outside_range(slider, 1e-310) and "outside the range" in outside_range(slider, 11)
    message = outside_range(slider, 0.3)                      # between 10 ** -0.53 and 10 ** -0.52
    assert "10 ** -0.53 (= 0.2951)" in message and "10 ** -0.52 (= 0.302)" in message
    slow = PassThroughLogSlider(base=10, min=-3, max=1, step=0.1, readout_format=".3g", description="lr",
                                continuous_update=False)
    assert outside_range(slow, 0.05) is None and "would read 0.123" in outside_range(slow, 0.12345)


def test_int_slider_checkbox_and_selection_refuse_other_kinds_of_values():
    ints = PassThroughIntSlider(min=0, max=20, description="mask draw")
    assert wrong_type(ints, 2.5) and wrong_type(ints, True) and wrong_type(ints, float("inf"))
    assert wrong_type(ints, 3) is None and wrong_type(ints, np.int64(3)) is None and wrong_type(ints, 3.0) is None
    assert "0 to 20" in outside_range(ints, 100)
    box = widgets.Checkbox(description="cumulative")
    assert wrong_type(box, 1) and wrong_type(box, "yes") and wrong_type(box, True) is None
    assert wrong_type(box, np.bool_(False)) is None
    sizes = widgets.SelectionSlider(options=[1, 2, 4], value=2, description="batch size")
    assert wrong_type(sizes, 3) and wrong_type(sizes, True)   # True == 1, but it is not the option 1
    assert wrong_type(sizes, 4) is None


# --- changes from the browser in a worker thread (explorers that train) ----------------------------------------
class SlowExplorer(Explorer):
    """trains = True; for x in `slow`, compute waits for `gate` (checking whether it was superseded)."""

    trains = True

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.gate.set()
        self.slow = set(range(1, 101))
        self.started, self.finished, self.broken = [], [], set()
        super().__init__({"x": PassThroughIntSlider(value=0, min=0, max=100, description="x")})

    def validate(self, x):
        if x == 13:
            raise ValueError("13 is unlucky: pick another")

    def compute(self, x):
        self.started.append(x)
        while x in self.slow and not self.gate.wait(0.005):
            self.check_superseded()
        self.check_superseded()
        self.finished.append(x)
        return {"x": x}

    def draw(self, figure, data):
        if data["x"] in self.broken:
            raise RuntimeError(f"cannot draw {data['x']}")
        figure.clear()
        figure.add_subplot().set_title(str(data["x"]))

    def describe(self, data):
        return f"x = {data['x']}"


def test_twenty_quick_moves_train_once_for_the_last_value_and_drop_the_stale_ones():
    explorer = SlowExplorer()
    explorer.gate.clear()                                     # the first run blocks until we open the gate
    for value in range(1, 21):                                # e.g. twenty presses of an arrow key
        explorer.controls["x"].value = value
    assert "computing" in explorer.readout.value              # while it trains, the readout says so
    explorer.gate.set()
    explorer.wait()
    assert explorer.data == {"x": 20} and explorer.values["x"] == 20 and explorer.text() == "x = 20"
    assert explorer.finished == [0, 20]                       # nothing stale was finished, let alone drawn
    assert explorer.started[0] == 0 and explorer.started[-1] == 20 and len(explorer.started) <= 21


def test_set_supersedes_a_change_still_training_in_the_background_and_returns_its_own_result():
    explorer = SlowExplorer()
    explorer.slow = {5}
    explorer.gate.clear()
    explorer.controls["x"].value = 5                          # a background run that blocks until superseded
    result = explorer.set(x=7)
    assert result.accepted and explorer.data == {"x": 7} and explorer.values["x"] == 7
    explorer.wait()
    assert explorer.finished == [0, 7] and explorer.data == {"x": 7}   # the run for 5 was dropped


def test_a_refused_move_cancels_the_background_run_and_puts_the_control_back():
    explorer = SlowExplorer()
    explorer.gate.clear()
    explorer.controls["x"].value = 5                          # pending or training ...
    explorer.controls["x"].value = 13                         # ... then refused: back to the picture's value
    assert "unlucky" in explorer.message and explorer.values["x"] == 0
    explorer.gate.set()
    explorer.wait()
    assert explorer.data == {"x": 0} and explorer.values["x"] == 0 and explorer.finished == [0]


def test_an_error_in_the_background_is_shown_and_the_next_move_still_trains():
    explorer = SlowExplorer()
    explorer.broken = {7}
    explorer.controls["x"].value = 7                          # drawing 7 fails in the worker thread
    explorer.wait(timeout=30)
    assert "RuntimeError: cannot draw 7" in explorer.message and explorer._worker is None
    explorer.controls["x"].value = 8                          # a new worker takes the next move
    explorer.wait(timeout=30)
    assert explorer.message == "" and explorer.data == {"x": 8} and explorer.text() == "x = 8"
