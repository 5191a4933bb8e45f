"""gancore.reports.alpha_gan: the alpha-GAN chapter's analysis, on tables small enough to check by hand."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from gancore import claims, stats, verdict
from gancore.reports import alpha_gan as report

BOOK = Path(__file__).resolve().parents[1] / "book"


def ring_table(cells: dict[tuple[str, float, float], list[int]]) -> pd.DataFrame:
    """Per-seed rows: success as given, failure its complement, modes 8 or 0, hqs 0.5 or 0."""
    rows = [{"generator": g, "alpha_d": d, "alpha_g": a, "seed": s, "success": bool(v), "failure": not v,
             "modes": 8.0 * v + (s % 2), "hqs": 0.5 * v + 0.01 * s}
            for (g, d, a), values in cells.items() for s, v in enumerate(values)]
    return pd.DataFrame(rows)


def test_value_range_and_exact_share():
    r = report.value_range([3e-7, 1e-9, 2e-8])
    assert (r.estimate, r.low, r.high, r.n) == (3e-7, 1e-9, 3e-7, 3)
    with pytest.raises(ValueError):
        report.value_range([1.0, float("nan")])
    s = report.exact_share(3, 4)
    assert (s.estimate, s.low, s.high, s.n) == (0.75, 0.75, 0.75, 4)
    with pytest.raises(ValueError):
        report.exact_share(5, 4)
    # a share of 1 agrees with the paper's 1 at margin 0; one point less does not
    assert verdict.decide(kind="theory", direction="=", evidence=report.exact_share(4, 4), value=1.0,
                          margin=0.0).verdict == verdict.Verdict.REPRODUCED
    assert verdict.decide(kind="theory", direction="=", evidence=s, value=1.0,
                          margin=0.0).verdict == verdict.Verdict.NOT_REPRODUCED


def test_identity_draws_hold_and_dstar_wins():
    draws = report.identity_draws(seed=3, draws=12)
    assert len(draws) == 12
    assert draws.saturating.max() < 1e-5 and draws.ns.max() < 1e-5
    assert (draws.v_star > draws.v_perturbed).all()  # D* is never beaten
    assert draws.equals(report.identity_draws(seed=3, draws=12))  # seeded


def test_convexity_grid_counts_regions():
    u = torch.logspace(-2, 2, 21, dtype=torch.float64)
    out = report.convexity_grid([0.5, 1.5], u)
    # R1 U R2 at (alpha_G, alpha_D): (0.5, 0.5) yes (0.5 > 1/3), (0.5, 1.5) no (alpha_G <= 0.75),
    # (1.5, 0.5) yes, (1.5, 1.5) yes (0.75 < 1.5 <= 1.5)
    assert out["saturating"]["region"].tolist() == [[True, False], [True, True]]
    # R_NS: alpha_D + alpha_G > alpha_D alpha_G holds at all four points
    assert out["NS"]["region"].all()
    assert (out["saturating"]["convex"] | ~out["saturating"]["region"]).all()  # Theorem 1 on the grid


def test_with_intervals_and_beside_paper():
    table = ring_table({("saturating", 0.3, 1.0): [1, 1, 0, 1], ("saturating", 1.0, 1.0): [0, 0, 1, 0]})
    out = report.with_intervals(table, ["alpha_d"], scale=100)
    assert out.success.tolist() == [75.0, 25.0] and out.failure.tolist() == [25.0, 75.0]
    assert out["success [95% CI]"][0] == str(stats.Interval(75.0, *[100 * x for x in
                                                                    (stats.wilson(3, 4).low, stats.wilson(3, 4).high)], 4))
    paper = report.paper_fig2b({"alpha_d": [0.3, 0.5, 1.0], "success": [0.87, 0.8, 0.46], "failure": [0.02, 0.04, 0.3]})
    both = report.beside_paper(table, paper, ["alpha_d"])
    assert both["paper success"].tolist() == [0.87, 0.46]  # the paper's 0.5 row has no cell of ours
    header = report.shown(both, 2).split("\n")[0]
    assert header.count("success") == 2 and "75.00" not in report.shown(both, 2)  # rates once, as text


def test_paper_grid_reads_matrices_by_row_and_column():
    grid = report.paper_grid({"alpha_g": [0.9, 1.0], "alpha_d": [0.5, 0.6, 0.7],
                              "success": [[1, 2, 3], [4, 5, 6]], "failure": [[7, 8, 9], [10, 11, 12]]})
    row = grid[(grid.alpha_g == 1.0) & (grid.alpha_d == 0.6)].iloc[0]
    assert (row["paper success"], row["paper failure"]) == (5, 11)
    with pytest.raises(ValueError, match="not a 2 x 3"):
        report.paper_grid({"alpha_g": [0.9, 1.0], "alpha_d": [0.5, 0.6, 0.7], "success": [[1, 2], [4, 5]]})


def test_compare_cells_and_cells_of():
    table = ring_table({("ns", 0.5, 1.2): [1] * 9 + [0], ("ns", 1.0, 1.0): [1] + [0] * 9})
    config = {"cell.loss": "ns", "cell.alpha_d": (0.5, 1.0), "cell.alpha_g": (1.2, 1.0)}
    cells = report.cells_of(config)
    assert cells == [("ns", 0.5, 1.2), ("ns", 1.0, 1.0)]
    test = report.compare_cells(table, cells, "success")
    assert test.difference == pytest.approx(0.8) and test.p_value < 0.01
    single = report.compare_cells(table, cells[:1], "failure")
    assert (single.estimate, single.n) == (0.1, 10)
    with pytest.raises(ValueError, match="cell.loss"):
        report.cells_of({"cell.alpha_d": (1.0,)})
    assert verdict.flatten(report.at_cells({"ring": {"lr": 1e-4}}, cells)) == {
        "ring.lr": 1e-4, **config}


def test_closest_prefers_fewer_differences_then_more_seeds():
    cells = [("saturating", 0.3, 1.0), ("saturating", 1.0, 1.0)]
    full = ring_table({cells[0]: [1, 0], cells[1]: [0, 1]})
    many = ring_table({cells[0]: [1, 0, 1], cells[1]: [0, 1, 0]})
    config = {"ring.steps": 100, "ring.lr": 1e-4, "cell.loss": "saturating", "cell.alpha_d": (0.3, 1.0),
              "cell.alpha_g": (1.0, 1.0)}
    far = report.Candidate("far", full, {"ring": {"steps": 10, "lr": 1e-3}})
    near = report.Candidate("near", full, {"ring": {"steps": 10, "lr": 1e-4}})
    near_more = report.Candidate("near, more seeds", many, {"ring": {"steps": 20, "lr": 1e-4}})
    lacking = report.Candidate("other cells", ring_table({cells[0]: [1, 0]}), {"ring": {"steps": 100, "lr": 1e-4}})
    assert report.closest([far, near, lacking], config, cells).label == "near"
    assert report.closest([far, near, near_more], config, cells).label == "near, more seeds"
    with pytest.raises(ValueError, match="no run holds"):
        report.closest([lacking], config, cells)


def curves_table() -> pd.DataFrame:
    """Two cells of 10 seeds at steps 0, 10, 20: equal at 0, 9 vs 1 successes at 10, 5 vs 5 at 20."""
    rows = []
    for step, (a, b) in {0: (0, 0), 10: (9, 1), 20: (5, 5)}.items():
        for cell, k in (("A", a), ("B", b)):
            rows += [{"step": step, "cell": cell, "seed": s, "metric": "success", "value": float(s < k)}
                     for s in range(10)]
            rows += [{"step": step, "cell": cell, "seed": s, "metric": "modes", "value": float(s)} for s in range(10)]
    return pd.DataFrame(rows)


def test_along_training_holm_over_looks():
    table, tests = report.along_training(curves_table(), "success", "A", "B")
    assert table.step.tolist() == [0, 10, 20] and [t.looks for t in tests] == [3, 3, 3]
    raw = stats.compare_rates(9, 10, 1, 10).p_value
    assert table.p[1] == pytest.approx(raw)
    assert table["p (Holm)"][1] == pytest.approx(min(1.0, 3 * raw))  # the smallest p times the 3 looks
    assert (table["p (Holm)"] >= table.p).all()
    assert report.holm_steps(table, "A", "B") == "at step 10 (A higher) (Holm-adjusted over 3 looks)"
    flipped, _ = report.along_training(curves_table(), "success", "B", "A")
    assert report.holm_steps(flipped, "B", "A") == "at step 10 (A higher) (Holm-adjusted over 3 looks)"
    assert report.holm_steps(table.iloc[[0, 2]], "A", "B") == "at no evaluation step (Holm-adjusted over 2 looks)"
    with pytest.raises(ValueError, match="no rows of cell"):
        report.along_training(curves_table(), "success", "A", "C")


def test_along_training_on_several_cell_columns_and_means():
    curves = curves_table().rename(columns={"cell": "alpha_d"}).replace({"alpha_d": {"A": 0.3, "B": 1.0}})
    curves["generator"] = "saturating"
    table, _ = report.along_training(curves, "modes", ("saturating", 0.3), ("saturating", 1.0),
                                     cell=["generator", "alpha_d"], kind="mean")
    assert (table.difference == 0).all() and (table.p == 1.0).all()  # identical samples


def test_compare_at_lr_on_the_log_scale():
    images = pd.DataFrame([{"data": "digits", "loss": loss, "lr": 5e-3, "seed": s, "frechet": fd}
                           for loss, values in {"a": [10.0, 20.0, 40.0], "b": [100.0, 200.0, 400.0]}.items()
                           for s, fd in enumerate(values)])
    test = report.compare_at_lr(images, "digits", 5e-3, "a", "b")
    assert test.difference == pytest.approx(math.log(0.1))  # a tenth, on the log scale
    assert test.first.estimate == pytest.approx(np.log([10, 20, 40]).mean())
    with pytest.raises(ValueError, match="no runs"):
        report.compare_at_lr(images, "digits", 1e-3, "a", "b")


def test_the_paper_file_declares_the_ring_configuration_in_our_setting_names():
    """Every ring claim's config names settings of the alpha_gan profile (or the compared cells), so a
    run at exactly the paper's settings is at distance zero and its row can be decided."""
    from gancore import profiles

    paper = claims.paper_file("alpha_gan", BOOK)
    settings = profiles.get("alpha_gan", "paper")
    names = set(verdict.flatten(settings))
    for key in ("fig2b-success", "fig2b-failure", "vanilla-failure", "ns-success"):
        config = paper.claims[key].config
        assert {k for k in config if not k.startswith("cell.")} <= names, key
        cells = report.cells_of(config)
        assert verdict.distance(report.at_cells(settings, cells), config) == []
        quick = profiles.get("alpha_gan", "quick", {"ring": {"steps": 20000, "g_width": 400, "d_width": 200,
                                                              "depth": 4, "lr": 1e-4, "betas": [0.9, 0.999]}})
        assert verdict.distance(report.at_cells(quick, cells), config) == ["ring.steps 20,000 vs 156,000 (13%)"]
    assert paper.claims["ns-success"].paper == "0.445 (200 seeds) vs 0.22 (200 rows, 150 distinct seeds)"
    assert paper.claims["celeba-lr"].needs and "cell.lr" in paper.claims["celeba-lr"].config
