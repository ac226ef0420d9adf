"""Spec for chapter 07's one-function normalization family (d2l_bn.normalization) and its cube figure.

Each family member is a call of `normalize` with other axes; each must equal PyTorch's layer, forward and
backward, with and without affine parameters; only batch norm keeps running statistics.
"""
from __future__ import annotations

import pytest
import torch
from torch import nn

from d2l_bn.figures import FIGURES, generate
from d2l_bn.figures.norm_family import C, GROUPS, HW, N, shared_statistics
from d2l_bn.normalization import (FAMILY, differences_from_pytorch, mlp, norm_layer, normalize, pytorch_equivalent,
                                  small_cnn)

SHAPE, G = (4, 6, 3, 5), 3


@pytest.mark.parametrize("affine", [True, False])
def test_each_normalization_equals_pytorch_forward_and_backward(affine):
    torch.manual_seed(0)
    X, upstream = torch.randn(SHAPE) * 3 + 1, torch.randn(SHAPE)
    for name in FAMILY:
        gaps = differences_from_pytorch(name, X, upstream, G, affine)
        expected = {"Y", "dX"} | ({"dweight"} if affine else set()) | ({"dbias"} if affine and name != "RMSNorm"
                                                                          else set())
        assert set(gaps) == expected, name
        assert max(gaps.values()) < 1e-4, (name, gaps)


def test_the_comparison_with_pytorch_notices_a_wrong_normalization(monkeypatch):
    import d2l_bn.normalization as normalization
    right = normalization.five_normalizations

    def wrong(X, groups, eps=1e-5):                 # LayerNorm over the wrong axes
        return right(X, groups, eps) | {"LayerNorm": normalization.normalize(X, (2, 3), eps)}
    monkeypatch.setattr(normalization, "five_normalizations", wrong)
    torch.manual_seed(0)
    gaps = differences_from_pytorch("LayerNorm", torch.randn(SHAPE), torch.randn(SHAPE), G, affine=True)
    assert gaps["Y"] > 0.1 and gaps["dX"] > 0.01


def test_normalize_passes_gradcheck_for_every_axis_choice():
    torch.manual_seed(0)
    X = torch.randn(3, 4, 2, 2, dtype=torch.float64, requires_grad=True)
    for dims, subtract_mean in (((0, 2, 3), True), ((1, 2, 3), True), ((2, 3), True), ((1, 2, 3), False)):
        assert torch.autograd.gradcheck(lambda x: normalize(x, dims, 1e-5, subtract_mean), (X,))


def test_only_batch_norm_keeps_running_statistics():
    buffers = {name: [b for b, _ in pytorch_equivalent(name, SHAPE, G).named_buffers()] for name in FAMILY}
    assert buffers.pop("BatchNorm") == ["running_mean", "running_var", "num_batches_tracked"]
    assert all(found == [] for found in buffers.values())


def test_norm_layer_builds_pytorchs_layers_and_refuses_what_cannot_work():
    assert isinstance(norm_layer("bn", 8), nn.BatchNorm1d) and isinstance(norm_layer("bn", 8, images=True),
                                                                          nn.BatchNorm2d)
    assert isinstance(norm_layer("ln", 8), nn.LayerNorm) and norm_layer("ln", 8, images=True).num_groups == 1
    assert norm_layer("gn", 8, groups=4).num_groups == 4 and isinstance(norm_layer(None, 8), nn.Identity)
    with pytest.raises(ValueError, match="divisible by groups"):
        norm_layer("gn", 6, groups=4)
    with pytest.raises(ValueError, match="unknown normalisation"):
        norm_layer("batch", 6)


def test_mlp_is_chapter_06s_network_and_small_cnn_maps_images_to_ten_logits():
    torch.manual_seed(0)   # chapter 06's builder, written out: the same layers from the same seed
    reference = nn.Sequential(nn.Linear(784, 128), nn.GroupNorm(8, 128), nn.ReLU(), nn.Linear(128, 64),
                              nn.GroupNorm(8, 64), nn.ReLU(), nn.Linear(64, 10))
    ours = mlp("gn", seed=0)
    assert [type(m) for m in ours] == [type(m) for m in reference]
    for (name, a), (_, b) in zip(ours.state_dict().items(), reference.state_dict().items()):
        assert torch.equal(a, b), name
    assert small_cnn("bn")(torch.rand(3, 1, 28, 28)).shape == (3, 10)
    assert sum(isinstance(m, nn.BatchNorm1d) for m in small_cnn("bn")) == 1


def test_the_cube_figure_shades_exactly_the_values_that_share_one_statistic():
    masks = shared_statistics()
    per_statistic = {"BatchNorm": N * HW, "LayerNorm": C * HW, "InstanceNorm": HW, "GroupNorm": C // GROUPS * HW,
                     "RMSNorm": C * HW}
    assert {name: int(mask.sum()) for name, mask in masks.items()} == per_statistic
    assert masks["BatchNorm"][:, 0].all() and masks["LayerNorm"][0].all() and masks["InstanceNorm"][0, 0].all()


def test_the_cube_figure_is_registered_and_written(tmp_path):
    assert "normalization_family" in FIGURES
    svg, png = generate(["normalization_family"], tmp_path)["normalization_family"].paths
    assert svg.stat().st_size > 10_000 and 10_000 < png.stat().st_size < 500_000
