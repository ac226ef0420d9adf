"""Controls and helpers shared by the explorers.

Sliders that pass every value through: ipywidgets clamps ``slider.value = 0`` to the slider's minimum without a
word, so a learner who types ``explorer.set(batch_size=0)`` would silently be shown batch size 1. Passing the
value through lets the explorer's ``compute`` refuse it with a message saying why; the range then only limits
where the handle can be dragged.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import ipywidgets as widgets
import torch
from traitlets import validate


class PassThroughIntSlider(widgets.IntSlider):
    """An IntSlider that does not clamp values set from Python."""

    @validate("value")
    def _validate_value(self, proposal: dict) -> Any:
        return proposal["value"]


class PassThroughFloatSlider(widgets.FloatSlider):
    """A FloatSlider that does not clamp values set from Python."""

    @validate("value")
    def _validate_value(self, proposal: dict) -> Any:
        return proposal["value"]


class PassThroughLogSlider(widgets.FloatLogSlider):
    """A FloatLogSlider that does not clamp values set from Python (e.g. a negative learning rate)."""

    @validate("value")
    def _validate_value(self, proposal: dict) -> Any:
        return proposal["value"]


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run the enclosed PyTorch CPU work on one thread, then restore the previous thread count.

    The explorers' models are so small that a kernel finishes before a second thread has woken up: extra threads
    add only synchronisation, and on a busy machine their spin-waiting made a redraw 10-30x slower in our
    measurements. Results are the same either way.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
