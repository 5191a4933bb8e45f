"""The book's status page, generated at build time from what the executed notebooks and stored runs
record (nothing typed): per chapter the profile, wall time, commit, date, device and numerics of its
execution, whether it is current (nothing it reads changed since, :mod:`gancore.freshness`) and what
nbval said when ``make nbval`` last ran here; per stored run its label, size, machine and commit; per
sweep whose jobs are still landing, how many of its jobs are stored.

``python -m gancore.status --out book/status.md`` (``make html`` runs it) writes the page as MyST
Markdown; ``book/status.md`` is generated, never edited or committed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd

from . import freshness, runs, storage, sweep

__all__ = ["chapters", "stored_runs", "sweeps_in_progress", "nbval_results", "page", "main", "NBVAL_REPORT"]

NBVAL_REPORT = Path("_build") / "nbval.xml"
"""Where ``make nbval`` leaves its JUnit report (relative to the compendium's top)."""


def nbval_results(report: str | os.PathLike) -> dict[str, str]:
    """Per notebook stem, "passed (N cells)" or "failed (K of N cells)" from nbval's JUnit report; an
    empty dict when there is no report."""
    path = Path(report)
    if not path.exists():
        return {}
    cells: dict[str, list[bool]] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        where = (case.get("classname") or case.get("file") or "").replace("/", ".").removesuffix(".ipynb")
        stem = where.rsplit(".", 1)[-1]  # book.executed.toolkit(.ipynb) -> toolkit
        failed = any(child.tag in ("failure", "error") for child in case)
        cells.setdefault(stem, []).append(failed)
    return {stem: (f"failed ({sum(f)} of {len(f)} cells)" if any(f) else f"passed ({len(f)} cells)")
            for stem, f in cells.items()}


def chapters(top: str | os.PathLike) -> pd.DataFrame:
    """One row per chapter of ``_toc.yml``: how its executed notebook was made and whether it is current."""
    top = Path(top)
    checked = nbval_results(top / NBVAL_REPORT)
    rows = []
    for name in runs.chapters(top):
        notebook = top / "book" / "executed" / f"{name}.ipynb"
        if not notebook.exists():
            rows.append({"chapter": name, "executed": "never"})
            continue
        meta = json.loads(notebook.read_text()).get("metadata", {})
        made = meta.get("gancore", {})
        recorded = meta.get(freshness.KEY)
        current = ("not recorded" if recorded is None else
                   "yes" if recorded == freshness.inputs_hash(name, top, made.get("profile", "quick")) else
                   "no: its inputs changed since")
        duration = meta.get("papermill", {}).get("duration")
        rows.append({"chapter": name, "profile": made.get("profile", "?"),
                     "executed": str(made.get("date", meta.get("papermill", {}).get("end_time", "?")))[:16],
                     "wall (s)": f"{made.get('wall_seconds', duration or float('nan')):.0f}",
                     "commit": str(made.get("commit", "?"))[:12] + (" (dirty)" if "dirty" in str(made.get("commit")) else ""),
                     "device": made.get("device", "?"), "numerics": made.get("numerics", "?"), "current": current,
                     "nbval": checked.get(name, "not run in this build")})
    return pd.DataFrame(rows).fillna("")


def stored_runs(top: str | os.PathLike) -> pd.DataFrame:
    """One row per stored run under ``results/``: label, kind, rows and seeds of its tables, machine,
    numerics, commit, date and wall time."""
    top = Path(top)
    rows = []
    for name in sorted(p.name for p in (top / "results").iterdir() if p.is_dir()) if (top / "results").exists() else []:
        for run_json in sorted((top / "results" / name).glob("*/run.json")):
            if run_json.parent.name.startswith("."):
                continue
            record = storage.read_json(run_json)
            tables = {p.stem: storage.read_csv(p) for p in sorted(run_json.parent.glob("*.csv"))}
            size = ", ".join(f"{t}: {len(df):,} rows" + (f", {df['seed'].nunique()} seeds" if "seed" in df else "")
                             for t, df in tables.items())
            wall = record.get("wall_seconds")
            rows.append({"chapter": name, "run": run_json.parent.name, "kind": record.get("kind", "chapter"),
                         "tables": size, "device": record.get("device", "?"),
                         "numerics": record.get("numerics", "not recorded"),
                         "commit": str(record.get("git_commit", "?"))[:12], "date": str(record.get("date", "?"))[:10],
                         "wall (h)": f"{wall / 3600:.1f}" if isinstance(wall, (int, float)) else "?"})
    return pd.DataFrame(rows)


def sweeps_in_progress(top: str | os.PathLike) -> pd.DataFrame:
    """One row per sweep under ``results/`` whose jobs are still landing (its ``sweep.json`` without a
    merged ``run.json`` beside it): chapter and label, the jobs stored (``jobs/*/run.json``) of those
    its ``sweep.json`` plans (seed blocks times grid cells, as :func:`gancore.sweep.plan` splits
    them), its seeds, the commits its stored jobs ran at, their summed wall time and where its plan
    says how to continue it."""
    rows = []
    for bound in sorted(Path(top).glob("results/*/*/sweep.json")):
        folder = bound.parent
        if (folder / "run.json").exists() or folder.name.startswith("."):
            continue
        params = storage.read_json(bound)
        seeds = params["seeds"]
        n = len(sweep.parse_seeds(seeds) if isinstance(seeds, str) else seeds)
        planned = math.ceil(n / (params.get("seeds_per_job") or n)) * len(sweep.grid_cells(params.get("grid")))
        records = [storage.read_json(p) for p in sorted(folder.glob("jobs/*/run.json"))]
        plan = folder.parent / "PLAN.md"
        rows.append({"chapter": folder.parent.name, "sweep": folder.name, "jobs stored": f"{len(records)} of {planned}",
                     "seeds": seeds if isinstance(seeds, str) else sweep.format_seeds(seeds),
                     "commit": ", ".join(sorted({str(r.get("git_commit", "?"))[:12] for r in records})) or "-",
                     "wall so far (h)": f"{sum(r.get('wall_seconds', 0) for r in records) / 3600:.1f}",
                     "plan": str(plan.relative_to(top)) if plan.exists() else "-"})
    return pd.DataFrame(rows)


def page(top: str | os.PathLike) -> str:
    """The status page as MyST Markdown."""
    top = Path(top)
    return "\n".join([
        "(status)=", "# Status: when and on what each chapter ran", "",
        "Generated when the book was built, from the metadata `gancore.runs` records in each executed "
        "notebook and from the stored runs' `run.json` files. *current*: nothing the chapter reads (its "
        "source, paper file, the library modules it imports, its profile, the lock file, its stored runs) "
        "changed since it was executed, so `make book` does not execute it again. *nbval*: what `make nbval` "
        "reported when it last ran in this build folder.", "",
        "## Chapters", "", chapters(top).to_markdown(index=False, disable_numparse=True), "",
        "## Stored runs", "", "Made with `make chapter ... STORE=1` or `make sweep`; chapters read them and "
        "never recompute them.", "", stored_runs(top).to_markdown(index=False, disable_numparse=True) or "(none)", "",
        "## Sweeps in progress", "", "Long runs are split into sweep jobs that each finish within a working "
        "session and are committed as they land; no chapter reads a sweep until all its jobs are stored and "
        "merged. Each chapter's plan (`results/NAME/PLAN.md`) gives the command that continues it.", "",
        sweeps_in_progress(top).to_markdown(index=False, disable_numparse=True) or "(none)", ""])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m gancore.status", description=__doc__.split("\n\n")[0])
    parser.add_argument("--top", default=None, help="the compendium's top folder (default: found from here)")
    parser.add_argument("--out", default="book/status.md")
    args = parser.parse_args(argv)
    top = Path(args.top) if args.top else runs.top_folder()
    storage.atomic_write(top / args.out, page(top))


if __name__ == "__main__":
    main()
