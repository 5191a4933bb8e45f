"""ProCoGAN: the progressive stack of closed-form linear generators (Sahiner et al., ICLR 2022).

Each stage fits :func:`~gancore.convex.closed_form.quadratic_solution` between the data at one
resolution and the previous stage's upsampled output plus fresh noise; :func:`downsample` and
:func:`upsample` move images between the stages' resolutions (the GDA baseline uses them too).
Computation is in float64 on the device of the images.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from skimage.exposure import match_histograms

from .arrays import Array, check_finite, numerical_rank
from .closed_form import QuadraticSolution, quadratic_solution, second_moment_gap

__all__ = ["downsample", "upsample", "StageRecord", "ProCoGAN"]


def downsample(images: torch.Tensor, size: int) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, size, size) by area averaging (adaptive average pooling).

    Each coarse pixel is the mean of the fine pixels it covers: exact 2 x 2 block means for the
    power-of-two stages (8 -> 4 -> 2, 64 -> 32 -> ...), overlapping boxes for 25 -> 13 -> 7.
    """
    if size > images.shape[-1]:
        raise ValueError(f"Cannot downsample {images.shape[-1]}x{images.shape[-1]} images to the larger size {size}.")
    return images if size == images.shape[-1] else F.interpolate(images, size=(size, size), mode="area")


def upsample(images: torch.Tensor, size: int) -> torch.Tensor:
    """(N, C, h, w) -> (N, C, size, size) by nearest-neighbour upsampling (``nearest-exact``: pixel
    centres, so an integer factor f repeats each pixel f x f times, and 7 -> 13 -> 25 works too)."""
    return F.interpolate(images, size=(size, size), mode="nearest-exact")


def _whitened_noise(n: int, dim: int, generator: torch.Generator, device: torch.device,
                    basis: torch.Tensor | None = None) -> torch.Tensor:
    """Gaussian noise (n x dim) made exactly centred, orthogonal to ``basis`` (orthonormal columns) and
    white: Z^T Z = n I, the population second moment of fresh N(0, I) noise."""
    if n < dim + 1 + (0 if basis is None else basis.shape[1]):
        raise ValueError(f"ProCoGAN needs more images than input dimensions: got {n} images for "
                         f"{dim} noise dimensions{'' if basis is None else f' plus {basis.shape[1]} image components'}.")
    z = torch.randn(n, dim, generator=generator, dtype=torch.float64).to(device)
    z = z - z.mean(0)
    if basis is not None:
        z = z - basis @ (basis.T @ z)
    return math.sqrt(n) * torch.linalg.qr(z).Q


def _upsampled_extremes(sol: QuadraticSolution, beta: float, channels: int, size: tuple[int, int],
                        r: int) -> tuple[float, float]:
    """Smallest and largest singular value of a stage output G = P_k S V_k^T upsampled to r x r.

    P_k has orthonormal columns, so they are those of S (V_k upsampled), a k x d matrix: cheap, where
    the SVD of the N x C r^2 upsampled output would not be.
    """
    S = (sol.sigma[: sol.k] ** 2 - beta).sqrt()
    components = upsample(sol.Vh[: sol.k].reshape(sol.k, channels, *size), r).reshape(sol.k, -1)
    s = torch.linalg.svdvals(S[:, None] * components)
    return float(s[-1]), float(s[0])


@dataclass
class StageRecord:
    """What one ProCoGAN stage fitted.

    ``data_shape`` / ``input_shape``: (N, features) of the centred data X_i and the generator input
    Z_i; ``*_rank``: their numerical ranks; ``beta = sigma_{k+1}(X_i)^2`` keeps exactly k components;
    ``used_singular_values = (D_1, D_k)`` of Z_i, the largest and the smallest singular value the closed
    form divides by; ``noise_scale``: the factor of the fresh noise appended to Z_i; ``constraint``:
    ||X_i^T X_i - G_i^T G_i||_2 of the fitted fakes (equals beta); ``fit_seconds``: wall clock.
    """

    resolution: int
    k: int
    beta: float
    data_shape: tuple[int, int]
    input_shape: tuple[int, int]
    data_rank: int
    input_rank: int
    used_singular_values: tuple[float, float]
    noise_scale: float
    constraint: float
    fit_seconds: float


class ProCoGAN:
    """Progressive convex GAN (Sahiner et al. 2022): a chain of closed-form linear generators.

    Stage i at resolution r_i fits W_i by :func:`quadratic_closed_form` between the centred, flattened
    data X_i (the images downsampled to r_i by :func:`downsample`, per-pixel mean removed) and the
    stage input Z_i, with beta_i = sigma_{k_i + 1}(X_i)^2 so that exactly k_i components
    survive. Stage 1's input is fresh noise (N x noise_dim); stage i > 1's input is the previous
    stage's output upsampled by :func:`upsample` (nearest neighbour), with ``noise_dim`` columns of
    FRESH noise appended. Samples push new noise through all stages and add the data mean back.

    Rank defect: the previous output has rank k_{i-1}, so the authors' input (previous output plus a
    ones column) has rank <= k_{i-1} + 1 while k_i > k_{i-1} + 1, and their closed form divides by
    round-off singular values (1e-13 in float64, 1e-6 in float32). We append fresh noise instead of
    capping k_i by the rank: capping would keep every stage's output inside the (k_1)-dimensional span
    of stage 1's noise, so later stages could add no new variation, whereas fresh noise gives stage i
    k_{i-1} + noise_dim genuine input directions. The noise is scaled to half the smallest singular
    value of the upsampled previous output (but at least 1e-3 of its largest, so that no divisor of
    the closed form approaches round-off), so the largest data components are driven by the coarse
    image (coarse-to-fine coherence) and the fresh noise fills the remaining ones. This requires
    k_1 <= noise_dim and k_i <= k_{i-1} + noise_dim (checked when constructing). Deviation: instead of
    a ones column the input is centred, so fakes have exactly the data's zero mean and matching the
    second moment matches the covariance. The noise used for fitting is whitened (centred, orthogonal
    to the previous output, Z^T Z = N I): the closed form divides by the noise's EMPIRICAL singular
    values, so with raw Gaussian noise fresh samples would miss the fitted spectrum by about
    2 sqrt(noise_dim / N); whitened, fresh N(0, I) noise reproduces E[G^T G] / n = G_fit^T G_fit / N.

    Stages: any increasing resolutions ending at the image size; e.g. digits 2 -> 4 -> 8, LFW faces
    7 -> 13 -> 25 (area downsampling and nearest-exact upsampling handle the non-integer factors),
    CelebA 4 -> 8 -> 16 -> 32 -> 64 with k = 20, 30, 40, 100, 175 (needs noise_dim >= 75).
    Optional histogram matching (skimage.exposure.match_histograms with channel_axis=-1) maps each
    sample's pixel histogram, per channel, to the pooled histogram of ``n_reference`` real images.
    Computation is in float64 on the device of the images.
    """

    def __init__(self, resolutions: Sequence[int], ks: Sequence[int], noise_dim: int, seed: int = 0,
                 histogram_matching: bool = False, n_reference: int = 256):
        resolutions, ks = [int(r) for r in resolutions], [int(k) for k in ks]
        if not resolutions or len(resolutions) != len(ks):
            raise ValueError(f"Need one k per resolution, got {len(resolutions)} resolutions and {len(ks)} ks.")
        if resolutions[0] < 1 or any(b <= a for a, b in zip(resolutions, resolutions[1:])):
            raise ValueError(f"Invalid resolutions {resolutions}: they must be positive and increasing.")
        if min(ks) < 1 or noise_dim < 1:
            raise ValueError(f"Invalid ks {ks} or noise_dim {noise_dim}: they must be positive.")
        for i, k in enumerate(ks):
            available = noise_dim if i == 0 else ks[i - 1] + noise_dim
            if k > available:
                raise ValueError(
                    f"Stage {i + 1} keeps k = {k} components but its input has rank {available} "
                    f"({'noise_dim' if i == 0 else f'k_{i} = {ks[i - 1]} plus noise_dim'} = {noise_dim}): use "
                    f"noise_dim >= {k - (0 if i == 0 else ks[i - 1])} or a smaller k."
                )
        self.resolutions, self.ks, self.noise_dim, self.seed = resolutions, ks, int(noise_dim), seed
        self.histogram_matching, self.n_reference = histogram_matching, n_reference
        self.stages: list[StageRecord] = []
        self._params: list[dict] = []

    def fit(self, images: Array) -> "ProCoGAN":
        """Fit every stage to ``images`` (N, C, H, W) in [-1, 1] with H = W = the last resolution.

        ValueError for another shape, for values outside [-1, 1] or for an inf or a NaN."""
        x = images.detach() if isinstance(images, torch.Tensor) else torch.as_tensor(np.asarray(images))
        x = x.to(torch.float64)
        if x.ndim != 4 or x.shape[2] != x.shape[3] or x.shape[3] != self.resolutions[-1]:
            raise ValueError(f"Expected images of shape (N, C, {self.resolutions[-1]}, {self.resolutions[-1]}), "
                             f"got {tuple(x.shape)}.")
        check_finite(x, "images")
        if x.abs().max() > 1 + 1e-6:
            raise ValueError(f"Images must lie in [-1, 1], got values up to {float(x.abs().max()):g}.")
        n, channels = x.shape[:2]
        self._channels, self._device = channels, x.device
        generator = torch.Generator().manual_seed(self.seed)
        self.stages, self._params, previous = [], [], None
        for r, k in zip(self.resolutions, self.ks):
            start = time.perf_counter()
            data = downsample(x, r).reshape(n, -1)
            data_mean = data.mean(0)
            X = data - data_mean
            _, sigma, Vh = torch.linalg.svd(X, full_matrices=False)
            data_rank = numerical_rank(sigma, X.shape)
            if k >= data_rank:
                raise ValueError(f"At resolution {r} the centred data has rank {data_rank}, so k = {k} components "
                                 f"cannot be kept with beta = sigma_(k+1)^2 > 0: choose k < {data_rank}.")
            if sigma[k - 1] <= sigma[k] * (1 + 1e-12):
                raise ValueError(f"At resolution {r} sigma_{k} = sigma_{k + 1} = {float(sigma[k]):g}: a threshold "
                                 f"cannot keep exactly k = {k} components; choose another k.")
            beta = float(sigma[k] ** 2)
            if previous is None:
                noise_scale, inputs = 1.0, _whitened_noise(n, self.noise_dim, generator, x.device)
            else:
                up = upsample(previous.reshape(n, channels, *previous_size), r).reshape(n, -1)
                smin, smax = _upsampled_extremes(previous_sol, previous_beta, channels, previous_size, r)
                noise_scale = max(0.5 * smin, 1e-3 * smax) / math.sqrt(n)
                noise = _whitened_noise(n, self.noise_dim, generator, x.device, previous_basis)
                inputs = torch.cat([up, noise_scale * noise], dim=1)
            sol = quadratic_solution(X, inputs, beta, x_svd=(sigma, Vh))
            G = inputs @ sol.W
            self._params.append({"W": sol.W, "data_mean": data_mean, "noise_scale": noise_scale, "resolution": r})
            self.stages.append(StageRecord(
                resolution=r, k=sol.k, beta=beta, data_shape=tuple(X.shape), input_shape=tuple(inputs.shape),
                data_rank=data_rank, input_rank=sol.rank_Z,
                used_singular_values=(float(sol.D[0]), float(sol.D[sol.k - 1])), noise_scale=noise_scale,
                constraint=second_moment_gap(X, G),
                fit_seconds=time.perf_counter() - start))
            previous, previous_size, previous_sol, previous_beta = G, (r, r), sol, beta
            previous_basis = G @ Vh[:k].T / (sigma[:k] ** 2 - beta).sqrt()  # P_k: G = P_k S V_k^T
        if self.histogram_matching:
            pick = np.random.default_rng(self.seed).permutation(n)[: self.n_reference]
            real = x[torch.as_tensor(pick, device=x.device)].permute(0, 2, 3, 1).cpu().numpy()
            self._reference = real.reshape(-1, real.shape[2], channels)  # tiled (m H, W, C) mosaic
        return self

    def sample(self, n: int, generator: torch.Generator | None = None, stage: int | None = None) -> torch.Tensor:
        """n new images (n, C, H, W), float32, clamped to [-1, 1], on the fitting device; noise from
        ``generator`` (a CPU torch.Generator; None uses torch's global generator). ``stage`` (1-based,
        default the last) stops after that stage: images at its resolution, its data mean added back
        (histogram matching applies to the last stage only)."""
        if not self._params:
            raise RuntimeError("ProCoGAN.sample() called before fit().")
        last = len(self._params) if stage is None else int(stage)
        if not 1 <= last <= len(self._params):
            raise ValueError(f"Invalid stage {stage}: choose 1 to {len(self._params)}.")
        previous = None
        for p in self._params[:last]:
            noise = torch.randn(n, self.noise_dim, generator=generator, dtype=torch.float64).to(self._device)
            if previous is None:
                inputs = p["noise_scale"] * noise
            else:
                up = upsample(previous.reshape(n, self._channels, *previous_size), p["resolution"]).reshape(n, -1)
                inputs = torch.cat([up, p["noise_scale"] * noise], dim=1)
            previous, previous_size = inputs @ p["W"], (p["resolution"], p["resolution"])
        r = self.resolutions[last - 1]
        images = (previous + self._params[last - 1]["data_mean"]).reshape(n, self._channels, r, r).clamp(-1, 1)
        if self.histogram_matching and last == len(self._params):
            hwc = images.permute(0, 2, 3, 1).cpu().numpy()
            matched = np.stack([match_histograms(img, self._reference, channel_axis=-1) for img in hwc])
            images = torch.as_tensor(matched, device=self._device).permute(0, 3, 1, 2)
        return images.to(torch.float32)

