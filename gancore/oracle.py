"""Zero-sum matrix games and the double oracle algorithm.

The meta game of DO-GAN (Aung et al., CVPR 2022) is a matrix ``U[i, j] = payoff(row_i, col_j)``
between stored strategies, the rows maximising and the columns minimising; its meta-strategies are
the exact mixed Nash equilibrium, found by linear programming. This module holds, in order:

* the matrix game: :func:`solve_matrix_game`, :func:`best_response_gains`, :func:`exploitability`;
* pruning of the stored sets: :func:`dominated_strategies`, :func:`prune`;
* the meta-solvers, :func:`meta_strategies` (:data:`META_SOLVERS`: the LP's Nash, uniform, newest);
* the double oracle loop for any game with oracles, :func:`double_oracle` (:class:`DoubleOracleResult`),
  and the exact oracles of a matrix game, :func:`matrix_oracles`, with :func:`full_strategy` to read
  a meta-strategy as a mixed strategy of the full game.

DO-GAN itself (networks as strategies, trained oracles, EWC) is :mod:`gancore.dogan`.

All matrix-game functions take a payoff matrix as a numpy array or a torch tensor and return numpy
arrays and Python floats.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.optimize
import torch

__all__ = [
    "solve_matrix_game",
    "best_response_gains",
    "exploitability",
    "dominated_strategies",
    "prune",
    "meta_strategies",
    "META_SOLVERS",
    "double_oracle",
    "DoubleOracleResult",
    "matrix_oracles",
    "full_strategy",
    "PROB_ATOL",
]

METHODS = ("highs", "cvxpy")
PLAYERS = ("row", "col")
META_SOLVERS = ("nash", "uniform", "newest")
PROB_ATOL = 1e-6  # how far a given mixed strategy may be from summing to one

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


def _normalised(U: np.ndarray) -> np.ndarray:
    """``(U - low) / (high - low)`` with entries in [0, 1] (all 0 when ``U`` is constant).

    A positive affine map of the payoffs changes neither player's best responses nor equilibria,
    and it makes the solvers' absolute tolerances relative to the payoff range. Where the range
    ``high - low`` overflows float64 (entries of both signs near +-1e308), ``U`` is first divided by
    ``max |U|``, so that no intermediate overflows to inf.
    """
    low, high = float(U.min()), float(U.max())
    if not np.isfinite(high - low):
        magnitude = max(-low, high)
        U, low, high = U / magnitude, low / magnitude, high / magnitude
    scale = high - low if high > low else 1.0
    return (U - low) / scale


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


def _maxmin_cvxpy(S: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both players' LPs in the textbook form for positive payoffs, written with cvxpy (Clarabel).

    For a matrix ``T > 0`` with value ``w > 0`` to the maximiser: ``min 1^T u  s.t.  T^T u >= 1,
    u >= 0`` has optimum ``1 / w`` at ``u = x / w``, so ``x = u / sum(u)`` is an optimal strategy.
    With ``S`` in [0, 1] (:func:`_normalised`) it is solved for ``T = S + 1`` (entries in [1, 2],
    ``w >= 1``) and, for the column player, for the mirror ``T = (1 - S^T) + 1``. This form has no
    free variable and no equality constraint; the ``max v`` form of :func:`_maxmin_highs` makes
    Clarabel stop at OPTIMAL_INACCURATE on about half of the random 200 x 200 games.
    """
    import cvxpy as cp  # imported here: cvxpy takes about a second to import

    strategies = []
    for player, T in (("row", S + 1.0), ("column", 2.0 - S.T)):  # the column player maximises 1 - S
        u = cp.Variable(T.shape[0])
        problem = cp.Problem(cp.Minimize(cp.sum(u)), [T.T @ u >= 1.0, u >= 0])
        problem.solve(solver=cp.CLARABEL)
        if problem.status != cp.OPTIMAL:
            raise RuntimeError(f"cvxpy (Clarabel) did not solve the {player} player's LP of the "
                               f"{S.shape[0]} x {S.shape[1]} matrix game: status {problem.status}; "
                               f"use method='highs'")
        strategies.append(np.asarray(u.value))
    return strategies[0], strategies[1]


def solve_matrix_game(U: Any, method: str = "highs") -> tuple[np.ndarray, np.ndarray, float]:
    """Exact mixed Nash equilibrium of the zero-sum matrix game ``U`` (row maximises, column minimises).

    Solves both players' linear programs (von Neumann's minimax theorem)::

        row:    max_{x, v} v  s.t.  sum_i x_i U[i, j] >= v  for all j,  x >= 0,  sum_i x_i = 1
        column: min_{y, w} w  s.t.  sum_j U[i, j] y_j <= w  for all i,  y >= 0,  sum_j y_j = 1

    whose optimal values coincide (v = w, the value of the game), so ``(x, y)`` is an equilibrium.
    The column LP is the dual of the row LP: with HiGHS one solve gives both (``y`` = the row LP's
    constraint multipliers); with cvxpy both LPs are solved, in the form of :func:`_maxmin_cvxpy`.
    The LPs are solved on the payoffs mapped affinely to [0, 1], which leaves the equilibria
    unchanged (and is done without overflow for entries up to +-1.8e308). Equilibrium strategies
    need not be unique; the value is.

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
    S = _normalised(U)
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
    if not np.isfinite(p).all() or (p < 0).any() or abs(p.sum() - 1.0) > PROB_ATOL:
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
    S = _normalised(_as_row_player(_payoff_matrix(U), player))
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
# The meta-solver and the double oracle loop
# --------------------------------------------------------------------------------------------

def meta_strategies(U: Any, solver: str = "nash") -> tuple[np.ndarray, np.ndarray, float]:
    """The meta-strategies ``(x, y, x^T U y)`` a meta-solver (PSRO's name, Lanctot et al. 2017) picks
    on the meta game ``U`` (m x n, rows maximise): ``"nash"``, the LP's exact equilibrium
    (:func:`solve_matrix_game`; the double oracle proper); ``"uniform"``, ``x = 1/m``, ``y = 1/n``
    (each oracle then best-responds to the opponent's whole population, as in fictitious play);
    ``"newest"``, all weight on the last row and column (each oracle best-responds to the opponent's
    newest strategy: self-play)."""
    if solver not in META_SOLVERS:
        raise ValueError(f"Unknown meta-solver {solver!r}; known: {', '.join(META_SOLVERS)}")
    U = _payoff_matrix(U)
    if solver == "nash":
        return solve_matrix_game(U)
    m, n = U.shape
    x, y = (np.full(m, 1 / m), np.full(n, 1 / n)) if solver == "uniform" else (np.eye(m)[-1], np.eye(n)[-1])
    return x, y, float(x @ U @ y)


@dataclass
class DoubleOracleResult:
    """What :func:`double_oracle` returns.

    ``rows`` / ``cols`` are the kept strategies (for GANs: :class:`gancore.dogan.Strategy` records
    holding CPU state dicts), ``U`` their meta payoff matrix, ``sigma_row`` / ``sigma_col`` / ``value`` its exact
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
    meta_solver: str = "nash",
) -> DoubleOracleResult:
    """The double oracle algorithm (McMahan et al. 2003; DO-GAN, Aung et al. 2022, Algorithm 1).

    Starting from one strategy per player, each iteration t = 1, 2, ...:

    1. the meta game ``U[i, j] = payoff(row_i, col_j)`` is solved exactly by LP
       (:func:`solve_matrix_game`): meta-strategies ``sigma_row``, ``sigma_col`` and value ``v``
       (another ``meta_solver`` of :func:`meta_strategies`: its strategies, ``v = sigma_row^T U sigma_col``);
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
        meta_solver: ``"nash"`` (default), ``"uniform"`` or ``"newest"`` (:func:`meta_strategies`).
            With exact oracles the gains are >= 0 for each and add up to the full game's
            exploitability of the meta-strategies; only ``"nash"`` makes every gain above ``eps`` a new
            strategy, so that it stops within ``m + n - 1`` iterations on an m x n game.

    Returns:
        A :class:`DoubleOracleResult`.
    """
    if iterations < 0 or meta_solver not in META_SOLVERS:
        raise ValueError(f"Invalid iterations {iterations} or meta_solver {meta_solver!r} (known: {META_SOLVERS})")
    if not eps >= 0:
        raise ValueError(f"Invalid eps: {eps}; it must be >= 0")
    if cap is not None and (not isinstance(cap, (int, np.integer)) or isinstance(cap, bool) or cap < 1):
        raise ValueError(f"Invalid cap: {cap!r}; it must be an integer >= 1 or None")
    rows, cols = [row0], [col0]
    t0 = time.perf_counter()
    U = _payoff_matrix(payoff(rows, cols))
    payoff_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    x, y, v = meta_strategies(U, meta_solver)
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
            x, y, v = meta_strategies(U, meta_solver)
            solve_s = time.perf_counter() - t0
            if cap is not None and (len(rows) > cap or len(cols) > cap):
                t0 = time.perf_counter()
                keep_r, keep_c = prune(U, x, y, cap, by_mixture=by_mixture)
                rows, cols = [rows[i] for i in keep_r], [cols[j] for j in keep_c]
                U = U[np.ix_(keep_r, keep_c)]
                prune_s = time.perf_counter() - t0
                t0 = time.perf_counter()
                x, y, v = meta_strategies(U, meta_solver)
                solve_s += time.perf_counter() - t0
        record(t, gains, stop, {"oracle_s": oracle_s, "payoff_s": payoff_s, "solve_s": solve_s,
                                "prune_s": prune_s})
        if stop:
            return snapshot(True)
    return snapshot(False)



def matrix_oracles(A: Any) -> tuple[Callable[[Sequence[int], Sequence[int]], np.ndarray],
                                    Callable[..., int], Callable[..., int]]:
    """``(payoff, row_oracle, col_oracle)`` of the matrix game ``A`` for :func:`double_oracle`.

    Strategies are row and column indices of ``A``; ``payoff(rows, cols) = A[rows][:, cols]``, and
    the oracles are exact best responses to the other player's meta-strategy:
    ``row_oracle(rows, x, cols, y, t) = argmax_i sum_k A[i, cols_k] y_k`` and
    ``col_oracle(rows, x, cols, y, t) = argmin_j sum_k x_k A[rows_k, j]``. With them a stop at
    ``eps`` is an ``eps``-equilibrium of the full game ``A`` (see :func:`full_strategy`).
    """
    A = _payoff_matrix(A)

    def payoff(rows: Sequence[int], cols: Sequence[int]) -> np.ndarray:
        return A[np.ix_(rows, cols)]

    def row_oracle(rows: Sequence[int], x: np.ndarray, cols: Sequence[int], y: np.ndarray, t: int) -> int:
        return int(np.argmax(A[:, cols] @ y))

    def col_oracle(rows: Sequence[int], x: np.ndarray, cols: Sequence[int], y: np.ndarray, t: int) -> int:
        return int(np.argmin(x @ A[rows]))

    return payoff, row_oracle, col_oracle


def full_strategy(size: int, support: Sequence[int], probs: Any) -> np.ndarray:
    """A meta-strategy as a mixed strategy of the full game: ``p[support[k]] += probs[k]``.

    ``support`` holds indices of the full game's ``size`` pure strategies (repeats add up), as the
    ``rows`` / ``cols`` of a :func:`double_oracle` run with :func:`matrix_oracles`; e.g. the run's
    full-game exploitability is ``exploitability(A, full_strategy(m, r.rows, r.sigma_row),
    full_strategy(n, r.cols, r.sigma_col))``.
    """
    probs = np.asarray(probs, dtype=np.float64)
    if len(support) != len(probs):
        raise ValueError(f"support has {len(support)} strategies but probs has {len(probs)} probabilities")
    p = np.zeros(size)
    np.add.at(p, np.asarray(support, dtype=np.int64), probs)
    return p
