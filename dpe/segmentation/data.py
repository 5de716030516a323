"""Segmentation datasets in memory: BDD100k and Cityscapes from their released layouts.

Both hold the 19 Cityscapes "train id" classes (BDD100k adopted them); void pixels carry
``IGNORE`` (255), as in both releases. Images are resized to a fixed ``(height, width)``
(bilinear; labels nearest) and held as uint8 tensors, so choose a size that fits in memory:
7000 BDD100k images at 360 x 640 take 4.8 GB. The default segmentation data is synthetic and
lives in ``dpe.segmentation.scenes``.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from dpe.errors import DataNotFound, fail

__all__ = ["CITYSCAPES_CLASSES", "IGNORE", "SEG_DATASETS", "SegData", "load_bdd100k", "load_cityscapes"]

IGNORE = 255  # label of void / unlabelled pixels: no loss, no metric
SEG_DATASETS = ("scenes", "bdd100k", "cityscapes")

CITYSCAPES_CLASSES = [
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
    "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train",
    "motorcycle", "bicycle",
]


@dataclass
class SegData:
    """A segmentation dataset: ``train`` images form the active-learning pool (or the
    pre-training set), ``eval`` images measure IoU. Images (N, 3, H, W) uint8, labels (N, H, W)
    uint8 with class indices and IGNORE."""

    name: str
    train_images: Tensor
    train_labels: Tensor
    eval_images: Tensor
    eval_labels: Tensor
    classes: list[str]
    source: str  # where it came from (a folder, or how it was generated)
    val_images: Tensor | None = None  # held out of the training images (``hold_out``) to validate on
    val_labels: Tensor | None = None

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def hold_out(self, n: int) -> "SegData":
        """The same data with the last ``n`` training images moved to a validation set."""
        if not 0 < n < len(self.train_images):
            fail("val_images", n, f"hold out between 1 and {len(self.train_images) - 1} of the {len(self.train_images)} training images")
        return dataclasses.replace(self, train_images=self.train_images[:-n], train_labels=self.train_labels[:-n],
                                   val_images=self.train_images[-n:], val_labels=self.train_labels[-n:])

    def pixels_per_class(self) -> Tensor:
        """Labelled pixels of each class (K,) in the training images (Fig. 4)."""
        labels = self.train_labels.flatten().long()
        return torch.bincount(labels[labels != IGNORE], minlength=self.num_classes)


def _read_pair(image_path: Path, label: np.ndarray | Path, size: tuple[int, int]) -> tuple[Tensor, Tensor]:
    """One image (3, H, W) and label map (H, W), resized to ``size`` = (H, W)."""
    from PIL import Image

    height, width = size
    image = Image.open(image_path).convert("RGB").resize((width, height), Image.BILINEAR)
    if isinstance(label, Path):
        label = np.asarray(Image.open(label))
    label = Image.fromarray(label.astype(np.uint8)).resize((width, height), Image.NEAREST)
    return (torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1),
            torch.from_numpy(np.asarray(label).copy()))


def _stack(pairs: list[tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor]:
    return torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs])


def _bdd_pairs(root: Path, split: str) -> list[tuple[Path, Path]] | None:
    """(image, train-id label) paths of one split in either BDD100k segmentation release."""
    layouts = [
        # bdd100k_seg.zip (2018, the paper's 7000 / 1000 images): seg/images, seg/labels/*_train_id.png
        (root / "seg" / "images" / split, root / "seg" / "labels" / split, "{}_train_id.png"),
        # bdd100k_sem_seg_labels_trainval.zip + 10k images (2020): labels/sem_seg/masks/*.png
        (root / "images" / "10k" / split, root / "labels" / "sem_seg" / "masks" / split, "{}.png"),
    ]
    for images, labels, pattern in layouts:
        if images.is_dir() and labels.is_dir():
            found = sorted(images.glob("*.jpg"))
            return [(p, labels / pattern.format(p.stem)) for p in found]
    return None


def load_bdd100k(
    data_root: str | os.PathLike | None, size: tuple[int, int], max_train: int | None = None, max_eval: int | None = None,
) -> SegData:
    """BDD100k's semantic segmentation: ``train`` is the pool, ``val`` the evaluation set.
    ``data_root`` is the folder holding ``seg/`` (or ``images/10k`` and ``labels/sem_seg``)."""
    root = Path(data_root) if data_root else None
    for candidate in ([root, root / "bdd100k"] if root else []):
        train, val = _bdd_pairs(candidate, "train"), _bdd_pairs(candidate, "val")
        if train and val:
            break
    else:
        raise DataNotFound(
            f"BDD100k segmentation not found under {root}: pass --data-root to the folder holding "
            "seg/images/{train,val}/*.jpg and seg/labels/{train,val}/*_train_id.png (bdd100k_seg.zip), "
            "or images/10k/{train,val} and labels/sem_seg/masks/{train,val} (the 2020 release)"
        )
    missing = [str(label) for _, label in train[:max_train] + val[:max_eval] if not label.exists()]
    if missing:
        raise DataNotFound(f"BDD100k: {len(missing)} label file(s) missing, e.g. {missing[0]}")
    xtr, ytr = _stack([_read_pair(i, l, size) for i, l in train[:max_train]])
    xev, yev = _stack([_read_pair(i, l, size) for i, l in val[:max_eval]])
    return SegData("bdd100k", xtr, ytr, xev, yev, list(CITYSCAPES_CLASSES), str(candidate))


def _train_id_lookup() -> np.ndarray:
    """Cityscapes label id -> train id (IGNORE for the classes not trained on), from
    torchvision's class table."""
    from torchvision.datasets import Cityscapes

    lookup = np.full(256, IGNORE, dtype=np.uint8)
    for c in Cityscapes.classes:
        if 0 <= c.id < 256 and 0 <= c.train_id < 255:
            lookup[c.id] = c.train_id
    return lookup


def load_cityscapes(
    data_root: str | os.PathLike | None, size: tuple[int, int], max_train: int | None = None, max_eval: int | None = None,
) -> SegData:
    """Cityscapes fine annotations (``leftImg8bit/`` and ``gtFine/`` under ``data_root``),
    read through torchvision's Cityscapes dataset; label ids are mapped to the 19 train ids."""
    from PIL import Image
    from torchvision.datasets import Cityscapes

    try:
        splits = [Cityscapes(str(data_root), split=s, mode="fine", target_type="semantic") for s in ("train", "val")]
    except (RuntimeError, TypeError):
        raise DataNotFound(
            f"Cityscapes not found under {data_root}: pass --data-root to the folder holding "
            "leftImg8bit/{train,val}/<city>/*_leftImg8bit.png and gtFine/{train,val}/<city>/*_gtFine_labelIds.png"
        ) from None
    lookup = _train_id_lookup()

    def read(ds, limit):
        n = len(ds.images) if limit is None else min(limit, len(ds.images))
        return _stack([
            _read_pair(Path(ds.images[i]), lookup[np.asarray(Image.open(ds.targets[i][0]))], size)
            for i in range(n)
        ])

    (xtr, ytr), (xev, yev) = read(splits[0], max_train), read(splits[1], max_eval)
    return SegData("cityscapes", xtr, ytr, xev, yev, list(CITYSCAPES_CLASSES), str(data_root))
