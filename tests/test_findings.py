"""The Findings page's reading of the records: statuses and the comparisons behind them."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from scipy.stats import t as student_t

from dpe.study.findings import _dpe_h_against, _gain_grows, claim_status, replication
from dpe.study.tables import source_caption


def rounds_of(values: dict[tuple[str, int], list[float]], sizes=(100, 200, 800)) -> pd.DataFrame:
    """A rounds table: values[(label, trial)] = accuracy at each size."""
    rows = [{"label": label, "trial": trial, "labeled": size, "accuracy": acc, "test_size": 1000,
             "dataset": "fashion-mnist", "run": f"{label}-{trial}", "diverged": False,
             "commit": "abc1234", "dirty": False}
            for (label, trial), accs in values.items() for size, acc in zip(sizes, accs)]
    return pd.DataFrame(rows)


def test_each_kind_of_claim_reads_the_verdict_its_own_way():
    assert replication("better", "holds") == "replicated"
    assert replication("better", "vanishes") == "not replicated"
    assert replication("better", "reverses") == "contradicted"
    assert replication("better", "inconclusive") == "inconclusive"
    assert replication("not-worse", "vanishes") == "replicated"
    assert replication("not-worse", "reverses") == "not replicated"
    assert replication("alike", "vanishes") == "replicated"
    assert replication("alike", "holds") == "not replicated"
    assert replication("alike", "too few trials") == "too few trials"


def test_a_claim_is_replicated_only_when_every_comparison_is():
    assert claim_status(["replicated", "replicated"]) == "replicated"
    assert claim_status(["replicated", "inconclusive"]) == "partly replicated"
    assert claim_status(["inconclusive", "not replicated"]) == "not replicated"
    assert claim_status(["inconclusive", "too few trials"]) == "inconclusive"
    assert claim_status([]) == "no records"


def test_the_gain_that_grows_is_a_paired_difference_of_differences():
    # per trial: gain at 800 minus gain at 200 = (0.05-0.01), (0.06-0.00), (0.03-0.02) = 0.04, 0.06, 0.01
    rounds = rounds_of({
        ("dpe H_ens", 0): [0.5, 0.61, 0.85], ("dpe R", 0): [0.5, 0.60, 0.80],
        ("dpe H_ens", 1): [0.5, 0.60, 0.86], ("dpe R", 1): [0.5, 0.60, 0.80],
        ("dpe H_ens", 2): [0.5, 0.62, 0.83], ("dpe R", 2): [0.5, 0.60, 0.80],
    })
    row = _gain_grows(rounds, {}).iloc[0]
    d = [0.04, 0.06, 0.01]
    mean = sum(d) / 3
    sd = math.sqrt(sum((x - mean) ** 2 for x in d) / 2)
    half = student_t.ppf(0.975, 2) * sd / math.sqrt(3)
    assert row["labeled"] == 800 and row["trials"] == 3
    assert row["difference"] == pytest.approx(mean, abs=1e-12)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((mean - half, mean + half), abs=1e-12)
    assert row["verdict"] == "inconclusive"  # the CI spans 0 and is wider than a point


def test_dpe_against_one_row_is_taken_at_the_budget_only():
    rounds = rounds_of({
        ("dpe H_ens", 0): [0.5, 0.62, 0.86], ("dpe R", 0): [0.5, 0.60, 0.80], ("l2-ensemble H_ens", 0): [0.5, 0.6, 0.84],
        ("dpe H_ens", 1): [0.5, 0.61, 0.87], ("dpe R", 1): [0.5, 0.60, 0.80], ("l2-ensemble H_ens", 1): [0.5, 0.6, 0.84],
    })
    rows = _dpe_h_against("dpe R")(rounds, {})
    assert list(rows["versus"]) == ["dpe R"] and list(rows["labeled"]) == [800]
    assert rows["difference"].iloc[0] == pytest.approx(0.065, abs=1e-12)


def test_a_caption_names_profile_trials_and_commits():
    rounds = rounds_of({("a", 0): [0.5] * 3, ("a", 1): [0.5] * 3, ("b", 0): [0.5] * 3})
    assert source_caption("quick", rounds) == (
        "Profile quick, 1 to 2 trials per configuration; records written by commit abc1234.")
    rounds.loc[rounds["label"] == "b", ["commit", "dirty"]] = ["def5678", True]
    assert source_caption("quick", rounds[rounds.label == "a"]) == (
        "Profile quick, 2 trials per configuration; records written by commit abc1234.")
    assert source_caption("paper", rounds).endswith("by commits abc1234, def5678 (some with uncommitted changes).")


def test_segmentation_claims_read_mIoU_at_the_budget_and_ignore_other_rows():
    """DPE + H_ens vs DPE + R on mIoU at the last size: per trial 0.03, 0.05, 0.04 -> mean
    0.04, CI 0.04 +- t(0.975, 2) * 0.01 / sqrt(3); the V_w and doubled rows take no part (a
    V_w row far above would otherwise join Holm's correction and the table)."""
    from dpe.study.findings import _seg_dpe_h_against

    rows = []
    for label, per_trial in {"dpe H_ens": [0.43, 0.45, 0.44], "dpe R": [0.40, 0.40, 0.40],
                             "l2-ensemble H_ens": [0.41, 0.40, 0.42], "dpe V_w (Bag)": [0.9, 0.9, 0.9],
                             "dpe R | x2": [0.1, 0.1, 0.1]}.items():
        for trial, miou in enumerate(per_trial):
            rows += [{"label": label, "trial": trial, "labeled": 96, "miou": 0.30, "run": f"{label}{trial}"},
                     {"label": label, "trial": trial, "labeled": 768, "miou": miou, "run": f"{label}{trial}"}]
    rounds = pd.DataFrame(rows).assign(accuracy=0.0)  # accuracy must not be what is read
    row = _seg_dpe_h_against("dpe R")(rounds, {}).iloc[0]
    half = student_t.ppf(0.975, 2) * 0.01 / math.sqrt(3)
    assert row["labeled"] == 768 and row["trials"] == 3 and row["difference"] == pytest.approx(0.04)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((0.04 - half, 0.04 + half))
    versus_l2 = _seg_dpe_h_against("l2-ensemble H_ens")(rounds, {})
    assert len(versus_l2) == 1 and versus_l2.iloc[0]["difference"] == pytest.approx(0.03)


def test_a_profile_that_runs_only_table_4_is_read_on_its_claims_only(tmp_path):
    """paper-cpu runs the convergence check and Table 4 (STUDY_NOTEBOOKS): the Findings page reads
    claims 1-4 from its records and says the others are not in its study, rather than failing on
    a chapter (segmentation) the profile has no settings for."""
    from dpe.study.findings import CLAIMS, NOT_RUN, findings, findings_summary, findings_table

    rows = findings("paper-cpu", tmp_path)  # no records yet
    table4 = [n for n, c in enumerate(CLAIMS, 1) if c.chapter == "l2_vs_dpe"]
    assert table4 == [1, 2, 3, 4]
    assert list(rows.claim_number) == list(range(1, len(CLAIMS) + 1))
    assert (rows.set_index("claim_number").status == pd.Series(
        {n: "no records" if n in table4 else NOT_RUN for n in range(1, len(CLAIMS) + 1)})).all()
    summary = findings_summary(rows, ["paper-cpu"]).splitlines()
    assert summary[0].endswith("at `paper-cpu` **no records**.") and summary[4].endswith(f"at `paper-cpu` {NOT_RUN}.")
    assert len(findings_table(rows, "quick").splitlines()) == 2 + len(table4)  # header, rule, claims 1-4


def test_finished_runs_without_a_pair_are_told_apart_from_no_runs(tmp_path, monkeypatch):
    """paper-cpu after its first run (DPE + R, trial 0): Table 4's claims have records but nothing
    to compare them with; the page says so instead of "no finished runs"."""
    from dpe.study import findings as f

    one_run = pd.DataFrame({"label": "dpe R", "run": "a", "trial": 0, "labeled": [4000, 8000],
                            "accuracy": [0.8, 0.85], "diverged": False, "test_size": 10000})
    monkeypatch.setattr(f, "_chapter_rounds", lambda chapter, profile, results_dir: (one_run, {}, 1, 24))
    rows = f.findings("paper-cpu", tmp_path)
    table4 = rows[rows.chapter == "l2_vs_dpe"]
    assert list(table4.status) == [f.NO_PAIR] * 4 and (table4.trials == 0).all()
    summary = f.findings_summary(rows, ["paper-cpu"]).splitlines()
    assert summary[0].endswith(f"at `paper-cpu` **{f.NO_PAIR}**.")
    body = f.findings_table(rows, "quick").splitlines()[2:]
    assert len(body) == 4 and all("runs finished, none paired yet" in line for line in body)


def test_a_status_is_provisional_while_its_grid_is_partial_or_its_check_is_not_passed():
    """paper-cpu's Table 4 with 15 of 24 runs and its check incomplete: every status it shows says
    so; quick's check fails at 200 labels only, which taints no comparison at its 800-label budget."""
    from dpe.study.findings import caveat, findings_summary, findings_table

    assert caveat("l2_vs_dpe", 16000, 15, 24, ("incomplete", [])) == "15 of 24 runs of its grid finished; convergence check incomplete"
    assert caveat("l2_vs_dpe", 16000, 24, 24, ("not checked", [])) == "convergence check not run"
    assert caveat("l2_vs_dpe", 800, 30, 30, ("fails", [("deterministic", 200)])) == ""
    assert caveat("l2_vs_dpe", 800, 30, 30, ("fails", [("dpe", 800), ("deterministic", 800), ("dpe", 200)])) == (
        "deterministic, dpe fail the convergence check at 800 labels")
    assert caveat("growth", 800, 9, 9, ("fails", [("dpe", 800)])) == "dpe fails the convergence check at 800 labels"
    assert caveat("segmentation", 768, 27, 28, ("incomplete", [("dpe", 768)])) == "27 of 28 runs of its grid finished"
    base = {"claim": "c", "paper": "p", "chapter": "l2_vs_dpe", "evidence": "tbl-l2-tests", "versus": "dpe R", "labeled": 16000,
            "trials": 3, "effect": 1.59, "ci_low": 1.31, "ci_high": 1.86, "p_holm": 0.019, "verdict": "holds", "status": "replicated"}
    rows = pd.DataFrame([{**base, "claim_number": n, "profile": p, "caveat": c}
                         for n in range(1, 11) for p, c in (("quick", ""), ("paper-cpu", "15 of 24 runs of its grid finished"))])
    first = findings_summary(rows, ["quick", "paper-cpu"]).splitlines()[0]
    assert first.endswith("at `quick` **replicated** (1 of 1 comparison replicated); at `paper-cpu` **replicated** "
                          "(1 of 1 comparison replicated; *provisional*: 15 of 24 runs of its grid finished).")
    body = findings_table(rows, "quick").splitlines()[2:]
    assert ["*provisional*" in line for line in body[:2]] == [False, True]


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
    row = _gain_grows(pd.concat([rounds, bounds]), {}).iloc[0]
    assert row["labeled"] == 16000 and row["versus"] == "its gain at 4000 labels" and row["trials"] == 2
    assert row["difference"] == pytest.approx(((0.05 - 0.01) + (0.06 - 0.0)) / 2, abs=1e-12)
