"""Claims: the paper file is read and checked, rows are decided against its declared configuration,
and what a chapter shows is what the scorecard reads back."""

from __future__ import annotations

import json
import textwrap

import IPython.display
import myst_nb
import pandas as pd
import pytest

from gancore import claims, stats

PAPER = textwrap.dedent('''
    title = "A toy paper"
    reference = "Someone, A toy paper, 2024"
    code = "none found"
    arxiv = "0000.00000"

    [config]
    "ring.steps" = 1000
    "ring.lr" = 1e-4

    [tables.fig1]
    cell = ["A", "B"]
    rate = [0.9, 0.1]

    [claims.a-beats-b]
    kind = "paper"
    claim = "A beats B"
    source = "Fig. 1"
    paper = "0.9 vs 0.1 (200 seeds)"
    n = 200
    direction = ">"
    margin = 0.1
    irrelevant = { "ring.lr" = "the toy's optimum does not depend on it" }
    section = "sec-a"

    [claims.b-fails]
    kind = "paper"
    claim = "B fails 30% of seeds"
    source = "Table 2"
    paper = "0.30 (200 seeds)"
    direction = "="
    value = 0.3
    margin = 0.05
    section = "sec-b"

    [claims.celeba]
    kind = "paper"
    claim = "A makes faces"
    source = "Fig. 3"
    paper = "images"
    direction = "<"
    needs = "CelebA and a GPU"
    command = "make chapter NAME=toy PROFILE=paper"
    cost = "about 2 GPU hours"
    section = "sec-c"

    [claims.identity]
    kind = "theory"
    claim = "the closed form solves the program"
    source = "Theorem 1"
    paper = "exact"
    direction = "="
    value = 0.0
    margin = 1e-6
    config = {}
    section = "sec-d"
''')


@pytest.fixture
def paper(tmp_path):
    (tmp_path / "toy.paper.toml").write_text(PAPER)
    return claims.paper_file("toy", tmp_path)


def _rows(paper) -> list[claims.Claim]:
    ours = {"ring": {"steps": 1000, "lr": 2e-4, "seeds": 16}}
    return [claims.decide(paper.claims["a-beats-b"], stats.compare_rates(15, 16, 2, 16), ours, "success"),
            claims.decide(paper.claims["b-fails"], stats.wilson(1, 16), {"ring": {"steps": 3000, "lr": 1e-4}}),
            claims.decide(paper.claims["celeba"], None, None),
            claims.decide(paper.claims["identity"], stats.mean_interval([1e-9, 2e-9, 3e-9]), {})]


def test_the_paper_file_is_read_with_its_configuration_and_tables(paper):
    assert list(paper.claims) == ["a-beats-b", "b-fails", "celeba", "identity"]
    a = paper.claims["a-beats-b"]
    assert a.config == {"ring.steps": 1000, "ring.lr": 1e-4} and a.n == 200 and a.margin == 0.1
    assert paper.claims["b-fails"].config == {"ring.steps": 1000, "ring.lr": 1e-4}  # [config] for paper claims
    assert paper.claims["identity"].config == {}  # a theory check inherits no configuration
    assert paper.tables["fig1"]["rate"] == [0.9, 0.1] and paper.arxiv == "0000.00000"


def test_rows_are_decided_against_the_declared_configuration(paper):
    rows = claims.table("toy", _rows(paper))
    assert list(rows.columns) == claims.COLUMNS
    assert rows.verdict.tolist()[:3] == ["reproduced", "inconclusive at this scale", "not testable here"]
    # seeds are not configuration; the argued difference is shown with its reason, not counted
    assert rows.configuration[0].startswith("the paper's configuration (ring.lr 0.0002 vs 0.0001")
    assert "does not depend on it" in rows.configuration[0]
    assert rows.configuration[1] == "ring.steps 3,000 vs 1,000 (300%)"
    assert rows.reading[1] == "undecided"  # 0.06 [0.01, 0.28] straddles 0.3 +- 0.05
    assert "to settle it: make chapter NAME=toy PROFILE=paper (about 2 GPU hours)" in rows.reason[2]
    assert rows.ours[0].startswith("success: 0.94")
    with pytest.raises(ValueError, match="at least one"):
        claims.table("toy", [])


@pytest.mark.parametrize("change, message", [
    (('direction = "="\nvalue = 0.3', 'direction = "="\nvalue = nan'), "value must be a finite number"),
    (('margin = 0.05', 'margin = -0.05'), "margin must be >= 0"),
    (('section = "sec-b"', 'section = "sec-b"\nmargn = 1'), "unknown field"),
    (('source = "Table 2"\n', ''), "missing source"),
    (('direction = ">"', 'direction = ">="'), "direction"),
    (('cost = "about 2 GPU hours"\n', ''), "names the command"),
    (('kind = "theory"', 'kind = "guess"'), "kind 'guess'"),
    (('n = 200', 'n = 0'), "whole number >= 1"),
    (('n = 200', 'n = 200\nconfig = "secret"'), "config must be"),
])
def test_a_bad_paper_file_is_an_error_naming_the_file_and_claim(tmp_path, change, message):
    old, new = change
    assert old in PAPER
    (tmp_path / "toy.paper.toml").write_text(PAPER.replace(old, new, 1))
    with pytest.raises(ValueError, match=message) as error:
        claims.paper_file("toy", tmp_path)
    assert "toy.paper.toml" in str(error.value)


def test_a_missing_or_empty_paper_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no paper file"):
        claims.paper_file("toy", tmp_path)
    (tmp_path / "toy.paper.toml").write_text('title = "t"\nreference = "r"\ncode = "c"\n')
    with pytest.raises(ValueError, match="declares no"):
        claims.paper_file("toy", tmp_path)
    (tmp_path / "toy.paper.toml").write_text('title = "t\n')
    with pytest.raises(ValueError, match="TOML"):
        claims.paper_file("toy", tmp_path)


def test_not_available_config_gives_our_reading_only(tmp_path):
    (tmp_path / "toy.paper.toml").write_text(PAPER.replace('direction = "="\nvalue = 0.3',
                                                           'config = "not available"\ndirection = "="\nvalue = 0.3'))
    declared = claims.paper_file("toy", tmp_path).claims["b-fails"]
    assert declared.config is None
    row = claims.decide(declared, stats.wilson(5, 16), {"ring": {"steps": 3}}).row("toy")
    assert row["verdict"] == "not testable here" and row["reading"] == "undecided"  # 0.31 [0.14, 0.56]
    assert "not available" in row["reason"]


def _notebook(outputs: list[tuple[dict, dict]]) -> dict:
    return {"cells": [{"cell_type": "markdown", "source": "# x"},
                      {"cell_type": "code", "outputs": [{"output_type": "display_data", "data": d, "metadata": m}
                                                        for d, m in outputs]}],
            "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def test_what_show_displays_is_what_read_and_scorecard_get_back(paper, tmp_path, monkeypatch):
    shown, glued = [], []
    monkeypatch.setattr(IPython.display, "display",
                        lambda obj, raw=False, metadata=None: shown.append((obj, raw, metadata)))
    monkeypatch.setattr(myst_nb, "glue", lambda name, obj, display=True: glued.append((name, obj, display)))
    assert claims.show("toy", _rows(paper)) is None
    rows = claims.table("toy", _rows(paper))
    (data, raw, metadata), = shown
    (name, obj, visible), = glued
    assert name == claims.glue_name("toy") and not visible and obj.data == data["text/html"]
    assert raw and set(data) == {"text/plain", "text/html"} and set(metadata) == {claims.MIME}
    assert "REPRODUCED" in data["text/plain"] and 'href="#sec-a"' in data["text/html"]
    assert "<details><summary>why</summary>" in data["text/html"]  # the reasoning folds out
    (tmp_path / "toy.ipynb").write_text(json.dumps(_notebook([(data, metadata)])))
    (tmp_path / "other.ipynb").write_text(json.dumps(_notebook([({"text/plain": "no claims here"}, {})])))
    pd.testing.assert_frame_equal(claims.read(tmp_path / "toy.ipynb"), rows)
    card = claims.scorecard(tmp_path, ["other", "missing", "toy"])
    pd.testing.assert_frame_equal(card, rows)
    assert 'href="toy.html#sec-b"' in claims.html_table(card) and "<th>chapter</th>" in claims.html_table(card)
    assert "<th>chapter</th>" not in data["text/html"]
    assert claims.read(tmp_path / "other.ipynb").empty


def test_counts_keep_arena_rows_apart_from_reproductions(paper):
    rows = claims.table("toy", _rows(paper))
    arena = rows.iloc[[0]].assign(kind="arena", verdict="carries over")
    table = claims.counts(pd.concat([rows, arena], ignore_index=True))
    got = {(g, v): n for g, v, n in table.itertuples(index=False)}
    assert got == {("paper claims", "reproduced"): 1, ("paper claims", "inconclusive at this scale"): 1,
                   ("paper claims", "not testable here"): 1, ("theory checks", "reproduced"): 1,
                   ("arena (other games)", "carries over"): 1}


def test_html_escapes_text(tmp_path):
    (tmp_path / "toy.paper.toml").write_text(PAPER.replace('claim = "A makes faces"', 'claim = "x < y"')
                                             .replace("CelebA and a GPU", "a GPU & <CelebA>"))
    declared = claims.paper_file("toy", tmp_path).claims["celeba"]
    html = claims.html_table(claims.table("toy", [claims.decide(declared, None, None)]))
    assert "x &lt; y" in html and "&lt;CelebA&gt;" in html and "<CelebA>" not in html


def test_links_use_the_ids_sphinx_gives_labels():
    """Sphinx turns a figure name's underscores into hyphens (docutils make_id)."""
    from docutils.nodes import make_id

    for label in ["fig-double_oracle-images", "alpha-gan-long", "fig-srfb-regimes", "Convex_WGAN verdicts"]:
        assert claims.anchor(label) == make_id(label)


def test_the_reproducibility_summary_is_generated_from_the_rows_and_the_paper_file(paper):
    rows = claims.table("toy", _rows(paper))
    text = claims.summary_html(paper, rows, "commit abc, 2026-12-07")
    assert text.startswith('<details class="gancore-summary">') and "arxiv.org/abs/0000.00000" in text
    assert "<dt>Scope</dt><dd>3 of 4 of the paper's claims run here</dd>" in text
    reproduced = text.split("<dt>Reproduced</dt>")[1].split("</dd>")[0]
    assert "A beats B (Fig. 1)" in reproduced and "the closed form solves the program" in reproduced
    assert "B fails" not in reproduced  # inconclusive: neither reproduced nor refuted
    assert "<dt>Not reproduced</dt><dd>none</dd>" in text
    settle = text.split("<dt>What would settle the open claims</dt>")[1]
    assert "A makes faces (Fig. 3): make chapter NAME=toy PROFILE=paper (about 2 GPU hours)" in settle
    assert "<dt>What was easy</dt><dd>not stated</dd>" in text and "commit abc, 2026-12-07" in text


def test_coverage_counts_each_chapters_claims_and_the_share_run(paper):
    rows = claims.table("toy", _rows(paper))
    arena = rows.iloc[[0, 0]].assign(chapter="arena", kind="arena", verdict="carries over")
    table = claims.coverage(pd.concat([rows, arena], ignore_index=True)).set_index("chapter")
    assert table.loc["toy", "claims"] == 4 and table.loc["toy", "run here"] == 3
    assert table.loc["toy", "share run"] == 0.75 and table.loc["toy", "not testable here"] == 1
    assert table.loc["arena", "carries over"] == 2 and table.loc["arena", "share run"] == 1.0
    assert list(table.index) == ["toy", "arena"]  # chapters in the book's order


def test_readings_count_what_each_row_says_at_our_configuration(paper):
    rows = claims.table("toy", _rows(paper))  # paper: holds, undecided, not run; theory: agrees
    arena = rows.iloc[[0]].assign(kind="arena", verdict="carries over")
    table = claims.readings(pd.concat([rows, arena], ignore_index=True))
    assert list(table.index) == ["paper claims", "theory checks", "arena (other games)"]
    # the columns in verdict.Reading's order, only those that occur
    assert list(table.columns) == ["holds", "agrees within the margin", "undecided", "not run"]
    assert table.loc["paper claims"].tolist() == [1, 0, 1, 1]  # CelebA: not testable, nothing ran
    assert table.loc["theory checks"].tolist() == [0, 1, 0, 0]
    assert table.loc["arena (other games)"].tolist() == [1, 0, 0, 0]
