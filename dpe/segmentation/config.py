"""The segmentation run config: every setting of one active segmentation run (Sec. 6).

Its hash names the run's record, as for classification (``dpe.config.Config``); profiles are in
``dpe.profiles.SEG_PROFILES``.
"""

from __future__ import annotations

from dataclasses import dataclass

from dpe.acquisition import ACQUISITIONS
from dpe.config import PROTOCOLS, SCHEDULES, Config, build, check_choice, check_signs, check_sizes, growth_sizes
from dpe.errors import fail
from dpe.profiles import SEG_PROFILES
from dpe.segmentation.data import SEG_DATASETS
from dpe.segmentation.model import CROPS
from dpe.segmentation.scenes import VERSION

__all__ = ["PRETRAIN_SOURCES", "SEG_DATASETS", "SEG_MODELS", "SEG_PROFILES", "SegConfig", "make_seg_config", "validate_seg"]

PRETRAIN_SOURCES = ("scenes-source", "cityscapes", "none")
SEG_MODELS = {"dpe": "kl", "l2-ensemble": "l2", "deterministic": "l2"}
SEG_SCHEDULES = (*SCHEDULES, "all")  # all: one round with every crop labelled (the upper bound)
SEG_OPTIMIZERS = ("sgd", "adam")


@dataclass(frozen=True)
class SegConfig(Config):
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
    # training: the fast protocol (fixed steps, linear warm-up and decay) or the paper's (epochs
    # until the validation mIoU stops improving, dpe.train.Plateau), SGD with momentum or Adam
    protocol: str = "fast"  # fast | paper
    optimizer: str = "sgd"  # sgd (with momentum) | adam (the paper's lr of 1e-4 is on Adam's scale)
    patience: int = 10  # paper protocol: epochs without a gain in validation mIoU before the lr drops
    val_images: int = 0  # paper protocol: training images held out of the pool to validate on
    lr: float = 0.1
    encoder_lr_scale: float = 1.0  # the pre-trained encoder learns at lr x this (fine-tuned, as in the
    # paper); 0: frozen, only the heads train -- at quick that leaves the upper bound on every crop
    # within a point of 96 random crops (the features, not the labels, limit it)
    momentum: float = 0.9
    batch_size: int = 8  # images per step (all heads see the same images: the encoder is shared)
    max_epochs: int = 10  # epochs over the images that hold a labelled crop
    min_steps: int = 1000  # at 500 a round, twice the training still raised the upper bound by
    # +1.4 mIoU points and DPE + R at 768 crops by +1.2 (3 and 2 trials): see the chapter's check
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
        return {"task": "segmentation", **super().to_dict()}

    def pretrain_settings(self) -> dict:
        """What defines the pre-trained encoder (its cache key): not the run's trial or method."""
        keys = ("pretrain", "height", "width", "scene_seed", "pretrain_images", "pretrain_epochs",
                "pretrain_lr", "encoder_width", "head_channels", "batch_size", "momentum", "weight_decay", "seed")
        scenes = {"scenes_version": VERSION} if self.pretrain == "scenes-source" else {}
        return {**{k: getattr(self, k) for k in keys}, **scenes}


def validate_seg(c: SegConfig, pool_crops: int | None = None) -> SegConfig:
    """Raise ConfigError for the first bad setting, naming it and the fix."""
    for name, choices in (("dataset", SEG_DATASETS), ("pretrain", PRETRAIN_SOURCES), ("model", SEG_MODELS),
                          ("acquisition", ACQUISITIONS), ("schedule", SEG_SCHEDULES),
                          ("protocol", PROTOCOLS), ("optimizer", SEG_OPTIMIZERS)):
        check_choice(c, name, choices)
    if c.acquisition == "V_w" and not c.class_weights:
        fail("class_weights", c.class_weights, "V_w needs one weight per class (--class-weights 0,0,1,...)")
    if not c.height > 0 or not c.width > 0:
        fail("height x width", (c.height, c.width), "give positive sizes divisible by 24 and 32 (e.g. 96 x 128)")
    if c.height % 24 or c.width % 32:
        fail("height x width", (c.height, c.width), "use a height divisible by 24 and a width by 32 "
              "(3 x 4 crops, each a whole number of stride-8 cells)")
    if c.model == "deterministic" and c.members != 1:
        fail("members", c.members, "a deterministic model has exactly 1 head")
    if c.model != "deterministic" and c.members < 2:
        fail("members", c.members, f"model {c.model!r} is an ensemble: use --members 2 or more")
    check_signs(c, positive=("height", "width", "initial", "step", "budget", "batch_size", "max_epochs", "encoder_width",
                             "head_channels", "pretrain_epochs", "patience"),
                nonnegative=("beta", "weight_decay", "lr", "encoder_lr_scale", "momentum", "pretrain_lr", "min_steps", "seed",
                             "trial", "scene_seed", "val_images"))
    if c.protocol == "paper" and c.val_images == 0:
        fail("val_images", c.val_images, "the paper protocol stops on validation mIoU: hold out images with --val-images 50")
    check_sizes(c, unit="crops")
    crops = c.pool_images * CROPS if c.pool_images is not None else pool_crops
    if crops is not None and c.labeled_sizes(crops)[-1] > crops:
        fail("budget", c.labeled_sizes(crops)[-1], f"must not exceed the pool of {crops} crops ({CROPS} per image)")
    return c


def make_seg_config(profile: str = "quick", **overrides) -> SegConfig:
    """A validated SegConfig: the profile's settings (``dpe.profiles.SEG_PROFILES``), then
    ``overrides``; a deterministic model gets 1 head unless ``members`` is given."""
    defaults = {"members": 1} if overrides.get("model", SEG_PROFILES.get(profile, {}).get("model")) == "deterministic" else {}
    return validate_seg(build(SegConfig, SEG_PROFILES, profile, overrides, defaults))
