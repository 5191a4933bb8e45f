"""Gradient descent-ascent baselines for the convex-duality WGAN (Sahiner et al., ICLR 2022).

The same architectures as :mod:`gancore.convex`, trained the usual way with :func:`gancore.train.fit`:

* :func:`gda_fit`: a two-layer discriminator D(x) = sum_j v_j sigma(u_j^T x / ||u_j||) (activation
  linear, quadratic, polynomial or ReLU) against the linear generator G = Z W on FIXED noise Z, the
  game whose inner maximum :mod:`gancore.convex` solves in closed form. Every ``eval_every`` steps the
  iterate W is scored with the convex module's own :func:`~gancore.convex.wgan_objective` and
  :func:`~gancore.convex.constraint_violation`, so GDA and the closed form sit on one axis.
* :func:`progressive_gda`: the "Progressive GDA" baseline of the authors' CelebA code: one linear
  generator per resolution, earlier stages frozen, a two-layer quadratic-activation discriminator
  re-initialised per stage, WGAN-GP with drift.

Choices (ours, documented in the chapter):

* Discriminator regularisation. With u_j kept on the unit sphere (normalised in the forward pass) and
  the penalty beta_d ||v||_1, the maximum over v is exactly 0 when
  max_{||u|| = 1} |1^T sigma(X u) - 1^T sigma(G u)| <= beta_d and +inf otherwise, for EVERY activation,
  which is the paper's constraint. For the 1-homogeneous activations (linear, ReLU) this equals the
  paper's weight decay (beta_d / 2)(||u_j||^2 + v_j^2) by the usual rescaling u -> a u, v -> v / a; for
  the 2-homogeneous quadratic it is the form under which the paper's spectral-norm constraint holds.
* Sums, not means (:class:`SumWasserstein`): D's loss is sum_j D(g_j) - sum_i D(x_i), so beta_d is the
  paper's constant with no rescaling by the sample count; full batches (batch_size = n_r).
* Fixed noise (:class:`FixedNoiseLinear`): the convex problem is posed for ONE noise matrix Z, so the
  generator ignores the fresh noise :func:`gancore.train.fit` draws and returns Z W. (Fresh noise of
  the same statistics would make G^T G a random matrix with fluctuations of order sqrt(d_f / n_f), and
  the constraint could not be met to 1%.)
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from .. import train
from ..losses import gan_loss, gradient_penalty
from .arrays import check_beta
from .closed_form import constraint_violation, wgan_objective
from .procogan import downsample, upsample
from .relu import relu_constraint_value

__all__ = [
    "TwoLayerDiscriminator", "FixedNoiseLinear", "SumWasserstein", "GDAResult", "gda_fit",
    "polynomial_constraint_value", "violation", "time_to_target", "ProgressiveLinearGenerator", "ProgressiveGDA",
    "progressive_gda", "GDA_ACTIVATIONS", "one_thread",
]

GDA_ACTIVATIONS = ("linear", "quadratic", "polynomial", "relu")


@contextlib.contextmanager
def one_thread():
    """Run with one torch intra-op thread, restoring the previous count afterwards. These games are
    made of tiny matrices: one thread is faster than several, and on a shared, loaded machine several
    threads per process oversubscribe the cores (measured here: 20x slower per step with two)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class TwoLayerDiscriminator(nn.Module):
    """D(x) = sum_j v_j sigma(u_j^T x) on flattened inputs, returning (B, 1) logits.

    ``activation``: ``"linear"`` (t), ``"quadratic"`` (t^2), ``"polynomial"`` (a t^2 + b t + c with
    ``coefficients = (a, b, c)``) or ``"relu"`` (max(t, 0)). With ``normalize=True`` every u_j is used
    as u_j / ||u_j|| (the sphere constraint of the duality argument; pair it with the penalty
    ``beta_d * D.v.abs().sum()``); with ``normalize=False`` it is a plain two-layer network (the
    progressive GDA baseline). No biases, as in the paper's two-layer discriminator.
    """

    def __init__(self, in_dim: int, width: int, activation: str = "quadratic",
                 coefficients: tuple[float, float, float] = (1.0, 1.0, 0.0), normalize: bool = True,
                 init_scale: float = 1.0):
        super().__init__()
        if activation not in GDA_ACTIVATIONS:
            raise ValueError(f"Unknown activation {activation!r}. Known: {', '.join(GDA_ACTIVATIONS)}.")
        if width < 1 or in_dim < 1:
            raise ValueError(f"Invalid discriminator shape: in_dim={in_dim}, width={width}; both must be >= 1.")
        self.activation, self.normalize = activation, normalize
        self.coefficients = tuple(float(c) for c in coefficients)
        self.u = nn.Parameter(torch.randn(in_dim, width) / math.sqrt(in_dim))
        self.v = nn.Parameter(init_scale * torch.randn(width) / math.sqrt(width))

    def directions(self) -> torch.Tensor:
        """The first-layer weights as used: unit columns when ``normalize``."""
        return self.u / self.u.norm(dim=0, keepdim=True) if self.normalize else self.u

    def sigma(self, t: torch.Tensor) -> torch.Tensor:
        if self.activation == "linear":
            return t
        if self.activation == "quadratic":
            return t * t
        if self.activation == "relu":
            return torch.relu(t)
        a, b, c = self.coefficients
        return a * t * t + b * t + c

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.sigma(x.flatten(1) @ self.directions()) @ self.v)[:, None]


class FixedNoiseLinear(nn.Module):
    """The linear generator G = Z W on a FIXED noise matrix Z (n_f x d_f): ``forward(z)`` ignores z.

    W (d_f x d) starts at ``init_scale`` times a Gaussian matrix / sqrt(d_f) (seeded by torch's global
    generator). ``Z = torch.eye(n_f)`` gives a free fake set G = W.
    """

    def __init__(self, Z: torch.Tensor | np.ndarray, out_dim: int, init_scale: float = 0.1):
        super().__init__()
        Z = torch.as_tensor(np.asarray(Z) if not isinstance(Z, torch.Tensor) else Z, dtype=torch.float32)
        if Z.ndim != 2:
            raise ValueError(f"Z must be a matrix (samples x noise dimensions), got shape {tuple(Z.shape)}.")
        self.register_buffer("Z", Z)
        self.W = nn.Parameter(init_scale * torch.randn(Z.shape[1], out_dim) / math.sqrt(Z.shape[1]))

    def forward(self, z: torch.Tensor | None = None) -> torch.Tensor:
        return self.Z @ self.W


class SumWasserstein:
    """The WGAN objective with sums over samples (the paper's convention):
    d(real, fake) = sum D(fake) - sum D(real), g(fake) = -sum D(fake); logits (..., B, 1) -> (...)."""

    name = "wasserstein-sum"

    @staticmethod
    def d(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        return fake_logits.sum(dim=(-2, -1)) - real_logits.sum(dim=(-2, -1))

    @staticmethod
    def g(fake_logits: torch.Tensor) -> torch.Tensor:
        return -fake_logits.sum(dim=(-2, -1))


def polynomial_constraint_value(X: torch.Tensor | np.ndarray, G: torch.Tensor | np.ndarray,
                                coefficients: tuple[float, float, float] = (1.0, 1.0, 0.0),
                                n_directions: int = 20_000, seed: int = 0) -> float:
    """max over sampled unit u of |q(u)|, q(u) = a u^T (X^T X - G^T G) u + b (X^T 1 - G^T 1)^T u + c (n_r - n_f).

    The polynomial discriminator's constraint function; a lower bound from ``n_directions`` directions
    uniform on the sphere (numpy default_rng(seed)), accurate for the low dimensions of the toys.
    """
    Xn, Gn = (np.asarray(t.detach().cpu() if isinstance(t, torch.Tensor) else t, dtype=np.float64) for t in (X, G))
    a, b, c = coefficients
    u = np.random.default_rng(seed).standard_normal((Xn.shape[1], n_directions))
    u /= np.linalg.norm(u, axis=0)
    A = a * (Xn.T @ Xn - Gn.T @ Gn)
    q = (u * (A @ u)).sum(0) + b * (Xn.sum(0) - Gn.sum(0)) @ u + c * (len(Xn) - len(Gn))
    return float(np.abs(q).max())


def violation(X: np.ndarray, G: np.ndarray, beta_d: float, activation: str = "quadratic",
              coefficients: tuple[float, float, float] = (1.0, 1.0, 0.0)) -> float:
    """Relative constraint violation (value / beta_d - 1)_+ of fake samples G for any of the four
    activations: :func:`gancore.convex.constraint_violation` for linear and quadratic,
    :func:`polynomial_constraint_value` (sampled directions) for polynomial,
    :func:`gancore.convex.relu_constraint_value` (enumerated up to 12 samples, else 20,000 sampled
    directions) for ReLU."""
    if activation == "polynomial":
        return max(polynomial_constraint_value(X, G, coefficients) / beta_d - 1.0, 0.0)
    if activation == "relu":
        value, _ = relu_constraint_value(X, G, n_samples=None if len(X) + len(G) <= 12 else 20_000)
        return max(value / beta_d - 1.0, 0.0)
    return constraint_violation(X, G, beta_d, activation)


@dataclass
class GDAResult:
    """What :func:`gda_fit` returns: the final W and fake set G (numpy), the trajectory (one row per
    evaluation: step, seconds, objective, violation) and the models."""

    W: np.ndarray
    G: np.ndarray
    trajectory: pd.DataFrame
    seconds: float
    generator: FixedNoiseLinear
    discriminator: TwoLayerDiscriminator
    train_result: train.TrainResult = field(repr=False)


def gda_fit(X: torch.Tensor | np.ndarray, Z: torch.Tensor | np.ndarray, beta_d: float, beta_g: float = 1.0,
            activation: str = "quadratic", *, width: int | None = None,
            coefficients: tuple[float, float, float] = (1.0, 1.0, 0.0), steps: int = 2000,
            lr_G: float = 1e-3, lr_D: float = 1e-2, optimizer: str = "adam", policy: str = "simultaneous",
            eval_every: int = 50, seed: int = 0, device: str | torch.device = "cpu",
            init_scale: float = 0.1) -> GDAResult:
    """Gradient descent-ascent on  min_W max_{u, v} sum_i D(x_i) - sum_j D(g_j) - beta_d ||v||_1 + (beta_g/2)||W||_F^2,

    with G = Z W (:class:`FixedNoiseLinear`) and D a :class:`TwoLayerDiscriminator` (unit u_j, width
    ``width``, default 2 d), trained by :func:`gancore.train.fit` with :class:`SumWasserstein`,
    ``penalty_D = beta_d ||v||_1`` and ``penalty_G = (beta_g/2)||W||_F^2``, full batches. ``optimizer``
    is ``"adam"`` (betas (0.5, 0.999)) or ``"sgd"``. Every ``eval_every`` steps the trajectory gets
    :func:`gancore.convex.wgan_objective` of W and the relative constraint violation of G = Z W
    (polynomial: :func:`polynomial_constraint_value`; ReLU: :func:`gancore.convex.relu_constraint_value`,
    sampled when there are more than 12 samples), with ``seconds``, the training wall time so far
    (evaluations excluded).
    """
    check_beta(beta_d)
    check_beta(beta_g, "generator weight decay beta_g")
    if optimizer not in ("adam", "sgd"):
        raise ValueError(f"Unknown optimizer {optimizer!r}: use 'adam' or 'sgd'.")
    Xt = torch.as_tensor(np.asarray(X) if not isinstance(X, torch.Tensor) else X, dtype=torch.float32)
    Xn = Xt.double().numpy()
    train.seed_everything(seed)
    G = FixedNoiseLinear(Z, Xt.shape[1], init_scale)
    D = TwoLayerDiscriminator(Xt.shape[1], width or 2 * Xt.shape[1], activation, coefficients, normalize=True)
    make = ((lambda p, lr: torch.optim.Adam(p, lr, betas=(0.5, 0.999))) if optimizer == "adam"
            else (lambda p, lr: torch.optim.SGD(p, lr)))

    def evaluate(step: int, gen: nn.Module, disc: nn.Module) -> dict:
        W = gen.W.detach().double().cpu()
        fake = (gen.Z.double().cpu() @ W).numpy()
        return {"objective": wgan_objective(W, beta_g),
                "violation": violation(Xn, fake, beta_d, activation, coefficients)}

    with one_thread():
        result = train.fit(G, D, Xt, loss=SumWasserstein(), opt_G=make(G.parameters(), lr_G),
                           opt_D=make(D.parameters(), lr_D), steps=steps, batch_size=len(Xt), latent_dim=1,
                           policy=policy, seed=seed, device=device, evaluate=evaluate, eval_every=eval_every,
                           log_every=max(1, eval_every),
                           penalty_D=lambda d, real, fake, generator: beta_d * d.v.abs().sum(),
                           penalty_G=lambda g: beta_g / 2 * g.W.square().sum(), progress=False)
    W = G.W.detach().double().cpu().numpy()
    return GDAResult(W=W, G=G.Z.double().cpu().numpy() @ W,
                     trajectory=result.evals[["step", "seconds", "objective", "violation"]].copy(),
                     seconds=result.seconds, generator=G, discriminator=D, train_result=result)


def time_to_target(trajectory: pd.DataFrame, optimum: float, rel_gap: float = 0.01,
                   max_violation: float = 0.01) -> float | None:
    """Training seconds of the first evaluation with |objective / optimum - 1| <= ``rel_gap`` and
    violation <= ``max_violation``; None when no evaluation gets there."""
    ok = ((trajectory.objective / optimum - 1).abs() <= rel_gap) & (trajectory.violation <= max_violation)
    return float(trajectory.seconds[ok].iloc[0]) if ok.any() else None


# ----------------------------------------------------------------------------------------------------
# progressive GDA: the authors' baseline for ProCoGAN
# ----------------------------------------------------------------------------------------------------

class ProgressiveLinearGenerator(nn.Module):
    """ProCoGAN's architecture trained by GDA: one linear map (with bias) per resolution.

    Stage 1 maps noise z_1 (noise_dim) to a flattened r_1 x r_1 image; stage i > 1 maps the previous
    stage's image upsampled to r_i (:func:`gancore.convex.upsample`, nearest neighbour) together with
    fresh noise z_i (noise_dim) to an r_i x r_i image, as :class:`gancore.convex.ProCoGAN` does.
    :meth:`add_stage` freezes the existing stages and appends the next; ``forward(z)`` takes
    z of shape (B, noise_dim * stages) and returns images (B, C, r, r) of the newest stage. A new
    stage starts as the identity on its upsampled input, small weights on its noise and zero bias
    (our choice: training a stage starts from the coarser stage's images).
    """

    def __init__(self, resolutions: Sequence[int], channels: int, noise_dim: int, noise_init: float = 0.01):
        super().__init__()
        if not resolutions or any(b <= a for a, b in zip(resolutions, resolutions[1:])):
            raise ValueError(f"Invalid resolutions {list(resolutions)}: they must be positive and increasing.")
        self.resolutions, self.channels, self.noise_dim = [int(r) for r in resolutions], channels, noise_dim
        self.noise_init = noise_init
        self.layers = nn.ModuleList()

    @property
    def resolution(self) -> int:
        return self.resolutions[len(self.layers) - 1]

    def add_stage(self) -> None:
        """Freeze the trained stages and append the next one."""
        i = len(self.layers)
        if i == len(self.resolutions):
            raise RuntimeError(f"All {i} stages are already built.")
        for p in self.parameters():
            p.requires_grad_(False)
        out = self.channels * self.resolutions[i] ** 2
        layer = nn.Linear(self.noise_dim + (out if i else 0), out)
        if i:
            with torch.no_grad():
                layer.weight.zero_()
                layer.weight[:, :out] = torch.eye(out)
                layer.weight[:, out:] = self.noise_init * torch.randn(out, self.noise_dim)
                layer.bias.zero_()
        self.layers.append(layer.to(next(self.parameters(), layer.weight).device))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if not len(self.layers):
            raise RuntimeError("ProgressiveLinearGenerator has no stage yet: call add_stage() first.")
        nd, c, b = self.noise_dim, self.channels, z.shape[0]
        if z.shape[1] != nd * len(self.layers):
            raise ValueError(f"Expected noise of shape (B, {nd * len(self.layers)}), got {tuple(z.shape)}.")
        x = self.layers[0](z[:, :nd])
        for i in range(1, len(self.layers)):
            r_prev, r = self.resolutions[i - 1], self.resolutions[i]
            up = upsample(x.reshape(b, c, r_prev, r_prev), r).reshape(b, -1)
            x = self.layers[i](torch.cat([up, z[:, i * nd:(i + 1) * nd]], dim=1))
        r = self.resolution
        return x.reshape(b, c, r, r)


@dataclass
class ProgressiveGDA:
    """What :func:`progressive_gda` returns: the generator and one row per stage (resolution, width,
    steps, seconds, final losses) in ``stages``."""

    generator: ProgressiveLinearGenerator
    stages: pd.DataFrame
    snapshots: dict[int, torch.Tensor]

    @property
    def seconds(self) -> float:
        return float(self.stages.seconds.sum())

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n images (n, C, H, W) of the last stage, clamped to [-1, 1], float32 on the CPU."""
        g = self.generator
        z = torch.randn(n, g.noise_dim * len(g.layers), generator=generator)
        return g(z.to(next(g.parameters()).device)).clamp(-1, 1).float().cpu()


def progressive_gda(images: torch.Tensor, resolutions: Sequence[int], noise_dim: int, widths: Sequence[int],
                    steps: int | Sequence[int], batch_size: int = 16, lr: float = 1e-3,
                    betas: tuple[float, float] = (0.0, 0.99), gp: float = 10.0, drift: float = 1e-3,
                    seed: int = 0, device: str | torch.device = "cpu", n_snapshot: int = 16,
                    on_stage: Callable[[int, ProgressiveLinearGenerator], None] | None = None) -> ProgressiveGDA:
    """The "Progressive GDA" baseline of Sahiner et al.'s CelebA code, on our ProCoGAN architecture.

    Per stage i (resolution r_i): add a linear stage to :class:`ProgressiveLinearGenerator` (earlier
    stages frozen), build a fresh :class:`TwoLayerDiscriminator` (quadratic activation, width
    ``widths[i]``, plain weights), and train both with :func:`gancore.train.fit` on the images
    downsampled to r_i (:func:`gancore.convex.downsample`): WGAN loss, gradient penalty ``gp`` and
    drift ``drift`` (:func:`gancore.losses.gradient_penalty`, its interpolation weights drawn from
    the training loop's per-batch generator), Adam(lr, betas) for both, alternating updates,
    ``steps`` (per stage, or one number for all) of batch ``batch_size``. The authors' settings:
    widths 192/192/768/3072/3072, lambda 10, drift 1e-3, Adam lr 1e-3 betas (0, 0.99), batch 16,
    15,000 iterations per scale. ``snapshots[r]``: ``n_snapshot`` images after the stage at r (fixed noise).
    ``on_stage(r, generator)``, if given, is called after each stage (e.g. to score it); it must not
    draw from torch's global random generator, or later stages would train on other noise.
    """
    x = images.detach().float()
    if x.ndim != 4 or x.shape[2] != x.shape[3] or x.shape[3] != resolutions[-1]:
        raise ValueError(f"Expected images of shape (N, C, {resolutions[-1]}, {resolutions[-1]}), "
                         f"got {tuple(x.shape)}.")
    if len(widths) != len(resolutions):
        raise ValueError(f"Need one discriminator width per resolution, got {len(widths)} for {len(resolutions)}.")
    per_stage = [int(steps)] * len(resolutions) if isinstance(steps, int) else [int(s) for s in steps]
    dev = train.resolve_device(device)
    train.seed_everything(seed)
    G = ProgressiveLinearGenerator(resolutions, x.shape[1], noise_dim).to(dev)
    fixed = torch.randn(n_snapshot, noise_dim * len(resolutions), generator=torch.Generator().manual_seed(seed))
    rows, snapshots = [], {}
    for i, (r, width, n_steps) in enumerate(zip(resolutions, widths, per_stage)):
        G.add_stage()
        G.to(dev)
        D = TwoLayerDiscriminator(x.shape[1] * r * r, width, "quadratic", normalize=False)
        data_r = downsample(x, r)
        with one_thread():
            result = train.fit(
                G, D, data_r, loss=gan_loss("wasserstein"), policy="alternating", steps=n_steps,
                batch_size=batch_size, latent_dim=noise_dim * (i + 1), seed=seed + i, device=dev,
                opt_G=torch.optim.Adam([p for p in G.parameters() if p.requires_grad], lr, betas=betas),
                opt_D=torch.optim.Adam(D.parameters(), lr, betas=betas),
                penalty_D=lambda d, real, fake, generator: gradient_penalty(d, real, fake, gp, drift, generator),
                log_every=max(1, n_steps // 10), progress=False)
        with torch.no_grad():
            snapshots[r] = G(fixed[:, : noise_dim * (i + 1)].to(dev)).clamp(-1, 1).float().cpu()
        if on_stage is not None:
            on_stage(r, G)
        last = result.log.iloc[-1] if len(result.log) else {"d_loss": float("nan"), "g_loss": float("nan")}
        rows.append({"resolution": r, "width": width, "steps": n_steps, "seconds": result.seconds,
                     "d_loss": float(last["d_loss"]), "g_loss": float(last["g_loss"])})
    return ProgressiveGDA(G, pd.DataFrame(rows), snapshots)
