"""What an MC-dropout training step costs on the CPU against the same network without dropout,
in bf16 and in float32.

The convergence chapter's round-cost table once read ~230 ms a step for MC dropout against ~75 ms
for the deterministic network; its MC-dropout rows had trained in float32, the others in bf16.
This times, side by side in one process and alternating, the quick profile's deterministic and
MC-dropout training steps under the study's fast engine in bf16 and in float32 (``--float32``),
the dropout op alone on the first stage's activations, and lists each bf16 step's CPU ops by self
time (``torch.profiler``).

    .venv/bin/python benchmarks/dropout_step.py            # ~1 minute, one thread (as a study worker)
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dpe.config import make_config  # noqa: E402
from dpe.engine import make_engine  # noqa: E402
from dpe.ensemble import build_ensemble  # noqa: E402
from dpe.images import Normalizer  # noqa: E402
from dpe.records import device_name  # noqa: E402
from dpe.train import member_batch, training_step  # noqa: E402


class Step:
    """One training step of the quick profile's single network (``model``) on random 28x28 images."""

    def __init__(self, model: str, engine):
        self.config = make_config("quick", model=model)
        c, self.engine = self.config, engine
        self.generator = torch.Generator().manual_seed(0)
        self.images = torch.randint(0, 256, (2048, 1, 28, 28), dtype=torch.uint8, generator=self.generator)
        self.labels = torch.randint(0, 10, (2048,), generator=self.generator)
        self.norm = Normalizer(torch.tensor([0.3]), torch.tensor([0.3]))
        self.net = build_ensemble(c.arch, 1, 10, 1, c.width, seed=0, channels_last=engine.channels_last, dropout=c.dropout)
        self.optimizer = engine.sgd(self.net.parameters(), lr=0.01, momentum=0.9)

    def __call__(self) -> None:
        idx = torch.randint(0, 2048, (1, self.config.batch_size), generator=self.generator)
        x, y = member_batch(self.images, self.labels, idx, 1, self.norm, self.generator, 2, True)
        training_step(self.net, self.net, self.optimizer, self.engine, x, y, self.config)


def alternating(fns: dict, steps: int, repeats: int) -> dict[str, float]:
    """Median ms a call of each of ``fns``, timed in alternating blocks so that load hits all alike."""
    times = collections.defaultdict(list)
    for fn in fns.values():
        fn()
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            for _ in range(steps):
                fn()
            times[name].append(1e3 * (time.perf_counter() - start) / steps)
    return {name: round(statistics.median(t), 2) for name, t in times.items()}


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

    return alternating({f"nn.Dropout, {dtype}, channels_last": op(engine_x), "nn.Dropout, float32, contiguous": op(plain_x),
                        f"rand mask, {dtype}, channels_last": by_rand(engine_x)}, steps=20, repeats=5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--top", type=int, default=8, help="ops listed by self CPU time")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (the study's workers use one each)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    engine = make_engine("cpu", "auto")
    float32 = dataclasses.replace(engine, bf16=False)  # the study's --float32
    steps = {f"{model}, {name}": Step(model, e) for name, e in (("bf16", engine), ("float32", float32))
             for model in ("deterministic", "mc-dropout")}
    ms = alternating(steps, args.steps, args.repeats)
    profiles = {}
    for model, step in steps.items():
        if not step.engine.bf16:
            continue
        with engine.backend_flags(), profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
            for _ in range(args.steps):
                step()
        ops = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)[: args.top]
        profiles[model] = {e.key: round(e.self_cpu_time_total / 1e3 / args.steps, 2) for e in ops}
    print(json.dumps({
        "device": device_name(torch.device("cpu")), "threads": torch.get_num_threads(), "engine": engine.name,
        "bf16": engine.bf16, "step_ms": ms,
        "mc_dropout_over_deterministic": {d: round(ms[f"mc-dropout, {d}"] / ms[f"deterministic, {d}"], 2) for d in ("bf16", "float32")},
        "float32_over_bf16": {m: round(ms[f"{m}, float32"] / ms[f"{m}, bf16"], 2) for m in ("deterministic", "mc-dropout")},
        "bf16_ops_self_ms_per_step": profiles,
        "dropout_op_ms": dropout_ops(engine, steps["mc-dropout, bf16"].config.dropout),
    }, indent=1))


if __name__ == "__main__":
    main()
