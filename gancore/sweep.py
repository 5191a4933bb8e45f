"""A chapter's experiment over a grid of settings and a range of seeds, on Dask.

``python -m gancore.sweep NAME --seeds 0-199 [--grid JSON] [--profile quick] [--overrides JSON]
[--seeds-per-job N] [--device auto] [--scheduler ADDRESS] [--workers N] [--sweep LABEL]``, or
``make sweep NAME=alpha_gan GRID='{"ring": {"lr": [1e-4, 2e-4]}}' SEEDS=0-199 [SCHEDULER=tcp://host:8786]``.

A sweep is planned before anything runs (:func:`plan`). The grid maps setting names (a group's
nested, ``{"ring": {"lr": [...]}}``, or dotted, ``{"ring.lr": [...]}``) to lists of values; every
combination is a cell, applied as overrides to :func:`gancore.profiles.get` (so names and types are
checked before any job starts). Each cell's seeds are split into blocks of ``seeds_per_job`` (all of
them by default): a job trains one block of seeds of one cell together, as one batched ensemble
(:mod:`gancore.ensemble`), so a GPU worker gets 200 seeds of a cell as one job, not 200 jobs. A job
runs the library's experiment function for the chapter (:data:`gancore.catalog.EXPERIMENTS`) directly in a worker
process; papermill remains the way a chapter is executed (:mod:`gancore.runs`).

Jobs run on dask.distributed (:mod:`gancore.cluster`): by default an embedded ``LocalCluster`` on the
loopback interface with TLS and temporary credentials (one worker process per core, one thread each,
torch set to one thread; no dashboard), started for the sweep and closed after it; ``--scheduler`` or ``$GANCORE_SCHEDULER`` attaches to a running cluster
instead (a ``dask-jobqueue`` SLURMCluster, GPU workers started with ``--resources GPU=1``: jobs of a
``cuda`` sweep ask for one). A worker lost during a job (killed, out of memory, allocation ended)
makes Dask run the job again elsewhere; a job that raises is recorded with its traceback and the
other jobs go on.

Files (every one written atomically; the client writes them, so workers need no shared disk)::

    results/NAME/<sweep>/jobs/<job>/<table>.csv, run.json   a finished job, published whole (one rename)
    results/NAME/<sweep>/failed/<job>.json                  a job that raised: its traceback (run again next time)
    results/NAME/<sweep>/<table>.csv, run.json              the merge of all jobs, once every job is done
    results/NAME/<sweep>/work/<job>/                        a running job's checkpoints (experiments that keep
                                                            them: alpha_gan), removed when the job is stored

A job whose experiment keeps checkpoints continues from them when the sweep runs again, so a long job
interrupted by a crash or a lost allocation loses only the steps since its last checkpoint (workers
write them, so on a cluster give ``--root`` a folder the workers share, or they start such jobs over).

A job's id is a hash of (chapter, profile, experiment, resolved settings, seeds); running the same
sweep again runs only the jobs not finished yet (after a crash or a lost allocation) and merges again.
Never silently mixed, lost or misread (:mod:`gancore.sweepstore`): every job records its *identity*
(the code: commit and a hash of uncommitted library changes; the numerics mode; the device kind; the
torch version, :func:`gancore.provenance.identity`), and a stored job, or a checkpoint in ``work/``,
of another identity is refused, naming the difference, unless ``--replace`` (which moves it to
``replaced/``); jobs of different identities are never merged. Every stored table is read back
checked against the rows, seeds and hash its job recorded; a damaged or incomplete job (a missing
``run.json`` included) is moved to ``damaged/`` and computed again. A ``--sweep`` label is bound to
the parameters it was first run with (``sweep.json``): other parameters under it are refused unless
``--replace``.
The merged folder is laid out like a stored run of the chapter, so a chapter reads sweeps with
:func:`gancore.runs.stored`, labelled by the sweep's ``run.json`` (parameters, commit, versions,
device, wall time, throughput and load (:mod:`gancore.meter`), date).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import hashlib
import itertools
import json
import os
import platform
import re
import shutil
import sys
import time
import traceback
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import pandas as pd
import torch
from distributed import Client, as_completed
from tqdm import tqdm

from . import cluster, meter, numerics, profiles, provenance, storage, sweepstore, train
from .catalog import EXPERIMENTS, Experiment

__all__ = ["Experiment", "EXPERIMENTS", "Job", "Plan", "Outcome", "plan", "run", "run_job", "merge", "connect",
           "grid_cells", "parse_seeds", "format_seeds", "run_order", "SCHEDULER_ENV"]

SCHEDULER_ENV = cluster.SCHEDULER_ENV
connect = cluster.connect


@dataclass(frozen=True)
class Job:
    """One unit of work: the experiment on one grid cell's settings and one block of seeds."""

    id: str
    chapter: str
    profile: str
    experiment: str
    run: Callable[..., dict[str, pd.DataFrame]]
    settings: profiles.Settings
    overrides: dict[str, Any]  # the sweep's overrides with this job's grid cell put in
    cell: dict[str, Any]  # the grid cell, dotted setting names -> values: columns of the job's tables
    seeds: tuple[int, ...]
    device: str
    seed_steps: int
    work: str | None = None  # the folder for the job's checkpoints (experiments that keep them)
    code: str = ""  # the library's code when the sweep was planned (provenance.code_identity)


@dataclass
class Plan:
    """A sweep before it runs: its jobs and the folder they are stored in."""

    chapter: str
    profile: str
    grid: dict[str, Any]
    overrides: dict[str, Any]
    seeds: list[int]
    seeds_per_job: int
    device: str
    experiment: str
    name: str
    folder: Path
    jobs: list[Job]

    def job_folder(self, job: Job) -> Path:
        return self.folder / "jobs" / job.id

    def done(self, job: Job) -> bool:
        """Whether ``job`` finished in an earlier run: its folder is whole and its tables match their record."""
        return sweepstore.job_state(self.job_folder(job), job.seeds)[0] == "done"

    def parameters(self) -> dict[str, Any]:
        """What the sweep's label is bound to (``sweep.json``; the merged ``run.json``'s parameters)."""
        return {"profile": self.profile, "overrides": self.overrides, "grid": self.grid,
                "seeds": format_seeds(sorted(self.seeds)), "seeds_per_job": self.seeds_per_job, "device": self.device,
                "experiment": self.experiment}

    def identity(self) -> dict[str, str]:
        """The identity every job of this sweep must have, but for the device kind (known on the worker)."""
        return provenance.identity("cpu", numerics.mode(), self.jobs[0].code if self.jobs else None)


@dataclass
class Outcome:
    """What :func:`run` did: job ids run now, found done, failed (id -> traceback), and the merged
    tables (empty while a job has failed)."""

    plan: Plan
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)


# --------------------------------------------------------------------------- planning

def parse_seeds(text: str) -> list[int]:
    """``"0-199"`` -> 0..199; comma-separated ranges and single seeds: ``"0-9,20,30-39"``."""
    seeds: list[int] = []
    for part in text.split(","):
        found = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if found is None or (found[2] is not None and int(found[2]) < int(found[1])):
            raise ValueError(f"Invalid seeds {text!r}: give a range like 0-199, or ranges and seeds separated by "
                             f"commas like 0-9,20,30-39 (non-negative, ranges ascending).")
        seeds.extend(range(int(found[1]), int(found[2] or found[1]) + 1))
    return seeds


def format_seeds(seeds: Sequence[int]) -> str:
    """The inverse of :func:`parse_seeds` for sorted seeds: ``[0, 1, 2, 5]`` -> ``"0-2,5"``."""
    runs = []
    for _, group in itertools.groupby(enumerate(seeds), lambda p: p[1] - p[0]):
        block = [s for _, s in group]
        runs.append(str(block[0]) if len(block) == 1 else f"{block[0]}-{block[-1]}")
    return ",".join(runs)


def _dotted(grid: Mapping[str, Any], where: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in grid.items():
        flat |= _dotted(value, f"{where}{key}.") if isinstance(value, Mapping) else {where + key: value}
    return flat


def _nested(cell: Mapping[str, Any]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for name, value in cell.items():
        *groups, last = name.split(".")
        place = nested
        for group in groups:
            place = place.setdefault(group, {})
        place[last] = value
    return nested


def grid_cells(grid: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Every combination of the grid's values, as dicts of dotted setting names (``{"ring.lr":
    0.001, "p_min": 1e-07}``), in the order of ``itertools.product``. A grid maps setting names to
    LISTS of values to try (a group nested or dotted); ``{}`` or None is one cell, the profile as it is."""
    flat = _dotted(grid or {})
    for name, values in flat.items():
        if not isinstance(values, list) or not values:
            raise ValueError(f"Grid entry {name!r}: give a non-empty list of the values to try, e.g. "
                             f"{{{json.dumps(name)}: [a, b]}} (a tuple setting takes a list of lists); got {values!r}.")
    return [dict(zip(flat, values)) for values in itertools.product(*flat.values())]


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def plan(chapter: str, seeds: str | Sequence[int], grid: Mapping[str, Any] | None = None, profile: str = "quick",
         overrides: Mapping[str, Any] | None = None, seeds_per_job: int | None = None, device: str = "auto",
         name: str | None = None, root: str | os.PathLike = "results",
         experiment: Experiment | None = None, allow_long: bool | None = None) -> Plan:
    """The jobs of a sweep of ``chapter``'s experiment (``experiment``, default :data:`EXPERIMENTS`'s)
    over ``grid`` (see :func:`grid_cells`) and ``seeds`` (a list, or a text for :func:`parse_seeds`),
    ``seeds_per_job`` seeds a job (default all), settings from ``profile`` with ``overrides`` and the
    cell's values (checked by :func:`gancore.profiles.get`). The sweep's folder is
    ``root/chapter/name``; ``name`` defaults to the profile and a hash of the job ids, so the same
    sweep finds its folder again. Raises ValueError saying what is wrong (settings are checked for
    sense by :func:`gancore.profiles.get`; ``allow_long`` admits training past its limit)."""
    if experiment is None:
        if chapter not in EXPERIMENTS:
            raise ValueError(f"No sweep experiment {chapter!r}; experiments: {', '.join(EXPERIMENTS)}. "
                             f"Add its experiment function to gancore.sweep.EXPERIMENTS.")
        experiment = EXPERIMENTS[chapter]
    chapter = chapter.split(".")[0]
    seeds = parse_seeds(seeds) if isinstance(seeds, str) else [int(s) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise ValueError(f"Invalid seeds {format_seeds(seeds) if seeds else '(none)'}: give distinct "
                         f"non-negative seeds, at least one.")
    block = len(seeds) if seeds_per_job is None else seeds_per_job
    if block < 1:
        raise ValueError(f"Invalid seeds_per_job {seeds_per_job}: give at least 1 (default: all seeds in one job).")
    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", device):
        raise ValueError(f"Invalid device {device!r}: use auto, cpu, cuda or cuda:N.")
    jobs = []
    for cell in grid_cells(grid):
        job_overrides = profiles.deep_merge(overrides or {}, _nested(cell))
        settings = profiles.get(chapter, profile, job_overrides, allow_long)
        for start in range(0, len(seeds), block):
            part = tuple(seeds[start:start + block])
            job_id = _digest({"chapter": chapter, "profile": profile, "experiment": experiment.name,
                              "settings": settings, "seeds": part})[:16]
            work = str(Path(root).resolve() / chapter / "{sweep}" / "work" / job_id) if experiment.checkpoints else None
            jobs.append(Job(job_id, chapter, profile, experiment.name, experiment.run, settings, job_overrides, cell,
                            part, device, experiment.seed_steps(settings, len(part)), work, provenance.code_identity()))
    ids = [job.id for job in jobs]
    if len(set(ids)) != len(ids):
        raise ValueError("The grid gives the same settings twice (a value repeated, or one equal to the profile's "
                         "after type conversion): give each value once.")
    name = name or f"{profile}-{_digest(ids)[:10]}"
    if Path(name).name != name or name.startswith("."):
        raise ValueError(f"Invalid sweep name {name!r}: use a plain folder name, e.g. 'lr-grid'.")
    jobs = [replace(job, work=job.work.format(sweep=name)) if job.work else job for job in jobs]
    return Plan(chapter, profile, dict(grid or {}), dict(overrides or {}), seeds, block, device, experiment.name, name,
                Path(root) / chapter / name, jobs)


# --------------------------------------------------------------------------- one job

def run_job(job: Job) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """Run ``job`` in this process (what a worker does): the experiment on the job's settings and
    seeds, the grid cell's values put in front of every table as columns. Returns the tables and the
    job's ``run.json`` record (settings, seeds, commit, versions, device, wall time, throughput, date). An error of
    the experiment is raised."""
    started = _dt.datetime.now(_dt.timezone.utc)
    commit = provenance.git_commit()  # the code the job starts from, not the tree as it is hours later
    t0, clock = time.perf_counter(), meter.Clock(resumed=bool(job.work) and any(Path(job.work).glob("*.pt")))
    device = train.resolve_device(job.device)
    identity = provenance.identity(device, numerics.mode(), job.code or None)
    if job.work:
        sweepstore.bind_checkpoints(Path(job.work), identity)
    options = {} if job.work is None else {"checkpoint_dir": job.work}
    tables = job.run(job.settings, list(job.seeds), str(device), **options)
    if not isinstance(tables, dict) or not all(isinstance(t, pd.DataFrame) for t in tables.values()):
        raise TypeError(f"The experiment {job.experiment} returned {type(tables).__name__}; it must return a dict "
                        f"of table name -> pandas DataFrame.")
    for name, table in tables.items():
        if not name or Path(name).name != name or name == "run":
            raise ValueError(f"The experiment {job.experiment} returned a table named {name!r}: use a plain file "
                             f"name other than 'run'.")
        for position, (column, value) in enumerate(job.cell.items()):
            table.insert(position, column, [value] * len(table))
    record = {"job": job.id, "chapter": job.chapter, "profile": job.profile, "experiment": job.experiment,
              "cell": job.cell, "overrides": job.overrides, "settings": job.settings, "seeds": list(job.seeds),
              "tables": list(tables), "device": str(device),
              "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
              "torch_threads": torch.get_num_threads(),
              "numerics": numerics.describe(), "identity": identity, "host": platform.node(), "git_commit": commit,
              "versions": provenance.versions(), "wall_seconds": round(time.perf_counter() - t0, 2),
              "throughput": clock.stop(job.seed_steps), "date": started.isoformat(timespec="seconds")}
    return tables, record


def _attempt(job: Job) -> dict[str, Any]:
    """:func:`run_job` on a worker: its tables and record, or the traceback of what it raised."""
    try:
        tables, record = run_job(job)
        return {"tables": tables, "record": record}
    except Exception:
        return {"traceback": traceback.format_exc(), "host": platform.node()}


def _store(plan: Plan, job: Job, tables: dict[str, pd.DataFrame], record: dict[str, Any]) -> None:
    """Publish a finished job whole (:func:`gancore.sweepstore.publish_job`), then drop its failure
    record and checkpoints."""
    sweepstore.publish_job(plan.folder / "jobs", job.id, job.seeds, tables, record)
    (plan.folder / "failed" / f"{job.id}.json").unlink(missing_ok=True)
    if job.work:
        shutil.rmtree(job.work, ignore_errors=True)
        with contextlib.suppress(OSError):  # the last job's: the sweep's work folder goes too
            Path(job.work).parent.rmdir()


def _store_failure(plan: Plan, job: Job, text: str, host: str) -> None:
    storage.write_json(plan.folder / "failed" / f"{job.id}.json", {
        "job": job.id, "chapter": job.chapter, "profile": job.profile, "cell": job.cell, "overrides": job.overrides,
        "seeds": list(job.seeds), "device": job.device, "host": host, "traceback": text,
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")})


# --------------------------------------------------------------------------- running

def run(plan: Plan, client: Client | None = None, scheduler: str | None = None, workers: int | None = None,
        progress: bool | None = None, replace: bool = False) -> Outcome:
    """Run the jobs of ``plan`` not done yet on ``client`` (or on :func:`connect`'s, started only if
    there is a job to run), store each as it finishes, then merge (:func:`merge`) if none failed.
    ``progress``: a bar of jobs and seed-steps (default: when stderr is a terminal). Before any work:
    the label must hold this plan's parameters, and stored jobs and checkpoints this plan's identity
    (else ValueError naming the difference), unless ``replace``, which moves the others to
    ``replaced/``; damaged jobs are moved to ``damaged/`` and run again."""
    done = _prepare(plan, replace)
    outcome = Outcome(plan, skipped=[job.id for job in plan.jobs if job.id in done])
    todo = run_order([job for job in plan.jobs if job.id not in done])
    if todo:
        with contextlib.ExitStack() as stack:
            if client is None:
                client = stack.enter_context(connect(scheduler, workers, plan.device))
            _run_jobs(plan, todo, client, outcome, sys.stderr.isatty() if progress is None else progress)
    if not outcome.failed:
        outcome.tables = merge(plan)
    return outcome


def run_order(jobs: Sequence[Job]) -> list[Job]:
    """``jobs`` in the order a sweep submits them: the first seed block of every grid cell, then the
    second, and so on (the plan's order within a block), so that a sweep cut short between sessions
    holds every cell on the same seeds rather than some cells on all of them. The plan, its job ids,
    its folder and the merge keep the plan's order."""
    block = {seeds: k for k, seeds in enumerate(dict.fromkeys(job.seeds for job in jobs))}
    return sorted(jobs, key=lambda job: block[job.seeds])


def _prepare(plan: Plan, replace: bool) -> set[str]:
    """The checks of :func:`run` before any work; returns the ids of the jobs already done."""
    sweepstore.bind_label(plan.folder, plan.parameters(), replace)
    expected, fields = plan.identity(), ("code", "numerics", "torch")
    done, foreign = set(), []
    for job in plan.jobs:
        state, record, why = sweepstore.job_state(plan.job_folder(job), job.seeds)
        if state == "damaged":
            aside = sweepstore.set_aside(plan.job_folder(job), plan.folder / "damaged")
            print(f"sweep {plan.name}: job {job.id} is damaged ({why}); moved to {aside}, computing it again",
                  file=sys.stderr)
        differences = provenance.identity_differences(record and record.get("identity"), expected, fields)
        work = Path(job.work) / "identity.json" if job.work else None
        if state != "done" and work is not None and work.is_file():
            differences = provenance.identity_differences(storage.read_json(work), expected, fields)
            record = {"checkpoints": True} if differences else record
        if differences:
            foreign.append((job, record, differences))
        elif state == "done":
            done.add(job.id)
    if foreign and not replace:
        lines = [f"{job.id} ({'its checkpoints in ' + job.work if 'checkpoints' in record else 'stored'}: "
                 f"{'; '.join(found)})" for job, record, found in foreign]
        raise ValueError(f"Sweep {plan.folder} holds results of another code, numerics or torch than this run's, "
                         f"which must not be mixed: {', '.join(lines)}. Nothing was run. Re-run with --replace "
                         f"(REPLACE=1) to recompute them (the old ones move to {plan.folder / 'replaced'}), give the "
                         f"sweep another label (--sweep), or go back to the code that made them.")
    for job, record, _ in foreign:
        for path in (plan.job_folder(job), Path(job.work) if job.work else None):
            if path is not None and path.exists():
                sweepstore.set_aside(path, plan.folder / "replaced")
    return done


def _run_jobs(plan: Plan, todo: list[Job], client: Client, outcome: Outcome, show: bool) -> None:
    gpu = plan.device.startswith("cuda")
    if gpu:
        cluster.check_gpu_workers(client)
    futures = {client.submit(_attempt, job, key=f"gancore-job-{job.id}-{uuid.uuid4().hex[:8]}", pure=False,
                             resources={"GPU": 1} if gpu else None): job for job in todo}
    with tqdm(total=sum(job.seed_steps for job in todo), unit="seed-step", unit_scale=True, disable=not show,
              desc=f"sweep {plan.name}") as bar:
        for future in as_completed(futures):
            job = futures.pop(future)
            try:
                result = future.result()
            except Exception as error:  # the job could not run: its worker was lost too often, or it was cancelled
                result = {"traceback": "".join(traceback.format_exception(error)), "host": "unknown"}
            if "traceback" in result:
                _store_failure(plan, job, result["traceback"], result["host"])
                outcome.failed[job.id] = result["traceback"]
            else:
                _store(plan, job, result["tables"], result["record"])
                outcome.ran.append(job.id)
            bar.update(job.seed_steps)
            bar.set_postfix(jobs=f"{len(outcome.ran) + len(outcome.failed)}/{len(todo)}",
                            failed=len(outcome.failed), refresh=False)


def merge(plan: Plan) -> dict[str, pd.DataFrame]:
    """Merge the stored jobs of ``plan``, in plan order, into one table per table name
    (``<sweep>/<name>.csv``) and write the sweep's ``run.json`` (last, so that a listed sweep is
    whole). Every job must be done. Returns the merged tables."""
    missing = [job.id for job in plan.jobs if not plan.job_folder(job).exists()]
    if missing:
        raise ValueError(f"Cannot merge sweep {plan.folder}: job(s) {', '.join(missing)} not done; run the sweep "
                         f"again (failed jobs' tracebacks are in {plan.folder / 'failed'}).")
    stored = [sweepstore.read_job_tables(plan.job_folder(job), job.seeds) for job in plan.jobs]  # checked
    records = [record for record, _ in stored]
    sweepstore.check_identities({job.id: record for job, record in zip(plan.jobs, records)}, plan.folder)
    names = list(dict.fromkeys(name for record in records for name in record["tables"]))
    tables = {name: pd.concat([job_tables[name] for _, job_tables in stored if name in job_tables],
                              ignore_index=True) for name in names}
    written = {name: storage.write_table(plan.folder / f"{name}.csv", table) for name, table in tables.items()}
    devices = sorted({record["device"] for record in records})
    gpus = sorted({record["gpu"] for record in records if record["gpu"]})
    storage.write_json(plan.folder / "run.json", {
        "chapter": plan.chapter, "kind": "sweep", "sweep": plan.name, "experiment": plan.experiment,
        "parameters": {k: v for k, v in plan.parameters().items() if k != "experiment"},
        "jobs": [job.id for job in plan.jobs], "tables": names, "table_records": written,
        "numerics": sorted({(record.get("identity") or {}).get("numerics", "legacy, unrecorded") for record in records}),
        "identities": {job.id: record.get("identity", "legacy, unrecorded") for job, record in zip(plan.jobs, records)},
        "git_commit": provenance.git_commit(),
        "device": ", ".join(devices), "gpu": ", ".join(gpus) or None, "versions": provenance.versions(),
        "wall_seconds": round(sum(record["wall_seconds"] for record in records), 1), "throughput": meter.combine(records),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")})
    return tables


# --------------------------------------------------------------------------- command line

def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, e.g. '{{\"ring\": {{\"lr\": [1e-4, 2e-4]}}}}'; "
                                         f"got {text!r}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gancore.sweep", description=__doc__.split("\n\n")[0])
    parser.add_argument("name", help=f"the experiment (a chapter, or chapter.experiment): {', '.join(EXPERIMENTS)}")
    parser.add_argument("--seeds", required=True, help="seeds, e.g. 0-199 or 0-9,20-29")
    parser.add_argument("--grid", type=_json_object, default={}, metavar="JSON",
                        help="settings -> lists of values, e.g. '{\"ring\": {\"lr\": [1e-4, 2e-4]}}'")
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--overrides", type=_json_object, default={}, metavar="JSON",
                        help="settings of the profile to change in every job")
    parser.add_argument("--seeds-per-job", type=int, help="seeds trained together in one job (default: all)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (on the workers)")
    parser.add_argument("--scheduler", help=f"address of a running Dask scheduler (default ${SCHEDULER_ENV}; "
                                            "none: an embedded local cluster)")
    parser.add_argument("--workers", type=int, help="workers of the embedded cluster (default: one per core)")
    parser.add_argument("--sweep", help="the sweep's folder name under results/NAME/ (default: profile and a hash)")
    parser.add_argument("--root", default="results", help="the results folder (default: results)")
    parser.add_argument("--replace", action="store_true", help="replace results under this label made with other "
                        "parameters, code or numerics (moved to <sweep>/replaced/)")
    parser.add_argument("--allow-long", action="store_true", help=f"allow training past {profiles.MAX_STEPS:,} steps")
    args = parser.parse_args(argv)
    try:  # wrong arguments: a usage message before any worker starts
        planned = plan(args.name, args.seeds, args.grid, args.profile, args.overrides, args.seeds_per_job,
                       args.device, args.sweep, args.root, allow_long=args.allow_long or None)
        done = _prepare(planned, args.replace)
    except (ValueError, cluster.SchedulerError) as error:
        parser.error(str(error))
    todo = [job for job in planned.jobs if job.id not in done]
    print(f"sweep {planned.name}: {len(planned.jobs)} job(s) of {args.name} -> {planned.folder}; "
          f"{cluster.estimate(sum(job.seed_steps for job in todo), planned.experiment, args.workers, args.root)}", flush=True)
    t0 = time.perf_counter()
    try:
        outcome = run(planned, scheduler=args.scheduler, workers=args.workers, replace=args.replace)
    except cluster.SchedulerError as error:
        print(f"sweep {planned.name}: {error}", file=sys.stderr)
        return 2
    cluster.record_rate(sum(job.seed_steps for job in todo if job.id in outcome.ran), time.perf_counter() - t0,
                        planned.experiment, args.workers)
    print(f"sweep {planned.name}: {len(outcome.ran)} job(s) run, {len(outcome.skipped)} already done, "
          f"{len(outcome.failed)} failed")
    if outcome.failed:
        print(f"failed jobs' tracebacks: {planned.folder / 'failed'}; run the same command again to retry them.",
              file=sys.stderr)
        return 1
    print(f"merged: {', '.join(str(planned.folder / f'{n}.csv') for n in outcome.tables)} and "
          f"{planned.folder / 'run.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
