"""SRFB on Gidel's 1-D WGAN, vectorised over many chains, and the SRFB chapter's stored experiment on
the averaged variant (``make sweep NAME=srfb.average``).

The game (:class:`gancore.games.WGAN1D`): critic ``D(u) = phi u``, data ``N(0, 1)``, generator ``z +
theta``; ``f(theta, phi) = -theta phi``, solution (0, 0). A batch of S samples gives the
pseudogradient estimate ``(-phi, theta - xi)`` with ``xi`` the difference of the batch's means, of
variance sigma^2 = 2/S, so chains are driven by Gaussian noise directly and batches of 10^8 are free.

The averaged variant (SRFB claim (ii), [reconstructed] in ``../shared/papers/srfb.md``): with a fixed
batch the ergodic average X_K of the iterates has gap Err(X_K) = O(1/(lam K)) + O(lam sigma^2). On
this game the gap restricted to the unit ball around the solution is exactly ``||X_K||``.
:func:`average_runs` measures ``||X_K||`` on a design of two blocks, one where each term of the bound
dominates by the bound's own ratio ``lam^2 sigma^2 K`` (the profile's ``average`` settings).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["srfb_wgan1d", "average_runs", "average_steps"]


def srfb_wgan1d(lr: np.ndarray | float, noise: np.ndarray, delta: float = 0.618, theta0: float = 1.0,
                phi0: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    r"""SRFB on Gidel's 1-D WGAN (:class:`gancore.games.WGAN1D`) for many independent chains at once.

    ``noise[k, c]`` is chain c's sampled :math:`\xi_k = \bar u - \bar z` at iteration k (variance
    2/S for a batch of S); the estimate is :math:`\hat F(x_k) = (-\phi_k, \theta_k - \xi_k)` and the
    step that of :class:`gancore.solvers.SRFB`: :math:`\bar x_k = \bar x_{k-1} + (1-\delta)(x_k -
    \bar x_{k-1})`, :math:`x_{k+1} = \bar x_k - \lambda \hat F(x_k)`, :math:`\bar x_{-1} = x_0`.
    ``lr`` is one step size or one per chain. Returns the distance to the solution (0, 0) of the
    iterate and of the uniform average of iterates 0..k, each of shape (steps + 1, chains): the same
    numbers as :func:`gancore.games.run` with ``average=True`` when driven by the same noise."""
    xi = np.asarray(noise, dtype=float)
    if xi.ndim != 2:
        raise ValueError(f"noise must have shape (steps, chains); got shape {xi.shape}")
    steps, chains = xi.shape
    step = np.broadcast_to(np.asarray(lr, dtype=float), (chains,))
    if not (np.isfinite(step).all() and (step > 0).all()):
        raise ValueError(f"step sizes must be finite and > 0; got {np.unique(step)}")
    if not 0 < delta < 1:
        raise ValueError(f"Invalid delta: {delta}; SRFB needs 0 < delta < 1")
    theta, phi = np.full(chains, float(theta0)), np.full(chains, float(phi0))
    tbar, pbar = theta.copy(), phi.copy()
    path = np.empty((steps + 1, 2, chains))
    path[0] = theta, phi
    for k in range(steps):
        f_theta, f_phi = -phi, theta - xi[k]
        tbar += (1 - delta) * (theta - tbar)
        pbar += (1 - delta) * (phi - pbar)
        theta, phi = tbar - step * f_theta, pbar - step * f_phi
        path[k + 1] = theta, phi
    average = np.cumsum(path, axis=0) / np.arange(1, steps + 2)[:, None, None]
    return np.hypot(path[:, 0], path[:, 1]), np.hypot(average[:, 0], average[:, 1])


def _looks(P: Mapping[str, Any]) -> list[int]:
    """The K at which every chain is measured: ``looks_per_decade`` per decade from ``k_min`` to the
    largest K of the design, and every K of the design."""
    design = [int(k) for block in P["blocks"].values() for k in block["K"]]
    top, n = max(design), P["looks_per_decade"]
    grid = np.unique(np.round(10 ** np.arange(math.log10(P["k_min"]), math.log10(top) + 1e-9, 1 / n)).astype(int))
    return sorted({*grid.tolist(), *design})


def average_steps(settings: Mapping[str, Any], n: int) -> int:
    """The iterations of a job of ``n`` seeds of :func:`average_runs` (the sweep's progress unit)."""
    P = settings["average"]
    return n * P["chains"] * sum(len(b["lrs"]) * len(b["batches"]) for b in P["blocks"].values()) * _looks(P)[-1]


def average_runs(settings: Mapping[str, Any], seeds: Sequence[int], device: str = "cpu") -> dict[str, pd.DataFrame]:
    """The SRFB chapter's experiment on the averaged variant, for ``seeds`` (``device`` is unused: numpy).

    ``settings.average.blocks`` maps a block name to its step sizes ``lrs``, batch sizes ``batches``
    (sigma^2 = 2/S) and the ``K`` of its design points. For each seed, block and (lr, batch) cell,
    ``chains`` independent chains run SRFB (``settings.delta``) from (1, 1) to the largest K of the
    design, driven by the noise of ``numpy.random.default_rng([seed, b])``, b the block's place in name
    order (``chunk`` chains at a time, to bound memory). Returns ``{"average": one row per seed, block, lr, batch and
    look K}`` with ``sigma2``, ``design`` (K is one of the block's design points), ``chains``, and the
    root mean square over the chains of ``average distance`` (``||X_K||``, the gap on this game; its
    mean square estimates E||X_K||^2) and of ``iterate distance`` (``||x_K||``)."""
    P = settings["average"]
    looks, n = _looks(P), int(P["chains"])
    rows = []
    for s in seeds:
        for b, (block, cells) in enumerate(sorted(P["blocks"].items())):
            pairs = [(float(lr), int(S)) for lr in cells["lrs"] for S in cells["batches"]]
            lr = np.repeat([lr for lr, _ in pairs], n)
            sigma = np.repeat([math.sqrt(2 / S) for _, S in pairs], n)
            xi = np.random.default_rng([int(s), b]).standard_normal((looks[-1], len(lr))) * sigma
            dist, avg = np.empty((len(looks), len(lr))), np.empty((len(looks), len(lr)))
            for lo in range(0, len(lr), P["chunk"]):
                part = slice(lo, lo + P["chunk"])
                d, a = srfb_wgan1d(lr[part], xi[:, part], settings["delta"])
                dist[:, part], avg[:, part] = d[looks], a[looks]
            rms = {name: np.sqrt((v ** 2).reshape(len(looks), len(pairs), n).mean(axis=2))
                   for name, v in (("average distance", avg), ("iterate distance", dist))}
            design = {int(k) for k in cells["K"]}
            rows += [{"seed": int(s), "block": block, "lr": lr, "batch": S, "sigma2": 2 / S, "K": K,
                      "design": K in design, "chains": n, **{name: v[i, c] for name, v in rms.items()}}
                     for i, K in enumerate(looks) for c, (lr, S) in enumerate(pairs)]
    return {"average": pd.DataFrame(rows)}
