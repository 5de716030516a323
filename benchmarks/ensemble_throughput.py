"""Training throughput of the vectorised ensemble against a Python loop over E models.

Both do the same work: E members, each on its own mini-batch of ``--batch`` images, one SGD
step of the summed cross-entropy per iteration, same device, same member networks (the
looped ensemble holds the very networks that ``dpe.ensemble.pack`` folds together).

    .venv/bin/python benchmarks/ensemble_throughput.py            # CPU: reduced size, < 2 min
    .venv/bin/python benchmarks/ensemble_throughput.py --device cuda --width 64 --size 32

Prints a table and writes it as JSON to benchmarks/results/throughput-<device>.json.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dpe.ensemble import build_ensemble  # noqa: E402
from dpe.records import device_name  # noqa: E402


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def member_images_per_second(ensemble, x, y, steps: int, warmup: int, device) -> float:
    """Median-free simple rate: warm up, then time ``steps`` SGD steps end to end."""
    optimizer = torch.optim.SGD(ensemble.parameters(), lr=0.01, momentum=0.9)
    E, B = y.shape
    for i in range(warmup + steps):
        if i == warmup:
            sync(device)
            start = time.perf_counter()
        logits = ensemble(x)  # (E, B, K)
        loss = F.cross_entropy(logits.flatten(0, 1), y.flatten()) * E
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    sync(device)
    return E * B * steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--width", type=int, default=8, help="preact-resnet18 width (64 = the paper's)")
    parser.add_argument("--size", type=int, default=28, help="input height = width in pixels")
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--batch", type=int, default=32, help="images per member per step")
    parser.add_argument("--members", default="1,4,8")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()
    device = torch.device(args.device)
    rows = []
    for E in map(int, args.members.split(",")):
        x = torch.randn(E, args.batch, args.channels, args.size, args.size, device=device)
        y = torch.randint(0, 10, (E, args.batch), device=device)
        rates = {}
        for kind in ("vectorised", "looped"):
            ens = build_ensemble("preact-resnet18", E, 10, args.channels, args.width, seed=0, looped=kind == "looped")
            rates[kind] = member_images_per_second(ens.to(device), x, y, args.steps, args.warmup, device)
        rows.append({"members": E, **{f"{k}_member_img_s": round(v, 1) for k, v in rates.items()},
                     "ratio": round(rates["vectorised"] / rates["looped"], 3)})
        print(f"E={E:2d}  vectorised {rates['vectorised']:9.1f}  looped {rates['looped']:9.1f}  "
              f"ratio {rows[-1]['ratio']:.2f}x  (member-images/s)", flush=True)
    result = {
        "benchmark": "ensemble training throughput, vectorised vs looped",
        "device": device_name(device),
        "torch": torch.__version__,
        "settings": vars(args),
        "rows": rows,
    }
    slug = re.sub(r"[^a-z0-9]+", "-", result["device"].lower()).strip("-")[:40]
    out = Path(__file__).resolve().parent / "results" / f"throughput-{slug}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(f"device: {result['device']}\nwritten: {out}")


if __name__ == "__main__":
    main()
