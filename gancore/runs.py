"""Executing chapters, and stored runs.

``python -m gancore.runs execute NAME [--profile quick] [--device auto] [--seed S] [--store]`` turns
``book/NAME.md`` (jupytext MyST) into a notebook and executes it with papermill, parameters
injected. Without ``--store`` the executed notebook replaces ``book/executed/NAME.ipynb`` (what the
book renders and nbval checks). With ``--store`` it goes to ``results/NAME/<run>/`` together with the
result tables the chapter recorded with :func:`record` and a ``run.json`` (papermill parameters, git
commit, device, library versions, wall time, date): longer runs (more seeds, the ``paper`` profile on
a GPU) are kept there, and chapters show them with :func:`stored`, always labelled.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

__all__ = ["execute", "record", "stored", "RUN_DIR_ENV"]

RUN_DIR_ENV = "GANCORE_RUN_DIR"


def _top() -> Path:
    """The compendium's top folder (where _toc.yml is), found from the current directory upwards."""
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "_toc.yml").exists():
            return folder
    raise FileNotFoundError(f"No _toc.yml in {here} or above: run this from inside the compendium.")


def record(name: str, table: pd.DataFrame) -> Path | None:
    """Save a result table as ``NAME.csv`` in the stored run being executed (``$GANCORE_RUN_DIR``);
    outside a stored run this does nothing and returns None."""
    folder = os.environ.get(RUN_DIR_ENV)
    if not folder:
        return None
    path = Path(folder) / f"{name}.csv"
    table.to_csv(path, index=False)
    return path


def stored(chapter: str, root: str | os.PathLike | None = None) -> list[tuple[dict, dict[str, pd.DataFrame]]]:
    """All stored runs of ``chapter``: a list of ``(run.json contents, {table name: DataFrame})``,
    oldest first. ``root`` defaults to ``results/`` at the compendium's top."""
    base = Path(root) if root is not None else _top() / "results"
    runs = []
    for run_json in sorted((base / chapter).glob("*/run.json")):
        meta = json.loads(run_json.read_text())
        tables = {p.stem: pd.read_csv(p) for p in sorted(run_json.parent.glob("*.csv"))}
        runs.append((meta, tables))
    return runs


def _git_commit(top: Path) -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=top, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=top,
                               capture_output=True, text=True).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    names = ["torch", "torchvision", "numpy", "scipy", "cvxpy", "scikit-learn", "scikit-image", "gancore"]
    return {n: md.version(n) for n in names} | {"python": platform.python_version()}


def execute(name: str, profile: str = "quick", device: str = "auto", seed: int | None = None,
            store: bool = False, extra: dict | None = None, output: Path | None = None) -> Path:
    """Execute chapter ``name`` with papermill (see the module docstring); returns the output path.
    ``output`` sends the executed notebook elsewhere (benchmarks time a chapter without replacing it)."""
    import jupytext
    import papermill
    import torch

    top = _top()
    source = top / "book" / f"{name}.md"
    if not source.exists():
        known = sorted(p.stem for p in (top / "book").glob("*.md") if p.read_text().startswith("---\njupytext"))
        raise ValueError(f"No chapter {name!r} ({source} is missing). Chapters: {', '.join(known)}.")
    parameters = {"profile": profile, "device": device} | ({"seed": seed} if seed is not None else {}) | (extra or {})
    notebook = jupytext.read(source)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    work = top / "_build" / "notebooks"
    work.mkdir(parents=True, exist_ok=True)
    unexecuted = work / f"{name}.ipynb"
    jupytext.write(notebook, unexecuted)
    started = _dt.datetime.now(_dt.timezone.utc)
    if store:
        run_dir = top / "results" / name / f"{started:%Y%m%d-%H%M%S}-{profile}"
        run_dir.mkdir(parents=True)
        os.environ[RUN_DIR_ENV] = str(run_dir)
        output = run_dir / f"{name}.ipynb"
    else:
        os.environ.pop(RUN_DIR_ENV, None)
        output = Path(output) if output is not None else top / "book" / "executed" / f"{name}.ipynb"
        output.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    papermill.execute_notebook(str(unexecuted), str(output), parameters=parameters, cwd=str(top / "book"),
                               kernel_name="python3", progress_bar=sys.stderr.isatty(), log_output=False)
    seconds = time.perf_counter() - t0
    timing = top / "_build" / "timings" / f"{name}-{profile}.json"
    timing.parent.mkdir(parents=True, exist_ok=True)
    timing.write_text(json.dumps({"chapter": name, "profile": profile, "seconds": seconds}))
    if store:
        meta = {"chapter": name, "parameters": parameters, "git_commit": _git_commit(top),
                "device": ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device,
                "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
                "versions": _versions(), "wall_seconds": round(seconds, 1), "date": started.isoformat(timespec="seconds")}
        (output.parent / "run.json").write_text(json.dumps(meta, indent=2))
    print(f"{name}: executed in {seconds:.0f} s -> {output}")
    return output


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m gancore.runs", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("execute", help="execute one chapter with papermill")
    ex.add_argument("name")
    ex.add_argument("--profile", default="quick")
    ex.add_argument("--device", default="auto")
    ex.add_argument("--seed", type=int)
    ex.add_argument("--store", action="store_true", help="keep the run under results/NAME/<run>/ with run.json")
    ex.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                    help="any other parameter of the chapter's parameters cell (value parsed as JSON if it can be)")
    args = parser.parse_args(argv)

    def parse(value: str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value

    execute(args.name, args.profile, args.device, args.seed, args.store, {k: parse(v) for k, v in args.parameter})


if __name__ == "__main__":
    main()
