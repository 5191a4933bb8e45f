"""The double oracle on the known-optimum game of :mod:`gancore.arena.known`, many games in lockstep.

Pure strategies are generators W_i and discriminators (u, v)_j; the meta game is solved by
:func:`gancore.oracle.double_oracle`. Two identities make an oracle ONE ordinary training run against a
fixed opponent (both tested):

* f is linear in the discriminator, so a mixture of discriminators with weights q is one wider
  discriminator whose v's are scaled by q (:func:`discriminator_mixture`);
* the quadratic discriminator is 2-homogeneous in its input and the game sees fakes only through
  sum_j D(g_j), so against a mixture of generators with weights p it sees the stacked fake set
  [sqrt(p_1) Z W_1; sqrt(p_2) Z W_2; ...] (:func:`generator_mixture`).

Each (problem, step size, seed) is its own game, run in its own thread; the threads' oracle calls are
answered together by one batched :func:`gancore.train.fit` (:class:`_Lockstep`), so that all games cost
a few batched runs, as a method of :func:`gancore.arena.known.play` does, not one run per game.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from .. import train
from ..convex import SumWasserstein
from ..convex.gda import one_thread
from ..oracle import DoubleOracleResult, double_oracle
from .known import (_FIT_SEED, SCORES, KnownProblem, LinearGenerators, QuadraticDiscriminators, _blown_up,
                    _check_budget, _members, _optimizer, _penalties, _table, mixture_scores, payoff,
                    stack_players)
from .methods import Method

__all__ = ["discriminator_mixture", "generator_mixture", "double_oracle_run"]


def discriminator_mixture(us: Sequence[np.ndarray], vs: Sequence[np.ndarray], q: Sequence[float],
                          width: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The mixture sum_j q_j D_j as ONE discriminator (f is linear in D, and q_j ||v_j||_1 = ||q_j v_j||_1):
    the u's side by side, the v's scaled by q; padded to ``width`` neurons with v = 0."""
    u, v = np.concatenate(us, axis=1), np.concatenate([qj * np.asarray(vj) for qj, vj in zip(q, vs)])
    pad = (width or u.shape[1]) - u.shape[1]
    return np.concatenate([u, np.ones((u.shape[0], pad))], axis=1), np.concatenate([v, np.zeros(pad)])


def generator_mixture(Z: np.ndarray, Ws: Sequence[np.ndarray], p: Sequence[float],
                      count: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(Z', W')`` with Z' W' the stacked fake set [sqrt(p_1) Z W_1; ...]: Z' = blockdiag(sqrt(p_i) Z) and
    W' = [W_1; ...]. A quadratic discriminator is 2-homogeneous in its input, so it sees the mixture's
    second moment sum_i p_i G_i^T G_i; ``count`` pads with zero blocks (zero fakes add nothing)."""
    J, (n, df) = count or len(Ws), Z.shape
    Zb = np.zeros((J * n, J * df))
    for i, pi in enumerate(p):
        Zb[i * n:(i + 1) * n, i * df:(i + 1) * df] = math.sqrt(pi) * Z
    W = np.concatenate(list(Ws) + [np.zeros_like(Ws[0])] * (J - len(Ws)))
    return Zb, W


class _Lockstep:
    """K double-oracle games, each in its own thread, whose oracle calls are trained together: a call waits
    until every game still running has asked, then one batched :func:`gancore.train.fit` answers them all
    (``answer(kind, requests) -> {game: strategy or None}``, None for a game whose oracle diverged)."""

    def __init__(self, games: int, answer: Callable[[str, dict], dict]):
        self.cond, self.active, self.answer = threading.Condition(), games, answer
        self.requests: dict[int, tuple[str, tuple]] = {}
        self.results: dict[int, object] = {}
        self.round, self.error = 0, None

    def call(self, game: int, kind: str, request: tuple) -> object:
        with self.cond:
            self.requests[game] = (kind, request)
            mine = self.round
            self._maybe_answer()
            while self.round == mine:
                self.cond.wait()
            if self.error is not None:
                raise self.error
            return self.results.pop(game)

    def done(self) -> None:
        with self.cond:
            self.active -= 1
            self._maybe_answer()

    def _maybe_answer(self) -> None:
        if not self.requests or len(self.requests) < self.active:
            return
        try:
            for kind in sorted({k for k, _ in self.requests.values()}):
                self.results.update(self.answer(kind, {g: r for g, (k, r) in self.requests.items() if k == kind}))
        except BaseException as error:  # handed to every waiting game
            self.error = error
        self.requests, self.round = {}, self.round + 1
        self.cond.notify_all()


def _support(strategies: Sequence, p: np.ndarray) -> tuple[list, np.ndarray]:
    """The strategies of positive probability (above 1e-9) and their renormalised probabilities."""
    keep = np.flatnonzero(np.asarray(p) > 1e-9)
    return [strategies[i] for i in keep], p[keep] / p[keep].sum()


def _idle(net: nn.Module) -> torch.optim.Optimizer:
    """The fixed opponent of an oracle: its parameters stop requiring gradients, so that fit takes none for
    it, and its optimizer (which :class:`gancore.train.OnlyOne` never steps) holds a placeholder parameter
    that nothing uses (fit needs one to differentiate against)."""
    net.requires_grad_(False)
    net.idle = nn.Parameter(torch.zeros(()))
    return torch.optim.SGD([net.idle], lr=0.0)


class _OracleDiverged(Exception):
    """A game's oracle training stopped being finite."""


def double_oracle_run(problems: KnownProblem | Sequence[KnownProblem], lrs: float | Sequence[float],
                      seeds: Sequence[int], budget: int, oracle_steps: int, *, solver: str = "adam",
                      width: int | None = None, init_scale: float = 0.1, device: str = "cpu",
                      results: dict | None = None) -> pd.DataFrame:
    """The double oracle (:func:`gancore.oracle.double_oracle`) over stored generators W_i (rows, which
    maximise) and discriminators (u, v)_j (columns), with meta payoff U[i, j] = -f(W_i, u_j, v_j) (the
    discriminator's loss with both penalties, DO-GAN's meta game), one game per (problem, lr, seed).

    The initial strategies are the seed's W0 and D0 (:func:`~gancore.arena.known.stack_players`, where the
    other methods start). An oracle warm-starts from its player's most probable strategy and trains it
    alone (policy :class:`gancore.train.OnlyOne`, the opponent's optimizer idle) for ``oracle_steps`` steps
    of ``solver`` (``"adam"``, DO-GAN's, or another solver of :class:`~gancore.arena.methods.Method`) at
    step size lr against the opponent's meta-strategy: the discriminator mixture as one wide discriminator
    (:func:`discriminator_mixture`), the generator mixture as one stacked fake set (:func:`generator_mixture`).
    These are NOT exact best responses, which do not exist: against a generator mixture whose second
    moment misses the data's by more than beta_d along some direction, D's gain grows without bound along
    it (f is linear in v), and G's problem is a nonconvex quadratic, unbounded below once some
    v_j > beta_g / (2 D_j^2). A trained oracle is bounded only by its number of steps.

    Budget: every oracle step counts 1 player-gradient evaluation, an iteration 2 * ``oracle_steps``;
    ``budget`` must be a multiple of that. Returns the table of :func:`~gancore.arena.known.play` (method
    "DO"), one row per game and iteration, scored on the meta-strategy's mixed generator
    (:func:`~gancore.arena.known.mixture_scores`); a game that stops early (no oracle gains) keeps its
    last scores to ``budget``; one whose oracle blows up ends with infinite scores. ``seconds``: wall
    seconds of the lockstep run so far divided by the number of games. ``results``, a dict if given,
    receives each finished game's :class:`gancore.oracle.DoubleOracleResult` under (beta_fraction, lr, seed).
    """
    problems, games = _members(problems, lrs, seeds)
    if not (isinstance(oracle_steps, int) and oracle_steps > 0):
        raise ValueError(f"Invalid oracle_steps={oracle_steps!r}: use an integer > 0.")
    _check_budget(budget, 2 * oracle_steps, 2 * oracle_steps)
    oracle, width = Method("DO oracle", solver), 2 * problems[0].d if width is None else width
    G0, D0 = stack_players(problems[0], [s for _, _, s in games], width, init_scale)
    dev, X = train.resolve_device(device), torch.as_tensor(problems[0].X, dtype=torch.float32)
    Z = problems[0].Z

    def answer(kind: str, requests: dict) -> dict:
        order = sorted(requests)
        requests = {g: (warm, *_support(strategies, p)) for g, (warm, strategies, p) in requests.items()}
        if kind == "G":  # requests: (W to warm-start from, [(u, v)], q)
            J = max(sum(v.size for _, v in requests[g][1]) for g in order)
            mix = [discriminator_mixture(*zip(*requests[g][1]), requests[g][2], J) for g in order]
            learner = LinearGenerators(G0.Z, torch.stack([torch.as_tensor(requests[g][0]) for g in order]))
            fixed = QuadraticDiscriminators(*(torch.as_tensor(np.stack(a), dtype=torch.float32) for a in zip(*mix)))
            pair = (learner, fixed)
        else:  # requests: ((u, v) to warm-start from, [W], p); the mixture's fakes as one fixed set
            J = max(len(requests[g][1]) for g in order)
            fakes = np.stack([np.matmul(*generator_mixture(Z, requests[g][1], requests[g][2], J)) for g in order])
            learner = QuadraticDiscriminators(*(torch.stack([torch.as_tensor(requests[g][0][i]) for g in order])
                                                for i in (0, 1)))
            pair = (LinearGenerators(None, torch.as_tensor(fakes, dtype=torch.float32)), learner)
        pair[0].to(dev), pair[1].to(dev)
        penalty_D, penalty_G = _penalties(problems, [games[g] for g in order], dev)
        lr = torch.tensor([games[g][1] for g in order])
        opts = [_optimizer(oracle, net, lr) if net is learner else _idle(net) for net in pair]
        try:
            train.fit(*pair, X, loss=SumWasserstein(), opt_G=opts[0], opt_D=opts[1], steps=oracle_steps,
                      batch_size=len(X), latent_dim=1, policy=train.OnlyOne(kind), seed=_FIT_SEED, device=dev,
                      log_every=oracle_steps, progress=False, penalty_D=penalty_D if kind == "D" else None,
                      penalty_G=penalty_G if kind == "G" else None)
        except train.TrainingDiverged:
            bad = _blown_up(*pair, X.to(dev))
            keep = [g for g, b in zip(order, bad) if not b]
            if not bad.any() or not keep:
                return dict.fromkeys(order)
            return {**dict.fromkeys(g for g, b in zip(order, bad) if b), **answer(kind, {g: requests[g] for g in keep})}
        if kind == "G":
            return {g: learner.W[i].detach().cpu().numpy() for i, g in enumerate(order)}
        return {g: (learner.u[i].detach().cpu().numpy(), learner.v[i].detach().cpu().numpy())
                for i, g in enumerate(order)}

    lockstep, rows, start = _Lockstep(len(games), answer), [[] for _ in games], time.perf_counter()
    errors: list[BaseException] = []

    def play_game(g: int) -> None:
        problem = problems[games[g][0]]

        def ask(kind: str, request: tuple) -> object:
            out = lockstep.call(g, kind, request)
            if out is None:
                raise _OracleDiverged
            return out

        def record(t: int, r: DoubleOracleResult) -> dict:
            rows[g].append({"problem": games[g][0], "lr": games[g][1], "seed": games[g][2],
                            "evals": 2 * oracle_steps * t, "seconds": (time.perf_counter() - start) / len(games),
                            **mixture_scores(problem, r.rows, r.sigma_row)})
            return {}

        try:
            result = double_oracle(
                lambda Ws, Ds: -np.array([[payoff(problem, W, u, v) for u, v in Ds] for W in Ws]),
                lambda Ws, p, Ds, q, t: ask("G", (Ws[int(np.argmax(p))], Ds, q)),
                lambda Ws, p, Ds, q, t: ask("D", (Ds[int(np.argmax(q))], Ws, p)),
                G0.W[g].detach().numpy(), (D0.u[g].detach().numpy(), D0.v[g].detach().numpy()),
                iterations=budget // (2 * oracle_steps), callback=record)
            if results is not None:
                results[(problem.beta_fraction, *games[g][1:])] = result
            last = rows[g][-1]
        except _OracleDiverged:
            last = {**rows[g][-1], **dict.fromkeys(SCORES, math.inf)}
        except BaseException as error:  # raised again in the calling thread
            errors.append(error)
            return
        finally:
            lockstep.done()
        step = 2 * oracle_steps
        rows[g] += [{**last, "evals": e} for e in range(rows[g][-1]["evals"] + step, budget + 1, step)]

    with one_thread():
        threads = [threading.Thread(target=play_game, args=(g,)) for g in range(len(games))]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    if errors:
        raise errors[0]
    return _table("DO", problems, [r for rs in rows for r in rs])
