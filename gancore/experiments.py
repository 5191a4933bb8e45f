"""Recipes the chapters share: the image experiment, and budgets at equal wall-clock time.

The image experiment (SRFB, alpha-GAN and repeated-game chapters) is one chain:

    data set -> feature space -> reference statistics                          :func:`image_data`
    -> a seeded generator/discriminator pair sized by the data -> the optimizers
    -> :func:`gancore.train.fit`, evaluating every ``eval_every`` steps (and at 0 and the end):
       samples of fixed noise generated in chunks -> Frechet distance to the reference
    -> a tidy table, one row per evaluation and metric                         :func:`image_experiment`

What differs between chapters is a setting of the recipe, never a branch in it: the optimizers (a
factory ``optimizers(G, D) -> (opt_G, opt_D)``; :func:`adam` for the common case), the loss, the
who-updates policy, the evaluation interval (in steps or in gradient evaluations), an averaged
generator evaluated beside the last iterate, a projection of the discriminator (weight clipping),
and how batch norm is treated when sampling.

The ring experiment over many seeds (toolkit and alpha-GAN chapters, and ``gancore.sweep``) trains
the seeds as one batched computation (:mod:`gancore.ensemble`) and evaluates the ring metrics of
every member along training: :func:`ring_ensemble` returns the tidy table, :func:`final_evaluation`
the last evaluation of every member; :func:`toolkit_ring` and :func:`alpha_ring` are the two
chapters' experiments as functions ``f(settings, seeds, device) -> {table name: DataFrame}``.

Independent runs of a chapter (seeds, grid points) use every core through
:func:`gancore.processes.in_processes` (re-exported here): one
single-threaded process per core, as portable numerics run them.
"""

from __future__ import annotations

import functools
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel
from torch.utils.data import Dataset

from . import data, ensemble, losses, metrics, models, repeated, solvers, train
from .processes import in_processes

__all__ = ["ImageData", "image_data", "ImageRun", "image_experiment", "adam", "equal_time_steps", "COUNTS",
           "ring_players", "ring_ensemble", "final_evaluation", "alpha_cells", "alpha_ring", "toolkit_ring", "repeated_ring", "repeated_images", "equal_time_run",
           "in_processes", "shared_image_data", "image_experiment_on", "srfb_images", "srfb_images_steps"]

Optimizers = Callable[[nn.Module, nn.Module], tuple[torch.optim.Optimizer, torch.optim.Optimizer]]
COUNTS = ("steps", "grad_evals")
CHECKPOINT_STEPS = 1000  # a checkpointed ring run writes one at the first evaluation this many steps after the last


@dataclass
class ImageData:
    """An image data set with the feature space its generators are measured in and the reference
    statistics (mean, covariance) of its real training images in that space."""

    name: str
    images: Dataset
    space: metrics.FeatureSpace
    reference: tuple[np.ndarray, np.ndarray]
    root: str | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        """(channels, height, width) of one image."""
        return tuple(self.images[0][0].shape)

    def floor(self, n: int | None = None) -> float:
        """The Frechet distance of ``n`` real test images (all if None) from the reference: what a
        generator as good as fresh real data would score (not 0: the test split is a finite sample)."""
        test = data.as_tensor(data.load(self.name, root=self.root, split="test"), limit=n)
        return self.space.frechet(test, self.reference)


def image_data(name: str, root: str | None = None, reference_n: int | None = None, kind: str = "auto") -> ImageData:
    """Load ``name``, its feature space (:func:`gancore.metrics.feature_space`, ``kind``) and the
    statistics of ``reference_n`` real training images (all if None; cached on disk)."""
    images = data.load(name, root=root)
    space = metrics.feature_space(name, root=root, kind=kind)
    reference = space.reference_stats(name, "train", n=reference_n, root=root)
    return ImageData(name, images, space, reference, root)


@functools.lru_cache(maxsize=4)
def shared_image_data(name: str, root: str | None = None, reference_n: int | None = None) -> ImageData:
    """:func:`image_data`, loaded once per process and shared by the calls that ask for the same
    data: what a job of :func:`in_processes` uses, so that names, not data sets, go to the processes."""
    return image_data(name, root=root, reference_n=reference_n)


def image_experiment_on(data_name: str, root: str | None = None, reference_n: int | None = None,
                        **options: Any) -> ImageRun:
    """:func:`image_experiment` ``(images, **options)`` on :func:`shared_image_data` ``(data_name, root,
    reference_n)``: the image experiment as a job for :func:`in_processes`."""
    return image_experiment(shared_image_data(data_name, root, reference_n), **options)


@dataclass
class ImageRun:
    """What :func:`image_experiment` returns.

    ``table``: tidy, one row per evaluation and metric, columns ``seed``, the ``labels``, ``step``,
    ``grad_evals``, ``seconds``, ``metric`` (``frechet``, and ``frechet (average)`` for an averaged
    generator) and ``value``; a run that diverged has one row per metric at the step it diverged,
    value NaN. ``samples``: ``"G"`` (and ``"average"``) generated from the first ``n_samples`` codes
    of the evaluation noise (empty after a divergence). ``result``: the :class:`gancore.train.TrainResult`
    (None after a divergence, when ``diverged_at`` is the step)."""

    table: pd.DataFrame
    samples: dict[str, torch.Tensor]
    G: nn.Module
    D: nn.Module
    averaged: AveragedModel | None = None
    result: train.TrainResult | None = None
    diverged_at: int | None = None
    labels: dict[str, Any] = field(default_factory=dict)

    def wide(self) -> pd.DataFrame:
        """One row per evaluation (``step``, ``grad_evals``, ``seconds``), one column per metric."""
        index = ["step", "grad_evals", "seconds"]
        wide = self.table.pivot(index=index, columns="metric", values="value").reset_index()
        wide.columns.name = None
        return wide


def _adam_pair(G: nn.Module, D: nn.Module, lr: float,
               betas: tuple[float, float]) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
    return torch.optim.Adam(G.parameters(), lr, betas=betas), torch.optim.Adam(D.parameters(), lr, betas=betas)


def adam(lr: float, betas: tuple[float, float] = (0.9, 0.999)) -> Optimizers:
    """The optimizers factory for :func:`image_experiment`: Adam with the same settings for both players
    (picklable, so an experiment can run in another process: :func:`in_processes`)."""
    return functools.partial(_adam_pair, lr=lr, betas=betas)


def image_experiment(
    images: ImageData,
    *,
    loss: Any,
    optimizers: Optimizers,
    steps: int,
    batch_size: int,
    latent_dim: int,
    width: int,
    architecture: str = "dcgan",
    policy: str | train.Policy = "simultaneous",
    seed: int = 0,
    device: str | torch.device = "auto",
    eval_every: int = 0,
    count: str = "steps",
    n_eval: int = 1000,
    eval_seed: int = 12345,
    chunk: int = 500,
    batch_statistics: bool = False,
    average: Callable[[nn.Module], AveragedModel] | None = None,
    projection_D: Callable[[nn.Module], None] | None = None,
    n_samples: int = 64,
    labels: Mapping[str, Any] | None = None,
    held_out: torch.Tensor | None = None,
    **fit_options: Any,
) -> ImageRun:
    """Train one GAN on ``images`` and measure it along the way; returns an :class:`ImageRun`.

    The pair is ``architecture`` (see :func:`gancore.models.gan_pair`: ``dcgan``, ``sngan``, ...)
    sized by the images, with ``width`` channels and ``latent_dim`` noise, built generator first
    after ``torch.manual_seed(seed)`` and moved to ``device``. ``projection_D`` (weight clipping)
    is applied to the fresh discriminator, then after every D update by ``fit``. The optimizers come
    from ``optimizers(G, D)``. With ``average`` (e.g. :func:`gancore.solvers.ergodic_average`), the
    averaged generator ``average(G)`` is updated after every step of G's optimizer and measured too
    (at step 0 it is the initial generator).

    ``steps`` and ``eval_every`` count ``count``: ``"steps"`` of ``fit``, or ``"grad_evals"``, the
    players' gradient evaluations, so that a two-evaluation solver (extragradient,
    ``grad_evals_per_step = 2``) runs half the steps of a one-evaluation solver on the same budget.

    Every evaluation generates ``n_eval`` images from fixed noise (:func:`gancore.metrics.fixed_noise`
    with ``eval_seed``), ``chunk`` at a time (:func:`gancore.metrics.sample_in_chunks`; batch norm in
    eval mode, or normalising each chunk by its own statistics with ``batch_statistics=True``) and
    scores their Frechet distance to ``images.reference`` in ``images.space``. A loss that turns NaN
    or infinite ends the run with NaN values (see :class:`ImageRun`). ``labels`` (method, loss,
    learning rate, ...) become columns of the table; ``fit_options`` go to :func:`gancore.train.fit`.
    With ``held_out`` real images, the discriminator is measured too, in eval mode, on them against
    the evaluation's images (:func:`gancore.metrics.discriminator_metrics`: ``d_accuracy``, ``d_loss``).
    """
    if count not in COUNTS:
        raise ValueError(f"Invalid count {count!r}: steps and eval_every count one of {', '.join(COUNTS)}.")
    device = train.resolve_device(device)
    make_G, make_D = models.gan_pair(architecture, images.shape, latent_dim, width)
    torch.manual_seed(seed)
    G, D = make_G(), make_D()
    G.to(device), D.to(device)
    if projection_D is not None:
        projection_D(D)
    opt_G, opt_D = optimizers(G, D)
    per_step = getattr(opt_G, "grad_evals_per_step", 1) if count == "grad_evals" else 1
    averaged = None
    if average is not None:
        averaged = average(G)
        opt_G.register_step_post_hook(lambda *_: averaged.update_parameters(G))
    z = metrics.fixed_noise(n_eval, latent_dim, eval_seed)

    def frechet(generator: nn.Module) -> float:
        fake = metrics.sample_in_chunks(generator, z, chunk, batch_statistics)
        return images.space.frechet(fake, images.reference)

    def evaluate(step: int, G: nn.Module, D: nn.Module) -> dict[str, float]:
        if held_out is None:
            row = {"frechet": frechet(G)}
        else:
            fake = metrics.sample_in_chunks(G, z, chunk, batch_statistics)
            row = {"frechet": images.space.frechet(fake, images.reference)}
            was, _ = D.training, D.eval()
            row |= {k: float(v) for k, v in metrics.discriminator_metrics(D, held_out, fake).items()}
            D.train(was)
        if averaged is not None:
            row["frechet (average)"] = frechet(averaged.module) if step > 0 else row["frechet"]
        return row

    labels = {"seed": seed, **(labels or {})}
    result, diverged_at, samples = None, None, {}
    try:
        result = train.fit(G, D, images.images, loss=loss, opt_G=opt_G, opt_D=opt_D, steps=steps // per_step,
                           batch_size=batch_size, latent_dim=latent_dim, policy=policy, seed=seed, device=device,
                           evaluate=evaluate, eval_every=eval_every // per_step, projection_D=projection_D,
                           **fit_options)
        evals = result.evals
    except train.TrainingDiverged as err:
        diverged_at = err.step
        names = ["frechet"] + (["frechet (average)"] if averaged is not None else []) + (
            ["d_accuracy", "d_loss"] if held_out is not None else [])
        evals = pd.DataFrame([{"step": err.step, "grad_evals": np.nan, "seconds": np.nan,
                               **{name: np.nan for name in names}}])
    if result is not None and n_samples > 0:
        samples["G"] = metrics.sample_in_chunks(G, z[:n_samples], n_samples, batch_statistics)
        if averaged is not None:
            samples["average"] = metrics.sample_in_chunks(averaged.module, z[:n_samples], n_samples, batch_statistics)
    table = evals.melt(id_vars=["step", "grad_evals", "seconds"], var_name="metric", value_name="value")
    for position, (key, value) in enumerate(labels.items()):
        table.insert(position, key, value)
    return ImageRun(table, samples, G, D, averaged, result, diverged_at, labels)


def equal_time_steps(steps: int, time_per_batch: Mapping[str, float], method: str,
                     reference: str = "simultaneous") -> int:
    """Batches ``method`` gets in the wall-clock time ``reference`` needs for ``steps`` batches,
    ``floor(steps * t_reference / t_method)``, from per-batch times measured once (not this run's)."""
    return int(steps * time_per_batch[reference] / time_per_batch[method])


def equal_time_run(steps: int, eval_every: int, time_per_batch: Mapping[str, float], method: str,
                   max_time_factor: float) -> tuple[int, int]:
    """``(budget, length)``: the batches ``method`` gets at equal wall-clock (:func:`equal_time_steps`,
    capped at ``max_time_factor * steps``), and the run's length in batches, covering both ``steps``
    and the budget in whole evaluation intervals."""
    budget = min(equal_time_steps(steps, time_per_batch, method), int(max_time_factor * steps))
    return budget, max(steps, -(-budget // eval_every) * eval_every)


# --------------------------------------------------------------------------- the ring over many seeds

Players = tuple[Callable[[], nn.Sequential], Callable[[], nn.Sequential]]


def ring_players(g_width: int, d_width: int, depth: int) -> Players:
    """``(make_G, make_D)`` for 2-D data: a ReLU MLP generator 2 -> 2 and a LeakyReLU MLP
    discriminator 2 -> 1 (logits), ``depth`` hidden layers each (the alpha-GAN paper's ring networks
    are 4 x 400 and 4 x 200)."""
    return (lambda: models.mlp_generator(2, 2, width=g_width, depth=depth),
            lambda: models.mlp_discriminator(2, width=d_width, depth=depth))


def ring_ensemble(ring, players: Players, seeds: Sequence[int], labels: Sequence[Mapping[str, Any]], *,
                  loss: Any, lr: float, betas: tuple[float, float], steps: int, batch_size: int, n_eval: int,
                  eval_every: int, eval_seed: int = 0, device: str | torch.device = "auto") -> pd.DataFrame:
    """Train one ring GAN per entry of ``seeds`` (seeds may repeat across the groups of a
    :func:`gancore.ensemble.grouped_loss`) as one ensemble: Adam(``lr``, ``betas``) for both players,
    one discriminator step then one generator step per batch of ``batch_size``. The ring metrics of
    ``n_eval`` samples of fixed noise (``eval_seed``) of every member are evaluated at step 0, every
    ``eval_every`` steps (0: never in between) and at the end. ``ring`` is a data set carrying
    ``.means`` and ``.sigma`` (``data.load("ring")`` or ``"grid"``). Returns the tidy table of
    :func:`gancore.ensemble.tidy_evals`, ``labels[k]`` (seed and setting) naming member k."""
    return _fit_ring_ensemble(ring, players, seeds, labels, loss=loss, lr=lr, betas=betas, steps=steps,
                              batch_size=batch_size, n_eval=n_eval, eval_every=eval_every, eval_seed=eval_seed,
                              device=device)[1]


def _fit_ring_ensemble(ring, players: Players, seeds: Sequence[int], labels: Sequence[Mapping[str, Any]], *,
                       loss: Any, lr: float, betas: tuple[float, float], steps: int, batch_size: int, n_eval: int,
                       eval_every: int, eval_seed: int, device: str | torch.device,
                       checkpoint: Path | None = None) -> tuple[ensemble.BatchedMLP, pd.DataFrame]:
    """:func:`ring_ensemble`, also returning the trained ensemble of generators; with ``checkpoint``
    (a file), checkpointed at evaluations at least ``CHECKPOINT_STEPS`` apart (and at the end; a 116 MB
    write for 16 members of the paper's networks) and resumed from it."""
    make_G, make_D = players
    G, _, result = ensemble.fit(make_G, make_D, ring, seeds, loss=loss, lr_G=lr, lr_D=lr, betas=betas, steps=steps,
                                batch_size=batch_size, latent_dim=2, policy="alternating", device=device,
                                progress=False, log_every=max(1, steps // 10),
                                evaluate=metrics.ring_evaluator(ring.means, ring.sigma, n_eval, seed=eval_seed, chunk=64),
                                eval_every=eval_every, checkpoint=checkpoint,
                                checkpoint_every=eval_every * -(-CHECKPOINT_STEPS // max(eval_every, 1)) if checkpoint else 0)
    return G, ensemble.tidy_evals(result.evals, labels)


def final_evaluation(curves: pd.DataFrame) -> pd.DataFrame:
    """The last evaluation of every member of a tidy table (:func:`gancore.ensemble.tidy_evals`),
    wide: one row per member, its label columns (those before ``step``) then one column per metric,
    members and metrics in the table's order."""
    labels = list(curves.columns[:list(curves.columns).index("step")])
    last = curves[curves["step"] == curves.groupby(labels, sort=False)["step"].transform("max")]
    names = list(dict.fromkeys(last["metric"]))
    wide = last[last["metric"] == names[0]][labels].reset_index(drop=True)
    for name in names:
        wide[name] = last.loc[last["metric"] == name, "value"].to_numpy()
    return wide


def alpha_cells(settings: Mapping[str, Any]) -> list[tuple[str, float, float]]:
    """The (generator, alpha_D, alpha_G) cells of the alpha-GAN chapter in ``settings`` (its profile):
    Fig. 2b (saturating, alpha_G = 1, every ``fig2b.alpha_d``), the saturating grid ``sat.alpha_d x
    sat.alpha_g`` (Tables I-II) and the non-saturating grid ``ns.alpha_d x ns.alpha_g`` (Table III);
    sorted, each once."""
    P = settings
    return sorted({("saturating", a_d, 1.0) for a_d in P["fig2b"]["alpha_d"]}
                  | {("saturating", a_d, a_g) for a_d in P["sat"]["alpha_d"] for a_g in P["sat"]["alpha_g"]}
                  | {("ns", a_d, a_g) for a_d in P["ns"]["alpha_d"] for a_g in P["ns"]["alpha_g"]})


def alpha_ring(settings: Mapping[str, Any], seeds: Sequence[int], device: str | torch.device = "auto",
               eval_seed: int = 0, n_samples: int = 0,
               checkpoint_dir: str | os.PathLike | None = None) -> dict[str, pd.DataFrame]:
    """The alpha-GAN chapter's ring experiment (Welfert et al., ISIT23 Sec. III-A) on ``seeds``: every
    cell of :func:`alpha_cells` trains on the same seeds (the same initialisations, data order and
    noise; cells differ only in their loss, the alpha-loss with ``p_min``), ``cells_per_run`` cells
    per batched run (all in one when None), with the ``ring`` group's networks, Adam settings, steps
    and batch size (``ring.seeds`` is not used: the seeds are given). Evaluated at step 0, every
    ``ring.eval_every`` steps and at the end. With ``checkpoint_dir`` every batched run keeps a
    checkpoint there (``cells-<first cell>.pt``, at evaluations ``CHECKPOINT_STEPS`` apart) and continues from
    it when run again: an interrupted run loses at most ``max(eval_every, CHECKPOINT_STEPS)`` steps. Returns
    ``{"ring": one row per cell and seed (generator, alpha_d, alpha_g,
    seed, modes, hqs, success, failure, kl) after training, "curves": the tidy table along training}``;
    with ``n_samples > 0`` also ``"samples"``: ``n_samples`` samples of every member after training from
    the same fixed noise (:func:`gancore.ensemble.sample` with ``eval_seed``), one row per sample with
    the member's labels and its coordinates ``x``, ``y``."""
    P, R, seeds = settings, settings["ring"], list(seeds)
    cells = alpha_cells(P)
    per_run = P["cells_per_run"] or len(cells)
    tables, samples = [], []
    for start in range(0, len(cells), per_run):
        chunk = cells[start:start + per_run]
        loss = ensemble.grouped_loss([losses.gan_loss("alpha", alpha_d=a_d, alpha_g=a_g, generator=generator,
                                                      p_min=P["p_min"]) for generator, a_d, a_g in chunk],
                                     [len(seeds)] * len(chunk))
        labels = [{"generator": g, "alpha_d": a_d, "alpha_g": a_g, "seed": s} for g, a_d, a_g in chunk for s in seeds]
        G, table = _fit_ring_ensemble(data.load("ring"), ring_players(R["g_width"], R["d_width"], R["depth"]),
                                      seeds * len(chunk), labels, loss=loss, lr=R["lr"], betas=R["betas"],
                                      steps=R["steps"], batch_size=R["batch_size"], n_eval=R["n_eval"],
                                      eval_every=R["eval_every"], eval_seed=eval_seed, device=device,
                                      checkpoint=None if checkpoint_dir is None
                                      else Path(checkpoint_dir) / f"cells-{start}.pt")
        tables.append(table)
        if n_samples > 0:
            x = ensemble.sample(G, n_samples, 2, seed=eval_seed).cpu().reshape(-1, 2).numpy()
            rows = pd.DataFrame([label for label in labels for _ in range(n_samples)])
            samples.append(rows.assign(x=x[:, 0], y=x[:, 1]))
    curves = pd.concat(tables, ignore_index=True)
    out = {"ring": final_evaluation(curves), "curves": curves}
    if samples:
        out["samples"] = pd.concat(samples, ignore_index=True)
    return out


def toolkit_ring(settings: Mapping[str, Any], seeds: Sequence[int], device: str | torch.device = "auto",
                 eval_seed: int = 12345) -> dict[str, pd.DataFrame]:
    """The toolkit chapter's experiment on ``seeds``: the non-saturating GAN on ``settings.data``
    (``ring`` or ``grid``) with its networks, Adam settings, steps and batch size, one seed per
    ensemble member, the metrics of ``n_eval`` samples evaluated every ``eval_every`` steps.
    Returns ``{"ring": one row per seed after training, "curves": the tidy table along training}``."""
    P, seeds = settings, list(seeds)
    curves = ring_ensemble(data.load(P["data"]), ring_players(P["g_width"], P["d_width"], P["depth"]), seeds,
                           [{"seed": s} for s in seeds], loss=losses.gan_loss("ns"), lr=P["lr"], betas=P["betas"],
                           steps=P["steps"], batch_size=P["batch_size"], n_eval=P["n_eval"],
                           eval_every=P["eval_every"], eval_seed=eval_seed, device=device)
    return {"ring": final_evaluation(curves), "curves": curves}


def repeated_ring(settings: Mapping[str, Any], seeds: Sequence[int], device: str | torch.device = "auto",
                  eval_seed: int = 0) -> dict[str, pd.DataFrame]:
    """The repeated-game chapter's experiment on ``seeds``: each method of
    :data:`gancore.repeated.METHODS` trains one ring GAN per seed (one ensemble; the same
    initialisations, data order and noise for every method) with the profile's ``ring`` networks,
    Adam and batches, for :func:`equal_time_run` batches (the profile's ``steps`` or the method's
    equal-wall-clock budget, whichever is longer). Every ``eval_every`` batches both modules are
    measured: G by the ring metrics of ``n_eval`` samples of fixed noise (``eval_seed``), D by
    :func:`gancore.metrics.discriminator_metrics` on ``n_eval`` held-out samples of the ring (its test
    split) against those samples. Returns ``{"curves": one row per method, seed and evaluation,
    "steps": one row per method and seed (budget, length, the run's seconds per batch, the shares of
    batches on which D and G stepped)}``."""
    P, R, seeds = settings, settings["ring"], list(seeds)
    ring = data.load("ring")
    real = data.as_tensor(data.load("ring", split="test"), R["n_eval"])
    curves, steps = [], []
    for method in repeated.METHODS:
        budget, length = equal_time_run(R["steps"], R["eval_every"], P["time_per_batch"]["ring"], method,
                                        P["max_time_factor"])
        policy, loss = repeated.method_policy(method)
        _, _, result = ensemble.fit(
            *models.gan_pair("vanilla", (2,), latent_dim=2, width=R["width"], depth=R["depth"]), ring, seeds,
            loss=loss, lr_G=R["lr"], lr_D=R["lr"], betas=P["betas"], steps=length, batch_size=R["batch_size"],
            latent_dim=2, policy=policy, device=device, progress=False, log_every=max(1, length // 10),
            evaluate=metrics.ring_evaluator(ring.means, ring.sigma, R["n_eval"], 2, eval_seed, real=real),
            eval_every=R["eval_every"])
        evals = metrics.per_member(result.evals)
        curves.append(evals.assign(method=method, seed=[seeds[m] for m in evals.member]))
        stepped = (policy.history().groupby("member")[["update_D", "update_G"]].mean().to_numpy(float).T
                   if isinstance(policy, repeated.Cooperative) else np.ones((2, len(seeds))))
        steps.append(pd.DataFrame({"method": method, "seed": seeds, "budget": budget, "length": length,
                                   "seconds_per_batch": result.seconds / result.steps,
                                   "D_stepped": stepped[0], "G_stepped": stepped[1]}))
    curves = pd.concat(curves, ignore_index=True).drop(columns="member")
    front = ["method", "seed", "step"]
    return {"curves": curves[front + [c for c in curves.columns if c not in front]],
            "steps": pd.concat(steps, ignore_index=True)}


def srfb_images(settings: Mapping[str, Any], seeds: Sequence[int],
                device: str | torch.device = "auto") -> dict[str, pd.DataFrame]:
    """The SRFB chapter's stored image experiment (a proxy: the paper's setting is not available) on
    ``seeds``: for each method of ``settings.images.methods`` (names of :func:`gancore.solvers.solver`)
    at each of the step sizes ``images.lrs`` (shared by all), a WGAN on ``images.data`` whose critic's
    weights are clipped to ``[-clip, clip]`` (SRFB's and EG's projection), :func:`image_experiment`
    with the profile's DCGAN ``width``, ``latent``, ``batch_size``, a ``budget`` of gradient evaluations
    (equal for all), a uniform average of G beside the last iterate. Returns ``{"frechet": the runs'
    tidy tables}`` (columns ``seed, data, method, lr, step, grad_evals, seconds, metric, value``);
    SRFB's ``delta`` is the profile's."""
    P, Q = settings, settings["images"]
    clip = solvers.BoxProjection(-P["clip"], P["clip"])
    images = shared_image_data(Q["data"], P["data_root"])
    tables = [image_experiment(
        images, loss=losses.gan_loss("wasserstein"), optimizers=solvers.image_optimizers(method, lr, P["delta"], clip),
        steps=Q["budget"], eval_every=Q["eval_every"], count="grad_evals", batch_size=Q["batch_size"],
        latent_dim=Q["latent"], width=Q["width"], seed=s, device=device, n_eval=Q["n_fd"], chunk=500,
        batch_statistics=True, average=solvers.ergodic_average,
        projection_D=functools.partial(solvers.project_, projection=clip),
        labels={"data": Q["data"], "method": method, "lr": lr}, progress=False).table
        for method in Q["methods"] for lr in Q["lrs"] for s in seeds]
    return {"frechet": pd.concat(tables, ignore_index=True)}


def srfb_images_steps(settings: Mapping[str, Any], n: int) -> int:
    """The gradient evaluations of a job of ``n`` seeds of :func:`srfb_images` (the sweep's progress unit)."""
    Q = settings["images"]
    return n * len(Q["methods"]) * len(Q["lrs"]) * Q["budget"]


def repeated_images(settings: Mapping[str, Any], seeds: Sequence[int],
                    device: str | torch.device = "auto") -> dict[str, pd.DataFrame]:
    """The repeated-game chapter's image experiment on ``seeds``: for each data set of
    ``settings.image.data`` (its training images; Frechet distance to its reference in its feature
    space), each seed and each method of :data:`gancore.repeated.METHODS`, one DCGAN (width
    ``image.width``, ``image.latent`` noise) trained for ``image.steps`` batches with Adam, the
    generator's Frechet distance and the discriminator's held-out accuracy and loss (on ``n_fid``
    test images, :func:`image_experiment` ``held_out``) every ``image.eval_every`` batches. Returns
    ``{"curves": one row per data set, method, seed and evaluation}``; the same seed starts every
    method from the same networks, data order and noise."""
    P, Q, rows = settings, settings["image"], []
    for name in Q["data"]:
        images = image_data(name, root=P["data_root"])
        held_out = data.as_tensor(data.load(name, P["data_root"], split="test"), P["n_fid"])
        for seed in seeds:
            for method in repeated.METHODS:
                policy, loss = repeated.method_policy(method)
                run = image_experiment(images, loss=loss, optimizers=adam(Q["lr"], P["betas"]), policy=policy,
                                       steps=Q["steps"], batch_size=Q["batch_size"], latent_dim=Q["latent"],
                                       width=Q["width"], seed=seed, device=device, eval_every=Q["eval_every"],
                                       n_eval=P["n_fid"], eval_seed=1, n_samples=0, log_every=max(1, Q["steps"] // 10),
                                       held_out=held_out)
                rows.append(run.wide().assign(data=name, method=method, seed=seed))
    curves = pd.concat(rows, ignore_index=True)
    front = ["data", "method", "seed", "step"]
    return {"curves": curves[front + [c for c in curves.columns if c not in front]]}
