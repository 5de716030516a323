"""Predictions of a trained ensemble: member probabilities in chunks, penultimate features,
pool scores and the calibration metrics of the mean prediction."""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import Tensor

from dpe.acquisition import gradient_embedding, score
from dpe.engine import Engine, make_engine
from dpe.ensemble import Ensemble
from dpe.images import Normalizer

__all__ = ["CALIBRATION_BINS", "POOL_EMBEDDINGS", "evaluate", "inference", "pool_features", "pool_gradient_embeddings", "predict_probs", "score_pool"]

CALIBRATION_BINS = 10  # equal-width confidence bins of the reliability diagram and ECE


@contextlib.contextmanager
def inference(ensemble: Ensemble, engine: Engine, dropout: bool = False):
    """Eval mode (dropout left on when ``dropout``, for MC dropout), inference mode and the
    engine's backend flags; the ensemble's training mode is restored afterwards."""
    was_training = ensemble.training
    ensemble.eval()
    for module in ensemble.modules():
        if isinstance(module, torch.nn.Dropout):
            module.train(dropout)
    try:
        with torch.inference_mode(), engine.backend_flags():
            yield
    finally:
        ensemble.train(was_training)


def _chunked_probs(
    ensemble: Ensemble, images: Tensor, normalize: Normalizer, engine: Engine, mc_samples: int = 0,
) -> Iterator[Tensor]:
    """Float32 softmax outputs (E, n, K) of every member, ``engine.eval_batch`` images at a time,
    in eval mode and inference mode. With ``mc_samples`` = T > 0 (MC dropout), dropout stays on,
    batch norm uses its running statistics, and each chunk yields T stochastic passes of the
    single network, (T, n, K), in the place of the members; the draws come from the global RNG."""
    if mc_samples and ensemble.members != 1:
        raise ValueError(f"MC dropout samples one network; this ensemble has {ensemble.members} members")
    with inference(ensemble, engine, dropout=bool(mc_samples)):
        for chunk in images.split(engine.eval_batch):
            n = len(chunk)
            if engine.cudnn_benchmark and n < engine.eval_batch:  # one shape: cuDNN tunes once
                chunk = torch.cat([chunk, chunk.new_zeros(engine.eval_batch - n, *chunk.shape[1:])])
            with engine.autocast(images.device):
                x = normalize(chunk)
                if mc_samples:  # (T, n, K): T passes, each with its own dropout masks
                    logits = torch.cat([ensemble(x)[:, :n] for _ in range(mc_samples)])
                else:
                    logits = ensemble(x)[:, :n]  # (E, n, K); eval BN is per image
            yield logits.float().softmax(-1)


def predict_probs(
    ensemble: Ensemble, images: Tensor, normalize: Normalizer, engine: Engine | None = None, mc_samples: int = 0,
) -> Tensor:
    """Softmax outputs (E, N, K), float32, of every member on uint8 images (N, C, H, W); with
    ``mc_samples`` = T, (T, N, K) from T MC-dropout passes of a single network."""
    engine = engine or make_engine(images.device)
    return torch.cat(list(_chunked_probs(ensemble, images, normalize, engine, mc_samples)), 1)


def pool_features(ensemble: Ensemble, images: Tensor, normalize: Normalizer, engine: Engine | None = None) -> Tensor:
    """Penultimate features (N, E*D), float32, of uint8 images (N, C, H, W): every member's
    (eval mode, no dropout) side by side, so squared distances add up over members."""
    engine = engine or make_engine(images.device)
    with inference(ensemble, engine):
        parts = [ensemble.features(normalize(chunk)).float() for chunk in images.split(engine.eval_batch)]
    feats = torch.cat(parts, 1)  # (E, N, D)
    return feats.transpose(0, 1).flatten(1)


def pool_gradient_embeddings(ensemble: Ensemble, images: Tensor, normalize: Normalizer, engine: Engine | None = None) -> Tensor:
    """BADGE's gradient embeddings (N, E*K*D), float64, of uint8 images (N, C, H, W): every
    member's last-layer cross-entropy gradient at the ensemble's predicted label
    (``dpe.acquisition.gradient_embedding``), from its penultimate features and softmax."""
    engine = engine or make_engine(images.device)
    parts = []
    with inference(ensemble, engine):
        for chunk in images.split(engine.eval_batch):
            x = normalize(chunk)
            features = ensemble.features(x).float()  # (E, n, D), as pool_features computes them
            with engine.autocast(images.device):  # the softmax as predict_probs computes it
                probs = ensemble(x).float().softmax(-1)  # (E, n, K)
            parts.append(gradient_embedding(features, probs))
    return torch.cat(parts)


POOL_EMBEDDINGS = {"features": pool_features, "gradients": pool_gradient_embeddings}  # what a set choice reads


def score_pool(
    ensemble: Ensemble,
    images: Tensor,
    normalize: Normalizer,
    acquisition: str,
    engine: Engine | None = None,
    weights: tuple[float, ...] | None = None,
    mc_samples: int = 0,
) -> Tensor:
    """Acquisition scores (N,), float64, of uint8 pool images (N, C, H, W), on their device.

    The pool is predicted in chunks and each chunk is scored at once, so only (N,) scores are
    ever held, never the (E, N, K) probabilities. Random scores ("R") need no prediction and
    are drawn by the caller. With ``mc_samples`` = T the T MC-dropout passes stand for the members."""
    if acquisition == "R":
        raise ValueError("random acquisition needs no prediction: draw its scores directly")
    engine = engine or make_engine(images.device)
    chunks = _chunked_probs(ensemble, images, normalize, engine, mc_samples)
    return torch.cat([score(acquisition, p, weights=weights) for p in chunks])


def evaluate(probs: Tensor, labels: Tensor, bins: int = CALIBRATION_BINS) -> dict:
    """Ensemble accuracy, NLL and expected calibration error of the mean prediction, its
    reliability diagram (``bins`` equal-width confidence bins), and each member's accuracy."""
    mean = probs.double().mean(0)  # (N, K)
    confidence, prediction = mean.max(-1)  # (N,), (N,)
    correct = (prediction == labels).double()
    which = (confidence * bins).long().clamp(max=bins - 1)  # (N,) bin index
    count = torch.bincount(which, minlength=bins).double()
    bin_accuracy = torch.bincount(which, correct, minlength=bins) / count.clamp_min(1)
    bin_confidence = torch.bincount(which, confidence, minlength=bins) / count.clamp_min(1)
    ece = ((count / len(labels)) * (bin_accuracy - bin_confidence).abs()).sum()
    return {
        "accuracy": correct.mean().item(),
        "nll": -mean.gather(1, labels[:, None]).clamp_min(1e-12).log().mean().item(),
        "ece": ece.item(),
        "reliability": {
            "count": count.long().tolist(),
            "accuracy": bin_accuracy.tolist(),
            "confidence": bin_confidence.tolist(),
        },
        "member_accuracy": (probs.argmax(-1) == labels).double().mean(1).tolist(),
    }
