"""gancore.arena.aggregate: IQM, probability of improvement and performance profiles against cases
worked by hand, and the stratified bootstrap's properties."""

from __future__ import annotations

import numpy as np
import pytest

from gancore.arena import aggregate


def test_iqm_drops_the_outer_quarters():
    # 8 scores: the middle four (3, 4, 5, 6) average to 4.5; the outliers do not matter
    x = np.array([[-100.0, 3.0, 4.0, 100.0], [5.0, 6.0, 2.0, 7.0]])
    assert aggregate.iqm(x) == pytest.approx(4.5)


def test_probability_of_improvement_by_hand():
    # game 1: x = (1, 3), y = (2, 2): pairs 1>2 no, 1>2 no, 3>2 yes, 3>2 yes -> 0.5
    # game 2: x = (5, 5), y = (5, 4): 5>5 tie (0.5), 5>4 yes, twice -> (0.5 + 1 + 0.5 + 1)/4 = 0.75
    x = np.array([[1.0, 5.0], [3.0, 5.0]])
    y = np.array([[2.0, 5.0], [2.0, 4.0]])
    assert aggregate.probability_of_improvement(x, y) == pytest.approx((0.5 + 0.75) / 2)
    assert aggregate.probability_of_improvement(x, x) == pytest.approx(0.5)  # a method ties itself
    assert aggregate.probability_of_improvement(x, y) + aggregate.probability_of_improvement(y, x) == pytest.approx(1)


def test_performance_profile_and_normalisation():
    x = np.array([[0.1, 0.6], [0.4, 0.9]])
    assert aggregate.performance_profile(x, [0.0, 0.5, 1.0]).tolist() == [1.0, 0.5, 0.0]
    assert aggregate.normalise(np.array([10.0, 5.0, 0.0]), worst=10.0, best=0.0).tolist() == [0.0, 0.5, 1.0]
    with pytest.raises(ValueError, match="differ"):
        aggregate.normalise(np.array([1.0]), 1.0, 1.0)


def test_stratified_bootstrap_keeps_each_game_and_covers_the_estimate():
    rng = np.random.default_rng(0)
    x = np.column_stack([rng.normal(0, 1, 30), rng.normal(100, 1, 30)])
    est, low, high = aggregate.stratified_bootstrap(lambda s: float(s[:, 1].mean()), x, resamples=500)
    assert low < est < high and 99 < low and high < 101  # game 2's runs never mix with game 1's
    same = aggregate.stratified_bootstrap(aggregate.iqm, np.ones((5, 3)), resamples=50)
    assert same == (1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="same games"):
        aggregate.stratified_bootstrap(aggregate.probability_of_improvement, x, np.ones((3, 3)))


def test_leaderboard_orders_by_iqm_and_refuses_nan():
    rng = np.random.default_rng(1)
    scores = {"weak": rng.uniform(0, 0.4, (8, 3)), "strong": rng.uniform(0.6, 1, (8, 3))}
    board = aggregate.leaderboard(scores, reference="weak", resamples=200)
    assert [r["method"] for r in board] == ["strong", "weak"]
    assert board[0]["P(> weak)"] == 1.0 and board[1]["P(> weak)"] == 0.5
    with pytest.raises(ValueError, match="NaN"):
        aggregate.iqm(np.array([[np.nan, 1.0]]))
    with pytest.raises(ValueError, match="reference"):
        aggregate.leaderboard(scores, reference="other")
    fig = aggregate.plot(scores, "weak", resamples=50)
    assert len(fig.axes) == 2
