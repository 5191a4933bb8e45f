"""The known-optimum game's experiment and tables: every method of :data:`gancore.arena.methods.METHODS` and
the double oracle on :mod:`gancore.arena.known`, each at its best point of ONE step-size grid.

:func:`known_arena` runs the profile's settings (``profiles.get("arena", profile).known``) and returns:

* ``curves``: every run along training (method, beta_fraction, lr, seed, evals, seconds, rel_gap,
  moment_gap, violation), on the main problem and on the weight-decay axis;
* ``grid``: per method and step size on the main problem, the median final moment gap and how many seeds
  diverged: where each method works;
* ``best``: each method's step size, the grid point with the smallest median final moment gap over the
  seeds (a diverged seed counts as infinite; ties go to the smaller step size);
* ``leaderboard``: per method at its best step size and equal budget, the final moment and objective gaps
  (median, with its 95% order-statistic interval, :func:`gancore.stats.median_interval`, columns
  ``<score>_median_low/high``; mean with its 95% percentile-bootstrap interval,
  :func:`gancore.stats.mean_interval`: the gaps are positive and skewed, a t interval would reach below 0;
  both intervals over the seeds that did not diverge),
  the rates of seeds that reached moment gap 1e-2 and 1e-4 at some evaluation (Wilson intervals,
  :func:`gancore.stats.wilson`), the median evaluations and seconds to 1e-2 over the seeds that reached it,
  and the behaviours (:func:`behaviour`), sorted by the median final moment gap;
* ``difficulty``: the same final numbers for every method at its best step size OF THE MAIN PROBLEM on each
  problem of the axis beta_d = beta_fraction * sigma_2^2 (the discriminator's weight decay; same X and Z,
  so the whole axis trains in the same batched runs as the main problem).
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np
import pandas as pd

from .. import stats
from ..metrics import first_reaching
from .known import known_problem, play
from .known_oracle import double_oracle_run
from .methods import METHODS

__all__ = ["known_arena", "behaviour", "BEHAVIOURS", "TARGETS", "final_rows", "best_lrs", "leaderboard"]

TARGETS = (1e-2, 1e-4)
BEHAVIOURS = ("converged", "improving", "cycling", "stalled", "diverged")
RUN = ["method", "beta_fraction", "lr", "seed"]


def behaviour(evals: np.ndarray, moment_gap: np.ndarray) -> str:
    """The behaviour of one run from its moment-gap curve (evaluations in order), looking at the last half
    of its evaluations (evals >= half the last) in decades, g = log10(moment_gap):

    * ``"diverged"``: the last value is not finite;
    * ``"converged"``: the last value is <= 1e-2;
    * ``"cycling"``: the rises of g from one evaluation to the next over the last half add up to >= 0.3
      decades (the gap went up again, by a factor of 2 or more in all);
    * ``"stalled"``: g fell by less than 0.1 decade (a factor 1.26) from the first to the last value of
      the last half;
    * ``"improving"``: otherwise (falling, with rises below a factor 2, not yet at 1e-2)."""
    e, gap = np.asarray(evals, dtype=float), np.asarray(moment_gap, dtype=float)
    if not math.isfinite(gap[-1]):
        return "diverged"
    if gap[-1] <= TARGETS[0]:
        return "converged"
    g = np.log10(gap[e >= e[-1] / 2])
    if np.clip(np.diff(g), 0, None).sum() >= 0.3:
        return "cycling"
    return "stalled" if g[0] - g[-1] < 0.1 else "improving"


def final_rows(curves: pd.DataFrame) -> pd.DataFrame:
    """One row per run: its last evaluation, with ``behaviour``, ``reach_<t>`` (reached moment gap <= t at
    some evaluation, 0/1), and ``evals_to_<t>`` / ``seconds_to_<t>`` (first reaching, NaN if never)."""
    rows = []
    for key, run in curves.groupby(RUN, sort=True):
        run = run.sort_values("evals")
        row = {**dict(zip(RUN, key)), **run.iloc[-1][["evals", "seconds", "rel_gap", "moment_gap", "violation"]],
               "behaviour": behaviour(run.evals.to_numpy(), run.moment_gap.to_numpy())}
        for t in TARGETS:
            row[f"evals_to_{t:g}"] = first_reaching(run.evals, run.moment_gap, t, higher_is_better=False)
            row[f"seconds_to_{t:g}"] = first_reaching(run.seconds, run.moment_gap, t, higher_is_better=False)
            row[f"reach_{t:g}"] = float(not math.isnan(row[f"evals_to_{t:g}"]))
        rows.append(row)
    return pd.DataFrame(rows)


def best_lrs(final: pd.DataFrame) -> pd.DataFrame:
    """Per method (and beta_fraction): the grid of median final moment gaps and diverged counts, with
    ``best`` marking each method's step size (smallest median; ties: the smaller step size)."""
    grid = final.groupby(["method", "beta_fraction", "lr"], sort=True).agg(
        moment_gap=("moment_gap", "median"), diverged=("behaviour", lambda b: int((b == "diverged").sum())),
        seeds=("seed", "size")).reset_index()
    first = grid.sort_values(["moment_gap", "lr"], kind="stable").groupby(["method", "beta_fraction"]).head(1)
    grid["best"] = grid.index.isin(first.index)
    return grid


def _intervals(values: pd.Series) -> dict[str, float]:
    """Mean (percentile bootstrap) and median (order statistics) intervals over the finite values."""
    x = values.to_numpy(dtype=float)
    x = np.where(np.isfinite(x), x, np.nan)
    if np.isnan(x).all():
        return dict.fromkeys(["mean", "low", "high", "median_low", "median_high"], math.nan)
    iv, med = stats.mean_interval(x, method="bootstrap"), stats.median_interval(x)
    return {"mean": iv.estimate, "low": iv.low, "high": iv.high, "median_low": med.low, "median_high": med.high}


def leaderboard(final: pd.DataFrame) -> pd.DataFrame:
    """Per method (and beta_fraction) in ``final`` (one row per seed, e.g. at each method's best step size):
    the numbers of the module docstring, sorted by beta_fraction and median final moment gap."""
    rows = []
    for (name, beta), runs in final.groupby(["method", "beta_fraction"], sort=True):
        n = len(runs)
        row: dict[str, Any] = {"method": name, "beta_fraction": beta, "lr": runs.lr.iloc[0], "n": n,
                               "diverged": int((runs.behaviour == "diverged").sum())}
        for score in ("moment_gap", "rel_gap"):
            row[score] = float(runs[score].median())
            row.update({f"{score}_{k}": v for k, v in _intervals(runs[score]).items()})
        for t in TARGETS:
            iv = stats.wilson(int(runs[f"reach_{t:g}"].sum()), n)
            row.update({f"reach_{t:g}": iv.estimate, f"reach_{t:g}_low": iv.low, f"reach_{t:g}_high": iv.high})
        row["evals_to_0.01"] = float(runs["evals_to_0.01"].median())
        row["seconds_to_0.01"] = float(runs["seconds_to_0.01"].median())
        row.update({b: int((runs.behaviour == b).sum()) for b in BEHAVIOURS})
        rows.append(row)
    return pd.DataFrame(rows).sort_values(["beta_fraction", "moment_gap", "method"], ignore_index=True)


def known_arena(settings: Mapping[str, Any], device: str = "cpu") -> dict[str, pd.DataFrame]:
    """Every method and the double oracle on the known-optimum game, with ``settings`` =
    ``profiles.get("arena", profile).known``: problem (n, d, problem_seed, spread, beta_g), the weight-decay
    axis ``beta_fractions`` with the main problem ``beta_fraction``, ``seeds`` (initialisations 0..seeds-1),
    the shared step-size grid ``lrs``, ``budget`` and ``eval_every`` (player-gradient evaluations), and the
    double oracle's ``oracle_steps`` and ``oracle_solver``. Returns the tables of the module docstring."""
    s = settings
    if s["beta_fraction"] not in s["beta_fractions"]:
        raise ValueError(f"The main problem's beta_fraction={s['beta_fraction']} must be one of the axis "
                         f"beta_fractions={tuple(s['beta_fractions'])}.")
    problems = [known_problem(s["n"], s["d"], s["problem_seed"], spread=s["spread"], beta_fraction=b,
                              beta_g=s["beta_g"]) for b in s["beta_fractions"]]
    seeds = range(s["seeds"])
    curves = pd.concat([play(m.name, s["lrs"], problems, seeds, s["budget"], s["eval_every"], device=device)
                        for m in METHODS] +
                       [double_oracle_run(problems, s["lrs"], seeds, s["budget"], s["oracle_steps"],
                                          solver=s["oracle_solver"], device=device)], ignore_index=True)
    final = final_rows(curves)
    grid = best_lrs(final)
    main = grid[(grid.beta_fraction == s["beta_fraction"])]
    best = main[main.best].drop(columns=["best", "beta_fraction"]).reset_index(drop=True)
    chosen = final.merge(best[["method", "lr"]], on=["method", "lr"])
    board = leaderboard(chosen)
    return {"curves": curves, "grid": main.drop(columns=["beta_fraction"]).reset_index(drop=True), "best": best,
            "leaderboard": board[board.beta_fraction == s["beta_fraction"]].drop(columns=["beta_fraction"])
            .reset_index(drop=True), "difficulty": board}
