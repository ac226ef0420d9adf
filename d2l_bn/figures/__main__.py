"""``python -m d2l_bn.figures [--out figures/] [--only NAME ...] [--quick | --full]``: regenerate the figures.

Prints one line per figure as it is written, then an index of the files and what each shows (the README
and the slides link to these names).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

from d2l_bn.figures import FIGURES, FigureResult, generate


def _parse(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m d2l_bn.figures",
        description="Regenerate the course's figures as SVG and PNG, reproducibly (the same bytes on every run on "
                    "one machine; on another CPU the trained figures may differ in the last digits).")
    parser.add_argument("--out", type=Path, default=Path("figures"), help="folder to write into (default: figures)")
    parser.add_argument("--only", nargs="+", metavar="NAME", choices=list(FIGURES),
                        help=f"just these figures, from: {', '.join(FIGURES)}")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true",
                      help="tiny experiments (seconds; for tests): the pictures are not the published ones")
    size.add_argument("--full", action="store_true",
                      help="train LeNet as d2l does (60,000 images, 10 epochs) instead of a 10,000-image subset")
    return parser.parse_args(argv)


def _progress(result: FigureResult) -> None:
    print(f"  {result.name:<24} {result.seconds:6.1f} s", flush=True)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = _parse(argv)
    start = time.perf_counter()
    print(f"writing figures into {args.out}/ ({'quick' if args.quick else 'full' if args.full else 'default'} "
          f"sizes)", flush=True)
    try:
        results = generate(args.only, args.out, quick=args.quick, full=args.full, on_done=_progress)
    except (ValueError, OSError) as err:   # e.g. an output folder that cannot be written: checked first
        print(f"python -m d2l_bn.figures: error: {err}", file=sys.stderr)
        return 1
    print(f"done in {time.perf_counter() - start:.1f} s\n\nindex:")
    for result in results.values():
        files = " ".join(path.name for path in result.paths)
        print(f"  {files}\n      {result.shows}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
