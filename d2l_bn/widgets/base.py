"""The pattern every explorer in the course follows: one question, a few controls, one picture.

Why not ``ipywidgets.interact``? Its output is captured into an ``Output`` widget, which nbval cannot replay
("Unexpected output fields: stdout") and which GitHub shows as nothing. An :class:`Explorer` instead renders its
matplotlib figure to PNG bytes and shows them in an ``ipywidgets.Image``. The same bytes travel in the cell's
output as a static ``image/png`` beside the live widget, so:

* in JupyterLab the live widget is shown and redraws when a control moves;
* on GitHub, nbviewer or a notebook executed headless the static figure is shown instead;
* tests (and curious learners) drive it from Python with :meth:`Explorer.set` and read :attr:`Explorer.data`.

A subclass implements three methods: :meth:`compute` (values of the controls -> a dict of numbers and arrays;
raise ``ValueError`` for a combination that makes no sense, and the message is shown in the widget instead of a
traceback), :meth:`draw` (data -> a picture on a matplotlib ``Figure``) and :meth:`describe` (data -> one line
of text for the readout, which is also the cell's text output, so keep it deterministic).
"""
from __future__ import annotations

import base64
import html
import io
import time
from typing import Any

import ipywidgets as widgets
from traitlets import TraitError
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


class Explorer:
    """Controls + a figure + a one-line readout, recomputed whenever a control changes.

    Subclasses call ``super().__init__(controls, figsize)`` at the END of their own ``__init__`` (the first
    picture is computed there, so everything :meth:`compute` needs must already exist).
    """

    def __init__(self, controls: dict[str, widgets.ValueWidget], figsize: tuple[float, float] = (8.0, 3.0),
                 dpi: int = 80) -> None:
        self.controls = dict(controls)
        # A Figure that is not managed by pyplot: the inline backend will never display it twice.
        self.figure = Figure(figsize=figsize, dpi=dpi)
        FigureCanvasAgg(self.figure)
        self.image = widgets.Image(format="png")
        self.readout = widgets.HTML()
        self.data: dict[str, Any] = {}
        self.message = ""                 # non-empty while the current values are refused
        self.png = b""                    # the bytes currently shown
        self.render_seconds = float("nan")
        self._updating = False
        for control in self.controls.values():
            control.observe(self._on_change, names="value")
        self.widget = widgets.VBox([widgets.HBox(list(self.controls.values())), self.image, self.readout])
        self.refresh()

    # --- to be implemented by subclasses -------------------------------------------------------------
    def compute(self, **values: Any) -> dict[str, Any]:
        """Turn the controls' values into the numbers the picture shows."""
        raise NotImplementedError

    def draw(self, figure: Figure, data: dict[str, Any]) -> None:
        """Draw ``data`` on an empty ``figure``."""
        raise NotImplementedError

    def describe(self, data: dict[str, Any]) -> str:
        """One line of plain text summarising ``data`` (shown under the figure)."""
        raise NotImplementedError

    # --- driving it ----------------------------------------------------------------------------------
    @property
    def values(self) -> dict[str, Any]:
        """The current value of every control, by name."""
        return {name: control.value for name, control in self.controls.items()}

    def set(self, **values: Any) -> "Explorer":
        """Move several controls at once (one redraw), exactly as a learner would with the mouse."""
        unknown = set(values) - set(self.controls)
        if unknown:
            raise ValueError(f"unknown control(s) {sorted(unknown)}; this explorer has {sorted(self.controls)}")
        self._updating = True
        try:
            for name, value in values.items():
                try:
                    self.controls[name].value = value
                except TraitError:  # e.g. a value a selection slider does not offer
                    self.refuse(f"{name} = {value!r} is not one of the values this control offers")
                    return self
        finally:
            self._updating = False
        self.refresh()
        return self

    def refuse(self, message: str) -> None:
        """Show why the current values cannot be drawn; the last good picture and data stay."""
        self.message = message
        self.readout.value = f'<span style="color:#b00">&#9888; {html.escape(message)}</span>'

    def refresh(self) -> None:
        """Recompute and redraw; a refused value becomes a message in the widget, not a traceback."""
        start = time.perf_counter()
        try:
            data = self.compute(**self.values)
        except ValueError as err:
            self.refuse(str(err))
            return
        self.message = ""
        self.data = data
        self.figure.clear()
        self.draw(self.figure, data)
        buffer = io.BytesIO()
        self.figure.savefig(buffer, format="png")
        self.png = buffer.getvalue()
        self.image.value = self.png
        self.readout.value = html.escape(self.describe(data))
        self.render_seconds = time.perf_counter() - start

    def _on_change(self, change: dict) -> None:
        if not self._updating:
            self.refresh()

    # --- display -------------------------------------------------------------------------------------
    def text(self) -> str:
        """What the readout says, as plain text."""
        return f"⚠ {self.message}" if self.message else self.describe(self.data)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        # The live widget for JupyterLab, a static PNG for GitHub / headless runs, plain text for nbval.
        bundle = self.widget._repr_mimebundle_(**kwargs) or {}
        if isinstance(bundle, tuple):     # (data, metadata) form
            bundle = bundle[0]
        bundle = dict(bundle)
        bundle["image/png"] = base64.b64encode(self.png).decode("ascii")
        bundle["text/plain"] = self.text()
        return bundle
