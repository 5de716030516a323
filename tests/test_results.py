"""Tables read from records: the paired comparisons of every chapter and the convergence check,
against hand-worked numbers."""

import json
import math
import re

import pandas as pd
import pytest
from scipy.stats import t as student_t
import scipy.stats

from conftest import valid_record

from dpe.study.convergence import convergence_table
from dpe.study.tables import comparison_display, comparison_sentences, comparisons, devices_text, p_text, upper_bound_shares, wall_hours


def _rounds(rows):
    """Rounds as load_rounds gives them, from (label, trial, labeled, accuracy[, diverged])."""
    out = []
    for row in rows:
        label, trial, labeled, accuracy, *rest = row
        out.append({"label": label, "run": f"{label}-{trial}", "trial": trial, "labeled": labeled,
                    "accuracy": accuracy, "diverged": bool(rest and rest[0]), "dataset": "fashion-mnist",
                    "test_size": 1000, "steps": 500})
    return pd.DataFrame(out)


def test_comparisons_pair_by_trial_adjust_by_holm_and_give_verdicts():
    rows = []
    for trial, base in enumerate([0.70, 0.75, 0.72]):
        rows += [("A", trial, 100, 0.5), ("B", trial, 100, 0.5), ("C", trial, 100, 0.5)]
        rows += [("A", trial, 200, base + 0.03 + 0.001 * trial), ("B", trial, 200, base), ("C", trial, 200, base + 0.03)]
    table = comparisons(_rounds(rows), "A", sizes=[200])
    assert list(table["versus"]) == ["B", "C"] and (table["trials"] == 3).all()
    b, c = table.iloc[0], table.iloc[1]
    # A - B: d = .030 .031 .032, mean .031, sd .001, se .001/sqrt(3), t = 53.69, p = 2 P(T_2 > 53.69)
    assert b["difference"] == pytest.approx(0.031)
    half = 4.302653 * 0.001 / math.sqrt(3)  # t_{0.975, 2} from a table
    assert (b["ci_low"], b["ci_high"]) == (pytest.approx(0.031 - half), pytest.approx(0.031 + half))
    assert b["p_paired"] == pytest.approx(3.4664e-4, rel=1e-3)
    # A - C: d = 0, .001, .002: mean .001, sd .001, t = 1.732, p = .2254; Holm: m = 2
    assert c["difference"] == pytest.approx(0.001) and c["p_paired"] == pytest.approx(0.2254, abs=1e-3)
    assert b["p_holm"] == pytest.approx(2 * b["p_paired"]) and c["p_holm"] == pytest.approx(c["p_paired"])
    assert b["verdict"] == "holds" and c["verdict"] == "vanishes"  # C's CI [-.0015, .0035] is within 1 point
    # the paper's pooled two-proportion Z-test beside them: means (.730 + .781 + .752) / 3 and
    # (.70 + .75 + .72) / 3 over 3000 test images each
    a_mean, b_mean = 2.263 / 3, 2.17 / 3
    pooled = (a_mean + b_mean) / 2
    assert b["z"] == pytest.approx((a_mean - b_mean) / math.sqrt(pooled * (1 - pooled) * 2 / 3000), rel=1e-9)


def test_comparisons_leave_out_diverged_rounds_and_count_them():
    rows = [("A", t, 200, 0.8) for t in range(3)] + [("B", 0, 200, 0.1, True), ("B", 1, 200, 0.7), ("B", 2, 200, 0.72)]
    table = comparisons(_rounds(rows), "A")
    assert table.iloc[0]["trials"] == 2 and table.iloc[0]["other_value"] == pytest.approx(0.71)
    assert table.attrs["diverged_runs"] == 1


def test_the_note_names_every_machine_the_runs_came_from():
    # three runs (one of them with two rounds) from two machines: counted by run, not by round
    rounds = pd.DataFrame({"run": ["a", "a", "b", "c"], "device": ["CPU: Intel", "CPU: Intel", "CPU: AMD", "CPU: Intel"]})
    assert devices_text(rounds) == "devices: CPU: Intel (2 runs), CPU: AMD (1 run)"
    assert devices_text(rounds[rounds.device == "CPU: AMD"]) == "device: CPU: AMD"
    one = rounds.assign(device="CPU: AMD EPYC (2 cores, 1 threads)")
    assert devices_text(one) == "device: CPU: AMD EPYC (2 cores, 1 thread)"


def test_wall_hours_add_every_record_once(tmp_path):
    from dpe.config import make_config
    from dpe.records import record_path, save_record

    paths = []
    for trial, seconds in [(0, 1800.0), (1, 5400.0)]:
        config = make_config("smoke", trial=trial)
        path = record_path(tmp_path, config)
        save_record(path, valid_record(config, wall_seconds=seconds))
        paths.append(path)
    # 0.5 h + 1.5 h; the first record named again (a run shared by two grids) is not counted twice
    assert wall_hours(paths + [str(paths[0])]) == pytest.approx(2.0)
    assert wall_hours([]) == 0


def test_upper_bound_shares_compare_the_last_round_with_the_bound():
    rows = [("dpe upper bound", 0, 50000, 0.94), ("dpe upper bound", 1, 50000, 0.92)]
    rows += [("dpe H_ens", t, n, a) for t in range(3) for n, a in [(2000, 0.80), (16000, 0.90 + 0.01 * t)]]
    rows += [("dpe R", 0, 16000, 0.5), ("l2-ensemble upper bound", 0, 50000, 0.9)]  # no L2 H_ens: no row
    rows += [("dpe H_ens", 3, 16000, 0.10, True)]  # a diverged round is left out
    table = upper_bound_shares(_rounds(rows), "upper bound")
    assert list(table["model"]) == ["dpe"]
    row = table.iloc[0]
    # bound (.94 + .92) / 2 = .93 over 2 trials; H_ens at 16k (.90 + .91 + .92) / 3 = .91 over 3
    assert (row["bound"], row["bound_trials"], row["pool"]) == (pytest.approx(0.93), 2, 50000)
    assert (row["accuracy"], row["trials"], row["labeled"]) == (pytest.approx(0.91), 3, 16000)
    assert row["of_bound"] == pytest.approx(0.91 / 0.93) and row["of_labels"] == pytest.approx(0.32)
    # gap .91 - .93 with Welch's CI: s^2/n = 1e-4 / 3 (H_ens) and 2e-4 / 2 (bound), se = sqrt(4e-4 / 3)
    # = 0.011547, dof = (4e-4/3)^2 / ((1e-4/3)^2 / 2 + (1e-4)^2 / 1) = 1.68421
    half = scipy.stats.t.ppf(0.975, 1.68421) * 0.0115470
    assert row["gap"] == pytest.approx(-0.02)
    assert (row["gap_low"], row["gap_high"]) == (pytest.approx(-0.02 - half, rel=1e-4), pytest.approx(-0.02 + half, rel=1e-4))
    one_bound = upper_bound_shares(_rounds([r for r in rows if r[:2] != ("dpe upper bound", 1)]), "upper bound")
    assert one_bound["gap"].iloc[0] == pytest.approx(0.91 - 0.94) and one_bound[["gap_low", "gap_high"]].isna().all(axis=None)


def test_sentences_follow_the_numbers_either_way():
    rows = [("A", t, 200, 0.70 + 0.01 * t) for t in range(3)] + [("B", t, 200, 0.75 + 0.01 * t + 0.001 * t) for t in range(3)]
    text = comparison_sentences(comparisons(_rounds(rows), "A"), "A")
    assert "A vs B at 200 labels: -5.10 points" in text and "**reverses**" in text
    crops = comparison_sentences(comparisons(_rounds(rows), "A"), "A", unit="mIoU points", count="crops")
    assert "A vs B at 200 crops: -5.10 mIoU points" in crops
    # one trial of A against three of B: the difference of the means, said to be unpaired and without a verdict
    early = comparison_sentences(comparisons(_rounds(rows[:1] + rows[3:]), "A"), "A")
    assert early == ("- A vs B at 200 labels: -6.10 points between the means of each side's finished trials "
                     "(1 paired: no interval, no verdict).")
    # three trials each, none alike (A on AMD, B on Intel): no pair, and the page says why; the table has no gain
    apart = _rounds(rows).assign(machine=["AMD"] * 3 + ["Intel"] * 3)
    unpaired = comparisons(apart, "A")
    assert comparison_sentences(unpaired, "A").endswith(
        "(0 paired; 3 trials left out, its arms trained on different machines or dtypes: no interval, no verdict).")
    shown = comparison_display(unpaired).iloc[0]
    assert shown["gain (points)"] != shown["gain (points)"] and shown["95 % CI"] == "–"
    assert unpaired["p_welch"].notna().all() and (shown["Welch t p"], shown["pooled Z p (paper)"]) == ("n/a", "n/a")
    assert comparison_display(comparisons(_rounds(rows), "A")).iloc[0]["95 % CI"].startswith("[-")
    assert p_text(3e-5) == "< 1e-4" and p_text(0.0123) == "0.012" and p_text(float("nan")) == "n/a"


def test_an_inconclusive_or_vanishing_interval_off_zero_says_which_side_it_points_to():
    """A and B differ by 4, 5, 7 points (paired t, 2 df: p = 0.026, CI [+1.54, +9.13]); so do
    A and C. Holm over the two: 2 x 0.0263 = 0.0525 > 0.05, so both are inconclusive though their
    intervals lie above 0 -- the sentence says so; a reversed table says the other side leads."""
    gaps = (0.04, 0.05, 0.07)
    rows = [("A", t, 200, 0.70 + 0.01 * t) for t in range(3)]
    rows += [(other, t, 200, 0.70 + 0.01 * t - gaps[t] + shift) for other, shift in (("B", 0.0), ("C", 1e-6)) for t in range(3)]
    tests = comparisons(_rounds(rows), "A")
    assert tests["p_holm"].tolist() == [pytest.approx(0.05254, abs=1e-4)] * 2 and (tests["verdict"] == "inconclusive").all()
    text = comparison_sentences(tests, "A").splitlines()
    assert text[0] == ("- A vs B at 200 labels: +5.33 points, 95 % CI [+1.54, +9.13] over 3 paired trials (Holm p 0.053): "
                       "**inconclusive** -- its interval lies above 0 (A ahead), but not once Holm adjusts for the "
                       "table's other comparisons.")
    behind = [("A", t, 200, 0.70 + 0.01 * t - gaps[t]) for t in range(3)]
    behind += [(other, t, 200, 0.70 + 0.01 * t + shift) for other, shift in (("B", 0.0), ("C", 1e-6)) for t in range(3)]
    flipped = comparison_sentences(comparisons(_rounds(behind), "A"), "A")
    assert "-5.33 points" in flipped and "**inconclusive** -- its interval lies below 0 (B ahead)" in flipped
    wide = comparison_sentences(comparisons(_rounds(rows[:3] + [("B", t, 200, 0.70 + 0.01 * t + (-1) ** t * 0.05) for t in range(3)]), "A"), "A")
    assert "**inconclusive**." in wide  # an interval across 0 points nowhere
    # A ahead of B, C and D by 0.3, 0.4, 0.5 points: CI 0.4 +- 4.303 * 0.1 / sqrt(3) = [+0.15, +0.65], p 0.020 each,
    # Holm over three 0.061; equivalent within 1 point (TOST) -- *vanishes*, yet not "no difference at all"
    small = (0.003, 0.004, 0.005)
    near = [("A", t, 200, 0.70 + 0.01 * t) for t in range(3)]
    near += [(other, t, 200, 0.70 + 0.01 * t - small[t] + shift) for other, shift in (("B", 0.0), ("C", 1e-7), ("D", 2e-7))
             for t in range(3)]
    close = comparisons(_rounds(near), "A")
    assert (close["verdict"] == "vanishes").all() and close["p_holm"].tolist() == [pytest.approx(0.0606, abs=5e-4)] * 3
    assert comparison_sentences(close, "A").splitlines()[0] == (
        "- A vs B at 200 labels: +0.40 points, 95 % CI [+0.15, +0.65] over 3 paired trials (Holm p 0.061): **vanishes** "
        "-- within ±1.00 points, though its interval lies above 0 (A ahead) by less than that, a difference Holm does "
        "not confirm.")


def test_convergence_table_hand_worked():
    rows = []
    for trial in range(3):
        for labeled, short, long in ((100, 0.70, 0.715), (800, 0.84, 0.845)):
            rows.append({"label": "dpe | x1", "trial": trial, "labeled": labeled, "accuracy": short + 0.01 * trial, "steps": 500})
            rows.append({"label": "dpe | x2", "trial": trial, "labeled": labeled, "accuracy": long + 0.01 * trial, "steps": 1000})
    table = convergence_table(pd.DataFrame(rows)).set_index("labeled")
    assert table.loc[100, "change"] == pytest.approx(0.015) and not table.loc[100, "converged"]  # 1.5 points: no
    assert table.loc[800, "change"] == pytest.approx(0.005) and table.loc[800, "converged"]  # 0.5 points: yes
    assert (table["steps"] == 500).all() and (table["steps_doubled"] == 1000).all() and (table["trials"] == 3).all()
    two_trials = convergence_table(pd.DataFrame([r for r in rows if r["trial"] < 2]))
    assert not two_trials["converged"].any()  # the check needs 3 trials, however small the change
    assert table["chosen"].all()  # x1 is the model's own length unless told otherwise
    longer = pd.DataFrame(rows + [{**r, "label": "dpe | x4", "steps": 2000} for r in rows if r["label"] == "dpe | x2"])
    marked = convergence_table(longer, own_scales={"dpe": 2})
    assert sorted(marked.loc[marked["chosen"], "scale"].unique()) == [2]  # the x2 -> x4 rows are read
    assert marked.loc[marked["chosen"], "change"].abs().max() < 1e-12 and marked.loc[marked["chosen"], "converged"].all()
    # segmentation reads the mIoU: the same numbers under another column, with accuracy swapped to nonsense
    as_miou = pd.DataFrame(rows).rename(columns={"accuracy": "miou"}).assign(accuracy=0.0)
    by_miou = convergence_table(as_miou, value="miou").set_index("labeled")
    assert by_miou.loc[100, "change"] == pytest.approx(0.015) and by_miou.loc[800, "accuracy"] == pytest.approx(0.85)


def test_convergence_is_read_from_the_interval_never_the_mean():
    """quick's DPE at 200 labels: +0.70 points over 3 trials with a CI [-4.15, +5.55] -- under a point
    on average, but the interval allows 5: undetermined, not a pass. Per-trial changes -2.0, +0.7,
    +3.4 points: mean 0.7, sd 2.7, half-width t(0.975, 2) 2.7 / sqrt(3) = 6.707."""
    from dpe.study.convergence import cell_status, outcome, trials_needed

    rows = [{"label": f"dpe | x{s}", "trial": t, "labeled": 200, "accuracy": 0.80 + (d if s == 2 else 0.0), "steps": 100 * s}
            for t, d in enumerate((-0.020, 0.007, 0.034)) for s in (1, 2)]
    row = convergence_table(pd.DataFrame(rows)).iloc[0]
    half = student_t.ppf(0.975, 2) * 0.027 / math.sqrt(3)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((0.007 - half, 0.007 + half))
    assert row["status"] == "undetermined" and not row["converged"]
    # the trials at which 0.7 +- t(0.975, n-1) 2.7 / sqrt(n) falls inside +-1 point: the first n with
    # t * 2.7 / sqrt(n) < 0.3, by hand
    n = next(n for n in range(3, 500) if student_t.ppf(0.975, n - 1) * 0.027 / math.sqrt(n) < 0.003)
    assert row["trials_needed"] == (n if n <= 100 else pytest.approx(float("nan"), nan_ok=True))
    assert trials_needed(0.005, 0.004, 0.006, 3) == 3.0  # already clear of the edge: no more trials
    assert outcome(convergence_table(pd.DataFrame(rows)), 6, 6) == ("undetermined", {("dpe", 200): "undetermined"})
    assert cell_status(-0.005, 0.009, 3) == "passes" and cell_status(0.011, 0.03, 3) == "fails"
    assert cell_status(-0.03, -0.012, 3) == "fails"  # twice the training moves it down a point or more: not stable
    assert cell_status(0.005, 0.015, 3) == "undetermined" and cell_status(0.0, 0.001, 2) == "too few trials"


def test_round_cost_is_split_by_machine_and_engine():
    """A model's rounds timed in float32 and in bf16 are two rows, never one mean: the chapter had
    read MC dropout (float32) at ~3x the deterministic network (bf16). By hand: dpe bf16 on AMD,
    (100 + 120) / 2 = 110 s for 500 steps = 220 ms a step; float32 on AMD, 300 s = 600 ms."""
    from dpe.study.convergence import cost_where, round_cost, run_minutes

    amd, intel = "CPU: AMD EPYC", "CPU: Intel(R) Xeon(R) Processor"
    rows = [  # (model, scale, trial, labeled, seconds, machine, numerics)
        ("dpe", 1, 0, 100, 100.0, amd, "fast bf16"), ("dpe", 1, 1, 100, 120.0, amd, "fast bf16"),
        ("dpe", 1, 2, 100, 300.0, amd, "fast float32"), ("dpe", 1, 0, 200, 60.0, amd, "fast bf16"),
        ("dpe", 2, 0, 100, 999.0, amd, "fast bf16"),  # the check's doubled run: not the model's own length
        ("mc-dropout", 4, 0, 100, 40.0, intel, "fast bf16"),
    ]
    rounds = pd.DataFrame([{"model": m, "scale": s, "trial": t, "labeled": n, "train_seconds": sec, "steps": 500 * s,
                            "machine": machine, "numerics": numerics} for m, s, t, n, sec, machine, numerics in rows])
    cost = round_cost(rounds, {"dpe": 1, "mc-dropout": 4}).set_index(["model", "labeled", "numerics"])
    assert cost.loc[("dpe", 100, "fast bf16"), "ms per step"] == pytest.approx(220.0)
    assert cost.loc[("dpe", 100, "fast bf16"), "trials"] == 2
    assert cost.loc[("dpe", 100, "fast float32"), "ms per step"] == pytest.approx(600.0)
    assert cost.loc[("mc-dropout", 100, "fast bf16"), "ms per step"] == pytest.approx(20.0)  # 40 s / 2000 steps
    assert len(cost) == 4  # the x2 run is left out
    table = round_cost(rounds, {"dpe": 1, "mc-dropout": 4})
    assert cost_where(table) == f"{amd}, fast bf16 (dpe); {amd}, fast float32 (dpe); {intel}, fast bf16 (mc-dropout)"
    # a DPE run's minutes: its bf16 rounds on AMD (two sizes) outnumber the float32 one: (110 + 60) / 60
    assert run_minutes(table, "dpe") == (pytest.approx(170 / 60), f"{amd}, fast bf16")
    assert math.isnan(run_minutes(table, "l2-ensemble")[0])


def test_convergence_status_reads_checked_and_provisional_cells():
    from dpe.study.convergence import brief_status_text, outcome, status_text

    def rows(model, labeled, short, long, trials):
        return [{"label": f"{model} | x{s}", "trial": t, "labeled": labeled, "accuracy": a + 0.01 * t, "steps": 100 * s}
                for t in range(trials) for s, a in ((1, short), (2, long))]

    one_trial = convergence_table(pd.DataFrame(rows("deterministic", 2000, 0.80, 0.83, 1) + rows("dpe", 2000, 0.88, 0.88, 1)))
    text = status_text(one_trial, "paper-cpu", 4, 18)
    assert "incomplete (0 (model, size) cells checked, 4 of 18 runs finished)" in text
    # the 1-trial reading is given, with its sign, not hidden behind "no checked cell has failed"
    assert "Provisional, over 1 trial of 3" in text and "deterministic at 2000 labels +3.00" in text and "dpe at 2000 labels +0.00" in text
    checked = convergence_table(pd.DataFrame(rows("dpe", 2000, 0.88, 0.885, 3) + rows("deterministic", 2000, 0.80, 0.79, 2)))
    mixed = status_text(checked, "paper-cpu", 10, 18)
    assert "1 (model, size) cells checked" in mixed and "no checked cell has failed" in mixed
    assert brief_status_text(checked, "paper-cpu", 10, 18).startswith(
        "The `paper-cpu` protocol's convergence check is incomplete (1 (model, size) cells checked over 3 matched trials; "
        "10 of the 18 runs it reads, each model at its own length and twice it, finished); no checked cell has failed so far")
    assert "over 2 trials of 3" in mixed and "deterministic at 2000 labels -1.00" in mixed and "dpe at 2000 labels +0.50" not in mixed
    # a model moved to a longer length, and one with no doubled run, are named until a pair at their length exists
    own = {"dpe": 1, "deterministic": 2, "l2-ensemble": 1}
    moved = status_text(convergence_table(pd.DataFrame(rows("dpe", 2000, 0.88, 0.885, 3) + rows("deterministic", 2000, 0.80, 0.79, 2)),
                                          own_scales=own), "paper-cpu", 10, 18, own_scales=own)
    assert moved.endswith("No pair of runs has finished yet for: deterministic (x2 -> x4), l2-ensemble (x1 -> x2).")
    assert "deterministic at 2000 labels -1.00" not in moved  # its x1 -> x2 cell is no longer the one read
    assert "No pair" not in status_text(checked, "paper-cpu", 10, 18, own_scales={"dpe": 1, "deterministic": 1})
    # no pair at any model's own length (every model just moved to a longer one): an empty table still reads
    only_x2 = pd.DataFrame([r for r in rows("dpe", 2000, 0.88, 0.885, 3) if r["label"] == "dpe | x2"])
    nothing = status_text(convergence_table(only_x2, own_scales={"dpe": 2}), "paper-cpu", 3, 6, own_scales={"dpe": 2})
    assert nothing == ("The `paper-cpu` protocol's convergence check is incomplete (0 (model, size) cells checked, 3 of 6 runs "
                       "finished); no checked cell has failed so far. No pair of runs has finished yet for: dpe (x2 -> x4).")
    # the shorter length's failures that moved a model to a longer one are named, its passing cells are not
    moved_on = pd.DataFrame(rows("dpe", 4000, 0.88, 0.90, 3) + rows("dpe", 2000, 0.88, 0.885, 3))
    longer = status_text(convergence_table(moved_on, own_scales={"dpe": 2}), "paper-cpu", 6, 12, own_scales={"dpe": 2})
    assert longer.endswith("No pair of runs has finished yet for: dpe (x2 -> x4). Shorter lengths did not pass the check and were "
                           "given up for longer ones: dpe x1 -> x2 at 4000 labels (+2.00 points) (the Training to convergence chapter).")
    assert "Shorter lengths" not in status_text(convergence_table(moved_on), "paper-cpu", 6, 12, own_scales={"dpe": 1})
    failing = convergence_table(pd.DataFrame(rows("dpe", 2000, 0.88, 0.90, 3)))
    assert "**The `quick` protocol fails its convergence check**" in status_text(failing, "quick", 6, 6)
    assert "dpe at 2000 labels (+2.00 [+2.00, +2.00]), 3 trials" in status_text(failing, "quick", 6, 6)
    passed = convergence_table(pd.DataFrame(rows("dpe", 2000, 0.88, 0.885, 3)))
    assert status_text(passed, "quick", 6, 6) == "The `quick` protocol passed its convergence check (1 (model, size) cells checked, 6 of 6 runs finished)."
    # the same verdicts in one word, for the Findings page: a failing cell wins over unfinished runs;
    # the 2-trial -1.00 of the deterministic network is not yet a failure, nor is a shorter length's +2.00
    cell = {("dpe", 2000): "fails"}
    assert outcome(failing, 6, 6) == ("fails", cell) and outcome(failing, 6, 18) == ("fails", cell)
    assert outcome(passed, 6, 6) == ("passed", {}) and outcome(passed, 6, 12) == ("incomplete", {})
    assert outcome(checked, 10, 18) == ("incomplete", {})
    # every run finished but no pair at the own length (x2 -> x4) exists: nothing checked is no pass
    assert outcome(convergence_table(moved_on, own_scales={"dpe": 2}), 12, 12) == ("unpaired", {})
    # nor is a cell whose two lengths ran on different machines (paper-cpu's x2 on Intel, x4 on AMD)
    apart = pd.DataFrame(rows("dpe", 2000, 0.88, 0.885, 3) + rows("dpe", 4000, 0.90, 0.902, 3))
    apart["machine"] = ["Intel" if (r.label == "dpe | x1" or r.labeled == 4000) else "AMD" for r in apart.itertuples()]
    split = convergence_table(apart)
    assert outcome(split, 12, 12) == ("unpaired", {("dpe", 2000): "unpaired"})
    assert "lacks matched pairs" in status_text(split, "paper-cpu", 12, 12)
    assert "dpe at 2000 labels (0 matched, 3 left out)" in status_text(split, "paper-cpu", 12, 12)
    assert "dpe at 2000 labels (0 matched, 3 left out)" in brief_status_text(split, "paper-cpu", 12, 12)
    # the chapters' one-sentence form: the verdict, the cells by model, the link to the intervals

    link = "{ref}`chapter-convergence`"
    assert brief_status_text(passed, "quick", 6, 6) == (
        f"The `quick` protocol passed its convergence check (1 (model, size) cells; the intervals: {link}).")
    two_failing = convergence_table(pd.DataFrame(rows("dpe", 2000, 0.88, 0.90, 3) + rows("dpe", 4000, 0.90, 0.92, 3)
                                                 + rows("deterministic", 2000, 0.80, 0.805, 3)))
    assert brief_status_text(two_failing, "quick", 18, 18) == (
        "**The `quick` protocol fails its convergence check** for dpe at 2000, 4000 labels: there, twice the training "
        f"moves random sampling's accuracy by a point or more (the intervals: {link}).")
    assert brief_status_text(checked, "paper-cpu", 10, 18).startswith("The `paper-cpu` protocol's convergence check is incomplete (1 (model, size) cells")


def test_convergence_status_note_reads_the_shorter_length_that_moved_a_model_from_records(tmp_path, monkeypatch):
    from dpe import profiles
    from dpe.records import record_path, save_record
    from dpe.study.convergence import status_note
    from dpe.study.grids import convergence_grid

    # the DPE trains 2x at quick here: its x1 -> x2 pair (+2 points) failed, its x2 -> x4 pair (+0.5) passes
    monkeypatch.setitem(profiles.ROUND_SCALE, "quick", {"dpe": 2})
    one_size = {"budget": 100}  # the schedule's one round: 100 labels
    grid = convergence_grid("quick", "fashion-mnist", 3, (1,), ["dpe"], one_size)
    accuracy = {"dpe | x1": 0.80, "dpe | x2": 0.82, "dpe | x4": 0.825}
    assert sorted(set(label for label, _ in grid)) == sorted(accuracy)
    for label, config in grid:
        save_record(record_path(tmp_path, config), valid_record(config, [accuracy[label] + 0.001 * config.trial]))
    note = status_note(tmp_path, "quick", "fashion-mnist", one_size, models=["dpe"])
    assert note == ("The `quick` protocol passed its convergence check (1 (model, size) cells checked, 6 of 6 runs "
                    "finished). Shorter lengths did not pass the check and were given up for longer ones: dpe x1 -> x2 at "
                    "100 labels (+2.00 points) (the Training to convergence chapter).")


def test_convergence_lines_name_failing_cells_and_lengths_without_a_pair():
    from dpe.study.convergence import check_display, check_lines

    rows = [{"label": f"{model} | x{s}", "trial": t, "labeled": 2000, "accuracy": a, "steps": 100 * s}
            for model, short, long in (("dpe", 0.880, 0.885), ("deterministic", 0.80, 0.83))
            for t in range(3) for s, a in ((1, short), (2, long))]
    own = {"dpe": 1, "deterministic": 2}
    table = convergence_table(pd.DataFrame(rows), own_scales=own)
    assert check_lines(table, own) == [
        "- At the profile's length (the length of: dpe) (x1 -> x2): 1 of 2 cells pass; it fails for: deterministic "
        "at 2000 labels (+3.00 [+3.00, +3.00]).",
        "- At 2 times the profile's length (the length of: deterministic) (x2 -> x4): no pair of runs has finished yet.",
    ]
    shown = check_display(table)
    assert shown.loc[("x1 -> x2", "deterministic", 2000), "verdict"] == "fails"
    # a cell short of trials says when its runs exist but ran apart (trial 1's x2 on another machine)
    apart = pd.DataFrame(rows).assign(machine=lambda r: ["B" if (r2["trial"] == 1 and r2["label"] == "dpe | x2") else "A"
                                                         for _, r2 in r.iterrows()])
    shown_apart = check_display(convergence_table(apart, own_scales=own))
    assert shown_apart.loc[("x1 -> x2", "dpe", 2000), "verdict"] == "2 of 3 trials (1 unpaired: machines or dtypes differ)"
    assert check_lines(convergence_table(apart, own_scales=own), own)[0].endswith(
        " 1 cell(s) still lack 3 matched trials, 1 of them for trials whose two lengths ran on different machines or "
        "dtypes (waiting will not pair them: one side must run again on the other's).")
    assert shown.loc[("x1 -> x2", "deterministic", 2000), "the model's length"] == ""  # it trains x2: not the row read
    assert shown.loc[("x1 -> x2", "dpe", 2000), "change (points)"] == pytest.approx(0.5)
    two = check_lines(convergence_table(pd.DataFrame([r for r in rows if r["trial"] < 2]), own_scales=own), own)
    assert two[0] == "- At the profile's length (the length of: dpe) (x1 -> x2): no cell has 3 matched trials yet (2 cell(s) short of them)."


def test_an_undetermined_cell_no_count_of_trials_settles_says_how_near_the_edge_its_mean_is():
    """x2 minus x1 of 0.5, 1.0 and 1.55 points: mean +1.02, CI +-4.303 * 0.525 / sqrt(3) = [-0.29, +2.32];
    its mean 0.02 points past the 1-point edge needs thousands of trials at this spread (the text
    once advised more test images, which paper-cpu, at the whole test set, does not have)."""
    from dpe.study.convergence import check_lines

    rows = [{"label": f"dpe | x{s}", "trial": t, "labeled": 2000, "accuracy": 0.88 + (d if s == 2 else 0), "steps": 100 * s}
            for t, d in enumerate((0.005, 0.010, 0.0155)) for s in (1, 2)]
    (line,) = check_lines(convergence_table(pd.DataFrame(rows), own_scales={"dpe": 1}), {"dpe": 1})
    assert line.endswith("undetermined (the CI crosses +-1 point): dpe at 2000 labels (+1.02 [-0.29, +2.32]; over 100 trials "
                         "at this spread, its mean 0.02 points from the ±1 point edge).")


def test_partial_grids_say_which_runs_exist(tmp_path):
    from dpe.config import make_config
    from dpe.study.grids import finished_part, partial_note
    from dpe.records import record_path, save_record

    grid = [(label, make_config("smoke", acquisition=a, trial=t)) for label, a in (("R", "R"), ("H", "H_ens")) for t in (0, 1)]
    for _, config in grid[:3]:  # R trials 0 and 1, H trial 0; H trial 1 half done
        save_record(record_path(tmp_path, config), valid_record(config))
    save_record(record_path(tmp_path, grid[3][1]), valid_record(grid[3][1], rounds=1))
    done, paths = finished_part(grid, tmp_path)
    assert done == grid[:3] and paths == [str(record_path(tmp_path, c)) for _, c in grid[:3]]
    note = partial_note(grid, done)
    assert "3 of 4 runs are finished" in note and "R: 2 of 2 (trials 0, 1); H: 1 of 2 (trials 0)" in note
    assert note.endswith("The rest run with `python -m dpe.study`.")
    assert partial_note(grid, done, "python -m dpe.study --profile paper-cpu --only growth").endswith(
        "The rest run with `python -m dpe.study --profile paper-cpu --only growth`.")
    assert partial_note(grid, grid) == ""


def test_convergence_grid_pairs_the_chapter_runs_with_longer_ones():
    from dpe.config import make_config
    from dpe.study.grids import convergence_grid, l2_vs_dpe_grid

    from dpe.config import round_scale

    grid = convergence_grid("quick", "fashion-mnist", 3)
    own = {m: round_scale("quick", m) for m in ("dpe", "l2-ensemble", "deterministic", "mc-dropout")}
    assert len(grid) == 3 * sum(len({1, 2, s, 2 * s}) for s in own.values())
    configs = {(label, c.trial): c for label, c in grid}
    short, long = configs[("dpe | x1", 0)], configs[("dpe | x2", 0)]
    assert (long.max_epochs, long.min_steps) == (2 * short.max_epochs, 2 * short.min_steps)
    # a model's own length is the chapters' own random-sampling run: the same record, nothing extra to run
    table4 = {c for _, c in l2_vs_dpe_grid("quick", "fashion-mnist", 3)}
    assert {configs[(f"{m} | x{own[m]}", t)] for m in ("dpe", "l2-ensemble", "deterministic") for t in range(3)} <= table4
    mc = configs[(f"mc-dropout | x{own['mc-dropout']}", 2)]
    assert mc == make_config("quick", model="mc-dropout", acquisition="R", schedule="exponential", trial=2)
    assert configs[(f"mc-dropout | x{2 * own['mc-dropout']}", 2)].max_epochs == 2 * mc.max_epochs


def test_a_commit_named_by_the_sender_wins_over_a_stale_git(monkeypatch):
    from dpe.records import git_commit

    monkeypatch.delenv("DPE_GIT_COMMIT", raising=False)
    local = git_commit()["commit"]
    monkeypatch.setenv("DPE_GIT_COMMIT", "0123abcd")
    assert git_commit() == {"commit": "0123abcd (as sent)", "dirty": None}
    assert local != "0123abcd (as sent)"


def test_book_table_names_the_row_column_and_rounds_every_number():
    from dpe.study.display import book_table

    table = pd.DataFrame({100: [67.4, 69.666], 200: [75.03, float("nan")]}, index=pd.Index(["det R", "l2 R"], name="label"))
    table.columns.name = "labeled"
    html = book_table(table, "model", digits=1).data
    cells = re.findall(r"<t[hd][^>]*>\s*([^<]*?)\s*</t[hd]>", html)
    assert cells == ["model", "100", "200", "det R", "67.4", "75.0", "l2 R", "69.7", "–"]  # no index column, no axis-name row
    assert html == book_table(table, "model", digits=1).data  # re-rendering changes nothing
    assert html.startswith('<div class="dpe-table-scroll">')  # a wide table scrolls in its own box
    assert '<td data-label="200" class="num">75.0</td>' in html  # the phone layout names each cell's column


def test_book_table_signs_gains_formats_p_values_and_refuses_unnamed_headers():
    from dpe.study.display import book_table, flat_header

    tests = pd.DataFrame({"versus": ["H_ens", "V_w"], "gain (points)": [0.5, -1.234], "Holm p": [0.00002, 0.0312],
                          "train_seconds": [12.0, 3.5], "trials": [5, 3]})
    html = book_table(tests, digits=2).data
    cells = re.findall(r"<t[hd][ >][^>]*>(.*?)</t[hd]>", html)
    assert cells[:5] == ["versus", "gain (points)", "Holm p", "training (s)", "trials"]  # raw names renamed
    assert cells[5:] == ["H<sub>ens</sub>", "+0.50", "&lt; 1e-4", "12.00", "5", "V<sub>w</sub>", "-1.23", "0.031", "3.50", "3"]
    with pytest.raises(ValueError, match="two-level header"):
        book_table(pd.DataFrame([[1.0, 2.0]], columns=pd.MultiIndex.from_tuples([("CIFAR-10", 4000), ("CIFAR-10", 8000)])))
    with pytest.raises(ValueError, match="name the table's row labels"):
        book_table(pd.DataFrame({"a": [1.0]}, index=["x"]))
    with pytest.raises(ValueError, match="tuple"):
        book_table(pd.DataFrame({"a": [1.0]}).set_axis(pd.Index([("quick", 200)], tupleize_cols=False), axis=1))
    flat = flat_header(pd.DataFrame([[1.0, 2.0]], columns=pd.MultiIndex.from_tuples([("CIFAR-10", 4000), ("CIFAR-10", 800)])))
    assert list(flat.columns) == ["CIFAR-10, 4k", "CIFAR-10, 800"]


def test_percent_text_says_when_a_value_is_missing():
    from dpe.study.tables import percent_text

    assert percent_text(87.499, 2) == "87.50 %" and percent_text(3.05) == "3.0 %"
    assert percent_text(float("nan")) == "no finished run" and percent_text(None) == "no finished run"


def test_the_papers_table4_gains_are_differences_of_its_published_means():
    from dpe.study.paper import table4_gains

    gains = table4_gains("CIFAR-10").set_index(["versus", "labeled"])["difference"]
    assert len(gains) == 5 * 3  # five other rows at 4k, 8k and 16k
    assert gains["dpe R", 4000] == pytest.approx((82.88 - 80.60) / 100)  # Table 4: 82.88 against 80.60
    assert gains["l2-ensemble H_ens", 16000] == pytest.approx((94.33 - 94.13) / 100)
    assert gains["deterministic H_ens", 8000] == pytest.approx((90.15 - 89.16) / 100)
    assert table4_gains("CIFAR-100").set_index(["versus", "labeled"])["difference"]["dpe R", 16000] == pytest.approx(
        (70.12 - 66.65) / 100)


def test_gains_at_each_scale_sit_side_by_side_with_their_intervals():
    from dpe.study.scales import gains_at_scales, scales_display

    rows = []
    for trial, base in enumerate([0.70, 0.74, 0.72]):
        rows += [("dpe H_ens", trial, 100, 0.5), ("dpe R", trial, 100, 0.5)]
        rows += [("dpe H_ens", trial, 200, base + 0.02 + 0.002 * trial), ("dpe R", trial, 200, base)]
    small = comparisons(_rounds(rows), "dpe H_ens", sizes=[200])
    published = pd.DataFrame({"labeled": [4000], "versus": ["dpe R"], "difference": [0.0228]})
    gains = gains_at_scales({"quick": small, "empty": small.iloc[:0]}, published)
    assert list(gains["scale"]) == ["quick", "paper (CIFAR-10)"]  # a scale without rows is left out
    quick = gains.iloc[0]
    # paired differences +0.020, +0.022, +0.024: mean 0.022, sd 0.002, t(2) 97.5 % = 4.303
    half = 4.302653 * 0.002 / math.sqrt(3)
    assert quick.difference == pytest.approx(0.022) and quick.ci_low == pytest.approx(0.022 - half, rel=1e-5)
    shown = scales_display(gains, ["dpe R", "l2-ensemble H_ens"], "DPE + H_ens versus")
    assert list(shown.columns) == ["DPE + H_ens versus", "scale", "labels", "gain, points [95 % CI]", "trials", "verdict"]
    assert shown.values.tolist() == [  # a row no scale has is not shown
        ["dpe R", "quick", 200, f"+2.20 [{100 * (0.022 - half):+.2f}, {100 * (0.022 + half):+.2f}]", 3, quick.verdict],
        ["dpe R", "paper (CIFAR-10)", 4000, "+2.28", 3, "(the paper's means)"]]
    # the same runs on two machines, nothing alike: "no pair", never the difference of unpaired means
    apart = comparisons(_rounds(rows).assign(machine=["AMD", "Intel"] * 6), "dpe H_ens", sizes=[200])
    assert scales_display(gains_at_scales({"quick": apart}, published.iloc[:0]), ["dpe R"])["gain, points [95 % CI]"].tolist() == ["no pair"]


def test_gains_by_scale_keeps_each_scale_in_one_colour_across_panels():
    """A scale missing from one panel (here paper-cpu against the L2 ensemble) must not shift the
    colours of the others: the paper's published gains are drawn alike in every panel."""
    from dpe.study import figures

    def gains_of(scale, versus, labeled, difference, ci=0.01):
        return {"scale": scale, "labeled": labeled, "versus": versus, "trials": 3, "difference": difference,
                "ci_low": difference - ci if ci else math.nan, "ci_high": difference + ci if ci else math.nan}

    gains = pd.DataFrame([gains_of("quick", v, n, 0.02) for v in ("dpe R", "l2-ensemble H_ens") for n in (200, 400)]
                         + [gains_of("paper-cpu", "dpe R", n, 0.01) for n in (4000, 8000)]
                         + [gains_of("paper (CIFAR-10)", v, n, 0.03, ci=None) for v in ("dpe R", "l2-ensemble H_ens")
                            for n in (4000, 8000)])
    fig = figures.gains_by_scale(gains, ["dpe R", "l2-ensemble H_ens"], "t")
    colours = [{bars.get_label(): bars.lines[0].get_color() for bars in ax.containers} for ax in fig.axes[:2]]
    assert set(colours[0]) == {"quick", "paper-cpu", "paper (CIFAR-10)"} and set(colours[1]) == {"quick", "paper (CIFAR-10)"}
    assert colours[0]["paper (CIFAR-10)"] == colours[1]["paper (CIFAR-10)"] != colours[0]["paper-cpu"]
    assert colours[0]["quick"] == colours[1]["quick"]
    figures.plt.close(fig)


def test_a_figure_saved_twice_is_the_same_file(tmp_path, monkeypatch):
    """Re-rendering a chapter over the same records must not change its committed PDFs, whenever it runs."""
    from dpe.study import figures

    def draw():
        fig, ax = figures.plt.subplots()
        ax.plot([0, 1], [0, 1])
        return fig

    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")  # matplotlib's clock for a PDF's creation date
    first = [p.read_bytes() for p in figures.save(draw(), tmp_path / "a", "f")]
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1800000000")
    second = [p.read_bytes() for p in figures.save(draw(), tmp_path / "b", "f")]
    assert first == second


def test_a_cell_without_pairs_prints_no_interval_and_says_why():
    """Segmentation's upper bound at 2400 crops (x1 on one machine, x2 on another): no "+nan"
    anywhere, and the reason given."""
    from dpe.study.segmentation import check_verdict_text
    from dpe.study.tables import ci_text

    rows = [{"label": f"dpe | x{s}", "trial": t, "labeled": 2400, "miou": 0.30 + 0.01 * t, "steps": 100 * s,
             "machine": "AMD" if s == 1 else "Intel"} for t in range(3) for s in (1, 2)]
    table = convergence_table(pd.DataFrame(rows), value="miou", min_trials=3)
    text = check_verdict_text(table, 3)
    assert "dpe at 2400 crops (no pair: 3 left out, machines or dtypes differ)" in text and "nan" not in text
    assert ci_text(float("nan"), float("nan")) == "–" and ci_text(0.0123, 0.0456) == "[+1.23, +4.56]"


def test_calibration_is_one_holm_family_over_its_three_metrics():
    """DPE against the L2 ensemble at 800 labels in accuracy, NLL and ECE: Holm over the three
    paired p (the smallest times 3, then times 2, then the largest as is, each no lower than the one
    before) -- not three families of one."""
    from dpe.study.ensembles import calibration_tests
    from dpe.study.stats import paired_test

    values = {"dpe": {"accuracy": [0.85, 0.86, 0.88], "nll": [0.40, 0.42, 0.41], "ece": [0.020, 0.030, 0.025]},
              "l2-ensemble": {"accuracy": [0.84, 0.86, 0.86], "nll": [0.45, 0.46, 0.47], "ece": [0.030, 0.028, 0.040]}}
    rows = pd.DataFrame([{"label": label, "trial": t, "labeled": 800, "run": f"{label}{t}", "test_size": 1000,
                          "dataset": "fashion-mnist", **{m: v[t] for m, v in metrics.items()}}
                         for label, metrics in values.items() for t in range(3)])
    tests = calibration_tests(rows, 800).set_index("metric")
    raw = {m: paired_test(values["dpe"][m], values["l2-ensemble"][m]).p for m in ("accuracy", "nll", "ece")}
    order = sorted(raw, key=raw.get)
    expected, running = {}, 0.0
    for i, m in enumerate(order):
        running = max(running, min(1.0, (3 - i) * raw[m]))
        expected[m] = running
    for m in raw:
        assert tests.loc[m, "p_holm"] == pytest.approx(expected[m])
    assert tests.loc[order[0], "p_holm"] == pytest.approx(3 * raw[order[0]])


def test_a_scales_note_counts_upper_bounds_apart_from_the_tables_rows(tmp_path):
    """Three finished records of 1800, 3600 and 5400 s: 3.0 hours; two are the table's rows and
    one an upper bound, which the note's profile line (rows only) does not count."""
    from conftest import valid_record
    from dpe.config import make_config
    from dpe.records import record_path, save_record
    from dpe.study.scales import _runs_and_hours

    paths = []
    for trial, seconds in enumerate((1800.0, 3600.0, 5400.0)):
        config = make_config("smoke", trial=trial)
        paths.append(record_path(tmp_path, config))
        save_record(paths[-1], valid_record(config, wall_seconds=seconds))
    assert _runs_and_hours(paths, 2) == ("Its 3 finished runs (2 of Table 4's rows, 1 upper bound) took 3.0 hours by "
                                         "their records' wall times.")
    assert _runs_and_hours(paths + paths[:1], 3) == "Its 3 finished runs (3 of Table 4's rows) took 3.0 hours by their records' wall times."
