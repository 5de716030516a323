"""A segmentation dataset by name, and the two sets a run uses: its own (pool, validation,
evaluation) and the encoder's pre-training set. The real datasets are read by
``dpe.segmentation.data``, the synthetic scenes composed by ``dpe.segmentation.scenes``."""

from __future__ import annotations

import functools

from dpe.errors import fail
from dpe.segmentation.data import SEG_DATASETS, SegData, load_bdd100k, load_cityscapes
from dpe.segmentation.scenes import load_scenes

__all__ = ["load_segmentation", "source_data", "target_data"]


@functools.lru_cache(maxsize=4)
def load_segmentation(name: str, size: tuple[int, int], pool_images: int | None, eval_images: int | None,
                      scene_seed: int = 0, data_root: str | None = None) -> SegData:
    """A segmentation dataset by name: ``scenes`` / ``scenes-source`` (composed from
    Fashion-MNIST, found as in dpe.data), ``bdd100k`` or ``cityscapes`` (under data_root)."""
    if name in ("scenes", "scenes-source"):
        if pool_images is None or eval_images is None:
            fail("pool_images", pool_images, "synthetic scenes need a number of images: set pool_images / pretrain_images and eval_images")
        split = "target" if name == "scenes" else "source"
        return load_scenes(split, pool_images, eval_images, *size, scene_seed, data_root)
    if name == "bdd100k":
        return load_bdd100k(data_root, size, pool_images, eval_images)
    if name == "cityscapes":
        return load_cityscapes(data_root, size, pool_images, eval_images)
    fail("dataset", name, f"choose one of {list(SEG_DATASETS)}")


def target_data(config, data_root: str | None) -> SegData:
    """The run's own dataset: its pool and evaluation images, and ``config.val_images`` more
    training images held out to validate on (the last ones; the pool's images are the same with
    or without them, as scenes are composed one after another from one seed)."""
    pool = config.pool_images
    count = pool + config.val_images if pool is not None else None
    data = load_segmentation(config.dataset, (config.height, config.width), count, config.eval_images,
                             config.scene_seed, data_root)
    return data.hold_out(config.val_images) if config.val_images else data


def source_data(config, data_root: str | None) -> SegData:
    """The pre-training set; synthetic source scenes keep a tenth as many for evaluation."""
    n = config.pretrain_images
    held_out = max(8, n // 10) if n is not None and config.pretrain == "scenes-source" else None
    return load_segmentation(config.pretrain, (config.height, config.width), n, held_out, config.scene_seed, data_root)
