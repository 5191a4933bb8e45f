"""Metrics: the ring metrics' definitions, the Frechet distance's closed forms, the classifier."""

import numpy as np
import pytest
import torch
import torchvision.models

from gancore import data, metrics, storage


def test_ring_metrics_definitions():
    ds = data.load("ring", split="test")
    real = data.as_tensor(ds)[:4000]
    m = metrics.ring_metrics(real, ds.means, ds.sigma)
    assert int(m["modes"]) == 8 and bool(m["success"]) and not bool(m["failure"])
    assert float(m["hqs"]) == pytest.approx(0.9889, abs=0.01)  # P(chi_2 <= 9) = 1 - exp(-4.5)
    assert float(m["kl"]) < 0.01
    # all samples at two modes' means: 2 modes, HQS 1, histogram KL = log(8/2)
    collapsed = ds.means[[0, 3]].repeat(50, 1)
    m = metrics.ring_metrics(collapsed, ds.means, ds.sigma)
    assert int(m["modes"]) == 2 and float(m["hqs"]) == 1.0
    assert float(m["kl"]) == pytest.approx(np.log(4), rel=1e-5)
    # samples between the modes: nothing within 3 sigma -> failure
    m = metrics.ring_metrics(torch.zeros(10, 2), ds.means, ds.sigma)
    assert bool(m["failure"]) and float(m["hqs"]) == 0.0


def test_ring_metrics_batched_equals_one_by_one():
    ds = data.load("ring", split="test")
    runs = torch.stack([data.as_tensor(ds)[:500], ds.means[[1]].repeat(500, 1), torch.zeros(500, 2)])
    batched = metrics.ring_metrics(runs, ds.means, ds.sigma)
    for k in range(3):
        single = metrics.ring_metrics(runs[k], ds.means, ds.sigma)
        for key in single:
            torch.testing.assert_close(batched[key][k], single[key])


def test_frechet_closed_forms():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(5, 5))
    s = a @ a.T + np.eye(5)
    mu = rng.normal(size=5)
    assert metrics.frechet_distance((mu, s), (mu, s)) == pytest.approx(0, abs=1e-9)
    # 1-D: (m1 - m2)^2 + (s1 - s2)^2
    assert metrics.frechet_distance((np.array([1.0]), np.array([[4.0]])), (np.array([3.0]), np.array([[9.0]]))) \
        == pytest.approx(4 + 1)
    # commuting covariances: sum of (sqrt(l1) - sqrt(l2))^2
    d1, d2 = np.diag([1.0, 4.0, 9.0]), np.diag([4.0, 4.0, 1.0])
    assert metrics.frechet_distance((np.zeros(3), d1), (np.zeros(3), d2)) == pytest.approx(1 + 0 + 4)
    b = rng.normal(size=(5, 5))
    t = b @ b.T
    assert metrics.frechet_distance((mu, s), (0 * mu, t)) == pytest.approx(metrics.frechet_distance((0 * mu, t), (mu, s)))


def test_digits_classifier_and_floor():
    space = metrics.feature_space("digits")
    assert space.accuracy >= metrics.MIN_ACCURACY["digits"]
    ref = space.reference_stats("digits")
    test = data.as_tensor(data.load("digits", split="test"))
    floor = space.frechet(test, ref)
    noise = space.frechet(torch.rand_like(test) * 2 - 1, ref)
    assert 0 < floor < noise / 10
    score = metrics.classifier_score(space, test)
    assert 8 < score <= 10
    # cached: a second call reads the same classifier
    again = metrics.feature_space("digits")
    assert again.accuracy == space.accuracy


def test_feature_space_errors():
    with pytest.raises(ValueError, match="kind='pixels'"):
        metrics.feature_space("faces")
    assert metrics.feature_space("faces", kind="auto").name == "pixels-pca32-faces"
    assert metrics.feature_space("digits", kind="auto").name == "cnn-digits"
    with pytest.raises(ValueError, match="'auto'"):
        metrics.feature_space("digits", kind="inception")
    pixels = metrics.feature_space("faces", kind="pixels", dims=8)
    with pytest.raises(ValueError, match="has no classifier"):
        metrics.classifier_score(pixels, torch.zeros(2, 1, 25, 25))
    with pytest.raises(ValueError, match=r"\(N, d\)"):
        metrics.gaussian_stats(np.zeros(3))


# --- caches and unavailable weights ----------------------------------------------------------

def test_damaged_classifier_cache_is_retrained_with_a_warning(tmp_path, monkeypatch):
    """The cache used to be read with torch.load(weights_only=False); a truncated one gave a zip error
    without a path. Now it is checksummed, and a damaged one is retrained, with a warning naming it."""
    monkeypatch.setenv("GANCORE_CACHE", str(tmp_path))
    trained = []

    def fake_training(dataset, root, epochs, seed):
        torch.manual_seed(len(trained))
        trained.append(metrics.SmallCNN(8, 1))
        return trained[-1], 0.97

    monkeypatch.setattr(metrics, "_train_classifier", fake_training)
    first = metrics.feature_space("digits")
    path = metrics.cache_dir() / "classifier-digits-seed0-e30.pt"
    assert len(trained) == 1 and storage.load_torch(path)["accuracy"] == 0.97
    again = metrics.feature_space("digits")  # read back, not retrained
    assert len(trained) == 1 and again.accuracy == 0.97
    for p, q in zip(first.classifier.parameters(), again.classifier.parameters()):
        assert torch.equal(p, q)
    for damage in (lambda raw: raw[: len(raw) // 2],  # truncated
                   lambda raw: raw[raw.index(b"\n") + 1:]):  # an old cache: torch.save without the header
        path.write_bytes(damage(path.read_bytes()))
        with pytest.warns(RuntimeWarning, match=f"damaged cache file {path}"):
            rebuilt = metrics.feature_space("digits")
        assert rebuilt.classifier is trained[-1]
        assert storage.load_torch(path)["accuracy"] == 0.97  # rewritten, readable again
    assert len(trained) == 3


def test_damaged_reference_statistics_are_recomputed(tmp_path, monkeypatch):
    monkeypatch.setenv("GANCORE_CACHE", str(tmp_path))
    space = metrics.feature_space("faces", kind="pixels", dims=4)
    mu, sigma = space.reference_stats("faces")
    (path,) = metrics.cache_dir().glob("stats-*.pt")
    cached = space.reference_stats("faces")
    assert np.array_equal(cached[0], mu) and np.array_equal(cached[1], sigma) and cached[0].dtype == np.float64
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.warns(RuntimeWarning, match=str(path)):
        again = space.reference_stats("faces")
    assert np.array_equal(again[0], mu) and np.array_equal(again[1], sigma)


def test_inception_unavailable_keeps_the_cause_and_other_errors_pass(monkeypatch):
    def offline(**kwargs):
        raise OSError("no network")

    monkeypatch.setattr(torchvision.models, "inception_v3", offline)
    with pytest.raises(RuntimeError, match="Inception-v3 weights are not available") as err:
        metrics.inception_features(torch.zeros(1, 3, 8, 8))
    assert isinstance(err.value.__cause__, OSError)

    def broken(**kwargs):
        raise KeyError("a bug, not missing weights")

    monkeypatch.setattr(torchvision.models, "inception_v3", broken)
    with pytest.raises(KeyError, match="a bug"):
        metrics.inception_features(torch.zeros(1, 3, 8, 8))


def test_reference_statistics_of_two_data_roots_are_not_shared(tmp_path):
    """The cache key names the folder a data set is read from: a second MNIST root gets its own
    statistics, not the first one's from the cache."""
    from fake_datasets import write_mnist

    a, b = write_mnist(tmp_path / "a", seed=0), write_mnist(tmp_path / "b", seed=1)
    space = metrics.FeatureSpace("pixels-test", lambda x: torch.stack([x.flatten(1).sum(1), x.flatten(1)[:, 392:420].sum(1)], 1))
    mu_a, _ = space.reference_stats("mnist", root=a, n=32)
    mu_b, _ = space.reference_stats("mnist", root=b, n=32)
    direct = space.stats(data.as_tensor(data.load("mnist", root=b), limit=32))[0]
    assert np.array_equal(mu_b, direct) and not np.array_equal(mu_a, mu_b)
