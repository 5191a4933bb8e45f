"""The convex-duality chapter's analysis (book/convex_wgan.md): evidence for its claim rows, the
sentences its prose glues from the numbers, and its figures.

* :func:`sdp_gaps`: the closed form against the SDP on random problems (the theory row);
* :func:`gda_problems`, :func:`gda_evidence`, :func:`gda_sentence`: GDA on the same game, one run per
  problem, its best feasible iterate against the closed form's optimum p* (the GDA row);
* :func:`feasible_summary`: one GDA trajectory's evaluations near p*, as a printed line;
* :func:`toy_sentence`: GDA's last iterate on each 2-D toy beside the convex solution, as a phrase;
* :func:`procogan_tests`: ProCoGAN against progressive GDA, paired by seed, per data set;
* :func:`stage_fd`, :func:`plot_stage_fd`: the Frechet distance after each stage, over seeds;
* :func:`plot_toys`, :func:`plot_gda`, :func:`plot_beta`, :func:`plot_procogan`: the figures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from .. import convex, plotting, stats

__all__ = ["TOL", "sdp_gaps", "gda_problem", "gda_problems", "gda_evidence", "gda_sentence", "feasible_summary",
           "toy_sentence", "procogan_tests", "stage_fd", "plot_stage_fd", "plot_toys", "plot_gda", "plot_beta", "plot_procogan"]

TOL = 0.01
"""The chapter's band: an iterate is "feasible" with a relative constraint violation <= TOL and "at
p*" when its objective is within a relative TOL of it."""


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%" if abs(x) >= 0.095 else f"{100 * x:.1g}%"


def sdp_gaps(n: int, d: int, seeds: Sequence[int]) -> np.ndarray:
    """|SDP value / n - closed-form value| / closed-form value on :func:`gancore.convex.comparison_problem`
    ``(n, d, s)`` for each ``s`` of ``seeds`` (with Z^T Z = n I, the SDP's value tr K / 2 is n times the
    generator's weight decay)."""
    gaps = []
    for s in seeds:
        X, Z, beta = convex.comparison_problem(n, d, s)
        p = convex.quadratic_optimal_value(X, Z, beta)
        gaps.append(abs(convex.quadratic_sdp(X, beta)["value"] / len(X) - p) / p)
    return np.asarray(gaps)


def _best_feasible_gap(trajectory: pd.DataFrame, optimum: float, tol: float = TOL) -> float:
    feasible = trajectory[trajectory.violation <= tol]
    return float((feasible.objective / optimum - 1).min()) if len(feasible) else float("nan")


def _hits(trajectory: pd.DataFrame, optimum: float, tol: float = TOL) -> int:
    near = (trajectory.objective / optimum - 1).abs() <= tol
    return int((near & (trajectory.violation <= tol)).sum())


def gda_problem(n: int, d: int, problem: int, steps: int, lr: float, eval_every: int,
                gda_seed: int = 0) -> dict[str, float]:
    """One row of :func:`gda_problems`: GDA on :func:`gancore.convex.comparison_problem` ``(n, d,
    problem)``."""
    X, Z, beta = convex.comparison_problem(n, d, problem)
    p = convex.quadratic_optimal_value(X, Z, beta)
    traj = convex.gda_fit(X, Z, beta, activation="quadratic", steps=steps, lr_G=lr, lr_D=lr,
                          eval_every=eval_every, seed=gda_seed).trajectory
    W = convex.quadratic_closed_form(X, Z, beta)
    exact = (abs(convex.wgan_objective(W) / p - 1) <= TOL
             and convex.constraint_violation(X, Z @ W, beta) <= TOL)
    return {"problem": problem, "p*": p, "closed form at p*": bool(exact),
            "best feasible gap": _best_feasible_gap(traj, p),
            "at p*": _hits(traj, p), "evaluations": len(traj),
            "last gap": float(traj.objective.iloc[-1] / p - 1), "last violation": float(traj.violation.iloc[-1])}


def gda_problems(n: int, d: int, seeds: Sequence[int], *, steps: int, lr: float, eval_every: int,
                 gda_seed: int = 0) -> pd.DataFrame:
    """GDA (:func:`gancore.convex.gda_fit`, quadratic activation, width 2 d, ``lr`` for both players)
    on :func:`gancore.convex.comparison_problem` ``(n, d, s)`` for each ``s`` of ``seeds``
    (:func:`gda_problem`), one after another. One row per problem: ``problem`` (its seed), ``p*``
    (the closed form's optimum), ``closed form at p*`` (its objective within :data:`TOL` of p* and
    feasible to TOL, computed, not assumed), ``best feasible gap`` (the smallest objective / p* - 1 among
    evaluations feasible to :data:`TOL`; NaN when none was), ``at p*`` (evaluations within TOL of p*
    and feasible to TOL), ``evaluations``, and the last iterate's ``last gap`` and ``last violation``."""
    return pd.DataFrame([gda_problem(n, d, s, steps, lr, eval_every, gda_seed) for s in seeds])


def gda_evidence(table: pd.DataFrame) -> stats.Comparison:
    """The closed form against GDA on the problems of ``table`` (:func:`gda_problems`): the rate of
    problems on which each came within :data:`TOL` of p* while feasible to TOL (GDA: at any
    evaluation), compared by Fisher's exact test (first: the closed form)."""
    n = len(table)
    exact, reached = int(table["closed form at p*"].sum()), int((table["at p*"] > 0).sum())
    return stats.compare_rates(exact, n, reached, n)


def gda_sentence(table: pd.DataFrame) -> str:
    """What :func:`gda_problems` found, in words: where GDA's best feasible iterate lies against p*
    (mean with its t interval, in percent), on how many problems any evaluation was feasible, and on
    how many one came within :data:`TOL` of p* while feasible."""
    gaps = table["best feasible gap"].dropna().to_numpy()
    n, reached = len(table), int((table["at p*"] > 0).sum())
    if len(gaps) == 0:
        where = f"no evaluation was feasible to {_pct(TOL)} on any of the {n} problems"
    else:
        iv = stats.mean_interval(gaps)
        span = f" [{_pct(iv.low)}, {_pct(iv.high)}]" if iv.finite else ""
        side = "above" if iv.estimate >= 0 else "below"
        where = (f"its best feasible iterate lies {_pct(abs(iv.estimate))}{span} {side} p* on average "
                 f"(feasible evaluations on {len(gaps)} of {n} problems)")
    return f"{where}; an evaluation within {_pct(TOL)} of p* and feasible came on {reached} of {n} problems"


def feasible_summary(trajectory: pd.DataFrame, optimum: float) -> str:
    """One trajectory's evaluations within :data:`TOL` of ``optimum`` and feasible to TOL, and its
    smallest gap among feasible evaluations (a fixed format the paper-profile test reads)."""
    gap = _best_feasible_gap(trajectory, optimum)
    best = (f"smallest gap among feasible evaluations: {gap:+.3f}" if np.isfinite(gap)
            else "no evaluation was feasible to 1%, so no gap among feasible ones")
    return (f"GDA evaluations within 1% of p* and feasible to 1%: {_hits(trajectory, optimum)} of "
            f"{len(trajectory)}; {best}")


def toy_sentence(table: pd.DataFrame) -> str:
    """GDA's last iterate on each toy of :func:`gancore.convex.toy_comparison`'s ``table``, beside the
    convex solution: "feasible, X above/below the convex objective" when its violation is at most
    :data:`TOL`, else "infeasible by Y"; activations joined by semicolons."""
    parts = []
    for r in table.to_dict("records"):
        gap, v = r["GDA objective"] / r["convex objective"] - 1, r["GDA violation"]
        if v <= TOL:
            side = "above" if gap >= 0 else "below"
            parts.append(f"{r['activation']}: feasible, {_pct(abs(gap))} {side} the convex objective")
        else:
            parts.append(f"{r['activation']}: infeasible by {_pct(v)}")
    return "; ".join(parts)


def procogan_tests(scores: pd.DataFrame) -> dict[str, stats.Comparison]:
    """Per data set of ``scores`` (one row per data set and seed, with ``data``, ``ProCoGAN FD`` and
    ``progressive GDA FD``), the paired t comparison of ProCoGAN's Frechet distance against progressive
    GDA's (first vs second: the paper's ordering is "<")."""
    return {name: stats.compare_paired(part["ProCoGAN FD"], part["progressive GDA FD"])
            for name, part in scores.groupby("data", sort=False)}


def stage_fd(stages: pd.DataFrame) -> pd.DataFrame:
    """The Frechet distance after each stage (``stages``: one row per ``data``, ``method``,
    ``resolution`` and seed with its ``FD``, as :func:`gancore.convex.procogan_runs` stores it): the mean
    over seeds with its 95% t interval and n, one row per data set, method and resolution."""
    return stats.summarise(stages, ["data", "method", "resolution"], "FD")


def plot_stage_fd(stages: pd.DataFrame) -> plt.Figure:
    """One panel per data set of ``stages`` (see :func:`stage_fd`): each method's mean Frechet distance
    after each stage against the stage's resolution (log-log), with its 95% interval as a band (none
    for a single seed)."""
    table = stage_fd(stages)
    names = list(dict.fromkeys(table.data))
    fig, axes = plt.subplots(1, len(names), figsize=(4.6 * len(names), 3.4), squeeze=False)
    for ax, name in zip(axes[0], names):
        for method, part in table[table.data == name].groupby("method", sort=False):
            part = part.sort_values("resolution")
            ax.plot(part.resolution, part.estimate, marker="o", label=method)
            ok = np.isfinite(part.low) & np.isfinite(part.high)  # one seed has no interval
            ax.fill_between(part.resolution[ok], part.low[ok], part.high[ok], alpha=0.25)
        ax.set_xscale("log", base=2)
        sizes = sorted(set(table[table.data == name].resolution))
        ax.set_xticks(sizes, [str(r) for r in sizes], minor=False)
        ax.xaxis.set_minor_locator(plt.NullLocator())
        ax.set_yscale("log")
        ax.set(xlabel="stage resolution", ylabel="Frechet distance", title=name)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_toys(X: np.ndarray, fakes: Mapping[str, tuple[np.ndarray, np.ndarray]],
              betas: Mapping[str, float]) -> plt.Figure:
    """One panel per activation: real points (grey), the convex solution (red crosses) and GDA's last
    iterate (blue circles)."""
    fig, axes = plt.subplots(1, len(fakes), figsize=(3.5 * len(fakes), 3.6), sharex=True, sharey=True,
                             squeeze=False)
    for ax, (activation, (G_cvx, G_gda)) in zip(axes[0], fakes.items()):
        ax.scatter(*X.T, s=12, c="0.6", label="real")
        ax.scatter(*G_cvx.T, s=30, c="tab:red", marker="x", label="convex")
        ax.scatter(*G_gda.T, s=18, marker="o", edgecolors="tab:blue", facecolors="none", label="GDA")
        ax.scatter([0], [0], c="k", marker="+", s=40)
        ax.set_title(f"{activation} (beta_d = {betas[activation]:g})")
        ax.set_aspect("equal")
    axes[0, 0].legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def plot_gda(trajectory: pd.DataFrame, optimum: float) -> plt.Figure:
    """GDA's relative objective gap (left) and relative constraint violation (right, log scale, +1e-6)
    along training, with the :data:`TOL` band dashed."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    axes[0].plot(trajectory.step, trajectory.objective / optimum - 1, marker=".")
    axes[0].axhline(0, c="k", lw=0.8)
    for s in (TOL, -TOL):
        axes[0].axhline(s, c="k", ls="--", lw=0.6)
    axes[0].set(xlabel="GDA step", ylabel="objective / p* - 1", title="objective gap")
    axes[1].semilogy(trajectory.step, trajectory.violation + 1e-6, marker=".")
    axes[1].axhline(TOL, c="k", ls="--", lw=0.6)
    axes[1].set(xlabel="GDA step", ylabel="violation (+1e-6)", title="constraint violation")
    fig.tight_layout()
    return fig


def plot_beta(sweep: convex.BetaSweep, mean: torch.Tensor, shape: tuple[int, ...] = (1, 8, 8),
              n: int = 16) -> plt.Figure:
    """Left, the data's second-moment spectrum and the fakes' for each beta_d of ``sweep`` (log scale,
    zeros left out); then ``n`` fakes per beta_d (``mean`` added back, reshaped to ``shape``)."""
    s2 = sweep.sigma2.numpy()
    fig, axes = plt.subplots(1, len(sweep.fakes) + 1, figsize=(3.2 * (len(sweep.fakes) + 1), 3.2))
    j = np.arange(1, len(s2) + 1)
    keep = s2 > 1e-9 * s2[0]
    axes[0].semilogy(j[keep], s2[keep], "k.-", label="data sigma_j^2")
    for frac, spec in sweep.spectra.items():
        spec = spec.numpy()
        keep = spec > 1e-9 * s2[0]
        axes[0].semilogy(j[keep], spec[keep], ".-", label=f"beta = {frac:g} sigma_1^2")
    axes[0].set(xlabel="component j", title="spectra")
    axes[0].legend(fontsize=7)
    for ax, (frac, G) in zip(axes[1:], sweep.fakes.items()):
        images = (G[:n] + mean).reshape(n, *shape).clamp(-1, 1).float()
        plotting.sample_grid(images, nrow=4, ax=ax, title=f"beta_d = {frac:g} sigma_1^2")
    fig.tight_layout()
    return fig


def plot_procogan(samples: Mapping[str, tuple[list[torch.Tensor], list[torch.Tensor]]]) -> plt.Figure:
    """One row per data set and method (ProCoGAN, progressive GDA) of ``samples``, one panel per
    stage (coarse to fine), 8 samples each."""
    rows = [(name, method, stages) for name, (pro, gda) in samples.items()
            for method, stages in (("ProCoGAN", pro), ("progressive GDA", gda))]
    n_stages = max(len(stages) for _, _, stages in rows)
    fig, axes = plt.subplots(len(rows), n_stages, figsize=(3.0 * n_stages, 1.9 * len(rows)), squeeze=False)
    for (name, method, stages), ax_row in zip(rows, axes):
        for ax, images in zip(ax_row, stages):
            size = images.shape[-1]
            plotting.sample_grid(images, nrow=8, ax=ax, title=f"{name} {method} {size}x{size}")
        for ax in ax_row[len(stages):]:
            ax.axis("off")
    fig.tight_layout()
    return fig
