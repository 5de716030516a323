"""The Findings page: each claim of the paper tested as the paper states it, against its own number.

For every claim, the comparison that tests it is computed exactly as its chapter computes it
(``dpe.study.claim_comparisons``: the chapter's grid and parameters, the same sizes, so Holm's
adjustment covers the same rows), and only the row at the budget is kept. Its status
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
from typing import Callable, Collection

import pandas as pd
from scipy.stats import t as student_t

from dpe.profiles import STUDY_NOTEBOOKS
from dpe.study import paper, segmentation as seg
from dpe.study.chapter import chapter, convergence_check
from dpe.study.claim_comparisons import (
    acquisition_rows, dpe_h_against, exponential_vs_linear, gain_grows, robust_gain,
    seg_dpe_h_against, two_members_unstable, vw_target,
)
from dpe.study.convergence import MIN_TRIALS, outcome
from dpe.study.grids import CONVERGENCE_MODELS, is_upper_bound
from dpe.study.stats import ClaimKind, PairedTest, Status, claim_verdict

__all__ = ["chapter_rounds", "CLAIMS", "NOT_RUN", "NO_PAIR", "NO_RECORDS",
           "REPLICATED_STATUSES", "Claim", "caveat", "claim_status", "findings", "models_compared", "segmentation_check"]

NOT_RUN = "not in this profile's study"  # the status of a claim whose chapter a profile does not run
NO_PAIR = "no pair yet"  # the status of a claim whose chapter has finished runs, but not both sides of a comparison
NO_RECORDS = "no records"

# ---------------------------------------------------------------------------------------------
# the paper's effects, in points, by the place of a size in the schedule (0, 1, 2: 4k, 8k, 16k)

_PAPER_T4 = paper.table4_gains("CIFAR-10")  # DPE + H_ens minus each other row of Table 4
_PAPER_T3 = paper.table3().query("dataset == 'CIFAR-10'").pivot(index="labeled", columns="acquisition", values="accuracy")
_PAPER_T5 = paper.table5().assign(label=lambda t: t["model"] + " " + t["acquisition"]).pivot(index="crops", columns="label", values="miou")
_PAPER_T6 = paper.table6()


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
          "tbl-growth-tests", exponential_vs_linear, _nan, lambda v, i: _random_gain(i) / 2,
          _HALF_RANDOM_GAIN + "; Fig. 1 gives no number, only that Linear-8 is marginally ahead and Linear-4 alike",
          family="Exponential-4 against each other schedule at the budget"),
    Claim("The uncertainty-based acquisition functions perform alike", "Table 3", "acquisition", ClaimKind.NO_DIFFERENCE,
          "tbl-acquisition-tests", acquisition_rows(True), lambda v, i: _table3_effect("H_ens", v, i),
          lambda v, i: _random_gain(i) / 2, _HALF_RANDOM_GAIN + "; random sampling is not among them", "H_cat",
          family="H_ens against each other uncertainty function at every acquired size"),
    Claim("Each uncertainty-based acquisition function beats random sampling", "Table 3", "acquisition", ClaimKind.GAIN,
          "tbl-acquisition-tests", acquisition_rows(False),
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
          vw_target, lambda v, i: float(_PAPER_T6.loc["Target signs (DPE + V_w)", "traffic sign"]
                                         - _PAPER_T6.loc["DPE + H_ens" if "H_ens" in v else "Random (DPE + R)", "traffic sign"]),
          lambda v, i: float(_PAPER_T6.loc["Target signs (DPE + V_w)", "traffic sign"]
                             - _PAPER_T6.loc["DPE + H_ens" if "H_ens" in v else "Random (DPE + R)", "traffic sign"]),
          _PAPER_EFFECT + " (Table 6: traffic signs, +2.0 over H_ens and +1.6 over R)", "dpe H_ens",
          family="V_w against DPE + H_ens and DPE + R at the budget (as the chapter's Table 6 test)"),
    Claim("Training a DPE of 2 members is unstable; more members train stably", "Sec. 5", "ensembles",
          ClaimKind.GAIN, "fig-ensembles-size", two_members_unstable, _nan, _nan,
          "none: the paper states it without a number; read by Fisher's exact test on the runs with a diverged round",
          direction="2 members diverge more often",
          family="none: Fisher's exact test, one test"),
    Claim("The DPE + H_ens gain survives other starts and stronger augmentation", "Table 4's gain; this study's claim",
          "robustness", ClaimKind.GAIN, "tbl-robustness-tests", robust_gain, lambda v, i: _random_gain(2),
          lambda v, i: _random_gain(2), _PAPER_EFFECT + " (the gain over R at 16k, 3.25 points)",
          family="every comparison of the chapter's table, as the chapter (each method against its random sampling in "
                 "every condition; DPE + H_ens against MC dropout and core-set)"),
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
        return int((~is_upper_bound(pd.Series([label for label, _ in runs], dtype=str))).sum())
    return rounds, ch.params, compared(ch.done), compared(ch.grid)


def caveat(chapter: str, labeled: float, finished: int, runs: int, check: tuple[str, dict], unmatched: int = 0,
           models: Collection[str] | None = None) -> str:
    """Why a status read at ``labeled`` labels (crops for segmentation) from ``finished`` of a
    chapter's ``runs`` runs is provisional ("" when it is not): a partial grid, pairs left out for
    mixing machines or dtypes, or a protocol whose convergence check (``check``: the convergence
    chapter's ``check_outcome``, or the segmentation chapter's own) is incomplete, not run, without
    matched pairs, or does not pass at that size (fails, or is undetermined) for one of ``models``
    (the models compared; None: every model checked)."""
    reasons = [f"{finished} of {runs} runs of its grid finished (upper bounds aside)"] if finished < runs else []
    if unmatched:
        reasons.append(f"{unmatched} pair{'s' * (unmatched != 1)} left out: the arms ran on different machines or dtypes")
    verdict, cells = check
    if verdict in ("incomplete", "not checked") or (verdict == "unpaired" and not cells):
        reasons.append("convergence check " + {"incomplete": "incomplete", "not checked": "not run",
                                               "unpaired": "without matched pairs (machines or dtypes differ)"}[verdict])
    verbs = {"fails": ("fails", "fail"), "undetermined": ("is undetermined in", "are undetermined in"),
             "unpaired": ("lacks matched pairs in", "lack matched pairs in")}
    unit = "crops" if chapter == "segmentation" else "labels"
    for status, (one, several) in verbs.items():
        at = sorted({model for (model, size), s in cells.items()
                     if size == labeled and s == status and (models is None or model in models)})
        if at:
            reasons.append(f"{', '.join(at)} {one if len(at) == 1 else several} the convergence check at {labeled:.0f} {unit}")
    return "; ".join(reasons)


def models_compared(chapter: str, versus: str) -> set[str]:
    """The models whose convergence a comparison rests on, as its chapter's check names them:
    the DPE and the other arm's model for classification; for segmentation, the check's DPE + R,
    which stands for the decoders' protocol (its upper bound is compared by no claim)."""
    if chapter == "segmentation":
        return {"dpe R"}
    text = str(versus).lower().replace("mc dropout", "mc-dropout")
    return {"dpe"} | {model for model in CONVERGENCE_MODELS if model in text}  # every claim compares the DPE


def segmentation_check(rounds: pd.DataFrame, params: dict) -> tuple[str, dict]:
    """The segmentation chapter's own convergence check (``dpe.study.segmentation.convergence_check``)
    as ``check_outcome`` gives the classification one: a verdict and the cells that do not pass."""
    table, _ = seg.convergence_check(rounds, params["trials"]) if len(rounds) else (pd.DataFrame(), None)
    if table.empty:
        return "not checked", {}
    return outcome(table, 1, 1, min(MIN_TRIALS, params["trials"]))  # its grid's partial part is a caveat of its own


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
    protocols: dict[str, tuple[str, dict]] = {}  # each chapter's convergence check, read once
    rows = []
    for number, claim in enumerate(claims, 1):
        base = {"claim_number": number, "claim": claim.text, "paper": claim.paper, "profile": profile,
                "chapter": claim.chapter, "evidence": claim.evidence, "kind": claim.kind.value}
        if chapters is not None and claim.chapter not in chapters:
            rows.append({**base, **_NO_COMPARISON, "finished": 0, "runs": 0, "status": NOT_RUN})
            continue
        if claim.chapter not in loaded:
            loaded[claim.chapter] = chapter_rounds(claim.chapter, profile, results_dir)
            rounds, params, _, _ = loaded[claim.chapter]
            protocols[claim.chapter] = segmentation_check(rounds, params) if claim.chapter == "segmentation" else check
        rounds, params, finished, runs = loaded[claim.chapter]
        protocol = protocols[claim.chapter]
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
                         "caveat": caveat(claim.chapter, t.labeled, finished, runs, protocol,
                                          int(getattr(t, "unmatched", 0) or 0), models_compared(claim.chapter, t.versus))})
    return pd.DataFrame(rows)
