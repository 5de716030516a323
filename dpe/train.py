"""Training an ensemble on the labelled set: the paper's protocol, the fast one, the loss of Eq. 8.

Two protocols (``RunConfig.protocol``):

- ``paper`` (Sec. 5): SGD at ``lr`` with momentum, ``batch_size`` images per member; after
  ``patience`` epochs without a gain in validation accuracy the lr drops x0.1 once, and training
  stops when 2 x ``patience`` further epochs bring no gain, or after ``max_epochs``. The weights
  of the best validation epoch are kept.
- ``fast``: a fixed schedule of ``fast_steps(n, ...)`` = ``max(min_steps, max_epochs *
  (n // batch))`` steps with a linear warm-up over the first 15 % to ``lr`` and a linear decay
  to zero; no validation. Epochs that scale with the labelled set and a floor of steps for the
  smallest sets: each profile's values are checked for convergence (notebooks/convergence).

The loss is Eq. 8 per mini-batch: the sum over members of each member's mean cross-entropy
on its own mini-batch, plus ``beta`` times the KL penalty (DPE) or ``weight_decay / 2`` times
the sum of squared weights (L2 ensemble, deterministic).

A round whose members end training far worse than chance on their own labelled images (mean
cross-entropy of the last epoch above 2 log K) has diverged, finite loss or not (``diverged``):
the loop marks it in the record so that no table averages it in unseen.
"""

from __future__ import annotations

import copy
import math
import time
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm import tqdm  # the plain bar: tqdm.auto warns inside notebook kernels without ipywidgets

from dpe.config import RunConfig
from dpe.engine import Engine, make_engine
from dpe.ensemble import Ensemble
from dpe.images import Normalizer, augment, rand_augment
from dpe.predict import evaluate, predict_probs
from dpe.regularizers import kl_penalty, l2_penalty

__all__ = [
    "GraphedSteps", "Plateau", "RoundSchedule", "check_finite", "divergence_advice", "diverged", "ensemble_loss", "fast_lr_scale", "fast_steps", "member_batch", "member_batches", "train_ensemble",
    "training_step",
]

WARMUP_FRACTION = 0.15  # fast protocol: share of the steps spent ramping the lr up


def fast_steps(n: int, batch_size: int, max_epochs: int, min_steps: int) -> int:
    """SGD steps of one fast-protocol round on ``n`` labelled images: ``max_epochs`` epochs of
    ``n // min(batch_size, n)`` steps, and never fewer than ``min_steps``."""
    return max(min_steps, max_epochs * (n // min(batch_size, n)))


def divergence_advice(config) -> str:
    """What to change after a divergence, naming only the settings that act on this run: the
    learning rate always, the KL weight for a DPE, the members where the KL term needs them
    (Sec. 5: 2 members are unstable)."""
    advice = [f"lower --lr (now {config.lr:g})"]
    if getattr(config, "model", "dpe") == "dpe" and getattr(config, "beta", 0) > 0:
        advice.append(f"--beta (now {config.beta:g})")
        if getattr(config, "members", 0) == 2:
            advice.append("use 3 or more members (--members; the KL term is unstable with 2)")
    return " or ".join(advice)


def diverged(train_cross_entropy: float, classes: int) -> bool:
    """True when members that trained on their labelled images fit them far worse than a uniform
    guess (mean cross-entropy above 2 log K; an untrained network sits near log K): the loss ran
    away, finite or not."""
    return not train_cross_entropy <= 2 * math.log(classes)  # NaN counts as diverged


def fast_lr_scale(step: int, total: int) -> float:
    """The fast protocol's lr factor at ``step`` of ``total``: a linear warm-up over the first
    WARMUP_FRACTION of the steps, then a linear decay to 0."""
    ramp = step / max(1.0, WARMUP_FRACTION * total)
    return min(ramp, (total - step) / max(1.0, (1 - WARMUP_FRACTION) * total))


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


class RoundSchedule:
    """One round's training schedule, the same for classification and segmentation: how many
    steps, the lr factor at each, where epochs end, and for the paper's protocol the validation
    that drops the lr, stops training and keeps the best weights (``Plateau``).

    - fast: ``total`` steps, ``fast_lr_scale`` (linear warm-up, then linear decay to 0);
    - paper: ``total`` steps at most (the epoch limit), factor 1 until ``Plateau`` drops it x0.1.

    Use: ``lr_scale(step)`` before each step; ``ends_epoch(step)`` after it; at an epoch's end
    under the paper's protocol, ``validated(score, model)`` (True: stop); ``finish(model)`` last."""

    def __init__(self, paper: bool, total: int, steps_per_epoch: int, patience: int):
        self.paper, self.total, self.steps_per_epoch = paper, total, steps_per_epoch
        self.plateau, self.best_state, self.scale, self.epoch = Plateau(patience), None, 1.0, 0

    def lr_scale(self, step: int) -> float:
        if not self.paper:
            self.scale = fast_lr_scale(step, self.total)
        return self.scale

    def ends_epoch(self, step: int) -> bool:
        """True after the last step of an epoch (and counts it)."""
        if (step + 1) % self.steps_per_epoch:
            return False
        self.epoch += 1
        return True

    def validated(self, score: float, model: torch.nn.Module) -> bool:
        """The paper's rule on this epoch's validation ``score``: keeps the best weights, drops
        the lr once, and returns True when training should stop."""
        if score > self.plateau.best:
            self.best_state = copy.deepcopy(model.state_dict())
        action = self.plateau.step(score)
        if action == "drop":
            self.scale *= 0.1
        return action == "stop"

    def finish(self, model: torch.nn.Module) -> float | None:
        """Load the best validation weights (paper's protocol) and return their score."""
        if self.best_state is not None:
            model.load_state_dict(self.best_state)
        return self.plateau.best if self.paper else None


def check_finite(loss: float, where: str, config) -> None:
    """A non-finite loss ends the run with one line: where, and what to change."""
    if not math.isfinite(loss):
        raise FloatingPointError(f"{where.format(loss=loss)}; {divergence_advice(config)}")


def member_batches(n: int, members: int, batch: int, generator: torch.Generator, device) -> Iterator[Tensor]:
    """Endless (members, B) index batches: each row walks its own permutation of the n images."""
    while True:
        perms = torch.rand(members, n, generator=generator, device=device).argsort(1)  # (members, n)
        for s in range(n // batch):
            yield perms[:, s * batch : (s + 1) * batch]


def ensemble_loss(ensemble: Ensemble, logits: Tensor, targets: Tensor, config: RunConfig) -> tuple[Tensor, Tensor]:
    """Eq. 8 for one mini-batch, and the members' mean cross-entropy (the data term over E);
    logits (E, B, K), targets (E, B)."""
    cross_entropy = F.cross_entropy(logits.flatten(0, 1), targets.flatten())
    nll = cross_entropy * ensemble.members
    if config.regularizer == "kl":
        return nll + config.beta * kl_penalty(ensemble), cross_entropy
    return nll + config.weight_decay / 2 * l2_penalty(ensemble), cross_entropy


def member_batch(
    images: Tensor, labels: Tensor, idx: Tensor, members: int, normalize: Normalizer,
    generator: torch.Generator, crop_padding: int = 0, flip: bool = False, strong: bool = False,
) -> tuple[Tensor, Tensor]:
    """Gather, normalise and augment on the images' device: uint8 images (n, C, H, W), index
    rows idx (orders, B) with orders 1 (shared) or E -> x (E, B, C, H, W), y (E, B).
    ``strong`` applies RandAugment to the uint8 images first (``rand_augment``)."""
    orders, batch = idx.shape
    x = images[idx.flatten()]  # (orders*B, C, H, W) uint8
    if strong:
        x = rand_augment(x, generator)
    x = normalize(x)
    if crop_padding or flip:
        x = augment(x, crop_padding, flip, generator)
    x = x.view(orders, batch, *x.shape[1:]).expand(members, -1, -1, -1, -1)
    return x, labels[idx].expand(members, -1)


def training_step(
    forward, ensemble: Ensemble, optimizer, engine: Engine, x: Tensor, y: Tensor, config: RunConfig,
    capturing: bool = False,
) -> Tensor:
    """One SGD step of Eq. 8 on member batches x (E, B, C, H, W), y (E, B); returns the loss and
    the members' mean cross-entropy, (2,) on the device (reading it would wait for the device)."""
    with engine.autocast(x.device, cache=not capturing):
        logits = forward(x)  # (E, B, K)
    loss, cross_entropy = ensemble_loss(ensemble, logits.float(), y, config)
    if not capturing:  # a captured backward writes fresh gradients on every replay
        optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return torch.stack([loss, cross_entropy]).detach()  # a held graph would tie the next step's gradients to this stream


class GraphedSteps:
    """``training_step`` recorded once as a CUDA graph and replayed (the fast engine on CUDA).

    Small-batch training is bound by the host: an eager step launches ~1000 kernels (forward,
    backward, fused SGD), and the Python and dispatch cost of that exceeds the GPU time of an
    E=8 ResNet-18 step at 32 images per member (benchmarks/). A replay is one launch. Batches
    are copied into static buffers, the lr lives in a device tensor, and the first ``warmup``
    steps run eagerly on a side stream (cuDNN autotuning, momentum buffers, cached priors), as
    CUDA-graph capture requires. Every call is a real training step."""

    def __init__(self, forward, ensemble: Ensemble, optimizer, engine: Engine, config: RunConfig, warmup: int = 3):
        self.forward, self.ensemble, self.optimizer, self.engine, self.config = forward, ensemble, optimizer, engine, config
        self.warmup, self.calls, self.graph = warmup, 0, None
        device = next(ensemble.parameters()).device
        self.lr = torch.tensor(optimizer.param_groups[0]["lr"], device=device)
        for group in optimizer.param_groups:
            group["lr"] = self.lr  # fused SGD reads a tensor lr on the device
        self.stream = torch.cuda.Stream(device)

    def set_lr(self, lr: float) -> None:
        self.lr.fill_(lr)

    def __call__(self, x: Tensor, y: Tensor) -> Tensor:
        self.calls += 1
        if self.calls <= self.warmup:
            self.stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(self.stream):
                loss = training_step(self.forward, self.ensemble, self.optimizer, self.engine, x, y, self.config)
            torch.cuda.current_stream().wait_stream(self.stream)
            return loss
        if self.graph is None:
            self.x, self.y = x.clone(), y.clone()  # static inputs (E, B, C, H, W), (E, B)
            self.optimizer.zero_grad(set_to_none=True)
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph):
                self.loss = training_step(self.forward, self.ensemble, self.optimizer, self.engine,
                                          self.x, self.y, self.config, capturing=True)
        self.x.copy_(x)
        self.y.copy_(y)
        self.graph.replay()
        return self.loss


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
    engine: Engine | None = None,
) -> dict:
    """Train ``ensemble`` in place on uint8 ``images`` (n, C, H, W) and ``labels`` (n,), both on
    the ensemble's device; returns what happened (epochs, steps, seconds, final loss, ...)."""
    engine = engine or make_engine(images.device)
    with engine.backend_flags():
        return _train(ensemble, images, labels, config, normalize, generator, crop_padding, flip, val, progress, engine)


def _train(ensemble, images, labels, config, normalize, generator, crop_padding, flip, val, progress, engine) -> dict:
    start, n, E = time.perf_counter(), len(labels), ensemble.members
    batch = min(config.batch_size, n)
    paper = config.protocol == "paper"
    if paper and val is None:
        raise ValueError("the paper protocol needs a validation set (val_size > 0)")
    total = config.max_epochs * (n // batch) if paper else fast_steps(n, config.batch_size, config.max_epochs, config.min_steps)
    schedule = RoundSchedule(paper, total, n // batch, config.patience)
    optimizer = engine.sgd(ensemble.parameters(), lr=config.lr, momentum=config.momentum)
    forward = torch.compile(ensemble) if engine.compile else ensemble
    graphed = GraphedSteps(forward, ensemble, optimizer, engine, config) if engine.cuda_graphs else None
    orders = 1 if config.shared_batches else E  # one order (and augmentation) shared, or one per member
    batches = member_batches(n, orders, batch, generator, images.device)
    ensemble.train()
    bar = tqdm(range(total), desc=f"train {n} labels", leave=False, disable=not progress, unit="step")
    out = torch.zeros(2)  # (loss, cross-entropy) of the latest step
    epoch_cross_entropy, last_epoch_cross_entropy = torch.zeros((), device=images.device), math.nan
    for step in bar:
        lr = config.lr * schedule.lr_scale(step)
        x, y = member_batch(images, labels, next(batches), E, normalize, generator,
                            crop_padding if config.augment else 0, flip and config.augment, config.strong_augment)
        if graphed is not None:
            graphed.set_lr(lr)
            out = graphed(x, y)
        else:
            for group in optimizer.param_groups:
                group["lr"] = lr
            out = training_step(forward, ensemble, optimizer, engine, x, y, config)
        epoch_cross_entropy += out[1]
        if not schedule.ends_epoch(step):
            continue
        last_epoch_cross_entropy = epoch_cross_entropy.item() / schedule.steps_per_epoch
        epoch_cross_entropy.zero_()
        check_finite(out[0].item(), f"training diverged (loss {{loss}}) at epoch {schedule.epoch} with {n} labels", config)
        if paper:
            accuracy = evaluate(predict_probs(ensemble, val[0], normalize, engine), val[1])["accuracy"]
            bar.set_postfix(val=f"{accuracy:.3f}", lr=lr)
            if schedule.validated(accuracy, ensemble):
                break
    best_val_accuracy = schedule.finish(ensemble)
    bar.close()
    final_loss = out[0].item()
    check_finite(final_loss, f"training diverged (loss {{loss}}) with {n} labels", config)
    return {
        "epochs": schedule.epoch,
        "steps": step + 1,
        "final_loss": final_loss,
        "train_cross_entropy": last_epoch_cross_entropy,  # members' mean over the last full epoch
        "best_val_accuracy": best_val_accuracy,
        "train_seconds": time.perf_counter() - start,
    }
