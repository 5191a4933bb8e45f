"""Double-oracle benchmarks: the meta-game LP's speed and DO-GAN's own overhead.

* ``lp_solve_ms_50x50``: median milliseconds of :func:`gancore.oracle.solve_matrix_game` (both
  players' LPs, HiGHS) over random 50x50 games; target <= 10 ms. Beside it the same games solved with
  nashpy (``Game(U).linear_program()``) and with our cvxpy formulation (``method="cvxpy"``).
* ``do_overhead_fraction``: in the quick ring DO-GAN run of the chapter (:func:`gancore.dogan.dogan`),
  the time spent in payoff evaluation + meta-solve + pruning over the total time of the DO
  iterations (oracles included); target <= 0.15.
"""

from __future__ import annotations

import statistics
import time

import nashpy
import numpy as np

from gancore import data, dogan, losses, models, oracle, profiles

GAMES = 20
LP_TARGET_MS = 10.0
OVERHEAD_TARGET = 0.15


def _median_ms(solve, games) -> float:
    times = []
    for U in games:
        t0 = time.perf_counter()
        solve(U)
        times.append(1000 * (time.perf_counter() - t0))
    return statistics.median(times)


def lp_times() -> dict:
    rng = np.random.default_rng(0)
    games = [rng.normal(size=(50, 50)) for _ in range(GAMES)]
    oracle.solve_matrix_game(games[0], method="cvxpy")  # import and compile once, outside the timing
    return {
        "lp_solve_ms_50x50": _median_ms(oracle.solve_matrix_game, games),
        "nashpy_ms_50x50": _median_ms(lambda U: nashpy.Game(U).linear_program(), games),
        "cvxpy_ms_50x50": _median_ms(lambda U: oracle.solve_matrix_game(U, method="cvxpy"), games),
    }


def overhead() -> dict:
    P = profiles.get("double_oracle", "quick")
    make_G, make_D = models.gan_pair("vanilla", (2,), latent_dim=2, width=P.ring.width, depth=P.ring.depth)
    run = dogan.dogan(make_G, make_D, data.load("ring"), loss=losses.gan_loss("ns"), latent_dim=2,
                      iterations=P.ring.iterations, oracle_steps=P.ring.oracle_steps, init_steps=P.ring.init_steps,
                      batch_size=P.batch_size, lr_G=P.lr, lr_D=P.lr, betas=P.betas, eps=P.eps, cap=P.ring.cap,
                      ewc_lambda=P.ewc_lambda, fisher_batches=P.fisher_batches, n_payoff=P.n_payoff, device="cpu")
    spent = {k: float(run.history[k].sum()) for k in ["oracle_s", "payoff_s", "solve_s", "prune_s"]}
    machinery = spent["payoff_s"] + spent["solve_s"] + spent["prune_s"]
    return {"do_overhead_fraction": machinery / sum(spent.values()),
            "do_seconds": {k: round(v, 3) for k, v in spent.items()}}


def run() -> dict:
    figures = lp_times()
    figures.update(overhead())
    figures["targets"] = {"lp_solve_ms_50x50": LP_TARGET_MS, "do_overhead_fraction": OVERHEAD_TARGET}
    figures["met"] = {"lp_solve_ms_50x50": figures["lp_solve_ms_50x50"] <= LP_TARGET_MS,
                      "do_overhead_fraction": figures["do_overhead_fraction"] <= OVERHEAD_TARGET}
    figures["note"] = ("Measured on a shared 2-core CPU; other processes' load inflates every time. "
                       "lp_solve_ms includes both players' LPs and the affine normalisation.")
    return figures
