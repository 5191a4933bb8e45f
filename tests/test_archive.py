"""gancore.archive: the release tarball holds exactly the book, notebooks, stored runs and release
files of one commit, its checksum is right, and the same tree gives the same bytes."""

from __future__ import annotations

import hashlib
import subprocess
import tarfile

import pytest

from gancore import __version__, archive


def _git(top, *args):
    subprocess.run(["git", "-C", str(top), *args], check=True, capture_output=True,
                   env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@t", "PATH": "/usr/bin:/bin"})


@pytest.fixture
def tree(tmp_path):
    top = tmp_path / "top"
    for name, text in {"_build/html/index.html": "<html/>", "book/executed/a.ipynb": "{}",
                       "results/a/run1/run.json": "{}", "results/a/run1/checkpoints/c.pt": "x",
                       "results/a/run1/work/j/w": "x", "requirements.lock": "torch==2.14.1\n", "LICENSE": "MIT",
                       "CITATION.cff": "cff-version: 1.2.0\n", "gancore/x.py": "1\n"}.items():
        (top / name).parent.mkdir(parents=True, exist_ok=True)
        (top / name).write_text(text)
    _git(top, "init", "-q")
    _git(top, "add", "-A")
    _git(top, "commit", "-qm", "x")
    return top


def test_the_archive_holds_the_release_and_its_checksum(tree, tmp_path):
    target = archive.archive(tree, tmp_path)
    commit = subprocess.run(["git", "-C", str(tree), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    stem = f"gancore-{__version__}-{commit[:12]}"
    assert target.name == f"{stem}.tar.gz"
    with tarfile.open(target) as tar:
        names = sorted(tar.getnames())
        assert tar.extractfile(f"{stem}/COMMIT").read().decode().strip() == commit
    assert names == sorted(f"{stem}/{n}" for n in ["COMMIT", "_build/html/index.html", "book/executed/a.ipynb",
                                                  "results/a/run1/run.json", "requirements.lock", "LICENSE",
                                                  "CITATION.cff"])
    digest, name = (tmp_path / f"{stem}.tar.gz.sha256").read_text().split()
    assert name == target.name and digest == hashlib.sha256(target.read_bytes()).hexdigest()
    again = archive.archive(tree, tmp_path / "again" if (tmp_path / "again").mkdir() is None else None)
    assert again.read_bytes() == target.read_bytes()  # reproducible bytes


def test_a_dirty_tree_or_a_missing_book_is_refused(tree, tmp_path):
    (tree / "LICENSE").write_text("changed")
    with pytest.raises(ValueError, match="-dirty"):
        archive.archive(tree, tmp_path)
    _git(tree, "checkout", "LICENSE")
    _git(tree, "rm", "-rq", "_build")
    _git(tree, "commit", "-qm", "no book")
    with pytest.raises(FileNotFoundError, match="missing _build/html"):
        archive.archive(tree, tmp_path)
