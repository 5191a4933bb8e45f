"""Convex duality for Wasserstein GANs (Sahiner et al., "Hidden Convexity of Wasserstein GANs", ICLR 2022).

Real samples X (n_r x d, rows are samples), noise Z (n_f x d_f), fake samples G (n_f x d). A two-layer
discriminator D(x) = sum_j v_j sigma(u_j^T x) with weight decay beta_d turns WGAN training into

    min_theta R_g(theta)   s.t.   max_{||u||_2 <= 1} | 1^T sigma(X u) - 1^T sigma(G u) | <= beta_d,

with SUMS over samples (with means instead of sums, beta_d is rescaled by the sample count). The
activation decides what the generator has to match:

* linear:     ||X^T 1 - G^T 1||_2 <= beta_d                    (mean matching, a second-order cone);
* quadratic:  ||X^T X - G^T G||_2 <= beta_d                    (second-moment matching, spectral norm);
* polynomial a t^2 + b t + c: a quadratic form over the unit sphere, an SDP by the S-lemma;
* ReLU:       piecewise mean matching over the hyperplane arrangement of [X; G].

The module holds the closed forms for a linear generator G = Z W, the evaluation functions a
gradient descent-ascent baseline needs to report the same objective and constraint, the cvxpy
programs that check the closed forms and treat the polynomial and ReLU cases, and ProCoGAN, the
progressive stack of closed-form linear generators. Closed forms accept numpy arrays or torch tensors
and return the same kind; the cvxpy programs return numpy arrays.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import NamedTuple, Sequence

import cvxpy as cp
import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linprog, nnls

__all__ = [
    "quadratic_closed_form", "quadratic_optimal_value", "linear_closed_form", "linear_optimal_value",
    "wgan_objective", "constraint_value", "constraint_violation",
    "quadratic_sdp", "linear_socp", "polynomial_sdp",
    "hyperplane_arrangement", "relu_constraint_value", "relu_program", "relu_generator_fit",
    "downsample", "upsample", "StageRecord", "ProCoGAN",
]

Array = np.ndarray | torch.Tensor
ACTIVATIONS = ("linear", "quadratic", "relu")


# ----------------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------------

def _matrix(a: Array, name: str) -> torch.Tensor:
    """``a`` as a float64 torch matrix (on its own device when it is a tensor)."""
    t = a.detach().to(torch.float64) if isinstance(a, torch.Tensor) else torch.as_tensor(np.asarray(a, dtype=np.float64))
    if t.ndim != 2:
        raise ValueError(f"{name} must be a matrix (samples x features), got shape {tuple(t.shape)}.")
    return t


def _numpy(a: Array, name: str) -> np.ndarray:
    return _matrix(a, name).cpu().numpy()


def _like(t: torch.Tensor, ref: Array) -> Array:
    """``t`` returned as the kind of ``ref``: a tensor of ref's floating dtype, or a numpy array."""
    if isinstance(ref, torch.Tensor):
        return t.to(ref.dtype) if ref.is_floating_point() else t
    dtype = ref.dtype if isinstance(ref, np.ndarray) and np.issubdtype(ref.dtype, np.floating) else np.float64
    return t.cpu().numpy().astype(dtype, copy=False)


def _check_beta(beta: float, name: str = "discriminator weight decay beta") -> None:
    if not beta > 0:  # also rejects NaN
        raise ValueError(f"Invalid {name}: {beta} (must be > 0).")


def _numerical_rank(s: torch.Tensor, shape: Sequence[int]) -> int:
    """Rank from singular values ``s`` (descending) with numpy's tolerance max(shape) * eps * s_1."""
    if s.numel() == 0 or s[0] == 0:
        return 0
    tol = max(shape) * torch.finfo(s.dtype).eps * s[0]
    return int((s > tol).sum())


class _QuadraticSolution(NamedTuple):
    W: torch.Tensor        # d_f x d
    sigma: torch.Tensor    # singular values of X
    D: torch.Tensor        # singular values of Z
    Vh: torch.Tensor       # right singular vectors of X (rows)
    k: int                 # components that survive: #{sigma_j^2 > beta}
    rank_Z: int


def _quadratic_solution(X: Array, Z: Array, beta: float,
                        x_svd: tuple[torch.Tensor, torch.Tensor] | None = None) -> _QuadraticSolution:
    """The closed form and its ingredients; ``x_svd = (sigma, Vh)`` reuses an SVD of X already computed."""
    _check_beta(beta)
    Zt = _matrix(Z, "Z")
    sigma, Vh = x_svd if x_svd is not None else torch.linalg.svd(_matrix(X, "X"), full_matrices=False)[1:]
    _, D, Qh = torch.linalg.svd(Zt, full_matrices=False)
    k = int((sigma ** 2 > beta).sum())
    rank_Z = _numerical_rank(D, Zt.shape)
    if rank_Z < k:
        raise ValueError(
            f"The closed form needs rank(Z) >= k = {k}, the number of squared singular values of X above "
            f"beta = {beta:g}, but rank(Z) = {rank_Z}. Use noise with at least {k} dimensions and {k} samples "
            f"(Z of shape (n_f, d_f) with n_f, d_f >= {k}), or raise beta to at least "
            f"sigma_{rank_Z + 1}^2 = {float(sigma[rank_Z]) ** 2:g} so that only {rank_Z} components survive."
        )
    scale = (sigma[:k] ** 2 - beta).sqrt() / D[:k]
    W = Qh[:k].T @ (scale[:, None] * Vh[:k])
    return _QuadraticSolution(W, sigma, D, Vh, k, rank_Z)


# ----------------------------------------------------------------------------------------------------
# closed forms for a linear generator G = Z W
# ----------------------------------------------------------------------------------------------------

def quadratic_closed_form(X: Array, Z: Array, beta: float) -> Array:
    """Optimal W of  min_W ||W||_F^2  s.t.  ||X^T X - W^T Z^T Z W||_2 <= beta  (quadratic-activation D).

    With SVDs X = U Sigma V^T and Z = P D Q^T (singular values descending) and
    k = #{j : sigma_j^2 > beta},

        W* = Q_k D_k^{-1} (Sigma_k^2 - beta I)^{1/2} V_k^T,    G* = Z W* = P_k (Sigma_k^2 - beta I)^{1/2} V_k^T,

    so G*^T G* = V (Sigma^2 - beta I)_+ V^T: the eigenvalues of the data's second-moment matrix are
    soft-thresholded by beta ("thresholded PCA"). Optimality: any feasible G has G^T G >= X^T X - beta I,
    hence lambda_j(G^T G) >= (sigma_j^2 - beta)_+ (Weyl), and for a given G^T G the smallest ||W||_F^2 is
    sum_j lambda_j / D_j^2 with both sorted descending (rearrangement). The constraint is tight,
    ||X^T X - G*^T G*||_2 = beta, whenever k >= 1. The generator's weight decay beta_g only scales the
    objective (see :func:`quadratic_optimal_value`).

    X is n_r x d (data), Z is n_f x d_f (noise); returns W (d_f x d) as the kind of X (numpy array or
    tensor). Raises ValueError when beta <= 0 or rank(Z) < k (the message says how many noise
    dimensions are needed).
    """
    return _like(_quadratic_solution(X, Z, beta).W, X)


def quadratic_optimal_value(X: Array, Z: Array, beta: float, beta_g: float = 1.0) -> float:
    """p* = (beta_g / 2) sum_{j <= k} (sigma_j^2 - beta) / D_j^2, the optimum of the quadratic-D problem.

    sigma_j: singular values of X, D_j: of Z, k = #{sigma_j^2 > beta}; equals
    ``wgan_objective(quadratic_closed_form(X, Z, beta), beta_g)``.
    """
    _check_beta(beta_g, "generator weight decay beta_g")
    sol = _quadratic_solution(X, Z, beta)
    k = sol.k
    return float(beta_g / 2 * ((sol.sigma[:k] ** 2 - beta) / sol.D[:k] ** 2).sum())


def _linear_solution(X: Array, Z: Array, beta: float) -> torch.Tensor:
    _check_beta(beta)
    Xt, Zt = _matrix(X, "X"), _matrix(Z, "Z")
    m, c = Xt.sum(0), Zt.sum(0)
    norm_m = float(m.norm())
    shrink = max(0.0, 1.0 - beta / norm_m) if norm_m > 0 else 0.0
    if shrink == 0.0:
        return torch.zeros(Zt.shape[1], Xt.shape[1], dtype=torch.float64, device=Zt.device)
    if float(c.norm()) <= Zt.shape[0] * torch.finfo(torch.float64).eps * float(Zt.abs().max()):
        raise ValueError(
            "The noise has zero column sums (Z^T 1 = 0), so G^T 1 = W^T Z^T 1 = 0 for every W and the data sum "
            f"X^T 1 (norm {norm_m:g} > beta = {beta:g}) cannot be approached: use noise with a nonzero mean or "
            "append a column of ones to Z."
        )
    return torch.outer(c, shrink * m) / c.dot(c)


def linear_closed_form(X: Array, Z: Array, beta: float) -> Array:
    """Optimal W of  min_W ||W||_F^2  s.t.  ||X^T 1 - W^T Z^T 1||_2 <= beta  (linear D: shrunk mean matching).

    With m = X^T 1 and c = Z^T 1:  W* = c m^T / ||c||^2 (1 - beta / ||m||)_+, so the fake sum G^T 1 is the
    data sum shrunk towards zero by beta. Returns the kind of X. ValueError when beta <= 0, or when
    Z^T 1 = 0 while ||m|| > beta (no W can move the fake mean).
    """
    return _like(_linear_solution(X, Z, beta), X)


def linear_optimal_value(X: Array, Z: Array, beta: float, beta_g: float = 1.0) -> float:
    """p* = (beta_g / 2) (||X^T 1||_2 - beta)_+^2 / ||Z^T 1||_2^2, the optimum of the linear-D problem."""
    _check_beta(beta_g, "generator weight decay beta_g")
    return float(beta_g / 2 * _linear_solution(X, Z, beta).square().sum())


# ----------------------------------------------------------------------------------------------------
# objective and constraint, for the closed forms and a gradient descent-ascent baseline alike
# ----------------------------------------------------------------------------------------------------

def wgan_objective(W: Array, beta_g: float = 1.0) -> float:
    """The generator's objective R_g(W) = (beta_g / 2) ||W||_F^2 of the linear generator G = Z W."""
    _check_beta(beta_g, "generator weight decay beta_g")
    return float(beta_g / 2 * _matrix(W, "W").square().sum())


def constraint_value(X: Array, G: Array, activation: str = "quadratic") -> float:
    """The discriminator's constraint function at fake samples G (sums over samples, as in the paper).

    * ``"linear"``: ||X^T 1 - G^T 1||_2;
    * ``"quadratic"``: ||X^T X - G^T G||_2 (spectral norm);
    * ``"relu"``: max_{||u||_2 <= 1} |1^T (X u)_+ - 1^T (G u)_+| (:func:`relu_constraint_value`, exact
      over the enumerated arrangement for small samples, a lower bound from sampled regions otherwise).

    The WGAN value is finite iff this is <= beta_d. For a discriminator trained on MEANS, compare with
    beta_d * n (equal sample counts n) or pass X / n_r and G / n_f for the linear case.
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"Unknown activation {activation!r}. Known: {', '.join(ACTIVATIONS)}.")
    if activation == "relu":
        return relu_constraint_value(X, G)[0]
    Xt = _matrix(X, "X")
    Gt = _matrix(G, "G").to(Xt.device)
    if Xt.shape[1] != Gt.shape[1]:
        raise ValueError(f"X and G must have the same number of features, got {Xt.shape[1]} and {Gt.shape[1]}.")
    if activation == "linear":
        return float((Xt.sum(0) - Gt.sum(0)).norm())
    return float(torch.linalg.eigvalsh(Xt.T @ Xt - Gt.T @ Gt).abs().max())


def constraint_violation(X: Array, G: Array, beta: float, activation: str = "quadratic") -> float:
    """Relative violation (constraint_value(X, G, activation) / beta - 1)_+: 0 when feasible.

    A number on the same axis for the closed form (0 up to round-off) and for a GDA iterate G = Z W.
    """
    _check_beta(beta)
    return max(constraint_value(X, G, activation) / beta - 1.0, 0.0)


# ----------------------------------------------------------------------------------------------------
# cvxpy programs (solvers that ship with cvxpy: CLARABEL, SCS; no MOSEK)
# ----------------------------------------------------------------------------------------------------

def _solve(problem: cp.Problem, solver: str, infeasible_hint: str) -> None:
    problem.solve(solver=solver)
    if problem.status in (cp.INFEASIBLE, cp.INFEASIBLE_INACCURATE):
        raise ValueError(f"The convex program is infeasible ({problem.status}): {infeasible_hint}")
    if problem.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
        raise RuntimeError(f"cvxpy solver {solver} returned status {problem.status!r}; try solver='SCS'.")


def quadratic_sdp(X: Array, beta: float, beta_g: float = 1.0, solver: str = "CLARABEL") -> dict:
    """The quadratic-D problem as an SDP in the Gram matrix K = G^T G:

        min_K (beta_g / 2) tr(K)   s.t.   K >= 0,   -beta I <= X^T X - K <= beta I.

    tr(K) = ||G||_F^2 is the weight decay of a generator G = Z W with orthonormal noise (Z^T Z = I), so
    the optimal value then equals :func:`quadratic_optimal_value`. For ANY noise the optimal K is
    unique and equals the closed form's G^T G = V (Sigma^2 - beta I)_+ V^T (the eigenvalue argument of
    :func:`quadratic_closed_form`); with unequal noise singular values the weight decay ||W||_F^2 is not
    a linear function of K (and the problem in W is not convex: its Lagrangian dual only reaches
    tr((X^T X - beta I)_+) / D_1^2), so the solver checks the Gram matrix there and the value only for
    orthonormal noise.

    Returns ``{"K", "value", "status"}`` (numpy).
    """
    _check_beta(beta)
    _check_beta(beta_g, "generator weight decay beta_g")
    Xn = _numpy(X, "X")
    S = Xn.T @ Xn
    K = cp.Variable(S.shape, PSD=True)
    eye = np.eye(S.shape[0])
    problem = cp.Problem(cp.Minimize(beta_g / 2 * cp.trace(K)), [S - K << beta * eye, K - S << beta * eye])
    _solve(problem, solver, "this cannot happen for beta > 0; check X for NaN.")
    return {"K": K.value, "value": float(problem.value), "status": problem.status}


def linear_socp(X: Array, Z: Array, beta: float, beta_g: float = 1.0, solver: str = "CLARABEL") -> dict:
    """The linear-D problem as a second-order cone program, to check :func:`linear_closed_form`:

        min_W (beta_g / 2) ||W||_F^2   s.t.   ||X^T 1 - W^T Z^T 1||_2 <= beta.

    Returns ``{"W", "value", "status"}`` (numpy).
    """
    _check_beta(beta)
    _check_beta(beta_g, "generator weight decay beta_g")
    Xn, Zn = _numpy(X, "X"), _numpy(Z, "Z")
    W = cp.Variable((Zn.shape[1], Xn.shape[1]))
    constraint = cp.norm(Xn.sum(0) - W.T @ Zn.sum(0), 2) <= beta
    problem = cp.Problem(cp.Minimize(beta_g / 2 * cp.sum_squares(W)), [constraint])
    _solve(problem, solver, "Z^T 1 = 0 and ||X^T 1|| > beta: the fake mean cannot move.")
    return {"W": W.value, "value": float(problem.value), "status": problem.status}


def _column(expr: cp.Expression) -> cp.Expression:
    return cp.reshape(expr, (expr.size, 1), order="F")


def _gram_factor(M: np.ndarray, n_f: int) -> tuple[np.ndarray, int]:
    """G (n_f x d) with [G 1]^T [G 1] = M, for PSD M whose last diagonal entry is n_f and rank <= n_f.

    Factor M = F^T F (F has n_f rows), then a Householder reflection maps F's last column (norm
    sqrt(n_f)) to the ones vector. Returns G and the numerical rank of M; when the rank exceeds n_f
    the factor keeps the n_f largest eigenvalues.
    """
    evals, evecs = np.linalg.eigh((M + M.T) / 2)
    evals, evecs = np.clip(evals[::-1], 0, None), evecs[:, ::-1]
    rank = int((evals > 1e-7 * max(evals[0], 1e-300)).sum())
    r = min(rank, n_f)
    Fm = np.zeros((n_f, M.shape[0]))
    Fm[:r] = np.sqrt(evals[:r])[:, None] * evecs[:, :r].T
    f = Fm[:, -1]
    v = f - np.ones(n_f)
    if np.linalg.norm(v) > 1e-12 * math.sqrt(n_f):
        Fm = Fm - 2 * np.outer(v, v @ Fm) / (v @ v)
    return Fm[:, :-1], rank


def polynomial_sdp(X: Array, n_f: int, beta: float, coefficients: tuple[float, float, float] = (1.0, 1.0, 0.0),
                   beta_g: float = 1.0, solver: str = "CLARABEL") -> dict:
    """Fake samples for a discriminator with polynomial activation sigma(t) = a t^2 + b t + c.

    The constraint is max_{||u||_2 = 1} |q(u)| <= beta over the unit sphere, with
    q(u) = a u^T (X^T X - G^T G) u + b (X^T 1 - G^T 1)^T u + c (n_r - n_f): mean plus second-moment
    matching. By the S-lemma with an equality constraint (exact on the sphere; the trust-region
    subproblem has no duality gap), q <= beta on the sphere iff some lambda in R makes
    [[lambda I - A, -g/2], [-g^T/2, beta - c0 - lambda]] >= 0 (A, g, c0: q's quadratic, linear and
    constant parts), and likewise for -q <= beta. G enters through the lifted Gram matrix
    M = [G 1]^T [G 1] = [[G^T G, G^T 1], [1^T G, n_f]] >= 0, which is exact whenever rank(M) <= n_f
    (always when n_f >= d + 1). The objective (beta_g / 2) tr(G^T G) is the weight decay of a free
    generator (or of G = Z W with orthonormal noise). With (a, b, c) = (1, 0, 0) this is
    :func:`quadratic_sdp`; with (0, 1, 0) it is mean matching (:func:`linear_closed_form` with Z = I).

    Returns ``{"G", "K", "sum", "value", "status", "rank", "exact"}``: G (n_f x d) recovered from M,
    K = G^T G and sum = G^T 1 from the solver, rank(M) and whether rank(M) <= n_f.
    """
    _check_beta(beta)
    _check_beta(beta_g, "generator weight decay beta_g")
    if int(n_f) != n_f or n_f < 1:
        raise ValueError(f"Invalid number of fake samples n_f: {n_f} (must be a positive integer).")
    a, b, c = (float(v) for v in coefficients)
    Xn = _numpy(X, "X")
    n_r, d = Xn.shape
    M = cp.Variable((d + 1, d + 1), PSD=True)
    K, g = M[:d, :d], M[:d, d]
    A = a * (Xn.T @ Xn - K)
    lin = _column(b * (Xn.sum(0) - g))
    c0 = c * (n_r - n_f)
    lam, mu = cp.Variable(), cp.Variable()
    eye = np.eye(d)
    upper = cp.bmat([[lam * eye - A, -lin / 2], [-lin.T / 2, cp.reshape(beta - c0 - lam, (1, 1), order="F")]])
    lower = cp.bmat([[mu * eye + A, lin / 2], [lin.T / 2, cp.reshape(beta + c0 - mu, (1, 1), order="F")]])
    constraints = [M[d, d] == n_f, (upper + upper.T) / 2 >> 0, (lower + lower.T) / 2 >> 0]
    problem = cp.Problem(cp.Minimize(beta_g / 2 * cp.trace(K)), constraints)
    _solve(problem, solver, f"|c (n_r - n_f)| = {abs(c0):g} exceeds beta = {beta:g}: no fake set of this size "
                            "matches the constant term; change n_f or raise beta.")
    G, rank = _gram_factor(M.value, int(n_f))
    return {"G": G, "K": K.value, "sum": g.value, "value": float(problem.value), "status": problem.status,
            "rank": rank, "exact": rank <= n_f}


# ----------------------------------------------------------------------------------------------------
# hyperplane arrangements and ReLU
# ----------------------------------------------------------------------------------------------------

def _interior_point(rows: np.ndarray) -> np.ndarray | None:
    """A point u with rows @ u > 0 (a strictly interior point of the cone), or None if there is none.

    Solves max t s.t. rows u >= t, -1 <= u <= 1, t <= 1 (rows normalised) with HiGHS.
    """
    n, d = rows.shape
    res = linprog(np.r_[np.zeros(d), -1.0], A_ub=np.c_[-rows, np.ones(n)], b_ub=np.zeros(n),
                  bounds=[(-1, 1)] * d + [(None, 1)], method="highs")
    return res.x[:d] if res.status == 0 and -res.fun > 1e-9 else None


def _enumerate_regions(A: np.ndarray) -> np.ndarray:
    """Sign vectors (+-1) of all regions of the central arrangement of the (nonzero, unit) rows of A.

    Incremental: each region of the first j hyperplanes is split by hyperplane j + 1 where a linear
    program finds interior points on both sides; a stored interior point certifies one side for free.
    """
    regions = [(np.array([1.0]), A[0]), (np.array([-1.0]), -A[0])]
    for j in range(1, len(A)):
        split = []
        for signs, u in regions:
            side = A[j] @ u
            for s in (1.0, -1.0):
                new = np.r_[signs, s]
                if s * side > 1e-12:
                    split.append((new, u))
                else:
                    w = _interior_point(new[:, None] * A[: j + 1])
                    if w is not None:
                        split.append((new, w))
        regions = split
    return np.array([s for s, _ in regions])


def hyperplane_arrangement(A: Array, n_samples: int | None = None, seed: int = 0,
                           max_enumerate: int = 12) -> tuple[np.ndarray, dict]:
    """Sign patterns D_i = 1[A u >= 0] of the regions of the central arrangement {u : a_j^T u = 0}.

    A is n x d (for a ReLU discriminator, A = [X; G]). Two modes:

    * enumerated (``n_samples is None`` and n <= ``max_enumerate``): every full-dimensional region,
      found incrementally with one small linear program per candidate region; exact.
    * sampled (otherwise): ``n_samples`` (default 10,000) directions u ~ N(0, I_d), i.e. uniform on the
      sphere, drawn with numpy's default_rng(seed); the distinct patterns 1[A u >= 0] are kept. This finds
      the regions the directions hit (large regions first) and may miss small ones, so constraints
      imposed over the sampled regions are a relaxation and maxima over them are lower bounds.

    Zero rows of A get pattern 1 (their ReLU term is 0 anyway). Returns (patterns, info): a boolean
    array (n_patterns x n) and a dict with ``method``, ``n_patterns``, ``n_hyperplanes``, ``rank``,
    ``bound`` = 2 sum_{i < r} C(n - 1, i) (the number of regions in general position, r = rank(A);
    at most 2r (e(n - 1)/r)^r), ``n_samples`` and ``seed`` (None when enumerated).
    """
    An = _numpy(A, "A")
    n, d = An.shape
    norms = np.linalg.norm(An, axis=1)
    nonzero = norms > 1e-12 * max(norms.max(initial=0.0), 1e-300)
    rank = int(np.linalg.matrix_rank(An)) if n else 0
    bound = 2 * sum(math.comb(n - 1, i) for i in range(rank)) if n else 1
    enumerate_all = n_samples is None and n <= max_enumerate
    patterns = np.ones((1, n), dtype=bool)
    if nonzero.any():
        unit = An[nonzero] / norms[nonzero, None]
        if enumerate_all:
            signs = _enumerate_regions(unit) > 0
        else:
            n_samples = 10_000 if n_samples is None else int(n_samples)
            if n_samples < 1:
                raise ValueError(f"Invalid number of sampled directions: {n_samples} (must be >= 1).")
            u = np.random.default_rng(seed).standard_normal((n_samples, d))
            signs = np.unique((unit @ u.T >= 0).T, axis=0)
        patterns = np.ones((len(signs), n), dtype=bool)
        patterns[:, nonzero] = signs
    info = {"method": "enumerated" if enumerate_all else "sampled", "n_patterns": len(patterns),
            "n_hyperplanes": n, "rank": rank, "bound": bound,
            "n_samples": None if enumerate_all else n_samples, "seed": None if enumerate_all else seed}
    return patterns, info


def relu_constraint_value(X: Array, G: Array, n_samples: int | None = None, seed: int = 0,
                          max_enumerate: int = 12) -> tuple[float, dict]:
    """max_{||u||_2 <= 1} |1^T (X u)_+ - 1^T (G u)_+|, the ReLU discriminator's constraint function.

    Over the closed region of pattern D_i of A = [X; G] (S_i = 2 D_i - I) the function is linear,
    c_i^T u with c_i = X^T D_i^r 1 - G^T D_i^f 1, and by conic duality
    max {c_i^T u : ||u|| <= 1, S_i A u >= 0} = min_{lambda >= 0} ||c_i + A^T S_i lambda||_2, a
    non-negative least-squares problem (scipy.optimize.nnls); the value is the largest over regions and
    signs. Exact when the arrangement is enumerated, a lower bound when it is sampled (see
    :func:`hyperplane_arrangement`, whose info is returned with the value).
    """
    Xn, Gn = _numpy(X, "X"), _numpy(G, "G")
    A = np.vstack([Xn, Gn])
    n_r = len(Xn)
    patterns, info = hyperplane_arrangement(A, n_samples, seed, max_enumerate)
    value = 0.0
    for D in patterns:
        c = Xn.T @ D[:n_r] - Gn.T @ D[n_r:]
        B = ((2.0 * D - 1.0)[:, None] * A).T
        value = max(value, nnls(B, -c)[1], nnls(B, c)[1])
    return float(value), info


def relu_program(X: Array, G0: Array, beta: float, beta_g: float = 1.0, n_samples: int | None = None,
                 seed: int = 0, max_enumerate: int = 12, solver: str = "CLARABEL") -> dict:
    """Smallest fake set on the rays of G0 that satisfies the ReLU-discriminator constraint.

    The ReLU constraint max_{||u|| <= 1} |1^T (X u)_+ - 1^T (G u)_+| <= beta depends on G through the
    arrangement of A = [X; G], which is why the paper speaks of a convex-concave game. Keeping that
    arrangement fixed means keeping every fake sample's hyperplane {u : g_j^T u = 0} and side, i.e.
    g_j = t_j g0_j with t_j >= 0: the fake DIRECTIONS are a fixed pool G0 (n_f x d) and, since
    (t g^T u)_+ = t (g^T u)_+, the constraint is convex in the magnitudes t (our derivation). With the
    regions of A0 = [X; G0] (patterns D_i, S_i = 2 D_i - I) and conic duality as in
    :func:`relu_constraint_value`:

        min_{t >= 0} (beta_g / 2) sum_j t_j^2 ||g0_j||^2   s.t. for every region i, with
            c_i(t) = X^T D_i^r 1 - G0^T D_i^f t:   ||c_i(t) + A0^T S_i lambda_i||_2 <= beta,
            ||-c_i(t) + A0^T S_i lambda'_i||_2 <= beta,   lambda_i, lambda'_i >= 0.

    With an enumerated arrangement every solution is exactly feasible for the ReLU constraint; with a
    sampled one the constraint is imposed only on the sampled regions (a relaxation). The map
    x -> (u^T x)_+ has no bias: append a ones column to X and G0 for an affine discriminator layer.

    Returns ``{"G", "t", "value", "status", "arrangement"}`` (arrangement: the info of
    :func:`hyperplane_arrangement`, which states how the regions were obtained).
    """
    _check_beta(beta)
    _check_beta(beta_g, "generator weight decay beta_g")
    Xn, G0n = _numpy(X, "X"), _numpy(G0, "G0")
    if Xn.shape[1] != G0n.shape[1]:
        raise ValueError(f"X and G0 must have the same number of features, got {Xn.shape[1]} and {G0n.shape[1]}.")
    A0 = np.vstack([Xn, G0n])
    n_r, n = len(Xn), len(A0)
    patterns, info = hyperplane_arrangement(A0, n_samples, seed, max_enumerate)
    t = cp.Variable(len(G0n), nonneg=True)
    constraints = []
    for D in patterns:
        B = ((2.0 * D - 1.0)[:, None] * A0).T
        c = Xn.T @ D[:n_r] - (D[n_r:, None] * G0n).T @ t
        lam_plus, lam_minus = cp.Variable(n, nonneg=True), cp.Variable(n, nonneg=True)
        constraints += [cp.norm(c + B @ lam_plus, 2) <= beta, cp.norm(-c + B @ lam_minus, 2) <= beta]
    objective = beta_g / 2 * cp.sum_squares(cp.multiply(np.linalg.norm(G0n, axis=1), t))
    problem = cp.Problem(cp.Minimize(objective), constraints)
    _solve(problem, solver, "no non-negative rescaling of the rows of G0 meets the constraint; raise beta or "
                            "offer more fake directions (more rows in G0, e.g. the data's own directions).")
    return {"G": t.value[:, None] * G0n, "t": t.value, "value": float(problem.value), "status": problem.status,
            "arrangement": info}


def relu_generator_fit(Z: Array, target: Array, lam: float, n_samples: int | None = None, seed: int = 0,
                       max_enumerate: int = 12, solver: str = "CLARABEL") -> dict:
    """Convex fit of a two-layer ReLU generator G = (Z W1)_+ W2 to target samples (our derivation).

    The noise Z (n_f x d_f) is fixed, so the regions of its arrangement (patterns D_i, S_i = 2 D_i - I)
    are fixed too (Pilanci & Ergen 2020, convex two-layer ReLU networks). We solve

        min (1/2) ||sum_i D_i Z (V_i - U_i) - T||_F^2 + lam sum_i (||V_i||_{2,1} + ||U_i||_{2,1})
        s.t. S_i Z V_i >= 0,  S_i Z U_i >= 0  (entrywise),

    ||.||_{2,1} the sum of column norms. Each nonzero column v of V_i (output coordinate c) becomes a
    neuron w1 = v / sqrt(||v||), w2 = sqrt(||v||) e_c (negated for U_i): the cone constraints make
    (Z w1)_+ = D_i Z w1, so the network reproduces the fit exactly, and its weight decay
    (||W1||_F^2 + ||W2||_F^2) / 2 equals the group-norm term. For output-separable networks (each
    hidden neuron feeds one output coordinate) the program is exact given enough neurons; for general
    vector-output networks the group norm is an upper bound of their weight decay. The target may be
    any fake set the discriminator accepts (e.g. the closed-form G*): the discriminator fixes the
    statistics, the generator fit is then convex. Append a ones column to Z for first-layer biases.

    Returns ``{"W1", "W2", "G", "fit", "value", "regularizer", "status", "arrangement"}``: G is the
    network's output, fit the program's prediction sum_i D_i Z (V_i - U_i).
    """
    _check_beta(lam, "regularisation strength lam")
    Zn, T = _numpy(Z, "Z"), _numpy(target, "target")
    if len(Zn) != len(T):
        raise ValueError(f"Z and target must have the same number of rows (samples), got {len(Zn)} and {len(T)}.")
    (n_f, d_f), d = Zn.shape, T.shape[1]
    patterns, info = hyperplane_arrangement(Zn, n_samples, seed, max_enumerate)
    V = [cp.Variable((d_f, d)) for _ in patterns]
    U = [cp.Variable((d_f, d)) for _ in patterns]
    fit, penalty, constraints = 0, 0, []
    for D, Vi, Ui in zip(patterns, V, U):
        S = (2.0 * D - 1.0)[:, None]
        DZ = D[:, None] * Zn
        fit = fit + DZ @ (Vi - Ui)
        penalty = penalty + cp.sum(cp.norm(Vi, 2, axis=0)) + cp.sum(cp.norm(Ui, 2, axis=0))
        constraints += [cp.multiply(S, Zn @ Vi) >= 0, cp.multiply(S, Zn @ Ui) >= 0]
    problem = cp.Problem(cp.Minimize(cp.sum_squares(fit - T) / 2 + lam * penalty), constraints)
    _solve(problem, solver, "this cannot happen (V = U = 0 is feasible).")
    first, second = [], []
    for Vi, Ui in zip(V, U):
        for M, sign in ((Vi.value, 1.0), (Ui.value, -1.0)):
            for col in range(d):
                norm = np.linalg.norm(M[:, col])
                if norm > 1e-8 * max(1.0, np.abs(T).max()):
                    first.append(M[:, col] / math.sqrt(norm))
                    second.append(sign * math.sqrt(norm) * np.eye(d)[col])
    W1 = np.array(first).T.reshape(d_f, -1)
    W2 = np.array(second).reshape(-1, d)
    return {"W1": W1, "W2": W2, "G": np.maximum(Zn @ W1, 0) @ W2, "fit": fit.value, "value": float(problem.value),
            "regularizer": float(penalty.value), "status": problem.status, "arrangement": info}


# ----------------------------------------------------------------------------------------------------
# ProCoGAN: progressive closed-form linear generators
# ----------------------------------------------------------------------------------------------------

def downsample(images: torch.Tensor, size: int) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, size, size) by area averaging (adaptive average pooling).

    Each coarse pixel is the mean of the fine pixels it covers: exact 2 x 2 block means for the
    power-of-two stages (8 -> 4 -> 2, 64 -> 32 -> ...), overlapping boxes for 25 -> 13 -> 7.
    """
    if size > images.shape[-1]:
        raise ValueError(f"Cannot downsample {images.shape[-1]}x{images.shape[-1]} images to the larger size {size}.")
    return images if size == images.shape[-1] else F.interpolate(images, size=(size, size), mode="area")


def upsample(images: torch.Tensor, size: int) -> torch.Tensor:
    """(N, C, h, w) -> (N, C, size, size) by nearest-neighbour upsampling (``nearest-exact``: pixel
    centres, so an integer factor f repeats each pixel f x f times, and 7 -> 13 -> 25 works too)."""
    return F.interpolate(images, size=(size, size), mode="nearest-exact")


def _whitened_noise(n: int, dim: int, generator: torch.Generator, device: torch.device,
                    basis: torch.Tensor | None = None) -> torch.Tensor:
    """Gaussian noise (n x dim) made exactly centred, orthogonal to ``basis`` (orthonormal columns) and
    white: Z^T Z = n I, the population second moment of fresh N(0, I) noise."""
    if n < dim + 1 + (0 if basis is None else basis.shape[1]):
        raise ValueError(f"ProCoGAN needs more images than input dimensions: got {n} images for "
                         f"{dim} noise dimensions{'' if basis is None else f' plus {basis.shape[1]} image components'}.")
    z = torch.randn(n, dim, generator=generator, dtype=torch.float64).to(device)
    z = z - z.mean(0)
    if basis is not None:
        z = z - basis @ (basis.T @ z)
    return math.sqrt(n) * torch.linalg.qr(z).Q


def _upsampled_extremes(sol: _QuadraticSolution, beta: float, channels: int, size: tuple[int, int],
                        r: int) -> tuple[float, float]:
    """Smallest and largest singular value of a stage output G = P_k S V_k^T upsampled to r x r.

    P_k has orthonormal columns, so they are those of S (V_k upsampled), a k x d matrix: cheap, where
    the SVD of the N x C r^2 upsampled output would not be.
    """
    S = (sol.sigma[: sol.k] ** 2 - beta).sqrt()
    components = upsample(sol.Vh[: sol.k].reshape(sol.k, channels, *size), r).reshape(sol.k, -1)
    s = torch.linalg.svdvals(S[:, None] * components)
    return float(s[-1]), float(s[0])


@dataclass
class StageRecord:
    """What one ProCoGAN stage fitted.

    ``data_shape`` / ``input_shape``: (N, features) of the centred data X_i and the generator input
    Z_i; ``*_rank``: their numerical ranks; ``beta = sigma_{k+1}(X_i)^2`` keeps exactly k components;
    ``used_singular_values = (D_1, D_k)`` of Z_i, the largest and the smallest singular value the closed
    form divides by; ``noise_scale``: the factor of the fresh noise appended to Z_i; ``constraint``:
    ||X_i^T X_i - G_i^T G_i||_2 of the fitted fakes (equals beta); ``fit_seconds``: wall clock.
    """

    resolution: int
    k: int
    beta: float
    data_shape: tuple[int, int]
    input_shape: tuple[int, int]
    data_rank: int
    input_rank: int
    used_singular_values: tuple[float, float]
    noise_scale: float
    constraint: float
    fit_seconds: float


class ProCoGAN:
    """Progressive convex GAN (Sahiner et al. 2022): a chain of closed-form linear generators.

    Stage i at resolution r_i fits W_i by :func:`quadratic_closed_form` between the centred, flattened
    data X_i (the images downsampled to r_i by :func:`downsample`, per-pixel mean removed) and the
    stage input Z_i, with beta_i = sigma_{k_i + 1}(X_i)^2 so that exactly k_i components
    survive. Stage 1's input is fresh noise (N x noise_dim); stage i > 1's input is the previous
    stage's output upsampled by :func:`upsample` (nearest neighbour), with ``noise_dim`` columns of
    FRESH noise appended. Samples push new noise through all stages and add the data mean back.

    Rank defect: the previous output has rank k_{i-1}, so the authors' input (previous output plus a
    ones column) has rank <= k_{i-1} + 1 while k_i > k_{i-1} + 1, and their closed form divides by
    round-off singular values (1e-13 in float64, 1e-6 in float32). We append fresh noise instead of
    capping k_i by the rank: capping would keep every stage's output inside the (k_1)-dimensional span
    of stage 1's noise, so later stages could add no new variation, whereas fresh noise gives stage i
    k_{i-1} + noise_dim genuine input directions. The noise is scaled to half the smallest singular
    value of the upsampled previous output (but at least 1e-3 of its largest, so that no divisor of
    the closed form approaches round-off), so the largest data components are driven by the coarse
    image (coarse-to-fine coherence) and the fresh noise fills the remaining ones. This requires
    k_1 <= noise_dim and k_i <= k_{i-1} + noise_dim (checked when constructing). Deviation: instead of
    a ones column the input is centred, so fakes have exactly the data's zero mean and matching the
    second moment matches the covariance. The noise used for fitting is whitened (centred, orthogonal
    to the previous output, Z^T Z = N I): the closed form divides by the noise's EMPIRICAL singular
    values, so with raw Gaussian noise fresh samples would miss the fitted spectrum by about
    2 sqrt(noise_dim / N); whitened, fresh N(0, I) noise reproduces E[G^T G] / n = G_fit^T G_fit / N.

    Stages: any increasing resolutions ending at the image size; e.g. digits 2 -> 4 -> 8, LFW faces
    7 -> 13 -> 25 (area downsampling and nearest-exact upsampling handle the non-integer factors),
    CelebA 4 -> 8 -> 16 -> 32 -> 64 with k = 20, 30, 40, 100, 175 (needs noise_dim >= 75).
    Optional histogram matching (skimage.exposure.match_histograms with channel_axis=-1) maps each
    sample's pixel histogram, per channel, to the pooled histogram of ``n_reference`` real images.
    Computation is in float64 on the device of the images.
    """

    def __init__(self, resolutions: Sequence[int], ks: Sequence[int], noise_dim: int, seed: int = 0,
                 histogram_matching: bool = False, n_reference: int = 256):
        resolutions, ks = [int(r) for r in resolutions], [int(k) for k in ks]
        if not resolutions or len(resolutions) != len(ks):
            raise ValueError(f"Need one k per resolution, got {len(resolutions)} resolutions and {len(ks)} ks.")
        if resolutions[0] < 1 or any(b <= a for a, b in zip(resolutions, resolutions[1:])):
            raise ValueError(f"Invalid resolutions {resolutions}: they must be positive and increasing.")
        if min(ks) < 1 or noise_dim < 1:
            raise ValueError(f"Invalid ks {ks} or noise_dim {noise_dim}: they must be positive.")
        for i, k in enumerate(ks):
            available = noise_dim if i == 0 else ks[i - 1] + noise_dim
            if k > available:
                raise ValueError(
                    f"Stage {i + 1} keeps k = {k} components but its input has rank {available} "
                    f"({'noise_dim' if i == 0 else f'k_{i} = {ks[i - 1]} plus noise_dim'} = {noise_dim}): use "
                    f"noise_dim >= {k - (0 if i == 0 else ks[i - 1])} or a smaller k."
                )
        self.resolutions, self.ks, self.noise_dim, self.seed = resolutions, ks, int(noise_dim), seed
        self.histogram_matching, self.n_reference = histogram_matching, n_reference
        self.stages: list[StageRecord] = []
        self._params: list[dict] = []

    def fit(self, images: Array) -> "ProCoGAN":
        """Fit every stage to ``images`` (N, C, H, W) in [-1, 1] with H = W = the last resolution."""
        x = images.detach() if isinstance(images, torch.Tensor) else torch.as_tensor(np.asarray(images))
        x = x.to(torch.float64)
        if x.ndim != 4 or x.shape[2] != x.shape[3] or x.shape[3] != self.resolutions[-1]:
            raise ValueError(f"Expected images of shape (N, C, {self.resolutions[-1]}, {self.resolutions[-1]}), "
                             f"got {tuple(x.shape)}.")
        if x.abs().max() > 1 + 1e-6:
            raise ValueError(f"Images must lie in [-1, 1], got values up to {float(x.abs().max()):g}.")
        n, channels = x.shape[:2]
        self._channels, self._device = channels, x.device
        generator = torch.Generator().manual_seed(self.seed)
        self.stages, self._params, previous = [], [], None
        for r, k in zip(self.resolutions, self.ks):
            start = time.perf_counter()
            data = downsample(x, r).reshape(n, -1)
            data_mean = data.mean(0)
            X = data - data_mean
            _, sigma, Vh = torch.linalg.svd(X, full_matrices=False)
            data_rank = _numerical_rank(sigma, X.shape)
            if k >= data_rank:
                raise ValueError(f"At resolution {r} the centred data has rank {data_rank}, so k = {k} components "
                                 f"cannot be kept with beta = sigma_(k+1)^2 > 0: choose k < {data_rank}.")
            if sigma[k - 1] <= sigma[k] * (1 + 1e-12):
                raise ValueError(f"At resolution {r} sigma_{k} = sigma_{k + 1} = {float(sigma[k]):g}: a threshold "
                                 f"cannot keep exactly k = {k} components; choose another k.")
            beta = float(sigma[k] ** 2)
            if previous is None:
                noise_scale, inputs = 1.0, _whitened_noise(n, self.noise_dim, generator, x.device)
            else:
                up = upsample(previous.reshape(n, channels, *previous_size), r).reshape(n, -1)
                smin, smax = _upsampled_extremes(previous_sol, previous_beta, channels, previous_size, r)
                noise_scale = max(0.5 * smin, 1e-3 * smax) / math.sqrt(n)
                noise = _whitened_noise(n, self.noise_dim, generator, x.device, previous_basis)
                inputs = torch.cat([up, noise_scale * noise], dim=1)
            sol = _quadratic_solution(X, inputs, beta, x_svd=(sigma, Vh))
            G = inputs @ sol.W
            self._params.append({"W": sol.W, "data_mean": data_mean, "noise_scale": noise_scale, "resolution": r})
            self.stages.append(StageRecord(
                resolution=r, k=sol.k, beta=beta, data_shape=tuple(X.shape), input_shape=tuple(inputs.shape),
                data_rank=data_rank, input_rank=sol.rank_Z,
                used_singular_values=(float(sol.D[0]), float(sol.D[sol.k - 1])), noise_scale=noise_scale,
                constraint=float(torch.linalg.eigvalsh(X.T @ X - G.T @ G).abs().max()),
                fit_seconds=time.perf_counter() - start))
            previous, previous_size, previous_sol, previous_beta = G, (r, r), sol, beta
            previous_basis = G @ Vh[:k].T / (sigma[:k] ** 2 - beta).sqrt()  # P_k: G = P_k S V_k^T
        if self.histogram_matching:
            pick = np.random.default_rng(self.seed).permutation(n)[: self.n_reference]
            real = x[torch.as_tensor(pick, device=x.device)].permute(0, 2, 3, 1).cpu().numpy()
            self._reference = real.reshape(-1, real.shape[2], channels)  # tiled (m H, W, C) mosaic
        return self

    def sample(self, n: int, generator: torch.Generator | None = None, stage: int | None = None) -> torch.Tensor:
        """n new images (n, C, H, W), float32, clamped to [-1, 1], on the fitting device; noise from
        ``generator`` (a CPU torch.Generator; None uses torch's global generator). ``stage`` (1-based,
        default the last) stops after that stage: images at its resolution, its data mean added back
        (histogram matching applies to the last stage only)."""
        if not self._params:
            raise RuntimeError("ProCoGAN.sample() called before fit().")
        last = len(self._params) if stage is None else int(stage)
        if not 1 <= last <= len(self._params):
            raise ValueError(f"Invalid stage {stage}: choose 1 to {len(self._params)}.")
        previous = None
        for p in self._params[:last]:
            noise = torch.randn(n, self.noise_dim, generator=generator, dtype=torch.float64).to(self._device)
            if previous is None:
                inputs = p["noise_scale"] * noise
            else:
                up = upsample(previous.reshape(n, self._channels, *previous_size), p["resolution"]).reshape(n, -1)
                inputs = torch.cat([up, p["noise_scale"] * noise], dim=1)
            previous, previous_size = inputs @ p["W"], (p["resolution"], p["resolution"])
        r = self.resolutions[last - 1]
        images = (previous + self._params[last - 1]["data_mean"]).reshape(n, self._channels, r, r).clamp(-1, 1)
        if self.histogram_matching and last == len(self._params):
            from skimage.exposure import match_histograms

            hwc = images.permute(0, 2, 3, 1).cpu().numpy()
            matched = np.stack([match_histograms(img, self._reference, channel_axis=-1) for img in hwc])
            images = torch.as_tensor(matched, device=self._device).permute(0, 3, 1, 2)
        return images.to(torch.float32)

