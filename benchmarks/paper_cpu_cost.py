"""What one `paper-cpu` run costs on this CPU, and whether two runs at once beat one on both cores.

Measures, for each Table 4 model at the `paper-cpu` profile (E = 4 members of width 8, 64 images
per member a step; the deterministic network alone):

1. seconds per training step in three arrangements of the same two cores: one process with one
   thread, one process with two threads, and two processes at once with one thread each
   (aggregate steps per second is what a grid sees);
2. seconds to score the pool with H_ens (53k unlabelled images at the first round) and to
   evaluate the 10k test images, one thread;

and from them the minutes of every round and every run of the grid (``dpe.train.fast_steps`` at
the profile's sizes, ``dpe.profiles.ROUND_SCALE``), the convergence check's doubled runs and the
upper bounds included, and the grid's CPU hours. Run it on a quiet machine (no training beside
it): about 4 minutes.

    .venv/bin/python benchmarks/paper_cpu_cost.py [--steps 40]

Writes ``benchmarks/results/paper-cpu-cost-<cpu>.json``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import re
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dpe.config import make_config  # noqa: E402
from dpe.engine import make_engine  # noqa: E402
from dpe.ensemble import build_ensemble  # noqa: E402
from dpe.images import Normalizer  # noqa: E402
from dpe.predict import predict_probs, score_pool  # noqa: E402
from dpe.records import device_name  # noqa: E402
from dpe.study.grids import l2_vs_dpe_grid, pool_count  # noqa: E402
from dpe.train import fast_steps, member_batch, training_step  # noqa: E402

PROFILE = "paper-cpu"
MODELS = ("dpe", "l2-ensemble", "deterministic")
OUT = ROOT / "benchmarks" / "results"


def _setup(model: str):
    config = make_config(PROFILE, model=model, **({"members": 1} if model == "deterministic" else {}))
    engine = make_engine("cpu")
    ensemble = build_ensemble(config.arch, config.members, 10, 1, config.width, seed=0, channels_last=engine.channels_last)
    return config, engine, ensemble, Normalizer(torch.tensor([0.29]), torch.tensor([0.35]))


def step_seconds(model: str, steps: int, threads: int) -> float:
    """Median seconds of one training step of ``model`` on ``threads`` threads (random images:
    the cost does not depend on them)."""
    torch.set_num_threads(threads)
    config, engine, ensemble, norm = _setup(model)
    optimizer = engine.sgd(ensemble.parameters(), lr=0.1, momentum=0.9)
    images = torch.randint(0, 255, (4096, 1, 28, 28), dtype=torch.uint8)
    labels = torch.randint(0, 10, (4096,))
    generator = torch.Generator().manual_seed(0)
    times = []
    for step in range(steps + 5):
        idx = torch.randint(0, len(images), (config.members, config.batch_size), generator=generator)
        start = time.perf_counter()
        x, y = member_batch(images, labels, idx, config.members, norm, generator, 2, True)
        training_step(ensemble, ensemble, optimizer, engine, x, y, config)
        if step >= 5:  # the first steps allocate and pick kernels
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def _worker(model: str, steps: int, queue) -> None:
    queue.put(step_seconds(model, steps, 1))


def two_at_once(model: str, steps: int) -> float:
    """Median step seconds of each of two one-thread processes training ``model`` at once (mean of the two)."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    workers = [ctx.Process(target=_worker, args=(model, steps, queue)) for _ in range(2)]
    for w in workers:
        w.start()
    results = [queue.get() for _ in workers]
    for w in workers:
        w.join()
    return statistics.mean(results)


def prediction_seconds(model: str) -> dict:
    """One thread: seconds to score the first round's unlabelled pool with H_ens and to predict the test set."""
    torch.set_num_threads(1)
    config, engine, ensemble, norm = _setup(model)
    pool = torch.randint(0, 255, (pool_count(config) - config.initial, 1, 28, 28), dtype=torch.uint8)
    start = time.perf_counter()
    score_pool(ensemble, pool, norm, "H_ens", engine)
    scoring = time.perf_counter() - start
    start = time.perf_counter()
    predict_probs(ensemble, pool[:10000], norm, engine)
    return {"score_pool": scoring, "pool_images": len(pool), "test_10k": time.perf_counter() - start}


def plan(step: dict[str, float], predict: dict[str, dict]) -> dict:
    """Minutes of every run of the paper-cpu grid (Table 4, its upper bounds and the
    convergence check's doubled random-sampling runs), one trial, at ``step`` seconds a step."""
    runs = []
    for label, config in l2_vs_dpe_grid(PROFILE, "fashion-mnist", 1, upper_bound=True):
        model = config.model
        for scale in ((1, 2) if config.acquisition == "R" and config.schedule != "sizes" else (1,)):
            epochs, floor = config.max_epochs * scale, config.min_steps * scale
            sizes = config.labeled_sizes()
            steps = [fast_steps(n, config.batch_size, epochs, floor) for n in sizes]
            scoring = predict[model]["score_pool"] * (len(sizes) - 1) if config.acquisition != "R" else 0.0
            testing = predict[model]["test_10k"] * len(sizes)
            minutes = (sum(steps) * step[model] + scoring + testing) / 60
            runs.append({"run": label + ("" if scale == 1 else " | x2 (check)"), "steps_per_round": steps,
                         "round_minutes": [round(s * step[model] / 60, 1) for s in steps], "minutes": round(minutes, 1)})
    return {"runs": runs, "cpu_hours_one_trial": round(sum(r["minutes"] for r in runs) / 60, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40, help="timed steps per measurement (after 5 warm-up steps)")
    args = parser.parse_args()
    arrangements = {}
    for model in MODELS:
        one, both = step_seconds(model, args.steps, 1), step_seconds(model, args.steps, 2)
        pair = two_at_once(model, args.steps)
        arrangements[model] = {
            "one_process_one_thread": one, "one_process_two_threads": both, "two_processes_one_thread_each": pair,
            "steps_per_second": {"1 process x 1 thread": 1 / one, "1 process x 2 threads": 1 / both,
                                 "2 processes x 1 thread": 2 / pair},
        }
        print(model, json.dumps(arrangements[model]["steps_per_second"]), flush=True)
    predict = {model: prediction_seconds(model) for model in MODELS}
    step = {model: arrangements[model]["two_processes_one_thread_each"] for model in MODELS}  # what a 2-worker grid sees
    result = {"device": device_name(torch.device("cpu")), "torch": torch.__version__, "engine": make_engine("cpu").name,
              "bf16": make_engine("cpu").bf16, "step_seconds": arrangements, "prediction_seconds": predict,
              "plan_two_workers": plan(step, predict)}
    print(json.dumps(result["plan_two_workers"], indent=1))
    OUT.mkdir(parents=True, exist_ok=True)
    slug = re.sub(r"[^a-z0-9]+", "-", result["device"].removeprefix("CPU: ").split(" (")[0].lower()).strip("-")
    (OUT / f"paper-cpu-cost-{slug}.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
