"""Parameter sets per chapter: ``quick`` (the CPU here, minutes, embedded data) and ``paper`` (the
paper's scale, a GPU and the real data sets).

A chapter reads its settings with ``P = profiles.get("srfb", profile)`` and then ``P.steps`` etc.;
each chapter's block below says where its paper numbers come from and what ``quick`` cuts.
"""

from __future__ import annotations

import platform
from typing import Any

import torch

__all__ = ["get", "PROFILES", "CHAPTERS", "Settings", "describe"]

PROFILES = ("quick", "paper")


class Settings(dict):
    """A read-only dict whose keys are also attributes (``P.steps``)."""

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError:
            raise AttributeError(f"No setting {key!r}; settings are: {', '.join(self)}.") from None

    def __setitem__(self, key, value):
        raise TypeError("Settings are read-only: copy with dict(P) to change them.")


CHAPTERS: dict[str, dict[str, dict[str, Any]]] = {
    # Each chapter owns one entry: {"quick": {...}, "paper": {...}} with the same keys in both.
    # The toolkit chapter: a vanilla GAN on the ring (networks of the alpha-GAN paper, narrower in quick).
    "toolkit": {
        "quick": dict(data="ring", steps=3000, batch_size=128, g_width=128, d_width=128, depth=3, lr=1e-3,
                      betas=(0.5, 0.999), eval_every=500, n_eval=5000, classifier_data="digits"),
        "paper": dict(data="ring", steps=156_000, batch_size=128, g_width=400, d_width=200, depth=4, lr=1e-4,
                      betas=(0.9, 0.999), eval_every=3900, n_eval=25_000, classifier_data="mnist"),
    },
}


def get(chapter: str, profile: str) -> Settings:
    """Settings of ``chapter`` in ``profile``; unknown names raise ValueError listing the known ones."""
    if chapter not in CHAPTERS:
        raise ValueError(f"Unknown chapter {chapter!r}. Known chapters: {', '.join(CHAPTERS)}.")
    if profile not in PROFILES:
        raise ValueError(f"Unknown profile {profile!r}. Known profiles: {', '.join(PROFILES)}.")
    return Settings(CHAPTERS[chapter][profile])


def describe(chapter: str, profile: str, device: torch.device | str, data: str) -> str:
    """The line every chapter prints first: which profile, device and data produced its results."""
    from . import __version__

    return (f"gancore {__version__} | chapter {chapter} | profile {profile} | device {device} | data {data} | "
            f"torch {torch.__version__.split('+')[0]} | python {platform.python_version()}")
