"""Active semantic segmentation (Sec. 6): crops as the pool, a pre-trained encoder, an ensemble
of decoder heads. ``config`` (SegConfig), ``data`` (BDD100k, Cityscapes, the synthetic
``scenes``), ``model`` (encoder, heads, crops, IoU), ``train`` (training, prediction,
pre-training) and ``loop`` (Algorithm 1 over crops)."""

from dpe.segmentation.config import SEG_PROFILES, SegConfig, make_seg_config
from dpe.segmentation.data import SEG_DATASETS
from dpe.segmentation.datasets import load_segmentation
from dpe.segmentation.loop import run
from dpe.segmentation.train import pretrained_encoder

__all__ = ["SEG_DATASETS", "SEG_PROFILES", "SegConfig", "load_segmentation", "make_seg_config", "pretrained_encoder", "run"]
