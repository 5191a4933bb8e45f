"""Figures the chapters share: sample grids, ring scatter with the true modes, metric curves,
heatmaps, metrics along training from a tidy table. Each function draws on a given matplotlib
``Axes`` (or makes one) and returns it, so a chapter can lay several out in one figure."""

from __future__ import annotations

from typing import Literal, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.axes import Axes
from scipy.stats import t as student_t

from . import stats

__all__ = ["sample_grid", "ring_scatter", "curves", "metric_curves", "heatmap", "image_grid_array"]


def _axes(ax: Axes | None, size: tuple[float, float] = (4, 4)) -> Axes:
    return ax if ax is not None else plt.subplots(figsize=size)[1]


def image_grid_array(images: torch.Tensor, nrow: int = 8, pad: int = 1) -> np.ndarray:
    """(N, C, H, W) images in [-1, 1] -> one (rows*H, nrow*W[, C]) array in [0, 1] for imshow."""
    x = ((images.detach().float().cpu().clamp(-1, 1) + 1) / 2).numpy()
    n, c, h, w = x.shape
    rows = int(np.ceil(n / nrow))
    grid = np.ones((c, rows * (h + pad) - pad, nrow * (w + pad) - pad))
    for i in range(n):
        r, col = divmod(i, nrow)
        grid[:, r * (h + pad):r * (h + pad) + h, col * (w + pad):col * (w + pad) + w] = x[i]
    return grid[0] if c == 1 else grid.transpose(1, 2, 0)


def sample_grid(images: torch.Tensor, nrow: int = 8, ax: Axes | None = None, title: str | None = None) -> Axes:
    """Show images in [-1, 1] as a grid (grey for one channel)."""
    ax = _axes(ax)
    grid = image_grid_array(images, nrow)
    ax.imshow(grid, cmap="gray" if grid.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def ring_scatter(samples: torch.Tensor, means: torch.Tensor | None = None, ax: Axes | None = None,
                 title: str | None = None, limit: float = 1.5, max_points: int = 5000) -> Axes:
    """Scatter 2-D samples, with the true modes as red crosses."""
    ax = _axes(ax)
    x = samples.detach().float().cpu()[:max_points]
    ax.scatter(x[:, 0], x[:, 1], s=2, alpha=0.3, color="tab:blue", rasterized=True)
    if means is not None:
        ax.scatter(means[:, 0], means[:, 1], marker="x", color="tab:red", s=40, linewidths=1.5)
    ax.set_xlim(-limit, limit), ax.set_ylim(-limit, limit)
    ax.set_aspect("equal")
    ax.set_xticks([]), ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def curves(x: Sequence | np.ndarray, ys: dict[str, Sequence | np.ndarray], ax: Axes | None = None,
           xlabel: str = "", ylabel: str = "", logy: bool = False, logx: bool = False,
           title: str | None = None) -> Axes:
    """One line per entry of ``ys`` (label -> values), all against ``x`` (or a per-label (x, y) pair)."""
    ax = _axes(ax, (5, 3.5))
    for label, y in ys.items():
        if isinstance(y, tuple):
            ax.plot(*y, label=label)
        else:
            ax.plot(x, y, label=label)
    ax.set_xlabel(xlabel), ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    if logx:
        ax.set_xscale("log")
    if len(ys) > 1:
        ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    return ax


def metric_curves(table: pd.DataFrame, metric: str, x: str = "step", hue: str | Sequence[str] | None = None,
                  band: bool = True, ax: Axes | None = None, title: str | None = None,
                  interval: Literal["t", "wilson"] = "t") -> Axes:
    """``metric`` against ``x`` (``step``, ``grad_evals``, ``seconds``) from a tidy table (columns
    ``metric``, ``value``, ``x`` and the ``hue`` columns: :func:`gancore.ensemble.tidy_evals`, an
    image experiment's table, a sweep's merged table), one curve per value of ``hue`` (a setting such
    as ``alpha_d``, or several; None: one curve). A curve is the mean over the rows at each x (the
    seeds); with ``band``, a shaded 95% interval of that mean over the n rows: ``interval="t"``,
    ``mean +- t_{0.975, n-1} s / sqrt(n)`` (none where n = 1); ``"wilson"``, for a rate (values 0/1
    per seed, e.g. success), the Wilson interval (:func:`gancore.stats.wilson`)."""
    if interval not in ("t", "wilson"):
        raise ValueError(f"Invalid interval {interval!r}: use 't' (a mean) or 'wilson' (a rate of 0/1 values).")
    hues = [hue] if isinstance(hue, str) else list(hue or [])
    missing = [c for c in ["metric", "value", x, *hues] if c not in table.columns]
    if missing:
        raise ValueError(f"The table has no column(s) {', '.join(missing)}; its columns are {', '.join(table.columns)}.")
    rows = table[table["metric"] == metric]
    if rows.empty:
        raise ValueError(f"No rows of metric {metric!r}; the table's metrics are {', '.join(map(str, table['metric'].unique()))}.")
    ax = _axes(ax, (5, 3.5))
    for key, part in (rows.groupby(hues, sort=True) if hues else [((), rows)]):
        key = key if isinstance(key, tuple) else (key,)
        by_x = part.groupby(x)["value"].agg(["mean", "std", "count"])
        label = ", ".join(f"{h}={k}" for h, k in zip(hues, key)) or metric
        line, = ax.plot(by_x.index, by_x["mean"], label=label)
        if band:
            if interval == "wilson":
                bands = stats.summarise(part, x, "value", kind="rate")
                low, high = bands["low"].to_numpy(), bands["high"].to_numpy()
            else:
                n = by_x["count"].to_numpy()
                half = np.where(n > 1, student_t.ppf(0.975, np.maximum(n - 1, 1)) * by_x["std"].to_numpy() / np.sqrt(n),
                                np.nan)
                low, high = by_x["mean"] - half, by_x["mean"] + half
            ax.fill_between(by_x.index, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
    ax.set_xlabel(x), ax.set_ylabel(metric)
    if hues:
        ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    return ax


def heatmap(matrix: np.ndarray | torch.Tensor, ax: Axes | None = None, row_labels: Sequence | None = None,
            col_labels: Sequence | None = None, title: str | None = None, cmap: str = "viridis",
            annotate: bool = True, fmt: str = "{:.2f}", xlabel: str = "", ylabel: str = "") -> Axes:
    """A matrix as coloured cells, with values written in when ``annotate``."""
    ax = _axes(ax)
    m = np.asarray(matrix.detach().cpu() if torch.is_tensor(matrix) else matrix, dtype=float)
    im = ax.imshow(m, cmap=cmap, aspect="auto")
    ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    if row_labels is not None:
        ax.set_yticks(range(len(row_labels)), labels=[str(r) for r in row_labels])
    if col_labels is not None:
        ax.set_xticks(range(len(col_labels)), labels=[str(c) for c in col_labels])
    if annotate and m.size <= 200:
        mid = np.nanmean(m)
        for (i, j), v in np.ndenumerate(m):
            ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=7,
                    color="white" if v < mid else "black")
    ax.set_xlabel(xlabel), ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=9)
    return ax
