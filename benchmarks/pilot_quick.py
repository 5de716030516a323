"""Pilot for choosing the quick profile's round length and MC dropout's rate: train one model on
``n`` random pool labels with the given overrides, print validation and test accuracy.

Choices are read from the validation split (500 images), never from the test set. One trial
each, so a guide only: the committed evidence is the convergence check over 3 trials
(notebooks/convergence.ipynb). Output of 2026-11-25 (AMD EPYC, one thread per process, bf16
autocast): results/pilot-quick.jsonl, from

    .venv/bin/python benchmarks/pilot_quick.py '[{"n": 800, "batch_size": 64, "max_epochs": 50, "min_steps": 0}]'
"""

import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dpe.active import derive_seed, load_data  # noqa: E402
from dpe.config import make_config  # noqa: E402
from dpe.data import split  # noqa: E402
from dpe.engine import make_engine  # noqa: E402
from dpe.ensemble import build_ensemble  # noqa: E402
from dpe.images import Normalizer  # noqa: E402
from dpe.predict import evaluate, predict_probs  # noqa: E402
from dpe.train import train_ensemble  # noqa: E402


def main(jobs: list[dict]) -> None:
    torch.set_num_threads(1)
    data = load_data("fashion-mnist", None)
    for job in jobs:
        n = job.pop("n")
        config = make_config("quick", **job)
        sp = split(data, config.pool_size, config.val_size, config.test_size)
        engine = make_engine("cpu")
        normalize = Normalizer.fit(data.train_images)
        g = torch.Generator().manual_seed(derive_seed(config, "initial"))
        idx = sp.pool[torch.randperm(len(sp.pool), generator=g)[:n]]
        ensemble = build_ensemble(config.arch, config.members, 10, 1, config.width, seed=derive_seed(config, "init", 0),
                                  channels_last=engine.channels_last, dropout=config.dropout)
        start = time.perf_counter()
        stats = train_ensemble(ensemble, data.train_images[idx], data.train_labels[idx], config, normalize,
                               torch.Generator().manual_seed(derive_seed(config, "train", 0)), data.crop_padding,
                               data.flip, progress=False, engine=engine)
        mc = config.mc_samples if config.model == "mc-dropout" else 0
        torch.manual_seed(1)
        val = evaluate(predict_probs(ensemble, data.train_images[sp.val], normalize, engine, mc), data.train_labels[sp.val])
        test = evaluate(predict_probs(ensemble, data.test_images[sp.test], normalize, engine, mc), data.test_labels[sp.test])
        print(json.dumps({"n": n, **job, "steps": stats["steps"], "loss": round(stats["final_loss"], 4),
                          "val": val["accuracy"], "test": test["accuracy"], "s": round(time.perf_counter() - start)}),
              flush=True)


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
