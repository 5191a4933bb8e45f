"""Double oracle for GANs (DO-GAN, Aung et al., CVPR 2022): the meta game and its scalability pieces.

In DO-GAN a pure strategy is a trained network; the meta game is the matrix ``U[i, j] =
payoff(G_i, D_j)`` between the stored generators (rows, maximising) and discriminators (columns,
minimising), and the meta-strategies are its exact mixed Nash equilibrium, found by linear
programming. This module holds, in order:

* the meta game: :func:`solve_matrix_game`, :func:`best_response_gains`, :func:`exploitability`;
* pruning of the stored sets: :func:`dominated_strategies`, :func:`prune`;
* networks: :class:`MixedGenerator` (sampling from a meta-strategy over generators) and continual
  learning by EWC (Kirkpatrick et al., PNAS 2017): :func:`diagonal_fisher`, :class:`EWC`;
* the double oracle loop for any game with oracles, :func:`double_oracle`, and DO-GAN on top of
  :func:`gancore.train.fit`, :func:`dogan` (networks as CPU-stored :class:`Strategy` records, oracles
  against mixtures via :class:`DiscriminatorMixture` / :class:`GeneratorMixture` /
  :class:`MixtureLoss` and the :class:`OnlyOne` policy);
* the base GANs DO-GAN is applied to: :func:`base_gan` (vanilla, DCGAN, SNGAN, stacked).

All matrix-game functions take a payoff matrix as a numpy array or a torch tensor and return numpy
arrays and Python floats.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.optimize
import torch
from torch import nn

__all__ = [
    "solve_matrix_game",
    "best_response_gains",
    "exploitability",
    "dominated_strategies",
    "prune",
    "MixedGenerator",
    "diagonal_fisher",
    "EWC",
    "double_oracle",
    "DoubleOracleResult",
    "Strategy",
    "DiscriminatorMixture",
    "GeneratorMixture",
    "MixtureLoss",
    "OnlyOne",
    "dogan",
    "DOGANResult",
    "BASE_GANS",
    "base_gan",
    "StackedDiscriminator",
]

METHODS = ("highs", "cvxpy")
PLAYERS = ("row", "col")
_PROB_ATOL = 1e-6  # how far a given mixed strategy may be from summing to one


# --------------------------------------------------------------------------------------------
# The meta game: exact equilibrium by linear programming
# --------------------------------------------------------------------------------------------

def _payoff_matrix(U: Any) -> np.ndarray:
    """``U`` as a finite, non-empty float64 matrix, else ``ValueError`` saying what is wrong."""
    if isinstance(U, torch.Tensor):
        U = U.detach().cpu().numpy()
    U = np.asarray(U, dtype=np.float64)
    if U.ndim != 2:
        raise ValueError(f"Payoff matrix must be 2-D (rows x columns), got shape {U.shape}")
    if U.size == 0:
        raise ValueError(f"Payoff matrix is empty (shape {U.shape}): each player needs at least one strategy")
    if not np.isfinite(U).all():
        bad = np.argwhere(~np.isfinite(U))[0]
        raise ValueError(
            f"Payoff matrix has {int((~np.isfinite(U)).sum())} non-finite entries (NaN or inf), "
            f"first at {tuple(int(i) for i in bad)}: {U[tuple(bad)]}; re-evaluate those payoffs"
        )
    return U


def _normalised(U: np.ndarray) -> tuple[np.ndarray, float, float]:
    """``(U - low) / scale`` with entries in [0, 1], and ``low``, ``scale``.

    A positive affine map of the payoffs changes neither player's best responses nor equilibria,
    and it makes the solvers' absolute tolerances relative to the payoff range.
    """
    low, high = float(U.min()), float(U.max())
    scale = high - low if high > low else 1.0
    return (U - low) / scale, low, scale


def _clean(p: np.ndarray) -> np.ndarray:
    """A solver's probability vector clipped at zero and renormalised to sum to one."""
    p = np.clip(np.asarray(p, dtype=np.float64).ravel(), 0.0, None)
    return p / p.sum()


def _maxmin_highs(U: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row player's LP: maximise v s.t. ``sum_i x_i U[i, j] >= v`` for all j, x in the simplex.

    Returns ``(x, y)``: the primal solution and, as the column player's strategy, the multipliers of
    the constraints ``v - x^T U[:, j] <= 0`` (the dual of the row LP is the column player's LP).
    """
    m, n = U.shape
    c = np.zeros(m + 1)
    c[-1] = -1.0  # minimise -v
    A_ub = np.hstack([-U.T, np.ones((n, 1))])  # v - x^T U[:, j] <= 0
    A_eq = np.append(np.ones(m), 0.0)[None, :]
    bounds = [(0.0, None)] * m + [(None, None)]
    res = scipy.optimize.linprog(c, A_ub=A_ub, b_ub=np.zeros(n), A_eq=A_eq, b_eq=[1.0],
                                 bounds=bounds, method="highs")
    if res.status != 0:
        raise RuntimeError(f"linprog (HiGHS) failed on the matrix game: {res.message}")
    return res.x[:m], -res.ineqlin.marginals


def _maxmin_cvxpy(U: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both players' LPs (the row LP of :func:`_maxmin_highs` and its mirror), written with cvxpy."""
    import cvxpy as cp  # imported here: cvxpy takes about a second to import

    strategies = []
    for S in (U, -U.T):  # the column player maximises -U
        m, _ = S.shape
        x, v = cp.Variable(m), cp.Variable()
        problem = cp.Problem(cp.Maximize(v), [S.T @ x >= v, x >= 0, cp.sum(x) == 1])
        problem.solve()
        if problem.status != cp.OPTIMAL:
            raise RuntimeError(f"cvxpy failed on the matrix game: status {problem.status}")
        strategies.append(np.asarray(x.value))
    return strategies[0], strategies[1]


def solve_matrix_game(U: Any, method: str = "highs") -> tuple[np.ndarray, np.ndarray, float]:
    """Exact mixed Nash equilibrium of the zero-sum matrix game ``U`` (row maximises, column minimises).

    Solves both players' linear programs (von Neumann's minimax theorem)::

        row:    max_{x, v} v  s.t.  sum_i x_i U[i, j] >= v  for all j,  x >= 0,  sum_i x_i = 1
        column: min_{y, w} w  s.t.  sum_j U[i, j] y_j <= w  for all i,  y >= 0,  sum_j y_j = 1

    whose optimal values coincide (v = w, the value of the game), so ``(x, y)`` is an equilibrium.
    The column LP is the dual of the row LP: with HiGHS one solve gives both (``y`` = the row LP's
    constraint multipliers); with cvxpy both LPs are solved. The LPs are solved on the payoffs
    mapped affinely to [0, 1], which leaves the equilibria unchanged. Equilibrium strategies need not be unique; the value is.

    Args:
        U: payoff matrix (m x n) to the row player, a numpy array or torch tensor.
        method: ``"highs"`` (scipy.optimize.linprog with HiGHS) or ``"cvxpy"``.

    Returns:
        ``(row_strategy, col_strategy, value)``: probability vectors (numpy float64, clipped at 0 and
        renormalised) and ``value = row_strategy @ U @ col_strategy`` as a float.

    Raises:
        ValueError: ``U`` is not a matrix, is empty or holds NaN/inf; unknown ``method``.
    """
    if method not in METHODS:
        raise ValueError(f"Unknown method {method!r}; known methods: {', '.join(METHODS)}")
    U = _payoff_matrix(U)
    S, _, _ = _normalised(U)
    x, y = (_maxmin_highs if method == "highs" else _maxmin_cvxpy)(S)
    x, y = _clean(x), _clean(y)
    return x, y, float(x @ U @ y)


def _strategy(p: Any, size: int, name: str) -> np.ndarray:
    """``p`` as a float64 probability vector of length ``size``, else ``ValueError``."""
    if isinstance(p, torch.Tensor):
        p = p.detach().cpu().numpy()
    p = np.asarray(p, dtype=np.float64)
    if p.shape != (size,):
        raise ValueError(f"{name} must have shape ({size},) to match the payoff matrix, got {p.shape}")
    if not np.isfinite(p).all() or (p < 0).any() or abs(p.sum() - 1.0) > _PROB_ATOL:
        raise ValueError(f"{name} must be a probability vector (finite, >= 0, sum 1), got {p}")
    return p


def best_response_gains(U: Any, row_strategy: Any, col_strategy: Any) -> tuple[float, float]:
    """How much each player gains by deviating to a best response against the other's strategy.

    With ``u = x^T U y``: ``row_gain = max_i (U y)_i - u`` and ``col_gain = u - min_j (x^T U)_j``.
    Both are >= 0, and both are 0 exactly when ``(x, y)`` is a Nash equilibrium. In the double
    oracle loop they are what the two oracles' new networks add against the current meta-strategies.
    """
    U = _payoff_matrix(U)
    x = _strategy(row_strategy, U.shape[0], "row_strategy")
    y = _strategy(col_strategy, U.shape[1], "col_strategy")
    u = float(x @ U @ y)
    return float((U @ y).max()) - u, u - float((x @ U).min())


def exploitability(U: Any, row_strategy: Any, col_strategy: Any) -> float:
    """NashConv of ``(x, y)``: the sum of both players' best-response gains.

    ``max_i (U y)_i - min_j (x^T U)_j >= 0``, with equality exactly at a Nash equilibrium.
    """
    row_gain, col_gain = best_response_gains(U, row_strategy, col_strategy)
    return row_gain + col_gain


# --------------------------------------------------------------------------------------------
# Pruning the stored strategy sets
# --------------------------------------------------------------------------------------------

def _as_row_player(U: np.ndarray, player: str) -> np.ndarray:
    """The payoffs of ``player`` with its strategies as rows, to be maximised."""
    if player not in PLAYERS:
        raise ValueError(f"Unknown player {player!r}; known players: {', '.join(PLAYERS)}")
    return U if player == "row" else -U.T


def _dominated_by_mixture(S: np.ndarray, k: int, others: np.ndarray, tol: float) -> bool:
    """Whether row ``k`` of ``S`` is weakly dominated by a mixture of rows ``others``.

    LP: maximise the total slack ``sum_j (p^T S[others] - S[k])_j`` over p in the simplex subject to
    ``p^T S[others] >= S[k]``; row k is dominated iff this is feasible with a positive slack. The
    solver's ``p`` is then checked directly against ``tol``.
    """
    if len(others) == 0:
        return False
    A = S[others]
    res = scipy.optimize.linprog(
        -A.sum(axis=1), A_ub=-A.T, b_ub=-S[k], A_eq=np.ones((1, len(others))), b_eq=[1.0],
        bounds=[(0.0, None)] * len(others), method="highs",
        options={"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10},
    )
    if res.status == 2:  # infeasible: no mixture is everywhere at least as good
        return False
    if res.status != 0:
        raise RuntimeError(f"linprog (HiGHS) failed on the domination LP for strategy {k}: {res.message}")
    slack = _clean(res.x) @ A - S[k]
    return bool(slack.min() >= -tol and slack.max() > tol)


def dominated_strategies(U: Any, player: Literal["row", "col"], by_mixture: bool = False,
                         tol: float = 1e-9) -> np.ndarray:
    """Indices of ``player``'s weakly dominated (or duplicate) strategies in the game ``U``.

    Strategy k of the row player (who maximises ``U``) is weakly dominated by i if
    ``U[i, j] >= U[k, j]`` for every column j and ``>`` for at least one; with ``by_mixture`` the
    dominator may be any mixture of the other strategies (found by an LP). For the column player
    (who minimises ``U``) the inequalities are reversed. Of several identical strategies all but the
    first are reported, so that exactly one of them is kept. Removing all reported strategies at
    once never removes every strategy and leaves the value of the game unchanged: each removed
    strategy is dominated by a (mixture of) kept one(s).

    Args:
        U: payoff matrix to the row player.
        player: ``"row"`` or ``"col"``.
        by_mixture: also test domination by mixtures of the other strategies.
        tol: payoff differences below ``tol * (max U - min U)`` count as ties.

    Returns:
        Sorted int64 array of the dominated strategies' indices.
    """
    if not tol >= 0:
        raise ValueError(f"Invalid tolerance: {tol}")
    S, _, _ = _normalised(_as_row_player(_payoff_matrix(U), player))
    m = S.shape[0]
    # D[i, k]: row i is everywhere >= row k; a tie in both directions is a duplicate
    D = (S[:, None, :] >= S[None, :, :] - tol).all(axis=2)
    equal = D & D.T
    duplicate = np.array([equal[:k, k].any() for k in range(m)], dtype=bool)
    dominated = duplicate | (D & ~equal).any(axis=0)
    if by_mixture:
        unique = np.flatnonzero(~duplicate)
        for k in unique:
            if not dominated[k]:
                dominated[k] = _dominated_by_mixture(S, k, unique[unique != k], tol)
    return np.flatnonzero(dominated)


def _keep_most_probable(candidates: np.ndarray, probs: np.ndarray, cap: int) -> np.ndarray:
    """The ``cap`` candidates of highest probability (ties: the later index), sorted."""
    order = np.lexsort((-candidates, -probs[candidates]))  # by probability, then index, descending
    return np.sort(candidates[order[:cap]])


def prune(U: Any, row_probs: Any, col_probs: Any, cap: int, by_mixture: bool = False,
          tol: float = 1e-9) -> tuple[np.ndarray, np.ndarray]:
    """Which stored strategies to keep: drop the weakly dominated ones, then cap the support.

    First every strategy that :func:`dominated_strategies` reports for its player in the full
    matrix ``U`` is removed (one round, both players at once; the value of the game is unchanged).
    Then, while a player has more than ``cap`` strategies, the least probable under its
    meta-strategy is removed (of equally probable ones the older, i.e. lower, index goes first).

    Args:
        U: payoff matrix (m x n) to the row player.
        row_probs, col_probs: the players' meta-strategies (length m and n), e.g. from
            :func:`solve_matrix_game`; only their order matters.
        cap: the most strategies a player keeps (>= 1).
        by_mixture, tol: as in :func:`dominated_strategies`.

    Returns:
        ``(row_keep, col_keep)``: sorted int64 index arrays into the rows and columns of ``U``.
    """
    U = _payoff_matrix(U)
    if not isinstance(cap, (int, np.integer)) or isinstance(cap, bool) or cap < 1:
        raise ValueError(f"Invalid cap: {cap!r}; it must be an integer >= 1")
    kept = []
    for player, probs, size in (("row", row_probs, U.shape[0]), ("col", col_probs, U.shape[1])):
        p = _strategy(probs, size, f"{player}_probs")
        candidates = np.setdiff1d(np.arange(size), dominated_strategies(U, player, by_mixture, tol))
        kept.append(_keep_most_probable(candidates, p, cap))
    return kept[0], kept[1]


# --------------------------------------------------------------------------------------------
# Networks: the mixed generator and continual learning by EWC
# --------------------------------------------------------------------------------------------

class MixedGenerator(nn.Module):
    """A meta-strategy over generators: a sample is ``G_i(z)`` with ``i ~ probs`` and ``z ~ N(0, I)``.

    The generators are registered as submodules (``state_dict`` holds them all, also those of
    probability 0) and ``probs`` as a float64 buffer.
    """

    def __init__(self, generators: Sequence[nn.Module], probs: Any) -> None:
        super().__init__()
        if len(generators) == 0:
            raise ValueError("MixedGenerator needs at least one generator")
        if isinstance(probs, torch.Tensor):
            p = probs.detach().to("cpu", torch.float64)
        else:
            p = torch.as_tensor(np.asarray(probs, dtype=np.float64))
        if p.shape != (len(generators),):
            raise ValueError(f"probs must have shape ({len(generators)},), one per generator, "
                             f"got {tuple(p.shape)}")
        if not torch.isfinite(p).all() or (p < 0).any() or abs(float(p.sum()) - 1.0) > _PROB_ATOL:
            raise ValueError(f"probs must be a probability vector (finite, >= 0, sum 1), got {p.tolist()}")
        self.generators = nn.ModuleList(generators)
        self.register_buffer("probs", p / p.sum())

    def forward(self, z: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """``out[k] = G_{index[k]}(z[k])``; each generator runs once, on all its latents together."""
        if index.shape != z.shape[:1]:
            raise ValueError(f"index must have shape ({z.shape[0]},), one per latent, "
                             f"got {tuple(index.shape)}")
        out = None
        for i in torch.unique(index).tolist():
            mask = index == i
            x = self.generators[i](z[mask])
            if out is None:
                out = x.new_empty((z.shape[0],) + tuple(x.shape[1:]))
            out[mask] = x
        return out

    def sample(self, n: int, latent_dim: int | Sequence[int], generator: torch.Generator | None = None,
               return_index: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """``n`` samples of the mixture: ``index ~ probs`` (n draws), then ``z``, both from ``generator``.

        Deterministic for a given ``torch.Generator`` state (as long as the generators themselves are,
        e.g. in eval mode). ``latent_dim`` is an int or a shape such as ``(100, 1, 1)``. With
        ``return_index`` also returns which generator produced each sample.
        """
        if n < 1:
            raise ValueError(f"Invalid number of samples: {n}")
        shape = (latent_dim,) if isinstance(latent_dim, int) else tuple(latent_dim)
        device = generator.device if generator is not None else torch.device("cpu")
        index = torch.multinomial(self.probs.to(device), n, replacement=True, generator=generator)
        z = torch.randn((n,) + shape, generator=generator, device=device)
        target = self.probs.device
        index, z = index.to(target), z.to(target)
        x = self(z, index)
        return (x, index) if return_index else x


def _trainable(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """``model``'s named parameters that require gradients, else ``ValueError``."""
    named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    if not named:
        raise ValueError("The model has no parameters that require gradients")
    return named


def diagonal_fisher(model: nn.Module, loss_fn: Callable[[nn.Module, Any], torch.Tensor],
                    batches: Iterable[Any]) -> dict[str, torch.Tensor]:
    """Diagonal (empirical) Fisher information at the model's current parameters theta*.

    ``F_i = mean_b (d loss_fn(model, b) / d theta_i)^2`` over the batches, where ``loss_fn`` returns the
    negative log-likelihood (or any training loss) of one batch as a scalar; Kirkpatrick et al. 2017
    use per-sample gradients, i.e. batches of one sample. Gradients are taken with
    ``torch.autograd.grad``, so the parameters' ``.grad`` are left untouched; the model's train/eval
    mode is the caller's choice.

    Returns:
        ``{name: F}`` for every parameter with ``requires_grad``, detached, shaped like the parameter.
    """
    named = _trainable(model)
    params = [p for _, p in named]
    fisher = [torch.zeros_like(p) for p in params]
    count = 0
    for batch in batches:
        grads = torch.autograd.grad(loss_fn(model, batch), params, allow_unused=True)
        for f, g in zip(fisher, grads):
            if g is not None:
                f.add_(g.detach() ** 2)
        count += 1
    if count == 0:
        raise ValueError("No batches given: the Fisher information is a mean over at least one batch")
    return {name: f / count for (name, _), f in zip(named, fisher)}


class EWC(nn.Module):
    """Elastic weight consolidation penalty (Kirkpatrick et al. 2017, Eq. 3) anchored at ``model``.

    ``ewc(model) = (lam / 2) * sum_i F_i (theta_i - theta*_i)^2``, to be added to the new task's loss;
    theta* are the parameters of ``model`` when the EWC is built and ``F`` the diagonal Fisher
    information there (:func:`diagonal_fisher`). Its gradient is ``lam * F * (theta - theta*)``.
    The anchor and the Fisher information are buffers ``anchor_k`` / ``fisher_k`` (k-th parameter
    with ``requires_grad`` in ``model.named_parameters()`` order), so ``state_dict`` round-trips.
    """

    def __init__(self, model: nn.Module, fisher: dict[str, torch.Tensor], lam: float) -> None:
        super().__init__()
        if not lam >= 0:
            raise ValueError(f"Invalid EWC strength lam: {lam}")
        named = _trainable(model)
        names = {name for name, _ in named}
        if set(fisher) != names:
            raise ValueError(
                f"fisher must have one entry per trainable parameter of the model; missing "
                f"{sorted(names - set(fisher))}, unexpected {sorted(set(fisher) - names)}"
            )
        self.lam = float(lam)
        self.names = [name for name, _ in named]
        for k, (name, p) in enumerate(named):
            if fisher[name].shape != p.shape:
                raise ValueError(f"fisher[{name!r}] has shape {tuple(fisher[name].shape)}, "
                                 f"the parameter {tuple(p.shape)}")
            self.register_buffer(f"anchor_{k}", p.detach().clone())
            self.register_buffer(f"fisher_{k}", fisher[name].detach().clone().to(p))

    def forward(self, model: nn.Module) -> torch.Tensor:
        """The penalty at ``model``'s current parameters, a scalar tensor differentiable in them."""
        named = _trainable(model)
        if [name for name, _ in named] != self.names:
            raise ValueError("The model's trainable parameters differ from those the EWC was built on")
        total = sum(
            (getattr(self, f"fisher_{k}") * (p - getattr(self, f"anchor_{k}")) ** 2).sum()
            for k, (_, p) in enumerate(named)
        )
        return 0.5 * self.lam * total

    def extra_repr(self) -> str:
        return f"lam={self.lam}, parameters={len(self.names)}"


# --------------------------------------------------------------------------------------------
# The double oracle loop
# --------------------------------------------------------------------------------------------

@dataclass
class DoubleOracleResult:
    """What :func:`double_oracle` returns.

    ``rows`` / ``cols`` are the kept strategies (for GANs: :class:`Strategy` records holding CPU
    state dicts), ``U`` their meta payoff matrix, ``sigma_row`` / ``sigma_col`` / ``value`` its exact
    equilibrium, and ``history`` one row per DO iteration: the meta game ``U``, the sigmas and value
    after the iteration, the oracles' best-response gains against the previous meta-strategies,
    the support sizes, whether the run stopped there, and the seconds spent in the oracles,
    the payoff evaluation, the meta-solve and the pruning.
    """

    rows: list[Any]
    cols: list[Any]
    U: np.ndarray
    sigma_row: np.ndarray
    sigma_col: np.ndarray
    value: float
    history: pd.DataFrame
    converged: bool

    def exploitability(self) -> float:
        """NashConv of the final meta-strategies in the final meta game (0 up to the LP's tolerance)."""
        return exploitability(self.U, self.sigma_row, self.sigma_col)


def double_oracle(
    payoff: Callable[[Sequence[Any], Sequence[Any]], np.ndarray],
    row_oracle: Callable[[Sequence[Any], np.ndarray, Sequence[Any], np.ndarray, int], Any],
    col_oracle: Callable[[Sequence[Any], np.ndarray, Sequence[Any], np.ndarray, int], Any],
    row0: Any,
    col0: Any,
    *,
    iterations: int,
    eps: float = 0.0,
    cap: int | None = None,
    by_mixture: bool = False,
    callback: Callable[[int, DoubleOracleResult], dict] | None = None,
) -> DoubleOracleResult:
    """The double oracle algorithm (McMahan et al. 2003; DO-GAN, Aung et al. 2022, Algorithm 1).

    Starting from one strategy per player, each iteration t = 1, 2, ...:

    1. the meta game ``U[i, j] = payoff(row_i, col_j)`` is solved exactly by LP
       (:func:`solve_matrix_game`): meta-strategies ``sigma_row``, ``sigma_col`` and value ``v``;
    2. ``row_oracle(rows, sigma_row, cols, sigma_col, t)`` returns a (best) response ``r`` to the
       column mixture and ``col_oracle(...)`` one ``c`` to the row mixture;
    3. their gains are ``g_row = payoff(r, cols) @ sigma_col - v`` and
       ``g_col = v - sigma_row @ payoff(rows, c)``; if both are ``<= eps`` the loop stops (for exact
       oracles the meta equilibrium is then an eps-equilibrium of the full game: its exploitability
       there is ``g_row + g_col``);
    4. otherwise ``r`` and ``c`` join the sets (only the new row, the new column and their corner
       are evaluated), the meta game is solved again, and with a support ``cap`` the sets are pruned
       (:func:`prune`: weakly dominated strategies first, then the least probable) and re-solved.

    Args:
        payoff: ``payoff(rows, cols)`` -> the (len(rows) x len(cols)) block of payoffs to the row
            player (who maximises).
        row_oracle, col_oracle: ``oracle(rows, sigma_row, cols, sigma_col, t)`` -> a new strategy.
        row0, col0: the initial strategies.
        iterations: the most DO iterations (oracle calls per player).
        eps: the stopping tolerance on both gains.
        cap: the most strategies each player keeps (None: no pruning).
        by_mixture: pruning also removes strategies dominated by mixtures (an LP each).
        callback: ``callback(t, result_so_far) -> dict`` adds columns to the iteration's history row
            (its time is not counted in any of the timings).

    Returns:
        A :class:`DoubleOracleResult`.
    """
    if iterations < 0:
        raise ValueError(f"Invalid number of iterations: {iterations}")
    if not eps >= 0:
        raise ValueError(f"Invalid eps: {eps}; it must be >= 0")
    if cap is not None and (not isinstance(cap, (int, np.integer)) or isinstance(cap, bool) or cap < 1):
        raise ValueError(f"Invalid cap: {cap!r}; it must be an integer >= 1 or None")
    rows, cols = [row0], [col0]
    t0 = time.perf_counter()
    U = _payoff_matrix(payoff(rows, cols))
    payoff_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    x, y, v = solve_matrix_game(U)
    solve_s = time.perf_counter() - t0
    history: list[dict] = []

    def snapshot(converged: bool) -> DoubleOracleResult:
        return DoubleOracleResult(list(rows), list(cols), U.copy(), x.copy(), y.copy(), v,
                                  pd.DataFrame(history), converged)

    def record(t: int, gains: tuple[float, float], stop: bool, times: dict[str, float]) -> None:
        row = {"iteration": t, "U": U.copy(), "sigma_row": x.copy(), "sigma_col": y.copy(), "value": v,
               "row_gain": gains[0], "col_gain": gains[1], "rows": len(rows), "cols": len(cols),
               "stopped": stop, **times}
        history.append(row)
        if callback is not None:
            history[-1].update(callback(t, snapshot(stop)))

    record(0, (float("nan"), float("nan")), iterations == 0,
           {"oracle_s": 0.0, "payoff_s": payoff_s, "solve_s": solve_s, "prune_s": 0.0})
    for t in range(1, iterations + 1):
        t0 = time.perf_counter()
        r = row_oracle(rows, x, cols, y, t)
        c = col_oracle(rows, x, cols, y, t)
        oracle_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        new_row = _payoff_matrix(payoff([r], cols))[0]
        new_col = _payoff_matrix(payoff(rows, [c]))[:, 0]
        gains = (float(new_row @ y) - v, v - float(x @ new_col))
        stop = gains[0] <= eps and gains[1] <= eps
        if not stop:
            corner = float(_payoff_matrix(payoff([r], [c]))[0, 0])
            U = np.block([[U, new_col[:, None]], [new_row[None, :], np.array([[corner]])]])
            rows, cols = rows + [r], cols + [c]
        payoff_s = time.perf_counter() - t0
        solve_s = prune_s = 0.0
        if not stop:
            t0 = time.perf_counter()
            x, y, v = solve_matrix_game(U)
            solve_s = time.perf_counter() - t0
            if cap is not None and (len(rows) > cap or len(cols) > cap):
                t0 = time.perf_counter()
                keep_r, keep_c = prune(U, x, y, cap, by_mixture=by_mixture)
                rows, cols = [rows[i] for i in keep_r], [cols[j] for j in keep_c]
                U = U[np.ix_(keep_r, keep_c)]
                prune_s = time.perf_counter() - t0
                t0 = time.perf_counter()
                x, y, v = solve_matrix_game(U)
                solve_s += time.perf_counter() - t0
        record(t, gains, stop, {"oracle_s": oracle_s, "payoff_s": payoff_s, "solve_s": solve_s,
                                "prune_s": prune_s})
        if stop:
            return snapshot(True)
    return snapshot(False)


# --------------------------------------------------------------------------------------------
# DO-GAN: networks as strategies
# --------------------------------------------------------------------------------------------

@dataclass
class Strategy:
    """A pure strategy of the meta game: a trained network kept OFF the device.

    ``state`` is a CPU state dict, or the path of a file holding one (``store_dir`` of
    :func:`dogan`); ``born`` is the DO iteration that produced it (0: the initial network) and
    ``name`` a label such as ``"G3"``.
    """

    state: dict[str, torch.Tensor] | Path
    born: int
    name: str

    def load(self) -> dict[str, torch.Tensor]:
        """The state dict (read from disk when stored there)."""
        if isinstance(self.state, Path):
            return torch.load(self.state, map_location="cpu", weights_only=True)
        return self.state

    def build(self, make: Callable[[], nn.Module], device: torch.device | str = "cpu") -> nn.Module:
        """A network from ``make()`` with this strategy's parameters, on ``device``, in eval mode."""
        net = make()
        net.load_state_dict(self.load())
        return net.to(device).eval()


def _cpu_state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}


class _Frozen(nn.Module):
    """Networks that stay in eval mode (batch-norm running statistics, spectral-norm vectors and
    all parameters fixed) whatever ``train()`` is called with."""

    def __init__(self, nets: Sequence[nn.Module]) -> None:
        super().__init__()
        self.nets = nn.ModuleList(nets)

    def train(self, mode: bool = True) -> "_Frozen":
        super().train(mode)
        self.nets.eval()
        return self


class DiscriminatorMixture(_Frozen):
    """Fixed discriminators ``D_1..D_K``: ``x -> (K, B, 1)``, the logits of every member."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([D(x) for D in self.nets])


class GeneratorMixture(_Frozen):
    """Fixed generators ``G_1..G_K``: ``z -> (K * B, ...)``, every member's samples, member-major."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.cat([G(z) for G in self.nets])


class MixtureLoss:
    """A GAN loss in expectation over a mixed opponent with probabilities ``weights`` (K,).

    Logits of shape (K, B, 1) (a :class:`DiscriminatorMixture`) or (K * B, 1) (a discriminator on
    a :class:`GeneratorMixture`'s samples) are split by member; with ``l_k`` the loss against member
    k, the value is ``sum_k weights_k l_k``: the expected loss of a player facing the mixture, exact
    rather than sampled, and its gradient is the expected gradient.
    """

    def __init__(self, loss: Any, weights: Any) -> None:
        w = torch.as_tensor(np.asarray(weights, dtype=np.float64), dtype=torch.float32)
        if w.dim() != 1 or len(w) == 0 or (w < 0).any() or abs(float(w.sum()) - 1.0) > _PROB_ATOL:
            raise ValueError(f"weights must be a non-empty probability vector, got {w.tolist()}")
        self.loss, self.weights = loss, w
        self.name = f"mixture-{getattr(loss, 'name', type(loss).__name__)}"

    def _members(self, logits: torch.Tensor) -> torch.Tensor:
        K = len(self.weights)
        if logits.dim() == 3 and logits.shape[0] == K:
            return logits
        if logits.dim() == 2 and logits.shape[0] % K == 0:
            return logits.reshape(K, -1, logits.shape[-1])
        raise ValueError(f"Cannot split logits of shape {tuple(logits.shape)} into {K} members")

    def _expect(self, values: torch.Tensor) -> torch.Tensor:
        return (self.weights.to(values) * values).sum()

    def d(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        return self._expect(self.loss.d(real_logits, self._members(fake_logits)))

    def g(self, fake_logits: torch.Tensor) -> torch.Tensor:
        return self._expect(self.loss.g(self._members(fake_logits)))


class OnlyOne:
    """The :class:`gancore.train.Policy` of an oracle: only ``player`` ("G" or "D") ever updates.

    Simultaneous (both gradients at the same point), so the fixed opponent's optimizer never steps.
    """

    simultaneous = True

    def __init__(self, player: Literal["G", "D"]) -> None:
        if player not in ("G", "D"):
            raise ValueError(f"Unknown player {player!r}; known players: G, D")
        self.player = player
        self.name = f"only_{player}"

    def decide(self, step: int, d_loss: torch.Tensor, g_loss: torch.Tensor) -> tuple[bool, bool]:
        return self.player == "D", self.player == "G"

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


@dataclass
class DOGANResult(DoubleOracleResult):
    """:class:`DoubleOracleResult` of :func:`dogan`: ``rows`` are generator and ``cols``
    discriminator :class:`Strategy` records; ``make_G`` / ``make_D`` rebuild the networks;
    ``training_steps`` counts the :func:`gancore.train.fit` steps of all (initial and oracle) training."""

    make_G: Callable[[], nn.Module] | None = None
    make_D: Callable[[], nn.Module] | None = None
    oracle_steps: int = 0
    training_steps: int = 0
    initial: tuple[Strategy, Strategy] | None = None

    @property
    def generators(self) -> list[Strategy]:
        return self.rows

    @property
    def discriminators(self) -> list[Strategy]:
        return self.cols

    def stored_bytes(self) -> int:
        """Bytes of all kept strategies' state dicts (what the loop keeps off the device)."""
        return sum(v.numel() * v.element_size() for s in self.rows + self.cols for v in s.load().values())

    def mixed_generator(self, device: torch.device | str = "cpu") -> MixedGenerator:
        """The final meta-strategy over generators, to sample from (eval mode, on ``device``)."""
        return MixedGenerator([s.build(self.make_G, device) for s in self.rows], self.sigma_row).to(device).eval()


def _support(strategies: Sequence[Strategy], probs: np.ndarray) -> tuple[list[Strategy], np.ndarray]:
    """The strategies of positive probability and their renormalised probabilities."""
    keep = np.flatnonzero(probs > 1e-9)
    p = probs[keep]
    return [strategies[i] for i in keep], p / p.sum()


def dogan(
    make_G: Callable[[], nn.Module],
    make_D: Callable[[], nn.Module],
    data: Any,
    *,
    loss: Any,
    latent_dim: int | Sequence[int],
    iterations: int,
    oracle_steps: int,
    init_steps: int,
    batch_size: int,
    lr_G: float,
    lr_D: float,
    betas: tuple[float, float] = (0.5, 0.999),
    eps: float = 0.0,
    cap: int | None = None,
    by_mixture: bool = False,
    ewc_lambda: float = 0.0,
    fisher_batches: int = 4,
    n_payoff: int = 512,
    seed: int = 0,
    device: str | torch.device = "cpu",
    store_dir: str | os.PathLike | None = None,
    evaluate: Callable[[int, DOGANResult], dict] | None = None,
    initial: tuple[Strategy, Strategy] | None = None,
) -> DOGANResult:
    """DO-GAN (Aung et al. 2022): the double oracle loop with trained networks as pure strategies.

    * Strategies: ``G_0``, ``D_0`` are trained together for ``init_steps`` steps of
      :func:`gancore.train.fit` (alternating); every strategy is then kept as a CPU state dict
      (or a file in ``store_dir``), so device memory holds only the networks in use.
    * Meta payoff: ``U[i, j] = loss.d(D_j(x), D_j(G_i(z)))``, the discriminator's loss (the
      generator maximises it, the discriminator minimises it), on ONE fixed evaluation batch of
      ``n_payoff`` real samples and latents shared by all entries (common random numbers), all
      networks in eval mode.
    * Oracles: the generator oracle is warm-started from the most probable generator and trained
      with :func:`gancore.train.fit` for ``oracle_steps`` steps against the discriminator mixture
      ``sigma_D`` (:class:`DiscriminatorMixture` with :class:`MixtureLoss`, the exact expected loss;
      policy :class:`OnlyOne` so only the generator moves); the discriminator oracle likewise
      against ``sigma_G`` (:class:`GeneratorMixture`). Fresh Adam(lr, betas) per oracle.
    * Continual learning: with ``ewc_lambda > 0`` each oracle's loss gets :class:`EWC` anchored at
      its warm start (the previous solution), the diagonal Fisher taken from ``fisher_batches``
      batches of its own loss against the current mixture (``penalty_G`` / ``penalty_D`` of fit).
    * Stopping and pruning: :func:`double_oracle` with ``eps``, ``cap`` and ``by_mixture``.

    ``initial=(G_0, D_0)`` (e.g. ``other_result.initial``) starts from given strategies instead of
    training them, so that runs differing only in their DO settings share the start; their
    ``init_steps`` then still count in ``training_steps``. ``evaluate(t, result_so_far)`` adds columns to each iteration's history row (e.g. ring metrics of
    ``result_so_far.mixed_generator()``). Each oracle's fit seed is ``seed + 1000 * t`` (+1 for D).
    """
    from . import train  # imported here: train is a heavier module than the meta game

    if oracle_steps < 1 or init_steps < 0 or fisher_batches < 1 or n_payoff < 1:
        raise ValueError(f"Invalid sizes: oracle_steps={oracle_steps}, init_steps={init_steps}, "
                         f"fisher_batches={fisher_batches}, n_payoff={n_payoff}")
    if not ewc_lambda >= 0:
        raise ValueError(f"Invalid EWC strength ewc_lambda: {ewc_lambda}")
    dev = train.resolve_device(device)
    latent = (latent_dim,) if isinstance(latent_dim, int) else tuple(latent_dim)
    folder = Path(store_dir) if store_dir is not None else None
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    steps_used = 0

    def keep(net: nn.Module, born: int, name: str) -> Strategy:
        state = _cpu_state(net)
        if folder is not None:
            path = folder / f"{name}.pt"
            torch.save(state, path)
            return Strategy(path, born, name)
        return Strategy(state, born, name)

    def adam(net: nn.Module, lr: float) -> torch.optim.Optimizer:
        return torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr, betas=betas)

    def idle(net: nn.Module) -> torch.optim.Optimizer:  # the fixed opponent's optimizer: never steps
        return torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=0.0)

    # the initial strategies: a briefly trained base GAN
    torch.manual_seed(seed)
    G0, D0 = make_G(), make_D()
    if initial is not None:
        G0.load_state_dict(initial[0].load()), D0.load_state_dict(initial[1].load())
        steps_used += init_steps
    elif init_steps > 0:
        train.fit(G0, D0, data, loss=loss, opt_G=adam(G0, lr_G), opt_D=adam(D0, lr_D), steps=init_steps,
                  batch_size=batch_size, latent_dim=latent, policy="alternating", seed=seed, device=dev,
                  progress=False)
        steps_used += init_steps

    # the fixed evaluation batch of the meta game (common random numbers)
    n = min(n_payoff, len(data))
    real = train.Batches(data, n, seed + 7).__call__(0).to(dev)
    z_eval = train.Noise(latent, seed + 7).__call__(0, n).to(dev)
    fakes: dict[str, torch.Tensor] = {}  # generator name -> its samples on the evaluation batch
    real_logits: dict[str, torch.Tensor] = {}

    @torch.no_grad()
    def payoff(gens: Sequence[Strategy], discs: Sequence[Strategy]) -> np.ndarray:
        for s in gens:
            if s.name not in fakes:
                fakes[s.name] = s.build(make_G, dev)(z_eval)
        out = np.empty((len(gens), len(discs)))
        for j, s in enumerate(discs):
            D = s.build(make_D, dev)
            if s.name not in real_logits:
                real_logits[s.name] = D(real)
            for i, g in enumerate(gens):
                out[i, j] = float(loss.d(real_logits[s.name], D(fakes[g.name])))
        return out

    def fisher_and_ewc(net: nn.Module, loss_fn: Callable[[nn.Module, Any], torch.Tensor],
                       batches: list[Any]) -> EWC | None:
        if ewc_lambda == 0:
            return None
        was = net.training
        net.eval()
        fisher = diagonal_fisher(net, loss_fn, batches)
        net.train(was)
        return EWC(net, fisher, ewc_lambda).to(dev)

    def generator_oracle(gens, sigma_G, discs, sigma_D, t):
        nonlocal steps_used
        support, w = _support(discs, sigma_D)
        G = gens[int(np.argmax(sigma_G))].build(make_G, dev).train()
        D_mix = DiscriminatorMixture([s.build(make_D, dev) for s in support])
        mix_loss = MixtureLoss(loss, w)
        noise = train.Noise(latent, seed + 1000 * t)
        ewc = fisher_and_ewc(G, lambda net, z: mix_loss.g(D_mix(net(z.to(dev)))),
                             [noise(-1 - k, batch_size) for k in range(fisher_batches)])
        train.fit(G, D_mix, data, loss=mix_loss, opt_G=adam(G, lr_G), opt_D=idle(D_mix), steps=oracle_steps,
                  batch_size=batch_size, latent_dim=latent, policy=OnlyOne("G"), seed=seed + 1000 * t,
                  device=dev, penalty_G=ewc, progress=False)
        steps_used += oracle_steps
        return keep(G, t, f"G{t}")

    def discriminator_oracle(gens, sigma_G, discs, sigma_D, t):
        nonlocal steps_used
        support, w = _support(gens, sigma_G)
        D = discs[int(np.argmax(sigma_D))].build(make_D, dev).train()
        G_mix = GeneratorMixture([s.build(make_G, dev) for s in support])
        mix_loss = MixtureLoss(loss, w)
        batches = train.Batches(data, batch_size, seed + 1000 * t + 1, dev)
        noise = train.Noise(latent, seed + 1000 * t + 1)
        with torch.no_grad():
            fisher_data = [(batches(k), G_mix(noise(-1 - k, batch_size).to(dev))) for k in range(fisher_batches)]
        ewc = fisher_and_ewc(D, lambda net, b: mix_loss.d(net(b[0]), net(b[1])), fisher_data)
        penalty = None if ewc is None else (lambda net, real_x, fake_x: ewc(net))
        train.fit(G_mix, D, data, loss=mix_loss, opt_G=idle(G_mix), opt_D=adam(D, lr_D), steps=oracle_steps,
                  batch_size=batch_size, latent_dim=latent, policy=OnlyOne("D"), seed=seed + 1000 * t + 1,
                  device=dev, penalty_D=penalty, progress=False)
        steps_used += oracle_steps
        return keep(D, t, f"D{t}")

    def result_of(r: DoubleOracleResult) -> DOGANResult:
        return DOGANResult(**vars(r), make_G=make_G, make_D=make_D, oracle_steps=oracle_steps,
                           training_steps=steps_used, initial=start)

    callback = None if evaluate is None else (lambda t, r: evaluate(t, result_of(r)))
    start = (keep(G0, 0, "G0"), keep(D0, 0, "D0"))
    result = double_oracle(payoff, generator_oracle, discriminator_oracle, *start,
                           iterations=iterations, eps=eps, cap=cap, by_mixture=by_mixture, callback=callback)
    return result_of(result)


# --------------------------------------------------------------------------------------------
# The base GANs DO-GAN is applied to
# --------------------------------------------------------------------------------------------

BASE_GANS = ("vanilla", "dcgan", "sngan", "stacked")


class StackedDiscriminator(nn.Module):
    """One discriminator per stage of :class:`gancore.models.StackedGenerator` (simplified Stacked GAN).

    The refined stage is judged by a DCGAN discriminator on the full image, the coarse stage by an
    MLP discriminator on the image average-pooled to the coarse resolution ``coarse_size``. Both
    logits of a sample are returned next to each other, ``(2 B, 1)`` (sample-major), so that every
    GAN loss averages the two stages' losses and a batch of K * B samples still splits by member.
    Simplification (ours): Huang et al. (2017) train each stage against its own discriminator with
    conditional and entropy losses on an encoder's features; here the coarse discriminator sees the
    pooled final image, so the coarse stage learns through the refined one.
    """

    def __init__(self, image_size: int, channels: int = 1, width: int = 64, coarse_size: int | None = None) -> None:
        super().__init__()
        from . import models

        self.coarse_size = coarse_size or models.IMAGE_PLANS[image_size][-2]
        self.fine = models.dcgan_discriminator(image_size, channels, width)
        self.coarse = models.mlp_discriminator(channels * self.coarse_size ** 2, width=4 * width, depth=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = nn.functional.adaptive_avg_pool2d(x, self.coarse_size).flatten(1)
        return torch.stack([self.fine(x), self.coarse(pooled)], dim=1).reshape(-1, 1)


def base_gan(name: str, shape: Sequence[int], latent_dim: int, width: int,
             depth: int = 2) -> tuple[Callable[[], nn.Module], Callable[[], nn.Module]]:
    """``(make_G, make_D)`` of a base GAN for data of ``shape`` ((d,) vectors or (C, H, W) images).

    ``vanilla``: MLP generator and discriminator (``width``, ``depth``; images are flattened and the
    generator ends in tanh); ``dcgan``: the DCGAN pair (Radford et al. 2016); ``sngan``: the DCGAN
    generator and a spectrally normalised discriminator (Miyato et al. 2018); ``stacked``: the two-stage
    :class:`gancore.models.StackedGenerator` with a :class:`StackedDiscriminator`.
    """
    from . import models

    if name not in BASE_GANS:
        raise ValueError(f"Unknown base GAN {name!r}; known base GANs: {', '.join(BASE_GANS)}")
    shape = tuple(int(s) for s in shape)
    if name == "vanilla":
        size = int(np.prod(shape))
        if len(shape) == 1:
            return (lambda: models.mlp_generator(latent_dim, size, width, depth),
                    lambda: models.mlp_discriminator(size, width, depth))
        return (lambda: nn.Sequential(models.mlp_generator(latent_dim, size, width, depth), nn.Tanh(),
                                      nn.Unflatten(1, shape)),
                lambda: nn.Sequential(nn.Flatten(), models.mlp_discriminator(size, width, depth)))
    if len(shape) != 3 or shape[1] != shape[2]:
        raise ValueError(f"The {name} base GAN needs square images (C, H, H), got shape {shape}")
    channels, size = shape[0], shape[1]
    if name == "stacked":
        return (lambda: models.StackedGenerator(size, channels, latent_dim, width),
                lambda: StackedDiscriminator(size, channels, width))
    return (lambda: models.dcgan_generator(size, channels, latent_dim, width),
            lambda: models.dcgan_discriminator(size, channels, width, spectral_norm=name == "sngan"))
