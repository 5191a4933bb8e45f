"""gancore.provenance: what run.json files record about where a result came from."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from gancore import provenance


def _git(folder: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false", *args],
                          cwd=folder, check=True, capture_output=True, text=True).stdout.strip()


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_git_commit_names_head_and_marks_changed_tracked_files(tmp_path):
    """In a repository made here: the commit is HEAD's hash; a changed tracked file adds -dirty, an
    untracked file does not; a folder outside any repository gives unknown."""
    repo, outside = tmp_path / "repo", tmp_path / "outside"
    (repo / "sub").mkdir(parents=True)
    outside.mkdir()
    _git(repo, "init", "-q")
    (repo / "sub" / "a.txt").write_text("one\n")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "first")
    head = _git(repo, "rev-parse", "HEAD")
    assert re.fullmatch(r"[0-9a-f]{40}", head)
    assert provenance.git_commit(repo) == head
    assert provenance.git_commit(repo / "sub") == head
    (repo / "new.txt").write_text("untracked\n")
    assert provenance.git_commit(repo) == head
    (repo / "sub" / "a.txt").write_text("two\n")
    assert provenance.git_commit(repo) == head + "-dirty"
    assert provenance.git_commit(outside) == "unknown"


@pytest.mark.skipif(not (Path(__file__).resolve().parents[1] / ".git").exists(), reason="not a git checkout")
def test_git_commit_of_this_checkout_is_its_head():
    here = Path(__file__).parent
    commit = provenance.git_commit(here)
    assert commit.removesuffix("-dirty") == _git(here, "rev-parse", "HEAD")
    assert commit.endswith("-dirty") == bool(_git(here, "status", "--porcelain", "--untracked-files=no"))


def test_versions_name_every_package_and_python():
    found = provenance.versions()
    assert set(found) == set(provenance.PACKAGES) | {"python"} and all(found.values())
