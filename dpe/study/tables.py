"""Run records as tidy pandas tables: one row per (run, round)."""

from __future__ import annotations

import math
import os
import re
from typing import Callable, Iterable, Sequence

import pandas as pd

from dpe.records import read_record
from dpe.study.stats import EQUIVALENCE_MARGIN, Verdict, holm, paired_test, verdict, welch_test, z_test_proportions

__all__ = ["CONFIG_COLUMNS", "ci_text", "comparison_display", "percent_text", "comparison_sentences", "comparisons", "judged", "source_caption", "p_text", "wall_hours", "load_rounds", "load_segmentation_rounds", "mean_table", "training_cost", "profile_note", "segmentation_note", "summarise", "upper_bound_shares"]

CONFIG_COLUMNS = [
    "dataset", "model", "members", "beta", "weight_decay", "acquisition", "schedule", "test_size",
    "initial", "step", "budget", "protocol", "width", "trial",
]


def _round_rows(paths, labels, columns: list[str], round_row) -> pd.DataFrame:
    """One row per round of every record at ``paths``: its ``label``, ``run`` (the config hash),
    the config's ``columns``, ``round_row(record, round)``, then where and from what code it ran."""
    paths = list(paths)
    labels = list(labels) if labels is not None else [None] * len(paths)
    rows = []
    for path, label in zip(paths, labels):
        record = read_record(path)
        head = {"label": label, "run": record["config_hash"], **{k: record["config"][k] for k in columns}}
        tail = {"finished": record["finished"], "device": record["provenance"]["device"]}
        sessions = record["provenance"].get("sessions", [])
        numerics = [round_numerics(sessions, r["round"]) for r in record["rounds"]]
        devices = [round_device(sessions, r["round"], record["provenance"]["device"]) for r in record["rounds"]]
        commits = [round_commit(sessions, r["round"], record["provenance"]) for r in record["rounds"]]
        machines = [machine_of(d) for d in devices]
        run_numerics, run_machine = _whole(numerics), _whole(machines)  # the run's, for what spans its rounds (AUC)
        rows += [{**head, **round_row(record, r), **tail, **c, "numerics": n, "run_numerics": run_numerics, "cpu": d,
                  "machine": m, "run_machine": run_machine}
                 for r, n, d, m, c in zip(record["rounds"], numerics, devices, machines, commits)]
    return pd.DataFrame(rows)


MIXED = "mixed"  # a run whose rounds differ in engine, dtype or machine (resumed elsewhere)


def _whole(values: list[str]) -> str:
    """A run's value of what its rounds share: theirs when they agree, ``MIXED`` otherwise."""
    return values[0] if len(set(values)) == 1 else MIXED


def _session_of(sessions: list[dict], round_index: int) -> dict | None:
    """The sitting that trained round ``round_index``: the last one that started at or before it."""
    started = [s for s in sessions if s.get("first_round", 0) <= round_index]
    return max(started, key=lambda s: s.get("first_round", 0)) if started else None


def round_numerics(sessions: list[dict], round_index: int) -> str:
    """How a round was computed, as pairs must share it: the engine's name and its dtype
    ("fast bf16", "fast float32", "plain float32"; "unknown" for a record without sittings).
    Two arms trained alike from the same start give the same round 0 to the bit; across
    dtypes they differ by up to points, which a paired difference would count as an effect."""
    session = _session_of(sessions, round_index)
    engine = (session or {}).get("engine")
    if not engine:
        return "unknown"
    dtype = "bf16" if engine.get("bf16") else ("tf32" if engine.get("tf32") else "float32")
    return f"{engine.get('name', '?')} {dtype}"


def round_device(sessions: list[dict], round_index: int, default: str) -> str:
    """The machine (CPU model or GPU) that trained round ``round_index``."""
    session = _session_of(sessions, round_index)
    return session.get("device", default) if session else default


def machine_of(device: str) -> str:
    """The machine model a device string names, without its core and thread counts:
    "CPU: AMD EPYC (2 cores, 1 threads)" -> "CPU: AMD EPYC". The same bf16 step on an AMD EPYC and
    an Intel Xeon gives different weights, and the difference grows over a training."""
    return re.sub(r"\s*\(\d+ cores?, \d+ threads?\)$", "", str(device))


PAIRED_ALIKE = ("numerics", "machine")  # what the two arms of a pair must share, per round
RUN_PAIRED_ALIKE = ("run_numerics", "run_machine")  # the same over whole runs (AUC and other run-level values)


def matched_trials(reference: pd.DataFrame, other: pd.DataFrame, columns: Sequence[str] = PAIRED_ALIKE) -> tuple[list, int]:
    """The trials both sides ran (``reference`` and ``other`` indexed by trial) that agree on every
    one of ``columns`` -- a pair shares its machine, engine and dtype -- and how many shared trials
    were left out for not agreeing. A column either table lacks (hand-made tables) is not checked;
    ``MIXED`` (a run resumed elsewhere) agrees with nothing."""
    shared = sorted(set(reference.index) & set(other.index))
    columns = [c for c in columns if c in reference and c in other]
    kept = [t for t in shared
            if all(reference.loc[t, c] == other.loc[t, c] != MIXED for c in columns)]
    return kept, len(shared) - len(kept)


def load_rounds(paths: Iterable[str | os.PathLike], labels: Iterable[str] | None = None) -> pd.DataFrame:
    """Rows of every round of the given records, with the config columns, an optional
    ``label`` per record (e.g. "Linear-8"), ``run`` (the config hash) and the round's metrics."""
    return _round_rows(paths, labels, CONFIG_COLUMNS, lambda record, r: {
        "round": r["round"], "labeled": r["labeled"], "accuracy": r["accuracy"],
        "nll": r["nll"], "ece": r.get("ece"),
        "member_accuracy_mean": sum(r["member_accuracy"]) / len(r["member_accuracy"]),
        "steps": r["steps"], "epochs": r["epochs"],
        "train_cross_entropy": r.get("train_cross_entropy", math.nan), "diverged": r.get("diverged", False),
        "train_seconds": r["train_seconds"], "score_seconds": r["score_seconds"],
    })


def round_commit(sessions: list[dict], round_index: int, provenance: dict) -> dict:
    """The code that trained round ``round_index``: 7 digits of its commit and whether the tree
    had changes -- the sitting's where it noted them, else the record's (its first sitting's)."""
    session = _session_of(sessions, round_index) or {}
    where = session if "git_commit" in session else provenance
    commit = where.get("git_commit", "unknown")
    return {"commit": commit[:7] if len(commit) == 40 else commit, "dirty": bool(where.get("git_dirty"))}


def source_caption(profile: str, rounds: pd.DataFrame) -> str:
    """The sentence every caption of a chapter ends with, so that a figure or table cited alone
    still says what produced it: the profile, the trials per configuration and the commit(s) of
    the code that wrote its records (with how many runs ran on a tree with changes to ``dpe/``)."""
    by = "label" if "label" in rounds and rounds["label"].notna().all() else "run"
    per_config = rounds.groupby(by)["trial"].nunique()
    low, high = int(per_config.min()), int(per_config.max())
    trials = f"{low} trial{'s' * (low != 1)}" if low == high else f"{low} to {high} trials"
    commits = sorted(rounds["commit"].unique())
    runs = rounds.groupby("run")["dirty"].any()
    dirty = f" ({runs.sum()} of {len(runs)} runs with uncommitted changes to dpe/)" if runs.any() else ""
    return (f"Profile {profile}, {trials} per configuration; records written by commit{'s' * (len(commits) > 1)} "
            f"{', '.join(commits)}{dirty}.")


def summarise(rounds: pd.DataFrame, by: list[str], value: str = "accuracy") -> pd.DataFrame:
    """Mean, standard deviation (over trials; NaN for one trial) and trial count of ``value``.
    Rounds marked ``diverged`` are left out, as from every comparison (``profile_note`` counts
    them): a diverged round's chance accuracy is a failed training, not a result."""
    if "diverged" in rounds:
        rounds = rounds[~rounds["diverged"].astype(bool)]
    grouped = rounds.groupby(by, sort=False)[value]
    return grouped.agg(mean="mean", std="std", trials="count").reset_index()


def mean_table(summary: pd.DataFrame, order: Iterable[str], value_scale: float = 100) -> pd.DataFrame:
    """``summarise``'s means as label x labelled size, rows in ``order`` (those present), in
    percent: the accuracy tables of every chapter."""
    present = set(summary["label"])
    return summary.pivot(index="label", columns="labeled", values="mean").reindex([o for o in order if o in present]) * value_scale


def training_cost(rounds: pd.DataFrame) -> pd.DataFrame:
    """What each configuration's training cost over a run, mean over trials: trainings (rounds),
    SGD steps, member-epochs (epochs x members) and seconds."""
    per_run = rounds.assign(member_epochs=rounds.epochs * rounds.members).groupby(["label", "trial"], sort=False).agg(
        trainings=("round", "count"), steps=("steps", "sum"), member_epochs=("member_epochs", "sum"),
        train_seconds=("train_seconds", "sum"))
    return per_run.groupby("label", sort=False).mean()


def upper_bound_shares(rounds: pd.DataFrame, suffix: str, acquisition: str = "H_ens") -> pd.DataFrame:
    """How close active learning comes to training on everything (the paper's Fig. 1: 99.2 % of
    the upper bound's accuracy with 32 % of the labels). For every model with runs labelled
    "<model> <suffix>" (trained once on the whole pool) and runs labelled "<model> <acquisition>":
    the bound's mean accuracy over its trials and its label count (``pool``), the other's mean
    accuracy at its largest labelled set, their ratios ``of_bound`` and ``of_labels``, and the
    ``gap`` (other - bound, accuracy units) with its Welch 95 % CI (``gap_low``, ``gap_high``;
    NaN unless both sides have 2 or more trials: the bound's trials share no labelled set with
    the other's, so the test is unpaired). Diverged rounds are left out."""
    if "diverged" in rounds:
        rounds = rounds[~rounds["diverged"].astype(bool)]
    rows = []
    for label, bound in rounds[rounds["label"].str.endswith(" " + suffix)].groupby("label", sort=False):
        model = label.removesuffix(" " + suffix)
        active = rounds[rounds["label"] == f"{model} {acquisition}"]
        if active.empty:
            continue
        last = active[active["labeled"] == active["labeled"].max()]
        gap = (welch_test(list(last["accuracy"]), list(bound["accuracy"]))
               if len(last) >= 2 and len(bound) >= 2 else None)
        rows.append({"model": model, "bound": bound["accuracy"].mean(), "bound_trials": bound["trial"].nunique(),
                     "pool": int(bound["labeled"].max()), "labeled": int(last["labeled"].iloc[0]),
                     "accuracy": last["accuracy"].mean(), "trials": last["trial"].nunique(),
                     "gap_low": gap.low if gap else math.nan, "gap_high": gap.high if gap else math.nan})
    columns = ["model", "bound", "bound_trials", "pool", "labeled", "accuracy", "trials", "gap_low", "gap_high"]
    table = pd.DataFrame(rows, columns=columns)
    return table.assign(of_bound=table["accuracy"] / table["bound"], of_labels=table["labeled"] / table["pool"],
                        gap=table["accuracy"] - table["bound"])


TEST_SIZES = {"fashion-mnist": 10000, "cifar10": 10000, "cifar100": 10000}


def evaluation_size(rounds: pd.DataFrame) -> int:
    """Test images each accuracy was measured on (the runs' test_size, or the full test split)."""
    size = rounds["test_size"].iloc[0]
    return int(size) if pd.notna(size) else TEST_SIZES[rounds["dataset"].iloc[0]]


def judged(table: pd.DataFrame) -> pd.DataFrame:
    """``comparisons`` rows (one table, or several put together as one family) with Holm's
    adjustment over all of them and each row's verdict read from it (``dpe.study.stats.verdict``)."""
    table = table.copy()
    table["p_holm"] = holm(list(table["p_paired"]))
    table["verdict"] = pd.Series([
        Verdict.TOO_FEW.value if r.trials < 2 else verdict(r.ci_low, r.ci_high, r.difference, p_adjusted=r.p_holm,
                                                           margin=r.margin, p_equivalence=r.p_equivalence).value
        for r in table.itertuples()
    ], index=table.index, dtype=object)
    return table


def comparisons(
    rounds: pd.DataFrame, reference: str, by: str = "label", sizes: Iterable[int] | None = None, value: str = "accuracy",
    margin: float | Callable[[int, str], float] = EQUIVALENCE_MARGIN, lower_is_better: bool = False,
) -> pd.DataFrame:
    """``reference`` against every other ``by`` value at every labelled size (or ``sizes``), on
``value`` (accuracy unless told; the pooled Z-test only for accuracy):

    - the paired test across trials (trial i of both starts from the same labelled images),
      over the trials whose two arms ran on the same machine, engine and dtype (``unmatched`` counts the
      shared trials left out): mean difference (reference - other, the value's units), its 95 %
      CI, p, Cohen's d_z, the TOST p of equivalence within +-``margin`` (a number, or a function
      of (labelled size, other) giving it: e.g. the paper's effect at that size), and ``p_holm``,
      Holm's adjustment over every row of the table, with the ``verdict`` read from them
      (``dpe.study.stats.verdict``);
    - the paper's tests beside it: the two-proportion Z-test pooled over trials (n = test
      images x trials) and, with 2 or more trials each, Welch's t-test over trial results.
    Positive differences, z and t: the reference is better -- for a ``lower_is_better`` value
    (NLL, calibration error) the difference is other - reference. Rounds marked ``diverged`` are
    left out (``diverged_runs`` counts the runs concerned)."""
    def row_margin(labeled, other) -> float:
        return float(margin(int(labeled), other) if callable(margin) else margin)

    if lower_is_better:  # a positive difference still means the reference is better
        rounds = rounds.assign(**{value: -rounds[value]})
    n_test, rows = (evaluation_size(rounds) if len(rounds) and value == "accuracy" else 0), []
    diverged = rounds["diverged"].astype(bool) if "diverged" in rounds else pd.Series(False, index=rounds.index)
    wanted = set(sizes) if sizes is not None else None
    for labeled, at in rounds[~diverged].groupby("labeled"):
        if wanted is not None and labeled not in wanted:
            continue
        ref_rows = at[at[by] == reference].set_index("trial")
        ref = ref_rows[value]
        if ref.empty:
            continue
        for other, group in at[at[by] != reference].groupby(by, sort=False):
            other_rows = group.set_index("trial")
            acc = other_rows[value]
            row = {"labeled": labeled, "versus": other, "reference_value": ref.mean(), "other_value": acc.mean(),
                   "difference": ref.mean() - acc.mean(), "ci_low": math.nan, "ci_high": math.nan,
                   "p_paired": math.nan, "effect_size": math.nan, "margin": row_margin(labeled, other),
                   "p_equivalence": math.nan,
                   "z": math.nan, "p_pooled": math.nan, "t_welch": math.nan, "p_welch": math.nan}
            if value == "accuracy":
                prop = z_test_proportions(ref.mean(), n_test * len(ref), acc.mean(), n_test * len(acc))
                row.update(z=prop.z, p_pooled=prop.p)
            trials, unmatched = matched_trials(ref_rows, other_rows)
            row["trials"] = len(trials)  # paired trials; below 2, no interval and no verdict
            row["unmatched"] = unmatched  # shared trials left out: the two arms ran on different machines or dtypes
            if len(trials) >= 2:
                test = paired_test(list(ref[trials]), list(acc[trials]))
                row.update(difference=test.mean_difference, ci_low=test.ci_low, ci_high=test.ci_high,
                           p_paired=test.p, effect_size=test.effect_size,
                           p_equivalence=test.equivalence_p(row_margin(labeled, other)))
            if len(ref) >= 2 and len(acc) >= 2:
                welch = welch_test(list(ref), list(acc))
                row.update(t_welch=welch.t, p_welch=welch.p)
            rows.append(row)
    columns = ["labeled", "versus", "reference_value", "other_value", "trials", "unmatched", "difference", "ci_low",
               "ci_high", "p_paired", "effect_size", "margin", "p_equivalence", "z", "p_pooled", "t_welch", "p_welch"]
    table = pd.DataFrame(rows, columns=columns)
    if lower_is_better:  # the values as measured; the differences keep "positive: the reference is better"
        table[["reference_value", "other_value"]] *= -1
    table = judged(table)
    n_diverged = rounds.loc[diverged, "run"].nunique() if diverged.any() else 0
    table.attrs["diverged_runs"] = int(n_diverged)
    return table


def p_text(p: float) -> str:
    """A p-value as a reader wants it: two significant digits, "< 1e-4" below 1e-4, "n/a" if NaN."""
    if math.isnan(p):
        return "n/a"
    return "< 1e-4" if p < 1e-4 else f"{p:.2g}"


def percent_text(value: float | None, digits: int = 1) -> str:
    """A percentage for the prose: "87.5 %", or "no finished run" when it is missing (None, NaN)."""
    return "no finished run" if value is None or math.isnan(value) else f"{value:.{digits}f} %"


def ci_text(low: float, high: float, scale: float = 100, digits: int = 2) -> str:
    """An interval as the tables print it, "[+1.23, +4.56]"; "–" where there is none (under 2 pairs)."""
    return "–" if low != low or high != high else f"[{scale * low:+.{digits}f}, {scale * high:+.{digits}f}]"


def comparison_display(tests: pd.DataFrame, scale: float = 100, unit: str = "points", digits: int = 2, count: str = "labels") -> pd.DataFrame:
    """``comparisons`` as the book shows it: the gain (``scale`` x difference, in ``unit``) with its
    95 % CI, the paired p, Holm's p, the equivalence margin and the verdict first; the paper's
    tests after them (none for a row without a pair)."""
    return pd.DataFrame({
        count: tests["labeled"], "versus": tests["versus"], "trials": tests["trials"],
        # no pair: no gain (a difference of unpaired means is not one); under 2 pairs: no interval
        f"gain ({unit})": (scale * tests["difference"]).round(digits).where(tests["trials"] > 0),
        "95 % CI": [ci_text(a, b, scale, digits) for a, b in zip(tests["ci_low"], tests["ci_high"])],
        "paired p": tests["p_paired"].map(p_text), "Holm p": tests["p_holm"].map(p_text),
        "margin ±": [f"{scale * m:.{digits}f}" for m in tests["margin"]] if "margin" in tests else "",
        "verdict": tests["verdict"],
        # no pair either: the arms share no machine and dtype, so the paper's unpaired tests would mix them in
        "Welch t p": tests["p_welch"].where(tests["trials"] > 0).map(p_text),
        "pooled Z p (paper)": tests["p_pooled"].where(tests["trials"] > 0).map(p_text),
    }).reset_index(drop=True)


def comparison_sentences(
    tests: pd.DataFrame, reference: str, scale: float = 100, unit: str = "points", count: str = "labels",
) -> str:
    """One Markdown bullet per row of ``comparisons``, read from the numbers (never assuming a
    direction): the gain of ``reference`` with its CI, the Holm-adjusted p and the verdict, and,
    for an *inconclusive* or *vanishes* one whose interval is off 0, which side it points to; ``count`` names
    what the labelled size counts (labels, crops)."""
    lines = []
    for r in tests.itertuples():
        if r.trials < 2:
            left_out = int(getattr(r, "unmatched", 0) or 0)
            why = (f"; {left_out} trial{'s' * (left_out != 1)} left out, its arms trained on different machines or dtypes"
                   if left_out else "")
            lines.append(f"- {reference} vs {r.versus} at {r.labeled} {count}: {scale * r.difference:+.2f} {unit} "
                         f"between the means of each side's finished trials ({r.trials} paired{why}: no interval, no verdict).")
            continue
        off_zero = ""
        if r.verdict in (Verdict.INCONCLUSIVE.value, Verdict.VANISHES.value) and (r.ci_low > 0 or r.ci_high < 0):
            ahead = reference if r.ci_low > 0 else r.versus  # a direction Holm does not confirm
            side = f"its interval lies {'above' if r.ci_low > 0 else 'below'} 0 ({ahead} ahead)"
            off_zero = (f" -- {side}, but not once Holm adjusts for the table's other comparisons"
                        if r.verdict == Verdict.INCONCLUSIVE.value else
                        f" -- within ±{scale * r.margin:.2f} {unit}, though {side} by less than that, "
                        "a difference Holm does not confirm")
        lines.append(f"- {reference} vs {r.versus} at {r.labeled} {count}: {scale * r.difference:+.2f} {unit}, "
                     f"95 % CI [{scale * r.ci_low:+.2f}, {scale * r.ci_high:+.2f}] over {r.trials} paired trials "
                     f"(Holm p {p_text(r.p_holm)}): **{r.verdict}**{off_zero}.")
    return "\n".join(lines)


def devices_text(rounds: pd.DataFrame) -> str:
    """The machine(s) the runs behind ``rounds`` trained on: its name, or, when a grid was run
    over several sittings, each name with how many runs it made, most first."""
    device = rounds["device"].str.replace(r"\b1 threads\b", "1 thread", regex=True)  # as records spell it
    runs = rounds.groupby(device)["run"].nunique().sort_values(ascending=False, kind="stable")
    if len(runs) == 1:
        return f"device: {runs.index[0]}"
    return "devices: " + ", ".join(f"{device} ({n} run{'' if n == 1 else 's'})" for device, n in runs.items())


def wall_hours(paths: Iterable[str | os.PathLike]) -> float:
    """The hours the records at ``paths`` took, by their ``provenance.wall_seconds`` (every
    sitting of a resumed run included); a path given twice counts once."""
    return sum(read_record(p)["provenance"]["wall_seconds"] for p in dict.fromkeys(map(str, paths))) / 3600


def profile_note(profile: str, rounds: pd.DataFrame) -> str:
    """One Markdown line saying what produced these numbers, shown atop every result."""
    first = rounds.iloc[0]
    trials = rounds.groupby("label")["trial"].nunique().max() if "label" in rounds else rounds["trial"].nunique()
    kind = {"smoke": "a seconds-long plumbing check", "quick": "small CPU runs",
            "paper-cpu": "the paper's label counts and schedule on a CPU; unlike the paper, members of width 8 "
                         "(the paper: 64), E = 4 (8), Fashion-MNIST (CIFAR-10) and the fast protocol",
            "paper-fast": "the paper's data, network and schedule with the fast training protocol",
            "paper": "the paper's protocol"}.get(profile, profile)
    members = ", ".join(str(m) for m in sorted(rounds["members"].unique()))
    note = (f"**Profile `{profile}`** ({kind}): {first['dataset']}, ensembles of {members} member(s) of width "
            f"{first['width']}, `{first['protocol']}` training protocol ({rounds['steps'].min()} to "
            f"{rounds['steps'].max()} SGD steps a round), {trials} trial(s) per configuration, "
            f"{evaluation_size(rounds)} test images; {devices_text(rounds)}."
            + ("" if profile == "paper" else " Not the paper's protocol: read trends, not absolute numbers."))
    if "diverged" in rounds and rounds["diverged"].any():
        bad = rounds.loc[rounds["diverged"], "run"].nunique()
        note += (f" **{bad} of {rounds['run'].nunique()} runs have a diverged round** (training cross-entropy above twice "
                 "a uniform guess); those rounds are left out of every comparison, table and curve.")
    return note


SEG_CONFIG_COLUMNS = ["dataset", "model", "members", "acquisition", "schedule", "encoder_width", "pool_images",
                      "eval_images", "height", "width", "trial"]


def load_segmentation_rounds(paths: Iterable[str | os.PathLike], labels: Iterable[str] | None = None) -> pd.DataFrame:
    """Rows of every round of the given segmentation records: config columns, ``label``,
    ``labeled`` (crops), ``miou``, ``pixel_accuracy``, one ``iou:<class>`` column per class
    (NaN where the class is absent), and what the round selected and cost."""
    return _round_rows(paths, labels, SEG_CONFIG_COLUMNS, lambda record, r: {
        "round": r["round"], "labeled": r["labeled"],
        "labeled_images": r["labeled_images"], "miou": r["miou"], "pixel_accuracy": r["pixel_accuracy"],
        **{f"iou:{c}": (float("nan") if v is None else v) for c, v in zip(record["classes"], r["iou"])},
        **{f"selected_pixels:{c}": v for c, v in zip(record["classes"], r["selected_pixels_per_class"])},
        "steps": r["steps"], "train_seconds": r["train_seconds"], "score_seconds": r["score_seconds"],
    })


def segmentation_note(profile: str, rounds: pd.DataFrame) -> str:
    """One Markdown line saying what produced these segmentation numbers."""
    first = rounds.iloc[0]
    trials = rounds.groupby("label")["trial"].nunique().max()
    kind = {"smoke": "a seconds-long plumbing check", "quick": "small CPU runs", "paper": "the paper's setting"}.get(profile, profile)
    data = ("synthetic scenes from Fashion-MNIST items" if first["dataset"] == "scenes" else first["dataset"])
    pool = "all" if pd.isna(first["pool_images"]) else int(first["pool_images"])
    crops = "12 crops each" if pool == "all" else f"{12 * pool} crops"
    evaluated = "all" if pd.isna(first["eval_images"]) else int(first["eval_images"])
    return (f"**Profile `{profile}`** ({kind}): {data}, {first['height']} x {first['width']} pixels, "
            f"{pool} pool images ({crops}), {evaluated} evaluation "
            f"images; encoder width {first['encoder_width']}, {first['members']} decoder heads; {trials} trial(s) per "
            f"configuration; {devices_text(rounds)}."
            + ("" if profile == "paper" else " Not the paper's data or scale: read trends, not absolute numbers."))
