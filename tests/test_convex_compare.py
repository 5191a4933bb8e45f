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
