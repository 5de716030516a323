"""Where a training step and a scoring pass spend their time: kernel times by kind.

Profiles the benchmark's E=8 vectorised DPE step (eager, so that every kernel is visible) and
one pool-scoring chunk with ``torch.profiler``, and prints, per phase, the wall time per
step, the summed device-kernel time per step (wall minus that is host overhead and launch
gaps) and the kernels that take the most time, grouped by kind.

    python3 benchmarks/profile_step.py --device cuda      # the GPU size of ensemble_benchmark.py
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import sys
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ensemble_benchmark import SIZES, Workload, sync  # noqa: E402

from dpe.engine import make_engine  # noqa: E402
from dpe.predict import score_pool  # noqa: E402

KINDS = [  # kernel-name fragments -> kind, first match wins
    ("conv", "convolution"), ("gemm", "matrix product"), ("xmma", "convolution"), ("cutlass", "matrix product"),
    ("sm90", "convolution"), ("batch_norm", "batch norm"), ("bn_", "batch norm"), ("fused_sgd", "optimiser"),
    ("multi_tensor", "optimiser"), ("reduce", "reduction"), ("elementwise", "elementwise"),
    ("copy", "copy / layout"), ("nchw", "copy / layout"), ("nhwc", "copy / layout"),
]


def kind_of(name: str) -> str:
    low = name.lower()
    return next((kind for key, kind in KINDS if key in low), "other")


def phase(name: str, fn, device, steps: int) -> dict:
    for _ in range(3):
        fn()
    sync(device)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        start = time.perf_counter()
        for _ in range(steps):
            fn()
        sync(device)
        wall = (time.perf_counter() - start) / steps
    kernels = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
    by_kind = collections.Counter()
    for e in kernels:
        by_kind[kind_of(e.name)] += e.device_time / 1e3 / steps  # ms per step
    kernel_ms = sum(by_kind.values())
    result = {"phase": name, "wall_ms": round(wall * 1e3, 3), "kernel_ms": round(kernel_ms, 3),
              "kernels_per_step": len(kernels) // steps,
              "by_kind_ms": {k: round(v, 3) for k, v in by_kind.most_common()}}
    print(json.dumps(result), flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    device = torch.device(args.device)
    for key, value in SIZES[device.type].items():
        setattr(args, key, value)
    engine = make_engine(device, "fast")
    eager = dataclasses.replace(engine, cuda_graphs=False)
    rows = []
    with eager.backend_flags():
        work = Workload(args, device, 8, looped=False, model="dpe", engine=eager)
        rows.append(phase("train step E=8 DPE, eager", work.step, device, steps=10))
        pool = torch.randint(0, 256, (eager.eval_batch, args.channels, args.image, args.image), device=device,
                             dtype=torch.uint8)
        rows.append(phase(f"score {eager.eval_batch} images E=8", lambda: score_pool(work.ensemble, pool, work.norm,
                                                                                   "H_ens", eager), device, steps=3))
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
