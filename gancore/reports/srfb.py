"""The analysis of the SRFB chapter (``book/srfb.md``): its tables of trajectories, SRFB on Gidel's
1-D WGAN over many seeds (the chain itself, vectorised, is :func:`gancore.wgan1d.srfb_wgan1d`; the
solver registry is :func:`gancore.solvers.solver`, both re-exported here), the power-law fit (log-log
least squares with a bootstrap over seeds) that measures the averaged variant's neighbourhood, the
fit of the bound's terms to the stored run on the averaged variant (``results/srfb/average-k``,
:func:`gancore.wgan1d.average_runs`), and the sentences about results that the chapter's prose glues in.

The neighbourhood (SRFB claim (ii), [reconstructed] in ``../shared/papers/srfb.md``): with a fixed
batch of S samples the ergodic average X_K of SRFB's iterates has gap Err(X_K) = O(1/(lam K)) +
O(lam sigma^2). On the 1-D WGAN the gap restricted to the unit ball around the solution is exactly
the average's distance ||X_K|| (``<F(z), X - z> = theta X_phi - phi X_theta``), and sigma^2 = 2/S.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.optimize

from .. import games, solvers, stats
from ..solvers import METHODS, image_optimizers, solver
from ..wgan1d import srfb_wgan1d

__all__ = ["METHODS", "solver", "image_optimizers", "trajectory_table", "text", "distance_panels", "fd_summary",
           "best_points", "srfb_wgan1d", "neighbourhood_runs", "neighbourhood_summary", "power_law_fit", "exponent_text",
           "exponent_table", "TERMS", "block_exponents", "term_fit", "average_curves", "average_panels", "ranking",
           "sensitivity_summary"]

def trajectory_table(trajectories: Mapping[str, games.Trajectory], lrs: Mapping[str, float], count: str,
                     tol: float = 1e-6) -> pd.DataFrame:
    """One row per method (and one per averaged iterate where recorded): its step size, the iterations
    and the ``count`` ("grad_evals" or "samples") at which the relative distance first falls to
    ``tol`` (NaN: never), and the final relative distance."""
    rows = []
    for method, tr in trajectories.items():
        hit = [tr.first_below(tol, c) for c in ("iterations", count)]
        rows.append({"method": method, "lr": lrs[method],
                     f"iterations to {tol:g}": np.nan if hit[0] is None else hit[0],
                     f"{count} to {tol:g}": np.nan if hit[1] is None else hit[1],
                     "final relative distance": tr.distance[-1] / tr.distance[0]})
        if tr.avg_distance is not None:
            rows.append({"method": f"{method} (average)", "lr": lrs[method],
                         "final relative distance": tr.avg_distance[-1] / tr.distance[0]})
    return pd.DataFrame(rows)


def text(table: pd.DataFrame, digits: int = 3, missing: str = "never") -> str:
    """``table`` as the chapter prints it: no index, ``digits`` significant digits, NaN as ``missing``."""
    return table.to_string(index=False, na_rep=missing, float_format=lambda v: f"{v:.{digits}g}")


def distance_panels(trajectories: Mapping[str, games.Trajectory], counts: Sequence[str], axes: Sequence[Any],
                    ylim: tuple[float, float] = (1e-12, 1e3)) -> None:
    """Relative distance to the solution of each trajectory (dashed: its averaged iterate) against each
    of ``counts`` ("iterations", "grad_evals", "samples"), one panel per count on ``axes``."""
    for ax, count in zip(axes, counts, strict=True):
        for method, tr in trajectories.items():
            x = np.arange(len(tr.distance)) if count == "iterations" else np.asarray(getattr(tr, count))
            ax.semilogy(x, np.array(tr.distance) / tr.distance[0], label=method)
            if tr.avg_distance is not None:
                ax.semilogy(x, np.array(tr.avg_distance) / tr.distance[0], "--", label=f"{method} (average)")
        ax.set_xlabel(count.replace("_", " "))
        ax.set_ylim(*ylim)
    axes[0].set_ylabel("relative distance to solution")
    axes[-1].legend(fontsize=8)


def fd_summary(table: pd.DataFrame, by: Sequence[str], value: str = "FD") -> pd.DataFrame:
    """One row per group of ``by``: the geometric mean of ``value`` (a Frechet distance, > 0) over the
    seeds with its t interval on the log scale (:func:`gancore.stats.mean_interval`, ``method="log"``,
    never negative) as ``estimate, low, high, n`` and as text (``"301.1 [222.0, 408.3], n=3"``)."""
    rows = []
    for group, part in table.groupby(list(by), sort=True):
        iv = stats.mean_interval(part[value].to_numpy(dtype=float), method="log")
        rows.append(dict(zip(by, group), estimate=iv.estimate, low=iv.low, high=iv.high, n=iv.n,
                         text=f"{iv.estimate:.1f} [{iv.low:.1f}, {iv.high:.1f}], n={iv.n}"))
    return pd.DataFrame(rows)


def best_points(summary: pd.DataFrame, by: Sequence[str], setting: str) -> dict[tuple, Any]:
    """For each group of ``by`` in a summary (:func:`fd_summary`), the value of ``setting`` (a step
    size) whose ``estimate`` is lowest; ties go to the first row in the summary's order."""
    return {tuple(key): part.loc[part["estimate"].idxmin(), setting]
            for key, part in summary.groupby(list(by), sort=False)}


# --------------------------------------------------------------------------- the 1-D WGAN, vectorised

def neighbourhood_runs(lrs: Sequence[float], batches: Sequence[int], steps: int, seeds: Sequence[int],
                       delta: float = 0.618, looks: int = 4) -> pd.DataFrame:
    """SRFB with a fixed batch on the 1-D WGAN for every step size, batch size and seed (the noise of
    seed s drawn by ``numpy.random.default_rng(s)``). One row per run and look K in ``steps / 2^j``,
    j = looks - 1, ..., 0: ``seed, lr, batch, sigma2`` (= 2/S), ``K``, ``average distance`` (of the
    ergodic average X_K, the gap on this game), ``iterate MSD`` (the iterates' mean squared distance
    over the second half of 0..K, as :meth:`gancore.games.Trajectory.tail_mean_square`)."""
    if looks < 1 or steps < 2 ** (looks - 1):
        raise ValueError(f"need looks >= 1 and steps >= 2^(looks - 1); got looks={looks}, steps={steps}")
    cells = [(lr, S) for lr in lrs for S in batches]
    rows = []
    for s in seeds:
        sigma = np.array([math.sqrt(2 / S) for _, S in cells])
        xi = np.random.default_rng(s).standard_normal((steps, len(cells))) * sigma
        dist, avg = srfb_wgan1d(np.array([lr for lr, _ in cells]), xi, delta)
        for K in (steps // 2 ** j for j in range(looks - 1, -1, -1)):
            tail = dist[: K + 1][-max(1, (K + 1) // 2):]
            msd = (tail ** 2).mean(axis=0)
            rows += [{"seed": s, "lr": lr, "batch": S, "sigma2": 2 / S, "K": K, "average distance": avg[K, c],
                      "iterate MSD": msd[c]} for c, (lr, S) in enumerate(cells)]
    return pd.DataFrame(rows)


def neighbourhood_summary(runs: pd.DataFrame) -> pd.DataFrame:
    """Per step size and batch at the last look: lr * sigma^2 and the geometric means over the seeds
    of the iterates' MSD and of the average's squared distance, with the number of seeds."""
    last = runs[runs["K"] == runs["K"].max()]
    out = last.groupby(["lr", "batch"], sort=True).agg(
        sigma2=("sigma2", "first"), seeds=("seed", "nunique"),
        msd=("iterate MSD", lambda v: float(np.exp(np.log(v).mean()))),
        avg=("average distance", lambda v: float(np.exp(2 * np.log(v).mean())))).reset_index()
    out.insert(2, "lr*sigma^2", out["lr"] * out["sigma2"])
    return out.drop(columns="sigma2").rename(columns={"msd": "iterate MSD (2nd half)",
                                                      "avg": "average: squared distance"})


def power_law_fit(table: pd.DataFrame, response: str, predictors: Sequence[str], group: str = "seed",
                  resamples: int = 2000, level: float = 0.95, seed: int = 0) -> dict[str, stats.Interval]:
    """Fit ``log response = a + sum_p b_p log p`` by least squares over the rows of ``table`` and
    return each exponent b_p with its percentile-bootstrap interval over the groups (``group``, the
    seeds: a resample draws whole seeds with replacement and refits on all their rows, so rows of one
    seed, e.g. looks along one run, stay together). ``n`` is the number of groups. A response or
    predictor <= 0 or NaN, fewer than two groups, or a design that does not identify the exponents
    -> ``ValueError``."""
    names = [response, *predictors]
    missing = [c for c in [*names, group] if c not in table.columns]
    if missing:
        raise ValueError(f"power_law_fit: no column(s) {missing} (columns: {list(table.columns)})")
    values = table[names].to_numpy(dtype=float)
    if not (np.isfinite(values).all() and (values > 0).all()):
        raise ValueError(f"power_law_fit: {', '.join(names)} must be finite and > 0 (a log-log fit)")
    if resamples < 1:
        raise ValueError(f"Invalid resamples: {resamples}")
    logs = np.log(values)
    X = np.column_stack([np.ones(len(table)), logs[:, 1:]])
    y = logs[:, 0]
    keys, index = np.unique(table[group].to_numpy(), return_inverse=True)
    if keys.size < 2:
        raise ValueError(f"power_law_fit: a bootstrap over {group!r} needs at least two of them; got {keys.size}")
    if np.linalg.matrix_rank(X) < X.shape[1]:
        raise ValueError(f"power_law_fit: the design does not identify the exponents of {list(predictors)} "
                         "(a predictor is constant or collinear)")
    xtx = np.stack([X[index == g].T @ X[index == g] for g in range(keys.size)])
    xty = np.stack([X[index == g].T @ y[index == g] for g in range(keys.size)])
    estimate = np.linalg.solve(xtx.sum(axis=0), xty.sum(axis=0))
    rng = np.random.default_rng(seed)
    weights = rng.multinomial(keys.size, np.full(keys.size, 1 / keys.size), size=resamples).astype(float)
    a, b = np.einsum("rg,gij->rij", weights, xtx), np.einsum("rg,gi->ri", weights, xty)
    ok = np.linalg.matrix_rank(a) == X.shape[1]  # a resample of too few distinct seeds may not identify them
    boot = np.linalg.solve(a[ok], b[ok][..., None])[..., 0]
    low, high = np.quantile(boot, [0.5 - level / 2, 0.5 + level / 2], axis=0)
    return {p: stats.Interval(float(estimate[i + 1]), float(low[i + 1]), float(high[i + 1]), int(keys.size),
                              level, "bootstrap over seeds") for i, p in enumerate(predictors)}


def exponent_text(fit: stats.Interval) -> str:
    """A fitted exponent at two decimals with its interval and number of seeds: ``0.20 [0.18, 0.23],
    16 seeds``."""
    return f"{fit.estimate:.2f} [{fit.low:.2f}, {fit.high:.2f}], {fit.n} seeds"


def exponent_table(fits: Mapping[str, Mapping[str, stats.Interval]]) -> pd.DataFrame:
    """The fitted exponents of several responses side by side (rows: predictor, columns: response,
    each as :func:`exponent_text`; "-" where a response was not fitted against that predictor)."""
    names = list(dict.fromkeys(p for fit in fits.values() for p in fit))
    return pd.DataFrame({response: [exponent_text(fit[p]) if p in fit else "-" for p in names]
                         for response, fit in fits.items()}, index=names)


# --------------------------------------------------------------------------- the averaged variant's stored run

TERMS: dict[str, Callable[[pd.DataFrame], np.ndarray]] = {
    "lambda sigma^2": lambda t: (t["lr"] * t["sigma2"]).to_numpy(float),
    "1/(lambda K)": lambda t: (1 / (t["lr"] * t["K"])).to_numpy(float),
    "sigma/sqrt(K)": lambda t: np.sqrt(t["sigma2"] / t["K"]).to_numpy(float),
}
"""Terms of a model of the average's distance: the bound's two, O(lam sigma^2) and O(1/(lam K)), and
the noise of the mean of K samples, sigma/sqrt(K) (the identity the chapter derives for this game)."""


def block_exponents(runs: pd.DataFrame, response: str = "average distance", seed: int = 0,
                    resamples: int = 2000) -> dict[str, dict[str, stats.Interval]]:
    """For each ``block`` of a stored run (:func:`gancore.wgan1d.average_runs`), the exponents of
    ``lr``, ``sigma2`` and ``K`` in ``response`` fitted on the block's design points
    (:func:`power_law_fit`, bootstrap over seeds)."""
    design = runs[runs["design"].astype(bool)]
    return {block: power_law_fit(part, response, ["lr", "sigma2", "K"], seed=seed, resamples=resamples)
            for block, part in design.groupby("block", sort=False)}


def term_fit(table: pd.DataFrame, response: str, terms: Sequence[str]) -> dict[str, Any]:
    """Fit ``response ~ sum_j c_j T_j`` (``T_j`` from :data:`TERMS`, ``c_j >= 0``) by least squares on
    the log scale over the rows of ``table``. Returns ``{"coefficients": {term: c_j}, "rms": the
    root mean square of the log10 residuals, "model": the fitted values}``; a response <= 0 ->
    ``ValueError``."""
    y = table[response].to_numpy(float)
    if not (np.isfinite(y).all() and (y > 0).all()):
        raise ValueError(f"term_fit: {response} must be finite and > 0 (a fit on the log scale)")
    T = np.column_stack([TERMS[t](table) for t in terms])
    start = np.log(np.median(y[:, None] / T, axis=0) / len(terms))

    def residual(u: np.ndarray) -> np.ndarray:
        return np.log(T @ np.exp(u)) - np.log(y)

    u = scipy.optimize.least_squares(residual, start, method="lm").x
    model = T @ np.exp(u)
    rms = float(np.sqrt(np.mean(np.log10(model / y) ** 2)))
    return {"coefficients": dict(zip(terms, np.exp(u).tolist())), "rms": rms, "model": model}


def average_curves(runs: pd.DataFrame, response: str = "average distance") -> pd.DataFrame:
    """Per block, step size, batch and K: ``lr, sigma2, design``, the geometric mean of ``response`` over the
    seeds (column ``response``) and the number of seeds."""
    return runs.groupby(["block", "lr", "batch", "K"], sort=True).agg(
        sigma2=("sigma2", "first"), design=("design", "first"), seeds=("seed", "nunique"),
        **{response: (response, lambda v: float(np.exp(np.log(v).mean())))}).reset_index()


def average_panels(curves: pd.DataFrame, axes: Sequence[Any], slopes: Mapping[str, Mapping[str, float]],
                   response: str = "average distance") -> None:
    """One panel per block of :func:`average_curves`: ``response`` against K per step size (colour) and
    sigma^2 (line style), design points marked; ``slopes[block]`` maps a label to a slope in K drawn
    through the block's median point (dotted lines)."""
    for ax, (block, part) in zip(axes, curves.groupby("block", sort=False), strict=True):
        colours = {lr: f"C{i}" for i, lr in enumerate(sorted(part["lr"].unique()))}
        styles = dict(zip(sorted(part["sigma2"].unique()), ["-", "--", "-.", ":"]))
        for (lr, s2), line in part.groupby(["lr", "sigma2"]):
            ax.loglog(line["K"], line[response], styles[s2], color=colours[lr],
                      label=f"lambda = {lr:g}, sigma^2 = {s2:.2g}")
            marked = line[line["design"].astype(bool)]
            ax.loglog(marked["K"], marked[response], "o", color=colours[lr])
        k = np.array([part["K"].min(), part["K"].max()], dtype=float)
        k0, y0 = float(np.exp(np.log(k).mean())), float(part[response].median())
        for (label, slope), style in zip(slopes[block].items(), ["k:", "k-."]):
            ax.loglog(k, y0 * (k / k0) ** slope, style, lw=2, label=f"{label}: slope {slope:g}")
        ax.set_title(f"block: {block}")
        ax.set_xlabel("K (iterations averaged)")
        ax.legend(fontsize=7)
    axes[0].set_ylabel(f"{response} (geometric mean over seeds)")


# --------------------------------------------------------------------------- sentences for the prose

def ranking(costs: Mapping[str, float | None], unit: str) -> str:
    """The methods ordered by what they spent (fewest first), e.g. ``"EG (270), SRFB (324); never
    reached: GDA"``; None or NaN: never reached."""
    reached = {m: float(c) for m, c in costs.items() if c is not None and not math.isnan(float(c))}
    never = [m for m in costs if m not in reached]
    parts = [", ".join(f"{m} ({c:,.0f} {unit})" for m, c in sorted(reached.items(), key=lambda mc: mc[1]))]
    if never:
        parts.append("never reached: " + ", ".join(never))
    return "; ".join(p for p in parts if p) or "no method was run"


def sensitivity_summary(iterations: np.ndarray, deltas: Sequence[float], lrs: Sequence[float],
                        lipschitz: float) -> str:
    """One sentence about SRFB's grid of iterations to the target (rows: ``deltas``, columns:
    ``lrs``; NaN: not reached): the fastest cell, the deltas at which no step size reached it, and how
    many of the cells that reached it lie above the step-size bound 1/(2 delta L), naming the one
    farthest above it."""
    grid = np.asarray(iterations, dtype=float)
    if grid.shape != (len(deltas), len(lrs)):
        raise ValueError(f"iterations has shape {grid.shape}; expected ({len(deltas)}, {len(lrs)})")
    if np.isnan(grid).all():
        return "no cell of the grid reached the target within the budget"
    i, j = np.unravel_index(np.nanargmin(grid), grid.shape)
    words = [f"the fastest cell is delta = {deltas[i]:g}, lambda = {lrs[j]:g} ({grid[i, j]:,.0f} iterations)"]
    dead = [f"{d:g}" for d, row in zip(deltas, grid) if np.isnan(row).all()]
    if dead:
        words.append(f"no step size reached it at delta = {', '.join(dead)}")
    reached = ~np.isnan(grid)
    ratio = np.asarray(lrs, dtype=float)[None, :] * 2 * np.asarray(deltas, dtype=float)[:, None] * lipschitz
    above = reached & (ratio > 1)
    if above.any():
        i, j = np.unravel_index(np.where(above, ratio, -np.inf).argmax(), grid.shape)
        words.append(f"{int(above.sum())} of the {int(reached.sum())} cells that reached it lie above the bound "
                     f"1/(2 delta L), the farthest at delta = {deltas[i]:g}, lambda = {lrs[j]:g} "
                     f"({ratio[i, j]:.2f} times the bound)")
    else:
        words.append(f"all {int(reached.sum())} cells that reached it lie within the bound 1/(2 delta L)")
    return "; ".join(words)
