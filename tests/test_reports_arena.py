"""The arena chapter's analysis (gancore.reports.arena): the claims it decides match its paper file,
the evidence is the comparison the claim names (checked against hand-made tables), and the text,
tables and panels it shows are read off the games' tables."""

import math
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats as sps

from gancore import arena, claims, losses, profiles
from gancore.arena import methods
from gancore.arena.ring import _Ring
from gancore.reports import arena as A

matplotlib.use("Agg")
BOOK = Path(__file__).resolve().parents[1] / "book"


def test_the_claims_are_the_paper_files_and_all_arena_rows():
    paper = claims.paper_file("arena", BOOK)
    assert list(paper.claims) == list(A.CLAIMS)
    assert {c.kind for c in paper.claims.values()} == {"arena"}
    assert paper.code == "this compendium"
    # every ring comparison is decided on success, failure and modes (co-primary), in that order
    pairs = {}
    for key, e in A.CLAIMS.items():
        if e.game == "ring":
            pairs.setdefault((e.first, e.second), []).append(e.metric)
        assert paper.claims[key].direction == ("<" if e.metric in ("failure",) or "log10" in e.metric else ">")
        assert e.first in methods.CONTESTANTS + methods.RING_ONLY and e.second in methods.CONTESTANTS + methods.RING_ONLY
    assert pairs and all(m == ["success", "failure", "modes"] for m in pairs.values())
    # alpha-GAN's ring baseline is the saturating vanilla GAN, the paper's
    assert A.CLAIMS["alpha-ring-success"].second == methods.VANILLA_GAN
    assert "equivalent" not in (BOOK / "arena.md").read_text()


def _ring(first="A", second="B"):
    """Ring tables by hand: A at lr 0.1 (best) on seeds 0..3, B on seeds 1..4; a worse lr is ignored."""
    rows = []
    for name, lr, seeds, success, failure, modes in [
        (first, 0.1, [0, 1, 2, 3], [1, 1, 0, 0], [0, 0, 0, 1], [8, 8, 5, 0]),
        (first, 0.2, [0, 1, 2, 3], [0, 0, 0, 0], [1, 1, 1, 1], [0, 0, 0, 0]),
        (second, 0.1, [1, 2, 3, 4], [0, 0, 0, 0], [1, 1, 0, 1], [0, 0, 3, 0])]:
        rows += [{"method": name, "lr": lr, "seed": s, "evals": 10, "success": a, "failure": b, "modes": c}
                 for s, a, b, c in zip(seeds, success, failure, modes)]
    finals = pd.DataFrame(rows)
    best = pd.DataFrame({"method": [first, second], "lr": [0.1, 0.1]})
    board = pd.DataFrame({"method": [first, second], "n": [4, 4], "failure": [0.25, 0.75]})
    return {"finals": finals, "best": best, "leaderboard": board}


def test_ring_evidence_is_fisher_on_rates_and_paired_t_on_modes():
    ring = _ring("SRFB", "sim-GDA")
    failure, note = A.evidence("srfb-ring-failure", ring=ring)
    assert failure.first.estimate == 0.25 and failure.second.estimate == 0.75
    assert failure.p_value == pytest.approx(sps.fisher_exact([[1, 3], [3, 1]]).pvalue)
    assert failure.method == "Fisher" and "failure, SRFB vs sim-GDA" in note
    modes, note = A.evidence("srfb-ring-modes", ring=ring)
    # paired over the seeds both ran (1, 2, 3): SRFB 8, 5, 0 against sim-GDA 0, 0, 3
    d = np.array([8, 5, -3])
    assert modes.difference == pytest.approx(d.mean())
    assert modes.p_value == pytest.approx(sps.ttest_1samp(d, 0).pvalue)
    assert "paired by seed" in note and "this execution" not in note
    stored, note = A.evidence("alpha-ring-failure", ring=_ring("alpha-GAN", "vanilla-GAN"))
    assert "this execution" not in note and stored.first.n == 4
    assert "this execution" in A.evidence("srfb-known", known=_known(), beta_fraction=0.3)[1]
    with pytest.raises(ValueError, match="no contestant 'coop-Adam'"):
        A.evidence("coop-ring-success", ring=ring)
    with pytest.raises(ValueError, match="needs the known game"):
        A.evidence("srfb-known", ring=ring)


def _known():
    """Known-game curves by hand: two methods, two lrs, three seeds, final gaps known."""
    rows = []
    finals = {("SRFB", 0.1): [1e-3, 1e-2, 1e-1], ("SRFB", 0.3): [1.0, 1.0, 1.0],
              ("sim-GDA", 0.1): [1e-1, 10.0, math.inf], ("sim-GDA", 0.3): [1.0, 1.0, 1.0]}
    for (name, lr), gaps in finals.items():
        for seed, gap in enumerate(gaps):
            for evals, value in ((0, 1.0), (50, 0.5), (100, gap)):
                rows.append({"method": name, "beta_fraction": 0.3, "lr": lr, "seed": seed, "evals": evals,
                             "seconds": evals / 100, "rel_gap": value, "moment_gap": value, "violation": 0.0})
    curves = pd.DataFrame(rows)
    best = pd.DataFrame({"method": ["SRFB", "sim-GDA"], "lr": [0.1, 0.1]})
    grid = pd.DataFrame({"method": ["SRFB", "SRFB", "sim-GDA"], "lr": [0.1, 0.3, 0.1],
                         "moment_gap": [0.01, 1.0, 1.0], "diverged": [0, 0, 1]})
    return {"curves": curves, "best": best, "grid": grid}


def test_known_evidence_compares_log10_final_gaps_paired_by_seed():
    known = _known()
    values = A.known_values(known, "SRFB", 0.3)
    np.testing.assert_allclose(values.to_numpy(), [-3, -2, -1])
    assert math.isnan(A.known_values(known, "sim-GDA", 0.3)[2])  # the diverged seed is dropped
    comparison, _ = A.evidence("srfb-known", known=known, beta_fraction=0.3)
    d = np.array([-3 - -1, -2 - 1])  # seeds 0 and 1 only
    assert comparison.difference == pytest.approx(d.mean()) and comparison.first.n == 2
    text = A.known_grid(known)
    assert text.loc["SRFB", 0.1] == "1.0e-02" and text.loc["sim-GDA", 0.1] == "1.0e+00 (1)"


def test_known_board_formats_the_leaderboard_row():
    row = {"method": "SRFB", "lr": 0.1, "n": 8, "moment_gap": 1e-3, "moment_gap_median_low": 1e-4,
           "moment_gap_median_high": 1e-2, "moment_gap_mean": 2e-3, "moment_gap_low": 1e-3, "moment_gap_high": 3e-3,
           "rel_gap": 0.5, "rel_gap_median_low": 0.25, "rel_gap_median_high": 0.75, "reach_0.01": 0.75,
           "reach_0.01_low": 0.41, "reach_0.01_high": 0.93, "reach_0.0001": 0.0, "reach_0.0001_low": 0.0,
           "reach_0.0001_high": 0.32, "evals_to_0.01": 1200.0, "converged": 6, "improving": 2, "cycling": 0,
           "stalled": 0, "diverged": 0}
    board = A.known_board(pd.DataFrame([row]))
    r = board.iloc[0]
    assert r["moment gap: median [95% CI]"] == "1.0e-03 [1.0e-04, 1.0e-02]"
    assert r["moment gap: mean [95% CI]"] == "2.0e-03 [1.0e-03, 3.0e-03]"
    assert r["reached 1e-2"] == "0.75 [0.41, 0.93]"
    assert r["evals to 1e-2: median (seeds)"] == "1200 (6)"
    assert r["behaviours"] == "converged 6, improving 2"


def test_image_values_are_log10_distances_at_the_best_lr():
    finals = pd.DataFrame({"method": ["X", "X", "X", "Y"], "lr": [0.1, 0.1, 0.2, 0.1], "seed": [0, 1, 0, 0],
                           "fd": [10.0, 100.0, 1.0, 1000.0]})
    image = {"finals": finals, "best": pd.DataFrame({"method": ["X", "Y"], "lr": [0.1, 0.1]})}
    np.testing.assert_allclose(A.image_values(image, "X").to_numpy(), [1.0, 2.0])
    assert A.image_values(image, "Y").loc[0] == pytest.approx(3.0)


def test_game_settings_name_the_game_and_text_helpers():
    P = profiles.get("arena", "quick")
    assert A.game_settings(P, "ring")["game"] == A.GAMES["ring"]
    assert A.game_settings(P, "image")["game"].startswith(P.image.data)
    assert A.game_settings(P, "ring")["ring"] == P.ring
    with pytest.raises(ValueError, match="unknown game"):
        A.game_settings(P, "chess")
    # a learn report run's settings: its game group is the one it played, the chosen step sizes
    chosen = [0.5 + i for i in range(len(P.ring.methods))]
    R = profiles.get("arena", "quick", {"ring": {"budget": 2000}, "learn": {"stage": "report", "chosen": chosen}})
    played = A.game_settings(R, "ring", seeds=[4, 5, 6])
    assert played["ring"]["lrs"] == tuple(chosen) and played["ring"]["seeds"] == 3
    assert played["ring"]["budget"] == 2000 and played["image"] == R.image
    assert A.game_settings(R, "image", seeds=[4, 5])["image"] == R.image  # the report ran the ring, not digits
    assert A.game_settings(R, "ring")["ring"]["lrs"] == R.ring.lrs  # without seeds: the settings as given
    board = pd.DataFrame({"method": ["a", "b", "c"], "n": [4, 4, 0], "failure": [1.0, 0.5, np.nan]})
    assert A.always_failing(board) == ["a"]
    assert A.count_text(pd.Series([1.0, 0.0, np.nan, 1.0])) == "2 of 3"


def test_contestants_and_with_best():
    table = A.contestants()
    assert list(table.method) == [m.name for m in arena.METHODS]
    assert dict(zip(table.method, table["player-gradient evaluations per step"]))["EG"] == 4
    curves = pd.DataFrame({"method": ["a", "a", "b"], "lr": [0.1, 0.2, 0.1], "value": [1, 2, 3]})
    kept = A.with_best(curves, pd.DataFrame({"method": ["a", "b"], "lr": [0.2, 0.1]}))
    assert list(kept.value) == [2, 3]


def test_panels_draw_one_line_per_method():
    known = _known()
    fig, ax = plt.subplots()
    A.plot_known(ax, known, 0.3)
    assert len(ax.get_lines()) == 2 + 2  # two methods and the two targets
    plt.close(fig)
    rows = [{"method": m, "lr": 0.1, "seed": s, "step": e, "evals": e, "seconds": 0.0, "metric": k, "value": v}
            for m in ("a", "b") for s in range(3) for e in (0, 10) for k, v in (("success", s % 2), ("modes", s))]
    curves = pd.DataFrame(rows)
    fig, axes = plt.subplots(1, 2)
    A.plot_ring(axes, curves, pd.DataFrame({"method": ["a", "b"], "lr": [0.1, 0.1]}), "test")
    assert len(axes[0].get_lines()) == 2 and axes[1].get_legend() is None
    plt.close(fig)
    fd = curves[curves.metric == "modes"].assign(metric="fd", value=lambda t: t.value + 1.0)
    reference = pd.DataFrame({"generator": ["real", "ProCoGAN (closed form)"], "fd": [1.0, 42.0]})
    assert A.procogan_fd(reference) == 42.0
    text = A.reference_text(reference.assign(seconds=[np.nan, 1.25]))
    assert "42.0" in text and text.endswith("fit wall time: ProCoGAN (closed form) 1.2 s")
    assert "seconds" not in text.splitlines()[0]
    fig, ax = plt.subplots()
    A.plot_images(ax, fd, pd.DataFrame({"method": ["a", "b"], "lr": [0.1, 0.1]}), "test", 42.0)
    assert ax.get_yscale() == "log" and len(ax.get_lines()) == 3
    plt.close(fig)


def test_the_rings_vanilla_contestant_is_the_saturating_vanilla_gan():
    m, loss = methods.contestant(methods.VANILLA_GAN)
    assert m.name == "alt-Adam" and loss == "vanilla"
    assert methods.contestant(methods.ALPHA_GAN)[1] == "alpha" and methods.contestant("SRFB")[1] is None
    S = profiles.get("arena", "quick", {"ring": {"g_width": 8, "d_width": 8, "depth": 1, "n_eval": 10}}).ring
    assert methods.VANILLA_GAN in S.methods
    vanilla, reference = _Ring(S, "cpu").losses["vanilla"], losses.gan_loss("vanilla")
    real, fake = np.linspace(-3, 3, 12).reshape(12, 1), np.linspace(-2, 4, 12).reshape(12, 1)
    real, fake = torch.tensor(real), torch.tensor(fake)
    torch.testing.assert_close(vanilla.d(real, fake), reference.d(real, fake))
    torch.testing.assert_close(vanilla.g(fake), reference.g(fake))
    image = profiles.get("arena", "quick").image
    with pytest.raises(ValueError, match="Invalid image.methods"):
        methods.check_group({**image, "methods": ("alt-Adam", methods.VANILLA_GAN)}, "image", 3)


def test_normalised_scores_take_the_first_seeds_of_each_game_in_order():
    """One (runs, games) array per method that played all three games, each game's first n seeds in
    order (the games' seeds are unrelated), n the fewest any method ran; each score the documented
    transform of the game's own number, in [0, 1]."""
    known = _known()  # SRFB and sim-GDA on seeds 0-2; sim-GDA's seed 2 diverged
    ring = _ring("SRFB", "sim-GDA")  # seeds 0-3 and 1-4
    ring["best"] = pd.concat([ring["best"], pd.DataFrame({"method": ["DO-GAN"], "lr": [0.1]})])
    finals = pd.DataFrame({"method": ["SRFB"] * 5 + ["sim-GDA"] * 5, "lr": 0.1, "seed": list(range(10, 15)) * 2,
                           "fd": [10.0, 1000.0, 100.0, 1.0, 10.0] + [100.0] * 5})
    image = {"finals": finals, "best": pd.DataFrame({"method": ["SRFB", "sim-GDA"], "lr": [0.1, 0.1]})}
    scores, n = A.normalised_scores(known, ring, image, 0.3, image_start=1000.0)
    assert n == 3 and set(scores) == {"SRFB", "sim-GDA"}  # DO-GAN plays the ring only
    np.testing.assert_allclose(scores["SRFB"][:, 0], [0.75, 0.5, 0.25])  # -log10(gap) / 4
    np.testing.assert_allclose(scores["sim-GDA"][:, 0], [0.25, 0.0, 0.0])  # gap 10 clips, diverged scores 0
    np.testing.assert_allclose(scores["SRFB"][:, 1], [1.0, 1.0, 5 / 8])  # seeds 0, 1, 2 of the ring
    np.testing.assert_allclose(scores["sim-GDA"][:, 1], [0.0, 0.0, 3 / 8])  # its seeds 1, 2, 3
    np.testing.assert_allclose(scores["SRFB"][:, 2], [2 / 3, 0.0, 1 / 3])  # 1 - log10(FD) / 3, seeds 10-12
    with pytest.raises(ValueError, match="must exceed 1"):
        A.normalised_scores(known, ring, image, 0.3, image_start=0.5)


def test_learning_budget_tables_read_the_protocols_outputs():
    ladder = pd.DataFrame({"budget": [1000, 1000, 2000, 2000], "lr": [1e-3, 3e-3, 1e-3, 3e-3],
                           "success": [0.0, 0.25, 0.5, 0.25], "seeds": 4, "reaches": [False, False, True, False]})
    table = A.budget_table(ladder)
    assert table.loc[2000, 1e-3] == "0.50*" and table.loc[1000, 3e-3] == "0.25"
    grid = pd.DataFrame({"method": ["b", "b", "a"], "lr": [0.1, 0.3, 1e-3], "success": [0.25, 0.5, 1.0],
                         "chosen": [False, True, True]})
    text = A.tuning_table(grid, "success")
    assert list(text.index) == ["b", "a"] and text.loc["b", 0.3] == "0.5*" and text.loc["a", 0.1] == ""
    ties = pd.DataFrame({"method": ["b", "b", "a", "a"], "k": [1, 2, 1, 2], "without replacement": [0.5, 1.0, 0.2, 0.2]})
    board = A.best_of_k_table(ties)
    assert list(board.index) == ["b", "a"] and list(board.columns) == ["k=1", "k=2"] and board.loc["b", "k=2"] == 1.0
    fig, ax = plt.subplots()
    A.plot_best_of_k(ax, ties, "success", "test")
    assert len(ax.get_lines()) == 2 and list(ax.get_lines()[0].get_ydata()) == [0.5, 1.0]
    plt.close(fig)
