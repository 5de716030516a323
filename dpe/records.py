"""Run records: one JSON file per run, named by the config's hash, written after every round.

Layout of ``<results>/runs/<hash>.json``::

    {"config": {...every RunConfig field...}, "config_hash": "...",
     "initial": [pool indices labelled at random before round 0],
     "rounds": [{"round", "labeled", "accuracy", "nll", "member_accuracy", "selected", ...}],
     "finished": true|false,
     "provenance": {"git_commit", "versions", "device", "wall_seconds", "sessions", ...}}

A finished record is never recomputed; an unfinished one resumes at its first missing round.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torchvision

from dpe.config import RunConfig

__all__ = ["device_name", "git_commit", "load_record", "provenance", "record_path", "save_record"]

PACKAGE_DIR = Path(__file__).resolve().parent


def record_path(results_dir: str | os.PathLike, config: RunConfig) -> Path:
    return Path(results_dir) / "runs" / f"{config.hash()}.json"


def load_record(path: Path, config: RunConfig) -> dict | None:
    """The record at ``path`` if there is one, checked to belong to ``config``."""
    if not path.exists():
        return None
    record = json.loads(path.read_text())
    if record.get("config") != json.loads(json.dumps(config.to_dict())):
        raise ValueError(f"{path} holds a different config than its name says; delete it to rerun")
    return record


def save_record(path: Path, record: dict) -> None:
    """Write atomically: a killed process leaves the previous record, never half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp", delete=False) as f:
        json.dump(record, f, indent=1)
    os.replace(f.name, path)


def git_commit() -> dict:
    """The commit of the code that ran, and whether the tree had uncommitted changes."""
    try:
        run = lambda *args: subprocess.run(  # noqa: E731
            ["git", *args], cwd=PACKAGE_DIR, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        return {"commit": run("rev-parse", "HEAD"), "dirty": bool(run("status", "--porcelain", "--", "."))}
    except (OSError, subprocess.SubprocessError):
        return {"commit": "unknown (not a git checkout)", "dirty": None}


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    model = platform.processor() or platform.machine()
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        model = next(l.split(":", 1)[1].strip() for l in lines if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"CPU: {model} ({os.cpu_count()} cores, {torch.get_num_threads()} threads)"


def provenance(device: torch.device) -> dict:
    git = git_commit()
    return {
        "git_commit": git["commit"],
        "git_dirty": git["dirty"],
        "versions": {
            "python": sys.version.split()[0],
            "torch": torch.__version__,
            "torchvision": torchvision.__version__,
            "numpy": np.__version__,
        },
        "device": device_name(device),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
