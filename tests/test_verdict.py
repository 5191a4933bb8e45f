"""gancore.verdict: the rule branch by branch, both readings, the configuration distance (seeds are not
configuration), and that a paper row at the paper's configuration can come out either way."""

from __future__ import annotations

import itertools
import math

import pytest

from gancore import stats, verdict
from gancore.verdict import Reading, Verdict

BETTER = stats.compare_rates(30, 32, 12, 32)   # first > second, p << 0.05
WORSE = stats.compare_rates(12, 32, 30, 32)    # first < second, p << 0.05
TIE = stats.compare_rates(20, 32, 18, 32)      # first > second, p ~ 0.8
BIG_TIE = stats.compare_rates(400, 800, 402, 800)  # no difference, difference interval about +-0.05
OURS = stats.wilson(26, 32)                    # 0.81 [0.65, 0.91]


def decide(**kw):
    kw.setdefault("kind", "paper")
    return verdict.decide(**kw)


# --- at the paper's configuration: both outcomes are possible --------------------------------------

def test_an_ordering_at_the_papers_configuration_is_reproduced_or_not_reproduced():
    yes = decide(direction=">", evidence=BETTER, margin=0.1)
    assert (yes.reading, yes.verdict) == (Reading.HOLDS, Verdict.REPRODUCED)
    assert yes.distance == () and yes.configuration == "the paper's configuration"
    no = decide(direction="<", evidence=BETTER, margin=0.1)
    assert (no.reading, no.verdict) == (Reading.REVERSED, Verdict.NOT_REPRODUCED)
    assert decide(direction="<", evidence=WORSE).verdict == Verdict.REPRODUCED


def test_a_number_within_the_margin_is_reproduced_and_beyond_it_not():
    yes = decide(direction="=", evidence=OURS, value=0.8, margin=0.2)   # [0.65, 0.91] inside [0.6, 1.0]
    assert (yes.reading, yes.verdict) == (Reading.AGREES, Verdict.REPRODUCED)
    no = decide(direction="=", evidence=OURS, value=0.3, margin=0.1)    # [0.65, 0.91] beyond [0.2, 0.4]
    assert (no.reading, no.verdict) == (Reading.DIFFERS, Verdict.NOT_REPRODUCED)
    # inside a wide interval is not enough: the interval must lie within the margin (equivalence)
    wide = decide(direction="=", evidence=stats.wilson(2, 4), value=0.5, margin=0.1)
    assert (wide.reading, wide.verdict) == (Reading.UNDECIDED, Verdict.INCONCLUSIVE)


def test_a_well_powered_null_excludes_the_claimed_effect_and_does_not_reproduce_it():
    f = decide(direction=">", evidence=BIG_TIE, margin=0.1)
    assert (f.reading, f.verdict) == (Reading.NO_DIFFERENCE, Verdict.NOT_REPRODUCED)
    assert "80% power" in f.reason and "margin 0.1 lies outside" in f.reason
    small = decide(direction=">", evidence=TIE, margin=0.1)  # 32 seeds cannot exclude 0.1
    assert (small.reading, small.verdict) == (Reading.NO_DIFFERENCE, Verdict.INCONCLUSIVE)
    assert f"detect {TIE.detectable:.3g} or more" in small.reason
    assert decide(direction=">", evidence=BIG_TIE).verdict == Verdict.INCONCLUSIVE  # no margin declared


def test_a_stricter_alpha_or_a_nan_p_value_leaves_the_ordering_undecided():
    assert decide(direction=">", evidence=BETTER, alpha=BETTER.p_value / 2).verdict == Verdict.INCONCLUSIVE
    undefined = stats.compare_means([1.0], [2.0, 3.0])
    assert decide(direction="<", evidence=undefined).reading == Reading.NO_DIFFERENCE
    one_seed = decide(direction="=", evidence=stats.mean_interval([0.3]), value=0.3, margin=0.1)
    assert one_seed.verdict == Verdict.INCONCLUSIVE and "unbounded" in one_seed.reason


def test_holm_adjusted_looks_are_named_in_the_row():
    looks = stats.along([stats.compare_rates(k, 32, 12, 32) for k in (13, 30, 31)])
    f = decide(direction=">", evidence=looks[1])
    assert "Holm-adjusted over 3 looks" in f.reason and f.verdict == Verdict.REPRODUCED


# --- away from it ------------------------------------------------------------------------------------

def test_a_remaining_difference_never_reproduces_or_refutes_but_keeps_our_reading():
    gap = ("ring.steps 3,000 vs 156,000 (1.9%)",)
    cases = [dict(direction="=", evidence=iv, value=v, margin=0.05) for v, iv in itertools.product(
        [0.0, 0.5, 0.85, 1.0], [OURS, stats.wilson(0, 32), stats.mean_interval([0.4, 0.5, 0.6])])]
    cases += [dict(direction=o, evidence=c, margin=0.1) for o, c in itertools.product("<>", [BETTER, WORSE, TIE])]
    for case in cases:
        f = decide(gap=gap, **case)
        assert f.verdict == Verdict.INCONCLUSIVE and f.distance == gap, case
        assert f.reading == decide(**case).reading  # the reading at our configuration is unchanged


def test_not_testable_without_a_run_names_what_is_missing_and_requires_it():
    f = decide(direction=">", needs="CelebA and a GPU")
    assert (f.reading, f.verdict) == (Reading.NONE, Verdict.NOT_TESTABLE) and "CelebA and a GPU" in f.reason
    assert f.configuration == "(not run)"
    with pytest.raises(ValueError, match="no evidence"):
        decide(direction=">")
    with pytest.raises(ValueError, match="no evidence"):
        decide(kind="theory", direction="=", needs="x")


def test_a_setting_that_is_not_available_gives_our_reading_only():
    f = decide(direction=">", evidence=BETTER, available=False)
    assert (f.reading, f.verdict) == (Reading.HOLDS, Verdict.NOT_TESTABLE)
    assert "not available" in f.reason and f.configuration == "(the paper's setting is not available)"


def test_arena_rows_get_their_own_labels():
    assert decide(kind="arena", direction=">", evidence=BETTER).verdict == Verdict.CARRIES_OVER
    assert decide(kind="arena", direction="<", evidence=BETTER).verdict == Verdict.DOES_NOT_CARRY_OVER
    assert decide(kind="arena", direction=">", evidence=TIE).verdict == Verdict.NO_DIFFERENCE
    assert decide(kind="arena", direction="=", evidence=OURS, value=0.8, margin=0.2).verdict == Verdict.CARRIES_OVER


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown kind"):
        decide(kind="other", direction=">", evidence=BETTER)
    with pytest.raises(ValueError, match="unknown direction"):
        decide(direction=">=", evidence=BETTER)
    with pytest.raises(ValueError, match="value must be a finite number"):
        decide(direction="=", evidence=OURS, value=math.nan, margin=0.1)
    with pytest.raises(ValueError, match="margin must be a finite number"):
        decide(direction="=", evidence=OURS, value=0.8, margin=math.nan)
    with pytest.raises(ValueError, match="margin must be >= 0"):
        decide(direction="=", evidence=OURS, value=0.8, margin=-1.0)
    with pytest.raises(ValueError, match="needs a Comparison"):
        decide(direction=">", evidence=OURS)
    with pytest.raises(ValueError, match="needs an Interval"):
        decide(direction="=", evidence=BETTER, value=0.8, margin=0.1)
    with pytest.raises(ValueError, match="needs a declared margin"):
        decide(direction="=", evidence=OURS, value=0.8)
    with pytest.raises(ValueError, match="alpha"):
        decide(direction=">", evidence=BETTER, alpha=5)


# --- configuration distance ----------------------------------------------------------------------------

def test_distance_compares_the_declared_keys_and_skips_seeds_and_evaluation_settings():
    ours = {"ring": {"steps": 3000, "seeds": 16, "lr": 1e-4, "betas": (0.9, 0.999), "n_eval": 5000,
                     "g_width": 64}}
    paper = {"ring.steps": 156_000, "ring.seeds": 200, "ring.lr": 0.0001, "ring.betas": [0.9, 0.999],
             "ring.n_eval": 25_000, "ring.loss": "saturating"}
    assert verdict.distance(ours, paper) == ["ring.steps 3,000 vs 156,000 (1.9%)", "ring.loss (not set) vs saturating"]
    assert verdict.distance(ours, paper, ignore=["ring.loss", "ring.steps"]) == []
    assert verdict.distance({"a": {"b": 0.3}}, {"a": {"b": 0.3000000000001}}) == []  # round-off is no difference
    assert verdict.distance({"x": 2e-4}, {"x": 1e-4}) == ["x 0.0002 vs 0.0001 (200%)"]
    assert verdict.distance({"w": (1, 2)}, {"w": [1, 3]}) == ["w (1, 2) vs (1, 3)"]


def test_flatten_dots_groups_and_turns_lists_into_tuples():
    assert verdict.flatten({"a": {"b": [1, 2], "c": {"d": 1}}, "e": "x"}) == {"a.b": (1, 2), "a.c.d": 1, "e": "x"}
