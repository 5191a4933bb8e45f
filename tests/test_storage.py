"""gancore.storage: atomic writes, checksummed torch files, safe loading, errors that name the file."""

import os
import threading

import pandas as pd
import pytest
import torch

from gancore import storage


def test_atomic_write_replaces_whole_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "sub" / "a.txt"
    storage.atomic_write(path, "first")
    storage.atomic_write(path, b"second")
    storage.atomic_write(path, lambda f: f.write(b"third"))
    assert path.read_text() == "third"
    assert sorted(p.name for p in path.parent.iterdir()) == ["a.txt"]


def test_a_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "a.json"
    storage.write_json(path, {"good": 1})

    def half(f):
        f.write(b'{"bad": ')
        raise KeyboardInterrupt  # interrupted mid-write

    with pytest.raises(KeyboardInterrupt):
        storage.atomic_write(path, half)
    assert storage.read_json(path) == {"good": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_concurrent_writers_never_mix(tmp_path):
    path = tmp_path / "t.csv"
    tables = [pd.DataFrame({"x": [i] * 2000}) for i in range(8)]
    threads = [threading.Thread(target=storage.write_csv, args=(path, t)) for t in tables]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    table = storage.read_csv(path)
    assert len(table) == 2000 and table.x.nunique() == 1  # one writer's table, whole
    assert [p.name for p in tmp_path.iterdir()] == ["t.csv"]


def test_torch_round_trip(tmp_path):
    state = {"w": torch.randn(3, 4), "step": 7, "log": [{"loss": 0.5}], "name": "adam", "none": None}
    storage.save_torch(state, tmp_path / "c.pt")
    back = storage.load_torch(tmp_path / "c.pt")
    assert torch.equal(back["w"], state["w"]) and back["step"] == 7 and back["log"] == [{"loss": 0.5}]


@pytest.mark.parametrize("damage", ["truncate", "flip", "empty", "garbage", "plain"])
def test_damaged_files_give_one_error_naming_the_file(tmp_path, damage):
    path = tmp_path / "c.pt"
    storage.save_torch({"w": torch.arange(1000.0)}, path)
    raw = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(raw[: len(raw) // 2])
    elif damage == "flip":
        b = bytearray(raw)
        b[-200] ^= 0x40  # one bit in the weights
        path.write_bytes(bytes(b))
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "garbage":
        path.write_bytes(os.urandom(500))
    else:
        torch.save({"w": torch.ones(2)}, path)  # a plain torch file: no checksum header
    with pytest.raises(storage.CorruptFileError) as err:
        storage.load_torch(path)
    assert str(path) in str(err.value) and err.value.path == path


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))  # unpickling would create the marker file


def test_a_crafted_pickle_with_a_valid_checksum_does_not_run(tmp_path):
    import hashlib
    import io

    marker = tmp_path / "pwned"
    buffer = io.BytesIO()
    torch.save({"x": _Evil(str(marker))}, buffer)
    payload = buffer.getvalue()
    path = tmp_path / "c.pt"
    path.write_bytes(b"GANCORE-TORCH 1 " + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload)
    with pytest.raises(storage.CorruptFileError, match="cannot be loaded safely"):
        storage.load_torch(path)
    assert not marker.exists()


def test_read_json_and_csv_errors_name_the_file(tmp_path):
    (tmp_path / "run.json").write_text('{"chapter": "srfb", "param')
    with pytest.raises(storage.CorruptFileError, match="run.json"):
        storage.read_json(tmp_path / "run.json")
    (tmp_path / "t.csv").write_text("")
    with pytest.raises(storage.CorruptFileError, match="t.csv"):
        storage.read_csv(tmp_path / "t.csv")
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        storage.load_torch(tmp_path / "missing.pt")
