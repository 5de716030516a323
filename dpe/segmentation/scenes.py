"""The default segmentation data: street-like scenes composed from real Fashion-MNIST items.

What is synthetic, plainly: a scene is an H x W RGB picture with a sky above a random horizon
and a textured ground below; real Fashion-MNIST items (28 x 28 greyscale) are scaled with
perspective (larger lower down), given a random colour and pasted on the ground, later ones
occluding earlier ones. Six Fashion-MNIST classes of distinct shape are used (``ITEMS``; all
ten are too fine a task for a network a 2-core CPU trains in minutes). Labels: 0 sky, 1 ground,
2 + j for the j-th class of ITEMS, on the pixels where the item's ink exceeds
``INK_THRESHOLD``. Item classes follow ``TARGET_FREQUENCY``, skewed on purpose: bags (4 % of
items) and ankle boots (3 %) are as rare as BDD100k's motorcycle and rider, while sky and ground
take most pixels, as road and sky do there.

Three sets, from disjoint items: the ``target`` pool (the first half of Fashion-MNIST's training
items), the ``target`` evaluation scenes (its test items), and the ``source`` set for
pre-training (the second half of the training items) in another style -- a sunset sky,
checkered grass, uniform class frequencies, items coloured alike -- standing in for the paper's
Cityscapes.
Scenes are deterministic from their seed and written once to a cache (``DPE_CACHE``, else
``~/.cache/dpe``).
"""

from __future__ import annotations

import colorsys
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from dpe.data import FASHION_MNIST_CLASSES, load_fashion_mnist
from dpe.records import write_atomically
from dpe.segmentation.data import SegData

__all__ = ["ITEMS", "SCENE_CLASSES", "TARGET_FREQUENCY", "compose_scenes", "load_scenes"]

ITEMS = [0, 1, 3, 7, 8, 9]  # Fashion-MNIST classes used: six of distinct shape, learnable at CPU scale
SCENE_CLASSES = ["sky", "ground"] + [FASHION_MNIST_CLASSES[k] for k in ITEMS]
TARGET_FREQUENCY = np.array([  # share of items of each class of ITEMS in target scenes
    0.33, 0.25, 0.18, 0.17,  # T-shirt/top, Trouser, Dress, Sneaker
    0.04, 0.03,  # Bag, Ankle boot: the rare classes
])
VERSION = 4  # bump when the scenes change: it keys the scene cache and the pre-trained encoders
INK_THRESHOLD = 0.2  # an item pixel is labelled with its class where ink / 255 exceeds this
ITEMS_PER_SCENE = 5  # mean number of items (1 + Poisson(4)) at 96 x 128, scaled with the area


def _background(style: str, rng: np.random.Generator, height: int, width: int, horizon: int) -> np.ndarray:
    """Sky and ground (H, W, 3) float in [0, 255]."""
    y = np.arange(height, dtype=np.float64)[:, None, None] / height  # (H, 1, 1)
    x = np.arange(width, dtype=np.float64)[None, :, None] / width  # (1, W, 1)
    if style == "target":  # blue sky, asphalt with lengthwise texture
        sky = np.array([40.0, 90.0, 200.0]) + y * np.array([120.0, 110.0, 40.0])
        phase = rng.uniform(0, 2 * np.pi)
        ground = np.array([95.0, 95.0, 100.0]) + 12 * np.sin(40 * x + 9 * y + phase)
        noise = 10
    else:  # source: sunset sky, grass in a checker texture
        sky = np.array([230.0, 120.0, 70.0]) + y * np.array([10.0, 80.0, 90.0])
        checker = ((np.floor(x * width / 6) + np.floor(y * height / 6)) % 2) * 2 - 1
        ground = np.array([60.0, 130.0, 50.0]) + 14 * checker
        noise = 16
    rows = np.arange(height)[:, None, None]
    picture = np.where(rows < horizon, sky + 0 * x, ground + 0 * y)  # (H, W, 3)
    return picture + rng.normal(0, noise, picture.shape)


def _colour(rng: np.random.Generator) -> np.ndarray:
    """An item's RGB colour (3,): a random vivid hue, in both styles (the objects look alike in
    source and target, as cars do in Cityscapes and BDD100k; the scenery differs)."""
    return 255 * np.array(colorsys.hsv_to_rgb(rng.uniform(), rng.uniform(0.6, 1.0), rng.uniform(0.8, 1.0)))


def compose_scenes(
    items: torch.Tensor, item_labels: torch.Tensor, count: int, height: int, width: int,
    style: str, frequency: np.ndarray, seed: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` scenes from Fashion-MNIST ``items`` (N, 28, 28) uint8 with ``item_labels``
    (N,), drawing the classes of ITEMS with probabilities ``frequency``: images (count, 3, H, W)
    uint8 and labels (count, H, W) uint8."""
    if style not in ("target", "source"):
        raise ValueError(f"style={style!r} is invalid: use 'target' or 'source'")
    rng = np.random.default_rng(seed)
    by_class = [np.flatnonzero(item_labels.numpy() == k) for k in ITEMS]
    if any(len(ids) == 0 for ids, p in zip(by_class, frequency) if p > 0):
        raise ValueError("the Fashion-MNIST items given lack a class the scenes need")
    images = np.empty((count, height, width, 3), dtype=np.uint8)
    labels = np.empty((count, height, width), dtype=np.uint8)
    mean_items = ITEMS_PER_SCENE * height * width / (96 * 128)
    for i in range(count):
        horizon = int(rng.uniform(0.25, 0.5) * height)
        picture = _background(style, rng, height, width, horizon)
        label = np.where(np.arange(height)[:, None] < horizon, 0, 1).repeat(width, 1).astype(np.uint8)
        for _ in range(1 + rng.poisson(mean_items - 1)):
            k = rng.choice(len(ITEMS), p=frequency)
            item = items[rng.choice(by_class[k])]
            bottom = int(rng.integers(horizon + 2, height + 1))  # where the item stands
            depth = (bottom - horizon) / max(1, height - horizon)  # 0 at the horizon, 1 in front
            size = max(8, int(height * (0.25 + 0.35 * depth) * rng.uniform(0.85, 1.15)))
            size = min(size, bottom, width)
            ink = F.interpolate(item[None, None].float(), size=(size, size), mode="bilinear",
                                antialias=True, align_corners=False)[0, 0].numpy() / 255  # (s, s)
            top, left = bottom - size, int(rng.integers(0, width - size + 1))
            mask = ink > INK_THRESHOLD
            region = picture[top:bottom, left : left + size]
            region[mask] = ink[mask, None] * _colour(rng) + rng.normal(0, 6, (int(mask.sum()), 3))
            label[top:bottom, left : left + size][mask] = 2 + k
        images[i] = picture.clip(0, 255).round().astype(np.uint8)
        labels[i] = label
    return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(labels)


def _cache_dir() -> Path:
    return Path(os.environ.get("DPE_CACHE") or Path.home() / ".cache" / "dpe") / "scenes"


def load_scenes(
    split: str, pool_images: int, eval_images: int, height: int, width: int, seed: int = 0,
    data_root: str | os.PathLike | None = None, cache_dir: str | os.PathLike | None = None,
) -> SegData:
    """``split`` = "target" (the active-learning pool and its evaluation scenes) or "source"
    (the pre-training set): ``pool_images`` training scenes and ``eval_images`` evaluation
    scenes, read from the cache or composed once and cached."""
    if split not in ("target", "source"):
        raise ValueError(f"split={split!r} is invalid: use 'target' or 'source'")
    fmnist = load_fashion_mnist(data_root)
    half = len(fmnist.train_labels) // 2
    train_items = slice(0, half) if split == "target" else slice(half, None)
    frequency = TARGET_FREQUENCY if split == "target" else np.full(len(ITEMS), 1 / len(ITEMS))
    # the cache key covers the settings and the items' bytes (a test fixture is not the real data)
    items_digest = hashlib.sha256(fmnist.train_images.numpy().tobytes() + fmnist.test_images.numpy().tobytes()).hexdigest()
    key = json.dumps([split, pool_images, eval_images, height, width, seed, items_digest[:16], VERSION])
    name = hashlib.sha256(key.encode()).hexdigest()[:16]
    path = Path(cache_dir) if cache_dir else _cache_dir()
    path = path / f"{split}-{height}x{width}-{name}.pt"
    if path.exists():
        return SegData(**torch.load(path, weights_only=False))
    xtr, ytr = compose_scenes(fmnist.train_images[train_items, 0], fmnist.train_labels[train_items],
                              pool_images, height, width, split, frequency, seed)
    # evaluation scenes: the target style from the test items (for source: a few held-out scenes)
    eval_items, eval_labels = (fmnist.test_images[:, 0], fmnist.test_labels) if split == "target" else (
        fmnist.train_images[train_items, 0], fmnist.train_labels[train_items])
    xev, yev = compose_scenes(eval_items, eval_labels, eval_images, height, width, split, frequency, seed + 1)
    data = dict(name=f"scenes-{split}", train_images=xtr, train_labels=ytr, eval_images=xev, eval_labels=yev,
                classes=list(SCENE_CLASSES), source=f"scenes v{VERSION} composed from Fashion-MNIST at {fmnist.source} (seed {seed})")
    write_atomically(path, lambda f: torch.save(data, f), mode="wb")
    return SegData(**data)
