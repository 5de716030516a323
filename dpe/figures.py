"""One function per figure, each fed by a tidy DataFrame; ``save`` writes PNG and PDF.

The backend is never forced here: notebooks keep their inline backend, so the book shows
the figures as images (see BOOK.md).
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

__all__ = ["learning_curves", "metric_by", "pixels_per_class", "queried_crops", "reliability_diagram", "save"]


def learning_curves(
    summary: pd.DataFrame, title: str, upper: pd.Series | None = None, hue: str = "label",
    ylabel: str = "test accuracy (%)", xlabel: str = "labelled images",
) -> Figure:
    """A metric (a fraction, drawn in %) against labelled images, one line per ``hue`` with error
    bars of one standard deviation over trials; ``upper`` (mean, std) draws the upper bound dashed."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for label, g in summary.groupby(hue, sort=False):
        ax.errorbar(g["labeled"], 100 * g["mean"], yerr=100 * g["std"].fillna(0), marker="o", ms=4, capsize=3, label=label)
    if upper is not None:
        ax.axhline(100 * upper["mean"], ls="--", color="k", lw=1, label="Upper bound (all labels)")
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def metric_by(summary: pd.DataFrame, x: str, title: str, ylabel: str, logx: bool = False, hue: str = "labeled") -> Figure:
    """A metric's mean (error bars: std over trials) against a setting such as members or beta."""
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    for label, g in summary.groupby(hue, sort=True):
        ax.errorbar(g[x], g["mean"], yerr=g["std"].fillna(0), marker="o", ms=4, capsize=3, label=f"{label} labels")
    if logx:
        ax.set_xscale("log")
    ax.set(xlabel=x, ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def reliability_diagram(bins: dict[str, dict], title: str) -> Figure:
    """Accuracy against confidence per confidence bin, one line per model; the diagonal is
    perfect calibration. ``bins[label]`` is a record's ``reliability`` dict."""
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="perfectly calibrated")
    for label, b in bins.items():
        kept = [(c, a) for c, a, n in zip(b["confidence"], b["accuracy"], b["count"]) if n > 0]
        ax.plot(*zip(*kept), marker="o", ms=4, label=label)
    ax.set(xlabel="confidence of the mean prediction", ylabel="accuracy", xlim=(0, 1), ylim=(0, 1), title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def pixels_per_class(counts: pd.Series, title: str) -> Figure:
    """Fig. 4: labelled pixels of each class (``counts`` indexed by class name), log scale."""
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    ax.bar(range(len(counts)), counts.to_numpy(), color="tab:blue")
    ax.set_yscale("log")
    ax.set_xticks(range(len(counts)), counts.index, rotation=60, ha="right", fontsize=8)
    ax.set(ylabel="pixels (log scale)", title=title)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def queried_crops(image, selected: list[int], title: str, grid: tuple[int, int] = (3, 4)) -> Figure:
    """Fig. 3: an image (3, H, W) uint8 with its 4 x 3 grid of crops, the queried ones (crop
    indices 4 * row + column) outlined in red and the others in blue."""
    from matplotlib.patches import Rectangle

    _, H, W = image.shape
    rows, cols = grid
    h, w = H / rows, W / cols
    fig, ax = plt.subplots(figsize=(6.4, 6.4 * H / W))
    ax.imshow(image.permute(1, 2, 0).numpy())
    for crop in range(rows * cols):
        queried = crop in selected
        r, c = divmod(crop, cols)
        ax.add_patch(Rectangle((c * w - 0.5, r * h - 0.5), w, h, fill=False, lw=3 if queried else 1.2,
                               edgecolor="red" if queried else "tab:blue", zorder=3 if queried else 2))
    ax.set_axis_off()
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def save(fig: Figure, results_dir: str | os.PathLike, name: str) -> list[Path]:
    """Write ``figures/<name>.png`` (150 dpi) and ``.pdf`` under ``results_dir``."""
    folder = Path(results_dir) / "figures"
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{name}.png", folder / f"{name}.pdf"]
    fig.savefig(paths[0], dpi=150)
    fig.savefig(paths[1])
    return paths
