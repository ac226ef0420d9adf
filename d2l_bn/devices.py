"""Which device to compute on: d2l's `try_gpu` / `try_all_gpus`, plus a readable label.

The course runs on a 2-core laptop CPU and on a CUDA GPU alike, so code never names a
device literally: it asks `try_gpu()` and moves data and nets there.
"""
from __future__ import annotations

import torch


def try_gpu(i: int = 0) -> torch.device:
    """Return gpu(i) if it exists, otherwise the CPU (d2l's fallback that keeps notebooks portable)."""
    if torch.cuda.device_count() >= i + 1:
        return torch.device(f'cuda:{i}')
    return torch.device('cpu')


def try_all_gpus() -> list[torch.device]:
    """Return all available GPUs, or [cpu] if there is none."""
    devices = [torch.device(f'cuda:{i}') for i in range(torch.cuda.device_count())]
    return devices if devices else [torch.device('cpu')]


def describe_device(device: torch.device | str) -> str:
    """A one-line label for printouts, e.g. 'cpu (2 threads)' or 'cuda:0 (NVIDIA H100 80GB HBM3)'.

    Throughput numbers mean little without knowing what produced them: a CPU's speed
    depends on how many threads PyTorch may use, a GPU's on which card it is.
    """
    device = torch.device(device)
    if device.type == 'cpu':
        threads = torch.get_num_threads()
        return f"cpu ({threads} thread{'s' if threads != 1 else ''})"
    if device.type == 'cuda' and torch.cuda.is_available():
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f'cuda:{index} ({torch.cuda.get_device_name(index)})'
    return str(device)
