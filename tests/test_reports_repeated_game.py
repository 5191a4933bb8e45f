"""The analysis of the repeated_game chapter (gancore.reports.repeated_game): hand-computed values on
small tables, the rule on scripted losses, and tiny real runs (two seeds, twenty batches)."""

from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats as sps

from gancore import data, profiles, repeated, stats
from gancore.reports import repeated_game as rg

TINY = {"ring": {"seeds": 2, "steps": 20, "eval_every": 10, "n_eval": 200},
        "image": {"steps": 4, "eval_every": 2, "width": 4, "latent": 4, "batch_size": 8}, "n_fid": 64}


@pytest.fixture(scope="module")
def P():
    return profiles.get("repeated_game", "quick", TINY)


@pytest.fixture(scope="module")
def ring():
    return data.load("ring")


@pytest.fixture(scope="module")
def ring_runs(P, ring):
    return rg.ring_runs(P, ring, 0, "cpu")


def _evals(values: dict[int, list[float]], column: str = "hqs") -> pd.DataFrame:
    """A per-member evaluation table: step -> one value per member."""
    rows = [{"step": step, "member": k, column: v} for step, vs in values.items() for k, v in enumerate(vs)]
    return pd.DataFrame(rows)


def test_demo_walks_through_every_case_of_the_default_rule():
    table = rg.demo()
    assert list(table.case) == ["first", "D weaker", "G weaker", "both better", "both worse", "both better"]
    assert list(table.update_D) == [True, True, False, False, True, False]
    assert list(table.update_G) == [True, False, True, False, True, False]
    assert list(table.d_loss) == [d for d, _ in rg.DEMO_LOSSES]
    # the tie rule "both" makes both step when both improved (batch 3)
    assert rg.demo(both_better="both").loc[3, ["update_D", "update_G"]].tolist() == [True, True]


@pytest.mark.parametrize("method, factor, expected", [
    ("simultaneous", 1.5, (1200, 1200)),
    ("cooperative", 1.5, (1052, 1200)),   # floor(1200 / 1.14); read within the 1,200-batch run
    ("alternating", 1.5, (1224, 1400)),   # floor(1200 / 0.98); the run grows to whole intervals of 200
    ("alternating", 1.0, (1200, 1200)),   # capped at max_time_factor * steps
])
def test_run_steps(method, factor, expected):
    times = {"simultaneous": 1.0, "alternating": 0.98, "cooperative": 1.14}
    assert rg.run_steps(1200, 200, times, method, factor) == expected


def test_policy_and_loss():
    policy, loss = rg.policy_and_loss("cooperative", measure="ema")
    assert isinstance(policy, repeated.Cooperative) and policy.measure == "ema"
    assert loss.name == "ns"
    assert rg.policy_and_loss("simultaneous")[0] == "simultaneous"
    # a measure that reads D's logits gets the watched loss, a fresh policy each call
    p1, watched = rg.policy_and_loss("cooperative", measure="accuracy")
    p2, _ = rg.policy_and_loss("cooperative", measure="accuracy")
    assert p1 is not p2
    watched.d(torch.zeros(1, 4, 1), torch.zeros(1, 4, 1))
    assert p1._logits is not None
    with pytest.raises(ValueError, match="cooperative rule only"):
        rg.policy_and_loss("alternating", measure="ema")
    with pytest.raises(ValueError, match="unknown method"):
        rg.policy_and_loss("extragradient")


def test_at_step_reads_the_last_evaluation_up_to_the_step_in_member_order():
    evals = _evals({0: [0.0, 0.0], 10: [0.1, 0.2], 20: [0.3, 0.4]}).sample(frac=1.0, random_state=0)
    np.testing.assert_array_equal(rg.at_step(evals, 19, "hqs"), [0.1, 0.2])
    np.testing.assert_array_equal(rg.at_step(evals, 20, "hqs"), [0.3, 0.4])
    np.testing.assert_array_equal(rg.at_step(evals, 1000, "hqs"), [0.3, 0.4])
    with pytest.raises(ValueError, match="no evaluation"):
        rg.at_step(evals[evals.step > 0], 5, "hqs")


def test_ring_row_by_hand():
    at_10 = pd.DataFrame({"step": 10, "member": [0, 1, 2, 3], "success": [1.0, 0.0, 1.0, 1.0],
                          "failure": [0.0, 1.0, 0.0, 0.0], "modes": [8.0, 1.0, 6.0, 7.0],
                          "hqs": [0.4, 0.0, 0.2, 0.3]})
    evals = pd.concat([at_10.assign(step=0, success=0.0, hqs=0.0), at_10])
    row = rg.ring_row(evals, 15)
    assert row["batches"] == 10
    assert row["success"] == stats.wilson(3, 4) and row["failure"] == stats.wilson(1, 4)
    assert row["modes (median)"] == 6.5 and row["HQS (median)"] == pytest.approx(0.25)
    assert row["HQS (mean)"].estimate == pytest.approx(0.225) and row["modes (mean)"].n == 4


def test_shares_per_seed_by_hand():
    policy = repeated.Cooperative()
    # member 0: first, D weaker, G weaker, both worse; member 1: first, both better x3
    d = [[1.0, 1.0], [1.1, 0.9], [1.0, 0.8], [1.2, 0.7]]
    g = [[1.0, 1.0], [0.9, 0.9], [1.1, 0.8], [1.2, 0.7]]
    for t in range(4):
        policy.decide(t, torch.tensor(d[t]), torch.tensor(g[t]))
    shares = rg.shares_per_seed(policy)
    assert list(shares.columns) == list(repeated.CASES) + ["D stepped", "G stepped"]
    assert shares.loc[0].tolist() == [0.25, 0.25, 0.25, 0.0, 0.25, 0.75, 0.75]
    assert shares.loc[1].tolist() == [0.25, 0.0, 0.0, 0.75, 0.0, 0.25, 0.25]
    np.testing.assert_allclose(shares.iloc[:, :5].sum(axis=1), 1.0)
    assert rg.shares_per_seed(policy, steps=2).loc[0, "D weaker"] == 0.5


def _run(values: dict[int, list[float]], budget: int, column: str = "hqs") -> rg.Run:
    evals = _evals(values, column)
    if column == "hqs":
        evals["modes"] = evals["hqs"] * 10
    return rg.Run(None, None, None, budget, evals)


def test_evidence_compares_cooperative_first_paired_by_seed():
    P = {"ring": {"steps": 20}}
    coop = _run({0: [0, 0, 0], 10: [0.5, 0.1, 0.3], 20: [0.6, 0.4, 0.5]}, budget=15)
    sim = _run({0: [0, 0, 0], 10: [0.1, 0.2, 0.0], 20: [0.2, 0.1, 0.25]}, budget=20)
    alt = _run({0: [0, 0, 0], 10: [0.3, 0.3, 0.3], 20: [0.9, 0.8, 0.85]}, budget=20)
    found = rg.evidence({"simultaneous": sim, "alternating": alt, "cooperative": coop}, P)
    assert list(found) == ["better-quality", "better-modes", "better-alternating", "better-wall-clock", "faster"]
    quality, note = found["better-quality"]
    assert quality.difference == pytest.approx(np.mean([0.4, 0.3, 0.25]))
    assert quality.p_value == pytest.approx(sps.ttest_rel([0.6, 0.4, 0.5], [0.2, 0.1, 0.25]).pvalue)
    assert note.startswith("cooperative vs simultaneous, HQS after 20 batches")
    assert found["better-modes"][0].difference == pytest.approx(10 * quality.difference)
    assert found["better-alternating"][0].direction == "<"
    # equal wall-clock: cooperative read at step 10 (its budget is 15), simultaneous at 20
    wall, note = found["better-wall-clock"]
    assert wall.difference == pytest.approx(np.mean([0.3, 0.0, 0.05]))
    assert "read after 10 and 20 batches" in note
    assert found["faster"][0].difference == pytest.approx(np.mean([0.4, -0.1, 0.3]))


def test_versus_phrases():
    c = stats.compare_paired([0.6, 0.4, 0.5, 0.7], [0.2, 0.1, 0.25, 0.2])
    assert c.p_value < 0.05 and rg.versus(c) == f"higher (p = {c.p_value:.2g})"
    r = stats.compare_paired([0.2, 0.1, 0.25, 0.2], [0.6, 0.4, 0.5, 0.7])
    assert rg.versus(r, "better", "worse") == f"worse (p = {r.p_value:.2g})"
    n = stats.compare_paired([0.1, 0.3, 0.2, 0.4], [0.2, 0.2, 0.3, 0.3])
    assert n.p_value > 0.05
    assert rg.versus(n) == f"no difference detected (p = {n.p_value:.2g}; these seeds detect {n.detectable:.2g} or more)"


def test_image_fd():
    evals = pd.DataFrame({"step": [0, 150, 300], "frechet": [900.0, 400.0, 300.0]})
    assert rg.image_fd(evals, 299) == 400.0 and rg.image_fd(evals, 300) == 300.0
    with pytest.raises(ValueError):
        rg.image_fd(evals[evals.step > 0], 100)


def test_timing_ratio_to_simultaneous():
    P = {"time_per_batch": {"ring": {"simultaneous": 1.0, "cooperative": 1.14},
                            "image": {"simultaneous": 1.0, "cooperative": 0.91}}}

    def run(seconds, steps):
        return rg.Run(None, SimpleNamespace(seconds=seconds, steps=steps), None, steps, pd.DataFrame())

    table = rg.timing(P, {"simultaneous": run(2.0, 1000), "cooperative": run(3.0, 1000)},
                      {"simultaneous": run(1.0, 100), "cooperative": run(0.5, 100)})
    assert table["measured ms per batch"].tolist() == pytest.approx([2.0, 3.0, 10.0, 5.0])
    assert table["measured ratio"].tolist() == pytest.approx([1.0, 1.5, 1.0, 0.5])
    assert table["stored time per batch"].tolist() == [1.0, 1.14, 1.0, 0.91]


def test_ring_runs_tiny(P, ring_runs):
    assert list(ring_runs) == list(rg.METHODS)
    assert {m: r.budget for m, r in ring_runs.items()} == {"simultaneous": 20, "alternating": 20, "cooperative": 17}
    for r in ring_runs.values():
        assert r.result.steps == 20
        assert sorted(r.evals.step.unique()) == [0, 10, 20] and sorted(r.evals.member.unique()) == [0, 1]
    coop = ring_runs["cooperative"]
    assert len(coop.policy.history()) == 20 * 2
    # the training loop's counters agree with the policy's record, per member
    np.testing.assert_array_equal(coop.result.updates["D"].numpy(),
                                  coop.policy.history().groupby("member").update_D.sum().to_numpy())
    table = rg.ring_table(ring_runs)
    assert table.loc["cooperative", "batches"] == 10 and table.loc["simultaneous", "batches"] == 20
    assert rg.ring_table(ring_runs, 20).loc["cooperative", "batches"] == 20


def test_ablation_tiny(P, ring, ring_runs):
    table, tests = rg.ablation(P, ring, ring_runs["cooperative"], 0, "cpu")
    assert list(table.columns) == list(rg.VARIANTS) and list(tests) == ["ema", "accuracy", "ties: lagging"]
    assert table.loc["D stepped", "default"].estimate == pytest.approx(
        rg.shares_per_seed(ring_runs["cooperative"].policy)["D stepped"].mean())
    assert all(isinstance(t, stats.Comparison) for t in tests.values())


def test_image_runs_tiny(P):
    sets, runs = rg.image_runs(P, 0, "cpu")
    assert list(runs) == [("digits", m) for m in rg.METHODS]
    table = rg.image_table(runs, 4)
    assert table["batches @ equal time"].tolist() == [4, 3, 4]  # floor(4 / 1.17) = 3, floor(4 / 0.91) = 4
    assert table.loc[table.method == "simultaneous", ["D stepped", "G stepped"]].values.tolist() == [[1.0, 1.0]]
    coop = runs["digits", "cooperative"]
    assert table.loc[2, "D stepped"] == pytest.approx(coop.policy.history().update_D.mean())
    ablation = rg.image_ablation(P, sets, runs, 0, "cpu")
    assert ablation.variant.tolist() == ["default", "ema", "accuracy"]
    assert ablation.FD.iloc[0] == table.loc[2, "FD @ 4 batches"]
    fig = rg.image_figure({m: runs["digits", m] for m in rg.METHODS}, "digits", P.image.latent)
    assert len(fig.axes) == 4 and len(fig.axes[0].lines) == 3
    matplotlib.pyplot.close(fig)


def test_ring_figure(ring, ring_runs):
    fig = rg.ring_figure(ring_runs, ring, 0)
    assert len(fig.axes) == 5
    assert [len(ax.lines) for ax in fig.axes[:2]] == [3, 3]
    assert fig.axes[4].get_title() == "cooperative, seed 0, batch 20"
    matplotlib.pyplot.close(fig)


@pytest.fixture(scope="module")
def stored(P):
    """The stored-run experiment on two seeds, twenty batches (the sweep's experiment function)."""
    from gancore import experiments
    return experiments.repeated_ring(P, [3, 5], "cpu")


def test_repeated_ring_pairs_the_methods_and_measures_both_modules(P, stored):
    curves, steps = stored["curves"], stored["steps"]
    assert set(curves.method) == set(rg.METHODS) and set(curves.seed) == {3, 5}
    assert {"hqs", "modes", "d_accuracy", "d_loss"} <= set(curves.columns)
    # the same initialisation for every method: identical measures of both modules before any step
    first = curves[curves.step == 0].sort_values(["method", "seed"])
    for column in ("hqs", "modes", "d_accuracy", "d_loss"):
        values = first.pivot(index="seed", columns="method", values=column)
        assert np.allclose(values.to_numpy(), values[["simultaneous"]].to_numpy())
    assert curves.d_accuracy.between(0, 1).all() and (curves.d_loss > 0).all()
    # simultaneous and alternating step both modules always; the rule steps each on a share of the batches
    plain = steps[steps.method != "cooperative"]
    assert (plain.D_stepped == 1).all() and (plain.G_stepped == 1).all()
    coop = steps[steps.method == "cooperative"]
    assert coop.D_stepped.between(0, 1).all() and (coop.D_stepped < 1).any()
    for method in rg.METHODS:
        budget, length = rg.run_steps(P.ring.steps, P.ring.eval_every, P.time_per_batch.ring, method,
                                      P.max_time_factor)
        assert (steps[steps.method == method][["budget", "length"]].to_numpy() == [budget, length]).all()
        assert curves[curves.method == method].step.max() == length


def test_stored_runs_give_the_evidence_of_both_modules(P, stored):
    runs = rg.stored_runs(stored["curves"], stored["steps"])
    assert list(runs) == list(rg.METHODS)
    evidence = rg.evidence(runs, P)
    assert "better-discriminator" in evidence and "D's held-out" in evidence["better-discriminator"][1]
    coop = runs["cooperative"].evals
    expected = coop[coop.step == P.ring.steps].sort_values("seed").d_accuracy.to_numpy()
    assert np.array_equal(rg.at_step(coop, P.ring.steps, "d_accuracy"), expected)
    row = rg.ring_row(coop, P.ring.steps)
    assert row["D accuracy (mean)"].estimate == pytest.approx(expected.mean())
    with pytest.raises(ValueError, match="no 'cooperative' rows"):
        rg.stored_runs(stored["curves"][stored["curves"].method != "cooperative"], stored["steps"])
    rg.curves_figure(runs)


def test_discriminator_metrics_by_hand_and_per_member():
    from gancore import ensemble, metrics
    lin = torch.nn.Sequential(torch.nn.Linear(2, 1))
    with torch.no_grad():
        lin[0].weight.copy_(torch.tensor([[1.0, 0.0]]))
        lin[0].bias.zero_()
    real = torch.tensor([[2.0, 0.0], [-1.0, 3.0]])  # logits 2, -1: one right
    fake = torch.tensor([[-3.0, 1.0], [0.5, 0.0]])  # logits -3, 0.5: one right
    found = metrics.discriminator_metrics(lin, real, fake)
    sp = torch.nn.functional.softplus
    assert found["d_accuracy"].item() == pytest.approx(0.5)
    assert found["d_loss"].item() == pytest.approx(((sp(torch.tensor(-2.0)) + sp(torch.tensor(1.0))) / 2
                                                   + (sp(torch.tensor(-3.0)) + sp(torch.tensor(0.5))) / 2).item())
    make = lambda: torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.LeakyReLU(0.2), torch.nn.Linear(8, 1))
    D = ensemble.stack(make, [0, 1])
    fakes = torch.randn(2, 50, 2, generator=torch.Generator().manual_seed(0))
    both = metrics.discriminator_metrics(D, real, fakes)
    for k in range(2):
        alone = metrics.discriminator_metrics(D.member(k), real, fakes[k])
        assert both["d_accuracy"][k].item() == pytest.approx(alone["d_accuracy"].item())
        assert both["d_loss"][k].item() == pytest.approx(alone["d_loss"].item(), rel=1e-5)


def _image_curves() -> pd.DataFrame:
    """A stored image table by hand: 3 seeds (7, 2, 5: out of order), evaluations at 0, 2 and 4 batches;
    the cooperative Frechet distance is 10 ** (1 + seed / 100) times simultaneous's, alternating's equal
    to simultaneous's."""
    rows = []
    for seed, base in ((7, 100.0), (2, 50.0), (5, 80.0)):
        for step in (0, 2, 4):
            fd = base / (1 + step)
            for method, factor, acc in (("simultaneous", 1, 0.6), ("alternating", 1, 0.6),
                                        ("cooperative", 10 ** (1 + seed / 100), 0.7 + seed / 100)):
                rows.append({"data": "mnist", "method": method, "seed": seed, "step": step,
                             "frechet": fd * factor, "d_accuracy": acc + seed / 100, "d_loss": 1.0 + seed})
    table = pd.DataFrame(rows)
    return table.sample(frac=1, random_state=0)  # stored order carries no meaning


def test_stored_image_runs_pair_by_seed_and_give_the_image_evidence():
    runs = rg.stored_image_runs(_image_curves(), "mnist")
    assert list(runs) == list(rg.METHODS) and all(r.budget == 4 for r in runs.values())
    # member k is the k-th seed in order (2, 5, 7) for every method
    assert np.allclose(rg.at_step(runs["simultaneous"].evals, 4, "frechet"), [10.0, 16.0, 20.0])
    found = rg.image_evidence(runs, 4)
    assert list(found) == ["images-quality", "images-alternating", "images-discriminator", "images-faster"]
    quality, note = found["images-quality"]
    assert quality.difference == pytest.approx(1 + 14 / 300) and quality.direction == ">"  # mean log10 ratio
    assert note == "cooperative vs simultaneous, log10 Frechet distance after 4 batches, paired by seed"
    assert found["images-alternating"][0].difference == pytest.approx(1 + 14 / 300)
    assert found["images-discriminator"][0].difference == pytest.approx(0.1 + 14 / 300)
    assert found["images-faster"][0].difference == pytest.approx(1 + 14 / 300)
    assert found["images-faster"][1].endswith("after 2 batches, paired by seed (half)")
    table = rg.image_stored_table(runs, 3)  # read at the last evaluation up to batch 3
    assert (table["batches"] == 2).all()
    assert table.loc["simultaneous", "FD (geometric mean)"].estimate == pytest.approx(
        np.exp(np.mean(np.log([50 / 3, 80 / 3, 100 / 3]))))
    assert table.loc["cooperative", "D accuracy (mean)"].estimate == pytest.approx(0.7 + 28 / 300)
    fig = rg.curves_figure(runs, (("frechet", "Frechet distance"), ("d_accuracy", "D's held-out accuracy")))
    assert [ax.get_yscale() for ax in fig.axes] == ["log", "linear"]


def test_stored_image_runs_name_what_is_missing():
    curves = _image_curves()
    with pytest.raises(ValueError, match=r"no rows for 'cifar10'; it holds \['mnist'\]"):
        rg.stored_image_runs(curves, "cifar10")
    with pytest.raises(ValueError, match="no 'alternating' rows on 'mnist'"):
        rg.stored_image_runs(curves[curves.method != "alternating"], "mnist")
