"""The real data sets' on-disk formats, read and checked without trusting the files.

:func:`check_mnist` checks an MNIST image/label pair of idx files against the format (28 x 28 unsigned
bytes, one label in 0..9 per image); :func:`load_cifar_batch` reads a CIFAR-10 python batch with a
restricted unpickler that only rebuilds plain containers and NumPy arrays (a crafted file cannot run
code, whether or not its MD5 was checked) and checks rows of 3,072 bytes and labels in 0..9;
:func:`check_celeba_lists` checks CelebA's five list files line by line. Every problem raises
:class:`FormatError` naming the file (``gancore.data`` turns it into ``CorruptFileError``).
"""

from __future__ import annotations

import io
import pickle
import struct
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["FormatError", "check_mnist", "load_cifar_batch", "check_celeba_lists", "CIFAR_ROW", "CELEBA_LISTS"]

CIFAR_ROW = 3 * 32 * 32


class FormatError(ValueError):
    """``path`` does not hold what its format says; ``reason`` says how."""

    def __init__(self, path: Path, reason: str):
        self.path, self.reason = Path(path), reason
        super().__init__(f"{self.path}: {reason}")


def _idx_header(path: Path) -> tuple[int, tuple[int, ...]]:
    with open(path, "rb") as f:
        head = f.read(4)
        if len(head) < 4 or head[:2] != b"\0\0":
            raise FormatError(path, "it is not an idx file")
        return head[2], struct.unpack(f">{head[3]}I", f.read(4 * head[3]))


def check_mnist(images: Path, labels: Path) -> None:
    """Check an MNIST pair (idx files whose sizes match their headers): images ``n x 28 x 28`` unsigned
    bytes, labels ``n`` unsigned bytes in 0..9, the same ``n``; swapped files are named as such."""
    kind, dims = _idx_header(images)
    if len(dims) == 1:
        raise FormatError(images, f"it holds {dims[0]} single values (a labels file?) where MNIST images "
                          f"(n x 28 x 28) belong: are the image and label files swapped?")
    if kind != 0x08 or len(dims) != 3 or dims[1:] != (28, 28):
        raise FormatError(images, f"it holds {'x'.join(map(str, dims))} entries of type 0x{kind:02X}; MNIST images "
                          "are n x 28 x 28 unsigned bytes (type 0x08)")
    kind, label_dims = _idx_header(labels)
    if len(label_dims) != 1:
        raise FormatError(labels, f"it holds {'x'.join(map(str, label_dims))} entries (images?) where MNIST labels "
                          "(one per image) belong: are the image and label files swapped?")
    if kind != 0x08:
        raise FormatError(labels, f"its labels are of type 0x{kind:02X}; MNIST labels are unsigned bytes (0x08)")
    if label_dims[0] != dims[0]:
        raise FormatError(labels, f"it holds {label_dims[0]} labels for the {dims[0]} images of {images.name}")
    values = np.frombuffer(labels.read_bytes()[8:], dtype=np.uint8)
    if values.size and values.max() > 9:
        raise FormatError(labels, f"it holds label {int(values.max())} (at index {int(values.argmax())}); MNIST's "
                          "labels are 0..9")


class _Restricted(pickle.Unpickler):
    """Rebuilds only builtin containers and NumPy arrays: any other global in the file is refused."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
               ("numpy._core.multiarray", "scalar"), ("numpy.core.numeric", "_frombuffer"),
               ("numpy._core.numeric", "_frombuffer"), ("builtins", "bytearray"), ("_codecs", "encode")}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"it asks to run {module}.{name}, which a data file never needs")


def _unpickle(path: Path) -> Any:
    try:
        return _Restricted(io.BytesIO(path.read_bytes()), encoding="latin1").load()
    except Exception as error:  # any failure to parse: a damaged or hostile file
        raise FormatError(path, f"it cannot be read as a CIFAR-10 python batch ({type(error).__name__}: {error})") \
            from error


def load_cifar_batch(path: Path, meta: bool = False) -> dict[str, Any]:
    """A CIFAR-10 python batch as ``{"data": uint8 array n x 3072, "labels": int64 array n}`` (checked:
    rows of 3,072 bytes, one label in 0..9 per row), or with ``meta`` the ``batches.meta`` dict
    (``label_names``), read by a restricted unpickler (no code from the file runs)."""
    content = _unpickle(path)
    if not isinstance(content, dict):
        raise FormatError(path, f"it holds a {type(content).__name__}, not a CIFAR-10 dict")
    content = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in content.items()}
    if meta:
        if "label_names" not in content:
            raise FormatError(path, "it has no label_names (is it batches.meta?)")
        return content
    key = "labels" if "labels" in content else "fine_labels"
    if "data" not in content or key not in content:
        raise FormatError(path, f"it has no {'data' if 'data' not in content else 'labels'} entry (keys: "
                          f"{', '.join(map(str, content))})")
    rows, labels = np.asarray(content["data"]), np.asarray(content[key])
    if rows.dtype != np.uint8 or rows.ndim != 2 or rows.shape[1] != CIFAR_ROW:
        raise FormatError(path, f"its data is {rows.dtype} of shape {rows.shape}; CIFAR-10 rows are {CIFAR_ROW} "
                          "unsigned bytes (3 x 32 x 32)")
    if labels.ndim != 1 or len(labels) != len(rows):
        raise FormatError(path, f"it holds {labels.size} labels for {len(rows)} images")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise FormatError(path, f"it holds label {int(labels.max() if labels.max() > 9 else labels.min())}; "
                          "CIFAR-10's labels are 0..9")
    return {"data": rows, "labels": labels.astype(np.int64)}


CELEBA_LISTS = {  # file -> (lines before the rows, fields per row: the image name, then integers)
    "list_eval_partition.txt": (0, 2), "identity_CelebA.txt": (0, 2), "list_attr_celeba.txt": (2, 41),
    "list_bbox_celeba.txt": (2, 5), "list_landmarks_align_celeba.txt": (2, 11)}


def check_celeba_lists(folder: Path) -> None:
    """Check each of CelebA's list files present in ``folder`` line by line: the header lines (a count,
    then the column names), then rows of an image name and integers; the count must match."""
    for name, (header, fields) in CELEBA_LISTS.items():
        path = folder / name
        if not path.is_file():
            continue
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
        if header and (len(lines) < header or not lines[0].strip().isdigit()):
            raise FormatError(path, "its first line is not the number of rows")
        for number, line in enumerate(lines[header:], header + 1):
            parts = line.split()
            if len(parts) != fields or not all(p.lstrip("-").isdigit() for p in parts[1:]):
                raise FormatError(path, f"line {number} ({line[:60]!r}) is not an image name and {fields - 1} "
                                  "integers")
        if header and int(lines[0]) != len(lines) - header:
            raise FormatError(path, f"its first line announces {int(lines[0])} rows and it holds {len(lines) - header}")
