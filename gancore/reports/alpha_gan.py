"""The analysis of the alpha-GAN chapter (``book/alpha_gan.md``), tested in
``tests/test_reports_alpha_gan.py``.

* **Theory checks** (:func:`identity_draws`, :func:`convexity_grid`) and the evidence they give a
  claim row: the range of a deterministic error over random draws (:func:`value_range`) and an exact
  share of grid points (:func:`exact_share`).
* **The ring** in cells ``(generator, alpha_D, alpha_G)``: intervals per cell as text
  (:func:`with_intervals`), the paper's tables beside ours (:func:`paper_fig2b`,
  :func:`paper_grid`, :func:`beside_paper`), two cells compared (:func:`compare_cells`) and the
  stored or live run closest to the paper's declared configuration (:func:`closest`), whose
  settings carry the compared cells (:func:`at_cells`) so the configuration distance checks them.
* **Along training**, generic (a tidy table with columns ``step``, the cell column(s), ``seed``,
  ``metric``, ``value``, as :mod:`gancore.ensemble` and the sweeps write it; the repeated-game
  chapter's curves have the same form): one comparison per step with Holm's adjustment over the
  looks (:func:`along_training`, :func:`holm_steps`).
* **Images**: the jobs of the learning-rate grid (:func:`image_jobs`), their final Frechet distances
  (:func:`image_table`) and two losses compared at one learning rate on the log scale
  (:func:`compare_at_lr`).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import torch

from .. import divergences, experiments, stats, verdict

__all__ = ["value_range", "exact_share", "identity_draws", "convexity_grid", "interval_text", "with_intervals",
           "shown", "paper_fig2b", "paper_grid", "beside_paper", "cell_rows", "compare_cells", "cells_of", "at_cells",
           "Candidate", "closest", "along_training", "holm_steps", "image_jobs", "image_table",
           "compare_at_lr", "first_seed_samples"]

Cell = tuple[str, float, float]  # (generator, alpha_D, alpha_G)


# --- theory -----------------------------------------------------------------------------------------

def value_range(values: Sequence[float] | np.ndarray) -> stats.Interval:
    """A deterministic quantity checked over random draws (an identity's error): the largest value as
    the estimate and [smallest, largest] as the interval (every draw lies in it; method "range")."""
    x = np.asarray(values, dtype=float).ravel()
    if x.size == 0 or not np.isfinite(x).all():
        raise ValueError(f"value_range needs finite values; got {x.size} values, "
                         f"{int((~np.isfinite(x)).sum())} not finite")
    return stats.Interval(float(x.max()), float(x.min()), float(x.max()), int(x.size), method="range")


def exact_share(k: int, n: int) -> stats.Interval:
    """``k`` of ``n`` grid points, a count without sampling error: the share with a zero-width interval."""
    if not 0 <= k <= n or n < 1:
        raise ValueError(f"exact_share: need 0 <= k <= n and n >= 1; got k={k}, n={n}")
    return stats.Interval(k / n, k / n, k / n, int(n), method="count")


def identity_draws(seed: int, draws: int = 200, points: int = 40, bumps: int = 50,
                   scale: float = 0.05) -> pd.DataFrame:
    """Theorems 1 and 2 of ISIT23 on ``draws`` random pairs of discrete distributions (``points`` atoms,
    Dirichlet(1, ..., 1) weights) with random alpha_D, alpha_G in [0.2, 3], float64. One row per draw:
    ``saturating`` and ``ns``, |V(theta, D*) - (D_f + constant)| for each generator; ``v_star``, the
    discriminator's value V_{alpha_D} at D*; ``v_perturbed``, the largest value over ``bumps`` random
    perturbations of D* (Gaussian, standard deviation ``scale``, clamped to (0, 1))."""
    rng = torch.Generator().manual_seed(seed)
    rows = []
    for _ in range(draws):
        w = torch.empty(2, points, dtype=torch.float64).exponential_(generator=rng)
        p_r, p_g = w / w.sum(-1, keepdim=True)
        a_d, a_g = (0.2 + 2.8 * torch.rand(2, generator=rng, dtype=torch.float64)).tolist()
        d_star = divergences.optimal_discriminator(p_r, p_g, a_d)
        sat = divergences.f_divergence(p_r, p_g, lambda u: divergences.f_saturating(u, a_d, a_g))
        ns = divergences.f_divergence(p_r, p_g, lambda u: divergences.f_ns(u, a_d, a_g))
        noise = scale * torch.randn(bumps, points, generator=rng, dtype=torch.float64)
        bumped = (d_star + noise).clamp(1e-6, 1 - 1e-6)
        rows.append({
            "saturating": float((divergences.value_function(p_r, p_g, d_star, a_g)
                                 - sat - divergences.saturating_offset(a_g)).abs()),
            "ns": float((divergences.value_function_ns(p_g, d_star, a_g) - ns - divergences.ns_offset(a_g)).abs()),
            "v_star": float(divergences.value_function(p_r, p_g, d_star, a_d)),
            "v_perturbed": float(divergences.value_function(p_r, p_g, bumped, a_d).max()),
        })
    return pd.DataFrame(rows)


def convexity_grid(grid: Sequence[float], u: torch.Tensor) -> dict[str, dict[str, np.ndarray]]:
    """For each generator (``saturating``, ``NS``): ``convex[i, j]``, whether f'' > 0 at every point of
    ``u`` for alpha_G = grid[i], alpha_D = grid[j] (:func:`gancore.divergences.is_convex_on_grid`), and
    ``region[i, j]``, whether the pair lies in the paper's region (R1 U R2, R_NS)."""
    f = {"saturating": divergences.f_saturating, "NS": divergences.f_ns}
    inside = {"saturating": divergences.in_region_R1R2, "NS": divergences.in_region_NS}
    out = {}
    for name in f:
        convex = np.zeros((len(grid), len(grid)), bool)
        region = np.zeros_like(convex)
        for (i, a_g), (j, a_d) in itertools.product(enumerate(grid), enumerate(grid)):
            convex[i, j] = divergences.is_convex_on_grid(lambda x: f[name](x, a_d, a_g), u)
            region[i, j] = inside[name](a_d, a_g)
        out[name] = {"convex": convex, "region": region}
    return out


# --- the ring: cells, intervals, the paper's tables ------------------------------------------------

def interval_text(rows: pd.DataFrame, scale: float = 1.0) -> list[str]:
    """The rows of :func:`gancore.stats.summarise` as :class:`gancore.stats.Interval` prints them, times
    ``scale`` (100: percent)."""
    columns = ["estimate", "low", "high", "n", "dropped"]
    return [str(stats.Interval(m * scale, lo * scale, hi * scale, int(n), dropped=int(d)))
            for m, lo, hi, n, d in rows[columns].to_numpy()]


def with_intervals(table: pd.DataFrame, by: Sequence[str], scale: float = 1.0) -> pd.DataFrame:
    """Per cell of ``by``, over its seeds: mean modes and HQS (95% t intervals) and the success and
    failure rates (95% Wilson intervals, times ``scale``) as text; the rates also as numbers
    (``success``, ``failure``; :func:`shown` leaves them out)."""
    by = list(by)
    out = stats.summarise(table, by, "modes")[by]
    for metric, label in [("modes", "modes (mean)"), ("hqs", "HQS (mean)")]:
        out[label] = interval_text(stats.summarise(table, by, metric))
    for metric in ["success", "failure"]:
        rates = stats.summarise(table, by, metric, kind="rate")
        out[metric] = rates.estimate.to_numpy() * scale
        out[f"{metric} [95% CI]"] = interval_text(rates, scale)
    return out


def shown(table: pd.DataFrame, digits: int) -> str:
    """``table`` as printed: the rates as text with their intervals, not twice."""
    return table.drop(columns=["success", "failure"], errors="ignore").to_string(
        index=False, float_format=lambda v: f"{v:.{digits}f}")


def paper_fig2b(table: Mapping[str, Sequence[float]]) -> pd.DataFrame:
    """The paper file's ``[tables.fig2b]`` (lists ``alpha_d``, ``success``, ``failure``) as a frame with
    the columns ``alpha_d``, ``paper success``, ``paper failure``."""
    return pd.DataFrame({"alpha_d": table["alpha_d"], "paper success": table["success"],
                         "paper failure": table["failure"]})


def paper_grid(table: Mapping[str, Any]) -> pd.DataFrame:
    """A paper grid (``alpha_g`` rows, ``alpha_d`` columns, one matrix per metric, e.g. ``success`` and
    ``failure`` in percent) as one row per (alpha_g, alpha_d) with a column ``paper METRIC`` each."""
    metrics = [k for k in table if k not in ("alpha_g", "alpha_d")]
    for m in metrics:
        shape = (len(table[m]), {len(r) for r in table[m]})
        if shape != (len(table["alpha_g"]), {len(table["alpha_d"])}):
            raise ValueError(f"paper_grid: {m} is not a {len(table['alpha_g'])} x {len(table['alpha_d'])} matrix")
    rows = [{"alpha_g": g, "alpha_d": d, **{f"paper {m}": table[m][i][j] for m in metrics}}
            for i, g in enumerate(table["alpha_g"]) for j, d in enumerate(table["alpha_d"])]
    return pd.DataFrame(rows)


def beside_paper(results: pd.DataFrame, paper: pd.DataFrame, by: Sequence[str], scale: float = 1.0) -> pd.DataFrame:
    """Our cells (:func:`with_intervals`) with the paper's columns beside them (NaN where the paper has
    no such cell)."""
    return with_intervals(results, by, scale).merge(paper, on=list(by), how="left")


def cell_rows(table: pd.DataFrame, cell: Cell) -> pd.DataFrame:
    """The rows of one (generator, alpha_D, alpha_G) cell."""
    generator, a_d, a_g = cell
    return table[(table.generator == generator) & np.isclose(table.alpha_d, a_d) & np.isclose(table.alpha_g, a_g)]


def compare_cells(table: pd.DataFrame, cells: Sequence[Cell], metric: str):
    """The rate of 0/1 ``metric`` in the first of ``cells`` against the second (Fisher's test,
    :func:`gancore.stats.compare_rates`), or the Wilson interval of a single cell."""
    if len(cells) not in (1, 2):
        raise ValueError(f"compare_cells: one or two cells, got {len(cells)}")
    counts = [stats.counts(cell_rows(table, cell)[metric]) for cell in cells]
    return stats.wilson(*counts[0]) if len(cells) == 1 else stats.compare_rates(*counts[0], *counts[1])


def cells_of(config: Mapping[str, Any]) -> list[Cell]:
    """The cells a paper claim declares (``cell.loss``, ``cell.alpha_d``, ``cell.alpha_g`` of its
    flattened config), in order: the inverse of :func:`at_cells`."""
    try:
        loss, a_d, a_g = config["cell.loss"], config["cell.alpha_d"], config["cell.alpha_g"]
    except KeyError as missing:
        raise ValueError(f"cells_of: the claim's config declares no {missing.args[0]}") from None
    if len(a_d) != len(a_g):
        raise ValueError(f"cells_of: {len(a_d)} values of cell.alpha_d against {len(a_g)} of cell.alpha_g")
    return [(loss, float(d), float(g)) for d, g in zip(a_d, a_g)]


def at_cells(settings: Mapping[str, Any], cells: Sequence[Cell]) -> dict[str, Any]:
    """``settings`` with a group ``cell``: the compared cells' ``loss`` (their generator, one) and
    tuples ``alpha_d``, ``alpha_g`` in order, so that the configuration distance also checks which
    cells a claim was decided on."""
    generators = {c[0] for c in cells}
    if len(generators) != 1:
        raise ValueError(f"at_cells: cells of one generator expected; got {sorted(generators)}")
    return {**dict(settings), "cell": {"loss": generators.pop(), "alpha_d": tuple(float(c[1]) for c in cells),
                                       "alpha_g": tuple(float(c[2]) for c in cells)}}


class Candidate(NamedTuple):
    """A run that may decide a ring claim: its ``label``, its per-seed ``table``, its ``settings`` and
    the stored run it came from (None for this execution)."""

    label: str
    table: pd.DataFrame
    settings: Mapping[str, Any]
    run: Any = None


def closest(candidates: Sequence[Candidate], config: Mapping[str, Any], cells: Sequence[Cell]) -> Candidate:
    """Of the runs that hold every cell of ``cells``, the one closest to the paper's ``config`` (fewest
    settings differing, :func:`gancore.verdict.distance` with the cells, :func:`at_cells`); ties go to
    more seeds, then to the later candidate. No such run -> ``ValueError``."""
    scored = []
    for order, c in enumerate(candidates):
        if all(len(cell_rows(c.table, cell)) for cell in cells):
            gap = verdict.distance(at_cells(c.settings, cells), config)
            scored.append((len(gap), -c.table.seed.nunique(), -order, c))
    if not scored:
        raise ValueError(f"closest: no run holds the cells {list(cells)} (runs: {[c.label for c in candidates]})")
    return min(scored, key=lambda s: s[:3])[3]


# --- along training (generic) ----------------------------------------------------------------------

def _key(cell: str | Sequence[str]) -> list[str]:
    return [cell] if isinstance(cell, str) else list(cell)


def _select(rows: pd.DataFrame, columns: list[str], value: Any) -> pd.DataFrame:
    value = value if isinstance(value, tuple) else (value,)
    if len(value) != len(columns):
        raise ValueError(f"a cell of {columns} needs {len(columns)} values; got {value!r}")
    keep = np.ones(len(rows), bool)
    for column, v in zip(columns, value):
        keep &= np.isclose(rows[column], v) if isinstance(v, float) else (rows[column] == v).to_numpy()
    return rows[keep]


def along_training(curves: pd.DataFrame, metric: str, first: Any, second: Any,
                   cell: str | Sequence[str] = "cell", kind: str = "rate") -> tuple[pd.DataFrame, list[stats.Comparison]]:
    """Cell ``first`` against cell ``second`` in ``metric`` at every evaluation step of ``curves`` (a
    tidy table with columns ``step``, the ``cell`` column(s), ``seed``, ``metric``, ``value``): a rate
    of 0/1 values (``kind="rate"``, Fisher's test) or a mean (``kind="mean"``, Welch's test), the
    p-values Holm-adjusted over the steps (:func:`gancore.stats.along`). Returns the table (``step``,
    both cells as text, ``difference``, ``p``, ``p (Holm)``) and the adjusted comparisons, one per step."""
    if kind not in ("rate", "mean"):
        raise ValueError(f"along_training: kind is 'rate' or 'mean', got {kind!r}")
    columns = _key(cell)
    rows = curves[curves.metric == metric]
    tests, steps = [], []
    for step, part in rows.groupby("step", sort=True):
        a, b = (_select(part, columns, c).value for c in (first, second))
        if a.empty or b.empty:
            raise ValueError(f"along_training: step {step} has no rows of cell {first if a.empty else second!r}")
        tests.append(stats.compare_rates(*stats.counts(a), *stats.counts(b)) if kind == "rate"
                     else stats.compare_means(a, b))
        steps.append(int(step))
    adjusted = stats.along(tests)
    table = pd.DataFrame({"step": steps, f"{metric} {first}": [str(t.first) for t in tests],
                          f"{metric} {second}": [str(t.second) for t in tests],
                          "difference": [t.difference for t in tests], "p": [t.p_value for t in tests],
                          "p (Holm)": [t.p_value for t in adjusted]})
    return table, adjusted


def holm_steps(table: pd.DataFrame, first: str, second: str, alpha: float = 0.05) -> str:
    """Where a table of :func:`along_training` has a Holm-adjusted p below ``alpha``, as a phrase:
    "at no evaluation step (Holm-adjusted over 11 looks)" or "at steps 5,000 (FIRST higher) and
    10,000 (SECOND higher) (Holm-adjusted over 11 looks)"."""
    looks = f"(Holm-adjusted over {len(table)} looks)"
    hits = table[table["p (Holm)"] < alpha]
    if hits.empty:
        return f"at no evaluation step {looks}"
    parts = [f"{int(s):,} ({first if d > 0 else second} higher)" for s, d in zip(hits.step, hits.difference)]
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"at step{'s' if len(parts) > 1 else ''} {listed} {looks}"


# --- images ----------------------------------------------------------------------------------------

def image_jobs(P: Mapping[str, Any], image_losses: Mapping[str, Any], device: Any,
               seed: int) -> dict[tuple[str, str, float, int], dict[str, Any]]:
    """One job of :func:`gancore.experiments.image_experiment_on` per data set, loss, learning rate and
    seed of the ``image`` settings of ``P`` (the same learning rate for both players, Adam with
    ``image.betas``; seeds ``seed * 1000 + s``), keyed by (data, loss label, lr, s)."""
    I = P["image"]
    return {(name, label, lr, s): dict(
        data_name=name, root=P["data_root"], reference_n=P["n_fid_ref"], loss=loss,
        optimizers=experiments.adam(lr, I["betas"]), policy="alternating", steps=I["steps"],
        batch_size=I["batch_size"], latent_dim=I["latent"], width=I["width"], seed=seed * 1000 + s,
        device=device, n_eval=P["n_fid"], eval_seed=seed + 1, n_samples=32, progress=False, log_every=I["steps"])
        for name in I["data"] for (label, loss), lr, s in itertools.product(image_losses.items(), I["lrs"],
                                                                              range(I["seeds"]))}


def image_table(image_runs: Mapping[tuple[str, str, float, int], Any]) -> pd.DataFrame:
    """The final Frechet distance of every image run (its table's last value), one row per
    (data, loss, lr, seed)."""
    return pd.DataFrame([{"data": name, "loss": label, "lr": lr, "seed": s, "frechet": float(run.table.value.iloc[-1])}
                         for (name, label, lr, s), run in image_runs.items()])


def compare_at_lr(images: pd.DataFrame, data: str, lr: float, first: str, second: str) -> stats.Comparison:
    """Loss ``first`` against ``second`` on ``data`` at learning rate ``lr``: Welch's test on the log
    Frechet distances over seeds (a positive quantity that spans decades; intervals of the logs)."""
    at = images[(images.data == data) & np.isclose(images.lr, lr)]
    a, b = (np.log(at[at.loss == label].frechet.to_numpy(dtype=float)) for label in (first, second))
    if a.size == 0 or b.size == 0:
        raise ValueError(f"compare_at_lr: no runs of {first if a.size == 0 else second!r} on {data} at lr {lr:g}")
    return stats.compare_means(a, b)


def first_seed_samples(samples: pd.DataFrame, seed: int) -> dict[Cell, torch.Tensor]:
    """The samples of one seed per (generator, alpha_D, alpha_G) cell, as (n, 2) tensors."""
    part = samples[samples.seed == seed]
    return {cell: torch.tensor(xy[["x", "y"]].to_numpy())
            for cell, xy in part.groupby(["generator", "alpha_d", "alpha_g"], sort=False)}

