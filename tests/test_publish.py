"""`make publish`: .ci/publish.sh writes a built HTML folder to the gh-pages branch with ghp-import
(and a .nojekyll file), pushing only when a remote is named. Run here on a fake HTML folder in a
temporary git repository, never on this repository's branches."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PUBLISH = REPO / ".ci" / "publish.sh"


def _env(home: Path) -> dict:
    env = dict(os.environ, HOME=str(home), GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1",
               GIT_AUTHOR_NAME="test", GIT_AUTHOR_EMAIL="test@example.org",
               GIT_COMMITTER_NAME="test", GIT_COMMITTER_EMAIL="test@example.org")
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        env.pop(name, None)
    ghp_import = shutil.which("ghp-import", path=str(Path(sys.executable).parent))
    if ghp_import:  # the running environment's (the Makefile's .venv); else .ci/publish.sh's default
        env["GHP_IMPORT"] = ghp_import
    return env


def _git(env, *args, cwd) -> str:
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


def _refs() -> str:
    return subprocess.run(["git", "-C", str(REPO), "for-each-ref", "--format=%(refname) %(objectname)"],
                          capture_output=True, text=True).stdout


@pytest.fixture
def clone(tmp_path):
    """A fresh repository with one commit and a fake built book in _build/html (ignored, as here)."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    env = _env(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    _git(env, "init", "-q", "-b", "main", cwd=work)
    (work / ".gitignore").write_text("_build/\n")
    (work / "README.md").write_text("a book\n")
    _git(env, "add", ".", cwd=work)
    _git(env, "commit", "-q", "-m", "start", cwd=work)
    html = work / "_build" / "html"
    (html / "book").mkdir(parents=True)
    (html / "_static").mkdir()
    (html / "index.html").write_text('<meta http-equiv="Refresh" content="0; url=book/intro.html" />\n')
    (html / "book" / "intro.html").write_text("<html><body><h1>Games in GAN training</h1></body></html>\n")
    (html / "_static" / "style.css").write_text("body {}\n")
    return work, html, env


def _publish(work, html, env, *remote, check=True):
    return subprocess.run([str(PUBLISH), str(html.relative_to(work)), *remote], cwd=work, env=env,
                          capture_output=True, text=True, check=check)


def test_publish_writes_the_gh_pages_branch(clone):
    work, html, env = clone
    before = _refs()
    head = _git(env, "rev-parse", "HEAD", cwd=work)
    out = _publish(work, html, env)
    assert "not pushed" in out.stdout
    assert _git(env, "show", "gh-pages:index.html", cwd=work) == (html / "index.html").read_text()
    assert _git(env, "show", "gh-pages:book/intro.html", cwd=work) == (html / "book" / "intro.html").read_text()
    files = _git(env, "ls-tree", "-r", "--name-only", "gh-pages", cwd=work).split()
    assert sorted(files) == [".nojekyll", "_static/style.css", "book/intro.html", "index.html"]
    # The branch is only written: the checkout, its branch and the working tree are as they were.
    assert _git(env, "rev-parse", "HEAD", cwd=work) == head
    assert _git(env, "branch", "--show-current", cwd=work).strip() == "main"
    assert _git(env, "status", "--porcelain", cwd=work) == ""
    assert "The book, built from" in _git(env, "log", "-1", "--format=%s", "gh-pages", cwd=work)
    # Publishing again adds a commit on top of the last one.
    (html / "book" / "intro.html").write_text("<html><body><h1>Second edition</h1></body></html>\n")
    _publish(work, html, env)
    assert "Second edition" in _git(env, "show", "gh-pages:book/intro.html", cwd=work)
    assert _git(env, "rev-list", "--count", "gh-pages", cwd=work).strip() == "2"
    assert _refs() == before, "this repository's branches changed"


def test_publish_pushes_only_to_a_named_remote(clone, tmp_path):
    work, html, env = clone
    remote = tmp_path / "remote.git"
    _git(env, "init", "-q", "--bare", str(remote), cwd=tmp_path)
    _git(env, "remote", "add", "origin", str(remote), cwd=work)
    _publish(work, html, env)
    assert _git(env, "branch", "--list", "gh-pages", cwd=remote) == "", "pushed without REMOTE"
    out = _publish(work, html, env, "origin")
    assert "pushed to origin" in out.stdout
    assert _git(env, "show", "gh-pages:index.html", cwd=remote) == (html / "index.html").read_text()
    assert _git(env, "show", "gh-pages:.nojekyll", cwd=remote) == ""


def test_publish_without_a_built_book_says_so(clone):
    work, html, env = clone
    (html / "index.html").unlink()
    out = _publish(work, html, env, check=False)
    assert out.returncode != 0 and "make html" in out.stderr
    assert _git(env, "branch", "--list", "gh-pages", cwd=work) == ""


def test_make_publish_calls_the_script_with_the_remote():
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    dry = subprocess.run(["make", "-n", "-C", str(REPO), "publish", "REMOTE=upstream"],
                         capture_output=True, text=True, check=True).stdout
    assert "jupyter-book build" in dry and ".ci/publish.sh _build/html upstream" in dry
    dry = subprocess.run(["make", "-n", "-C", str(REPO), "publish"], capture_output=True, text=True, check=True).stdout
    assert ".ci/publish.sh _build/html \n" in dry or dry.rstrip().endswith(".ci/publish.sh _build/html")
