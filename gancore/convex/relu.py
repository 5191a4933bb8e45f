"""ReLU discriminators and generators in the convex-duality WGAN: hyperplane arrangements and the
programs built on them (Sahiner et al., ICLR 2022; Pilanci & Ergen 2020 for convex ReLU networks).

A ReLU discriminator's constraint is piecewise mean matching over the regions of the hyperplane
arrangement of A = [X; G]: on each region the ReLU pattern is fixed and the constraint is linear.
:func:`hyperplane_arrangement` enumerates the regions (small samples) or samples them,
:func:`relu_constraint_value` evaluates the constraint by conic duality, :func:`relu_program` finds
the smallest fake set on fixed rays that meets it, and :func:`relu_generator_fit` fits a two-layer
ReLU generator convexly. Inputs are numpy arrays or torch tensors; results are numpy arrays.
"""

from __future__ import annotations

import math

import cvxpy as cp
import numpy as np
from scipy.optimize import linprog, nnls

from .arrays import Array, as_numpy, check_beta
from .programs import solve_checked

__all__ = ["hyperplane_arrangement", "relu_constraint_value", "relu_program", "relu_generator_fit"]


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
    An = as_numpy(A, "A")
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
    Xn, Gn = as_numpy(X, "X"), as_numpy(G, "G")
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
    check_beta(beta)
    check_beta(beta_g, "generator weight decay beta_g")
    Xn, G0n = as_numpy(X, "X"), as_numpy(G0, "G0")
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
    solve_checked(problem, solver, "no non-negative rescaling of the rows of G0 meets the constraint; raise beta or "
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
    check_beta(lam, "regularisation strength lam")
    Zn, T = as_numpy(Z, "Z"), as_numpy(target, "target")
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
    solve_checked(problem, solver, "this cannot happen (V = U = 0 is feasible).")
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

