"""The Findings page's reading of the records: statuses and the comparisons behind them."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from scipy.stats import t as student_t

from dpe.study.claim_comparisons import dpe_h_against, gain_grows
from dpe.study.findings import claim_status
from dpe.study.stats import Status, claim_verdict, paired_test
from dpe.study.tables import comparisons, source_caption


def rounds_of(values: dict[tuple[str, int], list[float]], sizes=(100, 200, 800)) -> pd.DataFrame:
    """A rounds table: values[(label, trial)] = accuracy at each size."""
    rows = [{"label": label, "trial": trial, "labeled": size, "accuracy": acc, "test_size": 1000,
             "dataset": "fashion-mnist", "run": f"{label}-{trial}", "diverged": False,
             "commit": "abc1234", "dirty": False}
            for (label, trial), accs in values.items() for size, acc in zip(sizes, accs)]
    return pd.DataFrame(rows)


def test_a_claim_is_replicated_only_when_every_comparison_is():
    assert claim_status(["replicated", "replicated"]) == "replicated"
    assert claim_status(["replicated", "replicated, smaller than in the paper"]) == "replicated, smaller than in the paper"
    larger = "replicated, larger than in the paper"
    assert claim_status(["replicated", larger]) == larger
    assert claim_status([larger, "replicated, smaller than in the paper"]) == "replicated"
    assert claim_status([larger, "inconclusive"]) == "partly replicated"
    assert claim_status(["replicated", "inconclusive"]) == "partly replicated"
    assert claim_status(["inconclusive", "contradicted"]) == "contradicted"
    assert claim_status(["not replicated: no difference"] * 2) == "not replicated: no difference"
    below = "not replicated: below the paper's effect"
    assert claim_status([below] * 2) == below
    assert claim_status([below, "not replicated: no difference"]) == "not replicated: no difference"
    assert claim_status(["inconclusive", "too few trials"]) == "inconclusive"
    assert claim_status([]) == "no records"


def test_the_gain_that_grows_is_a_paired_difference_of_differences():
    # per trial: gain at 800 minus gain at 200 = (0.05-0.01), (0.06-0.00), (0.03-0.02) = 0.04, 0.06, 0.01
    rounds = rounds_of({
        ("dpe H_ens", 0): [0.5, 0.61, 0.85], ("dpe R", 0): [0.5, 0.60, 0.80],
        ("dpe H_ens", 1): [0.5, 0.60, 0.86], ("dpe R", 1): [0.5, 0.60, 0.80],
        ("dpe H_ens", 2): [0.5, 0.62, 0.83], ("dpe R", 2): [0.5, 0.60, 0.80],
    })
    row = gain_grows(rounds, {}).iloc[0]
    d = [0.04, 0.06, 0.01]
    mean = sum(d) / 3
    sd = math.sqrt(sum((x - mean) ** 2 for x in d) / 2)
    half = student_t.ppf(0.975, 2) * sd / math.sqrt(3)
    assert row["labeled"] == 800 and row["trials"] == 3
    assert row["difference"] == pytest.approx(mean, abs=1e-12)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((mean - half, mean + half), abs=1e-12)
    assert row["p_kind"] == "one test, unadjusted"  # one paired test: its p is not Holm's


def test_dpe_against_one_row_is_taken_at_the_budget_only():
    rounds = rounds_of({
        ("dpe H_ens", 0): [0.5, 0.62, 0.86], ("dpe R", 0): [0.5, 0.60, 0.80], ("l2-ensemble H_ens", 0): [0.5, 0.6, 0.84],
        ("dpe H_ens", 1): [0.5, 0.61, 0.87], ("dpe R", 1): [0.5, 0.60, 0.80], ("l2-ensemble H_ens", 1): [0.5, 0.6, 0.84],
    })
    rows = dpe_h_against("dpe R")(rounds, {})
    assert list(rows["versus"]) == ["dpe R"] and list(rows["labeled"]) == [800]
    assert rows["difference"].iloc[0] == pytest.approx(0.065, abs=1e-12)


def test_a_caption_names_profile_trials_and_commits():
    rounds = rounds_of({("a", 0): [0.5] * 3, ("a", 1): [0.5] * 3, ("b", 0): [0.5] * 3})
    assert source_caption("quick", rounds) == (
        "Profile quick, 1 to 2 trials per configuration; records written by commit abc1234.")
    rounds.loc[rounds["label"] == "b", ["commit", "dirty"]] = ["def5678", True]
    assert source_caption("quick", rounds[rounds.label == "a"]) == (
        "Profile quick, 2 trials per configuration; records written by commit abc1234.")
    assert source_caption("paper", rounds).endswith(
        "by commits abc1234, def5678 (1 of 3 runs with uncommitted changes to dpe/).")


def test_segmentation_claims_read_mIoU_at_the_budget_and_ignore_other_rows():
    """DPE + H_ens vs DPE + R on mIoU at the last size: per trial 0.03, 0.05, 0.04 -> mean
    0.04, CI 0.04 +- t(0.975, 2) * 0.01 / sqrt(3); the V_w and doubled rows take no part (a
    V_w row far above would otherwise join Holm's correction and the table)."""
    from dpe.study.claim_comparisons import seg_dpe_h_against

    rows = []
    for label, per_trial in {"dpe H_ens": [0.43, 0.45, 0.44], "dpe R": [0.40, 0.40, 0.40],
                             "l2-ensemble H_ens": [0.41, 0.40, 0.42], "dpe V_w (Bag)": [0.9, 0.9, 0.9],
                             "dpe R | x2": [0.1, 0.1, 0.1]}.items():
        for trial, miou in enumerate(per_trial):
            rows += [{"label": label, "trial": trial, "labeled": 96, "miou": 0.30, "run": f"{label}{trial}"},
                     {"label": label, "trial": trial, "labeled": 768, "miou": miou, "run": f"{label}{trial}"}]
    rounds = pd.DataFrame(rows).assign(accuracy=0.0)  # accuracy must not be what is read
    row = seg_dpe_h_against("dpe R")(rounds, {}).iloc[0]
    half = student_t.ppf(0.975, 2) * 0.01 / math.sqrt(3)
    assert row["labeled"] == 768 and row["trials"] == 3 and row["difference"] == pytest.approx(0.04)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((0.04 - half, 0.04 + half))
    versus_l2 = seg_dpe_h_against("l2-ensemble H_ens")(rounds, {})
    assert len(versus_l2) == 1 and versus_l2.iloc[0]["difference"] == pytest.approx(0.03)


def test_a_profile_that_runs_some_chapters_is_read_on_their_claims_only(tmp_path):
    """paper-cpu runs the convergence check, Table 4, Table 3 and Fig. 1 (STUDY_NOTEBOOKS): the
    Findings page reads claims 1-7 from its records and says the others are not in its study,
    rather than failing on a chapter (segmentation) the profile has no settings for."""
    from dpe.profiles import STUDY_NOTEBOOKS
    from dpe.study.findings import CLAIMS, NOT_RUN, findings
    from dpe.study.findings_page import findings_overview, findings_summary

    rows = findings("paper-cpu", tmp_path)  # no records yet
    run_here = [n for n, c in enumerate(CLAIMS, 1) if c.chapter in STUDY_NOTEBOOKS["paper-cpu"]]
    assert run_here == [1, 2, 3, 4, 5, 6, 7]
    assert list(rows.claim_number) == list(range(1, len(CLAIMS) + 1))
    assert (rows.set_index("claim_number").status == pd.Series(
        {n: "no records" if n in run_here else NOT_RUN for n in range(1, len(CLAIMS) + 1)})).all()
    summary = findings_summary(rows, ["paper-cpu"]).splitlines()
    assert summary[0].endswith("at `paper-cpu` **no records**.") and summary[7].endswith(f"at `paper-cpu` {NOT_RUN}.")
    overview = findings_overview(rows, ["paper-cpu"])
    assert len(overview) == len(CLAIMS)  # one row a claim
    assert list(overview["Ours at paper-cpu"]) == ["no finished runs"] * len(run_here) + ["not run at this scale"] * (len(CLAIMS) - len(run_here))


def test_finished_runs_without_a_pair_are_told_apart_from_no_runs(tmp_path, monkeypatch):
    """paper-cpu after its first run (DPE + R, trial 0): Table 4's claims have records but nothing
    to compare them with; the page says so instead of "no finished runs"."""
    from dpe.study import findings as f, findings_page as page

    one_run = pd.DataFrame({"label": "dpe R", "run": "a", "trial": 0, "labeled": [4000, 8000],
                            "accuracy": [0.8, 0.85], "diverged": False, "test_size": 10000})
    monkeypatch.setattr(f, "chapter_rounds", lambda chapter, profile, results_dir: (one_run, {}, 1, 24))
    rows = f.findings("paper-cpu", tmp_path)
    table4 = rows[rows.chapter == "l2_vs_dpe"]
    assert list(table4.status) == [f.NO_PAIR] * 4 and (table4.trials == 0).all()
    summary = page.findings_summary(rows, ["paper-cpu"]).splitlines()
    assert summary[0].endswith(f"at `paper-cpu` **{f.NO_PAIR}**.")
    cells = page.findings_overview(rows, ["paper-cpu"])["Ours at paper-cpu"]
    assert list(cells[:7]) == ["runs finished, none paired yet"] * 7  # claims 1-7
    # claim 5 has two comparisons at quick (Linear-8, Linear-4): both cells at paper-cpu say the same
    both = pd.concat([rows, pd.DataFrame([{**rows[rows.claim_number == 5].iloc[0].to_dict(), "profile": "quick", "versus": v,
                                           "labeled": 800, "trials": 3, "effect": 0.1, "ci_low": -0.5, "ci_high": 0.7,
                                           "status": "replicated"} for v in ("Linear-8", "Linear-4")])])
    overview = page.findings_overview(both, ["quick", "paper-cpu"])
    claim5 = overview[overview.Claim.str.startswith("5.")]
    assert list(claim5["Compared with"]) == ["Linear-8", "Linear-4"]
    assert list(claim5.iloc[:, -1]) == ["runs finished, none paired yet"] * 2


def test_a_status_is_provisional_while_its_grid_is_partial_or_its_check_is_not_passed():
    """paper-cpu's Table 4 with 15 of 24 runs and its check incomplete: every status it shows says
    so; quick's check fails at 200 labels only, which taints no comparison at its 800-label budget."""
    from dpe.study.findings import caveat
    from dpe.study.findings_page import findings_overview, findings_summary, result_text

    assert caveat("l2_vs_dpe", 16000, 15, 24, ("incomplete", {})) == "15 of 24 runs of its grid finished (upper bounds aside); convergence check incomplete"
    assert caveat("l2_vs_dpe", 16000, 24, 24, ("not checked", {})) == "convergence check not run"
    assert caveat("l2_vs_dpe", 16000, 24, 24, ("unpaired", {})) == "convergence check without matched pairs (machines or dtypes differ)"
    assert caveat("l2_vs_dpe", 800, 30, 30, ("fails", {("deterministic", 200): "fails"})) == ""
    assert caveat("l2_vs_dpe", 800, 30, 30, ("fails", {("dpe", 800): "fails", ("deterministic", 800): "fails",
                                                       ("dpe", 200): "fails"})) == (
        "deterministic, dpe fail the convergence check at 800 labels")
    assert caveat("growth", 800, 9, 9, ("fails", {("dpe", 800): "fails"})) == "dpe fails the convergence check at 800 labels"
    assert caveat("growth", 800, 9, 9, ("undetermined", {("dpe", 800): "undetermined"})) == (
        "dpe is undetermined in the convergence check at 800 labels")
    assert caveat("growth", 800, 9, 9, ("passed", {}), unmatched=2) == "2 pairs left out: the arms ran on different machines or dtypes"
    # cells whose two lengths never ran alike are named at their size, like undetermined ones
    unpaired = ("unpaired", {("l2-ensemble", 800): "unpaired", ("mc-dropout", 800): "unpaired", ("dpe", 800): "undetermined"})
    assert caveat("l2_vs_dpe", 800, 30, 30, unpaired) == ("dpe is undetermined in the convergence check at 800 labels; "
                                                         "l2-ensemble, mc-dropout lack matched pairs in the convergence check at 800 labels")
    assert caveat("l2_vs_dpe", 400, 30, 30, unpaired) == ""
    # only the models a comparison rests on: MC dropout's cell taints no DPE-against-L2 comparison
    assert caveat("l2_vs_dpe", 800, 30, 30, unpaired, models={"dpe", "l2-ensemble"}) == (
        "dpe is undetermined in the convergence check at 800 labels; "
        "l2-ensemble lacks matched pairs in the convergence check at 800 labels")
    assert caveat("growth", 800, 9, 9, unpaired, models={"dpe"}) == "dpe is undetermined in the convergence check at 800 labels"
    # segmentation reads its own chapter's check, in crops
    assert caveat("segmentation", 768, 27, 28, ("undetermined", {("dpe R", 768): "undetermined", ("Upper bound", 2400): "undetermined"}),
                  models={"dpe R"}) == "27 of 28 runs of its grid finished (upper bounds aside); dpe R is undetermined in the convergence check at 768 crops"
    base = {"claim": "c", "paper": "p", "chapter": "l2_vs_dpe", "evidence": "tbl-l2-tests", "versus": "dpe R", "labeled": 16000,
            "trials": 3, "effect": 1.59, "ci_low": 1.31, "ci_high": 1.86, "p": 0.019, "p_kind": "Holm", "paper_effect": 3.25,
            "margin": 3.25, "status": "replicated"}
    rows = pd.DataFrame([{**base, "claim_number": n, "profile": p, "caveat": c}
                         for n in range(1, 11) for p, c in (("quick", ""), ("paper-cpu", "15 of 24 runs of its grid finished"))])
    first = findings_summary(rows, ["quick", "paper-cpu"]).splitlines()[0]
    assert first.endswith("at `quick` **replicated** (1 of 1 comparison replicated); at `paper-cpu` **replicated** "
                          "(1 of 1 comparison replicated; *provisional*: 15 of 24 runs of its grid finished).")
    overview = findings_overview(rows, ["quick", "paper-cpu"])
    assert list(overview.columns) == ["Claim", "Compared with", "The paper", "Ours at quick (16000 labels)", "Ours at paper-cpu (16000 labels)"]
    assert overview.iloc[0, 3] == "+1.59 [+1.31, +1.86], 3 trials: **replicated**"  # at the profile's budget: no size repeated
    assert overview.iloc[0, 4] == "+1.59 [+1.31, +1.86], 3 trials: **replicated**, *provisional*"
    # a gain's cell also gives the p its verdict rests on: a CI off 0 with Holm's p over 0.05 is no gain
    gain = rows.iloc[0].copy()
    gain["kind"], gain["status"], gain["p"], gain["caveat"] = "gain", "inconclusive", 0.107, ""
    assert result_text(gain, with_size=False) == "+1.59 [+1.31, +1.86], 3 trials, Holm p 0.11: **inconclusive**"
    # an interval wholly below 0 is said to point against the paper, not left among the nulls
    gain["effect"], gain["ci_low"], gain["ci_high"] = -1.34, -2.34, -0.33
    assert result_text(gain, with_size=False) == ("-1.34 [-2.34, -0.33], 3 trials, Holm p 0.11: **inconclusive** (its CI "
                                                  "lies below 0, against the paper's direction; Holm does not confirm it)")


def test_upper_bounds_do_not_count_as_a_size_the_schedule_reached():
    # the paper-cpu chapter: an upper bound at the whole pool (55 000) beside rounds at 2k/4k/16k;
    # the gain is read at the budget (16k) against the first acquired size (4k), not at 55 000
    sizes = (2000, 4000, 16000)
    rounds = rounds_of({
        ("dpe H_ens", 0): [0.5, 0.61, 0.85], ("dpe R", 0): [0.5, 0.60, 0.80],
        ("dpe H_ens", 1): [0.5, 0.60, 0.86], ("dpe R", 1): [0.5, 0.60, 0.80],
    }, sizes=sizes)
    bounds = rounds_of({("dpe upper bound", 0): [0.9], ("dpe upper bound", 1): [0.91],
                        ("Upper bound | x2", 0): [0.92]}, sizes=(55000,))
    row = gain_grows(pd.concat([rounds, bounds]), {}).iloc[0]
    assert row["labeled"] == 16000 and row["versus"] == "its gain at 4000 labels" and row["trials"] == 2
    assert row["difference"] == pytest.approx(((0.05 - 0.01) + (0.06 - 0.0)) / 2, abs=1e-12)


# ---------------------------------------------------------------------------------------------
# the rule of each kind of claim, on hand-worked paired differences

def _paired(differences):
    """A paired test whose differences are ``differences`` (the second arm all zeros)."""
    return paired_test(list(differences), [0.0] * len(differences))


def test_a_gain_smaller_than_the_papers_is_replicated_but_says_so():
    # d = 0.4, 0.6, 0.5 points: mean 0.5, sd 0.1, CI 0.5 +- 4.303 * 0.1 / sqrt(3) = [0.252, 0.748]
    test = _paired([0.004, 0.006, 0.005])
    assert (test.ci_low, test.ci_high) == pytest.approx((0.005 - 0.0024843, 0.005 + 0.0024843), abs=1e-6)
    assert claim_verdict("gain", test, margin=0.0325, paper_effect=0.0325, p_adjusted=test.p) == Status.SMALLER
    assert claim_verdict("gain", test, margin=0.003, paper_effect=0.003, p_adjusted=test.p) == Status.REPLICATED  # 0.3 in CI
    assert claim_verdict("gain", test, margin=0.002, paper_effect=0.002, p_adjusted=test.p) == Status.LARGER  # CI above 0.2
    # the same interval with a Holm p over 0.05 is no evidence of a gain, and TOST within +-3.25 points excludes
    # the paper's: below the paper's effect -- not "no difference", which a CI off zero would belie
    assert claim_verdict("gain", test, margin=0.0325, paper_effect=0.0325, p_adjusted=0.2) == Status.BELOW_PAPER
    straddling = _paired([0.004, -0.002, 0.001])  # mean +0.1 point, CI across 0, within +-3.25 by TOST
    assert straddling.ci_low < 0 < straddling.ci_high and straddling.equivalence_p(0.0325) < 0.05
    assert claim_verdict("gain", straddling, margin=0.0325, paper_effect=0.0325, p_adjusted=0.9) == Status.NO_DIFFERENCE


def test_equivalence_is_two_one_sided_tests_against_the_margin():
    """d = -0.10, -0.02, -0.06 points (the L2 ensemble ahead, as at paper-cpu 8k): mean -0.06, sd
    0.04, se 0.04/sqrt(3) = 0.023094; against the paper's +0.10 margin the one-sided tests give
    t = (-0.06 + 0.10)/se = 1.732 and (0.10 + 0.06)/se = 6.928, p = max(sf(1.732, 2), sf(6.928, 2))."""
    test = _paired([-0.0010, -0.0002, -0.0006])
    se = 0.0004 / math.sqrt(3)
    expected = max(student_t.sf(0.0004 / se, 2), student_t.sf(0.0016 / se, 2))
    assert test.equivalence_p(0.001) == pytest.approx(expected, rel=1e-9)
    assert expected > 0.05  # 3 trials cannot show equivalence within 0.1 points here ...
    assert claim_verdict("gain", test, margin=0.001, paper_effect=0.001, p_adjusted=1.0) == Status.INCONCLUSIVE
    assert test.equivalence_p(0.003) < 0.05  # ... but can within 0.3: the gain the paper reports is excluded
    assert claim_verdict("gain", test, margin=0.003, paper_effect=0.003, p_adjusted=1.0) == Status.NO_DIFFERENCE
    # its CI [-0.16, +0.04] crosses 0: no reversal; a tighter one (sd 0.01: [-0.085, -0.035]) with a Holm p
    # under alpha has the L2 ensemble ahead -- the claimed gain is contradicted
    assert claim_verdict("gain", test, margin=0.001, paper_effect=0.001, p_adjusted=0.01) == Status.INCONCLUSIVE
    tight = _paired([-0.0007, -0.0005, -0.0006])
    assert tight.ci_high < 0
    assert claim_verdict("gain", tight, margin=0.001, paper_effect=0.001, p_adjusted=0.01) == Status.CONTRADICTED


def test_no_loss_and_no_difference_read_the_margin_one_and_two_sided():
    test = _paired([-0.012, -0.008, -0.010])  # mean -1.0 point, se 0.2/sqrt(3) points
    # no loss within 1.6 points: t = (-1.0 + 1.6)/se = 5.196, p = sf(5.196, 2) = 0.0175 < 0.05
    assert test.one_sided_p(-0.016, "greater") == pytest.approx(student_t.sf(0.006 / (0.002 / math.sqrt(3)), 2))
    assert claim_verdict("no loss", test, margin=0.016) == Status.REPLICATED
    assert claim_verdict("no loss", test, margin=0.005) == Status.CONTRADICTED  # the whole CI below -0.5 points
    assert claim_verdict("no difference", test, margin=0.016) == Status.REPLICATED
    assert claim_verdict("no difference", test, margin=0.005) == Status.CONTRADICTED
    assert claim_verdict("no difference", _paired([-0.03, 0.03, 0.0]), margin=0.016) == Status.INCONCLUSIVE
    assert claim_verdict("gain", None, margin=0.01) == Status.TOO_FEW  # under 2 pairs: no test


def test_a_lower_is_better_metric_keeps_positive_for_the_better_reference():
    """Calibration: the DPE's NLL 0.30, 0.32, 0.31 against the L2 ensemble's 0.40, 0.41, 0.39: the
    DPE is better by 0.09 nats, so with the DPE as reference the gain is +0.09 and the verdict
    "holds" -- not the "reverses" a raw difference of NLLs would read."""
    rows = [{"label": label, "trial": t, "labeled": 800, "nll": v, "run": f"{label}{t}"}
            for label, values in {"dpe": [0.30, 0.32, 0.31], "l2-ensemble": [0.40, 0.41, 0.39]}.items()
            for t, v in enumerate(values)]
    tests = comparisons(pd.DataFrame(rows), "dpe", value="nll", lower_is_better=True, margin=0.02)
    row = tests.iloc[0]
    assert row["difference"] == pytest.approx(0.09) and row["verdict"] == "holds"
    assert (row["reference_value"], row["other_value"]) == pytest.approx((0.31, 0.40))  # the values as measured


def test_pairs_whose_arms_ran_in_different_dtypes_are_left_out():
    rows = []
    for label, values, numerics in (("a", [0.80, 0.81, 0.82], ["fast bf16", "fast bf16", "fast float32"]),
                                    ("b", [0.70, 0.71, 0.60], ["fast bf16"] * 3)):
        rows += [{"label": label, "trial": t, "labeled": 800, "accuracy": v, "numerics": n, "run": f"{label}{t}",
                  "test_size": 1000, "dataset": "fashion-mnist"} for t, (v, n) in enumerate(zip(values, numerics))]
    row = comparisons(pd.DataFrame(rows), "a").iloc[0]
    assert row["trials"] == 2 and row["unmatched"] == 1  # trial 2 (float32 against bf16) is not a pair
    assert row["difference"] == pytest.approx(0.10)  # 0.10 and 0.10; with trial 2 it would be 0.1467


def test_pairs_whose_arms_ran_on_different_machines_are_left_out():
    rows = []
    for label, values, machines in (("a", [0.80, 0.81, 0.82, 0.83], ["CPU: AMD EPYC"] * 3 + ["CPU: Intel(R) Xeon(R) Processor"]),
                                    ("b", [0.70, 0.71, 0.74, 0.50], ["CPU: AMD EPYC"] * 4)):
        rows += [{"label": label, "trial": t, "labeled": 800, "accuracy": v, "numerics": "fast bf16", "machine": m,
                  "run": f"{label}{t}", "test_size": 1000, "dataset": "fashion-mnist"}
                 for t, (v, m) in enumerate(zip(values, machines))]
    row = comparisons(pd.DataFrame(rows), "a").iloc[0]
    assert row["trials"] == 3 and row["unmatched"] == 1  # trial 3 (Intel against AMD) is not a pair
    assert row["difference"] == pytest.approx((0.10 + 0.10 + 0.08) / 3)  # with trial 3: 0.1275


def test_machine_names_drop_core_counts_only():
    from dpe.study.tables import machine_of

    assert machine_of("CPU: AMD EPYC (2 cores, 1 threads)") == machine_of("CPU: AMD EPYC (16 cores, 4 threads)") == "CPU: AMD EPYC"
    assert machine_of("CPU: Intel(R) Xeon(R) Processor (2 cores, 1 threads)") == "CPU: Intel(R) Xeon(R) Processor"
    assert machine_of("cuda: NVIDIA H200") == "cuda: NVIDIA H200"


def test_every_paired_table_of_the_study_pairs_one_machine_and_dtype():
    """Across every chapter's committed quick records, a comparison's pairs share machine and dtype:
    rebuilt here from the records, independently of ``comparisons``."""
    from pathlib import Path

    from dpe.study.findings import chapter_rounds

    for chapter in ("l2_vs_dpe", "acquisition", "growth"):
        rounds, *_ = chapter_rounds(chapter, "quick", Path("results/quick"))
        if rounds.empty:
            continue
        reference = {"l2_vs_dpe": "dpe H_ens", "acquisition": "H_ens", "growth": "Exponential-4"}[chapter]
        tests = comparisons(rounds, reference)
        for row in tests.itertuples():
            at = rounds[rounds["labeled"] == row.labeled]
            ref, other = (at[at["label"] == label].set_index("trial") for label in (reference, row.versus))
            shared = set(ref.index) & set(other.index)
            alike = [t for t in shared if ref.loc[t, "numerics"] == other.loc[t, "numerics"]
                     and ref.loc[t, "cpu"].split(" (")[0] == other.loc[t, "cpu"].split(" (")[0]]
            assert row.trials == len(alike), (chapter, row.versus, row.labeled)


def test_the_abstract_reads_its_numbers_from_the_rows():
    from dpe.study.findings_page import findings_abstract

    base = {"claim": "c", "paper": "p", "chapter": "l2_vs_dpe", "evidence": "e", "profile": "quick", "labeled": 800,
            "trials": 5, "p": 0.01, "p_kind": "Holm", "caveat": ""}
    rows = pd.DataFrame([
        {**base, "claim_number": 1, "versus": "dpe R", "effect": 3.18, "ci_low": 1.98, "ci_high": 4.38,
         "paper_effect": 3.25, "margin": 3.25, "status": "replicated"},
        {**base, "claim_number": 2, "versus": "l2-ensemble H_ens", "effect": -0.5, "ci_low": -0.9, "ci_high": -0.1,
         "paper_effect": 0.2, "margin": 0.2, "status": "contradicted"},
        {**base, "claim_number": 5, "versus": "Linear-8", "effect": 0.5, "ci_low": -1.0, "ci_high": 2.0,
         "paper_effect": float("nan"), "margin": 1.6, "status": "inconclusive"},
    ])
    text = findings_abstract(rows, ["quick", "paper-cpu"]).splitlines()
    assert text[1] == "- **`quick`** (Fashion-MNIST, 100 to 800 labels; 3 claims tested):"
    assert text[2] == ("  - **replicated** (1): DPE + $H_{ens}$ over random sampling +3.18 [+1.98, +4.38] "
                       "(claim 1; paper +3.25).")
    assert text[3] == "  - **contradicted** (1): over an L2 ensemble + $H_{ens}$ -0.50 [-0.90, -0.10] (claim 2; paper +0.20)."
    assert text[4] == "  - **inconclusive** (1): Exponential-4 as good as Linear-8 and Linear-4 +0.50 [-1.00, +2.00] (claim 5)."
    text = "\n".join(text)
    assert "paper-cpu" not in text  # a profile without rows says nothing
    # a claim of several comparisons names the one it shows, at a profile that has only that one too
    linear4 = {**rows.iloc[2].to_dict(), "versus": "Linear-4", "effect": 0.2}
    at_cpu = {**rows.iloc[2].to_dict(), "profile": "paper-cpu", "labeled": 16000, "trials": 2}
    text = findings_abstract(pd.concat([rows, pd.DataFrame([linear4, at_cpu])]), ["quick", "paper-cpu"])
    assert text.count("Exponential-4 as good as Linear-8 and Linear-4 +0.50 [-1.00, +2.00] (claim 5, vs Linear-8).") == 2


def test_a_comparison_without_matched_pairs_shows_no_number_anywhere():
    """Quick's claim 5 at session 18: Exponential-4 (AMD, bf16) against Linear-8 (Intel, float32),
    every run finished but no pair alike -- the unpaired difference of means (+0.57) is no result,
    and the reason is said, not "no finished runs"."""
    from dpe.study.findings_page import findings_abstract, findings_overview, findings_summary, result_text

    left_out = "3 pairs left out: the arms ran on different machines or dtypes"
    base = {"claim": "c", "paper": "p", "chapter": "growth", "evidence": "e", "profile": "quick", "labeled": 800,
            "p_kind": "Holm", "paper_effect": float("nan"), "margin": 1.6, "ci_low": float("nan"), "ci_high": float("nan"),
            "p": float("nan")}
    rows = pd.DataFrame([
        {**base, "claim_number": 5, "versus": "Linear-8", "trials": 0, "effect": 0.57, "status": "too few trials",
         "caveat": f"{left_out}; dpe is undetermined in the convergence check at 800 labels"},
        {**base, "claim_number": 5, "versus": "Linear-4", "trials": 1, "effect": 0.13, "status": "too few trials",
         "caveat": f"{left_out}; dpe is undetermined in the convergence check at 800 labels"},
    ])
    assert result_text(rows.iloc[0]) == (f"no matched pair ({left_out}; dpe is undetermined in the convergence check "
                                         "at 800 labels)")
    assert findings_overview(rows, ["quick"]).iloc[0, 3].startswith("no matched pair (3 pairs left out")
    abstract = findings_abstract(rows, ["quick"])
    assert "Exponential-4 as good as Linear-8 and Linear-4 (claim 5)" in abstract and "+0.57" not in abstract and "+0.13" not in abstract
    # the summary gives each reason once, though both rows carry it
    summary = findings_summary(rows, ["quick"]).splitlines()[4]
    assert summary.count(left_out) == 1 and summary.count("undetermined in the convergence check") == 1
    # Fisher's counts (claim 11) carry their caveat into the table cell as every other row does
    fisher = pd.Series({**base, "versus": "2 of 3 diverged", "p_kind": "Fisher exact", "p": 0.2, "trials": 3,
                        "status": "inconclusive", "caveat": "4 of 6 runs of its grid finished"})
    assert result_text(fisher) == "2 of 3 diverged; Fisher p 0.2: **inconclusive**, *provisional*"


def test_claim_7_adjusts_over_the_gains_over_random_at_the_budget_as_its_rule_says():
    """Two functions against R, 3 trials: at 800 labels H_ens - R = 3, 4, 5 points and H_cat - R =
    1, 2, 4 points; Holm over these two paired p only (the 200-label rows are not in the family):
    the smaller p times 2, the larger max(itself, that)."""
    from dpe.study.findings import CLAIMS
    from dpe.study.findings_page import rules_table

    rounds = rounds_of({("R", t): [0.5, 0.6, 0.80] for t in range(3)}
                       | {("H_ens", t): [0.5, 0.9, 0.80 + d] for t, d in enumerate((0.03, 0.04, 0.05))}
                       | {("H_cat", t): [0.5, 0.9, 0.80 + d] for t, d in enumerate((0.01, 0.02, 0.04))})
    rows = CLAIMS[6].compare(rounds, {}).set_index("versus")
    p_ens = paired_test([0.83, 0.84, 0.85], [0.80] * 3).p
    p_cat = paired_test([0.81, 0.82, 0.84], [0.80] * 3).p
    low, high = sorted((p_ens, p_cat))
    holm = {low: 2 * low, high: max(high, 2 * low)}
    assert list(rows["labeled"]) == [800, 800]
    assert rows.loc["H_ens vs R", "p_holm"] == pytest.approx(holm[p_ens])
    assert rows.loc["H_cat vs R", "p_holm"] == pytest.approx(holm[p_cat])
    assert rules_table().loc[6, "Holm's p adjusted over"].startswith("the five functions' gains over R at the budget")
    assert all(rules_table()["Holm's p adjusted over"].str.len() > 0)  # every claim names its family


def test_a_missing_upper_bound_makes_no_status_provisional(monkeypatch):
    """paper-cpu's Table 4 with every compared run finished and its upper bounds not yet run (30 of
    40 then): the counts that decide "provisional" leave the upper bounds out of both sides."""
    from dpe.study import findings as f

    class Grid:
        grid = [(f"{m} {a}", t) for m in ("dpe", "l2-ensemble") for a in ("R", "H_ens") for t in range(2)]
        grid += [(f"{m} upper bound", t) for m in ("dpe", "l2-ensemble") for t in range(2)]
        done = grid[:8]
        params = {}

        def rounds(self):
            return pd.DataFrame({"label": [label for label, _ in self.done]})

    monkeypatch.setattr(f, "chapter", lambda name, profile, results_dir: Grid())
    _, _, finished, runs = f.chapter_rounds("l2_vs_dpe", "paper-cpu", "results")
    assert (finished, runs) == (8, 8)
    assert f.caveat("l2_vs_dpe", 16000, finished, runs, ("passed", {})) == ""
    Grid.done = Grid.grid[:7]
    assert f.chapter_rounds("l2_vs_dpe", "paper-cpu", "results")[2:] == (7, 8)


def test_each_round_is_credited_to_the_code_of_the_sitting_that_trained_it(tmp_path):
    """Rounds 0-1 ran at commit a, rounds 2-3 were resumed at b on a changed tree; a record whose
    sittings name no commit (older records) credits every round to its top-level commit."""
    from conftest import valid_record
    from dpe.config import make_config
    from dpe.records import record_path, save_record
    from dpe.study.tables import load_rounds

    resumed, old = make_config("paper-cpu", trial=0), make_config("paper-cpu", trial=1)
    sittings = [{"first_round": 0, "device": "cpu", "git_commit": "a" * 40, "git_dirty": False},
                {"first_round": 2, "device": "cpu", "git_commit": "b" * 40, "git_dirty": True}]
    records = [valid_record(resumed, git_commit="a" * 40, git_dirty=False, sessions=sittings),
               valid_record(old, git_commit="c" * 40, sessions=[{k: v for k, v in s.items() if k in ("first_round", "device")}
                                                               for s in sittings])]
    paths = [record_path(tmp_path, c) for c in (resumed, old)]
    for path, record in zip(paths, records):
        save_record(path, record)
    rounds = load_rounds(paths, ["resumed", "old"])
    by_run = rounds.groupby("label")[["commit", "dirty"]].agg(list)
    assert by_run.loc["resumed", "commit"] == ["a" * 7] * 2 + ["b" * 7] * 2
    assert by_run.loc["resumed", "dirty"] == [False, False, True, True]
    assert by_run.loc["old", "commit"] == ["c" * 7] * 4 and not any(by_run.loc["old", "dirty"])
    assert source_caption("paper-cpu", rounds).endswith(
        f"by commits {'a' * 7}, {'b' * 7}, {'c' * 7} (1 of 2 runs with uncommitted changes to dpe/).")


def test_each_comparison_rests_on_the_convergence_of_the_models_it_compares():
    from dpe.study.findings import models_compared

    assert models_compared("l2_vs_dpe", "dpe R") == {"dpe"}
    assert models_compared("l2_vs_dpe", "l2-ensemble H_ens") == {"dpe", "l2-ensemble"}
    assert models_compared("l2_vs_dpe", "deterministic R") == {"dpe", "deterministic"}
    assert models_compared("robustness", "MC dropout + H_ens") == {"dpe", "mc-dropout"}
    assert models_compared("acquisition", "H_cat vs R") == models_compared("growth", "Linear-8") == {"dpe"}
    assert models_compared("segmentation", "l2-ensemble H_ens") == {"dpe R"}


def test_segmentation_claims_read_the_chapters_own_convergence_check():
    """DPE + R at its length (x1) and doubled (x2), 3 trials: at 96 crops the doubled run gains 0.1,
    0.2, 0.3 points (CI inside +-1: passes); at 192 crops 0, 2 and 4 points (mean +2, CI [-2.97, +6.97]:
    undetermined). Findings names the 192-crop cell, as the chapter does."""
    from dpe.study.findings import segmentation_check

    rows = []
    for trial in range(3):
        for labeled, base, gain in ((96, 0.30, 0.001 * (trial + 1)), (192, 0.40, 0.02 * trial)):
            for label, value in (("dpe R | x1", base), ("dpe R | x2", base + gain)):
                rows.append({"label": label, "run": f"{label}{trial}", "trial": trial, "labeled": labeled, "miou": value,
                             "steps": 100 * (1 + label.endswith("x2")), "numerics": "fast float32", "machine": "CPU: X"})
    rounds = pd.DataFrame(rows)
    assert segmentation_check(rounds, {"trials": 3}) == ("undetermined", {("dpe R", 192): "undetermined"})
    assert segmentation_check(rounds[rounds.labeled == 96], {"trials": 3}) == ("passed", {})
    assert segmentation_check(rounds.iloc[:0], {"trials": 3}) == ("not checked", {})


def test_claim_11_counts_the_size_sweep_as_the_chapter_does():
    """E = 2: 3 runs, all diverged; E = 4 and E = 8: 3 runs each, none; the KL-weight sweep's
    3 runs (E = 4) are another question and not counted. Fisher one-sided: all 3 diverged runs
    among the 3 of E = 2, p = 1 / C(9, 3) = 1/84 (with the weight sweep it would be 1/220)."""
    from dpe.study.ensembles import two_members_text
    from dpe.study.claim_comparisons import two_members_unstable

    rows = [{"label": label, "run": f"{label}{t}", "members": members, "labeled": 800, "diverged": members == 2,
             "accuracy": 0.1 if members == 2 else 0.87}
            for label, members in (("E=2", 2), ("E=4", 4), ("E=8", 8), ("beta=0.0001", 4)) for t in range(3)]
    row = two_members_unstable(pd.DataFrame(rows), {}).iloc[0]
    assert row.versus == "E > 2: 0 of 6 runs diverged, E = 2: 3 of 3"
    assert row.p_paired == pytest.approx(1 / 84) and row.difference == 1.0
    text = two_members_text(pd.DataFrame(rows[:9]))
    assert "3 of 3 runs with E = 2" in text and "0 of 6 runs with more members; none of its rounds trained." in text


def test_claim_11_counts_only_runs_alike_on_both_sides():
    """E = 2 and E = 8 on one machine and dtype, E = 4 on another, an E = 8 run resumed elsewhere
    ("mixed"): only E = 2's 3 runs against E = 8's 2 count. Fisher one-sided: all 3 diverged runs
    among the 3 of E = 2, p = 1 / C(5, 3) = 1/10: not replicated, though over all 8 runs it would be 1/56."""
    from dpe.study.claim_comparisons import two_members_unstable
    from dpe.study.ensembles import two_members_text

    rows = [{"label": f"E={m}", "run": f"E={m}-{t}", "members": m, "labeled": 800, "diverged": m == 2 and t > 0,
             "accuracy": 0.3 if m == 2 else 0.87, "run_machine": "AMD" if m == 4 else "Intel",
             "run_numerics": "mixed" if (m, t) == (8, 2) else "fast bf16" if m == 4 else "fast float32"}
            for m in (2, 4, 8) for t in range(3)]
    rows[0]["diverged"] = True  # trial 0 of E = 2 diverged in its last round only
    rows.append({**rows[0], "labeled": 400, "diverged": False, "accuracy": 0.25})
    row = two_members_unstable(pd.DataFrame(rows), {}).iloc[0]
    assert row.versus == "E > 2: 0 of 2 runs diverged, E = 2: 3 of 3 (alike runs; 4 on other machines or dtypes left out)"
    assert row.p_paired == pytest.approx(1 / 10) and row.status == "inconclusive"
    text = two_members_text(pd.DataFrame(rows))
    assert "3 of 3 runs with E = 2" in text and "against 0 of 6 runs with more members" in text
    assert "its rounds that did not diverge reach at most 25.0 % test accuracy" in text
    assert "both sides ran on, 3 of 3 against 0 of 2 (4 runs left out)" in text


def test_claim_12_reads_the_robustness_chapters_own_rows():
    """Two conditions, DPE + H_ens against DPE + R over 3 trials; in the second, trial 2's DPE + R
    run was resumed on another machine ("mixed"), so the chapter pairs trials 0 and 1 only: the
    gains 2 and 4 points give +3.00, 95 % CI 3 +- 12.706 (t, 1 d.f.) = [-9.71, +15.71]. Findings
    shows the chapter's numbers, its Holm p included, not a per-round pairing of 3 trials."""
    from dpe.study import robustness as rob
    from dpe.study.chapter import grid_of, resolve
    from dpe.study.claim_comparisons import robust_gain

    params = resolve("robustness", "quick")
    conditions = list(dict.fromkeys(label.split(" | ")[0] for label, _ in grid_of("robustness", params)))[:2]
    gains = {conditions[0]: [0.03, 0.035, 0.04], conditions[1]: [0.02, 0.04, 0.07]}
    rows = []
    for condition in conditions:
        for method in (rob.RANDOM, rob.DPE):
            for t in range(3):
                mixed = condition == conditions[1] and method == rob.RANDOM and t == 2
                for labeled, acc in ((100, 0.6), (800, 0.8 + (gains[condition][t] if method == rob.DPE else 0))):
                    rows.append({"label": f"{condition} | {method}", "run": f"{condition}{method}{t}", "trial": t,
                                 "labeled": labeled, "accuracy": acc, "diverged": False, "test_size": 1000,
                                 "numerics": "fast bf16", "machine": "CPU: X", "run_numerics": "fast bf16",
                                 "run_machine": "mixed" if mixed else "CPU: X"})
    frame = pd.DataFrame(rows)
    found = robust_gain(frame, params)
    assert found["versus"].tolist() == [f"DPE + R ({c})" for c in conditions]
    assert found["trials"].tolist() == [3, 2] and found["unmatched"].tolist() == [0, 1]
    second = found.iloc[1]
    assert 100 * second.difference == pytest.approx(3.0)
    half = float(student_t.ppf(0.975, 1))  # the sd of (2, 4) points is sqrt(2); over sqrt(2 trials): 1 point
    assert (100 * second.ci_low, 100 * second.ci_high) == pytest.approx((3 - half, 3 + half))
    assert found["labeled"].tolist() == [800, 800] and found["place"].tolist() == [2, 2]
    parts = frame["label"].str.split(" | ", regex=False).str
    chapter = rob.robustness_tests(frame.assign(condition=parts[0], method=parts[1]), conditions[0], 1000)
    assert found["p_holm"].tolist() == pytest.approx(chapter["p_holm"].tolist())  # Holm over the chapter's table
