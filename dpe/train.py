"""Training an ensemble on the labelled set, and its predictions.

Two protocols (``RunConfig.protocol``):

- ``paper`` (Sec. 5): SGD at ``lr`` with momentum, ``batch_size`` images per member; after
  ``patience`` epochs without a gain in validation accuracy the lr drops x0.1 once, and training
  stops when 2 x ``patience`` further epochs bring no gain, or after ``max_epochs``. The weights
  of the best validation epoch are kept.
- ``fast``: a fixed schedule of ``max(min_steps, max_epochs * steps_per_epoch)`` steps with a
  linear warm-up over the first 15 % to ``lr`` and a linear decay to zero; no validation.

The loss is Eq. 8 per mini-batch: the sum over members of each member's mean cross-entropy
on its own mini-batch, plus ``beta`` times the KL penalty (DPE) or ``weight_decay / 2`` times
the sum of squared weights (L2 ensemble, deterministic).
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm import tqdm  # the plain bar: tqdm.auto warns inside notebook kernels without ipywidgets

from dpe.config import RunConfig
from dpe.ensemble import Ensemble
from dpe.regularizers import kl_penalty, l2_penalty

__all__ = ["Normalizer", "Plateau", "augment", "evaluate", "predict_probs", "train_ensemble"]

WARMUP_FRACTION = 0.15  # fast protocol: share of the steps spent ramping the lr up
CALIBRATION_BINS = 10  # equal-width confidence bins of the reliability diagram and ECE


@dataclass
class Normalizer:
    """uint8 images -> float, mean-std normalised per channel."""

    mean: Tensor  # (C,)
    std: Tensor  # (C,)

    def __call__(self, images: Tensor) -> Tensor:  # (..., C, H, W) uint8 -> float32
        shape = (-1, 1, 1)
        return (images.float() / 255 - self.mean.view(shape)) / self.std.view(shape)


def augment(x: Tensor, padding: int, flip: bool, generator: torch.Generator) -> Tensor:
    """Random crop with zero padding and random horizontal flip, one draw per image, done in
    batch by index arithmetic: x (M, C, H, W) -> (M, C, H, W)."""
    M, C, H, W = x.shape
    device = x.device
    rows = torch.arange(H, device=device).expand(M, H)  # (M, H)
    cols = torch.arange(W, device=device).expand(M, W)  # (M, W)
    if padding:
        x = F.pad(x, (padding,) * 4)
        rows = rows + torch.randint(0, 2 * padding + 1, (M, 1), generator=generator, device=device)
        cols = cols + torch.randint(0, 2 * padding + 1, (M, 1), generator=generator, device=device)
    if flip:
        flipped = torch.rand(M, 1, generator=generator, device=device) < 0.5
        cols = torch.where(flipped, cols.flip(1), cols)
    batch = torch.arange(M, device=device)[:, None, None, None]
    channel = torch.arange(C, device=device)[None, :, None, None]
    return x[batch, channel, rows[:, None, :, None], cols[:, None, None, :]]


class Plateau:
    """The paper's stopping rule on validation accuracy; ``step(acc)`` returns "continue",
    "drop" (multiply the lr by 0.1, once) or "stop"."""

    def __init__(self, patience: int):
        self.patience, self.best, self.since, self.dropped = patience, -math.inf, 0, False

    def step(self, accuracy: float) -> str:
        if accuracy > self.best:
            self.best, self.since = accuracy, 0
            return "continue"
        self.since += 1
        if not self.dropped and self.since >= self.patience:
            self.dropped, self.since = True, 0
            return "drop"
        if self.dropped and self.since >= 2 * self.patience:
            return "stop"
        return "continue"


def _member_batches(n: int, members: int, batch: int, generator: torch.Generator, device) -> Iterator[Tensor]:
    """Endless (members, B) index batches: each row walks its own permutation of the n images."""
    while True:
        perms = torch.rand(members, n, generator=generator, device=device).argsort(1)  # (members, n)
        for s in range(n // batch):
            yield perms[:, s * batch : (s + 1) * batch]


def _loss(ensemble: Ensemble, logits: Tensor, targets: Tensor, config: RunConfig) -> Tensor:
    """Eq. 8 for one mini-batch; logits (E, B, K), targets (E, B)."""
    nll = F.cross_entropy(logits.flatten(0, 1), targets.flatten()) * ensemble.members
    if config.regularizer == "kl":
        return nll + config.beta * kl_penalty(ensemble)
    return nll + config.weight_decay / 2 * l2_penalty(ensemble)


@torch.inference_mode()
def predict_probs(ensemble: Ensemble, images: Tensor, normalize: Normalizer, batch_size: int = 1024) -> Tensor:
    """Softmax outputs (E, N, K) of every member on uint8 images (N, C, H, W), in eval mode."""
    was_training = ensemble.training
    ensemble.eval()
    probs = torch.cat([ensemble(normalize(chunk)).softmax(-1) for chunk in images.split(batch_size)], 1)
    ensemble.train(was_training)
    return probs


def evaluate(probs: Tensor, labels: Tensor, bins: int = CALIBRATION_BINS) -> dict:
    """Ensemble accuracy, NLL and expected calibration error of the mean prediction, its
    reliability diagram (``bins`` equal-width confidence bins), and each member's accuracy."""
    mean = probs.double().mean(0)  # (N, K)
    confidence, prediction = mean.max(-1)  # (N,), (N,)
    correct = (prediction == labels).double()
    which = (confidence * bins).long().clamp(max=bins - 1)  # (N,) bin index
    count = torch.bincount(which, minlength=bins).double()
    bin_accuracy = torch.bincount(which, correct, minlength=bins) / count.clamp_min(1)
    bin_confidence = torch.bincount(which, confidence, minlength=bins) / count.clamp_min(1)
    ece = ((count / len(labels)) * (bin_accuracy - bin_confidence).abs()).sum()
    return {
        "accuracy": correct.mean().item(),
        "nll": -mean.gather(1, labels[:, None]).clamp_min(1e-12).log().mean().item(),
        "ece": ece.item(),
        "reliability": {
            "count": count.long().tolist(),
            "accuracy": bin_accuracy.tolist(),
            "confidence": bin_confidence.tolist(),
        },
        "member_accuracy": (probs.argmax(-1) == labels).double().mean(1).tolist(),
    }


def train_ensemble(
    ensemble: Ensemble,
    images: Tensor,
    labels: Tensor,
    config: RunConfig,
    normalize: Normalizer,
    generator: torch.Generator,
    crop_padding: int = 0,
    flip: bool = False,
    val: tuple[Tensor, Tensor] | None = None,
    progress: bool = True,
) -> dict:
    """Train ``ensemble`` in place on uint8 ``images`` (n, C, H, W) and ``labels`` (n,), both on
    the ensemble's device; returns what happened (epochs, steps, seconds, final loss, ...)."""
    start, n, E = time.perf_counter(), len(labels), ensemble.members
    batch = min(config.batch_size, n)
    steps_per_epoch = n // batch
    paper = config.protocol == "paper"
    if paper and val is None:
        raise ValueError("the paper protocol needs a validation set (val_size > 0)")
    total = config.max_epochs * steps_per_epoch if paper else max(config.min_steps, config.max_epochs * steps_per_epoch)
    optimizer = torch.optim.SGD(ensemble.parameters(), lr=config.lr, momentum=config.momentum)
    plateau, best_state, lr_scale = Plateau(config.patience), None, 1.0
    orders = 1 if config.shared_batches else E  # one order (and augmentation) shared, or one per member
    batches = _member_batches(n, orders, batch, generator, images.device)
    ensemble.train()
    bar = tqdm(range(total), desc=f"train {n} labels", leave=False, disable=not progress, unit="step")
    loss, epoch = torch.zeros(()), 0
    for step in bar:
        if not paper:  # linear warm-up, then linear decay to 0
            ramp = step / max(1.0, WARMUP_FRACTION * total)
            lr_scale = min(ramp, (total - step) / max(1.0, (1 - WARMUP_FRACTION) * total))
        for group in optimizer.param_groups:
            group["lr"] = config.lr * lr_scale
        idx = next(batches)  # (orders, B)
        x = normalize(images[idx].flatten(0, 1))  # (orders*B, C, H, W)
        if config.augment and (crop_padding or flip):
            x = augment(x, crop_padding, flip, generator)
        x = x.view(orders, batch, *x.shape[1:]).expand(E, -1, -1, -1, -1)  # (E, B, C, H, W)
        logits = ensemble(x)  # (E, B, K)
        loss = _loss(ensemble, logits, labels[idx].expand(E, -1), config)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if (step + 1) % steps_per_epoch == 0:
            epoch += 1
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"training diverged (loss {loss.item()}) at epoch {epoch} with {n} labels; "
                    "lower --lr or --beta, or use more members"
                )
            if paper:
                accuracy = evaluate(predict_probs(ensemble, val[0], normalize), val[1])["accuracy"]
                if accuracy > plateau.best:
                    best_state = copy.deepcopy(ensemble.state_dict())
                action = plateau.step(accuracy)
                bar.set_postfix(val=f"{accuracy:.3f}", lr=config.lr * lr_scale)
                if action == "drop":
                    lr_scale *= 0.1
                elif action == "stop":
                    break
    if best_state is not None:
        ensemble.load_state_dict(best_state)
    bar.close()
    final_loss = loss.item()
    if not math.isfinite(final_loss):
        raise FloatingPointError(f"training diverged (loss {final_loss}) with {n} labels; lower --lr or --beta")
    return {
        "epochs": epoch,
        "steps": step + 1,
        "final_loss": final_loss,
        "best_val_accuracy": plateau.best if paper else None,
        "train_seconds": time.perf_counter() - start,
    }
