"""gancore.stats: Wilson and mean intervals against known values and scipy, their coverage and scaling,
the two-sample tests, the verdict rule branch by branch, configuration distances, summarise."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from gancore import stats
from gancore.stats import Interval, Verdict


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
    assert stats.compare_means([2.0, 2.0], [3.0, 3.0]).p_value == 0.0
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


# --- verdicts -------------------------------------------------------------------------------------

BETTER = stats.compare_rates(30, 32, 12, 32)   # first > second, p << 0.05
WORSE = stats.compare_rates(12, 32, 30, 32)    # first < second, p << 0.05
TIE = stats.compare_rates(20, 32, 18, 32)      # first > second, p ~ 0.8
OURS = stats.wilson(26, 32)                    # 0.81 [0.65, 0.91]


def test_not_testable_names_what_is_missing():
    f = stats.verdict(equivalent=True, testable="a GPU and LSUN")
    assert f.verdict == Verdict.NOT_TESTABLE == "not testable here"
    assert "a GPU and LSUN" in f.reason
    assert stats.verdict(equivalent=True, paper_value=0.85, ours=OURS, testable="CelebA").verdict == "not testable here"


def test_paper_number_inside_our_interval_is_reproduced():
    f = stats.verdict(equivalent=True, paper_value=0.85, ours=OURS, claim="success rate")
    assert f.verdict == Verdict.REPRODUCED
    assert f.reason == "success rate: the paper's 0.85 lies inside our 0.81 [0.65, 0.91], n=32"
    assert f.distance == () and str(f).endswith("[configuration: the paper's configuration]")


def test_paper_number_outside_our_interval_is_not_reproduced():
    f = stats.verdict(equivalent=True, paper_value=0.5, ours=OURS)
    assert f.verdict == Verdict.NOT_REPRODUCED and "0.5 lies outside" in f.reason


def test_paper_ordering_holding_significantly_is_reproduced():
    f = stats.verdict(equivalent=True, paper_order=">", comparison=BETTER)
    assert f.verdict == Verdict.REPRODUCED and "holds significantly" in f.reason
    assert stats.verdict(equivalent=True, paper_order="<", comparison=WORSE).verdict == Verdict.REPRODUCED


def test_opposite_ordering_holding_significantly_is_not_reproduced():
    f = stats.verdict(equivalent=True, paper_order="<", comparison=BETTER)
    assert f.verdict == Verdict.NOT_REPRODUCED and "is reversed significantly" in f.reason


def test_everything_else_is_inconclusive():
    assert stats.verdict(equivalent=True, paper_order=">", comparison=TIE).verdict == Verdict.INCONCLUSIVE
    assert stats.verdict(equivalent=True, paper_order="<", comparison=TIE).verdict == Verdict.INCONCLUSIVE
    same = stats.compare_means([1.0, 2.0], [1.0, 2.0])
    assert stats.verdict(equivalent=True, paper_order=">", comparison=same).verdict == Verdict.INCONCLUSIVE
    undefined = stats.compare_means([1.0], [2.0, 3.0])  # Welch p is NaN
    assert stats.verdict(equivalent=True, paper_order="<", comparison=undefined).verdict == Verdict.INCONCLUSIVE
    one_seed = stats.mean_interval([0.3])
    f = stats.verdict(equivalent=True, paper_value=0.3, ours=one_seed)
    assert f.verdict == Verdict.INCONCLUSIVE and "unbounded" in f.reason
    # a stricter alpha turns a significant ordering into an inconclusive one
    assert stats.verdict(equivalent=True, paper_order=">", comparison=BETTER,
                         alpha=BETTER.p_value / 2).verdict == Verdict.INCONCLUSIVE


def test_a_non_equivalent_configuration_never_reproduces_or_refutes():
    ours, paper = {"steps": 3000, "seeds": 32}, {"steps": 156_000, "seeds": 200}
    claims = [dict(paper_value=v, ours=iv) for v, iv in itertools.product(
        [0.0, 0.5, 0.85, 1.0], [OURS, stats.wilson(0, 32), stats.mean_interval([0.4, 0.5, 0.6])])]
    claims += [dict(paper_order=o, comparison=c) for o, c in itertools.product(">", [BETTER, WORSE, TIE])]
    claims += [dict(paper_order=o, comparison=c) for o, c in itertools.product("<", [BETTER, WORSE, TIE])]
    for claim in claims:
        f = stats.verdict(equivalent=False, ours_config=ours, paper_config=paper, **claim)
        assert f.verdict == Verdict.INCONCLUSIVE, claim
        assert "not equivalent" in f.reason
        assert f.distance == ("steps 3,000 vs 156,000 (1.9%)", "seeds 32 vs 200 (16%)")


def test_verdict_refuses_ambiguous_calls():
    with pytest.raises(ValueError, match="one claim per call"):
        stats.verdict(equivalent=True, paper_value=0.8, ours=OURS, paper_order=">", comparison=BETTER)
    with pytest.raises(ValueError, match="both paper_value and ours"):
        stats.verdict(equivalent=True, paper_value=0.8)
    with pytest.raises(ValueError, match="paper_order"):
        stats.verdict(equivalent=True, paper_order=">=", comparison=BETTER)
    with pytest.raises(ValueError, match="give paper_value"):
        stats.verdict(equivalent=True)
    with pytest.raises(ValueError, match="alpha"):
        stats.verdict(equivalent=True, paper_value=0.8, ours=OURS, alpha=5)


# --- configuration distance -----------------------------------------------------------------------

def test_distance_formats_numbers_as_ratios_and_the_rest_as_a_vs_b():
    ours = {"networks": "3x64", "optimizer": "Adam", "steps": 3000, "seeds": 32, "lr": 2e-4,
            "batch": 256.0, "data": "ring", "spectral_norm": False}
    paper = {"networks": "4x400/4x200", "optimizer": "Adam", "steps": 156_000, "seeds": 200,
             "lr": 1e-4, "batch": 64, "data": "ring", "spectral_norm": True, "epochs": 0}
    assert stats.distance(ours, paper) == [
        "networks 3x64 vs 4x400/4x200",
        "steps 3,000 vs 156,000 (1.9%)",
        "seeds 32 vs 200 (16%)",
        "lr 0.0002 vs 0.0001 (200%)",
        "batch 256 vs 64 (400%)",
        "spectral_norm False vs True",
        "epochs (not stated) vs 0",
    ]
    assert stats.distance({"steps": 10, "extra": "x"}, {"steps": 100_000}) == [
        "steps 10 vs 100,000 (0.01%)", "extra x vs (not stated)"]
    assert stats.distance(paper, paper) == []


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
    assert stats.compare_paired([1.0, 2.0, np.nan], [0.0, 1.0, 5.0]).p_value == 0.0  # constant difference 1
    with pytest.raises(ValueError, match="one value of each per pair"):
        stats.compare_paired([1.0, 2.0], [1.0])


def test_verdict_tolerance_widens_the_interval_for_an_exact_number():
    gap = stats.mean_interval([2e-9, 3e-9, 2.5e-9, 4e-9])
    assert stats.verdict(equivalent=True, paper_value=0.0, ours=gap).verdict == Verdict.NOT_REPRODUCED
    found = stats.verdict(equivalent=True, paper_value=0.0, ours=gap, tolerance=1e-6)
    assert found.verdict == Verdict.REPRODUCED and "within 1e-06" in found.reason
    with pytest.raises(ValueError, match="tolerance"):
        stats.verdict(equivalent=True, paper_value=0.0, ours=gap, tolerance=-1.0)


def test_tiny_intervals_print_in_scientific_notation():
    assert str(stats.mean_interval([2e-10, 4e-10, 3e-10])) == "3.0e-10 [5.2e-11, 5.5e-10], n=3"
    assert str(stats.wilson(0, 10)) == "0.00 [0.00, 0.28], n=10"  # not tiny: its upper bound is 0.28
