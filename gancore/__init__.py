"""gancore: games in GAN training, one small tested library for the compendium's chapters.

Modules (one idea each): data, models, losses, games, solvers, train, ensemble, oracle, convex,
metrics, plotting, profiles, runs. Import them explicitly, e.g. ``from gancore import train``.
"""

__version__ = "0.1.0"
