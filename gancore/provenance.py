"""Where a result came from: the git commit and the library versions that ``run.json`` files record
(stored chapter runs in :mod:`gancore.runs`, sweep jobs in :mod:`gancore.sweep`), and a result's
*identity*: what must be equal for two results to be merged into one table, or a run to be resumed
from another's checkpoint (:func:`identity`, :func:`identity_differences`)."""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import os
import platform
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

__all__ = ["git_commit", "versions", "PACKAGES", "code_identity", "identity", "identity_differences",
           "IDENTITY_FIELDS"]

IDENTITY_FIELDS = ("code", "numerics", "device", "torch")
"""What a result's identity holds: the code (commit, and a hash of uncommitted changes to the library),
the numerics mode, the device kind and the torch version."""

# the packages whose versions decide a result; python is added by :func:`versions`
PACKAGES = ("gancore", "torch", "torchvision", "numpy", "scipy", "pandas", "cvxpy", "scikit-learn", "scikit-image",
            "dask", "distributed")


def git_commit(folder: str | os.PathLike | None = None) -> str:
    """The commit checked out in ``folder`` (default: the one holding gancore), with ``-dirty`` when
    tracked files have uncommitted changes; ``unknown`` outside a git checkout."""
    here = Path(folder) if folder is not None else Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True).stdout.strip()
        return head.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def versions() -> dict[str, str]:
    """The installed versions of :data:`PACKAGES` and of Python."""
    return {n: importlib.metadata.version(n) for n in PACKAGES} | {"python": platform.python_version()}


def _git(here: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=here, capture_output=True, text=True, check=True).stdout


@functools.cache
def code_identity(folder: str | os.PathLike | None = None) -> str:
    """The library's code as this process found it (computed once per process: the code it imported):
    ``<commit>`` for a clean checkout, ``<commit>+<sha256 of the uncommitted changes under gancore/ and of
    its untracked files, 12 hex digits>`` otherwise; ``unknown`` outside a git checkout. Changes outside
    the package (results, the book) do not change it."""
    package = Path(folder) if folder is not None else Path(__file__).resolve().parent
    try:
        head = _git(package, "rev-parse", "HEAD").strip()
        top = Path(_git(package, "rev-parse", "--show-toplevel").strip())
        where = str(package.resolve().relative_to(top.resolve())) if package.resolve() != top.resolve() else "."
        digest = hashlib.sha256(_git(top, "diff", "HEAD", "--binary", "--", where).encode())
        for name in sorted(_git(top, "ls-files", "--others", "--exclude-standard", "--", where).split()):
            if name.endswith(".py"):
                digest.update(name.encode() + b"\0" + (top / name).read_bytes())
        dirty = bool(_git(top, "status", "--porcelain", "--untracked-files=normal", "--", where).strip())
    except (OSError, subprocess.CalledProcessError, ValueError):
        return "unknown"
    return head + (f"+{digest.hexdigest()[:12]}" if dirty else "")


def identity(device: str | torch.device, numerics_mode: str, code: str | None = None) -> dict[str, str]:
    """A result's identity (:data:`IDENTITY_FIELDS`): ``code`` (default :func:`code_identity`), the
    numerics mode (``gancore.numerics.mode()``), the device kind (``cpu``, or ``cuda <GPU name>``) and
    the torch version."""
    device = torch.device(device)
    kind = f"cuda {torch.cuda.get_device_name(device)}" if device.type == "cuda" else device.type
    return {"code": code or code_identity(), "numerics": numerics_mode, "device": kind, "torch": torch.__version__}


def identity_differences(old: Mapping[str, Any] | None, new: Mapping[str, Any],
                         fields: tuple[str, ...] = IDENTITY_FIELDS) -> list[str]:
    """``field: old vs new`` for every field of ``fields`` in which two identities differ; an old
    result without an identity (written before identities were recorded) is legacy and unchecked: []."""
    if not old:
        return []
    return [f"{k}: {old.get(k, 'absent')} vs {new.get(k, 'absent')} now" for k in fields
            if old.get(k) != new.get(k)]
