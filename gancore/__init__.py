"""gancore: games in GAN training, one small tested library for the compendium's chapters.

Modules, one idea each, in layers: a module imports only modules of lower layers. The one table of
the layers is ``LAYERS`` in tests/test_house.py, which checks the imports against it from the source.

Import them explicitly, e.g. ``from gancore import train``. With ``GANCORE_NUMERICS=portable`` in the
environment (the Makefile sets it), importing gancore switches this process to portable numerics
(:mod:`gancore.numerics`), so executed notebooks come out the same on any x86-64 CPU with AVX2.
"""

from . import numerics as _numerics

__version__ = "0.1.0"

_numerics.configure()  # portable numerics when asked for, and in every chapter kernel (see gancore.numerics)
