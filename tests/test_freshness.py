"""gancore.freshness: the inputs hash changes exactly when something the chapter reads changes."""

from __future__ import annotations

import json
from pathlib import Path

from gancore import freshness

CHAPTER = ("---\njupytext: {}\n---\n# T\n```{code-cell} ipython3\nfrom gancore import (\n    beta,\n)\n"
           "from gancore.sub import deep\n```\n")


def _tree(top: Path) -> Path:
    package = top / "gancore"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("from . import alpha\n")
    (package / "alpha.py").write_text("X = 1\n")
    (package / "beta.py").write_text("from .gamma import y\n")
    (package / "gamma.py").write_text("y = 2\n")
    (package / "unused.py").write_text("z = 3\n")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "deep.py").write_text("from .. import alpha\n")
    (top / "book").mkdir()
    (top / "book" / "toy.md").write_text(CHAPTER)
    (top / "requirements.lock").write_text("torch==2.14.1\n")
    return package


def test_the_import_closure_follows_relative_and_package_imports(tmp_path):
    package = _tree(tmp_path)
    assert freshness.imported_modules(CHAPTER, package) == ["", "alpha", "beta", "gamma", "sub", "sub.deep"]


def test_the_hash_changes_exactly_when_an_input_changes(tmp_path):
    package = _tree(tmp_path)
    before = freshness.inputs_hash("toy", tmp_path)
    assert freshness.inputs_hash("toy", tmp_path) == before  # deterministic
    (package / "unused.py").write_text("z = 4\n")
    assert freshness.inputs_hash("toy", tmp_path) == before  # a module the chapter never imports
    for path, text in [(package / "gamma.py", "y = 3\n"), (tmp_path / "requirements.lock", "torch==2.15\n"),
                       (tmp_path / "book" / "toy.md", CHAPTER + "more\n")]:
        path.write_text(text)
        after = freshness.inputs_hash("toy", tmp_path)
        assert after != before, path
        before = after
    run = tmp_path / "results" / "toy" / "run1"
    (run / "jobs" / "j1").mkdir(parents=True)
    (run / "sweep.json").write_text("{}")
    (run / "jobs" / "j1" / "run.json").write_text("{}")  # a sweep whose jobs are still landing: not read yet
    (tmp_path / "results" / "toy" / "PLAN.md").write_text("notes")
    assert freshness.inputs_hash("toy", tmp_path) == before
    (run / "table.csv").write_text("a\n1\n")
    (run / "run.json").write_text("{}")  # merged: a stored run it reads
    assert freshness.inputs_hash("toy", tmp_path) != before
    before = freshness.inputs_hash("toy", tmp_path)
    (run / "jobs" / "j1" / "run.json").write_text('{"changed": 1}')  # its jobs are part of it
    assert freshness.inputs_hash("toy", tmp_path) != before
    assert freshness.inputs_hash("toy", tmp_path, profile="paper") != freshness.inputs_hash("toy", tmp_path)


def test_the_recorded_hash_is_read_from_the_notebook_metadata(tmp_path):
    nb = tmp_path / "toy.ipynb"
    nb.write_text(json.dumps({"metadata": {freshness.KEY: "abc"}, "cells": []}))
    assert freshness.recorded_hash(nb) == "abc"
    nb.write_text("not json")
    assert freshness.recorded_hash(nb) is None
    assert freshness.recorded_hash(tmp_path / "missing.ipynb") is None


def test_stored_runs_count_wherever_the_tree_lies(tmp_path):
    """A tree under a folder named "work" (as /work/main) still hashes its stored runs; a running job's
    work folder and checkpoints inside results/ do not count."""
    top = tmp_path / "work" / "main"
    _tree(top)
    before = freshness.inputs_hash("toy", top)
    (top / "results" / "toy" / "run1" / "work" / "job").mkdir(parents=True)
    (top / "results" / "toy" / "run1" / "work" / "job" / "state.pt").write_text("x")
    (top / "results" / "toy" / "run1" / "checkpoints").mkdir()
    (top / "results" / "toy" / "run1" / "checkpoints" / "c.pt").write_text("x")
    (top / "results" / "toy" / "PLAN.md").write_text("runs still to make")  # a note beside the runs
    assert freshness.inputs_hash("toy", top) == before
    (top / "results" / "toy" / "run1" / "run.json").write_text("{}")
    (top / "results" / "toy" / "run1" / "table.csv").write_text("a\n1\n")
    assert top / "results" / "toy" / "run1" / "table.csv" in freshness.inputs("toy", top)
    assert not any("work" in p.relative_to(top).parts or "checkpoints" in p.parts for p in freshness.inputs("toy", top))
    assert freshness.inputs_hash("toy", top) != before
