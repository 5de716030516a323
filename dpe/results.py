"""Run records as tidy pandas tables: one row per (run, round)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable

import pandas as pd

__all__ = ["CONFIG_COLUMNS", "load_rounds", "load_segmentation_rounds", "segmentation_note", "summarise"]

CONFIG_COLUMNS = [
    "dataset", "model", "members", "beta", "weight_decay", "acquisition", "schedule", "test_size",
    "initial", "step", "budget", "protocol", "width", "trial",
]


def load_rounds(paths: Iterable[str | os.PathLike], labels: Iterable[str] | None = None) -> pd.DataFrame:
    """Rows of every round of the given records, with the config columns, an optional
    ``label`` per record (e.g. "Linear-8"), ``run`` (the config hash) and the round's metrics."""
    paths = list(paths)
    labels = list(labels) if labels is not None else [None] * len(paths)
    rows = []
    for path, label in zip(paths, labels):
        record = json.loads(Path(path).read_text())
        config = {k: record["config"][k] for k in CONFIG_COLUMNS}
        for r in record["rounds"]:
            rows.append({
                "label": label, "run": record["config_hash"], **config,
                "round": r["round"], "labeled": r["labeled"], "accuracy": r["accuracy"],
                "nll": r["nll"], "ece": r.get("ece"),
                "member_accuracy_mean": sum(r["member_accuracy"]) / len(r["member_accuracy"]),
                "steps": r["steps"], "epochs": r["epochs"],
                "train_seconds": r["train_seconds"], "score_seconds": r["score_seconds"],
                "finished": record["finished"], "device": record["provenance"]["device"],
            })
    return pd.DataFrame(rows)


def summarise(rounds: pd.DataFrame, by: list[str], value: str = "accuracy") -> pd.DataFrame:
    """Mean, standard deviation (over trials; NaN for one trial) and trial count of ``value``."""
    grouped = rounds.groupby(by, sort=False)[value]
    return grouped.agg(mean="mean", std="std", trials="count").reset_index()


TEST_SIZES = {"fashion-mnist": 10000, "cifar10": 10000, "cifar100": 10000}


def evaluation_size(rounds: pd.DataFrame) -> int:
    """Test images each accuracy was measured on (the runs' test_size, or the full test split)."""
    size = rounds["test_size"].iloc[0]
    return int(size) if pd.notna(size) else TEST_SIZES[rounds["dataset"].iloc[0]]


def z_tests(rounds: pd.DataFrame, reference: str, by: str = "label") -> pd.DataFrame:
    """The paper's Z-tests of ``reference`` against every other ``by`` value at every labelled
    size: the two-proportion test on accuracy pooled over trials (n = test images x trials),
    and, with 2 or more trials each, the test over trial means. Positive z: reference better."""
    from dpe.stats import z_test_means, z_test_proportions

    n_test, rows = evaluation_size(rounds), []
    for labeled, at in rounds.groupby("labeled"):
        ref = at.loc[at[by] == reference, "accuracy"]
        if ref.empty:
            continue
        for other, group in at[at[by] != reference].groupby(by, sort=False):
            acc = group["accuracy"]
            prop = z_test_proportions(ref.mean(), n_test * len(ref), acc.mean(), n_test * len(acc))
            row = {"labeled": labeled, "versus": other, "reference_acc": ref.mean(), "other_acc": acc.mean(),
                   "z": prop.z, "p": prop.p, "significant": prop.significant()}
            if len(ref) >= 2 and len(acc) >= 2:
                means = z_test_means(list(ref), list(acc))
                row.update(z_trials=means.z, p_trials=means.p)
            rows.append(row)
    return pd.DataFrame(rows)


def profile_note(profile: str, rounds: pd.DataFrame) -> str:
    """One Markdown line saying what produced these numbers, shown atop every result."""
    first = rounds.iloc[0]
    trials = rounds.groupby("label")["trial"].nunique().max() if "label" in rounds else rounds["trial"].nunique()
    kind = {"smoke": "a seconds-long plumbing check", "quick": "small CPU runs",
            "paper": "the paper's protocol"}.get(profile, profile)
    members = ", ".join(str(m) for m in sorted(rounds["members"].unique()))
    return (f"**Profile `{profile}`** ({kind}): {first['dataset']}, ensembles of {members} member(s) of width "
            f"{first['width']}, `{first['protocol']}` training protocol, {trials} trial(s) per configuration, "
            f"{evaluation_size(rounds)} test images; device: {first['device']}."
            + ("" if profile == "paper" else " Not the paper's protocol: read trends, not absolute numbers."))


SEG_CONFIG_COLUMNS = ["dataset", "model", "members", "acquisition", "schedule", "encoder_width", "pool_images",
                      "eval_images", "height", "width", "trial"]


def load_segmentation_rounds(paths: Iterable[str | os.PathLike], labels: Iterable[str] | None = None) -> pd.DataFrame:
    """Rows of every round of the given segmentation records: config columns, ``label``,
    ``labeled`` (crops), ``miou``, ``pixel_accuracy``, one ``iou:<class>`` column per class
    (NaN where the class is absent), and what the round selected and cost."""
    paths = list(paths)
    labels = list(labels) if labels is not None else [None] * len(paths)
    rows = []
    for path, label in zip(paths, labels):
        record = json.loads(Path(path).read_text())
        config = {k: record["config"][k] for k in SEG_CONFIG_COLUMNS}
        for r in record["rounds"]:
            rows.append({
                "label": label, "run": record["config_hash"], **config, "round": r["round"], "labeled": r["labeled"],
                "labeled_images": r["labeled_images"], "miou": r["miou"], "pixel_accuracy": r["pixel_accuracy"],
                **{f"iou:{c}": (float("nan") if v is None else v) for c, v in zip(record["classes"], r["iou"])},
                **{f"selected_pixels:{c}": v for c, v in zip(record["classes"], r["selected_pixels_per_class"])},
                "steps": r["steps"], "train_seconds": r["train_seconds"], "score_seconds": r["score_seconds"],
                "finished": record["finished"], "device": record["provenance"]["device"],
            })
    return pd.DataFrame(rows)


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
            f"configuration; device: {first['device']}."
            + ("" if profile == "paper" else " Not the paper's data or scale: read trends, not absolute numbers."))
