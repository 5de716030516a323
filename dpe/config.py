"""Run configs: every setting that defines one active-learning run, checked, hashed.

``Config`` is what every run config shares (``RunConfig`` here, ``SegConfig`` in
``dpe.segmentation``): its hash names the run's record, ``fail`` is the one error style
(``name=value is invalid: fix``), ``check_*`` are the shared checks and ``build`` makes a
validated config from a profile (``dpe.profiles``) and overrides. A classification run is fully
described by a ``RunConfig``; fields added later count in its hash only when set away from their
default (``LATE_FIELDS``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import json
from dataclasses import dataclass, field

from dpe.acquisition import ACQUISITIONS, SET_ACQUISITIONS
from dpe.data import DATASETS
from dpe.errors import ConfigError, fail
from dpe.models import ARCHITECTURES
from dpe.profiles import PROFILES, ROUND_SCALE, round_scale

__all__ = [
    "Config", "ConfigError", "LATE_FIELDS", "MODELS", "PROFILES", "PROTOCOLS", "ROUND_SCALE", "RunConfig", "SCHEDULES",
    "build", "check_choice", "check_class_weights", "check_signs", "check_sizes", "fail", "growth_sizes", "make_config", "round_scale", "validate",
]

MODELS = {  # model name -> regulariser; "deterministic" and "mc-dropout" are a single member
    "dpe": "kl",
    "l2-ensemble": "l2",
    "deterministic": "l2",
    "mc-dropout": "l2",  # one network with dropout, mc_samples stochastic passes at prediction
}
SINGLE_MEMBER_MODELS = ("deterministic", "mc-dropout")
MC_DROPOUT_RATE = 0.25  # make_config's dropout for model="mc-dropout" when none is given
SCHEDULES = ("linear", "exponential", "sizes")
PROTOCOLS = ("paper", "fast")


def growth_sizes(schedule: str, initial: int, step: int, budget: int, sizes=None) -> list[int]:
    """Labelled-set sizes per round (Algorithm 1): ``linear`` adds ``step`` each round,
    ``exponential`` doubles the step each round, ``sizes`` gives the list; never past ``budget``."""
    if schedule == "sizes":
        return list(sizes or ())
    out, b = [initial], step
    while out[-1] < budget:
        out.append(min(out[-1] + b, budget))
        if schedule == "exponential":
            b *= 2
    return out


class Config:
    """What every run config (a frozen dataclass) shares: a canonical dict and its hash."""

    TUPLE_FIELDS = ("sizes", "class_weights")  # given as lists, stored as tuples (hashable)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def hash(self) -> str:
        """16 hex digits of the SHA-256 of the config's canonical JSON: the record's name."""
        blob = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def check_signs(c: Config, positive: tuple[str, ...], nonnegative: tuple[str, ...]) -> None:
    """Fail on the first field of ``positive`` that is not above 0, or of ``nonnegative`` below 0
    (either not a finite number: NaN and inf), and on a momentum of 1 or more."""
    for name in (*positive, *nonnegative):
        if not math.isfinite(getattr(c, name)):  # NaN passes "< 0": refused here, before any training
            fail(name, getattr(c, name), "must be a finite number")
    for name in positive:
        if getattr(c, name) <= 0:
            fail(name, getattr(c, name), "must be a positive integer")
    for name in nonnegative:
        if getattr(c, name) < 0:
            fail(name, getattr(c, name), "must be zero or positive")
    if getattr(c, "momentum", 0) >= 1:
        fail("momentum", c.momentum, "must be below 1 (the paper's: 0.9)")


def check_choice(c: Config, name: str, choices) -> None:
    """Fail unless field ``name`` of ``c`` is one of ``choices``."""
    if getattr(c, name) not in choices:
        fail(name, getattr(c, name), f"choose one of {list(choices)}")


def check_class_weights(c: Config, classes: list[str]) -> None:
    """Fail unless ``c.class_weights`` (if set) has one weight per class of the loaded data."""
    if c.class_weights is not None and len(c.class_weights) != len(classes):
        fail("class_weights", c.class_weights, f"give one weight per class: {len(classes)} ({', '.join(map(str, classes))})")


def check_sizes(c: Config, unit: str) -> None:
    """Fail on a growth schedule that cannot be run: ``sizes`` not increasing, ``initial`` past
    ``budget`` (``unit``: what is counted, "images" or "crops")."""
    if c.schedule == "sizes":
        s = c.sizes or ()
        if not s or s[0] <= 0 or any(b <= a for a, b in zip(s, s[1:])):
            fail("sizes", c.sizes, f"give strictly increasing positive labelled-{unit[:-1]} counts")
    elif c.schedule != "all" and c.initial > c.budget:
        fail("initial", c.initial, f"must not exceed budget={c.budget}")


def build(cls: type, profiles: dict[str, dict], profile: str, overrides: dict, defaults: dict | None = None):
    """``cls(**settings)`` (not yet validated): the profile's settings, then ``defaults`` (what
    the profile implies for these overrides), then ``overrides``; list values of TUPLE_FIELDS
    become tuples. Fails on an unknown profile or setting."""
    if profile not in profiles:
        fail("profile", profile, f"choose one of {list(profiles)}")
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = set(overrides) - fields
    if unknown:
        raise ConfigError(f"unknown setting(s) {sorted(unknown)}; see {cls.__module__}.{cls.__name__}")
    settings = {**profiles[profile], **(defaults or {}), **overrides}
    for key in cls.TUPLE_FIELDS:
        if settings.get(key) is not None:
            settings[key] = tuple(settings[key])
    return cls(**settings)


@dataclass(frozen=True)
class RunConfig(Config):  # a field added later must join LATE_FIELDS, or every record's name changes
    # data
    dataset: str = "fashion-mnist"  # one of dpe.data.DATASETS
    pool_size: int | None = None  # images in the unlabelled pool (None = all not held out for val)
    val_size: int = 5000  # held-out labelled images for the paper protocol's patience
    test_size: int | None = None  # evaluation images from the test split (None = all)
    # model
    model: str = "dpe"  # dpe | l2-ensemble | deterministic
    arch: str = "preact-resnet18"  # preact-resnet18 (CIFAR-style) | resnet18 (torchvision, ImageNet)
    width: int = 64  # channels of the first stage of preact-resnet18 (64 = the paper's)
    members: int = 8  # E, ensemble members (1 for deterministic)
    dropout: float = 0.0  # dropout rate inside every residual block and before the classifier
    mc_samples: int = 16  # T, stochastic passes of model="mc-dropout" at prediction and scoring
    beta: float = 1e-5  # weight of the KL penalty (Eq. 8), per mini-batch
    weight_decay: float = 5e-4  # L2 coefficient of l2-ensemble and deterministic
    # active learning (Algorithm 1)
    acquisition: str = "H_ens"  # a key of dpe.acquisition.ACQUISITIONS
    class_weights: tuple[float, ...] | None = None  # w of V_w (Eq. 10), one per class
    schedule: str = "exponential"  # linear (fixed b) | exponential (b doubles) | sizes (explicit)
    initial: int = 2000  # randomly labelled images before the first round
    step: int = 2000  # b, labels acquired after the first round (doubles if exponential)
    budget: int = 16000  # B, labelled images at the last round
    sizes: tuple[int, ...] | None = None  # labelled-set sizes per round, for schedule="sizes"
    # training protocol
    protocol: str = "paper"  # paper (patience on val accuracy) | fast (fixed short schedule)
    lr: float = 0.1  # SGD learning rate (the peak of the fast protocol's ramp)
    momentum: float = 0.9  # SGD momentum
    batch_size: int = 32  # images per member per step
    max_epochs: int = 400  # paper: upper limit; fast: the fixed number of epochs
    patience: int = 25  # paper: epochs without val gain before lr x 0.1, then 2x before stopping
    min_steps: int = 0  # fast: at least this many steps per round, however few labels
    augment: bool = True  # random crop with padding + horizontal flip, where the data allows
    strong_augment: bool = False  # also RandAugment (2 ops, magnitude 9) before crop and flip
    shared_batches: bool = False  # True: all members see the same mini-batches and augmentations
    # repetition
    seed: int = 0  # base seed; with trial, fixes the initial set, init and data order
    trial: int = 0  # index of the repetition
    extra: dict = field(default_factory=dict, compare=False, hash=False)  # free-form notes, unhashed

    @property
    def regularizer(self) -> str:
        return MODELS[self.model]

    def labeled_sizes(self) -> list[int]:
        """Labelled-set size at each round of Algorithm 1."""
        return growth_sizes(self.schedule, self.initial, self.step, self.budget, self.sizes)

    def to_dict(self) -> dict:
        """Every field but ``extra``; fields of LATE_FIELDS only when they differ from their
        default, so records written before those fields existed keep their names and contents."""
        d = super().to_dict()
        d.pop("extra")
        for name, default in LATE_FIELDS.items():
            if d[name] == default:
                d.pop(name)
        return d


# Fields added after the first records were committed, with their defaults: to_dict (and hence
# the hash and the record) leaves them out while at these values. Never change these defaults.
LATE_FIELDS = {"dropout": 0.0, "mc_samples": 16, "strong_augment": False}

def validate(c: RunConfig, pool_available: int | None = None) -> RunConfig:
    """Raise ConfigError for the first bad setting, naming it and the fix."""
    for name, choices in (("dataset", DATASETS), ("model", MODELS), ("arch", sorted(ARCHITECTURES)),
                          ("acquisition", [*ACQUISITIONS, *SET_ACQUISITIONS]), ("schedule", SCHEDULES), ("protocol", PROTOCOLS)):
        check_choice(c, name, choices)
    if c.acquisition == "V_w" and not c.class_weights:
        fail("class_weights", c.class_weights, "V_w needs one weight per class (--class-weights 0,0,1,...)")
    if not 0 <= c.dropout < 1:
        fail("dropout", c.dropout, "must be in [0, 1)")
    if c.model == "mc-dropout" and c.dropout == 0:
        fail("dropout", c.dropout, "MC dropout needs a dropout rate above 0 (--dropout 0.25)")
    if c.dropout > 0 and c.arch != "preact-resnet18":
        fail("dropout", c.dropout, "dropout is built into preact-resnet18 only (--arch preact-resnet18)")
    if c.model == "mc-dropout" and c.mc_samples < 2:
        fail("mc_samples", c.mc_samples, "MC dropout needs at least 2 stochastic passes")
    if c.model in SINGLE_MEMBER_MODELS and c.members != 1:
        fail("members", c.members, f"model {c.model!r} is a single network: use --members 1")
    if c.model not in SINGLE_MEMBER_MODELS and c.members < 2:
        fail("members", c.members, f"model {c.model!r} is an ensemble: use --members 2 or more")
    check_signs(c, positive=("initial", "step", "budget", "batch_size", "max_epochs", "width"),
                nonnegative=("val_size", "min_steps", "patience", "trial", "seed", "beta", "weight_decay", "lr", "momentum"))
    check_sizes(c, unit="images")
    if c.pool_size is not None and c.pool_size <= 0:
        fail("pool_size", c.pool_size, "must be positive (or None for all)")
    pool = c.pool_size if c.pool_size is not None else pool_available
    if pool is not None and c.labeled_sizes()[-1] > pool:
        fail("budget", c.labeled_sizes()[-1], f"must not exceed the pool of {pool} images")
    return c


def make_config(profile: str = "quick", **overrides) -> RunConfig:
    """A validated RunConfig: the profile's defaults, then ``overrides``. A deterministic model
    gets 1 member unless ``members`` is given explicitly, MC dropout its rate, and a model of
    ``ROUND_SCALE`` its longer round."""
    model = overrides.get("model", RunConfig.model)
    defaults = {key: PROFILES.get(profile, {}).get(key, getattr(RunConfig, key)) * round_scale(profile, model)
                for key in ("max_epochs", "min_steps")}
    if model in SINGLE_MEMBER_MODELS:
        defaults["members"] = 1
    if model == "mc-dropout":
        defaults["dropout"] = MC_DROPOUT_RATE
    return validate(build(RunConfig, PROFILES, profile, overrides, defaults))
