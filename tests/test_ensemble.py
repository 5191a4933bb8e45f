"""Batched seeds: each member of an ensemble follows exactly the trajectory of its seed trained alone."""

import matplotlib.pyplot as plt
import pandas as pd
import pytest
import torch
from scipy.stats import t as scipy_t
from torch import nn

from gancore import data, ensemble, losses, metrics, models, plotting, stats, train

RING = data.load("ring")
SEEDS = [3, 11]


def _make_G():
    return models.mlp_generator(2, 2, width=8, depth=2)


def _make_D():
    return models.mlp_discriminator(2, width=8, depth=2)


def _alone(seed, loss, steps, policy="alternating", lr=1e-2):
    """The reference: one plain nn.Sequential pair trained by gancore.train.fit, seeded as ensemble.fit does."""
    torch.manual_seed(seed)
    G = _make_G()
    torch.manual_seed(seed + 1_000_000)
    D = _make_D()
    train.fit(G, D, RING, loss=loss, opt_G=torch.optim.Adam(G.parameters(), lr), opt_D=torch.optim.Adam(D.parameters(), lr),
              steps=steps, batch_size=32, latent_dim=2, policy=policy, seed=seed, device="cpu", progress=False)
    return G, D


def _ensemble(seeds, loss, steps, policy="alternating", lr=1e-2):
    G, D, _ = ensemble.fit(_make_G, _make_D, RING, seeds, loss=loss, lr_G=lr, lr_D=lr, steps=steps, batch_size=32,
                           latent_dim=2, policy=policy, device="cpu", progress=False)
    return G, D


def _assert_same_net(batched_member: nn.Sequential, alone: nn.Sequential):
    for p, q in zip(batched_member.parameters(), alone.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("loss, policy", [
    (losses.gan_loss("alpha", alpha_d=0.5, alpha_g=1.2), "alternating"),
    (losses.gan_loss("alpha", alpha_d=0.6, alpha_g=1.0, generator="ns"), "alternating"),
    (losses.gan_loss("vanilla"), "simultaneous"),
    (losses.gan_loss("lsgan"), "alternating"),
])
def test_each_member_equals_its_seed_trained_alone(loss, policy):
    G, D = _ensemble(SEEDS, loss, steps=4, policy=policy)
    for k, seed in enumerate(SEEDS):
        G1, D1 = _alone(seed, loss, steps=4, policy=policy)
        _assert_same_net(G.member(k), G1)
        _assert_same_net(D.member(k), D1)


def test_members_differ_and_training_moves_them():
    G0 = ensemble.stack(_make_G, SEEDS)
    G, _ = _ensemble(SEEDS, losses.gan_loss("ns"), steps=3)
    assert not torch.equal(G.weights[0][0], G.weights[0][1])  # own initialisation per seed
    assert not torch.allclose(G.weights[1], G0.weights[1])  # trained


def test_stack_and_member_round_trip():
    G = ensemble.stack(_make_G, SEEDS)
    z = torch.randn(len(SEEDS), 5, 2)
    out = G(z)
    for k, seed in enumerate(SEEDS):
        torch.manual_seed(seed)
        alone = _make_G()
        torch.testing.assert_close(G.member(k)(z[k]), alone(z[k]))
        torch.testing.assert_close(out[k], alone(z[k]), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(G(z[1:], members=slice(1, 2)), out[1:])
    with pytest.raises(ValueError, match="Expected input of shape"):
        G(torch.randn(3, 5, 2))


def test_stack_rejects_layers_with_parameters_other_than_linear():
    with pytest.raises(ValueError, match="Only Linear layers"):
        ensemble.stack(lambda: nn.Sequential(nn.Linear(2, 3), nn.LayerNorm(3), nn.Linear(3, 1)), [0, 1])


def test_grouped_loss_applies_each_loss_to_its_members():
    parts = [losses.gan_loss("alpha", alpha_d=0.3), losses.gan_loss("vanilla"), losses.gan_loss("lsgan")]
    grouped = ensemble.grouped_loss(parts, [2, 1, 3])
    real, fake = torch.randn(6, 10, 1), torch.randn(6, 10, 1)
    expected_d = torch.cat([parts[0].d(real[:2], fake[:2]), parts[1].d(real[2:3], fake[2:3]), parts[2].d(real[3:], fake[3:])])
    expected_g = torch.cat([parts[0].g(fake[:2]), parts[1].g(fake[2:3]), parts[2].g(fake[3:])])
    torch.testing.assert_close(grouped.d(real, fake), expected_d)
    torch.testing.assert_close(grouped.g(fake), expected_g)
    with pytest.raises(ValueError, match="Expected logits"):
        grouped.g(torch.randn(5, 10, 1))
    with pytest.raises(ValueError, match="Invalid groups"):
        ensemble.grouped_loss(parts, [2, 1])


def test_grouped_run_equals_separate_runs():
    """A grid of losses in one batched run gives each group what its own ensemble gives."""
    a, b = losses.gan_loss("alpha", alpha_d=0.3), losses.gan_loss("alpha", alpha_d=1.0, alpha_g=1.1, generator="ns")
    G, D = _ensemble([3, 4, 3], ensemble.grouped_loss([a, b], [2, 1]), steps=4)
    Ga, _ = _ensemble([3, 4], a, steps=4)
    Gb, _ = _ensemble([3], b, steps=4)
    for w, wa, wb in zip(G.weights, Ga.weights, Gb.weights):
        torch.testing.assert_close(w, torch.cat([wa, wb]), rtol=1e-4, atol=1e-5)


def test_ring_table_is_ring_metrics_per_member():
    G, _ = _ensemble(SEEDS, losses.gan_loss("ns"), steps=2)
    table = ensemble.ring_table(G, RING, n=300, seed=5, chunk=2)
    samples = ensemble.sample(G, 300, 2, seed=5)
    assert list(table.columns) == ["modes", "hqs", "success", "failure", "kl"]
    for k in range(len(SEEDS)):
        m = metrics.ring_metrics(samples[k], RING.means, RING.sigma)
        assert table.modes[k] == int(m["modes"])
        assert table.hqs[k] == pytest.approx(float(m["hqs"]))
        assert table.kl[k] == pytest.approx(float(m["kl"]), rel=1e-5)


def test_fit_rejects_no_seeds():
    with pytest.raises(ValueError, match="Invalid seeds"):
        ensemble.fit(_make_G, _make_D, RING, [], loss=losses.gan_loss("ns"), lr_G=1e-3, lr_D=1e-3, steps=1,
                     batch_size=8, latent_dim=2)


def test_gradients_through_all_members_equal_gradients_through_a_slice_of_all():
    """forward() skips slicing when every member is chosen; the gradients must be those of the sliced path."""
    G = ensemble.stack(_make_G, SEEDS)
    z = torch.randn(len(SEEDS), 5, 2)
    G(z).square().sum().backward()
    full = [p.grad.clone() for p in G.parameters()]
    G.zero_grad()
    torch.cat([G(z[k:k + 1], members=slice(k, k + 1)) for k in range(len(SEEDS))]).square().sum().backward()
    for a, p in zip(full, G.parameters(), strict=True):
        torch.testing.assert_close(a, p.grad)


def test_seconds_per_step_rejects_bad_run_lengths():
    with pytest.raises(ValueError, match="short=5, long=5"):
        ensemble.seconds_per_step(_make_G, _make_D, RING, SEEDS, short=5, long=5, loss=losses.gan_loss("ns"),
                                  lr_G=1e-3, lr_D=1e-3, batch_size=8, latent_dim=2)


def test_ensemble_resume_is_bit_for_bit_with_a_gradient_penalty(tmp_path):
    """K members, WGAN-GP (the penalty draws from the loop's generator) and n_critic = 2: interrupted
    and resumed equals uninterrupted."""
    def gp(D, real, fake, generator):
        return losses.gradient_penalty(D, real, fake, generator=generator)

    def run(steps, path=None):
        G, D, result = ensemble.fit(_make_G, _make_D, RING, SEEDS, loss=losses.gan_loss("wasserstein"), lr_G=1e-3,
                                    lr_D=1e-3, steps=steps, batch_size=32, latent_dim=2, policy="alternating",
                                    d_steps=2, penalty_D=gp, device="cpu", progress=False, checkpoint=path,
                                    checkpoint_every=2 if path else 0)
        return [t.clone() for t in (*G.state_dict().values(), *D.state_dict().values())], result

    straight, full = run(6)
    run(3, tmp_path / "c.pt")
    resumed, result = run(6, tmp_path / "c.pt")
    for a, b in zip(straight, resumed, strict=True):
        assert torch.equal(a, b)
    assert full.log.drop(columns="seconds").equals(result.log.drop(columns="seconds"))


def test_tidy_evals_gives_each_member_the_metrics_of_its_seed_trained_alone():
    """Metrics along training as data: the ensemble's tidy table holds, for every member and step, the
    ring metrics its seed's single run gives at that step (same initialisation, data, noise)."""
    loss = losses.gan_loss("ns")
    _, _, result = ensemble.fit(_make_G, _make_D, RING, SEEDS, loss=loss, lr_G=1e-2, lr_D=1e-2, steps=4, batch_size=32,
                                latent_dim=2, policy="alternating", device="cpu", progress=False,
                                evaluate=metrics.ring_evaluator(RING.means, RING.sigma, 300, seed=5, chunk=64), eval_every=2)
    table = ensemble.tidy_evals(result.evals, [{"seed": s, "cell": "ns"} for s in SEEDS])
    assert list(table.columns) == ["seed", "cell", "step", "grad_evals", "seconds", "metric", "value"]
    assert len(table) == len(SEEDS) * 3 * 5  # members x evaluations (0, 2, 4) x metrics
    for seed in SEEDS:
        torch.manual_seed(seed)
        G = _make_G()
        torch.manual_seed(seed + 1_000_000)
        D = _make_D()
        alone = train.fit(G, D, RING, loss=loss, opt_G=torch.optim.Adam(G.parameters(), 1e-2),
                          opt_D=torch.optim.Adam(D.parameters(), 1e-2), steps=4, batch_size=32, latent_dim=2,
                          policy="alternating", seed=seed, device="cpu", progress=False,
                          evaluate=metrics.ring_evaluator(RING.means, RING.sigma, 300, seed=5), eval_every=2)
        mine = table[table.seed == seed]
        expected = ensemble.tidy_evals(alone.evals, [{"seed": seed, "cell": "ns"}])
        assert mine[["step", "grad_evals", "metric"]].values.tolist() == expected[["step", "grad_evals", "metric"]].values.tolist()
        torch.testing.assert_close(torch.tensor(mine.value.to_numpy()), torch.tensor(expected.value.to_numpy()),
                                   rtol=1e-4, atol=1e-4)


def test_evaluating_along_training_leaves_training_unchanged():
    runs = [ensemble.fit(_make_G, _make_D, RING, SEEDS, loss=losses.gan_loss("ns"), lr_G=1e-2, lr_D=1e-2, steps=4,
                         batch_size=32, latent_dim=2, device="cpu", progress=False, **options)[0]
            for options in ({}, {"evaluate": metrics.ring_evaluator(RING.means, RING.sigma, 100, chunk=1), "eval_every": 1})]
    for p, q in zip(runs[0].parameters(), runs[1].parameters(), strict=True):
        assert torch.equal(p, q)


def test_tidy_evals_needs_one_label_mapping_per_member():
    evals = pd.DataFrame({"step": [0], "grad_evals": [0], "seconds": [0.0], "hqs": [[0.1, 0.2]]})
    with pytest.raises(ValueError, match="2 member\\(s\\) but 1 label"):
        ensemble.tidy_evals(evals, [{"seed": 0}])
    with pytest.raises(ValueError, match="same label keys"):
        ensemble.tidy_evals(evals, [{"seed": 0}, {"member": 1}])
    with pytest.raises(ValueError, match="evaluation log is empty"):
        ensemble.tidy_evals(pd.DataFrame(), [])


def test_metric_curves_draws_the_mean_over_seeds_with_a_95_percent_band():
    table = pd.DataFrame({"alpha_d": [0.5] * 6 + [1.0] * 6, "seed": [0, 0, 1, 1, 2, 2] * 2,
                          "step": [0, 10] * 6, "metric": "hqs",
                          "value": [0.0, 0.2, 0.0, 0.4, 0.0, 0.6, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]})
    ax = plotting.metric_curves(table, "hqs", hue="alpha_d")
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {"alpha_d=0.5", "alpha_d=1.0"}
    assert lines["alpha_d=0.5"].get_ydata().tolist() == pytest.approx([0.0, 0.4])
    band = ax.collections[0].get_paths()[0].vertices[:, 1]  # the first curve's band
    half = scipy_t.ppf(0.975, 2) * 0.2 / 3 ** 0.5  # s = 0.2 over three seeds at step 10
    assert band.max() == pytest.approx(0.4 + half) and band.min() == pytest.approx(0.4 - half)  # none at step 0: s = 0
    with pytest.raises(ValueError, match="No rows of metric 'fid'"):
        plotting.metric_curves(table, "fid")
    with pytest.raises(ValueError, match="no column\\(s\\) grad_evals"):
        plotting.metric_curves(table, "hqs", x="grad_evals")
    plt.close("all")


def test_metric_curves_draws_wilson_bands_for_rates():
    """A rate's band is the Wilson interval of its successes over the seeds at each step."""
    table = pd.DataFrame({"seed": [0, 1, 2, 3] * 2, "step": [0] * 4 + [10] * 4, "metric": "success",
                          "value": [0, 0, 0, 0, 1, 1, 1, 0]})
    ax = plotting.metric_curves(table, "success", interval="wilson")
    band = ax.collections[0].get_paths()[0].vertices[:, 1]
    assert band.max() == pytest.approx(stats.wilson(3, 4).high) and band.min() == pytest.approx(0.0)
    assert max(band[band < 0.5]) == pytest.approx(stats.wilson(0, 4).high)  # 0 of 4 still has a band
    with pytest.raises(ValueError, match="Invalid interval"):
        plotting.metric_curves(table, "success", interval="normal")
    with pytest.raises(ValueError, match="0/1"):
        plotting.metric_curves(table.assign(value=0.5), "success", interval="wilson")
    plt.close("all")
