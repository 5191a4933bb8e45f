"""Aggregate scores across games the way deep-RL now reports them (Agarwal, Schwarzer, Castro,
Courville & Bellemare, "Deep Reinforcement Learning at the Edge of the Statistical Precipice", NeurIPS
2021; the `rliable` package): per method, the interquartile mean of normalised scores with a
stratified-bootstrap interval, the probability that one method beats another, and the performance
profile. Written with numpy and scipy (rliable pins another numpy/arch than this book's), with the same
definitions:

* scores: ``{method: array (runs, games)}``, each game's score normalised so that higher is better
  and the games' scales agree (:func:`normalise`: 0 at a game's worst reference, 1 at its best);
* **IQM**: the mean of the middle 50% of all a method's (run, game) scores,
  ``scipy.stats.trim_mean(x, 0.25)``;
* **stratified bootstrap**: resample the runs of each game with replacement, separately per game,
  and take the statistic of each resample; the interval is the percentile interval;
* **probability of improvement** P(X > Y): per game, the probability that a random run of X scores
  above a random run of Y (ties count one half: the Mann-Whitney U statistic over n m), averaged
  over the games;
* **performance profile**: the share of a method's (run, game) scores above each threshold tau.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from scipy import stats as sps

__all__ = ["normalise", "iqm", "stratified_bootstrap", "probability_of_improvement", "performance_profile",
           "leaderboard", "plot"]


def _matrix(scores: np.ndarray, name: str = "scores") -> np.ndarray:
    x = np.asarray(scores, dtype=float)
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f"{name} must be a (runs, games) array with at least one of each; got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} holds {int((~np.isfinite(x)).sum())} NaN or infinite value(s): score a failed "
                         "run as the game's worst value instead of dropping it")
    return x


def normalise(raw: np.ndarray, worst: float, best: float) -> np.ndarray:
    """``(raw - worst) / (best - worst)``: 0 at ``worst``, 1 at ``best`` (``best < worst`` for a score
    where lower is better, e.g. a gap or a Frechet distance)."""
    if worst == best or not (np.isfinite(worst) and np.isfinite(best)):
        raise ValueError(f"normalise: worst and best must be finite and differ; got {worst!r}, {best!r}")
    return (np.asarray(raw, dtype=float) - worst) / (best - worst)


def iqm(scores: np.ndarray) -> float:
    """The interquartile mean of all (run, game) scores."""
    return float(sps.trim_mean(_matrix(scores).ravel(), 0.25))


def stratified_bootstrap(statistic: Callable[..., float], *samples: np.ndarray, resamples: int = 2000,
                         level: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """``statistic(*samples)`` with its percentile interval over ``resamples`` stratified resamples
    (each sample's runs resampled within each game); returns (estimate, low, high)."""
    xs = [_matrix(s, f"sample {i}") for i, s in enumerate(samples)]
    if len({x.shape[1] for x in xs}) != 1:
        raise ValueError(f"every sample needs the same games; got {[x.shape[1] for x in xs]} columns")
    rng = np.random.default_rng(seed)
    values = np.empty(resamples)
    for r in range(resamples):
        drawn = []
        for x in xs:
            rows = rng.integers(0, x.shape[0], size=x.shape)  # a fresh resample of runs in each game column
            drawn.append(np.take_along_axis(x, rows, axis=0))
        values[r] = statistic(*drawn)
    low, high = np.quantile(values, [0.5 - level / 2, 0.5 + level / 2])
    return float(statistic(*xs)), float(low), float(high)


def probability_of_improvement(x: np.ndarray, y: np.ndarray) -> float:
    """P(X > Y) averaged over games (module docstring)."""
    x, y = _matrix(x, "x"), _matrix(y, "y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y need the same games; got {x.shape[1]} and {y.shape[1]} columns")
    per_game = [((a[:, None] > b[None, :]).mean() + 0.5 * (a[:, None] == b[None, :]).mean())
                for a, b in zip(x.T, y.T)]
    return float(np.mean(per_game))


def performance_profile(scores: np.ndarray, taus: Sequence[float]) -> np.ndarray:
    """The share of (run, game) scores above each ``tau``."""
    flat = _matrix(scores).ravel()
    return np.array([(flat > tau).mean() for tau in taus])


def leaderboard(scores: Mapping[str, np.ndarray], reference: str, resamples: int = 2000,
                seed: int = 0) -> list[dict[str, float | str]]:
    """Per method, its IQM with the stratified-bootstrap interval, and P(method > ``reference``) with
    its interval; best IQM first."""
    if reference not in scores:
        raise ValueError(f"reference {reference!r} is not one of the methods: {', '.join(scores)}")
    rows = []
    for method, x in scores.items():
        est, low, high = stratified_bootstrap(iqm, x, resamples=resamples, seed=seed)
        p, p_low, p_high = stratified_bootstrap(probability_of_improvement, x, scores[reference],
                                                resamples=resamples, seed=seed)
        rows.append({"method": method, "IQM": est, "IQM low": low, "IQM high": high,
                     f"P(> {reference})": p, "P low": p_low, "P high": p_high, "runs": int(np.shape(x)[0]),
                     "games": int(np.shape(x)[1])})
    return sorted(rows, key=lambda r: -float(r["IQM"]))


def plot(scores: Mapping[str, np.ndarray], reference: str, taus: Sequence[float] | None = None,
         resamples: int = 2000, seed: int = 0) -> plt.Figure:
    """Two panels: each method's IQM with its interval, and the performance profiles."""
    taus = np.linspace(0, 1, 41) if taus is None else np.asarray(taus)
    board = leaderboard(scores, reference, resamples, seed)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 0.5 * len(board) + 2))
    names = [r["method"] for r in board][::-1]
    for i, name in enumerate(names):
        r = next(b for b in board if b["method"] == name)
        left.plot([r["IQM low"], r["IQM high"]], [i, i], lw=6, alpha=0.4, color="C0")
        left.plot([r["IQM"]], [i], "|", ms=14, color="k")
    left.set(yticks=range(len(names)), yticklabels=names, xlabel="IQM of normalised score (95% interval)")
    for name, x in scores.items():
        right.plot(taus, performance_profile(x, taus), label=name)
    right.set(xlabel=r"normalised score $\tau$", ylabel=r"share of runs with score $> \tau$")
    right.legend(fontsize="small")
    fig.tight_layout()
    return fig
