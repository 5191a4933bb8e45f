"""Parameter sets per chapter: ``quick`` (the CPU here, minutes, embedded data) and ``paper`` (the
paper's scale, a GPU and the real data sets).

Each chapter's entry in :data:`CHAPTERS` holds the settings both profiles share once (``shared``), then
only what ``quick`` and ``paper`` change; its comment says where the paper numbers come from and what
``quick`` cuts. Related settings form nested groups (``ring``, ``image``, ...) rather than name
prefixes; a profile's group merges into the shared group key by key, and both profiles of a chapter
resolve to the same names.

A chapter reads its settings with ``P = profiles.get("srfb", profile, overrides)`` and then ``P.delta``,
``P.image.width``, ``P.det.lr.EG`` etc. ``overrides`` is the one name for changed settings from the
command line to the chapter: ``make chapter NAME=alpha_gan OVERRIDES='{"ring": {"seeds": 32}}'`` passes
it to ``python -m gancore.runs execute NAME --overrides JSON``, which checks it here and injects it as
the chapter's papermill parameter ``overrides``: a profile with some settings changed, e.g. for a
longer stored run on a CPU.

:func:`get` returns a fresh, read-only :class:`Settings` on every call (groups are ``Settings`` too),
so nothing a chapter does to its settings reaches the table below or a later call. Overrides are
checked against the table before anything runs:

* a name must be one of the chapter's settings (``ring.seeds`` inside a group); a group given as a
  dict MERGES: ``{"det": {"lr": {"EG": 0.5}}}`` changes only ``det.lr.EG``;
* a value must have the type the setting has in the chapter's profiles: ``int`` for an int (``bool``
  is not an int), ``float`` or ``int`` for a float (stored as float), ``str`` for a str, a list or
  tuple for a tuple (stored as a tuple, its items checked the same way), a dict for a group;
* ``None`` only where some profile has ``None`` (an optional setting; one that is ``None`` in every
  profile takes the type declared in ``OPTIONAL``);
* an int setting whose values in the table are all ``>= 0`` (counts, sizes, steps, seeds) must stay
  ``>= 0``, and the counts of :data:`AT_LEAST_ONE` (seeds, samples evaluated, batch sizes, widths)
  ``>= 1``;
* a float must be finite; a rate (a setting named ``lr``, ``lrs`` or inside an ``lr`` group) ``> 0``,
  and one whose values in the table are all ``>= 0`` must stay ``>= 0``; a tuple of :data:`LENGTHS`
  (Adam's ``betas``) has that many items;
* a length of training (a setting named ``steps``, ``*_steps`` or ``budget``) is at most
  :data:`MAX_STEPS` unless ``allow_long`` (``--allow-long``, ``LONG=1``; ``$GANCORE_ALLOW_LONG=1``
  reaches a chapter's kernel).

A violation raises ``ValueError`` naming the chapter, the setting, the value given and the type expected.
"""

from __future__ import annotations

import math
import os
import platform
from collections.abc import Mapping
from typing import Any, NoReturn

import torch

from . import __version__, numerics

__all__ = ["get", "PROFILES", "CHAPTERS", "OPTIONAL", "Settings", "describe", "deep_merge"]

PROFILES = ("quick", "paper")


OPTIONAL: dict[str, type] = {"data_root": str}
"""Types of the settings that are ``None`` in every profile (the table cannot show their type)."""

AT_LEAST_ONE = frozenset({"seeds", "n_eval", "batch_size", "batch", "n_fid", "n_fd", "n_payoff", "latent", "width",
                          "g_width", "d_width", "matrix_size", "n", "d"})
"""Counts for which 0 gives no result at all (no seed, no sample evaluated: every seed "collapsed")."""

LENGTHS: dict[str, int] = {"betas": 2}
"""Tuple settings with a fixed number of items."""

MAX_STEPS = 10_000_000
"""The longest training (steps or gradient-evaluation budget) a setting may ask for without ``allow_long``."""

LONG_ENV = "GANCORE_ALLOW_LONG"


class Settings(dict):
    """A read-only dict whose keys are also attributes (``P.steps``). Values are frozen recursively: a
    dict becomes a ``Settings`` (``P.det.lr.EG``), a list or tuple a tuple. Copy with ``dict(P)`` to
    build a changed one."""

    def __init__(self, mapping: Mapping[str, Any] = (), /, **items: Any):
        super().__init__()
        for key, value in dict(mapping, **items).items():
            dict.__setitem__(self, key, _frozen(value))

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError:
            raise AttributeError(f"No setting {key!r}; settings are: {', '.join(self)}.") from None

    def _read_only(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("Settings are read-only: copy with dict(P) to change them.")

    __setitem__ = __delitem__ = __setattr__ = __delattr__ = __ior__ = _read_only
    clear = pop = popitem = setdefault = update = _read_only

    def __reduce__(self) -> tuple[type, tuple[dict[str, Any]]]:
        # pickle/copy rebuild through __init__ (the default for a dict subclass calls __setitem__)
        return Settings, (dict(self),)


def _frozen(value: Any) -> Any:
    """``value`` with every dict inside it a :class:`Settings` and every list or tuple a tuple."""
    if isinstance(value, Mapping):
        return Settings(value)
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(item) for item in value)
    return value


CHAPTERS: dict[str, dict[str, dict[str, Any]]] = {
    # Each chapter owns one entry: {"shared": {...}, "quick": {...}, "paper": {...}}. "shared" holds the
    # settings both profiles use; "quick" and "paper" hold only what differs, with the same keys in both.
    # A group (ring, image, ...) is a nested dict, merged key by key, so a profile can change a part of it.
    # The toolkit chapter: a vanilla GAN on the ring (networks of the alpha-GAN paper, narrower in quick).
    "toolkit": {
        "shared": dict(data="ring", batch_size=128),
        "quick": dict(steps=3000, g_width=128, d_width=128, depth=3, lr=1e-3, betas=(0.5, 0.999), eval_every=500,
                      n_eval=5000, classifier_data="digits"),
        "paper": dict(steps=156_000, g_width=400, d_width=200, depth=4, lr=1e-4, betas=(0.9, 0.999), eval_every=3900,
                      n_eval=25_000, classifier_data="mnist"),
    },
    # Convex-duality WGAN (Sahiner et al. 2022). Toys and the GDA comparison: settings are ours (the
    # paper's toy settings were not available); ProCoGAN: the authors' CelebA code (k = 20, 30, 40, 100,
    # 175 at 4..64; baseline D widths 192/192/768/3072/3072, WGAN-GP, Adam 1e-3 (0, 0.99), batch 16,
    # 15,000 iterations per scale). quick: embedded digits and LFW faces, a few hundred GDA steps per stage.
    # toy: the 2-D Gaussian toys; cmp: the convex program against GDA; gda: the GDA baseline (stage: per
    # ProCoGAN scale).
    "convex_wgan": {
        "shared": dict(toy=dict(n=24, nf=12),
                       gda=dict(lr=1e-2, stage=dict(lr=1e-3, betas=(0.0, 0.99), gp=10.0, drift=1e-3)),
                       beta_fractions=(0.05, 0.2, 0.5, 0.9), n_samples=1000, seeds=3, problems=8,
                       # the stored runs (sweep convex_wgan.procogan, one per data set, chosen by data):
                       # digits and MNIST at 32x32 (4-8-16-32)
                       decisive=dict(data=("digits", "mnist"), procogan=(
                           dict(data="digits", resolutions=(2, 4, 8), ks=(3, 10, 24), noise_dim=16,
                                gda_widths=(16, 32, 64), feature="classifier"),
                           dict(data="mnist", size=32, resolutions=(4, 8, 16, 32), ks=(8, 16, 32, 64), noise_dim=32,
                                gda_widths=(64, 64, 256, 1024), feature="classifier")))),
        "quick": dict(toy=dict(steps=1500), cmp=dict(n=200, d=4),
                      gda=dict(steps=2000, eval_every=100, stage=dict(steps=300, batch_size=64)), n_images=None,
                      procogan=(
                          dict(data="digits", resolutions=(2, 4, 8), ks=(3, 10, 24), noise_dim=16,
                               gda_widths=(16, 32, 64), feature="classifier"),
                          dict(data="faces", resolutions=(7, 13, 25), ks=(5, 12, 30), noise_dim=18,
                               gda_widths=(49, 169, 625), feature="pixels"))),
        "paper": dict(toy=dict(steps=20_000), cmp=dict(n=2000, d=16),
                      gda=dict(steps=50_000, eval_every=500, stage=dict(steps=15_000, batch_size=16)), n_images=50_000,
                      procogan=(  # the digits at the authors' GDA budget, then their CelebA setting
                          dict(data="digits", resolutions=(2, 4, 8), ks=(3, 10, 24), noise_dim=16,
                               gda_widths=(16, 32, 64), feature="classifier"),
                          dict(data="celeba", resolutions=(4, 8, 16, 32, 64), ks=(20, 30, 40, 100, 175),
                               noise_dim=75, gda_widths=(192, 192, 768, 3072, 3072), feature="pixels"),)),
    },
    # DO-GAN (Aung et al. 2022). The paper's settings were not available; paper = RandGAN-like scale
    # (cap 10, long oracles) on MNIST / CIFAR-10 / CelebA; quick = a few short oracles on ring and digits.
    "double_oracle": {
        "shared": dict(ring=dict(depth=3), ewc_lambda=10.0, batch_size=128, betas=(0.5, 0.999), eps=1e-3,
                       image=dict(batch_size=64, seeds=3), data_root=None,
                       base_gans=("vanilla", "dcgan", "sngan", "stacked"),
                       # the meta-solver ablation: on matrix games (meta.*) and the stored ring run
                       meta_solvers=("nash", "uniform", "newest"), meta=dict(iterations=40, random_size=6)),
        "quick": dict(ring=dict(width=128, init_steps=1500, iterations=4, oracle_steps=200, cap=4),
                      ablation_caps=(2, None), lr=1e-3, n_payoff=512, fisher_batches=4, n_eval=5000,
                      image=dict(data=("digits",), width=16, latent=16, init_steps=200, iterations=3, oracle_steps=80,
                                 cap=4, br_steps=160),
                      n_fid=1000, matrix_size=200),
        "paper": dict(ring=dict(width=256, init_steps=5000, iterations=20, oracle_steps=2000, cap=10),
                      ablation_caps=(3, 5, None), lr=1e-4, n_payoff=4096, fisher_batches=32, n_eval=25_000,
                      image=dict(data=("mnist", "cifar10", "celeba"), width=64, latent=100, init_steps=5000,
                                 iterations=20, oracle_steps=2000, cap=10, br_steps=4000),
                      n_fid=10_000, matrix_size=1000),
    },
    # (alpha_D, alpha_G)-GANs (Welfert et al., ISIT23 / JSAIT24). paper = ISIT23 Sec. III-A / App. E-B
    # (ring: 200 seeds, 400 epochs of 390 batches, G 4x400, D 4x200, Adam 1e-4) and the repo's image
    # settings (Celeb-A 64x64, LSUN Classroom, DCGAN width 64, 150 epochs). quick = narrower nets, a
    # larger step, far fewer steps and seeds, a subset of each grid, digits instead of real photographs.
    # Grids of (alpha_D, alpha_G): fig2b = Fig. 2b (alpha_G = 1), sat = saturating, ns = non-saturating.
    "alpha_gan": {
        "shared": dict(ring=dict(batch_size=128), p_min=1e-7, data_root=None, image=dict(betas=(0.9, 0.99))),
        "quick": dict(ring=dict(g_width=64, d_width=64, depth=3, lr=2e-3, betas=(0.5, 0.999), steps=1200, seeds=16,
                                n_eval=5000, eval_every=120),
                      cells_per_run=None, fig2b=dict(alpha_d=(0.3, 0.5, 0.7, 1.0)),
                      sat=dict(alpha_g=(1.2,), alpha_d=(0.5, 1.0)), ns=dict(alpha_g=(1.0, 1.2), alpha_d=(0.5, 1.0)),
                      image=dict(data=("digits",), width=16, latent=32, steps=200, batch_size=64, lrs=(5e-4, 5e-3),
                                 alpha_d=(0.6, 1.0), seeds=3),
                      n_fid=1000, n_fid_ref=None),
        "paper": dict(ring=dict(g_width=400, d_width=200, depth=4, lr=1e-4, betas=(0.9, 0.999), steps=156_000,
                                seeds=200, n_eval=25_000, eval_every=5000),
                      cells_per_run=1, fig2b=dict(alpha_d=(0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)),
                      sat=dict(alpha_g=(0.9, 1.0, 1.1, 1.2), alpha_d=(0.5, 0.6, 0.7, 0.8, 0.9, 1.0)),
                      ns=dict(alpha_g=(0.8, 0.9, 1.0, 1.1, 1.2, 1.3), alpha_d=(0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2)),
                      image=dict(data=("celeba", "lsun_classroom"), width=64, latent=100, steps=152_000, batch_size=128,
                                 lrs=(1e-4, 2e-4, 5e-4, 6e-4, 7e-4, 8e-4, 9e-4, 1e-3),
                                 alpha_d=(0.5, 0.6, 0.7, 0.8, 0.9, 1.0), seeds=40),
                      n_fid=10_000, n_fid_ref=50_000),
    },
    # Cooperate or compete (Babu et al., arXiv 2207.02192): only the abstract is known, so both profiles
    # are ours. paper = the alpha-GAN ring networks over 50 seeds and DCGAN (width 64) on MNIST, CIFAR-10
    # and CelebA; quick = narrow nets, 8 seeds, digits. time_per_batch: step time relative to simultaneous
    # training, measured once by benchmarks/bench_repeated_game.py (ring ensemble, digits DCGAN; idle machine,
    # 2026-11-26, best of 3 interleaved runs).
    "repeated_game": {
        "shared": dict(ring=dict(batch_size=128), data_root=None, betas=(0.5, 0.999), max_time_factor=1.5,
                       time_per_batch={"ring": {"simultaneous": 1.0}, "image": {"simultaneous": 1.0}}),
        "quick": dict(ring=dict(seeds=16, width=64, depth=2, steps=1200, lr=1e-3, eval_every=200, n_eval=1000),
                      image=dict(data=("digits",), width=16, latent=16, steps=600, batch_size=64, lr=1e-3,
                                 eval_every=150),
                      n_fid=1000,
                      time_per_batch={"ring": {"alternating": 0.98, "cooperative": 1.14},
                                      "image": {"alternating": 1.17, "cooperative": 0.91}}),
        "paper": dict(ring=dict(seeds=50, width=400, depth=4, steps=50_000, lr=1e-4, eval_every=2500, n_eval=25_000),
                      image=dict(data=("mnist", "cifar10", "celeba"), width=64, latent=100, steps=50_000,
                                 batch_size=128, lr=2e-4, eval_every=2500),
                      n_fid=10_000,
                      time_per_batch={"ring": {"alternating": 1.0, "cooperative": 1.0},
                                      "image": {"alternating": 1.0, "cooperative": 1.0}}),
    },
    # SRFB (Franci & Grammatico, arXiv 2010.10013): the toy games are the same in both profiles (they are
    # cheap); the image setting is ours (the paper's is unknown), after Gidel et al. 2019: WGAN with weight
    # clipping, DCGAN networks, equal budgets of gradient evaluations. quick = digits, width 16, short runs.
    # det: deterministic monotone games; stoch: stochastic ones; grow / fixed: the growing- and fixed-batch
    # regimes on the 1-D WGAN; nbhd: the neighbourhood (step size x batch) sweep; sens: the (delta, step
    # size) sensitivity grid.
    # The arena (ours: no paper compares these methods): every method on the same games. known: the
    # quadratic-discriminator WGAN whose optimum is known in closed form (Sahiner et al. 2022); ring: the
    # toolkit's ring setup; image: one DCGAN pair on digits (MNIST in paper). Budgets in player-gradient
    # evaluations (gancore.arena.methods); one step-size grid per game, shared by all its methods.
    "arena": {
        "shared": dict(known=dict(problem_seed=0, spread=4.0, beta_g=1.0, beta_fraction=0.3,
                                  beta_fractions=(0.1, 0.3, 0.9), oracle_solver="adam"),
                       ring=dict(batch_size=128, eval_seed=12345, alpha_d=0.3, alpha_g=1.0, alpha_generator="saturating",
                                 p_min=1e-7, dogan=dict(init=0.5, cap=4, ewc_lambda=10.0),
                                 methods=("sim-GDA", "alt-GDA", "sim-Adam", "alt-Adam", "EG", "OGDA", "SRFB",
                                          "SRFB-avg", "coop-Adam", "alpha-GAN", "vanilla-GAN", "DO-GAN")),
                       image=dict(feature="classifier", loss="ns", alpha_d=0.6, alpha_g=1.0, seeds=3, eval_seed=12345,
                                  data_root=None, dogan=dict(init=0.5, cap=4, n_payoff=512),
                                  methods=("sim-GDA", "alt-GDA", "sim-Adam", "alt-Adam", "EG", "OGDA", "SRFB",
                                           "SRFB-avg", "coop-Adam", "alpha-GAN", "DO-GAN")),
                       # the stored runs at a learning budget (sweep arena.learn, gancore.arena.learn): the
                       # stage, the game, the budget ladder, tuning seeds (never reported), each family's
                       # step-size grid, and the report's chosen step sizes (one per contestant, in order)
                       learn=dict(stage="tune", game="ring", reference="alt-Adam", threshold=0.5,
                                  ladder=(1000, 2000, 3000, 4000, 6000, 8000, 12000, 16000), tuning_seeds=(0, 1, 2, 3),
                                  lrs=dict(adam=(1e-4, 3e-4, 1e-3, 3e-3), sgd=(3e-3, 1e-2, 3e-2, 1e-1)), chosen=())),
        "quick": dict(known=dict(n=32, d=4, seeds=8, lrs=(3e-3, 1e-2, 3e-2, 1e-1), budget=2400, eval_every=100,
                                 oracle_steps=100),
                      ring=dict(g_width=128, d_width=128, depth=3, seeds=16, budget=240, eval_every=40, lrs=(2e-3, 0.2),
                                n_eval=2000, dogan=dict(seeds=8, iterations=2, fisher_batches=4, n_payoff=512)),
                      image=dict(data="digits", width=16, latent=16, batch_size=32, budget=120, eval_every=60,
                                 lrs=(1e-2, 1e-1), n_eval=500, dogan=dict(iterations=2),
                                 procogan=dict(resolutions=(2, 4, 8), ks=(3, 10, 24), noise_dim=16))),
        "paper": dict(known=dict(n=256, d=16, seeds=32, lrs=(1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1), budget=30_000,
                                 eval_every=500, oracle_steps=250),
                      ring=dict(g_width=400, d_width=200, depth=4, seeds=64, budget=100_000, eval_every=5000,
                                lrs=(1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1), n_eval=25_000,
                                dogan=dict(seeds=16, iterations=10, fisher_batches=32, n_payoff=4096)),
                      image=dict(data="mnist", width=64, latent=100, batch_size=64, budget=40_000, eval_every=4000,
                                 lrs=(1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1), n_eval=10_000,
                                 dogan=dict(iterations=10),
                                 procogan=dict(resolutions=(7, 14, 28), ks=(16, 40, 80), noise_dim=48))),
    },
    # The claims scorecard reads what the other chapters printed; it has no settings of its own.
    "scorecard": {"shared": {}, "quick": {}, "paper": {}},
    "srfb": {
        "shared": dict(delta=0.618,
                       det=dict(n=10, steps=500, lr=dict(GDA=0.1, EG=0.8, OGDA=0.4, Popov=0.4, SRFB=0.8, Adam=0.05)),
                       stoch=dict(d=10, steps=2000, batch=8,
                                  lr=dict(GDA=0.3, EG=0.3, OGDA=0.3, Popov=0.3, SRFB=0.3, Adam=0.01)),
                       grow=dict(steps=600, a=3.0, lr=0.5, seeds=8), fixed=dict(batch=1, lr=0.1, steps=3000),
                       nbhd=dict(lrs=(0.1, 0.2, 0.4, 0.8), batches=(1, 4, 16, 64), steps=3000, seeds=16),
                       sens=dict(deltas=(0.5, 0.618, 0.7, 0.8, 0.9, 0.99), lrs=(0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.6),
                                 steps=1000),
                       data_root=None, clip=0.01,
                       image=dict(batch_size=64, lr=dict(SRFB=(1.0, 3.0), EG=(1.0, 3.0), Adam=(2e-4,)), delta=0.618,
                                  seeds=3),
                       # the stored runs (sweeps srfb.average and srfb.images; book/srfb.md reads them): the
                       # averaged variant's design, one block where each term of its bound dominates
                       average=dict(blocks=dict(bias=dict(lrs=(0.1, 0.4), batches=(10**6, 10**8), K=(1000, 10_000)),
                                                noise=dict(lrs=(0.4, 0.8), batches=(1, 8), K=(10_000, 100_000))),
                                    chains=16, chunk=32, k_min=100, looks_per_decade=4),
                       images=dict(data="mnist", width=32, latent=100, batch_size=64, methods=("SRFB", "EG"),
                                   lrs=(0.03, 0.1, 0.3, 1.0, 3.0), budget=1000, eval_every=250, n_fd=1000)),
        "quick": dict(image=dict(data=("digits",), width=16, latent=32, budget=600, eval_every=100), n_fd=1000),
        "paper": dict(image=dict(data=("mnist", "cifar10"), width=64, latent=100, budget=200_000, eval_every=10_000),
                      n_fd=10_000),
    },
}


def get(chapter: str, profile: str, overrides: Mapping[str, Any] | None = None,
        allow_long: bool | None = None) -> Settings:
    """Settings of ``chapter`` in ``profile``: the chapter's ``shared`` settings with the profile's merged
    over them (a group key by key), then ``overrides`` (a dict of settings, a group as a nested dict, e.g.
    ``{"ring": {"seeds": 32}}`` for a longer stored run) merged the same way. Returns a fresh read-only
    :class:`Settings`. Unknown chapter, profile or setting names raise ValueError listing the known ones;
    a value of the wrong type (module docstring) raises ValueError naming the setting, the value and the
    expected type; a senseless value (a count of 0, a NaN or negative rate, a tuple of the wrong length,
    training past :data:`MAX_STEPS` without ``allow_long``, default ``$GANCORE_ALLOW_LONG=1``) raises
    ValueError naming the setting and the fix."""
    if chapter not in CHAPTERS:
        raise ValueError(f"Unknown chapter {chapter!r}. Known chapters: {', '.join(CHAPTERS)}.")
    if profile not in PROFILES:
        raise ValueError(f"Unknown profile {profile!r}. Known profiles: {', '.join(PROFILES)}.")
    if overrides is not None and not isinstance(overrides, Mapping):
        raise ValueError(f"overrides must be a dict of settings, e.g. {{'steps': 500}}; got "
                         f"{type(overrides).__name__} {overrides!r}.")
    table = CHAPTERS[chapter]
    resolved = {p: deep_merge(table["shared"], table[p]) for p in PROFILES}
    settings = Settings(_merged(chapter, "", resolved[profile], list(resolved.values()), overrides or {}))
    if not (os.environ.get(LONG_ENV) == "1" if allow_long is None else allow_long):
        long = {k: v for k, v in _dotted(settings).items() if _is_length(k) and isinstance(v, int) and v > MAX_STEPS}
        if long:
            raise ValueError(f"Setting(s) {', '.join(f'{k}={v:,}' for k, v in long.items())} of chapter {chapter!r} "
                             f"train for more than {MAX_STEPS:,} steps (years on a CPU): check the value, or pass "
                             f"--allow-long (LONG=1 for make) to run it on purpose.")
    return settings


def _is_length(where: str) -> bool:
    name = where.rsplit(".", 1)[-1]
    return name in ("steps", "budget") or name.endswith("_steps")


def _sense(chapter: str, where: str, examples: list[Any], value: int | float) -> None:
    """ValueError when ``value`` for the number setting ``where`` makes no sense (see the module docstring)."""
    name = where.rsplit(".", 1)[-1].split("[")[0]
    parts = {part.split("[")[0] for part in where.split(".")}
    numbers = [e for e in examples if isinstance(e, (int, float)) and not isinstance(e, bool)]
    if isinstance(value, float) and not math.isfinite(value):
        problem = "it must be a finite number"
    elif isinstance(value, int) and value < 1 and name in AT_LEAST_ONE:
        problem = "it counts something without which there is no result and must be >= 1"
    elif value <= 0 and isinstance(value, float) and {"lr", "lrs"} & parts:
        problem = "it is a rate and must be > 0"
    elif value < 0 and numbers and min(numbers) >= 0 and isinstance(value, float):
        problem = f"its profiles give {', '.join(map(str, sorted(set(numbers))))} and it must be >= 0"
    else:
        return
    raise ValueError(f"Setting {where} of chapter {chapter!r}: got {value!r}; {problem}.")


def deep_merge(base: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` put in; a group (a dict in both) merges key by key, recursively."""
    merged = dict(base)
    for key, value in changes.items():
        both_groups = isinstance(value, Mapping) and isinstance(base.get(key), Mapping)
        merged[key] = deep_merge(base[key], value) if both_groups else value
    return merged


def _merged(chapter: str, where: str, default: Mapping[str, Any], examples: list[Mapping[str, Any]],
            value: Mapping[str, Any]) -> dict[str, Any]:
    """The group ``default`` with the entries of ``value`` checked and put in; ``examples`` are the
    group in every profile (they define the names and types allowed)."""
    names = list(dict.fromkeys(k for e in examples for k in e))
    unknown = sorted(set(value) - set(names))
    if unknown:  # list the names, a group with its own: ring.{seeds, steps}
        groups = {k: dict.fromkeys(n for e in examples for n in e[k]) for k in names
                  if all(isinstance(e.get(k), Mapping) for e in examples)}
        listed = ", ".join(f"{where}{k}.{{{', '.join(groups[k])}}}" if k in groups else where + k for k in names)
        nested = (f" A group's settings go in a nested dict: {{{next(iter(groups))!r}: {{...}}}}."
                  if groups and not where else "")
        raise ValueError(f"Unknown setting(s) {', '.join(where + k for k in unknown)} for chapter {chapter!r}. "
                         f"Its settings are: {listed}.{nested}")
    missing = [k for k in names if k not in value and k not in default]
    if missing:  # only a group replaced whole (an item of a tuple of groups) can lack names
        raise ValueError(f"Setting {where[:-1]} of chapter {chapter!r} lacks {', '.join(missing)}: give all of "
                         f"{', '.join(names)}.")
    merged = dict(default)
    for key, new in value.items():
        merged[key] = _checked(chapter, where + key, default.get(key), [e[key] for e in examples if key in e], new)
    return merged


def _checked(chapter: str, where: str, default: Any, examples: list[Any], value: Any) -> Any:
    """``value`` for the setting ``where`` if it has a type the setting has in ``examples`` (its values
    in every profile, or every item of its tuples); a dict merges with ``default``."""
    kinds = {type(e) for e in examples}
    name = where.rsplit(".", 1)[-1]
    if kinds == {type(None)} and name in OPTIONAL:
        kinds.add(OPTIONAL[name])
    if isinstance(value, bool):  # a subclass of int, but never a count or a size here
        if bool in kinds:
            return value
    elif value is None:
        if type(None) in kinds:
            return None
    elif isinstance(value, int) and int in kinds:
        counts = sorted({e for e in examples if type(e) is int})
        if value < 0 and counts[0] >= 0:
            raise ValueError(f"Setting {where} of chapter {chapter!r}: got {value!r}; it counts something "
                             f"(its profiles give {', '.join(map(str, counts))}) and must be >= 0.")
        _sense(chapter, where, examples, value)
        return value
    elif isinstance(value, (int, float)) and float in kinds:
        _sense(chapter, where, examples, float(value))
        return float(value)
    elif isinstance(value, str) and str in kinds:
        return value
    elif isinstance(value, (list, tuple)) and tuple in kinds:
        if name in LENGTHS and len(value) != LENGTHS[name]:
            raise ValueError(f"Setting {where} of chapter {chapter!r}: got {list(value)!r}; give {LENGTHS[name]} "
                             f"values, e.g. {list(examples[0]) if examples else '[...]'}.")
        items = [item for e in examples if isinstance(e, tuple) for item in e]
        return tuple(_checked(chapter, f"{where}[{i}]", None, items, item) if items else item
                     for i, item in enumerate(value))
    elif isinstance(value, Mapping) and dict in kinds:
        groups = [e for e in examples if isinstance(e, Mapping)]
        return _merged(chapter, where + ".", default if isinstance(default, Mapping) else {}, groups, value)
    expected = " or ".join(sorted(_TYPE_NAMES.get(k, k.__name__) for k in kinds))
    raise ValueError(f"Setting {where} of chapter {chapter!r}: got {value!r} ({type(value).__name__}); "
                     f"expected {expected}.")


_TYPE_NAMES = {type(None): "None", tuple: "a list", dict: "a dict"}


def describe(chapter: str, profile: str, device: torch.device | str, data: str,
             overrides: dict[str, Any] | None = None) -> str:
    """The line every chapter prints first: which profile (and overridden settings, a group's as
    ``ring.seeds=32``), device and data produced its results."""
    changed = "".join(f" {k}={v!r}" for k, v in sorted(_dotted(overrides or {}).items()))
    return (f"gancore {__version__} | chapter {chapter} | profile {profile}{' with' + changed if changed else ''} | "
            f"device {device} | numerics {numerics.describe()} | data {data} | torch {torch.__version__.split('+')[0]} | python {platform.python_version()}")


def _dotted(settings: Mapping[str, Any], where: str = "") -> dict[str, Any]:
    """``settings`` with every group flattened into dotted names: ``{"ring": {"seeds": 32}}`` ->
    ``{"ring.seeds": 32}``."""
    flat: dict[str, Any] = {}
    for key, value in settings.items():
        flat |= _dotted(value, f"{where}{key}.") if isinstance(value, Mapping) else {where + key: value}
    return flat
