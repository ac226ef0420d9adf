"""Where `train_ch6`'s batches come from: an in-memory loader's data kept on the device, or any loader's batches.

The fast path of `d2l_bn.training`: an in-memory loader (duck typing: `.images`, `.labels` and `.batch_size`, e.g.
d2l_bn.data's TensorLoader) has its uint8 images moved to the device once, and each batch is gathered by index
from a per-epoch permutation, then converted to float/255 (no DataLoader workers, no per-batch host copy). Any
other iterable of (X, y) batches, e.g. a torch DataLoader as d2l passes, is moved batch by batch.
"""
from __future__ import annotations

from typing import Any, Iterable, Iterator, Optional

import torch

from d2l_bn._training_checks import _label_message

# Evaluation batch size for the in-memory path. Big batches keep a GPU busy; on a CPU,
# LeNet evaluates ~2x faster in batches of 256-512 than of 2048 (measured: cache-bound).
EVAL_BATCH_SIZE = {'cuda': 2048, 'cpu': 512}
Batches = Iterable[tuple[torch.Tensor, torch.Tensor]]


class _DeviceData:
    """An in-memory loader's images and labels, resident on the device, batched by index."""

    def __init__(self, loader: Any, device: torch.device):
        images = loader.images if loader.images.dim() == 4 else loader.images.unsqueeze(1)
        async_copy = device.type == 'cuda'  # only host->GPU copies may overlap safely
        self.images = images.to(device, non_blocking=async_copy)  # uint8: a quarter of float32's memory
        self.labels = loader.labels.to(device=device, dtype=torch.int64, non_blocking=async_copy)
        # Read once, where the labels are now (a CPU loader: no device sync at all).
        low, high = torch.aminmax(loader.labels) if len(loader.labels) else (0, 0)
        self.label_range = (int(low), int(high))

    def check_labels(self, num_classes: int, name: str) -> None:
        """Every label must name one of the net's outputs: 0 .. num_classes - 1."""
        low, high = self.label_range
        if low < 0 or high >= num_classes:
            bad = ((self.labels < 0) | (self.labels >= num_classes)).nonzero()[0].item()
            raise ValueError(_label_message(name, int(self.labels[bad]), f'example {bad}', num_classes))

    def batches(self, batch_size: int, order: Optional[torch.Tensor] = None,
                drop_last: bool = False) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.labels)
        stop = n - n % batch_size if drop_last else n
        for start in range(0, stop, batch_size):
            if order is None:  # slices are views: nothing is copied but the float batch
                X, y = self.images[start:start + batch_size], self.labels[start:start + batch_size]
            else:  # index_select: ~3x faster than X[idx] on the CPU (measured)
                idx = order[start:start + batch_size]
                X, y = self.images.index_select(0, idx), self.labels.index_select(0, idx)
            # torch.div(uint8, 255) is float32 in one kernel, bit-identical to ToTensor's float().div(255)
            yield (torch.div(X, 255) if X.dtype == torch.uint8 else X.float()), y


def _is_in_memory(loader: Any) -> bool:
    """Duck typing for the fast path; a loader that resizes on the fly must be iterated instead."""
    return (torch.is_tensor(getattr(loader, 'images', None))
            and torch.is_tensor(getattr(loader, 'labels', None))
            and isinstance(getattr(loader, 'batch_size', None), int)
            and not getattr(loader, 'resize', None))


def _shuffle_generator(loader: Any, seed: Optional[int]) -> torch.Generator:
    """Where each epoch's permutation comes from.

    The loader's public `generator` if it has one: then batching it here gives exactly
    the batches that iterating it would. Otherwise a fresh generator seeded with `seed`,
    else with the loader's `seed`, else from torch's global RNG (so torch.manual_seed
    still makes the run reproducible); with a fixed seed every call sees the same order.
    """
    generator = getattr(loader, 'generator', None)
    if isinstance(generator, torch.Generator):
        return generator
    if seed is None:
        seed = getattr(loader, 'seed', None)
    if not isinstance(seed, int):
        seed = int(torch.randint(2 ** 62, ()).item())
    return torch.Generator().manual_seed(seed)


def _moved(loader: Batches, device: torch.device) -> Batches:
    """Any loader's batches on `device`, with the labels as they came when those are on the CPU (for checks).

    Async only host->GPU (a GPU->host copy could be read too early).
    """
    async_copy = device.type == 'cuda'
    return ((X.to(device, non_blocking=async_copy), y.to(device, non_blocking=async_copy),
             y if y.device.type == 'cpu' else None) for X, y in loader)


def _train_batches(loader: Any, data: Optional[_DeviceData], device: torch.device,
                   generator: Optional[torch.Generator]) -> Batches:
    if data is None:
        return _moved(loader, device)
    order = None
    if getattr(loader, 'shuffle', False):
        order = torch.randperm(len(data.labels), generator=generator, device=generator.device)
        order = order.to(device, non_blocking=device.type == 'cuda')
    return _without_host_labels(data.batches(loader.batch_size, order, drop_last=getattr(loader, 'drop_last', False)))


def _eval_batches(loader: Any, data: Optional[_DeviceData], device: torch.device) -> Batches:
    if data is None:
        return _moved(loader, device)
    return _without_host_labels(data.batches(max(EVAL_BATCH_SIZE.get(device.type, 512), loader.batch_size)))


def _without_host_labels(batches: Batches) -> Batches:
    """In-memory batches: their labels were checked all at once (see _DeviceData.check_labels)."""
    return ((X, y, None) for X, y in batches)
