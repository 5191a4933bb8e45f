"""Data sets: the embedded ones' defining properties, errors, and the real MNIST path."""

import importlib.util
import math
import sys

import pytest
import torch

import fake_datasets
from conftest import SHARED_DATA
from gancore import data
from gancore.storage import CorruptFileError


def test_ring_matches_the_alpha_gan_setup():
    ds = data.load("ring")
    x, y = ds.tensors
    assert x.shape == (50_000, 2) and len(data.load("ring", split="test")) == 25_000
    torch.testing.assert_close(ds.means[1], torch.tensor([2 ** -0.5, 2 ** -0.5]))
    # every sample is its mode's mean plus N(0, 0.01^2) noise
    resid = x - ds.means[y]
    assert resid.std().item() == pytest.approx(0.01, rel=0.02)
    counts = torch.bincount(y, minlength=8).float() / len(y)
    torch.testing.assert_close(counts, torch.full((8,), 1 / 8), atol=0.01, rtol=0)
    # fixed data seed: the same samples every time, and train/test disjoint
    torch.testing.assert_close(data.load("ring").tensors[0][:5], x[:5])
    test = data.load("ring", split="test").tensors[0]
    assert not (test[:200, None, :] == x[None]).all(-1).any()


def test_ring_options():
    ds = data.load("ring", modes=4, radius=2.0, n_train=400, n_test=100)
    assert len(ds) == 400 and ds.means.shape == (4, 2)
    assert ds.means.norm(dim=1).allclose(torch.full((4,), 2.0))


@pytest.mark.parametrize("name, shape, n_all", [("digits", (1, 8, 8), 1797), ("faces", (1, 25, 25), 100)])
def test_image_sets(name, shape, n_all):
    train, test = data.load(name), data.load(name, split="test")
    assert len(train) + len(test) == n_all
    x = data.as_tensor(train)
    assert x.shape[1:] == shape and x.min() >= -1 and x.max() <= 1
    assert x.min() == -1 and x.max() == 1
    all_x = data.as_tensor(data.load(name, split="all"))
    # the split is a partition of the whole set
    both = torch.cat([x, data.as_tensor(test)]).flatten(1)
    assert torch.equal(both.sort(0).values, all_x.flatten(1).sort(0).values)


def test_unknown_name_and_split():
    with pytest.raises(ValueError, match="Known data sets: ring, grid, digits, faces, mnist"):
        data.load("imagenet")
    with pytest.raises(ValueError, match="Invalid split"):
        data.load("digits", split="validation")


@pytest.mark.parametrize("name", ["mnist", "cifar10", "celeba"])
def test_missing_real_data_names_the_folder(tmp_path, name):
    with pytest.raises(data.DataNotFoundError, match=str(tmp_path)) as err:
        data.load(name, root=tmp_path)
    assert "GANCORE_DATA" in str(err.value)


def test_root_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("GANCORE_DATA", str(tmp_path))
    assert data.data_root(None) == tmp_path
    assert data.data_root("elsewhere").name == "elsewhere"


@pytest.mark.skipif(not (SHARED_DATA / "MNIST" / "raw").is_dir(),
                    reason=f"real MNIST raw files not found in {SHARED_DATA}/MNIST/raw")
def test_real_mnist_through_torchvision():
    train = data.load("mnist", root=SHARED_DATA)
    test = data.load("mnist", root=SHARED_DATA, split="test")
    assert len(train) == 60_000 and len(test) == 10_000
    x, y = train[0]
    assert x.shape == (1, 28, 28) and x.min() == -1 and x.max() <= 1 and 0 <= y <= 9


# --- splits, sizes and damaged or missing files ------------------------------------------------

def test_all_split_of_a_real_set_is_train_then_test(tmp_path):
    """split='all' used to return MNIST's test images alone."""
    root = fake_datasets.write_mnist(tmp_path, n_train=12, n_test=5)
    train, test = data.load("mnist", root=root), data.load("mnist", root=root, split="test")
    everything = data.load("mnist", root=root, split="all")
    assert len(everything) == 17
    assert torch.equal(data.as_tensor(everything), torch.cat([data.as_tensor(train), data.as_tensor(test)]))


@pytest.mark.parametrize("name, known", [("ring", "'train' or 'test'"), ("grid", "'train' or 'test'"),
                                         ("mnist", "'train' or 'test' or 'all'"),
                                         ("lsun_classroom", "'train' or 'test' or 'all'")])
def test_unknown_split_lists_the_splits_of_that_set(tmp_path, name, known):
    assert data.SPLITS[name] == tuple(s.strip("'") for s in known.split(" or "))
    with pytest.raises(ValueError, match=f"Invalid split 'validation' for the {name} data set: use {known}"):
        data.load(name, root=tmp_path, split="validation")


@pytest.mark.parametrize("name, options, message", [
    ("ring", {"n_train": -5}, "n_train=-5"), ("ring", {"n_test": 0}, "n_test=0"),
    ("ring", {"n_train": 2.5}, "n_train=2.5"), ("ring", {"modes": 0}, "modes=0"),
    ("ring", {"radius": math.inf}, "radius=inf"), ("ring", {"sigma": -0.1}, "sigma=-0.1"),
    ("grid", {"side": 0}, "side=0"), ("grid", {"spacing": 0.0}, "spacing=0.0"),
])
def test_invalid_mixture_sizes_raise(name, options, message):
    """n_train=-5 used to give 24,990 samples and modes=0 an error inside random_."""
    with pytest.raises(ValueError, match=f"Invalid {message}"):
        data.load(name, **options)


@pytest.mark.parametrize("keep", [3, 10, 500])  # inside the magic number, inside the dimensions, in the pixels
def test_truncated_mnist_file_is_named(tmp_path, keep):
    """A cut file used to give 'invalid literal for int() with base 16' or a shape error reported as
    'data set was not found'."""
    root = fake_datasets.write_mnist(tmp_path, n_train=8, n_test=4)
    damaged = root / "MNIST" / "raw" / "train-images-idx3-ubyte"
    damaged.write_bytes(damaged.read_bytes()[:keep])
    with pytest.raises(CorruptFileError, match="download MNIST again") as err:
        data.load("mnist", root=root)
    assert err.value.path == damaged
    assert len(data.load("mnist", root=root, split="test")) == 4  # the test split's files are intact


@pytest.mark.skipif(not (SHARED_DATA / "MNIST" / "raw").is_dir(),
                    reason=f"real MNIST raw files not found in {SHARED_DATA}/MNIST/raw")
def test_truncated_real_mnist_labels(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for source in (SHARED_DATA / "MNIST" / "raw").iterdir():
        (raw / source.name).symlink_to(source)
    labels = raw / "t10k-labels-idx1-ubyte"
    labels.unlink()
    labels.write_bytes((SHARED_DATA / "MNIST" / "raw" / labels.name).read_bytes()[:5000])
    with pytest.raises(CorruptFileError, match=r"t10k-labels-idx1-ubyte: it holds 5000 bytes where its header "
                                               r"10000 announces 10008 \(truncated\)"):
        data.load("mnist", root=tmp_path, split="test")


def test_missing_mnist_files_are_listed(tmp_path):
    root = fake_datasets.write_mnist(tmp_path, n_train=4, n_test=2)
    (root / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(data.DataNotFoundError, match="missing: t10k-labels-idx1-ubyte"):
        data.load("mnist", root=root)


def test_real_set_errors_keep_their_cause(tmp_path):
    with pytest.raises(data.DataNotFoundError, match="cifar-10-batches-py") as err:
        data.load("cifar10", root=tmp_path)
    assert isinstance(err.value.__cause__, RuntimeError)  # torchvision's own message, chained
    (tmp_path / "cifar-10-batches-py").mkdir()
    (tmp_path / "cifar-10-batches-py" / "data_batch_1").write_bytes(b"junk")
    with pytest.raises(CorruptFileError, match="md5") as err:
        data.load("cifar10", root=tmp_path)
    assert err.value.path == tmp_path / "cifar-10-batches-py" and isinstance(err.value.__cause__, RuntimeError)


def test_lsun_without_lmdb_says_how_to_install_it(tmp_path, monkeypatch):
    """It used to say 'data set was not found'."""
    monkeypatch.setitem(sys.modules, "lmdb", None)  # import lmdb now fails as if it were not installed
    with pytest.raises(ModuleNotFoundError, match="pip install lmdb"):
        data.load("lsun_classroom", root=tmp_path)


@pytest.mark.skipif(importlib.util.find_spec("lmdb") is None, reason="the lmdb package is not installed")
def test_missing_lsun_database_names_the_folder(tmp_path):
    with pytest.raises(data.DataNotFoundError, match=str(tmp_path / "classroom_val_lmdb")):
        data.load("lsun_classroom", root=tmp_path, split="test")
