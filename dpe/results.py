"""Run records as tidy pandas tables: one row per (run, round)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable

import pandas as pd

__all__ = ["CONFIG_COLUMNS", "load_rounds", "summarise"]

CONFIG_COLUMNS = [
    "dataset", "model", "members", "beta", "weight_decay", "acquisition", "schedule",
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
