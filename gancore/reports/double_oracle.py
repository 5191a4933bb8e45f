"""The DO-GAN chapter's analysis (``book/double_oracle.md``): the exact-oracle check on random matrix
games, the meta-solver, support-cap and EWC ablation (exact on matrix games, estimated on the stored
ring runs), the ring demonstration, the paired image comparison against each base GAN,
the evidence its claim rows get, and the sentences its prose glues from the numbers.

Every function takes the chapter's settings (``profiles.get("double_oracle", ...)``, read as a
mapping) and returns tables or text; the chapter only calls them and shows what they return.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from .. import data, dogan, experiments, exploit, losses, metrics, models, oracle, plotting, stats, train

__all__ = ["BIASED_RPS", "meta_games", "meta_solver_runs", "meta_exact_evidence", "meta_ring_summary",
           "meta_ring_evidence", "meta_ring_difference", "plot_meta_solvers", "matrix_games", "ring_quality", "ring_players", "ring_dogan",
           "RingDemo", "ring_demo", "ring_outcome", "image_comparison", "paired", "image_evidence", "budget_note",
           "pairs_outcome", "image_summary", "overhead", "plot_meta", "plot_ring", "plot_samples"]

HISTORY = ["iteration", "rows", "cols", "value", "row_gain", "col_gain", "modes", "hqs", "kl"]
RING = ["modes", "hqs", "kl", "success"]


# --- the double oracle with exact oracles ------------------------------------------------------

def matrix_games(size: int, seeds: Sequence[int]) -> pd.DataFrame:
    """The double oracle with exact oracles (:func:`gancore.oracle.matrix_oracles`) on one random
    ``size`` x ``size`` game per seed (standard normal payoffs from ``numpy.random.default_rng(seed)``),
    against the LP's solution of the whole game: one row per game with the full game's ``value`` and
    equilibrium supports, the DO's ``iterations``, meta-game size, ``DO value``, ``|value gap|`` and the
    ``full exploitability`` (NashConv in the whole game) of its final meta-strategies."""
    rows = []
    for seed in seeds:
        A = np.random.default_rng(seed).normal(size=(size, size))
        x, y, value = oracle.solve_matrix_game(A)
        run = oracle.double_oracle(*oracle.matrix_oracles(A), 0, 0, iterations=size, eps=1e-9)
        p = oracle.full_strategy(size, run.rows, run.sigma_row)
        q = oracle.full_strategy(size, run.cols, run.sigma_col)
        rows.append({"seed": seed, "value": value, "support rows": int((x > 1e-9).sum()),
                     "support cols": int((y > 1e-9).sum()), "converged": bool(run.converged),
                     "iterations": len(run.history) - 1, "meta rows": len(run.rows), "meta cols": len(run.cols),
                     "DO value": run.value, "|value gap|": abs(run.value - value),
                     "full exploitability": oracle.exploitability(A, p, q)})
    return pd.DataFrame(rows)


# --- the meta-solver: exact oracles on matrix games, and the stored ring runs ---------------------

BIASED_RPS = np.array([[0.0, -0.25, 0.5], [0.25, 0.0, -0.05], [-0.5, 0.05, 0.0]])
"""Biased rock-paper-scissors (rows and columns: rock, paper, scissors; payoffs to the row player), as
in the PSRO literature: antisymmetric, so its value is 0, and ``A y = 0`` for
``y = (1, 10, 5) / 16``, its unique equilibrium strategy for both players."""


def meta_games(size: int, seeds: Sequence[int]) -> dict[str, np.ndarray]:
    """Biased RPS and one ``size`` x ``size`` game of standard normal payoffs per seed
    (``numpy.random.default_rng(seed)``), by name."""
    rng = np.random.default_rng
    return {"biased RPS": BIASED_RPS} | {f"random {size}x{size}, seed {s}": rng(s).normal(size=(size, size))
                                         for s in seeds}


def meta_solver_runs(games: Mapping[str, np.ndarray], solvers: Sequence[str], iterations: int) -> pd.DataFrame:
    """The double oracle with exact oracles (:func:`gancore.oracle.matrix_oracles`, from the first row
    and column, ``eps = 1e-9``) and each meta-solver of ``solvers`` (:func:`gancore.oracle.meta_strategies`)
    on each game: one row per game, solver and iteration ``t = 0 .. iterations`` with the exploitability
    (NashConv in the whole game) of the meta-strategies after ``t`` iterations, the gradient evaluations
    ``2 t`` (each exact oracle evaluates its player's payoff vector once), the meta game's size, the bound
    ``m + n - 1`` and whether the loop had stopped (a stopped run keeps its strategies)."""
    rows = []
    for name, A in games.items():
        (m, n), payoff = A.shape, oracle.matrix_oracles(A)
        for solver in solvers:
            def nash_conv(t: int, r: oracle.DoubleOracleResult) -> dict:
                return {"exploitability": oracle.exploitability(A, oracle.full_strategy(m, r.rows, r.sigma_row),
                                                                oracle.full_strategy(n, r.cols, r.sigma_col))}
            h = oracle.double_oracle(*payoff, 0, 0, iterations=iterations, eps=1e-9, meta_solver=solver,
                                     callback=nash_conv).history
            h = h.set_index("iteration").reindex(range(iterations + 1)).ffill().reset_index()
            rows.append(h[["iteration", "exploitability", "rows", "cols", "stopped"]].assign(
                game=name, **{"meta-solver": solver, "bound": m + n - 1, "gradient evaluations": 2 * h.iteration}))
    return pd.concat(rows, ignore_index=True).astype({"stopped": bool, "rows": int, "cols": int})


def meta_exact_evidence(runs: pd.DataFrame) -> dict[str, Any]:
    """From :func:`meta_solver_runs`, each game's exploitability at its bound ``m + n - 1``: ``nash``, the
    Nash meta-solver's mean with its interval (:func:`gancore.stats.mean_interval`), and for each other
    solver its comparison ``paired(nash, solver)`` by game (:func:`paired`)."""
    at = runs[runs.iteration == runs.bound].pivot(index="game", columns="meta-solver", values="exploitability")
    return {"nash": stats.mean_interval(at["nash"])} | {s: paired(at["nash"], at[s]) for s in at if s != "nash"}


def meta_ring_summary(final: pd.DataFrame) -> pd.DataFrame:
    """Per variant of the stored ring run (:func:`gancore.dogan.ring_meta`'s ``final`` table, in run
    order): the number of seeds, the mean estimated exploitability and the modes and HQS of the final
    mixture (means with 95% t intervals over seeds), and the mean number of stored generators."""
    def interval(v: pd.Series) -> str:
        return str(stats.mean_interval(v))
    return final.groupby("variant", sort=False).agg(
        seeds=("seed", "nunique"), exploitability=("mean exploitability", interval), modes=("modes", interval),
        hqs=("hqs", interval), generators=("generators", "mean")).round({"generators": 1})


def meta_ring_evidence(final: pd.DataFrame, measure: str = "mean exploitability") -> dict[str, stats.Comparison]:
    """Comparisons of the chapter's run (variant ``"nash"``: the LP's meta-solver, its cap and EWC) with
    every other variant of the stored ring run on ``measure``, paired by seed (:func:`paired`,
    ``paired(nash, variant)``), by variant name."""
    table = final.pivot(index="seed", columns="variant", values=measure)
    return {v: paired(table["nash"], table[v]) for v in final.variant.unique() if v != "nash"}


def meta_ring_difference(final: pd.DataFrame, first: str, second: str, measure: str = "mean exploitability",
                         level: float = 0.90) -> stats.Interval:
    """The mean over seeds of ``first - second`` (two variants of the stored ring run) on ``measure``
    with its t interval at ``level``, for a number claim (the default 90% is the interval form of the
    two one-sided tests at alpha 0.05 that :mod:`gancore.verdict` reads against a margin)."""
    table = final.pivot(index="seed", columns="variant", values=measure)
    return stats.mean_interval(table[first] - table[second], level=level)


def plot_meta_solvers(runs: pd.DataFrame, history: pd.DataFrame) -> plt.Figure:
    """Exploitability per meta-solver: exact, on biased RPS and averaged over the random games,
    against the iterations (log scale, zeros shown at ``1e-12``); estimated on the ring (mean over
    seeds of the oracles' summed gains, from the stored run's ``history``) against gradient evaluations."""
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    rps = runs.game == "biased RPS"
    for ax, part, title in [(axes[0], runs[rps], "biased RPS (exact)"),
                            (axes[1], runs[~rps], "random games (exact, mean)")]:
        curves = part.groupby(["meta-solver", "iteration"]).exploitability.mean().clip(lower=1e-12).unstack(0)
        plotting.curves(curves.index, {s: curves[s] for s in curves}, ax=ax, logy=True, title=title,
                        xlabel="DO iteration (2 gradient evaluations each)", ylabel="exploitability")
    ring = history[history.variant == history["meta-solver"]]
    curves = ring.groupby(["meta-solver", "gradient evaluations"]).exploitability.mean().unstack(0)
    plotting.curves(curves.index, {s: curves[s] for s in curves}, ax=axes[2], xlabel="oracle gradient evaluations",
                    title="ring (estimated, mean over seeds)")
    fig.tight_layout()
    return fig


# --- the ring -----------------------------------------------------------------------------------

ring_quality, ring_players, ring_dogan = dogan.ring_quality, dogan.ring_players, dogan.ring_dogan


@dataclass
class RingDemo:
    """One seed of DO-GAN on the ring beside a single GAN trained alone for as many steps: the DO-GAN
    ``result`` and its wall ``seconds``, the per-iteration ``history`` table (with the exploitability of
    the previous meta-strategies), the ``comparison`` table (single GAN, mixture, each generator alone),
    and the samples shown in the figure (``base``, ``mixture`` with the ``index`` of each sample's
    generator, the real ``test`` points)."""

    result: dogan.DOGANResult
    seconds: float
    history: pd.DataFrame
    comparison: pd.DataFrame
    base: torch.Tensor
    mixture: torch.Tensor
    index: torch.Tensor
    test: torch.Tensor


def ring_demo(settings: Mapping[str, Any], seed: int = 0, device: Any = "cpu") -> RingDemo:
    """DO-GAN on the ring (:func:`ring_dogan` with ``ring.cap`` and ``ewc_lambda``, evaluated along the
    way) and the single GAN (alternating updates, Adam(``lr``, ``betas``)) for ``result.training_steps``
    steps from ``torch.manual_seed(seed)``, both scored on ``n_eval`` samples (:class:`RingDemo`)."""
    P = settings
    ring = data.load("ring")
    t0 = time.perf_counter()
    result = ring_dogan(P, ring, cap=P["ring"]["cap"], ewc_lambda=P["ewc_lambda"], seed=seed, device=device,
                        evaluate=True)
    seconds = time.perf_counter() - t0
    history = result.history[HISTORY].copy()
    history["exploitability"] = history.row_gain + history.col_gain
    make_G, make_D = ring_players(P)
    torch.manual_seed(seed)
    G, D = make_G(), make_D()
    train.fit(G, D, ring, loss=losses.gan_loss("ns"), opt_G=torch.optim.Adam(G.parameters(), P["lr"], betas=P["betas"]),
              opt_D=torch.optim.Adam(D.parameters(), P["lr"], betas=P["betas"]), steps=result.training_steps,
              batch_size=P["batch_size"], latent_dim=2, policy="alternating", seed=seed, device=device, progress=False)
    n = P["n_eval"]
    z = metrics.fixed_noise(n, 2, 12345)
    base = metrics.sample_in_chunks(G, z, n)
    mixture, index = result.sample(n, return_index=True)
    rows = [{"model": f"single GAN, {result.training_steps} steps", **ring_quality(base, ring)},
            {"model": "DO-GAN mixture", **ring_quality(mixture, ring)}]
    rows += [{"model": f"  DO generator {s.name} alone",
              **ring_quality(metrics.sample_in_chunks(s.build(make_G), z, n), ring)} for s in result.generators]
    test = data.as_tensor(data.load("ring", split="test"))[:n]
    return RingDemo(result, seconds, history, pd.DataFrame(rows)[["model"] + RING], base, mixture, index, test)


def _modes(k: float, total: int) -> str:
    k = int(round(k))
    return f"{k} of the {total} modes" if k else f"none of the {total} modes"


def ring_outcome(comparison: pd.DataFrame, total: int) -> str:
    """What the ring comparison table of :func:`ring_demo` shows, as a clause that follows "DO-GAN"
    (e.g. "fails on the ring: its mixture covers none of the 8 modes (HQS 0.000) ..."): the mixture's
    modes against the single GAN's, its best generator alone, with their high-quality-sample shares."""
    single, mixture = comparison.iloc[0], comparison.iloc[1]
    alone = comparison.iloc[2:]
    if mixture.modes == 0:
        head = "fails on the ring"
    elif mixture.modes < single.modes:
        head = "covers fewer modes than the single GAN"
    elif mixture.modes > single.modes:
        head = "covers more modes than the single GAN"
    else:
        head = "covers as many modes as the single GAN"
    best = alone.modes.max() if len(alone) else 0
    return (f"{head}: its mixture covers {_modes(mixture.modes, total)} (HQS {mixture.hqs:.3f}), its best "
            f"generator alone {_modes(best, total)}, and the single GAN trained alone for the same number of "
            f"steps {_modes(single.modes, total)} (HQS {single.hqs:.3f})")


# --- images: DO-GAN against each base GAN -------------------------------------------------------

def image_comparison(settings: Mapping[str, Any], seed: int = 0, device: Any = "cpu",
                     workers: int | None = None) -> tuple[pd.DataFrame, dict[tuple[str, str], Any], list[str]]:
    """:func:`gancore.exploit.dogan_against_base` for every data set of ``image.data``, base GAN of
    ``base_gans`` and seed ``seed .. seed + image.seeds - 1``, one job per process
    (:func:`gancore.experiments.in_processes`; one process on a GPU, or ``workers``). Returns the
    table (one row per data set, base GAN and seed), the samples ``(base, DO-GAN)`` of seed ``seed``
    by ``(data, base GAN)``, and the names of the feature spaces the distances were taken in (one per
    data set, in order)."""
    P = settings
    dev = train.resolve_device(device)
    jobs = [{"settings": P, "data_name": name, "base": base, "seed": s, "device": dev}
            for name in P["image"]["data"] for base in P["base_gans"]
            for s in range(seed, seed + P["image"]["seeds"])]
    if workers is None and dev.type == "cuda":
        workers = 1
    results = experiments.in_processes(exploit.dogan_against_base, jobs, workers=workers)
    samples = {(j["data_name"], j["base"]): r["samples"] for j, r in zip(jobs, results) if j["seed"] == seed}
    spaces = list(dict.fromkeys(r["space"] for r in results))
    return pd.DataFrame([r["row"] for r in results]), samples, spaces


def paired(first: Sequence[float], second: Sequence[float]) -> stats.Comparison:
    """``first`` against ``second`` paired by position (:func:`gancore.stats.compare_paired`); where
    every pair differs by the same amount (no spread for a t test), the share of pairs in which
    ``first`` is the higher against the share in which it is the lower (:func:`gancore.stats.compare_rates`,
    so a "<" ordering reads the same way: first below second)."""
    try:
        return stats.compare_paired(first, second)
    except ValueError:
        a, b = np.asarray(first, dtype=float), np.asarray(second, dtype=float)
        return stats.compare_rates(int((a > b).sum()), a.size, int((a < b).sum()), a.size)


def image_evidence(table: pd.DataFrame) -> dict[str, stats.Comparison]:
    """The two comparisons of DO-GAN against its base GAN over a table of
    :func:`image_comparison` rows, paired by (data, base GAN, seed): ``fd`` (Frechet distances,
    DO-GAN first) and ``exploit`` (the fresh-best-response lower bounds on exploitability)."""
    return {"fd": paired(table["FD DO-GAN"], table["FD base"]),
            "exploit": paired(table["exploit. DO-GAN"], table["exploit. base"])}


def budget_note(image: Mapping[str, Any], table: pd.DataFrame) -> str:
    """How the training steps were split, for a claim row's note: DO-GAN's ``train.fit`` steps (the
    initial GAN, then two oracles per iteration, each moving one player) against the base GAN's
    (each step moves both players), the fresh best responses that score both, and the pairs."""
    planned = image["init_steps"] + 2 * image["iterations"] * image["oracle_steps"]
    steps = sorted(set(int(s) for s in table["steps"]))
    used = (f"{planned:,} fit steps" if steps == [planned] else
            f"{steps[0]:,} to {steps[-1]:,} fit steps (planned {planned:,}; the DO stopped early)")
    return (f"DO-GAN vs base GAN alone over {len(table)} (data, base GAN, seed) pairs; DO-GAN {used}: {image['init_steps']:,} initial GAN "
            f"(both players) + {image['iterations']} iterations x 2 oracles x {image['oracle_steps']:,} (one "
            f"player each); base GAN alone the same steps (both players each step); scored by fresh best "
            f"responses of {image['br_steps']:,} steps per player")


def pairs_outcome(table: pd.DataFrame, measure: str) -> str:
    """In how many pairs DO-GAN's ``measure`` (``"FD"`` or ``"exploit."``) is lower, and in how many
    higher, than its base GAN's: "lower in 3 and higher in 9 of the 12 pairs"."""
    do, base = table[f"{measure} DO-GAN"].to_numpy(float), table[f"{measure} base"].to_numpy(float)
    return f"lower in {int((do < base).sum())} and higher in {int((do > base).sum())} of the {len(table)} pairs"


def image_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per base GAN: the geometric mean Frechet distance with its log-scale interval
    (``stats.mean_interval(method="log")``, never negative) and the mean exploitability bound with its
    t interval, for DO-GAN and the base GAN alone, as text."""
    columns = {"FD base": "log", "FD DO-GAN": "log", "exploit. base": "t", "exploit. DO-GAN": "t"}
    return pd.DataFrame({c: {b: str(stats.mean_interval(part[c], method=m))
                             for b, part in table.groupby("base GAN", sort=False)}
                         for c, m in columns.items()}).rename_axis("base GAN")


def overhead(history: pd.DataFrame) -> dict[str, float]:
    """Seconds spent in the oracles, the payoff evaluation, the LP and the pruning over a DO run's
    ``history``, and ``overhead``: the share of all four that is not the oracles."""
    spent = {k: float(history[k].sum()) for k in ("oracle_s", "payoff_s", "solve_s", "prune_s")}
    total = sum(spent.values())
    return spent | {"overhead": (total - spent["oracle_s"]) / total if total > 0 else float("nan")}


# --- figures ------------------------------------------------------------------------------------

def plot_meta(history: pd.DataFrame) -> plt.Figure:
    """The meta game after the first, middle and last iteration (``U`` with sigma_G, sigma_D as the
    row and column labels) and the oracles' gains with their sum along the iterations."""
    shown = sorted({1, max(1, len(history) // 2), len(history) - 1})
    fig, axes = plt.subplots(1, len(shown) + 1, figsize=(4.2 * (len(shown) + 1), 3.8))
    for ax, t in zip(axes, shown):
        row = history.iloc[t]
        plotting.heatmap(row.U, ax=ax, row_labels=[f"{p:.2f}" for p in row.sigma_row],
                         col_labels=[f"{p:.2f}" for p in row.sigma_col], title=f"U after iteration {t}",
                         xlabel="discriminators (sigma_D)", ylabel="generators (sigma_G)")
    later = history.iloc[1:]
    plotting.curves(later.iteration, {"generator gain": later.row_gain, "discriminator gain": later.col_gain,
                                      "exploitability": later.row_gain + later.col_gain},
                    ax=axes[-1], xlabel="DO iteration", title="best-response gains")
    fig.tight_layout()
    return fig


def plot_ring(demo: RingDemo, means: torch.Tensor) -> plt.Figure:
    """The single GAN's samples, the DO-GAN mixture's coloured by generator, and the real test points."""
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.7))
    plotting.ring_scatter(demo.base, means, ax=axes[0], title="single GAN")
    plotting.ring_scatter(demo.mixture, means, ax=axes[1], title="DO-GAN mixture")
    axes[1].scatter(demo.mixture[:, 0], demo.mixture[:, 1], c=demo.index.numpy(), s=2, cmap="tab10")
    plotting.ring_scatter(demo.test, means, ax=axes[2], title="real (test)")
    fig.tight_layout()
    return fig


def plot_samples(samples: Mapping[tuple[str, str], Any]) -> plt.Figure:
    """For each (data, base GAN): its samples alone (top) and DO-GAN's on it (bottom)."""
    keys = list(samples)
    fig, axes = plt.subplots(2, len(keys), figsize=(3.2 * len(keys), 6.4), squeeze=False)
    for k, key in enumerate(keys):
        base_x, do_x = samples[key]
        plotting.sample_grid(base_x, nrow=8, ax=axes[0, k], title=f"{key[1]} ({key[0]})")
        plotting.sample_grid(do_x, nrow=8, ax=axes[1, k], title=f"DO-GAN on {key[1]}")
    fig.tight_layout()
    return fig
