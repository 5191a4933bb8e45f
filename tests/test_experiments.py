"""The shared recipes: first_reaching, chunked sampling, the ring evaluator, the convexity check and
the image experiment (against a hand-written train.fit on a tiny setup)."""

import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch.utils.data import TensorDataset

from gancore import data, divergences, ensemble, experiments, losses, metrics, models, profiles, solvers, train

# ----------------------------------------------------------------------------- first_reaching


def test_first_reaching_edge_cases():
    assert math.isnan(metrics.first_reaching([0, 10, 20], [0.1, 0.2, 0.3], 0.5))  # never reaches
    assert metrics.first_reaching([0, 10, 20], [0.9, 0.2, 0.95], 0.5) == 0  # reaches at the first step
    assert metrics.first_reaching([0, 10, 20], [0.1, 0.5, 0.9], 0.5) == 10  # equality counts
    assert metrics.first_reaching([5, 7, 9], [9.0, 4.0, 1.0], 4.0, higher_is_better=False) == 7
    assert metrics.first_reaching([0, 1, 2], [float("nan"), 0.1, 0.9], 0.5) == 2  # NaN never reaches
    assert math.isnan(metrics.first_reaching([], [], 1.0))
    assert metrics.first_reaching(pd.Index([100, 200]), pd.Series([0.0, 1.0]).values, 1.0) == 200
    with pytest.raises(ValueError, match="one length"):
        metrics.first_reaching([0, 1], [0.5], 0.1)


# ----------------------------------------------------------------------------- sampling


def _bn_generator(latent=4):
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(latent, 6), torch.nn.BatchNorm1d(6), torch.nn.Linear(6, 2))


def test_fixed_noise_is_a_seeded_cpu_draw():
    z = metrics.fixed_noise(5, 3, seed=7)
    torch.testing.assert_close(z, torch.randn(5, 3, generator=torch.Generator().manual_seed(7)), rtol=0, atol=0)
    assert metrics.fixed_noise(2, (1, 4, 4), 0).shape == (2, 1, 4, 4)


def test_sample_in_chunks_eval_mode_is_chunk_independent_and_keeps_mode():
    G = _bn_generator()
    with torch.no_grad():  # move the running statistics away from their initial values
        G(torch.randn(32, 4) * 3 + 1)
    z = metrics.fixed_noise(23, 4, seed=1)
    G.train()
    out = metrics.sample_in_chunks(G, z, chunk=5)
    assert G.training  # mode restored
    G.eval()
    with torch.no_grad():
        torch.testing.assert_close(out, G(z))
    torch.testing.assert_close(metrics.sample_in_chunks(G, z, chunk=100), out)
    with pytest.raises(ValueError, match="chunk"):
        metrics.sample_in_chunks(G, z, chunk=0)


def test_sample_in_chunks_batch_statistics_normalises_each_chunk_and_leaves_G_alone():
    G = _bn_generator()
    G.eval()
    running = G[1].running_mean.clone()
    z = metrics.fixed_noise(10, 4, seed=2)
    out = metrics.sample_in_chunks(G, z, chunk=5, batch_statistics=True)
    G.train()
    with torch.no_grad():
        expected = torch.cat([G(z[:5]), G(z[5:])])
    torch.testing.assert_close(out, expected)
    G.eval()
    with torch.no_grad():
        assert not torch.allclose(out, G(z))  # batch statistics differ from the running ones
    G2 = _bn_generator()
    G2.eval()
    metrics.sample_in_chunks(G2, z, chunk=5, batch_statistics=True)
    torch.testing.assert_close(G2[1].running_mean, running)
    assert not G2.training


# ----------------------------------------------------------------------------- ring evaluator

MEANS = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]])


def test_ring_evaluator_single_generator_is_ring_metrics_of_fixed_noise():
    torch.manual_seed(3)
    G = models.mlp_generator(2, 2, width=8, depth=1)
    kept = {}
    evaluate = metrics.ring_evaluator(MEANS, 0.5, 200, latent_dim=2, seed=12345, samples=kept)
    row = evaluate(4, G, None)
    with torch.no_grad():
        x = G(metrics.fixed_noise(200, 2, 12345))
    expected = metrics.ring_metrics(x, MEANS, 0.5)
    assert row == {k: float(v) for k, v in expected.items()}
    torch.testing.assert_close(kept[4], x)


def test_ring_evaluator_ensemble_member_matches_ring_metrics_of_that_member():
    seeds = [0, 1, 2]
    G = ensemble.stack(lambda: models.mlp_generator(2, 2, width=8, depth=1), seeds)
    with torch.no_grad():
        row = metrics.ring_evaluator(MEANS, 0.5, 150, 2, seed=5)(0, G, None)
        z = metrics.fixed_noise(150, 2, 5)
        for k in range(len(seeds)):
            m = metrics.ring_metrics(G.member(k)(z), MEANS, 0.5)
            for key, value in m.items():
                assert row[key][k] == pytest.approx(float(value), abs=1e-6)


def test_per_member_long_form():
    evals = pd.DataFrame({"step": [0, 5], "grad_evals": [0, 5], "seconds": [0.0, 1.0],
                          "hqs": [[0.1, 0.2], [0.3, 0.4]], "modes": [[1, 2], [3, 3]]})
    long = metrics.per_member(evals)
    assert list(long.step) == [0, 0, 5, 5] and list(long.member) == [0, 1, 0, 1]
    assert list(long.hqs) == [0.1, 0.2, 0.3, 0.4] and long.modes.dtype == float


# ----------------------------------------------------------------------------- convexity


def test_is_convex_on_grid():
    u = torch.logspace(-3, 3, 50, dtype=torch.float64)
    assert divergences.is_convex_on_grid(lambda x: x * x.log(), u)
    assert not divergences.is_convex_on_grid(lambda x: x.log(), u)  # concave
    assert not divergences.is_convex_on_grid(lambda x: x - 1, u)  # f'' = 0: not strictly convex
    assert divergences.is_convex_on_grid(lambda x: divergences.f_saturating(x, 0.5, 1.0), u)  # in R1
    assert not u.requires_grad


# ----------------------------------------------------------------------------- the image experiment


def _tiny_images(n=48):
    x = torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    space = metrics.FeatureSpace("flat", lambda b: b.flatten(1)[:, :6])
    return experiments.ImageData("tiny", TensorDataset(x, torch.zeros(n)), space, space.stats(x))


def test_image_experiment_equals_hand_written_fit():
    images = _tiny_images()
    run = experiments.image_experiment(
        images, loss=losses.gan_loss("ns"), optimizers=experiments.adam(1e-3, (0.5, 0.9)), policy="alternating",
        steps=4, eval_every=2, batch_size=8, latent_dim=4, width=4, seed=3, device="cpu", n_eval=20,
        eval_seed=9, chunk=7, labels={"method": "adam"}, progress=False)

    torch.manual_seed(3)
    G, D = models.dcgan_generator(8, 1, 4, 4), models.dcgan_discriminator(8, 1, 4)
    z = torch.randn(20, 4, generator=torch.Generator().manual_seed(9))

    def evaluate(step, G, D):
        fake = torch.cat([G(z[i:i + 7]) for i in range(0, 20, 7)])
        return {"frechet": images.space.frechet(fake, images.reference)}

    hand = train.fit(G, D, images.images, loss=losses.gan_loss("ns"),
                     opt_G=torch.optim.Adam(G.parameters(), 1e-3, betas=(0.5, 0.9)),
                     opt_D=torch.optim.Adam(D.parameters(), 1e-3, betas=(0.5, 0.9)), steps=4, batch_size=8,
                     latent_dim=4, policy="alternating", seed=3, device="cpu", evaluate=evaluate, eval_every=2,
                     progress=False)
    assert list(run.table.columns) == ["seed", "method", "step", "grad_evals", "seconds", "metric", "value"]
    assert set(run.table.seed) == {3} and set(run.table.method) == {"adam"} and set(run.table.metric) == {"frechet"}
    assert list(run.table.step) == list(hand.evals.step) == [0, 2, 4]
    assert list(run.table.grad_evals) == list(hand.evals.grad_evals)
    assert list(run.table.value) == list(hand.evals.frechet)  # bit for bit
    for p, q in zip(run.G.parameters(), G.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
    assert run.wide().columns.tolist() == ["step", "grad_evals", "seconds", "frechet"]
    G.eval()
    with torch.no_grad():
        torch.testing.assert_close(run.samples["G"], G(z))  # n_samples = 64 > n_eval: all 20 codes


def test_image_experiment_counts_gradient_evaluations_and_averages():
    images = _tiny_images()
    clip = solvers.BoxProjection(-0.05, 0.05)

    def extragradient(G, D):
        return solvers.ExtraGradient(G.parameters(), lr=0.01), solvers.ExtraGradient(D.parameters(), lr=0.01, projection=clip)

    run = experiments.image_experiment(
        images, loss=losses.gan_loss("wasserstein"), optimizers=extragradient, steps=8, eval_every=4,
        count="grad_evals", batch_size=8, latent_dim=4, width=4, device="cpu", n_eval=16, chunk=16,
        batch_statistics=True, average=solvers.ergodic_average, projection_D=lambda D: solvers.project_(D, clip),
        n_samples=4, progress=False)
    assert run.result.steps == 4 and run.result.grad_evals == 8  # two evaluations per extragradient step
    wide = run.wide()
    assert list(wide.step) == [0, 2, 4] and list(wide.grad_evals) == [0, 4, 8]
    assert wide["frechet (average)"].iloc[0] == wide.frechet.iloc[0]  # the average starts as G itself
    assert wide["frechet (average)"].iloc[-1] != wide.frechet.iloc[-1]
    assert int(run.averaged.n_averaged) == 4  # one update per step of G's optimizer
    assert set(run.samples) == {"G", "average"} and run.samples["G"].shape == (4, 1, 8, 8)
    assert all(bool(p.detach().abs().max() <= torch.tensor(0.05)) for p in run.D.parameters())  # clipped throughout
    with pytest.raises(ValueError, match="count"):
        experiments.image_experiment(images, loss=losses.gan_loss("ns"), optimizers=experiments.adam(1e-3),
                                     steps=1, batch_size=8, latent_dim=4, width=4, count="epochs")


def test_image_experiment_records_a_divergence_as_nan():
    images = _tiny_images()
    ns = losses.gan_loss("ns")
    broken = losses.GANLoss("broken", lambda real, fake: ns.d(real, fake) * float("nan"), ns.g)
    run = experiments.image_experiment(images, loss=broken, optimizers=experiments.adam(1e-3), steps=3,
                                       batch_size=8, latent_dim=4, width=4, device="cpu", n_eval=8, progress=False)
    assert run.result is None and run.diverged_at == 0 and run.samples == {}
    assert list(run.table.metric) == ["frechet"] and np.isnan(run.table.value.iloc[0])


def test_image_data_chain_and_floor():
    images = experiments.image_data("digits", kind="pixels")
    assert images.shape == (1, 8, 8) and images.space.name.startswith("pixels")
    test = data.as_tensor(data.load("digits", split="test"), limit=100)
    assert images.floor(100) == images.space.frechet(test, images.reference)
    assert images.floor(100) < images.space.frechet(torch.rand_like(test) * 2 - 1, images.reference)


def test_equal_time_steps():
    times = {"simultaneous": 2.0, "slow": 3.0}
    assert experiments.equal_time_steps(300, times, "slow") == 200
    assert experiments.equal_time_steps(300, times, "simultaneous") == 300


def test_alpha_ring_samples_are_every_members_final_samples_of_the_evaluation_noise():
    """With n_samples = ring.n_eval the samples come from the evaluation's fixed noise, so their ring
    metrics are the final table's; asking for samples changes nothing in the tables."""
    P = profiles.get("alpha_gan", "quick", {"ring": {"steps": 4, "g_width": 8, "d_width": 8, "depth": 1,
                                                     "n_eval": 150, "batch_size": 32, "eval_every": 2},
                                            "fig2b": {"alpha_d": [1.0]}, "sat": {"alpha_d": [1.0]},
                                            "ns": {"alpha_d": [0.5], "alpha_g": [1.0]}})
    seeds = [3, 8]
    plain = experiments.alpha_ring(P, seeds, "cpu", eval_seed=5)
    out = experiments.alpha_ring(P, seeds, "cpu", eval_seed=5, n_samples=150)
    assert "samples" not in plain
    pd.testing.assert_frame_equal(out["ring"], plain["ring"])
    pd.testing.assert_frame_equal(out["curves"].drop(columns="seconds"), plain["curves"].drop(columns="seconds"))
    labels = ["generator", "alpha_d", "alpha_g", "seed"]
    samples = out["samples"]
    assert list(samples.columns) == labels + ["x", "y"] and len(samples) == 150 * len(out["ring"])
    ring = data.load("ring")
    for k, (key, xy) in enumerate(samples.groupby(labels, sort=False)):
        assert key == tuple(out["ring"].loc[k, labels])
        m = metrics.ring_metrics(torch.tensor(xy[["x", "y"]].to_numpy()), ring.means, ring.sigma)
        assert float(m["hqs"]) == pytest.approx(out["ring"].loc[k, "hqs"])
        assert float(m["modes"]) == out["ring"].loc[k, "modes"]
