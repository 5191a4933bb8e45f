"""The convex-duality chapter's experiments: convex solutions beside gradient descent-ascent (GDA).

Each function is one experiment of the chapter (Sahiner et al., ICLR 2022), returning tables:

* :func:`toy_comparison`: the 2-D toys (:func:`toy_problem`), one activation at a time: the convex
  solution (:func:`convex_solution`) against GDA on the same architecture (:func:`gancore.convex.gda_fit`);
* :func:`compare_quadratic`: closed form, SDP and GDA on one quadratic-discriminator problem
  (:func:`comparison_problem`), with their wall times;
* :func:`beta_sweep`: the soft-thresholded spectrum G^T G = V (Sigma^2 - beta_d I)_+ V^T for several beta_d;
* :func:`procogan_comparison`: ProCoGAN against progressive GDA on one image set, by Frechet distance;
* :func:`procogan_runs`: that comparison over seeds and image sets, the sweep experiment of the chapter.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from .. import data, metrics, train
from .closed_form import (constraint_value, constraint_violation, linear_closed_form, quadratic_closed_form,
                          quadratic_optimal_value, wgan_objective)
from .gda import GDA_ACTIVATIONS, GDAResult, gda_fit, progressive_gda, violation
from .procogan import ProCoGAN, _whitened_noise, upsample
from .programs import polynomial_sdp, quadratic_sdp
from .relu import relu_program

__all__ = ["toy_problem", "convex_solution", "toy_comparison", "comparison_problem", "QuadraticComparison",
           "compare_quadratic", "BetaSweep", "beta_sweep", "ProCoGANComparison", "resize", "procogan_comparison",
           "procogan_runs", "procogan_steps"]

POLYNOMIAL = (1.0, 1.0, 0.0)  # the toys' polynomial activation t^2 + t


def toy_problem(n: int, n_fake: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The 2-D toy: ``X``, ``n`` points of N(0, I) mapped by [[1, 0], [0.6, 0.4]] and shifted by
    (1, 0.5) (numpy ``default_rng(seed)``); noise ``Z = I`` (``n_fake`` free fake points, G = W); and
    ``rays``, the unit directions of the first ``n_fake`` real points (the ReLU program's rays)."""
    if n_fake > n:
        raise ValueError(f"n_fake={n_fake} rays are taken from the first real points: need n_fake <= n={n}.")
    X = np.random.default_rng(seed).standard_normal((n, 2)) @ np.array([[1.0, 0.0], [0.6, 0.4]]) + np.array([1.0, 0.5])
    rays = X[:n_fake] / np.linalg.norm(X[:n_fake], axis=1, keepdims=True)
    return X, np.eye(n_fake), rays


def convex_solution(X: np.ndarray, Z: np.ndarray, activation: str, beta: float, *, rays: np.ndarray | None = None,
                    coefficients: tuple[float, float, float] = POLYNOMIAL, n_samples: int = 20_000,
                    seed: int = 0) -> np.ndarray:
    """The fake samples G of the convex problem for a two-layer discriminator with ``activation``:
    ``Z @`` :func:`linear_closed_form` or :func:`quadratic_closed_form`; for ``"polynomial"``
    (``coefficients``) the ``len(Z)`` fakes of :func:`polynomial_sdp`; for ``"relu"`` the fakes of
    :func:`relu_program` on the given ``rays`` (``n_samples`` sampled directions, ``seed``)."""
    if activation == "linear":
        return Z @ linear_closed_form(X, Z, beta)
    if activation == "quadratic":
        return Z @ quadratic_closed_form(X, Z, beta)
    if activation == "polynomial":
        return polynomial_sdp(X, len(Z), beta, coefficients=coefficients)["G"]
    if activation == "relu":
        if rays is None:
            raise ValueError("The ReLU program keeps the fakes on fixed rays: pass rays=... (one row per fake).")
        return relu_program(X, rays, beta, n_samples=n_samples, seed=seed)["G"]
    raise ValueError(f"Unknown activation {activation!r}: use one of {', '.join(GDA_ACTIVATIONS)}.")


def toy_comparison(X: np.ndarray, Z: np.ndarray, betas: Mapping[str, float], *, rays: np.ndarray, steps: int,
                   lr: float, width: int = 4, seed: int = 0
                   ) -> tuple[pd.DataFrame, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """For each ``activation: beta_d`` of ``betas``: :func:`convex_solution` and :func:`gda_fit` (width
    ``width``, ``steps`` steps, learning rate ``lr`` for both players, scored at the end). Returns the
    table (activation, beta_d, convex objective and violation, GDA objective and violation; objective
    (1/2)||G||_F^2, which is the weight decay for Z = I) and ``{activation: (G_convex, G_gda)}``."""
    rows, fakes = [], {}
    for activation, beta in betas.items():
        G_cvx = convex_solution(X, Z, activation, beta, rays=rays, seed=seed)
        gda = gda_fit(X, Z, beta, activation=activation, width=width, steps=steps, lr_G=lr, lr_D=lr,
                      eval_every=steps, seed=seed)
        fakes[activation] = (G_cvx, gda.G)
        last = gda.trajectory.iloc[-1]
        rows.append({"activation": activation, "beta_d": beta, "convex objective": 0.5 * float((G_cvx ** 2).sum()),
                     "convex violation": violation(X, G_cvx, beta, activation, POLYNOMIAL),
                     "GDA objective": last.objective, "GDA violation": last.violation})
    return pd.DataFrame(rows), fakes


def comparison_problem(n: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray, float]:
    """``(X, Z, beta_d)``: ``n`` Gaussian points in ``d`` dimensions with standard deviations
    linspace(2, 0.5, d), whitened noise ``Z`` (Z^T Z = n I, d_f = d) and beta_d = 0.3 sigma_2^2, from
    numpy ``default_rng(seed)`` (X first)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) @ np.diag(np.linspace(2.0, 0.5, d))
    Z = np.sqrt(n) * np.linalg.qr(rng.standard_normal((n, d)))[0]
    return X, Z, float(0.3 * np.linalg.svd(X, compute_uv=False)[1] ** 2)


@dataclass
class QuadraticComparison:
    """What :func:`compare_quadratic` returns: ``table`` (method, objective, violation), the GDA run,
    the optimum ``p*``, ``k`` (components that survive beta_d) and wall ``seconds`` per method
    (``"closed form"``: the median of repeated calls; ``"SDP"``; ``"GDA"``: its training time)."""

    table: pd.DataFrame
    gda: GDAResult
    optimum: float
    k: int
    seconds: dict[str, float]


def compare_quadratic(X: np.ndarray, Z: np.ndarray, beta: float, *, steps: int, lr: float, eval_every: int,
                      seed: int = 0, repeats: int = 5) -> QuadraticComparison:
    """A quadratic-activation discriminator and a linear generator G = Z W solved three ways: the
    closed form (one warm-up call, then the median wall time of ``repeats``), the SDP in K = G^T G
    (:func:`quadratic_sdp`; its value / n is the weight decay when Z^T Z = n I; violation from the
    eigenvalues of X^T X - K) and :func:`gda_fit` (width 2 d, ``steps`` steps, learning rate ``lr``
    for both players, evaluated every ``eval_every``)."""
    quadratic_closed_form(X, Z, beta)  # warm-up: the first call loads LAPACK
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        W = quadratic_closed_form(X, Z, beta)
        times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    sdp = quadratic_sdp(X, beta)
    t_sdp = time.perf_counter() - t0
    gda = gda_fit(X, Z, beta, activation="quadratic", steps=steps, lr_G=lr, lr_D=lr, eval_every=eval_every, seed=seed)
    table = pd.DataFrame([
        {"method": "closed form", "objective": wgan_objective(W), "violation": constraint_violation(X, Z @ W, beta)},
        {"method": "SDP (cvxpy)", "objective": sdp["value"] / len(X),
         "violation": max(float(np.abs(np.linalg.eigvalsh(X.T @ X - sdp["K"])).max()) / beta - 1, 0.0)},
        {"method": f"GDA, {steps} steps", "objective": gda.trajectory.objective.iloc[-1],
         "violation": gda.trajectory.violation.iloc[-1]},
    ])
    k = int((np.linalg.svd(X, compute_uv=False) ** 2 > beta).sum())
    return QuadraticComparison(table, gda, quadratic_optimal_value(X, Z, beta), k,
                               {"closed form": float(np.median(times)), "SDP": t_sdp, "GDA": gda.seconds})


@dataclass
class BetaSweep:
    """What :func:`beta_sweep` returns: ``table`` (one row per fraction), the data's second-moment
    spectrum ``sigma2`` (descending), and per fraction the fakes' spectrum and the fakes G = Z W."""

    table: pd.DataFrame
    sigma2: torch.Tensor
    spectra: dict[float, torch.Tensor]
    fakes: dict[float, torch.Tensor]


def beta_sweep(X: torch.Tensor, fractions: Sequence[float], noise_dim: int, seed: int = 0) -> BetaSweep:
    """The quadratic closed form on data ``X`` (n x d, float64, centred by the caller) with whitened
    noise (n x ``noise_dim``, Z^T Z = n I, drawn from a torch generator seeded with ``seed``) for
    beta_d = f sigma_1^2, f in ``fractions``. Each row: the fraction, k (components kept), the
    constraint ||X^T X - G^T G||_2 / beta_d, the objective and whether the fakes' spectrum equals
    (sigma^2 - beta_d)_+ to 1e-8 sigma_1^2."""
    s2 = torch.linalg.svdvals(X) ** 2
    Z = _whitened_noise(len(X), noise_dim, torch.Generator().manual_seed(seed), X.device)
    rows, spectra, fakes = [], {}, {}
    for frac in fractions:
        beta = float(frac * s2[0])
        W = quadratic_closed_form(X, Z, beta)
        G = fakes[frac] = Z @ W
        spectra[frac] = torch.linalg.eigvalsh(G.T @ G).flip(0)
        rows.append({"beta_d / sigma_1^2": frac, "k": int((s2 > beta).sum()),
                     "constraint / beta_d": constraint_value(X, G) / beta, "objective": wgan_objective(W),
                     "eig = (sigma^2 - beta)_+": bool(torch.allclose(spectra[frac], (s2 - beta).clamp(min=0),
                                                                      rtol=0, atol=1e-8 * float(s2[0])))})
    return BetaSweep(pd.DataFrame(rows), s2, spectra, fakes)


@dataclass
class ProCoGANComparison:
    """What :func:`procogan_comparison` returns: ``stages`` (one row per ProCoGAN stage), ``scores``
    (one row: Frechet distances of ProCoGAN, progressive GDA and the real test split, the feature
    space, fit seconds), ``stage_scores`` (one row per stage and method: the Frechet distance of the
    images after that stage, upsampled to the last resolution) and ``samples``: 8 samples per stage of
    each method (ProCoGAN, GDA)."""

    name: str
    stages: pd.DataFrame
    scores: dict[str, Any]
    samples: tuple[list[torch.Tensor], list[torch.Tensor]]
    stage_scores: pd.DataFrame


def resize(images: torch.Tensor, size: int | None) -> torch.Tensor:
    """``images`` (N, C, H, H) resized to ``size`` x ``size`` (bilinear, antialiased, clamped to
    [-1, 1]); unchanged when ``size`` is None or H. MNIST 28 -> 32 gives the 4-8-16-32 stages."""
    if size is None or size == images.shape[-1]:
        return images
    out = torch.nn.functional.interpolate(images.float(), size=(size, size), mode="bilinear", align_corners=False,
                                          antialias=True)
    return out.clamp(-1, 1)


@functools.lru_cache(maxsize=2)
def _image_set(name: str, size: int | None, n_images: int | None, n_samples: int, feature: str, root: str):
    """The training images at ``size``, the feature space, the test split's distance (the floor) and a
    scorer (images at ``size`` -> Frechet distance), for the data in ``root`` (part of the cache key):
    a resized set is scored back at the native size against the training images put through the same
    round trip."""
    images = data.as_tensor(data.load(name, root=root), limit=n_images)
    native = images.shape[-1]
    space = (metrics.feature_space(name, root, seed=0) if feature == "classifier"
             else metrics.feature_space(name, root, kind="pixels"))
    resized = resize(images, size)
    if resized is images:
        reference = space.reference_stats(name, "train", root=root)
    else:
        reference = space.stats(resize(resized, native))
    real_test = resize(data.as_tensor(data.load(name, root=root, split="test"), limit=n_samples), size)
    floor = space.frechet(resize(real_test, native), reference)
    return resized, space, floor, lambda x: space.frechet(resize(x, native), reference)


def procogan_comparison(config: Mapping[str, Any], *, steps: int, batch_size: int, lr: float,
                        betas: tuple[float, float], n_images: int | None, n_samples: int, seed: int = 0,
                        device: str | torch.device = "cpu", gp: float = 10.0,
                        drift: float = 1e-3) -> ProCoGANComparison:
    """ProCoGAN against progressive GDA on the image set ``config["data"]`` (its first ``n_images``
    training images, all if None; resized to ``config["size"]`` when given, see :func:`resize`). ``config``
    holds ``resolutions``, ``ks``, ``noise_dim``, ``gda_widths`` (one discriminator width per stage) and
    ``feature`` (``"classifier"``: the digit classifier's features, else a PCA of pixels). :class:`ProCoGAN`
    is fitted on ``device``; :func:`progressive_gda` trains ``steps`` steps of batch ``batch_size`` per stage
    with Adam(``lr``, ``betas``), gradient penalty ``gp`` and drift ``drift``. Both draw ``n_samples`` samples from one CPU generator seeded with
    ``seed + 7`` (ProCoGAN first), scored by their Frechet distance to the training images, beside the
    first ``n_samples`` real test images (the floor). After each stage, ``n_samples`` images of each
    method (noise seeded ``seed + 11``) are upsampled to the last resolution and scored alike."""
    name = config["data"]
    images, space, floor, score = _image_set(name, config.get("size"), n_images, n_samples, config["feature"],
                                             str(data.data_root(None).resolve()))
    dev = train.resolve_device(device)
    last = config["resolutions"][-1]
    t0 = time.perf_counter()
    model = ProCoGAN(config["resolutions"], config["ks"], noise_dim=config["noise_dim"], seed=seed).fit(images.to(dev))
    t_pro = time.perf_counter() - t0
    per_stage = [{"data": name, "resolution": r, "method": "ProCoGAN",
                  "FD": score(upsample(model.sample(n_samples, generator=torch.Generator().manual_seed(seed + 11),
                                                    stage=i + 1).cpu(), last))}
                 for i, r in enumerate(config["resolutions"])]

    @torch.no_grad()
    def on_stage(r: int, G: torch.nn.Module) -> None:
        z = torch.randn(n_samples, G.noise_dim * len(G.layers), generator=torch.Generator().manual_seed(seed + 11))
        fake = G(z.to(dev)).clamp(-1, 1).float().cpu()
        per_stage.append({"data": name, "resolution": r, "method": "progressive GDA", "FD": score(upsample(fake, last))})

    base = progressive_gda(images, config["resolutions"], config["noise_dim"], config["gda_widths"], steps=steps,
                           batch_size=batch_size, lr=lr, betas=betas, gp=gp, drift=drift, seed=seed, device=dev,
                           on_stage=on_stage)
    g = torch.Generator().manual_seed(seed + 7)
    fake_pro = model.sample(n_samples, generator=g).cpu()
    fake_gda = base.sample(n_samples, generator=g)
    stages = pd.DataFrame([{"data": name, "resolution": s.resolution, "k": s.k, "beta": s.beta,
                            "input rank": s.input_rank,
                            "D_k / D_1": s.used_singular_values[1] / s.used_singular_values[0],
                            "constraint / beta": s.constraint / s.beta} for s in model.stages])
    scores = {"data": name, "ProCoGAN FD": score(fake_pro), "progressive GDA FD": score(fake_gda),
              "real test FD (floor)": floor, "feature space": space.name,
              "ProCoGAN s": t_pro, "GDA s": base.seconds}
    samples = ([model.sample(8, generator=torch.Generator().manual_seed(seed + 3), stage=i + 1).cpu()
                for i in range(len(config["resolutions"]))], [base.snapshots[r][:8] for r in config["resolutions"]])
    return ProCoGANComparison(name, stages, scores, samples, pd.DataFrame(per_stage))


def procogan_steps(settings: Mapping[str, Any], n: int) -> int:
    """GDA steps of :func:`procogan_runs` over ``n`` seeds (the sweep's unit of progress)."""
    return n * settings["gda"]["stage"]["steps"] * sum(len(c["resolutions"]) for c in settings["decisive"]["procogan"]
                                                       if c["data"] in settings["decisive"]["data"])


def procogan_runs(settings: Mapping[str, Any], seeds: Sequence[int], device: str = "cpu") -> dict[str, pd.DataFrame]:
    """The sweep experiment ``convex_wgan.procogan`` (:mod:`gancore.sweep`): :func:`procogan_comparison` for
    each image set of ``settings.decisive.procogan`` named in ``settings.decisive.data`` and each seed,
    with progressive GDA at ``settings.gda.stage`` (steps, batch, Adam, penalty). Tables ``scores`` (one
    row per data set and seed) and ``stages`` (one row per data set, seed, stage and method), both with
    a ``seed`` column."""
    scores, stages = [], []
    configs = [c for c in settings["decisive"]["procogan"] if c["data"] in settings["decisive"]["data"]]
    if not configs:
        raise ValueError(f"No image set of decisive.procogan is named in decisive.data {settings['decisive']['data']}.")
    for config in configs:
        for s in seeds:
            c = procogan_comparison(config, n_images=settings["n_images"], n_samples=settings["n_samples"], seed=s,
                                    device=device, **settings["gda"]["stage"])
            scores.append({**c.scores, "seed": s})
            stages.append(c.stage_scores.assign(seed=s))
    return {"scores": pd.DataFrame(scores), "stages": pd.concat(stages, ignore_index=True)}
