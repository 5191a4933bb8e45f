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

Wherever a chapter runs, the library sees to its numerics (:func:`configure`, on ``import gancore``):
``python -m gancore.runs`` gives the chapter's kernel the portable environment itself
(:func:`kernel_environment`); in any other notebook kernel (plain papermill, Jupyter, nbval) without
``GANCORE_NUMERICS``, portable mode is set up on the spot when neither torch nor NumPy is loaded yet,
and otherwise ``import gancore`` refuses, before any work, with the exact command that fixes it.
``GANCORE_NUMERICS=default`` runs in this machine's own numerics on purpose (other numbers than the
book's). Outside a kernel (scripts, benchmarks) nothing changes without the switch.
"""

from __future__ import annotations

import os
import sys

__all__ = ["SWITCH", "ENVIRONMENT", "missing", "apply", "mode", "describe", "environment", "configure",
           "kernel_environment"]

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
    import torch  # after the check: torch reads the environment when it loads

    torch.backends.mkldnn.enabled = False


def mode() -> str:
    """``portable`` when this process runs in portable numerics, else ``default``."""
    return "portable" if os.environ.get(SWITCH) == "portable" and not missing() else "default"


def describe() -> str:
    """:func:`mode` and the vector instructions ATen's kernels use, for run headers."""
    import torch

    return f"{mode()} ({torch.backends.cpu.get_cpu_capability()})"


def environment(portable: bool) -> dict[str, str]:
    """This process's environment for a child Python process, with the portable settings (the
    switch and :data:`ENVIRONMENT`) set when ``portable``, removed otherwise."""
    env = {k: v for k, v in os.environ.items() if k not in {SWITCH, *ENVIRONMENT}}
    return env | ({SWITCH: "portable", **ENVIRONMENT} if portable else {})


def kernel_environment(chosen: str) -> dict[str, str]:
    """The variables to give a chapter's kernel for numerics ``chosen`` (``portable``: the switch and
    :data:`ENVIRONMENT`; ``default``: the switch only)."""
    return {SWITCH: "portable", **ENVIRONMENT} if chosen == "portable" else {SWITCH: "default"}


def _fix(lacking: list[str]) -> str:
    exports = " ".join(f"{k}={v}" for k, v in {SWITCH: "portable", **ENVIRONMENT}.items())
    return (f"This process lacks {' '.join(lacking)}, and torch or NumPy is loaded already, so they can no longer "
            f"take effect. Run the chapter with `make chapter NAME=...` or `python -m gancore.runs execute NAME` "
            f"(they set them), or start papermill/Jupyter/pytest with them: `env {exports} papermill ...`; or set "
            f"{SWITCH}=default to run in this machine's own numerics (other numbers than the book's).")


def configure() -> None:
    """The numerics of this process, on ``import gancore``: with ``GANCORE_NUMERICS=portable``, or in
    a notebook kernel (a chapter) without the switch, portable mode, setting the environment here when
    torch and NumPy are not loaded yet (they read it when they load) and raising ``RuntimeError`` with
    the fix otherwise; with ``GANCORE_NUMERICS=default``, or outside a kernel without it, nothing."""
    switch = os.environ.get(SWITCH)
    if switch == "default" or (switch is None and "ipykernel" not in sys.modules):
        return
    if switch not in (None, "portable"):
        raise RuntimeError(f"Invalid {SWITCH}={switch!r}: use portable (the book's numerics) or default.")
    lacking = missing()
    if lacking and not {"torch", "numpy"} & set(sys.modules):
        os.environ.update({SWITCH: "portable", **ENVIRONMENT})
    elif lacking:
        raise RuntimeError(f"{SWITCH}=portable{'' if switch else ' (a chapter kernel)'} needs "
                           f"{' '.join(lacking)} before torch loads. {_fix(lacking)}")
    else:
        os.environ[SWITCH] = "portable"
    apply()
