"""Classification losses, GAN objectives and the f-divergences behind them.

Three layers, following Welfert, Kurri, Otstot and Sankar, "(alpha_D, alpha_G)-GANs" (ISIT 2023,
arXiv 2302.14320; journal version JSAIT 2024, arXiv 2310.18291):

* **CPE losses** ``l(y, p)`` of a label ``y`` in {0, 1} and a probability ``p`` that ``y = 1``: log,
  exponential, squared and the tunable alpha-loss (ISIT23 eq. 2), in probability and logit form.
* **GAN objectives** on the discriminator's raw logits, behind the registry :func:`gan_loss`. Every
  objective reduces logits of shape ``(..., B, 1)`` by averaging over the last two dimensions, so a
  single model gives a scalar and an ensemble of K seeds with ``(K, B, 1)`` logits gives a ``(K,)``
  vector of per-seed losses.
* **Theory for discrete distributions**: the optimal discriminator, the value function, the
  f-divergence generators of Theorems 1 and 2, the Arimoto divergence, the regions where those
  generators are strictly convex, and the constant of the estimation bound (Theorem 3).

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
    "estimation_constant",
]

LOG2 = math.log(2.0)


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


# ---------------------------------------------------------------------------------------------
# CPE losses l(y, p)
# ---------------------------------------------------------------------------------------------

def alpha_loss(y: Tensor | float, p: Tensor, alpha: float) -> Tensor:
    """Elementwise alpha-loss (ISIT23 eq. 2) of labels ``y`` in {0, 1} and probabilities ``p`` in (0, 1).

    l_alpha(y, p) = alpha/(alpha-1) [1 - y p^((alpha-1)/alpha) - (1-y) (1-p)^((alpha-1)/alpha)],
    alpha in (0, 1) U (1, inf); alpha = 1 is the log-loss -y log p - (1-y) log(1-p) (the limit, reached
    continuously: computed as -expm1(c log p)/c there is no cancellation near alpha = 1); alpha = inf
    is the soft 0-1 loss 1 - y p - (1-y)(1-p); alpha = 1/2 gives l(1, p) = 1/p - 1 (= e^{-z} for
    p = sigmoid(z)). Linear in ``y``, so soft labels in [0, 1] mix the two branches.
    Raises ``ValueError`` for alpha <= 0.
    """
    return _alpha_loss_from_logs(y, torch.log(p), torch.log1p(-p), alpha)


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
    """Log-loss (cross-entropy) -y log p - (1-y) log(1-p); alpha-loss at alpha = 1."""
    return -(y * torch.log(p) + (1 - y) * torch.log1p(-p))


def exponential_loss(y: Tensor | float, p: Tensor) -> Tensor:
    """Exponential loss in CPE form y (1-p)/p + (1-y) p/(1-p); with p = sigmoid(z) it is e^{-z} for
    y = 1 and e^{z} for y = 0. alpha-loss at alpha = 1/2."""
    return y * (1 - p) / p + (1 - y) * p / (1 - p)


def squared_loss(y: Tensor | float, p: Tensor) -> Tensor:
    """Squared (Brier) loss y (1-p)^2 + (1-y) p^2."""
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
    sigmoid(aD (log p_r - log p_G)); aD = inf gives 1[p_r > p_G] (1/2 at ties)."""
    alpha_d = _check_alpha(alpha_d, "alpha_d")
    p_r, p_g = _as_float_tensor(p_r), _as_float_tensor(p_g)
    return torch.sigmoid(_scaled_log(torch.log(p_r) - torch.log(p_g), alpha_d))


def value_function(p_r: Tensor, p_g: Tensor, D: Tensor, alpha: float) -> Tensor:
    """V_alpha = sum_x p_r(x) [-l_alpha(1, D(x))] + sum_x p_G(x) [-l_alpha(0, D(x))]
    = alpha/(alpha-1) (sum p_r D^((alpha-1)/alpha) + sum p_G (1-D)^((alpha-1)/alpha) - 2)
    for distributions over a finite set (last dimension); D maximises it, G (saturating) minimises it."""
    p_r, p_g, D = _as_float_tensor(p_r), _as_float_tensor(p_g), _as_float_tensor(D)
    return -(p_r * alpha_loss(1.0, D, alpha)).sum(-1) - (p_g * alpha_loss(0.0, D, alpha)).sum(-1)


def value_function_ns(p_g: Tensor, D: Tensor, alpha_g: float) -> Tensor:
    """Non-saturating generator objective V^NS = sum_x p_G(x) l_aG(1, D(x))
    = aG/(aG-1) (1 - sum p_G D^((aG-1)/aG)) (ISIT23 Theorem 2); aG = 1 gives -sum p_G log D."""
    p_g, D = _as_float_tensor(p_g), _as_float_tensor(D)
    return (p_g * alpha_loss(1.0, D, alpha_g)).sum(-1)


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
