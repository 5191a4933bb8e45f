"""The arena at a budget where methods learn (issue 28): choose the ring's budget where the reference
method learns, tune every contestant's step size on tuning seeds that are never reported, and report
on other seeds; each stage a stored sweep (``make sweep NAME=arena.learn``, :func:`learn_runs`).

The protocol, our choices (the settings group ``learn`` of the arena's profile):

1. **Budget** (``stage = "budget"``, the ring only): the reference method (``learn.reference``,
   alt-Adam) over its grid (below) on the tuning seeds, ONE run to the top of ``learn.ladder`` (budgets
   in player-gradient evaluations), evaluated at every rung on the way (every ``gcd(ladder)``
   evaluations), so one run gives every budget at once. The budget (:func:`choose_budget`) is the
   smallest rung at which the reference's success rate over the tuning seeds, at its best grid point at
   that rung, reaches ``learn.threshold`` (0.5).
2. **Tuning** (``stage = "tune"``): every contestant of the game's ``methods`` over its family's grid,
   ``learn.lrs.adam`` for the Adam-based (sim-, alt- and coop-Adam, alpha-GAN, vanilla-GAN, DO-GAN,
   whose oracles are Adam) and ``learn.lrs.sgd`` for the others (GDA, EG, OGDA, SRFB, SRFB-avg), at
   least 4 points each, on the tuning seeds at the game's ``budget``. The chosen point
   (:func:`choose_steps`) has the best mean primary score over the tuning seeds. The primary score is
   ours: on the ring, the final success (all 8 modes), ties broken by more mean modes, then fewer
   failures; on digits the lowest mean final Frechet distance; then the smaller step size. A seed that
   diverged scores the worst value (success 0, modes 0, failure 1; FD infinite), never dropped.
3. **Tuning luck** (:func:`expected_best_of_k`): Dodge et al. (2019, "Show your work: improved reporting
   of experimental results") report the expected maximum over k tuning trials: for the n grid scores
   sorted, v_(1) <= ... <= v_(n), drawn k times with replacement, E[max] = sum_i v_(i) [(i/n)^k -
   ((i-1)/n)^k]; without replacement (k <= n distinct grid points), E[max] = sum_i v_(i) C(i-1, k-1) /
   C(n, k). :func:`best_of_k` gives both per contestant, k = 1 (the grid's mean: no tuning) to n (the
   best point): a method whose best point is far above its best-of-2 won its place by tuning luck.
4. **Report** (``stage = "report"``): the report seeds, each contestant at its chosen step size
   (``learn.chosen``, one per contestant of the game's ``methods``, in that order; :func:`chosen_lrs`
   writes it from the tuning run). The report seeds and ``learn.tuning_seeds`` must be disjoint and the
   tuning and budget stages run on tuning seeds only: :func:`check_seeds` raises otherwise, in the
   sweep's jobs and again in :func:`report` when the stored runs are read.

``python -m gancore.arena.learn budget LABEL`` prints the budget a stored budget sweep chooses, and
``python -m gancore.arena.learn chosen LABEL [--game image]`` the ``learn.chosen`` a stored tuning sweep
gives (``results/arena/LABEL/``, read checked against its ``run.json``), for the next stage's command.

Every stage returns the game's curves (table ``ring`` or ``image``: :data:`gancore.arena.COLUMNS`), so
:func:`gancore.arena.ring_tables` / :func:`gancore.arena.image_tables` read the report run as they read
the chapter's stored run (success, failure and modes co-primary, with their intervals).
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from .. import profiles, storage
from .images import _Arena, check_image_settings, image_tables
from .methods import CONTESTANTS, DO_GAN, RING_ONLY, contestant, dogan_steps, ordered_curves
from .ring import _Ring, check_ring_settings, ring_tables

__all__ = ["STAGES", "GAMES", "family", "grids", "check_seeds", "stage_settings", "learn_runs", "learn_steps",
           "choose_budget", "tuning_grid", "choose_steps", "chosen_lrs", "at_edge", "combine_tuning", "expected_best_of_k", "best_of_k", "report"]

STAGES = ("budget", "tune", "report")
GAMES = {"ring": "ring", "image": "image"}
"""The game of each ``learn.game`` value: its settings group (and the name of its table)."""


def family(name: str) -> str:
    """``"adam"`` for a contestant trained with Adam (DO-GAN's oracles are Adam), else ``"sgd"``."""
    return "adam" if name == DO_GAN or contestant(name)[0].solver == "adam" else "sgd"


def grids(learn: Mapping[str, Any], names: Sequence[str]) -> dict[str, tuple[float, ...]]:
    """Each contestant's step-size grid for tuning: its family's (``learn.lrs``); fewer than 4 points or a
    step size <= 0 is a ``ValueError``."""
    out = {}
    for name in names:
        grid = tuple(float(lr) for lr in learn["lrs"][family(name)])
        if len(grid) < 4 or len(set(grid)) < len(grid) or not all(lr > 0 for lr in grid):
            raise ValueError(f"Invalid learn.lrs.{family(name)}={grid} (for {name}): tune on at least 4 distinct "
                             "step sizes > 0.")
        out[name] = grid
    return out


def check_seeds(stage: str, seeds: Sequence[int], tuning_seeds: Sequence[int]) -> None:
    """``ValueError`` unless the seeds fit the stage: the budget and tuning stages run on tuning seeds only,
    the report on seeds none of which is a tuning seed (reported seeds are never tuned on)."""
    if stage not in STAGES:
        raise ValueError(f"Unknown learn.stage {stage!r}: use one of {', '.join(STAGES)}.")
    seeds, tuning = [int(s) for s in seeds], {int(s) for s in tuning_seeds}
    if not seeds or not tuning or len(set(seeds)) < len(seeds):
        raise ValueError(f"Stage {stage}: give distinct seeds and tuning seeds; got {seeds} and {sorted(tuning)}.")
    if stage == "report":
        shared = sorted(tuning.intersection(seeds))
        if shared:
            raise ValueError(f"Seed(s) {shared} are tuning seeds (learn.tuning_seeds={sorted(tuning)}): a reported "
                             "seed is never tuned on; report on other seeds.")
    else:
        other = sorted(set(seeds) - tuning)
        if other:
            raise ValueError(f"Stage {stage} runs on the tuning seeds {sorted(tuning)} only; seed(s) {other} are not "
                             "among them (those are for the report).")


def stage_settings(settings: Mapping[str, Any], seeds: Sequence[int]) -> tuple[dict[str, Any], dict[str, tuple]]:
    """The game group to run (its ``seeds``, DO-GAN on every seed, the budget stage's budget and
    evaluations) and each contestant's step sizes, after :func:`check_seeds` and the game's own checks."""
    L = settings["learn"]
    stage, game = L["stage"], L["game"]
    if game not in GAMES:
        raise ValueError(f"Unknown learn.game {game!r}: use one of {', '.join(GAMES)}.")
    check_seeds(stage, seeds, L["tuning_seeds"])
    group = dict(settings[GAMES[game]], seeds=len(seeds))
    group["dogan"] = dict(group["dogan"], seeds=len(seeds)) if game == "ring" else group["dogan"]
    names = list(group["methods"])
    if stage == "budget":
        if game != "ring" or L["reference"] == DO_GAN:
            raise ValueError("The budget stage runs on the ring (learn.game='ring') with a per-step reference.")
        ladder = sorted(int(b) for b in L["ladder"])
        every = math.gcd(*ladder)
        names = [L["reference"]]
        group |= dict(methods=tuple(names), budget=ladder[-1], eval_every=every)
    if stage == "report":
        chosen = tuple(float(lr) for lr in L["chosen"])
        if len(chosen) != len(names) or not all(lr > 0 for lr in chosen):
            raise ValueError(f"learn.chosen={chosen} must give one step size > 0 per contestant of {game}.methods "
                             f"({', '.join(names)}), in that order: write it with arena.learn.chosen_lrs from the "
                             "tuning run.")
        lrs = {name: (lr,) for name, lr in zip(names, chosen)}
    else:
        lrs = grids(L, names)
    group["lrs"] = tuple(sorted({lr for grid in lrs.values() for lr in grid}))
    (check_ring_settings if game == "ring" else check_image_settings)(group)
    return group, lrs


def learn_runs(settings: Mapping[str, Any], seeds: Sequence[int], device: str | torch.device = "auto"
               ) -> dict[str, pd.DataFrame]:
    """The sweep experiment ``arena.learn``: the stage ``learn.stage`` of the game ``learn.game`` on
    ``seeds`` (see the module docstring); returns ``{"ring" or "image": curves}`` (:data:`COLUMNS`),
    each contestant at each of its step sizes on every seed."""
    group, lrs = stage_settings(settings, seeds)
    game, seeds = settings["learn"]["game"], [int(s) for s in seeds]
    names = [n for n in CONTESTANTS + RING_ONLY if n in lrs]
    tables: list[pd.DataFrame] = []
    if game == "ring":
        arena = _Ring(group, device)
        for lr in group["lrs"]:
            here = [n for n in names if lr in lrs[n]]
            tables.append(pd.DataFrame(arena.grid_point(here, lr, seeds)))
    else:
        images = _Arena(group, device)
        init_steps = dogan_steps(group)[0] if DO_GAN in names else None
        for lr in group["lrs"]:
            here = [n for n in names if lr in lrs[n]]
            for s in seeds:
                per_step, first = images.per_step([n for n in here if n != DO_GAN], lr, s,
                                                  init_steps if DO_GAN in here else None)
                tables += per_step + ([images.dogan(lr, s, first)] if first is not None else [])
    return {GAMES[game]: ordered_curves(pd.concat(tables, ignore_index=True), names)}


def learn_steps(settings: Mapping[str, Any], n: int) -> int:
    """Training steps of a job of ``n`` seeds (the sweep's progress unit): every contestant's steps at each
    of its step sizes (DO-GAN counted as one per-step run)."""
    L = settings["learn"]
    group = settings[GAMES.get(L["game"], "ring")]
    if L["stage"] == "budget":
        return n * len(grids(L, [L["reference"]])[L["reference"]]) * contestant(L["reference"])[0].steps(max(L["ladder"]))
    names = list(group["methods"])
    points = {name: 1 for name in names} if L["stage"] == "report" else {k: len(v) for k, v in grids(L, names).items()}
    return n * sum(points[name] * contestant("alt-Adam" if name == DO_GAN else name)[0].steps(group["budget"])
                   for name in names)


# --- reading the stored stages ---------------------------------------------------------------------

def _metric(curves: pd.DataFrame, metric: str) -> pd.DataFrame:
    return curves[curves["metric"] == metric]


def choose_budget(curves: pd.DataFrame, ladder: Sequence[int], threshold: float = 0.5,
                  reference: str = "alt-Adam") -> tuple[int | None, pd.DataFrame]:
    """The smallest budget of ``ladder`` at which ``reference``'s success rate over the seeds of
    ``curves`` (the budget stage's), at its best step size at that budget, reaches ``threshold``, and the
    table behind it: per rung and step size, the success rate and seeds (a diverged seed counts as 0).
    None when no rung reaches it (give a longer ladder). A rung the curves never evaluated is a
    ``ValueError``."""
    own = _metric(curves[curves["method"] == reference], "success")
    if own.empty:
        raise ValueError(f"The curves hold no success of {reference!r}: give the budget stage's curves.")
    seeds = own["seed"].nunique()
    rows = []
    for budget in sorted(int(b) for b in ladder):
        for lr, at_lr in own.groupby("lr", sort=True):
            reached = at_lr[at_lr["evals"] <= budget]
            last = reached[reached["evals"] == reached.groupby("seed")["evals"].transform("max")]
            if budget not in set(at_lr["evals"]) and not at_lr["value"].isna().any():
                raise ValueError(f"The curves of {reference} at lr={lr} were not evaluated at the budget {budget}: "
                                 "evaluate every gcd(ladder) evaluations.")
            values = last.set_index("seed")["value"].reindex(sorted(own["seed"].unique())).fillna(0.0)
            rows.append({"budget": budget, "lr": lr, "success": float(values.mean()), "seeds": seeds})
    table = pd.DataFrame(rows)
    table["reaches"] = table["success"] >= threshold
    hits = table.loc[table["reaches"], "budget"]
    return (int(hits.min()) if len(hits) else None), table


def _finals(curves: pd.DataFrame) -> pd.DataFrame:
    """Per (method, lr, seed) the final value of each metric, a diverged run's scored as the worst."""
    keys = ["method", "lr", "seed"]
    last = curves[curves["evals"] == curves.groupby(keys, sort=False)["evals"].transform("max")]
    wide = last.set_index([*keys, "metric"])["value"].unstack("metric")
    worst = {"success": 0.0, "modes": 0.0, "failure": 1.0, "hqs": 0.0, "fd": np.inf}
    return wide.fillna({k: v for k, v in worst.items() if k in wide.columns}).reset_index().rename_axis(columns=None)


def tuning_grid(curves: pd.DataFrame) -> pd.DataFrame:
    """Per contestant and step size, the mean final scores over the seeds of ``curves`` (a tuning run:
    the ring's success, modes and failure, or the digits' FD; diverged seeds scored worst), the seeds,
    and ``chosen``: the contestant's point by the primary score (module docstring; ties: the smaller
    step size)."""
    finals = _finals(curves)
    ring = "success" in finals.columns
    scores = ["success", "modes", "failure"] if ring else ["fd"]
    grid = finals.groupby(["method", "lr"], sort=False)[scores].mean().reset_index()
    grid["seeds"] = finals.groupby(["method", "lr"], sort=False).size().to_numpy()
    key = (list(zip(-grid["success"], -grid["modes"], grid["failure"], grid["lr"])) if ring
           else list(zip(grid["fd"], grid["lr"])))
    grid["rank key"] = key
    grid["chosen"] = False
    for name, own in grid.groupby("method", sort=False):
        grid.loc[min(own.index, key=lambda i: grid.at[i, "rank key"]), "chosen"] = True
    order = {name: i for i, name in enumerate(dict.fromkeys(curves["method"]))}
    grid = grid.drop(columns="rank key").sort_values(["method", "lr"], key=lambda c: c.map(order) if c.name == "method"
                                                     else c, kind="stable")
    return grid.reset_index(drop=True)


def choose_steps(curves: pd.DataFrame) -> pd.DataFrame:
    """The chosen row of :func:`tuning_grid`, one per contestant."""
    grid = tuning_grid(curves)
    return grid[grid["chosen"]].drop(columns="chosen").reset_index(drop=True)


def chosen_lrs(curves: pd.DataFrame, methods: Sequence[str]) -> list[float]:
    """``learn.chosen`` for the report stage: each contestant of ``methods`` (the game's, in order) at its
    chosen step size; a contestant the tuning run lacks is a ``ValueError``."""
    chosen = dict(zip(*choose_steps(curves)[["method", "lr"]].to_numpy().T))
    missing = [m for m in methods if m not in chosen]
    if missing:
        raise ValueError(f"The tuning run has no {', '.join(missing)}: tune every contestant first.")
    return [float(chosen[m]) for m in methods]


def at_edge(grid: pd.DataFrame) -> list[str]:
    """The contestants of a :func:`tuning_grid` whose chosen step size is the smallest or the largest of
    their own grid: their best point may lie outside it (widen the grid on that side)."""
    edge = []
    for name, own in grid.groupby("method", sort=False):
        lr = own.loc[own["chosen"], "lr"].iloc[0]
        if lr in (own["lr"].min(), own["lr"].max()):
            edge.append(name)
    return edge


def combine_tuning(*runs: pd.DataFrame) -> pd.DataFrame:
    """Several tuning runs' curves of one game as one (a grid widened by a later run on the same tuning
    seeds and budget): the union of their (contestant, step size, seed) runs. A run that two of them
    hold must be the same in both, value for value (a member of an ensemble does not depend on the
    others beside it), else ``ValueError``: they were not made at the same settings."""
    if not runs:
        raise ValueError("combine_tuning needs at least one tuning run")
    key = ["method", "lr", "seed"]
    combined = runs[0]
    for more in runs[1:]:
        shared = combined[key].drop_duplicates().merge(more[key].drop_duplicates())
        if len(shared):
            a, b = (c.merge(shared).sort_values([*key, "evals", "metric"])["value"].to_numpy(dtype=float)
                    for c in (combined, more))
            if a.shape != b.shape or not np.array_equal(a, b, equal_nan=True):
                raise ValueError(f"The tuning runs disagree on the {len(shared)} (contestant, step size, seed) runs "
                                 "they share: they were not made at the same settings (seeds, budget, commit).")
        new = more.merge(shared, how="left", indicator=True)
        combined = pd.concat([combined, more[(new["_merge"] == "left_only").to_numpy()]], ignore_index=True)
    return combined


def expected_best_of_k(scores: Sequence[float], k: int, replace: bool = True) -> float:
    """The expected maximum of ``k`` draws from ``scores`` (Dodge et al. 2019): with replacement (their
    formula), or without (``k <= len(scores)``, distinct grid points). ``k < 1``, no scores or a NaN is a
    ``ValueError``; an infinite score (a diverged point) is allowed."""
    v = np.sort(np.asarray(scores, dtype=float))
    n = v.size
    if n == 0 or np.isnan(v).any() or k < 1 or (not replace and k > n):
        raise ValueError(f"expected_best_of_k needs scores without NaN and 1 <= k{'' if replace else ' <= n'}; got "
                         f"n={n}, k={k}.")
    i = np.arange(1, n + 1)
    if replace:
        weights = (i / n) ** k - ((i - 1) / n) ** k
    else:
        weights = np.array([math.comb(j - 1, k - 1) for j in i], dtype=float) / math.comb(n, k)
    used = weights > 0
    return float(np.sum(v[used] * weights[used]))


def best_of_k(grid: pd.DataFrame, score: str = "success", lower_is_better: bool = False) -> pd.DataFrame:
    """Per contestant of a :func:`tuning_grid`, the expected best mean ``score`` of k of its grid points
    drawn at random, k = 1..n, with and without replacement (columns ``k``, ``with replacement``,
    ``without replacement``, ``best``: the best point's score, the k = n value without replacement).
    ``lower_is_better`` (a distance): the expected minimum."""
    rows = []
    for name, own in grid.groupby("method", sort=False):
        values = own[score].to_numpy(dtype=float)
        sign = -1.0 if lower_is_better else 1.0
        for k in range(1, values.size + 1):
            rows.append({"method": name, "k": k, "points": values.size,
                         "with replacement": sign * expected_best_of_k(sign * values, k),
                         "without replacement": sign * expected_best_of_k(sign * values, k, replace=False),
                         "best": float(sign * np.max(sign * values))})
    return pd.DataFrame(rows)


def report(tuning: pd.DataFrame, reported: pd.DataFrame, tuning_seeds: Sequence[int]) -> dict[str, pd.DataFrame]:
    """The stored tuning and report runs of one game read together: ``ValueError`` if the tuning run holds
    a seed outside ``tuning_seeds``, the report a tuning seed, or the report a contestant at another step
    size than the tuning chose; then the game's tables of the report run (:func:`gancore.arena.ring_tables`
    or :func:`~gancore.arena.image_tables`: finals, leaderboard with intervals), the ``tuning`` grid and
    ``best_of_k``."""
    check_seeds("tune", sorted(tuning["seed"].unique()), tuning_seeds)
    check_seeds("report", sorted(reported["seed"].unique()), tuning_seeds)
    grid = tuning_grid(tuning)
    chosen = set(zip(*grid.loc[grid["chosen"], ["method", "lr"]].to_numpy().T))
    ran = set(zip(*reported[["method", "lr"]].drop_duplicates().to_numpy().T))
    if not ran <= chosen:
        raise ValueError(f"The report ran {sorted(ran - chosen)}, not the tuning's chosen step sizes {sorted(chosen)}.")
    ring = "success" in set(reported["metric"])
    tables = (ring_tables if ring else image_tables)(reported)
    ties = best_of_k(grid, "success" if ring else "fd", lower_is_better=not ring)
    return {**tables, "tuning": grid, "best_of_k": ties}


def _stored(folder: str, table: str) -> pd.DataFrame:
    """A merged sweep's table, checked against the record its ``run.json`` keeps."""
    record = json.loads((Path(folder) / "run.json").read_text())
    return storage.read_table(Path(folder) / f"{table}.csv", record["table_records"][table],
                              columns=("method", "lr", "seed", "evals", "metric", "value"))


def main(argv: Sequence[str] | None = None) -> int:
    """Print the budget (``budget LABEL``) or ``learn.chosen`` (``chosen LABEL [LABEL ...]``) from stored sweeps."""
    parser = argparse.ArgumentParser(prog="python -m gancore.arena.learn", description=main.__doc__)
    parser.add_argument("what", choices=("budget", "chosen"))
    parser.add_argument("label", nargs="+", help="the sweep's folder under results/arena/ (several tuning sweeps of "
                        "one game: combined, combine_tuning)")
    parser.add_argument("--game", choices=tuple(GAMES), default="ring")
    parser.add_argument("--root", default="results")
    args = parser.parse_args(argv)
    P = profiles.get("arena", "quick")
    curves = combine_tuning(*(_stored(f"{args.root}/arena/{label}", GAMES[args.game]) for label in args.label))
    if args.what == "budget":
        budget, table = choose_budget(curves, P.learn.ladder, P.learn.threshold, P.learn.reference)
        print(table.to_string(index=False))
        print(f"budget: {budget}" if budget else "no rung reaches the threshold: extend learn.ladder")
    else:
        print(tuning_grid(curves).to_string(index=False))
        print(f"chosen: {json.dumps(chosen_lrs(curves, P[GAMES[args.game]].methods))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
