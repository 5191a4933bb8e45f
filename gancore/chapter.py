"""The facade a chapter talks to: open it, read its settings, record tables, read stored runs, decide
its claims and show them.

A chapter's first cells are::

    ch = chapter.open("alpha_gan", profile, device, seed, overrides, data="ring (embedded)")
    P = ch.settings

:func:`open` prints the header line (profile, device, numerics, data, versions) and reads the
chapter's paper file (``book/NAME.paper.toml``, :mod:`gancore.claims`). Then the chapter computes its
evidence with library calls and hands each to :meth:`Chapter.claim` under the key its paper file
declares; the verdict, the configuration distance and the text come from the library.
:meth:`Chapter.show_claims` shows the rows and fails when a declared claim was never decided (a claim
that declares what it ``needs`` and was not run is shown as "not testable here" with its command and
cost). Stored runs (``results/NAME/*``, made by ``make chapter ... STORE=1`` or ``make sweep``) come
back as :class:`StoredRun` objects whose ``settings`` are the chapter's settings resolved from the
run's record, so a claim decided on a stored run is measured against the paper at that run's settings.
"""

from __future__ import annotations

import builtins
import datetime as _dt
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from . import claims, numerics, profiles, provenance, runs, stats, train, verdict

__all__ = ["open", "Chapter", "StoredRun", "OLD_NAMES"]

OLD_NAMES = {"ring_seeds": ("ring", "seeds"), "ring_steps": ("ring", "steps")}
"""Override names of stored runs made before settings were grouped, and the group and name they are
now (read once here, so no chapter maps them)."""


def _modern(overrides: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in overrides.items():
        if key in OLD_NAMES:
            group, name = OLD_NAMES[key]
            out.setdefault(group, {})[name] = value
        else:
            out[key] = value
    return out


@dataclass(frozen=True, eq=False)  # tables are DataFrames: compare runs by label
class StoredRun:
    """A stored run of a chapter: its folder, its record (``run.json``), its tables and the chapter's
    settings it ran with (a sweep's grid cells vary some of them; its tables say which per row)."""

    chapter: str
    folder: Path
    record: Mapping[str, Any]
    tables: Mapping[str, pd.DataFrame]
    settings: profiles.Settings

    @property
    def label(self) -> str:
        """The run's folder name (a sweep's label, or the date and profile of ``make chapter STORE=1``)."""
        return self.folder.name

    def __getitem__(self, table: str) -> pd.DataFrame:
        if table not in self.tables:
            raise KeyError(f"stored run {self.label!r} of {self.chapter} has no table {table!r} "
                           f"(it has: {', '.join(self.tables) or 'none'})")
        return self.tables[table]

    @property
    def provenance(self) -> str:
        """One line: which run, its size, machine, commit and date (for captions and tables)."""
        r = self.record
        parameters = r.get("parameters", {})
        flat = verdict.flatten(_modern(parameters.get("overrides", {}) or {}))
        changed = " with " + ", ".join(f"{k}={v!r}" for k, v in flat.items()) if flat else ""
        wall = r.get("wall_seconds")
        hours = f", {wall / 3600:.1f} h" if isinstance(wall, (int, float)) and math.isfinite(wall) else ""
        return (f"stored run {self.label} ({parameters.get('profile', '?')} profile{changed}; "
                f"seeds {parameters.get('seeds', 'as in the profile')}; commit {str(r.get('git_commit', '?'))[:7]}; "
                f"{str(r.get('date', '?'))[:10]}; {r.get('device', '?')}{hours})")


class Chapter:
    """One executing chapter: its name, profile, device, settings and paper file (None for a chapter
    that tests no paper, e.g. the toolkit), and the claims it has decided so far."""

    def __init__(self, name: str, profile: str, device: str, seed: int, overrides: Mapping[str, Any] | None,
                 top: Path | None = None):
        self.name, self.profile, self.seed = name, profile, seed
        self.overrides = dict(overrides or {})
        self.settings = profiles.get(name, profile, self.overrides)
        self.device = train.resolve_device(device)
        self.top = Path(top) if top is not None else runs.top_folder()
        has_paper = (self.top / "book" / f"{name}.paper.toml").exists()
        self.paper = claims.paper_file(name, self.top / "book") if has_paper else None
        self._claims: dict[str, claims.Claim] = {}

    def record(self, name: str, table: pd.DataFrame) -> pd.DataFrame:
        """Store ``table`` as ``NAME.csv`` of the stored run being executed (``STORE=1``; nothing
        otherwise) and return it, so a cell can record and show in one line."""
        runs.record(name, table)
        return table

    def stored(self, where: Callable[[StoredRun], bool] | None = None) -> list[StoredRun]:
        """The chapter's stored runs (oldest first), those for which ``where(run)`` is true."""
        base = self.top / "results"
        folders = [p.parent for p in sorted((base / self.name).glob("*/run.json")) if not p.parent.name.startswith(".")]
        found = []
        for folder, (record, tables) in zip(folders, runs.stored(self.name, base), strict=True):
            parameters = record.get("parameters", {})
            settings = profiles.get(self.name, parameters.get("profile", "quick"),
                                    _modern(parameters.get("overrides", {}) or {}))
            run = StoredRun(self.name, folder, record, tables, settings)
            if where is None or where(run):
                found.append(run)
        return found

    def run(self, label: str) -> StoredRun:
        """The stored run in ``results/NAME/LABEL``; a missing one is an error listing those present."""
        found = [r for r in self.stored() if r.label == label]
        if not found:
            have = ", ".join(r.label for r in self.stored()) or "none"
            raise FileNotFoundError(f"{self.name}: no stored run {label!r} under results/{self.name}/ (present: "
                                    f"{have}); its command is in the chapter's text")
        return found[0]

    def claim(self, key: str, evidence: stats.Interval | stats.Comparison | None = None, *,
              settings: Mapping[str, Any] | None = None, run: StoredRun | None = None,
              note: str = "") -> claims.Claim:
        """Decide the paper file's claim ``key`` from ``evidence`` made at ``settings`` (default: the
        stored ``run``'s settings, else this execution's), remember the row and return it. ``note``
        prefixes our numbers (what was compared, over what); a stored run's label is added to it."""
        if self.paper is None:
            raise ValueError(f"{self.name} has no paper file (book/{self.name}.paper.toml), so no claims to decide")
        if key not in self.paper.claims:
            raise KeyError(f"{self.name}: claim {key!r} is not declared in {self.paper.path} "
                           f"(declared: {', '.join(self.paper.claims)})")
        if settings is None:
            settings = run.settings if run is not None else self.settings
        if run is not None:
            note = f"{note} ({run.label})" if note else run.label
        try:
            row = claims.decide(self.paper.claims[key], evidence, settings, note)
        except ValueError as error:
            raise ValueError(f"{self.name}, claim {key!r}: {error}") from None
        self._claims[key] = row
        return row

    def show_claims(self) -> None:
        """Show every decided claim in the paper file's order; a declared claim that needs what this
        machine lacks and was not run is shown as not testable; any other undecided claim is an error."""
        if self.paper is None:
            raise ValueError(f"{self.name} has no paper file (book/{self.name}.paper.toml), so no claims to show")
        missing = [k for k, c in self.paper.claims.items() if k not in self._claims and c.needs is None]
        if missing:
            raise ValueError(f"{self.name}: claim(s) declared in {self.paper.path.name} but never decided: "
                             f"{', '.join(missing)} (call ch.claim(KEY, evidence) for each)")
        for key, declared in self.paper.claims.items():
            if key not in self._claims:
                self._claims[key] = claims.decide(declared, None, None)
        rows = [self._claims[k] for k in self.paper.claims]
        made = (f"commit {provenance.git_commit(self.top)[:12]}, {_dt.date.today().isoformat()}, profile "
                f"{self.profile} on {self.device.type}, numerics {numerics.mode()}")
        claims.show(self.name, rows, claims.summary_html(self.paper, claims.table(self.name, rows), made))

    def glue(self, name: str, value: Any) -> Any:
        """Glue ``value`` under ``name`` for the prose (MyST-NB's ``{glue:text}`NAME```) and return it."""
        from myst_nb import glue  # comes with the book's kernel

        glue(name, value, display=False)
        return value


def open(name: str, profile: str = "quick", device: str = "auto", seed: int = 0,
         overrides: Mapping[str, Any] | None = None,
         data: str | Callable[[profiles.Settings], str] = "") -> Chapter:
    """Open chapter ``name`` for execution: resolve its settings and device, read its paper file, and
    print the header line (:func:`gancore.profiles.describe`). ``data`` names the data the results
    come from: a text, or a function of the resolved settings (``lambda P: ", ".join(P.image.data)``)
    where the profile decides it."""
    ch = Chapter(name, profile, device, seed, overrides)
    named = data(ch.settings) if callable(data) else data
    builtins.print(profiles.describe(name, profile, ch.device, named or "see below", ch.overrides))
    return ch

