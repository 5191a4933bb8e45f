"""Double oracle for GANs (DO-GAN, Aung et al., CVPR 2022): the meta game and its scalability pieces.

In DO-GAN a pure strategy is a trained network; the meta game is the matrix ``U[i, j] =
payoff(G_i, D_j)`` between the stored generators (rows, maximising) and discriminators (columns,
minimising), and the meta-strategies are its exact mixed Nash equilibrium, found by linear
programming. This module holds, in order:

* the meta game: :func:`solve_matrix_game`, :func:`best_response_gains`, :func:`exploitability`;
* pruning of the stored sets: :func:`dominated_strategies`, :func:`prune`;
* networks: :class:`MixedGenerator` (sampling from a meta-strategy over generators) and continual
  learning by EWC (Kirkpatrick et al., PNAS 2017): :func:`diagonal_fisher`, :class:`EWC`.

All matrix-game functions take a payoff matrix as a numpy array or a torch tensor and return numpy
arrays and Python floats.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal

import numpy as np
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


def _maxmin_highs(U: np.ndarray) -> tuple[np.ndarray, float]:
    """Row player's LP: maximise v s.t. ``sum_i x_i U[i, j] >= v`` for all j, x in the simplex."""
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
    return res.x[:m], float(res.x[-1])


def _maxmin_cvxpy(U: np.ndarray) -> tuple[np.ndarray, float]:
    """The same LP as :func:`_maxmin_highs`, written with cvxpy."""
    import cvxpy as cp  # imported here: cvxpy takes about a second to import

    m, _ = U.shape
    x, v = cp.Variable(m), cp.Variable()
    problem = cp.Problem(cp.Maximize(v), [U.T @ x >= v, x >= 0, cp.sum(x) == 1])
    problem.solve()
    if problem.status != cp.OPTIMAL:
        raise RuntimeError(f"cvxpy failed on the matrix game: status {problem.status}")
    return np.asarray(x.value), float(v.value)


def solve_matrix_game(U: Any, method: str = "highs") -> tuple[np.ndarray, np.ndarray, float]:
    """Exact mixed Nash equilibrium of the zero-sum matrix game ``U`` (row maximises, column minimises).

    Solves both players' linear programs (von Neumann's minimax theorem)::

        row:    max_{x, v} v  s.t.  sum_i x_i U[i, j] >= v  for all j,  x >= 0,  sum_i x_i = 1
        column: min_{y, w} w  s.t.  sum_j U[i, j] y_j <= w  for all i,  y >= 0,  sum_j y_j = 1

    whose optimal values coincide (v = w, the value of the game), so ``(x, y)`` is an equilibrium.
    The LPs are solved on the payoffs mapped affinely to [0, 1], which leaves the equilibria
    unchanged. Equilibrium strategies need not be unique; the value is.

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
    maxmin = _maxmin_highs if method == "highs" else _maxmin_cvxpy
    x, _ = maxmin(S)
    y, _ = maxmin(-S.T)  # the column player maximises -U
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
