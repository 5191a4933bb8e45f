"""Jobs in fresh processes, each single-threaded, ended with the process that started them."""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Callable, Mapping, Sequence, TypeVar

__all__ = ["in_processes"]

T = TypeVar("T")


def in_processes(fn: Callable[..., T], jobs: Sequence[Mapping[str, Any]], workers: int | None = None) -> list[T]:
    """``[fn(**job) for job in jobs]``, run in ``workers`` fresh processes at once (default: the cores
    this process may use, at most one per job); the results come back in the order of ``jobs``, and the
    first job that raises re-raises here. ``workers=1`` runs the jobs in this process, one after another
    (on a GPU, or to debug). The processes start with this process's environment, so under portable
    numerics (one thread, pinned kernels) a job gives the same bits in either place. ``fn`` must be a
    module-level function of an importable module, its arguments and result picklable; a script that
    calls this needs the ``if __name__ == "__main__":`` guard (the processes are spawned, and import
    the script's main module). The processes end with this one, even when it is killed (``kill -9``):
    no orphan keeps computing (:func:`_end_with_parent`)."""
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be >= 1 (or None for one per core); got {workers}.")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    n = min(workers or cores, len(jobs))
    if n <= 1:
        return [fn(**job) for job in jobs]
    with ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("spawn"), initializer=_end_with_parent,
                             initargs=(os.getpid(),)) as pool:
        futures = [pool.submit(fn, **job) for job in jobs]
        return [future.result() for future in futures]


def _end_with_parent(parent: int) -> None:
    """In a process of :func:`in_processes`: end when ``parent`` ends. Linux delivers SIGKILL at the
    parent's death (``prctl(PR_SET_PDEATHSIG)``); elsewhere, and as a backstop, a daemon thread checks
    every second whether the process has been re-parented."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1
    if os.getppid() != parent:  # already gone before the signal was armed
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="end-with-parent", daemon=True).start()
