"""The segmentation chapter's readings (Tables 5 and 6, Figs. 3 and 4): whether the labels matter
at all, the convergence check of the decoder training, the V_w targeting of one class and the
first query. The chapter's notebook draws and glues them."""

from __future__ import annotations

import pandas as pd

from dpe.records import read_record
from dpe.segmentation import load_segmentation
from dpe.study.convergence import TOLERANCE, convergence_table, doubled_pairs
from dpe.study.stats import paired_test
from dpe.study.tables import ci_text, comparisons, percent_text

__all__ = ["CHECK_LABELS", "TABLE5_ROWS", "budget_text", "pool_pixels", "table5", "check_verdict_text", "convergence_check", "first_query", "labels_matter_text",
           "split_check", "table6", "vw_label", "vw_text"]

TABLE5_ROWS = ["l2-ensemble R", "l2-ensemble H_ens", "dpe R", "dpe H_ens"]
CHECK_LABELS = ["dpe R | x1", "dpe R | x2", "Upper bound", "Upper bound | x2"]


def vw_label(target_class: str) -> str:
    return f"dpe V_w ({target_class})"


def split_check(all_rounds: pd.DataFrame) -> pd.DataFrame:
    """The rounds of the chapter's tables: all but the convergence check's own labels."""
    return all_rounds[~all_rounds.label.str.contains(r" \| x[12]$")]


def labels_matter_text(rounds: pd.DataFrame) -> str:
    """The upper bound (every crop) against the initial random crops of DPE + R, paired by trial:
    under 5 points, the model, not the labels, limits the mIoU."""
    initial = rounds[(rounds.label == "dpe R") & (rounds["round"] == 0)].set_index("trial")["miou"]
    upper_runs = rounds[rounds.label == "Upper bound"].set_index("trial")["miou"]
    paired = sorted(set(initial.index) & set(upper_runs.index))
    if not paired:
        return "No trial has both a finished upper bound and a finished DPE + $R$ run yet: **not yet measured.**"
    gap = 100 * (upper_runs[paired].mean() - initial[paired].mean())
    initial_crops = int(rounds.loc[rounds.label == "dpe R", "labeled"].min())
    text = (f"Trained on every one of the {int(rounds.loc[rounds.label == 'Upper bound', 'labeled'].iloc[0])} crops, "
            f"the model reaches {100 * upper_runs[paired].mean():.2f} % mIoU; trained on the {initial_crops} initial random "
            f"crops, {100 * initial[paired].mean():.2f} %: a gap of {gap:+.2f} points")
    ci_low = float("nan")
    if len(paired) >= 2:
        test = paired_test(list(upper_runs[paired]), list(initial[paired]))
        ci_low = 100 * test.ci_low
        text += f" (95 % CI [{100 * test.ci_low:+.2f}, {100 * test.ci_high:+.2f}] over {len(paired)} paired trials)"
    if ci_low >= 5:
        return text + ". The labels matter in this setting: every comparison below lives inside that gap."
    if gap >= 5:
        return text + (". The mean gap is at least 5 points, but " + ("one trial gives no interval" if len(paired) < 2 else
                       "its interval reaches below 5") + ": that the labels matter here is not yet established.")
    return text + (". That is under 5 points: the model, not the labels, limits the mIoU here, and the tables below can say "
                   "little about acquisition functions.")


def convergence_check(all_rounds: pd.DataFrame, trials: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """DPE + R and the upper bound at the profile's length against twice it: the
    ``convergence_table`` (over at least min(3, trials) trials) and the table the book shows."""
    table = convergence_table(doubled_pairs(all_rounds, CHECK_LABELS), value="miou", min_trials=min(3, trials))
    shown = pd.DataFrame({
        "run": table["model"], "labelled crops": table["labeled"], "trials": table["trials"],
        "steps": table["steps"], "steps doubled": table["steps_doubled"],
        "mIoU (%)": (100 * table["accuracy"]).round(2), "doubled (%)": (100 * table["accuracy_doubled"]).round(2),
        "change (points)": (100 * table["change"]).round(2),
        "95 % CI": [ci_text(a, b) for a, b in zip(table["ci_low"], table["ci_high"])],
        "verdict": [s if s != "undetermined" or n != n else f"{s} (~{n:.0f} trials)"
                    for s, n in zip(table["status"], table["trials_needed"])],
    }).set_index(["run", "labelled crops"])
    return table, shown


def check_verdict_text(table: pd.DataFrame, trials: int) -> str:
    """The check's verdict in words: passes, fails where, undetermined where, not yet checked where."""
    needed = min(3, trials)
    few = table[table["trials"] < needed]
    failing = table[table["status"] == "fails"]
    open_cells = table[table["status"] == "undetermined"]
    if table.empty:
        return "No doubled runs have finished: **the protocol is unchecked here.**"
    if failing.empty and few.empty and open_cells.empty:
        return (f"Every row's 95 % CI of the change lies within ±{100 * TOLERANCE:.0f} point when trained twice as long "
                f"(largest change {100 * table['change'].abs().max():.2f} points): the protocol passes.")
    text = ""
    if not failing.empty:
        cells = ", ".join(f"{r.model} at {r.labeled} crops ({100 * r.change:+.2f} points, 95 % CI "
                          f"[{100 * r.ci_low:+.2f}, {100 * r.ci_high:+.2f}], {r.trials} trials)" for r in failing.itertuples())
        text += f"**The protocol fails its check** at {cells}: read the tables below with that in mind. "
    if not open_cells.empty:
        cells = ", ".join(f"{r.model} at {r.labeled} crops ({100 * r.change:+.2f} points, 95 % CI "
                          f"[{100 * r.ci_low:+.2f}, {100 * r.ci_high:+.2f}], {r.trials} trials"
                          + (f"; about {r.trials_needed:.0f} trials would settle it" if r.trials_needed == r.trials_needed else "")
                          + ")" for r in open_cells.itertuples())
        text += f"**Undetermined** (the interval crosses ±{100 * TOLERANCE:.0f} point): {cells}. "
    if not few.empty:
        cells = ", ".join(f"{r.model} at {r.labeled} crops (" + (f"{100 * r.change:+.2f} over {r.trials}" if r.trials else
                          f"no pair: {r.unmatched} left out, machines or dtypes differ") + ")" for r in few.itertuples())
        text += f"**Not yet checked** (fewer than {needed} paired trials): {cells}."
    return text


def table5(summary: pd.DataFrame, target_class: str, budget: int) -> tuple[pd.DataFrame, pd.Series | None]:
    """mIoU (%) of each row of Table 5 (and V_w) by labelled crops, mean over trials, a column
    for ``budget`` even before a run reaches it ("–" until its runs finish); and the upper bound's
    summary row (None before it has run)."""
    order = TABLE5_ROWS + [vw_label(target_class)]
    active = summary[summary.label != "Upper bound"]
    table = active.pivot(index="label", columns="labeled", values="mean").reindex(order) * 100
    if budget not in table.columns:  # no run has reached the budget yet
        table[budget] = float("nan")
    upper = summary[summary.label == "Upper bound"]
    return table, (upper.iloc[0] if len(upper) else None)


def pool_pixels(config, data_root: str | None):
    """The run's segmentation data and the labelled pixels of each class in its pool images."""
    data = load_segmentation(config.dataset, (config.height, config.width), config.pool_images, config.eval_images,
                             config.scene_seed, data_root)
    return data, pd.Series(data.pixels_per_class().numpy(), index=data.classes)


def budget_text(at_budget: pd.Series, upper_miou: float, budget: int, pool_crops: int, has_upper: bool) -> str:
    """Table 5's rows at the budget in a sentence, their spread and the distance to the bound."""
    text = (f"With {budget} of {pool_crops} crops labelled ({100 * budget / pool_crops:.0f} %; means over the finished "
            f"trials), DPE + $H_{{ens}}$: {percent_text(at_budget['dpe H_ens'], 2)}; DPE + $R$: {percent_text(at_budget['dpe R'], 2)}; "
            f"the L2 ensemble + $H_{{ens}}$: {percent_text(at_budget['l2-ensemble H_ens'], 2)}; the L2 ensemble + $R$: "
            f"{percent_text(at_budget['l2-ensemble R'], 2)}; the upper bound trained on every crop: {percent_text(upper_miou, 2)}.")
    if at_budget.notna().sum() >= 2:
        text += f" The {at_budget.notna().sum()} rows with results span {at_budget.max() - at_budget.min():.2f} points at that budget"
        text += (f", and the best of them is {at_budget.max() - upper_miou:+.2f} points from the upper bound." if has_upper else ".")
    return text


def table6(rounds: pd.DataFrame, budget: int, target_class: str, classes: list[str]) -> pd.DataFrame:
    """IoU (%) per class and mIoU at ``budget`` crops (the upper bound: every crop), mean over trials."""
    final = rounds[(rounds.labeled == budget) | (rounds.label == "Upper bound")]
    rows = {"Upper bound (all crops)": "Upper bound", "Random (DPE + R)": "dpe R", "DPE + H_ens": "dpe H_ens",
            f"Target {target_class} (DPE + V_w)": vw_label(target_class)}
    return pd.DataFrame({
        name: [100 * final.loc[final.label == label, f"iou:{c}"].mean() for c in classes]
        + [100 * final.loc[final.label == label, "miou"].mean()]
        for name, label in rows.items()
    }, index=classes + ["mIoU"]).T


def vw_text(rounds: pd.DataFrame, target_class: str, budget: int) -> tuple[pd.DataFrame, str]:
    """V_w against H_ens and random sampling on its target class, paired by trial: the IoU tests at
    ``budget`` and the sentences, with the target pixels its queries revealed over the rounds."""
    vw = vw_label(target_class)
    target_rounds = rounds[rounds.label.isin([vw, "dpe H_ens", "dpe R"])]
    tests = comparisons(target_rounds, vw, value=f"iou:{target_class}", sizes=[budget])
    pixels = target_rounds.groupby(["label", "trial"])[f"selected_pixels:{target_class}"].sum()
    sentences = []
    for other, name in (("dpe H_ens", "$H_{ens}$"), ("dpe R", "random sampling")):
        if not (tests.versus == other).any():  # V_w or the other row has no run at the budget yet
            sentences.append(f"- against {name}: no pair of finished runs at {budget} crops yet.")
            continue
        row = tests[tests.versus == other].iloc[0]
        ci = ("" if row.trials < 2 else
              f", 95 % CI [{100 * row.ci_low:+.1f}, {100 * row.ci_high:+.1f}] over {row.trials} paired trials: **{row.verdict}**")
        first, second = pixels.loc[vw], pixels.loc[other]
        common = sorted(set(first.index) & set(second.index))
        pixel_ci = ""
        if len(common) >= 2:
            t = paired_test(list(first[common]), list(second[common]))
            pixel_ci = f" (difference {t.mean_difference:+.0f}, 95 % CI [{t.ci_low:+.0f}, {t.ci_high:+.0f}])"
        sentences.append(
            f"- against {name}: {target_class} IoU {100 * row.reference_value:.1f} % vs {100 * row.other_value:.1f} % "
            f"({100 * row.difference:+.1f} points{ci}); its queries revealed {first.mean():.0f} {target_class} pixels "
            f"against {second.mean():.0f}{pixel_ci}.")
    return tests, (f"Targeting {target_class} with $V_w$ (weight 1 on it, 0 elsewhere), at {budget} crops:\n\n"
                   + "\n".join(sentences))


def first_query(done, paths) -> tuple[int, list[int], str]:
    """The pool image from which the first finished DPE + H_ens run queried the most crops in its
    first acquisition, those crops, and a title (image 0 and none before any run has finished)."""
    record = next((read_record(p) for (label, _), p in zip(done, paths) if label == "dpe H_ens"), None)
    if record is None:
        return 0, [], "No DPE + H_ens run has finished yet: pool image 0, no crops queried"
    chosen = record["rounds"][0]["selected"]
    image = int(pd.Series([c // 12 for c in chosen]).value_counts().index[0])
    return image, [c % 12 for c in chosen if c // 12 == image], f"Pool image {image}: crops queried by DPE + H_ens after round 0 (red)"
