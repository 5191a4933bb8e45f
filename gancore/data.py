"""Data sets of the compendium behind one entry point, :func:`load`.

Embedded sets (made here or shipped inside a package, so every chapter's ``quick`` profile runs
anywhere):

* ``ring``: ``K`` equal-weight Gaussians on a circle (alpha-GAN paper, ISIT23 Sec. III-A: K = 8,
  radius 1, sigma = 0.01, 50,000 training and 25,000 test samples drawn with data seed 1);
* ``grid``: a 5 x 5 grid of Gaussians (spacing 2, sigma 0.05), the other classic mode-collapse toy;
* ``digits``: scikit-learn's 1,797 8x8 handwritten digits, scaled to [-1, 1], a fixed 80/20 split;
* ``faces``: the 100 faces of scikit-image's LFW subset (25x25 grey), scaled to [-1, 1], 80/20 split.

Real data sets, in their released on-disk formats (images scaled to [-1, 1]): ``mnist`` (28x28),
``cifar10`` (32x32), ``celeba`` (64x64 by Resize + CenterCrop, as the alpha-GAN code does) through
torchvision's classes (downloaded where a network exists, otherwise read from a local root), and
``lsun_classroom`` (64x64 by default) read here from its lmdb databases. The root is the ``root``
argument, else the ``GANCORE_DATA`` environment variable, else ``./data``.

CIFAR-10's and CelebA's files are checked against the MD5 sums torchvision records for the released
files. ``verify=False`` skips that check (each file must still exist) for data you re-packed yourself,
e.g. a subset, or the tiny sets that ``tests/fake_datasets.py`` writes; the environment variable
``GANCORE_DATA_VERIFY=0`` makes that the default, so that a chapter calling ``load`` without the
option reads such a set too (``1``, or unset, keeps the check).

Every data set yields ``(x, y)`` pairs; ``y`` is a class label (digits, MNIST, CIFAR-10), the mode
index (ring, grid) or ``-1`` where there is none.

Splits (:data:`SPLITS`): ``train`` and ``test`` everywhere; ``all`` (the whole set: for MNIST,
CIFAR-10 and LSUN the training split followed by the test split) everywhere except ring and grid,
whose two splits are cut from one stream of samples.
"""

from __future__ import annotations

import functools
import io
import math
import numbers
import os
import struct
import weakref
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import torch
from PIL import Image
from torch.utils.data import ConcatDataset, Dataset, TensorDataset

from .formats import FormatError, check_celeba_lists, check_mnist, load_cifar_batch
from .storage import CorruptFileError

__all__ = ["load", "NAMES", "EMBEDDED", "SPLITS", "as_tensor", "ring_means", "data_root", "DataNotFoundError",
           "require"]

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


def _check_count(name: str, value: object, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"Invalid {name}={value!r}: use an integer >= {minimum}.")


def _check_length(name: str, value: object, zero_ok: bool = False) -> None:
    ok = (isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
          and (value >= 0 if zero_ok else value > 0))
    if not ok:
        raise ValueError(f"Invalid {name}={value!r}: use a finite number {'>= 0' if zero_ok else '> 0'}.")


def _check_mixture(n_train: object, n_test: object, sigma: object) -> None:
    _check_count("n_train", n_train)
    _check_count("n_test", n_test)
    _check_length("sigma", sigma, zero_ok=True)


def _mixture(means: torch.Tensor, sigma: float, n: int, seed: int) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(len(means), (n,), generator=g)
    x = means[labels] + sigma * torch.randn(n, means.shape[1], generator=g)
    return TensorDataset(x, labels)


def _ring(split: str, modes: int = 8, radius: float = 1.0, sigma: float = 0.01,
          n_train: int = 50_000, n_test: int = 25_000, seed: int = RING_DATA_SEED) -> TensorDataset:
    _check_count("modes", modes)
    _check_length("radius", radius)
    _check_mixture(n_train, n_test, sigma)
    means = ring_means(modes, radius)
    # train and test come from one stream so that they never share samples
    full = _mixture(means, sigma, n_train + n_test, seed)
    x, y = full.tensors
    ds = TensorDataset(x[:n_train], y[:n_train]) if split == "train" else TensorDataset(x[n_train:], y[n_train:])
    ds.means, ds.sigma = means, sigma
    return ds


def _grid(split: str, side: int = 5, spacing: float = 2.0, sigma: float = 0.05,
          n_train: int = 50_000, n_test: int = 25_000, seed: int = RING_DATA_SEED) -> TensorDataset:
    _check_count("side", side)
    _check_length("spacing", spacing)
    _check_mixture(n_train, n_test, sigma)
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


def _missing(name: str, folder: Path, how: str, detail: str) -> DataNotFoundError:
    return DataNotFoundError(
        f"The {name} data set was not found in {folder.resolve()} ({detail}). {how} Pass root=... or set "
        f"GANCORE_DATA to the folder that holds it, or pass download=True on a machine with a network."
    )


def _image_transform(size: int | None, channels: int):
    from torchvision import transforms as T

    steps = [] if size is None else [T.Resize(size), T.CenterCrop(size)]
    steps += [T.ToTensor(), T.Normalize([0.5] * channels, [0.5] * channels)]
    return T.Compose(steps)


def _train_test(make: Callable[..., Dataset], split: str) -> Dataset:
    """``make(train=True)``, ``make(train=False)``, or both one after the other for ``all``."""
    if split == "all":
        return ConcatDataset([make(train=True), make(train=False)])
    return make(train=split == "train")


_MNIST_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
               "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
_IDX_ITEM_BYTES = {0x08: 1, 0x09: 1, 0x0B: 2, 0x0C: 4, 0x0D: 4, 0x0E: 8}  # idx type code -> bytes per entry


def _check_idx(path: Path) -> None:
    """An idx file (LeCun's MNIST format: 2 zero bytes, a type code, the number of dimensions, the
    dimensions as big-endian int32, then the entries) must be exactly as long as its header says."""
    advice = ("Delete it and download MNIST again (data.load('mnist', download=True) on a machine with a "
              "network, or copy the four uncompressed idx files from a good copy).")
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(4)
        if len(head) < 4 or head[:2] != b"\0\0" or head[2] not in _IDX_ITEM_BYTES:
            raise CorruptFileError(path, f"it is not an idx file (it starts with {head!r}, {size} bytes in all)", advice)
        dims_bytes = f.read(4 * head[3])
    if len(dims_bytes) < 4 * head[3]:
        raise CorruptFileError(path, f"it is truncated inside its header ({size} bytes)", advice)
    dims = struct.unpack(f">{head[3]}I", dims_bytes)
    expected = 4 + 4 * head[3] + math.prod(dims) * _IDX_ITEM_BYTES[head[2]]
    if size != expected:
        raise CorruptFileError(path, f"it holds {size} bytes where its header {'x'.join(map(str, dims))} "
                               f"announces {expected} ({'truncated' if size < expected else 'trailing bytes'})",
                               advice)


def _mnist(split: str, root: Path, download: bool = False) -> Dataset:
    from torchvision.datasets import MNIST

    raw = root / "MNIST" / "raw"
    if not download:  # torchvision wants all four files, whatever the split
        missing = [f for files in _MNIST_FILES.values() for f in files if not (raw / f).is_file()]
        if missing:
            raise _missing("MNIST", raw, "torchvision expects MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}"
                           "-ubyte (uncompressed) in it.", f"missing: {', '.join(missing)}")
    for part in ("train", "test") if split == "all" else (split,):
        for f in _MNIST_FILES[part]:
            if (raw / f).is_file():
                _check_idx(raw / f)
        images, labels = (raw / f for f in _MNIST_FILES[part])
        if images.is_file() and labels.is_file():
            _checked(check_mnist, images, labels, how="Download MNIST again (data.load('mnist', download=True)) "
                     "or copy the four uncompressed idx files from a good copy.")
    try:
        return _train_test(lambda train: MNIST(str(root), train=train, download=download,
                                               transform=_image_transform(None, 1)), split)
    except RuntimeError as err:  # torchvision: not found, or the download failed
        raise _missing("MNIST", raw, "torchvision expects MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte "
                       "in it.", str(err)) from err


def _verify(verify: bool | None) -> bool:
    """``verify`` if given, else ``$GANCORE_DATA_VERIFY``: ``0`` skips the md5 checks, ``1`` or unset keeps them."""
    if verify is not None:
        if not isinstance(verify, bool):
            raise ValueError(f"Invalid verify={verify!r}: use True (check the files' MD5 sums) or False.")
        return verify
    value = os.environ.get("GANCORE_DATA_VERIFY", "1")
    if value not in ("0", "1"):
        raise ValueError(f"Invalid GANCORE_DATA_VERIFY={value!r}: use 0 (skip the MD5 checks of CIFAR-10 and CelebA, "
                         "for data you re-packed yourself) or 1 (check them, the default).")
    return value == "1"


@functools.cache
def _without_md5(base: type) -> type:
    """torchvision's ``CIFAR10`` or ``CelebA`` with every MD5 of its file lists set to None: its
    ``check_integrity`` then only asks that each file exists (made on first use, as torchvision is
    imported only when a real set is loaded)."""
    from torchvision.datasets import CIFAR10

    if issubclass(base, CIFAR10):
        class UnverifiedCIFAR10(base):
            train_list = [[name, None] for name, _ in base.train_list]
            test_list = [[name, None] for name, _ in base.test_list]
            meta = {**base.meta, "md5": None}
        return UnverifiedCIFAR10

    class UnverifiedCelebA(base):
        file_list = [(file_id, None, name) for file_id, _, name in base.file_list]
    return UnverifiedCelebA


def _check_files(name: str, folder: Path, files: list[tuple[str, str | None]], err: RuntimeError,
                 how: str) -> Exception:
    """The error to raise after torchvision refused ``folder`` (``err``): a
    :class:`~gancore.storage.CorruptFileError` when a file's MD5 differs from torchvision's record
    (never "not found"), else :class:`DataNotFoundError` listing the missing ones."""
    from torchvision.datasets.utils import check_integrity

    missing = [f for f, _ in files if not (folder / f).exists()]
    altered = [f for f, md5 in files if f not in missing and md5 is not None and not check_integrity(folder / f, md5)]
    if altered:
        return CorruptFileError(
            folder, f"the md5 sum of {', '.join(altered)} differs from torchvision's record of the released "
            f"file{'s' if len(altered) > 1 else ''} (truncated or modified)"
            + (f"; missing: {', '.join(missing)}" if missing else ""),
            f"{how} again (or pass download=True). If you re-packed the data yourself (a subset, test fixtures), "
            "pass verify=False or set GANCORE_DATA_VERIFY=0.")
    return _missing(name, folder, f"{how}.", f"missing: {', '.join(missing)}" if missing else str(err))


def _checked(check: Callable[..., object], *args: object, how: str) -> object:
    """``check(*args)``, a :class:`~gancore.formats.FormatError` raised as ``CorruptFileError`` naming the file."""
    try:
        return check(*args)
    except FormatError as err:
        raise CorruptFileError(err.path, err.reason, how) from err


class _Cifar10(Dataset):
    """CIFAR-10 python batches read by :func:`gancore.formats.load_cifar_batch` (never by ``pickle``'s
    code-running loader), as ``(transform(PIL image), label)`` like torchvision's ``CIFAR10``."""

    def __init__(self, files: list[Path], transform: Callable[[Image.Image], torch.Tensor]) -> None:
        batches = [_checked(load_cifar_batch, f, how=_CIFAR_HOW) for f in files]
        self.data = np.concatenate([b["data"] for b in batches]).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        self.targets = np.concatenate([b["labels"] for b in batches]).tolist()
        self.transform = transform

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.transform(Image.fromarray(self.data[index])), self.targets[index]


_CIFAR_HOW = "Unpack cifar-10-python.tar.gz there again (or pass download=True)."


def _cifar10(split: str, root: Path, download: bool = False, verify: bool | None = None) -> Dataset:
    from torchvision.datasets import CIFAR10
    from torchvision.datasets.utils import check_integrity, download_and_extract_archive

    check, folder = _verify(verify), root / CIFAR10.base_folder
    files = [(f, md5 if check else None) for f, md5 in CIFAR10.train_list + CIFAR10.test_list
             + [[CIFAR10.meta["filename"], CIFAR10.meta["md5"]]]]
    if download and not all((folder / f).is_file() for f, _ in files):
        download_and_extract_archive(CIFAR10.url, str(root), filename=CIFAR10.filename, md5=CIFAR10.tgz_md5)
    if not all((folder / f).is_file() and (md5 is None or check_integrity(str(folder / f), md5)) for f, md5 in files):
        err = RuntimeError("Dataset not found or corrupted.")
        raise _check_files("CIFAR-10", folder, files, err, "Unpack cifar-10-python.tar.gz there") from err
    _checked(load_cifar_batch, folder / CIFAR10.meta["filename"], True, how=_CIFAR_HOW)
    return _train_test(lambda train: _Cifar10([folder / f for f, _ in (CIFAR10.train_list if train else
                                                                        CIFAR10.test_list)],
                                              _image_transform(None, 3)), split)


class _Unlabelled(Dataset):
    """The inputs of ``images`` paired with ``y = -1``: a set without class labels."""

    def __init__(self, images: Dataset) -> None:
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.images[index][0], -1


def _celeba(split: str, root: Path, download: bool = False, size: int = 64, verify: bool | None = None) -> Dataset:
    """CelebA's aligned faces as ``(x, -1)``: its 40 binary attributes are not a class label."""
    from torchvision.datasets import CelebA

    cls = CelebA if _verify(verify) else _without_md5(CelebA)
    _checked(check_celeba_lists, root / cls.base_folder, how="Put CelebA's list files there again from the release.")
    try:
        return _Unlabelled(cls(str(root), split=split, target_type=[], download=download,
                               transform=_image_transform(size, 3)))
    except RuntimeError as err:  # torchvision: a file is missing or its md5 does not match
        files = [(name, md5) for _, md5, name in cls.file_list if not name.endswith(".zip")]
        raise _check_files("CelebA", root / cls.base_folder, files + [("img_align_celeba", None)], err,
                           "Put img_align_celeba/ and the five list_*.txt / identity_CelebA.txt files there") from err


_LSUN_DATABASES = {"train": ("classroom_train",), "test": ("classroom_val",), "all": ("classroom_train", "classroom_val")}
_LSUN_HOW = "Download it with the LSUN project's download.py (category classroom) and unzip the lmdb there."


def _lmdb() -> ModuleType:
    """The lmdb package, or an error saying how to install it."""
    try:
        import lmdb
    except ModuleNotFoundError as err:
        raise ModuleNotFoundError("LSUN Classroom is stored as lmdb databases and the lmdb package is not "
                                  "installed: pip install lmdb (the version pinned in requirements.lock).",
                                  name="lmdb") from err
    return lmdb


_OPEN_LMDB: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


def _open_lmdb(path: Path) -> "lmdb.Environment":  # noqa: F821  (lmdb is imported on first use)
    """The lmdb environment of the database at ``path``, read-only and without a lock file. One per
    database and process (lmdb refuses to open an environment twice in one process), shared by the data
    sets that read it and closed with the last of them."""
    lmdb = _lmdb()
    key = os.path.realpath(path)
    env = _OPEN_LMDB.get(key)
    if env is None:
        try:
            env = lmdb.open(key, readonly=True, lock=False, readahead=False, meminit=False)
        except lmdb.Error as err:
            raise CorruptFileError(path, f"it is not an lmdb database ({err})", _LSUN_HOW) from err
        _OPEN_LMDB[key] = env
    return env


class _LmdbImages(Dataset):
    """The images of one LSUN lmdb database (keys: image ids; values: encoded images, WebP in the release)
    in key order, as ``(transform(RGB image), -1)``. Opened read-only without a lock, its keys listed in
    memory when the set is made: nothing is written anywhere (torchvision's LSUN writes a key cache into
    the working directory, and reuses a stale one for another database whose path has the same letters)."""

    def __init__(self, path: Path, transform: Callable[[Image.Image], torch.Tensor]) -> None:
        self.env = _open_lmdb(path)
        with self.env.begin() as txn:
            self.keys = list(txn.cursor().iternext(keys=True, values=False))
        self.path, self.transform = path, transform

    def __getstate__(self) -> dict[str, object]:
        # an lmdb environment belongs to its process: a copy sent to another one (a DataLoader worker,
        # experiments.in_processes) opens its own there
        return {k: v for k, v in self.__dict__.items() if k != "env"}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self.env = _open_lmdb(self.path)

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        key = self.keys[index]
        with self.env.begin() as txn:
            value = txn.get(key)
        try:
            image = Image.open(io.BytesIO(value)).convert("RGB")
        except OSError as err:  # PIL's UnidentifiedImageError, or a truncated image
            raise CorruptFileError(self.path, f"the image under key {key.decode(errors='replace')} cannot be "
                                   f"decoded ({err})", _LSUN_HOW) from err
        return self.transform(image), -1


def _lsun_classroom(split: str, root: Path, size: int = 64) -> Dataset:
    _lmdb()  # without the package, say so before looking for the folders
    folders = [root / f"{name}_lmdb" for name in _LSUN_DATABASES[split]]
    for folder in folders:
        if not folder.is_dir():
            raise _missing("LSUN Classroom", folder, _LSUN_HOW, "no such folder")
    parts = [_LmdbImages(folder, _image_transform(size, 3)) for folder in folders]
    return parts[0] if len(parts) == 1 else ConcatDataset(parts)


EMBEDDED = {"ring": _ring, "grid": _grid, "digits": _digits, "faces": _faces}  # generated or shipped: no root
_REAL = {"mnist": _mnist, "cifar10": _cifar10, "celeba": _celeba, "lsun_classroom": _lsun_classroom}
NAMES = tuple(EMBEDDED) + tuple(_REAL)
SPLITS: dict[str, tuple[str, ...]] = {name: ("train", "test") if name in ("ring", "grid") else ("train", "test", "all")
                                      for name in NAMES}


def load(name: str, root: str | os.PathLike | None = None, split: str = "train", **options) -> Dataset:
    """Load data set ``name`` as a torch ``Dataset`` of ``(x, y)`` pairs (see the module docstring).

    ``split`` is one of ``SPLITS[name]``: ``"train"``, ``"test"``, and ``"all"`` (the whole set; not
    for ring and grid). ``options`` go to the set: e.g. ``modes``, ``radius``, ``sigma``,
    ``n_train``, ``n_test`` for the ring; ``download=True`` for MNIST, CIFAR-10 and CelebA; ``size``
    for CelebA and LSUN; ``verify=False`` for CIFAR-10 and CelebA (skip the MD5 check; default from
    ``GANCORE_DATA_VERIFY``, see the module docstring). Unknown name or split, or an invalid size ->
    ``ValueError``; missing files -> :class:`DataNotFoundError` naming the folder; a damaged file
    (or one whose MD5 differs) -> :class:`gancore.storage.CorruptFileError` naming it.
    """
    if name not in SPLITS:
        raise ValueError(f"Unknown data set {name!r}. Known data sets: {', '.join(NAMES)}.")
    if split not in SPLITS[name]:
        raise ValueError(f"Invalid split {split!r} for the {name} data set: use "
                         f"{' or '.join(repr(s) for s in SPLITS[name])}.")
    if name in EMBEDDED:
        return EMBEDDED[name](split, **options)
    return _REAL[name](split, data_root(root), **options)


_NEEDED = {"mnist": ["MNIST/raw/" + f for files in _MNIST_FILES.values() for f in files],
           "cifar10": [f"cifar-10-batches-py/{f}" for f in ("data_batch_1", "data_batch_2", "data_batch_3",
                                                             "data_batch_4", "data_batch_5", "test_batch", "batches.meta")],
           "celeba": ["celeba/img_align_celeba", *(f"celeba/{f}" for f in ("list_eval_partition.txt",
                      "identity_CelebA.txt", "list_attr_celeba.txt", "list_bbox_celeba.txt",
                      "list_landmarks_align_celeba.txt"))],
           "lsun_classroom": ["classroom_train_lmdb", "classroom_val_lmdb"]}


def require(names: str | list[str] | tuple[str, ...], root: str | os.PathLike | None = None) -> None:
    """Check, before any work, that the data sets ``names`` can be loaded from ``root`` (see
    :func:`data_root`): embedded ones always can; for a real one every file and folder of its release
    must be there. Raises :class:`DataNotFoundError` listing every missing path and how to get it, so
    a ``paper`` run fails in its first cell, not after hours of training. Unknown name -> ValueError."""
    names = [names] if isinstance(names, str) else list(names)
    unknown = [n for n in names if n not in SPLITS]
    if unknown:
        raise ValueError(f"Unknown data set(s) {', '.join(map(repr, unknown))}. Known data sets: {', '.join(NAMES)}.")
    folder = data_root(root)
    missing = {n: [p for p in _NEEDED[n] if not (folder / p).exists()] for n in names if n in _NEEDED}
    missing = {n: paths for n, paths in missing.items() if paths}
    if missing:
        raise DataNotFoundError(
            f"The data of {', '.join(missing)} is not in {folder.resolve()}: missing "
            f"{'; '.join(f'{n}: ' + ', '.join(paths) for n, paths in missing.items())}. Put the released files there "
            "(README, Data sets; LSUN with the LSUN project's download.py), pass root=... or set GANCORE_DATA, or "
            "run data.load(name, download=True) once on a machine with a network (MNIST, CIFAR-10, CelebA).")


def as_tensor(dataset: Dataset, limit: int | None = None) -> torch.Tensor:
    """All (or the first ``limit``) inputs ``x`` of a data set stacked into one tensor."""
    if isinstance(dataset, TensorDataset):
        x = dataset.tensors[0]
        return x if limit is None else x[:limit]
    n = len(dataset) if limit is None else min(limit, len(dataset))
    return torch.stack([dataset[i][0] for i in range(n)])
