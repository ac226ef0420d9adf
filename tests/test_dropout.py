"""Spec for inverted dropout (d2l_bn.layers.dropout_layer / Dropout): what chapter 03 teaches, held by tests."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from d2l_bn.layers import Dropout, dropout_layer


def test_dropout_draws_one_mask_per_example_not_one_per_batch():
    torch.manual_seed(0)
    out = dropout_layer(torch.ones(10_000, 8), 0.5)
    # 10,000 rows and 2^8 = 256 equally likely row masks: every pattern turns up; a batch-wide mask gives 1.
    assert len(torch.unique(out != 0, dim=0)) == 256


def test_dropout_zeroes_each_element_independently_with_probability_p():
    torch.manual_seed(1)
    p, n = 0.3, 1_000_000
    kept = dropout_layer(torch.ones(n), p) != 0
    assert abs((~kept).float().mean().item() - p) < 4 * math.sqrt(p * (1 - p) / n)
    # neighbours are independent: P(both kept) = (1 - p)^2 within 4 binomial standard errors
    both = (kept[:-1] & kept[1:]).float().mean().item()
    q = (1 - p) ** 2
    assert abs(both - q) < 4 * math.sqrt(q * (1 - q) / (n - 1))


@pytest.mark.parametrize("bad", [float("nan"), True, "0.5", None, -0.1, 1.5, np.bool_(False)])
def test_dropout_refuses_anything_but_a_probability_and_names_the_fix(bad):
    with pytest.raises(ValueError, match=r"dropout must be a probability in \[0, 1\].*e\.g\. dropout=0\.5"):
        dropout_layer(torch.ones(3), bad)
    with pytest.raises(ValueError, match=r"p must be a probability in \[0, 1\].*e\.g\. p=0\.5"):
        Dropout(bad)


@pytest.mark.parametrize("good", [0, 1, 0.5, np.float32(0.25), np.float64(0.75)])
def test_dropout_accepts_real_numbers_in_the_unit_interval(good):
    torch.manual_seed(2)
    X = torch.ones(1000)
    Y = dropout_layer(X, good)
    assert Y.shape == X.shape
    assert Dropout(good).p == good
