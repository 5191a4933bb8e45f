"""How many threads a chapter's process should use here: the Makefile's ``OMP_NUM_THREADS=1``, measured.

In portable numerics (gancore.numerics, the Makefile's default) convolutions run through ATen's own
kernels, which open one OpenMP parallel region per small operation. On this machine's two virtual cores
a second thread then costs more than it gives: with sleeping waiters (``OMP_WAIT_POLICY=PASSIVE``) every
region pays for waking the other thread, and with spinning waiters two processes on the machine (a
chapter beside a sweep, or nbval beside a build) stall each other. One thread per process pays neither;
portable numerics pin it for another reason too (a parallel reduction's result depends on the number of
threads), so this benchmark says what that pin costs or saves here.

Two of the chapters' workloads, each in a fresh process (the OpenMP settings are read when it starts), with
portable numerics' kernels (its environment but the thread count, oneDNN off):

* ``image``: 200 training steps of the chapters' digits DCGAN (width 16, batch 64, the alpha-GAN
  chapter's image cell: one run of its grid, evaluation included);
* ``ring``: 300 steps of the alpha-GAN chapter's ring ensemble (32 seeds of the 3x64 networks, the
  sweep benchmark's ``_ring_seconds``).

Each under three settings: ``one`` (``OMP_NUM_THREADS=1``), ``two-sleeping`` (2 threads, ``PASSIVE``:
the Makefile's setting before this benchmark) and ``two-spinning`` (2 threads, OpenMP's default waiting),
alone and as two identical processes at once (``paired``: the time of the slower). Figures are speed-ups
of ``one`` over the two-thread settings (above 1: one thread is faster). A process still running after
``TIMEOUT`` seconds is stopped and counts as ``TIMEOUT``: its figure is then a lower bound
(``"lower_bound": true``). Measured, no target.
"""

from __future__ import annotations

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor

from benchmarks.bench_numerics import fresh_process_seconds
from gancore import numerics

REPEATS = {"alone": 2, "paired": 1}
TIMEOUT = 120  # seconds for one process; two spinning processes at once can take many minutes

SETTINGS = {
    "one": {"OMP_NUM_THREADS": "1"},
    "two-sleeping": {"OMP_NUM_THREADS": "2", "OMP_WAIT_POLICY": "PASSIVE"},
    "two-spinning": {"OMP_NUM_THREADS": "2"},
}

WORKLOADS = {
    "image": """
import time, torch
torch.backends.mkldnn.enabled = False
from gancore import experiments, losses, profiles
P = profiles.get("alpha_gan", "quick")
setup = experiments.image_data("digits")
def run():
    experiments.image_experiment(setup, loss=losses.gan_loss("alpha", alpha_d=0.6, alpha_g=1.0, generator="ns"),
        optimizers=experiments.adam(P.image.lrs[0], P.image.betas), policy="alternating", steps=P.image.steps,
        batch_size=P.image.batch_size, latent_dim=P.image.latent, width=P.image.width, seed=0, device="cpu",
        n_eval=P.n_fid, eval_seed=1, n_samples=32, progress=False, log_every=P.image.steps)
run()  # warm: the feature network and the reference statistics are cached after the first run
t0 = time.perf_counter()
run()
print(time.perf_counter() - t0)
""",
    "ring": """
import torch
torch.backends.mkldnn.enabled = False
from benchmarks.bench_sweep import _ring_seconds
_ring_seconds(False, steps=20)  # warm
print(_ring_seconds(False, steps=300))
""",
}


def _environment(setting: str) -> dict[str, str]:
    """Portable mode's kernels (its environment but the thread count; the scripts turn oneDNN off) with
    ``setting``'s threads: portable mode itself pins one thread and refuses two."""
    pinned = {k: v for k, v in numerics.ENVIRONMENT.items() if k != "OMP_NUM_THREADS"}
    env = {k: v for k, v in numerics.environment(False).items()  # without the pins
           if k not in {"OMP_WAIT_POLICY", "MKL_NUM_THREADS", "GOMP_SPINCOUNT"}}
    return env | pinned | SETTINGS[setting]


def _seconds(workload: str, setting: str) -> float:
    try:
        return fresh_process_seconds(WORKLOADS[workload], _environment(setting), timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return float(TIMEOUT)


def _paired(workload: str, setting: str) -> float:
    with ThreadPoolExecutor(2) as pool:
        return max(pool.map(lambda _: _seconds(workload, setting), range(2)))


def run() -> dict:
    load = os.getloadavg()[0]
    seconds: dict[str, dict[str, dict[str, list[float]]]] = {}
    for workload in WORKLOADS:
        for how, measure in [("alone", _seconds), ("paired", _paired)]:
            times = seconds.setdefault(workload, {}).setdefault(how, {s: [] for s in SETTINGS})
            for _ in range(REPEATS[how]):  # interleaved, the better time of each setting counts
                for setting in SETTINGS:
                    times[setting].append(round(measure(workload, setting), 2))
    figures = {}
    for workload, by_how in seconds.items():
        for how, times in by_how.items():
            for other in ("two-sleeping", "two-spinning"):
                name = f"{workload}_{how}_one_thread_over_{other.replace('-', '_')}"
                figures[name] = {"value": round(min(times[other]) / min(times["one"]), 2), "target": None,
                                 "lower_bound": min(times[other]) >= TIMEOUT}
    return {**figures, "details": {"seconds": seconds, "settings": SETTINGS, "load_average_before": round(load, 2),
                                   "note": "speed-up = time with two threads / time with one; paired = two "
                                           "identical processes at once, the slower one's time"}}
