"""Convex-duality WGAN: closed forms against cvxpy, the constraints at the optimum, ProCoGAN's stages."""

import math

import numpy as np
import pytest
import torch

from gancore import convex as cv
from gancore import data

BETA = 10.0


@pytest.fixture
def problem():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((12, 4)) @ np.diag([3.0, 2.0, 1.0, 0.5])  # sigma^2 spread around BETA
    Z = rng.standard_normal((9, 5))
    return X, Z


def circle(n=20_000):
    angles = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([np.cos(angles), np.sin(angles)])  # 2 x n unit directions


# ---------------------------------------------------------------- closed forms

def test_quadratic_closed_form_soft_thresholds_and_is_tight(problem):
    X, Z = problem
    G = Z @ cv.quadratic_closed_form(X, Z, BETA)
    sigma = np.linalg.svd(X, compute_uv=False)
    assert (sigma ** 2 > BETA).sum() == 3  # a genuine threshold: some components kept, some dropped
    np.testing.assert_allclose(np.linalg.eigvalsh(G.T @ G)[::-1], np.clip(sigma ** 2 - BETA, 0, None), atol=1e-10)
    assert cv.constraint_value(X, G) == pytest.approx(BETA, rel=1e-12)  # ||X^T X - G^T G||_2 = beta
    assert cv.constraint_violation(X, G, BETA) == pytest.approx(0.0, abs=1e-12)


def test_optimal_value_formula(problem):
    X, Z = problem
    W = cv.quadratic_closed_form(X, Z, BETA)
    sigma, D = np.linalg.svd(X, compute_uv=False), np.linalg.svd(Z, compute_uv=False)
    expected = 3.0 / 2 * ((sigma[:3] ** 2 - BETA) / D[:3] ** 2).sum()
    assert cv.quadratic_optimal_value(X, Z, BETA, beta_g=3.0) == pytest.approx(expected, rel=1e-12)
    assert cv.wgan_objective(W, beta_g=3.0) == pytest.approx(expected, rel=1e-12)


def test_closed_form_gram_matches_sdp_for_any_noise(problem):
    X, Z = problem
    G = Z @ cv.quadratic_closed_form(X, Z, BETA)
    result = cv.quadratic_sdp(X, BETA)
    np.testing.assert_allclose(result["K"], G.T @ G, rtol=0, atol=1e-6 * np.abs(G.T @ G).max())


def test_closed_form_value_matches_sdp_for_orthonormal_noise(problem):
    X, _ = problem
    Z = np.linalg.qr(np.random.default_rng(1).standard_normal((9, 5)))[0]  # Z^T Z = I: ||W||_F = ||G||_F
    assert cv.quadratic_sdp(X, BETA, beta_g=2.0)["value"] == pytest.approx(
        cv.quadratic_optimal_value(X, Z, BETA, beta_g=2.0), rel=1e-7)


def test_closed_form_beats_other_feasible_generators(problem):
    # any G = Z W with G^T G = V diag(l) V^T, l >= (sigma^2 - beta)_+, is feasible; its weight decay is larger
    X, Z = problem
    _, sigma, Vt = np.linalg.svd(X, full_matrices=False)
    _, D, Qt = np.linalg.svd(Z, full_matrices=False)
    best = cv.quadratic_optimal_value(X, Z, BETA)
    rng = np.random.default_rng(2)
    for _ in range(5):
        lam = np.clip(sigma ** 2 - BETA, 0, None) + rng.uniform(0, 1, 4)
        R = np.linalg.qr(rng.standard_normal((4, 4)))[0]  # which noise direction drives which component
        W = Qt[:4].T @ np.diag(1 / D[:4]) @ R @ np.diag(np.sqrt(lam)) @ Vt
        assert cv.constraint_violation(X, Z @ W, BETA) == pytest.approx(0.0, abs=1e-9)
        assert cv.wgan_objective(W) > best


def test_closed_form_returns_the_kind_it_was_given(problem):
    X, Z = problem
    W_np = cv.quadratic_closed_form(X, Z, BETA)
    W_t = cv.quadratic_closed_form(torch.tensor(X, dtype=torch.float32), torch.tensor(Z, dtype=torch.float32), BETA)
    assert isinstance(W_np, np.ndarray) and W_np.shape == (5, 4)
    assert isinstance(W_t, torch.Tensor) and W_t.dtype == torch.float32
    torch.testing.assert_close(W_t, torch.tensor(W_np, dtype=torch.float32), rtol=1e-4, atol=1e-5)


def test_closed_form_errors(problem):
    X, Z = problem
    with pytest.raises(ValueError, match="Invalid discriminator weight decay beta: 0"):
        cv.quadratic_closed_form(X, Z, 0.0)
    with pytest.raises(ValueError, match="Invalid discriminator weight decay beta: -1"):
        cv.linear_closed_form(X, Z, -1.0)
    with pytest.raises(ValueError, match=r"rank\(Z\) >= k = 3.*rank\(Z\) = 2.*at least 3 dimensions"):
        cv.quadratic_closed_form(X, Z[:, :2], BETA)
    with pytest.raises(ValueError, match="zero column sums"):
        cv.linear_closed_form(X, Z - Z.mean(0), 1.0)
    with pytest.raises(ValueError, match="Unknown activation 'tanh'"):
        cv.constraint_value(X, X, "tanh")


def test_package_exports_and_public_check_beta():
    from gancore.convex import check_beta, closed_form, quadratic_closed_form

    assert quadratic_closed_form is closed_form.quadratic_closed_form is cv.quadratic_closed_form
    assert {"ProCoGAN", "gda_fit", "hyperplane_arrangement", "quadratic_sdp"} <= set(cv.__all__)
    check_beta(1e-12)
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="Invalid generator weight decay beta_g"):
            check_beta(bad, "generator weight decay beta_g")


@pytest.mark.parametrize("argument", ["X", "Z"])
@pytest.mark.parametrize("value", [np.inf, np.nan])
def test_closed_forms_name_the_argument_with_non_finite_entries(problem, argument, value):
    X, Z = (a.copy() for a in problem)
    (X if argument == "X" else Z)[2, 1] = value
    message = rf"^{argument} holds non-finite entries \(inf or NaN\): 1 of \d+, the first at index \(2, 1\)"
    for solve in (cv.quadratic_closed_form, cv.linear_closed_form, cv.quadratic_optimal_value,
                  cv.linear_optimal_value):
        with pytest.raises(ValueError, match=message):
            solve(X, Z, BETA)
    with pytest.raises(ValueError, match=message):
        solve(torch.tensor(X), torch.tensor(Z), BETA)  # tensors too
    if argument == "X":
        with pytest.raises(ValueError, match=message):
            cv.quadratic_sdp(X, BETA)
        with pytest.raises(ValueError, match=message):
            cv.constraint_value(X, Z[:, :4], "quadratic")


def test_programs_and_procogan_name_non_finite_inputs(problem):
    X, Z = problem
    G0 = X[:4].copy()
    G0[0, 0] = np.nan
    with pytest.raises(ValueError, match="^G0 holds non-finite entries"):
        cv.relu_program(X, G0, BETA)
    with pytest.raises(ValueError, match="^G holds non-finite entries"):
        cv.relu_constraint_value(X, G0)
    with pytest.raises(ValueError, match="^target holds non-finite entries"):
        cv.relu_generator_fit(Z, np.full((9, 2), np.inf), lam=0.1)
    images = torch.rand(30, 1, 4, 4) * 2 - 1
    images[3, 0, 1, 2] = float("nan")  # passes a plain range check (nan > 1 is False)
    with pytest.raises(ValueError, match=r"^images holds non-finite entries .* index \(3, 0, 1, 2\)"):
        cv.ProCoGAN((2, 4), (2, 3), noise_dim=8).fit(images)


def test_linear_closed_form_matches_socp(problem):
    X, Z = problem
    W = cv.linear_closed_form(X, Z, 1.0)
    result = cv.linear_socp(X, Z, 1.0, beta_g=2.0)
    np.testing.assert_allclose(result["W"], W, atol=1e-7)
    assert result["value"] == pytest.approx(cv.linear_optimal_value(X, Z, 1.0, beta_g=2.0), rel=1e-7)
    m = X.sum(0)
    np.testing.assert_allclose((Z @ W).sum(0), m * (1 - 1.0 / np.linalg.norm(m)), atol=1e-12)  # shrunk sum
    assert cv.constraint_value(X, Z @ W, "linear") == pytest.approx(1.0, rel=1e-12)


def test_constraint_violation_is_relative(problem):
    X, _ = problem
    sigma1 = np.linalg.svd(X, compute_uv=False)[0]
    assert cv.constraint_violation(X, np.zeros((3, 4)), BETA) == pytest.approx(sigma1 ** 2 / BETA - 1, rel=1e-12)


# ---------------------------------------------------------------- polynomial activation (S-lemma SDP)

def test_polynomial_sdp_with_quadratic_activation_is_the_closed_form(problem):
    X, Z = problem
    G = Z @ cv.quadratic_closed_form(X, Z, BETA)
    result = cv.polynomial_sdp(X, 9, BETA, coefficients=(1.0, 0.0, 0.0))
    np.testing.assert_allclose(np.linalg.eigvalsh(result["K"]), np.linalg.eigvalsh(G.T @ G), atol=1e-5)
    np.testing.assert_allclose(result["K"], G.T @ G, atol=1e-5 * np.abs(G.T @ G).max())


def test_polynomial_sdp_with_linear_activation_is_mean_matching(problem):
    X, _ = problem
    result = cv.polynomial_sdp(X, 9, 1.0, coefficients=(0.0, 1.0, 0.0))
    W = cv.linear_closed_form(X, np.eye(9), 1.0)  # Z = I: a free generator, G = W
    np.testing.assert_allclose(result["G"].sum(0), W.sum(0), rtol=1e-5, atol=1e-4)  # SDP primal accuracy
    assert result["value"] == pytest.approx(cv.linear_optimal_value(X, np.eye(9), 1.0), rel=1e-6)


def test_polynomial_sdp_solution_satisfies_the_sphere_constraint():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((6, 2)) + [1.0, -0.5]
    a, b, c, beta = 1.0, 2.0, 0.5, 3.0
    result = cv.polynomial_sdp(X, 5, beta, coefficients=(a, b, c))
    G = result["G"]
    assert result["exact"]
    np.testing.assert_allclose(G.T @ G, result["K"], atol=1e-6)
    U = circle()
    q = lambda A: (a * (A @ U) ** 2 + b * (A @ U) + c).sum(0)
    assert np.abs(q(X) - q(G)).max() == pytest.approx(beta, rel=1e-4)  # feasible and tight (G = 0 is not)


# ---------------------------------------------------------------- ReLU: arrangements and programs

@pytest.mark.parametrize("n, d", [(7, 2), (6, 3)])
def test_enumerated_arrangement_has_the_general_position_count(n, d):
    A = np.random.default_rng(n).standard_normal((n, d))
    patterns, info = cv.hyperplane_arrangement(A)
    expected = 2 * sum(math.comb(n - 1, i) for i in range(d))
    assert info["method"] == "enumerated" and info["n_patterns"] == len(patterns) == expected == info["bound"]
    assert len({tuple(p) for p in patterns}) == expected
    sampled, sinfo = cv.hyperplane_arrangement(A, n_samples=2000, seed=1)
    assert sinfo["method"] == "sampled" and sinfo["n_samples"] == 2000 and sinfo["seed"] == 1
    assert {tuple(p) for p in sampled} <= {tuple(p) for p in patterns}


def test_relu_constraint_value_matches_dense_directions():
    rng = np.random.default_rng(4)
    X, G = rng.standard_normal((4, 2)) + [1.0, 0.0], rng.standard_normal((3, 2))
    value, info = cv.relu_constraint_value(X, G)
    U = circle()
    dense = np.abs(np.maximum(X @ U, 0).sum(0) - np.maximum(G @ U, 0).sum(0)).max()
    assert info["method"] == "enumerated"
    assert value == pytest.approx(dense, rel=1e-4)  # the grid (spacing 3e-4 rad) misses the kink by ~1e-6


def test_relu_program_solution_satisfies_its_constraint():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((4, 2)) + [1.0, 0.5]
    angles = np.arange(6) * np.pi / 3 + 0.1
    G0 = np.stack([np.cos(angles), np.sin(angles)], 1)  # six fake directions
    beta = 0.3 * cv.relu_constraint_value(X, np.zeros((1, 2)))[0]  # G = 0 is infeasible
    result = cv.relu_program(X, G0, beta)
    G = result["G"]
    assert result["arrangement"]["method"] == "enumerated"
    assert result["t"].min() >= -1e-7  # rows of G stay on the rays of G0
    assert cv.relu_constraint_value(X, G)[0] == pytest.approx(beta, rel=1e-5)  # feasible and tight
    U = circle()
    dense = np.abs(np.maximum(X @ U, 0).sum(0) - np.maximum(G @ U, 0).sum(0)).max()
    assert dense == pytest.approx(beta, rel=1e-4)
    assert result["value"] == pytest.approx(0.5 * (G ** 2).sum(), rel=1e-6)


def test_relu_generator_fit_is_a_relu_network():
    rng = np.random.default_rng(6)
    Z = np.c_[rng.standard_normal((6, 2)), np.ones(6)]  # ones column: first-layer bias
    target = rng.standard_normal((6, 2))
    result = cv.relu_generator_fit(Z, target, lam=0.1)
    W1, W2 = result["W1"], result["W2"]
    np.testing.assert_allclose(np.maximum(Z @ W1, 0) @ W2, result["fit"], atol=1e-6)
    assert 0.5 * ((W1 ** 2).sum() + (W2 ** 2).sum()) == pytest.approx(result["regularizer"], rel=1e-6)
    residual = 0.5 * ((result["G"] - target) ** 2).sum()
    assert result["value"] == pytest.approx(residual + 0.1 * result["regularizer"], rel=1e-6)


# ---------------------------------------------------------------- ProCoGAN

def test_procogan_stages_on_digits():
    images = data.as_tensor(data.load("digits"))
    model = cv.ProCoGAN((2, 4, 8), (3, 8, 16), noise_dim=8, seed=0).fit(images)
    n = len(images)
    assert [s.data_shape for s in model.stages] == [(n, 4), (n, 16), (n, 64)]
    assert [s.input_shape for s in model.stages] == [(n, 8), (n, 16 + 8), (n, 64 + 8)]
    assert [s.input_rank for s in model.stages] == [8, 3 + 8, 8 + 8]  # fresh noise: rank k_{i-1} + noise_dim
    assert [s.k for s in model.stages] == [3, 8, 16]
    for s in model.stages:
        assert s.constraint == pytest.approx(s.beta, rel=1e-10)
        largest, smallest = s.used_singular_values
        assert smallest / largest > 1e-3  # no division by round-off singular values (eps = 2.2e-16)
    samples = model.sample(5, generator=torch.Generator().manual_seed(1))
    again = model.sample(5, generator=torch.Generator().manual_seed(1))
    assert samples.shape == (5, 1, 8, 8) and samples.dtype == torch.float32
    assert samples.min() >= -1 and samples.max() <= 1
    torch.testing.assert_close(samples, again)


def test_procogan_fresh_samples_reproduce_the_thresholded_spectrum():
    rng = np.random.default_rng(7)
    basis = rng.standard_normal((6, 16)) * np.linspace(1, 0.2, 6)[:, None]
    images = 0.1 * (rng.standard_normal((400, 6)) @ basis + 0.05 * rng.standard_normal((400, 16)))
    images = torch.tensor(images.reshape(400, 1, 4, 4))
    model = cv.ProCoGAN((2, 4), (3, 5), noise_dim=3, seed=0).fit(images)
    X = images.reshape(400, -1).double()
    X = X - X.mean(0)
    expected = (torch.linalg.svdvals(X) ** 2 - model.stages[-1].beta).clamp(min=0)[:5] / 400
    samples = model.sample(20_000, generator=torch.Generator().manual_seed(0)).reshape(20_000, -1).double()
    samples = samples - images.reshape(400, -1).mean(0)
    fresh = torch.linalg.eigvalsh(samples.T @ samples / 20_000).flip(0)[:5]
    torch.testing.assert_close(fresh, expected, rtol=0.05, atol=1e-6)


def test_procogan_faces_with_non_power_of_two_stages_and_histogram_matching():
    images = data.as_tensor(data.load("faces"))
    model = cv.ProCoGAN((7, 13, 25), (5, 10, 20), noise_dim=10, seed=0, histogram_matching=True).fit(images)
    assert [s.data_shape[1] for s in model.stages] == [49, 169, 625]
    assert [s.input_rank for s in model.stages] == [10, 15, 20]
    samples = model.sample(4, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (4, 1, 25, 25)
    # each sample's pixel quantiles become those of the pooled real pixels (all 80 faces are the reference)
    levels = torch.tensor([0.1, 0.5, 0.9])
    for sample in samples:
        torch.testing.assert_close(sample.flatten().quantile(levels), images.flatten().quantile(levels),
                                   rtol=0, atol=0.01)


def test_procogan_errors():
    with pytest.raises(ValueError, match=r"Stage 2 keeps k = 12 .* use noise_dim >= 9"):
        cv.ProCoGAN((2, 4), (3, 12), noise_dim=8)
    with pytest.raises(ValueError, match="increasing"):
        cv.ProCoGAN((4, 2), (1, 2), noise_dim=8)
    images = torch.rand(30, 1, 4, 4) * 2 - 1
    with pytest.raises(ValueError, match="has rank 4, so k = 4"):
        cv.ProCoGAN((2, 4), (4, 5), noise_dim=8).fit(images)
    with pytest.raises(ValueError, match=r"Expected images of shape \(N, C, 8, 8\)"):
        cv.ProCoGAN((4, 8), (2, 3), noise_dim=8).fit(images)
    with pytest.raises(RuntimeError, match="before fit"):
        cv.ProCoGAN((2, 4), (2, 3), noise_dim=8).sample(3)


def test_procogan_samples_per_stage_are_the_earlier_stages_output():
    images = data.as_tensor(data.load("digits"))[:300]
    model = cv.ProCoGAN((2, 4, 8), (3, 8, 16), noise_dim=8, seed=0).fit(images)
    coarse = model.sample(6, generator=torch.Generator().manual_seed(2), stage=1)
    assert coarse.shape == (6, 1, 2, 2)
    # the first stage draws the first noise block, so the same generator seed gives the same coarse images
    full = cv.ProCoGAN((2,), (3,), noise_dim=8, seed=0).fit(cv.downsample(images.double(), 2).float())
    torch.testing.assert_close(coarse, full.sample(6, generator=torch.Generator().manual_seed(2)))
    with pytest.raises(ValueError, match="Invalid stage 4"):
        model.sample(2, stage=4)


def test_profile_procogan_settings_are_valid():
    # the paper's CelebA truncations need noise_dim >= 175 - 100 = 75 with fresh noise per stage
    from gancore import profiles

    for profile in profiles.PROFILES:
        for cfg in profiles.get("convex_wgan", profile).procogan:
            cv.ProCoGAN(cfg["resolutions"], cfg["ks"], noise_dim=cfg["noise_dim"])
    paper, = [c for c in profiles.get("convex_wgan", "paper").procogan if c["data"] == "celeba"]
    assert paper["ks"] == (20, 30, 40, 100, 175) and paper["noise_dim"] == 75
    with pytest.raises(ValueError, match="use noise_dim >= 75"):
        cv.ProCoGAN(paper["resolutions"], paper["ks"], noise_dim=74)


@pytest.mark.parametrize("n_x, n_g, d", [(5, 3, 40), (30, 20, 12), (1, 1, 9)])
def test_second_moment_gap_in_the_span_of_the_samples_equals_the_full_spectrum(n_x, n_g, d):
    g = torch.Generator().manual_seed(n_x + d)
    X = torch.randn(n_x, d, generator=g, dtype=torch.float64)
    G = torch.randn(n_g, d, generator=g, dtype=torch.float64)
    full = float(torch.linalg.eigvalsh(X.T @ X - G.T @ G).abs().max())
    assert cv.second_moment_gap(X, G) == pytest.approx(full, rel=1e-10)
