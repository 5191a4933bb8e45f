"""Every chapter's ``paper`` profile, executed end to end (papermill, a real kernel) on data written in
each real on-disk format: the code path a reader with a GPU runs, shrunk to a tiny size.

``TINY[name]`` overrides every size setting of the chapter's paper profile (steps, seeds, widths,
sample counts, iterations, grids cut to two or three points where the chapter compares) and nothing
else: the data sets stay the paper's (``mnist``, ``cifar10``, ``celeba``, ``lsun_classroom``, read
from the fake files of :mod:`fake_datasets` through ``gancore.data`` exactly as from the real
downloads), and so do the code paths (losses, policies, feature spaces, base GANs).

The fake MNIST digits are numerals drawn in one font; :data:`MNIST_TRAIN` of them are enough for the
MNIST feature space's classifier (two epochs, as on the real data) to pass its real accuracy check
(``metrics.MIN_ACCURACY["mnist"]``), so the Frechet distances are computed as at paper scale.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

import fake_datasets
from gancore import metrics, runs

REPO = Path(__file__).resolve().parents[1]
MNIST_TRAIN, MNIST_TEST = 2560, 200

# The shrinking overrides: every size setting of each chapter's paper profile.
TINY: dict[str, dict] = {
    "toolkit": {"steps": 20, "batch_size": 32, "g_width": 16, "d_width": 16, "depth": 2, "eval_every": 5,
                "n_eval": 500},
    "srfb": {
        "det": {"n": 4, "steps": 20}, "stoch": {"d": 4, "steps": 20, "batch": 4}, "grow": {"steps": 20},
        "fixed": {"steps": 20}, "nbhd": {"lrs": (0.1, 0.8), "batches": (1, 64), "steps": 20},
        "sens": {"deltas": (0.5, 0.9), "lrs": (0.2, 1.6), "steps": 20},
        "image": {"batch_size": 16, "width": 8, "latent": 8, "budget": 20, "eval_every": 10}, "n_fd": 128},
    "alpha_gan": {
        "ring": {"batch_size": 32, "g_width": 16, "d_width": 16, "depth": 2, "steps": 20, "seeds": 2, "n_eval": 500},
        "fig2b": {"alpha_d": (0.5, 1.0)}, "sat": {"alpha_g": (1.0, 1.2), "alpha_d": (0.5, 1.0)},
        "ns": {"alpha_g": (1.0, 1.2), "alpha_d": (0.5, 1.0)},
        "image": {"width": 8, "latent": 8, "steps": 10, "batch_size": 8, "lrs": (1e-4, 1e-3), "alpha_d": (0.5, 1.0)},
        "n_fid": 64, "n_fid_ref": 64},
    "repeated_game": {
        "ring": {"batch_size": 32, "seeds": 2, "width": 16, "depth": 2, "steps": 20, "eval_every": 10, "n_eval": 500},
        "image": {"width": 8, "latent": 8, "steps": 20, "batch_size": 16, "eval_every": 10}, "n_fid": 128},
    "double_oracle": {
        "ring": {"width": 16, "depth": 2, "init_steps": 20, "iterations": 3, "oracle_steps": 10},
        "ablation_caps": (2, None), "batch_size": 32, "n_payoff": 64, "fisher_batches": 2, "n_eval": 500,
        "image": {"width": 8, "latent": 8, "init_steps": 10, "iterations": 2, "oracle_steps": 5, "batch_size": 16},
        "n_fid": 128, "matrix_size": 20},
    "convex_wgan": {
        "toy": {"steps": 20}, "cmp": {"n": 64, "d": 4},
        "gda": {"steps": 20, "eval_every": 10, "stage": {"steps": 2, "batch_size": 8}},
        "beta_fractions": (0.05, 0.9), "n_images": 32, "n_samples": 64,
        # the paper's five CelebA scales up to 64x64, with k and widths the 32 fake faces allow
        "procogan": ({"data": "celeba", "resolutions": (4, 8, 16, 32, 64), "ks": (2, 3, 4, 5, 6), "noise_dim": 4,
                      "gda_widths": (4, 4, 4, 4, 4), "feature": "pixels"},)},
}

# Per chapter: the real data sets its paper profile uses (named in its first printed line), and text
# its printed output must hold (a real property of the paper path).
PAPER_DATA: dict[str, tuple[str, ...]] = {
    "toolkit": ("ring", "mnist"),
    "srfb": ("mnist", "cifar10"),
    "alpha_gan": ("celeba", "lsun_classroom"),
    "repeated_game": ("mnist", "cifar10", "celeba"),
    "double_oracle": ("mnist", "cifar10", "celeba"),
    "convex_wgan": ("celeba",),
}
EXPECTED: dict[str, tuple[str, ...]] = {
    # each data set's distances in its own feature space: the MNIST classifier passed its accuracy check
    "double_oracle": ("Frechet distance in cnn-mnist, pixels-pca32-cifar10, pixels-pca32-celeba features",),
    "convex_wgan": ("celeba pixels-pca32-celeba",),
}


@pytest.fixture(scope="session")
def paper_data(tmp_path_factory) -> Path:
    """All four real data sets, in their real formats, in one root (the layout ``gancore.data``
    expects under ``$GANCORE_DATA``); the environment every chapter's kernel inherits."""
    root = tmp_path_factory.mktemp("paper-data")
    fake_datasets.write_mnist(root, n_train=MNIST_TRAIN, n_test=MNIST_TEST)
    fake_datasets.write_cifar10(root, n_train=100, n_test=20)
    fake_datasets.write_celeba(root, n=40)
    fake_datasets.write_lsun(root, n_train=24, n_val=8)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GANCORE_DATA", str(root))
        mp.setenv("GANCORE_DATA_VERIFY", "0")  # fake files cannot match torchvision's md5 sums
        yield root


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
    assert metrics.reach_ratio({"c": nan, "s": nan}, "c", "s", "batches") == "no ratio (c and s never reached the target)"
    with pytest.raises(ValueError, match="no cost for 'EG'"):
        metrics.reach_ratio({"SRFB": 1.0}, "SRFB", "EG", "evaluations")


def _outputs(notebook: nbformat.NotebookNode) -> list[str]:
    """The text every code cell printed, in order."""
    return [o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])
            if o.output_type == "stream"]


@pytest.mark.slow
@pytest.mark.parametrize("name", runs.chapters(REPO))
def test_chapter_paper_profile_runs_end_to_end(name, paper_data, tmp_path, monkeypatch):
    if name not in TINY:
        pytest.fail(f"No TINY overrides for chapter {name!r}: add the shrinking overrides of its paper profile.")
    monkeypatch.chdir(REPO)
    path = runs.execute(name, "paper", "cpu", overrides=TINY[name], output=tmp_path / f"{name}.ipynb")
    notebook = nbformat.read(path, as_version=4)
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.output_type == "error"]
    assert errors == []
    first = _outputs(notebook)[0].splitlines()[0]
    assert f"chapter {name} | profile paper with" in first and "| device cpu |" in first
    for data_name in PAPER_DATA[name]:
        assert data_name in first
    printed = "".join(_outputs(notebook))
    for text in EXPECTED[name]:
        assert text in printed
