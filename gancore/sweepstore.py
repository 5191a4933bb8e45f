"""A sweep's folder on disk: finished jobs published whole and checked when read, damaged or foreign
results set aside (never deleted), and a sweep label bound to one set of parameters.

Layout (under ``results/NAME/<sweep>/``): ``jobs/<job>/`` (a job's tables and ``run.json``, whose
``table_records`` hold each table's rows, columns, seeds and SHA-256, and whose ``identity`` holds the
code, numerics mode, device kind and torch version that computed it), ``sweep.json`` (the parameters
the label was first run with), ``damaged/`` (jobs whose files did not match their record, moved
aside before being recomputed) and ``replaced/`` (results moved aside when the user asked to replace
them). Nothing here deletes a result that was whole.
"""

from __future__ import annotations

import datetime as _dt
import errno
import json
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from . import provenance, storage

__all__ = ["job_state", "set_aside", "publish_job", "bind_label", "read_job_tables", "check_identities", "bind_checkpoints", "stamp"]


def stamp() -> str:
    """The current UTC time as a folder-name prefix (``20260102-030405``)."""
    return f"{_dt.datetime.now(_dt.timezone.utc):%Y%m%d-%H%M%S}"


def _advice(folder: Path) -> str:
    return f"Run the sweep again: a damaged job is moved to {folder.parent.parent / 'damaged'} and recomputed."


def read_job_tables(folder: Path, seeds: Sequence[int]) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]:
    """A finished job's ``run.json`` and tables, every table checked against its record (or, for a job
    stored before records existed, against the job's seeds): :class:`gancore.storage.CorruptFileError`
    naming the file otherwise."""
    run_json = folder / "run.json"
    if not run_json.is_file():
        raise storage.CorruptFileError(run_json, "it is missing (the job's folder is incomplete)", _advice(folder))
    record = storage.read_json(run_json)
    if not isinstance(record, dict) or not isinstance(record.get("tables"), list):
        raise storage.CorruptFileError(run_json, "it is not a job record (no list of tables)", _advice(folder))
    records = record.get("table_records") or {}
    tables = {name: storage.read_table(folder / f"{name}.csv", records.get(name), list(seeds), advice=_advice(folder))
              for name in record["tables"]}
    return record, tables


def job_state(folder: Path, seeds: Sequence[int]) -> tuple[str, dict[str, Any] | None, str]:
    """``("done", record, "")`` for a whole job, ``("absent", None, "")`` when ``folder`` does not exist,
    ``("damaged", None, why)`` for a folder whose ``run.json`` or tables are missing or do not match."""
    if not folder.exists():
        return "absent", None, ""
    try:
        record, _ = read_job_tables(folder, seeds)
    except storage.CorruptFileError as error:
        return "damaged", None, str(error)
    return "done", record, ""


def set_aside(path: Path, under: Path) -> Path:
    """Move ``path`` (a file or folder) into ``under/<time>-<name>`` (a unique name), never deleting it."""
    under.mkdir(parents=True, exist_ok=True)
    target, n = under / f"{stamp()}-{path.name}", 1
    while target.exists():
        n += 1
        target = under / f"{stamp()}-{path.name}-{n}"
    os.rename(path, target)
    return target


def publish_job(jobs: Path, job_id: str, seeds: Sequence[int], tables: Mapping[str, pd.DataFrame],
                record: dict[str, Any]) -> Path:
    """Write a finished job's tables and ``run.json`` (with their ``table_records``) in a hidden folder
    and rename it to ``jobs/<job_id>`` whole. A whole job already there (another run of the sweep
    finished it meanwhile) is kept; an incomplete or damaged one is moved to ``damaged/`` first, so the
    new result is kept rather than thrown away."""
    jobs.mkdir(parents=True, exist_ok=True)
    target = jobs / job_id
    scratch = Path(tempfile.mkdtemp(prefix=f".{job_id}-", suffix=".tmp", dir=jobs))
    try:
        written = {name: storage.write_table(scratch / f"{name}.csv", table) for name, table in tables.items()}
        storage.write_json(scratch / "run.json", record | {"table_records": written})
        for _ in range(3):
            try:
                os.rename(scratch, target)
                break
            except OSError as error:
                if error.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                    raise
                if job_state(target, seeds)[0] == "done":
                    break  # finished by another run of this sweep meanwhile: keep that one
                set_aside(target, jobs.parent / "damaged")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def bind_checkpoints(work: Path, identity: dict[str, str]) -> None:
    """Refuse to continue from checkpoints in ``work`` made with another identity (half old code, half
    new); record this identity there when the folder is new."""
    bound = work / "identity.json"
    if bound.is_file():
        found = provenance.identity_differences(storage.read_json(bound), identity)
        if found:
            raise RuntimeError(f"The checkpoints in {work} were written with another {'; '.join(found)}: continuing "
                               f"from them would mix the two. Re-run the sweep with --replace (REPLACE=1) to set them "
                               f"aside and start the job over, or go back to what wrote them.")
    else:
        storage.write_json(bound, identity)


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value))


def bind_label(folder: Path, parameters: Mapping[str, Any], replace: bool) -> list[str]:
    """Check that the sweep label ``folder`` was run with ``parameters`` (its ``sweep.json``, or the
    merged ``run.json`` of a sweep stored before labels were bound) and record them when it is new.
    A label with other parameters raises ValueError naming each difference, unless ``replace``: then
    its merged tables, ``run.json`` and ``sweep.json`` are moved to ``replaced/`` and the new
    parameters bound. Returns the differences found."""
    parameters = _plain(parameters)
    bound = folder / "sweep.json"
    old = storage.read_json(bound) if bound.is_file() else None
    if old is None and (folder / "run.json").is_file():
        old = storage.read_json(folder / "run.json").get("parameters")
        old = old | {"experiment": storage.read_json(folder / "run.json").get("experiment")} if old else None
    differences = [] if old is None else [
        f"{k}: {json.dumps(old.get(k))} there vs {json.dumps(parameters.get(k))} now"
        for k in dict.fromkeys([*old, *parameters]) if old.get(k) != parameters.get(k)]
    if differences and not replace:
        raise ValueError(f"The sweep {folder} exists with other parameters ({'; '.join(differences)}); nothing was "
                         "run. Give this sweep another label (--sweep LABEL, SWEEP=LABEL), or pass --replace (REPLACE=1) "
                         f"to replace it (its merged results then move to {folder / 'replaced'}).")
    if differences:
        aside = folder / "replaced" / stamp()
        aside.mkdir(parents=True, exist_ok=True)
        for path in [*folder.glob("*.csv"), folder / "run.json", bound]:
            if path.is_file():
                os.rename(path, aside / path.name)
    if differences or old is None or not bound.is_file():
        storage.write_json(bound, parameters)
    return differences


def check_identities(records: Mapping[str, Mapping[str, Any]], where: Path) -> None:
    """ValueError when the jobs' ``identity`` (code, numerics, device kind, torch) differ: their tables
    must not be merged into one. Jobs stored before identities were recorded are legacy, unchecked."""
    known = {job: record["identity"] for job, record in records.items() if record.get("identity")}
    if not known:
        return
    first, reference = next(iter(known.items()))
    for job, ident in known.items():
        found = provenance.identity_differences(reference, ident)
        if found:
            raise ValueError(f"Cannot merge sweep {where}: job {job} was computed with another "
                             f"{', '.join(line.split(':')[0] for line in found)} than job {first} "
                             f"({'; '.join(found).replace(' now', ' (' + job + ')')}). Re-run the sweep with "
                             "--replace (REPLACE=1) to recompute the jobs made otherwise, or give it another label.")
