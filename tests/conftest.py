"""Shared fixtures: tiny datasets written in the real on-disk formats."""

from __future__ import annotations

import gzip
import os
import struct
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the tests run from the tree, installed or not
    sys.path.insert(0, str(ROOT))

# OMP_NUM_THREADS, where set, wins: mutmut forks its test children from a process that has run
# torch, and a forked child hangs in its first parallel region (torch.cdist) when the parent
# had started an OpenMP pool of 2 threads; `make mutate` sets 1
torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS") or min(2, os.cpu_count() or 1)))
# and no tqdm monitor thread: a child forked while it held tqdm's lock hung in its first bar
# (every mutant of algorithm_1 timed out once a test showed a bar)
tqdm.monitor_interval = 0
tqdm.set_lock(threading.RLock())  # nor a multiprocessing lock: a forked child hung on it in _train's bar


def class_images(labels: np.ndarray, size: int = 28, channels: int = 1, seed: int = 0) -> np.ndarray:
    """uint8 images (N, size, size, channels) a network can tell apart: class k lights row
    band k, plus noise."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 60, (len(labels), size, size, channels))
    band = size // 10
    for i, k in enumerate(labels):
        images[i, (k % 10) * band : (k % 10 + 1) * band, :, :] += 180
    return images.clip(0, 255).astype(np.uint8)


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write an IDX file of unsigned bytes (the MNIST format), gzipped if the name ends .gz."""
    header = bytes([0, 0, 8, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def write_fashion_mnist(root: Path, n_train: int = 900, n_test: int = 500, gz: bool = True) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    ext = ".gz" if gz else ""
    for prefix, n, seed in (("train", n_train, 1), ("t10k", n_test, 2)):
        labels = np.arange(n) % 10
        write_idx(root / f"{prefix}-images-idx3-ubyte{ext}", class_images(labels, seed=seed)[..., 0])
        write_idx(root / f"{prefix}-labels-idx1-ubyte{ext}", labels)
    return root


@pytest.fixture(scope="session")
def fmnist_root(tmp_path_factory) -> Path:
    """A tiny Fashion-MNIST in its real IDX .gz format (900 train, 500 test images)."""
    return write_fashion_mnist(tmp_path_factory.mktemp("fashion-mnist"))


def valid_record(config, accuracies=None, rounds: int | None = None, **provenance) -> dict:
    """A run record that passes ``dpe.records.read_record`` for a classification ``config``: its
    schedule's rounds (the first ``rounds`` of them; all by default, or one per accuracy given),
    labelled sets that add up (image ids 0, 1, 2, ... in order), ``finished`` when every round is
    there; ``provenance`` fields as given (wall_seconds 0 unless told)."""
    sizes = config.labeled_sizes()
    count = len(accuracies) if accuracies is not None else (len(sizes) if rounds is None else rounds)
    accuracies = list(accuracies) if accuracies is not None else [0.5] * count
    entries = []
    for r, (size, accuracy) in enumerate(zip(sizes, accuracies)):
        following = sizes[r + 1] if r + 1 < len(sizes) else size
        entries.append({"round": r, "labeled": size, "accuracy": accuracy, "nll": 0.5, "ece": 0.1,
                        "member_accuracy": [accuracy], "selected": list(range(size, following)), "steps": 10,
                        "epochs": 1, "train_seconds": 1.0, "score_seconds": 0.0})
    return {"config": config.to_dict(), "config_hash": config.hash(), "initial": list(range(sizes[0])),
            "rounds": entries, "finished": count == len(sizes),
            "provenance": {"device": "cpu", "git_commit": "0" * 40, "wall_seconds": 0.0, **provenance}}
