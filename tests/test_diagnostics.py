"""Spec for d2l_bn.diagnostics (hooks, per-layer statistics, update-to-data ratios) and its plots."""
from __future__ import annotations

import math

import matplotlib
import pytest
import torch
from matplotlib.figure import Figure
from torch import nn
from torch.nn import functional as F

from d2l_bn.diagnostics import (gradient_norm_profile, hidden_weights, layer_statistics, recording, saturation,
                                train_steps_with_ratios)
from d2l_bn.diagnostics_plots import plot_histograms, plot_layer_profile, plot_update_ratios
from d2l_bn.resnet import deep_mlp

matplotlib.use("Agg")


def data(n: int = 64, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 784, generator=g), torch.randint(0, 10, (n,), generator=g)


def test_recording_keeps_each_output_and_the_gradient_autograd_sends_into_it():
    net = deep_mlp(3, 16, activation="tanh", seed=0)
    X, y = data()
    watched = {f"act {k}": block.act for k, block in enumerate(list(net)[1:-1])}
    with recording(watched) as (outputs, grads):
        out = net(X)
        F.cross_entropy(out, y).backward()
    # the same quantities, the long way: rerun by hand and ask autograd for the gradients
    h, by_hand = X, []
    for block in list(net)[1:-1]:
        h = block.act(block.linear(h))
        h.retain_grad()
        by_hand.append(h)
    F.cross_entropy(net[-1](h), y).backward()
    for k, tensor in enumerate(by_hand):
        torch.testing.assert_close(outputs[f"act {k}"], tensor.detach())
        torch.testing.assert_close(grads[f"act {k}"], tensor.grad)
    assert not outputs["act 0"].requires_grad


def test_recording_removes_its_hooks_even_when_the_forward_pass_fails():
    layer = nn.Linear(4, 4)
    with pytest.raises(RuntimeError):
        with recording({"layer": layer}):
            layer(torch.randn(2, 5))           # wrong width
    assert not layer._forward_hooks
    with recording({"layer": layer}) as (outputs, grads):
        with torch.no_grad():
            layer(torch.randn(2, 4))
    assert "layer" in outputs and grads == {}   # no graph, no gradient hook
    assert not layer._forward_hooks


def test_saturation_is_the_share_of_values_beyond_the_threshold():
    t = torch.tensor([0.0, 0.5, -0.98, 0.99, 0.97, -1.0])
    assert saturation(t) == pytest.approx(3 / 6)
    assert saturation(t, threshold=0.4) == pytest.approx(5 / 6)
    for bad in (0, 1, 1.5, -0.1):
        with pytest.raises(ValueError, match="threshold must be in"):
            saturation(t, bad)


def test_layer_statistics_report_mean_std_saturation_and_gradient_norm():
    outputs = {"a": torch.tensor([0.0, 1.0, -1.0, 0.5])}
    grads = {"a": torch.tensor([3.0, 4.0, 0.0, 0.0])}
    stats = layer_statistics(outputs, grads)["a"]
    assert stats["mean"] == pytest.approx(0.125)
    assert stats["std"] == pytest.approx(torch.tensor([0.0, 1.0, -1.0, 0.5]).std().item())
    assert stats["saturation"] == pytest.approx(0.5)
    assert stats["grad_norm"] == pytest.approx(5.0)
    assert "grad_norm" not in layer_statistics(outputs)["a"]


def test_gradient_norm_profile_equals_autograd_leaves_no_gradients_and_restores_modes():
    net = deep_mlp(4, 32, batch_norm=True, seed=1)
    net.eval()
    X, y = data()
    profile = gradient_norm_profile(net, X, y)
    weights = hidden_weights(net)
    assert len(profile) == len(weights) == 5            # 4 hidden layers + the output layer
    net.train()
    expected = torch.autograd.grad(F.cross_entropy(net(X), y), weights)
    torch.testing.assert_close(profile, torch.stack([g.norm() for g in expected]))
    assert all(w.grad is None for w in weights)
    net.eval()
    gradient_norm_profile(net, X, y)
    assert not any(m.training for m in net.modules())
    with pytest.raises(ValueError, match="no Linear or Conv2d"):
        gradient_norm_profile(nn.Sequential(nn.Flatten(), nn.ReLU()), X, y)


def test_first_update_ratio_of_plain_sgd_is_lr_times_gradient_over_weight():
    net = deep_mlp(2, 16, seed=0)
    X, y = data(32)
    weights = hidden_weights(net)
    w0 = [w.detach().clone() for w in weights]
    generator = torch.Generator().manual_seed(5)
    idx = torch.randint(len(X), (8,), generator=generator)       # the batch train_steps_with_ratios draws first
    grads = torch.autograd.grad(F.cross_entropy(net(X[idx]), y[idx]), weights)
    log = train_steps_with_ratios(net, X, y, steps=1, batch_size=8, lr=0.1, seed=5)
    expected = torch.stack([0.1 * g.norm() / w.norm() for g, w in zip(grads, w0)])
    torch.testing.assert_close(log.update_ratios[0], expected, rtol=1e-4, atol=0)
    assert log.losses.shape == (1,) and log.update_ratios.shape == (1, len(weights))


def test_train_steps_with_ratios_is_reproducible_and_lowers_the_loss_on_learnable_data():
    X, y = data(256)
    X = X + 3 * F.one_hot(y, 784).float()                      # the label is written into the input
    logs = [train_steps_with_ratios(deep_mlp(2, 32, seed=0), X, y, steps=60, batch_size=32, lr=0.1, seed=1)
            for _ in range(2)]
    assert torch.equal(logs[0].losses, logs[1].losses)
    assert logs[0].losses[-10:].mean() < logs[0].losses[:10].mean() - 0.5


def test_train_steps_with_ratios_stops_at_the_first_non_finite_loss():
    net = deep_mlp(2, 16, seed=0)
    X, y = data(64)
    log = train_steps_with_ratios(net, X * 1e3, y, steps=100, batch_size=16, lr=1e6, seed=0)
    assert 1 <= len(log.losses) < 100
    assert torch.isfinite(log.losses[:-1]).all() and not torch.isfinite(log.losses[-1])
    assert len(log.update_ratios) == len(log.losses)


@pytest.mark.parametrize("steps,batch_size,lr", [(0, 8, 0.1), (5, 0, 0.1), (5, 8, 0.0), (5, 8, float("nan"))])
def test_train_steps_with_ratios_refuses_settings_that_cannot_train(steps, batch_size, lr):
    X, y = data(16)
    with pytest.raises(ValueError, match="need steps >= 1"):
        train_steps_with_ratios(deep_mlp(2, 8), X, y, steps, batch_size, lr)


def test_plots_draw_one_line_per_layer_or_setting():
    figure = Figure()
    ax1, ax2, ax3 = figure.subplots(1, 3)
    plot_histograms(ax1, {"a": torch.randn(100), "b": torch.rand(100)}, "t", value_range=(-1, 1),
                    show_saturation=True)
    assert len(ax1.lines) == 2 and "sat." in ax1.get_legend().get_texts()[0].get_text()
    plot_layer_profile(ax2, {"x": [1.0, 10.0, 100.0], "y": [1.0, 1.0, 1.0]}, "norm", first_layer=2)
    assert len(ax2.lines) == 2 and list(ax2.lines[0].get_xdata()) == [2, 3, 4] and ax2.get_yscale() == "log"
    ratios = torch.tensor([[1e-3, 0.0], [1e-2, 1e-4]])
    plot_update_ratios(ax3, ratios)
    assert len(ax3.lines) == 3                                     # two layers and the 1e-3 line
    assert list(ax3.lines[0].get_ydata()) == pytest.approx([-3.0, -2.0])
    assert math.isfinite(ax3.lines[1].get_ydata()[0])              # a ratio of 0 is drawn at the bottom
