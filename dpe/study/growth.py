"""The growth chapter's readings (the paper's Fig. 1): the schedules' runs, the upper bound they
are measured against, and whether that upper bound is trained to convergence -- a share of an
undertrained upper bound says more about its training than about the schedules."""

from __future__ import annotations

import pandas as pd

from dpe.study.convergence import FAILS, MIN_TRIALS, PASSES, TOLERANCE, TOO_FEW, convergence_table, doubled_pairs
from dpe.study.grids import is_upper_bound
from dpe.study.tables import ci_text

__all__ = ["CHECK_LABELS", "UPPER", "schedules", "upper_check", "upper_check_text"]

UPPER = "Upper bound"  # trained once on every pool label (dpe.study.grids.growth_grid)
CHECK_LABELS = [UPPER, f"{UPPER} | x2"]


def schedules(rounds: pd.DataFrame) -> pd.DataFrame:
    """The rounds of the growth schedules, random sampling among them: all but the upper bound and its check."""
    return rounds[~is_upper_bound(rounds["label"])]


def upper_check(rounds: pd.DataFrame, check_trials: int) -> pd.DataFrame:
    """The upper bound at the profile's length against twice it: ``convergence_table``'s one row
    (none before a pair has finished), read over at least min(MIN_TRIALS, ``check_trials``) trials."""
    return convergence_table(doubled_pairs(rounds, CHECK_LABELS), min_trials=min(MIN_TRIALS, max(check_trials, 1)))


def upper_check_text(table: pd.DataFrame, check_trials: int) -> str:
    """The check of ``upper_check`` in words, and what it means for the shares of the upper bound:
    read against a converged one (passes), provisional (undetermined), biased the way the change
    points (fails), or unchecked."""
    unchecked = "**the shares above rest on an unchecked upper bound.**"
    if check_trials == 0:
        return f"This profile does not check the upper bound's training (`upper_check_trials = 0`): {unchecked}"
    if table.empty:
        return f"No run of the upper bound trained twice as long has finished yet: {unchecked}"
    r = table.iloc[0]
    if r.trials == 0:
        return (f"The upper bound trained twice as long has finished, but none of its {r.unmatched} trial(s) pairs: each "
                f"ran on another machine or dtype than its run at the profile's length, so {unchecked}")
    text = (f"Trained twice as long ({r.steps_doubled} steps instead of {r.steps}), the upper bound's test accuracy "
            f"moves by {100 * r.change:+.2f} points")
    left_out = f"; {r.unmatched} left out, its runs on different machines or dtypes" if r.unmatched else ""
    if r.status == TOO_FEW:
        needed = min(MIN_TRIALS, check_trials)
        return (f"{text} over {r.trials} paired trial{'s' * int(r.trials != 1)}{left_out}: the check reads {needed}, "
                f"so {unchecked}")
    text += f" (95 % CI {ci_text(r.ci_low, r.ci_high)} over {r.trials} paired trials{left_out})"
    tolerance = f"±{100 * TOLERANCE:.0f} point"
    if r.status == PASSES:
        return f"{text}: the interval lies within {tolerance}, so the shares above are read against a converged upper bound."
    if r.status == FAILS:
        more, shares = ("raises", "overstate") if r.change > 0 else ("lowers", "understate")
        return (f"{text}: the interval lies beyond {tolerance}; more training {more} it, so **the shares above "
                f"{shares} how close the schedules come to a converged upper bound.**")
    settle = (f"about {r.trials_needed:.0f} trials would settle it" if r.trials_needed == r.trials_needed
              else "no count of trials up to 100 would settle it")
    return (f"{text}: the interval crosses the {tolerance} edge, so whether the upper bound is converged is "
            f"undetermined ({settle}); **the shares above are provisional.**")
