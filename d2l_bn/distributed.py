"""Run a function in several processes at once, as data-parallel training does, and always clean up after.

``run_processes(worker, world_size, *args)`` starts ``world_size`` fresh Python processes (the ``spawn`` start
method: a notebook's kernel cannot be forked safely, and the worker is found by its import path, which is why the
chapter's workers live in the package). Each joins one ``torch.distributed`` process group on the CPU's ``gloo``
backend and calls ``worker(rank, world_size, *args)``; the returned values come back as a list, rank by rank.

Why a ``FileStore`` in a temporary folder instead of ``MASTER_ADDR``/``MASTER_PORT``: the processes meet through
a file only they know, so no port has to be chosen (a fixed port collides with a second run or another user), and
the folder is deleted afterwards. (gloo's own connections between the processes use ports the system assigns.)

Every process is shut down in ``finally``: when all went well, when one worker fails (the others would wait
forever in their next collective, so they are terminated and the failure is raised with the worker's traceback),
when the run takes longer than ``timeout`` and when the caller is interrupted (KeyboardInterrupt in a notebook).
``children_left()`` lists any process of ours still alive, for the tests and the chapter's final check.
"""
from __future__ import annotations

import multiprocessing
import os
import tempfile
import time
import traceback
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any, Callable

import torch

__all__ = ["WorkerError", "children_left", "run_in_turn", "run_processes"]

GRACE_S = 5.0   # how long a terminated process may take to exit before it is killed


class WorkerError(RuntimeError):
    """A worker process raised or died; the message carries its rank and traceback."""


def _entry(worker: Callable[..., Any], rank: int, world_size: int, folder: str, backend: str, args: tuple) -> None:
    """What each process runs: one thread, join the group, call the worker, save its result or its traceback."""
    torch.set_num_threads(1)   # world_size processes share the cores: more threads each would only wait
    import torch.distributed as dist
    error = Path(folder) / f"error_{rank}.txt"
    try:
        dist.init_process_group(backend, init_method=f"file://{folder}/store", rank=rank, world_size=world_size)
        try:
            result = worker(rank, world_size, *args)
        except BaseException:
            error.write_text(traceback.format_exc())   # before leaving the group makes the peers fail too
            raise
        finally:
            dist.destroy_process_group()
        torch.save(result, Path(folder) / f"result_{rank}.pt")
    except BaseException:
        if not error.exists():
            error.write_text(traceback.format_exc())
        raise SystemExit(1)


def _stop(processes: list) -> None:
    """Terminate what still runs, wait for every process, kill what ignores the request."""
    for process in processes:
        if process.is_alive():
            process.terminate()
    deadline = time.monotonic() + GRACE_S
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
            process.join()


def _failure(processes: list, folder: Path) -> str | None:
    """The report of the worker that failed first, or None while none has failed.

    One failure makes the others fail too (a peer waiting in a collective gets "connection reset"), and their
    exits can be noticed in any order: the first traceback written is the cause.
    """
    failed = [rank for rank, process in enumerate(processes) if process.exitcode not in (None, 0)]
    if not failed:
        return None
    # also the tracebacks of workers still exiting: the cause may not have finished leaving the group yet
    errors = {rank: folder / f"error_{rank}.txt" for rank in range(len(processes))
              if (folder / f"error_{rank}.txt").exists()}
    if errors:
        rank = min(errors, key=lambda r: errors[r].stat().st_mtime_ns)
        detail = errors[rank].read_text()
    else:
        rank = failed[0]
        detail = f"it died with exit code {processes[rank].exitcode}"
    return f"worker {rank} of {len(processes)} failed:\n{detail}"


def run_processes(worker: Callable[..., Any], world_size: int, *args: Any, timeout: float = 300.0,
                  backend: str = "gloo") -> list[Any]:
    """Run ``worker(rank, world_size, *args)`` in ``world_size`` processes of one group; their results, by rank.

    ``backend``: "gloo" (CPU tensors) or "nccl" (one GPU per process).
    ``worker`` must be importable (defined in a module, not in a notebook cell) and its result picklable by
    ``torch.save``. Raises :class:`WorkerError` when a worker fails and ``TimeoutError`` after ``timeout``
    seconds; in every case, also on KeyboardInterrupt, no process is left behind.
    """
    if isinstance(world_size, bool) or not isinstance(world_size, int) or world_size < 1:
        raise ValueError(f"world_size must be a whole number >= 1, got {world_size!r}")
    if getattr(worker, "__module__", "__main__") == "__main__" or "<locals>" in worker.__qualname__:
        raise ValueError(f"{worker.__qualname__} is defined in __main__ (a notebook cell or a script) or inside "
                         "a function: spawned processes cannot import it; define it in a module")
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="d2l_bn_ddp_") as name:
        folder = Path(name)
        processes = [context.Process(target=_entry, args=(worker, rank, world_size, name, backend, args), daemon=True,
                                     name=f"d2l_bn worker {rank}") for rank in range(world_size)]
        try:
            for process in processes:
                process.start()
            deadline = time.monotonic() + timeout
            while any(process.is_alive() for process in processes):
                report = _failure(processes, folder)
                if report:
                    raise WorkerError(report)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"the {world_size} workers ran longer than {timeout:g} s; they were "
                                       "stopped (pass a larger timeout for a longer run)")
                wait([process.sentinel for process in processes if process.is_alive()], timeout=min(left, 1.0))
            report = _failure(processes, folder)
            if report:
                raise WorkerError(report)
            return [torch.load(folder / f"result_{rank}.pt", weights_only=False) for rank in range(world_size)]
        finally:
            _stop(processes)


def run_in_turn(rank: int, world_size: int, jobs: list[tuple[Callable[..., Any], tuple]]) -> list[Any]:
    """A worker that runs several workers one after the other in the same processes, ``jobs`` being
    ``(worker, args)`` pairs: one start of the processes (each imports torch, seconds) instead of several."""
    return [worker(rank, world_size, *args) for worker, args in jobs]


def children_left() -> list[str]:
    """This process's child processes that are still alive, described (psutil's view too, when installed).

    Python's own ``resource_tracker`` (one helper process that every ``spawn`` user gets, for the life of the
    parent) is not counted: it is not a worker and it exits with the kernel.
    """
    left = {child.pid: f"{child.name} (pid {child.pid})" for child in multiprocessing.active_children()}
    try:
        import psutil
    except ImportError:
        return sorted(left.values())
    from multiprocessing import resource_tracker
    tracker = getattr(resource_tracker._resource_tracker, "_pid", None)
    for child in psutil.Process(os.getpid()).children(recursive=True):
        try:
            if child.pid != tracker and child.status() != psutil.STATUS_ZOMBIE:   # a zombie has already exited
                left.setdefault(child.pid, f"{child.name()} (pid {child.pid})")
        except psutil.NoSuchProcess:
            continue
    return sorted(left.values())
