"""Fault injection for training checkpoints: a process killed mid-write, damaged files, a hostile pickle.

What must hold: the previous checkpoint survives a kill -9 during a write and the run resumes bit for
bit; any file at the checkpoint path that is not an intact checkpoint gives one CorruptFileError naming
it and saying what to do; no code inside a checkpoint file ever runs.
"""

import hashlib
import io
import os
import pickle
import runpy
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from gancore import storage, train

# The same tiny run in this process and in the child that gets killed (written to a file for both).
TINY_RUN = '''
import sys
import time
from pathlib import Path

import torch

from gancore import losses, models, storage, train

DATA = torch.randn(256, 2, generator=torch.Generator().manual_seed(0))


def run(steps, path, resume=True):
    torch.manual_seed(0)
    G, D = models.mlp_generator(2, 2, width=8, depth=1), models.mlp_discriminator(2, width=8, depth=1)
    train.fit(G, D, DATA, loss=losses.gan_loss("ns"), opt_G=torch.optim.Adam(G.parameters(), 1e-2),
              opt_D=torch.optim.Adam(D.parameters(), 1e-2), steps=steps, batch_size=32, latent_dim=2,
              device="cpu", progress=False, checkpoint=path, checkpoint_every=1 if path else 0, resume=resume)
    return [t.clone() for t in (*G.state_dict().values(), *D.state_dict().values())]


if __name__ == "__main__":
    # the third checkpoint write stops half-way (bytes flushed to the temporary file) and hangs
    path, writing = Path(sys.argv[1]), Path(sys.argv[2])
    real_write, writes = storage.atomic_write, []

    def slow_write(target, data):
        writes.append(target)
        if len(writes) < 3:
            return real_write(target, data)

        def half_then_hang(f):
            f.write(data[: len(data) // 2])
            f.flush()
            writing.write_text("mid-write")
            time.sleep(600)

        return real_write(target, half_then_hang)

    storage.atomic_write = slow_write
    run(6, path)
'''


@pytest.fixture
def tiny(tmp_path):
    script = tmp_path / "tiny_run.py"
    script.write_text(TINY_RUN)
    return script, runpy.run_path(str(script))["run"]


def _wait_for(marker: Path, child: subprocess.Popen, seconds: float = 180.0) -> None:
    deadline = time.monotonic() + seconds
    while not marker.exists():
        if child.poll() is not None:
            raise AssertionError(f"the child exited ({child.returncode}) before the slow write: "
                                 f"{child.stderr.read().decode()[-2000:]}")
        if time.monotonic() > deadline:
            child.kill()
            raise AssertionError(f"the child did not reach the slow write within {seconds} s")
        time.sleep(0.05)


def test_kill_during_a_checkpoint_write_keeps_the_previous_one(tmp_path, tiny):
    script, run = tiny
    path, marker = tmp_path / "ckpt" / "run.pt", tmp_path / "writing"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]), MPLCONFIGDIR=str(tmp_path / "mpl"))
    child = subprocess.Popen([sys.executable, str(script), str(path), str(marker)], stderr=subprocess.PIPE, env=env)
    try:
        _wait_for(marker, child)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=60)
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL
    partial = list(path.parent.glob(".run.pt.*.tmp"))
    assert len(partial) == 1 and 0 < partial[0].stat().st_size  # the write really was cut short
    assert train.load_checkpoint(path)["step"] == 2  # the previous checkpoint, intact
    straight = run(6, None)
    resumed = run(6, path)
    for a, b in zip(straight, resumed, strict=True):
        assert torch.equal(a, b)
    assert train.load_checkpoint(path)["step"] == 6


def _damage(kind: str, path: Path, tiny_run) -> None:
    if kind == "plain state_dict":
        torch.save(torch.nn.Linear(2, 2).state_dict(), path)
        return
    if kind == "other gancore file":
        storage.save_torch({"weights": torch.ones(3)}, path)
        return
    tiny_run(2, path)
    raw = path.read_bytes()
    damaged = {
        "empty": b"",
        "truncated": raw[: len(raw) // 2],
        "garbage": bytes(range(256)) * 16,
        "bit-flipped": raw[:-100] + bytes([raw[-100] ^ 0x01]) + raw[-99:],
    }[kind]
    path.write_bytes(damaged)


@pytest.mark.parametrize("kind", ["empty", "truncated", "garbage", "bit-flipped", "plain state_dict",
                                  "other gancore file"])
def test_damaged_checkpoint_is_one_clear_error(tmp_path, tiny, kind):
    _, run = tiny
    path = tmp_path / "run.pt"
    _damage(kind, path, run)
    with pytest.raises(storage.CorruptFileError) as err:
        train.load_checkpoint(path)
    assert err.value.path == path and str(path) in str(err.value)
    with pytest.raises(storage.CorruptFileError, match="resume=False") as err:
        run(4, path)
    assert err.value.path == path
    run(4, path, resume=False)  # the advice works: start over, overwriting the file
    assert train.load_checkpoint(path)["step"] == 4


class _Payload:
    """Unpickling this object would create ``marker`` (i.e. run code from the file)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def _hostile(kind: str, marker: Path) -> bytes:
    if kind == "raw pickle":
        return pickle.dumps(_Payload(marker))
    buffer = io.BytesIO()
    torch.save({"G": _Payload(marker)}, buffer)
    payload = buffer.getvalue()
    if kind == "torch.save archive":
        return payload
    # a forged header with a MATCHING checksum: only weights_only stands in the way
    return b"GANCORE-TORCH 1 " + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload


@pytest.mark.parametrize("kind", ["raw pickle", "torch.save archive", "forged checksum header"])
def test_crafted_pickle_never_runs(tmp_path, tiny, kind):
    _, run = tiny
    path, marker = tmp_path / "run.pt", tmp_path / "code-ran"
    path.write_bytes(_hostile(kind, marker))
    with pytest.raises(storage.CorruptFileError) as err:
        train.load_checkpoint(path)
    assert err.value.path == path
    with pytest.raises(storage.CorruptFileError):
        run(2, path)
    assert not marker.exists(), "unpickling the checkpoint ran code from the file"


def test_the_crafted_pickle_is_hostile(tmp_path):
    """The control: a plain unpickler DOES run the payload, so the test above can fail."""
    marker = tmp_path / "code-ran"
    pickle.loads(_hostile("raw pickle", marker)).close()
    assert marker.exists()
