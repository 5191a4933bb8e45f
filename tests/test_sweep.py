"""Sweeps on Dask: planning, jobs stored atomically and resumed, failures recorded, lost workers retried.

The cluster tests share one embedded LocalCluster (2 worker processes, one thread each, loopback only,
no dashboard) that stops at the end of the module."""

from __future__ import annotations

import functools
import io
import os
import signal
from pathlib import Path

import dask
import pandas as pd
import pytest
import torch

from gancore import cluster, data, ensemble, experiments, losses, metrics, profiles, runs, storage, sweep

TINY = {"steps": 12, "g_width": 8, "d_width": 8, "depth": 1, "eval_every": 6, "n_eval": 100, "batch_size": 32}


def _plan(root: Path, grid=None, seeds="0-3", seeds_per_job=2, experiment=None, device="cpu") -> sweep.Plan:
    return sweep.plan("toolkit", seeds, grid if grid is not None else {"lr": [1e-3, 2e-3]}, overrides=TINY,
                      seeds_per_job=seeds_per_job, device=device, root=root, experiment=experiment)


def _serial(job: sweep.Job) -> dict[str, pd.DataFrame]:
    """``job`` run here, one torch thread as in a worker, its tables through the same CSV round trip."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        tables, _ = sweep.run_job(job)
    finally:
        torch.set_num_threads(threads)
    return {name: pd.read_csv(io.StringIO(table.to_csv(index=False))) for name, table in tables.items()}


def _assert_same(stored: pd.DataFrame, serial: pd.DataFrame) -> None:
    """Identical but for the wall-clock column."""
    pd.testing.assert_frame_equal(stored.drop(columns="seconds", errors="ignore"),
                                  serial.drop(columns="seconds", errors="ignore"), check_exact=True)


@pytest.fixture(scope="module")
def client():
    with sweep.connect(workers=2) as c:
        yield c


# --------------------------------------------------------------------------- planning (no cluster)

def test_seeds_text_round_trips():
    assert sweep.parse_seeds("0-3,7,10-11") == [0, 1, 2, 3, 7, 10, 11]
    assert sweep.format_seeds([0, 1, 2, 3, 7, 10, 11]) == "0-3,7,10-11"
    assert sweep.parse_seeds("0-199") == list(range(200))
    for bad in ("", "3-1", "a", "-2"):
        with pytest.raises(ValueError, match="Invalid seeds"):
            sweep.parse_seeds(bad)


def test_grid_cells_nested_or_dotted_and_values_must_be_lists():
    cells = sweep.grid_cells({"ring": {"lr": [1e-3, 2e-3]}, "p_min": [1e-7]})
    assert cells == [{"ring.lr": 1e-3, "p_min": 1e-7}, {"ring.lr": 2e-3, "p_min": 1e-7}]
    assert sweep.grid_cells({"ring.lr": [1e-3, 2e-3], "p_min": [1e-7]}) == cells
    assert sweep.grid_cells({}) == [{}]
    with pytest.raises(ValueError, match="'ring.lr': give a non-empty list"):
        sweep.grid_cells({"ring": {"lr": 1e-3}})


def test_plan_splits_seeds_into_jobs_with_stable_ids(tmp_path):
    plan = _plan(tmp_path, seeds="0-4", seeds_per_job=2)
    assert [job.seeds for job in plan.jobs] == [(0, 1), (2, 3), (4,)] * 2
    assert [job.cell for job in plan.jobs] == [{"lr": 1e-3}] * 3 + [{"lr": 2e-3}] * 3
    assert plan.jobs[0].settings.lr == 1e-3 and plan.jobs[0].settings.steps == TINY["steps"]
    again = _plan(tmp_path, seeds="0-4", seeds_per_job=2)
    assert [j.id for j in again.jobs] == [j.id for j in plan.jobs] and again.folder == plan.folder
    assert len({j.id for j in plan.jobs}) == 6
    assert _plan(tmp_path, seeds="0-5", seeds_per_job=2).folder != plan.folder
    assert plan.folder.parent == tmp_path / "toolkit"
    # submitted seed block first, every cell's block before the next block; one cell left: its own order
    order = sweep.run_order(plan.jobs)
    assert [(job.seeds, job.cell["lr"]) for job in order] == [
        ((0, 1), 1e-3), ((0, 1), 2e-3), ((2, 3), 1e-3), ((2, 3), 2e-3), ((4,), 1e-3), ((4,), 2e-3)]
    assert sweep.run_order(plan.jobs[3:]) == plan.jobs[3:]


def test_run_submits_the_jobs_in_run_order(tmp_path, monkeypatch):
    plan = _plan(tmp_path)
    submitted = []
    monkeypatch.setattr(sweep, "_run_jobs", lambda plan, todo, client, outcome, show: submitted.extend(todo))
    with pytest.raises(ValueError, match="not done"):  # nothing ran, so the merge refuses
        sweep.run(plan, client=object())
    assert submitted == sweep.run_order(plan.jobs) != plan.jobs


def test_plan_checks_names_types_and_arguments_before_running(tmp_path):
    with pytest.raises(ValueError, match="Unknown setting"):
        _plan(tmp_path, grid={"learning_rate": [1e-3]})
    with pytest.raises(ValueError, match="Setting lr"):
        _plan(tmp_path, grid={"lr": ["fast"]})
    with pytest.raises(ValueError, match="No sweep experiment 'nochapter'"):
        sweep.plan("nochapter", "0-1")
    with pytest.raises(ValueError, match="same settings twice"):
        _plan(tmp_path, grid={"lr": [1e-3, 0.001]})
    with pytest.raises(ValueError, match="Invalid seeds_per_job"):
        _plan(tmp_path, seeds_per_job=0)
    with pytest.raises(ValueError, match="Invalid device"):
        _plan(tmp_path, device="gpu")


def test_cli_rejects_a_bad_grid_before_starting_workers(capsys):
    with pytest.raises(SystemExit):
        sweep.main(["toolkit", "--seeds", "0-1", "--grid", '{"lr": 0.001}'])
    assert "give a non-empty list" in capsys.readouterr().err


def test_alpha_ring_final_table_is_the_ring_table_of_training_without_evaluation():
    """Evaluating along training changes nothing in training: the experiment's final table equals the
    chapter's ring_table of the same ensemble trained without evaluation."""
    P = profiles.get("alpha_gan", "quick", {"ring": {"steps": 6, "g_width": 8, "d_width": 8, "depth": 1,
                                                     "n_eval": 200, "batch_size": 32, "eval_every": 2},
                                            "fig2b": {"alpha_d": [0.5, 1.0]}, "sat": {"alpha_d": [1.0]},
                                            "ns": {"alpha_d": [0.5], "alpha_g": [1.0]}})
    seeds = [4, 9]
    out = experiments.alpha_ring(P, seeds, "cpu")
    cells = experiments.alpha_cells(P)
    assert cells == [("ns", 0.5, 1.0), ("saturating", 0.5, 1.0), ("saturating", 1.0, 1.0), ("saturating", 1.0, 1.2)]
    loss = ensemble.grouped_loss([losses.gan_loss("alpha", alpha_d=a, alpha_g=g, generator=kind, p_min=P.p_min)
                                  for kind, a, g in cells], [2] * len(cells))
    G, _, _ = ensemble.fit(*experiments.ring_players(8, 8, 1), data.load("ring"), seeds * len(cells), loss=loss,
                           lr_G=P.ring.lr, lr_D=P.ring.lr, betas=P.ring.betas, steps=6, batch_size=32, latent_dim=2,
                           policy="alternating", device="cpu", progress=False)
    expected = ensemble.ring_table(G, data.load("ring"), 200)
    ring = out["ring"]
    assert list(ring[["generator", "alpha_d", "alpha_g", "seed"]].itertuples(index=False, name=None)) == \
        [(*cell, s) for cell in cells for s in seeds]
    for metric in ["modes", "hqs", "success", "failure", "kl"]:
        assert ring[metric].tolist() == expected[metric].astype(float).tolist()
    assert sorted(out["curves"]["step"].unique()) == [0, 2, 4, 6]


# --------------------------------------------------------------------------- on a 2-worker LocalCluster

def test_sweep_equals_serial_runs_and_a_second_run_runs_nothing(client, tmp_path):
    plan = _plan(tmp_path)
    outcome = sweep.run(plan, client=client)
    assert sorted(outcome.ran) == sorted(j.id for j in plan.jobs) and not outcome.failed and len(plan.jobs) == 4
    for job in plan.jobs:
        record = storage.read_json(plan.job_folder(job) / "run.json")
        assert record["seeds"] == list(job.seeds) and record["settings"]["lr"] == job.settings.lr
        assert record["torch_threads"] == 1 and record["device"] == "cpu" and record["wall_seconds"] > 0
        speed = record["throughput"]  # the job's rate, evaluation's share, CPU share and the load while it ran
        assert speed["seed_steps"] == job.seed_steps and speed["seed_steps_per_second"] > 0
        assert 0 < speed["evaluation_seconds"] < speed["wall_seconds"] and 0 < speed["evaluation_share"] < 1
        assert 0 < speed["cpu_share"] <= 1.05 and speed["load"]["cpus"] == os.cpu_count() and speed["load"]["mean"] >= 0
        for name, table in _serial(job).items():
            _assert_same(storage.read_csv(plan.job_folder(job) / f"{name}.csv"), table)
    merged = storage.read_csv(plan.folder / "curves.csv")
    _assert_same(merged, pd.concat([_serial(job)["curves"] for job in plan.jobs], ignore_index=True))
    assert set(merged.metric) == {"modes", "hqs", "success", "failure", "kl"} and set(merged.step) == {0, 6, 12}
    # the second run finds every job done: it reaches no scheduler (this address has none) and runs nothing
    again = sweep.run(plan, scheduler="tcp://127.0.0.1:9")
    assert again.ran == [] and sorted(again.skipped) == sorted(outcome.ran) and not again.failed
    # a chapter reads the sweep as a stored run, labelled by its run.json
    [(meta, tables)] = runs.stored("toolkit", root=tmp_path)
    assert meta["kind"] == "sweep" and meta["parameters"]["profile"] == "quick"
    assert meta["parameters"]["seeds"] == "0-3" and meta["parameters"]["grid"] == {"lr": [1e-3, 2e-3]}
    assert set(tables) == {"ring", "curves"} and len(tables["ring"]) == 8
    assert meta["throughput"]["jobs"] == 4 and meta["throughput"]["seed_steps_per_second"] > 0
    assert 0 < meta["throughput"]["evaluation_share"] < 1 and meta["throughput"]["load"]["cpus"] == os.cpu_count()
    assert "median rate its 4 stored job(s)" in cluster.estimate(1000, plan.experiment, 2, root=tmp_path)


def _refuses_large_batches(settings, seeds, device):
    """The toolkit experiment, raising for a batch size above 32 (a batch size of 0, which raised in
    training before, is now refused when the sweep is planned)."""
    if settings["batch_size"] > 32:
        raise ValueError(f"Invalid batch size {settings['batch_size']}")
    return experiments.toolkit_ring(settings, seeds, device)


def test_a_job_that_raises_is_recorded_and_the_others_finish(client, tmp_path):
    raising = sweep.Experiment("toolkit, raising", _refuses_large_batches, sweep.EXPERIMENTS["toolkit"].seed_steps)
    plan = _plan(tmp_path, grid={"batch_size": [32, 64]}, seeds="0-1", experiment=raising)
    outcome = sweep.run(plan, client=client)
    good, bad = plan.jobs
    assert outcome.ran == [good.id] and list(outcome.failed) == [bad.id]
    assert "Invalid batch size 64" in outcome.failed[bad.id]
    failure = storage.read_json(plan.folder / "failed" / f"{bad.id}.json")
    assert "Invalid batch size 64" in failure["traceback"] and failure["cell"] == {"batch_size": 64}
    assert plan.done(good) and not plan.done(bad)
    assert not (plan.folder / "run.json").exists()  # no merge while a job has failed
    with pytest.raises(ValueError, match=f"job\\(s\\) {bad.id} not done"):
        sweep.merge(plan)


def _dies_once(marker: Path, settings, seeds, device):
    """The toolkit experiment, but the first attempt kills its own worker process (SIGKILL, as the
    out-of-memory killer or a lost allocation would)."""
    if not marker.exists():
        marker.touch()
        os.kill(os.getpid(), signal.SIGKILL)
    return experiments.toolkit_ring(settings, seeds, device)


def test_a_worker_killed_during_a_job_leads_to_a_retry_with_the_same_result(client, tmp_path):
    marker = tmp_path / "killed-once"
    dying = sweep.Experiment("toolkit, killed once", functools.partial(_dies_once, marker),
                             sweep.EXPERIMENTS["toolkit"].seed_steps)
    plan = _plan(tmp_path, grid={}, seeds="0-1", experiment=dying)
    outcome = sweep.run(plan, client=client)
    assert marker.exists()  # the first attempt died
    assert outcome.ran == [plan.jobs[0].id] and not outcome.failed
    reference = _plan(tmp_path / "reference", grid={}, seeds="0-1").jobs[0]
    for name, table in _serial(reference).items():
        _assert_same(storage.read_csv(plan.folder / f"{name}.csv"), table)


def test_embedded_workers_run_torch_on_one_thread_without_dasks_malloc_trim_or_profiler(client):
    """Dask's default MALLOC_TRIM_THRESHOLD_=65536 made a job in a worker 2x slower than in a loop, and its
    statistical profiler interrupts the job's thread every 10 ms; neither is on in the embedded cluster."""
    client.wait_for_workers(2, timeout=120)  # the worker killed above may still be restarting
    seen = client.run(lambda dask_worker: (os.environ.get("MALLOC_TRIM_THRESHOLD_"), torch.get_num_threads(),
                                           dask.config.get("distributed.worker.profile.enabled"),
                                           "profile" in dask_worker.periodic_callbacks))
    assert len(seen) == 2 and set(seen.values()) == {(None, 1, False, False)}


def test_alpha_ring_interrupted_with_checkpoints_continues_to_the_same_tables(tmp_path, monkeypatch):
    """A job killed after its step-2 checkpoint continues from it when run again: the tables equal an
    uninterrupted run's, and the evaluation before the interruption is not recomputed."""
    monkeypatch.setattr(experiments, "CHECKPOINT_STEPS", 2)  # a checkpoint at every evaluation
    P = profiles.get("alpha_gan", "quick", {"ring": {"steps": 6, "g_width": 8, "d_width": 8, "depth": 1,
                                                     "n_eval": 100, "batch_size": 16, "eval_every": 2},
                                            "fig2b": {"alpha_d": [0.5, 1.0]}, "sat": {"alpha_d": []},
                                            "ns": {"alpha_d": []}})
    seeds = [1, 2]
    whole = experiments.alpha_ring(P, seeds, "cpu")
    real_evaluator, calls = metrics.ring_evaluator, []

    def interrupting(*args, **kwargs):
        evaluate = real_evaluator(*args, **kwargs)

        def run(step, G, D):
            calls.append(step)
            if step == 4 and len(calls) < 10:
                raise KeyboardInterrupt  # the worker dies between checkpoints
            return evaluate(step, G, D)
        return run
    monkeypatch.setattr(metrics, "ring_evaluator", interrupting)
    with pytest.raises(KeyboardInterrupt):
        experiments.alpha_ring(P, seeds, "cpu", checkpoint_dir=tmp_path)
    assert list(tmp_path.glob("*.pt")) and calls == [0, 2, 4]
    calls.extend([None] * 10)  # from now on the evaluator goes through
    again = experiments.alpha_ring(P, seeds, "cpu", checkpoint_dir=tmp_path)
    assert calls[13:] == [4, 6]  # continued after step 2
    pd.testing.assert_frame_equal(again["ring"], whole["ring"])
    pd.testing.assert_frame_equal(again["curves"].drop(columns="seconds"), whole["curves"].drop(columns="seconds"))


def test_a_checkpointing_experiment_gets_a_work_folder_that_goes_when_the_job_is_stored(client, tmp_path):
    plan = sweep.plan("alpha_gan", "0-1", overrides={"ring": TINY, "fig2b": {"alpha_d": [1.0]}, "sat": {"alpha_d": []},
                                                    "ns": {"alpha_d": []}}, device="cpu", root=tmp_path)
    [job] = plan.jobs
    assert job.work == str((plan.folder / "work" / job.id).resolve())
    outcome = sweep.run(plan, client=client)
    assert outcome.ran == [job.id] and not (plan.folder / "work").exists()
    _assert_same(outcome.tables["curves"], _serial(job)["curves"])


def test_a_job_records_the_commit_it_started_from(tmp_path, monkeypatch):
    """A job's run.json names the code it ran: the commit checked out when it started, not the tree
    as it is when the job ends hours later (edited, or with a new commit)."""
    from gancore import provenance
    started = []

    def experiment_that_takes_a_while(settings, seeds, device):
        started.append(True)  # the tree is edited while the job runs
        return experiments.toolkit_ring(settings, seeds, device)

    monkeypatch.setattr(provenance, "git_commit", lambda folder=None: "b" * 40 + "-dirty" if started else "a" * 40)
    [job] = _plan(tmp_path, grid={}, seeds="0-1",
                  experiment=sweep.Experiment("toolkit, edited meanwhile", experiment_that_takes_a_while,
                                              sweep.EXPERIMENTS["toolkit"].seed_steps)).jobs
    _, record = sweep.run_job(job)
    assert record["git_commit"] == "a" * 40
