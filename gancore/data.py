"""Data sets of the compendium behind one entry point, :func:`load`.

Embedded sets (made here or shipped inside a package, so every chapter's ``quick`` profile runs
anywhere):

* ``ring``: ``K`` equal-weight Gaussians on a circle (alpha-GAN paper, ISIT23 Sec. III-A: K = 8,
  radius 1, sigma = 0.01, 50,000 training and 25,000 test samples drawn with data seed 1);
* ``grid``: a 5 x 5 grid of Gaussians (spacing 2, sigma 0.05), the other classic mode-collapse toy;
* ``digits``: scikit-learn's 1,797 8x8 handwritten digits, scaled to [-1, 1], a fixed 80/20 split;
* ``faces``: the 100 faces of scikit-image's LFW subset (25x25 grey), scaled to [-1, 1], 80/20 split.

Real data sets, through torchvision's own classes (downloaded where a network exists, otherwise read
from a local root; images scaled to [-1, 1]): ``mnist`` (28x28), ``cifar10`` (32x32), ``celeba``
(64x64 by Resize + CenterCrop, as the alpha-GAN code does), ``lsun_classroom`` (64x64 by default).
The root is the ``root`` argument, else the ``GANCORE_DATA`` environment variable, else ``./data``.

Every data set yields ``(x, y)`` pairs; ``y`` is a class label (digits, MNIST, CIFAR-10), the mode
index (ring, grid) or ``-1`` where there is none.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, TensorDataset

__all__ = ["load", "NAMES", "as_tensor", "ring_means", "DataNotFoundError"]

RING_DATA_SEED = 1
SPLIT_SEED = 0


class DataNotFoundError(FileNotFoundError):
    """A real data set is not where we looked; the message says where and how to get it."""


def ring_means(modes: int = 8, radius: float = 1.0) -> torch.Tensor:
    """Means ``(r cos(2 pi i / K), r sin(2 pi i / K))``, i = 0..K-1, as a (K, 2) tensor."""
    angles = 2 * math.pi * torch.arange(modes, dtype=torch.float64) / modes
    return (radius * torch.stack([angles.cos(), angles.sin()], dim=1)).float()


def grid_means(side: int = 5, spacing: float = 2.0) -> torch.Tensor:
    """Means of the ``side x side`` grid, centred at the origin, as a (side**2, 2) tensor."""
    axis = (torch.arange(side, dtype=torch.float32) - (side - 1) / 2) * spacing
    return torch.cartesian_prod(axis, axis)


def _mixture(means: torch.Tensor, sigma: float, n: int, seed: int) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(len(means), (n,), generator=g)
    x = means[labels] + sigma * torch.randn(n, means.shape[1], generator=g)
    return TensorDataset(x, labels)


def _ring(split: str, modes: int = 8, radius: float = 1.0, sigma: float = 0.01,
          n_train: int = 50_000, n_test: int = 25_000, seed: int = RING_DATA_SEED) -> TensorDataset:
    means = ring_means(modes, radius)
    # train and test come from one stream so that they never share samples
    full = _mixture(means, sigma, n_train + n_test, seed)
    x, y = full.tensors
    ds = TensorDataset(x[:n_train], y[:n_train]) if split == "train" else TensorDataset(x[n_train:], y[n_train:])
    ds.means, ds.sigma = means, sigma
    return ds


def _grid(split: str, side: int = 5, spacing: float = 2.0, sigma: float = 0.05,
          n_train: int = 50_000, n_test: int = 25_000, seed: int = RING_DATA_SEED) -> TensorDataset:
    means = grid_means(side, spacing)
    full = _mixture(means, sigma, n_train + n_test, seed)
    x, y = full.tensors
    ds = TensorDataset(x[:n_train], y[:n_train]) if split == "train" else TensorDataset(x[n_train:], y[n_train:])
    ds.means, ds.sigma = means, sigma
    return ds


def _split(n: int, split: str, test_fraction: float = 0.2) -> np.ndarray:
    perm = np.random.default_rng(SPLIT_SEED).permutation(n)
    n_test = int(round(test_fraction * n))
    if split == "train":
        return np.sort(perm[n_test:])
    if split == "test":
        return np.sort(perm[:n_test])
    return np.arange(n)


def _digits(split: str) -> TensorDataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    idx = _split(len(bunch.images), split)
    x = torch.tensor(bunch.images[idx], dtype=torch.float32).unsqueeze(1) / 16.0 * 2 - 1
    return TensorDataset(x, torch.tensor(bunch.target[idx]))


def _faces(split: str) -> TensorDataset:
    from skimage.data import lfw_subset

    images = lfw_subset()[:100]  # the first 100 of the 200 images are faces, the rest are not
    idx = _split(len(images), split)
    x = torch.tensor(images[idx], dtype=torch.float32).unsqueeze(1) * 2 - 1
    return TensorDataset(x, torch.full((len(idx),), -1))


def data_root(root: str | os.PathLike | None) -> Path:
    """``root`` if given, else ``$GANCORE_DATA``, else ``./data``."""
    return Path(root or os.environ.get("GANCORE_DATA") or "data").expanduser()


def _missing(name: str, folder: Path, how: str, err: Exception) -> DataNotFoundError:
    return DataNotFoundError(
        f"The {name} data set was not found in {folder.resolve()} ({err}). {how} Pass root=... or set "
        f"GANCORE_DATA to the folder that holds it, or pass download=True on a machine with a network."
    )


def _image_transform(size: int | None, channels: int):
    from torchvision import transforms as T

    steps = [] if size is None else [T.Resize(size), T.CenterCrop(size)]
    steps += [T.ToTensor(), T.Normalize([0.5] * channels, [0.5] * channels)]
    return T.Compose(steps)


def _mnist(split: str, root: Path, download: bool = False) -> Dataset:
    from torchvision.datasets import MNIST

    try:
        return MNIST(str(root), train=split == "train", download=download,
                     transform=_image_transform(None, 1))
    except RuntimeError as err:
        raise _missing("MNIST", root / "MNIST" / "raw", "torchvision expects MNIST/raw/"
                       "{train,t10k}-{images-idx3,labels-idx1}-ubyte in it.", err) from None


def _cifar10(split: str, root: Path, download: bool = False) -> Dataset:
    from torchvision.datasets import CIFAR10

    try:
        return CIFAR10(str(root), train=split == "train", download=download,
                       transform=_image_transform(None, 3))
    except RuntimeError as err:
        raise _missing("CIFAR-10", root / "cifar-10-batches-py", "Unpack cifar-10-python.tar.gz there.", err) from None


def _celeba(split: str, root: Path, download: bool = False, size: int = 64) -> Dataset:
    from torchvision.datasets import CelebA

    split = {"train": "train", "test": "test", "all": "all"}[split]
    try:
        return CelebA(str(root), split=split, download=download, transform=_image_transform(size, 3))
    except (RuntimeError, FileNotFoundError) as err:
        raise _missing("CelebA", root / "celeba", "torchvision expects img_align_celeba/ and the list_*.txt "
                       "files there.", err) from None


def _lsun_classroom(split: str, root: Path, size: int = 64) -> Dataset:
    from torchvision.datasets import LSUN

    classes = ["classroom_train" if split == "train" else "classroom_val"]
    try:
        return LSUN(str(root), classes=classes, transform=_image_transform(size, 3))
    except Exception as err:  # LSUN raises lmdb errors of its own kind when the database is absent
        raise _missing("LSUN Classroom", root / f"{classes[0]}_lmdb", "Download it with the LSUN project's "
                       "download.py (category classroom) and unzip the lmdb there.", err) from None


_EMBEDDED = {"ring": _ring, "grid": _grid, "digits": _digits, "faces": _faces}
_REAL = {"mnist": _mnist, "cifar10": _cifar10, "celeba": _celeba, "lsun_classroom": _lsun_classroom}
NAMES = tuple(_EMBEDDED) + tuple(_REAL)


def load(name: str, root: str | os.PathLike | None = None, split: str = "train", **options) -> Dataset:
    """Load data set ``name`` as a torch ``Dataset`` of ``(x, y)`` pairs (see the module docstring).

    ``split`` is ``"train"``, ``"test"`` or ``"all"`` (embedded sets; ``all`` for the real ones means
    whatever the torchvision class calls all). ``options`` go to the set: e.g. ``modes``, ``radius``,
    ``sigma``, ``n_train`` for the ring; ``download=True`` or ``size`` for the real sets.
    """
    if split not in ("train", "test", "all"):
        raise ValueError(f"Invalid split {split!r}: use 'train', 'test' or 'all'.")
    if name in _EMBEDDED:
        if split == "all" and name in ("ring", "grid"):
            raise ValueError(f"The {name} set has no 'all' split: use 'train' or 'test'.")
        return _EMBEDDED[name](split, **options)
    if name in _REAL:
        return _REAL[name](split, data_root(root), **options)
    raise ValueError(f"Unknown data set {name!r}. Known data sets: {', '.join(NAMES)}.")


def as_tensor(dataset: Dataset, limit: int | None = None) -> torch.Tensor:
    """All (or the first ``limit``) inputs ``x`` of a data set stacked into one tensor."""
    if isinstance(dataset, TensorDataset):
        x = dataset.tensors[0]
        return x if limit is None else x[:limit]
    n = len(dataset) if limit is None else min(limit, len(dataset))
    return torch.stack([dataset[i][0] for i in range(n)])
