"""The analysis of the chapter "The toolkit" (``book/toolkit.md``): the words its prose says about
the vanilla GAN on the ring, computed from the numbers (so they stay true when the numbers change),
the ring metrics over many seeds with their intervals, and the table of the image feature space's
floor (real test images) and ceiling (uniform noise).

The ring words follow the metrics of Welfert et al. (``gancore.metrics.ring_evaluator``): a run
*succeeds* when it covers every mode and *fails* when it covers none.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import torch

from .. import metrics, stats

__all__ = ["seed_outcome", "over_seeds", "seeds_phrase", "feature_floor"]


def _modes(value: Any, n_modes: int) -> int:
    k = float(value)
    if not (k.is_integer() and 0 <= k <= n_modes):
        raise ValueError(f"modes covered must be a whole number in [0, {n_modes}]; got {value!r}")
    return int(k)


def seed_outcome(final: Mapping[str, Any], n_modes: int) -> str:
    """What one run did, from its last evaluation (``modes``, ``hqs``): ``covers all 8 modes`` /
    ``covers 3 of the 8 modes`` / ``covers no mode (a failure)``, then the share of its samples within
    3 sigma of a mode, e.g. ``covers all 8 modes, with 73% of its samples within 3 sigma of a mode``."""
    k = _modes(final["modes"], n_modes)
    hqs = float(final["hqs"])
    if not 0 <= hqs <= 1:
        raise ValueError(f"hqs must be a share in [0, 1]; got {hqs!r}")
    covers = (f"covers all {n_modes} modes" if k == n_modes else "covers no mode (a failure)" if k == 0
              else f"covers {k} of the {n_modes} modes")
    return f"{covers}, with {hqs:.0%} of its samples within 3 sigma of a mode"


def _within(interval: stats.Interval, low: float, high: float) -> stats.Interval:
    """``interval`` cut to [low, high], the range its mean cannot leave."""
    return replace(interval, low=max(interval.low, low), high=min(interval.high, high))


def over_seeds(table: pd.DataFrame, n_modes: int) -> pd.DataFrame:
    """One row per ring metric over the seeds of ``table`` (one row per seed with ``modes``, ``hqs``,
    ``success``, ``failure``): the success and failure rates with their Wilson intervals, the mean
    modes covered and mean HQS with their t intervals (cut to the range a mean of them can take:
    [0, n_modes], [0, 1]), as ``metric``, ``over seeds`` (the interval's
    text, :class:`gancore.stats.Interval`)."""
    if table.empty:
        raise ValueError("over_seeds: the table has no seeds")
    for k in table["modes"]:
        _modes(k, n_modes)
    rows = [("success rate (all modes covered)", stats.wilson(*stats.counts(table["success"]))),
            ("failure rate (no mode covered)", stats.wilson(*stats.counts(table["failure"]))),
            (f"modes covered (of {n_modes})", _within(stats.mean_interval(table["modes"]), 0, n_modes)),
            ("HQS (share of samples within 3 sigma)", _within(stats.mean_interval(table["hqs"]), 0, 1))]
    return pd.DataFrame([{"metric": name, "over seeds": str(iv)} for name, iv in rows])


def seeds_phrase(table: pd.DataFrame, n_modes: int) -> str:
    """A sentence on ``table`` (one row per seed, as :func:`over_seeds`) that the numbers decide:
    how many seeds cover every mode and how many none, then whether most seeds learn the whole ring
    -- said only when the success rate's 95% Wilson interval lies above (or below) one half; otherwise
    that these seeds do not decide it."""
    n = len(table)
    if n == 0:
        raise ValueError("seeds_phrase: the table has no seeds")
    modes = [_modes(k, n_modes) for k in table["modes"]]
    full, none = sum(k == n_modes for k in modes), sum(k == 0 for k in modes)
    rate = stats.wilson(full, n)
    fails = ("no seed fails (covers no mode)" if none == 0
             else f"{none} fail{'s' if none == 1 else ''} (cover{'s' if none == 1 else ''} no mode)")
    counted = f"{full} of {n} seeds cover all {n_modes} modes (success rate {rate}), {fails}"
    if rate.low > 0.5:
        return f"{counted}: most seeds learn the whole ring"
    if rate.high < 0.5:
        return f"{counted}: most seeds do not learn the whole ring"
    return f"{counted}: these {n} seeds do not decide whether most seeds learn the whole ring"


def feature_floor(space: metrics.FeatureSpace, reference: tuple[np.ndarray, np.ndarray],
                  real_test: torch.Tensor, seed: int = 0) -> pd.DataFrame:
    """The Frechet distance from ``reference`` (the real training images' statistics in ``space``) and
    the classifier score of the real test images and of as many images of uniform noise in [-1, 1]
    (drawn from ``seed``): what the best and a meaningless generator score."""
    noise = torch.rand(real_test.shape, generator=torch.Generator().manual_seed(seed)) * 2 - 1
    return pd.DataFrame([{"compared with real train": name, "Frechet distance": space.frechet(x, reference),
                          "classifier score": metrics.classifier_score(space, x)}
                         for name, x in (("real test", real_test), ("uniform noise", noise))])
