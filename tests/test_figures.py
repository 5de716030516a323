"""The figures read at the book's page width, in colours told apart with any colour vision, and
with doubling schedules on base-2 axes (dpe.study.figures in dpe.study.style), each drawn from a small hand-built
frame shaped as the notebooks feed it."""

from __future__ import annotations

import math

import matplotlib.colors
import matplotlib.text
import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from dpe.study import figures, style

BOOK_PX = 800  # the widest the book shows a figure: the content column at a 1400 px window
MIN_PX = 8


def _summary(labels, sizes, base=0.6):
    """A learning-curve summary (label, labeled, mean, std, trials) rising with size."""
    return pd.DataFrame([{"label": label, "labeled": n, "mean": base + 0.01 * i + 0.02 * j, "std": 0.01, "trials": 3}
                         for i, label in enumerate(labels) for j, n in enumerate(sizes)])


L2_LABELS = ["deterministic R", "deterministic H_ens", "l2-ensemble R", "l2-ensemble H_ens", "dpe R", "dpe H_ens"]
ROB_METHODS = ["DPE + R", "DPE + H_ens", "MC dropout + R", "MC dropout + H_ens", "DPE + core-set"]
CONDITIONS = ["base (start 100, step 100)", "start 50, step 50", "strong augmentation"]


def _l2_curves():
    upper = pd.Series({"label": "dpe Upper bound", "labeled": 6000, "mean": 0.92, "std": 0.002})
    return figures.learning_curves(_summary(L2_LABELS, [100, 200, 400, 800]), "Deterministic, L2 ensemble and DPE "
                                   "(fashion-mnist, profile quick)", upper=upper)


def _paper_curves():
    published = _summary(["dpe R", "dpe H_ens"], [4000, 8000, 16000], base=0.8)
    return figures.learning_curves(_summary(["dpe R", "dpe H_ens"], [2000, 4000, 8000, 16000]), "t", paper=published)


def _growth_curves():
    curves = pd.concat([_summary(["Random (b=100)", "Linear-8"], range(100, 900, 100)),
                        _summary(["Exponential-4"], [100, 200, 400, 800])])
    return figures.learning_curves(curves, "Growth schedules", upper=pd.Series({"mean": 0.9, "std": 0.01}))


def _segmentation_curves():
    return figures.learning_curves(_summary(["l2-ensemble R", "dpe H_ens", "dpe V_w (Bag)"], [96, 192, 384, 768]),
                                   "Active segmentation", ylabel="mIoU (%)", xlabel="labelled crops")


def _metric_by():
    by = pd.DataFrame([{"members": m, "labeled": n, "mean": 60 + m + n / 100, "std": 1.0} for m in (2, 4, 8) for n in (100, 800)])
    return figures.metric_by(by, "members", "DPE + H_ens by ensemble size (fashion-mnist, profile quick)", "test accuracy (%)")


def _reliability():
    bins = {label: {"confidence": [0.25, 0.55, 0.85], "accuracy": [0.2, 0.5, 0.9], "count": [0, 4, 9]} for label in ("l2-ensemble", "dpe")}
    return figures.reliability_diagram(bins, "Reliability at 800 labels (trial 0)")


def _pixels():
    counts = pd.Series([10 ** k for k in range(6, 0, -1)], index=["sky", "ground", "T-shirt/top", "Trouser", "Sneaker", "Ankle boot"])
    return figures.pixels_per_class(counts, "Pixels per class in the pool (synthetic)")


def _crops():
    return figures.queried_crops(torch.zeros((3, 48, 64), dtype=torch.uint8), [1, 5], "Pool image 0: crops queried (red)")


def _by_condition():
    rows = [{"condition": c, "method": m, "labeled": n, "mean": 0.6 + 0.02 * j, "ci_low": 0.58 + 0.02 * j, "ci_high": 0.62 + 0.02 * j}
            for c in CONDITIONS for m in (ROB_METHODS if c == CONDITIONS[0] else ROB_METHODS[:2])
            for j, n in enumerate([50, 100, 200, 400, 800] if c == "start 50, step 50" else [100, 200, 400, 800])]
    return figures.curves_by_condition(pd.DataFrame(rows), "DPE + H_ens, random sampling, MC dropout and core-set")


def _convergence():
    rows = [{"model": model, "labeled": n, "scale": s, "trial": t, "accuracy": 0.6 + 0.01 * s + 0.001 * t,
             "steps": s * (600 if n == 800 else 500)}
            for model in ("dpe", "l2-ensemble", "deterministic") for n in (100, 200, 400, 800) for s in (1, 2, 4, 8) for t in (0, 1)]
    return figures.convergence_curves(pd.DataFrame(rows), "Accuracy against training length, random sampling", {"dpe": 2})


def _gains():
    def gain(scale, versus, n, d, ci=0.01):
        return {"scale": scale, "labeled": n, "versus": versus, "trials": 3, "difference": d,
                "ci_low": d - ci if ci else math.nan, "ci_high": d + ci if ci else math.nan}
    versus = ["dpe R", "l2-ensemble H_ens", "deterministic H_ens"]
    rows = ([gain("quick", v, n, 0.02) for v in versus for n in (200, 400, 800)]
            + [gain("paper (CIFAR-10)", v, n, 0.03, ci=None) for v in versus for n in (4000, 8000, 16000)])
    return figures.gains_by_scale(pd.DataFrame(rows), versus, "DPE + H_ens against three rows, at each scale")


def _paired():
    comparisons = [f"{c}: DPE + H_ens vs DPE + R" for c in CONDITIONS] + ["base (start 100, step 100): MC dropout + H_ens vs MC dropout + R"]
    per_trial = pd.DataFrame([{"comparison": c, "trial": t, "difference": 0.01 * t, "auc_difference": 0.005 * t}
                              for c in comparisons for t in range(5)])
    tests = pd.DataFrame([{"comparison": c, **{f"{p}{k}": v for p in ("", "auc_") for k, v in
                                                (("difference", 0.02), ("ci_low", 0.0), ("ci_high", 0.04))}} for c in comparisons])
    return figures.paired_differences(per_trial, tests, "Paired differences per trial (fashion-mnist, profile quick)")


def _forest():
    statuses = list(style.STATUS_COLOURS)
    rows = pd.DataFrame([{"claim_number": i + 1, "versus": f"DPE + R ({CONDITIONS[i % 3]})", "profile": "quick", "trials": 3,
                          "effect": 1.0 + i, "ci_low": 0.5 + i, "ci_high": 1.5 + i, "paper_effect": 3.25 if i % 2 else math.nan,
                          "margin": 1.0, "status": s} for i, s in enumerate(statuses)])
    return figures.claims_forest(rows, "The paper's claims against this study's records")


def _efficiency():
    rows = [{"condition": c, "method": m, "target": 0.84, "budget": 800, "labels": math.nan if m.endswith("+ R") and i else 400.0 + 10 * i,
             "auc": 0.8, "auc_low": 0.79, "auc_high": 0.81} for c in CONDITIONS for i, m in enumerate(ROB_METHODS)]
    return figures.label_efficiency(pd.DataFrame(rows), "Label efficiency (fashion-mnist, profile quick)")


FIGURES = {"learning_curves": _l2_curves, "learning_curves with the paper": _paper_curves, "growth": _growth_curves,
           "segmentation": _segmentation_curves, "metric_by": _metric_by, "reliability_diagram": _reliability,
           "pixels_per_class": _pixels, "queried_crops": _crops, "curves_by_condition": _by_condition,
           "convergence_curves": _convergence, "gains_by_scale": _gains, "paired_differences": _paired,
           "claims_forest": _forest, "label_efficiency": _efficiency}


@pytest.fixture
def draw():
    """Draw a figure and close it afterwards, whatever the test asserts."""
    drawn = []

    def make(build):
        drawn.append(build())
        return drawn[-1]
    yield make
    for fig in drawn:
        figures.plt.close(fig)


def test_every_public_figure_function_is_drawn_here():
    public = {name for name in figures.__all__ if callable(getattr(figures, name)) and name[0].islower()}
    helpers = {"save"}
    covered = {name for name in public - helpers
               if any(f"figures.{name}(" in _source(build) for build in FIGURES.values())}
    assert covered == public - helpers


def _source(build) -> str:
    import inspect

    return inspect.getsource(build)


def _texts(fig):
    """Every text the figure shows: visible, not blank (tick labels are made by drawing)."""
    fig.draw_without_rendering()
    return [t for t in fig.findobj(matplotlib.text.Text) if t.get_visible() and t.get_text().strip()]


def _shown_px(fig, points: float) -> float:
    """CSS px of a ``points`` text in the book: the PNG at ``save``'s dpi, shrunk to the page."""
    width_px = fig.get_figwidth() * style.DPI
    return points * style.DPI / 72 * min(1, BOOK_PX / width_px)


@pytest.mark.parametrize("name", FIGURES)
def test_no_text_reads_under_8_px_at_the_page_width(name, draw):
    """Tick labels, legends, titles, annotations: 8 CSS px or more where the book shows the PNG
    at most 800 px wide, and 8 pt or more, so also 8 px or more in the inline backend's
    rendering the book glues (100 dpi, no wider than the page at 8 in)."""
    fig = draw(FIGURES[name])
    texts = _texts(fig)
    assert len(texts) >= 4  # a title, axis labels, tick labels at least
    small = [(t.get_text()[:30], round(t.get_fontsize(), 1), round(_shown_px(fig, t.get_fontsize()), 1)) for t in texts
             if _shown_px(fig, t.get_fontsize()) < MIN_PX or t.get_fontsize() < style.MIN_PT]
    assert not small, f"{name}: texts under {MIN_PX} px or {style.MIN_PT} pt: {small}"
    assert style.MIN_PT >= 8


def test_save_writes_the_png_at_the_dpi_the_check_assumes(tmp_path):
    fig, ax = figures.plt.subplots(figsize=(2, 1))
    png, _ = figures.save(fig, tmp_path, "f")
    assert Image.open(png).size == (2 * style.DPI, 1 * style.DPI)


def _rgb(colour):
    return np.array(matplotlib.colors.to_rgb(colour))


def _line_colours(ax) -> dict[str, np.ndarray]:
    """The colour of each labelled line of ``ax``: error-bar containers and plain lines."""
    colours = {c.get_label(): _rgb(c.lines[0].get_color()) for c in ax.containers if c.lines[0] is not None}
    colours.update({line.get_label(): _rgb(line.get_color()) for line in ax.lines if not line.get_label().startswith("_")})
    return colours


def test_the_methods_a_figure_compares_differ_most(draw):
    """DPE + H_ens against the L2 ensemble + H_ens (the L2-vs-DPE chapter) and against random
    sampling: far apart in RGB, not red beside brown."""
    colours = _line_colours(draw(_l2_curves).axes[0])
    assert set(L2_LABELS) <= set(colours)
    assert np.linalg.norm(colours["dpe H_ens"] - colours["l2-ensemble H_ens"]) > 0.3
    assert np.linalg.norm(colours["dpe H_ens"] - colours["dpe R"]) > 0.3
    assert np.linalg.norm(colours["dpe H_ens"] - colours["deterministic H_ens"]) > 0.3
    robustness = _line_colours(draw(_by_condition).axes[0])
    assert np.linalg.norm(robustness["DPE + H_ens"] - robustness["DPE + R"]) > 0.3
    assert np.linalg.norm(robustness["DPE + core-set"] - robustness["DPE + R"]) > 0.3


def test_every_line_of_a_figure_has_its_own_look(draw):
    """Six lines of the L2-vs-DPE figure: no two alike in colour, line and marker."""
    ax = draw(_l2_curves).axes[0]
    looks = {(matplotlib.colors.to_hex(c.lines[0].get_color()), str(c.lines[0].get_linestyle()), c.lines[0].get_marker())
             for c in ax.containers}
    assert len(looks) == len(ax.containers) == len(L2_LABELS)


def test_a_method_keeps_its_colour_across_figures(draw):
    """One mapping: DPE + H_ens, random sampling and MC dropout look alike in every chapter,
    however the chapter spells them."""
    l2 = _line_colours(draw(_l2_curves).axes[0])
    robustness = _line_colours(draw(_by_condition).axes[0])
    reliability = _line_colours(draw(_reliability).axes[0])
    efficiency = draw(_efficiency)
    bars = {c.get_label(): _rgb(c.patches[0].get_facecolor()[:3]) for c in efficiency.axes[0].containers
            if c.patches and not c.get_label().startswith("_")}
    dpe = style.METHOD_COLOURS["DPE + H_ens"]
    for colour in (l2["dpe H_ens"], robustness["DPE + H_ens"], reliability["dpe"], bars["DPE + H_ens"]):
        assert np.allclose(colour, _rgb(dpe))
    for colour in (l2["dpe R"], robustness["DPE + R"], bars["DPE + R"]):
        assert np.allclose(colour, _rgb(style.METHOD_COLOURS["random sampling"]))
    assert np.allclose(l2["l2-ensemble H_ens"], reliability["l2-ensemble"])
    assert np.allclose(robustness["MC dropout + R"], robustness["MC dropout + H_ens"])  # one model, R dotted
    assert style.method_style("MC dropout + R")["ls"] != style.method_style("MC dropout + H_ens")["ls"]


def test_the_palette_is_okabe_ito():
    allowed = {c.lower() for c in style.OKABE_ITO.values()} | {style.GREY.lower()}
    assert {c.lower() for c in style.METHOD_COLOURS.values()} <= allowed
    coloured = [c for s, c in style.STATUS_COLOURS.items() if s not in ("inconclusive", "too few trials")]
    assert {c.lower() for c in coloured} <= allowed


def test_claims_forest_statuses_differ_in_colour_and_shape(draw):
    """Each status its own colour and its own marker, the legend says which; the paper's effect an
    open black circle."""
    assert len(set(style.STATUS_COLOURS.values())) == len(style.STATUS_COLOURS)
    assert set(style.STATUS_MARKERS) == set(style.STATUS_COLOURS)
    assert len(set(style.STATUS_MARKERS.values())) == len(style.STATUS_MARKERS)
    fig = draw(_forest)
    legend = fig.legends[0]
    assert [t.get_text() for t in legend.get_texts()] == list(style.STATUS_COLOURS) + ["the paper's effect"]
    paper = [line for line in fig.axes[0].lines if line.get_marker() == "o" and line.get_markerfacecolor() == "none"]
    assert len(paper) == len(style.STATUS_COLOURS) // 2  # the rows with a paper effect (every other one)


@pytest.mark.parametrize("build, ticks", [
    (_l2_curves, ["100", "200", "400", "800"]),
    (_paper_curves, ["2k", "4k", "8k", "16k"]),
    (_segmentation_curves, ["96", "192", "384", "768"]),
])
def test_doubling_sizes_go_on_a_base_2_axis_ticked_at_the_sizes(build, ticks, draw):
    ax = draw(build).axes[0]
    assert ax.get_xscale() == "log" and ax.xaxis.get_transform().base == 2
    assert [t.get_text() for t in ax.get_xticklabels()] == ticks
    assert "log scale" in ax.get_xlabel()


def test_panels_of_doubling_sizes_are_base_2_too(draw):
    for build in (_by_condition, _gains, _convergence):
        fig = draw(build)
        for ax in fig.axes:
            if ax.axison:
                assert ax.get_xscale() == "log" and ax.xaxis.get_transform().base == 2
    labels = [t.get_text() for t in draw(_gains).axes[0].get_xticklabels()]
    assert labels == ["200", "400", "800", "4k", "8k", "16k"]


def test_a_linear_schedule_stays_linear():
    """The growth chapter's sizes, every 100 up to 800: mostly not doubling."""
    assert not style.doubling(range(100, 900, 100))
    assert style.doubling([2000, 4000, 8000, 16000]) and style.doubling([100, 200, 400, 800, 4000, 8000])
    assert not style.doubling([100, 200])
    fig = _growth_curves()
    assert fig.axes[0].get_xscale() == "linear"
    figures.plt.close(fig)


def test_the_papers_values_are_drawn_beside_ours(draw):
    """learning_curves(paper=...): open markers joined dashed, in the method's colour; gains_by_scale:
    the published gains black, open, dashed, without interval."""
    ax = draw(_paper_curves).axes[0]
    ours = _line_colours(ax)
    in_bars = {id(line) for c in ax.containers for line in c.lines if line is not None and not isinstance(line, tuple)}
    published = [line for line in ax.lines if id(line) not in in_bars and line.get_label().startswith("_")
                 and line.get_linestyle() == "--" and line.get_markerfacecolor() == "white"]
    assert len(published) == 2
    assert {matplotlib.colors.to_hex(line.get_color()) for line in published} == {
        matplotlib.colors.to_hex(ours["dpe R"]), matplotlib.colors.to_hex(ours["dpe H_ens"])}
    assert list(published[0].get_xdata()) == [4000, 8000, 16000]
    paper = next(c for c in draw(_gains).axes[0].containers if c.get_label() == "paper (CIFAR-10)")
    assert matplotlib.colors.to_hex(paper.lines[0].get_color()) == "#000000" and paper.lines[0].get_linestyle() == "--"
    assert not paper.has_yerr
