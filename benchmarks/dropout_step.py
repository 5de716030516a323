"""What an MC-dropout training step costs on the CPU against the same network without dropout,
in bf16 and in float32.

The convergence chapter's round-cost table once read ~230 ms a step for MC dropout against ~75 ms
for the deterministic network; its MC-dropout rows had trained in float32, the others in bf16.
This times, side by side in one process and interleaved step by step (``cpu_bf16.interleaved``), the quick profile's deterministic and
MC-dropout training steps under the study's fast engine in bf16 and in float32 (``--float32``),
the dropout op alone on the first stage's activations, and lists each bf16 step's CPU ops by self
time (``torch.profiler``).

    .venv/bin/python benchmarks/dropout_step.py            # ~1 minute, one thread (as a study worker)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from cpu_bf16 import interleaved, quick_data, quick_step  # noqa: E402

from dpe.config import make_config  # noqa: E402
from dpe.engine import make_engine  # noqa: E402
from dpe.records import device_name  # noqa: E402


def dropout_ops(engine, rate: float) -> dict:
    """The dropout op alone (forward + backward) on the activations of the quick network's first
    stage (64 images, 8 channels, 28x28), in the engine's dtype and memory format, against a float32
    contiguous tensor and against drawing the mask by ``torch.rand`` and a comparison."""
    dtype = torch.bfloat16 if engine.bf16 else torch.float32
    shape = (64, 8, 28, 28)
    engine_x = torch.randn(shape, dtype=dtype).contiguous(memory_format=torch.channels_last).requires_grad_()
    plain_x = torch.randn(shape).requires_grad_()
    drop = torch.nn.Dropout(rate)

    def op(x):
        return lambda: drop(x).sum().backward()

    def by_rand(x):
        return lambda: (x * (torch.rand_like(x) >= rate) / (1 - rate)).sum().backward()

    ms = interleaved({f"nn.Dropout, {dtype}, channels_last": op(engine_x), "nn.Dropout, float32, contiguous": op(plain_x),
                      f"rand mask, {dtype}, channels_last": by_rand(engine_x)}, 100)
    return {name: round(1e3 * seconds, 2) for name, seconds in ms.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30, help="timed steps of each kind, interleaved")
    parser.add_argument("--top", type=int, default=8, help="ops listed by self CPU time")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (the study's workers use one each)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    engine = make_engine("cpu", "auto")
    float32 = dataclasses.replace(engine, bf16=False)  # the study's --float32
    data = quick_data()
    steps = {f"{model}, {name}": quick_step(model, e, *data) for name, e in (("bf16", engine), ("float32", float32))
             for model in ("deterministic", "mc-dropout")}
    ms = {name: round(1e3 * seconds, 2) for name, seconds in interleaved(steps, args.steps).items()}
    profiles = {}
    for model in ("deterministic, bf16", "mc-dropout, bf16"):
        with engine.backend_flags(), profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(10):
                steps[model]()
        ops = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)[: args.top]
        profiles[model] = {e.key: round(e.self_cpu_time_total / 1e3 / 10, 2) for e in ops}
    print(json.dumps({
        "device": device_name(torch.device("cpu")), "threads": torch.get_num_threads(), "engine": engine.name,
        "bf16": engine.bf16, "step_ms": ms,
        "mc_dropout_over_deterministic": {d: round(ms[f"mc-dropout, {d}"] / ms[f"deterministic, {d}"], 2) for d in ("bf16", "float32")},
        "float32_over_bf16": {m: round(ms[f"{m}, float32"] / ms[f"{m}, bf16"], 2) for m in ("deterministic", "mc-dropout")},
        "bf16_ops_self_ms_per_step": profiles,
        "dropout_op_ms": dropout_ops(engine, make_config("quick", model="mc-dropout").dropout),
    }, indent=1))


if __name__ == "__main__":
    main()
