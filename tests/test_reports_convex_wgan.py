"""The convex-duality chapter's analysis (gancore.reports.convex_wgan) and its paper file."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from gancore import claims, convex, profiles, stats, verdict  # noqa: E402
from gancore.reports import convex_wgan as report  # noqa: E402

BOOK = Path(__file__).resolve().parents[1] / "book"


def _trajectory(objective, violation):
    return pd.DataFrame({"step": np.arange(len(objective)) * 10, "objective": objective,
                         "violation": violation})


def test_percentages_keep_two_digits_or_one_significant():
    assert report._pct(0.1534) == "15%"
    assert report._pct(-0.28) == "-28%"
    assert report._pct(0.005) == "0.5%"
    assert report._pct(0.01) == "1%"


def test_sdp_gaps_are_solver_small_on_each_problem():
    gaps = report.sdp_gaps(40, 3, [1, 2, 3])
    assert gaps.shape == (3,)
    assert (gaps >= 0).all() and (gaps < 1e-6).all()


def test_feasible_summary_counts_hits_and_the_best_feasible_gap():
    # objective / p* - 1 = +1.0, +0.005, -0.1, +0.2; violations: feasible, feasible, infeasible, feasible
    traj = _trajectory([4.0, 2.01, 1.8, 2.4], [0.0, 0.005, 0.5, 0.0])
    assert report._hits(traj, 2.0) == 1
    assert report._best_feasible_gap(traj, 2.0) == pytest.approx(0.005)
    assert report.feasible_summary(traj, 2.0) == (
        "GDA evaluations within 1% of p* and feasible to 1%: 1 of 4; "
        "smallest gap among feasible evaluations: +0.005")
    never = _trajectory([1.0, 3.0], [0.2, 0.3])
    assert np.isnan(report._best_feasible_gap(never, 2.0))
    assert report.feasible_summary(never, 2.0).endswith(
        "0 of 2; no evaluation was feasible to 1%, so no gap among feasible ones")


def test_gda_problem_reports_the_closed_form_optimum_and_its_trajectory():
    row = report.gda_problem(30, 3, problem=2, steps=20, lr=1e-2, eval_every=10)
    X, Z, beta = convex.comparison_problem(30, 3, 2)
    assert row["p*"] == pytest.approx(convex.quadratic_optimal_value(X, Z, beta))
    assert row["evaluations"] == 3  # steps 0, 10, 20
    assert row["problem"] == 2 and 0 <= row["at p*"] <= 3
    assert row["closed form at p*"] is True
    table = report.gda_problems(30, 3, [2, 3], steps=20, lr=1e-2, eval_every=10)
    assert list(table.problem) == [2, 3]
    assert table.iloc[0]["p*"] == pytest.approx(row["p*"])


GAPS = pd.DataFrame({"problem": [1, 2, 3, 4], "closed form at p*": [True] * 4,
                     "best feasible gap": [0.2, 0.3, np.nan, 0.25], "at p*": [0, 0, 0, 1]})


def test_gda_evidence_compares_the_rates_of_problems_solved():
    c = report.gda_evidence(GAPS)  # closed form 4 of 4, GDA 1 of 4
    assert (c.first.n, c.second.n) == (4, 4)
    assert c.first.estimate == 1.0 and c.second.estimate == 0.25
    assert c.direction == ">" and c.method == "Fisher"
    assert c.p_value == pytest.approx(stats.compare_rates(4, 4, 1, 4).p_value)
    none = GAPS.assign(**{"best feasible gap": np.nan, "at p*": 0})  # GDA never feasible: still decided
    assert report.gda_evidence(none).second.estimate == 0.0


def test_gda_sentence_states_the_numbers_it_was_given():
    iv = stats.mean_interval([0.2, 0.3, 0.25])
    assert report.gda_sentence(GAPS) == (
        f"its best feasible iterate lies 25% [{report._pct(iv.low)}, {report._pct(iv.high)}] above p* on "
        "average (feasible evaluations on 3 of 4 problems); an evaluation within 1% of p* and feasible "
        "came on 1 of 4 problems")
    none = GAPS.assign(**{"best feasible gap": np.nan, "at p*": 0})
    assert report.gda_sentence(none) == (
        "no evaluation was feasible to 1% on any of the 4 problems; an evaluation within 1% of p* and "
        "feasible came on 0 of 4 problems")
    below = GAPS.assign(**{"best feasible gap": [-0.02, -0.03, -0.01, -0.02]})
    assert "2% [" in report.gda_sentence(below) and "below p*" in report.gda_sentence(below)


def test_toy_sentence_reads_feasibility_and_the_gap_from_the_table():
    table = pd.DataFrame({"activation": ["linear", "quadratic", "polynomial"], "beta_d": [5.0, 8.0, 8.0],
                          "convex objective": [23.326, 30.652, 31.462], "convex violation": [0.0, 0.0, 0.0],
                          "GDA objective": [23.310, 27.739, 36.300], "GDA violation": [0.002, 0.812, 0.0]})
    assert report.toy_sentence(table) == (
        "linear: feasible, 0.07% below the convex objective; quadratic: infeasible by 81%; "
        "polynomial: feasible, 15% above the convex objective")


def test_procogan_tests_pair_by_seed_per_data_set():
    scores = pd.DataFrame({"data": ["digits"] * 3 + ["faces"] * 3, "seed": [0, 1, 2] * 2,
                           "ProCoGAN FD": [110.0, 115.0, 118.0, 4.0, 3.9, 4.1],
                           "progressive GDA FD": [300.0, 350.0, 400.0, 60.0, 20.0, 100.0]})
    tests = report.procogan_tests(scores)
    assert list(tests) == ["digits", "faces"]
    d = tests["digits"]
    assert d.first.estimate == pytest.approx(343 / 3) and d.second.estimate == pytest.approx(350.0)
    assert d.direction == "<" and d.method == "paired t"
    assert d.p_value == pytest.approx(stats.compare_paired([110, 115, 118], [300, 350, 400]).p_value)


def test_plots_have_one_panel_per_part_and_plot_the_gap():
    X = np.random.default_rng(0).standard_normal((10, 2))
    fakes = {a: (X[:3], X[3:6]) for a in ("linear", "quadratic")}
    fig = report.plot_toys(X, fakes, {"linear": 1.0, "quadratic": 2.0})
    assert len(fig.axes) == 2 and fig.axes[1].get_title() == "quadratic (beta_d = 2)"
    traj = _trajectory([4.0, 2.01, 1.8], [0.0, 0.005, 0.5])
    fig = report.plot_gda(traj, 2.0)
    assert np.allclose(fig.axes[0].lines[0].get_ydata(), [1.0, 0.005, -0.1])
    sweep = convex.beta_sweep(torch.randn(100, 64, dtype=torch.float64), [0.2, 0.5], noise_dim=64)
    fig = report.plot_beta(sweep, torch.zeros(64, dtype=torch.float64))
    assert len(fig.axes) == 3 and len(fig.axes[0].lines) == 3  # data + one spectrum per beta_d
    images = [torch.zeros(8, 1, r, r) for r in (2, 4)]
    fig = report.plot_procogan({"digits": (images, images), "faces": (images[:1], images[:1])})
    assert len(fig.axes) == 8  # 4 rows (2 data sets x 2 methods) x 2 stages
    assert not fig.axes[-1].axison  # the faces have one stage: the second panel is empty
    plt.close("all")


def test_paper_file_declares_the_rows_and_decides_at_the_papers_budget():
    paper = claims.paper_file("convex_wgan", BOOK)
    assert list(paper.claims) == ["closed-form", "gda-game", "procogan-digits", "procogan-mnist", "procogan-celeba"]
    assert paper.claims["closed-form"].kind == "theory" and paper.claims["closed-form"].config == {}
    assert paper.claims["gda-game"].config is None  # the paper's toy settings are not available
    assert paper.claims["procogan-celeba"].needs and "PROFILE=paper" in paper.claims["procogan-celeba"].command
    better = stats.compare_paired([110.0, 115.0, 118.0], [300.0, 350.0, 400.0])
    worse = stats.compare_paired([300.0, 350.0, 400.0], [110.0, 115.0, 118.0])
    digits = paper.claims["procogan-digits"]
    at_paper = profiles.get("convex_wgan", "paper")
    assert claims.decide(digits, better, at_paper).finding.verdict == verdict.Verdict.REPRODUCED
    assert claims.decide(digits, worse, at_paper).finding.verdict == verdict.Verdict.NOT_REPRODUCED
    quick = claims.decide(digits, better, profiles.get("convex_wgan", "quick")).finding
    assert quick.verdict == verdict.Verdict.INCONCLUSIVE
    assert any(d.startswith("gda.stage.steps 300 vs 15,000") for d in quick.distance)
    assert any(d.startswith("gda.stage.batch_size 64 vs 16") for d in quick.distance)
    assert [c["data"] for c in at_paper.procogan] == ["digits", "celeba"]  # the paper profile runs both
    # the stored runs (sweep convex_wgan.procogan): the quick profile with the authors' GDA budget
    stored = profiles.get("convex_wgan", "quick", {"gda": {"stage": {"steps": 15000, "batch_size": 16}},
                                                    "decisive": {"data": ["mnist"]}})
    for key in ("procogan-digits", "procogan-mnist"):
        found = claims.decide(paper.claims[key], better, stored).finding
        assert found.distance == () and found.verdict == verdict.Verdict.REPRODUCED
    no_penalty = profiles.get("convex_wgan", "quick", {"gda": {"stage": {"steps": 15000, "batch_size": 16,
                                                                         "gp": 0.0}}})
    found = claims.decide(paper.claims["procogan-mnist"], better, no_penalty).finding
    assert found.verdict == verdict.Verdict.INCONCLUSIVE and found.distance[0].startswith("gda.stage.gp 0")


def test_stage_fd_is_the_mean_over_seeds_per_stage_and_plots_it():
    stages = pd.DataFrame({"data": ["digits"] * 8 + ["mnist"] * 4,
                           "method": (["ProCoGAN"] * 2 + ["progressive GDA"] * 2) * 3,
                           "resolution": [2, 4, 2, 4, 2, 4, 2, 4, 4, 8, 4, 8],
                           "seed": [0] * 4 + [1] * 4 + [0] * 4,
                           "FD": [100.0, 50.0, 90.0, 80.0, 120.0, 70.0, 110.0, 100.0, 9.0, 8.0, 7.0, 6.0]})
    table = report.stage_fd(stages)
    row = table[(table.data == "digits") & (table.method == "ProCoGAN") & (table.resolution == 4)].iloc[0]
    assert row.estimate == pytest.approx(60.0) and row.n == 2 and row.low < 60.0 < row.high
    one = table[table.data == "mnist"]
    assert (one.n == 1).all() and np.isinf(one.low).all()  # one seed: no interval
    fig = report.plot_stage_fd(stages)
    assert [ax.get_title() for ax in fig.axes] == ["digits", "mnist"]
    means = {line.get_label(): list(line.get_ydata()) for line in fig.axes[0].lines}
    assert means == {"ProCoGAN": [110.0, 60.0], "progressive GDA": [100.0, 90.0]}
    plt.close("all")
