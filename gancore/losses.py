"""Classification losses and the GAN objectives built on them.

Two layers, following Welfert, Kurri, Otstot and Sankar, "(alpha_D, alpha_G)-GANs" (ISIT 2023,
arXiv 2302.14320; journal version JSAIT 2024, arXiv 2310.18291):

* **CPE losses** ``l(y, p)`` of a label ``y`` in {0, 1} and a probability ``p`` that ``y = 1``: log,
  exponential, squared and the tunable alpha-loss (ISIT23 eq. 2), in probability and logit form.
* **GAN objectives** on the discriminator's raw logits, behind the registry :func:`gan_loss`. Every
  objective reduces logits of shape ``(..., B, 1)`` by averaging over the last two dimensions, so a
  single model gives a scalar and an ensemble of K seeds with ``(K, B, 1)`` logits gives a ``(K,)``
  vector of per-seed losses.

Plus the WGAN-GP critic penalty, :func:`gradient_penalty`. The f-divergence theory behind these
objectives for discrete distributions (optimal discriminator, value functions, generators, regions,
the estimation bound) lives in :mod:`gancore.divergences`.

Throughout, ``c = (alpha - 1) / alpha`` is the exponent of alpha-loss; ``alpha/(alpha-1) = 1/c``.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "alpha_loss",
    "alpha_loss_logits",
    "log_loss",
    "exponential_loss",
    "squared_loss",
    "GANLoss",
    "gan_loss",
    "GAN_LOSSES",
    "gradient_penalty",
]


# ---------------------------------------------------------------------------------------------
# alpha parametrisation
# ---------------------------------------------------------------------------------------------

def _check_alpha(alpha: float, name: str = "alpha") -> float:
    alpha = float(alpha)
    if not alpha > 0:  # also rejects nan
        raise ValueError(f"Invalid {name}: {alpha} (alpha must lie in (0, inf]; "
                         f"alpha = 1 is log-loss, alpha = float('inf') the soft 0-1 loss)")
    return alpha


def _exponent(alpha: float) -> float:
    """c = (alpha - 1) / alpha = 1 - 1/alpha, with c = 1 at alpha = inf."""
    return 1.0 - 1.0 / alpha


def _exp_cap(dtype: torch.dtype) -> float:
    """Largest exponent evaluated exactly: 0.8 log(max float), about 71 in float32, 568 in float64."""
    return 0.8 * math.log(torch.finfo(dtype).max)


def _expm1(t: Tensor) -> Tensor:
    """e^t - 1 with accurate values AND gradients: torch's expm1 backward is (expm1(t) + 1), which
    rounds to 0 for t below about -17 in float32; exp(t) - 1 loses nothing there."""
    return torch.where(t > -1, torch.expm1(t), torch.exp(t) - 1)


def _one_minus_power(log_q: Tensor, c: float) -> Tensor:
    """(1 - q^c) / c from log q; its limit -log q at c = 0.

    Written as -expm1(c log q) / c, which has no cancellation however close c is to 0 (alpha to 1).
    For c < 0 (alpha < 1) q^c grows without bound as q -> 0; past exp(cap) the exponential is
    continued by its tangent line, so values and gradients stay finite (exact below the cap).
    """
    if c == 0.0:
        return -log_q
    t, cap = c * log_q, _exp_cap(log_q.dtype)
    # two separate pieces (not t - t.clamp(...)), so that their gradients never cancel
    return -(_expm1(t.clamp(max=cap)) + math.exp(cap) * (t - cap).clamp(min=0)) / c


def _alpha_loss_from_logs(y: Tensor | float, log_p: Tensor, log_1mp: Tensor, alpha: float) -> Tensor:
    c = _exponent(_check_alpha(alpha))
    return y * _one_minus_power(log_p, c) + (1 - y) * _one_minus_power(log_1mp, c)


def _check_probability(p: Tensor, name: str) -> None:
    """ValueError unless all of ``p`` lies in [0, 1] (NaN fails): one fused min/max reduction, one sync."""
    if p.numel():
        low, high = torch.aminmax(p.detach())
        if not bool((low >= 0) & (high <= 1)):
            found = "NaN" if bool(p.detach().isnan().any()) else f"values in [{low.item():g}, {high.item():g}]"
            raise ValueError(f"Invalid {name}: probabilities must lie in [0, 1], got {found}; pass probabilities "
                             "(e.g. torch.sigmoid of logits), or use the logit form of the loss.")


def _where_weighted(weight: Tensor | float, p: Tensor, neutral: float) -> Tensor:
    """``p`` where ``weight`` != 0, else ``neutral`` (a p where the term's loss is 0): ``weight * l(p)`` is
    then 0 for weight 0 even where l(p) = inf (0 log 0 = 0), with no 0 * inf in the backward pass
    either, and terms of non-zero weight stay bit for bit as they were."""
    if isinstance(weight, Tensor):
        return torch.where(weight != 0, p, neutral)
    return p if weight != 0 else torch.full_like(p, neutral)


def _one_minus_power_of(p: Tensor, c: float, label: int) -> Tensor:
    """(1 - q^c)/c (-log q at c = 0) for q = p (label 1) or 1 - p (label 0), from log p or log1p(-p).
    At q = 0 with c > 0 the value is 1/c, evaluated there as (1 - q**c)/c so that the gradient is the
    one-sided derivative -q^(c-1) (-1 at alpha = inf), not the chain rule's 0 * inf = NaN."""
    vanishing = p == float(1 - label)
    safe = torch.where(vanishing, float(label), p) if c > 0 else p
    term = _one_minus_power(torch.log(safe) if label == 1 else torch.log1p(-safe), c)
    if c <= 0:  # the loss is +inf at q = 0
        return term
    return torch.where(vanishing, (1 - (p if label == 1 else 1 - p) ** c) / c, term)


# ---------------------------------------------------------------------------------------------
# CPE losses l(y, p)
# ---------------------------------------------------------------------------------------------

def alpha_loss(y: Tensor | float, p: Tensor, alpha: float) -> Tensor:
    """Elementwise alpha-loss (ISIT23 eq. 2) of labels ``y`` in {0, 1} and probabilities ``p`` in (0, 1).

    l_alpha(y, p) = alpha/(alpha-1) [1 - y p^((alpha-1)/alpha) - (1-y) (1-p)^((alpha-1)/alpha)],
    alpha in (0, 1) U (1, inf); alpha = 1 is the log-loss -y log p - (1-y) log(1-p) (the limit, reached
    continuously: computed as -expm1(c log p)/c there is no cancellation near alpha = 1); alpha = inf
    is the soft 0-1 loss 1 - y p - (1-y)(1-p); alpha = 1/2 gives l(1, p) = 1/p - 1 (= e^{-z} for
    p = sigmoid(z)). Linear in ``y``, so soft labels in [0, 1] mix the two branches. At p in {0, 1}:
    the limits (0 for the matching label, with a finite gradient; for the wrong one 1/c if alpha > 1,
    +inf if alpha <= 1). ``ValueError`` for alpha <= 0 and for ``p`` outside [0, 1] or NaN.
    """
    c = _exponent(_check_alpha(alpha))
    _check_probability(p, "p")
    return (y * _one_minus_power_of(_where_weighted(y, p, 1.0), c, 1)
            + (1 - y) * _one_minus_power_of(_where_weighted(1 - y, p, 0.0), c, 0))


def alpha_loss_logits(y: Tensor | float, z: Tensor, alpha: float) -> Tensor:
    """alpha-loss of ``p = sigmoid(z)`` computed from the logit ``z`` (log p = logsigmoid(z)).

    Equals :func:`alpha_loss` on ``sigmoid(z)`` wherever q^c = exp(c log q) stays below
    exp(0.8 log(max float)) (~7e30 in float32); beyond that (only alpha < 1 and large |z|) the loss
    grows linearly in log q instead, so gradients stay below ~7e30 and values finite (float32: for
    |z| up to ~1e7). In float32 this is exact for p in [1e-7, 1 - 1e-7] (the range the paper's code
    clamps to) whenever alpha >= 0.19, and, unlike a clamp, keeps a non-zero gradient outside it.
    """
    return _alpha_loss_from_logs(y, F.logsigmoid(z), F.logsigmoid(-z), alpha)


def log_loss(y: Tensor | float, p: Tensor) -> Tensor:
    """Log-loss (cross-entropy) -y log p - (1-y) log(1-p); alpha-loss at alpha = 1. l(1, 1) = l(0, 0) = 0
    (0 log 0 = 0), l(1, 0) = l(0, 1) = +inf; ``p`` outside [0, 1] or NaN -> ``ValueError``."""
    _check_probability(p, "p")
    return -(y * torch.log(_where_weighted(y, p, 1.0)) + (1 - y) * torch.log1p(-_where_weighted(1 - y, p, 0.0)))


def exponential_loss(y: Tensor | float, p: Tensor) -> Tensor:
    """Exponential loss in CPE form y (1-p)/p + (1-y) p/(1-p); with p = sigmoid(z) it is e^{-z} for
    y = 1 and e^{z} for y = 0. alpha-loss at alpha = 1/2. Limits at p in {0, 1} as for
    :func:`log_loss`; ``p`` outside [0, 1] or NaN -> ``ValueError``."""
    _check_probability(p, "p")
    p1, p0 = _where_weighted(y, p, 1.0), _where_weighted(1 - y, p, 0.0)
    return y * (1 - p1) / p1 + (1 - y) * p0 / (1 - p0)


def squared_loss(y: Tensor | float, p: Tensor) -> Tensor:
    """Squared (Brier) loss y (1-p)^2 + (1-y) p^2; ``p`` outside [0, 1] or NaN -> ``ValueError``."""
    _check_probability(p, "p")
    return y * (1 - p) ** 2 + (1 - y) * p ** 2


# ---------------------------------------------------------------------------------------------
# GAN objectives on logits
# ---------------------------------------------------------------------------------------------

def _batch_mean(values: Tensor) -> Tensor:
    """Average over the batch and output-unit dimensions of ``(..., B, 1)``, keeping ``(...)``."""
    if values.dim() < 2 or values.shape[-1] != 1:
        raise ValueError(f"Expected discriminator logits of shape (..., B, 1), got {tuple(values.shape)}; "
                         f"reshape with .reshape(..., B, 1)")
    return values.mean(dim=(-2, -1))


def _bce_d(real: Tensor, fake: Tensor) -> Tensor:
    return _batch_mean(F.softplus(-real)) + _batch_mean(F.softplus(fake))


def _bce_saturating_g(fake: Tensor) -> Tensor:
    return -_batch_mean(F.softplus(fake))


def _bce_ns_g(fake: Tensor) -> Tensor:
    return _batch_mean(F.softplus(-fake))


def _alpha_d(real: Tensor, fake: Tensor, *, alpha_d: float) -> Tensor:
    c = _exponent(alpha_d)
    return (_batch_mean(_one_minus_power(F.logsigmoid(real), c))
            + _batch_mean(_one_minus_power(F.logsigmoid(-fake), c)))


def _alpha_saturating_g(fake: Tensor, *, alpha_g: float) -> Tensor:
    return -_batch_mean(_one_minus_power(F.logsigmoid(-fake), _exponent(alpha_g)))


def _alpha_ns_g(fake: Tensor, *, alpha_g: float) -> Tensor:
    return _batch_mean(_one_minus_power(F.logsigmoid(fake), _exponent(alpha_g)))


def _ls_d(real: Tensor, fake: Tensor, *, a: float, b: float) -> Tensor:
    return 0.5 * _batch_mean((real - b) ** 2) + 0.5 * _batch_mean((fake - a) ** 2)


def _ls_g(fake: Tensor, *, c: float) -> Tensor:
    return 0.5 * _batch_mean((fake - c) ** 2)


def _wasserstein_d(real: Tensor, fake: Tensor) -> Tensor:
    return _batch_mean(fake) - _batch_mean(real)


def _critic_g(fake: Tensor) -> Tensor:
    return -_batch_mean(fake)


def _hinge_d(real: Tensor, fake: Tensor) -> Tensor:
    return _batch_mean(F.relu(1 - real)) + _batch_mean(F.relu(1 + fake))


@dataclass(frozen=True)
class GANLoss:
    """A GAN objective as a pair of pure functions of the discriminator's logits.

    ``d(real_logits, fake_logits)`` is the discriminator's loss, ``g(fake_logits)`` the generator's;
    both are minimised. Logits of shape ``(..., B, 1)`` give losses of shape ``(...)``.
    """

    name: str
    d: Callable[[Tensor, Tensor], Tensor] = field(repr=False)
    g: Callable[[Tensor], Tensor] = field(repr=False)
    options: dict[str, Any] = field(default_factory=dict)


def _vanilla() -> GANLoss:
    """Goodfellow et al.'s minimax GAN: D minimises BCE; G minimises mean log(1 - D(G(z)))."""
    return GANLoss("vanilla", _bce_d, _bce_saturating_g)


def _ns() -> GANLoss:
    """Non-saturating GAN: D minimises BCE; G minimises -mean log D(G(z))."""
    return GANLoss("ns", _bce_d, _bce_ns_g)


def _clamped(objective: Callable[..., Tensor], bound: float) -> Callable[..., Tensor]:
    """``objective`` evaluated on logits clamped to [-bound, bound] (zero gradient outside)."""
    def wrapped(*logits: Tensor) -> Tensor:
        return objective(*(z.clamp(-bound, bound) for z in logits))
    return wrapped


def _alpha(alpha_d: float = 1.0, alpha_g: float = 1.0, generator: str = "saturating",
           p_min: float | None = None) -> GANLoss:
    """(alpha_D, alpha_G)-GAN (ISIT23): D minimises mean l_aD(1, D(x)) + mean l_aD(0, D(G(z)));
    G minimises -mean l_aG(0, D(G(z))) (saturating, Theorem 1) or mean l_aG(1, D(G(z))) (ns, Theorem 2).
    alpha_d = alpha_g = 1 is the vanilla / non-saturating GAN.

    ``p_min`` clamps D's probability to [p_min, 1 - p_min] as the paper's code does (1e-7 there),
    i.e. its logit to +-log((1 - p_min)/p_min), with zero gradient outside: every loss is then
    bounded (alpha < 1 losses grow like p^(-(1-alpha)/alpha) as p -> 0). None (default) clamps nothing."""
    alpha_d, alpha_g = _check_alpha(alpha_d, "alpha_d"), _check_alpha(alpha_g, "alpha_g")
    generators = {"saturating": _alpha_saturating_g, "ns": _alpha_ns_g}
    if generator not in generators:
        raise ValueError(f"Invalid generator: {generator!r}; choose 'saturating' or 'ns'")
    d, g = partial(_alpha_d, alpha_d=alpha_d), partial(generators[generator], alpha_g=alpha_g)
    options: dict[str, Any] = {"alpha_d": alpha_d, "alpha_g": alpha_g, "generator": generator}
    if p_min is not None:
        if not 0 < p_min < 0.5:
            raise ValueError(f"Invalid p_min: {p_min} (the clamp [p_min, 1 - p_min] needs 0 < p_min < 0.5)")
        bound = math.log((1 - p_min) / p_min)
        d, g = _clamped(d, bound), _clamped(g, bound)
        options["p_min"] = p_min
    return GANLoss("alpha", d, g, options)


def _lsgan(a: float = 0.0, b: float = 1.0, c: float = 1.0) -> GANLoss:
    """Least squares GAN (Mao et al. 2017) on D's logit used as a real-valued score:
    D minimises 1/2 mean (D(x) - b)^2 + 1/2 mean (D(G(z)) - a)^2; G minimises 1/2 mean (D(G(z)) - c)^2."""
    return GANLoss("lsgan", partial(_ls_d, a=a, b=b), partial(_ls_g, c=c), {"a": a, "b": b, "c": c})


def _wasserstein() -> GANLoss:
    """Wasserstein GAN with D a critic: D minimises mean D(fake) - mean D(real); G minimises -mean D(fake).
    The Lipschitz constraint (clipping, penalty, spectral norm) is the training loop's business."""
    return GANLoss("wasserstein", _wasserstein_d, _critic_g)


def _hinge() -> GANLoss:
    """Hinge GAN: D minimises mean relu(1 - D(x)) + mean relu(1 + D(G(z))); G minimises -mean D(G(z))."""
    return GANLoss("hinge", _hinge_d, _critic_g)


GAN_LOSSES: dict[str, Callable[..., GANLoss]] = {
    "vanilla": _vanilla,
    "ns": _ns,
    "alpha": _alpha,
    "lsgan": _lsgan,
    "wasserstein": _wasserstein,
    "hinge": _hinge,
}


def gan_loss(name: str, **options: Any) -> GANLoss:
    """The GAN objective registered as ``name``, configured by ``options``.

    Names: ``vanilla``, ``ns``, ``alpha`` (options ``alpha_d``, ``alpha_g``, ``generator`` =
    ``"saturating"`` | ``"ns"``, ``p_min``; defaults 1, 1, saturating, None), ``lsgan`` (options ``a``, ``b``, ``c``;
    defaults 0, 1, 1), ``wasserstein``, ``hinge``. Unknown name -> ``ValueError`` listing the known
    ones; unknown option -> ``TypeError`` listing the accepted ones.
    """
    if name not in GAN_LOSSES:
        raise ValueError(f"Unknown GAN loss {name!r}; known: {', '.join(sorted(GAN_LOSSES))}")
    factory = GAN_LOSSES[name]
    accepted = list(inspect.signature(factory).parameters)
    unexpected = sorted(set(options) - set(accepted))
    if unexpected:
        raise TypeError(f"gan_loss({name!r}) got unexpected option(s) {unexpected}; "
                        f"it accepts: {', '.join(accepted) if accepted else 'no options'}")
    return factory(**options)


# ---------------------------------------------------------------------------------------------
# Critic regularisation
# ---------------------------------------------------------------------------------------------

def gradient_penalty(D: torch.nn.Module, real: Tensor, fake: Tensor, lam: float = 10.0, drift: float = 0.0,
                     generator: torch.Generator | None = None) -> Tensor:
    """The WGAN-GP penalty (Gulrajani et al. 2017, eq. 3) plus ProGAN's drift term (Karras et al. 2018):

        lam E[(||grad_x D(x_hat)||_2 - 1)^2] + drift E[D(x)^2],   x_hat = e x + (1 - e) g,   e ~ U(0, 1),

    with one e per sample, x the real and g the fake batch (expectations are batch means). The weights
    e are drawn ON THE CPU from ``generator`` (a CPU torch.Generator; None uses torch's global one) and
    then moved to ``real.device``, so a seeded generator gives the same penalty on every device; this
    is the ``penalty_D(D, real, fake, generator)`` that :func:`gancore.train.fit` calls with its
    per-batch generator. ``create_graph=True``, so the penalty is differentiable in D's parameters.
    """
    e = torch.rand(real.shape[0], *[1] * (real.dim() - 1), generator=generator).to(real.device)
    x_hat = (e * real + (1 - e) * fake).requires_grad_(True)
    grad, = torch.autograd.grad(D(x_hat).sum(), x_hat, create_graph=True)
    penalty = lam * (grad.flatten(1).norm(dim=1) - 1).square().mean()
    return penalty + drift * D(real).square().mean() if drift else penalty
