"""How a run computes, as opposed to what: the plain path and the fast path.

Both paths compute the same function (Eq. 8 training, member softmax outputs, acquisition
scores); the fast path only changes how. It is the default everywhere; on a GPU it adds bf16:

================  ==============================  ==========================================
setting           plain                           fast
================  ==============================  ==========================================
precision         float32 (no TF32 on CUDA)       bf16 autocast on CUDA and on CPUs with
                                                  bf16 instructions (AVX512-BF16 / AMX) [2]
cuDNN autotuning  off                             on (CUDA); pool chunks padded to one
                                                  shape so that it tunes once
memory format     NCHW                            channels-last (not for E=1 on the CPU [1])
optimiser step    one kernel set per parameter    fused (CUDA) / foreach (CPU), all params
torch.compile     never                           only with ``compile=True`` (measured in
                                                  benchmarks/, off by default)
CUDA graphs       never                           the whole training step (CUDA, not with
                                                  compile): one launch instead of ~1000
================  ==============================  ==========================================

Shared by both (see ``dpe.train``): data resident on the device as one uint8 tensor, per-member
mini-batch orders by index permutations drawn on the device, augmentation in batch by index
arithmetic, pool scoring in large batches under ``torch.inference_mode`` with the scores reduced
on the device -- only the chosen indices reach the host.

[1] with a single member and a 1-channel input the CPU backward of an NHWC network never
returned (torch 2.14); ``dpe.ensemble.Ensemble`` keeps E=1 in NCHW on every device.
[2] a quick-profile training step (64 images per member, one thread) on an AMD EPYC with
AVX512-BF16: 1.61x faster in bf16 than in float32 for the E=4 DPE, 1.22x for the single network
(benchmarks/cpu_bf16.py). Where the instructions are missing bf16 is emulated and slow.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass
from typing import Iterable

import torch

from dpe.errors import ConfigError

__all__ = ["ENGINES", "Engine", "cpu_has_bf16", "make_engine", "resolve_device"]

ENGINES = ("auto", "fast", "plain")


@dataclass(frozen=True)
class Engine:
    name: str  # "fast" | "plain"
    bf16: bool  # autocast convolutions and matrix products to bfloat16
    tf32: bool  # allow TF32 for float32 convolutions on CUDA
    cudnn_benchmark: bool  # let cuDNN time its algorithms for each new input shape
    channels_last: bool  # NHWC activations and weights (ensembles of 2 or more members)
    optimizer: str  # "fused" | "foreach" | "for-loop": how SGD applies its update
    compile: bool  # torch.compile the training forward pass
    cuda_graphs: bool  # record the whole training step once as a CUDA graph, then replay it
    eval_batch: int  # images per forward pass when predicting or scoring

    def autocast(self, device: torch.device, cache: bool = True):
        """The context every forward pass runs in (``cache=False`` inside a graph capture)."""
        if self.bf16:
            return torch.autocast(device.type, dtype=torch.bfloat16, cache_enabled=cache)
        return contextlib.nullcontext()

    def backend_flags(self):
        """cuDNN's TF32 and autotuning switches for the duration of a call (no-ops on the CPU)."""
        return torch.backends.cudnn.flags(enabled=True, benchmark=self.cudnn_benchmark, allow_tf32=self.tf32)

    def sgd(self, params: Iterable[torch.nn.Parameter], lr: float, momentum: float) -> torch.optim.SGD:
        """SGD with momentum, its update applied as ``optimizer`` says."""
        kinds = {"fused": dict(fused=True), "foreach": dict(foreach=True), "for-loop": dict(foreach=False)}
        return torch.optim.SGD(params, lr=lr, momentum=momentum, **kinds[self.optimizer])

    def describe(self) -> dict:
        return asdict(self)


def cpu_has_bf16() -> bool:
    """True when this CPU computes bf16 natively (AVX512-BF16 or AMX tiles)."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def make_engine(device: str | torch.device = "cpu", name: str = "auto", compile: bool = False) -> Engine:
    """The engine called ``name`` ("auto" = "fast") for ``device``."""
    if name not in ENGINES:
        raise ValueError(f"engine={name!r} is invalid: choose one of {list(ENGINES)}")
    cuda = torch.device(device).type == "cuda"
    if name == "plain":
        if compile:
            raise ValueError("engine='plain' never compiles: use the fast engine with compile")
        return Engine("plain", bf16=False, tf32=False, cudnn_benchmark=False, channels_last=False,
                      optimizer="for-loop", compile=False, cuda_graphs=False, eval_batch=1024)
    return Engine(
        "fast", bf16=cuda or cpu_has_bf16(), tf32=cuda, cudnn_benchmark=cuda, channels_last=True,
        optimizer="fused" if cuda else "foreach", compile=compile, cuda_graphs=cuda and not compile,
        eval_batch=4096 if cuda else 1024,
    )


def resolve_device(name: str) -> str:
    """``auto`` -> cuda if available, else cpu; a CUDA device where there is none is a ConfigError."""
    device = name if name != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device={device!r} is invalid: no CUDA device here; use --device cpu")
    return device
