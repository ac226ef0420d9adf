"""Controls and helpers shared by the explorers: what a control can show, and one CPU thread for small models.

A control must never show one value while the picture was computed from another. ipywidgets and the browser
would quietly adjust a value a control cannot hold: ``IntSlider.value = 2.7`` becomes 2, ``slider.value = 100``
becomes the slider's maximum, ``FloatSlider.value = 0.333`` with ``readout_format=".2f"`` reads "0.33", and a
slider that redraws while it is dragged (``continuous_update=True``) moves any value that is not one of its
positions (``min + k * step``; for a log slider ``base ** (min + k * step)``) to the nearest one as soon as the
browser draws it, and sends that back. So :meth:`~d2l_bn.widgets.base.Explorer.set` asks :func:`wrong_type` and
:func:`outside_range` first and refuses such a value with a message; and the sliders below pass every value
through unclamped, so that even a value assigned to a control directly reaches the explorer, which refuses it
and puts the control back.
"""
from __future__ import annotations

import contextlib
import math
import numbers
from collections.abc import Iterator
from typing import Any, Optional

import ipywidgets as widgets
import numpy as np
import torch
from traitlets import validate


class _SetValueLast:
    """Give the slider its value after its range: ipywidgets' min/max validators clamp a value set before them."""

    def __init__(self, value: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if value is not None:
            self.value = value


class PassThroughIntSlider(_SetValueLast, widgets.IntSlider):
    """An IntSlider that does not clamp values set from Python."""

    @validate("value")
    def _validate_value(self, proposal: dict) -> Any:
        return proposal["value"]


class PassThroughFloatSlider(_SetValueLast, widgets.FloatSlider):
    """A FloatSlider that does not clamp values set from Python."""

    @validate("value")
    def _validate_value(self, proposal: dict) -> Any:
        return proposal["value"]


class PassThroughLogSlider(_SetValueLast, widgets.FloatLogSlider):
    """A FloatLogSlider that does not clamp values set from Python (e.g. a negative learning rate)."""

    @validate("value")
    def _validate_value(self, proposal: dict) -> Any:
        return proposal["value"]


def _label(control: widgets.Widget) -> str:
    description = getattr(control, "description", "")
    return f"the '{description}' control" if description else "its control"


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _readout(control: widgets.Widget, value: float) -> Optional[str]:
    """The text a float slider's readout shows for `value` (Python's format spec for d3's)."""
    fmt = getattr(control, "readout_format", "")
    try:
        return format(value, fmt) if fmt else None
    except ValueError:
        return None


def wrong_type(control: widgets.Widget, value: Any) -> Optional[str]:
    """Why `control` cannot hold `value` at all (wrong kind of value), or None."""
    if isinstance(control, (widgets.IntSlider, widgets.BoundedIntText, widgets.IntText)):
        whole = isinstance(value, numbers.Integral) or (
            _is_number(value) and math.isfinite(float(value)) and float(value).is_integer())
        if isinstance(value, bool) or not whole:
            return f"is not a whole number, and {_label(control)} holds whole numbers only"
    elif isinstance(control, (widgets.FloatSlider, widgets.FloatLogSlider)):
        if not _is_number(value):
            return f"is not a number, and {_label(control)} holds numbers only"
    elif isinstance(control, (widgets.Checkbox, widgets.ToggleButton)):
        if not isinstance(value, (bool, np.bool_)):
            return f"is not True or False, and {_label(control)} is a tick box"
    elif isinstance(control, (widgets.SelectionSlider, widgets.Dropdown, widgets.RadioButtons,
                              widgets.ToggleButtons, widgets.Select)):
        offered = [o[1] if isinstance(o, tuple) else o for o in control.options]
        if not any(o == value and isinstance(o, bool) == isinstance(value, bool) for o in offered):
            return f"is not offered by {_label(control)}: choose one of {', '.join(map(repr, offered))}"
    return None


def outside_range(control: widgets.Widget, value: Any) -> Optional[str]:
    """Why `control` cannot show `value` exactly (outside its range, between its positions, or finer than its
    readout), or None."""
    log = isinstance(control, widgets.FloatLogSlider)
    if log:
        low, high = control.base ** control.min, control.base ** control.max
    elif isinstance(control, (widgets.IntSlider, widgets.FloatSlider)):
        low, high = control.min, control.max
    else:
        return None
    if not low <= value <= high:                       # also refuses nan
        return f"is outside the range of {_label(control)}, {low:g} to {high:g}"
    if control.continuous_update and control.step:
        # Where the browser can put the handle: min + k * step (exponents, for a log slider).
        position = ((math.log(value, control.base) if log else value) - control.min) / control.step
        if abs(position - round(position)) > 1e-6:
            if log:
                options = [f"{control.base:g} ** {round(control.min + k * control.step, 10):g} "
                           f"(= {control.base ** (control.min + k * control.step):.4g})"
                           for k in (math.floor(position), math.ceil(position))]
            else:
                options = [f"{round(control.min + k * control.step, 10):g}"
                           for k in (math.floor(position), math.ceil(position))]
            return (f"falls between two positions of {_label(control)}, which redraws while it is dragged and "
                    f"so holds only its positions: pass {options[0]} or {options[1]}")
    elif isinstance(control, (widgets.FloatSlider, widgets.FloatLogSlider)):
        shown = _readout(control, value)
        if shown is not None and not math.isclose(float(shown), value, rel_tol=1e-9, abs_tol=1e-12):
            return f"would read {shown} on {_label(control)}; pass {shown} (or a value it shows exactly)"
    return None


def normalised(control: widgets.Widget, value: Any) -> Any:
    """`value` (already of the right kind) as `control` will hold it: an int, a float or a bool."""
    if isinstance(control, (widgets.IntSlider, widgets.BoundedIntText, widgets.IntText)):
        return int(value)
    if isinstance(control, (widgets.FloatSlider, widgets.FloatLogSlider)):
        return float(value)
    if isinstance(control, (widgets.Checkbox, widgets.ToggleButton)):
        return bool(value)
    return value


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
