"""Active semantic segmentation (Sec. 6): Algorithm 1 (``dpe.active.algorithm_1``) over crops.

The pool holds 12 crops per image: crop 12 i + c is crop c of pool image i, and the record
indexes crops so. Each round starts again from the pre-trained encoder and fresh heads, trains on
the labelled crops only (every other pixel is IGNORE), measures per-class IoU on the evaluation
images, scores every unlabelled crop by the sum of its pixels' acquisition scores and reveals
the top ones (ties to the lowest crop index).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch
from torch import Tensor

from dpe.acquisition import random_scores
from dpe.active import algorithm_1, derive_seed, initial_draw
from dpe.config import check_class_weights
from dpe.engine import Engine, make_engine
from dpe.records import new_record
from dpe.segmentation.config import SegConfig, validate_seg
from dpe.segmentation.data import IGNORE, SegData
from dpe.segmentation.datasets import target_data
from dpe.segmentation.model import CROPS, build_segmentation_ensemble, crop_pixel_mask
from dpe.segmentation.train import evaluate_segmentation, pretrained_encoder, score_crops, train_segmentation
from dpe.images import Normalizer

__all__ = ["SegmentationTask", "run"]


class SegmentationTask:
    """Segmentation by crops: a pre-trained encoder (frozen or fine-tuned) and fresh heads each
    round, trained on the labelled crops, evaluated by IoU on the evaluation images."""

    unit = "crops"

    def __init__(self, config: SegConfig, device: torch.device, data: SegData, engine: Engine,
                 encoder_state: dict | None, progress: bool = True):
        self.config, self.device, self.data, self.engine, self.progress = config, device, data, engine, progress
        self.n_images, (self.H, self.W) = len(data.train_images), data.train_images.shape[-2:]
        self.pool = self.n_images * CROPS
        validate_seg(config, pool_crops=self.pool)
        check_class_weights(config, data.classes)
        self.encoder_state = encoder_state
        self.normalize = Normalizer.fit(data.train_images, device)
        self.images, self.labels = data.train_images.to(device), data.train_labels.to(device)
        self.eval_images, self.eval_labels = data.eval_images.to(device), data.eval_labels.to(device)
        self.val = None if data.val_images is None else (data.val_images.to(device), data.val_labels.to(device))
        self.sizes = config.labeled_sizes(self.pool)

    def new_record(self) -> dict:
        c = self.config
        pretrained = None if self.encoder_state is None else c.pretrain_settings()
        return new_record(c, initial_draw(c, self.pool, self.sizes[0]).tolist(), self.device, self.data.source,
                          classes=self.data.classes, provenance={"pretrained": pretrained})

    def positions(self, ids: list[int]) -> Tensor:
        return torch.tensor(ids, dtype=torch.long, device=self.device)

    def record_ids(self, positions: Tensor) -> list[int]:
        return positions.cpu().tolist()

    def train(self, r: int, labeled: Tensor):
        c = self.config
        model = build_segmentation_ensemble(self.data.num_classes, c.members, c.encoder_width, derive_seed(c, "init", r),
                                            hidden=c.head_channels).to(self.device)
        if self.encoder_state is not None:
            model.encoder.load_state_dict(self.encoder_state)
        crops = labeled.view(self.n_images, CROPS)  # (N, 12)
        used = crops.any(1).nonzero().squeeze(1)  # images holding a labelled crop
        targets = torch.where(crop_pixel_mask(crops[used], self.H, self.W), self.labels[used], IGNORE).to(torch.uint8)
        generator = torch.Generator(self.device).manual_seed(derive_seed(c, "train", r))
        stats = train_segmentation(model, self.images[used], targets, c, self.normalize, generator, self.engine,
                                   c.max_epochs, c.lr, c.min_steps, self.progress,
                                   encoder_lr_scale=c.encoder_lr_scale if self.encoder_state is not None else 1.0,
                                   val=self.val)
        return model, {"labeled_images": len(used), **stats}

    def evaluate(self, model, r: int) -> dict:
        return evaluate_segmentation(model, self.eval_images, self.eval_labels, self.normalize, self.engine,
                                     self.data.num_classes)

    def acquire(self, model, labeled: Tensor, k: int, r: int) -> Tensor:
        """Crops (k,) to label: the top k of every crop's score, labelled ones excluded, ties to
        the lowest crop index."""
        c = self.config
        if c.acquisition == "R":
            rng = torch.Generator().manual_seed(derive_seed(c, "acquire", r))
            scores = random_scores(self.pool, rng, self.device)  # (N*12,)
        else:
            scores = score_crops(model, self.images, self.normalize, self.engine, c.acquisition, c.class_weights)
        scores = scores.masked_fill(labeled, -math.inf)  # only unlabelled crops can be chosen
        return torch.sort(scores, descending=True, stable=True).indices[:k]

    def describe_selection(self, selected: Tensor) -> dict:
        """Labelled pixels per class that the selected crops reveal."""
        revealed = torch.zeros(self.pool, dtype=torch.bool, device=self.device)
        revealed[selected] = True
        pixels = self.labels[crop_pixel_mask(revealed.view(self.n_images, CROPS), self.H, self.W)].long()
        return {"selected_pixels_per_class": torch.bincount(pixels[pixels != IGNORE], minlength=self.data.num_classes).tolist()}


def run(
    config: SegConfig, results_dir: str | os.PathLike, device: str | torch.device = "cpu", data: SegData | None = None,
    data_root: str | None = None, progress: bool = True, engine: Engine | str = "auto",
) -> Path:
    """Run (or resume, or reuse) the active segmentation run of ``config``; returns its record path."""
    device = torch.device(device)

    def make_task() -> SegmentationTask:
        scenes = data if data is not None else target_data(config, data_root)
        validate_seg(config, pool_crops=len(scenes.train_images) * CROPS)  # before the encoder's pre-training
        compute = make_engine(device, engine) if isinstance(engine, str) else engine
        encoder = pretrained_encoder(config, results_dir, device, data_root, progress, compute)
        return SegmentationTask(config, device, scenes, compute, encoder, progress)

    return algorithm_1(config, results_dir, make_task, progress)
