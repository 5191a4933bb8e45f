"""The claims a chapter tests: the paper's side as data (``book/NAME.paper.toml``), our evidence, the
verdict by the rule of :mod:`gancore.verdict`, shown as one table that the scorecard gathers.

**The paper file** (read with :func:`paper_file`; every key below is checked, an unknown one is an
error naming the file and claim)::

    title = "Addressing GAN Training Instabilities via Tunable Classification Losses"
    reference = "Welfert, Kurri, Otstot, Sankar. IEEE JSAIT 2024"
    arxiv = "2310.18291"            # optional: doi = "..."
    code = "none found"             # or the authors' repository
    easy = "..."                    # optional, for the reproducibility summary: what was easy to
    hard = "..."                    # reproduce, and what was hard (a sentence each, no result numbers)

    [config]                        # the paper's configuration in our setting names (dotted),
                                    # shared by its "paper" claims (theory and arena rows do not inherit it)
    "ring.steps" = 156000
    "ring.g_width" = 400

    [tables.fig2b]                  # the paper's tables as data, for the chapter to show
    ...

    [claims.ns-alpha]
    kind = "paper"                  # "paper" (an experiment), "theory" (an identity), "arena" (another game)
    claim = "NS: alpha_D = 0.3 succeeds more often than alpha_D = 1"
    source = "JSAIT Fig. 2b"        # a table or figure; no section numbers of texts we do not hold
    paper = "0.445 (200 seeds) vs 0.22 (200 rows, 150 distinct seeds)"
    n = 200                         # the paper's number of seeds (optional)
    direction = ">"                 # ">" / "<": first vs second of our comparison; "=": the number `value`
    value = 0.445                   # with direction "="
    margin = 0.1                    # the smallest difference that matters (required with "=")
    config = { "ring.loss" = "ns" } # merged over [config]; or config = "not available"
    irrelevant = { "ring.eval_n" = "the metric's estimate does not depend on it beyond its interval" }
    needs = "CelebA and a GPU"      # what this machine lacks to run the paper's setting; with
    command = "make chapter NAME=alpha_gan PROFILE=paper"   # the command that would settle it
    cost = "about 6 GPU hours"      # and its estimated cost
    section = "sec-alpha-ring"      # the chapter's MyST label that shows the evidence

A row (:class:`Claim`) holds the claim, the paper's numbers, ours as text, and the
:class:`gancore.verdict.Finding`. :func:`show` displays a chapter's rows (text, an HTML table whose
reasoning folds out, and the rows as JSON under :data:`MIME` in the output's metadata); :func:`read`
gets them back from an executed notebook and :func:`scorecard` gathers every chapter's, so the
scorecard cannot disagree with the chapters.
"""

from __future__ import annotations

import html
import json
import math
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from . import stats, verdict

__all__ = ["PaperClaim", "PaperFile", "paper_file", "Claim", "decide", "MIME", "COLUMNS", "table", "show", "read",
           "scorecard", "html_table", "glue_name", "anchor", "VERDICT_ORDER", "GROUPS", "counts", "readings",
           "coverage",
           "NOT_AVAILABLE", "summary_html"]

MIME = "application/vnd.gancore.claims+json"
"""The key under which :func:`show` stores a chapter's claims in its output's metadata."""

COLUMNS = ["chapter", "key", "kind", "claim", "source", "paper", "ours", "reading", "verdict", "reason",
           "configuration", "section"]

VERDICT_ORDER = [v.value for v in verdict.Verdict]

GROUPS = {"paper": "paper claims", "theory": "theory checks", "arena": "arena (other games)"}
"""The scorecard's groups of rows by kind, in the order they are shown (:func:`counts`, :func:`readings`)."""

_REQUIRED = ("kind", "claim", "source", "paper", "direction", "section")
_OPTIONAL = ("n", "value", "margin", "config", "irrelevant", "needs", "command", "cost")
NOT_AVAILABLE = "not available"


@dataclass(frozen=True)
class PaperClaim:
    """One claim of the paper as its file declares it (module docstring); ``config`` is None when the
    paper's setting is not available."""

    key: str
    kind: str
    claim: str
    source: str
    paper: str
    direction: str
    section: str
    n: int | None = None
    value: float | None = None
    margin: float | None = None
    config: Mapping[str, Any] | None = field(default_factory=dict)
    irrelevant: Mapping[str, str] = field(default_factory=dict)
    needs: str | None = None
    command: str | None = None
    cost: str | None = None


@dataclass(frozen=True)
class PaperFile:
    """A chapter's paper file: the reference, the claims by key (in the file's order) and the paper's
    tables as data."""

    chapter: str
    path: Path
    title: str
    reference: str
    code: str
    claims: Mapping[str, PaperClaim]
    tables: Mapping[str, Any] = field(default_factory=dict)
    arxiv: str | None = None
    doi: str | None = None
    easy: str | None = None
    hard: str | None = None


def _bad(path: Path, where: str, what: str) -> ValueError:
    return ValueError(f"{path}: {where}: {what}")


def _finite(path: Path, key: str, name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)):
        raise _bad(path, f"claim {key!r}", f"{name} must be a finite number, got {value!r}")
    return float(value)


def _claim(path: Path, key: str, entry: Mapping[str, Any], shared: Mapping[str, Any]) -> PaperClaim:
    where = f"claim {key!r}"
    missing = [k for k in _REQUIRED if k not in entry]
    if missing:
        raise _bad(path, where, f"missing {', '.join(missing)} (every claim needs {', '.join(_REQUIRED)})")
    unknown = sorted(set(entry) - set(_REQUIRED) - set(_OPTIONAL))
    if unknown:
        raise _bad(path, where, f"unknown field(s) {unknown} (known: {', '.join(_REQUIRED + _OPTIONAL)})")
    if entry["kind"] not in verdict.KINDS:
        raise _bad(path, where, f"kind {entry['kind']!r} is not one of {', '.join(verdict.KINDS)}")
    if entry["direction"] not in (">", "<", "="):
        raise _bad(path, where, f"direction {entry['direction']!r}: use '>' or '<' (an ordering) or '=' (a number)")
    value = _finite(path, key, "value", entry["value"]) if "value" in entry else None
    margin = _finite(path, key, "margin", entry["margin"]) if "margin" in entry else None
    if margin is not None and margin < 0:
        raise _bad(path, where, f"margin must be >= 0, got {margin}")
    if entry["direction"] == "=" and (value is None or margin is None):
        raise _bad(path, where, "a number claim (direction '=') needs value and margin")
    if entry.get("needs") is not None and not (entry.get("command") and entry.get("cost")):
        raise _bad(path, where, "a claim that needs what is not here names the command that would settle it "
                   "and its cost (command = ..., cost = ...)")
    config = entry.get("config", {})
    if config == NOT_AVAILABLE:
        config = None
    elif isinstance(config, Mapping):  # a theory or arena row has no paper configuration to inherit
        config = {**(verdict.flatten(shared) if entry["kind"] == "paper" else {}), **verdict.flatten(config)}
    else:
        raise _bad(path, where, f"config must be a table of settings or {NOT_AVAILABLE!r}, got {config!r}")
    irrelevant = entry.get("irrelevant", {})
    if not isinstance(irrelevant, Mapping) or not all(isinstance(v, str) and v for v in irrelevant.values()):
        raise _bad(path, where, "irrelevant maps a setting name to the one-line reason it does not matter")
    n = entry.get("n")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise _bad(path, where, f"n (the paper's number of seeds) must be a whole number >= 1, got {n!r}")
    return PaperClaim(key, entry["kind"], entry["claim"], entry["source"], entry["paper"], entry["direction"],
                      entry["section"], n, value, margin, config, dict(irrelevant), entry.get("needs"),
                      entry.get("command"), entry.get("cost"))


def paper_file(chapter: str, folder: str | os.PathLike) -> PaperFile:
    """Read and check ``folder/CHAPTER.paper.toml`` (module docstring); any error names the file and
    the claim."""
    path = Path(folder) / f"{chapter}.paper.toml"
    if not path.exists():
        raise FileNotFoundError(f"{path}: no paper file for chapter {chapter!r} (see gancore.claims for its format)")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise _bad(path, "TOML", str(error)) from None
    for name in ("title", "reference", "code"):
        if not isinstance(data.get(name), str):
            raise _bad(path, "top level", f"{name} = \"...\" is required")
    entries = data.get("claims", {})
    if not entries:
        raise _bad(path, "claims", "the file declares no [claims.KEY] table")
    shared = data.get("config", {})
    found = {key: _claim(path, key, entry, shared) for key, entry in entries.items()}
    return PaperFile(chapter, path, data["title"], data["reference"], data["code"], found,
                     data.get("tables", {}), data.get("arxiv"), data.get("doi"), data.get("easy"), data.get("hard"))


@dataclass(frozen=True)
class Claim:
    """One row: the declared claim, ours as text (``ours``) and the finding."""

    declared: PaperClaim
    ours: str
    finding: verdict.Finding

    def row(self, chapter: str) -> dict[str, str]:
        d = self.declared
        reason = self.finding.reason
        if self.finding.verdict == verdict.Verdict.NOT_TESTABLE and d.command:
            reason += f"; to settle it: {d.command} ({d.cost})"
        return {"chapter": chapter, "key": d.key, "kind": d.kind, "claim": d.claim, "source": d.source,
                "paper": d.paper, "ours": self.ours, "reading": str(self.finding.reading),
                "verdict": str(self.finding.verdict), "reason": reason,
                "configuration": self.finding.configuration, "section": d.section}


def _ours(evidence: stats.Interval | stats.Comparison | None, note: str) -> str:
    text = "not run" if evidence is None else str(evidence)
    return f"{note}: {text}" if note else text


def decide(declared: PaperClaim, evidence: stats.Interval | stats.Comparison | None,
           settings: Mapping[str, Any] | None, note: str = "", alpha: float = 0.05) -> Claim:
    """The row for ``declared`` from our ``evidence`` at our ``settings`` (nested or dotted): the
    configuration distance to the declared paper configuration, minus the differences the paper file
    argues irrelevant (shown with their reasons), then :func:`gancore.verdict.decide`."""
    gap, argued = [], []
    if declared.config is not None and evidence is not None:
        if settings is None:
            raise ValueError(f"claim {declared.key!r}: give the settings of the run that made the evidence")
        every = verdict.distance(settings, declared.config)
        for phrase in every:
            name = phrase.split(" ", 1)[0]
            if name in declared.irrelevant:
                argued.append(f"{phrase}: {declared.irrelevant[name]}")
            else:
                gap.append(phrase)
    if declared.kind != "paper" and declared.config is None:
        raise ValueError(f"claim {declared.key!r}: only a paper claim can have config = {NOT_AVAILABLE!r}")
    finding = verdict.decide(kind=declared.kind, direction=declared.direction, evidence=evidence,
                             value=declared.value, margin=declared.margin, gap=gap, argued=argued,
                             available=declared.config is not None, needs=declared.needs, alpha=alpha)
    return Claim(declared, _ours(evidence, note), finding)


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
    """The claims as a compact HTML table (claim, paper, ours, the two readings) whose reasoning and
    configuration fold out; ``link``: links to other pages and a chapter column (the scorecard)."""
    e = html.escape
    names = (["chapter"] if link else []) + ["claim", "paper", "ours", "verdict"]
    head = "".join(f"<th>{name}</th>" for name in names)
    body = []
    for r in rows.itertuples(index=False):
        target = f"{r.chapter}.html#{anchor(r.section)}" if link else f"#{anchor(r.section)}"
        chapter = f'<td><a href="{e(r.chapter)}.html">{e(r.chapter)}</a></td>' if link else ""
        body.append(
            f'<tr>{chapter}<td><a href="{e(target)}">{e(r.claim)}</a><br><small>{e(r.source)}</small></td>'
            f"<td>{e(r.paper)}</td><td><small>{e(r.ours)}</small></td>"
            f'<td><b>{e(r.verdict)}</b><br><small>ours: {e(r.reading)}</small>'
            f"<details><summary>why</summary><small>{e(r.reason)}<br><i>configuration:</i> "
            f"{e(r.configuration)}</small></details></td></tr>")
    return f'<table class="gancore-claims"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _text(rows: pd.DataFrame) -> str:
    lines = []
    for r in rows.itertuples(index=False):
        lines += [f"* {r.claim} ({r.source}) [{r.kind}]", f"  paper: {r.paper}", f"  ours:  {r.ours}",
                  f"  -> {r.verdict.upper()} (ours: {r.reading}): {r.reason}", f"  configuration: {r.configuration}"]
    return "\n".join(lines)


def glue_name(chapter: str) -> str:
    """The MyST-NB glue name of ``chapter``'s findings: its first section pastes them with a
    ``{glue} NAME`` directive, so a reader meets the verdicts before the code that computes them."""
    return f"{chapter}-findings"


def summary_html(paper: PaperFile, rows: pd.DataFrame, made: str) -> str:
    """The chapter's reproducibility summary (in the way of ReScience C and the ML Reproducibility
    Challenge), generated from its paper file and claim rows: the paper and the authors' code, our
    execution (``made``), the scope, what reproduced, what did not, what was easy and hard, and what
    would settle each open claim."""
    e = html.escape
    links = [f'<a href="https://arxiv.org/abs/{e(paper.arxiv)}">arXiv:{e(paper.arxiv)}</a>'] if paper.arxiv else []
    links += [f'<a href="https://doi.org/{e(paper.doi)}">doi:{e(paper.doi)}</a>'] if paper.doi else []
    own = rows[rows["kind"] != "arena"]
    tested = own[own["verdict"] != str(verdict.Verdict.NOT_TESTABLE)]

    def listed(part: pd.DataFrame, extra: bool = False) -> str:
        if part.empty:
            return "none"
        items = [f"{e(r.claim)} ({e(r.source)})" + (f": {e(r.reason.split('; to settle it: ')[-1])}" if extra else "")
                 for r in part.itertuples(index=False)]
        return "<ul>" + "".join(f"<li>{item}</li>" for item in items) + "</ul>"

    settle = own[own["reason"].str.contains("; to settle it: ", regex=False)]
    parts = [("Paper", f"{e(paper.title)}. {e(paper.reference)}. {' '.join(links)}"),
             ("Authors' code", e(paper.code)), ("This execution", e(made)),
             ("Scope", f"{len(tested)} of {len(own)} of the paper's claims run here"
              + (f", {len(rows) - len(own)} carried to other games" if len(rows) > len(own) else "")),
             ("Reproduced", listed(own[own["verdict"] == str(verdict.Verdict.REPRODUCED)])),
             ("Not reproduced", listed(own[own["verdict"] == str(verdict.Verdict.NOT_REPRODUCED)])),
             ("What was easy", e(paper.easy or "not stated")), ("What was hard", e(paper.hard or "not stated")),
             ("What would settle the open claims", listed(settle, extra=True))]
    body = "".join(f"<dt>{name}</dt><dd>{text}</dd>" for name, text in parts)
    return f'<details class="gancore-summary"><summary>Reproducibility summary</summary><dl>{body}</dl></details>'


def show(chapter: str, claims: Sequence[Claim], summary: str = "") -> None:
    """Display the claims of ``chapter`` (text, the HTML table, and the rows as JSON under :data:`MIME`
    in the output's metadata) and glue the HTML table, followed by ``summary`` (HTML, e.g.
    :func:`summary_html`), as :func:`glue_name`."""
    from IPython.display import HTML, display  # IPython and myst_nb come with the book's kernel
    from myst_nb import glue

    rows = table(chapter, claims)
    display({"text/plain": _text(rows), "text/html": _html(rows, link=False)}, raw=True,
            metadata={MIME: {"chapter": chapter, "rows": rows.to_dict(orient="records")}})
    glue(glue_name(chapter), HTML(_html(rows, link=False) + summary), display=False)


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


def counts(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows per verdict, paper and theory claims apart from arena rows (which test a paper's claim on
    a game the paper never used, so they count neither as reproductions nor against them)."""
    rows = rows.assign(group=rows["kind"].map(GROUPS))
    out = rows.groupby(["group", "verdict"], sort=False).size().rename("claims").reset_index()
    return out.sort_values(["group", "verdict"], key=lambda c: c.map(
        {v: i for i, v in enumerate(VERDICT_ORDER)}) if c.name == "verdict" else c, ignore_index=True)


def readings(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows per reading at our configuration (:class:`gancore.verdict.Reading`: what the evidence
    says at the configuration we ran, whatever the paper's verdict; "not run" where nothing ran
    here), one row per group of :func:`counts` and a column per reading in the enum's order."""
    groups = rows["kind"].map(GROUPS)
    table = pd.crosstab(groups.rename("group"), rows["reading"].rename("reading"))
    table = table.reindex(columns=[r.value for r in verdict.Reading if r.value in table.columns])
    return table.reindex([g for g in GROUPS.values() if g in table.index])


def coverage(rows: pd.DataFrame) -> pd.DataFrame:
    """Per chapter (a paper, or the arena): its claims, how many were run here (every verdict but
    "not testable here"), that share, and its rows per verdict, in :data:`VERDICT_ORDER`."""
    table = pd.crosstab(rows["chapter"], rows["verdict"])
    table = table.reindex(columns=[v for v in VERDICT_ORDER if v in table.columns])
    table = table.reindex(list(dict.fromkeys(rows["chapter"])))
    total = table.sum(axis=1)
    run = total - (table[str(verdict.Verdict.NOT_TESTABLE)] if str(verdict.Verdict.NOT_TESTABLE) in table else 0)
    out = pd.DataFrame({"claims": total, "run here": run, "share run": (run / total).round(2)})
    return pd.concat([out, table], axis=1).reset_index()
