"""The arena chapter's analysis (``book/arena.md``): the leaderboards as text, the tables and figure
panels of its three games, the evidence its claim rows get (each a paper's claim carried to a game
the paper never used: ``kind = "arena"`` in ``book/arena.paper.toml``) and the sentences its prose
glues from the numbers.

The games' tables come from :mod:`gancore.arena` (``known_arena``, ``ring_arena`` / ``ring_tables``,
``image_arena`` / ``image_tables``); every function here reads them and returns text, tables or
comparisons, so the chapter only calls and shows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from .. import arena, plotting, stats
from ..arena import known_tables, learn

__all__ = ["LEARN", "BUDGET", "GAMES", "RING_SHOW", "IMAGE_SHOW", "Evidence", "CLAIMS", "contestants", "known_board",
           "known_grid", "known_medians", "plot_known", "difficulty", "with_best", "plot_ring", "plot_images",
           "reference_text", "procogan_fd", "known_values", "ring_values", "image_values", "evidence", "game_settings",
           "always_failing", "count_text", "normalised_scores", "learned", "budget_table", "tuning_table",
           "best_of_k_table", "plot_best_of_k"]

LEARN = {"ring": (("learn-ring-tune", "learn-ring-tune-wide"), "learn-ring-report"),
         "image": (("learn-digits-tune", "learn-digits-tune-adam"), "learn-digits-report")}
"""The stored runs at a learning budget (:mod:`gancore.arena.learn`, under ``results/arena/``; their
commands in ``results/arena/PLAN.md``): per game, its tuning sweeps (tuning seeds only, never
reported; a later one widens a grid where a contestant chose its edge, read together by
:func:`gancore.arena.learn.combine_tuning`) and its report sweep (other seeds, each contestant at the
step size the combined tuning chose). The claims' ring and digits rows use the report."""

BUDGET = "learn-budget"
"""The stored budget sweep: the reference method over the budget ladder on the tuning seeds."""

GAMES = {"known": "the known-optimum quadratic-discriminator WGAN (arena)", "ring": "ring of eight Gaussians",
         "image": "{data} with one DCGAN pair"}
"""The game each group of settings plays, as the claims' configuration names it (the paper file's
``game``): a claim carried to another game differs from the paper's configuration in this first."""

RING_SHOW = ["rank", "method", "lr", "evals", "success [95% CI]", "failure [95% CI]", "modes [95% CI]",
             "hqs [95% CI]"]
IMAGE_SHOW = ["rank", "method", "lr", "evals", "FD [95% CI]"]


# --- the known-optimum game -----------------------------------------------------------------------

def contestants() -> pd.DataFrame:
    """One row per per-step method of :data:`gancore.arena.METHODS`: solver, policy, what is scored, and
    player-gradient evaluations per step."""
    return pd.DataFrame([{"method": m.name, "solver": m.solver, "policy": m.policy,
                          "scored": "uniform average of G" if m.average else "last iterate",
                          "player-gradient evaluations per step": m.evals_per_step} for m in arena.METHODS])


def _interval(row: Mapping[str, Any], score: str, kind: str) -> str:
    """The median with its order-statistic interval, or the mean with its bootstrap interval."""
    if kind == "median":
        return f"{row[score]:.1e} [{row[f'{score}_median_low']:.1e}, {row[f'{score}_median_high']:.1e}]"
    return f"{row[f'{score}_mean']:.1e} [{row[f'{score}_low']:.1e}, {row[f'{score}_high']:.1e}]"


def _reach(row: Mapping[str, Any], target: str) -> str:
    return f"{row[f'reach_{target}']:.2f} [{row[f'reach_{target}_low']:.2f}, {row[f'reach_{target}_high']:.2f}]"


def known_board(leaderboard: pd.DataFrame) -> pd.DataFrame:
    """The known game's leaderboard (``known_arena(...)["leaderboard"]``) as text columns: step size, n,
    moment gap (median and mean with their intervals), relative objective gap, the rates of seeds that
    reached 1e-2 and 1e-4, the median evaluations to 1e-2 (with the seeds that reached it) and the
    behaviours seen (those with a count above 0)."""
    rows = []
    for _, r in leaderboard.iterrows():
        rows.append({"method": r["method"], "lr": r["lr"], "n": r["n"],
                     "moment gap: median [95% CI]": _interval(r, "moment_gap", "median"),
                     "moment gap: mean [95% CI]": _interval(r, "moment_gap", "mean"),
                     "rel. objective gap: median [95% CI]": _interval(r, "rel_gap", "median"),
                     "reached 1e-2": _reach(r, "0.01"), "reached 1e-4": _reach(r, "0.0001"),
                     "evals to 1e-2: median (seeds)": f"{r['evals_to_0.01']:.0f} ({round(r['reach_0.01'] * r['n'])})",
                     "behaviours": ", ".join(f"{b} {r[b]}" for b in known_tables.BEHAVIOURS if r[b])})
    return pd.DataFrame(rows)


def known_grid(known: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """The median final moment gap per method (rows) and step size (columns) as text, the seeds that
    diverged in brackets."""
    grid = known["grid"]
    gap = grid.pivot(index="method", columns="lr", values="moment_gap")
    diverged = grid.pivot(index="method", columns="lr", values="diverged")
    return gap.map(lambda v: f"{v:.1e}") + diverged.map(lambda n: f" ({int(n)})" if pd.notna(n) and n else "")


def known_medians(known: Mapping[str, pd.DataFrame], beta_fraction: float) -> pd.DataFrame:
    """The median moment gap over the seeds (columns: methods, index: evaluations), every method at its
    best step size, on the main problem ``beta_fraction``."""
    curves = known["curves"]
    main = curves[curves.beta_fraction == beta_fraction].merge(known["best"][["method", "lr"]])
    return main.groupby(["method", "evals"]).moment_gap.median().unstack("method")


def plot_known(ax: Axes, known: Mapping[str, pd.DataFrame], beta_fraction: float) -> Axes:
    """:func:`known_medians` against evaluations on a log scale, with the 1e-2 and 1e-4 targets dotted."""
    medians = known_medians(known, beta_fraction)
    plotting.curves(medians.index, {m: medians[m] for m in medians.columns}, ax=ax,
                    xlabel="player-gradient evaluations", ylabel="moment gap (median over seeds)", logy=True)
    for target in known_tables.TARGETS:
        ax.axhline(target, color="k", ls=":", lw=1)
    ax.legend(fontsize=7, ncol=2)
    return ax


def difficulty(known: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """The median final moment gap per method (rows) and beta_d / sigma_2^2 (columns)."""
    return known["difficulty"].pivot(index="method", columns="beta_fraction", values="moment_gap")


# --- the ring and the digits ----------------------------------------------------------------------

def with_best(curves: pd.DataFrame, best: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``curves`` at each method's best step size (``best``: one row per method and lr)."""
    chosen = set(zip(best["method"], best["lr"]))
    return curves[[(m, lr) in chosen for m, lr in zip(curves["method"], curves["lr"])]]


def plot_ring(axes: Sequence[Axes], curves: pd.DataFrame, best: pd.DataFrame, source: str) -> None:
    """Success (Wilson bands) and modes (t bands) against evaluations, every method at its best lr."""
    shown = with_best(curves, best)
    plotting.metric_curves(shown, "success", x="evals", hue="method", interval="wilson", ax=axes[0],
                           title=f"success ({source})")
    plotting.metric_curves(shown, "modes", x="evals", hue="method", ax=axes[1], title=f"modes ({source})")
    for ax in axes:
        ax.set_xlabel("player-gradient evaluations")
    axes[1].get_legend().remove()


def reference_text(reference: pd.DataFrame) -> str:
    """An image arena's ``reference`` table as text (distances to one decimal) and, on its own line,
    each fit's wall time in seconds (kept apart, so the table itself does not vary between executions)."""
    table = reference.drop(columns="seconds").to_string(index=False, float_format=lambda v: f"{v:.1f}")
    times = [f"{g} {s:.1f} s" for g, s in zip(reference["generator"], reference["seconds"]) if pd.notna(s)]
    return f"{table}\nfit wall time: {', '.join(times) or 'none'}"


def procogan_fd(reference: pd.DataFrame) -> float:
    """ProCoGAN's Frechet distance from an image arena's ``reference`` table."""
    return float(reference.loc[reference["generator"].str.startswith("ProCoGAN"), "fd"].iloc[0])


def plot_images(ax: Axes, curves: pd.DataFrame, best: pd.DataFrame, source: str, reference_fd: float) -> None:
    """The mean Frechet distance (t bands, log scale) against evaluations, every method at its best lr,
    and ProCoGAN's closed-form FD as a dashed line."""
    plotting.metric_curves(with_best(curves, best), "fd", x="evals", hue="method", ax=ax, title=f"digits ({source})")
    ax.axhline(reference_fd, color="k", ls="--", lw=1, label="ProCoGAN (linear, closed form)")
    ax.set_yscale("log")
    ax.set_xlabel("player-gradient evaluations")
    ax.legend(fontsize=7, ncol=2)


# --- evidence for the claims ------------------------------------------------------------------------

@dataclass(frozen=True)
class Evidence:
    """What one claim row of ``book/arena.paper.toml`` compares: on ``game`` (``"known"``, ``"ring"``,
    ``"image"``), contestant ``first`` against ``second`` by ``metric``, from the ``"live"`` execution or
    the ``"stored"`` report run of :data:`LEARN`."""

    game: str
    first: str
    second: str
    metric: str
    source: str


def _ring(first: str, second: str, source: str = "stored") -> dict[str, Evidence]:
    return {metric: Evidence("ring", first, second, metric, source) for metric in ("success", "failure", "modes")}


CLAIMS: dict[str, Evidence] = {
    "srfb-known": Evidence("known", "SRFB", "sim-GDA", "log10 moment gap", "live"),
    **{f"srfb-ring-{k}": e for k, e in _ring("SRFB", "sim-GDA").items()},
    "coop-known": Evidence("known", "coop-Adam", "sim-Adam", "log10 moment gap", "live"),
    **{f"coop-ring-{k}": e for k, e in _ring("coop-Adam", "sim-Adam").items()},
    **{f"dogan-ring-{k}": e for k, e in _ring("DO-GAN", "alt-Adam").items()},
    "dogan-digits": Evidence("image", "DO-GAN", "alt-Adam", "log10 FD", "stored"),
    **{f"alpha-ring-{k}": e for k, e in _ring("alpha-GAN", "vanilla-GAN").items()},
    "alpha-digits": Evidence("image", "alpha-GAN", "alt-Adam", "log10 FD", "stored"),
}
"""The chapter's claims by key (the paper file's keys, in its order). The ring's rows come in threes:
success, failure and modes are co-primary, since at a short budget success is 0 for most methods and
would hide differences in failure and in modes. alpha-GAN's ring baseline is the saturating vanilla GAN
the paper compares with. The known game's rows use the chapter's execution, the others the stored
report runs of :data:`LEARN`."""


def known_values(known: Mapping[str, pd.DataFrame], name: str, beta_fraction: float) -> pd.Series:
    """log10 of ``name``'s final moment gap per seed (index: seed) at its best step size on the main
    problem; a diverged seed is NaN (dropped by the comparisons)."""
    curves = known["curves"]
    main = curves[(curves.beta_fraction == beta_fraction) & (curves.method == name)]
    final = known_tables.final_rows(main.merge(known["best"][["method", "lr"]]))
    gap = final.set_index("seed").moment_gap.astype(float)
    return np.log10(gap.where(np.isfinite(gap) & (gap > 0)))


def ring_values(ring: Mapping[str, pd.DataFrame], name: str, metric: str) -> pd.Series:
    """``name``'s final ``metric`` per seed (index: seed) at its best step size (``ring_tables`` output);
    a diverged seed is NaN."""
    finals = ring["finals"].merge(ring["best"][["method", "lr"]])
    own = finals[finals.method == name]
    if own.empty:
        raise ValueError(f"the ring tables have no contestant {name!r} (they have: {', '.join(ring['best'].method)})")
    return own.set_index("seed")[metric].astype(float)


def image_values(image: Mapping[str, pd.DataFrame], name: str) -> pd.Series:
    """log10 of ``name``'s final Frechet distance per seed (index: seed) at its best step size."""
    finals = image["finals"].merge(image["best"][["method", "lr"]])
    own = finals[finals.method == name]
    if own.empty:
        raise ValueError(f"the image tables have no contestant {name!r}")
    return np.log10(own.set_index("seed").fd.astype(float))


def _paired(a: pd.Series, b: pd.Series) -> stats.Comparison:
    """Paired t over the seeds both have (the same seed: the same initial networks and batches)."""
    both = a.index.intersection(b.index)
    return stats.compare_paired(a.loc[both].to_numpy(), b.loc[both].to_numpy())


def evidence(key: str, known: Mapping[str, pd.DataFrame] | None = None, ring: Mapping[str, pd.DataFrame] | None = None,
             image: Mapping[str, pd.DataFrame] | None = None, beta_fraction: float = 0.3) -> tuple[stats.Comparison, str]:
    """The comparison for claim ``key`` of :data:`CLAIMS` and its note: rates (success, failure) by
    Fisher's exact test over each contestant's seeds; modes, log10 moment gaps and log10 Frechet
    distances by the paired t test over the seeds both ran. ``known``, ``ring``, ``image``: the tables of
    the games (the ring's and the digits' from the source the claim names)."""
    e = CLAIMS[key]
    tables = {"known": known, "ring": ring, "image": image}[e.game]
    if tables is None:
        raise ValueError(f"claim {key!r} needs the {e.game} game's tables")
    note = f"{e.metric}, {e.first} vs {e.second} at their best step sizes"
    note += " (this execution)" if e.source == "live" else ""
    if e.game == "known":
        a, b = (known_values(tables, n, beta_fraction) for n in (e.first, e.second))
    elif e.game == "image":
        a, b = (image_values(tables, n) for n in (e.first, e.second))
    else:
        a, b = (ring_values(tables, n, e.metric) for n in (e.first, e.second))
        if e.metric in ("success", "failure"):
            return stats.compare_rates(*stats.counts(a), *stats.counts(b)), note
    return _paired(a, b), note + " (paired by seed)"


def game_settings(settings: Mapping[str, Any], game: str, seeds: Sequence[int] | None = None) -> dict[str, Any]:
    """``settings`` (a chapter's, or a stored run's) with ``game`` set to the name of the game the claim
    was tested on (:data:`GAMES`), so the configuration distance to a paper's own game says so first.
    For a report run of :mod:`gancore.arena.learn` on this game, with ``seeds`` its report seeds, the
    game's group is the one the run played (:func:`gancore.arena.learn.stage_settings`: the contestants'
    chosen step sizes, the report's seeds), not the profile's grid it ignored."""
    if game not in GAMES:
        raise ValueError(f"unknown game {game!r} (choose one of {', '.join(GAMES)})")
    out = dict(settings)
    L = settings.get("learn")
    if seeds is not None and L and L["stage"] == "report" and learn.GAMES[L["game"]] == game:
        out[game] = learn.stage_settings(settings, [int(s) for s in seeds])[0]
    data = out["image"]["data"] if game == "image" else ""
    return {**out, "game": GAMES[game].format(data=data)}


def always_failing(leaderboard: pd.DataFrame) -> list[str]:
    """The contestants of a ring leaderboard that failed (no mode covered) in every seed they ran."""
    return [r["method"] for _, r in leaderboard.iterrows() if r["n"] > 0 and r["failure"] == 1.0]


def count_text(values: pd.Series) -> str:
    """``"k of n"`` for 0/1 values per seed (NaN dropped)."""
    k, n = stats.counts(values.to_numpy())
    return f"{k} of {n}"


def normalised_scores(known: Mapping[str, pd.DataFrame], ring: Mapping[str, pd.DataFrame],
                      image: Mapping[str, pd.DataFrame], beta_fraction: float,
                      image_start: float) -> tuple[dict[str, np.ndarray], int]:
    """Every method that plays all three games, as a (runs, games) array of scores in [0, 1], higher
    better (for :mod:`gancore.arena.aggregate`):

    * known game: ``-log10(moment gap) / 4``, 0 at a gap of 1 (no progress), 1 at the 1e-4 target;
    * ring: the share of the eight modes covered;
    * digits: ``1 - log10(FD) / log10(image_start)``, 0 at the untrained generator's Frechet distance
      ``image_start``, 1 at a distance of 1.

    Each is clipped to [0, 1]; a diverged seed scores 0. The games run on different seeds (a seed of one
    game has nothing to do with the same seed of another), so each game contributes its first ``n`` seeds
    in order, ``n`` the fewest seeds any method ran in any game, and row ``r`` holds the ``r``-th of each
    (rliable's runs are exchangeable within a game). Returns the scores and ``n``."""
    if not image_start > 1:
        raise ValueError(f"image_start (the untrained generator's Frechet distance) must exceed 1; got {image_start}")
    methods = [m for m in known["best"].method if m in set(ring["best"].method) & set(image["best"].method)]
    scores: dict[str, list[pd.Series]] = {}
    for name in methods:
        k = (-known_values(known, name, beta_fraction) / 4).fillna(0.0)
        r = (ring_values(ring, name, "modes") / 8).fillna(0.0)
        i = (1 - image_values(image, name) / np.log10(image_start)).fillna(0.0)
        scores[name] = [s.clip(0.0, 1.0).sort_index() for s in (k, r, i)]
    n = min((len(s) for parts in scores.values() for s in parts), default=0)
    if not n:
        raise ValueError("no method plays all three games with at least one seed in each")
    return {m: np.column_stack([s.to_numpy()[:n] for s in parts]) for m, parts in scores.items()}, n


# --- the runs at a learning budget ------------------------------------------------------------------

def learned(run: Callable[[str], Any], game: str,
            tuning_seeds: Sequence[int]) -> tuple[list[Any], Any, dict[str, pd.DataFrame]]:
    """The stored runs of ``game`` ("ring" or "image") at the learning budget (:data:`LEARN`), read by
    ``run`` (a label -> a stored run whose table ``game`` holds the runs: the chapter's ``ch.run``):
    its tuning runs, its report run, and :func:`gancore.arena.learn.report` of the combined tuning
    (:func:`gancore.arena.learn.combine_tuning`, which requires the points the tuning runs share to
    agree value for value) against the report."""
    tuning_labels, report_label = LEARN[game]
    tunes = [run(label) for label in tuning_labels]
    reported = run(report_label)
    tuning = learn.combine_tuning(*(t[game] for t in tunes))
    return tunes, reported, learn.report(tuning, reported[game], tuning_seeds)


def budget_table(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`gancore.arena.learn.choose_budget`'s table as success rate per budget (rows) and step size
    (columns), the rungs that reach the threshold starred."""
    text = table.assign(text=[f"{v:.2f}{'*' if hit else ''}" for v, hit in zip(table["success"], table["reaches"])])
    return text.pivot(index="budget", columns="lr", values="text").rename_axis(columns="lr")


def tuning_table(grid: pd.DataFrame, score: str) -> pd.DataFrame:
    """A tuning grid (:func:`gancore.arena.learn.tuning_grid`) as the mean ``score`` per contestant (rows,
    in the grid's order) and step size (columns), the chosen point starred; a step size outside a
    contestant's family grid is blank."""
    text = grid.assign(text=[f"{v:.3g}{'*' if c else ''}" for v, c in zip(grid[score], grid["chosen"])])
    table = text.pivot(index="method", columns="lr", values="text").fillna("")
    return table.loc[list(dict.fromkeys(grid["method"]))]


def best_of_k_table(ties: pd.DataFrame) -> pd.DataFrame:
    """:func:`gancore.arena.learn.best_of_k` as one row per contestant: the expected best of k grid points
    drawn without replacement, k = 1 (the grid's mean, no tuning) to all (the best point)."""
    table = ties.pivot(index="method", columns="k", values="without replacement")
    return table.loc[list(dict.fromkeys(ties["method"]))].rename(columns=lambda k: f"k={k}")


def plot_best_of_k(ax: Axes, ties: pd.DataFrame, score: str, title: str) -> Axes:
    """The expected best ``score`` of k grid points (without replacement) against k, one line per
    contestant: a flat line is a method that needs no tuning, a steep one a method whose best point
    is tuning luck among its neighbours."""
    for name, own in ties.groupby("method", sort=False):
        ax.plot(own["k"], own["without replacement"], marker="o", ms=3, label=name)
    ax.set_xlabel("grid points tried (k)")
    ax.set_ylabel(f"expected best {score}")
    ax.set_title(title)
    ax.set_xticks(sorted(ties["k"].unique()))
    return ax
