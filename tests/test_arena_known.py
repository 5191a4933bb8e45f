"""The known-optimum game of the arena: the closed form scores zero, batched runs are single runs, the
mixture identities of the double oracle, equal budgets, the saddle point, and the tables' rules."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from gancore import convex, train
from gancore.arena import known as kn
from gancore.arena import known_oracle as ko
from gancore.arena import known_tables as kt
from gancore.arena.methods import METHODS, method


@pytest.fixture(scope="module")
def problem():
    return kn.known_problem(16, 3, 0)


def single_run(problem, name, lr, seed, budget, start=None, width=None):
    """A reference run of ONE seed with the players of gancore.convex.gda, through train.fit."""
    m, width = method(name), width or 2 * problem.d
    torch.manual_seed(seed)
    G = convex.FixedNoiseLinear(problem.Z, problem.d, 0.1)
    D = convex.TwoLayerDiscriminator(problem.d, width, "quadratic", normalize=True)
    if start is not None:
        with torch.no_grad():
            for p, value in zip((G.W, D.u, D.v), start):
                p.copy_(torch.as_tensor(value))
    X = torch.as_tensor(problem.X, dtype=torch.float32)
    result = train.fit(G, D, X, loss=convex.SumWasserstein(), opt_G=m.optimizer(G.parameters(), lr),
                       opt_D=m.optimizer(D.parameters(), lr), steps=m.steps(budget), batch_size=len(X), latent_dim=1,
                       policy=m.make_policy(), seed=0, average_G=m.average_G, progress=False,
                       penalty_D=lambda d, real, fake, gen: problem.beta_d * d.v.abs().sum(),
                       penalty_G=lambda g: problem.beta_g / 2 * g.W.square().sum())
    return (result.G_avg.module if m.average else G).W.detach(), D


def test_problem_is_the_comparison_problem_rescaled_and_its_optimum_thresholds_the_spectrum():
    n, d = 20, 4
    p = kn.known_problem(n, d, 3)
    X, Z, beta = convex.comparison_problem(n, d, 3)
    np.testing.assert_allclose(p.X * math.sqrt(n), X, rtol=1e-12)
    np.testing.assert_allclose(p.Z * math.sqrt(n), Z, rtol=1e-12)
    assert p.beta_d == pytest.approx(beta / n, rel=1e-12)
    lam, V = np.linalg.eigh(p.X.T @ p.X)
    np.testing.assert_allclose(p.M_star, V @ np.diag(np.maximum(lam - p.beta_d, 0)) @ V.T, atol=1e-12)
    assert p.k == int((lam > p.beta_d).sum())
    assert p.p_star == pytest.approx(p.beta_g / 2 * np.trace(p.M_star), rel=1e-10)  # Z^T Z = I


def test_closed_form_scores_zero_and_scores_agree_with_the_convex_module(problem):
    s = kn.scores(problem, problem.W_star)
    for key in kn.SCORES:
        assert s[key][0] == pytest.approx(0.0, abs=1e-10)
    W = np.random.default_rng(1).standard_normal((2, problem.d, problem.d))
    s = kn.scores(problem, torch.tensor(W))
    for k in range(2):
        G = problem.Z @ W[k]
        assert s["rel_gap"][k] == pytest.approx(abs(convex.wgan_objective(W[k]) - problem.p_star) / problem.p_star)
        assert s["violation"][k] == pytest.approx(convex.constraint_violation(problem.X, G, problem.beta_d))
        gap = np.linalg.norm(G.T @ G - problem.M_star) / np.linalg.norm(problem.M_star)
        assert s["moment_gap"][k] == pytest.approx(gap)
    assert np.isinf(kn.scores(problem, np.full((problem.d, problem.d), np.inf))["moment_gap"]).all()


def test_players_start_where_gda_fit_starts_and_the_payoff_is_the_training_loss(problem):
    G, D = kn.stack_players(problem, [5, 7], width=6)
    for k, seed in enumerate([5, 7]):
        gda = convex.gda_fit(problem.X, problem.Z, problem.beta_d, problem.beta_g, width=6, steps=0, seed=seed)
        torch.testing.assert_close(G.W[k], gda.generator.W)
        torch.testing.assert_close(D.u[k], gda.discriminator.u)
        torch.testing.assert_close(D.v[k], gda.discriminator.v)
        # f = -(D's training loss with its penalty) + G's penalty, for the single players
        X, fake = torch.as_tensor(problem.X, dtype=torch.float32), gda.generator()
        d_loss = convex.SumWasserstein.d(gda.discriminator(X), gda.discriminator(fake))
        penalties = (problem.beta_d * gda.discriminator.v.abs().sum(),
                     problem.beta_g / 2 * gda.generator.W.square().sum())
        f = -(d_loss + penalties[0]) + penalties[1]
        value = kn.payoff(problem, G.W[k].detach().numpy(), D.u[k].detach().numpy(), D.v[k].detach().numpy())
        assert value == pytest.approx(float(f.detach()), rel=1e-5)


@pytest.mark.parametrize("name", ["sim-GDA", "alt-Adam", "EG", "OGDA", "SRFB-avg"])
def test_a_batched_run_of_two_step_sizes_and_two_seeds_equals_four_single_runs(problem, name):
    lrs, seeds, budget = [0.01, 0.05], [0, 3], 80
    table = kn.play(name, lrs, problem, seeds, budget, 40)
    final = table[table.evals == budget].set_index(["lr", "seed"])
    for lr in lrs:
        for seed in seeds:
            W, _ = single_run(problem, name, lr, seed, budget)
            expected = kn.scores(problem, W)
            for key in kn.SCORES:
                assert final.loc[(lr, seed), key] == pytest.approx(expected[key][0], rel=1e-3, abs=1e-6)


def test_the_averaged_iterate_scored_along_training_is_fits_average(problem):
    W, _ = single_run(problem, "SRFB-avg", 0.05, 2, 40)  # fit's own AveragedModel at the end
    last = kn.play("SRFB-avg", 0.05, problem, [2], 40, 20).iloc[-1]
    assert last.moment_gap == pytest.approx(kn.scores(problem, W)["moment_gap"][0], rel=1e-5)
    plain = kn.play("SRFB", 0.05, problem, [2], 40, 20).iloc[-1]
    assert last.moment_gap != pytest.approx(plain.moment_gap, rel=1e-3)  # the average is not the last iterate


def test_a_weight_decay_axis_trains_together_and_equals_separate_runs():
    problems = [kn.known_problem(16, 3, 0, beta_fraction=b) for b in (0.2, 0.6)]
    both = kn.play("EG", 0.05, problems, [1], 48, 16)
    for p in problems:
        alone = kn.play("EG", 0.05, p, [1], 48, 16)
        mine = both[both.beta_fraction == p.beta_fraction].reset_index(drop=True)
        pd.testing.assert_frame_equal(mine.drop(columns="seconds"), alone.drop(columns="seconds"), rtol=1e-4)


def test_every_method_and_the_double_oracle_end_at_the_same_budget(problem):
    budget, every = 48, 16
    ends = {}
    for m in METHODS:
        t = kn.play(m.name, 0.01, problem, [0], budget, every)
        assert sorted(t.evals.unique()) == [0, 16, 32, 48]
        ends[m.name] = t.evals.max()
    do = ko.double_oracle_run(problem, 0.01, [0], budget, 8)
    assert sorted(do.evals.unique()) == [0, 16, 32, 48]
    assert set(ends.values()) == {budget}
    assert method("EG").steps(budget) * 2 == method("sim-GDA").steps(budget)  # EG: half the steps, 4 evals each


def test_the_saddle_point_is_stationary_and_every_method_stays_there(problem):
    W, u, v = kn.saddle_point(problem, problem.k)
    torch.manual_seed(0)
    G = convex.FixedNoiseLinear(problem.Z, problem.d)
    D = convex.TwoLayerDiscriminator(problem.d, problem.k, "quadratic", normalize=True)
    with torch.no_grad():
        for p, value in zip((G.W, D.u, D.v), (W, u, v)):
            p.copy_(torch.as_tensor(value))
    X = torch.as_tensor(problem.X, dtype=torch.float32)
    d_total = convex.SumWasserstein.d(D(X), D(G())) + problem.beta_d * D.v.abs().sum()
    g_total = convex.SumWasserstein.g(D(G())) + problem.beta_g / 2 * G.W.square().sum()
    for grad in (*torch.autograd.grad(d_total, [D.u, D.v]), *torch.autograd.grad(g_total, [G.W])):
        assert float(grad.abs().max()) < 1e-5
    assert kn.payoff(problem, W, u, v) == pytest.approx(problem.p_star, rel=1e-10)
    # Adam is left out: it divides round-off gradients (1e-7) by their own size and steps lr away
    for m in (m for m in METHODS if m.solver != "adam"):
        moved, _ = single_run(problem, m.name, 0.02, 0, 40, start=(W, u, v), width=problem.k)
        assert kn.scores(problem, moved)["moment_gap"][0] < 1e-4, m.name
    # with spare neurons (v = 0) the point moves, but little in a few steps
    moved, _ = single_run(problem, "sim-GDA", 0.02, 0, 20, start=kn.saddle_point(problem, 2 * problem.d))
    assert kn.scores(problem, moved)["moment_gap"][0] < 1e-2


def test_a_method_reaches_the_optimum_on_an_easy_problem_and_the_gaps_obey_the_closed_form_bound():
    p = kn.known_problem(16, 2, 0)
    table = kn.play("SRFB", [0.03, 0.1], p, range(4), 2000, 200)
    assert (table.moment_gap <= 1e-2).any()
    # Z^T Z = I, so R(W) = (beta_g / 2) tr(G^T G) and |R - p*| <= (beta_g / 2) sqrt(d) ||G^T G - M*||_F
    bound = p.beta_g / 2 * math.sqrt(p.d) * table.moment_gap * np.linalg.norm(p.M_star) / p.p_star
    assert (table.rel_gap <= bound * (1 + 1e-6) + 1e-9).all()


def test_a_member_that_diverges_is_recorded_and_the_others_are_unchanged(problem):
    budget = 200
    table = kn.play("sim-GDA", [0.02, 5.0], problem, [0, 1], budget, 40)
    bad = table[table.lr == 5.0]
    assert bad.groupby("seed").evals.max().eq(budget).all()
    assert np.isinf(bad[bad.evals == budget].moment_gap).all()
    alone = kn.play("sim-GDA", 0.02, problem, [0, 1], budget, 40)
    good = table[table.lr == 0.02].reset_index(drop=True)
    pd.testing.assert_frame_equal(good.drop(columns="seconds"), alone.drop(columns="seconds"), rtol=1e-5)


def test_a_mixture_of_discriminators_is_one_wider_discriminator(problem):
    rng = np.random.default_rng(2)
    W = rng.standard_normal((problem.d, problem.d))
    Ds = [(rng.standard_normal((problem.d, 3)), rng.standard_normal(3)) for _ in range(3)]
    q = np.array([0.2, 0.5, 0.3])
    u, v = ko.discriminator_mixture([u for u, _ in Ds], [v for _, v in Ds], q, width=12)
    assert u.shape == (problem.d, 12) and (v[9:] == 0).all()
    expected = sum(qj * kn.payoff(problem, W, uj, vj) for qj, (uj, vj) in zip(q, Ds))
    assert kn.payoff(problem, W, u, v) == pytest.approx(expected, rel=1e-12)


def test_a_discriminator_sees_a_mixture_of_generators_as_one_stacked_fake_set(problem):
    rng = np.random.default_rng(3)
    Ws = [rng.standard_normal((problem.d, problem.d)) for _ in range(3)]
    p = np.array([0.6, 0.1, 0.3])
    Zb, Wb = ko.generator_mixture(problem.Z, Ws, p, count=4)
    torch.manual_seed(0)
    D = convex.TwoLayerDiscriminator(problem.d, 5, "quadratic", normalize=True).double()
    X = torch.as_tensor(problem.X)
    def d_loss(fake):
        return float(convex.SumWasserstein.d(D(X), D(torch.as_tensor(fake))) + problem.beta_d * D.v.abs().sum())
    with torch.no_grad():
        assert d_loss(Zb @ Wb) == pytest.approx(sum(pi * d_loss(problem.Z @ W) for pi, W in zip(p, Ws)), rel=1e-10)
    M = sum(pi * (problem.Z @ W).T @ (problem.Z @ W) for pi, W in zip(p, Ws))
    np.testing.assert_allclose((Zb @ Wb).T @ (Zb @ Wb), M, rtol=1e-10)
    s = kn.mixture_scores(problem, Ws, p)
    assert s["moment_gap"] == pytest.approx(np.linalg.norm(M - problem.M_star) / np.linalg.norm(problem.M_star))
    R = sum(pi * convex.wgan_objective(W, problem.beta_g) for pi, W in zip(p, Ws))
    assert s["rel_gap"] == pytest.approx(abs(R - problem.p_star) / problem.p_star)


def test_the_double_oracle_scores_its_final_mixture_over_stored_generators(problem):
    results: dict = {}
    table = ko.double_oracle_run(problem, [0.01, 0.03], [0, 1], 120, 20, results=results)
    assert len(results) == 4 and table.groupby(["lr", "seed"]).evals.max().eq(120).all()
    for (beta, lr, seed), r in results.items():
        p = np.asarray(r.sigma_row)
        assert p.shape == (len(r.rows),) and (p >= 0).all() and p.sum() == pytest.approx(1.0)
        assert all(W.shape == (problem.d, problem.d) for W in r.rows)
        M = sum(pi * W.astype(float).T @ problem.Z.T @ problem.Z @ W.astype(float) for pi, W in zip(p, r.rows))
        row = table[(table.lr == lr) & (table.seed == seed) & (table.evals == 120)].iloc[0]
        assert row.moment_gap == pytest.approx(np.linalg.norm(M - problem.M_star) / np.linalg.norm(problem.M_star))
        assert r.history.iteration.max() <= 3


def test_behaviour_labels_follow_the_documented_rule():
    e = np.arange(0, 1100, 100.0)
    assert kt.behaviour(e, np.r_[np.ones(10), np.inf]) == "diverged"
    assert kt.behaviour(e, np.geomspace(1, 1e-3, 11)) == "converged"
    assert kt.behaviour(e, np.geomspace(1, 0.1, 11)) == "improving"
    assert kt.behaviour(e, np.full(11, 0.5)) == "stalled"
    assert kt.behaviour(e, 0.2 * np.where(np.arange(11) % 2, 4.0, 1.0)) == "cycling"


def test_the_arena_tables_on_a_tiny_setting():
    settings = dict(n=16, d=2, problem_seed=0, spread=4.0, beta_g=1.0, beta_fraction=0.3, beta_fractions=(0.3, 0.6),
                    seeds=2, lrs=(0.01, 0.1), budget=48, eval_every=16, oracle_steps=8, oracle_solver="adam")
    out = kt.known_arena(settings)
    names = {m.name for m in METHODS} | {"DO"}
    assert set(out["best"].method) == names and set(out["leaderboard"].method) == names
    assert out["curves"].groupby(kt.RUN).evals.max().eq(48).all()
    assert len(out["curves"].groupby(kt.RUN)) == len(names) * 2 * 2 * 2
    board = out["leaderboard"]
    assert (board.n == 2).all() and board[list(kt.BEHAVIOURS)].sum(axis=1).eq(2).all()
    assert ((board["reach_0.01_low"] <= board["reach_0.01"]) & (board["reach_0.01"] <= board["reach_0.01_high"])).all()
    kept = board.diverged < board.n  # two seeds cannot bound a median at 95% (1 - 2/2^2 = 0.5)
    assert np.isneginf(board.moment_gap_median_low[kept]).all() and np.isposinf(board.rel_gap_median_high[kept]).all()
    best = out["grid"][out["grid"].best].set_index("method").lr
    assert (board.set_index("method").lr == best.loc[board.method].values).all()
    assert set(out["difficulty"].beta_fraction) == {0.3, 0.6}
    with pytest.raises(ValueError, match="must be one of the axis"):
        kt.known_arena({**settings, "beta_fraction": 0.5})


@pytest.mark.parametrize("call,match", [
    (lambda p: kn.known_problem(8, 1), "2 <= d <= n"),
    (lambda p: kn.known_problem(3, 4), "2 <= d <= n"),
    (lambda p: kn.known_problem(8, 2, spread=0.5), "spread"),
    (lambda p: kn.known_problem(8, 2, beta_fraction=1e6), "no component"),
    (lambda p: kn.play("GDA", 0.1, p, [0], 40, 8), "Unknown method"),
    (lambda p: kn.play("EG", -0.1, p, [0], 40, 8), "step sizes"),
    (lambda p: kn.play("EG", 0.1, p, [], 40, 8), "seeds"),
    (lambda p: kn.play("EG", 0.1, p, [0], 40, 6), "multiple of 4"),
    (lambda p: kn.play("EG", 0.1, p, [0], 44, 8), "multiple of eval_every"),
    (lambda p: kn.play("EG", 0.1, [p, kn.known_problem(16, 3, 1)], [0], 40, 8), "share X and Z"),
    (lambda p: ko.double_oracle_run(p, 0.1, [0], 50, 10), "multiple"),
    (lambda p: ko.double_oracle_run(p, 0.1, [0], 40, 0), "oracle_steps"),
    (lambda p: kn.saddle_point(p, p.k - 1), "width"),
    (lambda p: kn.mixture_scores(p, [p.W_star, p.W_star], [0.5, 0.6]), "probability"),
])
def test_bad_settings_are_clear_value_errors(problem, call, match):
    with pytest.raises(ValueError, match=match):
        call(problem)
