"""GDA baselines for the convex-duality WGAN: the game's pieces, its scores on the convex module's axis,
and the progressive baseline's frozen stages."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from gancore import convex as cv
from gancore import losses
from gancore.convex import gda as cg


@pytest.fixture
def toy():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((10, 2)) @ np.array([[1.0, 0.0], [0.5, 0.5]]) + np.array([1.0, 0.5])
    G = rng.standard_normal((6, 2))
    return X, G


def test_sum_wasserstein_with_unit_quadratic_discriminator_is_the_dual_quadratic_form(toy):
    X, G = toy
    D = cg.TwoLayerDiscriminator(2, 3, "quadratic")
    with torch.no_grad():
        D.u.mul_(torch.tensor([2.0, 0.5, 3.0]))  # normalisation removes any column scale
    Xt, Gt = torch.tensor(X, dtype=torch.float32), torch.tensor(G, dtype=torch.float32)
    U = D.directions().detach().double().numpy()
    np.testing.assert_allclose(np.linalg.norm(U, axis=0), 1.0, rtol=1e-6)
    gap = np.einsum("dj,de,ej->j", U, X.T @ X - G.T @ G, U)  # u_j^T (X^T X - G^T G) u_j
    expected = -(D.v.detach().double().numpy() @ gap)
    loss = cg.SumWasserstein.d(D(Xt), D(Gt))
    assert float(loss.detach()) == pytest.approx(expected, rel=1e-5)
    with torch.no_grad():
        assert float(cg.SumWasserstein.g(D(Gt))) == pytest.approx(-float(D(Gt).sum()), rel=1e-6)


@pytest.mark.parametrize("activation,sigma", [("linear", lambda t: t), ("relu", lambda t: np.maximum(t, 0)),
                                              ("polynomial", lambda t: 2 * t ** 2 - t + 0.5)])
def test_discriminator_activations(toy, activation, sigma):
    X, _ = toy
    D = cg.TwoLayerDiscriminator(2, 4, activation, coefficients=(2.0, -1.0, 0.5))
    U, v = D.directions().detach().double().numpy(), D.v.detach().double().numpy()
    out = D(torch.tensor(X, dtype=torch.float32)).detach().double().numpy()
    np.testing.assert_allclose(out[:, 0], sigma(X @ U) @ v, rtol=1e-5, atol=1e-6)


def test_fixed_noise_generator_ignores_its_input():
    Z = torch.randn(7, 3)
    G = cg.FixedNoiseLinear(Z, 2)
    torch.testing.assert_close(G(torch.randn(128, 1)), Z @ G.W)
    assert G(None).shape == (7, 2)


def test_polynomial_constraint_value_reduces_to_the_quadratic_and_linear_ones(toy):
    X, G = toy
    assert cg.polynomial_constraint_value(X, G, (1.0, 0.0, 0.0)) == pytest.approx(
        cv.constraint_value(X, G, "quadratic"), rel=1e-6)
    assert cg.polynomial_constraint_value(X, G, (0.0, 1.0, 0.0)) == pytest.approx(
        cv.constraint_value(X, G, "linear"), rel=1e-6)


def test_gda_trajectory_is_scored_on_the_convex_axis(toy):
    X, _ = toy
    Z = np.random.default_rng(1).standard_normal((10, 3))
    beta = 5.0
    result = cg.gda_fit(X, Z, beta, beta_g=2.0, activation="quadratic", steps=4, eval_every=2, seed=3)
    assert list(result.trajectory.step) == [0, 2, 4]
    last = result.trajectory.iloc[-1]
    assert last.objective == pytest.approx(cv.wgan_objective(result.W, beta_g=2.0), rel=1e-6)
    assert last.violation == pytest.approx(cv.constraint_violation(X, Z @ result.W, beta), rel=1e-6)
    np.testing.assert_allclose(result.G, Z @ result.W, rtol=1e-6, atol=1e-7)  # Z is stored in float32
    again = cg.gda_fit(X, Z, beta, beta_g=2.0, activation="quadratic", steps=4, eval_every=2, seed=3)
    np.testing.assert_array_equal(again.W, result.W)  # seeded: initialisation and updates repeat exactly


def test_gda_on_the_linear_problem_reaches_the_closed_form():
    # linear D + linear G: the Lagrangian is convex in W and the duality gap closes under GDA
    rng = np.random.default_rng(2)
    X = rng.standard_normal((20, 2)) + np.array([1.0, -0.5])
    Z = np.eye(20)[:, :5] + 0.2  # Z^T 1 != 0, so the fake mean can move
    beta = 4.0
    optimum = cv.linear_optimal_value(X, Z, beta)
    result = cg.gda_fit(X, Z, beta, activation="linear", steps=600, lr_G=1e-2, lr_D=1e-2, eval_every=600)
    last = result.trajectory.iloc[-1]
    assert last.objective == pytest.approx(optimum, rel=0.05)
    assert last.violation == pytest.approx(0.0, abs=0.05)


def test_time_to_target():
    trajectory = pd.DataFrame({"step": [0, 1, 2, 3], "seconds": [0.0, 1.0, 2.0, 3.0],
                               "objective": [0.0, 1.2, 1.005, 1.0], "violation": [5.0, 0.0, 0.02, 0.0]})
    assert cg.time_to_target(trajectory, 1.0) == 3.0  # step 2 is close in objective but infeasible
    assert cg.time_to_target(trajectory, 1.0, max_violation=0.05) == 2.0
    assert cg.time_to_target(trajectory.iloc[:2], 1.0) is None


def test_gradient_penalty_of_a_linear_critic():
    D = torch.nn.Linear(3, 1, bias=False)
    with torch.no_grad():
        D.weight.copy_(torch.tensor([[2.0, 0.0, 0.0]]))
    real, fake = torch.randn(5, 3), torch.randn(5, 3)
    assert float(losses.gradient_penalty(D, real, fake, lam=10.0).detach()) == pytest.approx(10.0 * (2.0 - 1.0) ** 2)
    drift = 1e-3 * float(D(real).detach().square().mean())
    value = float(losses.gradient_penalty(D, real, fake, lam=10.0, drift=1e-3).detach())
    assert value == pytest.approx(10.0 + drift, rel=1e-6)


def test_gradient_penalty_draws_its_weights_from_the_given_cpu_generator():
    # a critic with a non-constant gradient, so the penalty depends on where x_hat falls
    D = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    real, fake = torch.randn(6, 3), torch.randn(6, 3)
    global_state = torch.get_rng_state()
    first = losses.gradient_penalty(D, real, fake, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(torch.get_rng_state(), global_state)  # the global generator is not touched
    again = losses.gradient_penalty(D, real, fake, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(first, again, rtol=0, atol=0)
    e = torch.rand(6, 1, generator=torch.Generator().manual_seed(5))  # the weights, by hand
    x_hat = (e * real + (1 - e) * fake).requires_grad_(True)
    grad, = torch.autograd.grad(D(x_hat).sum(), x_hat)
    torch.testing.assert_close(first.detach(), 10.0 * (grad.norm(dim=1) - 1).square().mean())


def test_progressive_generator_starts_each_stage_from_the_upsampled_coarse_image():
    G = cg.ProgressiveLinearGenerator((2, 4), channels=1, noise_dim=3, noise_init=0.0)
    G.add_stage()
    z = torch.randn(5, 6)
    coarse = G(z[:, :3])
    G.add_stage()
    assert not any(p.requires_grad for p in G.layers[0].parameters())
    torch.testing.assert_close(G(z), cv.upsample(coarse, 4))
    with pytest.raises(RuntimeError, match="already built"):
        G.add_stage()


def test_progressive_gda_keeps_earlier_stages_frozen():
    images = torch.rand(40, 1, 4, 4) * 2 - 1
    result = cg.progressive_gda(images, (2, 4), noise_dim=3, widths=(4, 8), steps=(3, 2), batch_size=8, seed=0)
    assert list(result.stages.resolution) == [2, 4] and list(result.stages.steps) == [3, 2]
    assert set(result.snapshots) == {2, 4} and result.snapshots[2].shape == (16, 1, 2, 2)
    # stage 1's weights as they were when its training ended reproduce its snapshot
    stage1 = result.generator.layers[0]
    fixed = torch.randn(16, 6, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(stage1(fixed[:, :3]).clamp(-1, 1).reshape(16, 1, 2, 2), result.snapshots[2])
    samples = result.sample(5, generator=torch.Generator().manual_seed(1))
    assert samples.shape == (5, 1, 4, 4) and samples.abs().max() <= 1
    assert result.seconds == pytest.approx(float(result.stages.seconds.sum()))
