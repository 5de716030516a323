"""The ensembles chapter's readings: ensemble size against the profile's, the instability of two
members, and the DPE's calibration against the L2 ensemble's."""

from __future__ import annotations

import pandas as pd

from dpe.records import read_record
from dpe.study.tables import MIXED, RUN_PAIRED_ALIKE, comparisons, judged

__all__ = ["CALIBRATION_MARGINS", "against_reference", "alike_runs", "calibration_tests", "reliability_bins", "runs_by_members", "size_sweep",
           "two_members_text"]

# each metric's margin in its own units: 1 point of accuracy; 0.02 nats of NLL (about 5 % of the NLL at
# quick); 1 point of expected calibration error
CALIBRATION_MARGINS = {"accuracy": 0.01, "nll": 0.02, "ece": 0.01}


def against_reference(rows: pd.DataFrame, reference: str, budget: int) -> pd.DataFrame:
    """``reference`` (the profile's own setting) against every other label of ``rows`` at
    ``budget``; an empty table when the reference has no run."""
    if reference not in set(rows.label):
        return comparisons(rows.iloc[:0], reference)
    return comparisons(rows, reference, sizes=[budget])


def size_sweep(rounds: pd.DataFrame) -> pd.DataFrame:
    """The rounds of the chapter's ensemble-size runs (labels "E=<members>"), not its KL-weight sweep."""
    return rounds[rounds["label"].str.startswith("E=")]


def runs_by_members(size_rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The size sweep's runs of 2 members and of more, one row each: ``members``, whether any
    round ``diverged`` (training cross-entropy above twice a uniform guess), its best ``accuracy``
    over the rounds that did not, and the machine, engine and dtype it ran on (``RUN_PAIRED_ALIKE``)."""
    alike = {c: (c, "first") for c in RUN_PAIRED_ALIKE if c in size_rows}
    trained = size_rows["accuracy"].where(~size_rows["diverged"].astype(bool))
    runs = size_rows.assign(trained=trained).groupby("run").agg(
        members=("members", "first"), diverged=("diverged", "any"), accuracy=("trained", "max"), **alike)
    return runs[runs["members"] == 2], runs[runs["members"] > 2]


def alike_runs(two: pd.DataFrame, more: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The runs of ``two`` and ``more`` (``runs_by_members``) on a machine, engine and dtype that both
    sides ran on: a count of divergences compares like with like, as a pair does."""
    columns = [c for c in RUN_PAIRED_ALIKE if c in two and c in more]
    if not columns:
        return two, more
    two_keys, more_keys = (runs[columns].apply(tuple, axis=1) for runs in (two, more))
    shared = {k for k in set(two_keys) & set(more_keys) if MIXED not in k}  # a run resumed elsewhere matches nothing
    return two[two_keys.isin(shared)], more[more_keys.isin(shared)]


def two_members_text(size_rows: pd.DataFrame) -> str:
    """The paper's claim that E = 2 is unstable, in counts of runs with a diverged round ("" when
    no E = 2 run exists), over every run and over those alike (``alike_runs``), which Findings tests."""
    two, more = runs_by_members(size_rows)
    if not len(two):
        return ""
    best = two["accuracy"].max()
    trained = ("none of its rounds trained" if best != best else
               f"its rounds that did not diverge reach at most {100 * best:.1f} % test accuracy")
    same_two, same_more = alike_runs(two, more)
    left_out = len(two) + len(more) - len(same_two) - len(same_more)
    alike = (f"On the machines, engines and dtypes both sides ran on, {int(same_two['diverged'].sum())} of {len(same_two)} "
             f"against {int(same_more['diverged'].sum())} of {len(same_more)} ({left_out} run{'s' * (left_out != 1)} "
             "left out): the counts the Findings page tests (Fisher's exact test)." if left_out else
             "Every run ran on one machine, engine and dtype: the Findings page tests these counts (Fisher's exact test).")
    return (f"**Two members.** The paper reports that a DPE of 2 members is unstable, its KL term exploding where a "
            f"parameter's mean exceeds its spread (Sec. 5). Here {int(two['diverged'].sum())} of {len(two)} runs with "
            f"E = 2 have a round whose training cross-entropy ended above twice a uniform guess (diverged), against "
            f"{int(more['diverged'].sum())} of {len(more)} runs with more members; {trained}. {alike} Diverged rounds are "
            "left out of the tests and the figure above, so E = 2 appears there only where it trained.")


def calibration_tests(rows: pd.DataFrame, budget: int) -> pd.DataFrame:
    """The DPE against the L2 ensemble at ``budget`` in accuracy, NLL and ECE, each with its
    margin, signed so that positive always means the DPE is better; Holm over the three metrics
    (one question, three tests: is the DPE the better-calibrated ensemble?)."""
    return judged(pd.concat([comparisons(rows, "dpe", sizes=[budget], value=v, margin=m, lower_is_better=v != "accuracy")
                             .assign(metric=v) for v, m in CALIBRATION_MARGINS.items()], ignore_index=True))


def reliability_bins(done, paths, labels=("l2-ensemble", "dpe")) -> dict[str, list]:
    """The reliability bins of the last round of trial 0 of each of ``labels``."""
    return {label: read_record(p)["rounds"][-1]["reliability"]
            for (label, config), p in zip(done, paths) if label in labels and config.trial == 0}


def calibration_display(calibration: pd.DataFrame) -> pd.DataFrame:
    """The calibration table (labelled size x (metric, ensemble) means) as the book shows it:
    one row per (ensemble, labelled size), accuracy and ECE in %, NLL in nats."""
    long = calibration.stack("label", future_stack=True).reset_index()
    return pd.DataFrame({"ensemble": long["label"], "labels": long["labeled"], "accuracy (%)": 100 * long["accuracy"],
                         "NLL (nats)": long["nll"], "ECE (%)": 100 * long["ece"]}).sort_values(["ensemble", "labels"], kind="stable")
