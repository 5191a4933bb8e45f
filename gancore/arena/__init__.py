"""The arena: every method of the five papers on the same games, with the same budgets and metrics.

* :mod:`~gancore.arena.methods`: the contestants (solver + who-updates policy), budgets in
  player-gradient evaluations;
* :mod:`~gancore.arena.known`: the quadratic-discriminator WGAN of Sahiner et al., the one GAN game
  whose global optimum is known in closed form; every method scored by its distance to it;
* :mod:`~gancore.arena.ring`: the ring of Gaussians, one network pair for all methods;
* :mod:`~gancore.arena.images`: one DCGAN pair on digits (MNIST in the paper profile);
* :mod:`~gancore.arena.learn`: the stored runs at a budget where methods learn (budget choice, tuning on
  seeds never reported, the report, expected best-of-k), the sweep experiment ``arena.learn``.
"""

from . import learn
from .images import check_image_settings, image_arena, image_tables
from .known import KnownProblem, known_problem
from .known_tables import known_arena
from .methods import (ALPHA_GAN, BETAS, COLUMNS, CONTESTANTS, DELTA, DO_GAN, METHODS, Method, check_group, contestant,
                      dogan_steps, method)
from .ring import RING_METRICS, check_ring_settings, ring_arena, ring_tables

__all__ = ["learn", "Method", "METHODS", "method", "BETAS", "DELTA", "ALPHA_GAN", "DO_GAN", "CONTESTANTS", "COLUMNS",
           "contestant", "dogan_steps", "check_group", "image_arena", "image_tables", "check_image_settings", "RING_METRICS",
           "ring_arena", "ring_tables", "check_ring_settings", "KnownProblem", "known_problem", "known_arena"]
