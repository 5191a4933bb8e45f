"""Parameter sets per chapter: ``quick`` (the CPU here, minutes, embedded data) and ``paper`` (the
paper's scale, a GPU and the real data sets).

A chapter reads its settings with ``P = profiles.get("srfb", profile, overrides)`` and then ``P.steps``
etc.; each chapter's block below says where its paper numbers come from and what ``quick`` cuts.
``overrides`` is a papermill parameter of every chapter (``-p overrides '{"ring_seeds": 32}'``): a
profile with some settings changed, e.g. for a longer stored run on a CPU.
"""

from __future__ import annotations

import platform
from typing import Any

import torch

__all__ = ["get", "PROFILES", "CHAPTERS", "Settings", "describe"]

PROFILES = ("quick", "paper")


class Settings(dict):
    """A read-only dict whose keys are also attributes (``P.steps``)."""

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError:
            raise AttributeError(f"No setting {key!r}; settings are: {', '.join(self)}.") from None

    def __setitem__(self, key, value):
        raise TypeError("Settings are read-only: copy with dict(P) to change them.")


CHAPTERS: dict[str, dict[str, dict[str, Any]]] = {
    # Each chapter owns one entry: {"quick": {...}, "paper": {...}} with the same keys in both.
    # The toolkit chapter: a vanilla GAN on the ring (networks of the alpha-GAN paper, narrower in quick).
    "toolkit": {
        "quick": dict(data="ring", steps=3000, batch_size=128, g_width=128, d_width=128, depth=3, lr=1e-3,
                      betas=(0.5, 0.999), eval_every=500, n_eval=5000, classifier_data="digits"),
        "paper": dict(data="ring", steps=156_000, batch_size=128, g_width=400, d_width=200, depth=4, lr=1e-4,
                      betas=(0.9, 0.999), eval_every=3900, n_eval=25_000, classifier_data="mnist"),
    },
    # Convex-duality WGAN (Sahiner et al. 2022). Toys and the GDA comparison: settings are ours (the
    # paper's toy settings were not available); ProCoGAN: the authors' CelebA code (k = 20, 30, 40, 100,
    # 175 at 4..64; baseline D widths 192/192/768/3072/3072, WGAN-GP, Adam 1e-3 (0, 0.99), batch 16,
    # 15,000 iterations per scale). quick: embedded digits and LFW faces, a few hundred GDA steps per stage.
    "convex_wgan": {
        "quick": dict(toy_n=24, toy_nf=12, toy_steps=1500, cmp_n=200, cmp_d=4, gda_steps=2000, gda_eval_every=100,
                      gda_lr=1e-2, beta_fractions=(0.05, 0.2, 0.5, 0.9), n_images=None, n_samples=1000,
                      procogan=(
                          dict(data="digits", resolutions=(2, 4, 8), ks=(3, 10, 24), noise_dim=16,
                               gda_widths=(16, 32, 64), feature="classifier"),
                          dict(data="faces", resolutions=(7, 13, 25), ks=(5, 12, 30), noise_dim=18,
                               gda_widths=(49, 169, 625), feature="pixels")),
                      gda_stage_steps=300, gda_batch_size=64, gda_stage_lr=1e-3, gda_betas=(0.0, 0.99)),
        "paper": dict(toy_n=24, toy_nf=12, toy_steps=20_000, cmp_n=2000, cmp_d=16, gda_steps=50_000,
                      gda_eval_every=500, gda_lr=1e-2, beta_fractions=(0.05, 0.2, 0.5, 0.9), n_images=50_000,
                      n_samples=1000,
                      procogan=(
                          dict(data="celeba", resolutions=(4, 8, 16, 32, 64), ks=(20, 30, 40, 100, 175),
                               noise_dim=75, gda_widths=(192, 192, 768, 3072, 3072), feature="pixels"),),
                      gda_stage_steps=15_000, gda_batch_size=16, gda_stage_lr=1e-3, gda_betas=(0.0, 0.99)),
    },
    # DO-GAN (Aung et al. 2022). The paper's settings were not available; paper = RandGAN-like scale
    # (cap 10, long oracles) on MNIST / CIFAR-10 / CelebA; quick = a few short oracles on ring and digits.
    "double_oracle": {
        "quick": dict(ring_width=128, ring_depth=3, ring_init_steps=1500, ring_iterations=4, ring_oracle_steps=200,
                      ring_cap=4, ablation_caps=(2, None), ewc_lambda=10.0, batch_size=128, lr=1e-3,
                      betas=(0.5, 0.999), eps=1e-3, n_payoff=512, fisher_batches=4, n_eval=5000,
                      image_data=("digits",), data_root=None, image_width=16, image_latent=16,
                      image_init_steps=200, image_iterations=3, image_oracle_steps=80, image_batch_size=64,
                      image_cap=4, base_gans=("vanilla", "dcgan", "sngan", "stacked"), n_fid=1000,
                      matrix_size=200),
        "paper": dict(ring_width=256, ring_depth=3, ring_init_steps=5000, ring_iterations=20, ring_oracle_steps=2000,
                      ring_cap=10, ablation_caps=(3, 5, None), ewc_lambda=10.0, batch_size=128, lr=1e-4,
                      betas=(0.5, 0.999), eps=1e-3, n_payoff=4096, fisher_batches=32, n_eval=25_000,
                      image_data=("mnist", "cifar10", "celeba"), data_root=None, image_width=64, image_latent=100,
                      image_init_steps=5000, image_iterations=20, image_oracle_steps=2000, image_batch_size=64,
                      image_cap=10, base_gans=("vanilla", "dcgan", "sngan", "stacked"), n_fid=10_000,
                      matrix_size=1000),
    },
    # (alpha_D, alpha_G)-GANs (Welfert et al., ISIT23 / JSAIT24). paper = ISIT23 Sec. III-A / App. E-B
    # (ring: 200 seeds, 400 epochs of 390 batches, G 4x400, D 4x200, Adam 1e-4) and the repo's image
    # settings (Celeb-A 64x64, LSUN Classroom, DCGAN width 64, 150 epochs). quick = narrower nets, a
    # larger step, far fewer steps and seeds, a subset of each grid, digits instead of real photographs.
    "alpha_gan": {
        "quick": dict(ring_g_width=64, ring_d_width=64, ring_depth=3, ring_lr=2e-3, ring_betas=(0.5, 0.999),
                      ring_steps=1200, ring_seeds=4, ring_batch_size=128, ring_n_eval=5000, p_min=1e-7,
                      cells_per_run=None, fig2b_alpha_d=(0.3, 0.5, 0.7, 1.0),
                      sat_alpha_g=(1.2,), sat_alpha_d=(0.5, 1.0), ns_alpha_g=(1.0, 1.2), ns_alpha_d=(0.5, 1.0),
                      image_data=("digits",), data_root=None, image_width=16, image_latent=32, image_steps=200,
                      image_batch_size=64, image_lrs=(5e-4, 5e-3), image_alpha_d=(0.6, 1.0),
                      image_betas=(0.9, 0.99), n_fid=1000, n_fid_ref=None),
        "paper": dict(ring_g_width=400, ring_d_width=200, ring_depth=4, ring_lr=1e-4, ring_betas=(0.9, 0.999),
                      ring_steps=156_000,
                      ring_seeds=200, ring_batch_size=128, ring_n_eval=25_000, p_min=1e-7, cells_per_run=1,
                      fig2b_alpha_d=(0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
                      sat_alpha_g=(0.9, 1.0, 1.1, 1.2), sat_alpha_d=(0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
                      ns_alpha_g=(0.8, 0.9, 1.0, 1.1, 1.2, 1.3), ns_alpha_d=(0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2),
                      image_data=("celeba", "lsun_classroom"), data_root=None, image_width=64, image_latent=100,
                      image_steps=152_000, image_batch_size=128, image_lrs=(1e-4, 2e-4, 5e-4, 6e-4, 7e-4, 8e-4, 9e-4, 1e-3),
                      image_alpha_d=(0.5, 0.6, 0.7, 0.8, 0.9, 1.0), image_betas=(0.9, 0.99), n_fid=10_000,
                      n_fid_ref=50_000),
    },
    # Cooperate or compete (Babu et al., arXiv 2207.02192): only the abstract is known, so both profiles
    # are ours. paper = the alpha-GAN ring networks over 50 seeds and DCGAN (width 64) on MNIST, CIFAR-10
    # and CelebA; quick = narrow nets, 8 seeds, digits. time_per_batch: step time relative to simultaneous
    # training, measured once by benchmarks/bench_repeated_game.py (ring ensemble, digits DCGAN; idle machine,
    # 2026-11-26, best of 3 interleaved runs).
    "repeated_game": {
        "quick": dict(ring_seeds=8, ring_width=64, ring_depth=2, ring_steps=1200, ring_batch_size=128, ring_lr=1e-3,
                      ring_eval_every=200, ring_n_eval=1000, image_data=("digits",), data_root=None, image_width=16,
                      image_latent=16, image_steps=600, image_batch_size=64, image_lr=1e-3, image_eval_every=150,
                      n_fid=1000, betas=(0.5, 0.999), max_time_factor=1.5,
                      time_per_batch={"ring": {"simultaneous": 1.0, "alternating": 0.98, "cooperative": 1.14},
                                      "image": {"simultaneous": 1.0, "alternating": 1.17, "cooperative": 0.91}}),
        "paper": dict(ring_seeds=50, ring_width=400, ring_depth=4, ring_steps=50_000, ring_batch_size=128, ring_lr=1e-4,
                      ring_eval_every=2500, ring_n_eval=25_000, image_data=("mnist", "cifar10", "celeba"), data_root=None,
                      image_width=64, image_latent=100, image_steps=50_000, image_batch_size=128, image_lr=2e-4,
                      image_eval_every=2500, n_fid=10_000, betas=(0.5, 0.999), max_time_factor=1.5,
                      time_per_batch={"ring": {"simultaneous": 1.0, "alternating": 1.0, "cooperative": 1.0},
                                      "image": {"simultaneous": 1.0, "alternating": 1.0, "cooperative": 1.0}}),
    },
    # SRFB (Franci & Grammatico, arXiv 2010.10013): the toy games are the same in both profiles (they are
    # cheap); the image setting is ours (the paper's is unknown), after Gidel et al. 2019: WGAN with weight
    # clipping, DCGAN networks, equal budgets of gradient evaluations. quick = digits, width 16, short runs.
    "srfb": {
        "quick": dict(delta=0.618, det_n=10, det_steps=500,
                      det_lr=dict(GDA=0.1, EG=0.8, OGDA=0.4, Popov=0.4, SRFB=0.8, Adam=0.05),
                      stoch_d=10, stoch_steps=2000, stoch_batch=8,
                      stoch_lr=dict(GDA=0.3, EG=0.3, OGDA=0.3, Popov=0.3, SRFB=0.3, Adam=0.01),
                      grow_steps=600, grow_a=3.0, grow_lr=0.5, fixed_batch=1, fixed_lr=0.1, regime_steps=3000,
                      nbhd_lrs=(0.1, 0.2, 0.4, 0.8), nbhd_batches=(1, 4, 16, 64), nbhd_steps=3000,
                      sens_deltas=(0.5, 0.618, 0.7, 0.8, 0.9, 0.99), sens_lrs=(0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.6),
                      sens_steps=1000, image_data=("digits",), data_root=None, image_width=16, image_latent=32,
                      image_batch_size=64, clip=0.01, image_budget=600, image_eval_every=100, n_fd=1000,
                      image_lr=dict(SRFB=3.0, EG=1.0, Adam=2e-4), image_delta=0.618),
        "paper": dict(delta=0.618, det_n=10, det_steps=500,
                      det_lr=dict(GDA=0.1, EG=0.8, OGDA=0.4, Popov=0.4, SRFB=0.8, Adam=0.05),
                      stoch_d=10, stoch_steps=2000, stoch_batch=8,
                      stoch_lr=dict(GDA=0.3, EG=0.3, OGDA=0.3, Popov=0.3, SRFB=0.3, Adam=0.01),
                      grow_steps=600, grow_a=3.0, grow_lr=0.5, fixed_batch=1, fixed_lr=0.1, regime_steps=3000,
                      nbhd_lrs=(0.1, 0.2, 0.4, 0.8), nbhd_batches=(1, 4, 16, 64), nbhd_steps=3000,
                      sens_deltas=(0.5, 0.618, 0.7, 0.8, 0.9, 0.99), sens_lrs=(0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.6),
                      sens_steps=1000, image_data=("mnist", "cifar10"), data_root=None, image_width=64,
                      image_latent=100, image_batch_size=64, clip=0.01, image_budget=200_000,
                      image_eval_every=10_000, n_fd=10_000,
                      image_lr=dict(SRFB=3.0, EG=1.0, Adam=2e-4), image_delta=0.618),
    },
}


def get(chapter: str, profile: str, overrides: dict[str, Any] | None = None) -> Settings:
    """Settings of ``chapter`` in ``profile``, with ``overrides`` (a dict of settings of that profile,
    e.g. ``{"ring_seeds": 32}`` for a longer stored run) replacing the profile's values. Unknown
    chapter, profile or setting names raise ValueError listing the known ones."""
    if chapter not in CHAPTERS:
        raise ValueError(f"Unknown chapter {chapter!r}. Known chapters: {', '.join(CHAPTERS)}.")
    if profile not in PROFILES:
        raise ValueError(f"Unknown profile {profile!r}. Known profiles: {', '.join(PROFILES)}.")
    settings = CHAPTERS[chapter][profile]
    unknown = sorted(set(overrides or {}) - set(settings))
    if unknown:
        raise ValueError(f"Unknown setting(s) {', '.join(unknown)} for chapter {chapter!r}. "
                         f"Its settings are: {', '.join(settings)}.")
    return Settings({**settings, **(overrides or {})})


def describe(chapter: str, profile: str, device: torch.device | str, data: str,
             overrides: dict[str, Any] | None = None) -> str:
    """The line every chapter prints first: which profile (and overridden settings), device and data
    produced its results."""
    from . import __version__

    changed = "".join(f" {k}={v!r}" for k, v in sorted((overrides or {}).items()))
    return (f"gancore {__version__} | chapter {chapter} | profile {profile}{' with' + changed if changed else ''} | "
            f"device {device} | data {data} | torch {torch.__version__.split('+')[0]} | python {platform.python_version()}")
