"""Tests for gancore.divergences: the identities of the (alpha_D, alpha_G)-GAN paper (ISIT23) for
discrete distributions: the optimal discriminator, value functions equal to f-divergences plus
constants, the Arimoto special cases, the convexity regions and the estimation constant."""

import math
from functools import partial

import pytest
import torch
from torch.func import grad, vmap
from torch.testing import assert_close

from gancore.divergences import (
    estimation_constant,
    f_arimoto,
    f_divergence,
    f_ns,
    f_saturating,
    in_region_NS,
    in_region_R1R2,
    ns_offset,
    optimal_discriminator,
    saturating_offset,
    value_function,
    value_function_ns,
)
from gancore.losses import alpha_loss, alpha_loss_logits

F64 = torch.float64


def _pairs(n_pairs: int, support: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Random pairs of discrete distributions with full support (uniform on the simplex: normalised
    exponential variables)."""
    g = torch.Generator().manual_seed(seed)
    e = -torch.log(torch.rand(2, n_pairs, support, generator=g, dtype=F64))
    p, q = e / e.sum(-1, keepdim=True)
    return p, q


def _second_derivative(f, u: torch.Tensor) -> torch.Tensor:
    return vmap(grad(grad(f)))(u)


# --- Discrete theory ---------------------------------------------------------------------------

@pytest.mark.parametrize("alpha_d", [0.3, 1.0, 2.5, math.inf])
def test_optimal_discriminator_maximises_value_pointwise(alpha_d):
    p_r, p_g = _pairs(1, 12, seed=10)
    p_r, p_g = p_r[0], p_g[0]
    d_star = optimal_discriminator(p_r, p_g, alpha_d)
    if math.isinf(alpha_d):
        assert_close(d_star, (p_r > p_g).to(F64))
    else:
        assert_close(d_star, p_r ** alpha_d / (p_r ** alpha_d + p_g ** alpha_d))

    def pointwise(D):  # the x-th summand of V_aD
        return -p_r * alpha_loss(1.0, D, alpha_d) - p_g * alpha_loss(0.0, D, alpha_d)

    inside = d_star.clamp(1e-9, 1 - 1e-9)  # D* is a vertex when aD = inf
    best = pointwise(inside)
    g = torch.Generator().manual_seed(11)
    for _ in range(20):
        perturbed = (inside + (torch.rand(12, generator=g, dtype=F64) - 0.5) * 0.2).clamp(1e-6, 1 - 1e-6)
        moved = (perturbed - inside).abs() > 1e-9
        assert (pointwise(perturbed)[moved] < best[moved]).all()
    if math.isinf(alpha_d):  # V_inf(D*) = TV - 1
        assert_close(value_function(p_r, p_g, inside, alpha_d), 0.5 * (p_r - p_g).abs().sum() - 1)
    else:  # D* is a stationary point of each summand
        d = d_star.clone().requires_grad_(True)
        (slope,) = torch.autograd.grad(pointwise(d).sum(), d)
        assert_close(slope, torch.zeros_like(slope), atol=1e-10, rtol=0)


def test_value_at_optimum_is_f_divergence_plus_constant():
    """ISIT23 Theorems 1 and 2 on random discrete pairs and random (aD, aG)."""
    p_r, p_g = _pairs(100, 8, seed=12)
    g = torch.Generator().manual_seed(13)
    alphas = 0.2 + 2.8 * torch.rand(100, 2, generator=g, dtype=F64)
    for k in range(100):
        a_d, a_g = alphas[k].tolist()
        d_star = optimal_discriminator(p_r[k], p_g[k], a_d)
        v_sat = value_function(p_r[k], p_g[k], d_star, a_g)
        d_f = f_divergence(p_r[k], p_g[k], partial(f_saturating, alpha_d=a_d, alpha_g=a_g))
        # V_aG reads 1 - D* (rounded where D* is near 1), so its relative accuracy is ~eps/(1-D*)
        assert_close(v_sat, d_f + saturating_offset(a_g), rtol=1e-8, atol=1e-10)
        v_ns = value_function_ns(p_g[k], d_star, a_g)
        d_f_ns = f_divergence(p_r[k], p_g[k], partial(f_ns, alpha_d=a_d, alpha_g=a_g))
        assert_close(v_ns, d_f_ns + ns_offset(a_g), rtol=1e-10, atol=1e-12)


def test_arimoto_special_cases_are_hellinger_js_tv():
    """aD = aG = alpha: D_f = sum (sqrt p - sqrt q)^2 = 2 H^2 (alpha = 1/2), 2 JSD (alpha = 1),
    TV = 1/2 sum |p - q| (alpha = inf); the offsets are -2, -log 4, -1."""
    p, q = _pairs(5, 10, seed=14)
    m = (p + q) / 2
    references = {
        0.5: ((p.sqrt() - q.sqrt()) ** 2).sum(-1),
        1.0: (p * torch.log(p / m)).sum(-1) + (q * torch.log(q / m)).sum(-1),
        math.inf: 0.5 * (p - q).abs().sum(-1),
    }
    offsets = {0.5: -2.0, 1.0: -math.log(4.0), math.inf: -1.0}
    for alpha, reference in references.items():
        assert_close(f_divergence(p, q, partial(f_arimoto, alpha=alpha)), reference)
        assert_close(f_divergence(p, q, partial(f_saturating, alpha_d=alpha, alpha_g=alpha)), reference)
        assert saturating_offset(alpha) == pytest.approx(offsets[alpha], rel=1e-15)
        for k in range(5):
            d_star = optimal_discriminator(p[k], q[k], alpha)
            if not math.isinf(alpha):
                assert_close(value_function(p[k], q[k], d_star, alpha), reference[k] + offsets[alpha])


def test_generators_agree_and_are_continuous_in_alpha_g():
    u = torch.logspace(-2, 2, 25, dtype=F64)
    for alpha in [0.3, 0.5, 0.8, 1.0, 1.7, 4.0, math.inf]:
        assert_close(f_saturating(u, alpha, alpha), f_arimoto(u, alpha))
    # aG = 1: f_saturating drops the pole's affine term, which changes neither D_f nor f''
    p, q = _pairs(3, 6, seed=17)
    for a_d in [0.4, 1.0, 2.0]:
        d_f_at_one = f_divergence(p, q, partial(f_saturating, alpha_d=a_d, alpha_g=1.0))
        f2_at_one = _second_derivative(lambda x: f_saturating(x, a_d, 1.0), u)
        for delta in [1e-6, -1e-6]:
            a_g = 1 + delta
            d_f = f_divergence(p, q, partial(f_saturating, alpha_d=a_d, alpha_g=a_g))
            assert_close(d_f, d_f_at_one, rtol=0, atol=1e-4)
            assert_close(_second_derivative(lambda x: f_saturating(x, a_d, a_g), u), f2_at_one, rtol=1e-4, atol=1e-5)
            assert_close(f_ns(u, a_d, a_g), f_ns(u, a_d, 1.0), rtol=1e-5, atol=1e-6)
            assert saturating_offset(a_g) == pytest.approx(saturating_offset(1.0), rel=1e-5)
            assert ns_offset(a_g) == pytest.approx(ns_offset(1.0), rel=1e-5)
    # NS at aD = aG = 1 is log((1 + u) / (2u)), vanilla NS's generator
    assert_close(f_ns(u, 1.0, 1.0), torch.log((1 + u) / (2 * u)))
    # every generator vanishes at u = 1
    one = torch.ones(1, dtype=F64)
    for a_d, a_g in [(0.3, 2.0), (1.0, 1.0), (3.0, 0.5), (math.inf, math.inf)]:
        assert_close(f_saturating(one, a_d, a_g), torch.zeros(1, dtype=F64), atol=1e-15, rtol=0)
        assert_close(f_ns(one, a_d, a_g), torch.zeros(1, dtype=F64), atol=1e-15, rtol=0)


def _region_samples(predicate, n: int, seed: int) -> list[tuple[float, float]]:
    g = torch.Generator().manual_seed(seed)
    points = []
    while len(points) < n:
        a_d, a_g = (0.15 + 3.85 * torch.rand(2, generator=g, dtype=F64)).tolist()
        if predicate(a_d, a_g):
            points.append((a_d, a_g))
    return points


def test_region_predicates():
    assert in_region_R1R2(0.5, 0.5) and in_region_R1R2(1.0, 0.6) and in_region_R1R2(3.0, 2.0)
    assert not in_region_R1R2(0.5, 0.3) and not in_region_R1R2(3.0, 1.5) and not in_region_R1R2(2.0, 3.0)
    assert in_region_NS(1.0, 5.0) and in_region_NS(0.5, 0.5) and in_region_NS(math.inf, 0.9)
    assert not in_region_NS(2.0, 2.0) and not in_region_NS(3.0, 3.0)
    with pytest.raises(ValueError, match="alpha_g"):
        in_region_NS(1.0, -1.0)


def test_generators_strictly_convex_inside_regions_and_not_outside():
    u = torch.logspace(-2, 2, 81, dtype=F64)
    for a_d, a_g in _region_samples(in_region_R1R2, 25, seed=15):
        assert (_second_derivative(lambda x: f_saturating(x, a_d, a_g), u) > 0).all(), (a_d, a_g)
    for a_d, a_g in _region_samples(in_region_NS, 25, seed=16):
        assert (_second_derivative(lambda x: f_ns(x, a_d, a_g), u) > 0).all(), (a_d, a_g)
    for a_d, a_g in [(0.5, 0.2), (1.5, 0.7), (3.0, 1.2)]:  # below the regions R1 / R2
        assert not in_region_R1R2(a_d, a_g)
        assert (_second_derivative(lambda x: f_saturating(x, a_d, a_g), u) < 0).any(), (a_d, a_g)
    for a_d, a_g in [(3.0, 3.0), (2.0, 5.0)]:
        assert not in_region_NS(a_d, a_g)
        assert (_second_derivative(lambda x: f_ns(x, a_d, a_g), u) < 0).any(), (a_d, a_g)


@pytest.mark.parametrize("alpha", [0.3, 0.6, 1.0, 1.5, 3.0, math.inf])
def test_estimation_constant_is_the_lipschitz_constant_in_the_logit(alpha):
    h = 6.0
    z = torch.linspace(-h, h, 2001, dtype=F64)
    if 1 < alpha < math.inf:  # include the interior maximiser z* = log(alpha / (alpha - 1))
        z = torch.cat([z, torch.tensor([math.log(alpha / (alpha - 1))], dtype=F64)])
    if math.isinf(alpha):
        z = torch.cat([z, torch.zeros(1, dtype=F64)])
    slopes = [torch.autograd.functional.jacobian(lambda t: alpha_loss_logits(y, t, alpha).sum(), z).abs()
              for y in (0.0, 1.0)]
    largest = torch.stack(slopes).max().item()
    assert largest == pytest.approx(estimation_constant(alpha, h), rel=1e-12)
    with pytest.raises(ValueError, match="h"):
        estimation_constant(alpha, -1.0)


@pytest.mark.parametrize("alpha", [0.3, 1.0, 2.0, math.inf])
def test_value_function_with_partly_disjoint_supports(alpha):
    """p_r = (1/2, 1/2, 0), p_G = (0, 1/2, 1/2): D* = (1, 1/2, 0) and
    V(D*) = alpha/(alpha-1) (1/2 + 1/2 * 2^-c + 1/2 * 2^-c + 1/2 - 2) = -(1 - 2^-c)/c, i.e. -log 2 at
    alpha = 1 and -1/2 (= TV - 1) at alpha = inf; the points outside a support add nothing."""
    p_r = torch.tensor([0.5, 0.5, 0.0], dtype=F64)
    p_g = torch.tensor([0.0, 0.5, 0.5], dtype=F64)
    d_star = optimal_discriminator(p_r, p_g, alpha).requires_grad_(True)
    assert_close(d_star.detach(), torch.tensor([1.0, 0.5, 0.0], dtype=F64))
    c = 1 - 1 / alpha
    expected = -math.log(2) if c == 0 else -(1 - 2 ** -c) / c
    value = value_function(p_r, p_g, d_star, alpha)
    assert value.item() == pytest.approx(expected, rel=1e-14)
    (slope,) = torch.autograd.grad(value, d_star)
    assert torch.isfinite(slope).all()
    # D* is stationary at the shared point; the NS objective only reads D on p_G's support
    assert slope[1].item() == pytest.approx(0.0, abs=1e-14)
    v_ns = value_function_ns(p_g, torch.tensor([0.0, 0.5, 0.0], dtype=F64), alpha)
    assert v_ns.item() == pytest.approx(0.5 * alpha_loss(1.0, torch.tensor(0.5, dtype=F64), alpha).item()
                                        + 0.5 * alpha_loss(1.0, torch.tensor(0.0, dtype=F64), alpha).item())


def test_optimal_discriminator_outside_both_supports_is_one_half():
    p_r = torch.tensor([0.0, 0.6, 0.4, 0.0], dtype=F64)
    p_g = torch.tensor([0.0, 0.0, 0.4, 0.6], dtype=F64)
    for alpha_d in (0.5, 1.0, math.inf):
        d_star = optimal_discriminator(p_r, p_g, alpha_d)
        assert d_star.tolist() == [0.5, 1.0, 0.5, 0.0]
        assert math.isfinite(value_function(p_r, p_g, d_star, alpha_d).item())
