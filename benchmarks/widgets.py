"""How long does each explorer make a learner wait? Build time and time per change, against the course's targets.

For every explorer of ``d2l_bn.widgets`` this builds it once (its first picture included) and then moves its
controls through a fixed list of settings, each new to the explorer (no cached result is reused), timing every
``set(...)``: the same work as a move of a slider in JupyterLab (compute, draw, encode the PNG), minus the few
milliseconds the browser needs to show the bytes.

Two clocks, because a shared machine makes wall time meaningless for a verdict:

* CPU time (``time.process_time``, all threads of this process): what the change costs; the verdict uses it.
* wall time: what a learner waits for on this machine right now; equal to CPU time on an idle machine for these
  one-thread computations, longer when other processes hold the cores (the 1-minute load average is printed).

CPU time is not immune to load either: where two virtual cores share one physical core (the 2-core CI machine),
a busy neighbour slows every instruction, so run it on a quiet machine before reading a verdict.

Targets: an analytic explorer (temperature, dropout, momentum, replicas: nothing is trained) redraws in under
0.2 s, so a dragged slider follows the mouse; an explorer that trains (SGD, batch size, LeNet) answers a change in
under 3 s, and the LeNet explorer is built in under 3 s; the depth explorer (one forward and backward pass at
initialisation per seed, nothing trained) answers in under 1 s. Fashion-MNIST is loaded once before the clocks
start.

    python benchmarks/widgets.py                 # every explorer
    python benchmarks/widgets.py --only lenet    # one (or several) of: temperature dropout momentum sgd
                                                 # batch_size lenet replicas depth
    python benchmarks/widgets.py --check         # exit 1 if a CPU-time target is missed

Importing this module runs nothing; ``main()`` sets matplotlib's Agg backend.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable

ANALYTIC_TARGET_S = 0.2
TRAINING_TARGET_S = 3.0
INIT_PROFILE_TARGET_S = 1.0


@dataclass
class Case:
    """One explorer: how to build it, which settings to move through, and its target per change."""
    name: str
    build: Callable[[], Any]
    settings: list[dict[str, Any]]
    target_s: float
    build_target_s: float | None = None


@dataclass
class Timing:
    cpu: list[float] = field(default_factory=list)
    wall: list[float] = field(default_factory=list)

    def add(self, cpu: float, wall: float) -> None:
        self.cpu.append(cpu)
        self.wall.append(wall)


def timed(action: Callable[[], Any]) -> tuple[Any, float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    result = action()
    return result, time.process_time() - cpu, time.perf_counter() - wall


def cases() -> list[Case]:
    from d2l_bn.data import fashion_mnist_tensors
    from d2l_bn.widgets.batch_size import BatchSizeExplorer
    from d2l_bn.widgets.depth import DepthExplorer
    from d2l_bn.widgets.dropout import DropoutExplorer
    from d2l_bn.widgets.lenet import LeNetExplorer
    from d2l_bn.widgets.momentum import MomentumExplorer
    from d2l_bn.widgets.replicas import ReplicasExplorer
    from d2l_bn.widgets.sgd import SGDExplorer
    from d2l_bn.widgets.softmax import TemperatureExplorer

    images, labels = fashion_mnist_tensors(train=True)        # loaded (and cached) before any clock starts
    fashion_mnist_tensors(train=False)
    sgd_subset = (images[:2000].float() / 255, labels[:2000])  # what explorers.ipynb passes
    return [
        Case("temperature", TemperatureExplorer,
             # positions of the slider, which redraws while dragged: T = 10 ** e
             [{"temperature": 10 ** e} for e in (-1.0, -0.5, -0.3, 0.2, 0.5, 1.0, 1.5, -1.3)], ANALYTIC_TARGET_S),
        Case("dropout", DropoutExplorer,
             [{"p": p, "seed": s} for p, s in ((0.1, 0), (0.3, 0), (0.6, 0), (0.9, 0), (0.6, 1), (0.6, 2),
                                               (0.25, 5), (0.75, 20))], ANALYTIC_TARGET_S),
        Case("momentum", MomentumExplorer,
             [{"momentum": m, "batch_size": b} for m, b in ((0.2, 16), (0.5, 16), (0.01, 16), (0.1, 2),
                                                             (0.1, 64), (0.1, 256), (0.9, 128), (0.05, 8))],
             ANALYTIC_TARGET_S),
        Case("sgd", lambda: SGDExplorer(*sgd_subset),
             [{"batch_size": b, "lr": lr} for b, lr in ((64, 0.1), (8, 0.05), (2000, 0.5), (128, 0.2),
                                                         (1, 0.01))],          # batch 1: the slowest setting
             TRAINING_TARGET_S),
        Case("batch_size", BatchSizeExplorer,
             [{"batch_size": b, "batch_norm": bn} for b, bn in ((64, True), (512, True), (16, False),
                                                                (2, False), (1, False))],   # 1: the slowest
             TRAINING_TARGET_S),
        Case("lenet", lambda: LeNetExplorer(device="cpu"),
             [{"batch_size": b, "momentum": m} for b, m in ((264, 0.1), (64, 0.1), (256, 0.0), (1024, 0.1))],
             TRAINING_TARGET_S, build_target_s=TRAINING_TARGET_S),
        Case("replicas", ReplicasExplorer,
             [{"replicas": r, "batch_size": b, "sync": s} for r, b, s in
              ((4, 8, True), (16, 8, True), (16, 2, False), (2, 2, False), (2, 64, True), (8, 256, False),
               (16, 256, True), (1, 4, False))], ANALYTIC_TARGET_S),
        Case("depth", lambda: DepthExplorer(images, labels),
             [{"depth": d, "batch_norm": bn, "skip": s} for d, bn, s in
              ((100, True, False), (100, True, True), (100, False, False), (60, False, True), (40, True, False),
               (3, True, True), (99, False, False), (100, False, True))],   # 100 hidden layers: the slowest
             INIT_PROFILE_TARGET_S),
    ]


def run(case: Case) -> tuple[Timing, float, float, bool]:
    """(per-change timings, build CPU s, build wall s, whether every setting was accepted)."""
    explorer, build_cpu, build_wall = timed(case.build)
    timing, accepted = Timing(), True
    for values in case.settings:
        result, cpu, wall = timed(lambda: explorer.set(**values))
        accepted &= result.accepted and not explorer.data.get("cached", False)
        timing.add(cpu, wall)
    return timing, build_cpu, build_wall, accepted


def describe_machine() -> str:
    import torch
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{os.cpu_count()} CPU(s), 1-minute load {load:.2f}, torch {torch.__version__} "
            f"({torch.get_num_threads()} threads), OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(default)')}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", metavar="NAME",
                        choices=["temperature", "dropout", "momentum", "sgd", "batch_size", "lenet", "replicas",
                                 "depth"])
    parser.add_argument("--check", action="store_true", help="exit 1 if a CPU-time target is missed")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    import matplotlib
    matplotlib.use("Agg")
    args = parse_args(argv)
    print(describe_machine())
    print(f"{'explorer':<12} {'build cpu / wall':>17}   {'per change: cpu median / max':>29}   "
          f"{'wall median / max':>18}   target (cpu)")
    missed = []
    for case in cases():
        if args.only and case.name not in args.only:
            continue
        timing, build_cpu, build_wall, accepted = run(case)
        cpu_max = max(timing.cpu)
        verdict = "meets" if cpu_max < case.target_s else "MISSES"
        if case.build_target_s is not None and build_cpu >= case.build_target_s:
            verdict = "MISSES (build)"
        if not verdict.startswith("meets"):
            missed.append(case.name)
        if not accepted:
            missed.append(f"{case.name} (a setting was refused or reused: the timing is not of a fresh change)")
        target = f"< {case.target_s:g} s per change" + (
            f", build < {case.build_target_s:g} s" if case.build_target_s is not None else "")
        print(f"{case.name:<12} {build_cpu:7.3f} / {build_wall:7.3f} s   "
              f"{statistics.median(timing.cpu):12.3f} / {cpu_max:7.3f} s ({len(timing.cpu)} changes)   "
              f"{statistics.median(timing.wall):7.3f} / {max(timing.wall):7.3f} s   {target}: {verdict}", flush=True)
    print(describe_machine())
    print("all CPU-time targets met" if not missed else f"targets missed: {', '.join(missed)}")
    return 1 if (missed and args.check) else 0


if __name__ == "__main__":
    sys.exit(main())
