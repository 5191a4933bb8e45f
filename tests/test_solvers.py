"""Tests for gancore.solvers: update formulas, convergence on monotone games, GRAAL's energy
inequality, parameter checks, phase errors, state_dict round trips, projections, averaging."""

import io
import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.testing import assert_close

from gancore.games import BilinearGame, run
from gancore.solvers import (SRFB, BallProjection, BoxProjection, ExtraAdam, ExtraGradient,
                             OptimisticGDA, Popov, batch_schedule, ergodic_average, project_)

PHI = (1 + 5 ** 0.5) / 2  # golden ratio: GRAAL's phi, delta = 1/phi


def game(seed: int = 0, n: int = 4, box=None) -> BilinearGame:
    return BilinearGame.random(n, torch.Generator().manual_seed(seed), box=box)


def stacked(g: BilinearGame) -> torch.Tensor:
    return torch.cat([g.x.detach(), g.y.detach()]).clone()


def bilinear_field(g: BilinearGame, z: torch.Tensor) -> torch.Tensor:
    """Closed-form F(z) = (A y + b, -(A^T x + c)) of the bilinear game."""
    n = g.A.shape[0]
    x, y = z[:n], z[n:]
    return torch.cat([g.A @ y + g.b, -(g.A.T @ x + g.c)])


SOLVERS = {
    "SRFB": lambda groups, L: SRFB(groups, lr=PHI / (2 * L), delta=1 / PHI),
    "ExtraGradient": lambda groups, L: ExtraGradient(groups, lr=0.9 / L),
    "OptimisticGDA": lambda groups, L: OptimisticGDA(groups, lr=0.45 / L),
    "Popov": lambda groups, L: Popov(groups, lr=0.45 / L),
}


# --------------------------------------------------------------------------- update formulas

def test_srfb_two_steps_by_hand():
    x0, g0, g1 = torch.tensor([1.0, -2.0]), torch.tensor([0.5, 1.0]), torch.tensor([-1.0, 3.0])
    lr, delta = 0.3, 0.7
    p = nn.Parameter(x0.clone())
    opt = SRFB([p], lr=lr, delta=delta)
    p.grad = g0
    opt.step()
    xbar0 = (1 - delta) * x0 + delta * x0  # xbar_{-1} = x_0
    x1 = xbar0 - lr * g0
    assert_close(p.detach(), x1)
    p.grad = g1
    opt.step()
    xbar1 = (1 - delta) * x1 + delta * xbar0
    assert_close(opt.state[p]["xbar"], xbar1)
    assert_close(p.detach(), xbar1 - lr * g1)


def test_extragradient_one_iteration_by_hand():
    g = game()
    z, lr = stacked(g), 0.4
    z_half = z - lr * bilinear_field(g, z)
    expected = z - lr * bilinear_field(g, z_half)
    opt = ExtraGradient(g.param_groups(), lr=lr)
    g.set_grads()
    opt.extrapolation()
    assert_close(stacked(g), z_half)
    g.set_grads()
    opt.step()
    assert_close(stacked(g), expected)


def test_optimistic_gda_by_hand():
    g = game()
    lr = 0.2
    z0 = stacked(g)
    z1 = z0 - lr * bilinear_field(g, z0)  # g_{-1} = g_0: the first step is a gradient step
    z2 = z1 - 2 * lr * bilinear_field(g, z1) + lr * bilinear_field(g, z0)
    opt = OptimisticGDA(g.param_groups(), lr=lr)
    for expected in (z1, z2):
        g.set_grads()
        opt.step()
        assert_close(stacked(g), expected)


def test_popov_unconstrained_follows_the_optimistic_recursion():
    """Unconstrained, Popov's gradient points satisfy w_{k+1} = w_k - 2 lr g_k + lr g_{k-1} (k >= 1)."""
    g = game(seed=1)
    lr = 0.2
    opt = Popov(g.param_groups(), lr=lr)
    w = [stacked(g)]
    for _ in range(6):
        g.set_grads()
        opt.step()
        w.append(stacked(g))
    F = [bilinear_field(g, wk) for wk in w]
    assert_close(w[1], w[0] - 2 * lr * F[0])  # w_1 = z_1 - lr g_0 with z_1 = z_0 - lr g_0
    for k in range(1, 6):
        assert_close(w[k + 1], w[k] - 2 * lr * F[k] + lr * F[k - 1])


# --------------------------------------------------------------------------- convergence

@pytest.mark.parametrize("name", list(SOLVERS))
def test_solvers_converge_on_deterministic_bilinear_game(name):
    g = game(seed=2)
    L = g.lipschitz()
    out = run(g, lambda groups: SOLVERS[name](groups, L), steps=600)
    assert out.distance[0] > 1.0
    assert out.distance[-1] == pytest.approx(0.0, abs=1e-8)
    assert out.residual[-1] == pytest.approx(0.0, abs=1e-8)


def test_simultaneous_gda_spirals_out_on_bilinear_game():
    """For bilinear F, <F(z) - F(z*), z - z*> = 0, so GDA's distance obeys exactly
    ||z_{k+1} - z*||^2 = ||z_k - z*||^2 + lr^2 ||F(z_k)||^2: it grows at every step."""
    g = game(seed=3)
    lr = 0.3
    x_star, y_star = g.solution()
    z_star = torch.cat([x_star, y_star])
    opt = torch.optim.SGD(g.param_groups(), lr=lr)
    d2 = []
    for _ in range(50):
        z = stacked(g)
        F = bilinear_field(g, z)
        g.set_grads()
        opt.step()
        d2.append(((z - z_star).square().sum() + lr ** 2 * F.square().sum(),
                   (stacked(g) - z_star).square().sum()))
    predicted, actual = map(torch.stack, zip(*d2))
    assert_close(actual, predicted)
    assert actual[-1] > 2 * actual[0]


# --------------------------------------------------------------------------- GRAAL's energy inequality

def energy_violation(seed: int, lr_factor: float, steps: int = 600) -> float:
    """Largest (lhs - rhs) / E_1 of Malitsky (2019, Theorem 1) along deterministic SRFB, delta = 1/phi:
    (1+phi)||xbar_{k+1} - x*||^2 + phi/2 ||x_{k+1} - x_k||^2
        <= (1+phi)||xbar_k - x*||^2 + phi/2 ||x_k - x_{k-1}||^2 - phi ||x_k - xbar_k||^2."""
    g = game(seed=seed, n=6)
    L = g.lipschitz()
    z_star = torch.cat(g.solution())
    opt = SRFB(g.param_groups(), lr=lr_factor * PHI / (2 * L), delta=1 / PHI)
    X, XB = [stacked(g)], []  # X[k] = x_k; XB[k] = xbar_k, made from x_k and xbar_{k-1}
    for _ in range(steps):
        g.set_grads()
        opt.step()
        XB.append(torch.cat([opt.state[g.x]["xbar"], opt.state[g.y]["xbar"]]).clone())
        X.append(stacked(g))
    sq = lambda v: v.square().sum().item()  # noqa: E731
    worst, scale = -math.inf, None
    for k in range(1, steps - 1):
        lhs = (1 + PHI) * sq(XB[k + 1] - z_star) + PHI / 2 * sq(X[k + 1] - X[k])
        rhs = (1 + PHI) * sq(XB[k] - z_star) + PHI / 2 * sq(X[k] - X[k - 1]) - PHI * sq(X[k] - XB[k])
        scale = scale or rhs
        worst = max(worst, (lhs - rhs) / scale)
    return worst


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_graal_energy_inequality_along_srfb(seed):
    violation = max(energy_violation(seed, lr_factor=1.0), 0.0)
    assert violation == pytest.approx(0.0, abs=1e-12)


def test_graal_energy_check_detects_a_too_large_step():
    """The same check fails with lr = 1.5 phi / (2L): the test above can fail."""
    assert energy_violation(0, lr_factor=1.5, steps=50) > 1e-3


# --------------------------------------------------------------------------- errors

def test_invalid_parameters_raise_value_error():
    p = [nn.Parameter(torch.zeros(2))]
    for kwargs in (dict(lr=0.0, delta=0.6), dict(lr=-1.0, delta=0.6), dict(lr=0.1, delta=0.0),
                   dict(lr=0.1, delta=1.0), dict(lr=0.1, delta=1.5)):
        with pytest.raises(ValueError, match="Invalid"):
            SRFB(p, **kwargs)
    with pytest.raises(ValueError, match="Invalid delta"):
        SRFB([{"params": p, "delta": 1.0}], lr=0.1, delta=0.6)  # per-group values are checked too
    for cls in (ExtraGradient, OptimisticGDA, Popov, ExtraAdam):
        with pytest.raises(ValueError, match="Invalid learning rate"):
            cls(p, lr=0.0)
    with pytest.raises(ValueError, match="Invalid betas"):
        ExtraAdam(p, lr=0.1, betas=(1.0, 0.9))
    with pytest.raises(TypeError, match="Invalid projection"):
        SRFB(p, lr=0.1, delta=0.6, projection=3.0)
    with pytest.raises(ValueError, match="Invalid box"):
        BoxProjection(1.0, -1.0)
    with pytest.raises(ValueError, match="Invalid radius"):
        BallProjection(0.0)


@pytest.mark.parametrize("cls", [ExtraGradient, ExtraAdam])
def test_extrapolation_out_of_order_raises(cls):
    p = nn.Parameter(torch.ones(3))
    opt = cls([p], lr=0.1)
    p.grad = torch.ones(3)
    with pytest.raises(RuntimeError, match="without extrapolation"):
        opt.step()
    opt.extrapolation()
    with pytest.raises(RuntimeError, match="twice"):
        opt.extrapolation()
    opt.step()
    with pytest.raises(RuntimeError, match="without extrapolation"):
        opt.step()


def test_grad_evals_per_step():
    assert [c.grad_evals_per_step for c in (SRFB, OptimisticGDA, Popov, ExtraGradient, ExtraAdam)] == [1, 1, 1, 2, 2]
    assert not hasattr(SRFB, "extrapolation") and hasattr(ExtraGradient, "extrapolation")


# --------------------------------------------------------------------------- state_dict round trip

ROUND_TRIP = {
    "SRFB": lambda groups: SRFB(groups, lr=0.3, delta=0.7),
    "SRFB-box": lambda groups: SRFB(groups, lr=0.9, delta=0.7, projection=BoxProjection(-0.5, 0.5)),
    "ExtraGradient": lambda groups: ExtraGradient(groups, lr=0.3),
    "ExtraAdam": lambda groups: ExtraAdam(groups, lr=0.05),
    "OptimisticGDA": lambda groups: OptimisticGDA(groups, lr=0.2),
    "Popov": lambda groups: Popov(groups, lr=0.2),
}


def iterate(g: BilinearGame, opt: torch.optim.Optimizer, steps: int) -> list[torch.Tensor]:
    out = []
    for _ in range(steps):
        g.set_grads()
        if hasattr(opt, "extrapolation"):
            opt.extrapolation()
            g.set_grads()
        opt.step()
        out.append(stacked(g))
    return out


@pytest.mark.parametrize("name", list(ROUND_TRIP))
def test_state_dict_round_trip_resumes_exactly(name):
    make = ROUND_TRIP[name]
    straight = game(seed=4)
    path = iterate(straight, make([straight.x, straight.y]), 12)

    first = game(seed=4)
    opt = make([first.x, first.y])
    iterate(first, opt, 7)
    buffer = io.BytesIO()
    torch.save(opt.state_dict(), buffer)
    assert all("projection" not in group for group in opt.state_dict()["param_groups"])
    second = game(seed=4)
    with torch.no_grad():
        second.x.copy_(first.x), second.y.copy_(first.y)
    resumed = make([second.x, second.y])
    resumed.load_state_dict(torch.load(io.BytesIO(buffer.getvalue()), weights_only=True))
    assert [g["projection"] for g in resumed.param_groups] == [g["projection"] for g in opt.param_groups]
    assert_close(torch.stack(iterate(second, resumed, 5)), torch.stack(path[7:]), rtol=0, atol=0)


# --------------------------------------------------------------------------- projections

def test_box_projection_keeps_srfb_iterates_in_the_box():
    g = game(seed=5)
    box = BoxProjection(-0.3, 0.3)
    opt = SRFB(g.param_groups(), lr=2.0, delta=0.6, projection=box)
    hit = False
    for z in iterate(g, opt, 30):
        assert_close(z.clamp(-0.3, 0.3), z, rtol=0, atol=0)
        hit = hit or bool((z.abs() == 0.3).any())
    assert hit  # the constraint was active, so the projection did work


def test_ball_projection_formula():
    ball = BallProjection(2.0)
    outside, inside = torch.tensor([3.0, 4.0]), torch.tensor([0.6, -0.8])
    ball(outside), ball(inside)
    assert_close(outside, torch.tensor([1.2, 1.6]))
    assert_close(inside, torch.tensor([0.6, -0.8]))
    critic = nn.Linear(3, 2)
    project_(critic, BoxProjection(-0.01, 0.01))
    assert all(bool((p.abs() <= 0.01).all()) for p in critic.parameters())


# --------------------------------------------------------------------------- averaging and batches

def test_ergodic_average_matches_closed_form():
    model = nn.Linear(3, 2)
    iterates, lrs = [], [0.5, 0.1, 0.3, 0.2, 0.4]
    uniform = ergodic_average(model)
    weighted = ergodic_average(model, weights=lambda k: lrs[k])
    for _ in lrs:
        with torch.no_grad():
            for p in model.parameters():
                p.normal_()
        iterates.append([p.detach().clone() for p in model.parameters()])
        uniform.update_parameters(model)
        weighted.update_parameters(model)
    for i, (pu, pw) in enumerate(zip(uniform.module.parameters(), weighted.module.parameters())):
        stack = torch.stack([it[i] for it in iterates])
        w = torch.tensor(lrs).view(-1, *[1] * (stack.dim() - 1))
        assert_close(pu.detach(), stack.mean(0))
        assert_close(pw.detach(), (w * stack).sum(0) / w.sum())


def test_batch_schedule_values():
    assert [batch_schedule(k, S0=2, k0=1, a=0.5, cap=100) for k in (0, 1, 3, 8, 30)] == [2, 6, 16, 54, 100]
    assert batch_schedule(0, S0=0.5, k0=1, a=0.0, cap=10) == 1
    for kwargs in (dict(S0=0, k0=1, a=0.5, cap=10), dict(S0=1, k0=0, a=0.5, cap=10),
                   dict(S0=1, k0=1, a=-0.1, cap=10), dict(S0=1, k0=1, a=0.5, cap=0)):
        with pytest.raises(ValueError, match="Invalid"):
            batch_schedule(3, **kwargs)


def test_srfb_multi_tensor_step_matches_the_formula_per_tensor():
    """Several tensors of different shapes in one group, with a box: each follows eq. (SRFB) on its own."""
    gen = torch.Generator().manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(*s, generator=gen, dtype=torch.float64)) for s in ((3,), (2, 4), (1,))]
    x0 = [p.detach().clone() for p in params]
    lr, delta, box = 0.3, 0.7, BoxProjection(-0.5, 0.5)
    opt = SRFB(params, lr=lr, delta=delta, projection=box)
    xbar, x = [t.clone() for t in x0], [t.clone() for t in x0]
    for _ in range(3):
        grads = [torch.randn(p.shape, generator=gen, dtype=torch.float64) for p in params]
        for p, g in zip(params, grads):
            p.grad = g.clone()
        opt.step()
        for i, g in enumerate(grads):
            xbar[i] = (1 - delta) * x[i] + delta * xbar[i]
            x[i] = (xbar[i] - lr * g).clamp(-0.5, 0.5)
        for p, expected in zip(params, x):
            assert_close(p.detach(), expected)


@pytest.mark.parametrize("lr", [math.inf, -math.inf, math.nan, "0.1", None, True, torch.tensor(0.1)])
@pytest.mark.parametrize("make", [
    lambda p, lr: SRFB(p, lr=lr, delta=0.6), lambda p, lr: ExtraGradient(p, lr=lr),
    lambda p, lr: ExtraAdam(p, lr=lr), lambda p, lr: OptimisticGDA(p, lr=lr), lambda p, lr: Popov(p, lr=lr),
    lambda p, lr: SRFB([{"params": p, "lr": lr}], lr=0.1, delta=0.6)])
def test_learning_rate_must_be_a_finite_positive_number(make, lr):
    """lr = inf used to be accepted (a first step to inf/NaN) and lr = "0.1" failed inside a comparison."""
    with pytest.raises(ValueError, match=r"Invalid learning rate: lr=.*finite real number > 0"):
        make([nn.Parameter(torch.zeros(2))], lr)


def test_other_hyperparameters_name_argument_and_value():
    p = [nn.Parameter(torch.zeros(2))]
    for delta in ("0.5", None, math.nan):
        with pytest.raises(ValueError, match=r"Invalid delta: delta="):
            SRFB(p, lr=0.1, delta=delta)
    for betas in ((0.5,), (0.5, "0.9"), 0.5):
        with pytest.raises(ValueError, match=r"Invalid betas: betas="):
            ExtraAdam(p, lr=0.1, betas=betas)
    for eps in (math.inf, "1e-8", -1.0):
        with pytest.raises(ValueError, match=r"Invalid epsilon value: eps="):
            ExtraAdam(p, lr=0.1, eps=eps)
    # numpy scalars and ints are real numbers
    assert SRFB(p, lr=np.float64(0.1), delta=np.float32(0.5)).defaults["lr"] == 0.1
    assert ExtraGradient(p, lr=1).defaults["lr"] == 1


def test_batch_schedule_rejects_infinite_settings_and_caps_overflow():
    for kwargs in (dict(S0=math.inf, k0=1, a=0.5, cap=10), dict(S0=1, k0=1, a=math.inf, cap=10),
                   dict(S0=1, k0=1, a=0.5, cap=math.inf)):
        with pytest.raises(ValueError, match="Invalid .*finite"):
            batch_schedule(3, **kwargs)
    # (k + k0)^(1+a) past the largest float: the cap, not an OverflowError
    assert batch_schedule(10 ** 6, S0=1, k0=1, a=100.0, cap=10 ** 15) == 10 ** 15


# --------------------------------------------------------------------------- SRFB: multi-tensor and per-tensor steps

def _srfb_run(foreach, projection, steps: int = 6) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Parameters and xbar after ``steps`` SRFB steps on tensors of several shapes, fixed random gradients."""
    gen = torch.Generator().manual_seed(3)
    params = [nn.Parameter(torch.randn(*s, generator=gen)) for s in ((5,), (3, 4), (2, 3, 2, 2), (1,))]
    opt = SRFB(params, lr=0.4, delta=0.618, projection=projection, foreach=foreach)
    for _ in range(steps):
        for p in params:
            p.grad = torch.randn(p.shape, generator=gen)
        opt.step()
    return [p.detach().clone() for p in params], [opt.state[p]["xbar"].clone() for p in params]


@pytest.mark.parametrize("projection", [None, BoxProjection(-0.5, 0.5), BallProjection(1.0)])
def test_srfb_multi_tensor_and_per_tensor_steps_agree_bit_for_bit(projection):
    x_multi, xbar_multi = _srfb_run(True, projection)
    x_loop, xbar_loop = _srfb_run(False, projection)
    x_default, xbar_default = _srfb_run(None, projection)
    assert all(torch.equal(a, b) for a, b in zip(x_multi + xbar_multi, x_loop + xbar_loop))
    assert all(torch.equal(a, b) for a, b in zip(x_multi + xbar_multi, x_default + xbar_default))
    if projection is not None:  # the projection was active and is applied after the update
        assert any(not torch.equal(a, b) for a, b in zip(x_multi, _srfb_run(True, None)[0]))
        for p in x_multi:  # each parameter lies in the set: projecting again leaves it where it is
            q = p.clone()
            projection(q)
            assert_close(q, p)


def _count_foreach_calls(monkeypatch) -> list[str]:
    """The names of the multi-tensor kernels called from now on, in order (they still run)."""
    calls: list[str] = []

    def spy(name: str, kernel):
        def recorded(*args, **kwargs):
            calls.append(name)
            return kernel(*args, **kwargs)
        return recorded

    for name in ("_foreach_lerp_", "_foreach_copy_", "_foreach_add_"):
        monkeypatch.setattr(torch, name, spy(name, getattr(torch, name)))
    return calls


def test_srfb_default_takes_the_multi_tensor_kernels_for_dense_tensors_on_one_device(monkeypatch):
    calls = _count_foreach_calls(monkeypatch)
    p = nn.Parameter(torch.ones(3))
    p.grad = torch.ones(3)
    SRFB([p], lr=0.1, delta=0.6).step()
    assert calls == ["_foreach_lerp_", "_foreach_copy_", "_foreach_add_"]
    calls.clear()
    SRFB([p], lr=0.1, delta=0.6, foreach=False).step()
    assert calls == []


def test_srfb_default_loops_over_tensors_with_a_sparse_gradient(monkeypatch):
    calls = _count_foreach_calls(monkeypatch)
    p, q = nn.Parameter(torch.ones(4)), nn.Parameter(torch.ones(2))
    p.grad = torch.tensor([0.0, 2.0, 0.0, 0.0]).to_sparse()
    q.grad = torch.ones(2)
    SRFB([p, q], lr=0.1, delta=0.6).step()
    assert calls == []
    assert_close(p.detach(), torch.tensor([1.0, 0.8, 1.0, 1.0]))
    assert_close(q.detach(), torch.full((2,), 0.9))


def test_srfb_foreach_is_checked_and_is_not_state():
    p = [nn.Parameter(torch.zeros(2))]
    for foreach in ("yes", 1, 0.0):
        with pytest.raises(ValueError, match=r"Invalid foreach: foreach="):
            SRFB(p, lr=0.1, delta=0.6, foreach=foreach)
    multi = SRFB(p, lr=0.1, delta=0.6, foreach=True)
    p[0].grad = torch.ones(2)
    multi.step()
    saved = multi.state_dict()
    assert all("foreach" not in group for group in saved["param_groups"])  # checkpoint records stay as before
    loop = SRFB(p, lr=0.1, delta=0.6, foreach=False)
    loop.load_state_dict(saved)
    assert [g["foreach"] for g in loop.param_groups] == [False]
    assert_close(loop.state[p[0]]["xbar"], multi.state[p[0]]["xbar"], rtol=0, atol=0)
