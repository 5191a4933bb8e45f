"""meter: what a stored run records of its own speed (rate, evaluation's share, CPU share, load), and
the estimate of a sweep's time from the rates its stored jobs measured."""

from __future__ import annotations

import json
import os
import time

import pytest

from gancore import cluster, meter


def _busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def test_timed_counts_evaluation_into_the_clock_and_leaves_the_callback_as_it_is():
    assert meter.timed(None) is None
    evaluate = meter.timed(lambda step, G, D: _busy(0.05) or {"step": step, "G": G})
    clock = meter.Clock()
    assert evaluate(3, "g", None) == {"step": 3, "G": "g"}
    _busy(0.05)
    figures = clock.stop(200)
    assert figures["seed_steps"] == 200 and figures["seed_steps_per_second"] == pytest.approx(200 / figures["wall_seconds"], rel=0.05)
    assert 0.04 <= figures["evaluation_seconds"] <= figures["wall_seconds"] and 0.2 < figures["evaluation_share"] < 0.9
    assert 0 < figures["cpu_share"] <= 1.05  # a busy loop: this thread's CPU time is about its wall time
    load = figures["load"]
    assert load["cpus"] == os.cpu_count() and load["samples"] == 2 and load["start"] >= 0 and load["mean"] >= 0
    assert "resumed" not in figures and meter.rate({"throughput": figures}) == figures["seed_steps_per_second"]


def test_load_is_sampled_while_a_run_runs_and_a_chapter_clock_has_no_rate():
    clock = meter.Clock(every=0.02)
    deadline = time.perf_counter() + 10  # a loaded machine may wake the sampler late
    while len(clock._loads) < 3 and time.perf_counter() < deadline:
        time.sleep(0.02)
    figures = clock.stop(None, cpu=0.1, evaluation=0.0)
    assert figures["load"]["samples"] >= 4 and "seed_steps_per_second" not in figures
    assert figures["cpu_share"] == pytest.approx(0.1 / figures["wall_seconds"], rel=0.15)  # wall: rounded


def test_a_resumed_run_gives_no_rate_and_a_merge_leaves_it_out():
    resumed = meter.Clock(resumed=True).stop(100)
    whole = {"seed_steps": 300, "seed_steps_per_second": 3.0, "wall_seconds": 100.0, "cpu_share": 0.9,
             "evaluation_seconds": 20.0, "evaluation_share": 0.2,
             "load": {"start": 1.0, "end": 2.0, "mean": 1.5, "samples": 3, "cpus": 2}}
    assert resumed["resumed"] is True and meter.rate({"throughput": resumed}) is None
    assert meter.rate({}) is None and meter.rate({"throughput": {"seed_steps_per_second": 0}}) is None
    merged = meter.combine([{"throughput": whole}, {"throughput": dict(whole, seed_steps=100, wall_seconds=100.0)},
                            {"throughput": resumed}, {"no": "record"}])
    assert merged["seed_steps_per_second"] == 2.0 and merged["jobs"] == 3 and merged["resumed_jobs"] == 1
    assert merged["cpu_share_min"] == min(0.9, resumed["cpu_share"]) and merged["load"]["end_max"] >= 2.0
    assert meter.combine([{"no": "record"}]) is None


def test_a_kernel_tells_its_evaluation_seconds_through_a_file(tmp_path, monkeypatch):
    path = tmp_path / "meter.json"
    assert meter.evaluation_file(path) == 0.0
    monkeypatch.setenv(meter.FILE_ENV, str(path))
    meter.timed(lambda: _busy(0.02))()
    assert meter.evaluation_file(path) >= 0.02


def test_the_estimate_uses_the_rates_stored_jobs_measured(tmp_path, monkeypatch):
    monkeypatch.setenv("GANCORE_CACHE", str(tmp_path / "cache"))
    assert "no rate measured" in cluster.estimate(1000, "experiments.toolkit_ring", 2, root=tmp_path)
    cluster.record_rate(1000, 10.0, "experiments.toolkit_ring", 1)  # the last sweep's end-to-end rate: 100/s
    assert "last sweep's 100 seed-steps/s" in cluster.estimate(1000, "experiments.toolkit_ring", 1, root=tmp_path)
    for job, rate in (("a", 40.0), ("b", 50.0), ("c", 60.0), ("d", 1e6)):
        folder = tmp_path / "toolkit" / "s" / "jobs" / job
        folder.mkdir(parents=True)
        figures = {"seed_steps_per_second": rate} | ({"resumed": True} if job == "d" else {})
        (folder / "run.json").write_text(json.dumps({"experiment": "experiments.toolkit_ring", "throughput": figures}))
    assert cluster.measured_rate("experiments.toolkit_ring", tmp_path) == (50.0, 3)
    assert cluster.measured_rate("experiments.alpha_ring", tmp_path) is None
    line = cluster.estimate(360_000, "experiments.toolkit_ring", 2, root=tmp_path)
    assert "1.0 h" in line and "3 stored job(s)" in line and "50 seed-steps/s" in line
