"""Tiny data sets written in the real on-disk formats, exactly as torchvision 0.29's classes read them.

Each ``write_*`` function writes a few dozen images under ``root`` in the layout the real download has
and returns ``root``; ``gancore.data.load(name, root=root, ...)`` then runs the same code path as on
the real data, only smaller (for CIFAR-10 and CelebA with ``verify=False`` or ``GANCORE_DATA_VERIFY=0``,
see below). What is written is a pure function of the sizes and ``seed``: the
``*_arrays`` / :func:`quadrant_colours` / :func:`celeba_partition` functions below give it back, so a
test can compare a loaded sample with the bytes on disk. The test split (CIFAR-10, MNIST) or the
validation database (LSUN) uses ``seed + 1``, the training split ``seed``.

Formats (see torchvision/datasets/{mnist,cifar,celeba,lsun}.py):

* MNIST: ``MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte``, uncompressed idx files: a
  big-endian int32 magic ``0x0803`` (images, 3 dimensions of unsigned bytes) or ``0x0801`` (labels),
  the dimensions as big-endian int32, then the bytes row-major. torchvision checks only that the
  four files exist.
* CIFAR-10: ``cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}``, pickled dicts (protocol
  2, as the Python 2 originals) with ``data`` an (n, 3072) uint8 array whose rows hold the red, green
  and blue 32x32 planes one after the other, ``labels``, ``batch_label`` and ``filenames``; the meta
  file holds ``label_names``. torchvision verifies the md5 of every one of these files, which fake
  files cannot match: load them with ``verify=False`` (or ``GANCORE_DATA_VERIFY=0``).
* CelebA: ``celeba/img_align_celeba/000001.jpg ...`` (178 x 218 RGB JPEG) and five space-separated
  text files: ``list_eval_partition.txt`` (``name split``, 0 train / 1 valid / 2 test),
  ``identity_CelebA.txt`` (``name identity``), and ``list_attr_celeba.txt``,
  ``list_bbox_celeba.txt``, ``list_landmarks_align_celeba.txt``, each starting with a line holding
  the image count and a line of column names. torchvision verifies the md5 of the five text files
  (``verify=False`` again).
* LSUN: ``{category}_train_lmdb/`` and ``{category}_val_lmdb/``, lmdb databases whose keys are
  40-hex-digit image ids and whose values are WebP-encoded RGB images, read in key order.
  ``gancore.data`` reads them itself; torchvision's ``LSUNClass`` would write a key cache
  ``_cache_<letters of the path>`` into the CURRENT working directory, so the tests
  ``monkeypatch.chdir`` to a temporary folder and check that nothing appears there.

The face and scene images are solid colours in four quadrants (:func:`quadrant_colours`), so that
after a lossy codec and a resize each quadrant's interior still has its written colour (within a few
levels) and a flip or transpose is visible.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import struct
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

__all__ = ["write_mnist", "write_cifar10", "write_celeba", "write_lsun", "mnist_arrays", "cifar10_arrays",
           "quadrant_colours", "quadrant_image", "celeba_partition", "CIFAR10_CLASSES", "CELEBA_ATTRIBUTES",
           "CELEBA_SIZE", "LSUN_SIZES"]

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CELEBA_ATTRIBUTES = (
    "5_o_Clock_Shadow Arched_Eyebrows Attractive Bags_Under_Eyes Bald Bangs Big_Lips Big_Nose Black_Hair "
    "Blond_Hair Blurry Brown_Hair Bushy_Eyebrows Chubby Double_Chin Eyeglasses Goatee Gray_Hair "
    "Heavy_Makeup High_Cheekbones Male Mouth_Slightly_Open Mustache Narrow_Eyes No_Beard Oval_Face "
    "Pale_Skin Pointy_Nose Receding_Hairline Rosy_Cheeks Sideburns Smiling Straight_Hair Wavy_Hair "
    "Wearing_Earrings Wearing_Hat Wearing_Lipstick Wearing_Necklace Wearing_Necktie Young"
).split()
CELEBA_SIZE = (178, 218)  # (width, height) of img_align_celeba
# (width, height) of the scene images, cycled: landscape, portrait, square (real LSUN: short side 256)
LSUN_SIZES = ((128, 96), (96, 128), (96, 96))
_IDX_IMAGES, _IDX_LABELS = 0x0803, 0x0801  # idx magic: 0x08 = unsigned byte, then the number of dims
_LANDMARKS = "lefteye_x lefteye_y righteye_x righteye_y nose_x nose_y leftmouth_x leftmouth_y rightmouth_x rightmouth_y"


def _rng(seed: int, what: str) -> np.random.Generator:
    """A generator per (seed, kind of content), so that sizes of one part never shift another's draws."""
    return np.random.default_rng([seed, int.from_bytes(hashlib.sha256(what.encode()).digest()[:4], "big")])


# ---------------------------------------------------------------- MNIST
def mnist_arrays(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` digit-like 28x28 uint8 images (the label's numeral drawn in white on black at a random
    offset, as in MNIST's centred 20x20 box) and their uint8 labels 0..9."""
    rng = _rng(seed, "mnist")
    labels = rng.integers(0, 10, n).astype(np.uint8)
    offsets = rng.integers(-3, 4, (n, 2))
    font = ImageFont.load_default(size=22)
    images = np.empty((n, 28, 28), np.uint8)
    for i in range(n):
        image = Image.new("L", (28, 28))
        ImageDraw.Draw(image).text((14 + offsets[i, 0], 14 + offsets[i, 1]), str(labels[i]), fill=255,
                                   font=font, anchor="mm")
        images[i] = np.asarray(image)
    return images, labels


def _write_idx(path: Path, magic: int, array: np.ndarray) -> None:
    with open(path, "wb") as f:
        f.write(struct.pack(f">{1 + array.ndim}I", magic, *array.shape))
        f.write(np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def write_mnist(root: str | os.PathLike, n_train: int = 64, n_test: int = 32, seed: int = 0) -> Path:
    """``root/MNIST/raw/`` with the four uncompressed idx files: train from ``mnist_arrays(n_train,
    seed)``, t10k from ``mnist_arrays(n_test, seed + 1)``."""
    root = Path(root)
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for prefix, n, s in (("train", n_train, seed), ("t10k", n_test, seed + 1)):
        images, labels = mnist_arrays(n, s)
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", _IDX_IMAGES, images)
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", _IDX_LABELS, labels)
    return root


# ---------------------------------------------------------------- CIFAR-10
def cifar10_arrays(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random 32x32 RGB uint8 images, height x width x channel, and their labels 0..9."""
    rng = _rng(seed, "cifar10")
    return rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, n)


def _pickle(path: Path, obj: dict) -> None:
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)


def write_cifar10(root: str | os.PathLike, n_train: int = 40, n_test: int = 16, seed: int = 0) -> Path:
    """``root/cifar-10-batches-py/`` as unpacked from cifar-10-python.tar.gz: ``cifar10_arrays(n_train,
    seed)`` split in order over data_batch_1..5, ``cifar10_arrays(n_test, seed + 1)`` in test_batch."""
    if n_train < 5:
        raise ValueError(f"n_train={n_train}: CIFAR-10 has five training batches, write at least 5 images.")
    root = Path(root)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    images, labels = cifar10_arrays(n_train, seed)
    test_images, test_labels = cifar10_arrays(n_test, seed + 1)
    batches = [(f"data_batch_{k + 1}", f"training batch {k + 1} of 5", x, y)
               for k, (x, y) in enumerate(zip(np.array_split(images, 5), np.array_split(labels, 5)))]
    batches.append(("test_batch", "testing batch 1 of 1", test_images, test_labels))
    for filename, batch_label, x, y in batches:
        _pickle(folder / filename, {
            "batch_label": batch_label,
            "labels": [int(v) for v in y],
            "data": x.transpose(0, 3, 1, 2).reshape(len(x), 3 * 32 * 32),  # R plane, G plane, B plane
            "filenames": [f"{CIFAR10_CLASSES[int(v)]}_s_{i:06d}.png" for i, v in enumerate(y)],
        })
    _pickle(folder / "batches.meta", {"num_cases_per_batch": len(batches[0][2]),
                                      "label_names": list(CIFAR10_CLASSES), "num_vis": 3 * 32 * 32})
    return root


# ---------------------------------------------------------------- images in four colours
def quadrant_colours(n: int, seed: int = 0) -> np.ndarray:
    """(n, 2, 2, 3) uint8: the RGB colour of each image's [top/bottom, left/right] quadrant."""
    return _rng(seed, "quadrants").integers(0, 256, (n, 2, 2, 3), dtype=np.uint8)


def quadrant_image(colours: np.ndarray, width: int, height: int) -> Image.Image:
    """An RGB image of ``width x height`` filled with the four quadrant ``colours`` (2, 2, 3)."""
    pixels = np.repeat(np.repeat(colours, [height // 2, height - height // 2], axis=0),
                       [width // 2, width - width // 2], axis=1)
    return Image.fromarray(pixels, "RGB")


# ---------------------------------------------------------------- CelebA
def celeba_partition(n: int) -> np.ndarray:
    """The split of image ``i + 1`` as list_eval_partition.txt gives it: 0 train, 1 valid, 2 test,
    in file order with 10% valid and 10% test (the real file: 162,770 / 19,867 / 19,962)."""
    if n < 10:
        raise ValueError(f"n={n}: write at least 10 CelebA images so that every split has one.")
    held_out = n // 10
    return np.repeat([0, 1, 2], [n - 2 * held_out, held_out, held_out])


def _write_table(path: Path, rows: list[str], count: int | None = None, header: str | None = None) -> None:
    lines = ([] if count is None else [str(count)]) + ([] if header is None else [header]) + rows
    path.write_text("\n".join(lines) + "\n")


def write_celeba(root: str | os.PathLike, n: int = 20, seed: int = 0) -> Path:
    """``root/celeba/`` as the aligned-and-cropped CelebA release: ``img_align_celeba/000001.jpg..``
    (178x218, the quadrants of ``quadrant_colours(n, seed)``), the partition of
    :func:`celeba_partition` and random attributes (+-1), identities, boxes and landmarks."""
    folder = Path(root) / "celeba"
    images = folder / "img_align_celeba"
    images.mkdir(parents=True, exist_ok=True)
    names = [f"{i + 1:06d}.jpg" for i in range(n)]
    for name, colours in zip(names, quadrant_colours(n, seed)):
        quadrant_image(colours, *CELEBA_SIZE).save(images / name, "JPEG", quality=95)
    rng = _rng(seed, "celeba")
    attributes = rng.choice([-1, 1], (n, len(CELEBA_ATTRIBUTES)))
    identities = rng.integers(1, 10_178, n)
    boxes = np.column_stack([rng.integers(0, 200, (n, 2)), rng.integers(50, 400, (n, 2))])
    landmarks = rng.integers(60, 160, (n, 10))
    _write_table(folder / "list_eval_partition.txt", [f"{a} {p}" for a, p in zip(names, celeba_partition(n))])
    _write_table(folder / "identity_CelebA.txt", [f"{a} {p}" for a, p in zip(names, identities)])
    # the real header line of attribute names ends with a space; values are right-aligned in 2 columns
    _write_table(folder / "list_attr_celeba.txt", [a + " " + " ".join(f"{v:2d}" for v in row)
                                                   for a, row in zip(names, attributes)],
                 count=n, header=" ".join(CELEBA_ATTRIBUTES) + " ")
    _write_table(folder / "list_bbox_celeba.txt", [f"{a} " + " ".join(f"{v:4d}" for v in row)
                                                   for a, row in zip(names, boxes)],
                 count=n, header="image_id x_1 y_1 width height")
    _write_table(folder / "list_landmarks_align_celeba.txt", [f"{a} " + " ".join(f"{v:4d}" for v in row)
                                                              for a, row in zip(names, landmarks)],
                 count=n, header=_LANDMARKS)
    return Path(root)


# ---------------------------------------------------------------- LSUN
def _write_lmdb(path: Path, colours: np.ndarray, what: str) -> None:
    """One LSUN database: image ``j`` of ``colours`` under the ``j``-th smallest key, so that the key
    order they are read in is the order of ``colours``."""
    import lmdb  # optional: only the LSUN writer needs it, and the tests skip LSUN without it

    keys = sorted(hashlib.sha1(f"{what}/{j}".encode()).hexdigest().encode() for j in range(len(colours)))
    env = lmdb.open(str(path), map_size=1 << 26, subdir=True)
    try:
        with env.begin(write=True) as txn:
            for j, (key, c) in enumerate(zip(keys, colours)):
                buffer = io.BytesIO()
                quadrant_image(c, *LSUN_SIZES[j % len(LSUN_SIZES)]).save(buffer, "WEBP", quality=90)
                txn.put(key, buffer.getvalue())
    finally:
        env.close()


def write_lsun(root: str | os.PathLike, category: str = "classroom", n_train: int = 12, n_val: int = 6,
               seed: int = 0) -> Path:
    """``root/{category}_train_lmdb`` (``quadrant_colours(n_train, seed)``) and ``root/{category}_val_lmdb``
    (``quadrant_colours(n_val, seed + 1)``), WebP images of the sizes in ``LSUN_SIZES``, cycled."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for part, n, s in (("train", n_train, seed), ("val", n_val, seed + 1)):
        _write_lmdb(root / f"{category}_{part}_lmdb", quadrant_colours(n, s), f"{category}_{part}")
    return root
