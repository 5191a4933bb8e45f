"""cvxpy programs for the convex-duality WGAN: the SDP and SOCP that check the closed forms, and the
S-lemma SDP of a polynomial-activation discriminator (Sahiner et al., ICLR 2022).

Solvers are those that ship with cvxpy (CLARABEL by default, SCS); no MOSEK. Inputs are numpy arrays
or torch tensors (an inf or NaN is reported by the argument's name); results are numpy arrays.
:func:`solve_checked` is the one place that turns a solver status into an error.
"""

from __future__ import annotations

import math

import cvxpy as cp
import numpy as np

from .arrays import Array, as_numpy, check_beta

__all__ = ["solve_checked", "quadratic_sdp", "linear_socp", "polynomial_sdp"]


def solve_checked(problem: cp.Problem, solver: str, infeasible_hint: str) -> None:
    """Solve ``problem`` with ``solver``; ValueError (with ``infeasible_hint``) when it is infeasible,
    RuntimeError naming the status when the solver fails otherwise."""
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
    check_beta(beta)
    check_beta(beta_g, "generator weight decay beta_g")
    Xn = as_numpy(X, "X")
    S = Xn.T @ Xn
    K = cp.Variable(S.shape, PSD=True)
    eye = np.eye(S.shape[0])
    problem = cp.Problem(cp.Minimize(beta_g / 2 * cp.trace(K)), [S - K << beta * eye, K - S << beta * eye])
    solve_checked(problem, solver, "this cannot happen for beta > 0; check X for NaN.")
    return {"K": K.value, "value": float(problem.value), "status": problem.status}


def linear_socp(X: Array, Z: Array, beta: float, beta_g: float = 1.0, solver: str = "CLARABEL") -> dict:
    """The linear-D problem as a second-order cone program, to check :func:`linear_closed_form`:

        min_W (beta_g / 2) ||W||_F^2   s.t.   ||X^T 1 - W^T Z^T 1||_2 <= beta.

    Returns ``{"W", "value", "status"}`` (numpy).
    """
    check_beta(beta)
    check_beta(beta_g, "generator weight decay beta_g")
    Xn, Zn = as_numpy(X, "X"), as_numpy(Z, "Z")
    W = cp.Variable((Zn.shape[1], Xn.shape[1]))
    constraint = cp.norm(Xn.sum(0) - W.T @ Zn.sum(0), 2) <= beta
    problem = cp.Problem(cp.Minimize(beta_g / 2 * cp.sum_squares(W)), [constraint])
    solve_checked(problem, solver, "Z^T 1 = 0 and ||X^T 1|| > beta: the fake mean cannot move.")
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
    check_beta(beta)
    check_beta(beta_g, "generator weight decay beta_g")
    if int(n_f) != n_f or n_f < 1:
        raise ValueError(f"Invalid number of fake samples n_f: {n_f} (must be a positive integer).")
    a, b, c = (float(v) for v in coefficients)
    Xn = as_numpy(X, "X")
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
    solve_checked(problem, solver, f"|c (n_r - n_f)| = {abs(c0):g} exceeds beta = {beta:g}: no fake set of this size "
                            "matches the constant term; change n_f or raise beta.")
    G, rank = _gram_factor(M.value, int(n_f))
    return {"G": G, "K": K.value, "sum": g.value, "value": float(problem.value), "status": problem.status,
            "rank": rank, "exact": rank <= n_f}

