"""Portable CPU numerics: the same bits from the same seed on any x86-64 CPU with AVX2.

GAN training amplifies the last bit of a float into a different run, and torch's CPU kernels are
chosen per machine: MKL's and ATen's code paths by the CPU's widest vector instructions, oneDNN's
convolutions by instructions and cache sizes. Notebooks executed on one CPU therefore did not come
out on another (seen here: the DO-GAN chapter's first ring iteration has meta-game value 1.225 on the
CPU that executed it and 1.233 on an AVX-512 FP16 one, with the same code, seed and thread count).
Portable mode pins every choice:

- ``MKL_CBWR=AVX2,STRICT``: MKL's conditional numerical reproducibility, its AVX2 branch on every CPU
  that has AVX2, and (``STRICT``) the same results for any number of threads;
- ``ATEN_CPU_CAPABILITY=avx2``: ATen's vectorised kernels from their AVX2 build;
- ``torch.backends.mkldnn.enabled = False``: convolutions through ATen and MKL instead of oneDNN.

The first two are read when torch starts, so they must be in the process's environment before torch
is imported: the Makefile exports them with ``GANCORE_NUMERICS=portable`` for every chapter, sweep,
test and nbval run, and ``import gancore`` then applies the third (:func:`apply`). Results in portable
mode differ from those of the default mode (a different, equally valid rounding); a machine without
AVX2 (or a non-x86 CPU) cannot reproduce them bit for bit.
"""

from __future__ import annotations

import os

import torch

__all__ = ["SWITCH", "ENVIRONMENT", "missing", "apply", "mode", "describe", "environment"]

SWITCH = "GANCORE_NUMERICS"
ENVIRONMENT = {"MKL_CBWR": "AVX2,STRICT", "ATEN_CPU_CAPABILITY": "avx2"}


def missing() -> list[str]:
    """The settings of :data:`ENVIRONMENT` that this process's environment lacks or sets otherwise,
    as ``NAME=value`` to export."""
    return [f"{k}={v}" for k, v in ENVIRONMENT.items() if os.environ.get(k) != v]


def apply() -> None:
    """Portable mode in this process: convolutions off oneDNN, after checking that MKL and ATen were
    started pinned. Raises ``RuntimeError`` naming what to export (before Python starts) otherwise."""
    lacking = missing()
    if lacking:
        raise RuntimeError(
            f"{SWITCH}=portable needs {' '.join(lacking)} in the environment before Python starts "
            f"(torch reads them when it loads); run through the Makefile, or export them, or unset {SWITCH}")
    torch.backends.mkldnn.enabled = False


def mode() -> str:
    """``portable`` when this process runs in portable numerics, else ``default``."""
    return "portable" if os.environ.get(SWITCH) == "portable" and not missing() else "default"


def describe() -> str:
    """:func:`mode` and the vector instructions ATen's kernels use, for run headers."""
    return f"{mode()} ({torch.backends.cpu.get_cpu_capability()})"


def environment(portable: bool) -> dict[str, str]:
    """This process's environment for a child Python process, with the portable settings (the
    switch and :data:`ENVIRONMENT`) set when ``portable``, removed otherwise."""
    env = {k: v for k, v in os.environ.items() if k not in {SWITCH, *ENVIRONMENT}}
    return env | ({SWITCH: "portable", **ENVIRONMENT} if portable else {})
