"""Generators and discriminators sized by the data.

* :func:`mlp_generator` / :func:`mlp_discriminator`: fully connected nets for 2-D toys (the alpha-GAN
  ring uses G = 2 -> [400, ReLU] x 4 -> 2 and D = 2 -> [200, LeakyReLU(0.2)] x 4 -> 1).
* :func:`dcgan_generator` / :func:`dcgan_discriminator`: DCGAN pairs (Radford et al. 2016) for the
  image sizes of the compendium: 8x8 digits, 25x25 faces, 28x28 MNIST, 32x32 CIFAR-10, 64x64
  CelebA; ``width`` is the channel count of the widest-resolution layer (64 in the papers).
* :class:`StackedGenerator` / :class:`StackedDiscriminator`: a two-stage generator, coarse image
  first, then a refinement, and one discriminator per stage.
* :func:`gan_pair`: ``(make_G, make_D)`` of a named base GAN (:data:`BASE_GANS`: vanilla, DCGAN,
  SNGAN, stacked) sized by the data's shape, the players DO-GAN and the image chapters train.

Discriminators return raw logits of shape (B, 1); generators map (B, latent_dim) noise to samples.
``spectral_norm=True`` wraps every linear/conv layer of a discriminator with
:func:`torch.nn.utils.parametrizations.spectral_norm` (SNGAN, Miyato et al. 2018).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from math import prod

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _sn

__all__ = [
    "mlp_generator", "mlp_discriminator", "dcgan_generator", "dcgan_discriminator",
    "StackedGenerator", "StackedDiscriminator", "dcgan_init", "count_parameters", "IMAGE_PLANS",
    "BASE_GANS", "gan_pair",
]

_ACTIVATIONS = {
    "relu": lambda: nn.ReLU(),
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
    "tanh": lambda: nn.Tanh(),
    "elu": lambda: nn.ELU(),
}


def _activation(name: str) -> nn.Module:
    if name not in _ACTIVATIONS:
        raise ValueError(f"Unknown activation {name!r}. Known: {', '.join(_ACTIVATIONS)}.")
    return _ACTIVATIONS[name]()


def _mlp(n_in: int, n_out: int, width: int, depth: int, activation: str, sn: bool = False) -> nn.Sequential:
    if depth < 1 or width < 1:
        raise ValueError(f"Invalid MLP shape: depth={depth}, width={width}; both must be >= 1.")
    wrap = _sn if sn else (lambda m: m)
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [wrap(nn.Linear(n_in if i == 0 else width, width)), _activation(activation)]
    layers.append(wrap(nn.Linear(width, n_out)))
    return nn.Sequential(*layers)


def mlp_generator(latent_dim: int = 2, out_dim: int = 2, width: int = 400, depth: int = 4,
                  activation: str = "relu") -> nn.Sequential:
    """``latent_dim -> [Linear(width), activation] x depth -> Linear(out_dim)``."""
    return _mlp(latent_dim, out_dim, width, depth, activation)


def mlp_discriminator(in_dim: int = 2, width: int = 200, depth: int = 4, activation: str = "leaky_relu",
                      spectral_norm: bool = False) -> nn.Sequential:
    """``in_dim -> [Linear(width), activation] x depth -> Linear(1)``, returning logits."""
    return _mlp(in_dim, 1, width, depth, activation, spectral_norm)


# For each image size: the spatial sizes of the generator's feature maps, smallest first. Each step up
# is a ConvTranspose2d(kernel 4, stride 2, padding 1) (doubling) or, where the size is odd or not a
# power of two, a ConvTranspose2d with the kernel/padding that lands on the listed size.
IMAGE_PLANS: dict[int, list[int]] = {
    8: [2, 4, 8],
    25: [7, 13, 25],
    28: [7, 14, 28],
    32: [4, 8, 16, 32],
    64: [4, 8, 16, 32, 64],
}


def _plan(size: int) -> list[int]:
    if size not in IMAGE_PLANS:
        raise ValueError(f"No DCGAN plan for {size}x{size} images. Known sizes: {sorted(IMAGE_PLANS)}.")
    return IMAGE_PLANS[size]


def _up(c_in: int, c_out: int, s_in: int, s_out: int) -> nn.ConvTranspose2d:
    # out = (s_in - 1) * stride - 2 * padding + kernel; stride 2
    if s_out == 2 * s_in:
        return nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False)
    if s_out == 2 * s_in - 1:
        return nn.ConvTranspose2d(c_in, c_out, 3, 2, 1, bias=False)
    raise ValueError(f"Cannot upsample {s_in} -> {s_out} with one stride-2 transposed convolution.")


def _down(c_in: int, c_out: int, s_in: int, s_out: int) -> nn.Conv2d:
    if s_in == 2 * s_out:
        return nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False)
    if s_in == 2 * s_out - 1:
        return nn.Conv2d(c_in, c_out, 3, 2, 1, bias=False)
    raise ValueError(f"Cannot downsample {s_in} -> {s_out} with one stride-2 convolution.")


def dcgan_init(module: nn.Module) -> None:
    """DCGAN initialisation: conv weights ~ N(0, 0.02), batch-norm weights ~ N(1, 0.02), biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            weight = m.parametrizations.weight.original if hasattr(m, "parametrizations") else m.weight
            nn.init.normal_(weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class DCGANGenerator(nn.Module):
    """z (B, latent_dim) -> project to ``width * 2**(L-1)`` maps at the smallest size -> transposed
    convolutions with batch norm and ReLU -> ``channels`` maps at full size, tanh."""

    def __init__(self, image_size: int, channels: int = 1, latent_dim: int = 100, width: int = 64,
                 plan: list[int] | None = None):
        super().__init__()
        plan = plan or _plan(image_size)
        chans = [width * 2 ** (len(plan) - 1 - i) for i in range(len(plan))]
        self.latent_dim, self.image_size, self.channels = latent_dim, image_size, channels
        self.project = nn.Sequential(
            nn.ConvTranspose2d(latent_dim, chans[0], plan[0], 1, 0, bias=False),
            nn.BatchNorm2d(chans[0]), nn.ReLU(True),
        )
        blocks: list[nn.Module] = []
        for i in range(1, len(plan)):
            last = i == len(plan) - 1
            c_out = channels if last else chans[i]
            blocks.append(_up(chans[i - 1], c_out, plan[i - 1], plan[i]))
            blocks += [nn.Tanh()] if last else [nn.BatchNorm2d(c_out), nn.ReLU(True)]
        self.body = nn.Sequential(*blocks)
        dcgan_init(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(self.project(z.view(z.shape[0], -1, 1, 1)))


class DCGANDiscriminator(nn.Module):
    """x (B, C, H, W) -> strided convolutions with LeakyReLU(0.2) (batch norm after the first, unless
    spectral norm is on) -> one logit per image."""

    def __init__(self, image_size: int, channels: int = 1, width: int = 64, spectral_norm: bool = False,
                 batch_norm: bool = True):
        super().__init__()
        plan = _plan(image_size)[::-1]
        wrap = _sn if spectral_norm else (lambda m: m)
        layers: list[nn.Module] = []
        c_in = channels
        for i in range(len(plan) - 1):
            c_out = width * 2 ** i
            layers.append(wrap(_down(c_in, c_out, plan[i], plan[i + 1])))
            if i > 0 and batch_norm and not spectral_norm:
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(nn.LeakyReLU(0.2, True))
            c_in = c_out
        layers += [wrap(nn.Conv2d(c_in, 1, plan[-1], 1, 0, bias=False)), nn.Flatten()]
        self.body = nn.Sequential(*layers)
        dcgan_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def dcgan_generator(image_size: int, channels: int = 1, latent_dim: int = 100, width: int = 64) -> DCGANGenerator:
    """DCGAN generator for ``image_size`` in :data:`IMAGE_PLANS` (tanh output in [-1, 1])."""
    return DCGANGenerator(image_size, channels, latent_dim, width)


def dcgan_discriminator(image_size: int, channels: int = 1, width: int = 64, spectral_norm: bool = False,
                        batch_norm: bool = True) -> DCGANDiscriminator:
    """DCGAN discriminator returning logits (B, 1); ``spectral_norm=True`` gives the SNGAN variant
    (batch norm is then dropped, as in Miyato et al.); ``batch_norm=False`` for WGAN-GP style critics."""
    return DCGANDiscriminator(image_size, channels, width, spectral_norm, batch_norm)


class StackedGenerator(nn.Module):
    """Two-stage generator after Stacked GAN (Huang et al. 2017), simplified to what DO-GAN needs:
    stage 1 is a DCGAN generator that stops one resolution early (a coarse image), stage 2 upsamples
    it (nearest) and adds a learned residual correction. ``forward`` returns the refined image;
    ``stages(z)`` returns (coarse, refined) so that a discriminator per stage can be trained."""

    def __init__(self, image_size: int, channels: int = 1, latent_dim: int = 100, width: int = 64):
        super().__init__()
        plan = _plan(image_size)
        self.image_size, self.latent_dim, self.channels = image_size, latent_dim, channels
        self.coarse = DCGANGenerator(plan[-2], channels, latent_dim, width, plan=plan[:-1])
        self.refine = nn.Sequential(
            nn.Conv2d(channels, width, 3, 1, 1), nn.BatchNorm2d(width), nn.ReLU(True),
            nn.Conv2d(width, channels, 3, 1, 1), nn.Tanh(),
        )
        dcgan_init(self.refine)

    def stages(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        coarse = self.coarse(z)
        up = nn.functional.interpolate(coarse, size=self.image_size, mode="nearest")
        return coarse, (up + self.refine(up)).clamp(-1, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.stages(z)[1]


class StackedDiscriminator(nn.Module):
    """One discriminator per stage of :class:`StackedGenerator` (simplified Stacked GAN).

    The refined stage is judged by a DCGAN discriminator on the full image, the coarse stage by an
    MLP discriminator on the image average-pooled to the coarse resolution ``coarse_size``. Both
    logits of a sample are returned next to each other, ``(2 B, 1)`` (sample-major), so that every
    GAN loss averages the two stages' losses and a batch of K * B samples still splits by member.
    Simplification (ours): Huang et al. (2017) train each stage against its own discriminator with
    conditional and entropy losses on an encoder's features; here the coarse discriminator sees the
    pooled final image, so the coarse stage learns through the refined one.
    """

    def __init__(self, image_size: int, channels: int = 1, width: int = 64, coarse_size: int | None = None) -> None:
        super().__init__()
        self.coarse_size = coarse_size or _plan(image_size)[-2]
        self.fine = dcgan_discriminator(image_size, channels, width)
        self.coarse = mlp_discriminator(channels * self.coarse_size ** 2, width=4 * width, depth=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = nn.functional.adaptive_avg_pool2d(x, self.coarse_size).flatten(1)
        return torch.stack([self.fine(x), self.coarse(pooled)], dim=1).reshape(-1, 1)


BASE_GANS = ("vanilla", "dcgan", "sngan", "stacked")


def gan_pair(name: str, shape: Sequence[int], latent_dim: int, width: int,
             depth: int = 2) -> tuple[Callable[[], nn.Module], Callable[[], nn.Module]]:
    """``(make_G, make_D)``: factories of the base GAN ``name`` for data of ``shape``.

    ``shape`` is ``(d,)`` for vectors or ``(C, H, H)`` for square images; each call of a factory
    builds a fresh network (drawing its initial weights from torch's global generator).

    * ``vanilla``: :func:`mlp_generator` / :func:`mlp_discriminator` (``width``, ``depth``); on
      images the generator ends in tanh and is unflattened to ``shape``, the discriminator flattens;
    * ``dcgan``: :func:`dcgan_generator` / :func:`dcgan_discriminator` (Radford et al. 2016);
    * ``sngan``: the DCGAN generator and a spectrally normalised DCGAN discriminator
      (:func:`torch.nn.utils.parametrizations.spectral_norm`, Miyato et al. 2018);
    * ``stacked``: :class:`StackedGenerator` with a :class:`StackedDiscriminator`.

    ``depth`` is used by ``vanilla`` only. Raises ``ValueError`` for an unknown ``name`` (listing
    :data:`BASE_GANS`) or a non-square-image ``shape`` for the convolutional pairs.
    """
    if name not in BASE_GANS:
        raise ValueError(f"Unknown base GAN {name!r}; known base GANs: {', '.join(BASE_GANS)}")
    shape = tuple(int(s) for s in shape)
    if name == "vanilla":
        size = prod(shape)
        if len(shape) == 1:
            return (lambda: mlp_generator(latent_dim, size, width, depth),
                    lambda: mlp_discriminator(size, width, depth))
        return (lambda: nn.Sequential(mlp_generator(latent_dim, size, width, depth), nn.Tanh(),
                                      nn.Unflatten(1, shape)),
                lambda: nn.Sequential(nn.Flatten(), mlp_discriminator(size, width, depth)))
    if len(shape) != 3 or shape[1] != shape[2]:
        raise ValueError(f"The {name} base GAN needs square images of shape (C, H, H), got shape {shape}; "
                         f"use 'vanilla' for vectors")
    channels, size = shape[0], shape[1]
    if name == "stacked":
        return (lambda: StackedGenerator(size, channels, latent_dim, width),
                lambda: StackedDiscriminator(size, channels, width))
    return (lambda: dcgan_generator(size, channels, latent_dim, width),
            lambda: dcgan_discriminator(size, channels, width, spectral_norm=name == "sngan"))


def count_parameters(module: nn.Module) -> int:
    """Number of trainable scalars."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
