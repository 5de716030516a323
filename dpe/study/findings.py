"""The Findings page: each claim of the paper read against this study's records.

For every claim, the comparison that tests it is computed exactly as its chapter computes it
(the chapter's grid and parameters from ``dpe.study``, ``dpe.study.tables.comparisons`` over the
same sizes, so Holm's adjustment covers the same rows), and only the row at the budget is
kept. Its verdict (``dpe.study.robustness.verdict``) becomes a replication status according to what
the claim says: a gain (``better``), no loss (``not-worse``) or no difference (``alike``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd

from dpe.study import grids
from dpe.study.robustness import verdict
from dpe.study.tables import comparisons, load_rounds, load_segmentation_rounds, p_text
from dpe.study.stats import paired_test

__all__ = ["CLAIMS", "NOT_RUN", "STATUS", "Claim", "caveat", "claim_status", "findings", "findings_summary", "findings_table", "replication"]

# verdict -> replication status, for each kind of claim
STATUS = {
    "better": {"holds": "replicated", "vanishes": "not replicated", "reverses": "contradicted"},
    "not-worse": {"holds": "replicated", "vanishes": "replicated", "reverses": "not replicated"},
    "alike": {"vanishes": "replicated", "holds": "not replicated", "reverses": "not replicated"},
}


def replication(kind: str, verdict_: str) -> str:
    """What a comparison's verdict says of a claim of this kind: replicated, not replicated,
    contradicted, inconclusive, or too few trials."""
    if verdict_ == "too few trials":
        return verdict_
    return STATUS[kind].get(verdict_, "inconclusive")


def claim_status(statuses: list[str]) -> str:
    """One status for a claim tested by several comparisons: replicated if all are,
    partly replicated if some are, not replicated if none is and one fails, else the common
    status (inconclusive or too few trials)."""
    if not statuses:
        return "no records"
    replicated = sum(s == "replicated" for s in statuses)
    if replicated == len(statuses):
        return "replicated"
    if replicated:
        return "partly replicated"
    if any(s in ("not replicated", "contradicted") for s in statuses):
        return "not replicated"
    return "inconclusive" if "inconclusive" in statuses else statuses[0]


@dataclass(frozen=True)
class Claim:
    text: str  # the paper's claim, as a reader would state it
    paper: str  # where the paper shows it
    chapter: str  # the notebook whose grid holds the runs
    kind: str  # better | not-worse | alike (STATUS)
    evidence: str  # the label of the chapter's table that shows the comparison
    compare: Callable[[pd.DataFrame, dict], pd.DataFrame]  # chapter rounds, its parameters -> rows


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


def _dpe_h_against(versus: str, value: str = "accuracy", rows: list[str] | None = None):
    """DPE + H_ens against ``versus`` on ``value`` at the budget, over the ``rows`` labels only
    (all if None; Holm's correction counts every row compared)."""
    def compare(rounds, params):
        if rows is not None:
            rounds = rounds[rounds["label"].isin(rows)]
        tests = _at_budget(comparisons(rounds, "dpe H_ens", sizes=_acquired_sizes(rounds), value=value))
        return tests[tests["versus"] == versus]
    return compare


def _gain_grows(rounds: pd.DataFrame, params: dict) -> pd.DataFrame:
    """DPE + H_ens minus DPE + R, per trial, at the budget less the same at the first acquired
    size: positive when the advantage grows with the budget. One paired test."""
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
    row = {"labeled": sizes[-1], "versus": f"its gain at {sizes[0]} labels", "trials": len(wide),
           "difference": float((late - early).mean()), "ci_low": math.nan, "ci_high": math.nan, "p_holm": math.nan,
           "verdict": "too few trials"}
    if len(wide) >= 2:
        test = paired_test(list(late), list(early))
        row.update(difference=test.mean_difference, ci_low=test.ci_low, ci_high=test.ci_high, p_holm=test.p,
                   verdict=verdict(test.ci_low, test.ci_high, test.mean_difference, p_adjusted=test.p))
    return pd.DataFrame([row])


def _exponential_vs_linear(rounds: pd.DataFrame, params: dict) -> pd.DataFrame:
    scheduled = rounds[~_is_upper_bound(rounds["label"])]
    tests = comparisons(scheduled, "Exponential-4", sizes=[int(scheduled["labeled"].max())])
    return tests[tests["versus"] == "Linear-8"]


def _acquisitions_alike(rounds: pd.DataFrame, params: dict) -> pd.DataFrame:
    return _at_budget(comparisons(rounds, "H_ens", sizes=_acquired_sizes(rounds)))


def _seg_dpe_h_against(versus: str):
    """DPE + H_ens against ``versus`` on mIoU at the segmentation budget (Table 5's rows only)."""
    return _dpe_h_against(versus, value="miou", rows=["dpe H_ens", "dpe R", "l2-ensemble H_ens", "l2-ensemble R"])


def _vw_target(rounds: pd.DataFrame, params: dict) -> pd.DataFrame:
    target = params["target_class"]
    vw = f"dpe V_w ({target})"
    active = rounds[rounds["label"].isin([vw, "dpe H_ens", "dpe R"])]
    if vw not in set(active["label"]):
        return pd.DataFrame()
    budget = int(active["labeled"].max())  # Table 6 and the chapter test V_w at the budget only: the same Holm family
    return comparisons(active, vw, sizes=[budget], value=f"iou:{target}")


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
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


CLAIMS = [
    Claim("DPE + H_ens labels better than random sampling", "Table 4 (CIFAR-10: every budget)", "l2_vs_dpe", "better",
          "tbl-l2-tests", _dpe_h_against("dpe R")),
    Claim("DPE + H_ens beats an L2 ensemble + H_ens", "Table 4 (CIFAR-10: every budget; CIFAR-100: 16k)", "l2_vs_dpe",
          "better", "tbl-l2-tests", _dpe_h_against("l2-ensemble H_ens")),
    Claim("DPE + H_ens beats a deterministic network + H_ens", "Table 4", "l2_vs_dpe", "better", "tbl-l2-tests",
          _dpe_h_against("deterministic H_ens")),
    Claim("The advantage over random sampling grows with the budget", "Table 4, Fig. 1", "l2_vs_dpe", "better",
          "tbl-l2-tests", _gain_grows),
    Claim("Exponential-4 is as good as Linear-8, with fewer trainings", "Fig. 1", "growth", "not-worse",
          "tbl-growth-tests", _exponential_vs_linear),
    Claim("The acquisition functions perform alike", "Table 3", "acquisition", "alike", "tbl-acquisition-tests",
          _acquisitions_alike),
    Claim("DPE + H_ens segments better than random crops", "Table 5 (+1.7 mIoU at 26.9k crops)", "segmentation",
          "better", "tbl-seg-tests", _seg_dpe_h_against("dpe R")),
    Claim("DPE + H_ens segments better than an L2 ensemble + H_ens", "Table 5 (+1.0 mIoU at 26.9k crops)",
          "segmentation", "better", "tbl-seg-tests", _seg_dpe_h_against("l2-ensemble H_ens")),
    Claim("V_w raises the IoU of its target class", "Table 6", "segmentation", "better", "tbl-seg-table6", _vw_target),
    Claim("The DPE + H_ens gain survives other starts and stronger augmentation", "this study's robustness chapter",
          "robustness", "better", "tbl-robustness-tests", _robust_gain),
]


def _chapter_rounds(chapter: str, profile: str, results_dir: Path) -> tuple[pd.DataFrame, dict, int, int]:
    """The finished runs of a chapter's grid at ``profile``, as its notebook loads them; its
    parameters; and how many of the grid's runs are finished, of how many."""
    from dpe.study.runner import grid_of, notebook_parameters

    params = notebook_parameters(chapter, profile, {}, results_dir, "cpu", None)
    grid = grid_of(chapter, params)
    done, paths = grids.finished_part(grid, results_dir)
    if not done:
        return pd.DataFrame(), params, 0, len(grid)
    loader = load_segmentation_rounds if chapter == "segmentation" else load_rounds
    return loader(paths, [label for label, _ in done]), params, len(done), len(grid)


def caveat(chapter: str, labeled: float, finished: int, runs: int, check: tuple[str, list[tuple[str, int]]]) -> str:
    """Why a status read at ``labeled`` labels from ``finished`` of a chapter's ``runs`` runs is
    provisional ("" when it is not): a partial grid, or a classification protocol whose
    convergence check (``dpe.study.convergence.check_outcome``) is incomplete, not run, or fails
    at that labelled size. Segmentation has no such check."""
    reasons = [f"{finished} of {runs} runs of its grid finished"] if finished < runs else []
    verdict, failing = check
    if chapter != "segmentation":
        if verdict in ("incomplete", "not checked"):
            reasons.append(f"convergence check {'incomplete' if verdict == 'incomplete' else 'not run'}")
        at = sorted({model for model, size in failing if size == labeled})  # failing is empty unless it fails
        if at:
            reasons.append(f"{', '.join(at)} fail{'s' * (len(at) == 1)} the convergence check at {labeled:.0f} labels")
    return "; ".join(reasons)


NOT_RUN = "not in this profile's study"  # the status of a claim whose chapter a profile does not run
NO_PAIR = "no pair yet"  # the status of a claim whose chapter has finished runs, but not both sides of a comparison
_NO_COMPARISON = {"versus": "", "labeled": math.nan, "trials": 0, "effect": math.nan, "ci_low": math.nan,
                  "ci_high": math.nan, "p_holm": math.nan, "caveat": ""}  # a claim's row when nothing was compared


def findings(profile: str, results_dir: str | Path, claims: list[Claim] = CLAIMS) -> pd.DataFrame:
    """One row per comparison behind each claim at ``profile``: the effect at the budget
    (reference minus other, in points) with its 95 % CI, Holm p, verdict and replication
    status. Claims whose chapter has no finished run get one row saying so, and so do claims
    whose chapter the profile's study does not run (``STUDY_NOTEBOOKS``: paper-cpu runs Table 4 only)."""
    from dpe.config import make_config
    from dpe.profiles import STUDY_NOTEBOOKS
    from dpe.study.convergence import check_outcome

    results_dir = Path(results_dir)
    chapters = STUDY_NOTEBOOKS.get(profile)  # None: every chapter
    check = check_outcome(results_dir, profile, make_config(profile).dataset)
    loaded: dict[str, tuple[pd.DataFrame, dict, int, int]] = {}
    rows = []
    for number, claim in enumerate(claims, 1):
        base = {"claim_number": number, "claim": claim.text, "paper": claim.paper, "profile": profile,
                "chapter": claim.chapter, "evidence": claim.evidence}
        if chapters is not None and claim.chapter not in chapters:
            rows.append({**base, **_NO_COMPARISON, "finished": 0, "runs": 0, "verdict": NOT_RUN, "status": NOT_RUN})
            continue
        if claim.chapter not in loaded:
            loaded[claim.chapter] = _chapter_rounds(claim.chapter, profile, results_dir)
        rounds, params, finished, runs = loaded[claim.chapter]
        base.update(finished=finished, runs=runs)
        tests = claim.compare(rounds, params) if len(rounds) else pd.DataFrame()
        if tests.empty:
            status = NO_PAIR if len(rounds) else "no records"
            rows.append({**base, **_NO_COMPARISON, "verdict": status, "status": status})
            continue
        for t in tests.itertuples():
            rows.append({**base, "versus": t.versus, "labeled": int(t.labeled), "trials": int(t.trials),
                         "effect": 100 * t.difference, "ci_low": 100 * t.ci_low, "ci_high": 100 * t.ci_high,
                         "p_holm": t.p_holm, "verdict": t.verdict, "status": replication(claim.kind, t.verdict),
                         "caveat": caveat(claim.chapter, t.labeled, finished, runs, check)})
    return pd.DataFrame(rows)


def _math(text: str) -> str:
    return text.replace("H_ens", "$H_{ens}$").replace("V_w", "$V_w$")


def findings_table(rows: pd.DataFrame, profile: str) -> str:
    """``findings`` rows as the page's Markdown table; rows of ``profile`` link their figure or
    table ({numref}), rows of other profiles name the records they come from."""
    def effect(row):
        if row.trials == 0:
            return "runs finished, none paired yet" if row.status == NO_PAIR else "no finished runs"
        ci = "" if row.ci_low != row.ci_low else f" [{row.ci_low:+.2f}, {row.ci_high:+.2f}]"
        return f"{row.effect:+.2f}{ci}"

    # the claims' text is in the numbered list above the table: here its number and where the paper shows it
    lines = ["| # | In the paper | Profile | Against, at the budget | Effect, points [95 % CI] | Holm *p* | Status (verdict) | Evidence |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows[rows.status != NOT_RUN].itertuples():  # the summary above names the claims a profile does not test
        against = f"{r.versus} ({r.labeled:.0f} labels)" if r.trials else "--"
        evidence = f"{{numref}}`{r.evidence}`" if r.profile == profile else f"`{r.profile}` records"
        lines.append(f"| {r.claim_number} | {_math(r.paper)} | {r.profile} | {against} | {effect(r)} | "
                     f"{p_text(r.p_holm)} | **{r.status}**{'' if r.verdict == r.status else f' ({r.verdict})'}"
                     f"{', *provisional*' if r.caveat else ''} | {evidence} |")
    return "\n".join(lines)


def findings_summary(rows: pd.DataFrame, profiles) -> str:
    """One numbered line per claim: its replication status at each of ``profiles``, marked
    *provisional* with the reasons of ``caveat`` where its comparisons have any."""
    summary = []
    for number, claim in enumerate(CLAIMS, 1):
        parts = []
        for p in profiles:
            at = rows[(rows.claim_number == number) & (rows.profile == p)]
            if len(at) and (at.status == NOT_RUN).all():
                parts.append(f"at `{p}` {NOT_RUN}")
                continue
            n_ok = int((at.status == "replicated").sum())
            compared = [s for s in at.status if s not in ("no records", NO_PAIR)]
            if compared:
                status = claim_status(compared)
                caveats = "; ".join(dict.fromkeys(c for c in at.caveat if c))
                detail = (f" ({n_ok} of {len(at)} comparison{'s' * (len(at) != 1)} replicated"
                          + (f"; *provisional*: {caveats}" if caveats else "") + ")")
            else:
                status, detail = (NO_PAIR if (at.status == NO_PAIR).any() else "no records"), ""
            parts.append(f"at `{p}` **{status}**{detail}")
        summary.append(f"{number}. {_math(claim.text)}: " + "; ".join(parts) + ".")
    return "\n".join(summary)
