"""runs: executing a chapter checks everything before a kernel starts, replaces or stores only whole
runs, never shares scratch files, restores the environment; stored runs are read back safely.

papermill.execute_notebook is replaced by a fake that writes an output notebook (and, like a chapter,
may record a table) or fails the way papermill does, so no kernel is started."""

import datetime
import json
import os
import shlex
import shutil
import subprocess
import time
import types
from pathlib import Path

import nbformat
import pandas as pd
import papermill
import pytest

from gancore import freshness, meter, profiles, runs, storage

REPO = Path(__file__).resolve().parents[1]

CHAPTER = """\
---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
    format_version: 0.13
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# A tiny chapter

```{code-cell} ipython3
:tags: [parameters]

profile = "quick"
device = "auto"
seed = 0
overrides = {}
```

```{code-cell} ipython3
print(profile)
```
"""

COMMITTED = '{"committed": true}'


class FakePapermill:
    """Stands in for papermill.execute_notebook: records each call (with the run folder the kernel
    would see), writes the output notebook, records a table like a chapter, and fails if told to."""

    def __init__(self):
        self.calls, self.fail = [], False

    def __call__(self, input_path, output_path, parameters, cwd, **options):
        self.calls.append({"input": input_path, "parameters": parameters, "cwd": cwd,
                           "run_dir": runs.os.environ.get(runs.RUN_DIR_ENV)})
        nb = nbformat.read(input_path, as_version=4)
        nb.metadata["papermill"] = {"parameters": parameters}
        nb.cells.insert(1, nbformat.v4.new_code_cell("# Parameters\n", metadata={"tags": ["injected-parameters"]}))
        nbformat.write(nb, output_path)
        runs.record("ring", pd.DataFrame({"seed": [0, 1], "modes": [8, 7]}))
        meter._process[0] = 0.0  # a kernel is a fresh process: no evaluation seconds of earlier tests
        meter.timed(lambda: time.sleep(0.01))()  # an evaluation in the kernel, told through its file
        if self.fail:
            raise papermill.PapermillExecutionError(2, 2, "boom()", "RuntimeError", "boom", [])


@pytest.fixture
def book(tmp_path, monkeypatch):
    """A compendium with two chapters (toolkit, srfb), a committed toolkit notebook and a README."""
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nparts:\n  - caption: The library\n"
                                       "    chapters:\n      - file: book/executed/toolkit\n"
                                       "      - file: book/executed/srfb\n      - file: book/references\n")
    (tmp_path / "book" / "executed").mkdir(parents=True)
    for name in ("toolkit", "srfb"):
        (tmp_path / "book" / f"{name}.md").write_text(CHAPTER)
    (tmp_path / "book" / "executed" / "toolkit.ipynb").write_text(COMMITTED)
    (tmp_path / "README.md").write_text(CHAPTER)
    monkeypatch.chdir(tmp_path / "book")  # runs finds the top from anywhere inside
    monkeypatch.delenv(runs.RUN_DIR_ENV, raising=False)
    fake = FakePapermill()
    monkeypatch.setattr(papermill, "execute_notebook", fake)
    committed = tmp_path / "book" / "executed" / "toolkit.ipynb"
    return types.SimpleNamespace(top=tmp_path, papermill=fake, committed=committed)


def _frozen_clock(monkeypatch):
    """Every run starts at the same second (2026-01-02 03:04:05 UTC)."""
    class Frozen(datetime.datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime.datetime(2026, 1, 2, 3, 4, 5, 678, tzinfo=tz)

    monkeypatch.setattr(runs, "_dt", types.SimpleNamespace(datetime=Frozen, timezone=datetime.timezone))


def test_chapters_are_the_executed_entries_of_the_toc(book):
    assert runs.chapters() == ["toolkit", "srfb"]
    assert runs.chapters(REPO)[:1] == ["toolkit"] and "references" not in runs.chapters(REPO)


def test_success_replaces_the_committed_notebook_and_leaves_no_scratch(book):
    out = runs.execute("toolkit", overrides={"steps": 7})
    assert out == book.committed
    assert nbformat.read(out, as_version=4).metadata["papermill"]["parameters"] == {
        "profile": "quick", "device": "auto", "overrides": {"steps": 7}}
    assert book.papermill.calls[0]["cwd"] == str(book.top / "book")
    assert book.papermill.calls[0]["run_dir"] is None  # record() is a no-op outside a stored run
    assert list((book.top / "_build" / "notebooks").iterdir()) == []
    timing = storage.read_json(book.top / "_build" / "timings" / "toolkit-quick.json")
    assert timing["chapter"] == "toolkit" and timing["seconds"] >= 0
    assert [p.name for p in book.committed.parent.iterdir()] == ["toolkit.ipynb"]  # no temporary left
    tags = [cell.metadata.get("tags", []) for cell in nbformat.read(out, as_version=4).cells]
    assert ["injected-parameters", "remove-cell"] in tags  # the book shows the chapter's own parameters cell only


def test_an_unchanged_chapter_is_not_executed_again_and_a_changed_one_is(book):
    out = runs.execute("toolkit", if_changed=True)
    meta = nbformat.read(out, as_version=4).metadata
    assert meta["gancore"]["profile"] == "quick" and meta[freshness.KEY] == freshness.inputs_hash("toolkit", book.top)
    assert runs.execute("toolkit", if_changed=True) == out and len(book.papermill.calls) == 1  # skipped
    runs.execute("toolkit")  # without if_changed it always runs
    assert len(book.papermill.calls) == 2
    (book.top / "book" / "toolkit.md").write_text(CHAPTER + "\nA new sentence.\n")
    runs.execute("toolkit", if_changed=True)
    assert len(book.papermill.calls) == 3
    runs.execute("toolkit", if_changed=True, overrides={"steps": 7})  # not the book's execution: always runs
    assert len(book.papermill.calls) == 4
    assert freshness.KEY not in nbformat.read(out, as_version=4).metadata


def test_failed_execution_keeps_the_committed_notebook_and_says_where_the_failed_one_is(book):
    book.papermill.fail = True
    with pytest.raises(papermill.PapermillExecutionError) as error:
        runs.execute("toolkit")
    assert book.committed.read_text() == COMMITTED
    note = "\n".join(error.value.__notes__)
    assert "nothing was replaced or stored" in note
    kept = Path(note.split("the failed notebook is kept at ")[1].rstrip("."))
    assert kept.exists() and kept.is_relative_to(book.top / "_build" / "notebooks")
    assert nbformat.read(kept, as_version=4).metadata["papermill"]["parameters"]["profile"] == "quick"


def test_unknown_chapter_is_rejected_before_anything_starts(book, capsys):
    with pytest.raises(ValueError, match=r"Unknown chapter '\.\./README'.*_toc\.yml: toolkit, srfb\."):
        runs.execute("../README")
    with pytest.raises(SystemExit):
        runs.main(["execute", "../README"])
    assert "Unknown chapter '../README'" in capsys.readouterr().err
    assert book.papermill.calls == []
    assert not (book.top / "book" / "README.ipynb").exists() and not (book.top / "_build").exists()


@pytest.mark.parametrize("arguments, message", [
    (dict(profile="fast"), "Unknown profile 'fast'. Known profiles: quick, paper"),
    (dict(overrides={"steps": "500"}), r"Setting steps of chapter 'toolkit': got '500' \(str\); expected int"),
    (dict(overrides={"stepz": 5}), "Unknown setting.*stepz"),
    (dict(parameters={"sede": 3}), r"no parameter\(s\) sede; its parameters cell .* sets profile, device, seed, over"),
    (dict(parameters={"overrides": {}}), "Pass overrides as its own argument"),
])
def test_bad_profile_overrides_or_parameters_are_rejected_before_papermill(book, arguments, message):
    with pytest.raises(ValueError, match=message):
        runs.execute("toolkit", **arguments)
    assert book.papermill.calls == []
    assert book.committed.read_text() == COMMITTED
    assert not (book.top / "_build").exists() and not (book.top / "results").exists()


@pytest.mark.parametrize("text", ["{steps: 500}", "'{\"steps\": 500}'", '"steps"', "[1, 2]", "5"])
def test_cli_overrides_must_be_a_json_object(book, capsys, text):
    with pytest.raises(SystemExit) as exit_:
        runs.main(["execute", "toolkit", "--overrides", text])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert f"overrides must be a JSON object, e.g. '{{\"steps\": 500}}'; got {text!r}" in err
    assert "Unknown setting" not in err and book.papermill.calls == []


def test_cli_passes_overrides_and_parameters(book):
    runs.main(["execute", "toolkit", "--profile", "paper", "--seed", "3", "--overrides", '{"steps": 9}'])
    assert book.papermill.calls[0]["parameters"] == {"profile": "paper", "device": "auto", "seed": 3,
                                                     "overrides": {"steps": 9}}


def test_tuple_overrides_reach_the_kernel_as_lists_it_accepts(book):
    """papermill writes a tuple into the parameters cell as its string, which profiles.get would
    refuse inside the kernel: overrides are handed over in their JSON form."""
    runs.execute("toolkit", overrides={"betas": (0.5, 0.9)})
    sent = book.papermill.calls[0]["parameters"]["overrides"]
    assert sent == {"betas": [0.5, 0.9]}
    assert profiles.get("toolkit", "quick", sent).betas == (0.5, 0.9)


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_makefile_passes_overrides_to_the_chapter(book, tmp_path):
    """The Makefile's command, run with a stand-in Python that records its arguments (values travel
    through the environment, so the command text holds no user value to re-parse)."""
    fake, out, stamp = tmp_path / "python", tmp_path / "argv.json", tmp_path / "stamp"
    fake.write_text(f"#!{shlex.quote(__import__('sys').executable)}\nimport json, sys\n"
                    f"open({str(out)!r}, 'w').write(json.dumps(sys.argv[1:]))\n")
    fake.chmod(0o755)
    stamp.touch()
    subprocess.run(["make", "-s", "-C", str(REPO), "chapter", f"PY={fake}", f"STAMP={stamp}", "NAME=toolkit",
                    'OVERRIDES={"steps": 11}'], capture_output=True, text=True, check=True)
    argv = json.loads(out.read_text())
    runs.main(argv[argv.index("gancore.runs") + 1:])
    assert book.papermill.calls[0]["parameters"]["overrides"] == {"steps": 11}


def test_two_stored_runs_in_the_same_second_do_not_collide(book, monkeypatch):
    _frozen_clock(monkeypatch)
    first = runs.execute("toolkit", store=True, overrides={"steps": 5})
    second = runs.execute("toolkit", store=True)
    assert [first.parent.name, second.parent.name] == ["20260102-030405-quick", "20260102-030405-quick-2"]
    assert sorted(p.name for p in (book.top / "results" / "toolkit").iterdir()) == [first.parent.name,
                                                                                   second.parent.name]
    for out in (first, second):
        assert sorted(p.name for p in out.parent.iterdir()) == ["ring.csv", "run.json", "toolkit.ipynb"]
    (meta1, tables1), (meta2, _) = runs.stored("toolkit")
    assert meta1["parameters"]["overrides"] == {"steps": 5} and "overrides" not in meta2["parameters"]
    assert meta1["date"] == "2026-01-02T03:04:05+00:00" and meta1["chapter"] == "toolkit"
    assert tables1["ring"]["modes"].tolist() == [8, 7]
    speed = meta1["throughput"]  # the kernel's CPU share, evaluation's share and the load while it ran
    assert speed["evaluation_seconds"] >= 0.01 and 0 < speed["evaluation_share"] <= 1 and speed["cpu_share"] >= 0
    assert speed["load"]["cpus"] == os.cpu_count() and meter.FILE_ENV not in os.environ
    assert book.committed.read_text() == COMMITTED  # a stored run never replaces the committed notebook
    # the two runs had their own scratch notebooks and their own run folders
    inputs = [c["input"] for c in book.papermill.calls]
    assert inputs[0] != inputs[1] and book.top / "_build" / "notebooks" / "toolkit.ipynb" not in map(Path, inputs)
    assert book.papermill.calls[0]["run_dir"] != book.papermill.calls[1]["run_dir"]


def test_failed_stored_run_leaves_nothing_in_results(book):
    book.papermill.fail = True
    with pytest.raises(papermill.PapermillExecutionError):
        runs.execute("toolkit", store=True)
    run_dir = Path(book.papermill.calls[0]["run_dir"])
    assert run_dir.parent == book.top / "results" / "toolkit"  # the chapter did record a table there...
    assert list(run_dir.parent.iterdir()) == []  # ...but the unfinished run is gone
    assert runs.stored("toolkit") == []


@pytest.mark.parametrize("store", [False, True])
@pytest.mark.parametrize("fail", [False, True])
@pytest.mark.parametrize("before", [None, "/somewhere/else"])
def test_run_dir_environment_is_restored(book, monkeypatch, store, fail, before):
    if before is not None:
        monkeypatch.setenv(runs.RUN_DIR_ENV, before)
    book.papermill.fail = fail
    try:
        runs.execute("toolkit", store=store)
    except papermill.PapermillExecutionError:
        assert fail
    seen = book.papermill.calls[0]["run_dir"]
    assert (seen is not None and Path(seen).parent == book.top / "results" / "toolkit") if store else seen is None
    assert runs.os.environ.get(runs.RUN_DIR_ENV) == before


def test_store_and_output_together_are_refused(book, tmp_path):
    with pytest.raises(ValueError, match="store or output, not both"):
        runs.execute("toolkit", store=True, output=tmp_path / "x.ipynb")


def test_output_elsewhere_leaves_the_committed_notebook(book, tmp_path):
    out = runs.execute("srfb", output=tmp_path / "elsewhere" / "srfb.ipynb")
    assert out.exists() and book.committed.read_text() == COMMITTED


def test_record_writes_only_inside_a_stored_run(tmp_path, monkeypatch):
    table = pd.DataFrame({"a": [1.5, 2.5]})
    monkeypatch.delenv(runs.RUN_DIR_ENV, raising=False)
    assert runs.record("t", table) is None
    monkeypatch.setenv(runs.RUN_DIR_ENV, str(tmp_path))
    path = runs.record("t", table)
    pd.testing.assert_frame_equal(storage.read_csv(path), table)
    assert [p.name for p in tmp_path.iterdir()] == ["t.csv"]
    with pytest.raises(ValueError, match="plain file name"):
        runs.record("../t", table)


@pytest.mark.parametrize("content, reason", [('{"chapter": "toolk', "not valid JSON"),
                                             ("[1, 2]", "holds a list, not a JSON object")])
def test_stored_names_a_damaged_run_json(tmp_path, content, reason):
    good = tmp_path / "toolkit" / "20260101-000000-quick"
    storage.write_json(good / "run.json", {"chapter": "toolkit"})
    bad = tmp_path / "toolkit" / "20260102-000000-quick" / "run.json"
    bad.parent.mkdir()
    bad.write_text(content)
    with pytest.raises(storage.CorruptFileError, match=reason) as error:
        runs.stored("toolkit", root=tmp_path)
    assert error.value.path == bad


def test_stored_skips_runs_still_being_built(tmp_path):
    storage.write_json(tmp_path / "toolkit" / "20260101-000000-quick" / "run.json", {"chapter": "toolkit"})
    storage.write_json(tmp_path / "toolkit" / ".20260102-000000-quick-abc.tmp" / "run.json", {"chapter": "x"})
    assert [meta for meta, _ in runs.stored("toolkit", root=tmp_path)] == [{"chapter": "toolkit"}]


def test_run_json_is_written_through_storage(book, monkeypatch):
    written = []

    def write_json(path, obj):
        written.append(Path(path).name)
        return storage.atomic_write(path, json.dumps(obj))

    monkeypatch.setattr(storage, "write_json", write_json)
    runs.execute("toolkit", store=True)
    assert written == ["run.json", "toolkit-quick.json"]


def test_stored_run_records_the_commit_it_started_from(book, monkeypatch):
    """A long run's record names the code it ran: the commit checked out when it started, not one
    made (or a file edited) while it ran."""
    from gancore import provenance
    def git_commit(folder=None):  # the tree changes while the notebook executes
        return "b" * 40 + "-dirty" if book.papermill.calls else "a" * 40

    monkeypatch.setattr(provenance, "git_commit", git_commit)
    out = runs.execute("toolkit", store=True)
    assert storage.read_json(out.parent / "run.json")["git_commit"] == "a" * 40
