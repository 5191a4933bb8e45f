"""The arena's first game: Sahiner et al.'s WGAN whose global optimum is known in closed form.

The game (Sahiner et al., "Hidden Convexity of Wasserstein GANs", ICLR 2022, Sec. 3 and Thm 2.1) is the
one :func:`gancore.convex.gda_fit` plays: a linear generator G = Z W on a FIXED noise matrix Z
(:class:`~gancore.convex.FixedNoiseLinear`), a two-layer quadratic-activation discriminator
D(x) = sum_j v_j (u_j^T x / ||u_j||)^2 (:class:`~gancore.convex.TwoLayerDiscriminator`), sums over samples
(:class:`~gancore.convex.SumWasserstein`), the penalties beta_d ||v||_1 on D and (beta_g / 2) ||W||_F^2 on G:

    min_W max_{u, v}  f(W, u, v) = sum_j v_j uhat_j^T (X^T X - G^T G) uhat_j - beta_d ||v||_1 + (beta_g / 2) ||W||_F^2.

Its value is p* = :func:`~gancore.convex.quadratic_optimal_value` and every solution has the second
moment M* = G*^T G* = V (Sigma^2 - beta_d I)_+ V^T (unique, although W* is not). A saddle point is W* of
:func:`~gancore.convex.quadratic_closed_form` with u_j = V_j (the j-th right singular vector of X) and
v_j = beta_g / (2 D_j^2) (D_j: singular values of Z) for the k components that survive beta_d
(:func:`saddle_point`). A run is scored against them, every ``eval_every`` player-gradient evaluations:
``rel_gap`` = |R(W) - p*| / p* with R = :func:`~gancore.convex.wgan_objective`, ``moment_gap`` =
||G^T G - M*||_F / ||M*||_F and ``violation`` = :func:`~gancore.convex.constraint_violation`.

:func:`known_problem` is :func:`gancore.convex.comparison_problem` rescaled (X / sqrt(n), Z^T Z = I, so
that step sizes do not depend on n) with the difficulty knobs ``d``, ``spread`` (the data's condition
sqrt(cond(X^T X)): standard deviations linspace(2, 2 / spread, d)) and ``beta_fraction``.
:func:`play` runs one method of :data:`gancore.arena.methods.METHODS` for a grid of step sizes and many
seeds as ONE batched :func:`gancore.train.fit` (:class:`LinearGenerators`, :class:`QuadraticDiscriminators`:
member k is the single-run pair built after ``torch.manual_seed(seed_k)``, the initialisation of
``gda_fit(seed=seed_k)``, and steps with its own step size). The double oracle on the same game and budget
is :mod:`gancore.arena.known_oracle`; the chapter's tables are :mod:`gancore.arena.known_tables`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from .. import train
from ..convex import FixedNoiseLinear, SumWasserstein, TwoLayerDiscriminator
from ..convex.gda import one_thread
from ..convex.closed_form import quadratic_optimal_value, quadratic_solution
from ..solvers import ergodic_average
from .methods import Method, method

__all__ = ["KnownProblem", "known_problem", "LinearGenerators", "QuadraticDiscriminators", "stack_players",
           "saddle_point", "scores", "payoff", "mixture_scores", "play", "SCORES"]

SCORES = ("rel_gap", "moment_gap", "violation")
_FIT_SEED = 0  # fit's data order and noise do not matter here (full batches, fixed noise): one stream for all


@dataclass(frozen=True)
class KnownProblem:
    """Data X (n x d), noise Z (n x d, orthonormal columns), the penalties, the known answer (a solution
    W*, the unique optimal second moment M* = G*^T G*, the value p*, k surviving components) and the
    ``beta_fraction`` that set beta_d (:func:`known_problem`)."""

    X: np.ndarray
    Z: np.ndarray
    beta_d: float
    beta_g: float
    W_star: np.ndarray
    M_star: np.ndarray
    p_star: float
    k: int
    beta_fraction: float

    @property
    def d(self) -> int:
        return self.X.shape[1]


def known_problem(n: int = 32, d: int = 4, seed: int = 0, *, spread: float = 4.0, beta_fraction: float = 0.3,
                  beta_g: float = 1.0) -> KnownProblem:
    """X = N(0, I) rows times diag(linspace(2, 2 / spread, d)) / sqrt(n), Z = the Q factor of an n x d
    Gaussian matrix (Z^T Z = I), beta_d = beta_fraction * sigma_2(X)^2, from numpy ``default_rng(seed)``
    (X first): :func:`gancore.convex.comparison_problem` (spread 4, beta_fraction 0.3) scaled so that the
    gradients do not grow with n. Needs n >= d >= 2, spread >= 1, 0 < beta_fraction < sigma_1^2 / sigma_2^2."""
    if not (isinstance(d, int) and isinstance(n, int) and 2 <= d <= n):
        raise ValueError(f"Invalid sizes n={n!r}, d={d!r}: use integers with 2 <= d <= n.")
    if not spread >= 1 or not math.isfinite(spread):
        raise ValueError(f"Invalid spread {spread!r}: use a finite number >= 1 (1: isotropic data).")
    if not (beta_fraction > 0 and beta_g > 0):
        raise ValueError(f"Invalid penalties beta_fraction={beta_fraction!r}, beta_g={beta_g!r}: both must be > 0.")
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) @ np.diag(np.linspace(2.0, 2.0 / spread, d)) / math.sqrt(n)
    Z = np.linalg.qr(rng.standard_normal((n, d)))[0]
    beta_d = float(beta_fraction * np.linalg.svd(X, compute_uv=False)[1] ** 2)
    sol = quadratic_solution(torch.from_numpy(X), torch.from_numpy(Z), beta_d)
    if sol.k == 0:
        raise ValueError(f"beta_fraction={beta_fraction} leaves no component (beta_d >= sigma_1^2): the optimum "
                         "is W = 0; use a smaller beta_fraction.")
    W = sol.W.numpy()
    G = Z @ W
    p_star = quadratic_optimal_value(X, Z, beta_d, beta_g)
    return KnownProblem(X, Z, beta_d, float(beta_g), W, G.T @ G, p_star, sol.k, float(beta_fraction))


# ----------------------------------------------------------------------------------------------------
# the players, K seeds at once
# ----------------------------------------------------------------------------------------------------

class LinearGenerators(nn.Module):
    """K linear generators on a fixed noise matrix Z (n_f x d_f, or one per member: (K, n_f, d_f)):
    ``forward(z)`` ignores z and returns Z W_k for every member, (K, n_f, d); W has shape (K, d_f, d).
    ``Z=None``: the fake set is W itself (a fixed set of fakes, when W is not trained)."""

    def __init__(self, Z: torch.Tensor | None, W: torch.Tensor):
        super().__init__()
        self.register_buffer("Z", Z)
        self.W = nn.Parameter(W)

    def forward(self, z: torch.Tensor | None = None) -> torch.Tensor:
        return self.W if self.Z is None else self.Z @ self.W


class QuadraticDiscriminators(nn.Module):
    """K discriminators D_k(x) = sum_j v_kj (u_kj^T x / ||u_kj||)^2 on inputs (K, B, d), or (B, d) given to
    every member, -> (K, B, 1); u has shape (K, d, m), v (K, m)."""

    def __init__(self, u: torch.Tensor, v: torch.Tensor):
        super().__init__()
        self.u, self.v = nn.Parameter(u), nn.Parameter(v)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = self.u / self.u.norm(dim=-2, keepdim=True)
        if x.dim() == 2:  # one input set for all members (the data): one matrix product, not K small ones
            K, d, m = u.shape
            t = (x @ u.transpose(0, 1).reshape(d, K * m)).view(len(x), K, m).transpose(0, 1)
        else:
            t = x @ u
        return (t * t * self.v[:, None, :]).sum(-1, keepdim=True)


def stack_players(problem: KnownProblem, seeds: Sequence[int], width: int,
                  init_scale: float = 0.1) -> tuple[LinearGenerators, QuadraticDiscriminators]:
    """Member k: ``torch.manual_seed(seeds[k])``, then ``FixedNoiseLinear(Z, d, init_scale)`` and
    ``TwoLayerDiscriminator(d, width, "quadratic", normalize=True)``, in that order (as
    :func:`gancore.convex.gda_fit` builds them), stacked."""
    if not len(seeds):
        raise ValueError("No seeds: pass at least one seed.")
    Ws, us, vs = [], [], []
    for s in seeds:
        torch.manual_seed(s)
        G = FixedNoiseLinear(problem.Z, problem.d, init_scale)
        D = TwoLayerDiscriminator(problem.d, width, "quadratic", normalize=True)
        Ws.append(G.W.detach()), us.append(D.u.detach()), vs.append(D.v.detach())
    return LinearGenerators(G.Z.clone(), torch.stack(Ws)), QuadraticDiscriminators(torch.stack(us), torch.stack(vs))


def saddle_point(problem: KnownProblem, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(W*, u*, v*)``: W* of the closed form and the discriminator at its multipliers, u_j = V_j (the
    j-th right singular vector of X) with v_j = beta_g / (2 D_j^2) for j <= k, where both players'
    gradients vanish (G: beta_g W* = 2 sum_j v_j Z^T Z W* u_j u_j^T; D: the constraint is tight along
    V_1..V_k, so d f / d v_j = beta_d - beta_d sign(v_j) = 0 and V_j maximises uhat^T (X^T X - G*^T G*) uhat).
    Neurons past k get u = V_d and v = 0: with ``width == k`` the point is exactly stationary; with more,
    those v leave 0 by about lr * beta_d (torch takes 0 as the subgradient of |v| at 0)."""
    if width < problem.k:
        raise ValueError(f"width={width} < k={problem.k}: the saddle discriminator needs one neuron per "
                         "surviving component.")
    Vh = np.linalg.svd(problem.X, full_matrices=False)[2]
    Dz = np.linalg.svd(problem.Z, compute_uv=False)
    u = np.tile(Vh[-1:].T, (1, width))
    u[:, :problem.k] = Vh[:problem.k].T
    v = np.zeros(width)
    v[:problem.k] = problem.beta_g / (2 * Dz[:problem.k] ** 2)
    return problem.W_star.copy(), u, v


# ----------------------------------------------------------------------------------------------------
# scores and the payoff
# ----------------------------------------------------------------------------------------------------

def _scores_of_moments(problem: KnownProblem, M: np.ndarray, objective: np.ndarray) -> dict[str, np.ndarray]:
    """Scores of second moments M (K, d, d) with objectives R (K,); non-finite -> inf."""
    finite = np.isfinite(M).all(axis=(1, 2)) & np.isfinite(objective)
    M = np.where(finite[:, None, None], M, 0.0)
    gap = np.linalg.norm(M - problem.M_star, axis=(1, 2)) / np.linalg.norm(problem.M_star)
    A = problem.X.T @ problem.X - M
    value = np.abs(np.linalg.eigvalsh((A + A.transpose(0, 2, 1)) / 2)).max(axis=1)
    out = {"rel_gap": np.abs(objective - problem.p_star) / problem.p_star, "moment_gap": gap,
           "violation": np.maximum(value / problem.beta_d - 1.0, 0.0)}
    return {key: np.where(finite, val, np.inf) for key, val in out.items()}


def scores(problem: KnownProblem, W: np.ndarray | torch.Tensor) -> dict[str, np.ndarray]:
    """``rel_gap``, ``moment_gap`` and ``violation`` of generators W (K, d_f, d) or one W (d_f, d), as (K,)
    arrays in float64 (inf where W is not finite)."""
    W = np.asarray(W.detach().cpu().double() if isinstance(W, torch.Tensor) else W, dtype=np.float64)
    W = W[None] if W.ndim == 2 else W
    with np.errstate(all="ignore"):  # a diverged W scores inf
        G = problem.Z @ W
        return _scores_of_moments(problem, G.transpose(0, 2, 1) @ G, problem.beta_g / 2 * (W ** 2).sum(axis=(1, 2)))


def mixture_scores(problem: KnownProblem, Ws: Sequence[np.ndarray], p: Sequence[float]) -> dict[str, float]:
    """Scores of the mixed generator that plays W_i with probability p_i: objective sum_i p_i R(W_i),
    second moment sum_i p_i W_i^T Z^T Z W_i (what a discriminator sees: it is linear in the fake set's
    second moment), compared with p* and M* (the SDP over mixtures has the same unique solution M*)."""
    p = np.asarray(p, dtype=np.float64)
    if p.shape != (len(Ws),) or (p < 0).any() or abs(p.sum() - 1) > 1e-6:
        raise ValueError(f"p must be a probability vector over the {len(Ws)} generators, got {p}.")
    G = [problem.Z @ np.asarray(W, dtype=np.float64) for W in Ws]
    M = sum(pi * g.T @ g for pi, g in zip(p, G))
    R = sum(pi * problem.beta_g / 2 * float((np.asarray(W) ** 2).sum()) for pi, W in zip(p, Ws))
    return {k: float(v[0]) for k, v in _scores_of_moments(problem, M[None], np.array([R])).items()}


def payoff(problem: KnownProblem, W: np.ndarray, u: np.ndarray, v: np.ndarray) -> float:
    """f(W, u, v) = sum_j v_j uhat_j^T (X^T X - G^T G) uhat_j - beta_d ||v||_1 + (beta_g / 2) ||W||_F^2,
    G = Z W: the penalised objective that D maximises and G minimises (float64)."""
    W, u, v = (np.asarray(a, dtype=np.float64) for a in (W, u, v))
    G = problem.Z @ W
    uh = u / np.linalg.norm(u, axis=0, keepdims=True)
    q = ((problem.X @ uh) ** 2).sum(0) - ((G @ uh) ** 2).sum(0)
    return float(v @ q - problem.beta_d * np.abs(v).sum() + problem.beta_g / 2 * (W ** 2).sum())


# ----------------------------------------------------------------------------------------------------
# training many (problem, step size, seed) members at once
# ----------------------------------------------------------------------------------------------------

Member = tuple[int, float, int]  # (index of the problem, step size, seed)


def _check_budget(budget: int, eval_every: int, unit: int = 4) -> None:
    if not (isinstance(budget, int) and isinstance(eval_every, int) and eval_every > 0 and eval_every % unit == 0
            and budget > 0 and budget % eval_every == 0):
        raise ValueError(f"Invalid budget={budget!r}, eval_every={eval_every!r}: use integers with eval_every a "
                         f"positive multiple of {unit} (an extragradient step costs 4 player-gradient evaluations, "
                         "a double-oracle iteration 2 oracle runs) and budget a positive multiple of eval_every.")


def _members(problems: KnownProblem | Sequence[KnownProblem], lrs: float | Sequence[float],
             seeds: Sequence[int]) -> tuple[list[KnownProblem], list[Member]]:
    """Checked problems (one X and Z, any penalties) and every (problem, lr, seed), problem-major."""
    problems = [problems] if isinstance(problems, KnownProblem) else list(problems)
    lrs = [lrs] if isinstance(lrs, (int, float)) else list(lrs)
    if not lrs or not all(isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0 for lr in lrs):
        raise ValueError(f"Invalid step sizes {lrs!r}: give finite numbers > 0.")
    if not problems or not len(seeds):
        raise ValueError("No problems or no seeds: pass at least one of each.")
    if any(q.X.shape != problems[0].X.shape or not (np.array_equal(q.X, problems[0].X) and
                                                     np.array_equal(q.Z, problems[0].Z)) for q in problems):
        raise ValueError("Problems trained together must share X and Z (they may differ in beta_d and beta_g): "
                         "build them with known_problem(n, d, seed, spread=...) and different beta_fraction.")
    return problems, [(i, float(lr), int(s)) for i in range(len(problems)) for lr in lrs for s in seeds]


def _penalties(problems: list[KnownProblem], members: list[Member], device: torch.device) -> tuple[Callable, Callable]:
    """fit's ``penalty_D`` = beta_d ||v||_1 and ``penalty_G`` = (beta_g / 2) ||W||_F^2, per member."""
    beta_d, beta_g = (torch.tensor([getattr(problems[i], b) for i, _, _ in members], device=device)
                      for b in ("beta_d", "beta_g"))
    return (lambda D, real, fake, generator: beta_d * D.v.abs().sum(-1),
            lambda G: beta_g / 2 * G.W.square().sum(dim=(-2, -1)))


def _optimizer(m: Method, module: nn.Module, lrs: torch.Tensor) -> torch.optim.Optimizer:
    """``m``'s optimizer for ``module`` (parameters with a leading member axis) where member k steps with
    ``lrs[k]``: the optimizer runs at lr = max(lrs) and member k's step is scaled by s_k = lrs[k] / lr, through
    its gradient for the solvers whose step is linear in lr * gradient (SGD, EG, OGDA, SRFB) and through
    its update for Adam (whose update does not scale with the gradient). s_k = 1 leaves a member untouched."""
    params, base = list(module.parameters()), float(lrs.max())
    opt = m.optimizer(params, base)
    scale = (lrs / base).to(params[0].device)
    if bool((scale == 1).all()):
        return opt
    views = [scale.view(-1, *[1] * (p.dim() - 1)) for p in params]
    if m.solver != "adam":
        for p, s in zip(params, views):
            p.register_hook(lambda g, s=s: g * s)
        return opt
    before: list[torch.Tensor] = []
    opt.register_step_pre_hook(lambda o, a, k: before.__setitem__(slice(None), [p.detach().clone() for p in params]))

    def rescale(o: torch.optim.Optimizer, a: tuple, k: dict) -> None:
        with torch.no_grad():
            for p, old, s in zip(params, before, views):
                p.copy_(torch.lerp(old, p, s))

    opt.register_step_post_hook(rescale)
    return opt


def _blown_up(G: nn.Module, D: nn.Module, X: torch.Tensor) -> np.ndarray:
    """Members whose losses are not finite at the current point, or whose parameters exceed 1e6 in size
    (on their way to overflow: the optimum has entries of order 1), when a run stops diverged."""
    with torch.no_grad():
        total = D(G()).sum((-2, -1)) - D(X).sum((-2, -1)) + D.v.abs().sum(-1) + G.W.square().sum((-2, -1))
        bad = ~torch.isfinite(total) | ~torch.isfinite(G.W).flatten(1).all(1)
        for p in (G.W, D.u, D.v):
            bad |= p.abs().flatten(1).amax(1) > 1e6
        return bad.cpu().numpy()


def _diverged(rows: list[dict], members: list[Member], bad: np.ndarray, budget: int) -> list[dict]:
    """The rows of the ``bad`` members so far, each ending with a row at ``budget`` of infinite scores."""
    out = []
    for i, lr, seed in (mb for mb, b in zip(members, bad) if b):
        mine = [r for r in rows if (r["problem"], r["lr"], r["seed"]) == (i, lr, seed)]
        last = mine[-1]["seconds"] if mine else 0.0
        out += mine + [{"problem": i, "lr": lr, "seed": seed, "evals": budget, "seconds": last,
                        **dict.fromkeys(SCORES, math.inf)}]
    return out


def _fit_members(m: Method, problems: list[KnownProblem], members: list[Member], budget: int, every: int,
                 width: int, init_scale: float, device: torch.device) -> list[dict]:
    """One batched fit of ``m`` for ``members``; those that blow up are recorded as diverged and the
    others trained again without them."""
    G, D = stack_players(problems[0], [s for _, _, s in members], width, init_scale)
    G.to(device), D.to(device)
    lrs = torch.tensor([lr for _, lr, _ in members], dtype=torch.float32)
    opt_G, opt_D = _optimizer(m, G, lrs), _optimizer(m, D, lrs)
    average = None
    if m.average:  # the uniform average of the iterates after every G step: what fit's average_G="uniform" holds
        average = ergodic_average(G)
        opt_G.register_step_post_hook(lambda opt, args, kwargs: average.update_parameters(G))
    rows: list[dict] = []
    clock = {"start": time.perf_counter(), "evaluating": 0.0}
    groups = [(i, [k for k, mb in enumerate(members) if mb[0] == i]) for i in sorted({mb[0] for mb in members})]

    def evaluate(step: int, gen: nn.Module, disc: nn.Module) -> dict:
        t0 = time.perf_counter()
        seconds = (t0 - clock["start"] - clock["evaluating"]) / len(members)
        W = (average.module if m.average else gen).W.detach()
        for i, ks in groups:
            s = scores(problems[i], W[ks])
            rows.extend({"problem": i, "lr": members[k][1], "seed": members[k][2], "evals": step * m.evals_per_step,
                         "seconds": seconds, **{key: float(val[j]) for key, val in s.items()}}
                        for j, k in enumerate(ks))
        clock["evaluating"] += time.perf_counter() - t0
        return {}

    X = torch.as_tensor(problems[0].X, dtype=torch.float32, device=device)
    penalty_D, penalty_G = _penalties(problems, members, device)
    try:  # fit's member axis only where per-member decisions need it (one stream serves the full batch)
        train.fit(G, D, X, loss=SumWasserstein(), opt_G=opt_G, opt_D=opt_D, steps=m.steps(budget),
                  batch_size=len(X), latent_dim=1, policy=m.make_policy(), evaluate=evaluate, eval_every=every,
                  seed=[_FIT_SEED] * len(members) if m.policy == "cooperative" else _FIT_SEED, device=device,
                  log_every=m.steps(budget), penalty_D=penalty_D, penalty_G=penalty_G, average_G=m.average_G,
                  progress=False)
    except train.TrainingDiverged:
        bad = _blown_up(G, D, X)
        bad = bad if bad.any() else np.ones(len(members), dtype=bool)
        rest = [mb for mb, b in zip(members, bad) if not b]
        return _diverged(rows, members, bad, budget) + (
            _fit_members(m, problems, rest, budget, every, width, init_scale, device) if rest else [])
    return rows


def _table(name: str, problems: list[KnownProblem], rows: list[dict]) -> pd.DataFrame:
    table = pd.DataFrame(rows)
    table.insert(0, "beta_fraction", [problems[i].beta_fraction for i in table.pop("problem")])
    table.insert(0, "method", name)
    return table.sort_values(["beta_fraction", "lr", "seed", "evals"], kind="stable", ignore_index=True)


def play(method_name: str, lrs: float | Sequence[float], problems: KnownProblem | Sequence[KnownProblem],
         seeds: Sequence[int], budget: int, eval_every: int, *, width: int | None = None, init_scale: float = 0.1,
         device: str = "cpu") -> pd.DataFrame:
    """``method_name`` of :data:`~gancore.arena.methods.METHODS` at every step size of ``lrs`` (one number or a
    grid; both players use it) on every problem of ``problems`` (one or several sharing X and Z: a weight-decay
    axis) from every seed's initialisation (:func:`stack_players`), for ``budget`` player-gradient evaluations
    (``Method.steps``), full batches, scored every ``eval_every`` evaluations. All (problem, lr, seed) members
    train as ONE batched :func:`gancore.train.fit` (:func:`_optimizer` gives each its step size, the penalties
    take each its beta_d and beta_g); discriminator width ``width`` (default 2 d).

    Returns a tidy table, one row per member and evaluation: method, beta_fraction, lr, seed, evals, seconds
    (training wall seconds so far, evaluations excluded, of the batched run divided by its number of
    members), rel_gap, moment_gap, violation (of the generator's uniform average for an averaging method).
    A member that blows up (:class:`gancore.train.TrainingDiverged`; :func:`_blown_up`) keeps its rows up to
    then and gets a last row at ``budget`` with infinite scores; the others are trained again without it.
    A member equals its single run up to round-off, except under the cooperative rule: Adam's step count
    (its bias correction) is shared by the members, and advances for a member the rule froze.
    """
    m = method(method_name)
    problems, members = _members(problems, lrs, seeds)
    _check_budget(budget, eval_every)
    with one_thread():
        rows = _fit_members(m, problems, members, budget, eval_every // m.evals_per_step,
                            2 * problems[0].d if width is None else width, init_scale, train.resolve_device(device))
    return _table(m.name, problems, rows)
