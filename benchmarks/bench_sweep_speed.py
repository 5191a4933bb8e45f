"""A sweep job's speed against the same work alone, as ratios measured in one run (issue 28).

The work: the alpha-GAN ring ensemble at the paper's networks (G 4x400, D 4x200, Adam 1e-4 (0.9, 0.999),
batch 128), K = 16 members (8 seeds x alpha_D in {0.3, 1}, saturating, alpha_G = 1), ``STEPS`` steps with
the ring metrics of every member on 25,000 samples evaluated every ``EVERY`` steps (and at 0) -- the
evaluation schedule of the stored long runs, compressed so that evaluation's share is larger than theirs.

* ``alone``: two plain processes side by side (``experiments.in_processes``), each training one block
  of 8 seeds through ``experiments.alpha_ring`` (the ensemble and its evaluation schedule, no
  checkpoints), torch on one thread: its rate in member-steps per second, from the wall time of the call.
* ``sweep``: the same two blocks as a sweep of two jobs (``sweep.run`` on a started 2-worker embedded
  cluster, warmed first), each job with everything a sweep job does (its checkpoint, its record,
  storing, the merge): its rate from the job's recorded wall time (``run.json`` ``throughput``), and
  the sweep's end-to-end time apart.
* ``idle_cluster_cpu_percent_of_a_core``: what an idle 2-worker embedded cluster itself uses
  (scheduler, nannies and client in this process, the two worker processes), with Dask's default
  intervals and with the library's (``cluster.QUIET``): CPU the jobs lose on a machine with a core per
  worker, and a figure that does not depend on other work on the machine.

``sweep_job_over_alone``: the better sweep job rate over the better alone rate (``REPEATS``
interleaved rounds, alone then sweep, so that load on this shared machine falls on both sides; the
best of each side counts, as ``timeit`` takes the best of its repeats). Target >= 0.95. Each side's
rates per CPU second of its thread (``cpu_share``: CPU seconds / wall seconds of the job's thread) tell
a slow job on a loaded machine from slow code: ``per_cpu_second_ratio`` compares those. Evaluation's
share of a job's wall time is reported apart (``evaluation_share``, from the job's ``run.json``).
The 1-minute load average (``/proc/loadavg``) before each phase goes with the figures.
"""

from __future__ import annotations

import os
import tempfile
import time

import psutil
import torch

from gancore import cluster, experiments, meter, profiles, sweep, sweepstore

STEPS, EVERY, SEEDS_PER_JOB = 120, 60, 8
IDLE_SECONDS = 20  # the idle cluster's own CPU, measured over this long
REPEATS = 2
OVERRIDES = {"ring": {"g_width": 400, "d_width": 200, "depth": 4, "lr": 1e-4, "betas": [0.9, 0.999], "steps": STEPS,
                      "n_eval": 25_000, "eval_every": EVERY},
             "fig2b": {"alpha_d": [0.3, 1.0]}, "sat": {"alpha_d": []}, "ns": {"alpha_d": []}}


def _plan(root: str, name: str, overrides: dict = OVERRIDES) -> sweep.Plan:
    return sweep.plan("alpha_gan", f"0-{2 * SEEDS_PER_JOB - 1}", overrides=overrides, seeds_per_job=SEEDS_PER_JOB,
                      device="cpu", root=root, name=name)


def alone_job(seeds: list[int]) -> dict:
    """In a fresh process: one block of seeds through ``experiments.alpha_ring`` (no checkpoints), its
    member-steps per second and its thread's CPU share."""
    torch.set_num_threads(1)
    settings = profiles.get("alpha_gan", "quick", OVERRIDES)
    clock = meter.Clock()
    experiments.alpha_ring(settings, seeds, "cpu")
    figures = clock.stop(len(seeds) * 2 * STEPS)
    return {"rate": figures["seed_steps_per_second"], "cpu_share": figures["cpu_share"],
            "evaluation_share": figures["evaluation_share"]}


def _alone() -> list[dict]:
    blocks = [list(range(k * SEEDS_PER_JOB, (k + 1) * SEEDS_PER_JOB)) for k in range(2)]
    return experiments.in_processes(alone_job, [{"seeds": seeds} for seeds in blocks], workers=2)


def _sweep(client, root: str, name: str) -> tuple[list[dict], float]:
    plan = _plan(root, name)
    t0 = time.perf_counter()
    outcome = sweep.run(plan, client=client, progress=False)
    seconds = time.perf_counter() - t0
    if outcome.failed or len(outcome.ran) != len(plan.jobs):
        raise RuntimeError(f"The benchmark sweep did not run all its jobs: {outcome.failed or outcome.ran}")
    jobs = []
    for job in plan.jobs:
        record, _ = sweepstore.read_job_tables(plan.job_folder(job), job.seeds)
        figures = record["throughput"]
        jobs.append({"rate": figures["seed_steps_per_second"], "cpu_share": figures["cpu_share"],
                     "evaluation_share": figures["evaluation_share"]})
    return jobs, seconds


def _idle_cpu(clocks: dict) -> float:
    """Percent of a core that an idle 2-worker embedded cluster (its scheduler, nannies and client in
    this process, its two worker processes) uses with ``clocks`` as its Dask intervals."""
    saved, cluster.QUIET = cluster.QUIET, clocks
    try:
        with sweep.connect(workers=2) as client:
            client.wait_for_workers(2)
            time.sleep(3)
            processes = [psutil.Process()] + psutil.Process().children(recursive=True)
            before = [sum(p.cpu_times()[:2]) for p in processes]
            t0 = time.perf_counter()
            time.sleep(IDLE_SECONDS)
            seconds = time.perf_counter() - t0
            return 100 * sum(sum(p.cpu_times()[:2]) - b for p, b in zip(processes, before)) / seconds
    finally:
        cluster.QUIET = saved


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def run() -> dict:
    rounds = []
    with tempfile.TemporaryDirectory() as root, sweep.connect(workers=2) as client:
        warm = dict(OVERRIDES, ring=dict(OVERRIDES["ring"], steps=2, eval_every=1, n_eval=100))
        sweep.run(_plan(root, "warm", warm), client=client, progress=False)
        for k in range(REPEATS):
            load_alone = _load()
            alone = _alone()
            load_sweep = _load()
            jobs, seconds = _sweep(client, root, f"round-{k}")
            rounds.append({"alone": alone, "sweep": jobs, "sweep_seconds": round(seconds, 1),
                           "load_average": {"alone": load_alone, "sweep": load_sweep}})
    idle = {"dask_defaults": round(_idle_cpu({}), 1), "library": round(_idle_cpu(cluster.QUIET), 1)}
    best = {side: max(job["rate"] for r in rounds for job in r[side]) for side in ("alone", "sweep")}
    per_cpu = {side: max(job["rate"] / job["cpu_share"] for r in rounds for job in r[side]) for side in ("alone", "sweep")}
    ratio = best["sweep"] / best["alone"]
    return {
        "sweep_job_over_alone": {"value": round(ratio, 3), "target": 0.95, "met": ratio >= 0.95},
        "per_cpu_second_ratio": {"value": round(per_cpu["sweep"] / per_cpu["alone"], 3), "target": None},
        "ratio_per_round": [round(sum(j["rate"] for j in r["sweep"]) / sum(j["rate"] for j in r["alone"]), 3)
                            for r in rounds],
        "idle_cluster_cpu_percent_of_a_core": idle,
        "details": {"member_steps_per_second": {side: round(v, 1) for side, v in best.items()},
                    "rounds": [{"alone": [{k: round(v, 3) for k, v in job.items()} for job in r["alone"]],
                                "sweep": [{k: round(v, 3) for k, v in job.items()} for job in r["sweep"]],
                                "sweep_seconds": r["sweep_seconds"], "load_average": r["load_average"]}
                               for r in rounds],
                    "work": f"2 jobs side by side, each K = {2 * SEEDS_PER_JOB} members (G 4x400, D 4x200), "
                            f"{STEPS} steps, 25k-sample evaluation every {EVERY} steps; one thread each"},
        "note": "measured on a shared 2-core machine; load_average: 1-minute load before each phase",
        "load_average": {"after": _load(), "cpu_count": os.cpu_count()},
    }
