"""Algorithm 1: active learning with an ensemble, one JSON record per run, resumable.

Round r trains a fresh ensemble from scratch on the labelled set, evaluates it on the test
images, then (except in the last round) scores the unlabelled pool and reveals the labels of
its top ``sizes[r+1] - sizes[r]`` images -- the oracle is the pool's held-back labels. All that
round r did is saved in ``rounds[r]`` before round r+1 starts, so a killed run resumes at its
first missing round and rebuilds the labelled set from ``initial`` and the ``selected`` lists.
Indices in the record are indices into the dataset's training images.

MC dropout (``model="mc-dropout"``) predicts and scores with ``mc_samples`` stochastic passes
in the place of members; its dropout masks, in training and at prediction, come from the global
RNG seeded for the run, round and purpose (``_dropout_rng``), so runs are reproducible. Core-set selection
(``acquisition="coreset"``) picks the k-center set of the pool's penultimate features.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import time
from pathlib import Path

import torch
from tqdm import tqdm  # the plain bar: tqdm.auto warns inside notebook kernels without ipywidgets

from dpe.config import RunConfig, validate
from dpe.data import ImageData, load_dataset, split
from dpe.engine import Engine, make_engine
from dpe.ensemble import build_ensemble
from dpe.records import device_name, load_record, provenance, record_path, save_record
from dpe.acquisition import SET_ACQUISITIONS, top_k
from dpe.train import Normalizer, diverged, evaluate, pool_features, predict_probs, score_pool, train_ensemble

__all__ = ["derive_seed", "load_data", "run"]

load_data = functools.lru_cache(maxsize=2)(load_dataset)  # notebooks run many configs on one dataset


def derive_seed(config: RunConfig, *purpose) -> int:
    """An independent 48-bit seed for (seed, trial, *purpose): the initial set depends on the
    trial alone, so every method of one trial starts from the same labelled images."""
    blob = json.dumps([config.seed, config.trial, *purpose])
    return int(hashlib.sha256(blob.encode()).hexdigest()[:12], 16)


@contextlib.contextmanager
def _dropout_rng(config: RunConfig, device: torch.device, *purpose):
    """The global RNG seeded for (config, "dropout", *purpose), restored afterwards: MC-dropout
    masks are reproducible and leave every other draw as it was."""
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(derive_seed(config, "dropout", *purpose))
        yield


def run(
    config: RunConfig,
    results_dir: str | os.PathLike,
    device: str | torch.device = "cpu",
    data: ImageData | None = None,
    data_root: str | None = None,
    progress: bool = True,
    engine: Engine | str = "auto",
) -> Path:
    """Run (or resume, or reuse) the active-learning run of ``config``; returns its record path.
    ``engine`` (a ``dpe.engine.Engine`` or its name) says how to compute, never what."""
    path = record_path(results_dir, config)
    record = load_record(path, config)
    if record is not None and record["finished"]:
        return path
    data = data if data is not None else load_data(config.dataset, data_root)
    sp = split(data, config.pool_size, config.val_size, config.test_size)
    validate(config, pool_available=len(sp.pool))
    device = torch.device(device)
    engine = make_engine(device, engine) if isinstance(engine, str) else engine
    mean, std = data.mean_std()
    normalize = Normalizer(mean.to(device), std.to(device))
    pool_images = data.train_images[sp.pool].to(device)  # (P, C, H, W) uint8
    pool_labels = data.train_labels[sp.pool].to(device)  # (P,) the oracle's answers
    test_images, test_labels = data.test_images[sp.test].to(device), data.test_labels[sp.test].to(device)
    val = None
    if config.protocol == "paper":
        val = data.train_images[sp.val].to(device), data.train_labels[sp.val].to(device)
    sizes = config.labeled_sizes()

    if record is None:
        g = torch.Generator().manual_seed(derive_seed(config, "initial"))
        initial = torch.randperm(len(sp.pool), generator=g)[: sizes[0]].sort().values
        record = {
            "config": config.to_dict(),
            "config_hash": config.hash(),
            "initial": sp.pool[initial].tolist(),
            "rounds": [],
            "finished": False,
            "provenance": {**provenance(device), "data_source": data.source, "wall_seconds": 0.0, "sessions": []},
        }
    labeled = torch.zeros(len(sp.pool), dtype=torch.bool, device=device)
    for chosen in [record["initial"]] + [r["selected"] for r in record["rounds"]]:
        labeled[torch.searchsorted(sp.pool, torch.tensor(chosen, dtype=torch.long)).to(device)] = True
    record["provenance"]["sessions"].append(
        {"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "device": device_name(device),
         "first_round": len(record["rounds"]), "engine": engine.describe()}
    )

    label = f"{config.model} {config.acquisition} trial {config.trial}"
    rounds = tqdm(range(len(record["rounds"]), len(sizes)), desc=label, disable=not progress, unit="round")
    for r in rounds:
        start = time.perf_counter()
        if int(labeled.sum()) != sizes[r]:
            raise RuntimeError(f"round {r}: {int(labeled.sum())} labelled images, expected {sizes[r]}")
        ensemble = build_ensemble(
            config.arch, config.members, data.num_classes, data.in_channels, config.width,
            seed=derive_seed(config, "init", r), channels_last=engine.channels_last, dropout=config.dropout,
        ).to(device)
        generator = torch.Generator(device).manual_seed(derive_seed(config, "train", r))
        idx = labeled.nonzero().squeeze(1)
        with _dropout_rng(config, device, "train", r):  # dropout masks while training
            stats = train_ensemble(
                ensemble, pool_images[idx], pool_labels[idx], config, normalize, generator,
                data.crop_padding, data.flip, val=val, progress=progress, engine=engine,
            )
        mc = config.mc_samples if config.model == "mc-dropout" else 0
        with _dropout_rng(config, device, "test", r):
            metrics = evaluate(predict_probs(ensemble, test_images, normalize, engine, mc), test_labels)

        selected, score_seconds = torch.zeros(0, dtype=torch.long, device=device), 0.0
        if r + 1 < len(sizes):
            t0 = time.perf_counter()
            unlabeled = (~labeled).nonzero().squeeze(1)  # (U,)
            rng = torch.Generator().manual_seed(derive_seed(config, "acquire", r))
            k = sizes[r + 1] - sizes[r]
            if config.acquisition in SET_ACQUISITIONS:  # a set chosen on features of the whole pool
                features = pool_features(ensemble, pool_images, normalize, engine)  # (P, E*D)
                selected = SET_ACQUISITIONS[config.acquisition](features, labeled, k).sort().values
            else:
                if config.acquisition == "R":  # no need to predict the pool
                    scores = torch.rand(len(unlabeled), generator=rng, dtype=torch.float64).to(device)
                else:  # (U,) on the device
                    with _dropout_rng(config, device, "acquire", r):
                        scores = score_pool(ensemble, pool_images[unlabeled], normalize, config.acquisition, engine,
                                            weights=config.class_weights, mc_samples=mc)
                ties = torch.Generator().manual_seed(derive_seed(config, "ties", r))
                selected = unlabeled[top_k(scores, k, ties)].sort().values
            labeled[selected] = True
            score_seconds = time.perf_counter() - t0

        record["rounds"].append({
            "round": r,
            "labeled": sizes[r],
            **metrics,
            "selected": sp.pool[selected.cpu()].tolist(),
            "selection_histogram": torch.bincount(pool_labels[selected], minlength=data.num_classes).tolist(),
            **stats,
            "diverged": diverged(stats["train_cross_entropy"], data.num_classes),
            "score_seconds": score_seconds,
        })
        record["provenance"]["wall_seconds"] += time.perf_counter() - start
        record["finished"] = r + 1 == len(sizes)
        save_record(path, record)
        rounds.set_postfix(labeled=sizes[r], acc=f"{metrics['accuracy']:.3f}")
    rounds.close()
    return path
