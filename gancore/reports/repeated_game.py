"""The analysis of the chapter "Cooperate or compete" (``book/repeated_game.md``): the runs it makes
(simultaneous, alternating and cooperative training of the ring ensemble and of one digits DCGAN, at
equal batches and at equal wall-clock), the tables it prints, the comparisons it hands to
:meth:`gancore.chapter.Chapter.claim`, and its two figures.

The cooperative rule itself is :class:`gancore.repeated.Cooperative`; here it is only run.

*Equal wall-clock*: a method gets the batches it can do in the time simultaneous training needs for
the profile's batches, from per-batch times measured once and stored in the profile
(:func:`gancore.experiments.equal_time_steps`), capped at ``max_time_factor`` times the batches; the
run is long enough (a whole number of evaluation intervals) to cover both budgets, and each budget
is read at the last evaluation up to it.

*Pairing*: every method trains the same seeds (members of one ensemble), and member k of every
method starts from the same initialisation and sees the same data order and noise, so the methods
are compared seed by seed (:func:`gancore.stats.compare_paired`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from .. import ensemble, experiments, losses, metrics, models, plotting, repeated, stats

__all__ = ["METHODS", "DEMO_LOSSES", "VARIANTS", "Run", "demo", "run_steps", "policy_and_loss", "ring_run",
           "ring_runs", "stored_runs", "stored_image_runs", "image_stored_table", "image_evidence", "at_step",
           "ring_row", "ring_table", "shares_per_seed", "evidence", "versus", "ablation", "image_run", "image_runs",
           "image_fd", "image_table", "image_ablation", "timing", "ring_figure", "curves_figure", "image_figure"]

METHODS = repeated.METHODS
"""The methods compared: the two standard ways of training and the cooperative rule."""

DEMO_LOSSES = ((1.00, 1.00), (1.10, 0.90), (1.00, 1.05), (0.95, 1.00), (1.02, 1.10), (1.02, 1.10))
"""Scripted (D loss, G loss) per batch that walk the default rule through each of its cases."""

VARIANTS: dict[str, dict[str, str]] = {
    "default": {},
    "ema": {"measure": "ema"},
    "accuracy": {"measure": "accuracy"},
    "ties: lagging": {"both_better": "lagging", "both_worse": "lagging"},
}
"""The ablation: the options of :class:`gancore.repeated.Cooperative` each variant changes."""


@dataclass
class Run:
    """One method's run: the generator, the training result, the policy object it trained with (a
    :class:`~gancore.repeated.Cooperative` records its decisions), the equal-wall-clock ``budget`` in
    batches, the evaluations (ring: one row per step and member; images: one row per step) and, for
    images, the name of the feature space of the Frechet distance."""

    G: torch.nn.Module
    result: Any
    policy: Any
    budget: int
    evals: pd.DataFrame
    space: str = ""


def demo(scripted: Sequence[tuple[float, float]] = DEMO_LOSSES, **options: str) -> pd.DataFrame:
    """The cooperative rule (``Cooperative(**options)``) decided on scripted (D, G) losses: one row per
    batch with the losses, the case and who steps."""
    policy = repeated.Cooperative(**options)
    for t, (d, g) in enumerate(scripted):
        policy.decide(t, torch.tensor(d), torch.tensor(g))
    table = policy.history().assign(d_loss=[d for d, _ in scripted], g_loss=[g for _, g in scripted])
    return table[["step", "d_loss", "g_loss", "case", "update_D", "update_G"]]


run_steps = experiments.equal_time_run
"""``(budget, length)`` of a method's run at equal wall-clock: :func:`gancore.experiments.equal_time_run`."""


def _plan(P: Mapping[str, Any], game: str, method: str, steps: int | None) -> tuple[int, int]:
    """``(budget, length)`` of a run of ``game`` ("ring" or "image"): exactly ``steps`` batches when
    given, else :func:`run_steps` from the game's settings and the stored per-batch times."""
    if steps is not None:
        return steps, steps
    G = P[game]
    return run_steps(G["steps"], G["eval_every"], P["time_per_batch"][game], method, P["max_time_factor"])


def policy_and_loss(method: str, **options: str) -> tuple[Any, losses.GANLoss]:
    """:func:`gancore.repeated.method_policy`: the policy of ``method`` and the loss it trains with."""
    return repeated.method_policy(method, **options)


def ring_run(P: Mapping[str, Any], ring, method: str, seed: int, device: str | torch.device,
             steps: int | None = None, **options: str) -> Run:
    """``P["ring"]["seeds"]`` GANs (seeds ``seed, seed + 1, ...``) trained on ``ring`` as one
    ensemble by ``method``: for ``steps`` batches, or (``steps=None``) long enough for both the
    profile's batches and the method's equal-wall-clock budget."""
    R = P["ring"]
    budget, steps = _plan(P, "ring", method, steps)
    policy, loss = policy_and_loss(method, **options)
    G, _, result = ensemble.fit(
        *models.gan_pair("vanilla", (2,), latent_dim=2, width=R["width"], depth=R["depth"]), ring,
        [seed + k for k in range(R["seeds"])], loss=loss, lr_G=R["lr"], lr_D=R["lr"], betas=P["betas"],
        steps=steps, batch_size=R["batch_size"], latent_dim=2, policy=policy, device=device,
        evaluate=metrics.ring_evaluator(ring.means, ring.sigma, R["n_eval"], 2), eval_every=R["eval_every"],
        log_every=50)
    return Run(G, result, policy, budget, metrics.per_member(result.evals))


def ring_runs(P: Mapping[str, Any], ring, seed: int, device: str | torch.device) -> dict[str, Run]:
    """:func:`ring_run` of every method in :data:`METHODS`."""
    return {method: ring_run(P, ring, method, seed, device) for method in METHODS}


def stored_runs(curves: pd.DataFrame, steps: pd.DataFrame) -> dict[str, Run]:
    """The methods' runs of a stored sweep (the tables of :func:`gancore.experiments.repeated_ring`) as
    :class:`Run` objects without networks: per method its evaluations, members numbered in seed order
    (so member k is the same seed for every method and the comparisons pair them), and its
    equal-wall-clock budget. A method missing from either table -> ``ValueError``."""
    runs = {}
    for method in METHODS:
        mine, budget = curves[curves.method == method], steps.budget[steps.method == method]
        if mine.empty or budget.empty:
            raise ValueError(f"the stored run has no {method!r} rows; it must hold every method of {METHODS}")
        runs[method] = Run(None, None, None, int(budget.iloc[0]), _members(mine.drop(columns=["method"])))
    return runs


def _members(evals: pd.DataFrame) -> pd.DataFrame:
    """``evals`` with ``member``: its seeds numbered in order, so member k is the same seed for every
    method and the comparisons pair them."""
    member = {s: k for k, s in enumerate(sorted(evals.seed.unique()))}
    return evals.assign(member=evals.seed.map(member)).reset_index(drop=True)


def stored_image_runs(curves: pd.DataFrame, name: str) -> dict[str, Run]:
    """The methods' runs on the data set ``name`` of a stored sweep (the table of
    :func:`gancore.experiments.repeated_images`) as :class:`Run` objects without networks: per method
    its evaluations with ``log10_fd`` (the base-10 log of the Frechet distance) added, members
    numbered in seed order, and its last batch as its budget (the stored image runs train every
    method for the same batches). A data set or method missing -> ``ValueError``."""
    mine = curves[curves.data == name]
    if mine.empty:
        raise ValueError(f"the stored run has no rows for {name!r}; it holds {sorted(curves.data.unique())}")
    runs = {}
    for method in METHODS:
        evals = mine[mine.method == method]
        if evals.empty:
            raise ValueError(f"the stored run has no {method!r} rows on {name!r}; it must hold every method "
                             f"of {METHODS}")
        evals = evals.drop(columns=["data", "method"]).assign(log10_fd=np.log10(evals.frechet))
        runs[method] = Run(None, None, None, int(evals.step.max()), _members(evals))
    return runs


def image_stored_table(runs: Mapping[str, Run], step: int) -> pd.DataFrame:
    """Per method (rows), at the last evaluation up to ``step``: the Frechet distance (geometric mean
    over seeds with the t interval of its logs mapped back) and the discriminator's held-out balanced
    accuracy and loss (means, 95% t intervals)."""
    return pd.DataFrame({m: {
        "batches": int(r.evals.step[r.evals.step <= step].max()),
        "FD (geometric mean)": stats.mean_interval(at_step(r.evals, step, "frechet"), method="log"),
        "D accuracy (mean)": stats.mean_interval(at_step(r.evals, step, "d_accuracy")),
        "D loss (mean)": stats.mean_interval(at_step(r.evals, step, "d_loss"))} for m, r in runs.items()}).T


def image_evidence(runs: Mapping[str, Run], steps: int) -> dict[str, tuple[stats.Comparison, str]]:
    """The image claims as paired comparisons over the stored run's seeds (:func:`stored_image_runs`),
    cooperative first, each with its note: ``images-quality`` (log10 Frechet distance after ``steps``
    batches, against simultaneous; lower is better), ``images-alternating`` (the same against
    alternating), ``images-discriminator`` (D's held-out balanced accuracy against its own generator's
    samples, against simultaneous) and ``images-faster`` (log10 Frechet distance after half the
    batches, against simultaneous)."""
    coop, sim, alt = runs["cooperative"], runs["simultaneous"], runs["alternating"]

    def paired(other: Run, column: str, step: int) -> stats.Comparison:
        return stats.compare_paired(at_step(coop.evals, step, column), at_step(other.evals, step, column))

    vs = "cooperative vs {}, {} after {:,} batches, paired by seed"
    fd, half = "log10 Frechet distance", steps // 2
    return {
        "images-quality": (paired(sim, "log10_fd", steps), vs.format("simultaneous", fd, steps)),
        "images-alternating": (paired(alt, "log10_fd", steps), vs.format("alternating", fd, steps)),
        "images-discriminator": (paired(sim, "d_accuracy", steps),
                                 vs.format("simultaneous", "D's held-out balanced accuracy", steps)),
        "images-faster": (paired(sim, "log10_fd", half), vs.format("simultaneous", fd, half) + " (half)"),
    }


def at_step(evals: pd.DataFrame, step: int, column: str) -> np.ndarray:
    """Per member (in member order) the value of ``column`` at the last evaluation at or before
    ``step``; a ``step`` before the first evaluation -> ``ValueError``."""
    done = evals.step[evals.step <= step]
    if done.empty:
        raise ValueError(f"no evaluation at or before step {step} (the first is at {evals.step.min()})")
    return evals[evals.step == done.max()].sort_values("member")[column].to_numpy(dtype=float)


def ring_row(evals: pd.DataFrame, step: int) -> dict[str, Any]:
    """The seeds' ring metrics at the last evaluation up to ``step``: the batches it is at, success
    and failure rates (95% Wilson intervals), mean modes and HQS (95% t intervals) and their medians;
    where D was measured, its mean held-out accuracy and loss (95% t intervals)."""
    last = int(evals.step[evals.step <= step].max())
    value = {c: at_step(evals, step, c) for c in ("success", "failure", "modes", "hqs")}
    row = {"batches": last, "success": stats.wilson(*stats.counts(value["success"])),
           "failure": stats.wilson(*stats.counts(value["failure"])),
           "modes (mean)": stats.mean_interval(value["modes"]), "modes (median)": float(np.median(value["modes"])),
           "HQS (mean)": stats.mean_interval(value["hqs"]), "HQS (median)": float(np.median(value["hqs"]))}
    if "d_accuracy" in evals:
        row |= {"D accuracy (mean)": stats.mean_interval(at_step(evals, step, "d_accuracy")),
                "D loss (mean)": stats.mean_interval(at_step(evals, step, "d_loss"))}
    return row


def ring_table(runs: Mapping[str, Run], steps: int | None = None) -> pd.DataFrame:
    """:func:`ring_row` of every run (rows) after ``steps`` batches, or (``None``) at its
    equal-wall-clock budget."""
    return pd.DataFrame({m: ring_row(r.evals, r.budget if steps is None else steps) for m, r in runs.items()}).T


def shares_per_seed(policy: repeated.Cooperative, steps: int | None = None) -> pd.DataFrame:
    """Per seed (ensemble member): the share of its batches (the first ``steps``, or all) in each
    case of the rule, and the shares on which D and G stepped."""
    h = policy.history()
    h = h if steps is None else h[h.step < steps]
    cases = pd.crosstab(h.member, h.case, normalize="index").reindex(columns=list(repeated.CASES), fill_value=0.0)
    stepped = h.groupby("member")[["update_D", "update_G"]].mean().astype(float)
    return cases.join(stepped.set_axis(["D stepped", "G stepped"], axis=1))


def evidence(runs: Mapping[str, Run], P: Mapping[str, Any]) -> dict[str, tuple[stats.Comparison, str]]:
    """The chapter's claims as paired comparisons over the ring's seeds, cooperative first, each with
    the note saying what was compared: ``better-quality`` (HQS after the profile's batches, against
    simultaneous), ``better-modes`` (modes covered, same), ``better-alternating`` (HQS, against
    alternating), ``better-wall-clock`` (HQS at equal wall-clock: each method at the last
    evaluation within its own budget) and ``faster`` (HQS after half the batches); where the runs
    measured the discriminator (:func:`stored_runs`), also ``better-discriminator`` (D's held-out
    balanced accuracy against its own generator's samples, against simultaneous)."""
    steps, half = P["ring"]["steps"], P["ring"]["steps"] // 2
    coop, sim, alt = runs["cooperative"], runs["simultaneous"], runs["alternating"]

    def paired(a: Run, b: Run, column: str, step_a: int, step_b: int) -> stats.Comparison:
        return stats.compare_paired(at_step(a.evals, step_a, column), at_step(b.evals, step_b, column))

    def read(run: Run) -> int:  # the evaluation the equal-wall-clock budget is read at
        return int(run.evals.step[run.evals.step <= run.budget].max())

    vs = "cooperative vs {}, {} after {:,} batches, paired by seed"
    if "d_accuracy" in coop.evals:  # the discriminator measured too (a stored run)
        both = {"better-discriminator": (paired(coop, sim, "d_accuracy", steps, steps),
                                         vs.format("simultaneous", "D's held-out balanced accuracy", steps))}
    else:
        both = {}
    return both | {
        "better-quality": (paired(coop, sim, "hqs", steps, steps), vs.format("simultaneous", "HQS", steps)),
        "better-modes": (paired(coop, sim, "modes", steps, steps), vs.format("simultaneous", "modes", steps)),
        "better-alternating": (paired(coop, alt, "hqs", steps, steps), vs.format("alternating", "HQS", steps)),
        "better-wall-clock": (paired(coop, sim, "hqs", coop.budget, sim.budget),
                              f"cooperative vs simultaneous, HQS at equal wall-clock (read after {read(coop):,} "
                              f"and {read(sim):,} batches; budgets {coop.budget:,} and {sim.budget:,}), paired by seed"),
        "faster": (paired(coop, sim, "hqs", half, half), vs.format("simultaneous", "HQS", half) + " (half)"),
    }


def versus(comparison: stats.Comparison, higher: str = "higher", lower: str = "lower",
           alpha: float = 0.05) -> str:
    """A phrase for ``comparison`` (first against second) decided by its p-value at ``alpha``:
    ``"higher (p = 0.003)"`` / ``"lower (p = ...)"``, or ``"no difference detected (p = 0.41)"``
    with, where known, the smallest difference these seeds detect with 80% power."""
    p = comparison.p_value
    if p < alpha and comparison.direction != "=":
        return f"{higher if comparison.direction == '>' else lower} (p = {p:.2g})"
    text = f"no difference detected (p = {p:.2g}"
    if comparison.detectable is not None and math.isfinite(comparison.detectable):
        text += f"; these seeds detect {comparison.detectable:.2g} or more"
    return text + ")"


def ablation(P: Mapping[str, Any], ring, default: Run, seed: int,
             device: str | torch.device) -> tuple[pd.DataFrame, dict[str, stats.Comparison]]:
    """Every variant of :data:`VARIANTS` on the ring after the profile's batches (``default`` is the
    cooperative run already made): a table (a column per variant: success, modes, HQS, the shares
    of batches D and G stepped, per seed with t intervals) and each other variant's HQS compared
    with the default's, paired by seed."""
    steps = P["ring"]["steps"]
    columns, tests = {}, {}
    for label, options in VARIANTS.items():
        run = default if label == "default" else ring_run(P, ring, "cooperative", seed, device, steps, **options)
        row = ring_row(run.evals, steps)
        share = shares_per_seed(run.policy, steps)
        columns[label] = {k: row[k] for k in ("success", "modes (mean)", "modes (median)", "HQS (mean)",
                                              "HQS (median)")}
        columns[label] |= {k: stats.mean_interval(share[k]) for k in ("D stepped", "G stepped")}
        if label != "default":
            tests[label] = stats.compare_paired(at_step(run.evals, steps, "hqs"), at_step(default.evals, steps, "hqs"))
    return pd.DataFrame(columns), tests


def image_run(P: Mapping[str, Any], images: experiments.ImageData, method: str, seed: int,
              device: str | torch.device, steps: int | None = None, **options: str) -> Run:
    """One DCGAN trained on ``images`` by ``method`` (seed ``seed``), for ``steps`` batches or
    (``None``) long enough for the profile's batches and the equal-wall-clock budget, with its
    Frechet distance every ``P["image"]["eval_every"]`` batches."""
    Q = P["image"]
    budget, steps = _plan(P, "image", method, steps)
    policy, loss = policy_and_loss(method, **options)
    run = experiments.image_experiment(
        images, loss=loss, optimizers=experiments.adam(Q["lr"], P["betas"]), policy=policy, steps=steps,
        batch_size=Q["batch_size"], latent_dim=Q["latent"], width=Q["width"], seed=seed, device=device,
        eval_every=Q["eval_every"], n_eval=P["n_fid"], eval_seed=1, n_samples=0, log_every=50)
    return Run(run.G, run.result, policy, budget, run.wide(), images.space.name)


def image_runs(P: Mapping[str, Any], seed: int,
               device: str | torch.device) -> tuple[dict[str, experiments.ImageData], dict[tuple[str, str], Run]]:
    """The image sets of the profile (``P["image"]["data"]``) and :func:`image_run` of every method
    on each, keyed by (data set, method)."""
    sets = {name: experiments.image_data(name, root=P["data_root"]) for name in P["image"]["data"]}
    return sets, {(name, m): image_run(P, images, m, seed, device) for name, images in sets.items() for m in METHODS}


def image_fd(evals: pd.DataFrame, step: int) -> float:
    """The Frechet distance at the last evaluation at or before ``step``."""
    done = evals.step[evals.step <= step]
    if done.empty:
        raise ValueError(f"no evaluation at or before step {step}")
    return float(evals.frechet[evals.step == done.max()].iloc[0])


def _stepped(run: Run, player: str) -> float:
    return float(run.result.updates[player]) / run.result.steps


def image_table(runs: Mapping[tuple[str, str], Run], steps: int) -> pd.DataFrame:
    """One row per (data set, method): the Frechet distance after ``steps`` batches and at equal
    wall-clock, the equal-wall-clock budget, and the shares of batches D and G stepped."""
    return pd.DataFrame([{
        "data": name, "method": method, "feature space": r.space, f"FD @ {steps} batches": image_fd(r.evals, steps),
        "FD @ equal time": image_fd(r.evals, r.budget), "batches @ equal time": r.budget,
        "D stepped": _stepped(r, "D"), "G stepped": _stepped(r, "G")} for (name, method), r in runs.items()])


def image_ablation(P: Mapping[str, Any], sets: Mapping[str, experiments.ImageData],
                   runs: Mapping[tuple[str, str], Run], seed: int, device: str | torch.device) -> pd.DataFrame:
    """The measures of :data:`VARIANTS` (the tie rule is left to the ring, to keep the quick profile
    short) on each image set after the profile's batches: Frechet distance and stepping shares."""
    steps, rows = P["image"]["steps"], []
    for name, images in sets.items():
        for label in ("default", "ema", "accuracy"):
            r = runs[name, "cooperative"] if label == "default" else image_run(
                P, images, "cooperative", seed, device, steps, **VARIANTS[label])
            rows.append({"data": name, "variant": label, "FD": image_fd(r.evals, steps),
                         "D stepped": _stepped(r, "D"), "G stepped": _stepped(r, "G")})
    return pd.DataFrame(rows)


def timing(P: Mapping[str, Any], ring: Mapping[str, Run], images: Mapping[str, Run]) -> pd.DataFrame:
    """This execution's milliseconds per batch of each method's runs (``ring``; ``images``: one data
    set's runs by method) beside the stored relative times the equal-wall-clock budgets used, and the
    measured ratio to simultaneous training."""
    rows = [{"runs": kind, "method": m, "stored time per batch": P["time_per_batch"][kind][m],
             "measured ms per batch": 1000 * r.result.seconds / r.result.steps}
            for kind, runs in (("ring", ring), ("image", images)) for m, r in runs.items()]
    table = pd.DataFrame(rows)
    base = table.groupby("runs")["measured ms per batch"].transform(lambda v: v.iloc[0])
    return table.assign(**{"measured ratio": table["measured ms per batch"] / base})


def ring_figure(runs: Mapping[str, Run], ring, seed: int) -> plt.Figure:
    """Median HQS and modes over seeds against batches, one line per method, and each method's
    samples of its first seed (``seed``) at the end of its run."""
    fig, axes = plt.subplots(1, 2 + len(runs), figsize=(17, 3.3))
    for key, ax in (("hqs", axes[0]), ("modes", axes[1])):
        medians = {m: r.evals.groupby("step")[key].median() for m, r in runs.items()}
        steps = next(iter(medians.values())).index
        plotting.curves(steps, {m: v.reindex(steps) for m, v in medians.items()}, ax=ax, xlabel="batch",
                        title=f"median {key}")
    z = metrics.fixed_noise(2000, 2, seed=1)
    for ax, (method, r) in zip(axes[2:], runs.items()):
        plotting.ring_scatter(r.G.member(0)(z).detach(), ring.means, ax=ax,
                              title=f"{method}, seed {seed}, batch {r.result.steps}")
    fig.tight_layout()
    return fig


def curves_figure(runs: Mapping[str, Run], columns: Sequence[tuple[str, str]] = (
        ("hqs", "high-quality share"), ("modes", "modes covered"), ("d_accuracy", "D's held-out accuracy")),
        log: Sequence[str] = ("frechet",)) -> plt.Figure:
    """Per column (name, title): its median over seeds against batches, one line per method, with
    the band between the quartiles; the columns in ``log`` on a log scale."""
    fig, axes = plt.subplots(1, len(columns), figsize=(5.2 * len(columns), 3.3))
    for ax, (column, title) in zip(np.atleast_1d(axes), columns):
        for method, r in runs.items():
            q = r.evals.groupby("step")[column].quantile([0.25, 0.5, 0.75]).unstack()
            ax.plot(q.index, q[0.5], label=method)
            ax.fill_between(q.index, q[0.25], q[0.75], alpha=0.2)
        ax.set(xlabel="batch", title=f"{title}: median, quartiles", yscale="log" if column in log else "linear")
    np.atleast_1d(axes)[0].legend()
    fig.tight_layout()
    return fig


def image_figure(runs: Mapping[str, Run], name: str, latent: int) -> plt.Figure:
    """The Frechet distance against batches, one line per method, and 48 samples (fixed noise) of
    each method's generator at the end of its run."""
    fig, axes = plt.subplots(1, 1 + len(runs), figsize=(15, 3.4))
    steps = next(iter(runs.values())).evals.step
    plotting.curves(steps, {m: r.evals.set_index("step").frechet.reindex(steps).to_numpy() for m, r in runs.items()},
                    ax=axes[0], xlabel="batch", title=f"{name}: Frechet distance")
    z = metrics.fixed_noise(48, latent, seed=2)
    for ax, (method, r) in zip(axes[1:], runs.items()):
        plotting.sample_grid(metrics.sample_in_chunks(r.G, z), nrow=8, ax=ax, title=f"{method}, batch {r.result.steps}")
    fig.tight_layout()
    return fig
