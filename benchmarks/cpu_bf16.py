"""bf16 autocast on the CPU: is it faster, and does it change what a run measures?

Two measurements, both on the quick profile (E = 4 members of width 8, 64 images per member,
one thread per run):

1. **speed**: training steps of the DPE and of the deterministic network, float32 and bf16
   interleaved step by step in one process, so both see the same machine load;
2. **accuracy**: random-sampling DPE runs (Exponential schedule, 100 -> 800 labels) trained in
   float32 into ``benchmarks/results/bf16-check/``, paired by trial with the same configs
   trained in bf16 (the fast engine's default on this CPU) in ``results/quick/runs/``.

    .venv/bin/python benchmarks/cpu_bf16.py              # both (about 20 min of runs)
    .venv/bin/python benchmarks/cpu_bf16.py --skip-runs  # the speed part and the table only

Writes ``benchmarks/results/cpu-bf16-<cpu>.json`` (the CPU's model name, as in ``cpu-bf16-amd-epyc.json``);
the README's tables come from them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dpe.config import make_config  # noqa: E402
from dpe.engine import cpu_has_bf16, make_engine  # noqa: E402
from dpe.study.grids import run_grid  # noqa: E402
from dpe.ensemble import build_ensemble  # noqa: E402
from dpe.records import device_name, record_path  # noqa: E402
from dpe.study.stats import paired_test  # noqa: E402
from dpe.images import Normalizer  # noqa: E402
from dpe.train import member_batch, training_step  # noqa: E402

OUT = ROOT / "benchmarks" / "results"
CHECK = OUT / "bf16-check"  # the float32 runs
BF16_RUNS = ROOT / "results" / "quick"  # the study's own (bf16) runs of the same configs


def quick_step(model: str, engine, images, labels, norm, generator):
    """One training step of ``model`` at the quick profile (its members, width and dropout) on
    ``images``, as a callable."""
    config = make_config("quick", model=model)
    ens = build_ensemble(config.arch, config.members, 10, 1, config.width, seed=0, channels_last=engine.channels_last,
                         dropout=config.dropout)
    opt = engine.sgd(ens.parameters(), lr=0.1, momentum=0.9)

    def step() -> None:
        idx = torch.randint(0, len(images), (config.members, config.batch_size), generator=generator)
        x, y = member_batch(images, labels, idx, config.members, norm, generator, 2, True)
        training_step(ens, ens, opt, engine, x, y, config)
    return step


def interleaved(steps: dict, n: int = 30, warmup: int = 5) -> dict:
    """Median seconds a call of each of ``steps`` (name: callable), called in turn step by step so
    that all see the same machine load; the first ``warmup`` rounds allocate and pick kernels."""
    times = {name: [] for name in steps}
    for i in range(n + warmup):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            if i >= warmup:
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def quick_data():
    """Random uint8 images, labels, a normaliser and a generator for ``quick_step``."""
    images = torch.randint(0, 255, (800, 1, 28, 28), dtype=torch.uint8)
    return images, torch.randint(0, 10, (800,)), Normalizer(torch.tensor([0.29]), torch.tensor([0.35])), \
        torch.Generator().manual_seed(0)


def step_times(model: str, steps: int = 30) -> dict:
    """Median seconds per training step in float32 and bf16, the two interleaved."""
    engines = {"float32": dataclasses.replace(make_engine("cpu"), bf16=False),
               "bf16": dataclasses.replace(make_engine("cpu"), bf16=True)}
    data = quick_data()
    return interleaved({name: quick_step(model, engine, *data) for name, engine in engines.items()}, steps)


def float32_runs(trials: int, workers: int = 2) -> None:
    """The float32 twins of the study's bf16 random-sampling DPE runs, ``workers`` at a time."""
    float32 = dataclasses.replace(make_engine("cpu"), bf16=False)
    grid = [("dpe R", make_config("quick", model="dpe", acquisition="R", schedule="exponential", trial=t)) for t in range(trials)]
    run_grid(grid, CHECK, workers=workers, engine=float32)


def accuracy_check(trials: int) -> list[dict]:
    """Per trial and labelled size: bf16 and float32 test accuracy of the same config."""
    rows = []
    for trial in range(trials):
        config = make_config("quick", model="dpe", acquisition="R", schedule="exponential", trial=trial)
        paths = record_path(BF16_RUNS, config), record_path(CHECK, config)
        if not all(p.exists() for p in paths):
            continue
        bf16, fp32 = (json.loads(p.read_text()) for p in paths)
        assert not fp32["provenance"]["sessions"][0]["engine"]["bf16"] and bf16["provenance"]["sessions"][0]["engine"]["bf16"]
        for a, b in zip(bf16["rounds"], fp32["rounds"]):
            rows.append({"trial": trial, "labeled": a["labeled"], "bf16": a["accuracy"], "float32": b["accuracy"],
                         "train_seconds_bf16": a["train_seconds"], "train_seconds_float32": b["train_seconds"]})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--skip-runs", action="store_true", help="compare the runs already there; run none")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if not cpu_has_bf16():
        print("this CPU has no bf16 instructions: bf16 would be emulated (slow); nothing to measure")
    speed = {model: step_times(model) for model in ("dpe", "deterministic")}
    if not args.skip_runs:
        float32_runs(args.trials)
    rows = accuracy_check(args.trials)
    by_size = {}
    for labeled in sorted({r["labeled"] for r in rows}):
        at = [r for r in rows if r["labeled"] == labeled]
        test = paired_test([r["bf16"] for r in at], [r["float32"] for r in at]) if len(at) >= 2 else None
        by_size[labeled] = {"trials": len(at), "bf16": statistics.mean(r["bf16"] for r in at),
                            "float32": statistics.mean(r["float32"] for r in at),
                            "difference": test.mean_difference if test else None,
                            "ci": [test.ci_low, test.ci_high] if test else None}
    result = {"device": device_name(torch.device("cpu")), "torch": torch.__version__, "cpu_has_bf16": cpu_has_bf16(),
              "step_seconds": speed, "accuracy_rows": rows, "accuracy_by_size": by_size}
    OUT.mkdir(parents=True, exist_ok=True)
    slug = re.sub(r"[^a-z0-9]+", "-", result["device"].removeprefix("CPU: ").split(" (")[0].lower()).strip("-")
    (OUT / f"cpu-bf16-{slug}.json").write_text(json.dumps(result, indent=1))
    for model, t in speed.items():
        print(f"{model}: float32 {1000 * t['float32']:.0f} ms, bf16 {1000 * t['bf16']:.0f} ms a step "
              f"({t['float32'] / t['bf16']:.2f}x)")
    for labeled, s in by_size.items():
        ci = f"[{100 * s['ci'][0]:+.2f}, {100 * s['ci'][1]:+.2f}]" if s["ci"] else "n/a"
        print(f"{labeled} labels: bf16 {100 * s['bf16']:.2f} %, float32 {100 * s['float32']:.2f} % "
              f"(bf16 - float32, 95 % CI {ci}, {s['trials']} trials)")


if __name__ == "__main__":
    main()
