"""Spec for d2l_bn.plotting and d2l_bn.devices: d2l's helpers, headless-safe and tensor-friendly."""
from __future__ import annotations

import matplotlib

matplotlib.use('Agg')

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib import pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from d2l_bn import plotting  # noqa: E402
from d2l_bn.devices import describe_device, try_all_gpus, try_gpu  # noqa: E402
from d2l_bn.plotting import Animator, plot, set_figsize, show_images, use_svg_display  # noqa: E402


@pytest.fixture(autouse=True)
def no_leftover_figures():
    yield
    plt.close('all')


def test_try_gpu_falls_back_to_the_cpu_and_try_all_gpus_lists_every_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 0)
    assert try_gpu() == torch.device('cpu') and try_all_gpus() == [torch.device('cpu')]
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 2)
    assert try_gpu(1) == torch.device('cuda:1') and try_gpu(2) == torch.device('cpu')
    assert try_all_gpus() == [torch.device('cuda:0'), torch.device('cuda:1')]


def test_describe_device_names_the_cpu_thread_count():
    assert describe_device('cpu') == f'cpu ({torch.get_num_threads()} thread' + \
        ('s)' if torch.get_num_threads() != 1 else ')')


def test_use_svg_display_outside_jupyter_creates_no_ipython_shell():
    from IPython import get_ipython
    use_svg_display()
    assert get_ipython() is None


def test_set_figsize_sets_the_default_figure_size():
    with matplotlib.rc_context():
        set_figsize((5, 3))
        assert tuple(plt.rcParams['figure.figsize']) == (5, 3)


def test_plot_draws_one_line_per_series_sharing_x_and_accepts_tensors():
    x = torch.arange(0, 3, 0.5, requires_grad=True)
    plot(x, [x ** 2, 2 * x], 'x', 'f(x)', legend=['x^2', '2x'])
    axes = plt.gca()
    lines = axes.get_lines()
    assert len(lines) == 2
    assert np.allclose(lines[0].get_xdata(), x.detach().numpy())
    assert np.allclose(lines[0].get_ydata(), (x ** 2).detach().numpy())
    assert [t.get_text() for t in axes.get_legend().get_texts()] == ['x^2', '2x']
    assert axes.get_xlabel() == 'x' and axes.get_ylabel() == 'f(x)'


def test_plot_of_y_alone_uses_the_index_as_x_and_honours_fmts_scales_and_limits():
    _, axes = plt.subplots()
    plot([1.0, 10.0, 100.0], yscale='log', ylim=(1, 100), fmts=('r:',), axes=axes)
    (line,) = axes.get_lines()
    assert list(line.get_xdata()) == [0, 1, 2] and line.get_linestyle() == ':'
    assert axes.get_yscale() == 'log' and axes.get_ylim() == (1, 100)


def test_plot_draws_series_beyond_the_given_fmts_instead_of_dropping_them():
    plot(torch.arange(5), torch.rand(6, 5))  # a 2-D tensor: one series per row
    assert len(plt.gca().get_lines()) == 6


def test_animator_keeps_the_data_and_one_line_per_series_when_headless():
    figures_before = plt.get_fignums()
    animator = Animator(xlabel='epoch', xlim=[1, 3], legend=['loss', 'acc'])
    for epoch in (1, 2, 3):
        animator.add(epoch, (1 / epoch, torch.tensor(0.5 + epoch / 10)))
    animator.add(3.5, (None, 0.9))  # None skips a series
    assert animator.X == [[1, 2, 3], [1, 2, 3, 3.5]]
    assert animator.Y[0] == pytest.approx([1, 1 / 2, 1 / 3])
    assert animator.Y[1] == pytest.approx([0.6, 0.7, 0.8, 0.9])
    assert isinstance(animator.fig, Figure) and not animator.live
    assert len(animator.axes[0].get_lines()) == 2
    assert animator.axes[0].get_xlim() == (1, 3)
    assert plt.get_fignums() == figures_before  # not registered with pyplot: nothing piles up


def test_animator_makes_a_grid_of_axes():
    animator = Animator(nrows=2, ncols=3, figsize=(6, 4))
    assert len(animator.axes) == 6 and len(animator.fig.axes) == 6


def test_animator_in_a_notebook_updates_one_output_in_place(monkeypatch):
    """Live mode shows the figure once and then updates that display (no clear_output flicker)."""
    import IPython.display

    shown, updates = [], []

    class Handle:
        def update(self, obj):
            updates.append(obj)

    def fake_display(obj, display_id=False):
        shown.append(obj)
        assert display_id is True
        return Handle()

    monkeypatch.setattr(IPython.display, 'display', fake_display)
    monkeypatch.setattr(IPython.display, 'clear_output',
                        lambda *a, **k: pytest.fail('clear_output should not be needed'))
    animator = Animator(live=True)
    for x in range(3):
        animator.add(x, x ** 2)
    assert shown == [animator.fig] and updates == [animator.fig, animator.fig]


def test_show_images_draws_a_grid_of_tensor_images_with_titles():
    imgs = torch.rand(6, 1, 28, 28, requires_grad=True)  # (N, C, H, W) as a loader yields them
    axes = show_images(imgs, 2, 3, titles=list('abcdef'))
    assert len(axes) == 6
    assert [ax.get_title() for ax in axes] == list('abcdef')
    assert all(ax.get_images()[0].get_array().shape == (28, 28) for ax in axes)
    assert np.allclose(axes[4].get_images()[0].get_array(), imgs[4, 0].detach().numpy())
    assert not axes[0].get_xaxis().get_visible()


def test_show_images_accepts_a_single_slot_and_leaves_spare_slots_empty():
    (ax,) = show_images(torch.rand(1, 28, 28), 1, 1)
    assert ax.get_images()[0].get_array().shape == (28, 28)
    axes = show_images([np.zeros((8, 8, 3)), torch.rand(3, 8, 8)], 1, 3, scale=1)
    assert axes[1].get_images()[0].get_array().shape == (8, 8, 3)  # (C, H, W) moved to (H, W, C)
    assert not axes[2].get_images() and not axes[2].axison
    assert tuple(axes[0].figure.get_size_inches()) == (3, 1)


def test_in_notebook_is_false_in_plain_python():
    assert plotting._in_notebook() is False
