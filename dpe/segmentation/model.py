"""Active segmentation's model (Fig. 2): one encoder, an ensemble of decoder heads, queried by crops.

- Encoder: torchvision's ResNet-18 (optionally narrower) with its last two stages dilated
  instead of strided, so features come out at 1/8 of the input (output stride 8). Trained with
  L2, run once per image.
- Heads: E decoders, each a 1x1 conv to 64 channels, ReLU, and a 1x1 conv to K classes, packed
  into one vectorised module (``dpe.ensemble.Ensemble``) and trained with the KL penalty (DPE)
  or L2 (L2 ensemble). Their logits are upsampled bilinearly to the input's size.
- A crop's acquisition score is the sum of its pixels' scores (Sec. 6); an image is cut into a
  4 x 3 grid: 3 rows of 4 crops, crop c = 4 * row + column.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
import torchvision
from torch import Tensor, nn

from dpe.acquisition import score
from dpe.ensemble import Ensemble
from dpe.models import init_like_prior
from dpe.regularizers import kl_penalty, l2_penalty
from dpe.segmentation.data import IGNORE

__all__ = [
    "GRID", "SegmentationEnsemble", "build_segmentation_ensemble", "confusion_matrix", "crop_pixel_mask",
    "crop_sums", "dilated_resnet18", "iou_from_confusion", "pixel_scores", "segmentation_loss",
]

GRID = (3, 4)  # rows x columns of crops per image (the paper's "4 x 3 grid", Fig. 3)
CROPS = GRID[0] * GRID[1]


class _NarrowResNet(torchvision.models.ResNet):
    """torchvision's ResNet-18 with stage widths (1, 2, 4, 8) x ``width`` instead of 64, ..."""

    def __init__(self, width: int):
        self._width = width
        super().__init__(torchvision.models.resnet.BasicBlock, [2, 2, 2, 2])

    def _make_layer(self, block, planes, blocks, stride=1, dilate=False):
        if planes == 64:  # the first stage: the stem's output is `width` channels wide
            self.inplanes = self._width
        return super()._make_layer(block, planes * self._width // 64, blocks, stride, dilate)


def _dilate(stage: nn.Sequential, dilation: int) -> None:
    """Turn a strided stage of BasicBlocks into a dilated one, by torchvision's rule for
    ``replace_stride_with_dilation`` (which its BasicBlock refuses): the stride goes, the first
    block keeps the previous stage's dilation and the later blocks take ``dilation``."""
    previous = dilation // 2
    for i, block in enumerate(stage):
        d = previous if i == 0 else dilation
        for conv in (block.conv1, block.conv2):
            conv.stride, conv.dilation, conv.padding = (1, 1), (d, d), (d, d)
        if block.downsample is not None:
            block.downsample[0].stride = (1, 1)


class DilatedResNet18(nn.Module):
    """ResNet-18 trunk, output stride 8: (B, C, H, W) -> (B, 8 * width, H/8, W/8)."""

    def __init__(self, in_channels: int = 3, width: int = 64):
        super().__init__()
        net = _NarrowResNet(width)
        net.conv1 = nn.Conv2d(in_channels, width, 7, 2, 3, bias=False)
        net.bn1 = nn.BatchNorm2d(width)
        _dilate(net.layer3, 2)
        _dilate(net.layer4, 4)
        self.stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)
        self.stages = nn.Sequential(net.layer1, net.layer2, net.layer3, net.layer4)
        self.out_channels = 8 * width

    def forward(self, x: Tensor) -> Tensor:
        return self.stages(self.stem(x))


def dilated_resnet18(in_channels: int = 3, width: int = 64, seed: int = 0) -> DilatedResNet18:
    """The encoder, initialised from ``seed`` alone (torchvision's He fan-out init)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return DilatedResNet18(in_channels, width)


def decoder_head(in_channels: int, hidden: int, num_classes: int, seed: int) -> nn.Module:
    """One member's decoder: 1x1 conv to ``hidden``, ReLU, 1x1 conv to K; weights drawn from the
    paper's prior (He fan-out), biases from PyTorch's default."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        head = nn.Sequential(nn.Conv2d(in_channels, hidden, 1), nn.ReLU(), nn.Conv2d(hidden, num_classes, 1))
    return init_like_prior(head, torch.Generator().manual_seed(seed))


class SegmentationEnsemble(nn.Module):
    """Encoder once per image, E heads vectorised: images (B, C, H, W) -> logits (E, B, K, H, W)."""

    def __init__(self, encoder: DilatedResNet18, heads: Ensemble):
        super().__init__()
        self.encoder, self.heads = encoder, heads

    @property
    def members(self) -> int:
        return self.heads.members

    def forward(self, x: Tensor) -> Tensor:
        return self.decode(self.encoder(x), x.shape[-2:])

    def decode(self, features: Tensor, size: tuple[int, int]) -> Tensor:
        """Encoder features (B, C, H/8, W/8) -> every head's logits (E, B, K, H, W), upsampled."""
        logits = self.heads(features)  # (E, B, K, H/8, W/8)
        E, B, K = logits.shape[:3]
        up = F.interpolate(logits.flatten(0, 1), size=tuple(size), mode="bilinear", align_corners=False)
        return up.view(E, B, K, *size)


def build_segmentation_ensemble(
    num_classes: int, members: int, width: int, seed: int, hidden: int = 64, in_channels: int = 3,
) -> SegmentationEnsemble:
    """A fresh encoder and E heads (head e from seed ``seed * 1000 + e``)."""
    encoder = dilated_resnet18(in_channels, width, seed)
    heads = [decoder_head(encoder.out_channels, hidden, num_classes, seed * 1000 + e) for e in range(members)]
    return SegmentationEnsemble(encoder, Ensemble(heads, channels_last=False))


def segmentation_loss(
    model: SegmentationEnsemble, logits: Tensor, targets: Tensor, regularizer: str, beta: float, weight_decay: float,
) -> Tensor:
    """Eq. 8 per pixel: the sum over members of each member's mean cross-entropy over the
    *labelled* pixels (IGNORE pixels give no loss and no gradient), plus L2 on the encoder and
    beta x KL (``regularizer="kl"``, DPE) or L2 (``"l2"``) on the heads.
    logits (E, B, K, H, W), targets (B, H, W) int64."""
    E = logits.shape[0]
    labelled = (targets != IGNORE).sum().clamp_min(1)
    per_member = targets.expand(E, *targets.shape).flatten(0, 1)  # (E*B, H, W)
    nll = F.cross_entropy(logits.flatten(0, 1), per_member, ignore_index=IGNORE, reduction="sum") / labelled
    loss = nll + weight_decay / 2 * l2_penalty(model.encoder)
    if regularizer == "kl":
        return loss + beta * kl_penalty(model.heads)
    return loss + weight_decay / 2 * l2_penalty(model.heads)


def confusion_matrix(predicted: Tensor, target: Tensor, num_classes: int) -> Tensor:
    """(K, K) int64 pixel counts, rows the true class, columns the predicted one; IGNORE
    pixels are left out."""
    keep = target != IGNORE
    pairs = target[keep].long() * num_classes + predicted[keep].long()
    return torch.bincount(pairs, minlength=num_classes**2).view(num_classes, num_classes)


def iou_from_confusion(confusion: Tensor) -> Tensor:
    """Per-class IoU (K,) float64 = TP / (TP + FP + FN); NaN for a class that is neither in
    the labels nor predicted. The mIoU is the mean over the classes that are not NaN."""
    confusion = confusion.double()
    tp = confusion.diagonal()
    union = confusion.sum(0) + confusion.sum(1) - tp
    return torch.where(union > 0, tp / union.clamp_min(1), torch.full_like(tp, float("nan")))


def pixel_scores(probs: Tensor, acquisition: str, weights=None) -> Tensor:
    """Per-pixel acquisition scores (B, H, W), float64, from member probabilities
    (E, B, K, H, W)."""
    E, B, K, H, W = probs.shape
    flat = probs.permute(0, 1, 3, 4, 2).reshape(E, B * H * W, K)  # (E, N, K) with N = B*H*W
    return score(acquisition, flat, weights=weights).view(B, H, W)


def crop_sums(scores: Tensor) -> Tensor:
    """A crop's score is the sum of its pixels' scores: (B, H, W) -> (B, 12), crop 4*row + col.
    H must be a multiple of 3 and W of 4."""
    B, H, W = scores.shape
    rows, cols = GRID
    if H % rows or W % cols:
        raise ValueError(f"images of {H} x {W} do not split into a {cols} x {rows} grid: use a height "
                         f"divisible by {rows} and a width divisible by {cols}")
    return scores.view(B, rows, H // rows, cols, W // cols).sum((2, 4)).flatten(1)


def crop_pixel_mask(crops: Tensor, height: int, width: int) -> Tensor:
    """Boolean crops (B, 12) -> pixels (B, H, W): True on every pixel of a True crop."""
    B = crops.shape[0]
    rows, cols = GRID
    grid = crops.view(B, rows, 1, cols, 1).expand(B, rows, height // rows, cols, width // cols)
    return grid.reshape(B, height, width)
