"""One function per figure, each fed by a tidy DataFrame; ``save`` writes PNG and PDF.

The backend is never forced here: notebooks keep their inline backend, so the book shows
the figures as images (see BOOK.md). ``save`` closes the figure in pyplot, so the inline
backend does not show it a second time when the cell ends; glue still renders it.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

__all__ = [
    "claims_forest", "convergence_curves", "curves_by_condition", "gains_by_scale", "label_efficiency", "learning_curves", "metric_by", "paired_differences", "pixels_per_class",
    "queried_crops", "reliability_diagram", "save",
]


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


def _panels(count: int):
    """A grid of ``count`` panels, two a row, sharing the y axis: (fig, axes (rows, cols))."""
    cols = 2 if count > 1 else 1
    rows = -(-count // cols)
    return plt.subplots(rows, cols, figsize=(5.2 * cols, 3.6 * rows), sharey=True, squeeze=False)


def _finish_panels(fig: Figure, axes, used: int, title: str, ylabel: str = "test accuracy (%)") -> Figure:
    """Label the first column with ``ylabel``, hide unused panels, title and tighten."""
    for ax in axes[:, 0]:
        ax.set_ylabel(ylabel)
    for ax in list(axes.flat)[used:]:
        ax.set_axis_off()
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def curves_by_condition(summary: pd.DataFrame, title: str) -> Figure:
    """One panel per ``condition``: accuracy (%) against labelled images (log scale), one line
    per ``method``, shaded by the 95 % confidence interval of the mean (``ci_low``, ``ci_high``)."""
    conditions = list(dict.fromkeys(summary["condition"]))
    fig, axes = _panels(len(conditions))
    colours = {m: f"C{i}" for i, m in enumerate(dict.fromkeys(summary["method"]))}
    for ax, condition in zip(axes.flat, conditions):
        for method, g in summary[summary["condition"] == condition].groupby("method", sort=False):
            g = g.sort_values("labeled")
            ax.plot(g["labeled"], 100 * g["mean"], marker="o", ms=3, color=colours[method], label=method)
            ax.fill_between(g["labeled"], 100 * g["ci_low"], 100 * g["ci_high"], color=colours[method], alpha=0.15)
        sizes = sorted(summary.loc[summary["condition"] == condition, "labeled"].unique())
        ax.set_xscale("log", base=2)  # the exponential schedule's sizes, evenly spaced
        ax.set_xticks(sizes, [str(int(v)) for v in sizes])
        ax.minorticks_off()
        ax.set(title=condition, xlabel="labelled images (log scale)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return _finish_panels(fig, axes, len(conditions), title)


def convergence_curves(rounds: pd.DataFrame, title: str, chosen_scale: int | dict[str, int] = 1) -> Figure:
    """One panel per ``model``: test accuracy (%) against SGD steps per round (log scale), one
    line per labelled size through its training lengths (``scale``), mean and one standard
    deviation over trials; the length each model trains for (``chosen_scale``, one for all or
    one per model) ringed in black."""
    models = list(dict.fromkeys(rounds["model"]))
    fig, axes = _panels(len(models))
    sizes = sorted(rounds["labeled"].unique())
    for ax, model in zip(axes.flat, models):
        at = rounds[rounds["model"] == model]
        chosen = chosen_scale.get(model, 1) if isinstance(chosen_scale, dict) else chosen_scale
        for i, labeled in enumerate(sizes):
            g = at[at["labeled"] == labeled].groupby("scale")
            mean, std, steps = 100 * g["accuracy"].mean(), 100 * g["accuracy"].std().fillna(0), g["steps"].first()
            ax.errorbar(steps, mean, yerr=std, marker="o", ms=4, capsize=3, color=f"C{i}", label=f"{labeled} labels")
            if chosen in steps.index:
                ax.plot(steps[chosen], mean[chosen], "o", ms=10, mfc="none", mec="k", mew=1.5)
        ax.set_xscale("log", base=2)
        ticks = sorted(at["steps"].unique())
        ax.set_xticks(ticks, [str(int(t)) for t in ticks], fontsize=7)
        ax.minorticks_off()
        ax.set(title=model, xlabel="SGD steps per round (log scale)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return _finish_panels(fig, axes, len(models), title)


def gains_by_scale(gains: pd.DataFrame, versus: list[str], title: str) -> Figure:
    """One panel per row of ``versus``: the reference's gain over it (points of accuracy) against
    labelled images (log scale), one line per ``scale`` of ``gains`` (``tables.gains_at_scales``),
    with its 95 % CI where the scale has per-trial records (published means: open markers,
    dashed, no interval); the zero line dashed grey. A scale keeps its colour in every panel."""
    fig, axes = _panels(len(versus))
    colour = {scale: f"C{i}" for i, scale in enumerate(dict.fromkeys(gains["scale"]))}
    for ax, other in zip(axes.flat, versus):
        for scale, g in gains[gains["versus"] == other].groupby("scale", sort=False):
            g = g.sort_values("labeled")
            mean = 100 * g["difference"].to_numpy()
            has_ci = g["ci_low"].notna().to_numpy()
            yerr = np.vstack([np.where(has_ci, mean - 100 * g["ci_low"].to_numpy(), 0),
                              np.where(has_ci, 100 * g["ci_high"].to_numpy() - mean, 0)])
            published = not has_ci.any()
            ax.errorbar(g["labeled"], mean, yerr=None if published else yerr, marker="o", ms=5, capsize=3,
                        color=colour[scale], ls="--" if published else "-", mfc="none" if published else colour[scale],
                        label=scale)
        ax.axhline(0, color="grey", lw=1, ls="--")
        ax.set_xscale("log", base=2)
        ticks = sorted(gains["labeled"].unique())
        ax.set_xticks(ticks, [f"{t / 1000:g}k" if t >= 1000 else str(int(t)) for t in ticks], fontsize=7)
        ax.minorticks_off()
        ax.set(title=f"vs {other}", xlabel="labelled images (log scale)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return _finish_panels(fig, axes, len(versus), title, ylabel="gain (points of %)")


def paired_differences(per_trial: pd.DataFrame, tests: pd.DataFrame, title: str) -> Figure:
    """A forest plot: one row per ``comparison``, each trial's difference (points, in accuracy
    units drawn as points of %) and the mean with its 95 % CI (black); two panels, final
    accuracy (``difference``) and area under the curve (``auc_difference``)."""
    comparisons = list(tests["comparison"])
    fig, axes = plt.subplots(1, 2, figsize=(11, 0.55 * len(comparisons) + 1.6), sharey=True)
    for ax, prefix, name in zip(axes, ("", "auc_"), ("final accuracy", "area under the learning curve")):
        ax.set_title(name, fontsize=9)
        for y, comparison in enumerate(comparisons):
            d = per_trial.loc[per_trial["comparison"] == comparison, f"{prefix}difference"]
            jitter = (np.arange(len(d)) % 5 - 2) * 0.05
            ax.scatter(100 * d.to_numpy(), y + jitter, s=12, color="tab:blue", alpha=0.6, zorder=2)
            row = tests[tests["comparison"] == comparison].iloc[0]
            mean, low, high = (100 * row[f"{prefix}{k}"] for k in ("difference", "ci_low", "ci_high"))
            ax.errorbar(mean, y, xerr=[[mean - low], [high - mean]], fmt="D", color="k", ms=5, capsize=4, zorder=3)
        ax.axvline(0, color="grey", lw=1, ls="--")
        ax.set(xlabel="method minus baseline (points of %)")
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(range(len(comparisons)), comparisons, fontsize=8)
    axes[0].invert_yaxis()
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


STATUS_COLOURS = {  # Okabe-Ito: told apart with any colour vision
    "replicated": "#009E73", "replicated, smaller than in the paper": "#56B4E9",
    "not replicated: no difference": "#E69F00", "contradicted": "#D55E00", "inconclusive": "#999999",
    "too few trials": "#CCCCCC"}


def claims_forest(rows: pd.DataFrame, title: str) -> Figure:
    """The Findings page as a forest plot: one row per comparison behind a claim (``claim_number``,
    ``versus``, ``profile``), its ``effect`` in points with the 95 % CI (``ci_low``, ``ci_high``),
    coloured by ``status``; the paper's effect (``paper_effect``) as an open circle and the row's
    equivalence margin (``margin``) as a shaded band, 0 dashed."""
    rows = rows[(rows["trials"] > 0) & rows["ci_low"].notna()].reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(8, 0.42 * max(len(rows), 1) + 1.6))
    ax.axvline(0, color="grey", lw=1, ls="--")
    for y, r in rows.iterrows():
        if r["margin"] == r["margin"]:
            ax.fill_betweenx([y - 0.4, y + 0.4], -r["margin"], r["margin"], color="grey", alpha=0.15, lw=0)
        if r["paper_effect"] == r["paper_effect"]:
            ax.plot(r["paper_effect"], y, "o", mfc="none", mec="k", ms=7)
        colour = STATUS_COLOURS.get(r["status"], "k")
        ax.errorbar(r["effect"], y, xerr=[[r["effect"] - r["ci_low"]], [r["ci_high"] - r["effect"]]], fmt="D",
                    color=colour, ms=5, capsize=3)
    labels = [f"{r.claim_number}. vs {r.versus} ({r.profile}, {r.trials} trial{'s' * (r.trials != 1)})" for r in rows.itertuples()]
    ax.set_yticks(range(len(rows)), labels, fontsize=8)
    ax.invert_yaxis()
    handles = [plt.Line2D([], [], marker="D", ls="", color=c, label=s) for s, c in STATUS_COLOURS.items()
               if s in set(rows["status"])]
    handles.append(plt.Line2D([], [], marker="o", ls="", mfc="none", mec="k", label="the paper's effect"))
    ax.legend(handles=handles, fontsize=8, loc="best")
    ax.set(xlabel="effect at the budget, points (claim's method minus the other; 95 % CI; shaded: the margin)")
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def label_efficiency(efficiency: pd.DataFrame, title: str) -> Figure:
    """Left: labels each ``method`` needs, per ``condition``, to reach the random baseline's final
    accuracy (``labels``; NaN = never, drawn hatched up to ``budget``). Right: the area under each
    learning curve (``auc``, ``auc_low``, ``auc_high``: mean and 95 % CI over trials)."""
    conditions = list(dict.fromkeys(efficiency["condition"]))
    methods = list(dict.fromkeys(efficiency["method"]))
    width = 0.8 / len(methods)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.0))
    for i, method in enumerate(methods):
        rows = efficiency[efficiency["method"] == method].set_index("condition").reindex(conditions)
        x = np.arange(len(conditions)) + (i - (len(methods) - 1) / 2) * width
        reached, run = rows["labels"].notna().to_numpy(), rows["budget"].notna().to_numpy()
        axes[0].bar(x[reached], rows["labels"].to_numpy()[reached], width, color=f"C{i}", label=method)
        never = run & ~reached
        axes[0].bar(x[never], rows["budget"].to_numpy()[never], width, color=f"C{i}", alpha=0.25, hatch="//", edgecolor=f"C{i}")
        auc = rows["auc"].to_numpy()
        axes[1].errorbar(x, 100 * auc, yerr=[100 * (auc - rows["auc_low"].to_numpy()), 100 * (rows["auc_high"].to_numpy() - auc)],
                         fmt="o", color=f"C{i}", capsize=3, label=method)
    for ax in axes:
        ax.set_xticks(range(len(conditions)), conditions, fontsize=7, rotation=15)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set(ylabel="labels to reach random's final accuracy", title="label efficiency (hatched: never reached)")
    axes[1].set(ylabel="mean accuracy over the budget (%)", title="area under the learning curve")
    axes[1].legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def save(fig: Figure, results_dir: str | os.PathLike, name: str) -> list[Path]:
    """Write ``figures/<name>.png`` (150 dpi) and ``.pdf`` under ``results_dir``; the PDF without a
    creation date, so that re-drawing the same figure rewrites the same bytes."""
    folder = Path(results_dir) / "figures"
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{name}.png", folder / f"{name}.pdf"]
    fig.savefig(paths[0], dpi=150)
    fig.savefig(paths[1], metadata={"CreationDate": None})
    plt.close(fig)  # out of pyplot's hands: a notebook then shows it only where it is glued
    return paths
