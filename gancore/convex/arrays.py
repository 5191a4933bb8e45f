"""Array conversion and argument checks shared by the convex-duality modules.

The closed forms accept numpy arrays or torch tensors and return the kind they were given; the cvxpy
programs work on numpy arrays. Both read their matrices through :func:`as_matrix` /
:func:`as_numpy`, which insist on a 2-D shape and (by default) finite entries, so that an inf or a NaN
in the data or the noise is reported by the argument's name instead of surfacing as a LAPACK
convergence failure ("ill-conditioned matrix") deep inside an SVD.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

__all__ = ["Array", "as_matrix", "as_numpy", "like", "check_beta", "check_finite", "numerical_rank"]

Array = np.ndarray | torch.Tensor


def check_finite(t: torch.Tensor, name: str) -> None:
    """Raise ValueError naming ``name`` when the tensor ``t`` holds an inf or a NaN (where, and how many)."""
    bad = ~torch.isfinite(t)
    if bool(bad.any()):
        where = tuple(int(i) for i in bad.nonzero()[0])
        raise ValueError(
            f"{name} holds non-finite entries (inf or NaN): {int(bad.sum())} of {bad.numel()}, the first at index "
            f"{where}. The closed forms and convex programs need finite numbers: remove or impute those entries "
            f"of {name}."
        )


def as_matrix(a: Array, name: str, finite: bool = True) -> torch.Tensor:
    """``a`` as a float64 torch matrix (on its own device when it is a tensor).

    ValueError naming ``name`` when it is not 2-D, or (``finite=True``) when it holds an inf or a NaN.
    """
    t = a.detach().to(torch.float64) if isinstance(a, torch.Tensor) else torch.as_tensor(np.asarray(a, dtype=np.float64))
    if t.ndim != 2:
        raise ValueError(f"{name} must be a matrix (samples x features), got shape {tuple(t.shape)}.")
    if finite:
        check_finite(t, name)
    return t


def as_numpy(a: Array, name: str, finite: bool = True) -> np.ndarray:
    """``a`` as a float64 numpy matrix, checked as by :func:`as_matrix`."""
    return as_matrix(a, name, finite).cpu().numpy()


def like(t: torch.Tensor, ref: Array) -> Array:
    """``t`` returned as the kind of ``ref``: a tensor of ref's floating dtype, or a numpy array."""
    if isinstance(ref, torch.Tensor):
        return t.to(ref.dtype) if ref.is_floating_point() else t
    dtype = ref.dtype if isinstance(ref, np.ndarray) and np.issubdtype(ref.dtype, np.floating) else np.float64
    return t.cpu().numpy().astype(dtype, copy=False)


def check_beta(beta: float, name: str = "discriminator weight decay beta") -> None:
    """Raise ValueError("Invalid {name}: ...") unless ``beta > 0`` (which also rejects NaN).

    Every regularisation constant of the convex problems (beta_d, beta_g, lam) must be positive.
    """
    if not beta > 0:  # also rejects NaN
        raise ValueError(f"Invalid {name}: {beta} (must be > 0).")


def numerical_rank(s: torch.Tensor, shape: Sequence[int]) -> int:
    """Rank from singular values ``s`` (descending) with numpy's tolerance max(shape) * eps * s_1."""
    if s.numel() == 0 or s[0] == 0:
        return 0
    tol = max(shape) * torch.finfo(s.dtype).eps * s[0]
    return int((s > tol).sum())
