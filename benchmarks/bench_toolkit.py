"""Toolkit benchmarks: the training loop's overhead and the toolkit chapter's wall time.

* ``train_overhead_ratio``: seconds per step of :func:`gancore.train.fit` on the ring GAN of the
  toolkit chapter over a minimal hand-written loop doing the same work (same networks, Adam, batch
  128, simultaneous updates: both gradients at the same point, then both steps). Measured in
  alternating rounds, median of the rounds, so that load on the machine hits both alike.
* ``toolkit_quick_seconds``: wall time of executing the toolkit chapter in the quick profile with
  papermill (into a temporary file; the committed notebook is not touched).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from gancore import data, losses, models, profiles, runs, train

STEPS = 300
ROUNDS = 5


def _models(P):
    torch.manual_seed(0)
    G = models.mlp_generator(2, 2, width=P.g_width, depth=P.depth)
    D = models.mlp_discriminator(2, width=P.d_width, depth=P.depth)
    return G, D, torch.optim.Adam(G.parameters(), P.lr, betas=P.betas), torch.optim.Adam(D.parameters(), P.lr, betas=P.betas)


def _gancore_seconds(P, ring) -> float:
    G, D, oG, oD = _models(P)
    t0 = time.perf_counter()
    train.fit(G, D, ring, loss=losses.gan_loss("ns"), opt_G=oG, opt_D=oD, steps=STEPS, batch_size=P.batch_size,
              latent_dim=2, policy="simultaneous", device="cpu", progress=False, log_every=10)
    return (time.perf_counter() - t0) / STEPS


def _minimal_seconds(P, ring) -> float:
    G, D, oG, oD = _models(P)
    x = ring.tensors[0]
    g = torch.Generator().manual_seed(0)
    t0 = time.perf_counter()
    for _ in range(STEPS):
        real = x[torch.randint(len(x), (P.batch_size,), generator=g)]
        z = torch.randn(P.batch_size, 2, generator=g)
        fake = G(z)
        fake_logits = D(fake)
        d_loss = (F.softplus(-D(real)) + F.softplus(fake_logits)).mean()
        g_loss = F.softplus(-fake_logits).mean()
        oD.zero_grad(), oG.zero_grad()
        d_grads = torch.autograd.grad(d_loss, list(D.parameters()), retain_graph=True)
        g_grads = torch.autograd.grad(g_loss, list(G.parameters()))
        for p, gr in zip(D.parameters(), d_grads):
            p.grad = gr
        for p, gr in zip(G.parameters(), g_grads):
            p.grad = gr
        oD.step(), oG.step()
    return (time.perf_counter() - t0) / STEPS


def run() -> dict:
    P = profiles.get("toolkit", "quick")
    ring = data.load("ring")
    _gancore_seconds(P, ring), _minimal_seconds(P, ring)  # warm-up
    ours, minimal = [], []
    for _ in range(ROUNDS):
        ours.append(_gancore_seconds(P, ring))
        minimal.append(_minimal_seconds(P, ring))
    ratio = statistics.median(o / m for o, m in zip(ours, minimal))
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        runs.execute("toolkit", "quick", "cpu", output=Path(tmp) / "toolkit.ipynb")
        chapter_seconds = time.perf_counter() - t0
    return {
        "train_overhead_ratio": round(ratio, 3), "train_overhead_ratio_target": 1.10,
        "train_overhead_ratio_met": ratio <= 1.10,
        "gancore_ms_per_step": round(1000 * statistics.median(ours), 3),
        "minimal_ms_per_step": round(1000 * statistics.median(minimal), 3),
        "toolkit_quick_seconds": round(chapter_seconds, 1), "toolkit_quick_seconds_target": 180,
        "toolkit_quick_seconds_met": chapter_seconds <= 180,
    }
