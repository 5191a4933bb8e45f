r"""Two-player games as objects, test games with known solutions, and a driver that runs a solver.

A :class:`Game` holds the players' parameters ``x`` and ``y`` (flat vectors, ``nn.Parameter``) and
their OWN costs ``cost_x(x, y, batch)`` and ``cost_y(x, y, batch)``, each minimised by its player.
Its pseudogradient (Franci & Grammatico 2020) is

.. math::
    F(x, y) = \operatorname{col}(\nabla_x J_x(x, y), \nabla_y J_y(x, y)),

an unbiased estimate :math:`\hat F(x, y; \xi)` when a mini-batch ``batch`` is given (stochastic
games), the expectation when ``batch=None``. For a zero-sum game :math:`\min_x \max_y f`,
:math:`J_x = f` and :math:`J_y = -f`. The domain is :math:`\Omega = X \times Y`, given by one
projection per player (see :mod:`gancore.solvers`); a solution solves the variational inequality
:math:`\langle F(z^*), z - z^* \rangle \ge 0` for all :math:`z \in \Omega`.

The methods take pure tensors (``game.pseudogradient(x, y)``, ``game.residual(x, y)``, ...) or,
with ``x = y = None``, the game's own parameters. :func:`run` drives any solver on a game.
Test games use float64 by default so that convergence to 1e-10 is measurable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch
import torch.nn.functional as TF
from torch import Tensor, nn
from torch.optim import Optimizer

from gancore.solvers import BoxProjection, Projection, ergodic_average

__all__ = [
    "Game", "ZeroSumGame", "BilinearGame", "WGAN1D", "StochasticBilinearGame", "DiracGAN",
    "Trajectory", "run",
]

Batch = Any


class Game(nn.Module):
    """Two-player game: player x minimises ``cost_x``, player y minimises ``cost_y``.

    Subclasses implement ``cost_x``/``cost_y`` (scalar tensors, twice differentiable), and may
    implement ``sample`` (stochastic games) and ``solution``.
    """

    stochastic: bool = False

    def __init__(self, x0: Tensor, y0: Tensor, projection_x: Projection | None = None,
                 projection_y: Projection | None = None) -> None:
        super().__init__()
        self.x = nn.Parameter(torch.as_tensor(x0).detach().clone().reshape(-1))
        self.y = nn.Parameter(torch.as_tensor(y0).detach().clone().reshape(-1))
        self.projection_x, self.projection_y = projection_x, projection_y

    # -- the game
    def cost_x(self, x: Tensor, y: Tensor, batch: Batch = None) -> Tensor:
        raise NotImplementedError

    def cost_y(self, x: Tensor, y: Tensor, batch: Batch = None) -> Tensor:
        raise NotImplementedError

    def sample(self, size: int, generator: torch.Generator | None = None) -> Batch:
        """A mini-batch of ``size`` samples of the randomness (stochastic games only)."""
        raise ValueError(f"{type(self).__name__} is deterministic: it has no mini-batches; "
                         "use batch=None.")

    def solution(self) -> tuple[Tensor, Tensor] | None:
        """The solution ``(x*, y*)``, or None when it is not known in closed form."""
        return None

    def pseudogradient(self, x: Tensor, y: Tensor, batch: Batch = None) -> tuple[Tensor, Tensor]:
        """``(grad_x cost_x, grad_y cost_y)`` at ``(x, y)``. If ``x`` or ``y`` requires grad, the result
        is differentiable (graph kept), as :meth:`jacobian` needs; otherwise it is detached."""
        differentiable = x.requires_grad or y.requires_grad
        with torch.enable_grad():
            x_ = x if x.requires_grad else x.detach().requires_grad_()
            y_ = y if y.requires_grad else y.detach().requires_grad_()
            gx, = torch.autograd.grad(self.cost_x(x_, y_, batch), x_, create_graph=differentiable,
                                      materialize_grads=True)
            gy, = torch.autograd.grad(self.cost_y(x_, y_, batch), y_, create_graph=differentiable,
                                      materialize_grads=True)
        return gx, gy

    # -- running a solver
    def players(self) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
        """``([x], [y])``: the players' parameters."""
        return [self.x], [self.y]

    def param_groups(self) -> list[dict[str, Any]]:
        """One optimizer parameter group per player; a constrained player's group carries its
        ``projection`` (for gancore.solvers; an unconstrained one's takes the optimizer's default)."""
        return [{"params": [p]} if projection is None else {"params": [p], "projection": projection}
                for p, projection in ((self.x, self.projection_x), (self.y, self.projection_y))]

    def set_grads(self, batch: Batch = None) -> None:
        """Fill ``x.grad`` and ``y.grad`` with the pseudogradient at the current parameters."""
        self.x.grad, self.y.grad = self.pseudogradient(self.x.detach(), self.y.detach(), batch)

    @torch.no_grad()
    def project_(self) -> None:
        """Project the parameters onto the domain in place."""
        for p, projection in ((self.x, self.projection_x), (self.y, self.projection_y)):
            if projection is not None:
                projection(p)

    # -- diagnostics
    def _point(self, x: Tensor | None, y: Tensor | None) -> tuple[Tensor, Tensor]:
        return (self.x.detach() if x is None else x), (self.y.detach() if y is None else y)

    def project(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        r""":math:`P_\Omega(x, y)` on copies."""
        x, y = x.detach().clone(), y.detach().clone()
        with torch.no_grad():
            for t, projection in ((x, self.projection_x), (y, self.projection_y)):
                if projection is not None:
                    projection(t)
        return x, y

    def distance(self, x: Tensor | None = None, y: Tensor | None = None) -> float:
        r""":math:`\|(x, y) - (x^*, y^*)\|` (Euclidean norm of the stacked vector)."""
        star = self.solution()
        if star is None:
            raise ValueError(f"{self} has no known solution: use residual() instead of distance().")
        x, y = self._point(x, y)
        return torch.linalg.vector_norm(torch.cat([x - star[0], y - star[1]])).item()

    def residual(self, x: Tensor | None = None, y: Tensor | None = None) -> float:
        r"""Natural residual :math:`\|z - P_\Omega(z - F(z))\|` with the expected F; it is zero exactly
        at the solutions of the variational inequality."""
        x, y = self._point(x, y)
        gx, gy = self.pseudogradient(x, y)
        px, py = self.project(x - gx, y - gy)
        return torch.linalg.vector_norm(torch.cat([x - px, y - py])).item()

    def jacobian(self, x: Tensor | None = None, y: Tensor | None = None, batch: Batch = None) -> Tensor:
        r"""Jacobian of :math:`z \mapsto F(z)` at ``(x, y)``, a square matrix over ``z = col(x, y)``."""
        x, y = self._point(x, y)
        n = x.numel()

        def stacked_field(z: Tensor) -> Tensor:
            return torch.cat(self.pseudogradient(z[:n], z[n:], batch))

        return torch.autograd.functional.jacobian(stacked_field, torch.cat([x, y]))

    def monotonicity(self, x: Tensor | None = None, y: Tensor | None = None) -> float:
        r"""Smallest eigenvalue of the symmetric part :math:`(J + J^T)/2` of the Jacobian of the expected
        F at ``(x, y)``; F is monotone on a convex set iff it is :math:`\ge 0` at every point there."""
        J = self.jacobian(x, y)
        return torch.linalg.eigvalsh((J + J.T) / 2).min().item()

    def sample_point(self, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        r"""A point of the domain: standard normal coordinates, projected onto :math:`\Omega`."""
        x = torch.randn(self.x.shape, generator=generator, dtype=self.x.dtype)
        y = torch.randn(self.y.shape, generator=generator, dtype=self.y.dtype)
        return self.project(x, y)

    def is_monotone(self, points: list[tuple[Tensor, Tensor]] | None = None, *, n_points: int = 8,
                    generator: torch.Generator | None = None, tol: float = 1e-9) -> bool:
        """Whether :meth:`monotonicity` is ``>= -tol`` at every point given (default: ``n_points``
        points from :meth:`sample_point`). A numerical check at points, not a proof."""
        if points is None:
            points = [self.sample_point(generator) for _ in range(n_points)]
        return all(self.monotonicity(x, y) >= -tol for x, y in points)


class ZeroSumGame(Game):
    r""":math:`\min_x \max_y f(x, y)`: ``cost_x = f`` and ``cost_y = -f``; subclasses implement ``f``."""

    def f(self, x: Tensor, y: Tensor, batch: Batch = None) -> Tensor:
        raise NotImplementedError

    def cost_x(self, x: Tensor, y: Tensor, batch: Batch = None) -> Tensor:
        return self.f(x, y, batch)

    def cost_y(self, x: Tensor, y: Tensor, batch: Batch = None) -> Tensor:
        return -self.f(x, y, batch)


# --------------------------------------------------------------------------- test games

class BilinearGame(ZeroSumGame):
    r""":math:`\min_x \max_y x^T A y + b^T x + c^T y`, optionally with both players in the box
    ``[low, high]^n``. F is affine with a skew-symmetric linear part, so monotone, with Lipschitz
    constant :math:`\|A\|_2`; simultaneous GDA spirals out.

    Solution (square invertible A): :math:`y^* = -A^{-1} b`, :math:`x^* = -A^{-T} c`; with a box it is
    the solution only when it lies in the box, otherwise :meth:`solution` is None (use the residual).
    """

    def __init__(self, A: Tensor, b: Tensor | None = None, c: Tensor | None = None,
                 box: tuple[float, float] | None = None, x0: Tensor | None = None,
                 y0: Tensor | None = None) -> None:
        A = torch.as_tensor(A)
        if A.dim() != 2:
            raise ValueError(f"Invalid matrix A of shape {tuple(A.shape)}: A must be 2-D (n x m).")
        n, m = A.shape
        projection = BoxProjection(*box) if box is not None else None
        super().__init__(torch.ones(n, dtype=A.dtype) if x0 is None else x0,
                         torch.ones(m, dtype=A.dtype) if y0 is None else y0, projection, projection)
        self.register_buffer("A", A.clone())
        self.register_buffer("b", torch.zeros(n, dtype=A.dtype) if b is None else torch.as_tensor(b).clone())
        self.register_buffer("c", torch.zeros(m, dtype=A.dtype) if c is None else torch.as_tensor(c).clone())
        self.box = box

    @classmethod
    def random(cls, n: int, generator: torch.Generator | None = None, box: tuple[float, float] | None = None,
               dtype: torch.dtype = torch.float64) -> BilinearGame:
        r"""A well-conditioned random game: :math:`A = U \operatorname{diag}(s) V^T` with Haar-like
        orthogonal U, V and singular values s uniform in [0.5, 1] (so L = max s <= 1), b, c and the
        starting point standard normal."""
        def orthogonal() -> Tensor:
            q, r = torch.linalg.qr(torch.randn(n, n, generator=generator, dtype=dtype))
            return q * torch.sign(torch.diagonal(r))
        s = 0.5 + 0.5 * torch.rand(n, generator=generator, dtype=dtype)
        A = orthogonal() @ torch.diag(s) @ orthogonal().T
        b, c, x0, y0 = (torch.randn(n, generator=generator, dtype=dtype) for _ in range(4))
        return cls(A, b, c, box=box, x0=x0, y0=y0)

    def f(self, x: Tensor, y: Tensor, batch: Batch = None) -> Tensor:
        return x @ self.A @ y + self.b @ x + self.c @ y

    def pseudogradient(self, x: Tensor, y: Tensor, batch: Batch = None) -> tuple[Tensor, Tensor]:
        r"""Closed form :math:`F(x, y) = (A y + b, -(A^T x + c))` (autograd when a graph is needed)."""
        if x.requires_grad or y.requires_grad:
            return super().pseudogradient(x, y, batch)
        return self.A @ y + self.b, -(self.A.T @ x + self.c)

    def lipschitz(self) -> float:
        r""":math:`L = \|A\|_2`, the Lipschitz constant of F."""
        return torch.linalg.matrix_norm(self.A, ord=2).item()

    def solution(self) -> tuple[Tensor, Tensor] | None:
        if self.A.shape[0] != self.A.shape[1]:
            return None
        y_star = -torch.linalg.solve(self.A, self.b)
        x_star = -torch.linalg.solve(self.A.T, self.c)
        if self.box is not None:
            low, high = self.box
            inside = all(bool(((t >= low) & (t <= high)).all()) for t in (x_star, y_star))
            if not inside:
                return None
        return x_star, y_star


class WGAN1D(ZeroSumGame):
    r"""Gidel et al.'s (2019) 1-D WGAN: critic :math:`D_\phi(u) = \phi u`, real data
    :math:`u \sim N(0, 1)`, generator :math:`G_\theta(z) = z + \theta`, :math:`z \sim N(0, 1)`:

    .. math::
        \hat f(\theta, \phi; u, z) = \phi\,\bar u - \phi(\bar z + \theta), \qquad
        f(\theta, \phi) = \mathbb{E} \hat f = -\theta\phi,

    (the mean over the batch; the summary's :math:`\theta\phi` is the same game with the opposite
    sign convention). ``x = (theta,)``, ``y = (phi,)``; solution (0, 0). The theta-block of
    :math:`\hat F` is exact, the phi-block :math:`-(\bar u - \bar z - \theta)` has variance
    :math:`2/S` for a batch of size S. A batch is the pair ``(u, z)``.

    ``sufficient=True`` draws only the batch means :math:`\bar u, \bar z \sim N(0, 1/S)` (one-element
    tensors): :math:`\hat f` depends on the batch through them alone, so :math:`\hat F` has exactly
    the same distribution, and batches of :math:`10^{12}` samples cost nothing to draw.
    """

    stochastic = True

    def __init__(self, theta0: float = 1.0, phi0: float = 1.0, dtype: torch.dtype = torch.float64,
                 sufficient: bool = False) -> None:
        super().__init__(torch.tensor([theta0], dtype=dtype), torch.tensor([phi0], dtype=dtype))
        self.sufficient = sufficient

    def sample(self, size: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        if size < 1:
            raise ValueError(f"Invalid batch size: {size}; use size >= 1.")
        if self.sufficient:
            return tuple(torch.randn(1, generator=generator, dtype=self.x.dtype) / size ** 0.5 for _ in range(2))
        return (torch.randn(size, generator=generator, dtype=self.x.dtype),
                torch.randn(size, generator=generator, dtype=self.x.dtype))

    def pseudogradient(self, x: Tensor, y: Tensor, batch: Batch = None) -> tuple[Tensor, Tensor]:
        r"""Closed form :math:`\hat F = (-\phi, -(\bar u - \bar z - \theta))` (expectation: :math:`(-\phi, \theta)`)."""
        if x.requires_grad or y.requires_grad:
            return super().pseudogradient(x, y, batch)
        gap = -x if batch is None else batch[0].mean() - batch[1].mean() - x
        return -y, -gap

    def f(self, x: Tensor, y: Tensor, batch: Batch = None) -> Tensor:
        theta, phi = x[0], y[0]
        if batch is None:
            return -theta * phi
        u, z = batch
        return phi * u.mean() - phi * (z.mean() + theta)

    def solution(self) -> tuple[Tensor, Tensor]:
        return torch.zeros_like(self.x.detach()), torch.zeros_like(self.y.detach())


class StochasticBilinearGame(ZeroSumGame):
    r"""Chavdarova et al.'s (2019) stochastic bilinear game, :math:`x, y \in \mathbb{R}^d`:

    .. math::
        f(x, y) = \frac1n \sum_{i=1}^n x^T M_i y + a_i^T x + b_i^T y, \qquad M_i = e_i e_i^T,
        \ a_i, b_i \sim N(0, I/d),

    with n = d (default 100). A batch is a tensor of indices i drawn uniformly with replacement;
    ``batch=None`` is the full sum. Solution :math:`y^* = -\bar M^{-1} \bar a`,
    :math:`x^* = -\bar M^{-T} \bar b` with :math:`\bar M = I/n`. Start: x = y = 0.
    """

    stochastic = True

    def __init__(self, d: int = 100, generator: torch.Generator | None = None,
                 dtype: torch.dtype = torch.float64) -> None:
        if d < 1:
            raise ValueError(f"Invalid dimension d={d}; use d >= 1.")
        super().__init__(torch.zeros(d, dtype=dtype), torch.zeros(d, dtype=dtype))
        self.register_buffer("a", torch.randn(d, d, generator=generator, dtype=dtype) / d ** 0.5)
        self.register_buffer("b", torch.randn(d, d, generator=generator, dtype=dtype) / d ** 0.5)
        self.n = d

    def sample(self, size: int, generator: torch.Generator | None = None) -> Tensor:
        return torch.randint(self.n, (size,), generator=generator)

    def f(self, x: Tensor, y: Tensor, batch: Batch = None) -> Tensor:
        if batch is None:
            return (x * y).mean() + (self.a @ x).mean() + (self.b @ y).mean()
        return (x[batch] * y[batch]).mean() + (self.a[batch] @ x).mean() + (self.b[batch] @ y).mean()

    def pseudogradient(self, x: Tensor, y: Tensor, batch: Batch = None) -> tuple[Tensor, Tensor]:
        r"""Closed form: for a batch of indices :math:`i_1..i_S`,
        :math:`\hat F = (\frac1S \sum_s (y_{i_s} e_{i_s} + a_{i_s}), -\frac1S \sum_s (x_{i_s} e_{i_s} + b_{i_s}))`."""
        if x.requires_grad or y.requires_grad:
            return super().pseudogradient(x, y, batch)
        if batch is None:
            return y / self.n + self.a.mean(0), -(x / self.n + self.b.mean(0))
        counts = torch.bincount(batch, minlength=self.n).to(x.dtype) / batch.numel()
        return counts * y + counts @ self.a, -(counts * x + counts @ self.b)

    def solution(self) -> tuple[Tensor, Tensor]:
        M_bar = torch.eye(self.n, dtype=self.a.dtype) / self.n
        y_star = -torch.linalg.solve(M_bar, self.a.mean(0))
        x_star = -torch.linalg.solve(M_bar.T, self.b.mean(0))
        return x_star, y_star


class DiracGAN(ZeroSumGame):
    r"""Mescheder et al.'s (2018) Dirac-GAN: data :math:`\delta_0`, generator :math:`\delta_\theta`,
    discriminator :math:`D_\psi(u) = \psi u`; :math:`f(\theta, \psi) = \varphi(\psi\theta) + \varphi(0)`
    (Mescheder et al. 2018), the generator minimising and the discriminator
    maximising. ``loss="wasserstein"``: :math:`\varphi(t) = t`, bilinear, so monotone; ``clip=c``
    keeps :math:`\psi \in [-c, c]` (WGAN weight clipping). ``loss="logistic"``:
    :math:`\varphi(t) = -\log(1 + e^{-t})`; the symmetric Jacobian is
    :math:`\operatorname{diag}(\psi^2 \varphi'', -\theta^2 \varphi'')` with :math:`\varphi'' < 0`, so F is
    not monotone wherever :math:`\psi \ne 0`. ``x = (theta,)``, ``y = (psi,)``; solution (0, 0).
    """

    LOSSES = ("wasserstein", "logistic")

    def __init__(self, loss: str = "wasserstein", clip: float | None = None, theta0: float = 1.0,
                 psi0: float = 1.0, dtype: torch.dtype = torch.float64) -> None:
        if loss not in self.LOSSES:
            raise ValueError(f"Unknown Dirac-GAN loss {loss!r}. Known: {', '.join(self.LOSSES)}.")
        if clip is not None and not clip > 0:
            raise ValueError(f"Invalid clip: {clip}; use clip > 0 or None.")
        super().__init__(torch.tensor([theta0], dtype=dtype), torch.tensor([psi0], dtype=dtype),
                         projection_y=BoxProjection(-clip, clip) if clip is not None else None)
        self.loss = loss

    def f(self, x: Tensor, y: Tensor, batch: Batch = None) -> Tensor:
        t = y[0] * x[0]
        if self.loss == "wasserstein":
            return t
        return TF.logsigmoid(t) + TF.logsigmoid(torch.zeros_like(t))

    def solution(self) -> tuple[Tensor, Tensor]:
        return torch.zeros_like(self.x.detach()), torch.zeros_like(self.y.detach())


# --------------------------------------------------------------------------- the driver

@dataclass
class Trajectory:
    """What :func:`run` records; entry k is after k iterations (entry 0 is the start).

    ``grad_evals`` counts pseudogradient evaluations (extragradient: 2 per iteration), ``samples`` the
    samples drawn (0 for exact expectations); ``distance`` is NaN when the solution is unknown;
    ``avg_*`` describe the uniform average of the iterates 0..k (only with ``average=True``)."""

    distance: list[float] = field(default_factory=list)
    residual: list[float] = field(default_factory=list)
    grad_evals: list[int] = field(default_factory=list)
    samples: list[int] = field(default_factory=list)
    avg_distance: list[float] | None = None
    avg_residual: list[float] | None = None

    def first_below(self, tol: float, count: str = "grad_evals", relative: bool = True) -> int | None:
        r"""The ``count`` (``"grad_evals"``, ``"samples"`` or ``"iterations"``) at the first entry whose
        distance to the solution is :math:`\le` ``tol`` (relative to the starting distance when
        ``relative``), or None if the run never gets there."""
        if count not in ("grad_evals", "samples", "iterations"):
            raise ValueError(f"Invalid count {count!r}: use 'grad_evals', 'samples' or 'iterations'.")
        scale = self.distance[0] if relative else 1.0
        for k, d in enumerate(self.distance):
            if d <= tol * scale:
                return k if count == "iterations" else getattr(self, count)[k]
        return None

    def tail_mean_square(self, fraction: float = 0.5, averaged: bool = False) -> float:
        r"""Mean of the squared distance to the solution over the last ``fraction`` of the run (of the
        averaged iterate with ``averaged=True``): the size of the neighbourhood a method with a fixed
        batch settles in."""
        if not 0 < fraction <= 1:
            raise ValueError(f"Invalid fraction: {fraction}; use 0 < fraction <= 1.")
        values = self.avg_distance if averaged else self.distance
        if values is None:
            raise ValueError("This trajectory has no averaged iterate: run(..., average=True).")
        tail = values[-max(1, int(len(values) * fraction)):]
        return sum(d * d for d in tail) / len(tail)


def run(game: Game, make_optimizer: Callable[[list[dict[str, Any]]], Optimizer], steps: int,
        batch_size: int | None = None, schedule: Callable[[int], int] | None = None,
        generator: torch.Generator | None = None, average: bool = False,
        residual: bool = True) -> Trajectory:
    """Run a solver on ``game`` for ``steps`` simultaneous iterations and record the trajectory.

    ``make_optimizer(game.param_groups())`` builds the solver (each group carries its player's
    projection), e.g. ``lambda groups: SRFB(groups, lr=0.1, delta=0.618)``. Each iteration fills both
    players' ``.grad`` at the same point (``batch_size`` samples, or ``schedule(k)`` at iteration k,
    e.g. a partial of :func:`gancore.solvers.batch_schedule`; neither: the exact expectation); a
    solver with ``extrapolation()`` gets a second evaluation on a fresh batch at the extrapolated
    point. After every step the parameters are projected onto the domain, as the training loop
    does with ``projection_D``: idempotent for solvers that project, and it makes
    :class:`torch.optim.SGD` projected GDA. ``generator`` drives the mini-batches.
    ``residual=False`` skips the natural residual (NaN in the trajectory), which costs one more
    pseudogradient per recorded point.
    """
    if batch_size is not None and schedule is not None:
        raise ValueError("Give batch_size or schedule, not both.")
    if (batch_size is not None or schedule is not None) and not game.stochastic:
        raise ValueError(f"{type(game).__name__} is deterministic: leave batch_size and schedule None.")
    if steps < 0:
        raise ValueError(f"Invalid number of steps: {steps}; use steps >= 0.")
    opt = make_optimizer(game.param_groups())
    two_phase = callable(getattr(opt, "extrapolation", None))
    star = game.solution()
    star = None if star is None else torch.cat(star)
    out = Trajectory()
    averaged = ergodic_average(game) if average else None
    if averaged is not None:
        out.avg_distance, out.avg_residual = [], []
    evals = samples = 0

    def evaluate(k: int) -> None:
        nonlocal evals, samples
        size = schedule(k) if schedule is not None else batch_size
        game.set_grads(game.sample(size, generator) if size is not None else None)
        evals += 1
        samples += size or 0

    def distance(g: Game) -> float:
        if star is None:
            return float("nan")
        return torch.linalg.vector_norm(torch.cat([g.x.detach(), g.y.detach()]) - star).item()

    def record() -> None:
        out.distance.append(distance(game))
        out.residual.append(game.residual() if residual else float("nan"))
        out.grad_evals.append(evals)
        out.samples.append(samples)
        if averaged is not None:
            averaged.update_parameters(game)
            avg_game = averaged.module
            out.avg_distance.append(distance(avg_game))
            out.avg_residual.append(avg_game.residual() if residual else float("nan"))

    record()
    for k in range(steps):
        evaluate(k)
        if two_phase:
            opt.extrapolation()
            evaluate(k)
        opt.step()
        game.project_()
        opt.zero_grad()
        record()
    return out
