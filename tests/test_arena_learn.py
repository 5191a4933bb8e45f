"""The arena at a learning budget (gancore.arena.learn): the budget choice, tuning, expected best-of-k
against enumeration, seeds that cannot mix, and the sweep experiment on tiny runs."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gancore import arena, profiles, storage, sweep
from gancore.arena import learn
from gancore.reports import arena as A

TINY = {"ring": {"g_width": 8, "d_width": 8, "depth": 1, "n_eval": 64, "batch_size": 16, "budget": 16, "eval_every": 8,
                 "dogan": {"iterations": 1, "fisher_batches": 1, "n_payoff": 16}},
        "learn": {"ladder": [8, 16, 24]}}


def _settings(**learn_settings):
    return profiles.get("arena", "quick", {**TINY, "learn": {**TINY["learn"], **learn_settings}})


# --- expected best-of-k --------------------------------------------------------------------------

@pytest.mark.parametrize("scores", [[0.25, 0.0, 1.0, 0.5], [0.5, 0.5, 0.0, 0.75, 0.75], [3.0], [0.1, 0.1, 0.1]])
def test_expected_best_of_k_equals_enumeration(scores):
    n = len(scores)
    for k in range(1, n + 2):
        draws = list(itertools.product(scores, repeat=k))
        assert learn.expected_best_of_k(scores, k) == pytest.approx(np.mean([max(d) for d in draws]))
        if k <= n:
            subsets = list(itertools.combinations(scores, k))
            assert learn.expected_best_of_k(scores, k, replace=False) == pytest.approx(np.mean([max(s) for s in subsets]))


def test_best_of_k_runs_from_the_mean_to_the_best_point():
    rng = np.random.default_rng(0)
    grid = pd.DataFrame({"method": ["a"] * 5 + ["b"] * 4, "lr": range(9), "success": rng.random(9)})
    table = learn.best_of_k(grid)
    for name, own in table.groupby("method"):
        values = grid.loc[grid.method == name, "success"]
        assert own["without replacement"].iloc[0] == pytest.approx(values.mean())
        assert own["without replacement"].iloc[-1] == pytest.approx(values.max()) == own["best"].iloc[0]
        assert (np.diff(own["with replacement"]) >= -1e-12).all()
        assert (own["with replacement"] <= own["without replacement"] + 1e-12).all()
    low = learn.best_of_k(grid.rename(columns={"success": "fd"}), "fd", lower_is_better=True)
    assert low.groupby("method")["best"].first()["a"] == pytest.approx(grid.success[:5].min())


def test_expected_best_of_k_refuses_what_it_cannot_compute():
    for scores, k, replace in (([], 1, True), ([0.1, np.nan], 1, True), ([0.1], 0, True), ([0.1, 0.2], 3, False)):
        with pytest.raises(ValueError, match="expected_best_of_k"):
            learn.expected_best_of_k(scores, k, replace=replace)


# --- seeds: tuning seeds are never reported --------------------------------------------------------

def test_seeds_cannot_mix():
    learn.check_seeds("tune", [0, 1, 2, 3], (0, 1, 2, 3))
    learn.check_seeds("report", range(4, 28), (0, 1, 2, 3))
    with pytest.raises(ValueError, match=r"\[3\] are tuning seeds"):
        learn.check_seeds("report", [3, 4, 5], (0, 1, 2, 3))
    for stage in ("tune", "budget"):
        with pytest.raises(ValueError, match=r"seed\(s\) \[4\] are not"):
            learn.check_seeds(stage, [0, 4], (0, 1, 2, 3))
    with pytest.raises(ValueError, match="Unknown learn.stage"):
        learn.check_seeds("final", [0], (0,))
    with pytest.raises(ValueError, match="are tuning seeds"):  # the sweep's job refuses before any training
        learn.learn_runs(_settings(stage="report", chosen=[1e-3] * 12), [2, 5], "cpu")


def test_stage_settings():
    group, lrs = learn.stage_settings(_settings(stage="budget"), [0, 1])
    assert (group["methods"], group["budget"], group["eval_every"], group["seeds"]) == (("alt-Adam",), 24, 8, 2)
    assert lrs == {"alt-Adam": (1e-4, 3e-4, 1e-3, 3e-3)}
    group, lrs = learn.stage_settings(_settings(stage="tune"), [0, 1, 2])
    assert group["dogan"]["seeds"] == 3 and lrs["SRFB"] == (3e-3, 1e-2, 3e-2, 1e-1) and lrs["DO-GAN"] == lrs["alt-Adam"]
    with pytest.raises(ValueError, match="at least 4"):
        learn.stage_settings(_settings(lrs={"sgd": [0.1, 0.2, 0.3]}), [0])
    with pytest.raises(ValueError, match="one step size > 0 per contestant"):
        learn.stage_settings(_settings(stage="report", chosen=[1e-3]), [5])


# --- choosing the budget and the step sizes ------------------------------------------------------

def _curves(method, lr, seed, values, every=1000, metric="success"):
    return pd.DataFrame({"method": method, "lr": lr, "seed": seed, "step": 0, "evals": np.arange(len(values)) * every,
                         "seconds": 0.0, "metric": metric, "value": values})


def test_choose_budget_is_the_first_rung_where_the_best_lr_reaches_the_threshold():
    # lr 1: seeds learn at 2000 and 4000 evaluations; lr 2: one seed at 1000, the other diverges (NaN)
    curves = pd.concat([_curves("alt-Adam", 1.0, 0, [0, 0, 1, 1, 1]), _curves("alt-Adam", 1.0, 1, [0, 0, 0, 0, 1]),
                        _curves("alt-Adam", 2.0, 0, [0, 1, 1, 1, 1]), _curves("alt-Adam", 2.0, 1, [0, np.nan])])
    budget, table = learn.choose_budget(curves, [1000, 2000, 3000, 4000])
    assert budget == 1000  # lr 2 reaches 1/2 first; its diverged seed counts as 0
    assert table.set_index(["budget", "lr"]).loc[(4000, 1.0), "success"] == 1.0
    assert learn.choose_budget(curves, [1000, 4000], threshold=1.0)[0] == 4000
    assert learn.choose_budget(curves[curves.lr == 1.0], [1000, 2000], threshold=0.75)[0] is None
    with pytest.raises(ValueError, match="not evaluated at the budget 1500"):
        learn.choose_budget(curves[curves.lr == 1.0], [1500])


def test_the_command_line_reads_a_stored_sweep(tmp_path, capsys):
    folder = tmp_path / "arena" / "learn-budget"
    curves = pd.concat([_curves("alt-Adam", 1e-3, s, [0] * (s + 2) + [1] * (15 - s)) for s in range(4)])
    record = storage.write_table(folder / "ring.csv", curves)
    storage.write_json(folder / "run.json", {"table_records": {"ring": record}})
    assert learn.main(["budget", "learn-budget", "--root", str(tmp_path)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "budget: 3000"  # seeds 0, 1 learn by 2000 and 3000


def test_tuning_chooses_success_then_modes_then_fewer_failures_then_the_smaller_lr():
    rows = []
    for lr, success, modes, failure in ((1.0, 0.5, 5, 0), (2.0, 0.5, 6, 0), (3.0, 0.0, 8, 0), (4.0, 0.5, 6, 0)):
        for seed in (0, 1):
            rows += [_curves("m", lr, seed, [0, v], metric=k) for k, v in
                     (("success", success), ("modes", modes), ("failure", failure))]
    rows += [_curves("d", lr, 0, [0, np.nan], metric=k) for lr in (1.0, 2.0) for k in ("success", "modes", "failure")]
    rows += [_curves("d", lr, 0, [0, 0.0], metric="success") for lr in (3.0,)]
    rows += [_curves("d", 3.0, 0, [0, 0.0], metric=k) for k in ("modes", "failure")]
    grid = learn.tuning_grid(pd.concat(rows))
    chosen = learn.choose_steps(pd.concat(rows)).set_index("method")
    assert chosen.loc["m", "lr"] == 2.0  # success ties at 0.5: more modes; 2.0 and 4.0 tie: the smaller
    assert chosen.loc["d", "lr"] == 3.0  # the diverged points score failure 1, below an untrained pair's 0
    assert grid.set_index(["method", "lr"]).loc[("d", 1.0), "failure"] == 1.0
    fd = pd.concat([_curves("g", lr, 0, [9.0, v], metric="fd") for lr, v in ((1.0, 5.0), (2.0, 3.0), (3.0, np.nan))])
    assert learn.choose_steps(fd).set_index("method").loc["g", "lr"] == 2.0


def test_at_edge_names_contestants_whose_choice_is_an_end_of_their_grid():
    grid = pd.DataFrame({"method": ["a"] * 3 + ["b"] * 3 + ["c"] * 3, "lr": [1.0, 2.0, 3.0] * 3,
                         "chosen": [True, False, False, False, True, False, False, False, True]})
    assert learn.at_edge(grid) == ["a", "c"]


def test_combine_tuning_is_the_union_and_refuses_runs_that_disagree():
    first = pd.concat([_curves("m", lr, seed, [9, lr], metric="fd") for lr in (1.0, 2.0) for seed in (0, 1)])
    wider = pd.concat([_curves("m", lr, seed, [9, lr], metric="fd") for lr in (2.0, 3.0) for seed in (0, 1)])
    both = learn.combine_tuning(first, wider)
    assert sorted(both.lr.unique()) == [1.0, 2.0, 3.0] and len(both) == len(first) + len(wider) // 2
    grid = learn.tuning_grid(both)
    assert list(grid.lr) == [1.0, 2.0, 3.0] and grid.loc[grid.chosen, "lr"].item() == 1.0
    other = wider.assign(value=wider["value"] + (wider["lr"] == 2.0) * 1e-9)
    with pytest.raises(ValueError, match="disagree on the 2"):
        learn.combine_tuning(first, other)
    assert learn.combine_tuning(first).equals(first)


RESULTS = Path(__file__).resolve().parents[1] / "results" / "arena"


@pytest.mark.skipif(not all((RESULTS / label / "run.json").exists() for label in ("learn-ring-tune", "learn-ring-tune-wide")),
                    reason="the stored ring tuning runs (results/arena/learn-ring-tune*) are absent")
def test_the_wider_grid_reproduces_the_narrow_grid_exactly():
    """The stored tuning runs on the four-point and the five-point grids (same seeds, budget and commit
    family): every (contestant, step size, seed) of the narrow run comes out bit for bit the same in the
    wide one, though the wide run trains more members beside it: a member does not depend on its
    ensemble."""
    narrow, wide = (learn._stored(str(RESULTS / label), "ring") for label in ("learn-ring-tune", "learn-ring-tune-wide"))
    key = ["method", "lr", "seed", "evals", "metric"]
    both = narrow.merge(wide, on=key, suffixes=("", " wide"))
    assert len(both) == len(narrow) and len(wide) > len(narrow)
    assert np.array_equal(both["value"].to_numpy(), both["value wide"].to_numpy(), equal_nan=True)


# --- the sweep experiment on tiny runs ------------------------------------------------------------

def test_one_long_run_gives_every_budget():
    """The budget stage's run, read at a rung, is the run of that budget: a run's start does not depend on
    its length (the same seeds, data order and noise)."""
    long = learn.learn_runs(_settings(stage="budget"), [0, 1], "cpu")["ring"]
    assert sorted(long.evals.unique()) == [0, 8, 16, 24] and set(long.method) == {"alt-Adam"}
    short = learn.learn_runs(_settings(stage="tune", lrs={"adam": [1e-4, 3e-4, 1e-3, 3e-3]}), [0, 1], "cpu")["ring"]
    short = short[short.method == "alt-Adam"]
    key = ["lr", "seed", "evals", "metric"]
    both = short.merge(long[long.evals <= 16], on=key, suffixes=("", " long"))
    assert len(both) == len(short) and np.allclose(both["value"], both["value long"], equal_nan=True)


def test_tune_then_report_on_other_seeds(monkeypatch):
    tune = learn.learn_runs(_settings(stage="tune"), [0, 1], "cpu")["ring"]
    P = _settings()
    assert list(dict.fromkeys(tune.method)) == [n for n in arena.CONTESTANTS + ("vanilla-GAN",) if n in P.ring.methods]
    assert tune.groupby("method").lr.nunique().eq(4).all() and set(tune.seed) == {0, 1}
    chosen = learn.chosen_lrs(tune, P.ring.methods)
    reported = learn.learn_runs(_settings(stage="report", chosen=chosen), [4, 5, 6], "cpu")["ring"]
    assert set(reported.seed) == {4, 5, 6}
    assert dict(zip(reported.method, reported.lr)) == dict(zip(P.ring.methods, chosen))
    tables = learn.report(tune, reported, (0, 1, 2, 3))
    assert set(tables["leaderboard"].method) == set(P.ring.methods) and (tables["leaderboard"].n == 3).all()
    assert set(tables["best_of_k"].k) == {1, 2, 3, 4}
    for key in ("srfb-ring-success", "alpha-ring-modes"):  # the chapter's paired rows read the report as they are
        comparison, note = A.evidence(key, ring=tables)
        assert comparison.first.n == comparison.second.n == 3 and "best step sizes" in note
    # the chapter's reading (reports.arena.learned): two tuning runs sharing seed 0, and the report, by label
    monkeypatch.setitem(A.LEARN, "ring", (("narrow", "wide"), "report"))
    stored = {"narrow": {"ring": tune[tune.seed == 0]}, "wide": {"ring": tune}, "report": {"ring": reported}}
    tunes, got_report, got = A.learned(stored.__getitem__, "ring", (0, 1, 2, 3))
    assert tunes == [stored["narrow"], stored["wide"]] and got_report is stored["report"]
    pd.testing.assert_frame_equal(got["leaderboard"], tables["leaderboard"])
    stored["narrow"] = {"ring": tune[tune.seed == 0].assign(value=lambda t: t.value + 1)}
    with pytest.raises(ValueError):  # shared points that disagree
        A.learned(stored.__getitem__, "ring", (0, 1, 2, 3))
    with pytest.raises(ValueError, match="are tuning seeds"):
        learn.report(tune, pd.concat([reported, tune[tune.seed == 0]]), (0, 1, 2, 3))
    moved = reported.assign(lr=reported.lr * 3)
    with pytest.raises(ValueError, match="not the tuning's chosen"):
        learn.report(tune, moved, (0, 1, 2, 3))


def test_digits_tune_stage_and_the_sweep_entry():
    P = profiles.get("arena", "quick", {"image": {"budget": 16, "eval_every": 8, "n_eval": 64, "width": 4, "latent": 4,
                                                  "dogan": {"iterations": 1, "n_payoff": 16},
                                                  "methods": ["alt-Adam", "EG", "DO-GAN"]},
                                        "learn": {"stage": "tune", "game": "image"}})
    curves = learn.learn_runs(P, [0], "cpu")["image"]
    assert set(curves.metric) == {"fd"} and curves.groupby("method").lr.nunique().eq(4).all()
    assert arena.image_tables(curves)["leaderboard"].shape[0] == 3
    entry = sweep.EXPERIMENTS["arena.learn"]
    assert entry.run is learn.learn_runs
    assert entry.seed_steps(P, 1) == 4 * (8 + 4 + 8)  # alt-Adam 8 steps, EG 4, DO-GAN counted as alt-Adam's 8
