"""The "Beyond the paper: modern baselines" chapter: today's baselines beside DPE + H_ens.

Every method of ``dpe.study.grids.BASELINE_METHODS`` runs the same trials from the same random
start (trial i of every method starts from the same labelled images), so each comparison is a
paired one at every acquired size: each new method against DPE + H_ens (DPE + H_ens minus the
method) and against random sampling with its own network (the method minus DPE + R, or minus
deterministic + R for BADGE on a deterministic network), Holm's adjustment over all of them.
The robustness chapter's area under the learning curve and labels-to-reach read the same runs.
"""

from __future__ import annotations

import pandas as pd

from dpe.study import robustness as rob
from dpe.study.chapter import chapter
from dpe.study.tables import ci_text, comparisons, judged, p_text

__all__ = ["REFERENCE", "NEW_METHODS", "baseline_tests", "beyond_the_paper", "efficiency", "random_of", "tests_at"]

REFERENCE = "DPE + H_ens"
NEW_METHODS = ["DPE + margin", "DPE + least confidence", "DPE + BADGE", "DPE + TypiClust", "deterministic + BADGE"]


def random_of(method: str) -> str:
    """The random-sampling run with the same network as ``method``."""
    return "deterministic + R" if method.startswith("deterministic") else "DPE + R"


def baseline_tests(rounds: pd.DataFrame, sizes: list[int]) -> pd.DataFrame:
    """Every paired comparison of the chapter at each of ``sizes``, with ``against`` saying which:
    "DPE + H_ens" rows hold DPE + H_ens minus the method (``versus``), "random sampling" rows the
    method (``method``) minus its random sampling (``versus``); positive: the first is better."""
    present = set(rounds["label"])
    methods = [m for m in NEW_METHODS if m in present]
    parts = []
    if REFERENCE in present:
        against = comparisons(rounds[rounds["label"].isin([REFERENCE, *methods])], REFERENCE, sizes=sizes)
        parts.append(against.assign(method=REFERENCE, against=REFERENCE))
    for method in methods:
        if random_of(method) in present:
            gain = comparisons(rounds[rounds["label"].isin([method, random_of(method)])], method, sizes=sizes)
            parts.append(gain.assign(method=method, against="random sampling"))
    if not parts:
        return pd.DataFrame(columns=["method", "against", "labeled", "versus", "difference", "ci_low", "ci_high", "verdict"])
    return judged(pd.concat(parts, ignore_index=True))


def tests_at(tests: pd.DataFrame, labeled: int) -> pd.DataFrame:
    """The comparisons at ``labeled`` labels, one row per new method: its gain over random
    sampling and DPE + H_ens's gain over it, each "+x.xx [lo, hi], n trials, Holm p, verdict" ("–" before both
    arms of a pair have finished)."""
    def cell(row) -> str:
        trials = f"{int(row.trials)} trial{'s' * (int(row.trials) != 1)}"
        if row.trials == 0:  # both arms ran, no trial alike (machine or dtype)
            return f"no pair, {row.verdict}"
        if row.ci_low != row.ci_low:  # under 2 paired trials: no interval
            return f"{100 * row.difference:+.2f} ({trials}), {row.verdict}"
        return f"{100 * row.difference:+.2f} {ci_text(row.ci_low, row.ci_high)}, {trials}, Holm p {p_text(row.p_holm)}, {row.verdict}"

    at = tests[tests["labeled"] == labeled]
    rows = []
    for method in NEW_METHODS:
        over_random = at[(at["against"] == "random sampling") & (at["method"] == method)]
        behind = at[(at["against"] == REFERENCE) & (at["versus"] == method)]
        rows.append({"method": method,
                     "over its random sampling, points [95 % CI]": cell(over_random.iloc[0]) if len(over_random) else "–",
                     "DPE + H_ens over it, points [95 % CI]": cell(behind.iloc[0]) if len(behind) else "–"})
    return pd.DataFrame(rows)


def efficiency(rounds: pd.DataFrame) -> pd.DataFrame:
    """Area under the learning curve and labels to reach random sampling's final accuracy
    (``dpe.study.robustness.label_efficiency``), every method in one condition."""
    return rob.label_efficiency(rounds.assign(condition="all", method=rounds["label"]))


def beyond_the_paper(profile: str, results_dir) -> tuple[pd.DataFrame, str]:
    """The Findings page's "beyond the paper" reading at ``profile``: the chapter's comparisons
    (Holm over every size, as the chapter adjusts them) at its largest acquired size, one row per
    new method (``tests_at``), and a sentence saying what they cover; an empty table and why
    where the chapter has no finished run ("–" cells)."""
    ch = chapter("baselines", profile, results_dir=str(results_dir))
    if not ch.done:
        empty = baseline_tests(pd.DataFrame({"label": []}), [])
        return tests_at(empty, 0), f"No run of the chapter has finished at `{profile}` (`python -m dpe.study --only baselines`)."
    rounds = ch.rounds()
    sizes = sorted(rounds["labeled"].unique())[1:]
    table = tests_at(baseline_tests(rounds, sizes), max(sizes)) if sizes else pd.DataFrame()
    done = {label for label, _ in ch.done}
    missing = [m for m in NEW_METHODS if m not in done]
    partial = len(ch.done) < len(ch.grid)
    text = (f"At `{profile}`, {max(sizes) if sizes else 0} labels, {len(ch.done)} of {len(ch.grid)} runs of the chapter finished"
            + (f"; no finished run yet of {', '.join(missing)}" if missing else "")
            + (": every cell is *provisional* until the grid is complete" if partial else "") + ". Each cell is read by the "
            "chapter's rule: the paired 95 % CI over the trials both arms share, Holm's *p* over all the chapter's "
            "comparisons (every size), *holds* when the first named is ahead, *vanishes* when two one-sided tests "
            "(0.05 each) put the difference within ±1 point.")
    return table, text
