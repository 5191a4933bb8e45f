"""Fault suite of issue 26: sweeps and stored runs never silently mix, lose or misread results; bad
settings, addresses and data files are refused with an error naming the value or file and the fix.
One test (or a few) per item; no cluster is started except where a scheduler is the subject (loopback,
bounded time)."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import fake_datasets as fake
from gancore import cluster, data, experiments, numerics, profiles, provenance, runs, storage, sweep, sweepstore

REPO = Path(__file__).resolve().parents[1]


def _tables(seeds, settings):
    return {"ring": pd.DataFrame({"seed": list(seeds), "modes": [8.0] * len(seeds)}),
            "curves": pd.DataFrame({"seed": list(seeds) * 2, "step": [0] * len(seeds) + [10] * len(seeds)})}


def _fake_run(settings, seeds, device):
    return _tables(seeds, settings)


FAKE = sweep.Experiment("fake", _fake_run, lambda P, n: n * P.steps)


class _Local:
    """A stand-in Dask client that runs submitted jobs in this process (no cluster)."""

    def submit(self, fn, job, **options):
        from concurrent.futures import Future
        future = Future()
        future.set_result(fn(job))
        return future


@pytest.fixture
def local(monkeypatch):
    monkeypatch.setattr(sweep, "as_completed", lambda futures: list(futures))
    return _Local()


def _plan(root, grid=None, **options):
    return sweep.plan("toolkit", "0-3", grid if grid is not None else {"lr": [1e-3, 2e-3]}, overrides={"steps": 12},
                      seeds_per_job=2, device="cpu", root=root, experiment=FAKE, **options)


# 1. identity -------------------------------------------------------------------------------------

def test_jobs_of_other_code_are_refused_and_the_merge_records_identities(tmp_path, local, monkeypatch):
    plan = _plan(tmp_path, name="lr")
    sweep.run(plan, client=local)
    merged = storage.read_json(plan.folder / "run.json")
    assert set(merged["identities"]) == {job.id for job in plan.jobs} and merged["numerics"] == [numerics.mode()]
    assert all(i["code"] == provenance.code_identity() for i in merged["identities"].values())
    newer = sweep.plan("toolkit", "0-3", {"lr": [1e-3, 2e-3]}, overrides={"steps": 12}, seeds_per_job=2,
                       device="cpu", root=tmp_path, experiment=FAKE, name="lr")
    newer.jobs[:] = [sweep.replace(job, code="f" * 40) for job in newer.jobs]
    with pytest.raises(ValueError, match=r"another code.*code: .* vs f{40}.*--replace"):
        sweep.run(newer, client=local)
    outcome = sweep.run(newer, client=local, replace=True)  # on purpose: the old jobs move aside, kept
    assert sorted(outcome.ran) == sorted(job.id for job in newer.jobs)
    assert len(list((plan.folder / "replaced").iterdir())) == len(plan.jobs)


def test_checkpoints_of_another_identity_are_refused(tmp_path):
    work = tmp_path / "work"
    sweepstore.bind_checkpoints(work, provenance.identity("cpu", "portable", "a" * 40))
    with pytest.raises(RuntimeError, match="numerics: portable vs default now.*--replace"):
        sweepstore.bind_checkpoints(work, provenance.identity("cpu", "default", "a" * 40))


# 2. checked reading --------------------------------------------------------------------------------

def test_a_damaged_job_is_recomputed_alone_and_a_missing_run_json_is_kept(tmp_path, local):
    plan = _plan(tmp_path)
    sweep.run(plan, client=local)
    first, second = (plan.job_folder(job) for job in plan.jobs[:2])
    ring = first / "ring.csv"
    ring.write_text(ring.read_text().splitlines()[0] + "\n0,8.0\n")  # truncated: one seed of two
    (second / "run.json").unlink()  # as the old error advised
    outcome = sweep.run(plan, client=local)
    assert sorted(outcome.ran) == sorted(job.id for job in plan.jobs[:2]) and not outcome.failed
    assert all(plan.done(job) for job in plan.jobs)  # both kept this time (no ENOTEMPTY livelock)
    assert len(list((plan.folder / "damaged").iterdir())) == 2  # set aside, not deleted
    assert sweep.run(plan, client=local).ran == []


def test_stored_tables_are_checked_against_their_record(tmp_path):
    folder = tmp_path / "toolkit" / "20260101-000000-quick"
    written = storage.write_table(folder / "ring.csv", pd.DataFrame({"seed": range(32), "success": 1.0}))
    storage.write_json(folder / "run.json", {"chapter": "toolkit", "table_records": {"ring": written}})
    assert len(runs.stored("toolkit", root=tmp_path)[0][1]["ring"]) == 32
    with pytest.raises(storage.CorruptFileError, match="no column.*nope"):
        runs.stored("toolkit", root=tmp_path, columns={"ring": ["seed", "nope"]})
    text = (folder / "ring.csv").read_text()
    (folder / "ring.csv").write_text(text + "\n".join(text.splitlines()[1:]) + "\n")  # rows duplicated
    with pytest.raises(storage.CorruptFileError, match="rows 64 where its run.json records 32") as error:
        runs.stored("toolkit", root=tmp_path)
    assert error.value.path == folder / "ring.csv" and "git checkout" in str(error.value)


def test_legacy_sweep_tables_are_checked_against_their_seeds(tmp_path):
    folder = tmp_path / "alpha_gan" / "old"
    storage.write_csv(folder / "ring.csv", pd.DataFrame({"seed": range(27), "success": 1.0}))
    storage.write_json(folder / "run.json", {"chapter": "alpha_gan", "kind": "sweep", "parameters": {"seeds": "0-31"}})
    with pytest.raises(storage.CorruptFileError, match="seeds 27 values 0..26 where its run ran 32 values"):
        runs.stored("alpha_gan", root=tmp_path)


def test_the_committed_stored_runs_still_load():
    for chapter in ("alpha_gan", "arena", "double_oracle"):
        assert runs.stored(chapter, root=REPO / "results")


# 3. labels -------------------------------------------------------------------------------------------

def test_a_label_with_another_grid_is_refused_unless_replaced(tmp_path, local):
    sweep.run(_plan(tmp_path, name="grid"), client=local)
    other = _plan(tmp_path, grid={"lr": [5e-3]}, name="grid")
    with pytest.raises(ValueError, match=r'grid: \{"lr": \[0.001, 0.002\]\} there vs \{"lr": \[0.005\]\} now'):
        sweep.run(other, client=local)
    sweep.run(other, client=local, replace=True)
    assert len(storage.read_csv(other.folder / "ring.csv")) == 4
    assert len(storage.read_csv(next((other.folder / "replaced").iterdir()) / "ring.csv")) == 8


# 4. schedulers ---------------------------------------------------------------------------------------

def _server(reply: bytes | None):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    held = []

    def serve():
        with sock:
            conn, _ = sock.accept()
            held.append(conn)
            if reply is not None:
                conn.sendall(reply)
            time.sleep(8)  # keep the connection open, saying nothing more (a dashboard waiting for a request)
            conn.close()
    threading.Thread(target=serve, daemon=True).start()
    return f"tcp://127.0.0.1:{sock.getsockname()[1]}"


@pytest.mark.parametrize("reply, message", [(None, "sent no Dask handshake within 2 s"),
                                            (b"HTTP/1.1 400 Bad Request\r\n\r\n" * 4, "not a Dask scheduler"),
                                            (b"\x00" * 8 + b"x", "not a Dask scheduler")])
def test_a_service_that_is_not_dask_is_a_clear_error_in_seconds(reply, message):
    address = _server(reply)
    t0 = time.monotonic()
    with pytest.raises(cluster.SchedulerError, match=message):
        with cluster.connect(address, timeout=2):
            pass
    assert time.monotonic() - t0 < 10


def test_the_embedded_cluster_is_tls_on_loopback_and_refuses_strangers():
    from distributed import Client
    with cluster.connect(workers=1) as client:
        address = client.scheduler.address
        assert address.startswith("tls://127.0.0.1:")
        assert client.submit(sum, [1, 2]).result() == 3
        with pytest.raises((OSError, TimeoutError)):
            Client(address.replace("tls://", "tcp://"), timeout=3)


# 5. numerics -----------------------------------------------------------------------------------------

def test_a_kernel_without_the_environment_is_set_up_or_refused(tmp_path):
    env = numerics.environment(False)
    before = "import sys; sys.modules['ipykernel'] = type(sys)('ipykernel'); "
    set_up = subprocess.run([sys.executable, "-c", before + "import gancore, os; from gancore import numerics; "
                             "print(numerics.mode(), os.environ['MKL_CBWR'])"], env=env, capture_output=True, text=True,
                            timeout=120)
    assert set_up.stdout.split() == ["portable", "AVX2,STRICT"], set_up.stderr
    refused = subprocess.run([sys.executable, "-c", before + "import torch, gancore"], env=env, capture_output=True,
                             text=True, timeout=120)
    assert refused.returncode != 0 and "make chapter NAME=" in refused.stderr
    assert "GANCORE_NUMERICS=default" in refused.stderr


def test_default_numerics_never_replace_the_committed_notebook(tmp_path, monkeypatch):
    monkeypatch.setenv(numerics.SWITCH, "default")
    with pytest.raises(ValueError, match="would replace book/executed/toolkit.ipynb"):
        runs._kernel_numerics("toolkit", elsewhere=False)
    assert runs._kernel_numerics("toolkit", elsewhere=True) == "default"
    monkeypatch.delenv(numerics.SWITCH)
    assert runs._kernel_numerics("toolkit", elsewhere=False) == "portable"
    assert numerics.kernel_environment("portable")["MKL_CBWR"] == "AVX2,STRICT"


# 6. settings -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("overrides, message", [
    ({"n_eval": 0}, "n_eval .*must be >= 1"), ({"lr": float("nan")}, "lr .*finite"), ({"lr": -1e-3}, "lr .*> 0"),
    ({"betas": [0.5, 0.9, 0.1]}, "betas .*give 2 values"), ({"steps": 10**12}, "steps=1,000,000,000,000 .*--allow-long"),
])
def test_senseless_settings_are_refused_before_any_work(overrides, message):
    with pytest.raises(ValueError, match=message):
        profiles.get("toolkit", "quick", overrides)
    assert profiles.get("toolkit", "quick", {"steps": 10**12}, allow_long=True).steps == 10**12


def test_paper_data_is_checked_first(tmp_path):
    with pytest.raises(data.DataNotFoundError, match="mnist: MNIST/raw/train-images-idx3-ubyte"):
        data.require(["ring", "mnist"], root=tmp_path)
    fake.write_mnist(tmp_path)
    data.require(["ring", "mnist"], root=tmp_path)


# 7. lost work ----------------------------------------------------------------------------------------

def test_a_failed_publish_keeps_the_stored_run(tmp_path, monkeypatch):
    import papermill
    (tmp_path / "_toc.yml").write_text("parts:\n  - chapters:\n      - file: book/executed/toolkit\n")
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "toolkit.md").write_text((REPO / "tests" / "test_runs.py").read_text()
                                                   .split('CHAPTER = """\\\n')[1].split('"""')[0])
    monkeypatch.chdir(tmp_path)

    def executed(input_path, output_path, **options):
        shutil.copy(input_path, output_path)
        runs.record("ring", pd.DataFrame({"seed": [0, 1]}))
    monkeypatch.setattr(papermill, "execute_notebook", executed)
    monkeypatch.setattr(runs, "_publish", lambda folder, target: (_ for _ in ()).throw(OSError(28, "No space")))
    with pytest.raises(OSError) as error:
        runs.execute("toolkit", store=True)
    kept = [p for p in (tmp_path / "results" / "toolkit").iterdir()]
    assert len(kept) == 1 and sorted(p.name for p in kept[0].iterdir()) == ["ring.csv", "run.json", "toolkit.ipynb"]
    assert str(kept[0]) in str(error.value.__notes__)


def _sleep_and_report(seconds: float, report: str) -> int:
    with open(report, "a") as f:
        f.write(f"{os.getpid()}\n")
    time.sleep(seconds)
    return os.getpid()


def test_in_processes_workers_end_with_their_parent(tmp_path):
    report = tmp_path / "pids"
    script = (f"import sys; sys.path.insert(0, {str(REPO / 'tests')!r})\n"
              "from gancore import experiments\nimport test_reliability as t\n"
              f"if __name__ == '__main__':\n    experiments.in_processes(t._sleep_and_report, "
              f"[dict(seconds=300, report={str(report)!r})] * 2, workers=2)\n")
    (tmp_path / "parent.py").write_text(script)
    parent = subprocess.Popen([sys.executable, str(tmp_path / "parent.py")], cwd=tmp_path)
    deadline = time.monotonic() + 120
    while (not report.exists() or len(report.read_text().split()) < 2) and time.monotonic() < deadline:
        time.sleep(0.2)
    pids = [int(p) for p in report.read_text().split()]
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait(timeout=30)
    deadline = time.monotonic() + 15
    alive = pids
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = [p for p in pids if _alive(p)]
    assert not alive, f"orphan workers {alive} outlived their parent"


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return False
    return status != "Z"


# 8. data files ---------------------------------------------------------------------------------------

class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.mark.parametrize("verify", [False, True])
def test_a_crafted_cifar_pickle_never_runs(tmp_path, verify):
    root, marker = fake.write_cifar10(tmp_path), tmp_path / "code-ran"
    (root / "cifar-10-batches-py" / "data_batch_1").write_bytes(pickle.dumps({"data": _Payload(marker)}))
    with pytest.raises(storage.CorruptFileError):
        data.load("cifar10", root=root, verify=verify)
    assert not marker.exists()


@pytest.mark.parametrize("damage, message", [
    ("label", "train-labels-idx1-ubyte: it holds label 12"), ("count", "holds 63 labels for the 64 images"),
    ("size", "10x10"), ("swapped", "are the image and label files swapped"),
])
def test_mnist_files_are_checked_against_the_format(tmp_path, damage, message):
    raw = fake.write_mnist(tmp_path) / "MNIST" / "raw"
    images, labels = raw / "train-images-idx3-ubyte", raw / "train-labels-idx1-ubyte"
    if damage == "label":
        raw_labels = bytearray(labels.read_bytes())
        raw_labels[10] = 12
        labels.write_bytes(bytes(raw_labels))
    elif damage == "count":
        labels.write_bytes(b"\0\0\x08\x01" + (63).to_bytes(4, "big") + labels.read_bytes()[8:-1])
    elif damage == "size":
        images.write_bytes(b"\0\0\x08\x03" + b"".join(n.to_bytes(4, "big") for n in (64, 10, 10)) + bytes(6400))
    else:
        swapped = images.read_bytes()
        images.write_bytes(labels.read_bytes())
        labels.write_bytes(swapped)
    with pytest.raises(storage.CorruptFileError, match=message):
        data.load("mnist", root=tmp_path)


def test_short_cifar_rows_and_a_malformed_celeba_list_name_the_file(tmp_path):
    root = fake.write_cifar10(tmp_path)
    batch = root / "cifar-10-batches-py" / "data_batch_2"
    batch.write_bytes(pickle.dumps({"data": np.zeros((8, 3000), np.uint8), "labels": [0] * 8}))
    with pytest.raises(storage.CorruptFileError, match="data_batch_2: .*shape \\(8, 3000\\)"):
        data.load("cifar10", root=root, verify=False)
    root = fake.write_celeba(tmp_path)
    listing = root / "celeba" / "list_eval_partition.txt"
    listing.write_text(listing.read_text().replace(" 0\n", " zero\n", 1))
    with pytest.raises(storage.CorruptFileError, match="list_eval_partition.txt: .*line 1"):
        data.load("celeba", root=root, verify=False)


# 9. the Makefile ---------------------------------------------------------------------------------------

@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_makefile_values_never_reach_the_shell(tmp_path):
    fake_py, out, stamp, pwned = tmp_path / "python", tmp_path / "argv", tmp_path / "stamp", tmp_path / "pwned"
    fake_py.write_text(f"#!{sys.executable}\nimport json, sys\nopen({str(out)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n")
    fake_py.chmod(0o755)
    stamp.touch()
    hostile = f"{{\"a\": \"x'; touch {pwned}; echo '$(shell touch {pwned})\"}}"
    for target, name in (("chapter", "OVERRIDES"), ("sweep", "GRID")):
        subprocess.run(["make", "-s", "-C", str(REPO), target, f"PY={fake_py}", f"STAMP={stamp}", "NAME=toolkit",
                        f"{name}={hostile}", "SEEDS=0-1"], check=True, capture_output=True, timeout=60)
    calls = [json.loads(line) for line in out.read_text().splitlines()]
    assert [c[c.index("--overrides" if "gancore.runs" in c else "--grid") + 1] for c in calls] == [hostile] * 2
    assert not pwned.exists()
