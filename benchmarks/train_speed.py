"""How much faster is d2l_bn's trainer than d2l's own? LeNet with batch norm, side by side, in one process.

Both sides train the same network (d2l ch. 8.5's LeNet with nn.BatchNorm, from d2l_bn.models) with the
book's batch-norm recipe (SGD, lr 1.0, batch 256, Xavier init) on the same Fashion-MNIST files:

* d2l 1.0.3:  ``d2l.load_data_fashion_mnist`` (a torch DataLoader with 4 worker processes that turn every
  image into a PIL image and back through ``ToTensor``, each epoch) + ``d2l.train_ch6`` (a ``float()`` host
  sync per batch, an Animator redraw every 1/5 epoch);
* ours:       ``d2l_bn.data.load_data_fashion_mnist`` (the set held in memory as one uint8 tensor, moved to
  the device once) + ``d2l_bn.training.train_ch6`` (batches cut by index on the device, no per-batch sync,
  evaluation in large batches).

Same initial weights and the same batches in the same order: each network is built and initialised
from the same seed, and d2l's shuffling sampler gets a ``torch.Generator`` seeded like ours (both draw
``torch.randperm(60000, generator=...)`` once per epoch). The two runs therefore differ only in floating
point rounding, and their final test accuracies should agree to well within a point; any larger gap
means one trainer computes something different, which this script reports.

d2l reads its data from ``../data`` relative to the working directory and downloads when it finds nothing.
We point it at our files instead: a temporary folder gets ``data/FashionMNIST`` as a symlink to our data
root's copy, and d2l is run from a sibling folder, so it reads exactly the files we read and never
touches the network.

Threads: both trainers use torch's setting (by default one intra-op thread per core); ``--threads N`` sets
it for both. On 2 idle cores LeNet-BN trains ~1.6x faster with 2 threads than with 1, but with 2 threads a
step takes 10-20x longer while another process holds a core (every operation's threads wait for each other
and one of them is descheduled). d2l inflicts that on itself: its 4 data workers compete with the training
threads for the same cores.

The OpenMP wait policy matters as much. It is read from the environment at start-up, so it is the same for
both. By default an idle OpenMP thread spins a while before it sleeps, so the next operation starts at once;
with ``OMP_WAIT_POLICY=PASSIVE`` it sleeps at once and every operation pays a wake-up. On the 2-core CI
machine PASSIVE moved our epoch from a median of 4.2 s (7 runs) to 5.7 s (7 runs), while d2l's stayed near
10 s (its spinning threads and its 4 data workers fight over the same 2 cores either way). The header line
says which policy a run used.

Wall time counts everything a learner waits for: data loading, training, per-epoch evaluation and the
plot updates (headless here: matplotlib's Agg backend, nothing is shown). ``examples/s`` is training
examples seen per second of that wall time. The last line is ``speedup X.XX`` = d2l's wall / ours.

    python benchmarks/train_speed.py --epochs 1 --device cpu
    python benchmarks/train_speed.py --epochs 10 --device cuda [--compile]

It installs nothing. d2l 1.0.3 declares exact old pins (numpy 1.23, scipy 1.10, ...) that would
downgrade the course's environment, so install it without its dependencies, plus the three it imports
that the course does not already have:  pip install --no-deps d2l==1.0.3  and  pip install pandas scipy
requests. It imports and trains fine with numpy 2 (checked with numpy 2.4, pandas 3.1, scipy 1.17).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence

import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from a checkout, without installing the package
    sys.path.insert(0, str(REPO))

D2L_VERSION = '1.0.3'
INSTALL_HINT = f'pip install --no-deps d2l=={D2L_VERSION}'
DEPS_HINT = 'pip install pandas scipy requests'
NUM_TRAIN = 60_000


@dataclass
class Result:
    """One trainer's measurements."""
    name: str
    wall_s: float              # data loading + training + evaluation + plotting
    load_s: float              # of which: building the data iterators
    examples: int              # training examples processed (epochs x 60,000)
    test_acc: float            # after the last epoch
    trainer_examples_per_sec: float  # what the trainer itself prints (training time only)
    source: str = ''           # where the data came from, if the loader says

    @property
    def examples_per_sec(self) -> float:
        return self.examples / self.wall_s

    def line(self) -> str:
        return (f'{self.name:<10} wall {self.wall_s:7.2f} s (data loading {self.load_s:5.2f} s)  '
                f'{self.examples_per_sec:8.1f} examples/s end to end  '
                f'({self.trainer_examples_per_sec:.1f} examples/sec as the trainer reports it)  '
                f'test acc {self.test_acc:.3f}')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The command line; `--device` defaults to cuda when there is one."""
    parser = argparse.ArgumentParser(
        description="Train LeNet with batch norm with d2l's trainer and with d2l_bn's, and compare wall times.")
    parser.add_argument('--epochs', type=_positive_int, default=1, help='epochs for each trainer (default 1)')
    parser.add_argument('--device', choices=('cpu', 'cuda'),
                        default='cuda' if torch.cuda.is_available() else 'cpu',
                        help='where both trainers compute (default: cuda if available, else cpu)')
    parser.add_argument('--batch-size', type=_positive_int, default=256, help='minibatch size (default 256)')
    parser.add_argument('--lr', type=float, default=1.0, help="learning rate (default 1.0, d2l's BN recipe)")
    parser.add_argument('--seed', type=int, default=0, help='seed for the weights and the shuffling (default 0)')
    parser.add_argument('--data-root', default=None,
                        help='folder holding FashionMNIST/raw (default: d2l_bn.data.data_root())')
    parser.add_argument('--threads', type=_positive_int, default=None,
                        help="torch's intra-op CPU threads for both trainers (default: torch's, one per core)")
    parser.add_argument('--compile', action='store_true',
                        help='ours only: torch.compile the network (pays off over many epochs, mostly on a GPU)')
    args = parser.parse_args(argv)
    if args.device == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda, but torch sees no CUDA GPU; use --device cpu')
    if not args.lr > 0:
        parser.error(f'--lr must be positive, got {args.lr}')
    return args


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f'must be a whole number >= 1, got {text}')
    return value


def speedup_line(d2l_wall_s: float, ours_wall_s: float) -> str:
    """The script's last line: how many times longer d2l's run took than ours."""
    return f'speedup {d2l_wall_s / ours_wall_s:.2f}'


def import_d2l() -> Any:
    """`d2l.torch`, or SystemExit with the pip command that provides what is missing."""
    try:
        from d2l import torch as d2l
    except ModuleNotFoundError as err:
        if err.name is not None and err.name.split('.')[0] == 'd2l':
            raise SystemExit(f'd2l is not installed; this benchmark compares against d2l {D2L_VERSION}:\n'
                             f'  {INSTALL_HINT}') from err
        raise SystemExit(f'd2l {D2L_VERSION} needs {err.name!r}, which is not installed:\n'
                         f'  {DEPS_HINT}') from err
    import d2l as d2l_package
    version = getattr(d2l_package, '__version__', '?')
    if version != D2L_VERSION:
        print(f'warning: d2l {version} is installed; the numbers below were designed for {D2L_VERSION} '
              f'({INSTALL_HINT})', file=sys.stderr)
    return d2l


@contextlib.contextmanager
def d2l_working_dir(root: Path) -> Iterator[Path]:
    """Run from a folder whose ``../data/FashionMNIST`` is our copy, so d2l reads it and downloads nothing."""
    source = root / 'FashionMNIST'
    if not (source / 'raw').is_dir():
        raise FileNotFoundError(f'no Fashion-MNIST under {source}; run `python -m d2l_bn.data` once to fetch it, '
                                f'or pass --data-root')
    previous = Path.cwd()
    with tempfile.TemporaryDirectory(prefix='d2l_bench_') as tmp:
        (Path(tmp) / 'data').mkdir()
        (Path(tmp) / 'data' / 'FashionMNIST').symlink_to(source, target_is_directory=True)
        workdir = Path(tmp) / 'work'
        workdir.mkdir()
        os.chdir(workdir)
        try:
            yield workdir
        finally:
            os.chdir(previous)


def warm_up(device: torch.device) -> None:
    """One untimed step, so neither side pays for initialising the backend (threads, CUDA context, cuDNN)."""
    from d2l_bn.models import lenet_bn
    net = lenet_bn().to(device)
    X = torch.rand(8, 1, 28, 28, device=device)
    torch.nn.functional.cross_entropy(net(X), torch.zeros(8, dtype=torch.long, device=device)).backward()
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def run_d2l(d2l: Any, args: argparse.Namespace, root: Path) -> Result:
    """d2l's loader and trainer as the book uses them; only the shuffling generator is seeded."""
    import matplotlib.pyplot as plt
    from d2l_bn.models import lenet_bn
    device = torch.device(args.device)
    torch.manual_seed(args.seed)
    net = lenet_bn()
    printed = io.StringIO()
    with d2l_working_dir(root), contextlib.redirect_stdout(printed):
        start = time.perf_counter()
        train_iter, test_iter = d2l.load_data_fashion_mnist(args.batch_size)
        train_iter.sampler.generator = torch.Generator().manual_seed(args.seed)  # same order as ours
        load_s = time.perf_counter() - start
        torch.manual_seed(args.seed)  # train_ch6's Xavier init draws from here, as ours does
        d2l.train_ch6(net, train_iter, test_iter, args.epochs, args.lr, device)
        if device.type == 'cuda':
            torch.cuda.synchronize(device)
        wall_s = time.perf_counter() - start
    plt.close('all')  # the Animator's figures
    text = printed.getvalue()
    test_acc = re.findall(r'test acc (\d+\.\d+)', text)
    speed = re.findall(r'(\d+\.\d+) examples/sec', text)
    if not test_acc or not speed:
        raise RuntimeError(f"could not read d2l's summary lines from its output:\n{text[-500:]}")
    return Result('d2l ' + D2L_VERSION, wall_s, load_s, args.epochs * len(train_iter.dataset),
                  float(test_acc[-1]), float(speed[-1]))


def run_ours(args: argparse.Namespace, root: Path) -> Result:
    """d2l_bn's loader (data resident on the device) and trainer, seeded like the d2l run."""
    from d2l_bn import data
    from d2l_bn.data import load_data_fashion_mnist
    from d2l_bn.models import lenet_bn
    from d2l_bn.training import train_ch6
    device = torch.device(args.device)
    torch.manual_seed(args.seed)
    net = lenet_bn()
    printed = io.StringIO()
    # d2l_bn keeps the files it has read in a per-process cache; start cold, as d2l does
    getattr(data._load_splits, 'cache_clear', lambda: None)()
    with contextlib.redirect_stdout(printed):
        start = time.perf_counter()
        train_iter, test_iter = load_data_fashion_mnist(args.batch_size, root=root, device=device)
        load_s = time.perf_counter() - start
        model = torch.compile(net) if args.compile else net
        # seed: the same Xavier init as d2l's run and a shuffling generator seeded like d2l's sampler
        history = train_ch6(model, train_iter, test_iter, args.epochs, args.lr, device, seed=args.seed)
        if device.type == 'cuda':
            torch.cuda.synchronize(device)
        wall_s = time.perf_counter() - start
    if history.figure is not None:
        history.figure.clear()
    return Result('d2l_bn', wall_s, load_s, args.epochs * train_iter.num_examples,
                  history.test_acc[-1], history.examples_per_sec, train_iter.source)


def main(argv: Optional[Sequence[str]] = None) -> int:
    # d2l's Animator must not open windows. Set here, not at import: a test that imports this module would
    # otherwise hand MPLBACKEND=Agg to every notebook kernel started after it, and their figures would vanish.
    import matplotlib
    matplotlib.use('Agg')
    args = parse_args(argv)
    d2l = import_d2l()
    from d2l_bn.data import data_root, load_data_fashion_mnist
    from d2l_bn.devices import describe_device
    root = data_root(args.data_root)
    load_data_fashion_mnist(args.batch_size, root=root)  # fetches the files if they are missing (untimed)
    device = torch.device(args.device)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    warm_up(device)
    print(f'LeNet with nn.BatchNorm, lr {args.lr}, batch {args.batch_size}, {args.epochs} epoch(s), '
          f'seed {args.seed}, on {describe_device(device)}{", ours compiled" if args.compile else ""}'
          + (f', OMP_WAIT_POLICY={os.environ.get("OMP_WAIT_POLICY", "unset")}' if device.type == 'cpu' else ''))
    results = [run_d2l(d2l, args, root), run_ours(args, root)]
    print(f'data: {results[1].source}')
    for result in results:
        print(result.line())
    d2l_result, ours = results
    gap = abs(d2l_result.test_acc - ours.test_acc)
    if gap > 0.01:
        print(f'warning: final test accuracies differ by {gap:.3f} (> 1 point) although both runs saw the same '
              f'weights and batches', file=sys.stderr)
    print(speedup_line(d2l_result.wall_s, ours.wall_s))
    return 0


if __name__ == '__main__':
    sys.exit(main())
