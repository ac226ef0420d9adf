"""Spec for benchmarks/train_speed.py's pieces (the full d2l-vs-d2l_bn run is for CI, not for unit tests).

What must hold: the command line the lead runs (`--epochs 1 --device cpu`) parses; the last line has the
fixed format `speedup X.XX`; without d2l the script says which pip command to run and exits non-zero; d2l
is pointed at our data files instead of downloading.
"""
from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / 'benchmarks' / 'train_speed.py'


@pytest.fixture(scope='module')
def bench():
    spec = importlib.util.spec_from_file_location('train_speed', SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules['train_speed'] = module                # dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop('train_speed', None)


def test_ci_command_line_parses_with_the_books_bn_recipe_as_defaults(bench):
    args = bench.parse_args(['--epochs', '1', '--device', 'cpu'])
    assert (args.epochs, args.device, args.batch_size, args.lr, args.seed) == (1, 'cpu', 256, 1.0, 0)
    assert args.compile is False and args.data_root is None and args.threads is None
    args = bench.parse_args(['--epochs', '10', '--device', 'cpu', '--batch-size', '128', '--compile',
                             '--threads', '2'])
    assert (args.epochs, args.batch_size, args.compile, args.threads) == (10, 128, True, 2)


@pytest.mark.parametrize('argv', [['--epochs', '0'], ['--epochs', 'two'], ['--batch-size', '-1'],
                                  ['--device', 'tpu'], ['--lr', '0'], ['--threads', '0']])
def test_bad_arguments_exit_with_a_usage_message(bench, argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        bench.parse_args(argv)
    assert exit_info.value.code == 2
    assert 'usage:' in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason='this machine has a GPU')
def test_cuda_without_a_gpu_is_refused_with_the_fix(bench, capsys):
    with pytest.raises(SystemExit):
        bench.parse_args(['--device', 'cuda'])
    assert 'use --device cpu' in capsys.readouterr().err


def test_speedup_line_is_d2l_wall_over_ours_with_two_decimals(bench):
    assert bench.speedup_line(10.0, 4.0) == 'speedup 2.50'
    assert bench.speedup_line(3.0, 3.0) == 'speedup 1.00'
    assert re.fullmatch(r'speedup \d+\.\d\d', bench.speedup_line(123.456, 7.0))


def test_result_line_reports_wall_time_throughput_and_accuracy(bench):
    result = bench.Result('d2l_bn', wall_s=12.0, load_s=0.5, examples=60_000, test_acc=0.8123,
                          trainer_examples_per_sec=6000.0)
    assert result.examples_per_sec == 5000.0
    line = result.line()
    assert 'wall   12.00 s' in line and '5000.0 examples/s' in line and 'test acc 0.812' in line


def test_missing_d2l_names_the_pip_command(bench, monkeypatch):
    for name in [m for m in sys.modules if m == 'd2l' or m.startswith('d2l.')]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, 'd2l', None)      # makes `import d2l` fail as if not installed
    with pytest.raises(SystemExit) as exit_info:
        bench.import_d2l()
    assert 'pip install --no-deps d2l==1.0.3' in str(exit_info.value.code)


def test_missing_d2l_dependency_names_it_and_the_pip_command(bench, monkeypatch):
    for name in [m for m in sys.modules if m == 'd2l' or m.startswith('d2l.')]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, 'pandas', None)   # d2l.torch imports pandas first
    if importlib.util.find_spec('d2l') is None:
        pytest.skip('d2l is not installed here')
    with pytest.raises(SystemExit) as exit_info:
        bench.import_d2l()
    message = str(exit_info.value.code)
    assert "'pandas'" in message and 'pip install pandas scipy requests' in message


def test_script_without_d2l_exits_non_zero_with_the_install_hint():
    code = ("import runpy, sys; sys.modules['d2l'] = None; "
            f"sys.argv = [{str(SCRIPT)!r}, '--epochs', '1', '--device', 'cpu']; "
            f"runpy.run_path({str(SCRIPT)!r}, run_name='__main__')")
    done = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, 'MPLBACKEND': 'Agg'})
    assert done.returncode != 0
    assert 'pip install --no-deps d2l==1.0.3' in done.stderr
    assert 'speedup' not in done.stdout


def test_d2l_reads_our_files_through_its_relative_data_folder(bench, tmp_path):
    root = tmp_path / 'root'
    (root / 'FashionMNIST' / 'raw').mkdir(parents=True)
    (root / 'FashionMNIST' / 'raw' / 'train-images-idx3-ubyte').write_bytes(b'idx')
    before = Path.cwd()
    with bench.d2l_working_dir(root) as workdir:
        assert Path.cwd() == workdir
        seen = Path('../data/FashionMNIST/raw/train-images-idx3-ubyte')   # d2l's root="../data"
        assert seen.read_bytes() == b'idx' and seen.resolve() == (root / 'FashionMNIST' / 'raw' /
                                                                  'train-images-idx3-ubyte').resolve()
    assert Path.cwd() == before and not workdir.exists()


def test_missing_data_is_reported_before_d2l_could_download(bench, tmp_path):
    before = Path.cwd()
    with pytest.raises(FileNotFoundError, match='--data-root'):
        with bench.d2l_working_dir(tmp_path):
            pass
    assert Path.cwd() == before

