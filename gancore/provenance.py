"""Where a result came from: the git commit and the library versions that ``run.json`` files record
(stored chapter runs in :mod:`gancore.runs`, sweep jobs in :mod:`gancore.sweep`)."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path

__all__ = ["git_commit", "versions", "PACKAGES"]

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
