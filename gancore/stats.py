"""Intervals, two-sample tests and the verdict rule: every number the book prints carries its
uncertainty and its number of seeds, and every "reproduced" is decided by code from those numbers.

* **Rates** (successes out of n seeds): the Wilson score interval (Wilson, "Probable inference, the
  law of succession, and statistical inference", JASA 22, 1927). With p = k/n and z the standard
  normal quantile at 1 - (1 - level)/2,

      centre = (p + z^2/(2n)) / (1 + z^2/n),
      half   = z / (1 + z^2/n) * sqrt(p (1 - p)/n + z^2/(4 n^2)),

  the interval is [centre - half, centre + half]. Unlike the Wald interval p +- z sqrt(p(1-p)/n) it
  never leaves [0, 1] and does not collapse to a point at k = 0 or k = n (0 of 10 gives [0, 0.278]).
* **Means over seeds**: Student's t interval mean +- t_{n-1} s/sqrt(n), or the percentile bootstrap
  (Efron & Tibshirani, *An Introduction to the Bootstrap*, 1993, ch. 13): resample the n values with
  replacement, take the mean of each resample, and report the (1-level)/2 and (1+level)/2 quantiles
  of those means. (Their BCa correction matters for skewed statistics at small n; for a mean over
  seeds the percentile interval is the simpler, transformation-respecting choice.)
* **Medians over seeds** (a solver's gap, which spans decades): the distribution-free interval
  [x_(j), x_(n+1-j)] between order statistics (Conover, *Practical Nonparametric Statistics*, 3rd
  ed., 1999, Sec. 3.2): the number of values below the median is Binomial(n, 1/2), so the interval
  covers it with probability 1 - 2 P(B <= j - 1); j is the largest index that keeps this >= level.
  It needs n >= 6 at level 0.95 (1 - 2/2^n >= 0.95); with fewer values it is (-inf, inf).
* **Two samples**: Fisher's exact test for two rates (``scipy.stats.fisher_exact`` on the 2x2
  table), and for two means Welch's t test (``scipy.stats.ttest_ind(equal_var=False)``) or a
  permutation test of the difference of means with a seeded ``numpy.random.Generator``, whose
  p-value (1 + #{|d*| >= |d|}) / (1 + R) over R random relabellings is never 0 (Phipson & Smyth,
  "Permutation p-values should never be zero", SAGMB 9, 2010).
* **Differences**: each comparison carries the interval of its difference (Welch's or the paired t
  interval; Newcombe's hybrid score interval for two rates, "Interval estimation for the difference
  between independent proportions", Stat. Med. 17, 1998, method 10) and the smallest difference these
  samples detect with 80% power (:func:`detectable_effect`), so "no difference detected" says how
  large a difference could have gone unseen.
* **Repeated looks** (a test at every evaluation step): Holm's step-down adjustment (:func:`holm`;
  Holm, "A simple sequentially rejective multiple test procedure", Scand. J. Stat. 6, 1979).
* **Positive quantities** (Frechet distances): :func:`mean_interval` with ``method="log"`` gives the
  geometric mean with a t interval on the log scale, which is never negative.

The verdict rule that reads these numbers lives in :mod:`gancore.verdict`.

Missing values: a NaN (a seed whose metric could not be computed, e.g. a diverged run) is DROPPED
and the interval's ``n`` counts only the values kept; ``dropped`` says how many were dropped and
``str()`` shows it ("n=30, 2 NaN dropped"). Infinite values are an error.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from numbers import Number
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats as sps

__all__ = ["Interval", "wilson", "mean_interval", "median_interval", "Comparison", "counts", "compare_rates",
           "compare_means", "compare_paired", "detectable_effect", "holm", "along", "summarise"]

_CHUNK = 2**20  # numbers drawn at a time by the bootstrap and permutation test (bounds their memory)


def _check_level(level: float) -> float:
    level = float(level)
    if not 0.0 < level < 1.0:
        raise ValueError(f"Invalid level: {level} (a confidence level lies in (0, 1), e.g. 0.95)")
    return level


def _z(level: float) -> float:
    return float(sps.norm.ppf(0.5 + _check_level(level) / 2))


def _round(x: float, decimals: int) -> str:
    return f"{x:.{decimals}f}" if math.isfinite(x) else str(x)


@dataclass(frozen=True)
class Interval:
    """An estimate with its ``level`` confidence interval [low, high] from ``n`` values by
    ``method`` ("wilson", "t", "bootstrap", "order statistics"); ``dropped`` NaN values were left out of ``n``."""

    estimate: float
    low: float
    high: float
    n: int
    level: float = 0.95
    method: str = ""
    dropped: int = 0

    def contains(self, x: float) -> bool:
        """Whether ``low <= x <= high`` (False for NaN bounds)."""
        return bool(self.low <= x <= self.high)

    @property
    def finite(self) -> bool:
        """Whether both bounds are finite numbers (False for a mean of one value)."""
        return math.isfinite(self.low) and math.isfinite(self.high)

    def __str__(self) -> str:
        """``0.81 [0.64, 0.91], n=32``: two significant digits of the interval's width decide the
        decimals (at least two for a zero-width interval); numbers below 0.001 in size (a solver's
        gap) in scientific notation, ``2.0e-10 [4.0e-11, 3.6e-10], n=8``."""
        width = self.high - self.low
        bounds = [abs(x) for x in (self.estimate, self.low, self.high) if math.isfinite(x)]
        if bounds and 0 < max(bounds) < 1e-3:
            text = f"{self.estimate:.1e} [{self.low:.1e}, {self.high:.1e}], n={self.n}"
            return text + (f", {self.dropped} NaN dropped" if self.dropped else "")
        decimals = max(0, 1 - math.floor(math.log10(width))) if math.isfinite(width) and width > 0 else 2
        text = (f"{_round(self.estimate, decimals)} [{_round(self.low, decimals)}, "
                f"{_round(self.high, decimals)}], n={self.n}")
        return text + (f", {self.dropped} NaN dropped" if self.dropped else "")


def _count(value: float, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, Number) or not float(value).is_integer():
        raise ValueError(f"Invalid {name}: {value!r} (a count must be a whole number)")
    return int(value)


def wilson(successes: int, n: int, level: float = 0.95) -> Interval:
    """The Wilson score interval for a rate of ``successes`` out of ``n`` (module docstring).
    n = 0, a negative count or successes > n -> ``ValueError``."""
    k, n = _count(successes, "successes"), _count(n, "n")
    if n <= 0:
        raise ValueError(f"Invalid n: {n} (a rate needs at least one trial; report 'no seeds' instead)")
    if not 0 <= k <= n:
        raise ValueError(f"Invalid successes: {k} (must lie in [0, n] = [0, {n}])")
    z = _z(level)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    low = 0.0 if k == 0 else max(0.0, centre - half)
    high = 1.0 if k == n else min(1.0, centre + half)
    return Interval(p, low, high, n, level, "wilson")


def _values(values: Sequence[float] | np.ndarray, name: str) -> tuple[np.ndarray, int]:
    """The finite values of ``values`` as a flat float array, and how many NaNs were dropped."""
    x = np.asarray(values, dtype=float).ravel()
    nan = np.isnan(x)
    if np.isinf(x).any():
        raise ValueError(f"Invalid {name}: {int(np.isinf(x).sum())} infinite value(s) (a mean over seeds "
                         f"needs finite values; record a failed seed as NaN to drop it, and say so)")
    x = x[~nan]
    if x.size == 0:
        raise ValueError(f"Invalid {name}: no values{' (all NaN)' if nan.any() else ''}: a mean needs "
                         f"at least one seed")
    return x, int(nan.sum())


def mean_interval(values: Sequence[float] | np.ndarray, level: float = 0.95,
                  method: Literal["t", "bootstrap", "log"] = "t", seed: int = 0,
                  resamples: int = 10_000) -> Interval:
    """The mean of ``values`` (one per seed) with its ``level`` interval by Student's t
    (mean +- t_{n-1, (1+level)/2} s/sqrt(n), s the sample standard deviation) or the percentile
    bootstrap (``resamples`` resamples drawn by ``numpy.random.default_rng(seed)``).

    ``method="log"`` is for positive quantities (a Frechet distance): the geometric mean
    exp(mean(log x)) with the t interval of the logs mapped back, so the interval is never negative;
    a value <= 0 -> ``ValueError``.

    NaNs are dropped (counted in ``dropped``); no value left -> ``ValueError``; a single value gives
    the interval (-inf, inf): one seed says nothing about the spread."""
    x, dropped = _values(values, "values")
    level = _check_level(level)
    n, mean = x.size, float(x.mean())
    if method not in ("t", "bootstrap", "log"):
        raise ValueError(f"Invalid method: {method!r} (choose 't', 'bootstrap' or 'log')")
    if method == "log":
        if (x <= 0).any():
            raise ValueError(f"method='log' needs positive values; got {float(x.min()):g} (use 't' for a "
                             "quantity that can be zero or negative)")
        if n == 1:
            return Interval(mean, 0.0, math.inf, 1, level, "log t", dropped)
        logs = mean_interval(np.log(x), level, "t")
        return Interval(math.exp(logs.estimate), math.exp(logs.low), math.exp(logs.high), n, level, "log t", dropped)
    if n == 1:
        return Interval(mean, -math.inf, math.inf, 1, level, method, dropped)
    if method == "t":
        half = float(sps.t.ppf(0.5 + level / 2, n - 1)) * float(x.std(ddof=1)) / math.sqrt(n)
        return Interval(mean, mean - half, mean + half, n, level, "t", dropped)
    if resamples < 1:
        raise ValueError(f"Invalid resamples: {resamples} (need at least one; 10,000 is usual)")
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    step = max(1, _CHUNK // n)
    for start in range(0, resamples, step):
        stop = min(resamples, start + step)
        means[start:stop] = x[rng.integers(0, n, size=(stop - start, n))].mean(axis=1)
    low, high = np.quantile(means, [0.5 - level / 2, 0.5 + level / 2])
    return Interval(mean, float(low), float(high), n, level, "bootstrap", dropped)


def median_interval(values: Sequence[float] | np.ndarray, level: float = 0.95) -> Interval:
    """The median of ``values`` (one per seed) with the distribution-free ``level`` interval between
    order statistics (module docstring): [x_(j), x_(n+1-j)] for the largest j with
    1 - 2 P(Binomial(n, 1/2) <= j - 1) >= level, so its coverage is at least ``level`` for any
    continuous distribution. Too few values for any such j (n <= 5 at 0.95) -> (-inf, inf). NaNs are
    dropped (counted in ``dropped``); no value left -> ``ValueError``."""
    x, dropped = _values(values, "values")
    level = _check_level(level)
    x = np.sort(x)
    n, median = x.size, float(np.median(x))
    j = 0  # largest j (1-based) whose interval keeps the coverage; 0: none does
    while j + 1 <= (n + 1) // 2 and 1 - 2 * float(sps.binom.cdf(j, n, 0.5)) >= level:
        j += 1
    if j == 0:
        return Interval(median, -math.inf, math.inf, n, level, "order statistics", dropped)
    return Interval(median, float(x[j - 1]), float(x[n - j]), n, level, "order statistics", dropped)


@dataclass(frozen=True)
class Comparison:
    """Two samples compared: ``difference`` = first - second estimate, ``direction`` its sign
    (">", "<" or "="), the two-sided ``p_value`` of ``method`` (NaN when the test is undefined; Holm's
    adjusted p over ``looks`` tests when made by :func:`along`), the ``difference_interval`` at the
    samples' level, and ``detectable``: the smallest difference of either sign these samples detect
    with 80% power at alpha = 0.05 (:func:`detectable_effect`)."""

    first: Interval
    second: Interval
    difference: float
    p_value: float
    method: str
    difference_interval: tuple[float, float] | None = None
    detectable: float | None = None
    looks: int = 1

    @property
    def direction(self) -> str:
        return ">" if self.difference > 0 else "<" if self.difference < 0 else "="

    def __str__(self) -> str:
        text = f"{self.first} vs {self.second}: difference {self.difference:+.3g}"
        if self.difference_interval is not None:
            low, high = self.difference_interval
            text += f" [{low:+.3g}, {high:+.3g}]"
        return text + f", {self.method} p={self.p_value:.2g}"


def detectable_effect(spread: float, alpha: float = 0.05, power: float = 0.8) -> float:
    """The smallest true difference a two-sided level-``alpha`` z test detects with probability
    ``power`` when the estimate of the difference has standard error ``spread``:
    (z_{1 - alpha/2} + z_{power}) * spread (the normal approximation behind every sample-size table,
    e.g. Chow, Shao & Wang, *Sample Size Calculations in Clinical Research*, 2008, Sec. 3.2)."""
    if not (0 < alpha < 1 and 0 < power < 1):
        raise ValueError(f"alpha and power lie in (0, 1); got {alpha!r}, {power!r}")
    if not spread >= 0:
        raise ValueError(f"the standard error of a difference is >= 0; got {spread!r}")
    return float((sps.norm.ppf(1 - alpha / 2) + sps.norm.ppf(power)) * spread)


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (module docstring): the i-th smallest p times (m - i + 1),
    made monotone and capped at 1; rejecting where the adjusted p < alpha controls the chance of any
    false rejection among the m tests at alpha. NaN p-values stay NaN and do not count in m."""
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    keep = np.flatnonzero(~np.isnan(p))
    m = keep.size
    order = keep[np.argsort(p[keep], kind="stable")]
    running = 0.0
    for i, index in enumerate(order):
        running = max(running, min(1.0, (m - i) * p[index]))
        out[index] = running
    return out


def along(comparisons: Sequence[Comparison]) -> list[Comparison]:
    """The same comparison repeated along training (one per evaluation step), with Holm-adjusted
    p-values and ``looks`` set to their number, so a row decided at any one step says it was one of
    several looks."""
    adjusted = holm([c.p_value for c in comparisons])
    return [replace(c, p_value=float(p), looks=len(comparisons)) for c, p in zip(comparisons, adjusted)]


def counts(values: Sequence[float] | np.ndarray) -> tuple[int, int]:
    """``(successes, n)`` of per-seed 0/1 (or bool) values, NaNs dropped: the arguments of
    :func:`wilson` and, two at a time, of :func:`compare_rates`."""
    x, _ = _values(values, "values")
    if not np.isin(x, (0.0, 1.0)).all():
        raise ValueError(f"counts: values must be 0/1 (or bool) per seed; got {sorted(set(x) - {0.0, 1.0})[:5]}")
    return int(x.sum()), int(x.size)


def compare_rates(k1: int, n1: int, k2: int, n2: int, level: float = 0.95) -> Comparison:
    """Rate k1/n1 against k2/n2: Wilson intervals for both and the two-sided p-value of Fisher's exact
    test on the table [[k1, n1 - k1], [k2, n2 - k2]] (conditional on the margins)."""
    first, second = wilson(k1, n1, level), wilson(k2, n2, level)  # also checks the counts
    table = [[int(k1), int(n1) - int(k1)], [int(k2), int(n2) - int(k2)]]
    p = float(sps.fisher_exact(table, alternative="two-sided").pvalue)
    d = first.estimate - second.estimate
    # Newcombe's hybrid score interval from the two Wilson intervals
    low = d - math.hypot(first.estimate - first.low, second.high - second.estimate)
    high = d + math.hypot(first.high - first.estimate, second.estimate - second.low)
    pooled = (int(k1) + int(k2)) / (int(n1) + int(n2))
    pooled = min(max(pooled, 0.5 / (int(n1) + int(n2))), 1 - 0.5 / (int(n1) + int(n2)))  # never a zero spread
    spread = math.sqrt(pooled * (1 - pooled) * (1 / int(n1) + 1 / int(n2)))
    return Comparison(first, second, d, min(p, 1.0), "Fisher", (low, high), detectable_effect(spread))


def _permutation_p(a: np.ndarray, b: np.ndarray, seed: int, resamples: int) -> float:
    pooled = np.concatenate([a, b])
    total, n1, n2 = pooled.sum(), a.size, b.size
    observed = abs(a.mean() - b.mean())
    tol = 1e-12 * max(1.0, float(np.abs(pooled).max()))  # relabellings equal to the observed one tie
    rng = np.random.default_rng(seed)
    step, extreme = max(1, _CHUNK // pooled.size), 0
    for start in range(0, resamples, step):
        rows = min(step, resamples - start)
        labels = rng.permuted(np.tile(np.arange(pooled.size), (rows, 1)), axis=1)
        s1 = pooled[labels[:, :n1]].sum(axis=1)
        extreme += int((np.abs(s1 / n1 - (total - s1) / n2) >= observed - tol).sum())
    return (1 + extreme) / (1 + resamples)


def compare_means(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray,
                  method: Literal["welch", "permutation"] = "welch", seed: int = 0,
                  resamples: int = 10_000, level: float = 0.95) -> Comparison:
    """Mean of ``a`` against mean of ``b`` (NaNs dropped): t intervals for both and the two-sided
    p-value of Welch's t test (unequal variances; NaN when a sample has one value; 1.0 for two equal
    constant samples, 0.0 for two different ones) or of a permutation test of the difference of means
    (``resamples`` random relabellings from ``numpy.random.default_rng(seed)``)."""
    x, _ = _values(a, "a")
    y, _ = _values(b, "b")
    first, second = mean_interval(a, level), mean_interval(b, level)
    difference = first.estimate - second.estimate
    if method not in ("welch", "permutation"):
        raise ValueError(f"Invalid method: {method!r} (choose 'welch' or 'permutation')")
    _check_spread(x, y, difference)
    if x.size < 2 or y.size < 2:
        return Comparison(first, second, difference, math.nan, "Welch" if method == "welch" else "permutation")
    spread = math.sqrt(x.var(ddof=1) / x.size + y.var(ddof=1) / y.size)
    if spread == 0:
        interval = (difference, difference)
    else:
        ci = sps.ttest_ind(x, y, equal_var=False).confidence_interval(level)
        interval = (float(ci.low), float(ci.high))
    if method == "welch":
        p = 1.0 if spread == 0 else float(sps.ttest_ind(x, y, equal_var=False).pvalue)
        return Comparison(first, second, difference, p, "Welch", interval, detectable_effect(spread))
    if resamples < 1:
        raise ValueError(f"Invalid resamples: {resamples} (need at least one; 10,000 is usual)")
    return Comparison(first, second, difference, _permutation_p(x, y, seed, resamples), "permutation", interval,
                      detectable_effect(spread))


def _check_spread(x: np.ndarray, y: np.ndarray, difference: float) -> None:
    """Two constant samples that differ make every t test's p-value 0 whatever n is: refuse them."""
    if x.size >= 1 and y.size >= 1 and np.ptp(x) == 0 and np.ptp(y) == 0 and difference != 0:
        raise ValueError(f"both samples are constant ({x[0]:g} in all {x.size} vs {y[0]:g} in all {y.size}): a "
                         "t test has no spread to measure; compare them as rates (compare_rates) or "
                         "with more varied seeds")


def compare_paired(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray,
                   level: float = 0.95) -> Comparison:
    """Mean of ``a`` against mean of ``b`` where ``a[i]`` and ``b[i]`` belong together (the same seed,
    the same base network): t intervals for both means, and the two-sided p-value of the paired t test
    (``scipy.stats.ttest_rel``) on the differences (NaN with fewer than two pairs). Pairs with a NaN
    are dropped."""
    x, y = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    if x.shape != y.shape:
        raise ValueError(f"compare_paired: {x.size} values against {y.size}; give one value of each per pair")
    keep = ~(np.isnan(x) | np.isnan(y))
    first, second = mean_interval(x[keep], level), mean_interval(y[keep], level)
    d = x[keep] - y[keep]
    if d.size < 2:
        return Comparison(first, second, float(d.mean()) if d.size else math.nan, math.nan, "paired t")
    if np.ptp(d) == 0:
        if d[0] != 0:
            raise ValueError(f"every pair differs by exactly {d[0]:g} ({d.size} pairs): a paired t test has "
                             "no spread to measure; report the count of pairs in each direction instead")
        return Comparison(first, second, 0.0, 1.0, "paired t", (0.0, 0.0), 0.0)
    test = sps.ttest_rel(x[keep], y[keep])
    ci = test.confidence_interval(level)
    spread = float(d.std(ddof=1)) / math.sqrt(d.size)
    return Comparison(first, second, float(d.mean()), float(test.pvalue), "paired t", (float(ci.low), float(ci.high)),
                      detectable_effect(spread))


def summarise(table: pd.DataFrame, by: str | Sequence[str], value: str,
              kind: Literal["mean", "rate", "median"] = "mean", level: float = 0.95,
              method: Literal["t", "bootstrap"] = "t", seed: int = 0) -> pd.DataFrame:
    """One row per group of ``by`` in a tidy ``table`` (a row per seed): the group's columns, then
    ``estimate``, ``low``, ``high``, ``n`` (values kept) and ``dropped`` (NaNs left out). ``kind="mean"``
    uses :func:`mean_interval` with ``method``; ``kind="median"`` :func:`median_interval`; ``kind="rate"``
    reads ``value`` as 0/1 (or bool) per seed and uses :func:`wilson`."""
    keys = [by] if isinstance(by, str) else list(by)
    missing = [c for c in keys + [value] if c not in table.columns]
    if missing:
        raise ValueError(f"summarise: no column(s) {missing} in the table (columns: {list(table.columns)})")
    if kind not in ("mean", "rate", "median"):
        raise ValueError(f"Invalid kind: {kind!r} (choose 'mean', 'median' or 'rate')")
    rows = []
    for group, part in table.groupby(keys, sort=True, observed=True, dropna=False):
        x = part[value].to_numpy(dtype=float)
        if kind == "rate":
            try:
                k, n = counts(x)
            except ValueError as error:
                raise ValueError(f"summarise: column {value!r}, group {group}, kind='rate': {error}") from None
            iv = replace(wilson(k, n, level), dropped=int(x.size - n))
        elif kind == "median":
            iv = median_interval(x, level)
        else:
            iv = mean_interval(x, level, method, seed)
        rows.append(dict(zip(keys, group), estimate=iv.estimate, low=iv.low, high=iv.high, n=iv.n,
                         dropped=iv.dropped))
    return pd.DataFrame(rows, columns=keys + ["estimate", "low", "high", "n", "dropped"])
