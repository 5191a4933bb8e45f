"""The image arena: equal budgets, one start for all, a sane metric pipeline, honest summaries, clear errors."""

import matplotlib
import numpy as np
import pytest
import torch

from gancore import plotting, profiles
from gancore.arena import methods
from gancore.arena import images
from gancore.convex import ProCoGAN

matplotlib.use("Agg")

BUDGET, EVAL_EVERY = 24, 12
TINY = {"width": 4, "latent": 4, "batch_size": 16, "budget": BUDGET, "eval_every": EVAL_EVERY, "lrs": [0.01, 0.05],
        "seeds": 2, "n_eval": 64, "dogan": {"init": 0.5, "iterations": 1, "n_payoff": 64},
        "procogan": {"resolutions": [4, 8], "ks": [4, 8], "noise_dim": 6}}


def tiny(**changes):
    return profiles.get("arena", "quick", {"image": {**TINY, **changes}}).image


@pytest.fixture(scope="module")
def arena():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # networks this small run fastest on one thread
    try:
        yield images.image_arena(tiny(), device="cpu")
    finally:
        torch.set_num_threads(threads)


def test_every_contestant_spends_exactly_the_budget(arena):
    finals, curves = arena["finals"], arena["curves"]
    assert set(finals.method) == set(methods.CONTESTANTS)
    assert (finals.evals == BUDGET).all() and finals.fd.notna().all()
    last = curves[curves.evals == BUDGET]
    steps = last.groupby("method").step.unique()
    assert list(steps["EG"]) == [BUDGET // 4]  # extragradient: 4 evaluations per step, half the steps
    for name in ("sim-GDA", "alt-Adam", "OGDA", "SRFB", "coop-Adam", "alpha-GAN"):
        assert list(steps[name]) == [BUDGET // 2]
    # every per-step method is evaluated at the same counts
    per_step = curves[curves.method != methods.DO_GAN]
    assert set(per_step.groupby(["method", "lr", "seed"]).evals.apply(tuple)) == {(0, EVAL_EVERY, BUDGET)}


def test_same_seed_same_start_for_every_method(arena):
    start = arena["curves"][arena["curves"].evals == 0]
    assert len(start) == len(methods.CONTESTANTS) * len(TINY["lrs"]) * TINY["seeds"]
    by_seed = start.groupby("seed").value
    assert (by_seed.max() - by_seed.min()).max() == pytest.approx(0.0, abs=1e-9)
    assert by_seed.first().nunique() == TINY["seeds"]  # and different seeds start differently


def test_dogan_starts_as_alt_adam(arena):
    c = arena["curves"]
    init_evals = 2 * methods.dogan_steps(tiny())[0]
    do = c[(c.method == methods.DO_GAN) & (c.evals == init_evals)].set_index(["lr", "seed"]).value
    alt = c[(c.method == "alt-Adam") & (c.evals == init_evals)].set_index(["lr", "seed"]).value
    np.testing.assert_allclose(do.sort_index(), alt.sort_index(), rtol=1e-12)
    after = c[(c.method == methods.DO_GAN) & (c.evals > init_evals)].groupby(["lr", "seed"]).evals.apply(tuple)
    assert set(after) == {(BUDGET,)}  # one DO iteration of two oracles spends the rest


def test_real_digits_score_far_below_an_untrained_generator(arena):
    ref = arena["reference"].set_index("generator")
    floor, untrained = ref.loc["real test images (the floor)", "fd"], ref.loc["untrained DCGAN", "fd"]
    assert 0 < floor < untrained / 10
    assert ref.loc["ProCoGAN (closed form)", "fd"] < untrained
    assert "linear" in ref.loc["ProCoGAN (closed form)", "class"]
    # its linear maps: noise (6) -> 4x4, then (4x4 upsampled to 8x8, plus 6 noise) -> 8x8
    assert ref.loc["ProCoGAN (closed form)", "parameters"] == 6 * 4 * 4 + (8 * 8 + 6) * 8 * 8


def test_best_lr_and_leaderboard_follow_from_the_finals(arena):
    finals, board, best = arena["finals"], arena["leaderboard"], arena["best"]
    means = finals.groupby(["method", "lr"]).fd.mean()
    for _, row in best.iterrows():
        assert means[row.method, row.lr] == pytest.approx(means[row.method].min())
    assert list(board.fd) == sorted(board.fd)
    for _, row in board.iterrows():
        own = finals[(finals.method == row.method) & (finals.lr == row.lr)].fd
        assert row.fd == pytest.approx(np.exp(np.log(own).mean())) and row.n == TINY["seeds"]
        assert 0 < row.low < row.fd < row.high and row.evals == BUDGET
    marked = arena["curves"][arena["curves"].best]
    assert set(zip(marked.method, marked.lr)) == set(zip(best.method, best.lr))


def test_curves_plot_against_evaluations(arena):
    curves = arena["curves"]
    ax = plotting.metric_curves(curves[curves.best], "fd", x="evals", hue="method")
    assert len(ax.get_lines()) == len(methods.CONTESTANTS)
    matplotlib.pyplot.close(ax.figure)


@pytest.mark.parametrize("profile", profiles.PROFILES)
def test_profiles_run_and_dogan_spends_the_budget(profile):
    S = profiles.get("arena", profile).image
    images.check_image_settings(S)
    assert S.seeds >= 3 and set(S.methods) == set(methods.CONTESTANTS)
    init_steps, oracle_steps = methods.dogan_steps(S)
    assert 2 * init_steps + 2 * S.dogan.iterations * oracle_steps == S.budget
    ProCoGAN(S.procogan.resolutions, S.procogan.ks, S.procogan.noise_dim)  # its stages fit its noise


@pytest.mark.parametrize("changes, message", [
    ({"methods": ["sim-GDA", "Adam"]}, "image.methods"),
    ({"methods": ["EG", "EG"]}, "image.methods"),
    ({"seeds": 0}, "image.seeds"),
    ({"lrs": []}, "image.lrs"),
    ({"lrs": [0.01, -0.1]}, "image.lrs"),
    ({"budget": 26}, "image.budget=26"),
    ({"eval_every": 10}, "image.eval_every=10"),
    ({"eval_every": 16}, "does not divide"),
    ({"n_eval": 1}, "image.n_eval"),
    ({"dogan": {"init": 0.5, "iterations": 5}}, "dogan.iterations"),
    ({"dogan": {"init": 1.0, "iterations": 1}}, "dogan.init"),
])
def test_bad_settings_are_refused_before_training(changes, message):
    with pytest.raises(ValueError, match=message):
        images.image_arena(tiny(**changes), device="cpu")
