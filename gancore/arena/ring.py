"""The ring, one setup for all (the arena's second game): every contestant trains the same network pair on
the ring of eight Gaussians on the same budget of player-gradient evaluations, scored along training by the
ring metrics.

The setup, the same for every contestant:

* **Data, networks, batches**: the toolkit chapter's ring setup, ``data.load("ring")`` (8 modes of
  standard deviation 0.01 on the unit circle), a ReLU MLP generator 2 -> 2 and a LeakyReLU MLP
  discriminator 2 -> 1 (:func:`gancore.experiments.ring_players`: ``depth`` hidden layers of ``g_width``
  / ``d_width``; 3 x 128 in quick, the alpha-GAN paper's 4 x 400 and 4 x 200 in paper), batches of
  ``batch_size`` real samples and as many 2-D Gaussian codes.
* **Seeds**: seeds ``seed, ..., seed + seeds - 1`` for every contestant. Seed s builds the generator
  after ``torch.manual_seed(s)`` and the discriminator after ``torch.manual_seed(s + 1_000_000)`` and
  draws its data order and noise from s (:func:`gancore.ensemble.fit`), so at a given seed every
  contestant starts from the same pair and sees the same batches. The seeds of one contestant train as
  ONE batched ensemble; SGD, Adam, SRFB, extragradient and optimistic GDA act elementwise, so each
  member follows the run of its seed alone (up to round-off). The cooperative rule decides per member
  and freezes the others (:func:`gancore.train.fit`'s masked steps; Adam's step count, used in its bias
  correction, is shared by the members and advances at every step).
* **Loss**: the non-saturating loss (Goodfellow et al. 2014; ``losses.gan_loss("ns")``), except
  ``alpha-GAN``: alt-Adam on the (alpha_D, alpha_G) losses of Welfert et al. (ISIT 2023, Sec. III-A),
  D minimising l_aD(1, D(x)) + l_aD(0, D(G(z))) and the saturating G maximising l_aG(0, D(G(z))), with
  the paper's probability clamp ``p_min``; ``alpha_d = 0.3, alpha_g = 1``, the ring setting the paper
  (Fig. 2b) and the book's alpha_gan chapter found best; and ``vanilla-GAN``, alt-Adam on the same losses
  at alpha_D = alpha_G = 1 with the same generator form and clamp (the saturating vanilla GAN), the
  baseline the paper compares alpha-GAN with.
* **Contestants**: every method of :data:`gancore.arena.methods.METHODS` (SRFB and SRFB-avg are one run,
  scored at its last iterate and at the uniform average of its generator's iterates, (1/t) sum_{s<=t}
  theta_s, the average of ``fit(average_G="uniform")``); ``alpha-GAN``; ``DO-GAN``,
  :func:`gancore.dogan.dogan` (Aung et al. 2022) with the same networks and loss and Adam(lr,
  :data:`~gancore.arena.methods.BETAS`) oracles. DO-GAN's initial pair is alt-Adam's members after
  ``init_steps = dogan.init * budget / 2`` steps (the same recipe, seeds and lr, so up to there its curve
  IS alt-Adam's); then ``dogan.iterations`` double-oracle iterations share the rest, each a generator
  and a discriminator oracle of ``oracle_steps`` one-learner steps (1 evaluation each), so that
  ``2 init_steps + 2 iterations oracle_steps = budget``. DO-GAN is scored by its mixed generator (the
  meta-strategy): code k of the fixed evaluation noise goes to generator ``i_k ~ sigma_G``, drawn from a
  CPU generator seeded with ``eval_seed``. It runs one seed at a time (slow), on the first
  ``dogan.seeds`` seeds only (8 in quick). A double oracle that stops early (both oracles gain nothing,
  ``eps = 0``) keeps its mixture: its last values are repeated at the budget.
* **Budget** (:mod:`gancore.arena.methods`): ``budget`` player-gradient evaluations, 2 per step (4 for
  extragradient, which runs half the steps), evaluated at 0, every ``eval_every`` evaluations and at the
  end on ``n_eval`` samples of the same fixed noise (:func:`gancore.metrics.ring_evaluator`, seed
  ``eval_seed``): ``modes`` covered (0..8), ``hqs`` (share of samples within 3 sigma of a mode),
  ``success`` (all 8 covered), ``failure`` (none), ``kl`` (mode histogram against uniform).
* **Step sizes**: one grid ``lrs`` shared by all (both players use the same lr); each contestant is
  reported at the grid point with the highest final success rate over the seeds (ties: the higher mean
  hqs, then the first grid point). A run whose loss turns non-finite (one member is enough to stop the
  ensemble) ends with one row of NaN values at the step it diverged at: its final values are NaN, dropped by
  the statistics and counted in ``diverged`` (the quick profile's OGDA at lr 0.2 diverges so).

:func:`ring_arena` returns the tables; the curves plot with
``gancore.plotting.metric_curves(curves[curves.best], "success", x="evals", hue="method", interval="wilson")``
(``interval="t"`` for modes, hqs, kl). :func:`ring_tables` rebuilds the grid, best points and leaderboard
from stored curves (a sweep's).

Cost: a step of a 16-member ensemble of the 3 x 128 networks takes about 0.07 s of CPU (one torch thread),
so every contestant and grid point costs ~0.035 s per evaluation of the budget. The quick profile (16 seeds,
DO-GAN on 8, two grid points, a budget of 240 evaluations = 120 steps, 2000 evaluation samples) took 170 s
of CPU with one thread; that budget is far below what the ring needs (the toolkit's single run covers all
8 modes after ~1500 steps at lr 1e-3), so the quick leaderboard ranks how fast the methods spread over the
modes (modes, failure), not who learns the ring: success and hqs are near 0 for every method there.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from .. import data, dogan, ensemble, experiments, losses, metrics, stats, train
from .methods import (BETAS, COLUMNS, CONTESTANTS, DO_GAN, DO_TIMES, RING_ONLY, Method, check_group, contestant,
                      dogan_steps, ordered_curves)

__all__ = ["RING_METRICS", "ring_arena", "ring_tables", "check_ring_settings"]

RING_METRICS = ("modes", "hqs", "success", "failure", "kl")


def check_ring_settings(settings: Mapping[str, Any]) -> list[str]:
    """The contestants of the ``ring`` group, after a ``ValueError`` naming the first setting that cannot
    run: those of :func:`gancore.arena.methods.check_group`, no evaluation samples, or more DO-GAN seeds
    than seeds."""
    S = settings
    names = check_group(S, "ring", 16, RING_ONLY)
    if S["n_eval"] < 1:
        raise ValueError(f"Invalid ring.n_eval={S['n_eval']}: evaluate on at least 1 sample (5000 or more).")
    if DO_GAN in names and not 1 <= S["dogan"]["seeds"] <= S["seeds"]:
        raise ValueError(f"Invalid ring.dogan.seeds={S['dogan']['seeds']}: use 1 to ring.seeds={S['seeds']} "
                         "(DO-GAN runs on the first of the arena's seeds).")
    return names


class _UniformAverage:
    """The uniform average of the generator's iterates after each of its steps, (1/t) sum_{s=1..t} theta_s
    (as ``fit(average_G="uniform")`` keeps it), updated by a post-step hook of G's optimizer so that it can
    be scored along training."""

    def __init__(self, opt_G: torch.optim.Optimizer) -> None:
        self.params = [p for group in opt_G.param_groups for p in group["params"]]
        self.mean = [p.detach().clone() for p in self.params]
        self.count = 0
        opt_G.register_step_post_hook(self.update)

    @torch.no_grad()
    def update(self, *_: Any) -> None:
        self.count += 1
        torch._foreach_lerp_(self.mean, [p.detach() for p in self.params], 1.0 / self.count)

    @torch.no_grad()
    def model(self, G: nn.Module) -> nn.Module:
        """A copy of ``G`` holding the average (``G`` itself before the first step)."""
        if self.count == 0:
            return G
        averaged = copy.deepcopy(G)
        for p, mean in zip(averaged.parameters(), self.mean, strict=True):
            p.copy_(mean)
        return averaged


class _Ring:
    """One ring arena: the settings, the data, the players, the losses, the evaluation noise, the device."""

    def __init__(self, settings: Mapping[str, Any], device: str | torch.device):
        S = self.S = settings
        self.device = train.resolve_device(device)
        self.ring = data.load("ring")
        self.players = experiments.ring_players(S["g_width"], S["d_width"], S["depth"])
        self.loss = losses.gan_loss("ns")
        self.losses = {None: self.loss}
        for name, (a_d, a_g) in (("alpha", (S["alpha_d"], S["alpha_g"])), ("vanilla", (1.0, 1.0))):
            self.losses[name] = losses.gan_loss("alpha", alpha_d=a_d, alpha_g=a_g, generator=S["alpha_generator"],
                                                p_min=S["p_min"])
        self.evaluate = metrics.ring_evaluator(self.ring.means, self.ring.sigma, S["n_eval"], seed=S["eval_seed"],
                                               chunk=64)

    def ensemble(self, m: Method, loss: str | None, lr: float, seeds: Sequence[int], names: Mapping[str, str],
                 steps: int, snapshot: int | None = None) -> tuple[list[dict], list[tuple[dict, dict]], float]:
        """``m`` at ``lr`` on ``seeds`` as one ensemble for ``steps`` steps. ``names`` maps ``"G"`` (the
        iterate) and ``"average"`` to contestant names. Returns rows of :data:`COLUMNS`, the members'
        (G, D) state dicts at step ``snapshot`` (on the CPU) and the training seconds until then."""
        S, records, kept, clock = self.S, [], [], {"start": 0.0, "spent": 0.0, "snapshot": 0.0}
        average: list[_UniformAverage] = []

        def optimizers(G_params: list, D_params: list) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
            opt_G, opt_D = m.optimizer(G_params, lr), m.optimizer(D_params, lr)
            if "average" in names:
                average.append(_UniformAverage(opt_G))
            return opt_G, opt_D

        def evaluate(step: int, G: nn.Module, D: nn.Module) -> dict:
            t0 = time.perf_counter()
            if not records:  # training time counts from the first evaluation (step 0), after the set-up
                clock["start"] = t0
            seconds = t0 - clock["start"] - clock["spent"]
            found = {"G": self.evaluate(step, G, D)}
            if average:
                found["average"] = self.evaluate(step, average[0].model(G), D)
            records.append((step, seconds, found))
            if step == snapshot:
                kept.extend((_cpu_state(G.member(k)), _cpu_state(D.member(k))) for k in range(len(seeds)))
                clock["snapshot"] = seconds
            clock["spent"] += time.perf_counter() - t0
            return {}

        try:
            ensemble.fit(*self.players, self.ring, seeds, loss=self.losses[loss],
                         optimizers=optimizers, steps=steps, batch_size=S["batch_size"], latent_dim=2,
                         policy=m.make_policy(), device=self.device, evaluate=evaluate,
                         eval_every=S["eval_every"] // m.evals_per_step, progress=False, log_every=max(1, steps))
        except train.TrainingDiverged as err:  # NaN from the step it diverged at: dropped, counted as diverged
            nan = {key: {k: [np.nan] * len(seeds) for k in RING_METRICS} for key in names}
            records.append((err.step + 1, np.nan, nan))  # err.step steps were completed
        rows = [{"method": name, "lr": lr, "seed": s, "step": step, "evals": step * m.evals_per_step,
                 "seconds": seconds, "metric": k, "value": float(found[key][k][i])}
                for key, name in names.items() for step, seconds, found in records for i, s in enumerate(seeds)
                for k in RING_METRICS]
        return rows, kept, clock["snapshot"]

    def dogan(self, lr: float, seed: int, initial: tuple[dict, dict], seconds: float) -> list[dict]:
        """DO-GAN at ``lr`` from the initial pair ``initial`` (state dicts), rows after the initial phase."""
        S, (init_steps, oracle_steps) = self.S, dogan_steps(self.S)
        iterations, start = S["dogan"]["iterations"], 2 * init_steps
        z = metrics.fixed_noise(S["n_eval"], 2, S["eval_seed"]).to(self.device)
        rows: list[dict] = []

        def add(t: int, found: Mapping[str, float], spent: float) -> None:
            rows.extend({"method": DO_GAN, "lr": lr, "seed": seed, "step": init_steps + 2 * oracle_steps * t,
                         "evals": start + 2 * oracle_steps * t, "seconds": seconds + spent, "metric": k,
                         "value": float(found[k])} for k in RING_METRICS)

        def evaluate(t: int, result: dogan.DOGANResult) -> dict:
            if t > 0:
                mixed = result.mixed_generator(self.device)
                pick = torch.Generator().manual_seed(S["eval_seed"])
                index = torch.multinomial(mixed.probs.cpu(), S["n_eval"], replacement=True, generator=pick)
                with torch.no_grad():
                    found = metrics.ring_metrics(mixed(z, index.to(self.device)), self.ring.means, self.ring.sigma)
                add(t, found, float(result.history[DO_TIMES].to_numpy().sum()))
            return {}

        strategies = (dogan.Strategy(initial[0], 0, "G0"), dogan.Strategy(initial[1], 0, "D0"))
        try:
            dogan.dogan(*self.players, self.ring, loss=self.loss, latent_dim=2, iterations=iterations,
                        oracle_steps=oracle_steps, init_steps=init_steps, batch_size=S["batch_size"], lr_G=lr, lr_D=lr,
                        betas=BETAS, eps=0.0, cap=S["dogan"]["cap"], ewc_lambda=S["dogan"]["ewc_lambda"],
                        fisher_batches=S["dogan"]["fisher_batches"], n_payoff=S["dogan"]["n_payoff"], seed=seed,
                        device=self.device, evaluate=evaluate, initial=strategies)
        except train.TrainingDiverged:
            add(len(rows) // len(RING_METRICS) + 1, dict.fromkeys(RING_METRICS, np.nan), np.nan)
            return rows
        done = len(rows) // len(RING_METRICS)
        if done < iterations:  # stopped early: the mixture it returned is its answer at the budget
            add(iterations, {r["metric"]: r["value"] for r in rows[-len(RING_METRICS):]}, rows[-1]["seconds"] - seconds)
        return rows

    def grid_point(self, names: Sequence[str], lr: float, seeds: Sequence[int]) -> list[dict]:
        """Every contestant of ``names`` at ``lr``: the per-step ensembles (SRFB and SRFB-avg share one,
        alt-Adam's also gives DO-GAN its initial pair and curve), then DO-GAN seed by seed."""
        S, runs, rows = self.S, {}, []
        for name in names:
            if name != DO_GAN:
                m, loss = contestant(name)
                runs.setdefault((m.solver, m.policy, loss), {})["average" if m.average else "G"] = name
        do_seeds = list(seeds[:S["dogan"]["seeds"]]) if DO_GAN in names else []
        init_steps = dogan_steps(S)[0] if do_seeds else None
        if do_seeds and ("adam", "alternating", None) not in runs:  # alt-Adam only for DO-GAN's start
            runs[("adam", "alternating", None)] = {}
        for key, named in runs.items():
            m, loss = contestant(next(iter(named.values()), "alt-Adam"))
            serves_dogan = bool(do_seeds) and key == ("adam", "alternating", None)
            run_seeds = seeds if named else do_seeds
            steps = m.steps(S["budget"]) if named else init_steps
            scored = dict(named) if named else {"G": DO_GAN}
            found, kept, seconds = self.ensemble(m, loss, lr, run_seeds, scored, steps,
                                                 init_steps if serves_dogan else None)
            rows += [r for r in found if r["method"] != DO_GAN]
            if serves_dogan:
                rows += [dict(r, method=DO_GAN) for r in found
                         if r["seed"] in do_seeds and r["evals"] <= 2 * init_steps]
                for s, pair in zip(do_seeds, kept):
                    rows += self.dogan(lr, s, pair, seconds)
        return rows


def _cpu_state(net: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in net.state_dict().items()}


def _finals(curves: pd.DataFrame) -> pd.DataFrame:
    """The last evaluation of every (method, lr, seed), wide: its evals and one column per metric (NaN
    for a diverged run)."""
    keys = ["method", "lr", "seed"]
    last = curves[curves["evals"] == curves.groupby(keys, sort=False)["evals"].transform("max")]
    wide = last.set_index([*keys, "evals", "metric"])["value"].unstack("metric")
    wide = wide[[k for k in RING_METRICS if k in wide.columns]].reset_index().rename_axis(columns=None)
    order = {name: i for i, name in enumerate(dict.fromkeys(curves["method"]))}  # the curves' order, not a-z
    return wide.sort_values("method", key=lambda m: m.map(order), kind="stable").reset_index(drop=True)


def _grid(finals: pd.DataFrame, order: Sequence[str]) -> pd.DataFrame:
    """Per (method, lr): the final success rate and mean hqs over the seeds that did not diverge, the seeds
    and diverged seeds; ``best`` marks each method's highest success rate (ties: higher hqs, then the
    first grid point)."""
    grid = finals.groupby(["method", "lr"], sort=False).agg(
        success=("success", "mean"), hqs=("hqs", "mean"), seeds=("success", "size"),
        diverged=("success", lambda v: int(v.isna().sum()))).reset_index()
    grid["best"] = False
    for name in order:
        own = grid[grid["method"] == name]
        if own.empty:
            continue
        score = list(zip(own["success"].fillna(-1.0), own["hqs"].fillna(-1.0)))
        grid.loc[own.index[max(range(len(score)), key=lambda i: (score[i], -i))], "best"] = True
    return grid


def _interval(values: np.ndarray, kind: str) -> stats.Interval | None:
    """The Wilson interval of a 0/1 rate or the t interval of a mean, NaN dropped; None if nothing is left."""
    kept = values[~np.isnan(values)]
    if kept.size == 0:
        return None
    return stats.wilson(*stats.counts(kept)) if kind == "rate" else stats.mean_interval(kept)


def _leaderboard(finals: pd.DataFrame, best: pd.DataFrame) -> pd.DataFrame:
    """Each method at its best lr and the equal budget: success and failure rates (Wilson 95%), mean
    modes and hqs (t 95%) over the seeds, n, diverged seeds, evaluations per seed; best first."""
    rows = []
    for _, b in best.iterrows():
        own = finals[(finals["method"] == b["method"]) & (finals["lr"] == b["lr"])]
        row = {"method": b["method"], "lr": b["lr"], "evals": int(own["evals"].max()),
               "n": int(own["success"].notna().sum()), "diverged": int(own["success"].isna().sum())}
        for metric, kind in (("success", "rate"), ("failure", "rate"), ("modes", "mean"), ("hqs", "mean")):
            iv = _interval(own[metric].to_numpy(dtype=float), kind)
            found = (np.nan, np.nan, np.nan, "diverged") if iv is None else (iv.estimate, iv.low, iv.high, str(iv))
            row |= dict(zip((metric, f"{metric} low", f"{metric} high", f"{metric} [95% CI]"), found))
        rows.append(row)
    board = pd.DataFrame(rows).sort_values(["success", "hqs"], ascending=False, na_position="last", kind="stable")
    board = board.reset_index(drop=True)
    board.insert(0, "rank", range(1, len(board) + 1))
    return board


def ring_tables(curves: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The tables of :func:`ring_arena` after ``curves`` (its own or a stored sweep's, columns
    :data:`COLUMNS`): ``finals``, ``grid``, ``best`` and ``leaderboard`` (see :func:`ring_arena`)."""
    missing = [c for c in COLUMNS if c not in curves.columns]
    if missing:
        raise ValueError(f"The curves lack column(s) {', '.join(missing)}; ring_arena's curves have "
                         f"{', '.join(COLUMNS)}.")
    order = list(dict.fromkeys(curves["method"]))
    finals = _finals(curves)
    grid = _grid(finals, order)
    best = grid[grid["best"]].drop(columns="best").reset_index(drop=True)
    return {"finals": finals, "grid": grid, "best": best, "leaderboard": _leaderboard(finals, best)}


def ring_arena(settings: Mapping[str, Any], device: str | torch.device = "auto",
               seed: int = 0) -> dict[str, pd.DataFrame]:
    """Every contestant of ``settings.methods`` on the ring over the step-size grid ``lrs`` and the seeds
    ``seed, ..., seed + seeds - 1`` (the same for all; DO-GAN on the first ``dogan.seeds``); see the module
    docstring for the setup. ``settings`` is the arena's ``ring`` group (``profiles.get("arena",
    profile).ring``), checked first by :func:`check_ring_settings`. Returns:

    * ``curves``: tidy, one row per evaluation, member and metric: ``method, lr, seed, step, evals``
      (player-gradient evaluations), ``seconds`` (training wall time of the run so far; an ensemble's for
      all its members), ``metric`` (:data:`RING_METRICS`), ``value``, and ``best`` (whether ``lr`` is the
      method's best grid point);
    * ``finals``: the last evaluation of every run, one column per metric (NaN for a diverged run);
    * ``grid``: per method and lr, the final success rate and mean hqs, seeds, diverged, ``best``;
    * ``best``: the grid's best rows, one per method;
    * ``leaderboard``: per method at its best lr and equal budget: rank, lr, evaluations per seed, n,
      diverged, success and failure rates with their Wilson 95% intervals, mean modes and hqs with their
      t 95% intervals (columns ``X``, ``X low``, ``X high`` and the text ``X [95% CI]``), ordered by
      success, then hqs.
    """
    check_ring_settings(settings)
    arena = _Ring(settings, device)
    names = [n for n in CONTESTANTS + RING_ONLY if n in settings["methods"]]
    seeds = list(range(seed, seed + settings["seeds"]))
    rows = []
    for lr in settings["lrs"]:
        rows += arena.grid_point(names, lr, seeds)
    curves = ordered_curves(pd.DataFrame(rows, columns=COLUMNS), names)
    tables = ring_tables(curves)
    return {"curves": ordered_curves(curves, names, tables["best"]), **tables}
