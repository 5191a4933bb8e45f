"""f-divergence theory of the (alpha_D, alpha_G)-GAN for distributions over a finite set.

Welfert, Kurri, Otstot and Sankar, "(alpha_D, alpha_G)-GANs" (ISIT 2023, arXiv 2302.14320; journal
version JSAIT 2024, arXiv 2310.18291): the optimal discriminator and the value functions of the
saturating and non-saturating games, the f-divergence generators of Theorems 1 and 2 (and the
Arimoto divergence, their aD = aG case) with the constants that relate the two, the regions where
those generators are strictly convex, and the constant of the estimation bound (Theorem 3). The
losses themselves (alpha-loss, the GAN objectives trained with) live in :mod:`gancore.losses`.

Throughout, ``c = (alpha - 1) / alpha`` is the exponent of alpha-loss; ``alpha/(alpha-1) = 1/c``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from .losses import _check_alpha, _expm1, _exponent, _where_weighted, alpha_loss

__all__ = [
    "optimal_discriminator",
    "value_function",
    "value_function_ns",
    "f_saturating",
    "f_ns",
    "f_arimoto",
    "f_divergence",
    "saturating_offset",
    "ns_offset",
    "in_region_R1R2",
    "in_region_NS",
    "is_convex_on_grid",
    "estimation_constant",
]

LOG2 = math.log(2.0)


# ---------------------------------------------------------------------------------------------
# Discrete distributions: optimal discriminator, value functions
# ---------------------------------------------------------------------------------------------

def _as_float_tensor(x: Tensor | float) -> Tensor:
    """Floating tensors pass through; anything else (numbers, lists, arrays) becomes float64."""
    if isinstance(x, Tensor) and x.is_floating_point():
        return x
    return torch.as_tensor(x, dtype=torch.float64)


def _scaled_log(log_u: Tensor, alpha: float) -> Tensor:
    """alpha * log u, with 0 at u = 1 also when alpha = inf (u^inf = 1 there)."""
    if math.isinf(alpha):
        return torch.where(log_u == 0, torch.zeros_like(log_u), alpha * log_u)
    return alpha * log_u


def optimal_discriminator(p_r: Tensor, p_g: Tensor, alpha_d: float) -> Tensor:
    """D*(x) = p_r(x)^aD / (p_r(x)^aD + p_G(x)^aD) (ISIT23 Theorem 1), computed as
    sigmoid(aD (log p_r - log p_G)); aD = inf gives 1[p_r > p_G] (1/2 at ties). Outside both supports
    (p_r = p_G = 0) every D is optimal; we return the tie's 1/2 there (log 0 - log 0 would be NaN)."""
    alpha_d = _check_alpha(alpha_d, "alpha_d")
    p_r, p_g = _as_float_tensor(p_r), _as_float_tensor(p_g)
    outside = (p_r == 0) & (p_g == 0)
    p_r, p_g = torch.where(outside, 1.0, p_r), torch.where(outside, 1.0, p_g)
    return torch.sigmoid(_scaled_log(torch.log(p_r) - torch.log(p_g), alpha_d))


def value_function(p_r: Tensor, p_g: Tensor, D: Tensor, alpha: float) -> Tensor:
    """V_alpha = sum_x p_r(x) [-l_alpha(1, D(x))] + sum_x p_G(x) [-l_alpha(0, D(x))]
    = alpha/(alpha-1) (sum p_r D^((alpha-1)/alpha) + sum p_G (1-D)^((alpha-1)/alpha) - 2)
    for distributions over a finite set (last dimension); D maximises it, G (saturating) minimises it.
    A point outside a support adds nothing to its sum (0 * l = 0 even where l = inf), so supports may be
    partly disjoint: p_r = (1/2, 1/2, 0), p_G = (0, 1/2, 1/2) give V_1(D*) = -log 2."""
    p_r, p_g, D = _as_float_tensor(p_r), _as_float_tensor(p_g), _as_float_tensor(D)
    return (-(p_r * alpha_loss(1.0, _where_weighted(p_r, D, 1.0), alpha)).sum(-1)
            - (p_g * alpha_loss(0.0, _where_weighted(p_g, D, 0.0), alpha)).sum(-1))


def value_function_ns(p_g: Tensor, D: Tensor, alpha_g: float) -> Tensor:
    """Non-saturating generator objective V^NS = sum_x p_G(x) l_aG(1, D(x))
    = aG/(aG-1) (1 - sum p_G D^((aG-1)/aG)) (ISIT23 Theorem 2); aG = 1 gives -sum p_G log D.
    Points with p_G = 0 add nothing (even where D = 0)."""
    p_g, D = _as_float_tensor(p_g), _as_float_tensor(D)
    return (p_g * alpha_loss(1.0, _where_weighted(p_g, D, 1.0), alpha_g)).sum(-1)


# ---------------------------------------------------------------------------------------------
# f-divergences
# ---------------------------------------------------------------------------------------------

def f_saturating(u: Tensor, alpha_d: float, alpha_g: float) -> Tensor:
    """f_{aD,aG}(u) = aG/(aG-1) [ (u^(aD(1-1/aG)+1) + 1) / (u^aD + 1)^(1-1/aG) - 2^(1/aG) ]
    (ISIT23 eq. 7), u >= 0, so that V_aG(theta, D*) = D_f(P_r || P_G) + aG/(aG-1)(2^(1/aG) - 2).

    aG = 1 is a pole: f diverges like aG/(aG-1) (u - 1), an affine term that adds nothing to D_f.
    There we return lim_{aG -> 1} [f(u) - aG/(aG-1)(u - 1)] = aD u log u - (u+1) log(1+u^aD) + 2 log 2
    (for aD = 1 the Jensen-Shannon generator: D_f = 2 JSD). Evaluated in log space with expm1, so
    aD = inf and aG = inf work too.
    """
    alpha_d, c = _check_alpha(alpha_d, "alpha_d"), _exponent(_check_alpha(alpha_g, "alpha_g"))
    u = _as_float_tensor(u)
    s = _scaled_log(torch.log(u), alpha_d)
    log_d, log_1md = -F.softplus(-s), -F.softplus(s)  # log D*, log(1 - D*) with D* = u^aD/(1+u^aD)
    if c == 0.0:
        return u * log_d + log_1md + 2 * LOG2
    # u e^{c log D*} + e^{c log(1-D*)} - 2^{1-c}, minus its value (u - 1) at c = 0, over c; plus (u-1)/c
    centred = u * _expm1(c * log_d) + _expm1(c * log_1md) - 2 * math.expm1(-c * LOG2)
    return (centred + (u - 1)) / c


def f_ns(u: Tensor, alpha_d: float, alpha_g: float) -> Tensor:
    """f^NS_{aD,aG}(u) = aG/(aG-1) [ 2^(1/aG - 1) - u^(aD(1-1/aG)) / (u^aD + 1)^(1-1/aG) ]
    (ISIT23 Theorem 2), so that V^NS_aG(theta, D*) = D_f(P_r || P_G) + aG/(aG-1)(1 - 2^(1/aG - 1)).
    Continuous at aG = 1, where it is log(1 + u^-aD) - log 2."""
    alpha_d, c = _check_alpha(alpha_d, "alpha_d"), _exponent(_check_alpha(alpha_g, "alpha_g"))
    u = _as_float_tensor(u)
    log_d = -F.softplus(-_scaled_log(torch.log(u), alpha_d))  # log D*, D* = u^aD/(1+u^aD)
    if c == 0.0:
        return -log_d - LOG2
    return (math.expm1(-c * LOG2) - _expm1(c * log_d)) / c


def f_arimoto(u: Tensor, alpha: float) -> Tensor:
    """Arimoto divergence generator f_alpha(u) = alpha/(alpha-1) [(1 + u^alpha)^(1/alpha) - 2^(1/alpha)]
    (alpha-GAN, ISIT22), the case aD = aG = alpha of :func:`f_saturating`; evaluated directly.

    alpha = 1 (pole, same convention as :func:`f_saturating`): u log u - (1+u) log(1+u) + 2 log 2,
    D_f = 2 JSD. alpha = 1/2: 3 - 2 sqrt(u) - u, D_f = sum (sqrt p - sqrt q)^2 = 2 (1 - sum sqrt(pq)).
    alpha = inf: max(u - 1, 0), D_f = total variation 1/2 sum |p - q|.
    """
    alpha = _check_alpha(alpha)
    u = _as_float_tensor(u)
    if alpha == 1.0:
        return torch.xlogy(u, u) - torch.xlogy(1 + u, 1 + u) + 2 * LOG2
    if math.isinf(alpha):
        return (u - 1).clamp(min=0)
    return alpha / (alpha - 1) * ((1 + u ** alpha) ** (1 / alpha) - 2 ** (1 / alpha))


def f_divergence(p: Tensor, q: Tensor, f: Callable[[Tensor], Tensor]) -> Tensor:
    """D_f(P || Q) = sum_x q(x) f(p(x) / q(x)) over the last dimension; q must be positive."""
    p, q = _as_float_tensor(p), _as_float_tensor(q)
    if not bool((q > 0).all()):
        raise ValueError("f_divergence needs q(x) > 0 everywhere; drop the points where both p and q vanish")
    return (q * f(p / q)).sum(-1)


def saturating_offset(alpha_g: float) -> float:
    """aG/(aG-1) (2^(1/aG) - 2), the constant in V_aG(theta, D*) = D_f + constant (ISIT23 Theorem 1):
    -2 at aG = 1/2, -log 4 at aG = 1 (limit), -1 at aG = inf."""
    c = _exponent(_check_alpha(alpha_g, "alpha_g"))
    return -2 * LOG2 if c == 0.0 else 2 * math.expm1(-c * LOG2) / c


def ns_offset(alpha_g: float) -> float:
    """aG/(aG-1) (1 - 2^(1/aG - 1)), the constant in V^NS_aG(theta, D*) = D_f + constant
    (ISIT23 Theorem 2): log 2 at aG = 1 (limit), 1/2 at aG = inf."""
    c = _exponent(_check_alpha(alpha_g, "alpha_g"))
    return LOG2 if c == 0.0 else -math.expm1(-c * LOG2) / c


# ---------------------------------------------------------------------------------------------
# Regions and the estimation bound
# ---------------------------------------------------------------------------------------------

def in_region_R1R2(alpha_d: float, alpha_g: float) -> bool:
    """(aD, aG) in R1 U R2 (ISIT23 Theorem 1), where f_{aD,aG} is strictly convex and D_f a divergence:
    R1 = {aD <= 1, aG > aD/(aD+1)}, R2 = {aD > 1, aD/2 < aG <= aD}."""
    alpha_d, alpha_g = _check_alpha(alpha_d, "alpha_d"), _check_alpha(alpha_g, "alpha_g")
    if alpha_d <= 1:
        return alpha_g > alpha_d / (alpha_d + 1)
    return alpha_d / 2 < alpha_g <= alpha_d


def in_region_NS(alpha_d: float, alpha_g: float) -> bool:
    """(aD, aG) in R_NS = {aD + aG > aD aG} (ISIT23 Theorem 2), tested as 1/aD + 1/aG > 1
    (the same set for finite alphas, and meaningful at infinity)."""
    alpha_d, alpha_g = _check_alpha(alpha_d, "alpha_d"), _check_alpha(alpha_g, "alpha_g")
    return 1 / alpha_d + 1 / alpha_g > 1


def is_convex_on_grid(f: Callable[[Tensor], Tensor], u: Tensor) -> bool:
    """Whether ``f'' > 0`` at every point of ``u`` (strict convexity there), with both derivatives of
    the elementwise ``f`` taken by automatic differentiation. A numerical check of where an
    f-divergence generator is strictly convex (ISIT23 Theorems 1-2: inside R1 U R2, resp. R_NS);
    use float64 ``u``, since f'' is tiny at extreme likelihood ratios."""
    x = u.detach().clone().requires_grad_(True)
    (first,) = torch.autograd.grad(f(x).sum(), x, create_graph=True)
    if not first.requires_grad:  # f' does not depend on x: f is affine, f'' = 0
        return False
    (second,) = torch.autograd.grad(first.sum(), x)
    return bool((second > 0).all())


def estimation_constant(alpha: float, h: float) -> float:
    """C_h(alpha) of the estimation bound (ISIT23 Theorem 3), the Lipschitz constant in the logit z of
    l_alpha(y, sigmoid(z)) on |z| <= h:

        sigma(h) sigma(-h)^((alpha-1)/alpha)                            for alpha in (0, 1],
        ((alpha-1)/(2alpha-1))^((alpha-1)/alpha) alpha/(2alpha-1)       for alpha > 1 (1/4 at inf).

    For alpha > 1 this is the maximum over all z, attained at z = log(alpha/(alpha-1)); it is the
    maximum over |z| <= h once h reaches that point.
    """
    alpha, h = _check_alpha(alpha), float(h)
    if not h >= 0:
        raise ValueError(f"Invalid h: {h} (the bound on |logit| must be >= 0)")
    if alpha <= 1:
        return (1 / (1 + math.exp(-h))) * (1 / (1 + math.exp(h))) ** _exponent(alpha)
    if math.isinf(alpha):
        return 0.25
    return ((alpha - 1) / (2 * alpha - 1)) ** _exponent(alpha) * alpha / (2 * alpha - 1)
