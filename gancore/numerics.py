"""Portable CPU numerics: the same bits from the same seed on any x86-64 CPU with AVX2.

GAN training amplifies the last bit of a float into a different run, and the CPU kernels of torch and
NumPy are chosen per machine: MKL's and ATen's code paths by the CPU's widest vector instructions,
oneDNN's convolutions by instructions and cache sizes, OpenBLAS's (NumPy's and SciPy's) by the CPU
model, and every parallel reduction by the number of threads. Notebooks executed on one CPU therefore
did not come out on another (seen here: the DO-GAN chapter's first ring iteration has meta-game value
1.225 on the CPU that executed it and 1.233 on an AVX-512 FP16 one, with the same code, seed and
thread count; the convex-WGAN chapter's ProCoGAN distance on digits is 116 with two threads and 114
with one). Portable mode pins every choice:

- ``MKL_CBWR=AVX2,STRICT``: MKL's conditional numerical reproducibility, its AVX2 branch on every CPU
  that has AVX2;
- ``ATEN_CPU_CAPABILITY=avx2``: ATen's vectorised kernels from their AVX2 build;
- ``OPENBLAS_CORETYPE=Haswell``: OpenBLAS's AVX2 kernels (NumPy's and SciPy's linear algebra);
- ``OMP_NUM_THREADS=1``: one thread for torch, MKL and OpenBLAS, so no reduction depends on how many
  cores the machine has (on this 2-core machine one thread is also the faster choice for the book's
  small networks: ``benchmarks/bench_threads.py``);
- ``torch.backends.mkldnn.enabled = False``: convolutions through ATen and MKL instead of oneDNN.

The first four are read when the libraries load, so they must be in the process's environment before
torch or NumPy is imported: the Makefile exports them with ``GANCORE_NUMERICS=portable`` for every
chapter, sweep, test and nbval run, and ``import gancore`` then applies the last (:func:`apply`).
Results in portable mode differ from those of the default mode (a different, equally valid rounding);
a machine without AVX2 (or a non-x86 CPU) cannot reproduce them bit for bit.
"""

from __future__ import annotations

import os

import torch

__all__ = ["SWITCH", "ENVIRONMENT", "missing", "apply", "mode", "describe", "environment"]

SWITCH = "GANCORE_NUMERICS"
ENVIRONMENT = {"MKL_CBWR": "AVX2,STRICT", "ATEN_CPU_CAPABILITY": "avx2", "OPENBLAS_CORETYPE": "Haswell",
               "OMP_NUM_THREADS": "1"}


def missing() -> list[str]:
    """The settings of :data:`ENVIRONMENT` that this process's environment lacks or sets otherwise,
    as ``NAME=value`` to export."""
    return [f"{k}={v}" for k, v in ENVIRONMENT.items() if os.environ.get(k) != v]


def apply() -> None:
    """Portable mode in this process: convolutions off oneDNN, after checking that MKL, ATen, OpenBLAS
    and the thread count were pinned when the process started. Raises ``RuntimeError`` naming what to
    export (before Python starts) otherwise."""
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
