"""Closed forms of the convex-duality WGAN for a linear generator G = Z W (Sahiner et al., ICLR 2022).

Real samples X (n_r x d, rows are samples), noise Z (n_f x d_f), fake samples G = Z W (n_f x d). A
two-layer discriminator with linear activation makes the generator match the data's SUM
(||X^T 1 - G^T 1||_2 <= beta_d, a second-order cone); with quadratic activation it matches the
second moment (||X^T X - G^T G||_2 <= beta_d, the spectral norm), and the minimum-weight-decay W has
a closed form that soft-thresholds the data's spectrum. The module also holds what a gradient
descent-ascent baseline needs to report the same objective and constraint: :func:`wgan_objective`,
:func:`constraint_value` and :func:`constraint_violation`. Closed forms accept numpy arrays or torch
tensors and return the kind of X; an inf or NaN in X or Z is reported by name.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from .arrays import Array, as_matrix, check_beta, like, numerical_rank
from .relu import relu_constraint_value

__all__ = [
    "quadratic_closed_form", "quadratic_optimal_value", "linear_closed_form", "linear_optimal_value",
    "wgan_objective", "constraint_value", "constraint_violation", "QuadraticSolution", "quadratic_solution",
    "ACTIVATIONS", "second_moment_gap",
]

ACTIVATIONS = ("linear", "quadratic", "relu")


class QuadraticSolution(NamedTuple):
    """The closed form of :func:`quadratic_closed_form` with the pieces ProCoGAN reuses."""

    W: torch.Tensor        # d_f x d
    sigma: torch.Tensor    # singular values of X
    D: torch.Tensor        # singular values of Z
    Vh: torch.Tensor       # right singular vectors of X (rows)
    k: int                 # components that survive: #{sigma_j^2 > beta}
    rank_Z: int


def quadratic_solution(X: Array, Z: Array, beta: float,
                       x_svd: tuple[torch.Tensor, torch.Tensor] | None = None) -> QuadraticSolution:
    """The closed form and its ingredients; ``x_svd = (sigma, Vh)`` reuses an SVD of X already computed."""
    check_beta(beta)
    Zt = as_matrix(Z, "Z")
    sigma, Vh = x_svd if x_svd is not None else torch.linalg.svd(as_matrix(X, "X"), full_matrices=False)[1:]
    _, D, Qh = torch.linalg.svd(Zt, full_matrices=False)
    k = int((sigma ** 2 > beta).sum())
    rank_Z = numerical_rank(D, Zt.shape)
    if rank_Z < k:
        raise ValueError(
            f"The closed form needs rank(Z) >= k = {k}, the number of squared singular values of X above "
            f"beta = {beta:g}, but rank(Z) = {rank_Z}. Use noise with at least {k} dimensions and {k} samples "
            f"(Z of shape (n_f, d_f) with n_f, d_f >= {k}), or raise beta to at least "
            f"sigma_{rank_Z + 1}^2 = {float(sigma[rank_Z]) ** 2:g} so that only {rank_Z} components survive."
        )
    scale = (sigma[:k] ** 2 - beta).sqrt() / D[:k]
    W = Qh[:k].T @ (scale[:, None] * Vh[:k])
    return QuadraticSolution(W, sigma, D, Vh, k, rank_Z)


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
    tensor). Raises ValueError when beta <= 0, when X or Z holds an inf or a NaN (the message names
    which), or when rank(Z) < k (the message says how many noise dimensions are needed).
    """
    return like(quadratic_solution(X, Z, beta).W, X)


def quadratic_optimal_value(X: Array, Z: Array, beta: float, beta_g: float = 1.0) -> float:
    """p* = (beta_g / 2) sum_{j <= k} (sigma_j^2 - beta) / D_j^2, the optimum of the quadratic-D problem.

    sigma_j: singular values of X, D_j: of Z, k = #{sigma_j^2 > beta}; equals
    ``wgan_objective(quadratic_closed_form(X, Z, beta), beta_g)``.
    """
    check_beta(beta_g, "generator weight decay beta_g")
    sol = quadratic_solution(X, Z, beta)
    k = sol.k
    return float(beta_g / 2 * ((sol.sigma[:k] ** 2 - beta) / sol.D[:k] ** 2).sum())


def _linear_solution(X: Array, Z: Array, beta: float) -> torch.Tensor:
    """W* of :func:`linear_closed_form` as a float64 tensor."""
    check_beta(beta)
    Xt, Zt = as_matrix(X, "X"), as_matrix(Z, "Z")
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
    data sum shrunk towards zero by beta. Returns the kind of X. ValueError when beta <= 0, when X or Z
    holds an inf or a NaN, or when Z^T 1 = 0 while ||m|| > beta (no W can move the fake mean).
    """
    return like(_linear_solution(X, Z, beta), X)


def linear_optimal_value(X: Array, Z: Array, beta: float, beta_g: float = 1.0) -> float:
    """p* = (beta_g / 2) (||X^T 1||_2 - beta)_+^2 / ||Z^T 1||_2^2, the optimum of the linear-D problem."""
    check_beta(beta_g, "generator weight decay beta_g")
    return float(beta_g / 2 * _linear_solution(X, Z, beta).square().sum())


# ----------------------------------------------------------------------------------------------------
# objective and constraint, for the closed forms and a gradient descent-ascent baseline alike
# ----------------------------------------------------------------------------------------------------

def wgan_objective(W: Array, beta_g: float = 1.0) -> float:
    """The generator's objective R_g(W) = (beta_g / 2) ||W||_F^2 of the linear generator G = Z W."""
    check_beta(beta_g, "generator weight decay beta_g")
    return float(beta_g / 2 * as_matrix(W, "W", finite=False).square().sum())


def constraint_value(X: Array, G: Array, activation: str = "quadratic") -> float:
    """The discriminator's constraint function at fake samples G (sums over samples, as in the paper).

    * ``"linear"``: ||X^T 1 - G^T 1||_2;
    * ``"quadratic"``: ||X^T X - G^T G||_2 (spectral norm);
    * ``"relu"``: max_{||u||_2 <= 1} |1^T (X u)_+ - 1^T (G u)_+| (:func:`relu_constraint_value`, exact
      over the enumerated arrangement for small samples, a lower bound from sampled regions otherwise).

    The WGAN value is finite iff this is <= beta_d. For a discriminator trained on MEANS, compare with
    beta_d * n (equal sample counts n) or pass X / n_r and G / n_f for the linear case. An inf or a
    NaN in X or G (e.g. a diverged iterate) raises ValueError naming the argument.
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"Unknown activation {activation!r}. Known: {', '.join(ACTIVATIONS)}.")
    if activation == "relu":
        return relu_constraint_value(X, G)[0]
    Xt = as_matrix(X, "X")
    Gt = as_matrix(G, "G").to(Xt.device)
    if Xt.shape[1] != Gt.shape[1]:
        raise ValueError(f"X and G must have the same number of features, got {Xt.shape[1]} and {Gt.shape[1]}.")
    if activation == "linear":
        return float((Xt.sum(0) - Gt.sum(0)).norm())
    return second_moment_gap(Xt, Gt)


def second_moment_gap(X: torch.Tensor, G: torch.Tensor) -> float:
    """``||X^T X - G^T G||_2``, the largest absolute eigenvalue of the difference of the second moments
    (the quadratic discriminator's constraint, Sahiner et al. Thm 2.1). When the samples are fewer than
    the features (``n_X + n_G < d``, e.g. 64x64 images) it is computed in the span of the samples: with
    ``[X; G]^T = Q R``, ``X^T X - G^T G = Q (R S R^T) Q^T``, ``S = diag(1, ..., 1, -1, ..., -1)``, so the
    eigenvalues are those of the small matrix ``R S R^T`` (an (n_X + n_G)-square problem instead of d)."""
    n, d = X.shape[0] + G.shape[0], X.shape[1]
    if n >= d:
        return float(torch.linalg.eigvalsh(X.T @ X - G.T @ G).abs().max())
    _, R = torch.linalg.qr(torch.cat([X, G]).T)
    signs = torch.cat([torch.ones(X.shape[0], dtype=R.dtype, device=R.device),
                       -torch.ones(G.shape[0], dtype=R.dtype, device=R.device)])
    return float(torch.linalg.eigvalsh(R @ (signs[:, None] * R.T)).abs().max())


def constraint_violation(X: Array, G: Array, beta: float, activation: str = "quadratic") -> float:
    """Relative violation (constraint_value(X, G, activation) / beta - 1)_+: 0 when feasible.

    A number on the same axis for the closed form (0 up to round-off) and for a GDA iterate G = Z W.
    """
    check_beta(beta)
    return max(constraint_value(X, G, activation) / beta - 1.0, 0.0)

