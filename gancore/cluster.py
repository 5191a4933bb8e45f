"""Dask clusters for sweeps: an embedded cluster that only this process can use, and connections to a
running scheduler that fail fast and clearly.

:func:`connect` yields a ``distributed.Client``. Without an address it starts an embedded
``LocalCluster`` on the loopback interface (one worker process per core, one thread each, no
dashboard) secured with Dask's TLS and temporary credentials (``Security.temporary()``: a fresh
self-signed certificate and key held by this process and its workers), so another local process
cannot reach the scheduler and run code in the workers. With an address (``--scheduler``,
``$GANCORE_SCHEDULER``) it first checks (:func:`probe`, a few seconds) that a Dask scheduler answers
there: a TCP service that says nothing (a dashboard, an HTTP server) or says something else gives
:class:`SchedulerError` naming the address and what to check, instead of a 10-minute hang or an
attempt to allocate exabytes for a length read from foreign bytes; the connection itself times out
after ``timeout`` seconds. :func:`estimate` prints how long a sweep should take, from the rates its stored
jobs measured (their ``run.json``'s ``throughput``, :func:`measured_rate`), else from the rate the
last sweep measured (:func:`record_rate`).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import statistics
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dask
import torch
from distributed import Client, LocalCluster, WorkerPlugin
from distributed.comm.addressing import parse_address, parse_host_port
from distributed.security import Security

from . import meter

__all__ = ["connect", "probe", "check_gpu_workers", "SchedulerError", "SCHEDULER_ENV", "TIMEOUT", "estimate",
           "measured_rate", "record_rate"]

SCHEDULER_ENV = "GANCORE_SCHEDULER"
TIMEOUT = 30.0  # seconds to reach a scheduler before giving up
_SPAWN_ENVIRON = "distributed.nanny.pre-spawn-environ"
_LARGEST_HANDSHAKE = 1 << 16  # a Dask handshake is a few hundred bytes
QUIET = {"distributed.admin.tick.interval": "1s", "distributed.admin.system-monitor.interval": "5s",
         "distributed.worker.memory.monitor-interval": "1s"}  # the embedded cluster's clocks (see connect)


class SchedulerError(ConnectionError):
    """No Dask scheduler answers at an address; the message says what was found and what to check."""


def probe(address: str, timeout: float = TIMEOUT) -> None:
    """Check that a Dask scheduler answers at ``address`` (``tcp://host:port`` or ``host:port``): a
    Dask server sends its handshake as soon as a connection opens, so the first bytes tell. Raises
    :class:`SchedulerError` within about ``timeout`` seconds otherwise. ``tls://`` addresses are only
    checked to accept connections (reading their handshake needs the credentials)."""
    scheme, location = parse_address(address if "://" in address else f"tcp://{address}")
    advice = (f"Check the address (the scheduler's port, 8786 by default, not the dashboard's 8787), that "
              f"`dask scheduler` runs there, or leave --scheduler and ${SCHEDULER_ENV} unset for an embedded cluster.")
    try:
        host, port = parse_host_port(location)
    except ValueError as error:
        raise SchedulerError(f"Invalid scheduler address {address!r} ({error}). {advice}") from error
    if scheme not in ("tcp", "tls"):
        return  # inproc://, ucx://...: Dask's own checks
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            if scheme == "tls":
                return
            sock.settimeout(timeout)
            head = _read(sock, 8)
            (length,) = struct.unpack("<Q", head)
            if length > _LARGEST_HANDSHAKE:
                raise SchedulerError(f"The service at {address} is not a Dask scheduler: its first bytes "
                                     f"{head!r} are no Dask handshake. {advice}")
            if b"compression" not in _read(sock, length):
                raise SchedulerError(f"The service at {address} is not a Dask scheduler: it answered a message "
                                     f"that is no Dask handshake. {advice}")
    except socket.timeout as error:
        raise SchedulerError(f"The service at {address} accepted a connection but sent no Dask handshake within "
                             f"{timeout:g} s: it is not a Dask scheduler (a dashboard or HTTP server?). {advice}") from error
    except OSError as error:
        if isinstance(error, SchedulerError):
            raise
        raise SchedulerError(f"Cannot reach a Dask scheduler at {address}: {error}. {advice}") from error


def _read(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError(f"the connection closed after {len(data)} of {n} bytes")
        data += chunk
    return data


class _TorchThreads(WorkerPlugin):
    """Gives torch in every worker process as many threads as the worker has Dask threads (one in
    the embedded cluster, whose workers are one process per core)."""

    def setup(self, worker: Any) -> None:
        torch.set_num_threads(worker.state.nthreads)


@contextlib.contextmanager
def connect(scheduler: str | None = None, workers: int | None = None, device: str = "auto",
            timeout: float = TIMEOUT) -> Iterator[Client]:
    """A Dask client for a sweep, closed on exit. ``scheduler`` (or ``$GANCORE_SCHEDULER``): the
    address of a running scheduler to attach to, checked by :func:`probe` and reached within
    ``timeout`` seconds (else :class:`SchedulerError`). Otherwise an embedded ``LocalCluster`` on
    127.0.0.1 with TLS and temporary credentials, without a dashboard: ``workers`` processes (default:
    one per core; one when ``device`` is ``cuda``, with the resource ``GPU=1``), one thread each,
    stopped on exit."""
    address = scheduler or os.environ.get(SCHEDULER_ENV)
    if address:
        probe(address, timeout)
        try:
            client = Client(address, timeout=timeout)
        except (OSError, TimeoutError) as error:
            raise SchedulerError(f"Cannot connect to the Dask scheduler at {address} within {timeout:g} s: {error}. "
                                 "A secured cluster needs its credentials in the Dask config (distributed.comm.tls; "
                                 "see README, Sweeps on Dask).") from error
        with client:
            yield client
        return
    gpu = device.startswith("cuda")
    n = workers or (1 if gpu else len(os.sched_getaffinity(0)))
    # Dask starts worker processes with MALLOC_TRIM_THRESHOLD_=65536: glibc then returns freed memory
    # to the system at every step of torch's small-tensor loop, and a job ran 2x slower than in a
    # plain loop (benchmarks/bench_sweep.py). None unsets it (for restarted workers too). Dask's
    # statistical profiler samples every worker thread's stack every 10 ms, taking the GIL from a job
    # whose loop is Python-heavy; nothing reads its profiles here (no dashboard), so it is off. The
    # cluster's own clocks (event-loop ticks every 20 ms, system monitor every 0.5 s, memory monitors
    # every 0.1 s) took 6.4-7.4% of a core on an idle 2-worker cluster, CPU the jobs lose on a machine
    # with a core per worker; at the intervals below 1.3-1.6% (benchmarks/bench_sweep_speed.py).
    settings = {f"{_SPAWN_ENVIRON}.MALLOC_TRIM_THRESHOLD_": None, "distributed.worker.profile.enabled": False,
                **QUIET}
    with dask.config.set(settings), \
            LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None,
                         security=Security.temporary(), protocol="tls://",
                         resources={"GPU": 1} if gpu else None) as cluster, Client(cluster) as client:
        client.register_plugin(_TorchThreads())
        yield client


def check_gpu_workers(client: Client) -> None:
    """ValueError when no worker of ``client``'s cluster has the resource ``GPU`` (a cuda sweep's jobs ask for it)."""
    workers = client.scheduler_info()["workers"].values()
    if workers and not any("GPU" in w.get("resources", {}) for w in workers):
        raise ValueError("A cuda sweep asks every job for the worker resource GPU=1, and no worker of the cluster "
                         "has it: start GPU workers with --resources GPU=1 (see README, Sweeps on Dask), or sweep "
                         "with device=cpu.")


def _rates_file() -> Path:
    return Path(os.environ.get("GANCORE_CACHE") or "_build/cache/gancore") / "sweep-rates.json"


def _workers(workers: int | None) -> int:
    return workers or len(os.sched_getaffinity(0))


def measured_rate(experiment: str, root: str | os.PathLike = "results") -> tuple[float, int] | None:
    """(seed-steps per second per job, number of jobs) of ``experiment``'s stored sweep jobs under
    ``root`` (``root/<chapter>/<sweep>/jobs/*/run.json``: the median of the rates the jobs recorded,
    :mod:`gancore.meter`; resumed jobs left out), or None where no job recorded one."""
    rates = []
    for path in Path(root).glob("*/*/jobs/*/run.json"):
        with contextlib.suppress(OSError, ValueError):
            record = json.loads(path.read_text())
            if record.get("experiment") == experiment and meter.rate(record):
                rates.append(meter.rate(record))
    return (statistics.median(rates), len(rates)) if rates else None


def estimate(seed_steps: int, experiment: str, workers: int | None = None, root: str | os.PathLike = "results") -> str:
    """A line estimating how long ``seed_steps`` of ``experiment`` take on ``workers`` embedded workers
    (one job each at a time), from the rates its stored jobs measured (:func:`measured_rate`), else
    from the rate the last sweep of it measured on this machine (:func:`record_rate`), or saying that
    none was measured yet."""
    if not seed_steps:
        return "nothing to compute"
    measured = measured_rate(experiment, root)
    if measured:
        rate, source = measured[0], f"median rate its {measured[1]} stored job(s) measured,"
    else:
        try:
            rate = json.loads(_rates_file().read_text()).get(experiment)
        except (OSError, ValueError):
            rate = None
        source = "last sweep's"
    if not rate:
        return f"{seed_steps:,} seed-steps to compute (no rate measured on this machine yet to estimate the time)"
    seconds = seed_steps / (rate * _workers(workers))
    return (f"{seed_steps:,} seed-steps to compute, estimated {seconds / 3600:.1f} h at the {source} "
            f"{rate:,.0f} seed-steps/s per worker")


def record_rate(seed_steps: int, seconds: float, experiment: str, workers: int | None = None) -> None:
    """Remember the rate a sweep of ``experiment`` ran at (per worker), for :func:`estimate`."""
    if seed_steps <= 0 or seconds <= 0:
        return
    path = _rates_file()
    try:
        rates = json.loads(path.read_text())
    except (OSError, ValueError):
        rates = {}
    rates[experiment] = seed_steps / seconds / _workers(workers)
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(rates))
        os.replace(tmp, path)
