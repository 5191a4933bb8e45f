"""The experiments a sweep can run (:mod:`gancore.sweep`): each chapter's stored experiments as
library functions, registered by name."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import pandas as pd

from . import arena, convex, dogan, experiments, profiles, repeated, wgan1d

__all__ = ["Experiment", "EXPERIMENTS"]


@dataclass(frozen=True)
class Experiment:
    """An experiment as a sweep runs it. ``run(settings, seeds, device) -> {table name: DataFrame}``
    returns tidy tables with a ``seed`` column; ``seed_steps(settings, n)`` is the number of
    training steps summed over the runs of a job of ``n`` seeds (the progress bar's unit); ``name``
    enters the job ids. ``checkpoints``: ``run`` also takes ``checkpoint_dir=``, a folder where it
    keeps checkpoints and from which it continues an interrupted job."""

    name: str
    run: Callable[..., dict[str, pd.DataFrame]]
    seed_steps: Callable[[profiles.Settings, int], int]
    checkpoints: bool = False


EXPERIMENTS: dict[str, Experiment] = {
    "alpha_gan": Experiment("experiments.alpha_ring", experiments.alpha_ring,
                            lambda P, n: n * len(experiments.alpha_cells(P)) * P.ring.steps, checkpoints=True),
    "toolkit": Experiment("experiments.toolkit_ring", experiments.toolkit_ring, lambda P, n: n * P.steps),
    "srfb.average": Experiment("wgan1d.average_runs", wgan1d.average_runs, wgan1d.average_steps),
    "srfb.images": Experiment("experiments.srfb_images", experiments.srfb_images, experiments.srfb_images_steps),
    "double_oracle.meta": Experiment("dogan.ring_meta", dogan.ring_meta, dogan.ring_meta_steps),
    "convex_wgan.procogan": Experiment("convex.procogan_runs", convex.procogan_runs, convex.procogan_steps),
    "repeated_game": Experiment("experiments.repeated_ring", experiments.repeated_ring,
                                lambda P, n: n * len(repeated.METHODS) * P.ring.steps),
    "repeated_game.images": Experiment("experiments.repeated_images", experiments.repeated_images,
                                       lambda P, n: n * len(repeated.METHODS) * len(P.image.data) * P.image.steps),
    "arena.learn": Experiment("arena.learn.learn_runs", arena.learn.learn_runs, arena.learn.learn_steps),
}
"""The experiments a sweep can run, each with its library experiment function, keyed by the chapter
(its main experiment) or ``chapter.experiment`` (another experiment of that chapter, e.g.
``srfb.average``): the chapter's profile gives the settings and its folder ``results/chapter/`` holds
the sweep."""
