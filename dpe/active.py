"""Algorithm 1: active learning with an ensemble, one JSON record per run, resumable.

``algorithm_1`` is the loop, shared by classification (``ClassificationTask``, here) and
segmentation (``dpe.segmentation.loop``). Round r trains a fresh model from scratch on the
labelled set, evaluates it, then (except in the last round) scores the unlabelled pool and
reveals the labels of its top ``sizes[r+1] - sizes[r]`` items -- the oracle is the pool's
held-back labels. All that round r did is saved in ``rounds[r]`` before round r+1 starts, so a
killed run resumes at its first missing round and rebuilds the labelled set from ``initial`` and
the ``selected`` lists. A classification record indexes the dataset's training images.

MC dropout (``model="mc-dropout"``) predicts and scores with ``mc_samples`` stochastic passes
in the place of members; its dropout masks, in training and at prediction, come from the global
RNG seeded for the run, round and purpose (``_dropout_rng``), so runs are reproducible. Core-set
selection (``acquisition="coreset"``) picks the k-center set of the pool's penultimate features.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Callable, Protocol

import torch
from torch import Tensor
from tqdm import tqdm  # the plain bar: tqdm.auto warns inside notebook kernels without ipywidgets

from dpe.acquisition import SET_ACQUISITIONS, random_scores, top_k
from dpe.config import RunConfig, check_class_weights, validate
from dpe.data import ImageData, load_dataset, split
from dpe.engine import Engine, make_engine
from dpe.ensemble import build_ensemble
from dpe.records import add_round, begin_session, load_record, new_record, record_path
from dpe.images import Normalizer
from dpe.predict import POOL_EMBEDDINGS, evaluate, predict_probs, score_pool
from dpe.train import diverged, train_ensemble

__all__ = ["ClassificationTask", "Task", "algorithm_1", "derive_seed", "initial_draw", "load_data", "run"]

load_data = functools.lru_cache(maxsize=2)(load_dataset)  # notebooks run many configs on one dataset


def derive_seed(config, *purpose) -> int:
    """An independent 48-bit seed for (seed, trial, *purpose): the initial set depends on the
    trial alone, so every method of one trial starts from the same labelled items."""
    blob = json.dumps([config.seed, config.trial, *purpose])
    return int(hashlib.sha256(blob.encode()).hexdigest()[:12], 16)


def initial_draw(config, pool: int, size: int) -> Tensor:
    """Positions (size,) in a pool of ``pool`` items labelled at random before round 0, sorted."""
    g = torch.Generator().manual_seed(derive_seed(config, "initial"))
    return torch.randperm(pool, generator=g)[:size].sort().values


class Task(Protocol):
    """What Algorithm 1 needs of a task. Positions index the task's pool (0 .. pool - 1);
    records store ids (``record_ids``), which may differ (classification: dataset indices)."""

    config: RunConfig  # or a SegConfig: anything with seed, trial, to_dict and hash
    sizes: list[int]  # labelled items at each round
    pool: int  # items in the pool
    device: torch.device
    engine: Engine
    unit: str  # what the pool holds: "images", "crops"

    def new_record(self) -> dict: ...
    def positions(self, ids: list[int]) -> Tensor: ...
    def record_ids(self, positions: Tensor) -> list[int]: ...
    def train(self, r: int, labeled: Tensor) -> tuple[object, dict]: ...
    def evaluate(self, model, r: int) -> dict: ...
    def acquire(self, model, labeled: Tensor, k: int, r: int) -> Tensor: ...
    def describe_selection(self, selected: Tensor) -> dict: ...


def algorithm_1(config, results_dir: str | os.PathLike, make_task: Callable[[], Task], progress: bool = True) -> Path:
    """Run (or resume, or reuse) the active-learning run of ``config``; returns its record path.
    ``make_task`` loads the data and builds the task: called only if a round is left to run."""
    path = record_path(results_dir, config)
    record = load_record(path, config)
    if record is not None and record["finished"]:
        return path
    task = make_task()
    record = record or task.new_record()
    labeled = torch.zeros(task.pool, dtype=torch.bool, device=task.device)  # (pool,)
    for chosen in [record["initial"]] + [r["selected"] for r in record["rounds"]]:
        labeled[task.positions(chosen)] = True
    begin_session(record, task.device, task.engine)

    sizes = task.sizes
    label = f"{config.model} {config.acquisition} trial {config.trial}"
    bar = tqdm(range(len(record["rounds"]), len(sizes)), desc=label, disable=not progress, unit="round")
    for r in bar:
        start = time.perf_counter()
        if int(labeled.sum()) != sizes[r]:
            raise RuntimeError(f"round {r}: {int(labeled.sum())} labelled {task.unit}, expected {sizes[r]}")
        model, stats = task.train(r, labeled)  # line 3: train the ensemble on the labelled set
        metrics = task.evaluate(model, r)
        selected, score_seconds = torch.zeros(0, dtype=torch.long, device=task.device), 0.0
        if r + 1 < len(sizes):  # lines 4-6: score the unlabelled pool, label the top b
            t0 = time.perf_counter()
            selected = task.acquire(model, labeled, sizes[r + 1] - sizes[r], r).sort().values
            labeled[selected] = True
            score_seconds = time.perf_counter() - t0
        entry = {"round": r, "labeled": sizes[r], **metrics, "selected": task.record_ids(selected),
                 **task.describe_selection(selected), **stats, "score_seconds": score_seconds}
        add_round(path, record, entry, time.perf_counter() - start, len(sizes))
        bar.set_postfix(labeled=sizes[r], **{k: f"{v:.3f}" for k, v in metrics.items() if k in ("accuracy", "miou")})
    bar.close()
    return path


@contextlib.contextmanager
def _dropout_rng(config: RunConfig, device: torch.device, *purpose):
    """The global RNG seeded for (config, "dropout", *purpose), restored afterwards: MC-dropout
    masks are reproducible and leave every other draw as it was."""
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(derive_seed(config, "dropout", *purpose))
        yield


class ClassificationTask:
    """Image classification: the pool is ``split(...)``'s pool of training images, the model a
    fresh ensemble each round, evaluated on the test images."""

    unit = "images"

    def __init__(self, config: RunConfig, device: torch.device, data: ImageData, engine: Engine, progress: bool = True):
        self.config, self.device, self.data, self.engine, self.progress = config, device, data, engine, progress
        self.split = split(data, config.pool_size, config.val_size, config.test_size)
        validate(config, pool_available=len(self.split.pool))
        check_class_weights(config, data.classes)
        self.normalize = Normalizer.fit(data.train_images, device)
        sp = self.split
        self.pool_images = data.train_images[sp.pool].to(device)  # (P, C, H, W) uint8
        self.pool_labels = data.train_labels[sp.pool].to(device)  # (P,) the oracle's answers
        self.test_images, self.test_labels = data.test_images[sp.test].to(device), data.test_labels[sp.test].to(device)
        self.val = None
        if config.protocol == "paper":
            self.val = data.train_images[sp.val].to(device), data.train_labels[sp.val].to(device)
        self.sizes, self.pool = config.labeled_sizes(), len(sp.pool)
        self.mc = config.mc_samples if config.model == "mc-dropout" else 0

    def new_record(self) -> dict:
        initial = initial_draw(self.config, self.pool, self.sizes[0])
        return new_record(self.config, self.record_ids(initial), self.device, self.data.source)

    def positions(self, ids: list[int]) -> Tensor:
        return torch.searchsorted(self.split.pool, torch.tensor(ids, dtype=torch.long)).to(self.device)

    def record_ids(self, positions: Tensor) -> list[int]:
        return self.split.pool[positions.cpu()].tolist()

    def train(self, r: int, labeled: Tensor):
        c, data = self.config, self.data
        ensemble = build_ensemble(
            c.arch, c.members, data.num_classes, data.in_channels, c.width,
            seed=derive_seed(c, "init", r), channels_last=self.engine.channels_last, dropout=c.dropout,
        ).to(self.device)
        generator = torch.Generator(self.device).manual_seed(derive_seed(c, "train", r))
        idx = labeled.nonzero().squeeze(1)
        with _dropout_rng(c, self.device, "train", r):  # dropout masks while training
            stats = train_ensemble(
                ensemble, self.pool_images[idx], self.pool_labels[idx], c, self.normalize, generator,
                data.crop_padding, data.flip, val=self.val, progress=self.progress, engine=self.engine,
            )
        return ensemble, {**stats, "diverged": diverged(stats["train_cross_entropy"], data.num_classes)}

    def evaluate(self, ensemble, r: int) -> dict:
        with _dropout_rng(self.config, self.device, "test", r):
            return evaluate(predict_probs(ensemble, self.test_images, self.normalize, self.engine, self.mc), self.test_labels)

    def acquire(self, ensemble, labeled: Tensor, k: int, r: int) -> Tensor:
        """Positions (k,) to label: a set chosen on an embedding of the pool (core-set, BADGE,
        TypiClust), or the top k of the unlabelled images' scores, ties broken at random
        (``acquisition.top_k``)."""
        c = self.config
        unlabeled = (~labeled).nonzero().squeeze(1)  # (U,)
        if c.acquisition in SET_ACQUISITIONS:  # a set chosen on an embedding of the whole pool
            reads, choose = SET_ACQUISITIONS[c.acquisition]
            points = POOL_EMBEDDINGS[reads](ensemble, self.pool_images, self.normalize, self.engine)  # (P, ...)
            return choose(points, labeled, k, torch.Generator().manual_seed(derive_seed(c, "acquire", r)))
        if c.acquisition == "R":  # no need to predict the pool
            rng = torch.Generator().manual_seed(derive_seed(c, "acquire", r))
            scores = random_scores(len(unlabeled), rng, self.device)
        else:  # (U,) on the device
            with _dropout_rng(c, self.device, "acquire", r):
                scores = score_pool(ensemble, self.pool_images[unlabeled], self.normalize, c.acquisition, self.engine,
                                    weights=c.class_weights, mc_samples=self.mc)
        ties = torch.Generator().manual_seed(derive_seed(c, "ties", r))
        return unlabeled[top_k(scores, k, ties)]

    def describe_selection(self, selected: Tensor) -> dict:
        return {"selection_histogram": torch.bincount(self.pool_labels[selected], minlength=self.data.num_classes).tolist()}


def run(
    config: RunConfig,
    results_dir: str | os.PathLike,
    device: str | torch.device = "cpu",
    data: ImageData | None = None,
    data_root: str | None = None,
    progress: bool = True,
    engine: Engine | str = "auto",
) -> Path:
    """Run (or resume, or reuse) the classification run of ``config``; returns its record path.
    ``engine`` (a ``dpe.engine.Engine`` or its name) says how to compute, never what."""
    device = torch.device(device)

    def make_task() -> ClassificationTask:
        images = data if data is not None else load_data(config.dataset, data_root)
        return ClassificationTask(config, device, images, make_engine(device, engine) if isinstance(engine, str) else engine,
                                  progress)

    return algorithm_1(config, results_dir, make_task, progress)
