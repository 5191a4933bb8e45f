"""gancore.ensemble on the alpha-GAN ring with the paper's networks (G 4x400 ReLU, D 4x200 LeakyReLU,
batch 128, Adam, one D step then one G step per batch).

* ``ensemble_flops_fraction``: matmul FLOP/s of the K = 32 ensemble (forward and backward matmul FLOPs
  of one training step, counted by torch's FlopCounterMode, over the measured seconds per step) divided
  by the fp32 throughput of a large torch.mm measured in the same run.
* ``ensemble_speedup_k32``: seed-steps/s of the ensemble over seed-steps/s of gancore.train.fit on one
  seed at a time (32 seeds one after another run at the single-seed rate; measured on a few seeds).
* ``ring_paper_seed_hours_estimate``: hours on this CPU for the paper profile (200 seeds x 400 epochs of
  390 batches per setting) at the measured ensemble rate; also for all cells of the chapter's grids.

Seconds per step are marginal: (time of a long run - time of a short run) / (difference in steps), the
best of two tries each, so that set-up and the first steps' page faults on fresh buffers (which
make a 6-step run look ~2x slower per step) are not counted as training.
"""

from __future__ import annotations

import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from gancore import data, ensemble, losses, models, profiles, train

K = 32
SHORT, LONG = 5, 25  # run lengths whose difference gives the marginal seconds per step
LOSS = losses.gan_loss("alpha", alpha_d=0.5, alpha_g=1.0, p_min=1e-7)


def _make_G():
    return models.mlp_generator(2, 2, width=400, depth=4)


def _make_D():
    return models.mlp_discriminator(2, width=200, depth=4)


def _mm_flops_per_second(n: int = 2048, reps: int = 4, rounds: int = 3) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(reps):
            torch.mm(a, b)
        best = min(best, (time.perf_counter() - t0) / reps)
    return 2 * n ** 3 / best


def _ensemble_fit(steps: int):
    return ensemble.fit(_make_G, _make_D, data.load("ring"), list(range(K)), loss=LOSS, lr_G=1e-4, lr_D=1e-4,
                        steps=steps, batch_size=128, latent_dim=2, policy="alternating", device="cpu",
                        progress=False)


def _single_fit(steps: int, seed: int):
    torch.manual_seed(seed)
    G = _make_G()
    torch.manual_seed(seed + 1_000_000)
    D = _make_D()
    return train.fit(G, D, data.load("ring"), loss=LOSS, opt_G=torch.optim.Adam(G.parameters(), 1e-4),
                     opt_D=torch.optim.Adam(D.parameters(), 1e-4), steps=steps, batch_size=128, latent_dim=2,
                     policy="alternating", seed=seed, device="cpu", progress=False)


def run() -> dict:
    with FlopCounterMode(display=False) as counter:
        _ensemble_fit(1)
    flops_per_step = counter.get_total_flops()
    peak_before = _mm_flops_per_second()
    seconds_per_step = ensemble.seconds_per_step(_make_G, _make_D, data.load("ring"), list(range(K)), loss=LOSS,
                                                 lr_G=1e-4, lr_D=1e-4, batch_size=128, latent_dim=2,
                                                 policy="alternating", device="cpu", short=SHORT, long=LONG)
    peak = max(peak_before, _mm_flops_per_second())
    single = train.seconds_per_step(lambda n: _single_fit(n, seed=0), SHORT, LONG)
    ensemble_rate = K / seconds_per_step  # seed-steps per second
    P = profiles.get("alpha_gan", "paper")
    seed_steps = P.ring.seeds * P.ring.steps
    cells = len({(a, 1.0) for a in P.fig2b.alpha_d} | {(a, g) for a in P.sat.alpha_d for g in P.sat.alpha_g}) \
        + len(P.ns.alpha_d) * len(P.ns.alpha_g)
    fraction = flops_per_step / seconds_per_step / peak
    return {
        "ensemble_flops_fraction": {"value": round(fraction, 3), "target": 0.5, "met": fraction >= 0.5},
        "ensemble_speedup_k32": {"value": round(ensemble_rate * single, 2), "target": None},
        "ring_paper_seed_hours_estimate": {"value": round(seed_steps / ensemble_rate / 3600, 1), "target": None,
                                           "per": "one setting: 200 seeds x 156,000 steps",
                                           "all_cells_hours": round(cells * seed_steps / ensemble_rate / 3600, 0),
                                           "cells": cells},
        "details": {"K": K, "steps_timed": f"marginal, {LONG} - {SHORT} steps", "matmul_gflop_per_step": round(flops_per_step / 1e9, 3),
                    "ensemble_seconds_per_step": round(seconds_per_step, 4),
                    "single_seed_seconds_per_step": round(single, 4),
                    "mm_gflops": round(peak / 1e9, 1),
                    "ensemble_gflops": round(flops_per_step / seconds_per_step / 1e9, 1)},
    }
