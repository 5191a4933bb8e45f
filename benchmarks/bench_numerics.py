"""What portable numerics (gancore.numerics, the Makefile's default) cost, as ratios measured in one run.

Each workload runs in a fresh process (MKL, ATen and OpenBLAS read their settings when they load), once
in default numerics (the fastest kernels, torch's default threads) and once in portable numerics (its
pinned kernels on one thread), interleaved (default, portable, default, portable); the better time of
each side counts. Times exclude the start of the process. ``bench_threads`` separates the thread
count's share of the difference.

* ``portable_dcgan_ratio``: 60 DCGAN training iterations on digits (the chapters' image networks,
  batch 64, non-saturating loss, Adam on both players), portable over default. Convolutions leave
  oneDNN in portable mode, so this is the larger cost.
* ``portable_ring_ratio``: 1,000 steps of the alpha-GAN chapter's ring ensemble (32 seeds of the
  3x64 networks, the sweep benchmark's ``_ring_seconds`` without evaluation), portable over default.

Measured, no target: portability is what the stored notebooks need; the ratios say what it costs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from gancore import numerics

REPEATS = 2

DCGAN = """
import time, torch
from gancore import data, losses, models, train
digits = data.load("digits")
make_G, make_D = models.gan_pair("dcgan", tuple(data.as_tensor(digits).shape[1:]), latent_dim=32, width=32)
torch.manual_seed(0)
G, D = make_G(), make_D()
t0 = time.perf_counter()
train.fit(G, D, digits, loss=losses.gan_loss("ns"), opt_G=torch.optim.Adam(G.parameters(), 2e-4),
          opt_D=torch.optim.Adam(D.parameters(), 2e-4), steps=60, batch_size=64, latent_dim=32,
          seed=0, device="cpu", progress=False)
print(time.perf_counter() - t0)
"""

RING = """
from benchmarks.bench_sweep import _ring_seconds
print(_ring_seconds(False, steps=1000))
"""


def fresh_process_seconds(script: str, env: dict[str, str], timeout: float | None = None) -> float:
    """The last number ``script`` prints, run in a fresh Python process with environment ``env`` (in the
    repository, so that ``benchmarks`` imports); ``subprocess.TimeoutExpired`` after ``timeout`` s."""
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True,
                         timeout=timeout, cwd=Path(__file__).resolve().parents[1])
    return float(out.stdout.split()[-1])


def _seconds(script: str, portable: bool) -> float:
    return fresh_process_seconds(script, numerics.environment(portable))


def run() -> dict:
    figures, details = {}, {}
    for name, script in [("dcgan", DCGAN), ("ring", RING)]:
        times = {"default": [], "portable": []}
        for _ in range(REPEATS):
            for mode in times:
                times[mode].append(round(_seconds(script, mode == "portable"), 2))
        figures[f"portable_{name}_ratio"] = {
            "value": round(min(times["portable"]) / min(times["default"]), 3), "target": None}
        details[name] = times
    load = os.getloadavg()[0]
    return {**figures, "details": {"seconds": details, "load_average": round(load, 2)}}
