"""Tests for gancore.reports.srfb: the solver registry, the vectorised 1-D WGAN simulation against
games.run, the power-law fit with its bootstrap over seeds, and the sentences the chapter glues."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import SHARED_DATA

from gancore import experiments, games, profiles, solvers
from gancore.reports import srfb as R


class FedWGAN(games.WGAN1D):
    """The 1-D WGAN whose batch means are given: u-bar = xi[k], z-bar = 0, so xi is the noise."""

    def __init__(self, xi):
        super().__init__(sufficient=True)
        self.xi = list(xi)

    def sample(self, size, generator=None):
        return torch.tensor([self.xi.pop(0)], dtype=torch.float64), torch.zeros(1, dtype=torch.float64)


# --------------------------------------------------------------------------- registry and tables

@pytest.mark.parametrize("name, cls", [("GDA", torch.optim.SGD), ("EG", solvers.ExtraGradient),
                                       ("OGDA", solvers.OptimisticGDA), ("Popov", solvers.Popov),
                                       ("SRFB", solvers.SRFB), ("Adam", torch.optim.Adam)])
def test_solver_builds_each_method_at_its_step(name, cls):
    opt = R.solver(name, 0.25, delta=0.7)(games.WGAN1D().param_groups())
    assert type(opt) is cls
    assert opt.param_groups[0]["lr"] == 0.25
    if name == "SRFB":
        assert opt.param_groups[0]["delta"] == 0.7
    if name == "Adam":
        assert opt.param_groups[0]["betas"] == (0.5, 0.9)


def test_solver_rejects_an_unknown_name():
    with pytest.raises(ValueError, match="Unknown solver 'SGD'.*GDA, EG"):
        R.solver("SGD", 0.1)


def test_image_optimizers_project_the_critic_inside_the_step_except_adam():
    clip = solvers.BoxProjection(-0.01, 0.01)
    G, D = torch.nn.Linear(2, 2), torch.nn.Linear(2, 1)
    opt_g, opt_d = R.image_optimizers("SRFB", 0.1, 0.618, clip)(G, D)
    assert opt_d.param_groups[0]["projection"] is clip and opt_g.param_groups[0]["projection"] is None
    _, adam_d = R.image_optimizers("Adam", 1e-3, 0.618, clip)(G, D)
    assert "projection" not in adam_d.param_groups[0]


def test_trajectory_table_counts_to_the_tolerance_and_marks_never():
    reach = games.Trajectory(distance=[2.0, 0.2, 1e-6], grad_evals=[0, 2, 4], samples=[0, 0, 0])
    stall = games.Trajectory(distance=[2.0, 1.0, 0.5], grad_evals=[0, 1, 2], samples=[0, 0, 0],
                             avg_distance=[2.0, 1.0, 0.2])
    table = R.trajectory_table({"EG": reach, "SRFB": stall}, {"EG": 0.8, "SRFB": 0.5}, "grad_evals")
    assert table["method"].tolist() == ["EG", "SRFB", "SRFB (average)"]
    assert table["iterations to 1e-06"].iloc[0] == 2 and table["grad_evals to 1e-06"].iloc[0] == 4
    assert math.isnan(table["grad_evals to 1e-06"].iloc[1])
    assert table["final relative distance"].tolist() == pytest.approx([5e-7, 0.25, 0.1])
    assert "never" in R.text(table)


def test_fd_summary_is_the_geometric_mean_with_a_positive_interval():
    table = pd.DataFrame({"method": ["A"] * 3 + ["B"] * 3, "lr": 1.0, "FD": [10.0, 1000.0, 100.0, 5.0, 5.5, 6.0]})
    out = R.fd_summary(table, ["method", "lr"])
    a = out.iloc[0]
    assert a["estimate"] == pytest.approx(100.0) and a["n"] == 3
    assert 0 < a["low"] < 100 < a["high"]  # a t interval on the raw values would go below zero here
    assert a["text"] == f"100.0 [{a['low']:.1f}, {a['high']:.1f}], n=3"


def test_best_points_pick_the_lowest_estimate_per_group():
    summary = pd.DataFrame({"data": ["d"] * 4, "method": ["EG", "EG", "SRFB", "SRFB"], "lr": [1.0, 3.0, 1.0, 3.0],
                            "estimate": [240.0, 300.0, 380.0, 340.0]})
    assert R.best_points(summary, ["data", "method"], "lr") == {("d", "EG"): 1.0, ("d", "SRFB"): 3.0}


# --------------------------------------------------------------------------- the 1-D WGAN, vectorised

def test_srfb_wgan1d_is_games_run_with_the_same_noise():
    rng = np.random.default_rng(3)
    xi = rng.standard_normal((150, 2)) * np.array([1.4, 0.3])
    dist, avg = R.srfb_wgan1d(np.array([0.3, 0.7]), xi, delta=0.65)
    for c, lr in enumerate((0.3, 0.7)):
        tr = games.run(FedWGAN(xi[:, c]), R.solver("SRFB", lr, 0.65), 150, batch_size=1, average=True,
                       residual=False)
        np.testing.assert_allclose(dist[:, c], tr.distance, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(avg[:, c], tr.avg_distance, rtol=1e-12, atol=1e-14)


def test_srfb_wgan1d_without_noise_is_the_exact_game():
    dist, avg = R.srfb_wgan1d(0.5, np.zeros((300, 1)))
    tr = games.run(games.WGAN1D(), R.solver("SRFB", 0.5), 300, average=True, residual=False)
    np.testing.assert_allclose(dist[:, 0], tr.distance, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(avg[:, 0], tr.avg_distance, rtol=1e-12, atol=1e-14)
    assert dist[0, 0] == pytest.approx(math.sqrt(2)) and dist[-1, 0] < 1e-5  # converges on the monotone game


@pytest.mark.parametrize("kwargs, message", [(dict(lr=0.1, noise=np.zeros(5)), "shape"),
                                             (dict(lr=0.0, noise=np.zeros((5, 1))), "step sizes"),
                                             (dict(lr=0.1, noise=np.zeros((5, 1)), delta=1.0), "delta")])
def test_srfb_wgan1d_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        R.srfb_wgan1d(**kwargs)


def test_neighbourhood_runs_use_the_seeds_noise_and_record_each_look():
    runs = R.neighbourhood_runs([0.2, 0.4], [1, 8], 64, seeds=[5, 6], looks=3)
    assert len(runs) == 2 * 3 * 4 and sorted(runs["K"].unique()) == [16, 32, 64]
    assert (runs["sigma2"] == 2 / runs["batch"]).all()
    xi = np.random.default_rng(6).standard_normal((64, 4)) * np.sqrt(2 / np.array([1, 8, 1, 8]))
    dist, avg = R.srfb_wgan1d(np.array([0.2, 0.2, 0.4, 0.4]), xi)
    row = runs[(runs.seed == 6) & (runs.lr == 0.4) & (runs.batch == 8) & (runs.K == 32)].iloc[0]
    assert row["average distance"] == pytest.approx(avg[32, 3], rel=1e-12)
    tr = games.Trajectory(distance=list(dist[:33, 3]))
    assert row["iterate MSD"] == pytest.approx(tr.tail_mean_square(0.5), rel=1e-12)
    pd.testing.assert_frame_equal(runs, R.neighbourhood_runs([0.2, 0.4], [1, 8], 64, seeds=[5, 6], looks=3))


def test_neighbourhood_summary_takes_geometric_means_at_the_last_look():
    runs = pd.DataFrame({"seed": [0, 1, 0, 1], "lr": 0.5, "batch": 2, "sigma2": 1.0, "K": [10, 10, 20, 20],
                         "average distance": [9.0, 9.0, 0.1, 0.4], "iterate MSD": [5.0, 5.0, 2.0, 8.0]})
    out = R.neighbourhood_summary(runs).iloc[0]
    assert out["lr*sigma^2"] == 0.5 and out["seeds"] == 2
    assert out["iterate MSD (2nd half)"] == pytest.approx(4.0)
    assert out["average: squared distance"] == pytest.approx(0.04)  # (geometric mean 0.2)^2


def test_the_last_iterates_noise_ball_grows_like_sigma_squared():
    """A property of the linear recursion: its stationary covariance is proportional to the noise
    variance, so the iterates' MSD over the second half has exponent 1 in sigma^2."""
    runs = R.neighbourhood_runs([0.2], [1, 4, 16], 4000, seeds=range(6), looks=1)
    fit = R.power_law_fit(runs, "iterate MSD", ["sigma2"])
    assert fit["sigma2"].estimate == pytest.approx(1.0, abs=0.1)


# --------------------------------------------------------------------------- the power-law fit

def _law(noise: float, seeds: int = 6) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for s in range(seeds):
        shift = rng.normal(0, noise)
        for lr in (0.1, 0.2, 0.4):
            for sigma2 in (0.5, 1.0, 2.0):
                for K in (100, 200, 400):
                    y = 3.0 * lr ** 1.0 * sigma2 ** 0.5 * K ** -1.0 * math.exp(shift + rng.normal(0, noise))
                    rows.append({"seed": s, "lr": lr, "sigma2": sigma2, "K": K, "y": y})
    return pd.DataFrame(rows)


def test_power_law_fit_recovers_exact_exponents_with_a_zero_width_interval():
    fit = R.power_law_fit(_law(0.0), "y", ["lr", "sigma2", "K"])
    for name, b in (("lr", 1.0), ("sigma2", 0.5), ("K", -1.0)):
        assert fit[name].estimate == pytest.approx(b, abs=1e-10)
        assert fit[name].low == pytest.approx(b, abs=1e-10) and fit[name].high == pytest.approx(b, abs=1e-10)
        assert fit[name].n == 6 and fit[name].method == "bootstrap over seeds"


def test_power_law_fit_intervals_cover_the_true_exponents_and_widen_with_noise():
    small, large = (R.power_law_fit(_law(noise, seeds=12), "y", ["lr", "sigma2", "K"]) for noise in (0.05, 0.3))
    for name, b in (("lr", 1.0), ("sigma2", 0.5), ("K", -1.0)):
        assert small[name].contains(b) and large[name].contains(b)
        assert large[name].high - large[name].low > small[name].high - small[name].low > 0


def test_power_law_fit_is_least_squares_on_the_logs():
    table = _law(0.2)
    fit = R.power_law_fit(table, "y", ["lr", "K"])
    X = np.column_stack([np.ones(len(table)), np.log(table["lr"]), np.log(table["K"])])
    coef = np.linalg.lstsq(X, np.log(table["y"]), rcond=None)[0]
    assert fit["lr"].estimate == pytest.approx(coef[1]) and fit["K"].estimate == pytest.approx(coef[2])


@pytest.mark.parametrize("change, message", [
    (lambda t: t.assign(y=-t["y"]), "> 0"),
    (lambda t: t.assign(seed=0), "at least two"),
    (lambda t: t.assign(K=100), "does not identify"),
    (lambda t: t.drop(columns="K"), "no column"),
])
def test_power_law_fit_refuses_what_it_cannot_fit(change, message):
    with pytest.raises(ValueError, match=message):
        R.power_law_fit(change(_law(0.1)), "y", ["lr", "sigma2", "K"])


def test_exponent_table_puts_responses_side_by_side():
    a = R.power_law_fit(_law(0.0), "y", ["lr", "K"])
    b = R.power_law_fit(_law(0.0), "y", ["lr"])
    table = R.exponent_table({"first": a, "second": b})
    assert table.index.tolist() == ["lr", "K"] and table.loc["K", "second"] == "-"
    assert table.loc["lr", "first"] == "1.00 [1.00, 1.00], 6 seeds"
    assert R.exponent_text(a["K"]) == "-1.00 [-1.00, -1.00], 6 seeds"


# --------------------------------------------------------------------------- the averaged variant's stored run

def _design(chains=3):
    return {"delta": 0.65, "average": {"blocks": {"noise": {"lrs": (0.5,), "batches": (1, 4), "K": (64,)},
                                                  "bias": {"lrs": (0.2, 0.4), "batches": (10**6,), "K": (16, 64)}},
                                       "chains": chains, "chunk": 2, "k_min": 4, "looks_per_decade": 2}}


def test_average_runs_are_the_chains_root_mean_square_with_the_seeds_noise():
    from gancore import wgan1d
    P = _design()
    runs = wgan1d.average_runs(P, [7])["average"]
    looks = sorted(runs["K"].unique())
    assert looks == [4, 13, 16, 40, 64] and (runs["chains"] == 3).all()  # 4..64 at 2 per decade, plus the design
    assert set(runs.loc[runs.design, "K"]) == {16, 64} and set(runs.loc[runs.design & (runs.block == "noise"), "K"]) == {64}
    assert (runs["sigma2"] == 2 / runs["batch"]).all()
    # blocks draw their noise in name order: "bias" is block 0, "noise" block 1, whatever the dict's order
    lr, S = np.repeat([0.5, 0.5], 3), np.repeat([1, 4], 3)
    xi = np.random.default_rng([7, 1]).standard_normal((64, 6)) * np.sqrt(2 / S)
    dist, avg = R.srfb_wgan1d(lr, xi, 0.65)
    row = runs[(runs.block == "noise") & (runs.batch == 4) & (runs.K == 40)].iloc[0]
    assert row["average distance"] == pytest.approx(np.sqrt((avg[40, 3:] ** 2).mean()), rel=1e-12)
    assert row["iterate distance"] == pytest.approx(np.sqrt((dist[40, 3:] ** 2).mean()), rel=1e-12)
    pd.testing.assert_frame_equal(runs, wgan1d.average_runs(P, [7])["average"])  # chunking changes nothing
    assert wgan1d.average_steps(P, 2) == 2 * 3 * 4 * 64


def test_block_exponents_recover_a_known_law_on_the_design_points_only():
    rng = np.random.default_rng(0)
    rows = [{"seed": s, "block": b, "lr": lr, "sigma2": s2, "K": K, "design": K > 10,
             "average distance": (lr * s2 if b == "noise" else 1 / (lr * K)) * (1 if K > 10 else 50)
             * np.exp(0.01 * rng.standard_normal())}
            for s in range(5) for b in ("bias", "noise") for lr in (0.1, 0.4) for s2 in (0.5, 2.0) for K in (5, 100, 1000)]
    fits = R.block_exponents(pd.DataFrame(rows), resamples=200)
    assert list(fits) == ["bias", "noise"]
    for block, want in (("bias", (-1, 0, -1)), ("noise", (1, 1, 0))):
        for name, w in zip(("lr", "sigma2", "K"), want):
            assert fits[block][name].estimate == pytest.approx(w, abs=0.02) and fits[block][name].n == 5
            assert fits[block][name].low <= fits[block][name].estimate <= fits[block][name].high


def test_term_fit_recovers_the_coefficients_of_a_two_term_law():
    grid = pd.DataFrame([{"lr": lr, "sigma2": s2, "K": K} for lr in (0.1, 0.8) for s2 in (1e-6, 2.0)
                         for K in (1e2, 1e5)])
    grid["y"] = 0.3 * grid.lr * grid.sigma2 + 4.0 / (grid.lr * grid.K)
    fit = R.term_fit(grid, "y", ["lambda sigma^2", "1/(lambda K)"])
    assert fit["coefficients"]["lambda sigma^2"] == pytest.approx(0.3, rel=1e-6)
    assert fit["coefficients"]["1/(lambda K)"] == pytest.approx(4.0, rel=1e-6)
    assert fit["rms"] < 1e-8 and np.allclose(fit["model"], grid.y)
    other = R.term_fit(grid, "y", ["sigma/sqrt(K)", "1/(lambda K)"])  # the wrong law fits worse
    assert other["rms"] > 0.1 and all(c >= 0 for c in other["coefficients"].values())
    with pytest.raises(ValueError, match="> 0"):
        R.term_fit(grid.assign(y=0.0), "y", ["1/(lambda K)"])


def test_average_curves_and_panels():
    runs = pd.DataFrame({"seed": [0, 1] * 4, "block": ["bias"] * 4 + ["noise"] * 4, "lr": 0.5, "batch": 2,
                         "sigma2": 1.0, "K": [10, 10, 100, 100] * 2, "design": [False, False, True, True] * 2,
                         "average distance": [1.0, 4.0, 0.1, 0.1, 2.0, 2.0, 1.0, 1.0]})
    curves = R.average_curves(runs)
    assert len(curves) == 4 and (curves["seeds"] == 2).all()
    assert curves.loc[(curves.block == "bias") & (curves.K == 10), "average distance"].item() == pytest.approx(2.0)
    assert curves.loc[curves.K == 100, "design"].all() and not curves.loc[curves.K == 10, "design"].any()
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2)
    R.average_panels(curves, axes, {"bias": {"theorem": -1.0}, "noise": {"theorem": 0.0, "identity": -0.5}})
    assert [len(ax.get_lines()) for ax in axes] == [3, 4]  # curve, design marks, one line per slope
    plt.close(fig)


# --------------------------------------------------------------------------- the stored image experiment

@pytest.mark.skipif(not (SHARED_DATA / "MNIST" / "raw").is_dir(),
                    reason=f"real MNIST raw files not found in {SHARED_DATA}/MNIST/raw")
def test_srfb_images_runs_every_method_and_step_on_equal_gradient_evaluations(monkeypatch):
    """The sweep experiment ``srfb.images`` at a tiny size (pixel-PCA features instead of the trained
    classifier, to stay fast): every method at every shared step size and seed, on the same budget."""
    images = experiments.image_data("mnist", root=str(SHARED_DATA), reference_n=200, kind="pixels")
    monkeypatch.setattr(experiments, "shared_image_data", lambda name, root=None, reference_n=None: images)
    P = profiles.get("srfb", "quick", {"data_root": str(SHARED_DATA), "images": {
        "width": 4, "latent": 8, "batch_size": 8, "lrs": [0.1, 1.0], "budget": 4, "eval_every": 2, "n_fd": 64}})
    table = experiments.srfb_images(P, [3], "cpu")["frechet"]
    assert set(map(tuple, table[["method", "lr"]].drop_duplicates().to_numpy())) == {
        ("SRFB", 0.1), ("SRFB", 1.0), ("EG", 0.1), ("EG", 1.0)}
    assert (table["seed"] == 3).all() and (table["data"] == "mnist").all()
    assert set(table["metric"]) == {"frechet", "frechet (average)"} and np.isfinite(table["value"]).all()
    last = table.groupby(["method", "lr"])[["grad_evals", "step"]].max()
    assert (last["grad_evals"] == 4).all()  # equal budgets: extragradient runs half the steps
    assert (last.loc["EG", "step"] * 2 == last.loc["SRFB", "step"]).all()
    assert experiments.srfb_images_steps(P, 10) == 10 * 2 * 2 * 4


# --------------------------------------------------------------------------- sentences

def test_ranking_orders_by_cost_and_names_those_that_never_reached():
    text = R.ranking({"GDA": None, "SRFB": 324, "EG": 270.0, "Adam": float("nan")}, "evaluations")
    assert text == "EG (270 evaluations), SRFB (324 evaluations); never reached: GDA, Adam"
    assert R.ranking({"GDA": None}, "x") == "never reached: GDA"


def test_sensitivity_summary_reads_the_grid():
    nan = np.nan
    grid = np.array([[nan, 600.0, 200.0], [nan, 500.0, nan], [nan, nan, nan]])
    # bounds 1/(2 delta L) with L = 1: 1.0 at delta 0.5, 0.8 at delta 0.625; lambda 1 at delta 0.5 is on it
    text = R.sensitivity_summary(grid, [0.5, 0.625, 0.99], [0.2, 0.6, 1.0], lipschitz=1.0)
    assert text == ("the fastest cell is delta = 0.5, lambda = 1 (200 iterations); no step size reached it at "
                    "delta = 0.99; all 3 cells that reached it lie within the bound 1/(2 delta L)")
    grid[1, 2] = 300.0  # lambda 1 at delta 0.625: 1.25 times its bound 0.8
    assert R.sensitivity_summary(grid, [0.5, 0.625, 0.99], [0.2, 0.6, 1.0], 1.0).endswith(
        "1 of the 4 cells that reached it lie above the bound 1/(2 delta L), the farthest at delta = 0.625, "
        "lambda = 1 (1.25 times the bound)")
    assert R.sensitivity_summary(np.full((1, 2), nan), [0.6], [0.1, 0.2], 1.0).startswith("no cell")
    with pytest.raises(ValueError, match="shape"):
        R.sensitivity_summary(grid, [0.5], [0.2], 1.0)
