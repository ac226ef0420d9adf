"""Tiny learnable image sets for fast trainer tests (shared by the training and LeNet-explorer tests)."""
from __future__ import annotations

import torch

NUM_CLASSES = 4


def bright_quadrant_images(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 noise images (n, 1, 28, 28) with one bright quadrant; the label is which one (0..3, row-major)."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, NUM_CLASSES, (n,), generator=g)
    pixels = torch.rand(n, 1, 28, 28, generator=g) * 0.4
    for k in range(NUM_CLASSES):
        row, col = divmod(k, 2)
        pixels[labels == k, :, row * 14:(row + 1) * 14, col * 14:(col + 1) * 14] += 0.5
    return (pixels * 255).to(torch.uint8), labels
