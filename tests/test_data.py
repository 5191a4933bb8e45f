"""Data sets: the embedded ones' defining properties, errors, and the real MNIST path."""

import pytest
import torch

from gancore import data
from conftest import SHARED_DATA


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
