"""Metrics: the ring metrics of the alpha-GAN paper and Frechet distances in a named feature space.

Ring / grid (Welfert et al., ISIT23 Sec. III-A and their experiment code): every generated sample is
assigned to its nearest mean; a mode is *covered* when some sample assigned to it lies within
``3 sigma`` of it; the *high-quality-sample share* (HQS) is the fraction of samples within ``3 sigma``
of their nearest mean; a run *succeeds* when all modes are covered and *fails* when none is. We add
the KL divergence of the nearest-mode histogram (all samples) from the uniform one.

Images: the Frechet distance (Heusel et al. 2017) between Gaussians fitted to features,
``||mu_1 - mu_2||^2 + Tr(S_1 + S_2 - 2 (S_1^{1/2} S_2 S_1^{1/2})^{1/2})``, and the classifier score
``exp(E_x KL(p(y|x) || p(y)))`` (the Inception-score formula). Features come from a small CNN trained
on the real training split (``digits``, ``mnist``; trained once, cached on disk with its test accuracy)
or from PCA of pixels (``pixels``, for unlabelled sets such as faces). Every reported number names its
feature extractor (``FeatureSpace.name``). The Inception-v3 FID of the papers is available through
:func:`inception_features` only where torchvision's pretrained weights are present; it is never
substituted silently.
"""

from __future__ import annotations

import copy
import hashlib
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn
import torch.nn.functional as F

from . import data as gdata
from . import numerics
from .storage import CorruptFileError, load_torch, save_torch

__all__ = [
    "ring_metrics", "frechet_distance", "gaussian_stats", "FeatureSpace", "feature_space",
    "classifier_score", "cache_dir", "inception_features", "MIN_ACCURACY",
    "first_reaching", "reach_ratio", "fixed_noise", "sample_in_chunks", "generator_ring_metrics", "ring_evaluator", "discriminator_metrics", "per_member",
]

MIN_ACCURACY = {"digits": 0.95, "mnist": 0.98}


# --------------------------------------------------------------------------- ring

def ring_metrics(samples: torch.Tensor, means: torch.Tensor, sigma: float) -> dict[str, torch.Tensor]:
    """Ring metrics of ``samples`` (N, 2), or (K, N, 2) for K runs at once, against the mode
    ``means`` (M, 2) with standard deviation ``sigma``. Returns tensors (scalars, or (K,)):
    ``modes`` (covered, 0..M), ``hqs``, ``success`` (all M covered), ``failure`` (none), ``kl``."""
    x = samples.detach().float()
    m = means.to(x).float()
    dist = torch.cdist(x, m.expand(*x.shape[:-2], *m.shape) if x.dim() == 3 else m)  # (..., N, M)
    d_min, nearest = dist.min(dim=-1)
    good = d_min <= 3 * sigma
    M = m.shape[0]
    covered = torch.zeros(*x.shape[:-2], M, dtype=torch.bool, device=x.device)
    covered.scatter_reduce_(-1, nearest, good, reduce="amax")
    modes = covered.sum(-1)
    hist = torch.zeros(*x.shape[:-2], M, device=x.device).scatter_add_(-1, nearest, torch.ones_like(d_min))
    p = hist / hist.sum(-1, keepdim=True)
    kl = (p * (p.clamp_min(1e-12) * M).log()).sum(-1)
    return {"modes": modes, "hqs": good.float().mean(-1), "success": modes == M, "failure": modes == 0, "kl": kl}


# --------------------------------------------------------------------------- Frechet distance

def gaussian_stats(features: torch.Tensor | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (float64, unbiased) of an (N, d) feature matrix."""
    f = np.asarray(features.detach().cpu() if torch.is_tensor(features) else features, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"Need an (N, d) feature matrix with N >= 2, got shape {f.shape}.")
    return f.mean(0), np.cov(f, rowvar=False)


def frechet_distance(stats1: tuple[np.ndarray, np.ndarray], stats2: tuple[np.ndarray, np.ndarray]) -> float:
    """Frechet distance between N(mu1, S1) and N(mu2, S2); the trace of the matrix square root is
    computed from the eigenvalues of S1^{1/2} S2 S1^{1/2} (symmetric PSD), which is exact and stable."""
    (mu1, s1), (mu2, s2) = stats1, stats2
    w, v = np.linalg.eigh(s1)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    cross = np.linalg.eigvalsh(root1 @ s2 @ root1)
    tr_sqrt = np.sqrt(np.clip(cross, 0, None)).sum()
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt)


# --------------------------------------------------------------------------- feature spaces

def cache_dir() -> Path:
    """Where trained classifiers and reference statistics are cached: ``$GANCORE_CACHE`` or
    ``~/.cache/gancore`` (the Makefile points it into ``_build/cache``), in a subfolder per
    :func:`gancore.numerics.mode`: a classifier trained in default numerics has other weights, so
    gives a portable run other Frechet distances than a fresh portable one (seen on a clean clone)."""
    path = Path(os.environ.get("GANCORE_CACHE") or Path.home() / ".cache" / "gancore") / numerics.mode()
    path.mkdir(parents=True, exist_ok=True)
    return path


def _read_cache(path: Path) -> dict | None:
    """The dictionary cached in ``path`` by :func:`gancore.storage.save_torch`, or None when there is
    none. A damaged cache (truncated, modified, or of an older format) is only a cache: warn, naming
    the file, and return None so that the caller rebuilds it (which overwrites it atomically)."""
    try:
        return load_torch(path)
    except FileNotFoundError:
        return None
    except CorruptFileError as err:
        warnings.warn(f"Ignoring the damaged cache file {err.path} ({err.reason}); rebuilding it.",
                      RuntimeWarning, stacklevel=3)
        return None


class SmallCNN(nn.Module):
    """Two conv blocks and a 64-unit feature layer; the features are what distances are computed in."""

    def __init__(self, image_size: int, channels: int = 1, classes: int = 10):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * (image_size // 4) ** 2, 64), nn.ReLU(),
        )
        self.head = nn.Linear(64, classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


@dataclass
class FeatureSpace:
    """A named feature extractor; ``accuracy`` is the classifier's test accuracy (None for PCA)."""

    name: str
    extract: "callable"
    accuracy: float | None = None
    classifier: nn.Module | None = None

    @torch.no_grad()
    def features(self, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
        return torch.cat([self.extract(x[i:i + batch_size].float().cpu()) for i in range(0, len(x), batch_size)])

    def stats(self, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        return gaussian_stats(self.features(x))

    def reference_stats(self, dataset: str, split: str = "train", n: int | None = None, root=None):
        """Statistics of ``n`` real images of ``dataset`` (all if None), cached on disk keyed by the
        feature space, data set, split and sample count (a damaged cache file is recomputed, with a warning)."""
        path = cache_dir() / f"stats-{self.name}-{_data_key(dataset, root)}-{split}-{n or 'all'}.pt"
        saved = _read_cache(path)
        if saved is not None:
            return saved["mu"].numpy(), saved["sigma"].numpy()
        x = gdata.as_tensor(gdata.load(dataset, root=root, split=split), limit=n)
        mu, sigma = self.stats(x)
        save_torch({"mu": torch.from_numpy(mu), "sigma": torch.from_numpy(sigma)}, path)
        return mu, sigma

    def frechet(self, fake: torch.Tensor, reference: tuple[np.ndarray, np.ndarray]) -> float:
        """Frechet distance of generated images from reference statistics in this feature space."""
        return frechet_distance(self.stats(fake), reference)


def _data_key(dataset: str, root) -> str:
    """The cache key of a data set: its name, plus a digest of the folder it is read from for the sets
    on disk (two MNIST roots never share a cached classifier or statistics); embedded sets have none."""
    if dataset not in gdata.NAMES or dataset in gdata.EMBEDDED:
        return dataset
    folder = str(gdata.data_root(root).resolve())
    return f"{dataset}-{hashlib.sha256(folder.encode()).hexdigest()[:10]}"


def _inputs_and_labels(ds) -> tuple[torch.Tensor, torch.Tensor]:
    if isinstance(ds, torch.utils.data.TensorDataset):
        return ds.tensors[0], ds.tensors[1]
    return gdata.as_tensor(ds), torch.as_tensor([int(ds[i][1]) for i in range(len(ds))])


def _train_classifier(dataset: str, root, epochs: int, seed: int) -> tuple[SmallCNN, float]:
    x, y = _inputs_and_labels(gdata.load(dataset, root=root, split="train"))
    xt, yt = _inputs_and_labels(gdata.load(dataset, root=root, split="test"))
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    net = SmallCNN(x.shape[-1], x.shape[1])
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), 64):
            idx = perm[i:i + 64]
            # small random shifts make the features robust to the generators' blur
            xb = torch.roll(x[idx], shifts=tuple(torch.randint(-1, 2, (2,), generator=g).tolist()), dims=(2, 3))
            opt.zero_grad()
            F.cross_entropy(net(xb), y[idx]).backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        acc = float(torch.cat([net(xt[i:i + 1000]).argmax(1) for i in range(0, len(xt), 1000)]).eq(yt).float().mean())
    return net, acc


def _pca_space(dataset: str, root, dims: int) -> FeatureSpace:
    x = gdata.as_tensor(gdata.load(dataset, root=root, split="train")).flatten(1).double()
    mean = x.mean(0)
    _, _, v = torch.linalg.svd(x - mean, full_matrices=False)
    basis = v[:dims].T
    return FeatureSpace(f"pixels-pca{dims}-{dataset}", lambda b: ((b.flatten(1).double() - mean) @ basis).float())


def feature_space(dataset: str, root=None, seed: int = 0, kind: str = "classifier", dims: int = 32) -> FeatureSpace:
    """The feature space distances on ``dataset`` are measured in.

    ``kind="classifier"`` (digits, mnist): a :class:`SmallCNN` trained on the training split, cached
    on disk with its test accuracy (checksummed; a damaged cache file is retrained with a
    ``RuntimeWarning`` naming it); a classifier below :data:`MIN_ACCURACY` raises, since distances in
    its features would mean little. ``kind="pixels"``: PCA of the training images to ``dims``
    components (any image set; faces has no labels). ``kind="auto"``: the classifier where one exists
    (digits, mnist), pixels otherwise (faces, CIFAR-10, CelebA, LSUN).
    """
    if kind == "auto":
        kind = "classifier" if dataset in MIN_ACCURACY else "pixels"
    if kind == "pixels":
        return _pca_space(dataset, root, dims)
    if kind != "classifier":
        raise ValueError(f"Unknown feature space kind {kind!r}: use 'classifier', 'pixels' or 'auto'.")
    if dataset not in MIN_ACCURACY:
        raise ValueError(f"No classifier feature space for {dataset!r}; classifiers exist for "
                         f"{', '.join(MIN_ACCURACY)}. Use kind='pixels' for unlabelled sets.")
    epochs = {"digits": 30, "mnist": 2}[dataset]
    path = cache_dir() / f"classifier-{_data_key(dataset, root)}-seed{seed}-e{epochs}.pt"
    x0 = gdata.load(dataset, root=root, split="train")[0][0]
    net = SmallCNN(x0.shape[-1], x0.shape[0])
    saved = _read_cache(path)
    if saved is not None:
        net.load_state_dict(saved["state"])
        acc = saved["accuracy"]
    else:
        net, acc = _train_classifier(dataset, root, epochs, seed)
        save_torch({"state": net.state_dict(), "accuracy": acc}, path)
    net.eval()
    if acc < MIN_ACCURACY[dataset]:
        raise RuntimeError(f"The {dataset} classifier reached test accuracy {acc:.4f} < {MIN_ACCURACY[dataset]}; "
                           f"delete {path} and retrain with more epochs.")
    return FeatureSpace(f"cnn-{dataset}", net.features, acc, net)


@torch.no_grad()
def classifier_score(space: FeatureSpace, x: torch.Tensor, batch_size: int = 1000) -> float:
    """``exp(E_x KL(p(y|x) || p(y)))`` with the feature space's classifier (1 .. number of classes)."""
    if space.classifier is None:
        raise ValueError(f"The feature space {space.name} has no classifier; use a 'classifier' space.")
    logp = torch.cat([F.log_softmax(space.classifier(x[i:i + batch_size].float().cpu()), 1)
                      for i in range(0, len(x), batch_size)]).double()
    p_y = logp.exp().mean(0)
    kl = (logp.exp() * (logp - p_y.log())).sum(1).mean()
    return float(kl.exp())


def inception_features(images: torch.Tensor, batch_size: int = 50) -> torch.Tensor:
    """2048-d pool features of torchvision's pretrained Inception-v3 (images in [-1, 1], any size,
    1 or 3 channels), for the papers' FID at paper scale. The weights must already be in torch's hub
    cache or downloadable; otherwise this raises instead of substituting another network."""
    from torchvision.models import Inception_V3_Weights, inception_v3

    try:
        net = inception_v3(weights=Inception_V3_Weights.IMAGENET1K_V1, aux_logits=True)
    except OSError as err:  # URLError, HTTPError, timeouts: offline and not in the hub cache
        raise RuntimeError("Inception-v3 weights are not available here (no network and not in the torch hub "
                           f"cache: {err}). Inception FID is for the paper profile; the quick profile reports "
                           "distances in a named classifier's feature space instead.") from err
    net.fc = nn.Identity()
    net.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(images), batch_size):
            b = images[i:i + batch_size].float()
            b = b.expand(-1, 3, -1, -1) if b.shape[1] == 1 else b
            b = F.interpolate((b + 1) / 2, size=299, mode="bilinear", align_corners=False)
            mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
            std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
            out.append(net((b - mean) / std))
    return torch.cat(out)


# --------------------------------------------------------------------------- along training

def first_reaching(steps: Sequence[float], values: Sequence[float], target: float,
                   higher_is_better: bool = True) -> float:
    """The first of ``steps`` (in their order) whose value reaches ``target``: ``value >= target``, or
    ``value <= target`` when lower is better (a Frechet distance). ``nan`` when none does (a NaN
    value never reaches). ``steps`` may count anything: batches, gradient evaluations, seconds."""
    s, v = np.asarray(steps, dtype=float), np.asarray(values, dtype=float)
    if s.shape != v.shape or s.ndim != 1:
        raise ValueError(f"first_reaching needs two 1-D sequences of one length, got steps of shape {s.shape} "
                         f"and values of shape {v.shape}.")
    hit = v >= target if higher_is_better else v <= target
    return float(s[hit.argmax()]) if hit.any() else float("nan")


def reach_ratio(costs: Mapping[str, float], numerator: str, denominator: str, unit: str) -> str:
    """``costs[numerator] / costs[denominator]`` at two decimals, where ``costs`` holds what each method
    spent to reach one target (:func:`first_reaching`, in ``unit``: batches, gradient evaluations).
    Where that ratio means nothing, ``"no ratio (...)"`` saying why: a method never reached the target
    (``nan``), or reached it at 0 ``unit``, before any training (its untrained model already met the
    target, so the target says nothing about training, and a ratio would divide by zero)."""
    for name in (numerator, denominator):
        if name not in costs:
            raise ValueError(f"reach_ratio: no cost for {name!r}; the costs are for {', '.join(map(repr, costs))}.")
    never = [m for m in (numerator, denominator) if np.isnan(costs[m])]
    at_zero = [m for m in (numerator, denominator) if costs[m] == 0]
    why = []
    if never:
        why.append(f"{' and '.join(never)} never reached the target")
    if at_zero:
        what = "it" if never else "the target"
        why.append(f"{' and '.join(at_zero)} reached {what} at 0 {unit}, before any training")
    if why:
        return f"no ratio ({'; '.join(why)})"
    return f"{costs[numerator] / costs[denominator]:.2f}"


def fixed_noise(n: int, latent_dim: int | Sequence[int], seed: int) -> torch.Tensor:
    """``n`` standard normal latent codes drawn on the CPU from a generator seeded with ``seed``: the
    fixed noise that evaluations along a run (and the figures after it) generate from."""
    shape = (latent_dim,) if isinstance(latent_dim, int) else tuple(latent_dim)
    return torch.randn(n, *shape, generator=torch.Generator().manual_seed(seed))


def _device(module: nn.Module) -> torch.device:
    return next(iter(module.parameters()), torch.empty(0)).device


@torch.no_grad()
def sample_in_chunks(G: nn.Module, z: torch.Tensor, chunk: int = 500, batch_statistics: bool = False) -> torch.Tensor:
    """``G(z)`` on the CPU, computed ``chunk`` codes at a time on G's device (bounded memory).

    ``batch_statistics=False``: G runs in eval mode (batch norm uses its running statistics; each
    sample independent of the others) and is left in the mode it was in. ``True``: a copy of G runs
    in train mode, so batch norm normalises each chunk by its own statistics (an averaged generator,
    whose running statistics were never averaged, is measured this way); G is untouched."""
    if chunk < 1:
        raise ValueError(f"Invalid chunk size {chunk}: must be >= 1.")
    device = _device(G)
    if batch_statistics:
        net = copy.deepcopy(G).train()
        return torch.cat([net(part.to(device)) for part in z.split(chunk)]).cpu()
    was_training = G.training
    G.eval()
    try:
        return torch.cat([G(part.to(device)).cpu() for part in z.split(chunk)])
    finally:
        G.train(was_training)


@torch.no_grad()
def generator_ring_metrics(G: nn.Module, z: torch.Tensor, means: torch.Tensor, sigma: float,
                           chunk: int | None = None, samples: list[torch.Tensor] | None = None
                           ) -> dict[str, torch.Tensor]:
    """:func:`ring_metrics` of the samples ``G`` draws from the latent codes ``z`` (n, latent). For a
    single generator the metrics are scalars; for an ensemble (a module with an integer ``members``
    attribute that maps (K, n, latent) noise to (K, n, 2), such as :class:`gancore.ensemble.BatchedMLP`)
    every member gets the same noise and the metrics are (K,) tensors. With ``chunk`` the members are
    evaluated that many at a time, ``G(noise, members=slice(a, b))``, which bounds memory at the papers'
    scale (200 members x 25,000 samples through 400-wide layers); per member the numbers are the same.
    The samples (on the CPU) are appended to ``samples`` when a list is given."""
    members = getattr(G, "members", None)
    codes = z.to(_device(G))
    if not isinstance(members, int):
        blocks = [G(codes)]
    elif chunk is None:
        blocks = [G(codes.expand(members, *z.shape).contiguous())]
    else:
        blocks = [G(codes.expand(min(chunk, members - a), *z.shape).contiguous(), members=slice(a, a + chunk))
                  for a in range(0, members, chunk)]
    parts = [ring_metrics(x, means, sigma) for x in blocks]
    if samples is not None:
        samples.append(torch.cat([x.detach().cpu() for x in blocks]))
    if len(parts) == 1:
        return parts[0]
    return {k: torch.cat([part[k] for part in parts]) for k in parts[0]}


@torch.no_grad()
def discriminator_metrics(D: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> dict[str, torch.Tensor]:
    """The discriminator's held-out performance on ``real`` samples (n, ...) and its generator's
    ``fake`` samples (n, ...; for an ensemble D, (K, n, ...): member k's fakes), D giving logits
    ``s``: its balanced accuracy ``(mean[s(x) > 0] + mean[s(G(z)) < 0]) / 2`` (a logit above 0 is
    "real": D(x) > 1/2) and its loss, the binary cross-entropy ``mean softplus(-s(x)) + mean
    softplus(s(G(z)))`` (the GAN discriminator loss, Goodfellow et al. 2014, Eq. 1, as a loss).
    Scalars for a single D; ``(K,)`` tensors for an ensemble (a module with an integer ``members``)."""
    members = getattr(D, "members", None)
    device = _device(D)
    real, fake = real.to(device), fake.to(device)
    if isinstance(members, int):
        real = real.expand(members, *real.shape).contiguous()
    s_real, s_fake = D(real).flatten(-2), D(fake).flatten(-2)
    accuracy = ((s_real > 0).float().mean(-1) + (s_fake < 0).float().mean(-1)) / 2
    loss = torch.nn.functional.softplus(-s_real).mean(-1) + torch.nn.functional.softplus(s_fake).mean(-1)
    return {"d_accuracy": accuracy, "d_loss": loss}


def ring_evaluator(means: torch.Tensor, sigma: float, n: int, latent_dim: int = 2, seed: int = 0,
                   samples: dict[int, torch.Tensor] | None = None, chunk: int | None = None,
                   real: torch.Tensor | None = None) -> Callable[[int, nn.Module, nn.Module], dict]:
    """``evaluate(step, G, D)`` for :func:`gancore.train.fit`: the ring metrics
    (:func:`generator_ring_metrics`) of ``n`` samples from fixed noise (:func:`fixed_noise` with ``seed``),
    as floats for a single generator or per-member lists for an ensemble (:func:`per_member` makes
    the log long; ``chunk`` members at a time). Evaluation draws from its own generator, so it never
    changes the training run's random streams. With a dict ``samples``, the samples of every
    evaluation are kept in it on the CPU, keyed by step. With held-out ``real`` samples (n', 2), the
    discriminator is measured too (:func:`discriminator_metrics` against these samples of G)."""
    z = fixed_noise(n, latent_dim, seed)

    def evaluate(step: int, G: nn.Module, D: nn.Module) -> dict:
        kept: list[torch.Tensor] | None = [] if samples is not None or real is not None else None
        found = generator_ring_metrics(G, z, means, sigma, chunk, kept)
        if samples is not None:
            samples[step] = kept[0]
        if real is not None:
            found |= discriminator_metrics(D, real, kept[0])
        return {k: v.float().cpu().tolist() for k, v in found.items()}

    return evaluate


def per_member(evals: pd.DataFrame) -> pd.DataFrame:
    """The evaluation log of an ensemble run (per-member lists in each row, as :func:`ring_evaluator`
    gives them) in long form: one row per step and member, with a ``member`` column."""
    columns = [c for c in evals.columns if c not in ("step", "grad_evals", "seconds")]
    long = evals.explode(columns)
    long.insert(1, "member", long.groupby("step").cumcount())
    return long.astype({c: float for c in columns}).reset_index(drop=True)
