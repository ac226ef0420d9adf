"""Fashion-MNIST as d2l's ``load_data_fashion_mnist`` serves it, but held in memory and loadable offline.

Why not d2l's loader: it turns every image into a PIL image and back, in 4 worker processes,
on every epoch; on our 2-core machine one pass over the training set took ~13 s of wall time
and ~5 CPU-seconds that training could have used. The whole set is 55 MB of uint8, so we keep
it as one tensor and cut batches by index (see TensorLoader): ~1 CPU-second or less per pass.

Where the files come from (disk, torchvision's download, an npm mirror) and how they are checked: see
`d2l_bn.data.sources`. ``python -m d2l_bn.data`` fetches them ahead of time (see `__main__`).
"""
from __future__ import annotations

import functools
import math
import numbers
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple, Optional

import torch
import torch.nn.functional as F

from d2l_bn.data.sources import DATA_ENV, OFFLINE_ENV, read_or_fetch  # noqa: F401  (re-exported)

TEXT_LABELS = ('t-shirt', 'trouser', 'pullover', 'dress', 'coat',
               'sandal', 'shirt', 'sneaker', 'bag', 'ankle boot')
_BATCH_SIZE_FIX = 'e.g. load_data_fashion_mnist(batch_size=256)'
_RESIZE_FIX = 'the new height and width, e.g. resize=64; or None to keep 28x28'


def get_fashion_mnist_labels(labels: Iterable[int] | torch.Tensor) -> list[str]:
    """Return text labels for the Fashion-MNIST class indices (d2l's function)."""
    return [TEXT_LABELS[int(i)] for i in labels]


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The folder that holds ``FashionMNIST/raw``: `root`, else $D2L_BN_DATA, else a per-user cache.

    A per-user cache rather than d2l's ``../data`` so that every notebook, whatever folder it
    runs from, finds the files fetched once.
    """
    if root is None:
        cache = os.environ.get('XDG_CACHE_HOME') or Path.home() / '.cache'
        root = os.environ.get(DATA_ENV) or Path(cache) / 'd2l_bn'
    return Path(root).expanduser().resolve()


class TensorLoader:
    """Mini-batches (X, y) cut by index from images held in memory, as d2l's DataLoader yields them.

    X is float32 in [0, 1] of shape (B, 1, 28, 28) (or (B, 1, resize, resize)), y int64 (B,).
    With `shuffle`, each pass (epoch) draws a new permutation from a torch.Generator seeded with
    `seed`, so a fresh loader with the same seed yields the same batches. The last batch may be
    smaller, as in DataLoader; `drop_last=True` leaves it out (as DataLoader's does), e.g. so that no
    batch of one example reaches batch norm in training. The permutation is drawn on the CPU, so a
    loader on a GPU yields the same batches as on the CPU. A `resize` whose one float32 batch would not
    fit in the memory left on the device is refused at once.

    Resizing happens per batch with ``F.interpolate(mode='bilinear', antialias=True)``. It is close
    to, but not bit-identical with, d2l's ``Resize`` on PIL images, which rounds to uint8: we measured
    pixel values within 1/255 of it for sizes 14 to 224. Without resize, X equals ``ToTensor`` exactly.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int, *, shuffle: bool,
                 resize: int | None = None, seed: int = 0, source: str = '', drop_last: bool = False) -> None:
        self.batch_size = _positive_int(batch_size, 'batch_size', _BATCH_SIZE_FIX)
        self.resize = None if resize is None else _positive_int(resize, 'resize', _RESIZE_FIX)
        self.drop_last = _check_bool(drop_last, 'drop_last')
        if images.dtype != torch.uint8 or images.dim() not in (3, 4) or len(images) != len(labels):
            raise ValueError('images must be uint8 (N, 28, 28) or (N, 1, 28, 28) with one label each')
        _check_batch_fits(self.batch_size, self.resize, images.device)
        self.images = images if images.dim() == 4 else images.unsqueeze(1)  # a view: no copy
        self.labels = labels.to(device=self.images.device, dtype=torch.int64)
        self.shuffle, self.seed, self.source = shuffle, seed, source
        self._generator = torch.Generator().manual_seed(seed)

    @property
    def num_examples(self) -> int:
        return len(self.labels)

    @property
    def device(self) -> torch.device:
        return self.images.device

    def __len__(self) -> int:
        if self.drop_last:
            return self.num_examples // self.batch_size
        return math.ceil(self.num_examples / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n, size = self.num_examples, self.batch_size
        order = torch.randperm(n, generator=self._generator).to(self.device) if self.shuffle else None
        for start in range(0, n - n % size if self.drop_last else n, size):
            if order is None:  # slices are views: the test pass copies nothing but the float batch
                X, y = self.images[start:start + size], self.labels[start:start + size]
            else:  # index_select copies whole rows; X[batch] is ~3x slower here
                batch = order[start:start + size]
                X, y = self.images.index_select(0, batch), self.labels.index_select(0, batch)
            yield self._to_float(X), y

    def _to_float(self, X: torch.Tensor) -> torch.Tensor:
        X = torch.div(X, 255)  # float32, bit-identical to ToTensor's img.float().div(255), in one kernel
        if self.resize is not None:
            X = F.interpolate(X, size=(self.resize, self.resize), mode='bilinear', antialias=True,
                              align_corners=False).clamp_(0, 1)
        return X

    def to(self, device: torch.device | str) -> TensorLoader:
        """A loader over the same data resident on `device` (one copy now instead of one per batch)."""
        moved = TensorLoader(self.images.to(device), self.labels, self.batch_size, shuffle=self.shuffle,
                             resize=self.resize, seed=self.seed, source=self.source, drop_last=self.drop_last)
        moved._generator.set_state(self._generator.get_state())
        return moved

    def __repr__(self) -> str:
        return (f'TensorLoader({self.num_examples} examples, batch_size={self.batch_size}, '
                f'shuffle={self.shuffle}, resize={self.resize}, device={self.device}, '
                f'source={self.source!r}' + (', drop_last=True)' if self.drop_last else ')'))


def load_data_fashion_mnist(batch_size: int, resize: int | None = None, *,
                            root: str | os.PathLike | None = None, device: torch.device | str | None = None,
                            seed: int = 0, drop_last: bool = False) -> tuple[TensorLoader, TensorLoader]:
    """Download/find Fashion-MNIST and return (train_iter, test_iter), as d2l's function does.

    train_iter is shuffled anew each epoch (reproducibly, from `seed`); test_iter is not. With
    `device`, the whole set is moved there once. `drop_last` applies to train_iter (evaluation sees
    every test image). See `d2l_bn.data.sources` for where the files are looked for;
    `train_iter.source` says which copy was used.
    """
    batch_size = _positive_int(batch_size, 'batch_size', _BATCH_SIZE_FIX)
    _check_batch_fits(batch_size, resize, torch.device('cpu') if device is None else torch.device(device))
    splits = _load_splits(data_root(root))
    train_iter = TensorLoader(splits.train_images, splits.train_labels, batch_size, shuffle=True,
                              resize=resize, seed=seed, source=splits.source, drop_last=drop_last)
    test_iter = TensorLoader(splits.test_images, splits.test_labels, batch_size, shuffle=False,
                             resize=resize, source=splits.source)
    if device is not None:
        train_iter, test_iter = train_iter.to(device), test_iter.to(device)
    return train_iter, test_iter


NUM_VALIDATION = 10_000   # as many as the test set; the same images in every chapter


def validation_split(images: torch.Tensor, labels: torch.Tensor, num_validation: int = NUM_VALIDATION,
                     seed: int = 0) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """Split a training set into ((train_images, train_labels), (val_images, val_labels)).

    Why: a model, an epoch or a hyper-parameter chosen by its *test* accuracy has seen the test set, and its
    test accuracy is then an optimistic estimate. Choose on the validation images, carved here from the
    training set, and report the test accuracy once, for the choice made. The split is a fixed random
    permutation (from `seed`, its own generator), so every chapter uses the same validation images.
    """
    n = len(labels)
    if len(images) != n:
        raise ValueError(f'images and labels differ in length ({len(images)} vs {n}); pass matching tensors')
    if isinstance(num_validation, bool) or not isinstance(num_validation, numbers.Integral) \
            or not 0 < num_validation < n:
        raise ValueError(f'num_validation must be a whole number between 1 and {n - 1} (the training set has '
                         f'{n} examples), got {num_validation!r}')
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).to(images.device)
    val, train = order[:num_validation], order[num_validation:]
    return (images[train], labels[train]), (images[val], labels[val])


def load_data_fashion_mnist_with_validation(
        batch_size: int, num_validation: int = NUM_VALIDATION, resize: int | None = None, *,
        root: str | os.PathLike | None = None, device: torch.device | str | None = None,
        seed: int = 0, drop_last: bool = False) -> tuple[TensorLoader, TensorLoader, TensorLoader]:
    """(train_iter, val_iter, test_iter): `load_data_fashion_mnist` with a validation set split off.

    The 60,000 training images become 60,000 - num_validation to train on (shuffled each epoch from `seed`)
    and num_validation to choose with (the same ones in every chapter, see `validation_split`); the test
    set is untouched. `drop_last` applies to train_iter only.
    """
    batch_size = _positive_int(batch_size, 'batch_size', _BATCH_SIZE_FIX)
    _check_batch_fits(batch_size, resize, torch.device('cpu') if device is None else torch.device(device))
    splits = _load_splits(data_root(root))
    (train_x, train_y), (val_x, val_y) = validation_split(splits.train_images, splits.train_labels,
                                                          num_validation)
    loaders = (TensorLoader(train_x, train_y, batch_size, shuffle=True, resize=resize, seed=seed,
                            source=splits.source, drop_last=drop_last),
               TensorLoader(val_x, val_y, batch_size, shuffle=False, resize=resize, source=splits.source),
               TensorLoader(splits.test_images, splits.test_labels, batch_size, shuffle=False, resize=resize,
                            source=splits.source))
    return tuple(loader.to(device) for loader in loaders) if device is not None else loaders


def fashion_mnist_tensors(train: bool = True, root: str | os.PathLike | None = None
                          ) -> tuple[torch.Tensor, torch.Tensor]:
    """(images uint8 (N, 28, 28), labels int64 (N,)) of the training (60,000) or test (10,000) set.

    Returns copies, so changing them in place cannot corrupt what later loaders serve.
    """
    splits = _load_splits(data_root(root))
    if train:
        return splits.train_images.clone(), splits.train_labels.clone()
    return splits.test_images.clone(), splits.test_labels.clone()


class _Splits(NamedTuple):
    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    source: str


@functools.lru_cache(maxsize=4)
def _load_splits(root: Path) -> _Splits:
    """Read (and check) both splits once per process: a notebook re-running its data cell gets them instantly."""
    raw = read_or_fetch(root)
    return _Splits(torch.from_numpy(raw.train_images), torch.from_numpy(raw.train_labels).long(),
                   torch.from_numpy(raw.test_images), torch.from_numpy(raw.test_labels).long(), raw.source)


def _positive_int(value: object, name: str, fix: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f'{name} must be a positive int, got {value!r}: {fix}')
    return int(value)


def _check_bool(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f'{name} must be True or False, got {value!r}')
    return value


def _available_memory(device: torch.device) -> Optional[int]:
    """Bytes that can still be allocated on `device`, or None when we cannot tell."""
    if device.type == 'cuda':
        return torch.cuda.mem_get_info(device)[0]
    if device.type != 'cpu':
        return None
    try:
        with open('/proc/meminfo') as meminfo:   # Linux: what can be allocated without swapping
            for line in meminfo:
                if line.startswith('MemAvailable:'):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import psutil   # elsewhere (macOS, Windows), when installed (Jupyter's kernel brings it)
        return psutil.virtual_memory().available
    except ImportError:
        return None


def _check_batch_fits(batch_size: int, resize: Optional[int], device: torch.device) -> None:
    """Refuse a resize whose single float32 batch is larger than the memory left on the device."""
    side = 28 if resize is None else _positive_int(resize, 'resize', _RESIZE_FIX)
    needed = batch_size * side * side * 4
    available = _available_memory(device)
    if available is not None and needed > available:
        raise ValueError(
            f'resize={resize} makes one batch of {batch_size} images {batch_size}x1x{side}x{side} float32 = '
            f'{_gigabytes(needed)}, more than the {_gigabytes(available)} of memory available on {device}; '
            f'use a smaller resize (d2l resizes to 224 at most) or batch_size')


def _gigabytes(n: int) -> str:
    return f'{n / 1e9:,.1f} GB'
