"""Is a profile's training protocol converged? The test of the "Training to convergence" page.

A protocol is converged at a labelled size when training each round twice as long (epochs and
step floor both doubled: ``dpe.study.grids.convergence_grid``) moves random sampling's test
accuracy by less than ``TOLERANCE`` (1 point) -- read from the 95 % confidence interval of the
paired change over at least ``MIN_TRIALS`` trials, never from its mean: a cell *passes* when the
whole interval lies within +-1 point, *fails* when it lies wholly beyond, and is *undetermined*
otherwise (more trials or test images would settle it: ``trials_needed``). A result from an
undertrained model says more about the training length than about the method.
"""

from __future__ import annotations

import math
from typing import Sequence

import pandas as pd
from scipy.stats import t as student_t

from dpe.config import round_scale
from dpe.study.grids import CONVERGENCE_MODELS, convergence_grid, finished_part
from dpe.study.stats import paired_test
from dpe.study.tables import ci_text, load_rounds, matched_trials

__all__ = ["MIN_TRIALS", "brief_status_text", "TOLERANCE", "cell_status", "check_display", "check_lines", "doubled_pairs", "check_outcome", "checked_summary", "own_length_text", "round_cost", "cost_where", "run_minutes", "convergence_table",
           "outcome", "split_labels", "status_note", "status_text", "trials_needed"]

TOLERANCE = 0.01  # largest accepted change of accuracy when a round trains twice as long
MIN_TRIALS = 3  # trials the change is taken over
PASSES, FAILS, UNDETERMINED, TOO_FEW = "passes", "fails", "undetermined", "too few trials"
UNPAIRED = "unpaired"  # an own-length cell whose runs all finished, but too few trials of it ran alike


def cell_status(ci_low: float, ci_high: float, trials: int, tolerance: float = TOLERANCE, min_trials: int = MIN_TRIALS) -> str:
    """A cell of the check by its 95 % CI of the change: ``passes`` inside +-``tolerance``, ``fails``
    wholly beyond it (either side: twice the training moves the accuracy by a point or more),
    ``undetermined`` across its edge; ``too few trials`` under ``min_trials``."""
    if trials < min_trials or math.isnan(ci_low):
        return TOO_FEW
    if -tolerance < ci_low and ci_high < tolerance:
        return PASSES
    if ci_low >= tolerance or ci_high <= -tolerance:
        return FAILS
    return UNDETERMINED


def trials_needed(change: float, ci_low: float, ci_high: float, trials: int, tolerance: float = TOLERANCE,
                  limit: int = 100) -> float:
    """Paired trials at which an undetermined cell's interval would clear the edge of
    +-``tolerance``, if its mean change and spread stayed as they are: inside it (a pass) when
    |change| < tolerance, beyond it (a fail) otherwise. NaN when no count up to ``limit`` does."""
    if trials < 2 or math.isnan(ci_low):
        return math.nan
    sd = (ci_high - ci_low) / 2 / student_t.ppf(0.975, trials - 1) * math.sqrt(trials)
    room = abs(abs(change) - tolerance)
    if sd == 0:
        return float(trials)
    for n in range(max(trials, 2), limit + 1):
        if student_t.ppf(0.975, n - 1) * sd / math.sqrt(n) < room:
            return float(n)
    return math.nan


def split_labels(rounds: pd.DataFrame) -> pd.DataFrame:
    """``rounds`` of ``convergence_grid`` with its "model | xS" labels split into ``model`` and
    an integer ``scale`` column."""
    parts = rounds["label"].str.split(" | ", regex=False, expand=True)
    return rounds.assign(model=parts[0], scale=parts[1].str.lstrip("x").astype(int))


def doubled_pairs(rounds: pd.DataFrame, labels: Sequence[str]) -> pd.DataFrame:
    """The runs of ``labels`` as ``convergence_table`` reads them, for a chapter that checks a few
    of its own runs: "name" or "name | x1" at the profile's length (``scale`` 1), "name | x2"
    trained twice as long (``scale`` 2), ``model`` the name."""
    check = rounds[rounds.label.isin(labels)]
    return check.assign(model=check.label.str.replace(r" \| x[12]$", "", regex=True),
                        scale=check.label.str.endswith(" | x2").map({True: 2, False: 1}))


CHECK_COLUMNS = ["model", "labeled", "scale", "trials", "unmatched", "steps", "steps_doubled", "accuracy",
                 "accuracy_doubled", "change", "ci_low", "ci_high", "status", "trials_needed", "converged", "chosen"]


def convergence_table(
    rounds: pd.DataFrame, tolerance: float = TOLERANCE, min_trials: int = MIN_TRIALS, own_scales: dict | None = None,
    value: str = "accuracy",
) -> pd.DataFrame:
    """One row per (model, labelled size, scale s with a run at 2s): mean ``value`` (test
    accuracy; the mIoU for segmentation) and steps at s and 2s, the paired change v(2s) - v(s)
    over the trials both ran on the same machine, engine and dtype (``unmatched``: those left out) with
    its 95 % CI, its ``status`` (``cell_status``) and, when undetermined, the ``trials_needed``
    to settle it; ``converged``: the status is a pass; ``chosen``: s is the model's own length
    (``own_scales[model]``, 1 if absent), the row the check reads. The value columns keep the
    names ``accuracy`` and ``accuracy_doubled`` whatever ``value`` is."""
    own_scales = own_scales or {}
    rounds = split_labels(rounds) if "scale" not in rounds else rounds
    rows = []
    for (model, labeled), at in rounds.groupby(["model", "labeled"], sort=False):
        scales = sorted(at["scale"].unique())
        for scale in scales:
            if 2 * scale not in scales:
                continue
            short = at[at["scale"] == scale].set_index("trial")
            long = at[at["scale"] == 2 * scale].set_index("trial")
            trials, unmatched = matched_trials(short, long)
            row = {"model": model, "labeled": labeled, "scale": scale, "trials": len(trials), "unmatched": unmatched,
                   "steps": int(short["steps"].iloc[0]), "steps_doubled": int(long["steps"].iloc[0]),
                   "accuracy": short.loc[trials, value].mean(), "accuracy_doubled": long.loc[trials, value].mean()}
            row["change"] = row["accuracy_doubled"] - row["accuracy"]
            row["ci_low"] = row["ci_high"] = float("nan")
            if len(trials) >= 2:
                test = paired_test(list(long.loc[trials, value]), list(short.loc[trials, value]))
                row.update(ci_low=test.ci_low, ci_high=test.ci_high)
            row["status"] = cell_status(row["ci_low"], row["ci_high"], len(trials), tolerance, min_trials)
            row["trials_needed"] = (trials_needed(row["change"], row["ci_low"], row["ci_high"], len(trials), tolerance)
                                    if row["status"] == UNDETERMINED else math.nan)
            row["converged"] = row["status"] == PASSES
            row["chosen"] = scale == own_scales.get(model, 1)
            rows.append(row)
    # the columns even when no pair has finished, the flags boolean (an empty frame's are objects: no mask)
    return pd.DataFrame(rows, columns=CHECK_COLUMNS).astype({"converged": bool, "chosen": bool})


def check_display(table: pd.DataFrame, min_trials: int = MIN_TRIALS) -> pd.DataFrame:
    """A ``convergence_table`` as the chapter shows it: accuracies and changes in points of %, the
    paired 95 % CI as text, the cell's verdict once it has ``min_trials`` trials ("n of 3 trials"
    before; an undetermined one with the trials that would settle it), each model's own length
    marked; indexed by (lengths, model, labelled)."""
    shown = pd.DataFrame({
        "model": table["model"], "labelled": table["labeled"], "lengths": [f"x{s} -> x{2 * s}" for s in table["scale"]],
        "trials": table["trials"], "steps": table["steps"], "accuracy (%)": (100 * table["accuracy"]).round(2),
        "steps doubled": table["steps_doubled"], "accuracy doubled (%)": (100 * table["accuracy_doubled"]).round(2),
        "change (points)": (100 * table["change"]).round(2),
        "95 % CI": [ci_text(a, b) for a, b in zip(table["ci_low"], table["ci_high"])],
        "verdict": [_status_shown(r, min_trials) for r in table.itertuples()],
        "the model's length": ["yes" if c else "" for c in table["chosen"]],
    }).sort_values(["lengths", "model", "labelled"], kind="stable")
    return shown.set_index(["lengths", "model", "labelled"])


def _status_shown(row, min_trials: int = MIN_TRIALS) -> str:
    """A cell's status as the table shows it: what would settle an undetermined one."""
    if row.status == TOO_FEW:
        left_out = int(getattr(row, "unmatched", 0) or 0)
        return f"{row.trials} of {min_trials} trials" + (f" ({left_out} unpaired: machines or dtypes differ)" if left_out else "")
    if row.status == UNDETERMINED:
        return "undetermined" + (f" (~{row.trials_needed:.0f} trials)" if row.trials_needed == row.trials_needed else " (> 100 trials)")
    return row.status


def checked_summary(table: pd.DataFrame) -> dict:
    """What the chapter states about the cells checked at each model's own length: how many,
    how many converged, how many lack enough matched trials to be read, the largest change
    (points), the tolerance (points) and the trials."""
    checked = table[table["chosen"] & (table["trials"] >= MIN_TRIALS)]
    return {"n_cells": len(checked), "n_converged": int(checked["converged"].sum()),
            "n_unread": len(_unread(table)),
            "max_change": float(100 * checked["change"].abs().max()) if len(checked) else float("nan"),
            "tolerance": 100 * TOLERANCE, "min_trials": MIN_TRIALS}


def round_cost(rounds: pd.DataFrame, own_scales: dict[str, int]) -> pd.DataFrame:
    """Training time of one round at each model's own length and labelled size, per machine and
    engine (dtype and machine change what a step costs): mean over the trials that
    ran there, with the milliseconds per SGD step. Compare models only within one machine and engine."""
    by = ["model", "labeled", "machine", "numerics"]
    cost = (rounds[rounds["scale"] == rounds["model"].map(own_scales)].groupby(by, sort=False)
            .agg(steps=("steps", "first"), trials=("trial", "nunique"), train_seconds=("train_seconds", "mean")).reset_index())
    cost["ms per step"] = 1000 * cost["train_seconds"] / cost["steps"]
    return cost.sort_values(by, key=lambda c: c.map({m: i for i, m in enumerate(own_scales)}) if c.name == "model" else c,
                            kind="stable", ignore_index=True)


def cost_where(cost: pd.DataFrame) -> str:
    """The machines and engines behind a ``round_cost`` table, each with the models timed there:
    "CPU: AMD EPYC, fast bf16 (dpe, l2-ensemble); CPU: AMD EPYC, fast float32 (mc-dropout)"."""
    return "; ".join(f"{machine}, {numerics} ({', '.join(at['model'].unique())})"
                     for (machine, numerics), at in cost.groupby(["machine", "numerics"], sort=False))


def run_minutes(cost: pd.DataFrame, model: str) -> tuple[float, str]:
    """Minutes of training in all rounds of one run of ``model`` on the machine and engine that
    timed most of its rounds, and which that is (NaN, "" without rows)."""
    rows = cost[cost["model"] == model]
    if rows.empty:
        return math.nan, ""
    (machine, numerics), at = max(rows.groupby(["machine", "numerics"], sort=False), key=lambda g: (len(g[1]), g[1]["trials"].sum()))
    return float(at["train_seconds"].sum() / 60), f"{machine}, {numerics}"


def own_length_text(own_scales: dict[str, int]) -> str:
    """Which models train longer than the profile's round (``dpe.profiles.ROUND_SCALE``)."""
    longer = [f"{model} x{s}" for model, s in own_scales.items() if s != 1]
    return ("every model trains for that length" if not longer else
            "every model trains for that length except " + ", ".join(longer) + " (set in dpe.profiles.ROUND_SCALE)")


def check_lines(table: pd.DataFrame, own_scales: dict[str, int], min_trials: int = MIN_TRIALS) -> list[str]:
    """One Markdown bullet per length of a ``convergence_table`` (x s -> x 2s): which models train
    at it (``own_scales``), how many of its cells with ``min_trials`` trials pass, which fail and by
    how much, and how many cells still lack trials."""
    lines = []
    for scale in sorted(set(table["scale"]) | set(own_scales.values())):
        at_scale = table[table["scale"] == scale]
        at = at_scale[at_scale["trials"] >= min_trials]
        short = at_scale[at_scale["trials"] < min_trials]
        pending, unpaired = len(short), int((short["unmatched"] > 0).sum())
        apart = (f", {unpaired} of them for trials whose two lengths ran on different machines or dtypes (waiting will "
                 "not pair them: one side must run again on the other's)" if unpaired else "")
        length = "the profile's length" if scale == 1 else f"{scale} times the profile's length"
        mine = [m for m, s in own_scales.items() if s == scale]
        length += f" (the length of: {', '.join(mine)})" if mine else " (no model's length)"
        if at_scale.empty:
            lines.append(f"- At {length} (x{scale} -> x{2 * scale}): no pair of runs has finished yet.")
            continue
        if at.empty:
            lines.append(f"- At {length} (x{scale} -> x{2 * scale}): no cell has {min_trials} matched trials yet"
                         f" ({pending} cell(s) short of them{apart}).")
            continue
        parts = [f"{int(at['converged'].sum())} of {len(at)} cells pass"]
        for status, verb in ((FAILS, "it fails for"), (UNDETERMINED, "undetermined (the CI crosses +-1 point)")):
            cells = at[at["status"] == status]
            if len(cells):
                parts.append(f"{verb}: " + "; ".join(_cell_text(r) for r in cells.itertuples()))
        lines.append(f"- At {length} (x{scale} -> x{2 * scale}): " + "; ".join(parts) + "."
                     + (f" {pending} cell(s) still lack {min_trials} matched trials{apart}." if pending else ""))
    return lines


def _cell_text(row) -> str:
    """One cell with its change, CI and, when undetermined, the trials that would settle it."""
    text = f"{row.model} at {row.labeled} labels ({100 * row.change:+.2f} [{100 * row.ci_low:+.2f}, {100 * row.ci_high:+.2f}]"
    if row.status == UNDETERMINED:
        edge = 100 * abs(abs(row.change) - TOLERANCE)  # how far the mean is from the edge it must clear
        text += (f"; about {row.trials_needed:.0f} trials would settle it" if row.trials_needed == row.trials_needed
                 else f"; over 100 trials at this spread, its mean {edge:.2f} points from the ±{100 * TOLERANCE:.0f} point edge")
    return text + ")"


def _read_check(results_dir, profile: str, dataset: str, settings: dict | None, trials: int,
                models: Sequence[str] | None) -> tuple[pd.DataFrame | None, int, int, dict[str, int]]:
    """The check's records in ``results_dir``: its ``convergence_table`` (None when no run of the
    pairs it reads has finished), the finished and wanted runs of those pairs, and each model's
    own length (``dpe.config.round_scale``)."""
    models = list(models or CONVERGENCE_MODELS)
    own = {model: round_scale(profile, model) for model in models}
    # each model's own length and twice it (the pair the check reads), and the shorter lengths below
    # them (x1, x2, ...), whose failures moved a model on: one pass over the records
    shorter = [2 ** k for k in range(max(own.values()).bit_length() - 1)]
    grid = convergence_grid(profile, dataset, trials, shorter, models, settings)
    done, paths = finished_part(grid, results_dir)
    read = {f"{model} | x{scale}" for model, s in own.items() for scale in (s, 2 * s)}
    runs, finished = (sum(label in read for label, _ in pairs) for pairs in (grid, done))
    if not finished:
        return None, 0, runs, own
    return convergence_table(load_rounds(paths, [label for label, _ in done]), own_scales=own), finished, runs, own


def status_note(
    results_dir, profile: str, dataset: str, settings: dict | None = None, trials: int = MIN_TRIALS,
    models: Sequence[str] | None = None, brief: bool = False,
) -> str:
    """One Markdown sentence for the top of every chapter (``brief``: the verdict and the cells
    that do not pass, with a link to the chapter that has the intervals): whether the profile's protocol passed
    the convergence check in ``results_dir`` (the records of ``convergence_grid`` at each model's
    own length and twice it, for ``models``: unless told, every model of the study; a chapter
    passes those its profile's convergence chapter checks, ``dpe.study.chapter.Chapter.status``), and if not,
    for which models and labelled sizes -- read from the records, never assumed."""
    table, finished, runs, own = _read_check(results_dir, profile, dataset, settings, trials, models)
    if table is None:
        return (f"**The `{profile}` protocol has not been checked for convergence** in these results "
                "(`python -m dpe.study --only convergence`).")
    return (brief_status_text if brief else status_text)(table, profile, finished, runs, trials, own)


def _cells_by_model(cells) -> str:
    """{(model, size): status} as "dpe at 100, 200 labels; deterministic at 800 labels"."""
    by_model: dict[str, list[int]] = {}
    for model, size in cells:
        by_model.setdefault(model, []).append(size)
    return "; ".join(f"{m} at {', '.join(str(s) for s in sorted(sizes))} labels" for m, sizes in by_model.items())


def brief_status_text(
    table: pd.DataFrame, profile: str, finished: int, runs: int, trials: int = MIN_TRIALS, own_scales: dict | None = None,
) -> str:
    """``status_text`` in one sentence for the top of a chapter: the verdict, the cells that fail
    or are undetermined (model and sizes), and where the intervals are."""
    verdict, cells = outcome(table, finished, runs, trials)
    checked = table[table["chosen"] & (table["trials"] >= trials)]
    where = "the intervals: {ref}`chapter-convergence`"
    if verdict == "passed":
        return f"The `{profile}` protocol passed its convergence check ({len(checked)} (model, size) cells; {where})."
    failing = {c: s for c, s in cells.items() if s == FAILS}
    open_cells = {c: s for c, s in cells.items() if s == UNDETERMINED}
    undetermined = f" Undetermined: {_cells_by_model(open_cells)}." if open_cells else ""
    if verdict == "fails":
        return (f"**The `{profile}` protocol fails its convergence check** for {_cells_by_model(failing)}: there, "
                f"twice the training moves random sampling's accuracy by a point or more ({where}).{undetermined}")
    if verdict == "undetermined":
        return (f"The `{profile}` protocol's convergence check is **undetermined** at {len(open_cells)} of {len(checked)} "
                f"(model, size) cells: none fails, but their intervals cross ±1 point ({where}).{undetermined}")
    if verdict == "unpaired":
        return (f"**The `{profile}` protocol's convergence check lacks matched pairs**: every run finished, but its two "
                f"lengths ran on different machines or dtypes in {_unpaired_cells(table, trials)} ({where}).{undetermined}")
    return (f"The `{profile}` protocol's convergence check is incomplete ({len(checked)} (model, size) cells checked over "
            f"{trials} matched trials; {finished} of the {runs} runs it reads, each model at its own length and twice it, "
            f"finished); no checked cell has failed so far ({where}).{undetermined}")


def check_outcome(
    results_dir, profile: str, dataset: str, settings: dict | None = None, trials: int = MIN_TRIALS,
    models: Sequence[str] | None = None,
) -> tuple[str, dict[tuple[str, int], str]]:
    """The verdict of ``status_note`` in one word -- "passed", "fails", "undetermined",
    "incomplete", "unpaired" or "not checked" -- and the cells at each model's own length that do not pass,
    {(model, labelled size): "fails" | "undetermined" | "unpaired"}."""
    table, finished, runs, _ = _read_check(results_dir, profile, dataset, settings, trials, models)
    if table is None:
        return "not checked", {}
    return outcome(table, finished, runs, trials)


def outcome(table: pd.DataFrame, finished: int, runs: int, trials: int = MIN_TRIALS) -> tuple[str, dict[tuple[str, int], str]]:
    """"fails" when a cell checked over ``trials`` trials at its model's own length fails; else,
    once all ``runs`` are ``finished``, "unpaired" when a cell at a model's own length has fewer than
    ``trials`` matched trials (its lengths ran on different machines or dtypes), "passed" when every
    such cell passes and "undetermined" when some interval crosses the edge; else "incomplete".
    The cells: {(model, size): "fails" | "undetermined" | "unpaired"}. With it, every checked cell that does
    not pass, {(model, labelled size): its status}."""
    checked = table[table["chosen"] & (table["trials"] >= trials)]
    cells = {(r.model, int(r.labeled)): r.status for r in checked.itertuples() if r.status in (FAILS, UNDETERMINED)}
    if FAILS in cells.values():
        return "fails", cells
    if finished < runs:
        return "incomplete", cells
    short = _unread(table, trials)
    if len(short) or not len(checked):  # every run done, yet cells lack matched pairs
        return "unpaired", {**cells, **{(r.model, int(r.labeled)): UNPAIRED for r in short.itertuples()}}
    return ("undetermined" if cells else "passed"), cells


def _unread(table: pd.DataFrame, trials: int = MIN_TRIALS) -> pd.DataFrame:
    """The cells at each model's own length read over fewer than ``trials`` matched trials."""
    return table[table["chosen"] & (table["trials"] < trials)]


def _unpaired_cells(table: pd.DataFrame, trials: int) -> str:
    """``_unread`` cells by model, with the pairs left out."""
    return "; ".join(f"{model} at {', '.join(str(int(s)) for s in sorted(at['labeled']))} labels "
                     f"({int(at['trials'].min())} matched, {int(at['unmatched'].max())} left out)"
                     for model, at in _unread(table, trials).groupby("model", sort=False))


def status_text(
    table: pd.DataFrame, profile: str, finished: int, runs: int, trials: int = MIN_TRIALS, own_scales: dict | None = None,
) -> str:
    """The sentence of ``status_note`` for a ``convergence_table`` over ``finished`` of the check's
    ``runs`` runs: a (model, size) cell is checked once ``trials`` trials have both lengths; while the
    check is incomplete, cells read over fewer trials are given as they stand, marked provisional,
    so that an early sign of undertraining is never hidden behind "no cell has failed", and the
    models of ``own_scales`` (model: its own length) with no pair at their own length yet are named,
    as are the failing cells of shorter lengths that made a model train longer."""
    chosen = table[table["chosen"]]
    own = own_scales or {}
    unread = [f"{m} (x{s} -> x{2 * s})" for m, s in own.items() if not (chosen["model"] == m).any()]
    waiting = f" No pair of runs has finished yet for: {', '.join(unread)}." if unread else ""
    shorter = table[(table["scale"] < table["model"].map(own).fillna(1)) & (table["trials"] >= trials) & ~table["converged"]]
    if not shorter.empty:  # the failures that set a model's length, so "none has failed" is not misread
        cells = "; ".join(
            f"{model} x{scale} -> x{2 * scale} at " + ", ".join(f"{r.labeled} labels ({100 * r.change:+.2f} points)" for r in at.itertuples())
            for (model, scale), at in shorter.groupby(["model", "scale"], sort=False))
        waiting += (f" Shorter lengths did not pass the check and were given up for longer ones: {cells}"
                    " (the Training to convergence chapter).")
    at_profile = chosen[chosen["trials"] >= trials]
    failing = at_profile[at_profile["status"] == FAILS]
    open_cells = at_profile[at_profile["status"] == UNDETERMINED]
    checked = f"{len(at_profile)} (model, size) cells checked, {finished} of {runs} runs finished"
    verdict, _ = outcome(table, finished, runs, trials)
    undetermined = ("" if open_cells.empty else
                    f" Undetermined, the 95 % CI of the change crossing +-1 point: "
                    + "; ".join(_cell_text(r) for r in open_cells.itertuples()) + ".")
    if verdict == "passed":
        return f"The `{profile}` protocol passed its convergence check ({checked}).{waiting}"
    if verdict == "undetermined":
        return (f"The `{profile}` protocol's convergence check is **undetermined** at some sizes ({checked}): "
                f"no cell fails, but not every interval lies within +-1 point.{undetermined}{waiting}")
    early = chosen[chosen["trials"] < trials]
    so_far = ""
    if not early.empty:
        cells = "; ".join(f"{r.model} at {r.labeled} labels {100 * r.change:+.2f} points" for r in early.itertuples())
        counts = sorted(set(early["trials"]))
        so_far = (f" Provisional, over {' or '.join(map(str, counts))} trial{'s' if counts != [1] else ''} of "
                  f"{trials}, the change of random sampling's accuracy when each round trains twice as long: {cells}.")
    if verdict == "incomplete":
        return (f"The `{profile}` protocol's convergence check is incomplete ({checked}); no checked cell has "
                f"failed so far.{undetermined}{so_far}{waiting}")
    if verdict == "unpaired":
        return (f"**The `{profile}` protocol's convergence check lacks matched pairs** ({checked}): the two lengths of "
                f"a trial ran on different machines or dtypes in {_unpaired_cells(table, trials)}, so no interval "
                f"is read there; no checked cell has failed.{undetermined}{so_far}{waiting}")
    listed = "; ".join(_cell_text(r) + f", {r.trials} trials" for r in failing.itertuples())
    return (f"**The `{profile}` protocol fails its convergence check** where twice the training moves random "
            f"sampling's accuracy by a point or more (the whole 95 % CI): {listed}. Those models' numbers at those "
            f"sizes depend on the training length, not only on the method (the Training to convergence chapter; "
            f"{checked}).{undetermined}{so_far}{waiting}")
