"""What a stored run records of its own speed, so that a slow run explains itself.

:class:`Clock` measures a run in this thread: its wall time, its thread's CPU time (``cpu_share``:
CPU seconds over wall seconds; under 1 the thread waited for a core, the machine was shared), the
time spent in training's evaluation callbacks (:func:`timed`, which :func:`gancore.train.fit` puts
around ``evaluate``: ``evaluation_share`` of the wall time), and the machine's load while it ran
(the 1-minute load average of ``/proc/loadavg`` at the start, every ``LOAD_EVERY`` seconds and at
the end; the number of CPUs). :meth:`Clock.stop` gives the small dict a ``run.json`` keeps as
``throughput``; :func:`rate` reads the rate back from such a record.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import resource
import threading
import time
from pathlib import Path
from typing import Any, Callable

__all__ = ["Clock", "timed", "rate", "combine", "load", "children_cpu", "evaluation_file", "LOAD_EVERY", "FILE_ENV"]

LOAD_EVERY = 60.0  # seconds between samples of the load average while a run runs
FILE_ENV = "GANCORE_METER_FILE"  # where a chapter's kernel keeps its evaluation seconds for gancore.runs
_spent = threading.local()  # seconds in evaluation callbacks, per thread (a sweep worker runs one job a thread)
_process = [0.0]  # the same, summed over this process's threads


def _evaluation_seconds() -> float:
    return getattr(_spent, "seconds", 0.0)


def timed(evaluate: Callable | None) -> Callable | None:
    """``evaluate`` counting its time into this thread's evaluation seconds (None stays None). Timing
    only: the callback's arguments, result and random streams are untouched."""
    if evaluate is None:
        return None

    @functools.wraps(evaluate)
    def counted(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return evaluate(*args, **kwargs)
        finally:
            spent = time.perf_counter() - t0
            _spent.seconds = _evaluation_seconds() + spent
            _process[0] += spent
            if os.environ.get(FILE_ENV):  # a chapter's kernel: tell the process that executes it
                with contextlib.suppress(OSError):
                    Path(os.environ[FILE_ENV]).write_text(json.dumps({"evaluation_seconds": _process[0]}))
    return counted


def evaluation_file(path: str | os.PathLike) -> float:
    """The evaluation seconds a process run with ``$GANCORE_METER_FILE`` = ``path`` wrote (0 if none)."""
    with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
        return float(json.loads(Path(path).read_text())["evaluation_seconds"])
    return 0.0


def children_cpu() -> float:
    """CPU seconds of this process's finished children (a chapter's kernel, once papermill ended it)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def load() -> float | None:
    """The 1-minute load average (None where the system has none)."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


class Clock:
    """Started on creation: the wall time, this thread's CPU time, the evaluation seconds and the load
    of a run, until :meth:`stop`."""

    def __init__(self, every: float = LOAD_EVERY, resumed: bool = False) -> None:
        self.resumed = resumed  # continued from a checkpoint: its rate counts steps done before it started
        self._wall, self._cpu, self._eval = time.perf_counter(), time.thread_time(), _evaluation_seconds()
        self._loads = [load()]
        self._done = threading.Event()
        self._sampler = threading.Thread(target=self._sample, args=(every,), daemon=True, name="gancore-load")
        self._sampler.start()

    def _sample(self, every: float) -> None:
        while not self._done.wait(every):
            self._loads.append(load())

    def stop(self, work: float | None, unit: str = "seed_steps", cpu: float | None = None,
             evaluation: float | None = None) -> dict[str, Any]:
        """The run's figures: ``work`` units (training steps summed over the runs: member-steps for an
        ensemble) per second, wall and CPU seconds, evaluation's share of the wall time, and the load
        (start, end, mean of the samples); ``resumed: true`` when the run continued a checkpoint.
        ``work`` None: no rate (a chapter: many experiments). ``cpu`` and ``evaluation`` (seconds)
        replace this thread's, for a run in another process (a chapter's kernel)."""
        wall = max(time.perf_counter() - self._wall, 1e-9)
        cpu = time.thread_time() - self._cpu if cpu is None else cpu
        spent = _evaluation_seconds() - self._eval if evaluation is None else evaluation
        self._done.set()
        loads = [x for x in self._loads + [load()] if x is not None]
        rate = {} if work is None else {f"{unit}_per_second": round(work / wall, 3), unit: work}
        return rate | {"wall_seconds": round(wall, 2), "cpu_share": round(cpu / wall, 3),
                       "evaluation_seconds": round(spent, 3), "evaluation_share": round(spent / wall, 4),
                       "load": {"start": loads[0] if loads else None, "end": loads[-1] if loads else None,
                                "mean": round(sum(loads) / len(loads), 2) if loads else None,
                                "samples": len(loads), "cpus": os.cpu_count()}} | ({"resumed": True} if self.resumed else {})


def rate(record: dict[str, Any], unit: str = "seed_steps") -> float | None:
    """The ``unit`` per second a ``run.json`` record measured (its ``throughput``), or None (none
    recorded, or a resumed run's, whose rate counts steps done before it started)."""
    figures = record.get("throughput") if isinstance(record, dict) else None
    if not isinstance(figures, dict) or figures.get("resumed"):
        return None
    value = figures.get(f"{unit}_per_second")
    return float(value) if isinstance(value, (int, float)) and value > 0 else None


def combine(records: list[dict[str, Any]], unit: str = "seed_steps") -> dict[str, Any] | None:
    """The ``throughput`` of a merged sweep from its jobs' records: the rate per job (work over wall
    time, summed over the jobs that recorded one and did not resume), evaluation's share, the lowest
    CPU share and the load (lowest start, highest end, mean of the jobs' means); None if no job
    recorded one."""
    found = [r["throughput"] for r in records if isinstance(r.get("throughput"), dict)]
    whole = [f for f in found if not f.get("resumed")]
    if not found:
        return None
    wall = sum(f["wall_seconds"] for f in whole) or None
    means = [f["load"]["mean"] for f in found if f["load"]["mean"] is not None]
    return {f"{unit}_per_second": round(sum(f[unit] for f in whole) / wall, 3) if wall else None,
            "jobs": len(found), "resumed_jobs": len(found) - len(whole),
            "evaluation_share": round(sum(f["evaluation_seconds"] for f in found)
                                      / max(sum(f["wall_seconds"] for f in found), 1e-9), 4),
            "cpu_share_min": min(f["cpu_share"] for f in found),
            "load": {"start_min": min((f["load"]["start"] for f in found if f["load"]["start"] is not None), default=None),
                     "end_max": max((f["load"]["end"] for f in found if f["load"]["end"] is not None), default=None),
                     "mean": round(sum(means) / len(means), 2) if means else None, "cpus": found[0]["load"]["cpus"]}}
