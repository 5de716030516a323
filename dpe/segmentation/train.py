"""Training and prediction of the segmentation model, and the encoder's pre-training.

Training runs on labelled crops, every other pixel IGNORE, by the fast protocol (fixed steps,
linear warm-up and decay) or the paper's (Sec. 6: epochs until the validation mIoU stops
improving, patience 10, Adam at lr 1e-4 in the ``paper`` profile). Pre-training (the paper's Cityscapes step) trains the encoder with one head
on the fully labelled source set by the fast protocol with SGD (the paper decays Adam's lr
exponentially over 100 epochs of Cityscapes crops); it is done once per pre-training setting and cached under
``<results>/pretrained/<hash>.pt`` with a JSON note of what made it beside.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm  # the plain bar: tqdm.auto warns inside notebook kernels without ipywidgets

from dpe.active import derive_seed
from dpe.engine import Engine, make_engine
from dpe.records import provenance, save_record, write_atomically
from dpe.segmentation.config import SegConfig
from dpe.segmentation.datasets import source_data
from dpe.segmentation.model import (
    SegmentationEnsemble, build_segmentation_ensemble, confusion_matrix, crop_sums, iou_from_confusion, pixel_scores,
    segmentation_loss,
)
from dpe.images import Normalizer
from dpe.predict import inference
from dpe.train import RoundSchedule, check_finite

__all__ = ["evaluate_segmentation", "make_optimizer", "predict_chunks", "pretrained_encoder", "score_crops", "train_segmentation"]


def make_optimizer(groups: list[dict], config: SegConfig, lr: float, engine: Engine) -> torch.optim.Optimizer:
    """SGD with momentum (``engine.sgd``) or Adam over parameter ``groups``, each with an lr
    ``scale`` that ``train_segmentation`` applies."""
    if config.optimizer == "adam":
        return torch.optim.Adam(groups, lr=lr)
    return engine.sgd(groups, lr=lr, momentum=config.momentum)


def train_segmentation(
    model: SegmentationEnsemble, images: torch.Tensor, targets: torch.Tensor, config: SegConfig,
    normalize: Normalizer, generator: torch.Generator, engine: Engine, epochs: int, lr: float,
    min_steps: int = 0, progress: bool = True, encoder_lr_scale: float = 1.0,
    val: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> dict:
    """Train in place on uint8 images (n, 3, H, W) and label maps (n, H, W) (IGNORE where
    unlabelled), on the model's device; the encoder's lr is ``encoder_lr_scale`` times the
    heads'. At 0 the encoder is frozen (eval mode): its features are computed once and only the
    heads train on them, many times cheaper a step.

    - ``config.protocol == "fast"``: ``max(min_steps, epochs * n // batch)`` steps, lr warm-up
      over the first 15 % then linear decay to 0.
    - ``"paper"``: up to ``epochs`` epochs at a constant lr; after each, the mIoU on ``val``
      (images, labels) feeds ``dpe.train.Plateau(config.patience)``: the lr drops x0.1 once, then
      training stops; the weights of the best validation epoch are kept."""
    paper = config.protocol == "paper"
    if paper and val is None:
        raise ValueError("the paper protocol needs validation images (val_images > 0)")
    start, n = time.perf_counter(), len(images)
    batch = min(config.batch_size, n)
    steps_per_epoch = n // batch
    total = epochs * steps_per_epoch if paper else max(min_steps, epochs * steps_per_epoch)
    schedule = RoundSchedule(paper, total, steps_per_epoch, config.patience)
    frozen = encoder_lr_scale == 0
    groups = [{"params": model.heads.parameters(), "scale": 1.0}]
    if not frozen:
        groups.append({"params": model.encoder.parameters(), "scale": encoder_lr_scale})
    optimizer = make_optimizer(groups, config, lr, engine)
    model.train()
    features = None
    if frozen:
        model.encoder.eval()
        with torch.no_grad(), engine.autocast(images.device):
            features = torch.cat([model.encoder(normalize(part)).float() for part in images.split(16)])  # (n, C, h, w)
    loss, order = torch.zeros(()), torch.zeros(0, dtype=torch.long)
    bar = tqdm(range(total), desc=f"train {n} images", leave=False, disable=not progress, unit="step")
    with engine.backend_flags():
        for step in bar:
            if len(order) < batch:
                order = torch.randperm(n, generator=generator, device=generator.device).to(images.device)
            idx, order = order[:batch], order[batch:]
            y = targets[idx].long()  # (B, H, W)
            x = features[idx] if frozen else normalize(images[idx])  # (B, C, h, w) or (B, 3, H, W)
            if config.augment:
                flip = torch.rand(batch, generator=generator, device=generator.device).to(images.device) < 0.5
                x = torch.where(flip[:, None, None, None], x.flip(-1), x)
                y = torch.where(flip[:, None, None], y.flip(-1), y)
            step_lr = lr * schedule.lr_scale(step)
            for group in optimizer.param_groups:
                group["lr"] = step_lr * group["scale"]
            with engine.autocast(images.device):
                logits = model.decode(x, y.shape[-2:]) if frozen else model(x)  # (E, B, K, H, W)
            loss = segmentation_loss(model, logits.float(), y, config.regularizer, config.beta, config.weight_decay)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if not schedule.ends_epoch(step) or not paper:
                continue
            miou = evaluate_segmentation(model, *val, normalize, engine, logits.shape[2])["miou"]
            if frozen:
                model.encoder.eval()  # evaluation put the whole model back in training mode
            bar.set_postfix(val_miou=f"{miou:.3f}", lr=step_lr)
            if schedule.validated(miou, model):
                break
    bar.close()
    best_val_miou = schedule.finish(model)
    final = loss.item()
    check_finite(final, f"segmentation training diverged (loss {{loss}}) on {n} images", config)
    return {"steps": step + 1, "epochs": schedule.epoch, "final_loss": final,
            "best_val_miou": best_val_miou, "train_seconds": time.perf_counter() - start}


def predict_chunks(model: SegmentationEnsemble, images: torch.Tensor, normalize: Normalizer, engine: Engine, chunk: int = 16):
    """Float32 member probabilities (E, b, K, H, W), ``chunk`` images at a time, in eval and
    inference mode (``dpe.predict.inference``)."""
    with inference(model, engine):
        for part in images.split(chunk):
            with engine.autocast(images.device):
                logits = model(normalize(part))
            yield logits.float().softmax(2)


def evaluate_segmentation(model, images, labels, normalize, engine, num_classes: int) -> dict:
    """Per-class IoU (NaN -> None), mIoU and pixel accuracy of the members' mean prediction,
    and the confusion matrix (rows true, columns predicted)."""
    confusion = torch.zeros(num_classes, num_classes, dtype=torch.long, device=images.device)
    for probs, part in zip(predict_chunks(model, images, normalize, engine), labels.split(16)):
        confusion += confusion_matrix(probs.mean(0).argmax(1), part, num_classes)
    iou = iou_from_confusion(confusion.cpu())
    return {
        "miou": float(iou.nanmean()),
        "iou": [None if math.isnan(v) else v for v in iou.tolist()],
        "pixel_accuracy": float(confusion.diagonal().sum() / confusion.sum().clamp_min(1)),
        "confusion": confusion.cpu().tolist(),
    }


def score_crops(model, images, normalize, engine, acquisition: str, weights=None) -> torch.Tensor:
    """Scores (N * 12,) float64 of every crop of uint8 images (N, 3, H, W): the sum of its
    pixels' acquisition scores. Crop c of image i is entry 12 i + c."""
    return torch.cat([crop_sums(pixel_scores(p, acquisition, weights)).flatten()
                      for p in predict_chunks(model, images, normalize, engine)])


def pretrained_encoder(config: SegConfig, results_dir, device, data_root=None, progress=True, engine=None) -> dict | None:
    """The encoder's state after pre-training on the source set (None for ``pretrain="none"``),
    from ``<results>/pretrained/`` or trained now and cached there."""
    if config.pretrain == "none":
        return None
    settings = config.pretrain_settings()
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    folder = Path(results_dir) / "pretrained"
    path, note = folder / f"{key}.pt", folder / f"{key}.json"
    if path.exists():
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # a cut or foreign cache file: rebuilt, as a cache should be
            print(f"pretrained encoder cache {path} cannot be read ({type(error).__name__}); training it again",
                  file=sys.stderr)
            path.unlink()
    device = torch.device(device)
    engine = engine or make_engine(device)
    source = source_data(config, data_root)
    start = time.perf_counter()
    seeds_from = config_for_pretraining(config)
    model = build_segmentation_ensemble(source.num_classes, 1, config.encoder_width,
                                        seed=derive_seed(seeds_from, "pretrain"),
                                        hidden=config.head_channels).to(device)
    normalize = Normalizer.fit(source.train_images, device)
    generator = torch.Generator(device).manual_seed(derive_seed(seeds_from, "pretrain-order"))
    pretrain = dataclasses.replace(config, model="deterministic", members=1, protocol="fast", optimizer="sgd")
    stats = train_segmentation(model, source.train_images.to(device), source.train_labels.to(device), pretrain,
                               normalize, generator, engine, config.pretrain_epochs, config.pretrain_lr, progress=progress)
    metrics = evaluate_segmentation(model, source.eval_images.to(device), source.eval_labels.to(device), normalize,
                                    engine, source.num_classes)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.cpu() for k, v in model.encoder.state_dict().items()}
    write_atomically(path, lambda f: torch.save(state, f), mode="wb")
    save_record(note, {
        "settings": settings, "source": source.source, "source_images": len(source.train_images),
        "source_eval_miou": metrics["miou"], "source_eval_iou": metrics["iou"], **stats,
        "seconds": time.perf_counter() - start, "provenance": provenance(device),
    })
    return state


def config_for_pretraining(config: SegConfig) -> SegConfig:
    """The config whose seed derives the pre-training seeds: trial 0, whatever the run's trial."""
    return dataclasses.replace(config, trial=0)
