"""Tests for gancore.games: pseudogradients against closed forms, known solutions, monotonicity,
the natural residual, and the run() driver (simultaneity, counting, averaging, projections)."""

import functools
import math

import pytest
import torch
from torch.testing import assert_close

from gancore.games import BilinearGame, DiracGAN, StochasticBilinearGame, WGAN1D, run
from gancore.solvers import SRFB, ExtraGradient, batch_schedule

PHI = (1 + 5 ** 0.5) / 2
f64 = functools.partial(torch.tensor, dtype=torch.float64)


def bilinear(seed: int = 0, n: int = 4, box=None) -> BilinearGame:
    return BilinearGame.random(n, torch.Generator().manual_seed(seed), box=box)


# --------------------------------------------------------------------------- pseudogradients and Jacobians

def test_bilinear_pseudogradient_and_jacobian_closed_form():
    g = bilinear(n=3)
    x, y = torch.randn(3, dtype=torch.float64), torch.randn(3, dtype=torch.float64)
    Fx, Fy = g.pseudogradient(x, y)
    assert_close(Fx, g.A @ y + g.b)  # grad_x f
    assert_close(Fy, -(g.A.T @ x + g.c))  # grad_y (-f): the max player's own cost
    zero = torch.zeros(3, 3, dtype=torch.float64)
    J = torch.cat([torch.cat([zero, g.A], 1), torch.cat([-g.A.T, zero], 1)])
    assert_close(g.jacobian(x, y), J)


def test_bilinear_solution_and_residual():
    g = bilinear(n=5)
    x_star, y_star = g.solution()
    for F in g.pseudogradient(x_star, y_star):
        assert_close(F, torch.zeros_like(F))
    assert g.residual(x_star, y_star) == pytest.approx(0.0, abs=1e-12)
    assert g.distance(x_star, y_star) == pytest.approx(0.0, abs=1e-12)
    x0, y0 = g.x.detach(), g.y.detach()
    assert g.distance() == pytest.approx(torch.cat([x0 - x_star, y0 - y_star]).norm().item())
    # unconstrained: the natural residual is ||F(z)||
    assert g.residual() == pytest.approx(torch.cat(g.pseudogradient(x0, y0)).norm().item())


def test_dirac_gan_logistic_field_closed_form():
    """F = (psi phi'(psi theta), -theta phi'(psi theta)) with phi(t) = -log(1 + e^-t), phi'(t) = sigmoid(-t)."""
    g = DiracGAN("logistic")
    theta, psi = f64([0.7]), f64([-1.3])
    d = torch.sigmoid(-psi * theta)
    Fx, Fy = g.pseudogradient(theta, psi)
    assert_close(Fx, psi * d)
    assert_close(Fy, -theta * d)


def test_wgan1d_minibatch_field_closed_form():
    g = WGAN1D()
    theta, phi = f64([0.4]), f64([-0.9])
    u, z = g.sample(16, torch.Generator().manual_seed(0))
    Fx, Fy = g.pseudogradient(theta, phi, (u, z))
    assert_close(Fx, -phi)  # the generator's block is exact
    assert_close(Fy, -(u.mean() - z.mean() - theta).reshape(1))
    Ex, Ey = g.pseudogradient(theta, phi)  # expectation: f = -theta phi
    assert_close(Ex, -phi)
    assert_close(Ey, theta)


def test_chavdarova_game_solution_is_a_zero_of_f():
    g = StochasticBilinearGame(d=100, generator=torch.Generator().manual_seed(0))
    x_star, y_star = g.solution()
    assert_close(x_star, -100 * g.b.mean(0))  # x* = -Mbar^{-T} bbar with Mbar = I/n
    for F in g.pseudogradient(x_star, y_star):
        assert_close(F, torch.zeros_like(F), rtol=0, atol=1e-12)
    # a batch holding every index once is the exact expectation
    x, y = torch.randn(100, dtype=torch.float64), torch.randn(100, dtype=torch.float64)
    for full, exact in zip(g.pseudogradient(x, y, torch.randperm(100)), g.pseudogradient(x, y)):
        assert_close(full, exact)


# --------------------------------------------------------------------------- monotonicity

def test_monotone_games_have_psd_symmetric_jacobian():
    gen = torch.Generator().manual_seed(0)
    assert bilinear().is_monotone(generator=gen)
    assert DiracGAN("wasserstein", clip=1.0).is_monotone(generator=gen)
    assert WGAN1D().is_monotone(generator=gen)


def test_logistic_dirac_gan_is_not_monotone_away_from_zero():
    """Symmetric Jacobian diag(psi^2 phi''(t), -theta^2 phi''(t)), t = psi theta,
    phi''(t) = -sigmoid(t) sigmoid(-t) < 0."""
    g = DiracGAN("logistic")
    theta, psi = f64([2.0]), f64([0.5])
    t = torch.tensor(1.0)
    expected = min(psi.item() ** 2 * -(torch.sigmoid(t) * torch.sigmoid(-t)).item(),
                   -theta.item() ** 2 * -(torch.sigmoid(t) * torch.sigmoid(-t)).item())
    assert g.monotonicity(theta, psi) == pytest.approx(expected)
    assert not g.is_monotone([(theta, psi)])
    assert g.is_monotone([(f64([0.0]), f64([0.0]))])  # at the solution the symmetric part is 0


# --------------------------------------------------------------------------- the driver

def test_run_gda_step_is_simultaneous():
    """One SGD step from run(): both blocks of F taken at the old point."""
    g = bilinear(seed=1)
    x0, y0 = g.x.detach().clone(), g.y.detach().clone()
    Fx, Fy = g.pseudogradient(x0, y0)
    run(g, lambda groups: torch.optim.SGD(groups, lr=0.2), steps=1)
    assert_close(g.x.detach(), x0 - 0.2 * Fx)
    assert_close(g.y.detach(), y0 - 0.2 * Fy)


def test_run_counts_gradient_evaluations_and_samples():
    schedule = functools.partial(batch_schedule, S0=2, k0=1, a=0.5, cap=50)
    sizes = [schedule(k) for k in range(6)]
    srfb = run(WGAN1D(), lambda gr: SRFB(gr, lr=0.3, delta=0.7), 6, schedule=schedule,
               generator=torch.Generator().manual_seed(0))
    eg = run(WGAN1D(), lambda gr: ExtraGradient(gr, lr=0.3), 6, schedule=schedule,
             generator=torch.Generator().manual_seed(0))
    assert srfb.grad_evals == list(range(7))
    assert eg.grad_evals == [2 * k for k in range(7)]
    assert srfb.samples == [sum(sizes[:k]) for k in range(7)]
    assert eg.samples == [2 * sum(sizes[:k]) for k in range(7)]
    assert srfb.distance[0] == pytest.approx(math.sqrt(2))  # start (1, 1), solution (0, 0)


def test_run_average_is_the_mean_of_the_iterates():
    g = bilinear(seed=2)
    lr, steps = 0.2, 5
    x, y = g.x.detach().clone(), g.y.detach().clone()
    xs, ys = [x], [y]
    for _ in range(steps):
        Fx, Fy = g.pseudogradient(x, y)
        x, y = x - lr * Fx, y - lr * Fy
        xs.append(x), ys.append(y)
    out = run(g, lambda groups: torch.optim.SGD(groups, lr=lr), steps, average=True)
    for k in range(steps + 1):
        x_avg, y_avg = torch.stack(xs[:k + 1]).mean(0), torch.stack(ys[:k + 1]).mean(0)
        assert out.avg_distance[k] == pytest.approx(g.distance(x_avg, y_avg))
        assert out.avg_residual[k] == pytest.approx(g.residual(x_avg, y_avg))


def test_srfb_solves_box_constrained_bilinear_game_on_the_boundary():
    """With a box that excludes the unconstrained solution the VI solution is on the boundary:
    no closed form (distance NaN) but the natural residual goes to 0, and iterates stay in the box."""
    g = bilinear(seed=3, box=(-0.2, 0.2))
    assert g.solution() is None
    L = g.lipschitz()
    out = run(g, lambda groups: SRFB(groups, lr=PHI / (2 * L), delta=1 / PHI), steps=400)
    assert math.isnan(out.distance[-1])
    assert out.residual[0] > 0.1
    assert out.residual[-1] == pytest.approx(0.0, abs=1e-8)
    z = torch.cat([g.x.detach(), g.y.detach()])
    assert_close(z.clamp(-0.2, 0.2), z, rtol=0, atol=0)
    assert bool((z.abs() == 0.2).any())  # some constraint is active at the solution


def test_dirac_wgan_clipping_applies_to_the_critic_only():
    g = DiracGAN("wasserstein", clip=0.5, theta0=3.0, psi0=2.0)
    run(g, lambda groups: torch.optim.SGD(groups, lr=0.1), steps=1)
    assert g.y.item() == 0.5  # psi clipped
    assert g.x.item() == pytest.approx(3.0 - 0.1 * 2.0)  # theta moved by grad = psi, unclipped


def test_srfb_growing_batch_converges_where_a_fixed_batch_stalls():
    """Gidel's 1-D WGAN (variance 2/S): with S_k = (k+1)^2 SRFB closes in on the solution; with S = 1
    it wanders at distance O(1), and its uniform average settles in a neighbourhood."""
    schedule = functools.partial(batch_schedule, S0=1, k0=1, a=1.0, cap=10 ** 6)
    solver = lambda gr: SRFB(gr, lr=PHI / 2, delta=1 / PHI)  # noqa: E731  (L = 1)
    growing = run(WGAN1D(), solver, 150, schedule=schedule, generator=torch.Generator().manual_seed(0))
    fixed = run(WGAN1D(), solver, 150, batch_size=1, generator=torch.Generator().manual_seed(0), average=True)
    tail = lambda v: sum(v[-20:]) / 20  # noqa: E731
    assert tail(growing.distance) == pytest.approx(0.0, abs=0.03)
    assert tail(fixed.distance) > 0.5
    assert tail(fixed.avg_distance) < tail(fixed.distance) / 3


def test_invalid_game_arguments_raise():
    with pytest.raises(ValueError, match="Unknown Dirac-GAN loss"):
        DiracGAN("hinge")
    with pytest.raises(ValueError, match="deterministic"):
        run(bilinear(), lambda gr: SRFB(gr, lr=0.1, delta=0.7), 2, batch_size=8)
    with pytest.raises(ValueError, match="not both"):
        run(WGAN1D(), lambda gr: SRFB(gr, lr=0.1, delta=0.7), 2, batch_size=8, schedule=lambda k: 8)
    with pytest.raises(ValueError, match="no known solution"):
        bilinear(seed=3, box=(-0.2, 0.2)).distance()


# --------------------------------------------------------------------------- closed-form fields, helpers

def _autograd_field(game, x, y, batch=None):
    """The generic autograd pseudogradient (the closed forms must agree with it)."""
    gx, gy = game.pseudogradient(x.clone().requires_grad_(), y.clone().requires_grad_(), batch)
    return gx.detach(), gy.detach()


def test_closed_form_fields_match_autograd():
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(5, generator=gen, dtype=torch.float64), torch.randn(5, generator=gen, dtype=torch.float64)
    cases = [(bilinear(n=5), None)]
    chav = StochasticBilinearGame(d=5, generator=gen)
    cases += [(chav, None), (chav, chav.sample(7, gen)), (chav, torch.tensor([2, 2, 0]))]
    for game, batch in cases:
        for closed, auto in zip(game.pseudogradient(x, y, batch), _autograd_field(game, x, y, batch)):
            assert_close(closed, auto)
    w = WGAN1D()
    for batch in (None, w.sample(9, gen)):
        for closed, auto in zip(w.pseudogradient(x[:1], y[:1], batch), _autograd_field(w, x[:1], y[:1], batch)):
            assert_close(closed, auto)


def test_wgan1d_sufficient_batch_means_have_variance_one_over_s():
    w = WGAN1D(sufficient=True)
    draws = torch.stack([torch.cat(w.sample(400, torch.Generator().manual_seed(i))) for i in range(4000)])
    assert draws.shape == (4000, 2)
    assert_close(draws.var(0), torch.full((2,), 1 / 400, dtype=torch.float64), rtol=0.08, atol=0)
    with pytest.raises(ValueError, match="Invalid batch size"):
        w.sample(0)


def test_trajectory_first_below_and_tail_mean_square():
    from gancore.games import Trajectory
    tr = Trajectory(distance=[2.0, 1.0, 0.1, 0.001, 0.002], residual=[0.0] * 5, grad_evals=[0, 2, 4, 6, 8],
                    samples=[0, 10, 20, 30, 40], avg_distance=[2.0, 1.5, 1.0, 0.5, 0.4])
    assert tr.first_below(0.05) == 4  # 0.1 / 2 = 0.05 at entry 2 -> 4 gradient evaluations
    assert tr.first_below(0.05, "iterations") == 2
    assert tr.first_below(0.05, "samples") == 20
    assert tr.first_below(0.01, relative=False) == 6
    assert tr.first_below(1e-9) is None
    assert tr.tail_mean_square(0.4) == pytest.approx((0.001 ** 2 + 0.002 ** 2) / 2)
    assert tr.tail_mean_square(0.4, averaged=True) == pytest.approx((0.25 + 0.16) / 2)
    with pytest.raises(ValueError, match="Invalid count"):
        tr.first_below(0.1, "seconds")


def test_run_without_residual_records_the_same_distances():
    solver = lambda gr: SRFB(gr, lr=0.3, delta=0.7)  # noqa: E731
    full, fast = run(bilinear(seed=4), solver, 20), run(bilinear(seed=4), solver, 20, residual=False)
    assert fast.distance == full.distance
    assert all(math.isnan(r) for r in fast.residual)
