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

Result tables are written by :func:`write_table`, which returns the table's *record* (rows, columns,
seeds, SHA-256 of the bytes) for the ``run.json`` beside it, and read back by :func:`read_table`, the
one checked reader of stored tables: it compares the file with that record (or, for a table stored
before records existed, its seeds with the seeds its run says it ran, and looks for duplicated rows).
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
           "save_torch", "load_torch", "write_table", "table_record", "read_table"]

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


def _seeds(table: pd.DataFrame) -> list[int] | None:
    return sorted(int(s) for s in pd.unique(table["seed"])) if "seed" in table.columns else None


def table_record(table: pd.DataFrame, text: bytes | None = None) -> dict[str, Any]:
    """What :func:`read_table` checks a stored table against: its rows, columns, seeds (when it has a
    ``seed`` column) and the SHA-256 of its CSV bytes (``text``, default ``table`` as written)."""
    text = table.to_csv(index=False).encode() if text is None else text
    return {"rows": len(table), "columns": [str(c) for c in table.columns], "seeds": _seeds(table),
            "sha256": hashlib.sha256(text).hexdigest()}


def write_table(path: str | os.PathLike, table: pd.DataFrame) -> dict[str, Any]:
    """``table`` as CSV written atomically (:func:`write_csv`); returns its :func:`table_record`."""
    text = table.to_csv(index=False).encode()
    atomic_write(path, text)
    return table_record(table, text)


def read_table(path: str | os.PathLike, record: dict[str, Any] | None = None, seeds: list[int] | None = None,
               columns: list[str] | tuple[str, ...] = (), advice: str = "") -> pd.DataFrame:
    """The stored table at ``path``, checked: against ``record`` (:func:`table_record`, from the run's
    ``run.json``: bytes, rows, columns, seeds) when there is one, else (a table stored before records
    existed) its ``seed`` column against ``seeds`` (the seeds its run ran, when known) and its rows for
    duplicates; and it must have ``columns``. Any mismatch raises :class:`CorruptFileError` naming the
    file, what differs and ``advice`` (how to recreate it)."""
    path = Path(path)
    if not path.is_file():
        raise CorruptFileError(path, "it is missing, though its run's run.json lists it", advice)
    raw = path.read_bytes()
    try:
        table = pd.read_csv(io.BytesIO(raw))
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as e:
        raise CorruptFileError(path, f"it is not a readable CSV table ({e})", advice) from e
    found = table_record(table, raw)
    if record:
        wrong = [f"{k} {_brief(found[k])} where its run.json records {_brief(record[k])}"
                 for k in ("rows", "columns", "seeds") if k in record and record[k] != found[k]]
        if wrong or ("sha256" in record and record["sha256"] != found["sha256"]):
            raise CorruptFileError(path, "it is not the table its run wrote: " + ("; ".join(wrong) or
                                   "same rows and columns but other contents (sha256 differs)"), advice)
    elif "seed" in table.columns:
        if seeds is not None and found["seeds"] != sorted(seeds):
            raise CorruptFileError(path, f"it holds seeds {_brief(found['seeds'])} where its run ran "
                                   f"{_brief(sorted(seeds))} (rows cut or added)", advice)
        duplicated = int(table.duplicated().sum())
        if duplicated:
            raise CorruptFileError(path, f"{duplicated} of its {len(table)} rows repeat another row exactly "
                                   "(rows appended twice?)", advice)
    lacking = [c for c in columns if c not in table.columns]
    if lacking:
        raise CorruptFileError(path, f"it has no column(s) {', '.join(lacking)} (its columns: "
                               f"{', '.join(map(str, table.columns))})", advice or
                               "It was written by another version of the experiment: re-run it.")
    return table


def _brief(value: Any) -> str:
    if isinstance(value, list) and len(value) > 8 and all(isinstance(v, int) for v in value):
        return f"{len(value)} values {value[0]}..{value[-1]}"
    return repr(value)


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
