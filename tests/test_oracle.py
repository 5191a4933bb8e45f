"""Tests of gancore.oracle: the DO-GAN meta game (LP, exploitability, pruning), EWC, MixedGenerator,
the double oracle loop and DO-GAN."""

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from torch import nn

from gancore import data, losses, train
from gancore.oracle import (
    BASE_GANS,
    EWC,
    DiscriminatorMixture,
    GeneratorMixture,
    MixedGenerator,
    MixtureLoss,
    OnlyOne,
    Strategy,
    base_gan,
    best_response_gains,
    dogan,
    double_oracle,
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


# ----------------------------------------------------------------------------- the double oracle loop

def matrix_oracles(A):
    """Exact best responses in the matrix game A; strategies are row / column indices."""

    def payoff(rows, cols):
        return A[np.ix_(rows, cols)]

    def row_oracle(rows, x, cols, y, t):
        y_full = np.zeros(A.shape[1])
        np.add.at(y_full, cols, y)
        return int(np.argmax(A @ y_full))

    def col_oracle(rows, x, cols, y, t):
        x_full = np.zeros(A.shape[0])
        np.add.at(x_full, rows, x)
        return int(np.argmin(x_full @ A))

    return payoff, row_oracle, col_oracle


def full_strategy(size, support, probs):
    p = np.zeros(size)
    np.add.at(p, support, probs)
    return p


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


# ----------------------------------------------------------------------------- mixtures and oracles

def test_mixture_loss_is_the_expected_loss():
    torch.manual_seed(0)
    loss = losses.gan_loss("ns")
    Ds = [nn.Linear(2, 1) for _ in range(3)]
    w = [0.2, 0.0, 0.8]
    real, fake = torch.randn(16, 2), torch.randn(16, 2)
    mix = MixtureLoss(loss, w)
    D_mix = DiscriminatorMixture(Ds)
    expected_d = sum(wk * loss.d(D(real), D(fake)) for wk, D in zip(w, Ds))
    expected_g = sum(wk * loss.g(D(fake)) for wk, D in zip(w, Ds))
    torch.testing.assert_close(mix.d(D_mix(real), D_mix(fake)), expected_d)
    torch.testing.assert_close(mix.g(D_mix(fake)), expected_g)
    # a discriminator facing a generator mixture: K * B samples, member-major
    Gs = [nn.Linear(3, 2) for _ in range(3)]
    D, z = Ds[0], torch.randn(16, 3)
    out = D(GeneratorMixture(Gs)(z))
    torch.testing.assert_close(mix.d(D(real), out), sum(wk * loss.d(D(real), D(G(z))) for wk, G in zip(w, Gs)))
    with pytest.raises(ValueError, match="probability vector"):
        MixtureLoss(loss, [0.5, 0.6])


def test_frozen_mixtures_stay_in_eval_mode():
    D_mix = DiscriminatorMixture([nn.Sequential(nn.Linear(2, 4), nn.BatchNorm1d(4), nn.Linear(4, 1))])
    D_mix.train()
    assert D_mix.training and not any(m.training for m in D_mix.nets.modules())


@pytest.mark.parametrize("player", ["G", "D"])
def test_only_one_player_moves(player):
    torch.manual_seed(0)
    G, D = nn.Linear(2, 2), nn.Linear(2, 1)
    before = {"G": [p.detach().clone() for p in G.parameters()], "D": [p.detach().clone() for p in D.parameters()]}
    result = train.fit(G, D, torch.randn(64, 2), loss=losses.gan_loss("ns"),
                       opt_G=torch.optim.Adam(G.parameters(), 1e-2), opt_D=torch.optim.Adam(D.parameters(), 1e-2),
                       steps=3, batch_size=16, latent_dim=2, policy=OnlyOne(player), device="cpu", progress=False)
    other = "D" if player == "G" else "G"
    net = {"G": G, "D": D}
    for p, b in zip(net[other].parameters(), before[other]):
        torch.testing.assert_close(p.detach(), b, rtol=0, atol=0)
    assert any(not torch.equal(p.detach(), b) for p, b in zip(net[player].parameters(), before[player]))
    assert int(result.updates[player]) == 3 and int(result.updates[other]) == 0


# ----------------------------------------------------------------------------- DO-GAN

TINY = dict(loss=losses.gan_loss("ns"), iterations=3, oracle_steps=4, init_steps=4, batch_size=16,
            lr_G=1e-3, lr_D=1e-3, n_payoff=64, fisher_batches=2, device="cpu")


def tiny_ring():
    return torch.utils.data.TensorDataset(data.as_tensor(data.load("ring"))[:256])


def test_dogan_on_the_ring_history_memory_and_exploitability(tmp_path):
    make_G, make_D = base_gan("vanilla", (2,), latent_dim=2, width=8)
    seen = []
    result = dogan(make_G, make_D, tiny_ring(), latent_dim=2, cap=2, ewc_lambda=1.0, eps=1e-6,
                   evaluate=lambda t, r: seen.append(t) or {"n_gen": len(r.generators)}, **TINY)
    # the final meta game is solved: its exploitability is <= eps
    assert result.exploitability() <= 1e-6
    h = result.history
    assert len(h) == (4 if not result.converged else len(h)) and seen == list(h.iteration)
    for col in ["U", "sigma_row", "sigma_col", "value", "row_gain", "col_gain", "oracle_s", "payoff_s",
                "solve_s", "prune_s", "n_gen"]:
        assert h[col].notna().iloc[1:].all(), col
    assert (h.rows <= 2).all() and (h.cols <= 2).all()
    assert result.training_steps == 4 + 2 * 4 * (len(h) - 1)
    # memory bound: every stored strategy is a state dict of CPU tensors, not a live network
    for s in result.generators + result.discriminators:
        assert isinstance(s, Strategy) and isinstance(s.state, dict)
        assert all(v.device.type == "cpu" for v in s.state.values())
    # the meta payoffs are the discriminators' losses, recomputed here from the stored networks
    real = train.Batches(tiny_ring(), 64, 7)(0)
    z = train.Noise((2,), 7)(0, 64)
    loss = TINY["loss"]
    with torch.no_grad():
        U = [[float(loss.d(D.build(make_D)(real), D.build(make_D)(G.build(make_G)(z))))
              for D in result.discriminators] for G in result.generators]
    assert_allclose(result.U, U, rtol=1e-5)
    x = result.mixed_generator().sample(32, 2, generator=torch.Generator().manual_seed(0))
    assert x.shape == (32, 2)


def test_dogan_strategies_on_disk_are_the_same_run(tmp_path):
    make_G, make_D = base_gan("vanilla", (2,), latent_dim=2, width=8)
    in_memory = dogan(make_G, make_D, tiny_ring(), latent_dim=2, cap=3, **TINY)
    on_disk = dogan(make_G, make_D, tiny_ring(), latent_dim=2, cap=3, store_dir=tmp_path, **TINY)
    # a run started from another run's initial strategies is that run
    restarted = dogan(make_G, make_D, tiny_ring(), latent_dim=2, cap=3, initial=in_memory.initial, **TINY)
    assert_allclose(restarted.U, in_memory.U)
    assert restarted.training_steps == in_memory.training_steps
    assert all(isinstance(s.state, type(tmp_path)) for s in on_disk.generators + on_disk.discriminators)
    assert_allclose(on_disk.U, in_memory.U)
    for a, b in zip(in_memory.generators, on_disk.generators):
        for k, v in a.load().items():
            torch.testing.assert_close(b.load()[k], v)


@pytest.mark.parametrize("name", BASE_GANS)
def test_base_gans_on_images(name):
    torch.manual_seed(0)
    make_G, make_D = base_gan(name, (1, 8, 8), latent_dim=4, width=4)
    G, D = make_G(), make_D()
    x = G(torch.randn(5, 4))
    assert x.shape == (5, 1, 8, 8)
    assert D(x).shape == ((10, 1) if name == "stacked" else (5, 1))


def test_stacked_discriminator_logits_are_sample_major():
    torch.manual_seed(0)
    _, make_D = base_gan("stacked", (1, 8, 8), latent_dim=4, width=4)
    D = make_D().eval()
    x = torch.randn(6, 1, 8, 8)
    both = D(x)
    torch.testing.assert_close(both[0::2], D.fine(x))
    torch.testing.assert_close(both[1::2], D.coarse(nn.functional.avg_pool2d(x, 2).flatten(1)))


def test_dogan_paper_code_path_on_tiny_images():
    # the paper profile's path (an SNGAN on images, EWC on) at toy size
    images = torch.utils.data.TensorDataset(data.as_tensor(data.load("digits"))[:64])
    make_G, make_D = base_gan("sngan", (1, 8, 8), latent_dim=4, width=4)
    result = dogan(make_G, make_D, images, latent_dim=4, cap=2, ewc_lambda=5.0,
                   **dict(TINY, iterations=1))
    assert result.U.shape == (len(result.generators), len(result.discriminators))
    assert result.mixed_generator().sample(6, 4).shape == (6, 1, 8, 8)


def test_base_gan_validates():
    with pytest.raises(ValueError, match="vanilla, dcgan"):
        base_gan("wgan", (2,), 2, 8)
    with pytest.raises(ValueError, match="square images"):
        base_gan("dcgan", (2,), 2, 8)
