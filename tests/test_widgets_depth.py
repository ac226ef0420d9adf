"""DepthExplorer: depth, BN and skips against the per-layer gradient profile at initialisation."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from d2l_bn.widgets.depth import SEEDS, DepthExplorer, depth_profile
from explorer_checks import assert_refused_keeping_the_last_picture


def images(n: int = 128, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 1, 28, 28), generator=g, dtype=torch.uint8)
    return images, torch.randint(0, 10, (n,), generator=g)


@pytest.fixture(scope="module")
def explorer() -> DepthExplorer:
    return DepthExplorer(*images(), depth=10, batch_norm=True, skip=False)


def test_profiles_are_relative_to_the_last_layer_and_cover_every_layer(explorer):
    data = explorer.data
    assert data["grad_ratio"].shape == (len(SEEDS), 9) and data["stds"].shape == (len(SEEDS), 10)
    assert np.allclose(data["grad_ratio"][:, -1], 1.0)
    assert data["first_to_last"] == pytest.approx(np.median(data["grad_ratio"][:, 0]))
    X = explorer.X
    ratio, _ = depth_profile(X, explorer.y, 10, True, False, seed=SEEDS[0])
    np.testing.assert_allclose(data["grad_ratio"][0], ratio, rtol=1e-5)      # threads may sum differently


def test_bn_without_skips_explodes_faster_the_deeper_and_skips_tame_it(explorer):
    shallow = explorer.set(depth=10, batch_norm=True, skip=False).data["first_to_last"]
    deep = explorer.set(depth=40).data["first_to_last"]
    assert shallow > 2 and deep > 30 * shallow
    assert explorer.set(skip=True).data["first_to_last"] < deep / 20
    assert "times the last layer's" in explorer.text()


def test_without_bn_he_init_keeps_the_profile_level_and_skips_make_the_forward_pass_grow(explorer):
    level = explorer.set(depth=40, batch_norm=False, skip=False).data
    assert 0.1 < level["first_to_last"] < 10
    growing = explorer.set(skip=True).data
    assert np.median(growing["stds"][:, -1]) > 1e3 * np.median(growing["stds"][:, 0])


def test_an_overflowing_setting_is_described_not_shown_as_nan(explorer):
    result = explorer.set(depth=100, batch_norm=False, skip=True)
    assert result.accepted and "overflow" in result.text and "nan" not in result.text
    explorer.set(depth=10, batch_norm=True, skip=False)


def test_moving_a_control_redraws(explorer):
    png = explorer.png
    explorer.controls["skip"].value = not explorer.values["skip"]
    assert explorer.png != png and explorer.png.startswith(b"\x89PNG")
    explorer.controls["skip"].value = not explorer.values["skip"]


@pytest.mark.parametrize("bad,fragment", [
    (dict(depth=2), "depth must be between 3 and 100"),
    (dict(depth=101), "depth must be between 3 and 100"),
    (dict(depth=3.5), "not a whole number"),
    (dict(batch_norm=1), "not True or False"),
    (dict(skip="yes"), "not True or False"),
])
def test_bad_values_become_a_message_and_keep_the_last_picture(explorer, bad, fragment):
    assert_refused_keeping_the_last_picture(explorer, bad, fragment, good=dict(depth=10))


def test_the_explorer_needs_a_batch():
    X, y = images(4)
    with pytest.raises(ValueError, match="at least 2 images"):
        DepthExplorer(X[:1], y[:1])
    with pytest.raises(ValueError, match="one label per image"):
        DepthExplorer(X, y[:3])
    with pytest.raises(ValueError, match="depth must be between"):
        DepthExplorer(X, y, depth=1)
