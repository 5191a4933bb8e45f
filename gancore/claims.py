"""The claims a chapter tests, each with the paper's number, ours and the verdict, as one table that
the chapter shows first and the scorecard page gathers from the executed notebooks.

A chapter builds its :class:`Claim` rows from the numbers it computes (the verdict comes from
:func:`gancore.stats.verdict`, never from prose) and shows them with :func:`show`. :func:`show`
displays the table as text and HTML and also stores the rows, as JSON under the key :data:`MIME`
of the output's metadata (which the book does not render); :func:`read` gets them back from an
executed notebook, and :func:`scorecard` gathers every chapter's, so the scorecard page is built
from what the chapters printed and cannot disagree with them (nbval re-executes both).
"""

from __future__ import annotations

import html
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from . import stats

__all__ = ["Claim", "MIME", "COLUMNS", "table", "show", "read", "scorecard", "html_table", "glue_name", "anchor", "VERDICT_ORDER"]

MIME = "application/vnd.gancore.claims+json"
"""The key under which :func:`show` stores a chapter's claims in its output's metadata."""

COLUMNS = ["chapter", "claim", "source", "paper", "ours", "verdict", "reason", "configuration", "section"]

VERDICT_ORDER = [v.value for v in stats.Verdict]


@dataclass(frozen=True)
class Claim:
    """One claim of a paper as a chapter tests it.

    ``claim``: the paper's claim in a line; ``source``: where the paper states it ("ISIT23 Fig. 2b");
    ``paper``: the paper's number(s) with their seeds; ``ours``: our number(s) with interval and
    seeds; ``finding``: the verdict with its reason and configuration distance
    (:func:`gancore.stats.verdict`); ``section``: the MyST label of the chapter's section that shows
    the evidence (the link target)."""

    claim: str
    source: str
    paper: str
    ours: str
    finding: stats.Finding
    section: str

    def row(self, chapter: str) -> dict[str, str]:
        where = ("; ".join(self.finding.distance) if self.finding.distance
                 else "(not run)" if self.finding.verdict == stats.Verdict.NOT_TESTABLE else "the paper's configuration")
        return {"chapter": chapter, "claim": self.claim, "source": self.source, "paper": self.paper,
                "ours": self.ours, "verdict": str(self.finding.verdict), "reason": self.finding.reason,
                "configuration": where, "section": self.section}


def table(chapter: str, claims: Sequence[Claim]) -> pd.DataFrame:
    """The claims of ``chapter`` as a DataFrame with the columns :data:`COLUMNS`."""
    if not claims:
        raise ValueError(f"No claims for chapter {chapter!r}: a chapter shows at least one.")
    return pd.DataFrame([c.row(chapter) for c in claims], columns=COLUMNS)


def anchor(label: str) -> str:
    """The HTML id Sphinx gives a MyST label or figure name (docutils' ``make_id``: lower case, every
    run of other characters than letters and digits one hyphen): ``fig-double_oracle-images`` ->
    ``fig-double-oracle-images``."""
    return re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")


def _html(rows: pd.DataFrame, link: bool) -> str:
    """The claims as an HTML table; ``link``: links to other pages and a chapter column (the
    scorecard), else links within the chapter's page."""
    names = (["chapter"] if link else []) + ["claim", "paper", "ours", "verdict", "configuration"]
    head = "".join(f"<th>{name}</th>" for name in names)
    body = []
    for r in rows.itertuples(index=False):
        target = f"{r.chapter}.html#{anchor(r.section)}" if link else f"#{anchor(r.section)}"
        chapter = f'<td><a href="{html.escape(r.chapter)}.html">{html.escape(r.chapter)}</a></td>' if link else ""
        body.append(
            f'<tr>{chapter}<td><a href="{html.escape(target)}">{html.escape(r.claim)}</a><br><small>'
            f"{html.escape(r.source)}</small></td><td>{html.escape(r.paper)}</td><td>{html.escape(r.ours)}</td>"
            f"<td><b>{html.escape(r.verdict)}</b><br><small>{html.escape(r.reason)}</small></td>"
            f"<td><small>{html.escape(r.configuration)}</small></td></tr>")
    return f'<table class="gancore-claims"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _text(rows: pd.DataFrame) -> str:
    lines = []
    for r in rows.itertuples(index=False):
        lines += [f"* {r.claim} ({r.source})", f"  paper: {r.paper}", f"  ours:  {r.ours}",
                  f"  -> {r.verdict.upper()}: {r.reason}", f"  configuration: {r.configuration}"]
    return "\n".join(lines)


def glue_name(chapter: str) -> str:
    """The MyST-NB glue name of ``chapter``'s findings: its first section pastes them with a
    ``{glue} NAME`` directive (a glued output is shown wherever the page refers to it), so a reader
    meets the verdicts before the code that computes them."""
    return f"{chapter}-findings"


def show(chapter: str, claims: Sequence[Claim]) -> None:
    """Display the claims of ``chapter`` (text, an HTML table linking each claim to its section, and
    the rows as JSON under :data:`MIME` in the output's metadata) and glue the HTML table as
    :func:`glue_name` for the chapter's opening. Returns nothing, so a notebook cell ending with it
    shows the table once."""
    from IPython.display import HTML, display  # IPython and myst_nb come with the book's kernel
    from myst_nb import glue

    rows = table(chapter, claims)
    display({"text/plain": _text(rows), "text/html": _html(rows, link=False)}, raw=True,
            metadata={MIME: {"chapter": chapter, "rows": rows.to_dict(orient="records")}})
    glue(glue_name(chapter), HTML(_html(rows, link=False)), display=False)


def read(notebook: str | os.PathLike) -> pd.DataFrame:
    """The claims stored by :func:`show` in an executed notebook (every such output, in order); an
    empty table with :data:`COLUMNS` when it has none."""
    cells = json.loads(Path(notebook).read_text())["cells"]
    rows = [row for cell in cells if cell.get("cell_type") == "code" for out in cell.get("outputs", [])
            if MIME in out.get("metadata", {}) for row in out["metadata"][MIME]["rows"]]
    return pd.DataFrame(rows, columns=COLUMNS)


def scorecard(folder: str | os.PathLike, chapters: Sequence[str]) -> pd.DataFrame:
    """Every chapter's claims, read from ``folder/NAME.ipynb`` in the order of ``chapters`` (those
    without claims, or not executed yet, add nothing)."""
    parts = [read(Path(folder) / f"{name}.ipynb") for name in chapters if (Path(folder) / f"{name}.ipynb").exists()]
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=COLUMNS)


def html_table(rows: pd.DataFrame) -> str:
    """The scorecard's HTML table: each claim linked to its chapter's section."""
    return _html(rows, link=True)
