"""One function per figure, each fed by a tidy DataFrame; ``save`` writes PNG and PDF.

The backend is never forced here: notebooks keep their inline backend, so the book shows
the figures as images (see BOOK.md). ``save`` closes the figure in pyplot, so the inline
backend does not show it a second time when the cell ends; glue still renders it.
Every figure is drawn in the book's one style (``dpe.study.style``).
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from dpe.study.style import (
    CYCLE, DPI, OKABE_ITO, PAGE_WIDTH_IN, STATUS_COLOURS, STATUS_MARKERS, finish_panels, legend_below, method_styles,
    panels, size_axis, size_colours, styled, wrap,
)

__all__ = [
    "claims_forest", "convergence_curves", "curves_by_condition", "gains_by_scale", "label_efficiency", "learning_curves",
    "metric_by", "paired_differences", "pixels_per_class", "queried_crops", "reliability_diagram", "save",
]

@styled
def learning_curves(
    summary: pd.DataFrame, title: str, upper: pd.Series | None = None, hue: str = "label",
    ylabel: str = "test accuracy (%)", xlabel: str = "labelled images", paper: pd.DataFrame | None = None,
    logx: bool | None = None,
) -> Figure:
    """A metric (a fraction, drawn in %) against labelled images, one line per ``hue`` in its
    method's style (``method_style``) with error bars of one standard deviation over trials;
    ``upper`` (mean, std) draws the upper bound dashed black; ``paper`` (``hue``, ``labeled``,
    ``mean``: the published means, a fraction) draws the paper's curves beside ours, open markers
    joined dashed in each method's colour. The x axis is base 2 where the sizes double (``logx``
    None: decided by ``doubling``), ticked at the sizes; the legend right of the plot."""
    fig, ax = plt.subplots(figsize=(PAGE_WIDTH_IN, 4.2), layout="constrained")
    labels = list(dict.fromkeys(summary[hue]))
    published = paper[paper[hue].isin(labels)] if paper is not None else None
    styles = method_styles(labels)
    for label, g in summary.groupby(hue, sort=False):
        g = g.sort_values("labeled")
        s = styles[label]
        ax.errorbar(g["labeled"], 100 * g["mean"], yerr=100 * g["std"].fillna(0), marker=s["marker"], ms=5, capsize=3,
                    color=s["color"], ls=s["ls"], mfc=s["mfc"], lw=1.6, label=label)
    if published is not None and len(published):
        for label, g in published.groupby(hue, sort=False):
            g = g.sort_values("labeled")
            ax.plot(g["labeled"], 100 * g["mean"], marker=styles[label]["marker"], ms=6, mfc="white", ls="--", lw=1,
                    color=styles[label]["color"])
        ax.plot([], [], marker="o", ms=6, mfc="white", ls="--", lw=1, color="k", label="the paper (published means)")
    if upper is not None:
        ax.axhline(100 * upper["mean"], ls="--", color="k", lw=1, label="Upper bound (all labels)")
    sizes = list(summary["labeled"]) + (list(published["labeled"]) if published is not None else [])
    log2 = size_axis(ax, sizes, logx)
    ax.set(xlabel=xlabel + (" (log scale)" if log2 else ""), ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    handles = dict(zip(*ax.get_legend_handles_labels()[::-1]))
    order = sorted(handles, key=lambda k: k not in labels)  # the lines first, then the bound and the paper
    fig.legend([handles[k] for k in order], order, loc="outside right upper")  # beside the plot: it hides no line
    return fig


@styled
def metric_by(summary: pd.DataFrame, x: str, title: str, ylabel: str, logx: bool = False, hue: str = "labeled") -> Figure:
    """A metric's mean (error bars: std over trials) against a setting such as members or beta,
    one line per ``hue`` (labelled sizes: ``size_colours``), the legend right of the plot."""
    fig, ax = plt.subplots(figsize=(6.4, 3.6), layout="constrained")
    colours = size_colours(summary[hue])
    for label, g in summary.groupby(hue, sort=True):
        g = g.sort_values(x)
        ax.errorbar(g[x], g["mean"], yerr=g["std"].fillna(0), marker="o", ms=5, capsize=3, color=colours[label],
                    label=f"{label} labels")
    if logx:
        ax.set_xscale("log")
    else:
        values = sorted(summary[x].unique())
        if len(values) <= 10:
            ax.set_xticks(values, [f"{v:g}" for v in values])
    ax.set(xlabel=x, ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    fig.legend(loc="outside right upper")  # beside the plot: it hides no line
    return fig


@styled
def reliability_diagram(bins: dict[str, dict], title: str) -> Figure:
    """Accuracy against confidence per confidence bin, one line per model (``method_style``); the
    dashed diagonal is perfect calibration. ``bins[label]`` is a record's ``reliability`` dict."""
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="perfectly calibrated")
    styles = method_styles(bins)
    for label, b in bins.items():
        kept = [(c, a) for c, a, n in zip(b["confidence"], b["accuracy"], b["count"]) if n > 0]
        s = styles[label]
        ax.plot(*zip(*kept), marker=s["marker"], ms=5, color=s["color"], ls=s["ls"], mfc=s["mfc"], label=label)
    ax.set(xlabel="confidence of the mean prediction", ylabel="accuracy", xlim=(0, 1), ylim=(0, 1), title=title)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    fig.tight_layout()
    return fig


@styled
def pixels_per_class(counts: pd.Series, title: str) -> Figure:
    """Fig. 4: labelled pixels of each class (``counts`` indexed by class name), log scale."""
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    ax.bar(range(len(counts)), counts.to_numpy(), color=OKABE_ITO["blue"])
    ax.set_yscale("log")
    ax.set_xticks(range(len(counts)), counts.index, rotation=60, ha="right")
    ax.set(ylabel="pixels (log scale)", title=title)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


@styled
def queried_crops(image, selected: list[int], title: str, grid: tuple[int, int] = (3, 4)) -> Figure:
    """Fig. 3: an image (3, H, W) uint8 with its 4 x 3 grid of crops, the queried ones (crop
    indices 4 * row + column) outlined in red (Okabe-Ito vermillion) and the others in blue."""
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
                               edgecolor=OKABE_ITO["vermillion"] if queried else OKABE_ITO["blue"], zorder=3 if queried else 2))
    ax.set_axis_off()
    ax.set_title(title)
    fig.tight_layout()
    return fig


@styled
def curves_by_condition(summary: pd.DataFrame, title: str) -> Figure:
    """One panel per ``condition``: accuracy (%) against labelled images (base-2 log scale where
    the sizes double), one line per ``method`` in its style (``method_style``), shaded by the 95 %
    confidence interval of the mean (``ci_low``, ``ci_high``); one legend for all panels."""
    conditions = list(dict.fromkeys(summary["condition"]))
    fig, axes = panels(len(conditions))
    styles = method_styles(dict.fromkeys(summary["method"]))
    for ax, condition in zip(axes.flat, conditions):
        for method, g in summary[summary["condition"] == condition].groupby("method", sort=False):
            g = g.sort_values("labeled")
            s = styles[method]
            ax.plot(g["labeled"], 100 * g["mean"], marker=s["marker"], ms=4, color=s["color"], ls=s["ls"], mfc=s["mfc"],
                    lw=1.5, label=method)
            ax.fill_between(g["labeled"], 100 * g["ci_low"], 100 * g["ci_high"], color=s["color"], alpha=0.15, lw=0)
        log2 = size_axis(ax, summary.loc[summary["condition"] == condition, "labeled"])
        ax.set(title=condition, xlabel="labelled images" + (" (log scale)" if log2 else ""))
        ax.grid(alpha=0.3)
    return finish_panels(fig, axes, len(conditions), title)


@styled
def convergence_curves(rounds: pd.DataFrame, title: str, chosen_scale: int | dict[str, int] = 1) -> Figure:
    """One panel per ``model``: test accuracy (%) against SGD steps per round (base-2 log scale),
    one line per labelled size (``size_colours``) through its training lengths (``scale``), mean
    and one standard deviation over trials; the length each model trains for (``chosen_scale``,
    one for all or one per model) ringed in black; one legend for all panels."""
    models = list(dict.fromkeys(rounds["model"]))
    fig, axes = panels(len(models))
    sizes = sorted(rounds["labeled"].unique())
    colours = size_colours(sizes)
    for ax, model in zip(axes.flat, models):
        at = rounds[rounds["model"] == model]
        chosen = chosen_scale.get(model, 1) if isinstance(chosen_scale, dict) else chosen_scale
        for labeled in sizes:
            g = at[at["labeled"] == labeled].groupby("scale")
            mean, std, steps = 100 * g["accuracy"].mean(), 100 * g["accuracy"].std().fillna(0), g["steps"].first()
            ax.errorbar(steps, mean, yerr=std, marker="o", ms=4, capsize=3, color=colours[labeled], label=f"{labeled} labels")
            if chosen in steps.index:
                ax.plot(steps[chosen], mean[chosen], "o", ms=10, mfc="none", mec="k", mew=1.5)
        size_axis(ax, at["steps"], log2=True)
        ax.set(title=model, xlabel="SGD steps per round (log scale)")
        ax.grid(alpha=0.3)
    ring = Line2D([], [], marker="o", ls="", ms=10, mfc="none", mec="k", mew=1.5, label="the length trained for")
    return finish_panels(fig, axes, len(models), title, extra=[ring])


def _scale_colours(gains: pd.DataFrame) -> dict[str, str]:
    """A colour per scale, the same in every panel: the paper's published gains (a scale with no
    interval anywhere, or verdict "published means") black, as the paper's numbers everywhere."""
    colours, ours = {}, iter(CYCLE[:-1])
    for scale, g in gains.groupby("scale", sort=False):
        published = g["ci_low"].isna().all() or ("verdict" in g and (g["verdict"] == "published means").all())
        colours[scale] = "k" if published else next(ours, "grey")
    return colours


@styled
def gains_by_scale(gains: pd.DataFrame, versus: list[str], title: str) -> Figure:
    """One panel per row of ``versus``: the reference's gain over it (points of accuracy) against
    labelled images (base-2 log scale), one line per ``scale`` of ``gains`` (``scales.gains_at_scales``),
    with its 95 % CI where the scale has per-trial records (published means: black, open markers,
    dashed, no interval); the zero line dashed grey. A scale keeps its colour in every panel; one
    legend for all panels."""
    fig, axes = panels(len(versus))
    colour = _scale_colours(gains)
    for ax, other in zip(axes.flat, versus):
        for scale, g in gains[gains["versus"] == other].groupby("scale", sort=False):
            g = g.sort_values("labeled")
            mean = 100 * g["difference"].to_numpy()
            has_ci = g["ci_low"].notna().to_numpy()
            yerr = np.vstack([np.where(has_ci, mean - 100 * g["ci_low"].to_numpy(), 0),
                              np.where(has_ci, 100 * g["ci_high"].to_numpy() - mean, 0)])
            published = not has_ci.any()
            ax.errorbar(g["labeled"], mean, yerr=None if published else yerr, marker="o", ms=5, capsize=3,
                        color=colour[scale], ls="--" if published else "-", mfc="white" if published else colour[scale],
                        label=scale)
        ax.axhline(0, color="grey", lw=1, ls="--")
        size_axis(ax, gains["labeled"], log2=True)
        ax.set(title=f"vs {other}", xlabel="labelled images (log scale)")
        ax.grid(alpha=0.3)
    return finish_panels(fig, axes, len(versus), title, ylabel="gain (points of %)")


@styled
def paired_differences(per_trial: pd.DataFrame, tests: pd.DataFrame, title: str) -> Figure:
    """A forest plot: one row per ``comparison``, each trial's difference (points, in accuracy
    units drawn as points of %; blue) and the mean with its 95 % CI (black); two panels, final
    accuracy (``difference``) and area under the curve (``auc_difference``)."""
    comparisons = list(tests["comparison"])
    fig, axes = plt.subplots(1, 2, figsize=(PAGE_WIDTH_IN, 0.6 * len(comparisons) + 1.6), sharey=True, layout="constrained")
    for ax, prefix, name in zip(axes, ("", "auc_"), ("final accuracy", "area under the learning curve")):
        ax.set_title(name)
        for y, comparison in enumerate(comparisons):
            d = per_trial.loc[per_trial["comparison"] == comparison, f"{prefix}difference"]
            jitter = (np.arange(len(d)) % 5 - 2) * 0.05
            ax.scatter(100 * d.to_numpy(), y + jitter, s=14, color=OKABE_ITO["blue"], alpha=0.6, lw=0, zorder=2)
            row = tests[tests["comparison"] == comparison].iloc[0]
            mean, low, high = (100 * row[f"{prefix}{k}"] for k in ("difference", "ci_low", "ci_high"))
            ax.errorbar(mean, y, xerr=[[mean - low], [high - mean]], fmt="D", color="k", ms=5, capsize=4, zorder=3)
        ax.axvline(0, color="grey", lw=1, ls="--")
        ax.set(xlabel="method minus baseline\n(points of %)")
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(range(len(comparisons)), [c.replace(": ", ":\n", 1) for c in comparisons])
    axes[0].invert_yaxis()
    fig.suptitle(title)
    return fig


@styled
def claims_forest(rows: pd.DataFrame, title: str) -> Figure:
    """The Findings page as a forest plot: one row per comparison behind a claim (``claim_number``,
    ``versus``, ``profile``), its ``effect`` in points with the 95 % CI (``ci_low``, ``ci_high``),
    coloured and shaped by ``status`` (``STATUS_COLOURS``, ``STATUS_MARKERS``); the paper's effect
    (``paper_effect``) as an open circle and the row's equivalence margin (``margin``) as a shaded
    band, 0 dashed; the legend under the plot."""
    rows = rows[(rows["trials"] > 0) & rows["ci_low"].notna()].reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(PAGE_WIDTH_IN, 0.36 * max(len(rows), 1) + 2.0), layout="constrained")
    ax.axvline(0, color="grey", lw=1, ls="--")
    for y, r in rows.iterrows():
        if r["margin"] == r["margin"]:
            ax.fill_betweenx([y - 0.4, y + 0.4], -r["margin"], r["margin"], color="grey", alpha=0.15, lw=0)
        if r["paper_effect"] == r["paper_effect"]:
            ax.plot(r["paper_effect"], y, "o", mfc="none", mec="k", ms=7, zorder=3)
        colour = STATUS_COLOURS.get(r["status"], "k")
        ax.errorbar(r["effect"], y, xerr=[[r["effect"] - r["ci_low"]], [r["ci_high"] - r["effect"]]],
                    fmt=STATUS_MARKERS.get(r["status"], "D"), color=colour, ms=6, capsize=3, zorder=4)
    labels = [f"{r.claim_number}. vs {r.versus} ({r.profile}, {r.trials} trial{'s' * (r.trials != 1)})" for r in rows.itertuples()]
    ax.set_yticks(range(len(rows)), labels)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    handles = [Line2D([], [], marker=STATUS_MARKERS[s], ls="", ms=6, color=c, label=s) for s, c in STATUS_COLOURS.items()
               if s in set(rows["status"])]
    handles.append(Line2D([], [], marker="o", ls="", mfc="none", mec="k", ms=7, label="the paper's effect"))
    legend_below(fig, handles, [h.get_label() for h in handles], ncol=2)
    ax.set(xlabel="effect at the budget, points (the claim's method minus the other)\n95 % CI; shaded: the margin")
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(title)
    return fig


@styled
def label_efficiency(efficiency: pd.DataFrame, title: str) -> Figure:
    """Left: labels each ``method`` needs, per ``condition``, to reach the random baseline's final
    accuracy (``labels``; NaN = never, drawn hatched up to ``budget``). Right: the area under each
    learning curve (``auc``, ``auc_low``, ``auc_high``: mean and 95 % CI over trials). Methods in
    their styles (``method_style``), one legend under both panels."""
    conditions = list(dict.fromkeys(efficiency["condition"]))
    methods = list(dict.fromkeys(efficiency["method"]))
    styles = method_styles(methods)
    width = 0.8 / len(methods)
    fig, axes = plt.subplots(1, 2, figsize=(PAGE_WIDTH_IN, 4.4), layout="constrained")
    for i, method in enumerate(methods):
        colour = styles[method]["color"]
        rows = efficiency[efficiency["method"] == method].set_index("condition").reindex(conditions)
        x = np.arange(len(conditions)) + (i - (len(methods) - 1) / 2) * width
        reached, run = rows["labels"].notna().to_numpy(), rows["budget"].notna().to_numpy()
        axes[0].bar(x[reached], rows["labels"].to_numpy()[reached], width, color=colour, label=method)
        never = run & ~reached
        axes[0].bar(x[never], rows["budget"].to_numpy()[never], width, color=colour, alpha=0.25, hatch="//", edgecolor=colour)
        auc = rows["auc"].to_numpy()
        axes[1].errorbar(x, 100 * auc, yerr=[100 * (auc - rows["auc_low"].to_numpy()), 100 * (rows["auc_high"].to_numpy() - auc)],
                         fmt=styles[method]["marker"], color=colour, mfc=styles[method]["mfc"], ms=6, capsize=3, label=method)
    for ax in axes:
        ax.set_xticks(range(len(conditions)), [wrap(c, 16) for c in conditions])
        ax.grid(axis="y", alpha=0.3)
    axes[0].set(ylabel="labels to reach random's final accuracy", title="label efficiency\n(hatched: never reached)")
    axes[1].set(ylabel="mean accuracy over the budget (%)", title="area under the learning curve")
    legend_below(fig, *axes[1].get_legend_handles_labels())
    fig.suptitle(title)
    return fig


def save(fig: Figure, results_dir: str | os.PathLike, name: str) -> list[Path]:
    """Write ``figures/<name>.png`` (``DPI``, 150 dpi) and ``.pdf`` under ``results_dir``; the PDF
    without a creation date, so that re-drawing the same figure rewrites the same bytes."""
    folder = Path(results_dir) / "figures"
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{name}.png", folder / f"{name}.pdf"]
    fig.savefig(paths[0], dpi=DPI)
    fig.savefig(paths[1], metadata={"CreationDate": None})
    plt.close(fig)  # out of pyplot's hands: a notebook then shows it only where it is glued
    return paths
