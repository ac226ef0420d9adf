"""d2l's plotting helpers: `plot`, `Animator`, `show_images` (same names and arguments).

What differs from d2l, and why:

* Tensors are welcome anywhere, on any device: they are detached and copied to the
  CPU before matplotlib sees them (d2l's `img.numpy()` fails on a GPU tensor).
* `Animator` draws on a pyplot-free `Figure`. In Jupyter it shows that figure once and
  then *updates the same output* (an IPython display handle) instead of d2l's
  display + `clear_output`, which flickers and also wipes whatever the cell printed
  before. Outside a notebook (a script, pytest, CI) it shows nothing and just keeps the
  data (`.X`, `.Y`) and the figure (`.fig`), so code that animates runs headless.
  Because pyplot never learns about the figure, it is not drawn a second time at the
  end of the cell and figures do not pile up in pyplot's registry.
* `plot` draws series beyond the given `fmts` with a plain line instead of silently
  dropping them (like d2l it returns nothing, so a notebook cell shows no `<Axes>`
  text); `show_images` also accepts a 1x1 grid and hides unused slots.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np
import torch
from matplotlib import pyplot as plt
from matplotlib.figure import Figure


def _in_notebook() -> bool:
    """True inside a Jupyter kernel (where rich output can be displayed), False in scripts/tests."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, 'kernel', None) is not None


def _numpy(v: Any) -> Any:
    """Tensors (any device, with or without grad) as NumPy; everything else unchanged."""
    return v.detach().cpu().numpy() if torch.is_tensor(v) else v


def use_svg_display():
    """Use the svg format to display a plot in Jupyter."""
    # Only inside IPython: asking for formats elsewhere would create a stray IPython shell.
    if _in_notebook():
        from matplotlib_inline import backend_inline
        backend_inline.set_matplotlib_formats('svg')


def set_figsize(figsize=(3.5, 2.5)):
    """Set the figure size for matplotlib."""
    use_svg_display()
    plt.rcParams['figure.figsize'] = figsize


def set_axes(axes, xlabel, ylabel, xlim, ylim, xscale, yscale, legend):
    """Set the axes for matplotlib."""
    axes.set_xlabel(xlabel), axes.set_ylabel(ylabel)
    axes.set_xscale(xscale), axes.set_yscale(yscale)
    axes.set_xlim(xlim), axes.set_ylim(ylim)
    if legend:
        axes.legend(legend)
    axes.grid()


def _as_series(v: Any) -> list:
    """d2l's convention: one 1-D sequence is one series; a 2-D array or a list of sequences is many."""
    v = _numpy(v)
    if isinstance(v, np.ndarray):
        return [v] if v.ndim <= 1 else list(v)
    v = [_numpy(e) for e in v]
    if not v or all(np.ndim(e) == 0 for e in v):
        return [v]
    return v


def plot(X, Y=None, xlabel=None, ylabel=None, legend=None, xlim=None,
         ylim=None, xscale='linear', yscale='linear',
         fmts=('-', 'm--', 'g-.', 'r:'), figsize=(3.5, 2.5), axes=None) -> None:
    """Plot data points (lists, arrays or tensors; one series or several) on `axes` or the current axes."""
    X = _as_series(X)
    if Y is None:
        X, Y = [[]] * len(X), X
    else:
        Y = _as_series(Y)
    if len(X) != len(Y):
        X = X * len(Y)
    set_figsize(figsize)
    if axes is None:
        axes = plt.gca()
    axes.cla()
    for i, (x, y) in enumerate(zip(X, Y)):
        fmt = fmts[i] if i < len(fmts) else '-'
        axes.plot(x, y, fmt) if len(x) else axes.plot(y, fmt)
    set_axes(axes, xlabel, ylabel, xlim, ylim, xscale, yscale, legend)


class Animator:
    """For plotting data in animation."""

    def __init__(self, xlabel=None, ylabel=None, legend=None, xlim=None,
                 ylim=None, xscale='linear', yscale='linear',
                 fmts=('-', 'm--', 'g-.', 'r:'), nrows=1, ncols=1,
                 figsize=(3.5, 2.5), live: Optional[bool] = None):
        if legend is None:
            legend = []
        use_svg_display()
        self.fig = Figure(figsize=figsize)
        self.axes = list(np.ravel(self.fig.subplots(nrows, ncols, squeeze=False)))
        self.config_axes = lambda: set_axes(
            self.axes[0], xlabel, ylabel, xlim, ylim, xscale, yscale, legend)
        self.X, self.Y, self.fmts = None, None, fmts
        self.live = _in_notebook() if live is None else live
        self._handle = None

    def add(self, x, y):
        """Append one point per series (None skips a series) and redraw."""
        if not hasattr(y, "__len__"):
            y = [y]
        n = len(y)
        if not hasattr(x, "__len__"):
            x = [x] * n
        if not self.X:
            self.X = [[] for _ in range(n)]
        if not self.Y:
            self.Y = [[] for _ in range(n)]
        for i, (a, b) in enumerate(zip(x, y)):
            if a is not None and b is not None:
                self.X[i].append(float(a))
                self.Y[i].append(float(b))
        self.axes[0].cla()
        for i, (x, y) in enumerate(zip(self.X, self.Y)):
            self.axes[0].plot(x, y, self.fmts[i] if i < len(self.fmts) else '-')
        self.config_axes()
        self.show()

    def show(self):
        """Show the figure in the notebook, replacing the previous frame in place; no-op when headless."""
        if not self.live:
            return
        from IPython.display import display
        if self._handle is None:
            self._handle = display(self.fig, display_id=True)
        else:
            self._handle.update(self.fig)


def _image_array(img: Any) -> Any:
    """An image as imshow wants it: CPU, (H, W) or (H, W, C); torch's (C, H, W) is transposed."""
    if torch.is_tensor(img):
        img = img.detach().cpu()
        if img.dim() == 3 and img.shape[0] in (1, 3, 4) and img.shape[-1] not in (1, 3, 4):
            img = img.permute(1, 2, 0)
        img = img.numpy()
    if isinstance(img, np.ndarray) and img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    return img


def show_images(imgs: Sequence[Any], num_rows: int, num_cols: int, titles=None, scale=1.5):
    """Plot a list of images (tensors on any device, arrays or PIL images); return the flat axes."""
    figsize = (num_cols * scale, num_rows * scale)
    _, axes = plt.subplots(num_rows, num_cols, figsize=figsize, squeeze=False)
    axes = axes.flatten()
    for ax in axes[len(imgs):]:
        ax.axis('off')  # empty slots of the grid
    for i, (ax, img) in enumerate(zip(axes, imgs)):
        ax.imshow(_image_array(img))
        ax.axes.get_xaxis().set_visible(False)
        ax.axes.get_yaxis().set_visible(False)
        if titles:
            ax.set_title(titles[i])
    return axes
