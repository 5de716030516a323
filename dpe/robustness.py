"""The robustness chapter's measures: learning-curve area, label efficiency, paired comparisons
across trials and the verdict they give, all on ``dpe.results.load_rounds`` tables.

Trial i of every method starts from the same initial labelled set (``dpe.active.derive_seed``
depends on the trial, not the method), so methods are compared pair by pair, trial by trial.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from dpe.stats import paired_test

__all__ = ["EQUIVALENCE_MARGIN", "VERDICTS", "curve_auc", "final_rounds", "labels_to_reach", "paired_comparisons", "paired_trials", "verdict"]

VERDICTS = ("holds", "shrinks", "vanishes", "inconclusive", "reverses")


def _sorted_curve(labeled, accuracy) -> tuple[np.ndarray, np.ndarray]:
    """A learning curve as float arrays (x, y), in increasing labels."""
    x, y = np.asarray(labeled, dtype=float), np.asarray(accuracy, dtype=float)
    order = np.argsort(x)
    return x[order], y[order]


def curve_auc(labeled, accuracy) -> float:
    """Area under one learning curve (trapezoids, accuracy against labelled images) divided by
    the span of labels: the curve's mean accuracy over the budget, in the accuracy's units.
    A single point has no span: its accuracy is returned."""
    x, y = _sorted_curve(labeled, accuracy)
    if len(x) == 1:
        return float(y[0])
    return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2) / (x[-1] - x[0]))


def labels_to_reach(labeled, accuracy, target: float) -> float:
    """The fewest labelled images at which a learning curve, drawn by straight lines between its
    measured points, first reaches ``target``; NaN if it never does. A point within 1e-12 of
    ``target`` reaches it (a mean summed in another order differs in its last bits)."""
    x, y = _sorted_curve(labeled, accuracy)
    y = np.where(np.abs(y - target) <= 1e-12, target, y)
    if y[0] >= target:
        return float(x[0])
    for i in range(1, len(x)):
        if y[i] >= target:  # crosses between points i-1 and i
            return float(x[i - 1] + (target - y[i - 1]) / (y[i] - y[i - 1]) * (x[i] - x[i - 1]))
    return math.nan


EQUIVALENCE_MARGIN = 0.01  # a gain inside +-1 accuracy point is no gain (the convergence rule's bar)


def verdict(
    ci_low: float, ci_high: float, gain: float, reference: tuple[float, float, float] | None = None,
    p_adjusted: float | None = None, margin: float = EQUIVALENCE_MARGIN, alpha: float = 0.05,
) -> str:
    """The verdict on a claimed gain (method minus baseline, accuracy units, with its 95 % CI):

    - ``holds``: the interval lies above 0 (and the Holm-adjusted p, when given, is < alpha);
    - ``shrinks``: it holds, but the gain is under half that of ``reference`` = (gain, ci_low,
      ci_high) of the same comparison in a reference condition -- only where the reference
      itself held (a gain cannot shrink from a reference that showed none);
    - ``reverses``: the interval lies below 0 (and the adjusted p is < alpha);
    - ``vanishes``: the interval lies within +-``margin``: any gain is too small to matter;
    - ``inconclusive``: anything else -- the interval is too wide to tell (e.g. [-7, +7] points).
    """
    significant = p_adjusted is None or p_adjusted < alpha
    if ci_low > 0 and significant:
        if reference is not None and reference[1] > 0 and gain < reference[0] / 2:
            return "shrinks"
        return "holds"
    if ci_high < 0 and significant:
        return "reverses"
    if -margin <= ci_low and ci_high <= margin:
        return "vanishes"
    return "inconclusive"


def final_rounds(rounds: pd.DataFrame) -> pd.DataFrame:
    """The last round of every run (``rounds`` as ``dpe.results.load_rounds`` gives it), with
    the area under the run's learning curve in an ``auc`` column (``curve_auc``)."""
    final = rounds.loc[rounds.groupby("run")["labeled"].idxmax()]
    auc = {run: curve_auc(g["labeled"], g["accuracy"]) for run, g in rounds.groupby("run")}
    return final.assign(auc=final["run"].map(auc))


def paired_trials(final: pd.DataFrame, method: str, baseline: str, by: str = "method") -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rows of ``method`` and of ``baseline`` (values of column ``by``) in ``final``,
    indexed by trial and restricted to the trials both ran, in increasing trial order."""
    other, base = (final[final[by] == m].set_index("trial") for m in (method, baseline))
    trials = sorted(set(base.index) & set(other.index))
    return other.loc[trials], base.loc[trials]


def paired_comparisons(rounds: pd.DataFrame, baseline: str, by: str = "method", group: str = "condition") -> pd.DataFrame:
    """Every ``by`` value against ``baseline`` within each ``group`` value, paired by trial: on
    the final round's accuracy and on the area under the learning curve (``curve_auc``).

    One row per (group, method) with the trials paired, the mean difference (method - baseline,
    accuracy units), its 95 % CI, paired t and p, Cohen's d_z, the Wilcoxon p, and the same
    for the AUC (columns prefixed ``auc_``)."""
    final = final_rounds(rounds)
    rows = []
    for where in pd.unique(rounds[group]):  # groups and methods in the order of ``rounds``
        at = final[final[group] == where]
        for method in pd.unique(rounds.loc[rounds[group] == where, by]):
            if method == baseline:
                continue
            other, base = paired_trials(at, method, baseline, by)
            if len(other) < 2:
                continue
            row = {group: where, by: method, "baseline": baseline, "trials": len(other),
                   "method_acc": other["accuracy"].mean(), "baseline_acc": base["accuracy"].mean()}
            for prefix, column in (("", "accuracy"), ("auc_", "auc")):
                test = paired_test(list(other[column]), list(base[column]))
                row.update({f"{prefix}difference": test.mean_difference, f"{prefix}ci_low": test.ci_low,
                            f"{prefix}ci_high": test.ci_high, f"{prefix}t": test.t, f"{prefix}p": test.p,
                            f"{prefix}effect_size": test.effect_size, f"{prefix}p_wilcoxon": test.p_wilcoxon})
            rows.append(row)
    stats = ["difference", "ci_low", "ci_high", "t", "p", "effect_size", "p_wilcoxon"]
    columns = [group, by, "baseline", "trials", "method_acc", "baseline_acc", *stats, *(f"auc_{c}" for c in stats)]
    return pd.DataFrame(rows, columns=columns)  # the columns even when no method has 2 paired trials
