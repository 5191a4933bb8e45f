"""The convex-duality chapter's experiments (gancore.convex.compare): small problems whose answers
the closed forms give."""

import numpy as np
import pytest
import torch

from gancore import convex


def test_toy_problem_rays_are_the_first_points_directions():
    X, Z, rays = convex.toy_problem(10, 4, seed=1)
    assert X.shape == (10, 2) and Z.shape == (4, 4)
    np.testing.assert_array_equal(Z, np.eye(4))
    np.testing.assert_allclose(np.linalg.norm(rays, axis=1), 1.0)
    np.testing.assert_allclose(rays * np.linalg.norm(X[:4], axis=1, keepdims=True), X[:4])
    np.testing.assert_array_equal(convex.toy_problem(10, 4, seed=1)[0], X)
    with pytest.raises(ValueError, match="n_fake <= n"):
        convex.toy_problem(3, 4)


def test_convex_solution_is_the_closed_form_and_checks_its_arguments():
    X, Z, rays = convex.toy_problem(12, 6)
    np.testing.assert_allclose(convex.convex_solution(X, Z, "quadratic", 4.0),
                               Z @ convex.quadratic_closed_form(X, Z, 4.0))
    G = convex.convex_solution(X, Z, "linear", 2.0)
    # the linear discriminator's constraint ||X^T 1 - G^T 1|| <= beta holds with equality at the optimum
    assert np.linalg.norm(X.sum(0) - G.sum(0)) == pytest.approx(2.0, rel=1e-6)
    with pytest.raises(ValueError, match="rays"):
        convex.convex_solution(X, Z, "relu", 2.0)
    with pytest.raises(ValueError, match="linear, quadratic, polynomial, relu"):
        convex.convex_solution(X, Z, "tanh", 2.0)


def test_toy_comparison_scores_convex_and_gda_on_one_axis():
    X, Z, rays = convex.toy_problem(12, 6)
    table, fakes = convex.toy_comparison(X, Z, {"linear": 2.0, "quadratic": 4.0}, rays=rays, steps=3, lr=1e-2)
    assert list(table.activation) == ["linear", "quadratic"]
    # the convex solutions are feasible and their objective is (1/2)||G||_F^2 = the optimal value (Z = I)
    assert table["convex violation"].max() <= 1e-6
    assert table["convex objective"].tolist() == pytest.approx(
        [convex.linear_optimal_value(X, Z, 2.0), convex.quadratic_optimal_value(X, Z, 4.0)], rel=1e-6)
    assert fakes["quadratic"][0].shape == fakes["quadratic"][1].shape == (6, 2)


def test_compare_quadratic_closed_form_and_sdp_reach_the_optimum():
    X, Z, beta = convex.comparison_problem(40, 3, seed=2)
    np.testing.assert_allclose(Z.T @ Z, 40 * np.eye(3), atol=1e-9)  # whitened noise
    assert beta == pytest.approx(0.3 * np.linalg.svd(X, compute_uv=False)[1] ** 2)
    out = convex.compare_quadratic(X, Z, beta, steps=4, lr=1e-2, eval_every=2, seed=0, repeats=2)
    assert list(out.table.method) == ["closed form", "SDP (cvxpy)", "GDA, 4 steps"]
    closed, sdp = out.table.iloc[0], out.table.iloc[1]
    assert closed.objective == pytest.approx(out.optimum, rel=1e-9) and closed.violation <= 1e-9
    assert sdp.objective == pytest.approx(out.optimum, rel=1e-4) and sdp.violation <= 1e-4
    assert out.k == int((np.linalg.svd(X, compute_uv=False) ** 2 > beta).sum())
    assert list(out.gda.trajectory.step) == [0, 2, 4] and set(out.seconds) == {"closed form", "SDP", "GDA"}


def test_beta_sweep_soft_thresholds_the_spectrum():
    g = torch.Generator().manual_seed(0)
    scales = torch.tensor([3.0, 2.0, 1.0, 0.5, 0.2], dtype=torch.float64)
    X = torch.randn(60, 5, generator=g, dtype=torch.float64) * scales
    X = X - X.mean(0)
    out = convex.beta_sweep(X, [0.05, 0.5], noise_dim=5, seed=1)
    s2 = torch.linalg.svdvals(X) ** 2
    torch.testing.assert_close(out.sigma2, s2)
    for frac in (0.05, 0.5):
        torch.testing.assert_close(out.spectra[frac], (s2 - frac * s2[0]).clamp(min=0), rtol=0,
                                   atol=1e-8 * float(s2[0]))
    assert out.table["eig = (sigma^2 - beta)_+"].all()
    assert out.table.k.tolist() == [int((s2 > f * s2[0]).sum()) for f in (0.05, 0.5)]
    assert out.table.k.iloc[0] > out.table.k.iloc[1]
    assert out.fakes[0.5].shape == (60, 5)


def test_procogan_comparison_on_a_few_digits():
    config = dict(data="digits", resolutions=(2, 4, 8), ks=(2, 4, 6), noise_dim=4, gda_widths=(4, 4, 4),
                  feature="pixels")
    out = convex.procogan_comparison(config, steps=2, batch_size=16, lr=1e-3, betas=(0.0, 0.99), n_images=100,
                                     n_samples=30, device="cpu")
    assert out.name == "digits" and out.stages.resolution.tolist() == [2, 4, 8]
    assert out.stages.k.tolist() == [2, 4, 6]
    assert all(np.isfinite(out.scores[k]) for k in ["ProCoGAN FD", "progressive GDA FD", "real test FD (floor)"])
    pro, gda = out.samples
    assert [x.shape for x in pro] == [(8, 1, r, r) for r in (2, 4, 8)] == [x.shape for x in gda]


def test_procogan_comparison_scores_every_stage_of_both_methods():
    config = dict(data="digits", resolutions=(2, 4, 8), ks=(2, 4, 6), noise_dim=4, gda_widths=(4, 4, 4),
                  feature="pixels")
    out = convex.procogan_comparison(config, steps=2, batch_size=16, lr=1e-3, betas=(0.0, 0.99), n_images=100,
                                     n_samples=30, device="cpu", gp=0.0, drift=0.0)
    table = out.stage_scores
    assert table.groupby("method").resolution.apply(list).to_dict() == {"ProCoGAN": [2, 4, 8],
                                                                        "progressive GDA": [2, 4, 8]}
    assert np.isfinite(table.FD).all() and (table.FD >= 0).all()
    # the stage hook draws its own noise: the GDA run and its final score are those without the hook
    again = convex.procogan_comparison(config, steps=2, batch_size=16, lr=1e-3, betas=(0.0, 0.99), n_images=100,
                                       n_samples=30, device="cpu", gp=0.0, drift=0.0)
    assert again.scores["progressive GDA FD"] == out.scores["progressive GDA FD"]
    images = torch.as_tensor(np.zeros((100, 1, 8, 8)), dtype=torch.float32)
    plain = convex.progressive_gda(images, (2, 4, 8), 4, (4, 4, 4), steps=2, seed=0, gp=0.0, drift=0.0)
    seen = []
    hooked = convex.progressive_gda(images, (2, 4, 8), 4, (4, 4, 4), steps=2, seed=0, gp=0.0, drift=0.0,
                                    on_stage=lambda r, G: seen.append((r, len(G.layers))))
    assert seen == [(2, 1), (4, 2), (8, 3)]
    for a, b in zip(plain.generator.parameters(), hooked.generator.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_resize_keeps_the_range_and_constants():
    x = torch.rand(3, 1, 28, 28) * 2 - 1
    assert convex.resize(x, None) is x and convex.resize(x, 28) is x
    y = convex.resize(x, 32)
    assert y.shape == (3, 1, 32, 32) and y.min() >= -1 and y.max() <= 1
    flat = torch.full((2, 1, 28, 28), 0.25)
    torch.testing.assert_close(convex.resize(flat, 32), torch.full((2, 1, 32, 32), 0.25))


def test_procogan_on_mnist_resized_to_32(tmp_path, monkeypatch):
    """MNIST's code path (28x28 files, resized to 32 for the 4-8-16-32 stages, scored back at 28x28)
    on tiny fake MNIST files in the real format: no real data needed."""
    from fake_datasets import write_mnist

    monkeypatch.setenv("GANCORE_DATA", str(write_mnist(tmp_path / "data", n_train=120, n_test=40)))
    monkeypatch.setenv("GANCORE_CACHE", str(tmp_path / "cache"))
    config = dict(data="mnist", size=32, resolutions=(4, 8, 16, 32), ks=(2, 4, 8, 12), noise_dim=4,
                  gda_widths=(4, 4, 4, 4), feature="pixels")
    out = convex.procogan_comparison(config, steps=2, batch_size=16, lr=1e-3, betas=(0.0, 0.99), n_images=None,
                                     n_samples=40, device="cpu")
    assert out.stages.resolution.tolist() == [4, 8, 16, 32]
    assert [x.shape[-1] for x in out.samples[0]] == [4, 8, 16, 32]
    assert all(np.isfinite(out.scores[k]) for k in ["ProCoGAN FD", "progressive GDA FD", "real test FD (floor)"])
    assert len(out.stage_scores) == 8


def test_procogan_runs_is_the_sweep_experiment():
    from gancore import profiles, sweep

    P = profiles.get("convex_wgan", "quick", {"gda": {"stage": {"steps": 2}}, "n_samples": 30,
                                               "decisive": {"data": ["digits"]}})
    tables = convex.procogan_runs(P, [0, 1])
    assert tables["scores"].seed.tolist() == [0, 1] and set(tables["scores"].data) == {"digits"}
    assert len(tables["stages"]) == 2 * 2 * 3 and set(tables["stages"].seed) == {0, 1}
    assert sweep.EXPERIMENTS["convex_wgan.procogan"].seed_steps(P, 2) == 2 * 2 * 3
    with pytest.raises(ValueError, match="decisive.data"):
        convex.procogan_runs(profiles.get("convex_wgan", "quick", {"decisive": {"data": ["cifar10"]}}), [0])
