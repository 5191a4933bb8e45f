"""Tests of gancore.oracle: matrix games (LP, exploitability, pruning) and the double oracle loop."""

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal

from gancore import oracle
from gancore.oracle import (
    best_response_gains,
    double_oracle,
    dominated_strategies,
    exploitability,
    full_strategy,
    matrix_oracles,
    prune,
    solve_matrix_game,
)


def random_games(count, seed=0, max_size=8):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=tuple(rng.integers(1, max_size + 1, size=2))) for _ in range(count)]


# ----------------------------------------------------------------------------- matrix game LP

@pytest.mark.parametrize("U", random_games(30))
def test_solution_is_an_equilibrium_and_both_lp_values_agree(U):
    x, y, v = solve_matrix_game(U)
    assert x.shape == (U.shape[0],) and y.shape == (U.shape[1],)
    assert (x >= 0).all() and (y >= 0).all()
    assert x.sum() == pytest.approx(1.0) and y.sum() == pytest.approx(1.0)
    # what the row strategy guarantees (row LP value) = what the column strategy concedes (column LP)
    assert_allclose((x @ U).min(), v, atol=1e-9)
    assert_allclose((U @ y).max(), v, atol=1e-9)
    assert_allclose(exploitability(U, x, y), 0.0, atol=1e-9)


@pytest.mark.parametrize("U", random_games(10, seed=1))
def test_value_matches_nashpy(U):
    nashpy = pytest.importorskip("nashpy")
    # nashpy 0.0.43: Game(U).linear_program() returns (row_strategy, col_strategy), no value
    xn, yn = nashpy.Game(U).linear_program()
    assert_allclose(solve_matrix_game(U)[2], xn @ U @ yn, atol=1e-7)


@pytest.mark.parametrize("U", random_games(4, seed=2, max_size=5))
def test_cvxpy_method_matches_highs(U):
    x, y, v = solve_matrix_game(U, method="cvxpy")
    assert_allclose(v, solve_matrix_game(U)[2], atol=1e-6)
    assert_allclose(exploitability(U, x, y), 0.0, atol=1e-6)


def test_matching_pennies():
    x, y, v = solve_matrix_game(np.array([[1.0, -1.0], [-1.0, 1.0]]))
    assert_allclose(x, [0.5, 0.5], atol=1e-9)
    assert_allclose(y, [0.5, 0.5], atol=1e-9)
    assert v == pytest.approx(0.0, abs=1e-12)


def test_rock_paper_scissors_is_uniform():
    U = np.array([[0, -1, 1], [1, 0, -1], [-1, 1, 0]], dtype=float)
    x, y, v = solve_matrix_game(U)
    assert_allclose(x, np.full(3, 1 / 3), atol=1e-9)
    assert_allclose(y, np.full(3, 1 / 3), atol=1e-9)
    assert v == pytest.approx(0.0, abs=1e-12)


def test_strictly_dominated_row_gets_probability_zero():
    # row 2 is strictly dominated by row 0; the 2x2 rest has x = y = (2/5, 3/5), value 1/5
    U = np.array([[2.0, -1.0], [-1.0, 1.0], [1.0, -2.0]])
    x, y, v = solve_matrix_game(U)
    assert_allclose(x, [0.4, 0.6, 0.0], atol=1e-9)
    assert_allclose(y, [0.4, 0.6], atol=1e-9)
    assert v == pytest.approx(0.2)


def test_pure_saddle_point():
    # max of row minima = min of column maxima = 2 at (1, 1); the row strategy is unique
    U = np.array([[4.0, 1.0, 3.0], [2.0, 2.0, 5.0], [0.0, 1.0, 6.0]])
    x, y, v = solve_matrix_game(U)
    assert_allclose(x, [0.0, 1.0, 0.0], atol=1e-9)
    assert v == pytest.approx(2.0)
    assert_allclose(exploitability(U, x, y), 0.0, atol=1e-9)


def test_value_is_affine_equivariant_and_tensors_are_accepted():
    U = random_games(1, seed=3)[0]
    v = solve_matrix_game(U)[2]
    x, y, v2 = solve_matrix_game(torch.tensor(3.0 * U - 7.0, dtype=torch.float32))
    assert isinstance(x, np.ndarray) and isinstance(y, np.ndarray) and isinstance(v2, float)
    assert v2 == pytest.approx(3.0 * v - 7.0, abs=1e-5)  # float32 input


def test_single_strategy_games():
    x, y, v = solve_matrix_game(np.array([[3.0, 1.0, 2.0]]))
    assert_allclose(x, [1.0])
    assert_allclose(y, [0.0, 1.0, 0.0], atol=1e-9)
    assert v == pytest.approx(1.0)


@pytest.mark.parametrize("U, match", [
    (np.array([[1.0, np.nan], [0.0, 1.0]]), "non-finite"),
    (np.array([[1.0, np.inf], [0.0, 1.0]]), "non-finite"),
    (np.zeros((0, 3)), "empty"),
    (np.zeros(3), "2-D"),
])
def test_invalid_payoff_matrix_raises(U, match):
    with pytest.raises(ValueError, match=match):
        solve_matrix_game(U)


def test_unknown_method_raises():
    with pytest.raises(ValueError, match="highs, cvxpy"):
        solve_matrix_game(np.eye(2), method="simplex")


# ----------------------------------------------------------------------------- exploitability

def test_best_response_gains_matching_pennies_pure_profile():
    U = np.array([[1.0, -1.0], [-1.0, 1.0]])
    # (row 0, col 0): the row player already gets its best 1; the column player can get -1 instead of 1
    assert best_response_gains(U, [1.0, 0.0], [1.0, 0.0]) == pytest.approx((0.0, 2.0))
    assert exploitability(U, [1.0, 0.0], [1.0, 0.0]) == pytest.approx(2.0)


def test_gains_are_nonnegative_and_sum_to_exploitability():
    rng = np.random.default_rng(4)
    U = rng.normal(size=(5, 4))
    x, y = rng.dirichlet(np.ones(5)), rng.dirichlet(np.ones(4))
    row_gain, col_gain = best_response_gains(U, x, y)
    assert row_gain >= 0 and col_gain >= 0
    assert exploitability(U, x, y) == pytest.approx(row_gain + col_gain)
    assert exploitability(U, x, y) == pytest.approx((U @ y).max() - (x @ U).min())


def test_exploitability_rejects_non_probability_vectors():
    with pytest.raises(ValueError, match="probability vector"):
        exploitability(np.eye(2), [0.7, 0.7], [0.5, 0.5])
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        exploitability(np.eye(2), [1.0], [0.5, 0.5])


# ----------------------------------------------------------------------------- pruning

# rows 0, 1 undominated; 3 purely dominated by 0; 4 duplicates 1; 2 and 5 dominated only by the
# mixture (0 + 1) / 2 = (1.5, 1.5, 1): 2 strictly, 5 weakly (equal on the first two columns)
DOMINATION_GAME = np.array([
    [3.0, 0.0, 1.0],
    [0.0, 3.0, 1.0],
    [1.0, 1.0, 0.9],
    [3.0, 0.0, 0.0],
    [0.0, 3.0, 1.0],
    [1.5, 1.5, 0.5],
])


def test_pure_domination_and_duplicates():
    assert_array_equal(dominated_strategies(DOMINATION_GAME, "row"), [3, 4])


def test_domination_by_mixture():
    assert_array_equal(dominated_strategies(DOMINATION_GAME, "row", by_mixture=True), [2, 3, 4, 5])


def test_a_mixture_tie_is_not_domination():
    # row 2 equals the mixture (row 0 + row 1) / 2 everywhere: never worse, but nowhere strictly better
    U = np.array([[3.0, 0.0, 1.0], [0.0, 3.0, 1.0], [1.5, 1.5, 1.0]])
    assert_array_equal(dominated_strategies(U, "row", by_mixture=True), [])


def test_column_player_minimises():
    # column 1 = (2, 0) is weakly dominated for the minimiser by column 0 = (1, 0); column 2 duplicates 0
    U = np.array([[1.0, 2.0, 1.0], [0.0, 0.0, 0.0]])
    assert_array_equal(dominated_strategies(U, "col"), [1, 2])
    assert_array_equal(dominated_strategies(DOMINATION_GAME.T, "col", by_mixture=True),
                       dominated_strategies(-DOMINATION_GAME, "row", by_mixture=True))


def test_identical_strategies_keep_exactly_one():
    U = np.array([[1.0, 2.0], [1.0, 2.0], [1.0, 2.0]])
    assert_array_equal(dominated_strategies(U, "row"), [1, 2])
    assert_array_equal(dominated_strategies(U, "row", by_mixture=True), [1, 2])


def test_unknown_player_raises():
    with pytest.raises(ValueError, match="row, col"):
        dominated_strategies(np.eye(2), "generator")


def lowered(rng, shape):
    """A nonnegative integer matrix with a positive entry in every row."""
    e = rng.integers(0, 2, size=shape)
    e[np.arange(shape[0]), rng.integers(0, shape[1], size=shape[0])] = 1
    return e


@pytest.mark.parametrize("seed", range(5))
def test_removing_dominated_strategies_keeps_the_value(seed):
    rng = np.random.default_rng(seed)
    base = rng.integers(-3, 4, size=(4, 4)).astype(float)  # integers: ties and duplicates occur
    # 3 columns weakly dominated (for the minimiser) by mixtures of the first 4 columns ...
    U = np.hstack([base, base @ rng.dirichlet(np.ones(4), size=3).T + lowered(rng, (3, 4)).T])
    # ... and 3 rows weakly dominated by mixtures of the first 4 rows, equal on the new columns,
    # so that the new columns stay dominated in the full 7 x 7 game
    E = np.hstack([lowered(rng, (3, 4)), np.zeros((3, 3))])
    U = np.vstack([U, rng.dirichlet(np.ones(4), size=3) @ U - E])
    row_keep, col_keep = prune(U, np.full(7, 1 / 7), np.full(7, 1 / 7), cap=7, by_mixture=True)
    assert row_keep.max() < 4 and col_keep.max() < 4
    assert_allclose(solve_matrix_game(U[np.ix_(row_keep, col_keep)])[2], solve_matrix_game(U)[2], atol=1e-9)
    # pure domination finds a subset, and removing it keeps the value too
    row_pure, col_pure = prune(U, np.full(7, 1 / 7), np.full(7, 1 / 7), cap=7)
    assert set(row_keep) <= set(row_pure) and set(col_keep) <= set(col_pure)
    assert_allclose(solve_matrix_game(U[np.ix_(row_pure, col_pure)])[2], solve_matrix_game(U)[2], atol=1e-9)


def test_prune_removes_dominated_then_least_probable():
    U = DOMINATION_GAME  # no column is dominated for the minimiser
    row_probs = [0.1, 0.2, 0.0, 0.4, 0.3, 0.0]
    col_probs = [0.5, 0.5, 0.0]
    rows, cols = prune(U, row_probs, col_probs, cap=10)
    assert_array_equal(rows, [0, 1, 2, 5])  # 3 and 4 pruned although the most probable
    assert_array_equal(cols, [0, 1, 2])
    rows, cols = prune(U, row_probs, col_probs, cap=1)
    assert_array_equal(rows, [1])
    assert_array_equal(cols, [1])  # tie at 0.5: the later index is kept
    rows, _ = prune(U, row_probs, col_probs, cap=3, by_mixture=True)
    assert_array_equal(rows, [0, 1])


def test_prune_cap_keeps_highest_probabilities():
    U = np.eye(6)  # no row or column is dominated
    row_probs = np.array([0.05, 0.3, 0.1, 0.25, 0.2, 0.1])
    col_probs = np.array([0.0, 0.0, 0.0, 0.5, 0.0, 0.5])
    rows, cols = prune(U, row_probs, col_probs, cap=3)
    assert_array_equal(rows, [1, 3, 4])
    assert_array_equal(cols, [3, 4, 5])  # ties at probability 0: the later index is kept
    for cap in range(1, 7):
        rows, cols = prune(U, row_probs, col_probs, cap=cap)
        assert len(rows) == cap and len(cols) == cap


@pytest.mark.parametrize("cap", [0, -1, 2.5, True])
def test_prune_invalid_cap_raises(cap):
    with pytest.raises(ValueError, match="Invalid cap"):
        prune(np.eye(2), [0.5, 0.5], [0.5, 0.5], cap=cap)


def test_prune_probs_must_match_the_matrix():
    with pytest.raises(ValueError, match="row_probs"):
        prune(np.eye(2), [1.0], [0.5, 0.5], cap=2)


# ----------------------------------------------------------------------------- extreme payoffs and cvxpy

def test_payoffs_near_the_float64_limit_are_solved():
    # the payoff range 2e308 overflows float64; before the fix linprog got inf in A_ub and failed
    x, y, v = solve_matrix_game(1e308 * np.array([[1.0, -1.0], [-1.0, 1.0]]))
    assert_allclose(x, [0.5, 0.5], atol=1e-9)
    assert_allclose(y, [0.5, 0.5], atol=1e-9)
    assert v == pytest.approx(0.0, abs=1e-9 * 1e308)
    # the strictly-dominated-row game scaled to entries in [-1e308, 1e308]: value 1/5 of the scale
    U = np.array([[2.0, -1.0], [-1.0, 1.0], [1.0, -2.0]])
    x, y, v = solve_matrix_game(0.5e308 * U)
    assert_allclose(x, [0.4, 0.6, 0.0], atol=1e-9)
    assert_allclose(y, [0.4, 0.6], atol=1e-9)
    assert v == pytest.approx(0.2 * 0.5e308, rel=1e-9)
    assert_array_equal(dominated_strategies(0.5e308 * U, "row"), [2])
    assert exploitability(U, x, y) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("seed", [3, 4])
def test_cvxpy_method_solves_200_by_200_games(seed):
    # Clarabel stopped at OPTIMAL_INACCURATE on these games with the max-v formulation
    U = np.random.default_rng(seed).normal(size=(200, 200))
    x, y, v = solve_matrix_game(U, method="cvxpy")
    assert_allclose(v, solve_matrix_game(U)[2], atol=1e-6)
    assert_allclose(exploitability(U, x, y), 0.0, atol=1e-6)


# ----------------------------------------------------------------------------- the double oracle loop

@pytest.mark.parametrize("seed", range(3))
def test_double_oracle_with_exact_oracles_solves_the_full_game(seed):
    A = np.random.default_rng(seed).normal(size=(40, 30))
    result = double_oracle(*matrix_oracles(A), 0, 0, iterations=100, eps=1e-9)
    assert result.converged
    x = full_strategy(40, result.rows, result.sigma_row)
    y = full_strategy(30, result.cols, result.sigma_col)
    # stopping with both gains <= eps means the meta equilibrium is an equilibrium of the full game
    assert_allclose(exploitability(A, x, y), 0.0, atol=1e-8)
    assert result.value == pytest.approx(solve_matrix_game(A)[2], abs=1e-8)
    assert result.exploitability() == pytest.approx(0.0, abs=1e-9)
    h = result.history
    assert list(h.iteration) == list(range(len(h)))
    assert h.stopped.tolist() == [False] * (len(h) - 1) + [True]
    last = h.iloc[-1]
    assert last.row_gain <= 1e-9 and last.col_gain <= 1e-9


def test_double_oracle_history_is_consistent():
    A = np.random.default_rng(5).normal(size=(25, 25))
    result = double_oracle(*matrix_oracles(A), 3, 7, iterations=4)
    h = result.history
    assert len(h) == 5 and not result.converged
    for _, row in h.iterrows():
        U = row.U
        assert U.shape == (row.rows, row.cols) == (len(row.sigma_row), len(row.sigma_col))
        x, y, v = solve_matrix_game(U)
        assert row.value == pytest.approx(v, abs=1e-9)
        assert exploitability(U, row.sigma_row, row.sigma_col) == pytest.approx(0.0, abs=1e-9)
        assert min(row.oracle_s, row.payoff_s, row.solve_s, row.prune_s) >= 0.0
    assert np.isnan(h.iloc[0].row_gain)
    # exact oracles: a best response to the meta-strategy gains exactly the full game's NashConv part
    prev = h.iloc[2]
    assert h.iloc[3].row_gain >= 0 and h.iloc[3].col_gain >= 0
    assert prev.value == pytest.approx(float(prev.sigma_row @ prev.U @ prev.sigma_col))


def test_double_oracle_support_cap_and_rock_paper_scissors():
    A = np.array([[0, -1, 1], [1, 0, -1], [-1, 1, 0]], dtype=float)
    result = double_oracle(*matrix_oracles(A), 0, 0, iterations=20, eps=1e-9, cap=3)
    assert result.converged
    assert sorted(result.rows) == [0, 1, 2] and sorted(result.cols) == [0, 1, 2]
    assert_allclose(full_strategy(3, result.rows, result.sigma_row), np.full(3, 1 / 3), atol=1e-9)
    capped = double_oracle(*matrix_oracles(np.random.default_rng(1).normal(size=(30, 30))), 0, 0,
                           iterations=12, cap=2)
    assert (capped.history.rows <= 2).all() and (capped.history.cols <= 2).all()


@pytest.mark.parametrize("kwargs, match", [
    (dict(iterations=-1), "iterations"), (dict(iterations=1, eps=-0.1), "eps"),
    (dict(iterations=1, cap=0), "cap"),
])
def test_double_oracle_validates(kwargs, match):
    with pytest.raises(ValueError, match=match):
        double_oracle(*matrix_oracles(np.eye(2)), 0, 0, **kwargs)


def test_matrix_oracles_are_best_responses():
    A = np.random.default_rng(7).normal(size=(6, 5))
    payoff, row_oracle, col_oracle = matrix_oracles(A)
    rows, cols, x, y = [0, 2, 2], [1, 4], np.array([0.5, 0.25, 0.25]), np.array([0.3, 0.7])
    assert_array_equal(payoff(rows, cols), A[np.ix_(rows, cols)])
    assert row_oracle(rows, x, cols, y, 1) == np.argmax(A @ full_strategy(5, cols, y))
    assert col_oracle(rows, x, cols, y, 1) == np.argmin(full_strategy(6, rows, x) @ A)
    assert_allclose(full_strategy(6, rows, x), [0.5, 0, 0.5, 0, 0, 0])  # repeats add up
    with pytest.raises(ValueError, match="support has 2 strategies but probs has 3"):
        full_strategy(6, [0, 1], x)


def test_meta_strategies_of_each_solver():
    U = np.arange(6.0).reshape(2, 3)
    x, y, v = oracle.meta_strategies(U, "uniform")
    np.testing.assert_allclose(x, [0.5, 0.5]), np.testing.assert_allclose(y, [1 / 3] * 3)
    assert v == pytest.approx(x @ U @ y)
    x, y, v = oracle.meta_strategies(U, "newest")
    np.testing.assert_allclose(x, [0, 1]), np.testing.assert_allclose(y, [0, 0, 1])
    assert v == U[-1, -1]
    np.testing.assert_allclose(oracle.meta_strategies(U)[2], oracle.solve_matrix_game(U)[2])
    with pytest.raises(ValueError, match="meta-solver"):
        oracle.meta_strategies(U, "fictitious")
    with pytest.raises(ValueError, match="meta_solver"):
        oracle.double_oracle(*oracle.matrix_oracles(U), 0, 0, iterations=2, meta_solver="best")


@pytest.mark.parametrize("solver", ["uniform", "newest"])
def test_other_meta_solvers_gains_add_up_to_the_full_games_exploitability(solver):
    A = np.random.default_rng(3).normal(size=(7, 7))
    run = oracle.double_oracle(*oracle.matrix_oracles(A), 0, 0, iterations=10, meta_solver=solver)
    h = run.history
    for t in range(1, len(h)):
        previous = h.iloc[t - 1]
        rows, cols = run.rows[:previous.rows], run.cols[:previous.cols]  # no pruning: sets only grow
        p = oracle.full_strategy(7, rows, previous.sigma_row)
        q = oracle.full_strategy(7, cols, previous.sigma_col)
        assert h.row_gain.iloc[t] >= -1e-12 and h.col_gain.iloc[t] >= -1e-12
        assert h.row_gain.iloc[t] + h.col_gain.iloc[t] == pytest.approx(oracle.exploitability(A, p, q), abs=1e-9)
    if solver == "newest":
        assert all(np.count_nonzero(s) == 1 for s in h.sigma_row)
