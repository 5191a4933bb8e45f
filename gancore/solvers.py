"""Game solvers in the ``torch.optim`` style, with projections, iterate averaging and batch schedules.

Every solver is a :class:`torch.optim.Optimizer` that reads the pseudogradient from ``.grad``: the
caller fills each player's ``.grad`` with the gradient of that player's OWN cost (the max player of
a zero-sum game uses cost ``-f``), for both players at the same point, then calls ``step()``.

* :class:`SRFB`: stochastic relaxed forward-backward (Franci & Grammatico 2020), GRAAL's iteration.
* :class:`ExtraGradient`, :class:`ExtraAdam`: two-phase solvers (Gidel et al. 2019):
  ``extrapolation()`` then, with fresh gradients at the extrapolated point, ``step()``.
* :class:`OptimisticGDA` (Daskalakis et al. 2018) and :class:`Popov` (extrapolation from the past):
  one gradient per iteration.
* Plain simultaneous GDA is :class:`torch.optim.SGD`.

Two conventions the training loop relies on: a solver that needs a second gradient per iteration
has a method ``extrapolation()``, and every solver class has ``grad_evals_per_step`` (1 or 2).

**Projections.** A ``projection`` is a callable ``projection(t) -> None`` that replaces the tensor
``t`` IN PLACE by its Euclidean projection onto a closed convex set (so it is idempotent). Solvers
call it under ``torch.no_grad()`` on every parameter tensor of the group, after every move. It may be
given per parameter group (``{"params": ..., "projection": ...}``), e.g. WGAN weight clipping on the
critic only. A projection is part of the problem, not of the state: ``state_dict()`` leaves it out
and ``load_state_dict()`` keeps the optimizer's own; so does SRFB's ``foreach`` (how the step is
computed, not what). All other state lives in ``self.state[p]``, so a ``state_dict()`` round trip
resumes bit for bit.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import torch
from torch import Tensor, nn
from torch.optim import Optimizer
from torch.optim.swa_utils import AveragedModel

__all__ = [
    "Projection", "BoxProjection", "BallProjection", "project_",
    "SRFB", "ExtraGradient", "ExtraAdam", "OptimisticGDA", "Popov",
    "ergodic_average", "batch_schedule", "METHODS", "solver", "image_optimizers",
]

Projection = Callable[[Tensor], None]


# --------------------------------------------------------------------------- projections

@dataclass(frozen=True)
class BoxProjection:
    """Projection onto the box ``[low, high]`` in every coordinate: ``t <- clamp(t, low, high)``.

    WGAN weight clipping (Arjovsky et al. 2017) is exactly this projection with ``low = -c``,
    ``high = c``.
    """

    low: float
    high: float

    def __post_init__(self) -> None:
        if not self.low <= self.high:
            raise ValueError(f"Invalid box: low={self.low} > high={self.high}; use low <= high.")

    def __call__(self, t: Tensor) -> None:
        t.clamp_(self.low, self.high)


@dataclass(frozen=True)
class BallProjection:
    """Projection of each whole tensor onto the Euclidean ball ``||t|| <= radius``:
    ``t <- t * min(1, radius / ||t||)`` (the norm is taken over all entries of the tensor)."""

    radius: float

    def __post_init__(self) -> None:
        if not self.radius > 0:
            raise ValueError(f"Invalid radius: {self.radius}; use a radius > 0.")

    def __call__(self, t: Tensor) -> None:
        norm = torch.linalg.vector_norm(t)
        if norm > self.radius:
            t.mul_(self.radius / norm)


@torch.no_grad()
def project_(params: nn.Module | Iterable[Tensor], projection: Projection) -> None:
    """Apply ``projection`` in place to every parameter of a module (or to every tensor given),
    e.g. ``project_(D, BoxProjection(-0.01, 0.01))`` clips a WGAN critic."""
    for p in params.parameters() if isinstance(params, nn.Module) else params:
        projection(p)


# --------------------------------------------------------------------------- shared machinery

def _is_real(value: Any) -> bool:
    """A real number (int, float, numpy scalar), not a bool, a string or a tensor."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


class _GameOptimizer(Optimizer):
    """Validates every parameter group and keeps the group settings that are not state (the
    projection and those in ``_not_state``) out of ``state_dict()``."""

    grad_evals_per_step: int = 1
    _not_state: tuple[str, ...] = ("projection",)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        self._check({**self.defaults, **param_group})
        super().add_param_group(param_group)

    def _check(self, group: dict[str, Any]) -> None:
        lr = group["lr"]
        if not (_is_real(lr) and math.isfinite(lr) and lr > 0):
            raise ValueError(f"Invalid learning rate: lr={lr!r}; use a finite real number > 0 (e.g. lr=0.01).")
        projection = group["projection"]
        if projection is not None and not callable(projection):
            raise TypeError(f"Invalid projection: {projection!r}; give a callable that projects a tensor "
                            "in place (e.g. BoxProjection(low, high)) or None.")

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        for group in state["param_groups"]:
            for key in self._not_state:
                group.pop(key, None)
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        own = [{key: group[key] for key in self._not_state} for group in self.param_groups]
        super().load_state_dict(state_dict)
        for group, settings in zip(self.param_groups, own):
            group.update(settings)

    @staticmethod
    def _project(p: Tensor, group: dict[str, Any]) -> None:
        if group["projection"] is not None:
            group["projection"](p)


# --------------------------------------------------------------------------- SRFB

class SRFB(_GameOptimizer):
    r"""Stochastic relaxed forward-backward (Franci & Grammatico 2020; GRAAL, Malitsky 2019).

    With the pseudogradient estimate :math:`\hat F(x_k)` in ``.grad``, one ``step()`` performs

    .. math::
        \bar x_k = (1 - \delta) x_k + \delta \bar x_{k-1}, \qquad
        x_{k+1} = P_\Omega(\bar x_k - \lambda \hat F(x_k)),

    with :math:`\bar x_{-1} = x_0` (the parameters at the first step). GRAAL's
    :math:`\phi` is :math:`1/\delta`; the golden ratio gives :math:`\delta \approx 0.618`, and the
    deterministic step-size bound is :math:`\lambda \le 1/(2 \delta L)` for an :math:`L`-Lipschitz
    monotone :math:`F`. State: ``xbar`` per parameter.

    ``foreach`` chooses how the step is computed, as in :mod:`torch.optim`: ``True`` runs three
    multi-tensor kernels over the parameter group (``torch._foreach_lerp_`` for
    :math:`\bar x`, then ``_foreach_copy_`` and ``_foreach_add_`` for :math:`x`: 8 parameter-sized
    memory streams), ``False`` a loop over the tensors (a lerp, then the sum written straight into
    :math:`x`: 6 streams, one kernel launch each per tensor); ``None`` (default) takes the
    multi-tensor kernels when all parameters, gradients and states of the group are dense (strided)
    tensors on one device. Both do the same arithmetic (:math:`\bar x + (1 - \delta)(x - \bar x)`,
    then :math:`\bar x - \lambda \hat F`), so they give the same numbers (bit for bit on the CPU). The
    ``projection``, if any, is applied to each parameter after the update.
    """

    _not_state = ("projection", "foreach")

    def __init__(self, params: Iterable[Any], lr: float, delta: float,
                 projection: Projection | None = None, *, foreach: bool | None = None) -> None:
        super().__init__(params, dict(lr=lr, delta=delta, projection=projection, foreach=foreach))

    def _check(self, group: dict[str, Any]) -> None:
        super()._check(group)
        delta = group["delta"]
        if not (_is_real(delta) and 0 < delta < 1):
            raise ValueError(f"Invalid delta: delta={delta!r}; SRFB needs a real number 0 < delta < 1 "
                             "(GRAAL: delta = 1/phi, the golden ratio gives 0.618).")
        if not (group["foreach"] is None or isinstance(group["foreach"], bool)):
            raise ValueError(f"Invalid foreach: foreach={group['foreach']!r}; use True (multi-tensor kernels), "
                             "False (a loop over the tensors) or None (multi-tensor when the tensors allow).")

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            for p in params:
                if "xbar" not in self.state[p]:
                    self.state[p]["xbar"] = p.detach().clone()
            xbars = [self.state[p]["xbar"] for p in params]
            grads = [p.grad for p in params]
            foreach = group["foreach"]
            if foreach is None:
                tensors = params + grads + xbars
                foreach = all(t.layout == torch.strided for t in tensors) and len({t.device for t in tensors}) == 1
            update = _srfb_foreach if foreach else _srfb_per_tensor
            update(params, grads, xbars, group["lr"], group["delta"])
            for p in params:
                self._project(p, group)
        return loss


def _srfb_foreach(params: list[Tensor], grads: list[Tensor], xbars: list[Tensor], lr: float, delta: float) -> None:
    """SRFB's update with multi-tensor kernels: xbar <- xbar + (1 - delta)(x - xbar) (reads xbar and x,
    writes xbar), x <- xbar (reads xbar, writes x), x <- x - lr grad (reads x and grad, writes x)."""
    torch._foreach_lerp_(xbars, params, 1 - delta)
    torch._foreach_copy_(params, xbars)
    torch._foreach_add_(params, grads, alpha=-lr)


def _srfb_per_tensor(params: list[Tensor], grads: list[Tensor], xbars: list[Tensor], lr: float, delta: float) -> None:
    """SRFB's update tensor by tensor, with the arithmetic of :func:`_srfb_foreach`: the lerp, then
    xbar - lr grad written straight into x (reads xbar and grad, writes x)."""
    for p, grad, xbar in zip(params, grads, xbars):
        xbar.lerp_(p, 1 - delta)
        torch.add(xbar, grad, alpha=-lr, out=p)


# --------------------------------------------------------------------------- extrapolation methods

class _Extrapolation(_GameOptimizer):
    """Two-phase solver (Korpelevich 1976; Gidel et al. 2019): ``extrapolation()`` saves x
    and moves to :math:`x_{1/2} = P(x + u(g))`; ``step()`` returns to x and moves to
    :math:`P(x + u(g_{1/2}))`, where ``u`` is the subclass's update and ``g_{1/2}`` the gradient at
    the extrapolated point. State: ``x`` (the saved point) and ``extrapolated`` (the phase)."""

    grad_evals_per_step = 2

    def _update(self, p: Tensor, group: dict[str, Any]) -> Tensor:
        raise NotImplementedError

    @torch.no_grad()
    def extrapolation(self) -> None:
        """Save the current point and move to the extrapolated one (gradients must be in .grad)."""
        if any(self.state[p].get("extrapolated", False) for g in self.param_groups for p in g["params"]):
            raise RuntimeError("extrapolation() was called twice in a row: call step() after the "
                               "gradients at the extrapolated point are in .grad.")
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                state["x"] = p.detach().clone()
                state["extrapolated"] = True
                p.add_(self._update(p, group))
                self._project(p, group)

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:
        """Go back to the saved point and move with the gradient taken at the extrapolated point."""
        if not any(self.state[p].get("extrapolated", False) for g in self.param_groups for p in g["params"]):
            raise RuntimeError("step() was called without extrapolation(): an extragradient iteration "
                               "is extrapolation(), new gradients, then step().")
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state[p]
                if not state.get("extrapolated", False):
                    continue
                state["extrapolated"] = False
                update = self._update(p, group) if p.grad is not None else 0.0
                p.copy_(state["x"]).add_(update)
                self._project(p, group)
        return loss


class ExtraGradient(_Extrapolation):
    r"""Extragradient: :math:`x_{1/2} = P(x - \lambda F(x))`, :math:`x^+ = P(x - \lambda F(x_{1/2}))`
    (Korpelevich 1976; Gidel et al. 2019); step size :math:`\lambda < 1/L`."""

    def __init__(self, params: Iterable[Any], lr: float, projection: Projection | None = None) -> None:
        super().__init__(params, dict(lr=lr, projection=projection))

    def _update(self, p: Tensor, group: dict[str, Any]) -> Tensor:
        return -group["lr"] * p.grad


class ExtraAdam(_Extrapolation):
    r"""Extragradient with Adam's update in both phases (Gidel et al. 2019, "Extra-Adam"): the moments
    and the step count advance at the extrapolation AND at the step, as in the authors' code.
    Update :math:`u = -\lambda \hat m / (\sqrt{\hat v} + \epsilon)` with bias-corrected moments.
    Defaults are Gidel et al.'s betas (0.5, 0.9). State: ``x``, ``extrapolated``, ``step``,
    ``exp_avg``, ``exp_avg_sq``."""

    def __init__(self, params: Iterable[Any], lr: float, betas: tuple[float, float] = (0.5, 0.9),
                 eps: float = 1e-8, projection: Projection | None = None) -> None:
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, projection=projection))

    def _check(self, group: dict[str, Any]) -> None:
        super()._check(group)
        betas, eps = group["betas"], group["eps"]
        if not (isinstance(betas, (tuple, list)) and len(betas) == 2 and all(_is_real(b) and 0 <= b < 1 for b in betas)):
            raise ValueError(f"Invalid betas: betas={betas!r}; give two real numbers in [0, 1), e.g. (0.5, 0.9).")
        if not (_is_real(eps) and math.isfinite(eps) and eps >= 0):
            raise ValueError(f"Invalid epsilon value: eps={eps!r}; use a finite real number >= 0 (e.g. 1e-8).")

    def _update(self, p: Tensor, group: dict[str, Any]) -> Tensor:
        state = self.state[p]
        if "step" not in state:
            state["step"] = 0
            state["exp_avg"] = torch.zeros_like(p)
            state["exp_avg_sq"] = torch.zeros_like(p)
        beta1, beta2 = group["betas"]
        state["step"] += 1
        state["exp_avg"].mul_(beta1).add_(p.grad, alpha=1 - beta1)
        state["exp_avg_sq"].mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
        m_hat = state["exp_avg"] / (1 - beta1 ** state["step"])
        v_hat = state["exp_avg_sq"] / (1 - beta2 ** state["step"])
        return -group["lr"] * m_hat / (v_hat.sqrt() + group["eps"])


# --------------------------------------------------------------------------- one-gradient methods

class OptimisticGDA(_GameOptimizer):
    r"""Optimistic gradient descent-ascent (Daskalakis et al. 2018):
    :math:`x_{k+1} = P(x_k - 2\lambda g_k + \lambda g_{k-1})`, with :math:`g_{-1} = g_0` (the first
    step is a plain gradient step). State: ``prev_grad`` per parameter."""

    def __init__(self, params: Iterable[Any], lr: float, projection: Projection | None = None) -> None:
        super().__init__(params, dict(lr=lr, projection=projection))

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if "prev_grad" not in state:
                    state["prev_grad"] = p.grad.detach().clone()
                p.add_(p.grad, alpha=-2 * group["lr"]).add_(state["prev_grad"], alpha=group["lr"])
                state["prev_grad"].copy_(p.grad)
                self._project(p, group)
        return loss


class Popov(_GameOptimizer):
    r"""Extrapolation from the past (Popov 1980; Gidel et al. 2019). The parameters hold
    the point :math:`z_{k+1/2}` where the gradient is taken; the base point :math:`z_k` is state:

    .. math::
        z_{k+1} = P(z_k - \lambda F(z_{k+1/2})), \qquad z_{k+3/2} = P(z_{k+1} - \lambda F(z_{k+1/2})),

    with :math:`z_{1/2} = z_0` (the parameters at the first step). One gradient per iteration; step
    size :math:`\lambda < 1/(2L)`. Unconstrained, it is optimistic GDA on the :math:`z_{k+1/2}`.
    State: ``z`` per parameter."""

    def __init__(self, params: Iterable[Any], lr: float, projection: Projection | None = None) -> None:
        super().__init__(params, dict(lr=lr, projection=projection))

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if "z" not in state:
                    state["z"] = p.detach().clone()
                z = state["z"]
                z.add_(p.grad, alpha=-group["lr"])
                self._project(z, group)
                p.copy_(z).add_(p.grad, alpha=-group["lr"])
                self._project(p, group)
        return loss


# --------------------------------------------------------------------------- averaging and batches

def ergodic_average(model: nn.Module, weights: Callable[[int], float] | None = None) -> AveragedModel:
    r"""An :class:`~torch.optim.swa_utils.AveragedModel` of ``model``'s parameters holding the ergodic
    average :math:`X_K = \sum_k w_k x_k / \sum_k w_k` of the iterates passed to
    ``update_parameters``. ``weights=None`` is the uniform average; ``weights(k)`` gives the weight
    of the k-th averaged iterate (k = 0, 1, ...), e.g. its step size :math:`\lambda_k` for SRFB's
    averaged variant. Buffers are not averaged (they are copied from ``model`` once)."""
    if weights is None:
        return AveragedModel(model)
    cumulative: list[float] = []  # cumulative[k] = w_0 + ... + w_k, rebuilt on demand after a reload

    def weighted(avg: Tensor, current: Tensor, num_averaged: Tensor | int) -> Tensor:
        k = int(num_averaged)
        while len(cumulative) <= k:
            w = float(weights(len(cumulative)))
            if not w > 0:
                raise ValueError(f"Invalid averaging weight w_{len(cumulative)} = {w}; weights must be > 0.")
            cumulative.append(w + (cumulative[-1] if cumulative else 0.0))
        return avg + (current - avg) * (float(weights(k)) / cumulative[k])

    return AveragedModel(model, avg_fn=weighted)


def batch_schedule(k: int, S0: float, k0: float, a: float, cap: int) -> int:
    r"""Growing mini-batch size :math:`S_k = \min(\text{cap}, \lceil S_0 (k + k_0)^{1+a} \rceil)`
    (Franci & Grammatico 2020: :math:`\sum_k 1/S_k < \infty` for ``a > 0``, which the exact-convergence
    theorem needs; ``cap`` is the memory limit in practice)."""
    if k < 0:
        raise ValueError(f"Invalid iteration index: {k}; use k >= 0.")
    if not (S0 > 0 and k0 > 0 and math.isfinite(S0) and math.isfinite(k0)):
        raise ValueError(f"Invalid schedule: S0={S0}, k0={k0}; both must be finite and > 0.")
    if not (a >= 0 and math.isfinite(a)):
        raise ValueError(f"Invalid growth exponent: a={a}; use a finite a >= 0 (a > 0 for exact convergence).")
    if not (cap >= 1 and math.isfinite(cap)):
        raise ValueError(f"Invalid cap: {cap}; use a finite cap >= 1.")
    try:
        size = math.ceil(S0 * (k + k0) ** (1 + a))
    except OverflowError:  # (k + k0)^(1+a) beyond the largest float: far past any cap
        return int(cap)
    return int(min(cap, size))


# --------------------------------------------------------------------------- solvers by name

METHODS = ("GDA", "EG", "OGDA", "Popov", "SRFB", "Adam")
"""The solvers the SRFB chapter compares (and its image experiment runs), by the names its tables use."""


def solver(method: str, lr: float, delta: float = 0.618) -> Callable[[list[dict[str, Any]]], torch.optim.Optimizer]:
    """A function of the parameter groups (each group may carry its player's ``projection``) that
    builds ``method`` at step size ``lr``: GDA (``torch.optim.SGD``), EG, OGDA, Popov, SRFB (with
    ``delta``) or simultaneous Adam (betas (0.5, 0.9), Gidel et al.'s). The SRFB chapter's registry;
    an unknown name -> ``ValueError`` listing :data:`METHODS`."""
    makers = {
        "GDA": lambda groups: torch.optim.SGD(groups, lr=lr),
        "EG": lambda groups: ExtraGradient(groups, lr=lr),
        "OGDA": lambda groups: OptimisticGDA(groups, lr=lr),
        "Popov": lambda groups: Popov(groups, lr=lr),
        "SRFB": lambda groups: SRFB(groups, lr=lr, delta=delta),
        "Adam": lambda groups: torch.optim.Adam(groups, lr=lr, betas=(0.5, 0.9)),
    }
    if method not in makers:
        raise ValueError(f"Unknown solver {method!r}; choose one of {', '.join(METHODS)}.")
    return makers[method]


def image_optimizers(method: str, lr: float, delta: float, clip: Projection) -> Callable:
    """``(G, D) -> (opt_G, opt_D)`` for the image experiment: both players' solvers at step size
    ``lr``; SRFB's and EG's critic project onto ``clip`` inside their step, Adam's critic gets no
    projection here (the training loop clips it after its step, ``projection_D``)."""
    make = solver(method, lr, delta)
    box = {} if method == "Adam" else {"projection": clip}
    return lambda G, D: (make([{"params": G.parameters()}]), make([{"params": D.parameters(), **box}]))
