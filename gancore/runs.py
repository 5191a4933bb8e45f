"""Executing chapters, and stored runs.

``python -m gancore.runs execute NAME [--profile quick] [--device auto] [--seed S] [--store]
[--overrides JSON] [-p NAME VALUE ...]`` turns ``book/NAME.md`` (jupytext MyST) into a notebook and
executes it with papermill, parameters injected. ``NAME`` must be a chapter of the book (a
``book/executed/NAME`` entry of ``_toc.yml``); ``--overrides`` is a JSON object of the chapter's
profile settings to change (checked by :func:`gancore.profiles.get`), ``-p`` sets any other
parameter of the chapter's ``parameters`` cell. Everything that can be checked without a kernel
(chapter, profile, overrides, parameter names) is checked before one starts (:func:`check`).

The notebook is executed into a scratch folder of its own under ``_build/notebooks/`` and put in
place only when it ran to the end, so a failed run never touches what is already there (the failed
notebook stays in the scratch folder, and the error says where). Without ``--store`` the executed
notebook then replaces ``book/executed/NAME.ipynb`` (what the book renders and nbval checks) in one
atomic rename. With ``--store`` the run is built in a hidden temporary folder in ``results/NAME/``
(the executed notebook, the result tables the chapter recorded with :func:`record`, and a
``run.json``: papermill parameters, git commit, device, library versions, wall time, date) and
renamed whole to ``results/NAME/<date>-<time>-<profile>`` (``-2``, ``-3``... when two runs start in
the same second): longer runs (more seeds, the ``paper`` profile on a GPU) are kept there, and
chapters show them with :func:`stored`, always labelled. A failed stored run leaves nothing in
``results/``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import errno
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from . import data, freshness, meter, numerics, profiles, provenance, storage

__all__ = ["execute", "check", "chapters", "record", "stored", "top_folder", "RUN_DIR_ENV"]

RUN_DIR_ENV = "GANCORE_RUN_DIR"

# parameters of every chapter's parameters cell that have their own argument
_OWN_ARGUMENTS = {"profile": "--profile", "device": "--device", "seed": "--seed", "overrides": "--overrides"}


def top_folder() -> Path:
    """The compendium's top folder (where _toc.yml is), found from the current directory upwards."""
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "_toc.yml").exists():
            return folder
    raise FileNotFoundError(f"No _toc.yml in {here} or above: run this from inside the compendium.")


def chapters(top: str | os.PathLike | None = None) -> list[str]:
    """The book's chapters: the ``file: book/executed/NAME`` entries of ``_toc.yml``, in its order
    (the Makefile reads the same entries)."""
    toc = Path(top if top is not None else top_folder()) / "_toc.yml"
    return re.findall(r"^\s*(?:-\s*)?file:\s*book/executed/(\S+?)\s*$", toc.read_text(), flags=re.MULTILINE)


def record(name: str, table: pd.DataFrame) -> Path | None:
    """Save a result table as ``NAME.csv`` (atomically) in the stored run being executed
    (``$GANCORE_RUN_DIR``); outside a stored run this does nothing and returns None."""
    folder = os.environ.get(RUN_DIR_ENV)
    if not folder:
        return None
    if not name or Path(name).name != name:
        raise ValueError(f"Invalid table name {name!r}: use a plain file name without folders, e.g. 'ring'.")
    return storage.write_csv(Path(folder) / f"{name}.csv", table)


def stored(chapter: str, root: str | os.PathLike | None = None,
           columns: Mapping[str, Sequence[str]] | None = None) -> list[tuple[dict, dict[str, pd.DataFrame]]]:
    """All stored runs of ``chapter``: a list of ``(run.json contents, {table name: DataFrame})``,
    oldest first. ``root`` defaults to ``results/`` at the compendium's top. Runs still being built
    (hidden folders) are not listed. Every table is read by :func:`gancore.storage.read_table`, checked
    against what its ``run.json`` says was written (rows, columns, seeds, content hash; for runs stored
    before such records, the seeds a sweep ran and duplicated rows), and must have the ``columns``
    named for it (``{"ring": ["seed", "success"]}``). A ``run.json`` or table that cannot be read or
    does not match raises :class:`gancore.storage.CorruptFileError` naming the file and the fix, rather
    than silently dropping or misreading a run the chapter claims to show."""
    base = Path(root) if root is not None else top_folder() / "results"
    runs = []
    for run_json in sorted((base / chapter).glob("*/run.json")):
        if run_json.parent.name.startswith("."):
            continue
        meta = storage.read_json(run_json)
        if not isinstance(meta, dict):
            raise storage.CorruptFileError(run_json, f"it holds a {type(meta).__name__}, not a JSON object")
        runs.append((meta, _checked_tables(run_json.parent, meta, columns or {})))
    return runs


def _checked_tables(folder: Path, meta: dict, columns: Mapping[str, Sequence[str]]) -> dict[str, pd.DataFrame]:
    """The tables of the stored run in ``folder`` (see :func:`stored`)."""
    records = meta.get("table_records") or {}
    sweep = meta.get("kind") == "sweep"
    seeds = meta.get("parameters", {}).get("seeds") if sweep else None
    if sweep:
        advice = (f"Run the sweep again (make sweep NAME={meta.get('chapter')} SWEEP={folder.name} with its "
                  "parameters from run.json): damaged jobs are recomputed and the tables merged anew; or restore "
                  "the file from git (git checkout -- FILE).")
    else:
        advice = ("Restore it from git (git checkout -- FILE), or run the chapter again with STORE=1 and delete "
                  "this run's folder.")
    names = sorted(set(records) | {p.stem for p in folder.glob("*.csv")})
    return {name: storage.read_table(folder / f"{name}.csv", records.get(name),
                                     _seed_list(seeds) if isinstance(seeds, str) else None,
                                     tuple(columns.get(name, ())), advice) for name in names}


def _seed_list(text: str) -> list[int]:
    """``"0-3,7"`` -> [0, 1, 2, 3, 7] (the seeds a sweep's run.json records)."""
    seeds: list[int] = []
    for part in text.split(","):
        first, _, last = part.partition("-")
        seeds.extend(range(int(first), int(last or first) + 1))
    return seeds


def check(name: str, profile: str = "quick", device: str = "auto", seed: int | None = None,
          overrides: Mapping[str, Any] | None = None, parameters: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The papermill parameters of a run of chapter ``name``, after checking all that can be checked
    without a kernel: ``name`` is a chapter of ``_toc.yml``, ``profile`` and ``overrides`` are valid for
    it (:func:`gancore.profiles.get`), and every parameter is a name of the chapter's ``parameters``
    cell. Raises ValueError saying what is wrong."""
    return _prepared(top_folder(), name, profile, device, seed, overrides, parameters)[1]


def _as_json(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``overrides`` as the kernel will receive them: papermill passes a tuple as its string, so tuples
    become lists (which ``profiles.get`` accepts for tuple settings and stores as tuples)."""
    return json.loads(json.dumps(dict(overrides)))


def _prepared(top: Path, name: str, profile: str, device: str, seed: int | None,
              overrides: Mapping[str, Any] | None, parameters: Mapping[str, Any] | None) -> tuple[Any, dict[str, Any]]:
    """:func:`check`, also returning the chapter's source as a notebook ready for papermill."""
    # jupytext and papermill take seconds to import; chapters import this module for record/stored
    import jupytext
    from papermill.translators import PythonTranslator

    known = chapters(top)
    if name not in known:
        raise ValueError(f"Unknown chapter {name!r}: the chapters are the book/executed/NAME entries of "
                         f"{top / '_toc.yml'}: {', '.join(known)}.")
    source = top / "book" / f"{name}.md"
    if not source.exists():
        raise ValueError(f"Chapter {name!r} is in {top / '_toc.yml'} but its source {source} is missing.")
    settings = profiles.get(name, profile, overrides)  # names, types and sense; training past the limit
    if profile == "paper":  # the real data sets, before hours of training (the chapter calls data.require too)
        data.require(sorted(_data_names(settings)), settings.get("data_root"))
    for key in parameters or {}:
        if key in _OWN_ARGUMENTS:
            raise ValueError(f"Pass {key} as its own argument ({_OWN_ARGUMENTS[key]}, or execute(..., {key}=...)), "
                             f"not as a parameter.")
    injected = ({"profile": profile, "device": device} | ({"seed": seed} if seed is not None else {})
                | ({"overrides": _as_json(overrides)} if overrides is not None else {}) | dict(parameters or {}))
    notebook = jupytext.read(source)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cells = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    if not cells:
        raise ValueError(f"{source} has no cell tagged 'parameters' for papermill to inject into.")
    names = [p.name for p in PythonTranslator.inspect(cells[0])]
    unknown = [key for key in injected if key not in names]
    if unknown:
        raise ValueError(f"Chapter {name!r} has no parameter(s) {', '.join(unknown)}; its parameters cell "
                         f"({source}) sets {', '.join(names)}.")
    return notebook, injected


def _data_names(settings: Mapping[str, Any]) -> set[str]:
    """The data sets a chapter's settings name (settings called ``data``, a name or a tuple of names)."""
    names: set[str] = set()
    for key, value in settings.items():
        if isinstance(value, Mapping):
            names |= _data_names(value)
        elif key == "data":
            names |= {v for v in ((value,) if isinstance(value, str) else value) if isinstance(v, str)}
    return names


def _estimate(top: Path, name: str, profile: str) -> str:
    """The last measured time of chapter ``name`` in ``profile`` on this machine (``_build/timings``)."""
    try:
        seconds = storage.read_json(top / "_build" / "timings" / f"{name}-{profile}.json")["seconds"]
    except (OSError, KeyError, TypeError, ValueError):
        return "no earlier run on this machine to estimate its time"
    return f"estimated {seconds / 60:.1f} min (its last run here; changed settings change that)"


def _publish(folder: Path, target: Path) -> Path:
    """Rename ``folder`` to ``target`` (atomic), or to ``target-2``, ``target-3``... when a run with
    that name exists already (a rename onto a folder that is not empty fails)."""
    candidate, n = target, 1
    while True:
        try:
            os.rename(folder, candidate)
            return candidate
        except OSError as e:
            if e.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
        n += 1
        candidate = target.with_name(f"{target.name}-{n}")


def execute(name: str, profile: str = "quick", device: str = "auto", seed: int | None = None,
            store: bool = False, overrides: Mapping[str, Any] | None = None,
            parameters: Mapping[str, Any] | None = None, output: str | os.PathLike | None = None,
            allow_long: bool = False, if_changed: bool = False) -> Path:
    """Execute chapter ``name`` with papermill (see the module docstring); returns the output path:
    ``book/executed/NAME.ipynb``, or with ``store`` the stored run's folder's notebook. ``overrides``
    are settings of the profile to change, ``parameters`` other names of the parameters cell.
    ``output`` sends the executed notebook elsewhere (benchmarks time a chapter without replacing it).
    Nothing is replaced or stored unless the whole notebook ran; ``$GANCORE_RUN_DIR`` is as before
    afterwards.

    The book's notebook records what it was executed from (commit, date, device, numerics, wall time,
    and :func:`gancore.freshness.inputs_hash` under :data:`gancore.freshness.KEY`); with
    ``if_changed`` a default execution (no store, output, seed, overrides or parameters) whose inputs
    hash equals the recorded one is skipped: nothing it reads has changed since."""
    import jupytext  # see _prepared
    import papermill

    if store and output is not None:
        raise ValueError("A stored run's notebook goes to its results folder: give store or output, not both.")
    top = top_folder()
    default = not (store or output is not None or seed is not None or overrides or parameters)
    inputs = freshness.inputs_hash(name, top, profile) if default else None
    target = top / "book" / "executed" / f"{name}.ipynb"
    if if_changed and default and freshness.recorded_hash(target) == inputs:
        print(f"{name}: unchanged since its execution (inputs {inputs[:12]}), not re-executed", flush=True)
        return target
    saved_long = os.environ.get(profiles.LONG_ENV)
    if allow_long:  # the chapter's kernel reads its settings with profiles.get too
        os.environ[profiles.LONG_ENV] = "1"
    try:
        notebook, injected = _prepared(top, name, profile, device, seed, overrides, parameters)
        kernel_mode = _kernel_numerics(name, store or output is not None)
    finally:
        if allow_long and saved_long is None:
            os.environ.pop(profiles.LONG_ENV, None)
    print(f"{name}: profile {profile}, numerics {kernel_mode}; {_estimate(top, name, profile)}", flush=True)
    started = _dt.datetime.now(_dt.timezone.utc)
    commit = provenance.git_commit(top)  # the code the run starts from, not the tree as it is hours later
    stamp = f"{started:%Y%m%d-%H%M%S}-{profile}"
    (top / "_build" / "notebooks").mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f"{name}-{stamp}-", dir=top / "_build" / "notebooks"))
    unexecuted, executed = scratch / f"{name}.unexecuted.ipynb", scratch / f"{name}.ipynb"
    jupytext.write(notebook, unexecuted)
    run_dir = None
    if store:
        (top / "results" / name).mkdir(parents=True, exist_ok=True)
        run_dir = Path(tempfile.mkdtemp(prefix=f".{stamp}-", suffix=".tmp", dir=top / "results" / name))
    saved = {key: os.environ.get(key) for key in (RUN_DIR_ENV, numerics.SWITCH, *numerics.ENVIRONMENT, profiles.LONG_ENV,
                                                  meter.FILE_ENV)}
    recorded = False  # the run finished and its run.json is written: from then on, never delete its folder
    try:
        if run_dir is not None:
            os.environ[RUN_DIR_ENV] = str(run_dir)
        else:
            os.environ.pop(RUN_DIR_ENV, None)
        # the kernel gets the numerics environment from this process: portable unless asked otherwise
        os.environ.update(numerics.kernel_environment(kernel_mode) | ({profiles.LONG_ENV: "1"} if allow_long else {}))
        os.environ[meter.FILE_ENV] = str(scratch / "meter.json")  # the kernel's evaluation seconds
        t0, clock, cpu = time.perf_counter(), meter.Clock(), meter.children_cpu()
        papermill.execute_notebook(str(unexecuted), str(executed), parameters=injected, cwd=str(top / "book"),
                                   kernel_name="python3", progress_bar=sys.stderr.isatty(), log_output=False)
        seconds = time.perf_counter() - t0
        _hide_injected_cell(executed)
        if run_dir is not None:
            storage.atomic_write(run_dir / f"{name}.ipynb", executed.read_bytes())
            resolved = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
            storage.write_json(run_dir / "run.json", {
                "chapter": name, "parameters": injected, "git_commit": commit,
                "device": resolved, "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
                "numerics": kernel_mode, "identity": provenance.identity(resolved, kernel_mode),
                "table_records": {p.stem: storage.table_record(storage.read_csv(p), p.read_bytes())
                                  for p in sorted(run_dir.glob("*.csv"))},
                "versions": provenance.versions(),
                "wall_seconds": round(seconds, 1), "date": started.isoformat(timespec="seconds"),
                "throughput": clock.stop(None, cpu=meter.children_cpu() - cpu,
                                         evaluation=meter.evaluation_file(scratch / "meter.json"))})
            recorded = True
            output = _publish(run_dir, top / "results" / name / stamp) / f"{name}.ipynb"
        else:
            output = Path(output) if output is not None else target
            if inputs is not None:
                _stamp(executed, {"commit": commit, "date": started.isoformat(timespec="seconds"), "profile": profile,
                                  "device": ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto"
                                  else device, "numerics": kernel_mode, "wall_seconds": round(seconds, 1)}, inputs)
            storage.atomic_write(output, executed.read_bytes())
    except BaseException as error:
        if recorded:
            error.add_note(f"Chapter {name!r} ran to the end but its stored run could not be published as "
                           f"{top / 'results' / name / stamp}: the run (notebook, recorded tables and run.json) is "
                           f"kept whole at {run_dir}; rename that folder to {stamp} (without the leading dot) "
                           "to publish it by hand.")
        else:
            kept = f"the failed notebook is kept at {executed}" if executed.exists() else f"its input is {unexecuted}"
            error.add_note(f"Chapter {name!r} did not run to the end, so nothing was replaced or stored; {kept}.")
        raise
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if run_dir is not None and not recorded:
            shutil.rmtree(run_dir, ignore_errors=True)
    storage.write_json(top / "_build" / "timings" / f"{name}-{profile}.json",
                       {"chapter": name, "profile": profile, "seconds": seconds})
    shutil.rmtree(scratch)
    print(f"{name}: executed in {seconds:.0f} s -> {output}")
    return output


def _kernel_numerics(name: str, elsewhere: bool) -> str:
    """The numerics mode the chapter's kernel runs in: portable (the book's), whatever this process's
    environment, unless ``$GANCORE_NUMERICS`` asks for ``default``; that is refused (before any work)
    when the run would replace the committed notebook, whose numbers are portable ones."""
    asked = os.environ.get(numerics.SWITCH) or "portable"
    if asked not in ("portable", "default"):
        raise ValueError(f"Invalid {numerics.SWITCH}={asked!r}: use portable (the book's numerics) or default.")
    if asked == "default" and not elsewhere:
        raise ValueError(f"{numerics.SWITCH}=default would replace book/executed/{name}.ipynb (portable numerics) "
                         f"with numbers of this machine's default numerics. Unset {numerics.SWITCH} (or set it to "
                         "portable), or keep the run elsewhere: --store, or execute(..., output=PATH).")
    return asked


def _stamp(notebook: Path, execution: Mapping[str, Any], inputs: str) -> None:
    """Record in the notebook's metadata what it was executed from (the status page reads it) and the
    inputs hash that lets ``make book`` skip it while nothing it reads changes."""
    content = json.loads(notebook.read_text())
    content["metadata"]["gancore"] = dict(execution)
    content["metadata"][freshness.KEY] = inputs
    notebook.write_text(json.dumps(content, indent=1, ensure_ascii=False) + "\n")


def _hide_injected_cell(notebook: Path) -> None:
    """Tag papermill's injected parameters cell ``remove-cell``: the book shows the chapter's own
    parameters cell, and the injected one (the values this run used) stays in the notebook."""
    content = json.loads(notebook.read_text())
    for cell in content["cells"]:
        tags = cell.get("metadata", {}).get("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            tags.append("remove-cell")
    notebook.write_text(json.dumps(content, indent=1, ensure_ascii=False) + "\n")


def _json_object(text: str) -> dict[str, Any]:
    """``--overrides``: a JSON object."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"overrides must be a JSON object, e.g. '{{\"steps\": 500}}'; got {text!r}")
    return value


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m gancore.runs", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("execute", help="execute one chapter with papermill")
    ex.add_argument("name", help="a chapter: a book/executed/NAME entry of _toc.yml")
    ex.add_argument("--profile", default="quick")
    ex.add_argument("--device", default="auto")
    ex.add_argument("--seed", type=int)
    ex.add_argument("--store", action="store_true", help="keep the run under results/NAME/<run>/ with run.json")
    ex.add_argument("--overrides", type=_json_object, metavar="JSON",
                    help="settings of the profile to change, a JSON object, e.g. '{\"steps\": 500}'")
    ex.add_argument("--allow-long", action="store_true", help=f"allow training past {profiles.MAX_STEPS:,} steps")
    ex.add_argument("--if-changed", action="store_true",
                    help="skip the chapter when nothing it reads changed since book/executed/NAME.ipynb was made")
    ex.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                    help="any other parameter of the chapter's parameters cell (value parsed as JSON if it can be)")
    args = parser.parse_args(argv)

    def parse(value: str) -> Any:
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value

    parameters = {k: parse(v) for k, v in args.parameter}
    try:  # wrong arguments: a usage message, before any kernel starts
        if args.allow_long:
            os.environ[profiles.LONG_ENV] = "1"
        check(args.name, args.profile, args.device, args.seed, args.overrides, parameters)
        _kernel_numerics(args.name, args.store)
    except (ValueError, data.DataNotFoundError) as e:
        ex.error(str(e))
    execute(args.name, args.profile, args.device, args.seed, args.store, args.overrides, parameters,
            allow_long=args.allow_long, if_changed=args.if_changed)


if __name__ == "__main__":
    main()
