"""Tests for gancore.losses: closed forms of the CPE losses and the GAN objectives' contract (values,
reduction over seeds, registry, the paper's clamp); the f-divergence theory is in test_divergences.py."""

import math
from functools import partial

import pytest
import torch
from torch.testing import assert_close

from gancore.losses import (
    GAN_LOSSES,
    GANLoss,
    alpha_loss,
    alpha_loss_logits,
    exponential_loss,
    gan_loss,
    log_loss,
    squared_loss,
)

F64 = torch.float64
ALPHAS = [0.2, 0.5, 0.9, 1.0, 1.1, 2.0, 5.0, math.inf]


def _probs(n: int = 41) -> torch.Tensor:
    return torch.linspace(0.02, 0.98, n, dtype=F64)


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


# --- Probabilities at the ends of [0, 1] and outside it ----------------------------------------

@pytest.mark.parametrize("alpha", ALPHAS)
def test_probability_losses_unchanged_bit_for_bit_inside_the_interval(alpha):
    """The endpoint handling must not move a single bit for p in (0, 1): compare with the formula as
    it was evaluated before (both branches from log p and log1p(-p), every weight multiplied in)."""
    from gancore.losses import _alpha_loss_from_logs  # the previous evaluation of alpha_loss

    g = torch.Generator().manual_seed(21)
    for dtype in (torch.float32, F64):
        p = torch.rand(500, generator=g, dtype=dtype).clamp_min(torch.finfo(dtype).tiny)
        p = torch.cat([p, torch.tensor([1e-30, 1e-7, 0.5, 1 - 1e-7], dtype=dtype)])
        p = p[(p > 0) & (p < 1)]
        hard = torch.randint(0, 2, p.shape, generator=g).to(dtype)
        for y in (1.0, 0.0, 0.3, hard, torch.rand(p.shape, generator=g, dtype=dtype)):
            old = _alpha_loss_from_logs(y, torch.log(p), torch.log1p(-p), alpha)
            assert torch.equal(alpha_loss(y, p, alpha), old)
            if alpha == 1.0:
                assert torch.equal(log_loss(y, p), -(y * torch.log(p) + (1 - y) * torch.log1p(-p)))
                assert torch.equal(exponential_loss(y, p), y * (1 - p) / p + (1 - y) * p / (1 - p))


@pytest.mark.parametrize("alpha", ALPHAS)
def test_probability_losses_at_the_ends_are_the_limits(alpha):
    """l(1, 1) = l(0, 0) = 0 with a finite gradient (no 0 * inf); a wrong label gives the formula's
    limit: 1/c = alpha/(alpha-1) for alpha > 1 (1 at alpha = inf), +inf for alpha <= 1."""
    c = 1 - 1 / alpha
    wrong = 1 / c if c > 0 else math.inf
    for y, p, expected in [(1.0, 1.0, 0.0), (0.0, 0.0, 0.0), (1.0, 0.0, wrong), (0.0, 1.0, wrong)]:
        for label in (y, torch.tensor([y], dtype=F64)):  # a Python number or a tensor of labels
            q = torch.tensor([p], dtype=F64, requires_grad=True)
            loss = alpha_loss(label, q, alpha)
            assert loss.item() == pytest.approx(expected, rel=1e-14), (y, p)
            (slope,) = torch.autograd.grad(loss.sum(), q)
            if expected == 0.0:  # the derivative of the matching branch: -q^(c-1) at q = 1
                assert slope.item() == (-1.0 if y == 1.0 else 1.0), (y, p)
            elif c > 0:  # finite loss, one-sided derivative -q^(c-1): -1 at alpha = inf, infinite below
                assert not math.isnan(slope.item())
                assert abs(slope.item()) == (1.0 if math.isinf(alpha) else math.inf)
    # a soft label mixes the two limits
    assert alpha_loss(0.5, torch.tensor([1.0], dtype=F64), alpha).item() == pytest.approx(0.5 * wrong, rel=1e-14)


def test_log_and_exponential_losses_at_the_ends():
    ends = torch.tensor([0.0, 1.0], requires_grad=True)
    for loss_fn in (log_loss, exponential_loss):
        assert loss_fn(1.0, ends).tolist() == [math.inf, 0.0]
        assert loss_fn(0.0, ends).tolist() == [0.0, math.inf]
        assert loss_fn(torch.tensor([0.0, 1.0]), ends).tolist() == [0.0, 0.0]
        (slope,) = torch.autograd.grad(loss_fn(torch.tensor([0.0, 1.0]), ends).sum(), ends)
        assert torch.isfinite(slope).all()
    assert squared_loss(1.0, ends).tolist() == [1.0, 0.0]


@pytest.mark.parametrize("loss_fn", [partial(alpha_loss, alpha=0.5), partial(alpha_loss, alpha=3.0), log_loss,
                                     exponential_loss, squared_loss])
def test_probabilities_outside_the_interval_are_rejected(loss_fn):
    with pytest.raises(ValueError, match=r"Invalid p: .*\[-0\.1, 0\.5\]"):
        loss_fn(1.0, torch.tensor([-0.1, 0.5]))
    with pytest.raises(ValueError, match=r"Invalid p: .*\[0\.5, 1\.5\]"):
        loss_fn(torch.ones(2), torch.tensor([0.5, 1.5]))
    with pytest.raises(ValueError, match="Invalid p: .*NaN"):
        loss_fn(0.0, torch.tensor([0.2, math.nan]))
    assert loss_fn(1.0, torch.empty(0)).shape == (0,)
