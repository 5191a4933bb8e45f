"""Images, one setup for all (the arena's third game): every contestant trains the same DCGAN pair on
digits (MNIST in the paper profile) on the same budget of player-gradient evaluations, scored along
training by the Frechet distance in the book's feature space.

The setup, the same for every contestant:

* **Data and metric** (:func:`gancore.experiments.image_data`): the images, the feature space of
  :func:`gancore.metrics.feature_space` (``kind=feature``: the digit classifier's 64 features for digits
  and MNIST) and the statistics of all real training images there. Every evaluation generates ``n_eval``
  images from the same fixed noise (:func:`gancore.metrics.fixed_noise` with ``eval_seed``; batch norm
  in eval mode) and scores FD = ||mu_f - mu_r||^2 + Tr(S_f + S_r - 2 (S_f^1/2 S_r S_f^1/2)^1/2)
  (Heusel et al. 2017) with :meth:`gancore.metrics.FeatureSpace.frechet`.
* **Networks**: ``models.gan_pair("dcgan", ..., latent, width)`` built generator first after
  ``torch.manual_seed(seed)`` (:func:`gancore.experiments.image_experiment`): at a given seed every
  contestant starts from the same pair and sees the same data order and noise.
* **Loss**: ``loss`` for every contestant (the profiles: the non-saturating loss, Goodfellow et al. 2014,
  D minimises -log D(x) - log(1 - D(G(z))), G minimises -log D(G(z))); alpha-GAN alone plays the
  (alpha_D, alpha_G) losses of Welfert et al. (JSAIT 2024, eq. 2 with the NS generator), at
  ``alpha_d`` = 0.6 and ``alpha_g`` = 1, the pair the paper recommends for images.
* **Contestants**: every method of :data:`gancore.arena.methods.METHODS` (SRFB and SRFB-avg are one
  run, scored at its last and its averaged iterate); ``alpha-GAN``: alt-Adam with the alpha loss;
  ``DO-GAN``: :func:`gancore.dogan.dogan` with the same networks and loss, Adam(lr, BETAS) oracles. Its
  initial pair is alt-Adam's after ``dogan.init`` of the budget (alt-Adam's run is checkpointed there
  and resumed, so up to there the two curves are one run), then ``dogan.iterations`` double-oracle
  iterations share the rest: each trains a generator and a discriminator oracle for ``oracle_steps =
  (budget - 2 init_steps) / (2 iterations)`` steps of one learner (1 evaluation each; no EWC). Its FD
  is that of the mixed generator
  (the meta-strategy), its codes the same fixed noise, the generator of each code drawn from a CPU
  generator seeded with ``eval_seed``. It stops early only if both oracles gain nothing (``eps = 0``).
* **Budget**: ``budget`` player-gradient evaluations (:meth:`Method.steps`: extragradient runs half
  the steps), evaluated every ``eval_every`` evaluations; both multiples of 4, so every contestant is
  evaluated at the same counts and ends exactly at the budget.
* **Step sizes**: one grid ``lrs`` shared by all (both players use the same lr); each contestant is
  reported at the grid point with the lowest mean final FD over the seeds (a diverged seed counts as
  infinitely bad there).
* **Reference**: ProCoGAN (Sahiner et al., ICLR 2022), the progressive closed-form LINEAR generator of
  :class:`gancore.convex.ProCoGAN`, fitted to all training images once per seed: another generator
  class, not a DCGAN, shown beside the real test images (the floor) and the untrained DCGAN.

:func:`image_arena` returns the tables; ``curves`` plots with
``gancore.plotting.metric_curves(curves[curves.best], "fd", x="evals", hue="method")``.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

from .. import data, dogan, experiments, losses, metrics, models, stats, train
from ..convex import ProCoGAN
from .methods import (BETAS, COLUMNS, CONTESTANTS, DO_GAN, DO_TIMES, Method, check_group, contestant,
                      dogan_steps, method, ordered_curves)

__all__ = ["image_arena", "image_tables", "check_image_settings"]


def check_image_settings(settings: Mapping[str, Any]) -> list[str]:
    """The contestants of the ``image`` group, after a ``ValueError`` naming the first setting that
    cannot run: those of :func:`gancore.arena.methods.check_group`, or fewer than 2 evaluation samples."""
    names = check_group(settings, "image", 3)
    if settings["n_eval"] < 2:
        raise ValueError(f"Invalid image.n_eval={settings['n_eval']}: a Frechet distance needs at least 2 samples.")
    return names


def _uniform(G: nn.Module) -> AveragedModel:
    """The uniform average of G's iterates, buffers averaged too (``fit``'s ``average_G="uniform"``)."""
    return AveragedModel(G, use_buffers=True)


class _Arena:
    """One arena on one data set: the settings, the images, the two losses and the device."""

    def __init__(self, settings: Mapping[str, Any], device: str | torch.device):
        self.S = settings
        self.device = train.resolve_device(device)
        self.images = experiments.image_data(settings["data"], root=settings["data_root"], kind=settings["feature"])
        self.loss = losses.gan_loss(settings["loss"])
        self.alpha = losses.gan_loss("alpha", alpha_d=settings["alpha_d"], alpha_g=settings["alpha_g"], generator="ns")

    def train(self, m: Method, loss: Any, lr: float, seed: int, average: bool = False, steps: int | None = None,
              **fit_options: Any) -> experiments.ImageRun:
        """``m`` at step size ``lr`` for ``steps`` steps (default: the budget) by the image recipe."""
        S = self.S
        steps = m.steps(S["budget"]) if steps is None else steps
        return experiments.image_experiment(
            self.images, loss=loss, optimizers=lambda G, D: (m.optimizer(G.parameters(), lr),
                                                             m.optimizer(D.parameters(), lr)),
            steps=steps, batch_size=S["batch_size"], latent_dim=S["latent"], width=S["width"],
            policy=m.make_policy(), seed=seed, device=self.device, eval_every=S["eval_every"] // m.evals_per_step,
            n_eval=S["n_eval"], eval_seed=S["eval_seed"], average=_uniform if average else None, n_samples=0,
            progress=False, log_every=max(1, steps), **fit_options)

    @staticmethod
    def tidy(run: experiments.ImageRun, m: Method, names: Mapping[str, str], lr: float, seed: int) -> pd.DataFrame:
        """Rows of :data:`COLUMNS` from an image run: its metric ``frechet`` (or ``frechet (average)``)
        becomes the contestant ``names[metric]``, counts in player-gradient evaluations."""
        t = run.table[run.table.metric.isin(list(names))]
        return pd.DataFrame({"method": t.metric.map(names), "lr": lr, "seed": seed, "step": t.step,
                             "evals": t.step * m.evals_per_step, "seconds": t.seconds, "metric": "fd",
                             "value": t.value})[COLUMNS]

    def per_step(self, names: Sequence[str], lr: float, seed: int,
                 init_steps: int | None = None) -> tuple[list[pd.DataFrame], experiments.ImageRun | None]:
        """The per-step contestants among ``names`` (those that differ only in averaging share a run) and,
        with ``init_steps`` (DO-GAN plays), alt-Adam's first ``init_steps`` steps: DO-GAN's initial pair
        and curve. alt-Adam is then checkpointed there and resumed to the budget (``fit`` resumes bit
        for bit), so the two share those steps."""
        runs: dict[tuple, dict[str, str]] = {}
        for name in names:
            m, alpha = contestant(name)
            runs.setdefault((m.solver, m.policy, alpha), {})["frechet (average)" if m.average else "frechet"] = name
        alt = ("adam", "alternating", None)
        if init_steps is not None:
            runs.setdefault(alt, {})
        tables, first = [], None
        with tempfile.TemporaryDirectory() as folder:
            for key, metric_names in runs.items():
                m = method("alt-Adam") if key == alt else contestant(next(iter(metric_names.values())))[0]
                loss, resume = self.alpha if key[2] == "alpha" else self.loss, {}
                if key == alt and init_steps is not None:
                    path = Path(folder) / "alt-Adam.pt"
                    first = self.train(m, loss, lr, seed, steps=init_steps, checkpoint=path,
                                       checkpoint_every=max(1, init_steps))
                    resume = {"checkpoint": path}
                if metric_names:
                    run = self.train(m, loss, lr, seed, average="frechet (average)" in metric_names, **resume)
                    tables.append(self.tidy(run, m, metric_names, lr, seed))
        return tables, first

    def frechet(self, G: nn.Module, index: torch.Tensor | None = None) -> float:
        """FD of the images G makes from the fixed evaluation noise (a mixture: generator ``index[k]`` for code k)."""
        z = metrics.fixed_noise(self.S["n_eval"], self.S["latent"], self.S["eval_seed"]).to(self.device)
        with torch.no_grad():
            fake = G(z) if index is None else G(z, index.to(self.device))
        return self.images.space.frechet(fake, self.images.reference)

    def dogan(self, lr: float, seed: int, first: experiments.ImageRun) -> pd.DataFrame:
        """DO-GAN at ``lr`` from alt-Adam's first ``init_steps`` steps (``first``), then the DO iterations."""
        S, alt = self.S, method("alt-Adam")
        init_steps, oracle_steps = dogan_steps(S)
        rows = self.tidy(first, alt, {"frechet": DO_GAN}, lr, seed)
        if first.diverged_at is not None:
            return rows
        make_G, make_D = models.gan_pair("dcgan", self.images.shape, S["latent"], S["width"])
        initial = tuple(dogan.Strategy.of(net, 0, f"{name}0") for net, name in ((first.G, "G"), (first.D, "D")))
        start = 2 * init_steps
        done: list[dict] = []

        def evaluate(t: int, result: dogan.DOGANResult) -> dict:
            if t > 0:
                mixed = result.mixed_generator(self.device)
                pick = torch.Generator().manual_seed(S["eval_seed"])
                index = torch.multinomial(mixed.probs.cpu(), S["n_eval"], replacement=True, generator=pick)
                done.append({"step": init_steps + 2 * oracle_steps * t, "evals": start + 2 * oracle_steps * t,
                             "seconds": first.result.seconds + float(result.history[DO_TIMES].to_numpy().sum()),
                             "value": self.frechet(mixed, index)})
            return {}

        try:
            dogan.dogan(make_G, make_D, self.images.images, loss=self.loss, latent_dim=S["latent"],
                        iterations=S["dogan"]["iterations"], oracle_steps=oracle_steps, init_steps=init_steps,
                        batch_size=S["batch_size"], lr_G=lr, lr_D=lr, betas=BETAS, eps=0.0, cap=S["dogan"]["cap"],
                        n_payoff=S["dogan"]["n_payoff"], seed=seed, device=self.device, evaluate=evaluate,
                        initial=initial)
        except train.TrainingDiverged:
            t = len(done) + 1
            done.append({"step": init_steps + 2 * oracle_steps * t, "evals": start + 2 * oracle_steps * t,
                         "seconds": np.nan, "value": np.nan})
        more = pd.DataFrame(done).assign(method=DO_GAN, lr=lr, seed=seed, metric="fd")
        return pd.concat([rows, more[COLUMNS]], ignore_index=True)

    def reference(self, seeds: Sequence[int], untrained: pd.DataFrame) -> pd.DataFrame:
        """ProCoGAN per seed, the real test images and the untrained DCGAN (``untrained``: FD at 0 evaluations)."""
        S, P = self.S, self.S["procogan"]
        x = data.as_tensor(self.images.images).to(self.device)
        fds, seconds = [], []
        for s in seeds:
            t0 = time.perf_counter()
            model = ProCoGAN(P["resolutions"], P["ks"], noise_dim=P["noise_dim"], seed=s).fit(x)
            seconds.append(time.perf_counter() - t0)
            fake = model.sample(S["n_eval"], generator=torch.Generator().manual_seed(S["eval_seed"]))
            fds.append(self.images.space.frechet(fake, self.images.reference))
        weights = sum(st.input_shape[1] * st.data_shape[1] for st in model.stages)
        make_G, _ = models.gan_pair("dcgan", self.images.shape, S["latent"], S["width"])
        test = data.load(S["data"], root=S["data_root"], split="test")
        rows = [("ProCoGAN (closed form)", "linear generator, progressive (not a DCGAN)", fds, weights,
                 float(np.mean(seconds))),
                ("real test images (the floor)", "data", [self.images.floor(S["n_eval"])], np.nan, np.nan),
                ("untrained DCGAN", "DCGAN generator (as the contestants)", list(untrained["value"]),
                 models.count_parameters(make_G()), 0.0)]
        table = []
        for generator, kind, values, parameters, secs in rows:
            iv = stats.mean_interval(values)
            table.append({"generator": generator, "class": kind, "fd": iv.estimate, "low": iv.low, "high": iv.high,
                          "n": iv.n, "samples": min(S["n_eval"], len(test)) if kind == "data" else S["n_eval"],
                          "parameters": parameters, "seconds": secs, "feature space": self.images.space.name})
        return pd.DataFrame(table)


def _finals(curves: pd.DataFrame) -> pd.DataFrame:
    """The last evaluation of every (method, lr, seed): its evals and FD (NaN for a diverged run)."""
    last = curves.loc[curves.groupby(["method", "lr", "seed"], sort=False)["evals"].idxmax()]
    return last[["method", "lr", "seed", "evals", "value"]].rename(columns={"value": "fd"}).reset_index(drop=True)


def _grid(finals: pd.DataFrame) -> pd.DataFrame:
    """Per (method, lr): mean final FD (inf if a seed diverged), seeds and diverged seeds; ``best`` marks
    each method's lowest mean (the first grid point on a tie)."""
    grid = finals.groupby(["method", "lr"], sort=False).agg(
        score=("fd", lambda v: float(v.mean()) if v.notna().all() else np.inf),
        seeds=("fd", "size"), diverged=("fd", lambda v: int(v.isna().sum()))).reset_index()
    grid["best"] = False
    grid.loc[grid.groupby("method", sort=False)["score"].idxmin(), "best"] = True
    return grid.rename(columns={"score": "mean fd"})


def _leaderboard(finals: pd.DataFrame, best: pd.DataFrame) -> pd.DataFrame:
    """Each method at its best lr: final FD's geometric mean with its 95% t interval on the log scale over
    seeds (a distance: never a negative bound), ordered (best first)."""
    rows = []
    for _, b in best.iterrows():
        own = finals[(finals.method == b["method"]) & (finals.lr == b["lr"])]
        if own["fd"].notna().any():
            iv = stats.mean_interval(own["fd"].to_numpy(), method="log")
            fd, low, high, n, text = iv.estimate, iv.low, iv.high, iv.n, str(iv)
        else:
            fd, low, high, n, text = np.nan, np.nan, np.nan, 0, "all diverged"
        rows.append({"method": b["method"], "lr": b["lr"], "evals": int(own["evals"].max()), "fd": fd, "low": low,
                     "high": high, "n": n, "diverged": int(own["fd"].isna().sum()), "FD [95% CI]": text})
    board = pd.DataFrame(rows).sort_values("fd", na_position="last", kind="stable").reset_index(drop=True)
    board.insert(0, "rank", range(1, len(board) + 1))
    return board


def image_tables(curves: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The tables of :func:`image_arena` after ``curves`` (its own or a stored run's, columns
    :data:`~gancore.arena.methods.COLUMNS`): ``finals``, ``grid``, ``best`` and ``leaderboard``."""
    missing = [c for c in COLUMNS if c not in curves.columns]
    if missing:
        raise ValueError(f"The curves lack column(s) {', '.join(missing)}; image_arena's curves have "
                         f"{', '.join(COLUMNS)}.")
    finals = _finals(curves)
    grid = _grid(finals)
    best = grid[grid.best].drop(columns="best").reset_index(drop=True)
    return {"finals": finals, "grid": grid, "best": best, "leaderboard": _leaderboard(finals, best)}


def image_arena(settings: Mapping[str, Any], device: str | torch.device = "auto",
                seed: int = 0) -> dict[str, pd.DataFrame]:
    """Every contestant of ``settings.methods`` on the digits (or MNIST) DCGAN game, over the step-size
    grid ``lrs`` and the seeds ``seed, ..., seed + seeds - 1`` (the same for all); see the module
    docstring for the setup. ``settings`` is the arena's ``image`` group (``profiles.get("arena",
    profile).image``), checked first by :func:`check_image_settings`. Returns:

    * ``curves``: tidy, one row per evaluation: ``method, lr, seed, step, evals`` (player-gradient
      evaluations), ``seconds`` (training time so far), ``metric`` (``"fd"``), ``value``, and ``best``
      (whether ``lr`` is the method's best grid point);
    * ``finals``: the last evaluation of every run (``fd`` NaN for a diverged run);
    * ``grid``: per method and lr, the mean final FD (inf when a seed diverged), seeds, diverged, ``best``;
    * ``best``: the grid's best rows, one per method;
    * ``leaderboard``: per method at its best lr and equal budget, the final FD's geometric mean, its 95%
      interval (t on the log scale),
      n (seeds kept), diverged seeds and the interval as text, best first;
    * ``reference``: ProCoGAN's FD over the seeds (another generator class: linear, closed form), its
      parameter count (entries of its linear maps) and fit seconds; the real test images (the floor);
      the untrained DCGAN (FD at 0 evaluations, its generator's parameters).
    """
    check_image_settings(settings)
    arena = _Arena(settings, device)
    names = [n for n in CONTESTANTS if n in settings["methods"]]
    seeds = list(range(seed, seed + settings["seeds"]))
    tables = []
    init_steps = dogan_steps(settings)[0] if DO_GAN in names else None
    for lr in settings["lrs"]:
        for s in seeds:
            per_step, first = arena.per_step([n for n in names if n != DO_GAN], lr, s, init_steps)
            tables += per_step
            if first is not None:
                tables.append(arena.dogan(lr, s, first))
    curves = ordered_curves(pd.concat(tables, ignore_index=True), names)
    tables = image_tables(curves)
    curves = ordered_curves(curves, names, tables["best"])
    start = curves[(curves.evals == 0) & (curves.lr == settings["lrs"][0])].drop_duplicates("seed")
    return {"curves": curves, **tables, "reference": arena.reference(seeds, start)}
