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

import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Callable

import numpy as np
import torch
import torchvision

from dpe.config import RunConfig, growth_sizes
from dpe.errors import ConfigError

__all__ = ["RecordMismatch", "add_round", "begin_session", "device_name", "git_commit", "load_record", "new_record", "provenance",
           "content_digest", "read_record", "record_path", "record_problem", "save_record", "write_atomically"]

PACKAGE_DIR = Path(__file__).resolve().parent


class RecordMismatch(ConfigError):
    """A record file that is not what it says: unreadable, named for another config, or with
    rounds that its schedule cannot have produced. A user's to fix (one line, exit 2)."""


def record_path(results_dir: str | os.PathLike, config: RunConfig) -> Path:
    return Path(results_dir) / "runs" / f"{config.hash()}.json"


def _config_hash(config: dict) -> str:
    """The hash a config's stored dict names its record by (``Config.hash`` of the same dict)."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


def _schedule_sizes(config: dict) -> list[int] | None:
    """The labelled sizes a classification config's schedule implies (None for segmentation,
    whose sizes depend on the pool's crops)."""
    if "height" in config or config.get("schedule") not in ("linear", "exponential", "sizes"):
        return None
    return growth_sizes(config["schedule"], config["initial"], config["step"], config["budget"], config.get("sizes"))


def record_problem(path: Path, record) -> str:
    """What is wrong with ``record`` read from ``path`` ("" when nothing): its name, its
    ``config_hash`` and the hash of its config must agree; its content must match its ``digest``
    (where it has one: every record saved since digests); its rounds must be numbered in order,
    have the sizes its schedule implies, and labelled sets that add up (the initial draw, then
    each round's selection); ``finished`` must agree with them."""
    if not isinstance(record, dict) or not {"config", "config_hash", "rounds", "finished", "initial"} <= set(record):
        return "not a run record (a key of config, config_hash, initial, rounds, finished is missing)"
    name, stated, actual = Path(path).stem, record["config_hash"], _config_hash(record["config"])
    if not name == stated == actual:
        return f"its name, its config_hash and the hash of its config disagree ({name}, {stated}, {actual})"
    if "digest" in record and record["digest"] != content_digest(record):  # records older than digests have none
        return "its content does not match its digest (edited by hand?)"
    rounds = record["rounds"]
    if not isinstance(rounds, list) or any(not isinstance(r, dict) or r.get("round") != i for i, r in enumerate(rounds)):
        return "its rounds are not numbered 0, 1, 2, ... in order (one is missing or out of place)"
    sizes = _schedule_sizes(record["config"])
    if sizes is not None:
        if len(rounds) > len(sizes) or any(r.get("labeled") != n for r, n in zip(rounds, sizes)):
            return f"its rounds' labelled sizes {[r.get('labeled') for r in rounds]} are not its schedule's {sizes}"
        if bool(record["finished"]) != (len(rounds) == len(sizes)):
            return f"it says finished={record['finished']} with {len(rounds)} of its schedule's {len(sizes)} rounds"
    elif record["finished"] and not rounds:
        return "it says finished with no round"
    count = len(record["initial"])
    for r in rounds:
        if r.get("labeled") != count:
            return f"round {r['round']} says {r.get('labeled')} labelled, but its initial draw and selections add up to {count}"
        count += len(r.get("selected", []))
    if record["finished"] and rounds and rounds[-1].get("selected"):
        return "its last round selected images that no round trained on"
    return ""


def read_record(path: str | os.PathLike) -> dict:
    """The record at ``path``, parsed and checked (``record_problem``): every read of a record
    goes through here, so a truncated, edited or misnamed file is named in one line with what to
    do, never used and never a traceback."""
    path = Path(path)
    fix = f"delete it to run that run again, or `git checkout -- {path}` if it is a committed record"
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise RecordMismatch(f"{path} is not valid JSON ({error.msg}, line {error.lineno}; truncated?): {fix}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise RecordMismatch(f"{path} cannot be read ({error}): {fix}") from None
    problem = record_problem(path, record)
    if problem:
        raise RecordMismatch(f"{path} is not a valid record: {problem}: {fix}")
    return record


def load_record(path: Path, config: RunConfig) -> dict | None:
    """The record at ``path`` if there is one, checked (``read_record``) and checked to belong to
    ``config``."""
    if not path.exists():
        return None
    record = read_record(path)
    if record.get("config") != json.loads(json.dumps(config.to_dict())):
        raise RecordMismatch(f"{path} holds a different config than its name says; delete it to rerun")
    return record


def write_atomically(path: Path, write: Callable[[IO], None], mode: str = "w") -> None:
    """``write(file)`` to a temporary file beside ``path``, then rename it to ``path``: a killed
    process leaves the previous file, never half a file. The file is readable by all (0644), as
    records are shared and committed (a temporary file is created 0600)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(mode, dir=path.parent, suffix=".tmp", delete=False) as f:
        try:
            write(f)
            f.flush()
        except BaseException:  # a full disk, a kill: no orphan beside the previous file
            f.close()
            os.unlink(f.name)
            raise
    os.chmod(f.name, 0o644)
    os.replace(f.name, path)


def content_digest(record: dict) -> str:
    """16 hex digits of the SHA-256 of everything in ``record`` but its ``digest``: written with
    every save, checked on every read, so a hand-edited number is caught."""
    content = {k: v for k, v in record.items() if k != "digest"}
    return hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


def save_record(path: Path, record: dict) -> None:
    """Write a record (JSON) atomically, with its ``digest``."""
    record["digest"] = content_digest(record)
    write_atomically(path, lambda f: json.dump(record, f, indent=1))


def git_commit() -> dict:
    """The commit of the code that ran, and whether the tree had uncommitted changes. A copy of
    the tree sent to another machine (a lent GPU) may carry a stale .git: there the sender names
    the commit it sent in ``DPE_GIT_COMMIT``, which wins."""
    sent = os.environ.get("DPE_GIT_COMMIT")
    if sent:
        return {"commit": f"{sent} (as sent)", "dirty": None}
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


def new_record(config, initial: list[int], device: torch.device, data_source: str, **extra) -> dict:
    """A record before its first round: the config, the labels drawn at random, provenance.
    ``extra`` entries go to the top level (``classes``), or into provenance when named so."""
    prov = extra.pop("provenance", {})
    return {
        "config": config.to_dict(), "config_hash": config.hash(), **extra, "initial": initial, "rounds": [],
        "finished": False,
        "provenance": {**provenance(device), "data_source": data_source, "wall_seconds": 0.0, "sessions": [], **prov},
    }


def begin_session(record: dict, device: torch.device, engine) -> None:
    """Note in ``record`` that a process starts (or resumes) it now, on what, with which code
    (a resumed run may train its later rounds at another commit), from which round."""
    git = git_commit()
    record["provenance"]["sessions"].append({
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "device": device_name(device),
        "git_commit": git["commit"], "git_dirty": git["dirty"],
        "first_round": len(record["rounds"]), "engine": engine.describe(),
    })


def add_round(path: Path, record: dict, entry: dict, seconds: float, rounds: int) -> None:
    """Append one finished round (of ``rounds``) to ``record`` and write it to ``path``."""
    record["rounds"].append(entry)
    record["provenance"]["wall_seconds"] += seconds
    record["finished"] = len(record["rounds"]) == rounds
    save_record(path, record)
