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
* **Verdicts** (:func:`verdict`): reproduced / not reproduced / inconclusive at this scale / not
  testable here, from the paper's number or ordering, our interval or comparison, and whether our
  configuration is the paper's; each names how far our configuration is from the paper's
  (:func:`distance`).

Missing values: a NaN (a seed whose metric could not be computed, e.g. a diverged run) is DROPPED
and the interval's ``n`` counts only the values kept; ``dropped`` says how many were dropped and
``str()`` shows it ("n=30, 2 NaN dropped"). Infinite values are an error.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from numbers import Number
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats as sps

__all__ = ["Interval", "wilson", "mean_interval", "median_interval", "Comparison", "counts", "compare_rates",
           "compare_means", "compare_paired", "distance", "Verdict", "Finding", "verdict", "summarise"]

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
                  method: Literal["t", "bootstrap"] = "t", seed: int = 0,
                  resamples: int = 10_000) -> Interval:
    """The mean of ``values`` (one per seed) with its ``level`` interval by Student's t
    (mean +- t_{n-1, (1+level)/2} s/sqrt(n), s the sample standard deviation) or the percentile
    bootstrap (``resamples`` resamples drawn by ``numpy.random.default_rng(seed)``).

    NaNs are dropped (counted in ``dropped``); no value left -> ``ValueError``; a single value gives
    the interval (-inf, inf): one seed says nothing about the spread."""
    x, dropped = _values(values, "values")
    level = _check_level(level)
    n, mean = x.size, float(x.mean())
    if method not in ("t", "bootstrap"):
        raise ValueError(f"Invalid method: {method!r} (choose 't' or 'bootstrap')")
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
    (">", "<" or "="), the two-sided ``p_value`` of ``method`` (NaN when the test is undefined)."""

    first: Interval
    second: Interval
    difference: float
    p_value: float
    method: str

    @property
    def direction(self) -> str:
        return ">" if self.difference > 0 else "<" if self.difference < 0 else "="

    def __str__(self) -> str:
        return (f"{self.first} vs {self.second}: difference {self.difference:+.3g}, "
                f"{self.method} p={self.p_value:.2g}")


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
    return Comparison(first, second, first.estimate - second.estimate, min(p, 1.0), "Fisher")


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
    if method == "welch":
        if x.size < 2 or y.size < 2:
            p = math.nan
        elif x.var() == 0 and y.var() == 0:
            p = 1.0 if difference == 0 else 0.0
        else:
            p = float(sps.ttest_ind(x, y, equal_var=False).pvalue)
        return Comparison(first, second, difference, p, "Welch")
    if method == "permutation":
        if resamples < 1:
            raise ValueError(f"Invalid resamples: {resamples} (need at least one; 10,000 is usual)")
        return Comparison(first, second, difference, _permutation_p(x, y, seed, resamples), "permutation")
    raise ValueError(f"Invalid method: {method!r} (choose 'welch' or 'permutation')")


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
        p = math.nan
    elif np.all(d == d[0]):
        p = 1.0 if d[0] == 0 else 0.0
    else:
        p = float(sps.ttest_rel(x[keep], y[keep]).pvalue)
    return Comparison(first, second, float(d.mean()), p, "paired t")


def _number(x: object) -> bool:
    return isinstance(x, Number) and not isinstance(x, bool)


def _show(x: object) -> str:
    if isinstance(x, int) and not isinstance(x, bool):
        return f"{x:,}"
    if isinstance(x, float):
        return f"{x:,.0f}" if x.is_integer() and abs(x) >= 1 else f"{x:.4g}"
    return str(x)


def _percent(ratio: float) -> str:
    pct = 100 * ratio
    return f"{pct:,.0f}%" if abs(pct) >= 10 else f"{pct:.2g}%"


def distance(ours: Mapping[str, object], paper: Mapping[str, object]) -> list[str]:
    """How our configuration differs from the paper's, one phrase per differing key (the paper's keys
    first, in its order, then keys only we have): numbers as "steps 3,000 vs 156,000 (1.9%)" (ours as
    a percentage of the paper's), anything else as "networks 3x64 vs 4x400/4x200"; a key one side
    lacks reads "(not stated)". Equal values give nothing: an empty list is the paper's configuration."""
    out = []
    for key in list(paper) + [k for k in ours if k not in paper]:
        a, b = ours.get(key, "(not stated)"), paper.get(key, "(not stated)")
        if a == b:
            continue
        text = f"{key} {_show(a)} vs {_show(b)}"
        if _number(a) and _number(b) and b != 0:
            text += f" ({_percent(float(a) / float(b))})"
        out.append(text)
    return out


class Verdict(StrEnum):
    """The book's four verdicts (issue 13); a ``StrEnum``, so each equals its text."""

    REPRODUCED = "reproduced"
    NOT_REPRODUCED = "not reproduced"
    INCONCLUSIVE = "inconclusive at this scale"
    NOT_TESTABLE = "not testable here"


@dataclass(frozen=True)
class Finding:
    """A verdict with its one-sentence ``reason`` (with the numbers) and the configuration
    ``distance`` from the paper's (empty: the paper's configuration)."""

    verdict: Verdict
    reason: str
    distance: tuple[str, ...] = field(default=())

    def __str__(self) -> str:
        where = "; ".join(self.distance) if self.distance else "the paper's configuration"
        return f"{self.verdict}: {self.reason} [configuration: {where}]"


def verdict(*, equivalent: bool, paper_value: float | None = None, ours: Interval | None = None,
            paper_order: Literal[">", "<"] | None = None, comparison: Comparison | None = None,
            alpha: float = 0.05, tolerance: float = 0.0, testable: str | None = None, claim: str = "",
            ours_config: Mapping[str, object] | None = None,
            paper_config: Mapping[str, object] | None = None) -> Finding:
    """Decide one claim of the paper: either its number ``paper_value`` against our interval ``ours``,
    or its ordering ``paper_order`` (">": the comparison's first sample beats its second) against our
    ``comparison``. The rule (issue 13):

    1. ``testable`` is not None (what this machine lacks) -> not testable here;
    2. our configuration is not the paper's nor argued ``equivalent`` -> inconclusive at this scale,
       whatever the numbers;
    3. at an equivalent configuration: the paper's number inside our interval, or the paper's ordering
       holding with p < ``alpha`` -> reproduced; the number outside, or the opposite ordering with
       p < ``alpha`` -> not reproduced;
    4. everything else (an ordering not significant, an unbounded interval from one seed, an
       undefined p-value) -> inconclusive at this scale.

    ``tolerance`` (number claims): the paper's number counts as inside our interval when it lies within
    ``tolerance`` of it (a solver's accuracy, where the paper's number is exact, e.g. a zero gap).
    ``claim`` (e.g. "NS alpha_D=0.5 beats alpha_D=1") starts the reason; ``distance(ours_config,
    paper_config)`` goes into the finding. Exactly one claim (number or ordering) per call, except
    when not testable."""
    by_value = paper_value is not None or ours is not None
    by_order = paper_order is not None or comparison is not None
    if by_value and (paper_value is None or ours is None):
        raise ValueError("verdict: a number claim needs both paper_value and ours (our Interval)")
    if by_order and (paper_order is None or comparison is None):
        raise ValueError("verdict: an ordering claim needs both paper_order ('>' or '<') and comparison")
    if by_order and paper_order not in (">", "<"):
        raise ValueError(f"Invalid paper_order: {paper_order!r} (choose '>' or '<': first vs second)")
    if by_value and by_order:
        raise ValueError("verdict: one claim per call; decide the paper's number and its ordering separately")
    if not (by_value or by_order or testable is not None):
        raise ValueError("verdict: give paper_value with ours, or paper_order with comparison "
                         "(or testable='what is missing')")
    if not 0 < alpha < 1:
        raise ValueError(f"Invalid alpha: {alpha} (a significance level lies in (0, 1), e.g. 0.05)")
    gap = tuple(distance(ours_config or {}, paper_config or {}))
    prefix = f"{claim}: " if claim else ""

    def found(v: Verdict, reason: str) -> Finding:
        return Finding(v, prefix + reason, gap)

    if testable is not None:
        return found(Verdict.NOT_TESTABLE, f"needs {testable}")
    if by_value:
        if tolerance < 0:
            raise ValueError(f"Invalid tolerance: {tolerance} (a distance, >= 0)")
        inside = bool(ours.low - tolerance <= paper_value <= ours.high + tolerance)
        within = f" (within {tolerance:g})" if tolerance else ""
        evidence = f"the paper's {paper_value:g} lies {'inside' if inside else 'outside'} our {ours}{within}"
        if not equivalent:
            return found(Verdict.INCONCLUSIVE, f"{evidence}, at a configuration not equivalent to the paper's")
        if not ours.finite:
            return found(Verdict.INCONCLUSIVE, f"our interval {ours} is unbounded (one seed)")
        return found(Verdict.REPRODUCED if inside else Verdict.NOT_REPRODUCED, evidence)
    seen = comparison.direction
    significant = comparison.p_value < alpha  # False for NaN
    state = ("shows no difference" if seen == "=" else "holds" if seen == paper_order else "is reversed")
    if seen != "=":
        state += " significantly" if significant else ", not significantly,"
    evidence = f"the paper's ordering (first {paper_order} second) {state} at alpha={alpha:g}: {comparison}"
    if not equivalent:
        return found(Verdict.INCONCLUSIVE, f"{evidence}, at a configuration not equivalent to the paper's")
    if significant and seen == paper_order:
        return found(Verdict.REPRODUCED, evidence)
    if significant and seen != "=":
        return found(Verdict.NOT_REPRODUCED, evidence)
    return found(Verdict.INCONCLUSIVE, evidence)


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
