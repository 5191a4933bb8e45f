"""gancore.stats: Wilson and mean intervals against known values and scipy, their coverage and scaling,
the two-sample tests with their difference intervals and detectable effects, Holm, summarise."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from gancore import stats
from gancore.stats import Interval


# --- Wilson ---------------------------------------------------------------------------------------

def test_wilson_known_values():
    zero = stats.wilson(0, 10)
    assert (zero.low, zero.estimate) == (0.0, 0.0)
    assert zero.high == pytest.approx(0.277533, abs=1e-6)  # z^2/(n + z^2) with z = 1.959964
    half = stats.wilson(5, 10)
    assert (round(half.low, 4), round(half.high, 4)) == (0.2366, 0.7634)
    assert (half.n, half.level, half.method) == (10, 0.95, "wilson")
    full = stats.wilson(10, 10)
    assert full.high == 1.0 and full.low == pytest.approx(1 - 0.277533, abs=1e-6)


@pytest.mark.parametrize("n", [1, 7, 32, 200])
def test_wilson_is_symmetric_in_successes_and_failures(n):
    for k in range(n + 1):
        a, b = stats.wilson(k, n), stats.wilson(n - k, n)
        assert a.low == pytest.approx(1 - b.high, abs=1e-12)
        assert a.high == pytest.approx(1 - b.low, abs=1e-12)
        assert 0.0 <= a.low <= a.estimate <= a.high <= 1.0


def test_wilson_coverage_by_simulation_is_near_95_percent():
    p, n = 0.3, 50
    covers = np.array([stats.wilson(k, n).contains(p) for k in range(n + 1)])
    draws = np.random.default_rng(2024).binomial(n, p, size=20_000)
    assert covers[draws].mean() == pytest.approx(0.95, abs=0.025)


def test_wilson_rejects_bad_counts():
    with pytest.raises(ValueError, match="n: 0"):
        stats.wilson(0, 0)
    with pytest.raises(ValueError, match="successes: 11"):
        stats.wilson(11, 10)
    with pytest.raises(ValueError, match="whole number"):
        stats.wilson(2.5, 10)
    with pytest.raises(ValueError, match="level"):
        stats.wilson(2, 10, level=95)
    assert stats.wilson(np.int64(3), 10.0) == stats.wilson(3, 10)  # integral values of any type


# --- means ----------------------------------------------------------------------------------------

def test_t_interval_equals_scipys():
    x = np.random.default_rng(0).normal(1.0, 2.0, size=17)
    ours = stats.mean_interval(x, level=0.9)
    low, high = sps.t.interval(0.9, len(x) - 1, loc=x.mean(), scale=sps.sem(x))
    assert (ours.estimate, ours.n, ours.method) == (pytest.approx(x.mean()), 17, "t")
    assert (ours.low, ours.high) == (pytest.approx(low, rel=1e-12), pytest.approx(high, rel=1e-12))


@pytest.mark.parametrize("method", ["t", "bootstrap"])
def test_one_value_gives_an_unbounded_interval_and_nans_are_dropped(method):
    one = stats.mean_interval([0.7], method=method)
    assert (one.estimate, one.low, one.high, one.n) == (0.7, -math.inf, math.inf, 1)
    assert not one.finite and one.contains(123.0)
    kept = stats.mean_interval([1.0, np.nan, 3.0, np.nan, 2.0], method=method)
    assert (kept.estimate, kept.n, kept.dropped) == (2.0, 3, 2)
    assert str(kept).endswith("n=3, 2 NaN dropped")
    with pytest.raises(ValueError, match="all NaN"):
        stats.mean_interval([np.nan, np.nan], method=method)
    with pytest.raises(ValueError, match="no values"):
        stats.mean_interval([], method=method)
    with pytest.raises(ValueError, match="infinite"):
        stats.mean_interval([1.0, np.inf], method=method)


def test_bootstrap_contains_the_mean_shrinks_like_one_over_root_n_and_is_seeded():
    rng = np.random.default_rng(1)
    small, large = rng.normal(size=25), rng.normal(size=400)
    a, b = stats.mean_interval(small, method="bootstrap"), stats.mean_interval(large, method="bootstrap")
    assert a.low < small.mean() < a.high and b.low < large.mean() < b.high
    assert (a.high - a.low) / (b.high - b.low) == pytest.approx(4.0, rel=0.2)  # sqrt(400 / 25)
    t = stats.mean_interval(large)
    assert (b.low, b.high) == (pytest.approx(t.low, abs=0.02), pytest.approx(t.high, abs=0.02))
    assert stats.mean_interval(small, method="bootstrap", seed=3) == stats.mean_interval(small, method="bootstrap", seed=3)
    assert stats.mean_interval(small, method="bootstrap", seed=3) != a
    with pytest.raises(ValueError, match="method"):
        stats.mean_interval(small, method="bca")


def test_median_interval_is_between_order_statistics_with_binomial_coverage():
    """n = 8: [x_(1), x_(8)] covers the median with probability 1 - 2/2^8 = 0.992, while [x_(2), x_(7)]
    would cover it with only 1 - 2 * 9/256 = 0.930 < 0.95; n = 5 has no 95% interval (0.9375)."""
    x = [5.0, 1.0, 7.0, 3.0, 2.0, 8.0, 4.0, 6.0]
    iv = stats.median_interval(x)
    assert (iv.estimate, iv.low, iv.high, iv.n, iv.method) == (4.5, 1.0, 8.0, 8, "order statistics")
    narrower = stats.median_interval(x, level=0.9)  # 0.930 >= 0.9: one order statistic in from each end
    assert (narrower.low, narrower.high) == (2.0, 7.0)
    assert not stats.median_interval([1.0, 2.0, 3.0, 4.0, 5.0]).finite
    assert stats.median_interval(range(6)).finite  # 1 - 2/64 = 0.969
    big = np.arange(100.0)
    j = next(k for k in range(50, 0, -1) if 1 - 2 * sps.binom.cdf(k - 1, 100, 0.5) >= 0.95)
    assert (stats.median_interval(big).low, stats.median_interval(big).high) == (big[j - 1], big[100 - j])
    kept = stats.median_interval([3.0, np.nan, 1.0, 2.0, 5.0, 4.0, 6.0, np.nan])
    assert (kept.estimate, kept.n, kept.dropped) == (3.5, 6, 2)
    with pytest.raises(ValueError, match="all NaN"):
        stats.median_interval([np.nan])


def test_median_interval_covers_the_median_at_least_at_its_level():
    """Coverage over 4,000 samples of 10 from a skewed distribution (log-normal, median 1), against
    the exact coverage of [x_(2), x_(9)]: 1 - 2 P(B <= 1) = 0.979 for B ~ Binomial(10, 1/2)."""
    rng = np.random.default_rng(0)
    hits = 0
    for _ in range(4000):
        iv = stats.median_interval(rng.lognormal(size=10))
        hits += iv.contains(1.0)
    exact = 1 - 2 * sps.binom.cdf(1, 10, 0.5)
    assert hits / 4000 == pytest.approx(exact, abs=0.01) and exact >= 0.95


def test_interval_text_and_contains():
    assert str(Interval(0.8125, 0.6446, 0.9143, 32)) == "0.81 [0.64, 0.91], n=32"
    assert str(Interval(1234.5, 1100.0, 1400.0, 8)) == "1234 [1100, 1400], n=8"
    assert str(Interval(0.5, 0.5, 0.5, 4)) == "0.50 [0.50, 0.50], n=4"
    iv = Interval(0.5, 0.4, 0.6, 10)
    assert iv.contains(0.4) and iv.contains(0.6) and not iv.contains(0.61) and not iv.contains(np.nan)


# --- two samples ----------------------------------------------------------------------------------

def test_fisher_p_value_against_scipy_and_the_tea_tasting_table():
    tea = stats.compare_rates(3, 4, 1, 4)  # Fisher's lady tasting tea: two-sided p = 34/70
    assert tea.p_value == pytest.approx(34 / 70, rel=1e-12)
    assert (tea.difference, tea.direction, tea.method) == (0.5, ">", "Fisher")
    c = stats.compare_rates(19, 32, 26, 32)
    assert c.p_value == pytest.approx(sps.fisher_exact([[19, 13], [26, 6]]).pvalue, rel=1e-12)
    assert c.direction == "<" and c.first == stats.wilson(19, 32) and c.second == stats.wilson(26, 32)
    assert stats.compare_rates(5, 10, 5, 10).p_value == 1.0


def test_welch_equals_scipy_and_handles_degenerate_samples():
    rng = np.random.default_rng(5)
    a, b = rng.normal(0, 1, 12), rng.normal(0.8, 2, 20)
    c = stats.compare_means(a, b)
    assert c.p_value == pytest.approx(sps.ttest_ind(a, b, equal_var=False).pvalue, rel=1e-12)
    assert c.difference == pytest.approx(a.mean() - b.mean()) and c.method == "Welch"
    assert stats.compare_means([2.0, 2.0], [2.0, 2.0]).p_value == 1.0
    with pytest.raises(ValueError, match="both samples are constant"):  # p = 0 from two seeds, refused
        stats.compare_means([2.0, 2.0], [3.0, 3.0])
    assert math.isnan(stats.compare_means([1.0], [2.0, 3.0]).p_value)


def test_permutation_p_value_is_close_to_welch_on_normal_data_and_one_for_identical_samples():
    rng = np.random.default_rng(7)
    a, b = rng.normal(0.0, 1.0, 30), rng.normal(0.0, 1.0, 30)
    b += a.mean() - b.mean() + 0.5  # means exactly 0.5 apart: Welch p ~ 0.03
    welch = stats.compare_means(a, b)
    perm = stats.compare_means(a, b, method="permutation", seed=0)
    assert 0.005 < welch.p_value < 0.2  # a case where the tests have something to agree on
    assert perm.p_value == pytest.approx(welch.p_value, abs=0.01)
    assert perm == stats.compare_means(a, b, method="permutation", seed=0)
    same = stats.compare_means(a, a.copy(), method="permutation", resamples=500)
    assert same.p_value == 1.0 and same.direction == "="
    far = stats.compare_means(a, a + 100, method="permutation", resamples=999)
    assert far.p_value == pytest.approx(1 / 1000)  # never zero
    with pytest.raises(ValueError, match="method"):
        stats.compare_means(a, b, method="mannwhitney")


# --- summarise ------------------------------------------------------------------------------------

def test_summarise_gives_one_interval_per_group():
    table = pd.DataFrame({
        "loss": ["NS"] * 5 + ["alpha"] * 4,
        "lr": [1, 1, 1, 2, 2, 1, 1, 2, 2],
        "success": [1, 0, 1, 1, np.nan, True, True, False, True],
        "modes": [8, 7, 6, 5, 8, 8, 8, np.nan, 4],
    })
    rates = stats.summarise(table, "loss", "success", kind="rate")
    assert list(rates.columns) == ["loss", "estimate", "low", "high", "n", "dropped"]
    ns = rates.set_index("loss").loc["NS"]
    w = stats.wilson(3, 4)
    assert (ns.estimate, ns.low, ns.high, ns.n, ns.dropped) == (w.estimate, w.low, w.high, 4, 1)
    means = stats.summarise(table, ["loss", "lr"], "modes")
    assert len(means) == 4 and list(means.columns[:2]) == ["loss", "lr"]
    row = means[(means.loss == "NS") & (means.lr == 1)].iloc[0]
    t = stats.mean_interval([8, 7, 6])
    assert (row.estimate, row.low, row.high, row.n) == (t.estimate, t.low, t.high, 3)
    one = means[(means.loss == "alpha") & (means.lr == 2)].iloc[0]
    assert (one.n, one.dropped, one.low) == (1, 1, -math.inf)
    medians = stats.summarise(table, "loss", "modes", kind="median").set_index("loss")
    assert medians.loc["NS", "estimate"] == 7.0 and medians.loc["NS", "n"] == 5
    with pytest.raises(ValueError, match="0/1"):
        stats.summarise(table, "loss", "modes", kind="rate")
    with pytest.raises(ValueError, match="no column"):
        stats.summarise(table, "seed", "modes")


def test_counts_reads_per_seed_outcomes_for_the_rate_functions():
    assert stats.counts([1, 0, 1, 1, float("nan")]) == (3, 4)
    assert stats.counts(np.array([True, False])) == (1, 2)
    k1, n1 = stats.counts([1, 1, 1, 0])
    assert stats.compare_rates(k1, n1, *stats.counts([0, 0, 0, 1])).difference == pytest.approx(0.5)
    with pytest.raises(ValueError, match="0/1"):
        stats.counts([0.5, 1.0])


def test_compare_paired_tests_the_differences_not_the_two_spreads():
    """Pairs that differ by almost the same amount are significant even when each sample is spread
    out: the paired p-value is scipy's ttest_rel, far below Welch's on the same numbers."""
    base = np.array([10.0, 200.0, 35.0, 900.0])
    better = base - np.array([5.0, 6.0, 5.5, 6.5])
    paired = stats.compare_paired(better, base)
    assert paired.p_value == pytest.approx(sps.ttest_rel(better, base).pvalue) and paired.p_value < 0.001
    assert stats.compare_means(better, base).p_value > 0.5
    assert paired.difference == pytest.approx(-5.75) and paired.direction == "<"
    assert math.isnan(stats.compare_paired([1.0], [2.0]).p_value)
    with pytest.raises(ValueError, match="every pair differs by exactly 1"):
        stats.compare_paired([1.0, 2.0, np.nan], [0.0, 1.0, 5.0])
    with pytest.raises(ValueError, match="one value of each per pair"):
        stats.compare_paired([1.0, 2.0], [1.0])


def test_tiny_intervals_print_in_scientific_notation():
    assert str(stats.mean_interval([2e-10, 4e-10, 3e-10])) == "3.0e-10 [5.2e-11, 5.5e-10], n=3"
    assert str(stats.wilson(0, 10)) == "0.00 [0.00, 0.28], n=10"  # not tiny: its upper bound is 0.28


# --- difference intervals, detectable effects, Holm, log intervals --------------------------------

def test_welch_and_paired_difference_intervals_equal_scipys_and_cover_the_difference():
    rng = np.random.default_rng(3)
    a, b = rng.normal(1.0, 1.0, 15), rng.normal(0.0, 2.0, 25)
    c = stats.compare_means(a, b)
    ci = sps.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert c.difference_interval == pytest.approx((ci.low, ci.high))
    assert c.difference_interval[0] < c.difference < c.difference_interval[1]
    p = stats.compare_paired(a[:10], b[:10])
    d = a[:10] - b[:10]
    half = sps.t.ppf(0.975, 9) * d.std(ddof=1) / math.sqrt(10)
    assert p.difference_interval == pytest.approx((d.mean() - half, d.mean() + half))


def test_newcombe_interval_matches_the_published_example():
    """Newcombe (1998), Table II, example (a): 56/70 vs 48/80, method 10: [0.0524, 0.3339]."""
    c = stats.compare_rates(56, 70, 48, 80)
    assert c.difference == pytest.approx(0.2)
    assert c.difference_interval == pytest.approx((0.0524, 0.3339), abs=5e-4)


def test_newcombe_interval_covers_the_true_difference_at_about_its_level():
    rng = np.random.default_rng(0)
    hits = 0
    for _ in range(2000):
        k1, k2 = rng.binomial(30, 0.6), rng.binomial(30, 0.4)
        low, high = stats.compare_rates(k1, 30, k2, 30).difference_interval
        hits += low <= 0.2 <= high
    assert 0.93 <= hits / 2000 <= 0.975


def test_detectable_effect_is_the_sample_size_formula_and_has_80_percent_power():
    assert stats.detectable_effect(1.0) == pytest.approx(1.959964 + 0.841621, rel=1e-6)
    assert stats.detectable_effect(0.0) == 0.0
    with pytest.raises(ValueError):
        stats.detectable_effect(-1.0)
    # simulated power of Welch's test at the reported effect, n = 40 per arm, sd 1: about 0.8
    c = stats.compare_means(np.linspace(-1.7, 1.7, 40), np.linspace(-1.7, 1.7, 40))
    effect, rng, rejected = c.detectable, np.random.default_rng(1), 0
    for _ in range(1000):
        x, y = rng.normal(effect, 1.0, 40), rng.normal(0.0, 1.0, 40)
        rejected += sps.ttest_ind(x, y, equal_var=False).pvalue < 0.05
    assert abs(np.std(np.linspace(-1.7, 1.7, 40), ddof=1) - 1.0) < 0.05
    assert 0.74 <= rejected / 1000 <= 0.86


def test_holm_against_a_hand_worked_case_and_its_monotonicity():
    # sorted p: 0.01, 0.03, 0.04 -> 3*0.01, max(0.03, 2*0.03), max(0.06, 1*0.04) = 0.03, 0.06, 0.06
    assert np.allclose(stats.holm([0.04, 0.01, 0.03]), [0.06, 0.03, 0.06])
    adjusted = stats.holm([0.5, 0.2, float("nan"), 0.9])
    # m = 3 (the NaN does not count): 3*0.2 = 0.6, 2*0.5 = 1.0, max(1.0, 1*0.9) = 1.0
    assert math.isnan(adjusted[2]) and np.allclose(adjusted[[0, 1, 3]], [1.0, 0.6, 1.0])
    assert stats.holm([]).size == 0


def test_along_adjusts_every_look_and_records_how_many():
    looks = [stats.compare_rates(k, 16, 4, 16) for k in (5, 12, 14)]
    adjusted = stats.along(looks)
    assert [c.looks for c in adjusted] == [3, 3, 3]
    assert all(a.p_value >= c.p_value for a, c in zip(adjusted, looks))
    assert [a.p_value for a in adjusted] == pytest.approx(list(stats.holm([c.p_value for c in looks])))


def test_log_interval_of_positive_values_is_positive_and_geometric():
    x = [1.0, 10.0, 100.0]
    iv = stats.mean_interval(x, method="log")
    assert iv.estimate == pytest.approx(10.0) and iv.low > 0 and iv.method == "log t"
    assert stats.mean_interval(x).low < 0 < iv.low  # the plain t interval of the same values goes negative
    logs = stats.mean_interval(np.log(x))
    assert (iv.low, iv.high) == pytest.approx((math.exp(logs.low), math.exp(logs.high)))
    with pytest.raises(ValueError, match="positive"):
        stats.mean_interval([1.0, 0.0], method="log")
