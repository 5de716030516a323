"""The one style of every figure of the book: sizes, palette, a method's look, size axes, panels.

Every figure is drawn in it (``styled``): at most ``PAGE_WIDTH_IN`` wide and no text under
``MIN_PT`` points, so that the book (at most ``PAGE_WIDTH_PX`` CSS px wide, the content column
of sphinx-book-theme at a 1400 px window) shows no text under 8 px, whether it shows the ``DPI``
PNG of ``dpe.study.figures.save`` or the inline backend's rendering; colours from the Okabe-Ito
palette, told apart with any colour vision. A method keeps its colour in every figure
(``method_style``: ``METHOD_COLOURS``, random sampling dotted with open squares), a labelled size
its colour of ``size_colours``, a study status its colour and marker (``STATUS_COLOURS``,
``STATUS_MARKERS``), and the paper's published numbers are drawn open (dashed where they are
joined). Labelled sizes that double (``doubling``) go on a base-2 log axis, ticked at the sizes.
"""

from __future__ import annotations

import functools
import re
import textwrap

import matplotlib.pyplot as plt
import numpy as np
from cycler import cycler
from matplotlib.figure import Figure

__all__ = [
    "CYCLE", "DPI", "GREY", "METHOD_COLOURS", "MIN_PT", "OKABE_ITO", "PAGE_WIDTH_IN", "PAGE_WIDTH_PX", "RC",
    "STATUS_COLOURS", "STATUS_MARKERS", "doubling", "finish_panels", "legend_below", "method_style", "method_styles",
    "panels", "size_axis", "size_colours", "size_text", "styled", "wrap",
]

DPI = 150  # the PNG's resolution (``save``)
PAGE_WIDTH_PX = 800  # the widest the book shows a figure (CSS px)
PAGE_WIDTH_IN = 8.0  # the widest figure drawn here: at DPI, shown at 2/3 of its size
MIN_PT = 8.0  # the smallest text: 11 px at PAGE_WIDTH_IN, 8 px or more at any dpi >= 72 unshrunk

OKABE_ITO = {  # Okabe & Ito (2008), "Color Universal Design"
    "black": "#000000", "orange": "#E69F00", "sky blue": "#56B4E9", "bluish green": "#009E73",
    "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00", "reddish purple": "#CC79A7",
}
GREY = "#6E6E6E"  # random sampling: the baseline every method is held against
CYCLE = [OKABE_ITO[c] for c in ("blue", "orange", "bluish green", "reddish purple", "sky blue", "vermillion", "black")]

METHOD_COLOURS = {  # the one mapping of a method to its colour, in every figure
    "DPE + H_ens": OKABE_ITO["vermillion"],  # the paper's method, set against all the others
    "random sampling": GREY,  # DPE + R, R, Random (...)
    "L2 ensemble": OKABE_ITO["blue"],  # either acquisition: R dotted, as every random sampling
    "deterministic": OKABE_ITO["bluish green"],
    "MC dropout": OKABE_ITO["reddish purple"],
    "DPE + core-set": OKABE_ITO["sky blue"],
    "DPE + H_cat": OKABE_ITO["orange"],
    "DPE + MI": OKABE_ITO["blue"],
    "DPE + V": OKABE_ITO["reddish purple"],  # and V_w, its class-weighted form
    "DPE + VR": OKABE_ITO["bluish green"],
}
_MODELS = (("l2", "L2 ensemble"), ("deterministic", "deterministic"), ("mc dropout", "MC dropout"),
           ("mc-dropout", "MC dropout"), ("dpe", "DPE"))
_ACQUISITIONS = {"r": "R", "random": "R", "h_ens": "H_ens", "core-set": "core-set", "coreset": "core-set",
                 "h_cat": "H_cat", "mi": "MI", "v": "V", "v_w": "V", "vr": "VR"}
_MARKERS = {"R": "s", "H_ens": "o", "core-set": "D", "H_cat": "^", "MI": "v", "V": "P", "VR": "X"}

STATUS_COLOURS = {  # Okabe-Ito: told apart with any colour vision, and each with its own marker
    "replicated": OKABE_ITO["bluish green"], "replicated, smaller than in the paper": OKABE_ITO["sky blue"],
    "replicated, larger than in the paper": OKABE_ITO["reddish purple"],
    "not replicated: no difference": OKABE_ITO["orange"], "not replicated: below the paper's effect": OKABE_ITO["blue"],
    "contradicted": OKABE_ITO["vermillion"],
    "inconclusive": "#808080", "too few trials": "#B0B0B0"}
STATUS_MARKERS = {
    "replicated": "D", "replicated, smaller than in the paper": "^", "replicated, larger than in the paper": "*",
    "not replicated: no difference": "s",
    "not replicated: below the paper's effect": "v",
    "contradicted": "X", "inconclusive": "P", "too few trials": "h"}

RC = {  # every text >= MIN_PT; one colour-blind-safe cycle for what has no colour of its own
    "font.size": 9, "axes.titlesize": 9.5, "axes.labelsize": 9, "xtick.labelsize": 8.5, "ytick.labelsize": 8.5,
    "legend.fontsize": 8.5, "legend.title_fontsize": 9, "figure.titlesize": 10, "axes.prop_cycle": cycler(color=CYCLE),
}


def styled(draw):
    """Draw under ``RC``; tick labels made later (at draw time, outside the context) keep its size."""
    @functools.wraps(draw)
    def draw_styled(*args, **kwargs) -> Figure:
        with plt.rc_context(RC):
            fig = draw(*args, **kwargs)
            for ax in fig.axes:
                ax.tick_params(labelsize=RC["xtick.labelsize"])
        return fig
    return draw_styled


def method_style(label: str) -> dict:
    """The colour, marker and line of a method's label ("dpe H_ens", "DPE + R", "l2-ensemble R",
    "MC dropout + H_ens", "H_cat", "Random (b=100)", "dpe", ...): another model than DPE in its
    model's colour, DPE (or no model named) in its acquisition's; random sampling dotted with open
    squares. A label it does not know: ``color`` None (the caller picks one)."""
    text = label.lower()
    model = next((name for key, name in _MODELS if key in text), None)
    acquisition = next((_ACQUISITIONS[t] for t in re.split(r"[\s+(),=]+", text) if t in _ACQUISITIONS), None)
    if model in ("L2 ensemble", "deterministic", "MC dropout"):
        colour = METHOD_COLOURS[model]
    elif acquisition == "R":
        colour = METHOD_COLOURS["random sampling"]
    elif acquisition is not None:
        colour = METHOD_COLOURS[f"DPE + {acquisition}"]
    else:
        colour = METHOD_COLOURS["DPE + H_ens"] if model == "DPE" else None
    random = acquisition == "R"
    return {"color": colour, "marker": _MARKERS.get(acquisition, "o"), "ls": (0, (1, 1.5)) if random else "-",
            "mfc": "white" if random else colour}


def method_styles(labels) -> dict[str, dict]:
    """``method_style`` of each label; one it does not know, or one that would look like another
    in the same figure, takes the first colour of the cycle left free."""
    styles = {label: method_style(str(label)) for label in labels}
    taken, out = set(), {}
    for label, s in styles.items():
        if s["color"] is None or (s["color"], s["marker"], str(s["ls"])) in taken:
            used = {t[0] for t in taken} | {v["color"] for v in styles.values()}
            colour = next((c for c in CYCLE if c not in used), CYCLE[len(out) % len(CYCLE)])
            s = {**s, "color": colour, "mfc": "white" if s["mfc"] == "white" else colour}
        taken.add((s["color"], s["marker"], str(s["ls"])))
        out[label] = s
    return out


def size_colours(sizes) -> dict:
    """One colour per labelled size (or any ordered setting), light to dark along viridis."""
    sizes = sorted(set(sizes))
    return {s: plt.get_cmap("viridis")(0.8 * (1 - i / max(len(sizes) - 1, 1))) for i, s in enumerate(sizes)}


def doubling(sizes) -> bool:
    """Whether sizes come from a doubling schedule (2k, 4k, 8k, 16k; 100 .. 800): at least half
    the ratios of successive distinct sizes about 2, with three sizes or more."""
    s = np.unique(np.asarray(list(sizes), dtype=float))
    s = s[s > 0]
    return len(s) >= 3 and bool(np.mean(np.abs(s[1:] / s[:-1] - 2) < 0.2) >= 0.5)


def size_text(v: float) -> str:
    return f"{v / 1000:g}k" if v >= 1000 else f"{v:g}"


def size_axis(ax, sizes, log2: bool | None = None) -> bool:
    """Labelled sizes on the x axis: base-2 log where they double (or ``log2``), ticked at the
    sizes with plain labels ("100", "2k"); a tick within a tenth of the axis of the last labelled
    one is left unlabelled."""
    sizes = sorted({float(v) for v in sizes if v == v and v > 0})
    log2 = doubling(sizes) if log2 is None else log2
    if log2:
        ax.set_xscale("log", base=2)
    if not sizes or (not log2 and len(sizes) > 12):
        return log2
    where = np.log2(sizes) if log2 else np.asarray(sizes)
    span = max(where[-1] - where[0], 1e-9)
    labels, last = [], None
    for v, at in zip(sizes, where):
        close = last is not None and (at - last) / span < 0.1
        labels.append("" if close else size_text(v))
        last = last if close else at
    ax.set_xticks(sizes, labels)
    ax.minorticks_off()
    return log2


def wrap(text: str, width: int) -> str:
    """``text`` on lines of about ``width`` characters, a number kept with the word before it."""
    return textwrap.fill(re.sub(r" (?=\d)", "\u00a0", text), width).replace("\u00a0", " ")


def legend_below(fig: Figure, handles, labels, ncol: int = 3) -> None:
    """One legend for the figure, under its panels (a constrained layout makes room)."""
    fig.legend(handles, labels, loc="outside lower center", ncol=min(ncol, len(labels)), frameon=False)


def panels(count: int, row_height: float = 2.9):
    """A grid of ``count`` panels, two a row, sharing the y axis, at most the page's width, laid
    out by matplotlib's constrained layout: (fig, axes (rows, cols))."""
    cols = 2 if count > 1 else 1
    rows = -(-count // cols)
    width = PAGE_WIDTH_IN if cols > 1 else PAGE_WIDTH_IN / 2 + 1
    return plt.subplots(rows, cols, figsize=(width, row_height * rows + 1.0), sharey=True, squeeze=False, layout="constrained")


def finish_panels(fig: Figure, axes, used: int, title: str, ylabel: str = "test accuracy (%)", extra=()) -> Figure:
    """Label the first column with ``ylabel``, title, and draw one legend for all panels (their
    lines, then the ``extra`` handles): in the first unused panel, else under the panels."""
    for ax in axes[:, 0]:
        ax.set_ylabel(ylabel)
    entries = {}
    for ax in list(axes.flat)[:used]:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            entries.setdefault(label, handle)
    for handle in extra:
        entries.setdefault(handle.get_label(), handle)
    spare = list(axes.flat)[used:]
    for ax in spare:
        ax.set_axis_off()
    if spare:
        spare[0].legend(list(entries.values()), list(entries), loc="center")
    else:
        legend_below(fig, list(entries.values()), list(entries))
    fig.suptitle(title)
    return fig
