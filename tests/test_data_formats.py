"""The real data sets' on-disk formats through ``gancore.data.load``, on tiny files written by
``fake_datasets``: sizes per split, the documented shape and scaling, and the pixels and labels of
samples compared with what was written.

Fake files cannot match the md5 sums torchvision records for CIFAR-10's and CelebA's released files:
those tests pass ``verify=False`` (or set ``GANCORE_DATA_VERIFY=0``), and others check that the default
keeps the check and reports an altered file as damaged, never as missing. CelebA and LSUN have no
class label (``y = -1``); LSUN's lmdb databases are read without writing anything into the working
directory (torchvision's LSUN writes a key cache there, and reuses a stale one for another database
whose path differs only in digits).
"""

from __future__ import annotations

import importlib.util
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from torchvision.datasets import CIFAR10, CelebA

import fake_datasets as fake
from gancore import data
from gancore.storage import CorruptFileError

HAS_LMDB = importlib.util.find_spec("lmdb") is not None
needs_lmdb = pytest.mark.skipif(not HAS_LMDB, reason="the lmdb package is not installed (pip install "
                                "lmdb==3.0.0, pinned in requirements.lock): LSUN databases cannot be written")
CODEC_ATOL = 2 * 6 / 255  # six grey levels, in [-1, 1] units: JPEG / WebP error on a solid colour


def _scaled(pixels: np.ndarray) -> torch.Tensor:
    """uint8 pixels (H, W) or (H, W, C) -> the documented float tensor (C, H, W) in [-1, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(pixels)).float() / 255 * 2 - 1
    return x.unsqueeze(0) if x.ndim == 2 else x.permute(2, 0, 1)


def _assert_quadrants(x: torch.Tensor, colours: np.ndarray) -> None:
    """``x`` (3, 64, 64) shows the four written quadrant colours, away from the blurred borders."""
    assert x.shape == (3, 64, 64) and x.dtype == torch.float32
    inside = (slice(0, 24), slice(40, 64))
    for row in range(2):
        for col in range(2):
            block = x[:, inside[row], inside[col]]
            expected = _scaled(colours[row, col][None, None]).expand_as(block)
            torch.testing.assert_close(block, expected, atol=CODEC_ATOL, rtol=0)


@pytest.fixture
def lsun_root(tmp_path, monkeypatch):
    """An LSUN classroom root; the working directory is an empty folder, where a key cache would show."""
    root = fake.write_lsun(tmp_path / "lsun")
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    return root


def test_mnist_idx_files(tmp_path):
    root = fake.write_mnist(tmp_path, n_train=64, n_test=32, seed=3)
    train, test = data.load("mnist", root=root), data.load("mnist", root=root, split="test")
    assert (len(train), len(test)) == (64, 32)
    for ds, (images, labels) in ((train, fake.mnist_arrays(64, 3)), (test, fake.mnist_arrays(32, 4))):
        x, y = ds[5]
        assert x.shape == (1, 28, 28) and x.dtype == torch.float32
        torch.testing.assert_close(x, _scaled(images[5]))
        assert [ds[i][1] for i in range(len(ds))] == labels.tolist()
    x = data.as_tensor(train)
    assert x.min() == -1 and x.max() == 1  # black background, white strokes


def test_cifar10_python_batches(tmp_path):
    root = fake.write_cifar10(tmp_path, n_train=40, n_test=16)
    train = data.load("cifar10", root=root, verify=False)
    test = data.load("cifar10", root=root, split="test", verify=False)
    assert (len(train), len(test)) == (40, 16)
    for ds, (images, labels) in ((train, fake.cifar10_arrays(40, 0)), (test, fake.cifar10_arrays(16, 1))):
        x, y = ds[len(ds) - 1]  # the last image of the last batch: the batches are read in order
        assert x.shape == (3, 32, 32)
        torch.testing.assert_close(x, _scaled(images[-1]))  # rows hold the R, G, B planes in turn
        assert [ds[i][1] for i in range(len(ds))] == labels.tolist()


def test_cifar10_md5_check_stays_on_by_default(tmp_path):
    root = fake.write_cifar10(tmp_path)
    with pytest.raises(Exception, match="cifar-10-batches-py"):
        data.load("cifar10", root=root)


def test_celeba_image_folder_and_lists(tmp_path):
    root = fake.write_celeba(tmp_path, n=20)
    colours, partition = fake.quadrant_colours(20), fake.celeba_partition(20)
    train = data.load("celeba", root=root, verify=False)
    test = data.load("celeba", root=root, split="test", verify=False)
    everything = data.load("celeba", root=root, split="all", verify=False)
    assert (len(train), len(test), len(everything)) == (16, 2, 20)
    # 178x218 -> Resize(64): 64x78 -> CenterCrop(64); the quadrants keep their place
    _assert_quadrants(train[3][0], colours[3])
    _assert_quadrants(test[1][0], colours[np.flatnonzero(partition == 2)[1]])
    _assert_quadrants(everything[17][0], colours[17])


def test_celeba_md5_check_stays_on_by_default(tmp_path):
    root = fake.write_celeba(tmp_path)
    with pytest.raises(Exception, match="celeba"):
        data.load("celeba", root=root)


def test_celeba_has_no_label(tmp_path):
    root = fake.write_celeba(tmp_path)
    assert data.load("celeba", root=root, verify=False)[0][1] == -1


@needs_lmdb
def test_lsun_lmdb(lsun_root):
    train = data.load("lsun_classroom", root=lsun_root)
    test = data.load("lsun_classroom", root=lsun_root, split="test")
    assert (len(train), len(test)) == (12, 6)
    train_colours, test_colours = fake.quadrant_colours(12, 0), fake.quadrant_colours(6, 1)
    for i in range(3):  # landscape, portrait, square: Resize(64) + CenterCrop(64) gives 64x64
        _assert_quadrants(train[i][0], train_colours[i])
    _assert_quadrants(test[4][0], test_colours[4])


@needs_lmdb
def test_lsun_goes_to_another_process(lsun_root):
    """Pickled into another process (a DataLoader worker, experiments.in_processes), the set opens its own
    lmdb environment there and reads the same images."""
    train = data.load("lsun_classroom", root=lsun_root)
    read = "import pickle, sys; sys.stdout.buffer.write(pickle.dumps(pickle.load(sys.stdin.buffer)[5][0]))"
    there = subprocess.run([sys.executable, "-c", read], input=pickle.dumps(train), capture_output=True, timeout=300)
    assert there.returncode == 0, there.stderr.decode()
    assert torch.equal(pickle.loads(there.stdout), train[5][0])


@needs_lmdb
def test_lsun_has_no_label(lsun_root):
    assert data.load("lsun_classroom", root=lsun_root)[0][1] == -1


@needs_lmdb
def test_lsun_writes_nothing_into_the_working_directory(lsun_root):
    data.load("lsun_classroom", root=lsun_root)[0]
    assert sorted(p.name for p in lsun_root.parent.joinpath("cwd").iterdir()) == []


@pytest.mark.parametrize("name, write, n_all, options", [
    ("mnist", fake.write_mnist, 64 + 32, {}),
    ("cifar10", fake.write_cifar10, 40 + 16, {"verify": False}),
    pytest.param("lsun_classroom", fake.write_lsun, 12 + 6, {}, marks=needs_lmdb),
])
def test_all_split_is_never_the_test_split_alone(tmp_path, monkeypatch, name, write, n_all, options):
    """split='all' is the training split followed by the test split (it used to be the test split alone)."""
    monkeypatch.chdir(write(tmp_path))
    ds = data.load(name, root=tmp_path, split="all", **options)
    assert len(ds) == n_all
    train, test = (data.load(name, root=tmp_path, split=split, **options) for split in ("train", "test"))
    for i, j in ((0, 0), (len(train) - 1, len(train) - 1), (len(train), 0), (n_all - 1, len(test) - 1)):
        part = train if i < len(train) else test
        assert torch.equal(ds[i][0], part[j][0]) and ds[i][1] == part[j][1]


# --- the md5 check: on by default, off by option or environment, and its failures reported as such

def test_verify_default_comes_from_the_environment(tmp_path, monkeypatch):
    """GANCORE_DATA_VERIFY=0 lets a chapter, which calls load without verify=, read re-packed data."""
    root = fake.write_cifar10(tmp_path / "cifar", n_train=10, n_test=5)
    fake.write_celeba(tmp_path / "celeba", n=10)
    monkeypatch.setenv("GANCORE_DATA_VERIFY", "0")
    assert len(data.load("cifar10", root=root)) == 10
    assert len(data.load("celeba", root=tmp_path / "celeba", split="all")) == 10
    with pytest.raises(CorruptFileError):  # the argument wins over the environment
        data.load("cifar10", root=root, verify=True)
    monkeypatch.setenv("GANCORE_DATA_VERIFY", "1")
    with pytest.raises(CorruptFileError):
        data.load("cifar10", root=root)
    monkeypatch.setenv("GANCORE_DATA_VERIFY", "no")
    with pytest.raises(ValueError, match="Invalid GANCORE_DATA_VERIFY='no': use 0"):
        data.load("cifar10", root=root)
    with pytest.raises(ValueError, match="Invalid verify='no'"):
        data.load("celeba", root=tmp_path / "celeba", verify="no")


@pytest.mark.parametrize("name, write, folder, altered", [
    ("cifar10", fake.write_cifar10, "cifar-10-batches-py", "data_batch_1, data_batch_2"),
    ("celeba", fake.write_celeba, "celeba", "list_attr_celeba.txt, identity_CelebA.txt"),
])
def test_an_altered_file_is_damaged_not_missing(tmp_path, name, write, folder, altered):
    """CelebA's failed md5 check used to be reported as 'data set was not found'."""
    root = write(tmp_path)
    with pytest.raises(CorruptFileError, match=f"the md5 sum of {altered}") as err:
        data.load(name, root=root)
    assert err.value.path == root / folder and isinstance(err.value.__cause__, RuntimeError)
    assert "verify=False or set GANCORE_DATA_VERIFY=0" in str(err.value)


@pytest.mark.parametrize("name, write, removed", [
    ("cifar10", fake.write_cifar10, "cifar-10-batches-py/test_batch"),
    ("celeba", fake.write_celeba, "celeba/identity_CelebA.txt"),
])
def test_a_missing_file_is_named(tmp_path, name, write, removed):
    root = write(tmp_path)
    (root / removed).unlink()
    with pytest.raises(data.DataNotFoundError, match=f"missing: {removed.split('/')[1]}"):
        data.load(name, root=root, verify=False)


@pytest.mark.parametrize("base, lists, name_at", [(CIFAR10, ("train_list", "test_list"), 0),
                                                   (CelebA, ("file_list",), 2)])
def test_skipping_md5_subclasses_torchvision_and_leaves_it_untouched(base, lists, name_at):
    """verify=False is a subclass with the same files, in the same order, and no md5: torchvision's own
    class (used by verify=True) keeps every md5."""
    unverified = data._without_md5(base)
    assert issubclass(unverified, base) and data._without_md5(base) is unverified
    for attribute in lists:
        ours, theirs = getattr(unverified, attribute), getattr(base, attribute)
        assert [entry[name_at] for entry in ours] == [entry[name_at] for entry in theirs]
        assert all(entry[1] is None for entry in ours) and all(entry[1] is not None for entry in theirs)
    if base is CIFAR10:
        assert unverified.meta["md5"] is None and base.meta["md5"] is not None


# --- LSUN read directly from its lmdb databases

@needs_lmdb
def test_lsun_reads_each_database_not_a_stale_cache(lsun_root):
    """torchvision's key cache is named after the letters of the path: a second database whose path
    differs only in digits used to be read with the first one's keys."""
    other = fake.write_lsun(lsun_root.parent / "lsun2", n_train=5, n_val=2, seed=7)
    first, second = data.load("lsun_classroom", root=lsun_root), data.load("lsun_classroom", root=other)
    assert (len(first), len(second)) == (12, 5)
    _assert_quadrants(second[4][0], fake.quadrant_colours(5, 7)[4])


@needs_lmdb
def test_lsun_damaged_database_is_named(lsun_root):
    database = lsun_root / "classroom_val_lmdb"
    (database / "data.mdb").write_bytes(b"not an lmdb file")
    with pytest.raises(CorruptFileError, match="it is not an lmdb database") as err:
        data.load("lsun_classroom", root=lsun_root, split="test")
    assert err.value.path == database


@needs_lmdb
def test_lsun_undecodable_image_is_named(tmp_path, monkeypatch):
    import lmdb

    root = tmp_path / "lsun"
    fake.write_lsun(root, n_train=3, n_val=1)
    env = lmdb.open(str(root / "classroom_train_lmdb"), map_size=1 << 26)
    with env.begin(write=True) as txn:
        key = next(txn.cursor().iternext(values=False))
        txn.put(key, b"truncated")
    env.close()
    monkeypatch.chdir(tmp_path)
    images = data.load("lsun_classroom", root=root)
    _assert_quadrants(images[1][0], fake.quadrant_colours(3, 0)[1])  # the other images still load
    with pytest.raises(CorruptFileError, match=f"the image under key {key.decode()} cannot be decoded"):
        images[0]


@needs_lmdb
def test_lsun_database_read_by_two_sets_at_once(lsun_root):
    """lmdb refuses to open one environment twice in a process: the sets share it."""
    first, again = data.load("lsun_classroom", root=lsun_root), data.load("lsun_classroom", root=lsun_root)
    everything = data.load("lsun_classroom", root=lsun_root, split="all")
    assert torch.equal(first[2][0], again[2][0]) and torch.equal(everything[2][0], first[2][0])
