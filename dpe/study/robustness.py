"""The robustness chapter's measures: learning-curve area, label efficiency, paired comparisons
across trials and the verdict they give, all on ``dpe.study.tables.load_rounds`` tables.

Trial i of every method starts from the same initial labelled set (``dpe.active.derive_seed``
depends on the trial, not the method), so methods are compared pair by pair, trial by trial.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.stats import t as student_t

from dpe.records import read_record
from dpe.study.stats import EQUIVALENCE_MARGIN, VERDICTS, holm, paired_test, verdict, welch_test, z_test_proportions
from dpe.study.tables import RUN_PAIRED_ALIKE, ci_text, matched_trials, p_text

__all__ = [
    "class_balance", "efficiency_display", "verdict_sentences",
    "CORESET", "DPE", "EQUIVALENCE_MARGIN", "MC", "MC_RANDOM", "RANDOM", "VERDICTS", "class_shares", "curve_auc",
    "curve_summary", "final_rounds", "trained_runs", "label_efficiency", "labels_to_reach", "mean_interval", "paired_comparisons",
    "paired_trials", "per_trial_differences", "robustness_tests", "setting_note", "test_sentence", "tests_display", "verdict",
]



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


def trained_runs(rounds: pd.DataFrame) -> pd.DataFrame:
    """``rounds`` without the runs that have a diverged round (``diverged``): a learning curve
    through a failed training has no meaningful area or final accuracy."""
    if "diverged" not in rounds or not rounds["diverged"].any():
        return rounds
    failed = set(rounds.loc[rounds["diverged"].astype(bool), "run"])
    return rounds[~rounds["run"].isin(failed)]


def final_rounds(rounds: pd.DataFrame) -> pd.DataFrame:
    """The last round of every run (``rounds`` as ``dpe.study.tables.load_rounds`` gives it), with
    the area under the run's learning curve in an ``auc`` column (``curve_auc``); runs with a
    diverged round are left out (``trained_runs``)."""
    rounds = trained_runs(rounds)
    final = rounds.loc[rounds.groupby("run")["labeled"].idxmax()]
    auc = {run: curve_auc(g["labeled"], g["accuracy"]) for run, g in rounds.groupby("run")}
    return final.assign(auc=final["run"].map(auc))


def paired_trials(final: pd.DataFrame, method: str, baseline: str, by: str = "method") -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rows of ``method`` and of ``baseline`` (values of column ``by``) in ``final``,
    indexed by trial and restricted to the trials both ran on the same machine with the same engine
    and dtype in every round (``RUN_PAIRED_ALIKE``), in increasing trial order."""
    other, base = (final[final[by] == m].set_index("trial") for m in (method, baseline))
    trials, _ = matched_trials(other, base, RUN_PAIRED_ALIKE)  # the AUC spans every round: whole runs must agree
    return other.loc[trials], base.loc[trials]


def paired_comparisons(rounds: pd.DataFrame, baseline: str, by: str = "method", group: str = "condition") -> pd.DataFrame:
    """Every ``by`` value against ``baseline`` within each ``group`` value, paired by trial: on
    the final round's accuracy and on the area under the learning curve (``curve_auc``).

    One row per (group, method) with the trials paired (and ``unmatched``, those both ran but not
    on one machine, engine and dtype), the mean difference (method - baseline,
    accuracy units), its 95 % CI, paired t and p, Cohen's d_z, the Wilcoxon p, the TOST p of
    equivalence within +-``EQUIVALENCE_MARGIN``, and the same for the AUC (prefixed ``auc_``)."""
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
            shared = set(at.loc[at[by] == method, "trial"]) & set(at.loc[at[by] == baseline, "trial"])
            row = {group: where, by: method, "baseline": baseline, "trials": len(other), "unmatched": len(shared) - len(other),
                   "method_acc": other["accuracy"].mean(), "baseline_acc": base["accuracy"].mean()}
            for prefix, column in (("", "accuracy"), ("auc_", "auc")):
                test = paired_test(list(other[column]), list(base[column]))
                row.update({f"{prefix}difference": test.mean_difference, f"{prefix}ci_low": test.ci_low,
                            f"{prefix}ci_high": test.ci_high, f"{prefix}t": test.t, f"{prefix}p": test.p,
                            f"{prefix}effect_size": test.effect_size, f"{prefix}p_wilcoxon": test.p_wilcoxon,
                            f"{prefix}p_equivalence": test.equivalence_p(EQUIVALENCE_MARGIN)})
            rows.append(row)
    stats = ["difference", "ci_low", "ci_high", "t", "p", "effect_size", "p_wilcoxon", "p_equivalence"]
    columns = [group, by, "baseline", "trials", "unmatched", "method_acc", "baseline_acc", *stats, *(f"auc_{c}" for c in stats)]
    return pd.DataFrame(rows, columns=columns)  # the columns even when no method has 2 paired trials


# ---------------------------------------------------------------------------------------------
# the chapter's tables, from load_rounds' table with "condition" and "method" columns

RANDOM, DPE, MC_RANDOM, MC, CORESET = "DPE + R", "DPE + H_ens", "MC dropout + R", "MC dropout + H_ens", "DPE + core-set"


def mean_interval(values: pd.Series, confidence: float = 0.95) -> pd.Series:
    """Mean and ``confidence`` t-interval of the mean over trials (NaN bounds for one trial)."""
    n, mean, sd = len(values), values.mean(), values.std()
    half = student_t.ppf((1 + confidence) / 2, n - 1) * sd / n**0.5 if n > 1 else float("nan")
    return pd.Series({"mean": mean, "ci_low": mean - half, "ci_high": mean + half, "trials": n})


def curve_summary(rounds: pd.DataFrame) -> pd.DataFrame:
    """Mean accuracy and its 95 % t-interval per condition, method and labelled-set size, in the
    grid's order of (condition, method), then labels; runs with a diverged round left out."""
    rounds = trained_runs(rounds)
    summary = rounds.groupby(["condition", "method", "labeled"], sort=False)["accuracy"].apply(mean_interval).unstack().reset_index()
    first_seen = {key: i for i, key in enumerate(dict.fromkeys(zip(rounds["condition"], rounds["method"])))}
    return (summary.assign(order=[first_seen[key] for key in zip(summary["condition"], summary["method"])])
            .sort_values(["order", "labeled"]).drop(columns="order").reset_index(drop=True))


def _comparison_names(tests: pd.DataFrame) -> pd.DataFrame:
    tests["comparison"] = tests["condition"] + ": " + tests["method"] + " vs " + tests["baseline"]
    return tests


def robustness_tests(rounds: pd.DataFrame, base: str, n_test: int) -> pd.DataFrame:
    """Every paired comparison of the chapter with its verdicts: each DPE method against DPE + R
    and MC dropout + H_ens against MC dropout + R in every condition; DPE + H_ens against MC
    dropout and core-set in the ``base`` condition. Beside each paired test, the paper's pooled
    Z-test and Welch's t on the final accuracies (``n_test`` test images), Holm-adjusted p-values
    over all comparisons, and the verdicts on the final accuracy and the AUC, read against the
    base condition's gain of the same method (``verdict``)."""
    dpe_family = rounds[~rounds["method"].isin([MC_RANDOM, MC])]
    against_random = paired_comparisons(dpe_family, baseline=RANDOM)  # each DPE method against the same DPE with R
    mc_family = rounds[rounds["method"].isin([MC_RANDOM, MC])]
    if MC_RANDOM in set(mc_family["method"]):  # MC dropout's acquisition against its own random sampling
        against_random = pd.concat([against_random, paired_comparisons(mc_family, baseline=MC_RANDOM)], ignore_index=True)
    against_random = _comparison_names(against_random)
    in_base = rounds[(rounds["condition"] == base) & rounds["method"].isin([DPE, MC, CORESET])]
    others = [paired_comparisons(in_base[in_base["method"].isin([DPE, other])], baseline=other)
              for other in (MC, CORESET) if other in set(in_base["method"])]
    against_others = _comparison_names(pd.concat(others)) if others else against_random.iloc[:0].copy()
    tests = pd.concat([against_random, against_others], ignore_index=True)

    final = final_rounds(rounds)

    def pooled(row):
        at = final[final["condition"] == row["condition"]]
        a, b = at.loc[at["method"] == row["method"], "accuracy"], at.loc[at["method"] == row["baseline"], "accuracy"]
        return pd.Series({"z_pooled_p": z_test_proportions(a.mean(), n_test * len(a), b.mean(), n_test * len(b)).p,
                          "welch_p": welch_test(list(a), list(b)).p})

    tests = (pd.concat([tests, tests.apply(pooled, axis=1)], axis=1) if len(tests)
             else tests.assign(z_pooled_p=pd.Series(dtype=float), welch_p=pd.Series(dtype=float)))
    tests["p_holm"], tests["auc_p_holm"] = holm(list(tests["p"])), holm(list(tests["auc_p"]))
    reference = tests.set_index("comparison")

    def reference_gain(condition, method, prefix=""):
        """The base condition's (gain, ci_low, ci_high) of the same method over its random-sampling
        baseline (None in the base condition, or where the base has no such comparison)."""
        key = next((k for k in reference.index if k.startswith(f"{base}: {method} vs ") and k.endswith(" + R")), None)
        if condition == base or key is None:
            return None
        return tuple(reference.loc[key, f"{prefix}{c}"] for c in ("difference", "ci_low", "ci_high"))

    tests["verdict"] = [verdict(r.ci_low, r.ci_high, r.difference, reference_gain(r.condition, r.method), r.p_holm,
                                p_equivalence=r.p_equivalence).value for r in tests.itertuples()]
    tests["auc_verdict"] = [verdict(r.auc_ci_low, r.auc_ci_high, r.auc_difference, reference_gain(r.condition, r.method, "auc_"),
                                    r.auc_p_holm, p_equivalence=r.auc_p_equivalence).value for r in tests.itertuples()]
    return tests


def tests_display(tests: pd.DataFrame) -> pd.DataFrame:
    """``robustness_tests`` as the chapter shows it: points, intervals and p-values as text."""
    return pd.DataFrame({
        "comparison": tests["comparison"], "trials": tests["trials"],
        "gain (points)": 100 * tests["difference"],
        "95 % CI": [ci_text(a, b) for a, b in zip(tests["ci_low"], tests["ci_high"])],
        "paired t p": tests["p"].map(p_text), "d_z": tests["effect_size"], "Wilcoxon p": tests["p_wilcoxon"].map(p_text),
        "Holm p": tests["p_holm"].map(p_text),
        "Z pooled p": tests["z_pooled_p"].map(p_text), "Welch t p": tests["welch_p"].map(p_text),
        "AUC gain (points)": 100 * tests["auc_difference"],
        "AUC 95 % CI": [ci_text(a, b) for a, b in zip(tests["auc_ci_low"], tests["auc_ci_high"])],
        "verdict": tests["verdict"], "AUC verdict": tests["auc_verdict"],
    }).set_index("comparison")


def per_trial_differences(rounds: pd.DataFrame, tests: pd.DataFrame) -> pd.DataFrame:
    """Each comparison's difference in final accuracy and in AUC, trial by trial."""
    final = final_rounds(rounds)
    parts = []
    for row in tests.itertuples():
        a, b = paired_trials(final[final["condition"] == row.condition], row.method, row.baseline)
        parts.append(pd.DataFrame({"comparison": row.comparison, "trial": a.index,
                                   "difference": a["accuracy"] - b["accuracy"], "auc_difference": a["auc"] - b["auc"]}))
    return (pd.concat(parts, ignore_index=True) if parts
            else pd.DataFrame(columns=["comparison", "trial", "difference", "auc_difference"]))


def test_sentence(row) -> str:
    """One comparison of ``robustness_tests`` (a row from itertuples) as a sentence of the text."""
    pooled = f"= {row.z_pooled_p:.3g}" if row.z_pooled_p > 0 else "< 1e-300"  # a p of 0 is below the smallest double
    return (f"- **{row.comparison}**: {100 * row.difference:+.2f} points at the final budget "
            f"(95 % CI [{100 * row.ci_low:+.2f}, {100 * row.ci_high:+.2f}], paired t p = {row.p:.3g}, "
            f"d_z = {row.effect_size:+.2f}, Wilcoxon p = {row.p_wilcoxon:.3g}; the paper's pooled Z-test p "
            f"{pooled}) -- **{row.verdict}**; over the curve {100 * row.auc_difference:+.2f} points of "
            f"AUC ([{100 * row.auc_ci_low:+.2f}, {100 * row.auc_ci_high:+.2f}]) -- **{row.auc_verdict}**.")


def label_efficiency(rounds: pd.DataFrame) -> pd.DataFrame:
    """Per condition and method: random sampling's final accuracy (the target), the labels at
    which the method's mean curve reaches it (``labels_to_reach``) and the curve's AUC with its
    95 % t-interval over trials; runs with a diverged round left out."""
    rounds = trained_runs(rounds)
    final = final_rounds(rounds)
    rows = []
    for condition in pd.unique(rounds["condition"]):
        at = rounds[rounds["condition"] == condition]
        target = final[(final["condition"] == condition) & (final["method"] == RANDOM)]["accuracy"].mean()
        for method, g in at.groupby("method", sort=False):
            curve = g.groupby("labeled")["accuracy"].mean()
            auc = mean_interval(final.loc[(final["condition"] == condition) & (final["method"] == method), "auc"])
            rows.append({"condition": condition, "method": method, "target": target, "budget": curve.index.max(),
                         "labels": labels_to_reach(curve.index, curve.to_numpy(), target),
                         "auc": auc["mean"], "auc_low": auc["ci_low"], "auc_high": auc["ci_high"]})
    return pd.DataFrame(rows)


def class_shares(grid, paths, classes: list[str] | None = None) -> pd.DataFrame:
    """The mean share of each class among the labels a run acquired, per condition and method;
    ``grid`` the (label, config) pairs of the records at ``paths``; columns named by ``classes``."""
    shares = []
    for (label, config), path in zip(grid, paths):
        record = read_record(path)
        counts = pd.DataFrame([r["selection_histogram"] for r in record["rounds"]]).sum()
        condition, method = label.split(" | ")
        shares.append({"condition": condition, "method": method, "trial": config.trial, **(counts / counts.sum()).to_dict()})
    shares = pd.DataFrame(shares).groupby(["condition", "method"], sort=False).mean(numeric_only=True).drop(columns="trial")
    if classes is not None:
        shares.columns = classes
    return shares


def setting_note(profile: str, dataset: str, grid, rounds: pd.DataFrame, shares: pd.DataFrame, base: str, n_test: int) -> str:
    """The chapter's closing paragraphs: the setting the verdicts hold at, where DPE + H_ens put
    its labels against random sampling, and how far MC dropout starts behind the DPE."""
    configs = dict(grid)
    config = configs[f"{base} | {RANDOM}"]
    pool = f"a pool of {config.pool_size:,} images" if config.pool_size else "the whole training set as the pool"
    text = [f"These runs are the `{profile}` profile: {pool} of {dataset}, a ResNet-18 of width {config.width}, "
            f"{config.members} members, the {config.protocol} training protocol with {rounds['steps'].min()} to "
            f"{rounds['steps'].max()} SGD steps a round (the Training to convergence chapter checks this length), "
            f"and {n_test:,} test images. A verdict here says what happens *at this scale*; the same notebook runs the "
            "same grid at the paper's scale with `python -m dpe.study --profile paper --only robustness` on a GPU."]
    at_base = rounds[rounds["condition"] == base]
    if (base, DPE) in shares.index and (base, RANDOM) in shares.index:
        dpe_shares, random_shares = shares.loc[(base, DPE)].sort_values(ascending=False), shares.loc[(base, RANDOM)]
        most, least = [str(c) for c in dpe_shares.index[:4]], [str(c) for c in dpe_shares.index[-3:]]
        text.append(f"In the base condition DPE + H_ens puts {100 * dpe_shares.iloc[:4].sum():.0f} % of its acquired labels "
                    f"on its four most-acquired classes ({', '.join(most)}; random sampling: "
                    f"{100 * random_shares[dpe_shares.index[:4]].sum():.0f} % on the same classes) and "
                    f"{100 * dpe_shares.iloc[-3:].sum():.0f} % on its three least-acquired ({', '.join(least)}; random: "
                    f"{100 * random_shares[dpe_shares.index[-3:]].sum():.0f} %).")
    if MC in set(at_base["method"]):
        start = at_base[at_base["round"] == 0].groupby("method")["accuracy"].mean()
        mc_config = configs[f"{base} | {MC}"]
        text.append(f"On the initial random set, before any acquisition, MC dropout (one network, dropout "
                    f"{mc_config.dropout:g}, T = {mc_config.mc_samples}) is at {100 * start[MC]:.1f} % and the "
                    f"{config.members}-member DPE at {100 * start[RANDOM]:.1f} %. MC dropout + H_ens is therefore also "
                    "compared with MC dropout + R, the same network with random labels, so that the gap between the "
                    "models does not pass for an effect of the acquisition.")
    return "\n\n".join(text)


def verdict_sentences(tests: pd.DataFrame) -> str:
    """The paper's claim (DPE + H_ens against each baseline) and the other baselines against
    random sampling, one sentence per comparison."""
    claims, others = tests[tests["method"] == DPE], tests[tests["method"] != DPE]
    text = "The paper's claim, DPE + H_ens against each baseline:\n\n" + "\n".join(map(test_sentence, claims.itertuples()))
    if len(others):
        text += "\n\nThe other baselines against random sampling:\n\n" + "\n".join(map(test_sentence, others.itertuples()))
    return text


def efficiency_display(efficiency: pd.DataFrame) -> pd.DataFrame:
    """``label_efficiency`` as the book shows it: percent, "never" for a target not reached."""
    shown = efficiency.assign(target=100 * efficiency["target"], auc=100 * efficiency["auc"],
                              labels=efficiency["labels"].map(lambda v: "never" if v != v else f"{v:.0f}"))
    shown = shown.rename(columns={"target": "random's final acc. (%)", "labels": "labels to reach it", "auc": "AUC (%)"})
    return shown[["condition", "method", "random's final acc. (%)", "labels to reach it", "AUC (%)"]].set_index(["condition", "method"]).round(2)


def class_balance(shares: pd.DataFrame) -> pd.DataFrame:
    """Each method's largest and smallest class share of its acquired labels (%), and the class
    it acquired most."""
    return pd.DataFrame({"largest class (%)": 100 * shares.max(axis=1), "smallest class (%)": 100 * shares.min(axis=1),
                         "most acquired class": shares.idxmax(axis=1)}).round(1)
