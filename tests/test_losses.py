"""Tests for gancore.losses: closed forms of the CPE losses, the GAN objectives' contract (values,
reduction over seeds, registry) and the identities of the (alpha_D, alpha_G)-GAN paper (ISIT23)."""

import math
from functools import partial

import pytest
import torch
from torch.func import grad, vmap
from torch.testing import assert_close

from gancore.losses import (
    GAN_LOSSES,
    GANLoss,
    alpha_loss,
    alpha_loss_logits,
    estimation_constant,
    exponential_loss,
    f_arimoto,
    f_divergence,
    f_ns,
    f_saturating,
    gan_loss,
    in_region_NS,
    in_region_R1R2,
    log_loss,
    ns_offset,
    optimal_discriminator,
    saturating_offset,
    squared_loss,
    value_function,
    value_function_ns,
)

F64 = torch.float64
ALPHAS = [0.2, 0.5, 0.9, 1.0, 1.1, 2.0, 5.0, math.inf]


def _probs(n: int = 41) -> torch.Tensor:
    return torch.linspace(0.02, 0.98, n, dtype=F64)


def _pairs(n_pairs: int, support: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Random pairs of discrete distributions with full support (uniform on the simplex: normalised
    exponential variables)."""
    g = torch.Generator().manual_seed(seed)
    e = -torch.log(torch.rand(2, n_pairs, support, generator=g, dtype=F64))
    p, q = e / e.sum(-1, keepdim=True)
    return p, q


def _second_derivative(f, u: torch.Tensor) -> torch.Tensor:
    return vmap(grad(grad(f)))(u)


# --- CPE losses ------------------------------------------------------------------------------

def test_alpha_loss_closed_forms():
    p = _probs()
    z = torch.logit(p)
    one, zero = torch.ones_like(p), torch.zeros_like(p)
    # alpha = 1/2: l(1, sigmoid(z)) = e^{-z}, l(0, sigmoid(z)) = e^{z}
    assert_close(alpha_loss(one, p, 0.5), torch.exp(-z))
    assert_close(alpha_loss(zero, p, 0.5), torch.exp(z))
    assert_close(exponential_loss(one, p), torch.exp(-z))
    # alpha = inf: soft 0-1 loss
    assert_close(alpha_loss(one, p, math.inf), 1 - p)
    assert_close(alpha_loss(zero, p, math.inf), p)
    # alpha = 1: log-loss; alpha = 2: 2 (1 - sqrt p)
    assert_close(alpha_loss(one, p, 1.0), -torch.log(p))
    assert_close(alpha_loss(zero, p, 1.0), -torch.log(1 - p))
    assert_close(log_loss(one, p), -torch.log(p))
    assert_close(alpha_loss(one, p, 2.0), 2 * (1 - p.sqrt()))
    assert_close(alpha_loss(zero, p, 2.0), 2 * (1 - (1 - p).sqrt()))
    assert_close(squared_loss(zero, p), p ** 2)


def test_alpha_loss_matches_definition_and_is_linear_in_y():
    p, y = _probs(), torch.tensor(0.3, dtype=F64)
    for alpha in [0.3, 0.7, 1.5, 4.0]:
        c = (alpha - 1) / alpha
        expected = alpha / (alpha - 1) * (1 - y * p ** c - (1 - y) * (1 - p) ** c)
        assert_close(alpha_loss(y, p, alpha), expected)


@pytest.mark.parametrize("delta", [1e-3, -1e-3, 1e-6, -1e-6, 1e-9, -1e-9, 1e-13, -1e-13])
def test_alpha_loss_continuous_at_one(delta):
    """(1 - p^c)/c = -L sum_k (cL)^k / (k+1)!, L = log p, c = (alpha-1)/alpha: accurate to rounding,
    and within |cL|/2 of the log-loss."""
    p = _probs()
    alpha = 1 + delta
    c = (alpha - 1) / alpha
    log_p = torch.log(p)
    t = c * log_p
    series = -log_p * sum(t ** k / math.factorial(k + 1) for k in range(10))
    loss = alpha_loss(torch.ones_like(p), p, alpha)
    assert_close(loss, series, rtol=1e-14, atol=0)
    assert_close(loss, -log_p, rtol=abs(c) * log_p.abs().max().item() / 2 * 1.01 + 1e-15, atol=0)


@pytest.mark.parametrize("alpha", [0.0, -1.0, math.nan])
def test_alpha_loss_rejects_non_positive_alpha(alpha):
    with pytest.raises(ValueError, match="alpha"):
        alpha_loss(torch.ones(2), torch.full((2,), 0.5), alpha)
    with pytest.raises(ValueError, match="alpha"):
        alpha_loss_logits(torch.ones(2), torch.zeros(2), alpha)


@pytest.mark.parametrize("alpha", ALPHAS)
def test_logit_form_equals_probability_form(alpha):
    z = torch.linspace(-8, 8, 33, dtype=F64)
    for y in (0.0, 1.0, 0.25):
        assert_close(alpha_loss_logits(y, z, alpha), alpha_loss(y, torch.sigmoid(z), alpha))


@pytest.mark.parametrize("alpha", [0.2, 0.5, 0.9, 1.0, 1.1, 3.0, math.inf])
def test_logit_form_finite_with_nonzero_gradient_at_extreme_logits(alpha):
    z = torch.tensor([-100.0, -30.0, 0.0, 30.0, 100.0], requires_grad=True)
    for y in (0.0, 1.0):
        loss = alpha_loss_logits(torch.full_like(z, y), z, alpha)
        (g,) = torch.autograd.grad(loss.sum(), z)
        assert torch.isfinite(loss).all() and torch.isfinite(g).all()
        # on the wrong side the loss still pushes the logit towards the label (no dead clamp)
        wrong_side = z < 0 if y == 1.0 else z > 0
        direction = -1.0 if y == 1.0 else 1.0
        assert (direction * g[wrong_side] > 0).all()


def test_logit_form_exact_within_the_papers_clamp():
    """float32 logits reproduce the exact float64 value wherever the paper's probability clamp
    [1e-7, 1 - 1e-7] is inactive, for the paper's alphas."""
    z_max = math.log((1 - 1e-7) / 1e-7)
    z = torch.linspace(-z_max, z_max, 101)
    for alpha in [0.2, 0.5, 1.0, 1.3, 10.0]:
        for y in (0.0, 1.0):
            exact = alpha_loss_logits(y, z.double(), alpha)
            assert_close(alpha_loss_logits(y, z, alpha).double(), exact, rtol=1e-5, atol=1e-6)
    # and past it: e^{50} is representable in float32, the exponential loss is still exact there
    assert_close(alpha_loss_logits(1.0, torch.tensor(-50.0), 0.5), torch.tensor(math.exp(50.0)))


# --- GAN objectives ----------------------------------------------------------------------------

def _logits(*shape: int, seed: int = 0, scale: float = 3.0) -> torch.Tensor:
    return scale * torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


def test_vanilla_and_ns_closed_forms():
    real, fake = _logits(7, 1, seed=1), _logits(7, 1, seed=2)
    d_real, d_fake = torch.sigmoid(real), torch.sigmoid(fake)
    bce = -torch.log(d_real).mean() - torch.log(1 - d_fake).mean()
    assert_close(gan_loss("vanilla").d(real, fake), bce)
    assert_close(gan_loss("ns").d(real, fake), bce)
    assert_close(gan_loss("vanilla").g(fake), torch.log(1 - d_fake).mean())
    assert_close(gan_loss("ns").g(fake), -torch.log(d_fake).mean())


def test_alpha_one_one_is_vanilla_and_ns():
    real, fake = _logits(9, 1, seed=3), _logits(9, 1, seed=4)
    for generator, reference in [("saturating", "vanilla"), ("ns", "ns")]:
        loss, ref = gan_loss("alpha", alpha_d=1, alpha_g=1, generator=generator), gan_loss(reference)
        assert_close(loss.d(real, fake), ref.d(real, fake))
        assert_close(loss.g(fake), ref.g(fake))


@pytest.mark.parametrize("alpha_d,alpha_g", [(0.3, 1.0), (0.6, 1.2), (2.0, 0.9), (math.inf, 3.0)])
def test_alpha_gan_follows_the_isit23_convention(alpha_d, alpha_g):
    real, fake = _logits(11, 1, seed=5), _logits(11, 1, seed=6)
    d_real, d_fake = torch.sigmoid(real), torch.sigmoid(fake)
    d_loss = alpha_loss(1.0, d_real, alpha_d).mean() + alpha_loss(0.0, d_fake, alpha_d).mean()
    sat = gan_loss("alpha", alpha_d=alpha_d, alpha_g=alpha_g, generator="saturating")
    ns = gan_loss("alpha", alpha_d=alpha_d, alpha_g=alpha_g, generator="ns")
    assert_close(sat.d(real, fake), d_loss)
    assert_close(ns.d(real, fake), d_loss)
    assert_close(sat.g(fake), -alpha_loss(0.0, d_fake, alpha_g).mean())
    assert_close(ns.g(fake), alpha_loss(1.0, d_fake, alpha_g).mean())


def test_lsgan_wasserstein_hinge_closed_forms():
    real = torch.tensor([[2.0], [0.5]])
    fake = torch.tensor([[-3.0], [0.0]])
    ls = gan_loss("lsgan")
    assert_close(ls.d(real, fake), torch.tensor(0.5 * (1.0 + 0.25) / 2 + 0.5 * (9.0 + 0.0) / 2))
    assert_close(ls.g(fake), torch.tensor(0.5 * (16.0 + 1.0) / 2))
    ls_sym = gan_loss("lsgan", a=-1.0, b=1.0, c=0.0)
    assert_close(ls_sym.d(real, fake), torch.tensor(0.5 * (1.0 + 0.25) / 2 + 0.5 * (4.0 + 1.0) / 2))
    assert_close(ls_sym.g(fake), torch.tensor(0.5 * 9.0 / 2))
    w = gan_loss("wasserstein")
    assert_close(w.d(real, fake), torch.tensor(-1.5 - 1.25))
    assert_close(w.g(fake), torch.tensor(1.5))
    hinge = gan_loss("hinge")
    assert_close(hinge.d(real, fake), torch.tensor((0.0 + 0.5) / 2 + (0.0 + 1.0) / 2))
    assert_close(hinge.g(fake), torch.tensor(1.5))


ALL_CONFIGS = [("vanilla", {}), ("ns", {}), ("alpha", {"alpha_d": 0.4, "alpha_g": 1.3}),
               ("alpha", {"alpha_d": 2.0, "alpha_g": 0.8, "generator": "ns"}), ("lsgan", {}),
               ("wasserstein", {}), ("hinge", {})]


@pytest.mark.parametrize("name,options", ALL_CONFIGS)
def test_reduction_over_seeds(name, options):
    """(K, B, 1) logits give (K,) losses equal to the per-seed scalar losses."""
    loss = gan_loss(name, **options)
    real, fake = _logits(4, 6, 1, seed=7), _logits(4, 6, 1, seed=8)
    d, g = loss.d(real, fake), loss.g(fake)
    assert d.shape == (4,) and g.shape == (4,)
    assert loss.d(real[0], fake[0]).shape == ()
    assert_close(d, torch.stack([loss.d(real[k], fake[k]) for k in range(4)]))
    assert_close(g, torch.stack([loss.g(fake[k]) for k in range(4)]))


@pytest.mark.parametrize("name,options", ALL_CONFIGS)
def test_gan_losses_finite_at_extreme_logits(name, options):
    loss = gan_loss(name, **options)
    real = torch.tensor([[-100.0], [100.0]], requires_grad=True)
    fake = torch.tensor([[100.0], [-100.0]], requires_grad=True)
    d_grads = torch.autograd.grad(loss.d(real, fake), (real, fake))
    (g_grad,) = torch.autograd.grad(loss.g(fake), fake)
    assert all(torch.isfinite(t).all() for t in (*d_grads, g_grad))


def test_logits_shape_is_checked():
    with pytest.raises(ValueError, match=r"\(\.\.\., B, 1\)"):
        gan_loss("ns").g(torch.zeros(5))
    with pytest.raises(ValueError, match=r"\(\.\.\., B, 1\)"):
        gan_loss("vanilla").d(torch.zeros(3, 5), torch.zeros(3, 5))


def test_registry_errors():
    with pytest.raises(ValueError) as info:
        gan_loss("wgan-gp")
    for name in GAN_LOSSES:
        assert name in str(info.value)
    with pytest.raises(TypeError, match="alpha_d"):
        gan_loss("alpha", alpha=0.5)
    with pytest.raises(ValueError, match="generator"):
        gan_loss("alpha", generator="flipped")
    with pytest.raises(ValueError, match="alpha_d"):
        gan_loss("alpha", alpha_d=0.0)


def test_gan_loss_is_a_frozen_dataclass():
    loss = gan_loss("alpha", alpha_d=0.5, alpha_g=1.0, generator="ns")
    assert isinstance(loss, GANLoss) and loss.name == "alpha"
    assert loss.options == {"alpha_d": 0.5, "alpha_g": 1.0, "generator": "ns"}
    with pytest.raises(AttributeError):
        loss.name = "other"


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


def test_alpha_p_min_clamps_probabilities_like_the_paper():
    """p_min = 1e-7 equals the loss on sigmoid(z) clamped to [p_min, 1 - p_min], with zero gradient outside."""
    loss = gan_loss("alpha", alpha_d=0.3, alpha_g=1.2, generator="ns", p_min=1e-7)
    z = torch.tensor([[-40.0], [-3.0], [0.5], [25.0]], dtype=torch.float64, requires_grad=True)
    p = torch.sigmoid(z).clamp(1e-7, 1 - 1e-7)
    expected_d = alpha_loss(1.0, p, 0.3).mean() + alpha_loss(0.0, p, 0.3).mean()
    torch.testing.assert_close(loss.d(z, z), expected_d)
    torch.testing.assert_close(loss.g(z), alpha_loss(1.0, p, 1.2).mean())
    (grad,) = torch.autograd.grad(loss.g(z), z)
    assert grad[0].item() == 0.0 and grad[3].item() == 0.0 and grad[1].item() != 0.0
    assert loss.options["p_min"] == 1e-7
    with pytest.raises(ValueError, match="Invalid p_min"):
        gan_loss("alpha", p_min=0.5)
