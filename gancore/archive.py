"""A citable release: one versioned tarball of what a reader needs to check the book without
re-running it (``make archive``), ready for an archive that issues DOIs (Zenodo, Software Heritage).

``gancore-VERSION-COMMIT.tar.gz`` holds, under one top folder: the HTML book (``_build/html``), the
executed notebooks (``book/executed``), the stored runs (``results/``, without checkpoints or running
jobs' work folders), the lock file, LICENSE, CITATION.cff and a ``COMMIT`` file naming the commit; a
``.sha256`` file beside it holds its checksum in ``sha256sum`` format. Members are added in sorted
order with fixed owners and times, so the same tree gives the same bytes.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import os
import tarfile
from pathlib import Path

from . import __version__, provenance, storage

__all__ = ["CONTENTS", "archive", "main"]

CONTENTS = ("_build/html", "book/executed", "results", "requirements.lock", "LICENSE", "CITATION.cff")
_SKIP = {"checkpoints", "work", "__pycache__"}


def _files(top: Path) -> list[Path]:
    missing = [name for name in CONTENTS if not (top / name).exists()]
    if missing:
        raise FileNotFoundError(f"cannot archive {top}: missing {', '.join(missing)} (build the book first: "
                                "`make book`, or `make html` for the stored notebooks)")
    found = []
    for name in CONTENTS:
        path = top / name
        if path.is_file():
            found.append(path)
            continue
        found += [p for p in path.rglob("*") if p.is_file() and not _SKIP & set(p.relative_to(top).parts)]
    return sorted(found)


def _info(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode, info.uid, info.gid, info.uname, info.gname = size, 0, 0o644, 0, 0, "", ""
    return info


def archive(top: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Write the release tarball of the tree ``top`` into folder ``out`` (module docstring) and its
    ``.sha256``; returns the tarball's path. A tree with uncommitted changes is refused: a release
    names one commit."""
    top, out = Path(top), Path(out)
    commit = provenance.git_commit(top)
    if commit.endswith("-dirty") or commit == "unknown":
        raise ValueError(f"cannot archive {top}: its commit is {commit!r}; commit (or stash) the changes first, "
                         "so that the release names exactly one commit")
    stem = f"gancore-{__version__}-{commit[:12]}"
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        note = f"{commit}\n".encode()
        tar.addfile(_info(f"{stem}/COMMIT", len(note)), io.BytesIO(note))
        for path in _files(top):
            data = path.read_bytes()
            tar.addfile(_info(f"{stem}/{path.relative_to(top).as_posix()}", len(data)), io.BytesIO(data))
    target = out / f"{stem}.tar.gz"
    storage.atomic_write(target, buffer.getvalue())
    digest = hashlib.sha256(buffer.getvalue()).hexdigest()
    storage.atomic_write(out / f"{stem}.tar.gz.sha256", f"{digest}  {target.name}\n")
    return target


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m gancore.archive", description=__doc__.split("\n\n")[0])
    parser.add_argument("--top", default=".", help="the compendium's top folder (default: here)")
    parser.add_argument("--out", default="_build/archive", help="where the tarball goes (default: _build/archive)")
    args = parser.parse_args(argv)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    target = archive(args.top, args.out)
    print(f"{target} ({target.stat().st_size / 1e6:.1f} MB); checksum in {target.name}.sha256")


if __name__ == "__main__":
    main()
