"""Every chapter's ``paper`` profile, executed end to end (papermill, a real kernel) on data written in
each real on-disk format: the code path a reader with a GPU runs, shrunk to a tiny size.

``TINY[name]`` overrides every size setting of the chapter's paper profile (steps, seeds, widths,
sample counts, iterations; grids cut to two points where the chapter compares) and nothing else: the
data sets stay the paper's (``mnist``, ``cifar10``, ``celeba``, ``lsun_classroom``, read from the
fake files of :mod:`fake_datasets` through ``gancore.data`` exactly as from the real downloads), and
so do the code paths (losses, policies, feature spaces, base GANs, ProCoGAN's five scales to 64x64).

The fake MNIST digits are numerals drawn in one font; :data:`MNIST_TRAIN` of them are enough for the
MNIST feature space's classifier (two epochs, as on the real data) to pass its real accuracy check
(``metrics.MIN_ACCURACY["mnist"]``), so MNIST distances are taken in the classifier's features as at
paper scale. At tiny sizes the methods barely train, so the summary cells meet their edge cases (a
target reached before any training, or never, a success rate of 0): each chapter's check below
asserts that the printed summary says so instead of dividing by zero.

The kernels run with one BLAS/OpenMP thread: on this 2-core machine, shared with other jobs, torch's
two threads spin against each other and a width-8 DCGAN step took 25 times longer.
"""

from __future__ import annotations

import importlib.util
import math
import re
from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest

import fake_datasets
from gancore import metrics, runs

REPO = Path(__file__).resolve().parents[1]
MNIST_TRAIN, MNIST_TEST = 3840, 200

# The shrinking overrides: every size setting of each chapter's paper profile. Lists, as JSON gives them
# (``make chapter OVERRIDES=...``): papermill injects a tuple as its string.
TINY: dict[str, dict] = {
    "toolkit": {"steps": 20, "batch_size": 32, "g_width": 16, "d_width": 16, "depth": 2, "eval_every": 5,
                "n_eval": 500},
    "srfb": {
        "det": {"n": 4, "steps": 20}, "stoch": {"d": 4, "steps": 20, "batch": 4}, "grow": {"steps": 20, "seeds": 2},
        "fixed": {"steps": 20}, "nbhd": {"lrs": [0.1, 0.8], "batches": [1, 64], "steps": 20, "seeds": 2},
        "sens": {"deltas": [0.5, 0.9], "lrs": [0.2, 1.6], "steps": 20},
        "image": {"batch_size": 16, "width": 8, "latent": 8, "budget": 20, "eval_every": 10, "seeds": 2},
        "n_fd": 128},
    "double_oracle": {
        "ring": {"width": 16, "depth": 2, "init_steps": 20, "iterations": 3, "oracle_steps": 10},
        "ablation_caps": [2, None], "batch_size": 32, "n_payoff": 64, "fisher_batches": 2, "n_eval": 500,
        "image": {"width": 8, "latent": 8, "init_steps": 10, "iterations": 2, "oracle_steps": 5, "batch_size": 16,
                  "seeds": 2, "br_steps": 5},
        "n_fid": 128, "matrix_size": 20},
    "alpha_gan": {
        "ring": {"batch_size": 32, "g_width": 16, "d_width": 16, "depth": 2, "steps": 20, "seeds": 2, "n_eval": 500},
        "fig2b": {"alpha_d": [0.3, 1.0]}, "sat": {"alpha_g": [1.0, 1.2], "alpha_d": [0.5, 1.0]},
        "ns": {"alpha_g": [1.0, 1.2], "alpha_d": [0.5, 1.0]},
        "image": {"width": 8, "latent": 8, "steps": 10, "batch_size": 8, "lrs": [1e-4, 8e-4], "alpha_d": [0.6, 1.0],
                  "seeds": 2},  # the paper's Celeb-A cells (alpha_D 0.6 and 1 at its lr 8e-4), which the claim reads
        "n_fid": 64, "n_fid_ref": 64},
    "arena": {
        "known": {"n": 16, "d": 3, "seeds": 2, "budget": 80, "eval_every": 40, "lrs": [0.01, 0.1], "oracle_steps": 10},
        "ring": {"g_width": 8, "d_width": 8, "depth": 1, "seeds": 3, "budget": 16, "eval_every": 8, "n_eval": 200,
                 "lrs": [0.002, 0.2], "dogan": {"seeds": 2, "iterations": 2, "n_payoff": 64, "fisher_batches": 1}},
        "image": {"width": 4, "latent": 4, "batch_size": 16, "budget": 16, "eval_every": 8, "lrs": [0.01, 0.05],
                  "seeds": 2, "n_eval": 64, "dogan": {"iterations": 1, "n_payoff": 64},
                  "procogan": {"resolutions": [7, 14, 28], "ks": [4, 8, 8], "noise_dim": 8}}},
    "convex_wgan": {
        "toy": {"steps": 20}, "cmp": {"n": 64, "d": 4},
        "gda": {"steps": 20, "eval_every": 10, "stage": {"steps": 2, "batch_size": 8}},
        "beta_fractions": [0.05, 0.9], "n_images": 32, "n_samples": 64, "seeds": 2, "problems": 2,
        # the digits at the authors' GDA budget, then the paper's five CelebA scales up to 64x64, with
        # the k and widths 32 images allow
        "procogan": [{"data": "digits", "resolutions": [2, 4, 8], "ks": [3, 6, 8], "noise_dim": 4,
                      "gda_widths": [4, 4, 4], "feature": "classifier"},
                     {"data": "celeba", "resolutions": [4, 8, 16, 32, 64], "ks": [2, 3, 4, 5, 6], "noise_dim": 4,
                      "gda_widths": [4, 4, 4, 4, 4], "feature": "pixels"}]},
    "repeated_game": {
        "ring": {"batch_size": 32, "seeds": 2, "width": 16, "depth": 2, "steps": 20, "eval_every": 10, "n_eval": 500},
        "image": {"width": 8, "latent": 8, "steps": 20, "batch_size": 16, "eval_every": 10}, "n_fid": 128},
}

# The data sets each chapter's paper profile uses, named in its first printed line.
PAPER_DATA: dict[str, tuple[str, ...]] = {
    "toolkit": ("ring", "mnist"),
    "srfb": ("mnist", "cifar10"),
    "double_oracle": ("mnist", "cifar10", "celeba"),
    "alpha_gan": ("celeba", "lsun_classroom"),
    "convex_wgan": ("celeba",),
    "repeated_game": ("mnist", "cifar10", "celeba"),
    "arena": ("mnist",),
}


def _lines(printed: str, pattern: str) -> list[re.Match]:
    """Every printed line matching ``pattern`` (at least one)."""
    found = [m for line in printed.splitlines() if (m := re.fullmatch(pattern, line))]
    assert found, f"no printed line matches {pattern!r}"
    return found


def _check_toolkit(printed: str) -> None:
    # the MNIST feature space is the real classifier, past its real accuracy check
    (m,) = _lines(printed, r"feature space cnn-mnist: classifier test accuracy (\d\.\d{4})")
    assert float(m[1]) >= metrics.MIN_ACCURACY["mnist"]


def _check_srfb(printed: str) -> None:
    # one summary per data set; a ratio only where both methods trained to the target
    found = _lines(printed, r"(\w+), seed \d+: gradient evaluations to FD <= \S+: SRFB (\S+), EG (\S+), .*; "
                            r"SRFB / EG = (.*)")
    assert [m[1] for m in found] == ["mnist", "mnist", "cifar10", "cifar10"]
    for m in found:
        srfb, eg = float(m[2]), float(m[3])
        if srfb > 0 and eg > 0:
            assert float(m[4]) == pytest.approx(srfb / eg, abs=0.006)
        else:  # a method at 0 evaluations (its untrained networks met the target), or one that never did (nan)
            assert m[4].startswith("no ratio (")
            assert ("at 0 gradient evaluations, before any training" in m[4]) == (0.0 in (srfb, eg))


def _check_double_oracle(printed: str) -> None:
    # each data set's distances in its own feature space (the header named only the last one)
    _lines(printed, r"Frechet distance in cnn-mnist, pixels-pca32-cifar10, pixels-pca32-celeba features .*")


def _check_alpha_gan(printed: str) -> None:
    # each paper image set trained and measured in its own feature space; the two Celeb-A cells of the
    # paper's claim compared at the paper's learning rate (the NS ratio of rates is a claim row now)
    for name in ("celeba", "lsun_classroom"):
        _lines(printed, rf"{name}: Frechet distance in \S+ after 10 steps over 2 seeds \(this execution.*")
    (m,) = _lines(printed, r"\nlog Frechet distance at lr 0\.0008, alpha_D = 0\.6 vs 1: (.*)|"
                           r"log Frechet distance at lr 0\.0008, alpha_D = 0\.6 vs 1: (.*)")
    assert "n=2" in m[0]


def _check_convex_wgan(printed: str) -> None:
    # ProCoGAN fitted all five scales of the CelebA images; the GDA summary says when no iterate was feasible
    assert [int(m[1]) for m in _lines(printed, r"\s*celeba\s+(\d+)\s+\d+\s.*")[:5]] == [4, 8, 16, 32, 64]
    (m,) = _lines(printed, r"GDA evaluations within 1% of p\* and feasible to 1%: (\d+) of \d+; (.*)")
    assert re.fullmatch(r"smallest gap among feasible evaluations: [+-]\d+\.\d{3}", m[2]) or (
        m[2] == "no evaluation was feasible to 1%, so no gap among feasible ones")


def _check_arena(printed: str) -> None:
    # every game's leaderboard printed, at the paper profile's data (MNIST for the image game)
    _lines(printed, r"Known-optimum game, d = 3, 80 player-gradient evaluations, 2 seeds, .*")
    _lines(printed, r"Live ring arena \(paper profile\): 16 player-gradient evaluations, 3 seeds \(2 for DO-GAN\).*")
    _lines(printed, r"Live mnist arena \(paper profile\): 16 player-gradient evaluations, 2 seeds.*")


def _check_repeated_game(printed: str) -> None:
    # every real image set trained by every rule, each with a finite Frechet distance in its own space
    rows = _lines(printed, r"\s*(mnist|cifar10|celeba)\s+(simultaneous|alternating|cooperative)\s+(\S+)\s+(\S+)\s+.*")
    seen = {(m[1], m[2]) for m in rows}
    assert seen == {(d, r) for d in ("mnist", "cifar10", "celeba") for r in ("simultaneous", "alternating", "cooperative")}
    assert all(math.isfinite(float(m[4])) for m in rows)


CHECKS: dict[str, Callable[[str], None]] = {
    "toolkit": _check_toolkit, "srfb": _check_srfb, "double_oracle": _check_double_oracle,
    "alpha_gan": _check_alpha_gan, "convex_wgan": _check_convex_wgan, "repeated_game": _check_repeated_game,
    "arena": _check_arena,
}


@pytest.fixture(scope="module")
def paper_data(tmp_path_factory) -> tuple[Path, Path]:
    """All four real data sets, in their real formats, in one root (the layout ``gancore.data``
    expects under ``$GANCORE_DATA``), and the environment every chapter's kernel inherits (for this
    module only: the other tests' environment is left as it was). Returns the root and a cache folder
    of this module's own: cached classifiers and statistics are keyed by the data set's name, not its
    root, so the fake MNIST must not share a cache with tests that read the real one."""
    root = tmp_path_factory.mktemp("paper-data")
    fake_datasets.write_mnist(root, n_train=MNIST_TRAIN, n_test=MNIST_TEST)
    fake_datasets.write_cifar10(root, n_train=100, n_test=20)
    fake_datasets.write_celeba(root, n=40)
    if importlib.util.find_spec("lmdb") is not None:  # else alpha_gan's test skips, saying why
        fake_datasets.write_lsun(root, n_train=24, n_val=8)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GANCORE_DATA", str(root))
        mp.setenv("GANCORE_DATA_VERIFY", "0")  # fake files cannot match torchvision's md5 sums
        mp.setenv("OMP_NUM_THREADS", "1")  # see the module docstring
        mp.setenv("MKL_NUM_THREADS", "1")
        yield root, tmp_path_factory.mktemp("paper-cache")


def test_reach_ratio_says_why_there_is_none():
    """The summary cells' ratio of two methods' costs to one target: a number where both trained to it,
    otherwise why not (the paper profile once died dividing by EG's 0 evaluations)."""
    nan = float("nan")
    assert metrics.reach_ratio({"SRFB": 600.0, "EG": 500.0, "Adam": nan}, "SRFB", "EG", "evaluations") == "1.20"
    assert metrics.reach_ratio({"SRFB": 0.0, "EG": 500.0}, "SRFB", "EG", "evaluations") == (
        "no ratio (SRFB reached the target at 0 evaluations, before any training)")
    assert metrics.reach_ratio({"SRFB": 600.0, "EG": 0.0}, "SRFB", "EG", "evaluations") == (
        "no ratio (EG reached the target at 0 evaluations, before any training)")
    assert metrics.reach_ratio({"c": nan, "s": 0.0}, "c", "s", "batches") == (
        "no ratio (c never reached the target; s reached it at 0 batches, before any training)")
    assert metrics.reach_ratio({"c": nan, "s": nan}, "c", "s", "batches") == (
        "no ratio (c and s never reached the target)")
    with pytest.raises(ValueError, match="no cost for 'EG'"):
        metrics.reach_ratio({"SRFB": 1.0}, "SRFB", "EG", "evaluations")


# The scorecard computes nothing: it reads the claims the other chapters printed.
CHAPTERS = [name for name in runs.chapters(REPO) if name != "scorecard"]


def test_every_chapter_has_tiny_overrides():
    assert set(TINY) == set(PAPER_DATA) == set(CHECKS) == set(CHAPTERS)


def _printed(notebook: nbformat.NotebookNode) -> str:
    """All text the code cells printed to stdout, in order."""
    return "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])
                   if o.output_type == "stream" and o.get("name") == "stdout")


@pytest.mark.slow
@pytest.mark.parametrize("name", CHAPTERS)
def test_chapter_paper_profile_runs_end_to_end(name, paper_data, tmp_path, monkeypatch):
    if "lsun_classroom" in PAPER_DATA[name]:
        pytest.importorskip("lmdb", reason="LSUN Classroom is stored as lmdb databases and the lmdb package (pinned "
                                           "in requirements.lock) is not installed")
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("GANCORE_CACHE", str(paper_data[1]))  # after conftest's session-wide cache
    book_before = sorted(p.name for p in (REPO / "book").iterdir())
    path = runs.execute(name, "paper", "cpu", overrides=TINY[name], output=tmp_path / f"{name}.ipynb")
    notebook = nbformat.read(path, as_version=4)
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.output_type == "error"]
    assert errors == []
    printed = _printed(notebook)
    first = printed.splitlines()[0]
    assert f"chapter {name} | profile paper with " in first and "| device cpu |" in first
    data_named = re.search(r"\| data (.*?) \| torch", first)[1]
    for data_name in PAPER_DATA[name]:
        assert re.search(rf"\b{data_name}\b", data_named), f"{data_name} not in {data_named!r}"
    CHECKS[name](printed)
    # a paper run writes nothing next to the chapters (torchvision's LSUN wrote a key cache into the cwd)
    assert sorted(p.name for p in (REPO / "book").iterdir()) == book_before
