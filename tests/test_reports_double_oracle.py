"""The DO-GAN chapter's analysis (gancore.reports.double_oracle): the exact-oracle check, the ring
demonstration at tiny sizes, the meta-solver ablation (exact on matrix games, and its stored ring run's
analysis), the image comparison's evidence and the sentences the
chapter's prose glues."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch

from gancore import data, oracle, profiles, stats
from gancore.reports import double_oracle as report

TINY = {"ring": {"width": 16, "depth": 2, "init_steps": 20, "iterations": 3, "oracle_steps": 10},
        "ablation_caps": [2, None], "batch_size": 32, "n_payoff": 64, "fisher_batches": 2, "n_eval": 500,
        "image": {"width": 8, "latent": 8, "init_steps": 10, "iterations": 2, "oracle_steps": 5, "batch_size": 16,
                  "seeds": 1, "br_steps": 5},
        "base_gans": ["vanilla"], "n_fid": 128, "matrix_size": 20}


@pytest.fixture(scope="module")
def tiny():
    return profiles.get("double_oracle", "quick", TINY)


@pytest.fixture(scope="module")
def demo(tiny):
    return report.ring_demo(tiny, seed=0)


def test_matrix_games_reach_the_value_of_the_whole_game():
    games = report.matrix_games(12, [0, 1, 2])
    assert list(games.seed) == [0, 1, 2]
    for row in games.itertuples():
        A = np.random.default_rng(row.seed).normal(size=(12, 12))
        assert row.value == pytest.approx(oracle.solve_matrix_game(A)[2], abs=1e-12)
    assert games.converged.all()
    np.testing.assert_allclose(games["DO value"], games["value"], atol=1e-8)
    np.testing.assert_allclose(games["full exploitability"], 0.0, atol=1e-8)
    assert ((games["support rows"] >= 1) & (games["support rows"] <= games["meta rows"])).all()
    assert (games["meta rows"] <= 12).all()


def test_biased_rps_has_the_known_equilibrium():
    x, y, value = oracle.solve_matrix_game(report.BIASED_RPS)
    np.testing.assert_allclose(x, [1 / 16, 10 / 16, 5 / 16], atol=1e-9)
    np.testing.assert_allclose(y, [1 / 16, 10 / 16, 5 / 16], atol=1e-9)
    assert value == pytest.approx(0.0, abs=1e-12)
    assert oracle.exploitability(report.BIASED_RPS, x, y) == pytest.approx(0.0, abs=1e-9)


@pytest.fixture(scope="module")
def meta_runs():
    return report.meta_solver_runs(report.meta_games(5, [0, 1]), ["nash", "uniform", "newest"], 30)


def test_nash_meta_solver_reaches_an_equilibrium_within_m_plus_n_minus_1_iterations(meta_runs):
    assert set(meta_runs.game) == {"biased RPS", "random 5x5, seed 0", "random 5x5, seed 1"}
    assert (meta_runs.groupby(["game", "meta-solver"]).iteration.max() == 30).all()
    nash = meta_runs[meta_runs["meta-solver"] == "nash"]
    at_bound = nash[nash.iteration >= nash.bound]
    np.testing.assert_allclose(at_bound.exploitability, 0.0, atol=1e-9)
    assert at_bound.stopped.all()
    assert (meta_runs.exploitability >= -1e-12).all()
    assert (meta_runs["gradient evaluations"] == 2 * meta_runs.iteration).all()


def test_newest_and_uniform_stay_exploitable_on_biased_rps(meta_runs):
    A = report.BIASED_RPS
    rps = meta_runs[meta_runs.game == "biased RPS"].pivot(index="iteration", columns="meta-solver",
                                                         values="exploitability")
    # "newest" plays pure profiles, none of which is an equilibrium of biased RPS
    least = min(A[:, j].max() - A[i].min() for i in range(3) for j in range(3))
    assert least > 0 and (rps["newest"] >= least - 1e-12).all()
    # "uniform" is fictitious play: exploitable at every finite iteration, less so later
    assert (rps["uniform"] > 1e-3).all()
    assert rps["uniform"].iloc[-1] < rps["uniform"].iloc[1]


def test_meta_exact_evidence_compares_nash_with_each_solver(meta_runs):
    evidence = report.meta_exact_evidence(meta_runs)
    assert set(evidence) == {"nash", "uniform", "newest"}
    assert evidence["nash"].n == 3 and abs(evidence["nash"].estimate) < 1e-9
    assert evidence["uniform"].difference < 0 and evidence["newest"].difference < 0


def _final(nash, other):
    rows = [{"seed": s, "variant": v, "mean exploitability": e, "modes": 1.0, "hqs": 0.5, "generators": 3}
            for s, (a, b) in enumerate(zip(nash, other)) for v, e in [("nash", a), ("no EWC", b)]]
    return pd.DataFrame(rows)


def test_meta_ring_evidence_pairs_by_seed_and_summary_counts_seeds():
    final = _final([0.1, 0.2, 0.3, 0.2], [0.3, 0.5, 0.4, 0.6])
    evidence = report.meta_ring_evidence(final)
    assert list(evidence) == ["no EWC"]
    assert evidence["no EWC"].method == "paired t"
    assert evidence["no EWC"].difference == pytest.approx(-0.25)
    summary = report.meta_ring_summary(final)
    assert list(summary.index) == ["nash", "no EWC"] and (summary.seeds == 4).all()
    assert summary.loc["no EWC", "exploitability"].startswith("0.45")
    difference = report.meta_ring_difference(final, "nash", "no EWC")
    assert difference.estimate == pytest.approx(-0.25) and difference.n == 4 and difference.level == 0.90
    assert difference.low < -0.25 < difference.high


def test_ring_meta_runs_every_variant_from_one_start(tiny):
    tables = report.dogan.ring_meta(tiny, [0], "cpu")
    final, history = tables["final"], tables["history"]
    assert list(final.variant) == ["nash", "uniform", "newest", "cap 2", "no cap", "no EWC"]
    assert list(final["meta-solver"]) == ["nash", "uniform", "newest", "nash", "nash", "nash"]
    assert (final.loc[final.variant == "cap 2", ["generators", "discriminators"]] <= 2).all(axis=None)
    assert len(history) == 6 * tiny.ring.iterations
    # the first meta game is 1 x 1, so every variant with the same EWC strength starts alike
    first = history[(history.iteration == 1) & (history["EWC lambda"] > 0)]
    assert first.row_gain.nunique() == 1 and first.col_gain.nunique() == 1
    assert (history["gradient evaluations"] == 2 * history.iteration * tiny.ring.oracle_steps).all()
    steps = report.dogan.ring_meta_steps(tiny, 2)
    assert steps == 2 * (tiny.ring.init_steps + 6 * 2 * tiny.ring.iterations * tiny.ring.oracle_steps)


def test_ring_quality_counts_modes_and_high_quality_samples():
    ring = data.load("ring")
    at_means = ring.means.repeat(10, 1)
    q = report.ring_quality(at_means, ring)
    assert q["modes"] == 8.0 and q["hqs"] == 1.0 and q["success"] == 1.0
    assert q["kl"] == pytest.approx(0.0, abs=1e-9)
    far = torch.full((50, 2), 5.0)
    assert report.ring_quality(far, ring)["modes"] == 0.0
    assert all(isinstance(v, float) for v in q.values())


def test_ring_demo_spends_the_planned_steps_and_scores_every_generator(demo, tiny):
    r = tiny.ring
    assert demo.result.training_steps <= r.init_steps + 2 * r.iterations * r.oracle_steps
    assert demo.result.training_steps == r.init_steps + 2 * (len(demo.history) - 1) * r.oracle_steps
    np.testing.assert_allclose(demo.history.exploitability.iloc[1:],
                               (demo.history.row_gain + demo.history.col_gain).iloc[1:])
    assert len(demo.comparison) == 2 + len(demo.result.generators)
    assert demo.comparison.model.iloc[0] == f"single GAN, {demo.result.training_steps} steps"
    assert demo.base.shape == demo.mixture.shape == demo.test.shape == (tiny.n_eval, 2)
    assert set(demo.index.unique().tolist()) <= set(range(len(demo.result.generators)))
    assert demo.comparison.iloc[1][["modes", "hqs"]].tolist() == pytest.approx(
        [report.ring_quality(demo.mixture, data.load("ring"))[k] for k in ("modes", "hqs")])


def _comparison(single, mixture, alone):
    rows = [{"model": "single GAN, 10 steps", "modes": single, "hqs": 0.5, "kl": 0.1, "success": 0.0},
            {"model": "DO-GAN mixture", "modes": mixture, "hqs": 0.25, "kl": 0.2, "success": 0.0}]
    rows += [{"model": f"  DO generator G{i} alone", "modes": m, "hqs": 0.0, "kl": 1.0, "success": 0.0}
             for i, m in enumerate(alone)]
    return pd.DataFrame(rows)


def test_ring_outcome_says_what_the_table_shows():
    assert report.ring_outcome(_comparison(7, 0, [0, 0]), 8) == (
        "fails on the ring: its mixture covers none of the 8 modes (HQS 0.250), its best generator alone "
        "none of the 8 modes, and the single GAN trained alone for the same number of steps 7 of the 8 "
        "modes (HQS 0.500)")
    assert report.ring_outcome(_comparison(7, 3, [1, 2]), 8).startswith(
        "covers fewer modes than the single GAN: its mixture covers 3 of the 8 modes")
    assert "its best generator alone 2 of the 8 modes" in report.ring_outcome(_comparison(7, 3, [1, 2]), 8)
    assert report.ring_outcome(_comparison(2, 5, [1]), 8).startswith("covers more modes than the single GAN")
    assert report.ring_outcome(_comparison(4, 4, [4]), 8).startswith("covers as many modes as the single GAN")


def test_paired_is_the_paired_t_test_and_falls_back_to_counts():
    a, b = [3.0, 5.0, 4.0, 7.0], [1.0, 2.0, 3.0, 3.0]
    c = report.paired(a, b)
    assert c.method == "paired t"
    assert c.p_value == pytest.approx(stats.compare_paired(a, b).p_value)
    same = report.paired([3.0, 4.0, 5.0], [1.0, 2.0, 3.0])  # every pair differs by exactly 2
    assert same.method == "Fisher"
    assert (same.first.estimate, same.second.estimate) == (1.0, 0.0)  # first higher in all pairs
    assert same.direction == ">"
    lower = report.paired([1.0, 2.0, 3.0], [3.0, 4.0, 5.0])
    assert lower.direction == "<"


def _image_table():
    return pd.DataFrame({"data": ["digits"] * 4, "base GAN": ["vanilla", "vanilla", "dcgan", "dcgan"],
                         "seed": [0, 1, 0, 1], "steps": [30, 30, 30, 30],
                         "FD base": [100.0, 120.0, 80.0, 90.0], "FD DO-GAN": [110.0, 100.0, 200.0, 250.0],
                         "exploit. base": [1.0, 2.0, 0.0, 3.0], "exploit. DO-GAN": [0.5, 2.5, 0.0, 1.0]})


def test_image_evidence_pairs_do_gan_with_its_base_gan():
    table = _image_table()
    evidence = report.image_evidence(table)
    assert evidence["fd"].difference == pytest.approx(np.mean([10.0, -20.0, 120.0, 160.0]))
    assert evidence["fd"].first.estimate == pytest.approx(165.0)
    assert evidence["exploit"].difference == pytest.approx(np.mean([-0.5, 0.5, 0.0, -2.0]))


def test_pairs_outcome_counts_each_direction():
    table = _image_table()
    assert report.pairs_outcome(table, "FD") == "lower in 1 and higher in 3 of the 4 pairs"
    assert report.pairs_outcome(table, "exploit.") == "lower in 2 and higher in 1 of the 4 pairs"


def test_budget_note_splits_the_steps():
    image = {"init_steps": 10, "iterations": 2, "oracle_steps": 5, "br_steps": 7}
    note = report.budget_note(image, _image_table())
    assert note.startswith("DO-GAN vs base GAN alone over 4 (data, base GAN, seed) pairs; DO-GAN 30 fit steps: "
                           "10 initial GAN (both players) + 2 iterations x 2 oracles x 5 (one player each)")
    assert note.endswith("fresh best responses of 7 steps per player")
    early = report.budget_note(image, _image_table().assign(steps=[20, 30, 30, 30]))
    assert "20 to 30 fit steps (planned 30; the DO stopped early)" in early


def test_image_summary_gives_positive_geometric_means_for_distances():
    summary = report.image_summary(_image_table())
    assert list(summary.index) == ["vanilla", "dcgan"]
    assert summary.loc["dcgan", "FD DO-GAN"].startswith(f"{math.sqrt(200.0 * 250.0):.0f} [")
    low = float(summary.loc["vanilla", "FD base"].split("[")[1].split(",")[0])
    assert low > 0
    assert summary.loc["dcgan", "exploit. base"] == str(stats.mean_interval([0.0, 3.0]))


def test_overhead_is_the_share_outside_the_oracles():
    history = pd.DataFrame({"oracle_s": [0.0, 3.0, 5.0], "payoff_s": [0.5, 0.5, 0.0], "solve_s": [0.0, 0.5, 0.5],
                            "prune_s": [0.0, 0.0, 0.0]})
    spent = report.overhead(history)
    assert spent["oracle_s"] == 8.0 and spent["payoff_s"] == 1.0 and spent["solve_s"] == 1.0
    assert spent["overhead"] == pytest.approx(2.0 / 10.0)
    assert math.isnan(report.overhead(history * 0)["overhead"])


def test_image_comparison_runs_one_job_per_base_gan_and_seed(tiny):
    table, samples, spaces = report.image_comparison(tiny, seed=0, workers=1)
    assert list(table["base GAN"]) == ["vanilla"] and list(table.seed) == [0]
    image = tiny.image
    assert table.steps.iloc[0] == image.init_steps + 2 * image.iterations * image.oracle_steps
    assert spaces == ["cnn-digits"]
    base_x, do_x = samples[("digits", "vanilla")]
    assert base_x.shape[0] == do_x.shape[0] == 32
    assert (table[["FD base", "FD DO-GAN"]] > 0).all(axis=None)
    assert (table[["exploit. base", "exploit. DO-GAN"]] >= 0).all(axis=None)


def test_figures_have_one_panel_per_view(demo):
    fig = report.plot_meta(demo.result.history)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[-1] == "best-response gains" or "best-response gains" in titles
    assert sum(t.startswith("U after iteration") for t in titles) == len(
        {1, max(1, len(demo.history) // 2), len(demo.history) - 1})
    plt.close(fig)
    fig = report.plot_ring(demo, data.load("ring").means)
    assert [ax.get_title() for ax in fig.axes] == ["single GAN", "DO-GAN mixture", "real (test)"]
    plt.close(fig)
    images = torch.zeros(32, 1, 8, 8)
    fig = report.plot_samples({("digits", "vanilla"): (images, images), ("digits", "dcgan"): (images, images)})
    assert [ax.get_title() for ax in fig.axes] == ["vanilla (digits)", "dcgan (digits)", "DO-GAN on vanilla",
                                                   "DO-GAN on dcgan"]
    plt.close(fig)
    history = pd.DataFrame([{"variant": v, "meta-solver": m, "gradient evaluations": 20 * t, "exploitability": 0.1 * t,
                             "seed": 0} for v, m in [("nash", "nash"), ("uniform", "uniform"), ("no EWC", "nash")]
                            for t in (1, 2)])
    runs = report.meta_solver_runs(report.meta_games(3, [0]), ["nash", "newest"], 4)
    fig = report.plot_meta_solvers(runs, history)
    assert [ax.get_title() for ax in fig.axes] == ["biased RPS (exact)", "random games (exact, mean)",
                                                   "ring (estimated, mean over seeds)"]
    assert [len(ax.get_lines()) for ax in fig.axes] == [2, 2, 2]
    plt.close(fig)
