"""IDX, the file format of Fashion-MNIST's four raw files: write them, read them, check them.

An IDX file is a big-endian header (a magic number, then one count per dimension) followed by the values,
one uint8 each. We read the files with numpy, from the same bytes we checksum (see `sources`), rather than
through ``torchvision.datasets.FashionMNIST``: importing torchvision costs seconds in every notebook kernel.

What a check catches without knowing the file (`raw_file_problems`): a wrong header, a truncated file, a
label outside 0..9 and a class count other than Fashion-MNIST's (every class has exactly a tenth of each
split), so that a damaged label byte is found when the files are read, not epochs later in training.

Every file is written atomically (a temporary file in the same folder, then ``os.replace``), so an
interrupted or concurrent write never leaves half a file under the final name.
"""
from __future__ import annotations

import hashlib
import json
import os
import struct
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Optional

import numpy as np

IMAGE_MAGIC, LABEL_MAGIC = 2051, 2049
# torchvision's raw file names -> IDX magic number (2051: images, 2049: labels)
RAW_FILES = {
    'train-images-idx3-ubyte': IMAGE_MAGIC, 'train-labels-idx1-ubyte': LABEL_MAGIC,
    't10k-images-idx3-ubyte': IMAGE_MAGIC, 't10k-labels-idx1-ubyte': LABEL_MAGIC,
}
NUM_TRAIN, NUM_TEST = 60_000, 10_000
NUM_CLASSES, SIDE = 10, 28
PIXELS = SIDE * SIDE


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


def idx_images_bytes(images: np.ndarray) -> bytes:
    """uint8 images (N, 28, 28) as an IDX3 file: big-endian magic 2051, N, rows, cols, pixels."""
    n, rows, cols = images.shape
    return struct.pack('>IIII', IMAGE_MAGIC, n, rows, cols) + np.ascontiguousarray(images, np.uint8).tobytes()


def idx_labels_bytes(labels: np.ndarray) -> bytes:
    """uint8 labels (N,) as an IDX1 file: big-endian magic 2049, N, labels."""
    return struct.pack('>II', LABEL_MAGIC, len(labels)) + np.ascontiguousarray(labels, np.uint8).tobytes()


def write_idx_images(path: Path, images: np.ndarray) -> None:
    atomic_write(path, [idx_images_bytes(images)])


def write_idx_labels(path: Path, labels: np.ndarray) -> None:
    atomic_write(path, [idx_labels_bytes(labels)])


def _header(magic: int, count: int) -> tuple[int, ...]:
    return (magic, count, SIDE, SIDE) if magic == IMAGE_MAGIC else (magic, count)


def header_problem(data: np.ndarray, magic: int, count: int) -> Optional[str]:
    """What is wrong with an IDX file's header or size (None: nothing). Cheap: reads no pixel."""
    fields = _header(magic, count)
    expected = 4 * len(fields) + count * (PIXELS if magic == IMAGE_MAGIC else 1)
    if len(data) != expected:
        return f'{len(data):,} bytes instead of {expected:,} (truncated or not this file)'
    found = struct.unpack(f'>{len(fields)}I', data[:4 * len(fields)].tobytes())
    if found != fields:
        return f'IDX header {found} instead of {fields}'
    return None


def values(data: np.ndarray, magic: int) -> np.ndarray:
    """The uint8 values after the header (a view, no copy): images (N, 28, 28) or labels (N,)."""
    array = data[4 * len(_header(magic, 0)):]
    return array.reshape(-1, SIDE, SIDE) if magic == IMAGE_MAGIC else array


def label_problem(labels: np.ndarray) -> Optional[str]:
    """Labels must be classes 0..9, each a tenth of the split (6,000 / 1,000 in Fashion-MNIST)."""
    bad = np.flatnonzero(labels >= NUM_CLASSES)
    if bad.size:
        return (f'label {int(labels[bad[0]])} at index {int(bad[0])} ({bad.size} label(s) outside 0..'
                f'{NUM_CLASSES - 1})')
    counts = np.bincount(labels, minlength=NUM_CLASSES)
    if len(labels) % NUM_CLASSES == 0 and (counts != len(labels) // NUM_CLASSES).any():
        return (f'class counts {counts.tolist()} instead of {len(labels) // NUM_CLASSES:,} per class '
                f'(a label byte is damaged)')
    return None


def raw_file_problems(raw_dir: Path, num_train: int = NUM_TRAIN, num_test: int = NUM_TEST
                      ) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Read the four raw files in `raw_dir`: ({name: the file's bytes as uint8} of the good ones,
    {name: what is wrong} of the others)."""
    counts = {'train': num_train, 't10k': num_test}
    contents, problems = {}, {}
    for name, magic in RAW_FILES.items():
        try:
            data = np.fromfile(Path(raw_dir) / name, dtype=np.uint8)
        except FileNotFoundError:
            problems[name] = 'missing'
            continue
        except OSError as err:
            problems[name] = f'unreadable ({err.strerror or err})'
            continue
        problem = header_problem(data, magic, counts[name.split('-')[0]])
        if problem is None and magic == LABEL_MAGIC:
            problem = label_problem(values(data, magic))
        if problem is None:
            contents[name] = data
        else:
            problems[name] = problem
    return contents, problems


def bad_raw_files(raw_dir: Path, num_train: int = NUM_TRAIN, num_test: int = NUM_TEST) -> list[str]:
    """Names of the four raw files in `raw_dir` that are missing or damaged (empty list: all fine)."""
    return list(raw_file_problems(raw_dir, num_train, num_test)[1])


# --- checksums and the provenance note ------------------------------------------------------------

PROVENANCE_FILE = 'd2l_bn_provenance.json'  # written beside the raw files by whoever fetched them


def sha256_hex(data: np.ndarray | bytes) -> str:
    return hashlib.sha256(memoryview(data)).hexdigest()


def write_provenance(raw_dir: Path, source: str) -> None:
    """Note which copy the four raw files in `raw_dir` are, with each file's sha256 at this moment.

    Why: a later session only sees four IDX files. With the note it can say where they came from and tell a
    file changed since (a damaged byte) from the file that was fetched.
    """
    raw_dir = Path(raw_dir)
    sums = {name: sha256_hex(np.fromfile(raw_dir / name, dtype=np.uint8)) for name in RAW_FILES}
    atomic_write(raw_dir / PROVENANCE_FILE, [json.dumps({'source': source, 'sha256': sums}, indent=1).encode()])


def read_provenance(raw_dir: Path) -> Optional[tuple[str, dict[str, str]]]:
    """(source, {name: sha256}) from the note in `raw_dir`, or None if there is no readable note."""
    try:
        note = json.loads((Path(raw_dir) / PROVENANCE_FILE).read_text())
        source, sums = note['source'], note['sha256']
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(source, str) or not isinstance(sums, dict) or set(sums) != set(RAW_FILES):
        return None
    return source, sums
