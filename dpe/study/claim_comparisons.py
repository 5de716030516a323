"""How each claim of the Findings page is compared, from its chapter's rounds and parameters,
exactly as the chapter compares it (its grid, ``dpe.study.tables.comparisons`` over the same
sizes, so Holm's adjustment covers the same rows): one function per kind of comparison, each
returning the rows at the sizes that matter, with ``place``, the paper's budget a size stands for."""

from __future__ import annotations

import math

import pandas as pd
from scipy.stats import fisher_exact

from dpe.study import paper, robustness as rob
from dpe.study.chapter import grid_of
from dpe.study.ensembles import alike_runs, runs_by_members, size_sweep
from dpe.study.grids import is_upper_bound
from dpe.study.stats import Status, holm, paired_test
from dpe.study.tables import comparisons, evaluation_size

__all__ = ["acquired_sizes", "acquisition_rows", "at_budget", "dpe_h_against", "exponential_vs_linear", "gain_grows",
           "robust_gain", "seg_dpe_h_against", "two_members_unstable", "vw_target", "with_place", "UNCERTAINTY"]

UNCERTAINTY = ["H_cat", "MI", "V", "VR"]  # Table 3's uncertainty-based functions besides H_ens


def at_budget(tests: pd.DataFrame) -> pd.DataFrame:
    return tests[tests["labeled"] == tests["labeled"].max()] if len(tests) else tests


def acquired_sizes(rounds: pd.DataFrame) -> list[int]:
    """The sizes the schedule acquired, upper bounds left out; the first size is the shared
    random set."""
    return sorted(rounds.loc[~is_upper_bound(rounds["label"]), "labeled"].unique())[1:]


def with_place(tests: pd.DataFrame, sizes: list[int]) -> pd.DataFrame:
    """``tests`` with ``place``: the paper's budget its size stands for, counted back from the
    last (the budget is the paper's 16k, the one before it 8k, ...)."""
    places = [paper.budget_place(n, sizes) for n in tests["labeled"]]
    return tests.assign(place=[2 if place is None else place for place in places])


def dpe_h_against(versus: str, value: str = "accuracy", rows: list[str] | None = None):
    """DPE + H_ens against ``versus`` on ``value`` at the budget, over the ``rows`` labels only
    (all if None; Holm's correction counts every row compared)."""
    def compare(rounds, params):
        if rows is not None:
            rounds = rounds[rounds["label"].isin(rows)]
        sizes = acquired_sizes(rounds)
        tests = at_budget(comparisons(rounds, "dpe H_ens", sizes=sizes, value=value))
        return with_place(tests[tests["versus"] == versus], sizes)
    return compare


def gain_grows(rounds: pd.DataFrame, params: dict) -> pd.DataFrame:
    """DPE + H_ens minus DPE + R, per trial, at the budget less the same at the first acquired
    size: positive when the advantage grows with the budget. One paired test (its p is not
    adjusted: ``p_kind``)."""
    sizes = acquired_sizes(rounds)
    if len(sizes) < 2:
        return pd.DataFrame()
    per = rounds[rounds["label"].isin(["dpe H_ens", "dpe R"]) & rounds["labeled"].isin([sizes[0], sizes[-1]])]
    wide = per.pivot_table(index="trial", columns=["labeled", "label"], values="accuracy")
    if wide.shape[1] < 4:
        return pd.DataFrame()
    wide = wide.dropna()
    late = wide[(sizes[-1], "dpe H_ens")] - wide[(sizes[-1], "dpe R")]
    early = wide[(sizes[0], "dpe H_ens")] - wide[(sizes[0], "dpe R")]
    row = {"labeled": sizes[-1], "versus": f"its gain at {sizes[0]} labels", "trials": len(wide), "place": 2,
           "difference": float((late - early).mean()), "ci_low": math.nan, "ci_high": math.nan, "p_paired": math.nan,
           "p_holm": math.nan, "p_kind": "one test, unadjusted"}
    if len(wide) >= 2:
        test = paired_test(list(late), list(early))
        row.update(difference=test.mean_difference, ci_low=test.ci_low, ci_high=test.ci_high, p_paired=test.p,
                   p_holm=test.p)
    return pd.DataFrame([row])


def exponential_vs_linear(rounds: pd.DataFrame, params: dict) -> pd.DataFrame:
    scheduled = rounds[~is_upper_bound(rounds["label"])]
    tests = comparisons(scheduled, "Exponential-4", sizes=[int(scheduled["labeled"].max())])
    return tests[tests["versus"].isin(["Linear-8", "Linear-4"])].assign(place=2)  # Holm over every schedule at the budget


def acquisition_rows(reference_is_h_ens: bool):
    """Table 3 at the budget: each uncertainty function against H_ens (``reference_is_h_ens``: the
    spread among them, H_ens minus the other) or against random sampling (the function minus R)."""
    def compare(rounds, params):
        sizes = acquired_sizes(rounds)
        if reference_is_h_ens:
            tests = comparisons(rounds[rounds["label"] != "R"], "H_ens", sizes=sizes)
            return with_place(at_budget(tests[tests["versus"].isin(UNCERTAINTY)]), sizes)
        rows = []
        for function in ["H_ens", *UNCERTAINTY]:
            pair = rounds[rounds["label"].isin([function, "R"])]
            if pair["label"].nunique() == 2:
                rows.append(at_budget(comparisons(pair, function, sizes=sizes)).assign(versus=f"{function} vs R"))
        if not rows:
            return pd.DataFrame()
        tests = pd.concat(rows, ignore_index=True)
        tests["p_holm"] = holm(list(tests["p_paired"]))  # one family: the functions' gains over R at the budget
        return with_place(tests, sizes)
    return compare


def seg_dpe_h_against(versus: str):
    """DPE + H_ens against ``versus`` on mIoU at the segmentation budget (Table 5's rows only)."""
    return dpe_h_against(versus, value="miou", rows=["dpe H_ens", "dpe R", "l2-ensemble H_ens", "l2-ensemble R"])


def vw_target(rounds: pd.DataFrame, params: dict) -> pd.DataFrame:
    target = params["target_class"]
    vw = f"dpe V_w ({target})"
    active = rounds[rounds["label"].isin([vw, "dpe H_ens", "dpe R"])]
    if vw not in set(active["label"]):
        return pd.DataFrame()
    budget = int(active["labeled"].max())  # Table 6 and the chapter test V_w at the budget only: the same Holm family
    return comparisons(active, vw, sizes=[budget], value=f"iou:{target}").assign(place=2)


def robust_gain(rounds: pd.DataFrame, params: dict) -> pd.DataFrame:
    """DPE + H_ens against DPE + R in every condition of the robustness grid, at its budget: the
    chapter's own rows (``dpe.study.robustness.robustness_tests``: whole runs paired on one machine,
    runs with a diverged round left out, Holm over every comparison of its table)."""
    rounds = rounds.assign(condition=rounds["label"].str.split(" | ", regex=False).str[0],
                           method=rounds["label"].str.split(" | ", regex=False).str[1])
    base = grid_of("robustness", params)[0][0].split(" | ")[0]  # as the chapter: the grid's first condition
    tests = rob.robustness_tests(rounds, base, evaluation_size(rounds))
    tests = tests[(tests["method"] == rob.DPE) & (tests["baseline"] == rob.RANDOM)]
    if tests.empty:
        return pd.DataFrame()
    budget = rounds.groupby("condition")["labeled"].max()
    return pd.DataFrame({"labeled": tests["condition"].map(budget), "versus": "DPE + R (" + tests["condition"] + ")",
                         "trials": tests["trials"], "unmatched": tests["unmatched"], "difference": tests["difference"],
                         "ci_low": tests["ci_low"], "ci_high": tests["ci_high"], "p_paired": tests["p"],
                         "p_holm": tests["p_holm"], "place": 2}).reset_index(drop=True)


def two_members_unstable(rounds: pd.DataFrame, params: dict) -> pd.DataFrame:
    """Runs with a diverged round (training cross-entropy above twice a uniform guess): the DPEs
    of 2 members against those of more in the chapter's size sweep, on the machines, engines and
    dtypes both sides ran on, as the chapter counts them (``dpe.study.ensembles.runs_by_members``
    and ``alike_runs``; its KL-weight sweep varies another setting). Fisher's exact test,
    one-sided (2 members diverge more often); the effect is the difference of the two shares in
    points, with no interval."""
    all_two, all_more = runs_by_members(size_sweep(rounds))
    two, more = alike_runs(all_two, all_more)
    if two.empty or more.empty:
        return pd.DataFrame()
    left_out = len(all_two) + len(all_more) - len(two) - len(more)
    table = [[int(two["diverged"].sum()), int((~two["diverged"]).sum())],
             [int(more["diverged"].sum()), int((~more["diverged"]).sum())]]
    p = float(fisher_exact(table, alternative="greater").pvalue)
    share_two, share_more = two["diverged"].mean(), more["diverged"].mean()
    status = (Status.REPLICATED if p < 0.05 else
              Status.CONTRADICTED if share_two <= share_more and len(two) >= 3 else Status.INCONCLUSIVE)
    return pd.DataFrame([{
        "labeled": int(rounds["labeled"].max()), "place": 2, "trials": len(two),
        "versus": f"E > 2: {table[1][0]} of {len(more)} runs diverged, E = 2: {table[0][0]} of {len(two)}"
                  + (f" (alike runs; {left_out} on other machines or dtypes left out)" if left_out else ""),
        "difference": float(share_two - share_more), "ci_low": math.nan, "ci_high": math.nan, "p_paired": p,
        "p_holm": p, "p_kind": "Fisher's exact test, one-sided", "status": status.value}])
