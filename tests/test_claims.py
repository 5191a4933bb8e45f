"""Claims tables: what a chapter shows is what the scorecard reads back."""

from __future__ import annotations

import json

import IPython.display
import myst_nb
import pandas as pd
import pytest

from gancore import claims, stats


def _claims() -> list[claims.Claim]:
    better = stats.verdict(equivalent=True, paper_order=">", comparison=stats.compare_rates(15, 16, 2, 16),
                           claim="A beats B", ours_config={"steps": 1000}, paper_config={"steps": 1000})
    number = stats.verdict(equivalent=False, paper_value=0.3, ours=stats.wilson(1, 16), claim="B fails 30%",
                           ours_config={"steps": 1000, "seeds": 16}, paper_config={"steps": 156_000, "seeds": 200})
    return [claims.Claim("A beats B", "Fig. 1", "0.9 vs 0.1 (200 seeds)", "15/16 vs 2/16", better, "sec-a"),
            claims.Claim("B fails 30% of seeds", "Table 2", "0.30 (200 seeds)", "1/16", number, "sec-b")]


def _notebook(outputs: list[tuple[dict, dict]]) -> dict:
    return {"cells": [{"cell_type": "markdown", "source": "# x"},
                      {"cell_type": "code", "outputs": [{"output_type": "display_data", "data": d, "metadata": m}
                                                        for d, m in outputs]}],
            "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def test_table_carries_the_verdicts_decided_by_the_rule():
    rows = claims.table("toy", _claims())
    assert list(rows.columns) == claims.COLUMNS
    assert rows.verdict.tolist() == ["reproduced", "inconclusive at this scale"]
    assert rows.configuration.tolist()[0] == "the paper's configuration"
    assert "steps 1,000 vs 156,000" in rows.configuration.tolist()[1]
    with pytest.raises(ValueError, match="at least one"):
        claims.table("toy", [])


def test_what_show_displays_is_what_read_and_scorecard_get_back(tmp_path, monkeypatch):
    shown = []
    monkeypatch.setattr(IPython.display, "display",
                        lambda obj, raw=False, metadata=None: shown.append((obj, raw, metadata)))
    glued = []
    monkeypatch.setattr(myst_nb, "glue", lambda name, obj, display=True: glued.append((name, obj, display)))
    assert claims.show("toy", _claims()) is None
    rows = claims.table("toy", _claims())
    (data, raw, metadata), = shown
    (name, obj, visible), = glued
    assert name == claims.glue_name("toy") and not visible and obj.data == data["text/html"]
    assert raw and set(data) == {"text/plain", "text/html"} and set(metadata) == {claims.MIME}  # data: what renders
    assert "REPRODUCED" in data["text/plain"] and 'href="#sec-a"' in data["text/html"]
    (tmp_path / "toy.ipynb").write_text(json.dumps(_notebook([(data, metadata)])))
    (tmp_path / "other.ipynb").write_text(json.dumps(_notebook([({"text/plain": "no claims here"}, {})])))
    pd.testing.assert_frame_equal(claims.read(tmp_path / "toy.ipynb"), rows)
    card = claims.scorecard(tmp_path, ["other", "missing", "toy"])
    pd.testing.assert_frame_equal(card, rows)
    assert 'href="toy.html#sec-b"' in claims.html_table(card) and "<th>chapter</th>" in claims.html_table(card)
    assert "<th>chapter</th>" not in data["text/html"]  # a chapter's own table needs no chapter column
    assert claims.read(tmp_path / "other.ipynb").empty


def test_html_escapes_text():
    finding = stats.verdict(equivalent=False, testable="a GPU & <CelebA>")
    rows = claims.table("toy", [claims.Claim("x < y", "s", "p", "o", finding, "sec")])
    html = claims.html_table(rows)
    assert "x &lt; y" in html and "&lt;CelebA&gt;" in html and "<CelebA>" not in html
    assert rows.verdict[0] == "not testable here" and rows.configuration[0] == "(not run)"


def test_links_use_the_ids_sphinx_gives_labels():
    """Sphinx turns a figure name's underscores into hyphens (docutils make_id); a link to the name
    as written is dead (the browser check found these)."""
    from docutils.nodes import make_id

    for label in ["fig-double_oracle-images", "alpha-gan-long", "fig-srfb-regimes", "Convex_WGAN verdicts"]:
        assert claims.anchor(label) == make_id(label)
    finding = stats.verdict(equivalent=False, testable="x")
    rows = claims.table("double_oracle", [claims.Claim("c", "s", "p", "o", finding, "fig-double_oracle-images")])
    assert 'href="double_oracle.html#fig-double-oracle-images"' in claims.html_table(rows)
