"""Active semantic segmentation (Sec. 6): crops as the pool, a pre-trained encoder, DPE heads.

A run is described by a ``SegConfig``; like a classification run (``dpe.active``) it writes
one JSON record named by the config's hash after every round and resumes from it. Each round
starts again from the pre-trained encoder and fresh heads, trains on the labelled crops only
(every other pixel is IGNORE), measures per-class IoU on the evaluation images, scores every
unlabelled crop by the sum of its pixels' acquisition scores and reveals the top ones.

Pre-training (the paper's Cityscapes step) trains the encoder with one head on the fully
labelled source set; it is done once per pre-training setting and cached under
``<results>/pretrained/<hash>.pt`` with a JSON note of what made it beside.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm  # the plain bar: tqdm.auto warns inside notebook kernels without ipywidgets

from dpe.acquisition import ACQUISITIONS
from dpe.active import derive_seed
from dpe.config import ConfigError, growth_sizes
from dpe.engine import Engine, make_engine
from dpe.records import device_name, load_record, provenance, record_path, save_record
from dpe.segdata import IGNORE, SegData, load_bdd100k, load_cityscapes
from dpe.segmodel import (
    CROPS, SegmentationEnsemble, build_segmentation_ensemble, confusion_matrix, crop_pixel_mask, crop_sums,
    iou_from_confusion, pixel_scores, segmentation_loss,
)
from dpe.train import Normalizer, fast_lr_scale

__all__ = ["SEG_DATASETS", "SEG_PROFILES", "SegConfig", "load_segmentation", "make_seg_config", "pretrained_encoder", "run"]

SEG_DATASETS = ("scenes", "bdd100k", "cityscapes")
PRETRAIN_SOURCES = ("scenes-source", "cityscapes", "none")
SEG_MODELS = {"dpe": "kl", "l2-ensemble": "l2", "deterministic": "l2"}


@dataclass(frozen=True)
class SegConfig:
    # data: sizes are in images; the pool holds 12 crops per image
    dataset: str = "scenes"  # scenes (synthetic, default) | bdd100k | cityscapes
    height: int = 96  # images are resized (or composed) to height x width; 3 | height, 4 | width
    width: int = 128
    pool_images: int | None = 200  # training images whose crops form the pool (None = all)
    eval_images: int | None = 100  # evaluation images (None = all)
    scene_seed: int = 0  # seed of the synthetic scenes
    # pre-training of the encoder on the source set
    pretrain: str = "scenes-source"  # scenes-source | cityscapes | none
    pretrain_images: int | None = 400
    pretrain_epochs: int = 40
    pretrain_lr: float = 0.1
    # model (Fig. 2)
    model: str = "dpe"  # dpe (KL heads) | l2-ensemble (L2 heads) | deterministic (1 head)
    encoder_width: int = 16  # channels of the encoder's first stage (64 = ResNet-18)
    head_channels: int = 64  # hidden channels of each decoder head
    members: int = 4  # E decoder heads
    beta: float = 1e-4  # KL weight on the heads (the paper's 1e-4 for segmentation)
    weight_decay: float = 5e-4  # L2 on the encoder (and on L2 heads)
    # active learning over crops
    acquisition: str = "H_ens"  # a key of dpe.acquisition.ACQUISITIONS
    class_weights: tuple[float, ...] | None = None  # w of V_w (Eq. 10), one per class
    schedule: str = "exponential"  # linear | exponential | sizes | all (one round, every crop)
    initial: int = 96  # crops labelled at random before the first round
    step: int = 96
    budget: int = 768
    sizes: tuple[int, ...] | None = None
    # training: the fast protocol (fixed steps, linear warm-up and decay), SGD with momentum
    lr: float = 0.1
    encoder_lr_scale: float = 0.0  # the pre-trained encoder learns at lr x this; 0: frozen, heads only
    momentum: float = 0.9
    batch_size: int = 8  # images per step (all heads see the same images: the encoder is shared)
    max_epochs: int = 5  # epochs over the images that hold a labelled crop
    min_steps: int = 500
    augment: bool = False  # horizontal flips; the paper trains without augmentation
    seed: int = 0
    trial: int = 0

    @property
    def regularizer(self) -> str:
        return SEG_MODELS[self.model]

    def labeled_sizes(self, pool_crops: int) -> list[int]:
        """Labelled crops at each round; ``all`` is one round with the whole pool labelled."""
        if self.schedule == "all":
            return [pool_crops]
        return growth_sizes(self.schedule, self.initial, self.step, self.budget, self.sizes)

    def to_dict(self) -> dict:
        return {"task": "segmentation", **dataclasses.asdict(self)}

    def hash(self) -> str:
        blob = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def pretrain_settings(self) -> dict:
        """What defines the pre-trained encoder (its cache key): not the run's trial or method."""
        from dpe.scenes import VERSION

        keys = ("pretrain", "height", "width", "scene_seed", "pretrain_images", "pretrain_epochs",
                "pretrain_lr", "encoder_width", "head_channels", "batch_size", "momentum", "weight_decay", "seed")
        scenes = {"scenes_version": VERSION} if self.pretrain == "scenes-source" else {}
        return {**{k: getattr(self, k) for k in keys}, **scenes}


_SMOKE = dict(height=48, width=64, pool_images=16, eval_images=8, pretrain_images=16, pretrain_epochs=2,
              encoder_width=8, members=3, initial=16, step=16, budget=64, batch_size=4, max_epochs=2, min_steps=6,
              lr=0.05)
SEG_PROFILES: dict[str, dict] = {
    "smoke": _SMOKE,  # seconds: tests and CI
    # the SegConfig defaults: a few minutes a run on a 2-core CPU; the pre-trained encoder is frozen
    # and only the heads train (500 steps a round), as fine-tuning it for long is beyond 2 cores
    "quick": {},
    # the paper's BDD100k setting (7000 images, 84k crops; 4 / 8 / 16 / 32 % of them; batch 8, beta
    # 1e-4, Cityscapes pre-training) trained with the fast protocol: for GPUs
    "paper": dict(dataset="bdd100k", height=720, width=1280, pool_images=None, eval_images=None,
                  pretrain="cityscapes", pretrain_images=None, pretrain_epochs=100, pretrain_lr=0.01,
                  encoder_width=64, members=8, initial=3360, step=3360, budget=26880, lr=0.01, encoder_lr_scale=1.0,
                  max_epochs=20, min_steps=0),
}


def _fail(name: str, value, fix: str) -> None:
    raise ConfigError(f"{name}={value!r} is invalid: {fix}")


def validate_seg(c: SegConfig, pool_crops: int | None = None) -> SegConfig:
    """Raise ConfigError for the first bad setting, naming it and the fix."""
    if c.dataset not in SEG_DATASETS:
        _fail("dataset", c.dataset, f"choose one of {list(SEG_DATASETS)}")
    if c.pretrain not in PRETRAIN_SOURCES:
        _fail("pretrain", c.pretrain, f"choose one of {list(PRETRAIN_SOURCES)}")
    if c.model not in SEG_MODELS:
        _fail("model", c.model, f"choose one of {list(SEG_MODELS)}")
    if c.acquisition not in ACQUISITIONS:
        _fail("acquisition", c.acquisition, f"choose one of {list(ACQUISITIONS)}")
    if c.acquisition == "V_w" and not c.class_weights:
        _fail("class_weights", c.class_weights, "V_w needs one weight per class (--class-weights 0,0,1,...)")
    if c.schedule not in ("linear", "exponential", "sizes", "all"):
        _fail("schedule", c.schedule, "choose one of ['linear', 'exponential', 'sizes', 'all']")
    if c.height % 24 or c.width % 32:
        _fail("height x width", (c.height, c.width), "use a height divisible by 24 and a width by 32 "
              "(3 x 4 crops, each a whole number of stride-8 cells)")
    if c.model == "deterministic" and c.members != 1:
        _fail("members", c.members, "a deterministic model has exactly 1 head")
    if c.model != "deterministic" and c.members < 2:
        _fail("members", c.members, f"model {c.model!r} is an ensemble: use --members 2 or more")
    for name in ("initial", "step", "budget", "batch_size", "max_epochs", "encoder_width", "head_channels", "pretrain_epochs"):
        if getattr(c, name) <= 0:
            _fail(name, getattr(c, name), "must be a positive integer")
    for name in ("beta", "weight_decay", "lr", "encoder_lr_scale", "momentum", "pretrain_lr", "min_steps", "seed", "trial",
                 "scene_seed"):
        if getattr(c, name) < 0:
            _fail(name, getattr(c, name), "must be zero or positive")
    if c.schedule == "sizes":
        s = c.sizes or ()
        if not s or s[0] <= 0 or any(b <= a for a, b in zip(s, s[1:])):
            _fail("sizes", c.sizes, "give strictly increasing positive labelled-crop counts")
    elif c.schedule != "all" and c.initial > c.budget:
        _fail("initial", c.initial, f"must not exceed budget={c.budget}")
    crops = c.pool_images * CROPS if c.pool_images is not None else pool_crops
    if crops is not None and c.labeled_sizes(crops)[-1] > crops:
        _fail("budget", c.labeled_sizes(crops)[-1], f"must not exceed the pool of {crops} crops ({CROPS} per image)")
    return c


def make_seg_config(profile: str = "quick", **overrides) -> SegConfig:
    """A validated SegConfig: the profile's settings, then ``overrides``."""
    if profile not in SEG_PROFILES:
        raise ConfigError(f"profile={profile!r} is invalid: choose one of {list(SEG_PROFILES)}")
    unknown = set(overrides) - {f.name for f in dataclasses.fields(SegConfig)}
    if unknown:
        raise ConfigError(f"unknown setting(s) {sorted(unknown)}; see dpe.segment.SegConfig")
    settings = {**SEG_PROFILES[profile], **overrides}
    if settings.get("model") == "deterministic" and "members" not in overrides:
        settings["members"] = 1
    for key in ("sizes", "class_weights"):
        if settings.get(key) is not None:
            settings[key] = tuple(settings[key])
    return validate_seg(SegConfig(**settings))


@functools.lru_cache(maxsize=4)
def load_segmentation(name: str, size: tuple[int, int], pool_images: int | None, eval_images: int | None,
                      scene_seed: int = 0, data_root: str | None = None) -> SegData:
    """A segmentation dataset by name: ``scenes`` / ``scenes-source`` (composed from
    Fashion-MNIST, found as in dpe.data), ``bdd100k`` or ``cityscapes`` (under data_root)."""
    if name in ("scenes", "scenes-source"):
        if pool_images is None or eval_images is None:
            raise ConfigError("synthetic scenes need a number of images: set pool_images / pretrain_images and eval_images")
        from dpe.scenes import load_scenes

        split = "target" if name == "scenes" else "source"
        return load_scenes(split, pool_images, eval_images, *size, scene_seed, data_root)
    if name == "bdd100k":
        return load_bdd100k(data_root, size, pool_images, eval_images)
    if name == "cityscapes":
        return load_cityscapes(data_root, size, pool_images, eval_images)
    raise ConfigError(f"dataset={name!r} is invalid: choose one of {list(SEG_DATASETS)}")


def _target_data(config: SegConfig, data_root: str | None) -> SegData:
    return load_segmentation(config.dataset, (config.height, config.width), config.pool_images,
                             config.eval_images, config.scene_seed, data_root)


def _source_data(config: SegConfig, data_root: str | None) -> SegData:
    """The pre-training set; synthetic source scenes keep a tenth as many for evaluation."""
    n = config.pretrain_images
    held_out = max(8, n // 10) if n is not None and config.pretrain == "scenes-source" else None
    return load_segmentation(config.pretrain, (config.height, config.width), n, held_out, config.scene_seed, data_root)


# ---------------------------------------------------------------------------------------------
# training and prediction


def train_segmentation(
    model: SegmentationEnsemble, images: torch.Tensor, targets: torch.Tensor, config: SegConfig,
    normalize: Normalizer, generator: torch.Generator, engine: Engine, epochs: int, lr: float,
    min_steps: int = 0, progress: bool = True, encoder_lr_scale: float = 1.0,
) -> dict:
    """Train in place on uint8 images (n, 3, H, W) and label maps (n, H, W) (IGNORE where
    unlabelled), on the model's device: the fast protocol's ``max(min_steps, epochs * n //
    batch)`` SGD steps, lr warm-up over the first 15 % then linear decay to 0; the encoder's lr
    is ``encoder_lr_scale`` times the heads'. At 0 the encoder is frozen (eval mode): its
    features are computed once and only the heads train on them, many times cheaper a step."""
    start, n = time.perf_counter(), len(images)
    batch = min(config.batch_size, n)
    total = max(min_steps, epochs * (n // batch))
    frozen = encoder_lr_scale == 0
    groups = [{"params": model.heads.parameters(), "scale": 1.0}]
    if not frozen:
        groups.append({"params": model.encoder.parameters(), "scale": encoder_lr_scale})
    optimizer = engine.sgd(groups, lr=lr, momentum=config.momentum)
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
            scale = fast_lr_scale(step, total)
            for group in optimizer.param_groups:
                group["lr"] = lr * scale * group["scale"]
            with engine.autocast(images.device):
                logits = model.decode(x, y.shape[-2:]) if frozen else model(x)  # (E, B, K, H, W)
            loss = segmentation_loss(model, logits.float(), y, config.regularizer, config.beta, config.weight_decay)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    final = loss.item()
    if not math.isfinite(final):
        raise FloatingPointError(f"segmentation training diverged (loss {final}) on {n} images; lower --lr or --beta")
    return {"steps": total, "final_loss": final, "train_seconds": time.perf_counter() - start}


def predict_chunks(model: SegmentationEnsemble, images: torch.Tensor, normalize: Normalizer, engine: Engine, chunk: int = 16):
    """Float32 member probabilities (E, b, K, H, W), ``chunk`` images at a time, in eval and
    inference mode."""
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode(), engine.backend_flags():
            for part in images.split(chunk):
                with engine.autocast(images.device):
                    logits = model(normalize(part))
                yield logits.float().softmax(2)
    finally:
        model.train(was_training)


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


# ---------------------------------------------------------------------------------------------
# pre-training


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
        return torch.load(path, map_location="cpu", weights_only=True)
    device = torch.device(device)
    engine = engine or make_engine(device)
    source = _source_data(config, data_root)
    start = time.perf_counter()
    seeds_from = config_for_pretraining(config)
    model = build_segmentation_ensemble(source.num_classes, 1, config.encoder_width,
                                        seed=derive_seed(seeds_from, "pretrain"),
                                        hidden=config.head_channels).to(device)
    mean, std = source.mean_std()
    normalize = Normalizer(mean.to(device), std.to(device))
    generator = torch.Generator(device).manual_seed(derive_seed(seeds_from, "pretrain-order"))
    pretrain = dataclasses.replace(config, model="deterministic", members=1)
    stats = train_segmentation(model, source.train_images.to(device), source.train_labels.to(device), pretrain,
                               normalize, generator, engine, config.pretrain_epochs, config.pretrain_lr, progress=progress)
    metrics = evaluate_segmentation(model, source.eval_images.to(device), source.eval_labels.to(device), normalize,
                                    engine, source.num_classes)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.cpu() for k, v in model.encoder.state_dict().items()}
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
    save_record(note, {
        "settings": settings, "source": source.source, "source_images": len(source.train_images),
        "source_eval_miou": metrics["miou"], "source_eval_iou": metrics["iou"], **stats,
        "seconds": time.perf_counter() - start, "provenance": provenance(device),
    })
    return state


def config_for_pretraining(config: SegConfig) -> SegConfig:
    """The config whose seed derives the pre-training seeds: trial 0, whatever the run's trial."""
    return dataclasses.replace(config, trial=0)


# ---------------------------------------------------------------------------------------------
# the active-learning loop over crops (Algorithm 1)


def run(
    config: SegConfig, results_dir: str | os.PathLike, device: str | torch.device = "cpu", data: SegData | None = None,
    data_root: str | None = None, progress: bool = True, engine: Engine | str = "auto",
) -> Path:
    """Run (or resume, or reuse) the active segmentation run of ``config``; returns its record
    path. Record entries index crops: crop 12 i + c is crop c of pool image i."""
    path = record_path(results_dir, config)
    record = load_record(path, config)
    if record is not None and record["finished"]:
        return path
    data = data if data is not None else _target_data(config, data_root)
    n_images, (H, W) = len(data.train_images), data.train_images.shape[-2:]
    validate_seg(config, pool_crops=n_images * CROPS)
    device = torch.device(device)
    engine = make_engine(device, engine) if isinstance(engine, str) else engine
    encoder_state = pretrained_encoder(config, results_dir, device, data_root, progress, engine)
    mean, std = data.mean_std()
    normalize = Normalizer(mean.to(device), std.to(device))
    images, labels = data.train_images.to(device), data.train_labels.to(device)
    eval_images, eval_labels = data.eval_images.to(device), data.eval_labels.to(device)
    K, sizes = data.num_classes, config.labeled_sizes(n_images * CROPS)

    if record is None:
        g = torch.Generator().manual_seed(derive_seed(config, "initial"))
        initial = torch.randperm(n_images * CROPS, generator=g)[: sizes[0]].sort().values
        record = {
            "config": config.to_dict(), "config_hash": config.hash(), "classes": data.classes,
            "initial": initial.tolist(), "rounds": [], "finished": False,
            "provenance": {**provenance(device), "data_source": data.source, "wall_seconds": 0.0, "sessions": [],
                           "pretrained": None if encoder_state is None else config.pretrain_settings()},
        }
    labeled = torch.zeros(n_images * CROPS, dtype=torch.bool, device=device)  # (N*12,)
    for chosen in [record["initial"]] + [r["selected"] for r in record["rounds"]]:
        labeled[torch.tensor(chosen, dtype=torch.long, device=device)] = True
    record["provenance"]["sessions"].append({
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "device": device_name(device),
        "first_round": len(record["rounds"]), "engine": engine.describe(),
    })

    bar = tqdm(range(len(record["rounds"]), len(sizes)), desc=f"seg {config.model} {config.acquisition} trial {config.trial}",
               disable=not progress, unit="round")
    for r in bar:
        start = time.perf_counter()
        if int(labeled.sum()) != sizes[r]:
            raise RuntimeError(f"round {r}: {int(labeled.sum())} labelled crops, expected {sizes[r]}")
        model = build_segmentation_ensemble(K, config.members, config.encoder_width, derive_seed(config, "init", r),
                                            hidden=config.head_channels).to(device)
        if encoder_state is not None:
            model.encoder.load_state_dict(encoder_state)
        crops = labeled.view(n_images, CROPS)  # (N, 12)
        used = crops.any(1).nonzero().squeeze(1)  # images holding a labelled crop
        targets = torch.where(crop_pixel_mask(crops[used], H, W), labels[used], IGNORE).to(torch.uint8)
        generator = torch.Generator(device).manual_seed(derive_seed(config, "train", r))
        stats = train_segmentation(model, images[used], targets, config, normalize, generator, engine,
                                   config.max_epochs, config.lr, config.min_steps, progress,
                                   encoder_lr_scale=config.encoder_lr_scale if encoder_state is not None else 1.0)
        metrics = evaluate_segmentation(model, eval_images, eval_labels, normalize, engine, K)

        selected, score_seconds = torch.zeros(0, dtype=torch.long, device=device), 0.0
        if r + 1 < len(sizes):
            t0 = time.perf_counter()
            if config.acquisition == "R":
                rng = torch.Generator().manual_seed(derive_seed(config, "acquire", r))
                scores = torch.rand(n_images * CROPS, generator=rng, dtype=torch.float64).to(device)
            else:
                scores = score_crops(model, images, normalize, engine, config.acquisition, config.class_weights)
            scores = scores.masked_fill(labeled, -math.inf)  # only unlabelled crops can be chosen
            top = torch.sort(scores, descending=True, stable=True).indices[: sizes[r + 1] - sizes[r]]
            selected = top.sort().values
            labeled[selected] = True
            score_seconds = time.perf_counter() - t0
        revealed = torch.zeros(n_images * CROPS, dtype=torch.bool, device=device)
        revealed[selected] = True
        revealed_pixels = labels[crop_pixel_mask(revealed.view(n_images, CROPS), H, W)].long()
        record["rounds"].append({
            "round": r, "labeled": sizes[r], "labeled_images": len(used), **metrics,
            "selected": selected.cpu().tolist(),
            "selected_pixels_per_class": torch.bincount(revealed_pixels[revealed_pixels != IGNORE], minlength=K).tolist(),
            **stats, "score_seconds": score_seconds,
        })
        record["provenance"]["wall_seconds"] += time.perf_counter() - start
        record["finished"] = r + 1 == len(sizes)
        save_record(path, record)
        bar.set_postfix(crops=sizes[r], miou=f"{metrics['miou']:.3f}")
    bar.close()
    return path
