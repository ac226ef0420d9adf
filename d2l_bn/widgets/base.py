"""The pattern every explorer in the course follows: one question, a few controls, one picture.

Why not ``ipywidgets.interact``? Its output is captured into an ``Output`` widget, which nbval cannot replay
("Unexpected output fields: stdout") and which GitHub shows as nothing. An :class:`Explorer` instead renders its
matplotlib figure to PNG bytes and shows them in an ``ipywidgets.Image``. The same bytes travel in the cell's
output as a static ``image/png`` beside the live widget, so:

* in JupyterLab the live widget is shown and redraws when a control moves;
* on GitHub, nbviewer or a notebook executed headless the static figure is shown instead;
* tests (and curious learners) drive it from Python with :meth:`Explorer.set` and read :attr:`Explorer.data`.

The controls and the picture never disagree. A value is refused, with a message in the readout and nothing
changed, when a control cannot show it exactly (2.7 on a whole-number slider, a value outside a slider's range
or finer than its readout: see :mod:`d2l_bn.widgets.controls`) or when it makes no sense (:meth:`validate`).
A refused ``set(a=..., b=...)`` changes neither ``a`` nor ``b``; a refused move of a control puts it back.

Explorers whose update trains a model (``trains = True``) run a change made with the mouse or the keyboard in
a worker thread: the kernel stays responsive, and a newer change supersedes the one in progress (twenty presses
of an arrow key start one run for the last value, not twenty queued runs). :meth:`Explorer.set` always
computes in the caller's thread, so tests and cells get the result when it returns.

A subclass implements :meth:`~Explorer.compute` (values of the controls -> a dict of numbers and arrays),
:meth:`~Explorer.draw` (data -> a picture on a matplotlib ``Figure``) and :meth:`~Explorer.describe` (data ->
one line of text for the readout, which is also the cell's text output, so keep it deterministic), and
usually :meth:`~Explorer.validate` (raise ``ValueError`` naming the fix for values that make no sense).
"""
from __future__ import annotations

import base64
import html
import io
import threading
import time
from typing import Any, Optional

import ipywidgets as widgets
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from d2l_bn.widgets.controls import normalised, outside_range, wrong_type

__all__ = ["Explorer", "SetResult", "Superseded"]


class Superseded(Exception):
    """Raised by :meth:`Explorer.check_superseded` when a newer change from the controls made a run stale."""


class SetResult:
    """What :meth:`Explorer.set` did: ``accepted``, ``message`` (why not, or ""), ``text`` and ``data``.

    Its repr is the readout's text, so ``explorer.set(...)`` as a cell's last line prints one line instead of
    a second copy of the widget.
    """

    __slots__ = ("accepted", "message", "text", "data")

    def __init__(self, accepted: bool, message: str, text: str, data: dict[str, Any]) -> None:
        self.accepted, self.message, self.text, self.data = accepted, message, text, data

    def __repr__(self) -> str:
        return self.text


def _plain(value: Any) -> Any:
    """numpy scalars as Python numbers, so messages read 'p = 0.5', not 'p = np.float64(0.5)'."""
    return value.item() if isinstance(value, np.generic) else value


class Explorer:
    """Controls + a figure + a one-line readout, recomputed whenever a control changes.

    Subclasses call ``super().__init__(controls, figsize)`` at the END of their own ``__init__`` (the first
    picture is computed there, so everything :meth:`compute` needs must already exist). Starting values that
    would be refused raise ``ValueError`` with the same message.
    """

    #: True for explorers whose update trains a model: changes from the controls then run in a worker thread.
    trains = False

    def __init__(self, controls: dict[str, widgets.ValueWidget], figsize: tuple[float, float] = (8.0, 3.0),
                 dpi: int = 100) -> None:
        self.controls = dict(controls)
        # A Figure that is not managed by pyplot: the inline backend will never display it twice.
        self.figure = Figure(figsize=figsize, dpi=dpi)
        FigureCanvasAgg(self.figure)
        self.image = widgets.Image(format="png")
        self.readout = widgets.HTML()
        self.data: dict[str, Any] = {}
        self.message = ""                 # non-empty while the last change is refused
        self.png = b""                    # the bytes currently shown
        self.render_seconds = float("nan")  # compute + draw + encode of the last accepted change
        self._shown: dict[str, Any] = {}  # the control values `data` and the picture were computed from
        self._updating = False
        self._lock = threading.RLock()
        self._generation = 0              # counts changes from the controls; a job older than this is stale
        self._pending: Optional[tuple[int, dict[str, Any]]] = None
        self._worker: Optional[threading.Thread] = None
        self._job: Optional[int] = None   # the generation the worker is computing
        for control in self.controls.values():
            control.observe(self._on_change, names="value")
        self.widget = widgets.VBox([widgets.HBox(list(self.controls.values())), self.image, self.readout])
        problem, values = self.check(self.values)
        if problem:
            raise ValueError(problem)
        start = time.perf_counter()
        self._show(values, self.compute(**values), start)

    # --- to be implemented by subclasses -------------------------------------------------------------
    def validate(self, **values: Any) -> None:
        """Raise ``ValueError`` (saying what would work) for values that make no sense; cheap, no training."""

    def compute(self, **values: Any) -> dict[str, Any]:
        """Turn the controls' (validated) values into the numbers the picture shows."""
        raise NotImplementedError

    def draw(self, figure: Figure, data: dict[str, Any]) -> None:
        """Make ``figure`` show ``data``: clear it and draw anew, or update the artists an earlier call made."""
        raise NotImplementedError

    def describe(self, data: dict[str, Any]) -> str:
        """One line of plain text summarising ``data`` (shown under the figure)."""
        raise NotImplementedError

    # --- driving it ----------------------------------------------------------------------------------
    @property
    def values(self) -> dict[str, Any]:
        """The current value of every control, by name."""
        return {name: control.value for name, control in self.controls.items()}

    def check(self, values: dict[str, Any]) -> tuple[Optional[str], dict[str, Any]]:
        """(why the controls cannot take `values`, or None; the values as the controls would hold them)."""
        for name, value in values.items():
            problem = wrong_type(self.controls[name], value)
            if problem:
                return f"{name} = {_plain(value)!r} {problem}", values
        values = {name: normalised(self.controls[name], value) for name, value in values.items()}
        try:
            self.validate(**values)
        except ValueError as err:
            return str(err), values
        for name, value in values.items():
            problem = outside_range(self.controls[name], value)
            if problem:
                return f"{name} = {_plain(value)!r} {problem}", values
        return None, values

    def set(self, **values: Any) -> SetResult:
        """Move several controls at once (one update), all or nothing, as a learner would with the mouse.

        A refused value leaves every control, the data and the picture as they were, and the readout says
        why. Returns a :class:`SetResult` (its repr is the readout, so a cell shows no second widget).
        """
        unknown = set(values) - set(self.controls)
        if unknown:
            raise ValueError(f"unknown control(s) {sorted(unknown)}; this explorer has {sorted(self.controls)}")
        self._supersede_background_work()
        start = time.perf_counter()
        problem, proposed = self.check({**self._shown, **values})
        if problem is None:
            try:
                data = self.compute(**proposed)
            except ValueError as err:
                problem = str(err)
        if problem is None:
            self._show(proposed, data, start)
        else:
            self._put_back()
            self.refuse(problem)
        return SetResult(not self.message, self.message, self.text(), self.data)

    def wait(self, timeout: Optional[float] = None) -> None:
        """Block until a change made with the controls (computed in the background) is on screen."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while (worker := self._worker) is not None and worker is not threading.current_thread():
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return
            worker.join(left)

    def check_superseded(self) -> None:
        """Call inside a long :meth:`compute`: raises :class:`Superseded` once a newer change made it stale."""
        job = self._job
        if job is not None and job != self._generation and threading.current_thread() is self._worker:
            raise Superseded

    def refuse(self, message: str) -> None:
        """Show why the last change cannot be drawn; the last good picture and data stay."""
        self.message = message
        self.readout.value = f'<span style="color:#b00">&#9888; {html.escape(message)}</span>'

    # --- internals -----------------------------------------------------------------------------------
    def _show(self, values: dict[str, Any], data: dict[str, Any], start: float) -> None:
        """Put `values` on the controls and `data` in the picture and the readout."""
        with self._lock:
            self._move_controls(values)
            self._shown = self.values
            self.message = ""
            self.data = data
            self.draw(self.figure, data)
            self.png = self._encode_png()
            self.image.value = self.png
            self.readout.value = html.escape(self.describe(data))
            self.render_seconds = time.perf_counter() - start

    def _encode_png(self) -> bytes:
        # One draw, then a fast PNG encoder: savefig would draw the figure a second time.
        canvas = self.figure.canvas
        canvas.draw()
        rgb = np.asarray(canvas.buffer_rgba())[..., :3]
        buffer = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(rgb)).save(buffer, format="png", compress_level=3)
        return buffer.getvalue()

    def _put_back(self) -> None:
        """Controls back to the values the picture shows."""
        self._move_controls(self._shown)

    def _move_controls(self, values: dict[str, Any]) -> None:
        """Set controls without triggering :meth:`_on_change` (the caller updates, or undoes, the picture)."""
        with self._lock:
            self._updating = True
            try:
                for name, value in values.items():
                    self.controls[name].value = value
            finally:
                self._updating = False

    def _on_change(self, change: dict) -> None:
        """A control moved in the browser (or was assigned directly): check, then update (or queue) or put back."""
        if self._updating:
            return
        start = time.perf_counter()
        problem, values = self.check(self.values)
        if problem is None and not self.trains:
            try:
                self._show(values, self.compute(**values), start)
                return
            except ValueError as err:
                problem = str(err)
        if problem is not None:
            with self._lock:
                self._generation += 1      # a refusal also cancels a run still in progress
                self._pending = None
            self._put_back()
            self.refuse(problem)
            return
        with self._lock:
            self._generation += 1
            self._pending = (self._generation, values)
            if self._worker is None:
                self._worker = threading.Thread(target=self._work, daemon=True,
                                                name=f"{type(self).__name__} update")
                self._worker.start()
        setting = ", ".join(f"{name} = {_plain(value)}" for name, value in values.items())
        self.readout.value = f"&#8987; computing {html.escape(setting)} ... (the picture shows the previous setting)"

    def _work(self) -> None:
        """The worker thread: compute the newest pending change; drop one that a newer change superseded."""
        while True:
            with self._lock:
                if self._pending is None:
                    self._job, self._worker = None, None
                    return
                self._job, values = self._pending
                self._pending = None
            start = time.perf_counter()
            try:
                data = self.compute(**values)
                with self._lock:
                    if self._job == self._generation:
                        self._show(values, data, start)
            except Superseded:
                continue
            except Exception as err:   # shown in the readout: an exception in a thread is otherwise invisible,
                with self._lock:       # and the worker must live on to take the next change
                    if self._job == self._generation:
                        self._put_back()
                        self.refuse(str(err) if isinstance(err, ValueError) else f"{type(err).__name__}: {err}")

    def _supersede_background_work(self) -> None:
        with self._lock:
            self._generation += 1
            self._pending = None
        self.wait()

    # --- display -------------------------------------------------------------------------------------
    def text(self) -> str:
        """What the readout says, as plain text."""
        return f"⚠ {self.message}" if self.message else self.describe(self.data)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        # The live widget for JupyterLab, a static PNG for GitHub / headless runs, plain text for nbval.
        make_bundle = getattr(self.widget, "_repr_mimebundle_", None)   # ipywidgets 8; 7.x has none
        bundle = make_bundle(**kwargs) if make_bundle is not None else None
        if isinstance(bundle, tuple):     # (data, metadata) form
            bundle = bundle[0]
        bundle = dict(bundle or {"application/vnd.jupyter.widget-view+json": {
            "version_major": 2, "version_minor": 0, "model_id": self.widget.model_id}})
        bundle["image/png"] = base64.b64encode(self.png).decode("ascii")
        bundle["text/plain"] = self.text()
        return bundle
