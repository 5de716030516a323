"""The Findings page: each claim of the paper tested as the paper states it, against its own number.

For every claim, the comparison that tests it is computed exactly as its chapter computes it
(the chapter's grid and parameters, ``dpe.study.tables.comparisons`` over the same sizes, so
Holm's adjustment covers the same rows), and only the row at the budget is kept. Its status
comes from ``dpe.study.stats.claim_verdict`` by the claim's direction (a gain, no loss, no
difference), the paper's effect at the matching budget (``dpe.study.paper``) and the claim's
equivalence margin, whose justification the page prints beside it (``rules_table``).

A profile's labelled sizes are matched to the paper's by their place in the schedule: the
acquired sizes of Exponential-4 (quick: 200 / 400 / 800; paper-cpu: 4k / 8k / 16k) are the
paper's 4k / 8k / 16k on CIFAR-10, and the segmentation chapter's three acquired sizes the
paper's 6.7k / 13.4k / 26.9k crops.

The page's text, tables and lines glued from these rows are ``dpe.study.findings_page``'s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd
from scipy.stats import fisher_exact, t as student_t

from dpe.profiles import STUDY_NOTEBOOKS
from dpe.study import grids, paper
from dpe.study.chapter import chapter, convergence_check
from dpe.study.stats import ClaimKind, PairedTest, Status, claim_verdict, holm, paired_test
from dpe.study.tables import comparisons

__all__ = ["chapter_rounds", "dpe_h_against", "gain_grows", "seg_dpe_h_against", "CLAIMS", "NOT_RUN", "NO_PAIR", "NO_RECORDS",
           "REPLICATED_STATUSES", "Claim", "caveat", "claim_status", "findings"]

NOT_RUN = "not in this profile's study"  # the status of a claim whose chapter a profile does not run
NO_PAIR = "no pair yet"  # the status of a claim whose chapter has finished runs, but not both sides of a comparison
NO_RECORDS = "no records"

# ---------------------------------------------------------------------------------------------
# the paper's effects, in points, by the place of a size in the schedule (0, 1, 2: 4k, 8k, 16k)

_PAPER_T4 = paper.table4_gains("CIFAR-10")  # DPE + H_ens minus each other row of Table 4
_PAPER_T3 = paper.table3().query("dataset == 'CIFAR-10'").pivot(index="labeled", columns="acquisition", values="accuracy")
_PAPER_T5 = paper.table5().assign(label=lambda t: t["model"] + " " + t["acquisition"]).pivot(index="crops", columns="label", values="miou")
_PAPER_T6 = paper.table6()
UNCERTAINTY = ["H_cat", "MI", "V", "VR"]  # Table 3's uncertainty-based functions besides H_ens


def _table4_effect(versus: str, place: int) -> float:
    rows = _PAPER_T4[_PAPER_T4["versus"] == versus].sort_values("labeled")
    return 100 * float(rows["difference"].iloc[place])


def _random_gain(place: int) -> float:
    """The paper's gain of DPE + H_ens over DPE + R at the place's budget (Table 4, CIFAR-10)."""
    return _table4_effect("dpe R", place)


def _table3_effect(first: str, second: str, place: int) -> float:
    return float(_PAPER_T3[first].iloc[place] - _PAPER_T3[second].iloc[place])


def _table5_effect(versus: str, place: int) -> float:
    return float(_PAPER_T5["dpe H_ens"].iloc[place] - _PAPER_T5[versus].iloc[place])


# ---------------------------------------------------------------------------------------------
# the claims

@dataclass(frozen=True)
class Claim:
    text: str  # the paper's claim, as a reader would state it
    paper: str  # where the paper shows it
    chapter: str  # the notebook whose grid holds the runs
    kind: ClaimKind  # what the claim says of its comparison (claim's method minus the other)
    evidence: str  # the label of the chapter's table that shows the comparison
    compare: Callable[[pd.DataFrame, dict], pd.DataFrame]  # chapter rounds, its parameters -> rows
    effect: Callable[[str, int], float]  # (versus, place) -> the paper's effect, points (NaN: no number)
    margin: Callable[[str, int], float]  # (versus, place) -> the equivalence margin, points
    why: str  # the margin's justification, as the page prints it
    against: str = ""  # the comparison whose paper effects the rules table shows
    direction: str = ""  # the direction as the rules table says it (default: the kind's name)
    family: str = ""  # the comparisons Holm's p is adjusted over, as the rules table says it


def _at_budget(tests: pd.DataFrame) -> pd.DataFrame:
    return tests[tests["labeled"] == tests["labeled"].max()] if len(tests) else tests


def _is_upper_bound(labels: pd.Series) -> pd.Series:
    """True for the runs trained once on the whole pool ("Upper bound", "dpe upper bound",
    "Upper bound | x2"): their one size is the pool's, not a size the schedule reached."""
    return labels.str.contains(grids.UPPER_BOUND, case=False, regex=False)


def _acquired_sizes(rounds: pd.DataFrame) -> list[int]:
    """The sizes the schedule acquired, upper bounds left out; the first size is the shared
    random set."""
    return sorted(rounds.loc[~_is_upper_bound(rounds["label"]), "labeled"].unique())[1:]


def _with_place(tests: pd.DataFrame, sizes: list[int]) -> pd.DataFrame:
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
        sizes = _acquired_sizes(rounds)
        tests = _at_budget(comparisons(rounds, "dpe H_ens", sizes=sizes, value=value))
        return _with_place(tests[tests["versus"] == versus], sizes)
    return compare


def gain_grows(rounds: pd.DataFrame, params: dict) -> pd.DataFrame:
    """DPE + H_ens minus DPE + R, per trial, at the budget less the same at the first acquired
    size: positive when the advantage grows with the budget. One paired test (its p is not
    adjusted: ``p_kind``)."""
    sizes = _acquired_sizes(rounds)
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


def _exponential_vs_linear(rounds: pd.DataFrame, params: dict) -> pd.DataFrame:
    scheduled = rounds[~_is_upper_bound(rounds["label"])]
    tests = comparisons(scheduled, "Exponential-4", sizes=[int(scheduled["labeled"].max())])
    return tests[tests["versus"].isin(["Linear-8", "Linear-4"])].assign(place=2)  # Holm over every schedule at the budget


def _acquisition_rows(reference_is_h_ens: bool):
    """Table 3 at the budget: each uncertainty function against H_ens (``reference_is_h_ens``: the
    spread among them, H_ens minus the other) or against random sampling (the function minus R)."""
    def compare(rounds, params):
        sizes = _acquired_sizes(rounds)
        if reference_is_h_ens:
            tests = comparisons(rounds[rounds["label"] != "R"], "H_ens", sizes=sizes)
            return _with_place(_at_budget(tests[tests["versus"].isin(UNCERTAINTY)]), sizes)
        rows = []
        for function in ["H_ens", *UNCERTAINTY]:
            pair = rounds[rounds["label"].isin([function, "R"])]
            if pair["label"].nunique() == 2:
                rows.append(_at_budget(comparisons(pair, function, sizes=sizes)).assign(versus=f"{function} vs R"))
        if not rows:
            return pd.DataFrame()
        tests = pd.concat(rows, ignore_index=True)
        tests["p_holm"] = holm(list(tests["p_paired"]))  # one family: the functions' gains over R at the budget
        return _with_place(tests, sizes)
    return compare


def seg_dpe_h_against(versus: str):
    """DPE + H_ens against ``versus`` on mIoU at the segmentation budget (Table 5's rows only)."""
    return dpe_h_against(versus, value="miou", rows=["dpe H_ens", "dpe R", "l2-ensemble H_ens", "l2-ensemble R"])


def _vw_target(rounds: pd.DataFrame, params: dict) -> pd.DataFrame:
    target = params["target_class"]
    vw = f"dpe V_w ({target})"
    active = rounds[rounds["label"].isin([vw, "dpe H_ens", "dpe R"])]
    if vw not in set(active["label"]):
        return pd.DataFrame()
    budget = int(active["labeled"].max())  # Table 6 and the chapter test V_w at the budget only: the same Holm family
    return comparisons(active, vw, sizes=[budget], value=f"iou:{target}").assign(place=2)


def _robust_gain(rounds: pd.DataFrame, params: dict) -> pd.DataFrame:
    """DPE + H_ens against DPE + R in every condition of the robustness grid, at its budget."""
    rounds = rounds.assign(condition=rounds["label"].str.split(" | ", regex=False).str[0],
                           method=rounds["label"].str.split(" | ", regex=False).str[1])
    rows = []
    for condition, at in rounds.groupby("condition", sort=False):
        pair = at[at["method"].isin(["DPE + H_ens", "DPE + R"])]
        if pair["method"].nunique() < 2:
            continue
        tests = _at_budget(comparisons(pair, "DPE + H_ens", by="method", sizes=_acquired_sizes(pair)))
        rows.append(tests.assign(versus=f"DPE + R ({condition})"))
    return pd.concat(rows, ignore_index=True).assign(place=2) if rows else pd.DataFrame()


def _two_members_unstable(rounds: pd.DataFrame, params: dict) -> pd.DataFrame:
    """Runs with a diverged round (training cross-entropy above twice a uniform guess): the DPEs
    of 2 members against those of more, every DPE run of the ensembles grid counted once.
    Fisher's exact test, one-sided (2 members diverge more often); the effect is the difference
    of the two shares in points, with no interval."""
    dpe = rounds[~rounds["label"].isin(["l2-ensemble"])]
    runs = dpe.groupby("run").agg(members=("members", "first"), diverged=("diverged", "any"))
    two, more = runs[runs["members"] == 2], runs[runs["members"] > 2]
    if two.empty or more.empty:
        return pd.DataFrame()
    table = [[int(two["diverged"].sum()), int((~two["diverged"]).sum())],
             [int(more["diverged"].sum()), int((~more["diverged"]).sum())]]
    p = float(fisher_exact(table, alternative="greater").pvalue)
    share_two, share_more = two["diverged"].mean(), more["diverged"].mean()
    status = (Status.REPLICATED if p < 0.05 else
              Status.CONTRADICTED if share_two <= share_more and len(two) >= 3 else Status.INCONCLUSIVE)
    return pd.DataFrame([{
        "labeled": int(rounds["labeled"].max()), "place": 2, "trials": len(two),
        "versus": f"E > 2: {table[1][0]} of {len(more)} runs diverged, E = 2: {table[0][0]} of {len(two)}",
        "difference": float(share_two - share_more), "ci_low": math.nan, "ci_high": math.nan, "p_paired": p,
        "p_holm": p, "p_kind": "Fisher's exact test, one-sided", "status": status.value}])


def _nan(versus: str, place: int) -> float:
    return math.nan


_HALF_RANDOM_GAIN = ("half the paper's gain of DPE + H_ens over random sampling at that budget (Table 4, CIFAR-10: "
                     "1.14 / 1.68 / 1.63 points at 4k / 8k / 16k): a difference under half of what acquisition buys "
                     "over random labels does not change which method to use")
_PAPER_EFFECT = "the paper's own effect at that budget: an interval inside it excludes the gain the paper reports"
_TABLE4_FAMILY = "the chapter's table: DPE + H_ens against every other row at every acquired size"
_TABLE5_FAMILY = "DPE + H_ens against the other rows of Table 5 at every acquired size"

CLAIMS = [
    Claim("DPE + H_ens labels better than random sampling", "Table 4", "l2_vs_dpe", ClaimKind.GAIN,
          "tbl-l2-tests", dpe_h_against("dpe R"), _table4_effect, _table4_effect, _PAPER_EFFECT, "dpe R",
          family=_TABLE4_FAMILY),
    Claim("DPE + H_ens beats an L2 ensemble + H_ens", "Table 4", "l2_vs_dpe", ClaimKind.GAIN,
          "tbl-l2-tests", dpe_h_against("l2-ensemble H_ens"), _table4_effect, _table4_effect, _PAPER_EFFECT,
          "l2-ensemble H_ens",
          family=_TABLE4_FAMILY),
    Claim("DPE + H_ens beats a deterministic network + H_ens", "Table 4", "l2_vs_dpe", ClaimKind.GAIN,
          "tbl-l2-tests", dpe_h_against("deterministic H_ens"), _table4_effect, _table4_effect, _PAPER_EFFECT,
          "deterministic H_ens",
          family=_TABLE4_FAMILY),
    Claim("The advantage over random sampling grows with the budget", "Table 4, Fig. 1", "l2_vs_dpe", ClaimKind.GAIN,
          "tbl-l2-tests", gain_grows, lambda v, i: _random_gain(2) - _random_gain(0),
          lambda v, i: _random_gain(2) - _random_gain(0),
          "the paper's own growth of the gain from 4k to 16k labels (3.25 - 2.28 = 0.97 points)",
          family="none: one test"),
    Claim("Exponential-4 is as good as Linear-8 (twice the trainings) and Linear-4", "Fig. 1", "growth", ClaimKind.NO_LOSS,
          "tbl-growth-tests", _exponential_vs_linear, _nan, lambda v, i: _random_gain(i) / 2,
          _HALF_RANDOM_GAIN + "; Fig. 1 gives no number, only that Linear-8 is marginally ahead and Linear-4 alike",
          family="Exponential-4 against each other schedule at the budget"),
    Claim("The uncertainty-based acquisition functions perform alike", "Table 3", "acquisition", ClaimKind.NO_DIFFERENCE,
          "tbl-acquisition-tests", _acquisition_rows(True), lambda v, i: _table3_effect("H_ens", v, i),
          lambda v, i: _random_gain(i) / 2, _HALF_RANDOM_GAIN + "; random sampling is not among them", "H_cat",
          family="H_ens against each other uncertainty function at every acquired size"),
    Claim("Each uncertainty-based acquisition function beats random sampling", "Table 3", "acquisition", ClaimKind.GAIN,
          "tbl-acquisition-tests", _acquisition_rows(False),
          lambda v, i: _table3_effect(v.split(" vs ")[0], "R", i), lambda v, i: _table3_effect(v.split(" vs ")[0], "R", i),
          _PAPER_EFFECT + " (Table 3: each function minus R)", "H_ens vs R",
          family="the five functions' gains over R at the budget (fewer than the chapter's table, which adjusts over H_ens against every function at every size)"),
    Claim("DPE + H_ens segments better than random crops", "Table 5", "segmentation", ClaimKind.GAIN,
          "tbl-seg-tests", seg_dpe_h_against("dpe R"), _table5_effect, _table5_effect, _PAPER_EFFECT, "dpe R",
          family=_TABLE5_FAMILY),
    Claim("DPE + H_ens segments better than an L2 ensemble + H_ens", "Table 5", "segmentation", ClaimKind.GAIN,
          "tbl-seg-tests", seg_dpe_h_against("l2-ensemble H_ens"), _table5_effect, _table5_effect, _PAPER_EFFECT,
          "l2-ensemble H_ens",
          family=_TABLE5_FAMILY),
    Claim("V_w raises the IoU of its target class", "Table 6", "segmentation", ClaimKind.GAIN, "tbl-seg-table6",
          _vw_target, lambda v, i: float(_PAPER_T6.loc["Target signs (DPE + V_w)", "traffic sign"]
                                         - _PAPER_T6.loc["DPE + H_ens" if "H_ens" in v else "Random (DPE + R)", "traffic sign"]),
          lambda v, i: float(_PAPER_T6.loc["Target signs (DPE + V_w)", "traffic sign"]
                             - _PAPER_T6.loc["DPE + H_ens" if "H_ens" in v else "Random (DPE + R)", "traffic sign"]),
          _PAPER_EFFECT + " (Table 6: traffic signs, +2.0 over H_ens and +1.6 over R)", "dpe H_ens",
          family="V_w against DPE + H_ens and DPE + R at the budget (as the chapter's Table 6 test)"),
    Claim("Training a DPE of 2 members is unstable; more members train stably", "Sec. 5", "ensembles",
          ClaimKind.GAIN, "fig-ensembles-size", _two_members_unstable, _nan, _nan,
          "none: the paper states it without a number; read by Fisher's exact test on the runs with a diverged round",
          direction="2 members diverge more often",
          family="none: Fisher's exact test, one test"),
    Claim("The DPE + H_ens gain survives other starts and stronger augmentation", "Table 4's gain; this study's claim",
          "robustness", ClaimKind.GAIN, "tbl-robustness-tests", _robust_gain, lambda v, i: _random_gain(2),
          lambda v, i: _random_gain(2), _PAPER_EFFECT + " (the gain over R at 16k, 3.25 points)",
          family="per condition, DPE + H_ens against DPE + R at every acquired size"),
]


# ---------------------------------------------------------------------------------------------
# reading a claim at a profile

def _test_of(row) -> PairedTest | None:
    """The paired test behind a comparison row, rebuilt from its mean and 95 % CI (for TOST)."""
    if row.trials < 2 or row.ci_low != row.ci_low:
        return None
    half = (row.ci_high - row.ci_low) / 2
    se = half / float(student_t.ppf(0.975, row.trials - 1))
    return PairedTest(int(row.trials), row.difference, row.ci_low, row.ci_high, math.nan, row.p_paired, math.nan,
                      math.nan, se)


REPLICATED_STATUSES = {Status.REPLICATED.value, Status.SMALLER.value, Status.LARGER.value}  # a comparison that replicates


def claim_status(statuses: list[str]) -> str:
    """One status for a claim tested by several comparisons: replicated (smaller or larger than
    in the paper where none says the other) if every comparison is, partly replicated if some
    are, contradicted if none is and one contradicts, no difference if all show none (below the
    paper's effect if each is a gain under it), else the common status."""
    if not statuses:
        return NO_RECORDS
    replicated = sum(s in REPLICATED_STATUSES for s in statuses)
    if replicated == len(statuses):
        qualified = {Status.SMALLER.value, Status.LARGER.value} & set(statuses)
        return qualified.pop() if len(qualified) == 1 else Status.REPLICATED.value
    if replicated:
        return "partly replicated"
    if Status.CONTRADICTED.value in statuses:
        return Status.CONTRADICTED.value
    under = {Status.NO_DIFFERENCE.value, Status.BELOW_PAPER.value}
    if all(s in under for s in statuses):
        return Status.BELOW_PAPER.value if set(statuses) == {Status.BELOW_PAPER.value} else Status.NO_DIFFERENCE.value
    return Status.INCONCLUSIVE.value if Status.INCONCLUSIVE.value in statuses else statuses[0]


def chapter_rounds(name: str, profile: str, results_dir: Path) -> tuple[pd.DataFrame, dict, int, int]:
    """The finished runs of a chapter's grid at ``profile``, as its notebook loads them; its
    parameters; and how many of the grid's runs are finished, of how many -- upper bounds left
    out of both counts, since no claim compares them (a missing one makes no status provisional)."""
    ch = chapter(name, profile, results_dir=str(results_dir))
    rounds = ch.rounds() if ch.done else pd.DataFrame()
    def compared(runs) -> int:
        return int((~_is_upper_bound(pd.Series([label for label, _ in runs], dtype=str))).sum())
    return rounds, ch.params, compared(ch.done), compared(ch.grid)


def caveat(chapter: str, labeled: float, finished: int, runs: int, check: tuple[str, dict], unmatched: int = 0) -> str:
    """Why a status read at ``labeled`` labels from ``finished`` of a chapter's ``runs`` runs is
    provisional ("" when it is not): a partial grid, pairs left out for mixing machines or dtypes, or a
    classification protocol whose convergence check (``dpe.study.convergence.check_outcome``) is
    incomplete, not run, without matched pairs, or does not pass at that labelled size (fails, or is undetermined).
    Segmentation has no such check here (its chapter checks itself)."""
    reasons = [f"{finished} of {runs} runs of its grid finished"] if finished < runs else []
    if unmatched:
        reasons.append(f"{unmatched} pair{'s' * (unmatched != 1)} left out: the arms ran on different machines or dtypes")
    verdict, cells = check
    if chapter != "segmentation":
        if verdict in ("incomplete", "not checked") or (verdict == "unpaired" and not cells):
            reasons.append("convergence check " + {"incomplete": "incomplete", "not checked": "not run",
                                                   "unpaired": "without matched pairs (machines or dtypes differ)"}[verdict])
        verbs = {"fails": ("fails", "fail"), "undetermined": ("is undetermined in", "are undetermined in"),
                 "unpaired": ("lacks matched pairs in", "lack matched pairs in")}
        for status, (one, several) in verbs.items():
            at = sorted({model for (model, size), s in cells.items() if size == labeled and s == status})
            if at:
                reasons.append(f"{', '.join(at)} {one if len(at) == 1 else several} the convergence check at {labeled:.0f} labels")
    return "; ".join(reasons)


_NO_COMPARISON = {"versus": "", "labeled": math.nan, "trials": 0, "effect": math.nan, "ci_low": math.nan,
                  "ci_high": math.nan, "paper_effect": math.nan, "margin": math.nan, "p": math.nan, "p_kind": "",
                  "caveat": ""}  # a claim's row when nothing was compared


def findings(profile: str, results_dir: str | Path, claims: list[Claim] = CLAIMS) -> pd.DataFrame:
    """One row per comparison behind each claim at ``profile``: our effect at the budget (claim's
    method minus the other, points) with its 95 % CI, the paper's effect at the matching budget,
    the margin, the p (Holm's within the chapter unless ``p_kind`` says otherwise) and the status
    (``claim_verdict``). Claims whose chapter has no finished run get one row saying so, and so
    do claims whose chapter the profile's study does not run (``STUDY_NOTEBOOKS``)."""
    results_dir = Path(results_dir)
    chapters = STUDY_NOTEBOOKS.get(profile)  # None: every chapter
    check = convergence_check(profile, results_dir)
    loaded: dict[str, tuple[pd.DataFrame, dict, int, int]] = {}
    rows = []
    for number, claim in enumerate(claims, 1):
        base = {"claim_number": number, "claim": claim.text, "paper": claim.paper, "profile": profile,
                "chapter": claim.chapter, "evidence": claim.evidence, "kind": claim.kind.value}
        if chapters is not None and claim.chapter not in chapters:
            rows.append({**base, **_NO_COMPARISON, "finished": 0, "runs": 0, "status": NOT_RUN})
            continue
        if claim.chapter not in loaded:
            loaded[claim.chapter] = chapter_rounds(claim.chapter, profile, results_dir)
        rounds, params, finished, runs = loaded[claim.chapter]
        base.update(finished=finished, runs=runs)
        tests = claim.compare(rounds, params) if len(rounds) else pd.DataFrame()
        if tests.empty:
            status = NO_PAIR if len(rounds) else NO_RECORDS
            rows.append({**base, **_NO_COMPARISON, "status": status})
            continue
        for t in tests.itertuples():
            place = int(getattr(t, "place", 2))
            effect, margin = claim.effect(t.versus, place), claim.margin(t.versus, place)
            status = getattr(t, "status", None) or claim_verdict(
                claim.kind, _test_of(t), margin / 100, effect / 100, p_adjusted=t.p_holm).value
            rows.append({**base, "versus": t.versus, "labeled": int(t.labeled), "trials": int(t.trials),
                         "effect": 100 * t.difference, "ci_low": 100 * t.ci_low, "ci_high": 100 * t.ci_high,
                         "paper_effect": effect, "margin": margin, "p": t.p_holm,
                         "p_kind": getattr(t, "p_kind", None) or "Holm", "status": status,
                         "caveat": caveat(claim.chapter, t.labeled, finished, runs, check,
                                          int(getattr(t, "unmatched", 0) or 0))})
    return pd.DataFrame(rows)
