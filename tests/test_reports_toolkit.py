"""gancore.reports.toolkit: the toolkit chapter's words about the ring, computed from the numbers, its
table over seeds and its feature-space floor."""

from __future__ import annotations

import pandas as pd
import pytest

from gancore import data, metrics
from gancore.reports import toolkit


def _seeds(modes, hqs=None, n_modes=8):
    hqs = hqs if hqs is not None else [0.5] * len(modes)
    return pd.DataFrame({"seed": range(len(modes)), "modes": modes, "hqs": hqs,
                         "success": [float(k == n_modes) for k in modes], "failure": [float(k == 0) for k in modes]})


def test_seed_outcome_says_what_the_last_evaluation_shows():
    assert toolkit.seed_outcome({"modes": 8.0, "hqs": 0.7292}, 8) == (
        "covers all 8 modes, with 73% of its samples within 3 sigma of a mode")
    assert toolkit.seed_outcome({"modes": 4, "hqs": 0.0144}, 8) == (
        "covers 4 of the 8 modes, with 1% of its samples within 3 sigma of a mode")
    assert toolkit.seed_outcome(pd.Series({"modes": 0.0, "hqs": 0.0}), 25).startswith("covers no mode (a failure)")
    assert toolkit.seed_outcome({"modes": 25, "hqs": 1.0}, 25).startswith("covers all 25 modes, with 100%")
    for bad in ({"modes": 9, "hqs": 0.5}, {"modes": 2.5, "hqs": 0.5}, {"modes": -1, "hqs": 0.5}):
        with pytest.raises(ValueError, match="modes covered"):
            toolkit.seed_outcome(bad, 8)
    with pytest.raises(ValueError, match="hqs"):
        toolkit.seed_outcome({"modes": 3, "hqs": 1.2}, 8)


def test_over_seeds_gives_rates_and_means_with_intervals_computed_by_hand():
    table = toolkit.over_seeds(_seeds([8, 8, 5, 0], hqs=[0.9, 0.8, 0.3, 0.0]), 8)
    got = dict(zip(table["metric"], table["over seeds"]))
    # Wilson, 2 of 4: centre 0.5, half-width 1.96/1.9604 * sqrt(0.0625 + 3.8416/64) = 0.3500
    assert got["success rate (all modes covered)"] == "0.50 [0.15, 0.85], n=4"
    assert got["failure rate (no mode covered)"].startswith("0.25 [") and got["failure rate (no mode covered)"].endswith("n=4")
    # modes: mean 5.25, s = 3.775, t_{0.975,3} = 3.182: half-width 6.006 -> [-0.76, 11.26], cut to
    # [0, 8] (a mean of modes covered cannot leave it), shown to the one decimal its width (8) allows
    assert got["modes covered (of 8)"] == "5.2 [0.0, 8.0], n=4"
    # HQS: mean 0.5, s = sqrt(0.18) = 0.424: half-width 0.675 -> [-0.17, 1.17], cut to [0, 1]
    assert got["HQS (share of samples within 3 sigma)"] == "0.5 [0.0, 1.0], n=4"
    # one 7 and nine 8s: 7.9 +- 2.262 * 0.316 / sqrt(10) = [7.67, 8.13]: the low end kept, the high cut
    narrow = dict(zip(*toolkit.over_seeds(_seeds([7, 8, 8, 8, 8, 8, 8, 8, 8, 8]), 8).values.T))
    assert narrow["modes covered (of 8)"] == "7.90 [7.67, 8.00], n=10"
    with pytest.raises(ValueError, match="no seeds"):
        toolkit.over_seeds(_seeds([]), 8)
    with pytest.raises(ValueError, match="modes covered"):
        toolkit.over_seeds(_seeds([8, 9]), 8)


def test_seeds_phrase_says_only_what_the_interval_decides():
    most = toolkit.seeds_phrase(_seeds([8] * 15 + [3]), 8)  # Wilson(15, 16) = [0.72, 0.99]
    assert most.startswith("15 of 16 seeds cover all 8 modes (success rate 0.94 [")
    assert most.endswith("no seed fails (covers no mode): most seeds learn the whole ring")
    few = toolkit.seeds_phrase(_seeds([8] + [0] * 14 + [5]), 8)  # Wilson(1, 16) = [0.01, 0.28]
    assert "1 of 16 seeds" in few and "14 fail (cover no mode)" in few
    assert few.endswith("most seeds do not learn the whole ring")
    open_question = toolkit.seeds_phrase(_seeds([8, 8, 0, 4]), 8)  # Wilson(2, 4) = [0.15, 0.85]
    assert "1 fails (covers no mode)" in open_question
    assert open_question.endswith("these 4 seeds do not decide whether most seeds learn the whole ring")
    assert "learn the whole ring" in toolkit.seeds_phrase(_seeds([25] * 16, n_modes=25), 25)
    with pytest.raises(ValueError, match="no seeds"):
        toolkit.seeds_phrase(_seeds([]), 8)


@pytest.mark.slow
def test_feature_floor_puts_real_test_digits_near_and_noise_far():
    space = metrics.feature_space("digits")
    reference = space.reference_stats("digits", "train")
    real_test = data.as_tensor(data.load("digits", split="test"))
    table = toolkit.feature_floor(space, reference, real_test)
    real, noise = table.set_index("compared with real train").loc[["real test", "uniform noise"]].itertuples(index=False)
    assert 0 < real[0] < noise[0] / 10  # Frechet distance: the floor is far below noise
    assert 10 >= real[1] > noise[1] >= 1  # classifier score lies in [1, number of classes]
    assert toolkit.feature_floor(space, reference, real_test).equals(table)  # the noise is a function of the seed
    assert toolkit.feature_floor(space, reference, real_test, seed=1).iloc[1, 1] != table.iloc[1, 1]
