"""gancore.status: the status page says what the executed notebooks and stored runs record, whether each
chapter is current, and what nbval reported."""

from __future__ import annotations

import json

import pandas as pd

from gancore import freshness, status

TOC = "format: jb-book\nroot: book/intro\nparts:\n  - chapters:\n      - file: book/executed/toy\n" \
      "      - file: book/executed/other\n"
JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">
<testcase classname="book.executed.toy.ipynb" name="Cell 0"/>
<testcase classname="book.executed.toy.ipynb" name="Cell 1"/>
<testcase classname="book.executed.other.ipynb" name="Cell 0"><failure message="x">diff</failure></testcase>
<testcase classname="book.executed.other.ipynb" name="Cell 1"/>
</testsuite></testsuites>"""


def _tree(top):
    (top / "book" / "executed").mkdir(parents=True)
    (top / "_toc.yml").write_text(TOC)
    (top / "requirements.lock").write_text("x==1\n")
    for name in ("toy", "other"):
        (top / "book" / f"{name}.md").write_text("# T\n")
    run = top / "results" / "toy" / "sweep-a"
    run.mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"kind": "sweep", "device": "cpu", "git_commit": "fedcba9876543210",
                                              "date": "2026-12-01T00:00:00", "wall_seconds": 7200}))
    pd.DataFrame({"seed": [0, 1, 1], "x": [1, 2, 3]}).to_csv(run / "ring.csv", index=False)
    meta = {"gancore": {"commit": "0123456789abcdef-dirty", "date": "2026-12-07T12:00:00+00:00", "profile": "quick",
                        "device": "cpu", "numerics": "portable", "wall_seconds": 42.4},
            freshness.KEY: freshness.inputs_hash("toy", top)}
    (top / "book" / "executed" / "toy.ipynb").write_text(json.dumps({"metadata": meta, "cells": []}))


def test_chapters_report_their_execution_and_whether_they_are_current(tmp_path):
    _tree(tmp_path)
    rows = status.chapters(tmp_path).set_index("chapter")
    assert rows.loc["toy", "current"] == "yes" and rows.loc["toy", "wall (s)"] == "42"
    assert rows.loc["toy", "commit"] == "0123456789ab (dirty)" and rows.loc["toy", "numerics"] == "portable"
    assert rows.loc["other", "executed"] == "never"
    (tmp_path / "book" / "toy.md").write_text("# T changed\n")
    assert status.chapters(tmp_path).set_index("chapter").loc["toy", "current"] == "no: its inputs changed since"


def test_nbval_results_are_read_per_notebook(tmp_path):
    assert status.nbval_results(tmp_path / "missing.xml") == {}
    (tmp_path / "r.xml").write_text(JUNIT)
    assert status.nbval_results(tmp_path / "r.xml") == {"toy": "passed (2 cells)", "other": "failed (1 of 2 cells)"}


def test_the_page_lists_chapters_and_stored_runs(tmp_path):
    _tree(tmp_path)
    (tmp_path / "_build").mkdir()
    (tmp_path / "_build" / "nbval.xml").write_text(JUNIT)
    text = status.page(tmp_path)
    assert text.startswith("(status)=\n# Status")
    assert "| toy " in text and "passed (2 cells)" in text
    assert "sweep-a" in text and "ring: 3 rows, 2 seeds" in text and "| 2.0 " in text and "fedcba987654" in text


def test_sweeps_in_progress_count_their_stored_jobs_against_the_plan(tmp_path):
    _tree(tmp_path)  # results/toy/sweep-a is merged (run.json on top): not in progress
    (tmp_path / "results" / "toy" / "sweep-a" / "sweep.json").write_text(json.dumps({"seeds": "0-3"}))
    landing = tmp_path / "results" / "toy" / "landing"
    for job, commit, wall in (("a1", "921c7106a0ea0000", 1800), ("b2", "921c7106a0ea0000", 5400)):
        (landing / "jobs" / job).mkdir(parents=True)
        (landing / "jobs" / job / "run.json").write_text(json.dumps({"git_commit": commit, "wall_seconds": wall}))
    (landing / "jobs" / "c3").mkdir()  # a job still running: no run.json yet
    # 5 seeds in blocks of 2 -> 3 blocks, times a grid of 2 cells: 6 jobs planned
    (landing / "sweep.json").write_text(json.dumps({"seeds": "0-4", "seeds_per_job": 2,
                                                    "grid": {"images.methods": [["SRFB"], ["EG"]]}}))
    (tmp_path / "results" / "toy" / "PLAN.md").write_text("# plan\n")
    table = status.sweeps_in_progress(tmp_path)
    assert table.to_dict("records") == [{"chapter": "toy", "sweep": "landing", "jobs stored": "2 of 6",
                                         "seeds": "0-4", "commit": "921c7106a0ea", "wall so far (h)": "2.0",
                                         "plan": "results/toy/PLAN.md"}]
    assert "## Sweeps in progress" in status.page(tmp_path) and "| 2 of 6 " in status.page(tmp_path)
    (landing / "sweep.json").unlink()
    assert status.sweeps_in_progress(tmp_path).empty and "(none)" in status.page(tmp_path).split("in progress")[1]
