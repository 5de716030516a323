"""Fast ensembles, measured: training and scoring throughput, FLOP rates, memory, a full run.

One run on one device prints a table and writes it as JSON to
``benchmarks/results/benchmark-<device>.json``:

1. training throughput (member-images/s) of the vectorised ensemble against a Python loop over
   E separately built models doing the same work (the L2-ensemble loss of Eq. 8, one SGD step,
   the same member batches gathered and augmented on the device), E = 1, 4, 8, side by side;
   the DPE step (KL penalty) of the vectorised ensemble beside it; ``torch.compile`` on E=8;
2. achieved training FLOP/s (model FLOPs counted by ``torch.utils.flop_counter``, forward and
   backward) as a fraction of a dense matrix product measured in the same run (bf16 on CUDA,
   float32 on the CPU);
3. pool scoring throughput (images/s through all E members, H_ens reduced on the device) and its
   fraction of the same peak;
4. peak device memory of each (CUDA only);
5. wall time of one complete active-learning run: ``paper-fast`` (Exponential-4 to 16k labels,
   E=8, the fast protocol) on Fashion-MNIST on a GPU; ``smoke`` on the CPU.

``torch.compile`` is measured on CUDA only (``--skip ""`` measures it on the CPU too).

    .venv/bin/python benchmarks/ensemble_benchmark.py               # CPU, reduced: < 2 min
    python3 benchmarks/ensemble_benchmark.py --device cuda --data-root DIR   # GPU size

Timings are medians of ``--repeats`` timed blocks after warm-up, with the device synchronised
around each block. Nothing here is asserted by the tests.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import statistics
import sys
import tempfile
import time
import typing
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dpe.cli import parse_value  # noqa: E402
from dpe.config import RunConfig, make_config  # noqa: E402
from dpe.engine import make_engine  # noqa: E402
from dpe.ensemble import build_ensemble  # noqa: E402
from dpe.records import device_name, git_commit  # noqa: E402
from dpe.images import Normalizer  # noqa: E402
from dpe.predict import score_pool  # noqa: E402
from dpe.train import GraphedSteps, member_batch, training_step  # noqa: E402

SIZES = {  # reduced for the CPU; the paper's network on a GPU
    "cpu": dict(width=8, image=28, channels=1, batch=32, pool=2048, matmul=2048, steps=6, warmup=2,
                repeats=3, run_profile="smoke", skip="compile"),
    "cuda": dict(width=64, image=32, channels=3, batch=32, pool=16384, matmul=8192, steps=30, warmup=10,
                 repeats=5, run_profile="paper-fast", skip=""),
}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device, warmup: int, steps: int, repeats: int) -> float:
    """Median seconds per call of ``fn`` over ``repeats`` blocks of ``steps`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        for _ in range(steps):
            fn()
        sync(device)
        times.append((time.perf_counter() - start) / steps)
    return statistics.median(times)


def peak_memory(device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None


def reset_memory(device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def matmul_peak(device, n: int, repeats: int) -> dict:
    """FLOP/s of a dense n x n x n product in the training precision (bf16 on CUDA)."""
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
    seconds = timed(lambda: a @ b, device, warmup=3, steps=10 if device.type == "cuda" else 3, repeats=repeats)
    return {"dtype": str(dtype).removeprefix("torch."), "n": n, "flops_per_s": 2 * n**3 / seconds}


class Workload:
    """E members' worth of device-resident uint8 images and what one training step needs."""

    def __init__(self, args, device, members: int, looped: bool, model: str, engine):
        self.device, self.members, self.engine = device, members, engine
        g = torch.Generator(device).manual_seed(0)
        n = 4096
        self.images = torch.randint(0, 256, (n, args.channels, args.image, args.image), device=device,
                                    dtype=torch.uint8, generator=g)
        self.labels = torch.randint(0, 10, (n,), device=device, generator=g)
        self.norm = Normalizer(torch.full((args.channels,), 0.3, device=device),
                               torch.full((args.channels,), 0.3, device=device))
        self.ensemble = build_ensemble("preact-resnet18", members, 10, args.channels, args.width, seed=0,
                                       looped=looped, channels_last=engine.channels_last).to(device)
        self.config = make_config("quick", model=model, members=members if model != "deterministic" else 1)
        self.optimizer = engine.sgd(self.ensemble.parameters(), lr=0.01, momentum=0.9)
        self.forward = torch.compile(self.ensemble) if engine.compile else self.ensemble
        self.graphed = GraphedSteps(self.forward, self.ensemble, self.optimizer, engine, self.config) \
            if engine.cuda_graphs else None
        self.generator, self.batch, self.n = g, args.batch, n

    def step(self) -> None:
        idx = torch.randint(0, self.n, (self.members, self.batch), device=self.device, generator=self.generator)
        x, y = member_batch(self.images, self.labels, idx, self.members, self.norm, self.generator, 4, True)
        if self.graphed is not None:
            self.graphed(x, y)
        else:
            training_step(self.forward, self.ensemble, self.optimizer, self.engine, x, y, self.config)


def member_flops(args, device, train: bool) -> int:
    """FLOPs of one member for one training step (forward + backward on ``batch`` images) or
    for one forward image. Counted on a plain single network: FlopCounterMode (torch 2.11-2.14)
    counts a grouped convolution's weight gradient as if it were ungrouped, E times too many."""
    work = Workload(args, device, 1, looped=True, model="deterministic", engine=make_engine(device, "plain"))
    with FlopCounterMode(display=False) as counter:
        if train:
            work.step()
        else:
            with torch.no_grad():
                work.ensemble.eval()(work.norm(work.images[:1]))
    return counter.get_total_flops()


def training_row(args, device, members: int, kind: str, engine, peak: float) -> dict:
    model = "dpe" if kind == "vectorised DPE (KL)" else ("deterministic" if members == 1 else "l2-ensemble")
    reset_memory(device)
    compile_start = time.perf_counter()
    work = Workload(args, device, members, looped=kind == "looped", model=model, engine=engine)
    with engine.backend_flags():
        if engine.compile:
            work.step()
            sync(device)
        compile_seconds = time.perf_counter() - compile_start if engine.compile else None
        seconds = timed(work.step, device, args.warmup, args.steps, args.repeats)
    flops = members * member_flops(args, device, train=True)
    rate = members * args.batch / seconds
    suffix = " +compile" if engine.compile else (" +graphs" if engine.cuda_graphs else "")
    return {
        "part": "train", "members": members, "kind": kind + suffix,
        "member_img_s": round(rate, 1), "step_ms": round(seconds * 1e3, 3),
        "tflop_s": round(flops / seconds / 1e12, 3), "of_peak": round(flops / seconds / peak, 4),
        "peak_mem_gib": peak_memory(device), "compile_s": compile_seconds,
    }


def scoring_row(args, device, engine, peak: float, members: int = 8) -> dict:
    reset_memory(device)
    work = Workload(args, device, members, looped=False, model="dpe", engine=engine)
    pool = torch.randint(0, 256, (args.pool, args.channels, args.image, args.image), device=device, dtype=torch.uint8)
    score = lambda: score_pool(work.ensemble, pool, work.norm, "H_ens", engine)  # noqa: E731
    seconds = timed(score, device, warmup=1, steps=1, repeats=args.repeats)
    flops = members * args.pool * member_flops(args, device, train=False)
    return {
        "part": "score", "members": members, "kind": "vectorised, H_ens on device",
        "images_s": round(args.pool / seconds, 1), "member_img_s": round(members * args.pool / seconds, 1),
        "tflop_s": round(flops / seconds / 1e12, 3), "of_peak": round(flops / seconds / peak, 4),
        "peak_mem_gib": peak_memory(device),
    }


def full_run(args, device, engine) -> dict:
    from dpe.active import run

    hints = typing.get_type_hints(RunConfig)  # values parsed as the CLI parses them
    overrides = dict(kv.split("=", 1) for kv in filter(None, args.run_overrides.split(",")))
    config = make_config(args.run_profile, **{k: parse_value(hints[k], v) for k, v in overrides.items()})
    with tempfile.TemporaryDirectory() as results:
        start = time.perf_counter()
        path = run(config, results, device=device, data_root=args.data_root, progress=False, engine=engine)
        seconds = time.perf_counter() - start
        record = json.loads(Path(path).read_text())
    rounds = record["rounds"]
    return {
        "part": "run", "profile": args.run_profile + (f" {args.run_overrides}" if args.run_overrides else ""),
        "members": config.members,
        "labeled": [r["labeled"] for r in rounds], "accuracy": [round(r["accuracy"], 4) for r in rounds],
        "train_s": [round(r["train_seconds"], 2) for r in rounds],
        "score_s": [round(r["score_seconds"], 2) for r in rounds],
        "steps": [r["steps"] for r in rounds], "wall_s": round(seconds, 1),
        "engine": "graphs" if engine.cuda_graphs else "eager",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--members", default="1,4,8")
    parser.add_argument("--data-root", default=None, help="Fashion-MNIST folder for the full run")
    parser.add_argument("--out", default=None, help="JSON path (default benchmarks/results/benchmark-<device>.json)")
    parser.add_argument("--run-overrides", default="", help="settings of the full run, e.g. batch_size=128,lr=0.2")
    for key, value in SIZES["cpu"].items():  # --skip: a comma list of parts to skip (compile,score,run)
        parser.add_argument("--" + key.replace("_", "-"), type=type(value), default=None)
    args = parser.parse_args()
    device = torch.device(args.device)
    for key, value in SIZES[device.type].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    skip = set(filter(None, args.skip.split(",")))
    engine = make_engine(device, "fast")
    eager = dataclasses.replace(engine, cuda_graphs=False)
    peak = matmul_peak(device, args.matmul, args.repeats)
    print(f"device: {device_name(device)}; torch {torch.__version__}; engine {engine}", flush=True)
    print(f"dense {peak['dtype']} matmul {peak['n']}^3: {peak['flops_per_s'] / 1e12:.1f} TFLOP/s", flush=True)
    rows = []
    for members in map(int, args.members.split(",")):
        kinds = ["vectorised", "looped"] + (["vectorised DPE (KL)"] if members > 1 else [])
        runs = [(kind, eager) for kind in kinds]
        if engine.cuda_graphs:
            runs += [("vectorised", engine), ("looped", engine)]
        for kind, eng in runs:
            try:
                rows.append(training_row(args, device, members, kind, eng, peak["flops_per_s"]))
            except Exception as error:  # noqa: BLE001 -- report, do not lose the other rows
                rows.append({"part": "train", "members": members, "kind": kind, "error": repr(error)[:300]})
            print(json.dumps(rows[-1]), flush=True)
        for suffix in ("", " +graphs"):  # the ratio, measured side by side, eager and graphed
            pair = [next((r for r in rows if r["members"] == members and r["kind"] == k + suffix
                          and "error" not in r), None) for k in ("vectorised", "looped")]
            if None not in pair:
                pair[0]["vs_looped"] = round(pair[0]["member_img_s"] / pair[1]["member_img_s"], 3)
    if "compile" not in skip:
        compiled = make_engine(device, "fast", compile=True)
        try:
            rows.append(training_row(args, device, 8, "vectorised", compiled, peak["flops_per_s"]))
        except Exception as error:  # noqa: BLE001 -- report, do not lose the other rows
            rows.append({"part": "train", "members": 8, "kind": "vectorised +compile", "error": repr(error)[:300]})
        print(json.dumps(rows[-1]), flush=True)
    if "score" not in skip:
        rows.append(scoring_row(args, device, engine, peak["flops_per_s"]))
        print(json.dumps(rows[-1]), flush=True)
    if "run" not in skip:
        try:
            rows.append(full_run(args, device, engine))
        except Exception as error:  # noqa: BLE001 -- say so; the table still gets written
            rows.append({"part": "run", "error": repr(error)[:300]})
        print(json.dumps(rows[-1]), flush=True)

    result = {
        "benchmark": "fast ensembles: training, scoring, a full active-learning run",
        "device": device_name(device), "torch": torch.__version__, "engine": engine.describe(),
        "settings": vars(args), "matmul_peak": peak, "rows": rows,
        "date": time.strftime("%Y-%m-%d"), "git": git_commit(),
    }
    print_table(result)
    slug = re.sub(r"[^a-z0-9]+", "-", result["device"].lower()).strip("-")[:40]
    out = Path(args.out) if args.out else Path(__file__).resolve().parent / "results" / f"benchmark-{slug}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(f"written: {out}")


def print_table(result: dict) -> None:
    print(f"\n{result['device']} -- dense {result['matmul_peak']['dtype']} matmul "
          f"{result['matmul_peak']['flops_per_s'] / 1e12:.1f} TFLOP/s")
    print(f"{'part':6} {'E':>2} {'kind':28} {'member-img/s':>13} {'vs looped':>9} {'TFLOP/s':>8} "
          f"{'of peak':>8} {'mem GiB':>8}")
    for r in result["rows"]:
        if r["part"] == "run":
            if "error" in r:
                print(f"run    failed: {r['error']}")
                continue
            print(f"run    {r['members']:>2} {r['profile'] + ' ' + r['engine']:28} wall {r['wall_s']} s; labels {r['labeled']}; "
                  f"accuracy {r['accuracy']}; train s {r['train_s']}; score s {r['score_s']}")
            continue
        if "error" in r:
            print(f"{r['part']:6} {r['members']:>2} {r['kind']:28} failed: {r['error']}")
            continue
        mem = "-" if r["peak_mem_gib"] is None else f"{r['peak_mem_gib']:.2f}"
        vs = f"{r['vs_looped']:.2f}x" if "vs_looped" in r else ""
        print(f"{r['part']:6} {r['members']:>2} {r['kind']:28} {r['member_img_s']:>13.0f} {vs:>9} "
              f"{r['tflop_s']:>8.3f} {r['of_peak']:>8.1%} {mem:>8}")


if __name__ == "__main__":
    main()
