"""gancore: games in GAN training, one small tested library for the compendium's chapters.

Modules, one idea each, in layers (a module imports only modules of lower layers; tests/test_house.py
checks this from the source, after ../shared/ARCHITECTURE.md):

-1  storage: atomic writes, checksummed torch files, safe loading; numerics: portable CPU numerics
 0  data, models, losses, profiles, streams (a run's random streams), checkpoint, stats
 1  solvers, metrics, divergences (f-divergence theory of the alpha-GAN paper)
 2  games, train (the one training loop and its who-updates policies)
 3  ensemble, repeated (the cooperative policy), oracle (matrix games, double oracle), convex (package)
 4  dogan (DO-GAN, EWC), experiments (the recipes chapters share), plotting
 5  runs (executing chapters, stored runs), sweep (grids x seeds on Dask)

Import them explicitly, e.g. ``from gancore import train``. With ``GANCORE_NUMERICS=portable`` in the
environment (the Makefile sets it), importing gancore switches this process to portable numerics
(:mod:`gancore.numerics`), so executed notebooks come out the same on any x86-64 CPU with AVX2.
"""

from . import numerics as _numerics

__version__ = "0.1.0"

_numerics.configure()  # portable numerics when asked for, and in every chapter kernel (see gancore.numerics)
