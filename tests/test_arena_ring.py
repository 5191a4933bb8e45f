"""The ring arena: equal budgets, common seeds, stacked ensembles equal to single runs under the arena's
solvers, and a leaderboard read off the curves."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from gancore import data, ensemble, losses, models, plotting, profiles, train
from gancore.arena import METHODS, check_ring_settings, method, ring_arena, ring_tables
from gancore.arena.ring import _UniformAverage

RING = data.load("ring")
TINY = dict(g_width=8, d_width=8, depth=1, seeds=3, budget=16, eval_every=8, n_eval=200, lrs=(2e-3, 0.2),
            dogan=dict(seeds=2, iterations=2, n_payoff=64, fisher_batches=1))


def _settings(**changes):
    return profiles.get("arena", "quick", {"ring": profiles.deep_merge(TINY, changes)}).ring


@pytest.fixture(scope="module")
def arena():
    return ring_arena(_settings(), device="cpu")


def test_every_contestant_ends_at_the_same_budget(arena):
    S, curves = _settings(), arena["curves"]
    assert set(curves["method"]) == set(S.methods)
    last = curves.groupby(["method", "lr", "seed"])[["evals", "step"]].max().reset_index()
    assert (last["evals"] == S.budget).all()
    steps = last.groupby("method")["step"].max()
    assert steps["EG"] == S.budget // 4  # extragradient: 4 evaluations per step, half the steps
    for m in METHODS:
        if m.name != "EG":
            assert steps[m.name] == S.budget // 2
    per_step = curves[curves["method"] != "DO-GAN"]
    for name, evals in per_step.groupby("method")["evals"]:
        assert sorted(set(evals)) == [0, 8, 16], name
    assert {0, 8, 16} <= set(curves.loc[curves["method"] == "DO-GAN", "evals"])
    # DO-GAN: init_steps + iterations x (G oracle + D oracle) learner steps, each oracle step 1 evaluation
    assert steps["DO-GAN"] == 4 + 2 * 2 * 2


def test_the_same_seed_starts_every_contestant_from_the_same_networks(arena):
    start = arena["curves"][arena["curves"]["evals"] == 0]
    wide = start.pivot_table(index=["lr", "seed", "metric"], columns="method", values="value")
    values = wide.drop(columns="DO-GAN").to_numpy()
    np.testing.assert_allclose(values, values[:, :1].repeat(values.shape[1], axis=1), rtol=1e-6)
    do = wide["DO-GAN"].dropna()  # DO-GAN runs on the first seeds only
    np.testing.assert_allclose(do.to_numpy(), wide.loc[do.index, "sim-GDA"].to_numpy(), rtol=1e-6)
    kl = start[(start["metric"] == "kl") & (start["method"] == "sim-GDA") & (start["lr"] == 2e-3)]
    assert kl["value"].nunique() == len(kl)  # the seeds do differ: the check above compares something


def _players():
    return (lambda: models.mlp_generator(2, 2, width=8, depth=2), lambda: models.mlp_discriminator(2, width=8, depth=2))


@pytest.mark.parametrize("name, lr", [("SRFB", 0.1), ("EG", 0.1), ("OGDA", 0.1), ("alt-GDA", 0.1)])
def test_a_stacked_ensemble_equals_its_members_run_one_at_a_time(name, lr):
    m, seeds, (make_G, make_D) = method(name), [3, 11], _players()
    options = dict(loss=losses.gan_loss("ns"), steps=3, batch_size=32, latent_dim=2, device="cpu", progress=False)
    G, D, _ = ensemble.fit(make_G, make_D, RING, seeds, policy=m.make_policy(),
                           optimizers=lambda g, d: (m.optimizer(g, lr), m.optimizer(d, lr)), **options)
    for k, seed in enumerate(seeds):
        torch.manual_seed(seed)
        G1 = make_G()
        torch.manual_seed(seed + 1_000_000)
        D1 = make_D()
        train.fit(G1, D1, RING, opt_G=m.optimizer(G1.parameters(), lr), opt_D=m.optimizer(D1.parameters(), lr),
                  policy=m.make_policy(), seed=seed, **options)
        for batched, alone in ((G.member(k), G1), (D.member(k), D1)):
            for p, q in zip(batched.parameters(), alone.parameters(), strict=True):
                torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)
    torch.manual_seed(seeds[0])
    assert not torch.allclose(G.member(0)[0].weight, make_G()[0].weight)  # training moved the members


def test_ensemble_fit_takes_either_adam_rates_or_optimizers():
    make_G, make_D = _players()
    srfb = method("SRFB")
    with pytest.raises(ValueError, match="not both and not neither"):
        ensemble.fit(make_G, make_D, RING, [0], loss=losses.gan_loss("ns"), lr_G=1e-3, lr_D=1e-3, steps=1,
                     optimizers=lambda g, d: (srfb.optimizer(g, 0.1), srfb.optimizer(d, 0.1)), batch_size=8,
                     latent_dim=2, device="cpu")
    with pytest.raises(ValueError, match="not both and not neither"):
        ensemble.fit(make_G, make_D, RING, [0], loss=losses.gan_loss("ns"), steps=1, batch_size=8, latent_dim=2)


def test_the_scored_average_is_fits_uniform_average():
    make_G, make_D = _players()
    torch.manual_seed(0)
    G, D = make_G(), make_D()
    srfb = method("SRFB")
    opt_G = srfb.optimizer(G.parameters(), 0.1)
    average = _UniformAverage(opt_G)
    assert average.model(G) is G  # before any step: the initial generator
    result = train.fit(G, D, RING, loss=losses.gan_loss("ns"), opt_G=opt_G, opt_D=srfb.optimizer(D.parameters(), 0.1),
                       steps=5, batch_size=16, latent_dim=2, seed=0, device="cpu", average_G="uniform",
                       progress=False)
    for p, q in zip(average.model(G).parameters(), result.G_avg.module.parameters(), strict=True):
        torch.testing.assert_close(p, q)
    assert not torch.allclose(next(average.model(G).parameters()), next(G.parameters()))


def test_the_leaderboard_is_read_off_the_curves_final_values(arena):
    S, curves, board = _settings(), arena["curves"], arena["leaderboard"]
    final = curves[curves["evals"] == S.budget]
    for _, row in board.iterrows():
        own = final[(final["method"] == row["method"]) & (final["lr"] == row["lr"])]
        for metric in ("success", "failure", "modes", "hqs"):
            values = own.loc[own["metric"] == metric, "value"]
            assert row[metric] == pytest.approx(values.mean())
            assert row["n"] == len(values)
            assert row[f"{metric} low"] <= row[metric] <= row[f"{metric} high"]
        # the chosen lr has the best final success rate, then hqs, over the grid
        scores = {lr: tuple(part.loc[part["metric"] == k, "value"].mean() for k in ("success", "hqs"))
                  for lr, part in final[final["method"] == row["method"]].groupby("lr")}
        assert scores[row["lr"]] == max(scores.values())
    assert list(board["success"]) == sorted(board["success"], reverse=True)
    assert set(board["method"]) == set(S.methods)
    tables = ring_tables(curves.drop(columns="best"))  # from stored curves: the same tables
    assert tables["leaderboard"].equals(board)
    assert set(zip(arena["best"]["method"], arena["best"]["lr"])) == set(
        zip(curves.loc[curves["best"], "method"], curves.loc[curves["best"], "lr"]))


def test_the_best_curves_plot_with_wilson_bands(arena):
    curves = arena["curves"]
    ax = plotting.metric_curves(curves[curves["best"]], "success", x="evals", hue="method", interval="wilson")
    assert len(ax.get_lines()) == curves["method"].nunique()
    plt.close(ax.figure)


@pytest.mark.parametrize("changes, message", [
    (dict(methods=("alt-Adam", "Adam!")), "Invalid ring.methods"),
    (dict(budget=0), "Invalid ring.budget=0"),
    (dict(budget=2), "Invalid ring.budget=2"),
    (dict(budget=20), "does not divide"),
    (dict(lrs=()), "Invalid step-size grid"),
    (dict(lrs=(1e-3, -1.0)), "Invalid step-size grid|a rate and must be > 0"),  # profiles refuses it first
    (dict(seeds=0), "Invalid ring.seeds=0|ring.seeds .*must be >= 1"),  # profiles refuses it first
    (dict(dogan=dict(seeds=5)), "Invalid ring.dogan.seeds=5"),
    (dict(dogan=dict(init=0.25)), "DO-GAN cannot spend the budget"),
    (dict(dogan=dict(iterations=3)), "DO-GAN cannot spend the budget"),
])
def test_bad_settings_are_refused_before_anything_runs(changes, message):
    with pytest.raises(ValueError, match=message):
        check_ring_settings(_settings(**changes))
    with pytest.raises(ValueError, match=message):
        ring_arena(_settings(**changes), device="cpu")

