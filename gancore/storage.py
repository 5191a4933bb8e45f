"""Writing files so that a crash never leaves a half-written one, and reading them back safely.

Every file the library writes (checkpoints, ``run.json``, result tables, caches, DO-GAN strategies)
goes through :func:`atomic_write`: the bytes go to a temporary file with a unique name in the same
folder, are flushed and ``fsync``-ed, and the temporary file is then renamed over the target
(``os.replace``, atomic on POSIX). A reader therefore sees the old file or the new one, never a
mixture, and two writers never share a temporary file.

Tensors are stored by :func:`save_torch`: a one-line header ``GANCORE-TORCH 1 <sha256>`` followed by
``torch.save``'s bytes. :func:`load_torch` checks the header and the checksum and then unpickles with
``torch.load(weights_only=True)``, which only rebuilds tensors and plain containers and never runs
code from the file. A file that is missing, truncated, tampered with or of another format gives one
:class:`CorruptFileError` that names the file and says what to do.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, Callable

import pandas as pd
import torch

__all__ = ["CorruptFileError", "atomic_write", "write_json", "read_json", "write_csv", "read_csv",
           "save_torch", "load_torch"]

_MAGIC = b"GANCORE-TORCH 1 "
_DIGEST_HEX = 64  # sha256


class CorruptFileError(ValueError):
    """A file could not be read back: ``path`` is the file, ``reason`` what was wrong with it."""

    def __init__(self, path: str | os.PathLike, reason: str, advice: str = ""):
        self.path, self.reason = Path(path), reason
        advice = advice or "Delete it and re-create it (re-run what wrote it); never load a file of unknown origin."
        super().__init__(f"Cannot read {self.path}: {reason}. {advice}")


def atomic_write(path: str | os.PathLike, data: bytes | str | Callable[[BinaryIO], None]) -> Path:
    """Write ``data`` (bytes, text as UTF-8, or a function that writes to a binary file object) to
    ``path`` atomically: unique temporary file in the same folder, flush, fsync, rename. The folder is
    created if needed. Returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            if callable(data):
                data(f)
            else:
                f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)
    return path


def _fsync_folder(folder: Path) -> None:
    # make the rename itself durable; not every file system lets a folder be opened for this
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """``obj`` as indented JSON, written atomically."""
    return atomic_write(path, json.dumps(obj, indent=2) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    """The JSON in ``path``; an unreadable or half-written file gives :class:`CorruptFileError`."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CorruptFileError(path, f"it is not valid JSON ({e})") from e


def write_csv(path: str | os.PathLike, table: pd.DataFrame) -> Path:
    """``table`` as CSV without the index, written atomically."""
    return atomic_write(path, table.to_csv(index=False))


def read_csv(path: str | os.PathLike) -> pd.DataFrame:
    """The table in ``path``; an empty or malformed file gives :class:`CorruptFileError`."""
    path = Path(path)
    try:
        return pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as e:
        raise CorruptFileError(path, f"it is not a readable CSV table ({e})") from e


def save_torch(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save(obj)`` behind a checksummed header, written atomically. ``obj`` must hold only
    tensors and plain containers (dict, list, tuple, str, int, float, bool, None), so that
    :func:`load_torch` can read it with ``weights_only=True``."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    payload = buffer.getvalue()
    header = _MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n"
    return atomic_write(path, header + payload)


def load_torch(path: str | os.PathLike, map_location: str | torch.device | None = "cpu") -> Any:
    """Read a file written by :func:`save_torch`: the checksum must match and the payload is
    unpickled with ``weights_only=True`` (no code from the file is ever run). Any other outcome
    raises :class:`CorruptFileError` naming the file; a missing file raises ``FileNotFoundError``."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No such file: {path}.")
    raw = path.read_bytes()
    head = len(_MAGIC) + _DIGEST_HEX + 1
    if not raw:
        raise CorruptFileError(path, "it is empty (a write was interrupted?)")
    if not raw.startswith(_MAGIC) or len(raw) < head or raw[head - 1:head] != b"\n":
        raise CorruptFileError(path, "it is not a gancore file (no 'GANCORE-TORCH 1' checksum header): it "
                               "was written by something else, or by a gancore version before checksums")
    digest, payload = raw[len(_MAGIC):head - 1].decode(errors="replace"), raw[head:]
    if hashlib.sha256(payload).hexdigest() != digest:
        raise CorruptFileError(path, "its checksum does not match its contents (truncated or modified)")
    try:
        return torch.load(io.BytesIO(payload), map_location=map_location, weights_only=True)
    except Exception as e:  # the checksum matched, so this is a file we would not have written
        raise CorruptFileError(path, f"its contents cannot be loaded safely ({type(e).__name__}: {e})") from e
