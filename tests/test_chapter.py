"""gancore.chapter: the facade a chapter talks to decides declared claims only, refuses to show a table
with an undecided claim, and reads stored runs with their own settings (old names mapped)."""

from __future__ import annotations

import json

import IPython.display
import myst_nb
import pandas as pd
import pytest

from gancore import chapter, claims, stats

PAPER = '''
title = "Toy"
reference = "Someone 2024"
code = "none found"

[config]
"ring.steps" = 3000

[claims.ordering]
kind = "paper"
claim = "A beats B"
source = "Fig. 1"
paper = "0.9 vs 0.1"
direction = ">"
margin = 0.1
section = "sec-a"

[claims.faces]
kind = "paper"
claim = "faces"
source = "Fig. 2"
paper = "images"
direction = ">"
needs = "CelebA"
command = "make chapter NAME=alpha_gan PROFILE=paper"
cost = "1 GPU hour"
section = "sec-b"
'''


@pytest.fixture
def top(tmp_path):
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "alpha_gan.paper.toml").write_text(PAPER)
    run = tmp_path / "results" / "alpha_gan" / "20260101-000000-quick"
    run.mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({
        "chapter": "alpha_gan", "parameters": {"profile": "quick", "overrides": {"ring_steps": 3000, "ring_seeds": 8}},
        "git_commit": "abcdef0123", "device": "cpu", "wall_seconds": 7200.0, "date": "2026-01-01T00:00:00+00:00"}))
    pd.DataFrame({"seed": [0, 1], "success": [1, 0]}).to_csv(run / "ring.csv", index=False)
    return tmp_path


@pytest.fixture
def shown(monkeypatch):
    out = []
    monkeypatch.setattr(IPython.display, "display", lambda obj, raw=False, metadata=None: out.append(metadata))
    monkeypatch.setattr(myst_nb, "glue", lambda name, obj, display=True: None)
    return out


def test_a_stored_run_brings_its_own_settings_with_old_names_mapped(top):
    ch = chapter.Chapter("alpha_gan", "quick", "cpu", 0, {}, top=top)
    run, = ch.stored()
    assert run.label == "20260101-000000-quick" and run.settings.ring.steps == 3000 and run.settings.ring.seeds == 8
    assert run["ring"].success.tolist() == [1, 0]
    assert "commit abcdef0" in run.provenance and "ring.steps=3000" in run.provenance and "2.0 h" in run.provenance
    assert ch.run("20260101-000000-quick").folder == run.folder
    with pytest.raises(FileNotFoundError, match="present: 20260101-000000-quick"):
        ch.run("nope")
    with pytest.raises(KeyError, match="has no table 'curves'"):
        run["curves"]
    assert ch.stored(lambda r: r.settings.ring.steps > 5000) == []


def test_claims_are_decided_at_the_settings_that_made_them(top, shown):
    ch = chapter.Chapter("alpha_gan", "quick", "cpu", 0, {}, top=top)
    evidence = stats.compare_rates(15, 16, 2, 16)
    here = ch.claim("ordering", evidence)  # the quick profile runs fewer steps than the declared 3,000
    assert here.finding.verdict == "inconclusive at this scale" and "ring.steps" in here.finding.configuration
    stored = ch.claim("ordering", evidence, run=ch.run("20260101-000000-quick"), note="success")
    assert stored.finding.verdict == "reproduced" and stored.ours.startswith("success (20260101-000000-quick): ")
    ch.show_claims()
    rows = pd.DataFrame(shown[0][claims.MIME]["rows"])
    assert rows.key.tolist() == ["ordering", "faces"] and rows.verdict[1] == "not testable here"


def test_undecided_or_undeclared_claims_are_errors_naming_the_chapter(top, shown):
    ch = chapter.Chapter("alpha_gan", "quick", "cpu", 0, {}, top=top)
    with pytest.raises(ValueError, match="never decided: ordering"):
        ch.show_claims()
    with pytest.raises(KeyError, match="declared: ordering, faces"):
        ch.claim("orderin", stats.compare_rates(1, 2, 1, 2))
    with pytest.raises(ValueError, match="alpha_gan, claim 'ordering': an ordering claim"):
        ch.claim("ordering", stats.wilson(1, 2))
    assert shown == []


def test_a_chapter_without_a_paper_file_has_no_claims(tmp_path, capsys):
    (tmp_path / "book").mkdir()
    ch = chapter.Chapter("toolkit", "quick", "cpu", 0, {}, top=tmp_path)
    assert ch.paper is None and ch.settings.steps > 0
    with pytest.raises(ValueError, match="no paper file"):
        ch.claim("x")


def test_open_names_the_data_from_the_resolved_settings(top, capsys):
    import gancore.runs

    original = gancore.runs.top_folder
    gancore.runs.top_folder = lambda: top
    try:
        chapter.open("alpha_gan", "quick", "cpu", 0, {"ring": {"steps": 7}}, data=lambda P: f"ring of {P.ring.steps}")
    finally:
        gancore.runs.top_folder = original
    first = capsys.readouterr().out.splitlines()[0]
    assert "| data ring of 7 |" in first and "ring.steps=7" in first
