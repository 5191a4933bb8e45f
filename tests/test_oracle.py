"""Tests of gancore.oracle: the DO-GAN meta game (LP, exploitability, pruning), EWC, MixedGenerator."""

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from torch import nn

from gancore.oracle import (
    EWC,
    MixedGenerator,
    best_response_gains,
    diagonal_fisher,
    dominated_strategies,
    exploitability,
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


# ----------------------------------------------------------------------------- EWC

def squared_loss(model, batch):
    x, t = batch
    return 0.5 * ((model(x).squeeze(-1) - t) ** 2).sum()


def test_diagonal_fisher_closed_form_for_linear_regression():
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    x, t = torch.randn(5, 3), torch.randn(5)
    batches = [(x[k:k + 1], t[k:k + 1]) for k in range(5)]
    fisher = diagonal_fisher(model, squared_loss, batches)
    # per-sample gradient of 0.5 (w.x + b - t)^2: r x for w, r for b, with residual r
    r = (x @ model.weight.detach().T).squeeze(-1) + model.bias.detach() - t
    torch.testing.assert_close(fisher["weight"], ((r[:, None] * x) ** 2).mean(0, keepdim=True))
    torch.testing.assert_close(fisher["bias"], (r ** 2).mean(0, keepdim=True))
    assert model.weight.grad is None and model.bias.grad is None


def test_diagonal_fisher_needs_batches():
    with pytest.raises(ValueError, match="No batches"):
        diagonal_fisher(nn.Linear(2, 1), squared_loss, [])


def make_ewc(lam=0.7):
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
    fisher = {name: torch.rand_like(p) for name, p in model.named_parameters()}
    return model, fisher, EWC(model, fisher, lam)


def shift(model, deltas, scale):
    anchor = [p.detach().clone() for p in model.parameters()]
    with torch.no_grad():
        for p, a, d in zip(model.parameters(), anchor, deltas):
            p.copy_(a + scale * d)
    return anchor


def test_ewc_zero_at_anchor_quadratic_and_closed_form():
    model, fisher, ewc = make_ewc(lam=0.7)
    assert ewc(model).item() == 0.0
    deltas = [torch.randn_like(p) for p in model.parameters()]
    anchor = shift(model, deltas, 1.0)
    once = ewc(model)
    expected = 0.35 * sum((f * d ** 2).sum() for f, d in zip(fisher.values(), deltas))
    torch.testing.assert_close(once, expected)
    with torch.no_grad():
        for p, a, d in zip(model.parameters(), anchor, deltas):
            p.copy_(a + 2.0 * d)
    torch.testing.assert_close(ewc(model), 4.0 * once.detach())


def test_ewc_gradient():
    model, fisher, ewc = make_ewc(lam=2.5)
    anchor = [p.detach().clone() for p in model.parameters()]
    deltas = [torch.randn_like(p) for p in model.parameters()]
    shift(model, deltas, 1.0)
    ewc(model).backward()
    for p, a, f in zip(model.parameters(), anchor, fisher.values()):
        torch.testing.assert_close(p.grad, 2.5 * f * (p.detach() - a))


def test_ewc_state_dict_round_trip():
    model, _, ewc = make_ewc()
    shift(model, [torch.randn_like(p) for p in model.parameters()], 1.0)
    other_model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
    other = EWC(other_model, {n: torch.ones_like(p) for n, p in other_model.named_parameters()}, lam=0.7)
    other.load_state_dict(ewc.state_dict())
    torch.testing.assert_close(other(model), ewc(model))
    assert set(ewc.state_dict()) == {f"{kind}_{k}" for kind in ("anchor", "fisher") for k in range(4)}


def test_ewc_validates_arguments():
    model, fisher, _ = make_ewc()
    with pytest.raises(ValueError, match="Invalid EWC strength"):
        EWC(model, fisher, lam=-1.0)
    with pytest.raises(ValueError, match="missing"):
        EWC(model, {"0.weight": fisher["0.weight"]}, lam=1.0)
    with pytest.raises(ValueError, match="differ"):
        EWC(model, fisher, lam=1.0)(nn.Linear(3, 1))


# ----------------------------------------------------------------------------- mixed generator

class Constant(nn.Module):
    """G(z) = c for every latent, counting its calls."""

    def __init__(self, c):
        super().__init__()
        self.c, self.calls = float(c), 0

    def forward(self, z):
        self.calls += 1
        return torch.full((z.shape[0], 2), self.c)


def test_mixed_generator_with_a_pure_strategy_uses_only_it():
    gens = [Constant(0), Constant(1)]
    x = MixedGenerator(gens, [1.0, 0.0]).sample(500, 4, generator=torch.Generator().manual_seed(0))
    assert x.shape == (500, 2)
    assert (x == 0).all()
    assert gens[1].calls == 0


def test_mixed_generator_frequencies_and_one_call_per_generator():
    probs = [0.2, 0.5, 0.3]
    gens = [Constant(i) for i in range(3)]
    x = MixedGenerator(gens, probs).sample(20_000, 4, generator=torch.Generator().manual_seed(0))
    freq = torch.bincount(x[:, 0].long(), minlength=3).double() / 20_000
    # standard deviations are at most sqrt(0.25 / 20000) = 0.0035; 0.015 is over 4 of them
    assert_allclose(freq.numpy(), probs, atol=0.015)
    assert [g.calls for g in gens] == [1, 1, 1]


def test_mixed_generator_routes_each_latent_and_is_deterministic():
    torch.manual_seed(0)
    gens = [nn.Linear(4, 3), nn.Linear(4, 3)]
    mixed = MixedGenerator(gens, torch.tensor([0.4, 0.6]))
    x, index = mixed.sample(64, 4, generator=torch.Generator().manual_seed(5), return_index=True)
    g = torch.Generator().manual_seed(5)
    index_again = torch.multinomial(mixed.probs, 64, replacement=True, generator=g)
    z = torch.randn(64, 4, generator=g)
    assert_array_equal(index.numpy(), index_again.numpy())
    expected = torch.stack([gens[int(i)](z[k]) for k, i in enumerate(index)])
    torch.testing.assert_close(x, expected)
    torch.testing.assert_close(mixed.sample(64, 4, generator=torch.Generator().manual_seed(5)), x)
    assert not torch.equal(mixed.sample(64, 4, generator=torch.Generator().manual_seed(6)), x)


def test_mixed_generator_latent_shape():
    gen = nn.Sequential(nn.Flatten(), nn.Linear(6, 2))
    x = MixedGenerator([gen], [1.0]).sample(3, (6, 1, 1), generator=torch.Generator().manual_seed(0))
    assert x.shape == (3, 2)


@pytest.mark.parametrize("probs, match", [
    ([0.5, 0.6], "probability vector"),
    ([1.5, -0.5], "probability vector"),
    ([1.0], r"shape \(2,\)"),
])
def test_mixed_generator_validates_probs(probs, match):
    with pytest.raises(ValueError, match=match):
        MixedGenerator([Constant(0), Constant(1)], probs)
