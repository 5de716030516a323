"""Single-member networks: the CIFAR pre-activation ResNet-18 and torchvision's ResNet-18.

``dpe.ensemble`` packs E of these into one vectorised module. Every member is initialised the
same way whatever the regulariser, so the deterministic model, the L2 ensemble and the DPE
start from the same distribution and differ only in how they are trained:

- conv weights: He et al. (fan-out) normal, N(0, 2 / (n_out k_h k_w)) -- the paper's prior;
- batch-norm weight ~ N(1, 0.01), bias ~ N(0, 0.01) -- drawn from the paper's prior, because
  members that all start at exactly 1 and 0 have zero spread and make Eq. 7 infinite;
- the classifier: PyTorch's default uniform init, which keeps the first logits near zero.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
import torchvision
from torch import Tensor, nn

__all__ = ["ARCHITECTURES", "PreActResNet18", "build_member", "init_like_prior"]

BN_PRIOR_VAR = 0.01  # Sec. 3.2: sigma_p^2 of batch-norm weights and biases


class PreActBlock(nn.Module):
    """Pre-activation basic block (He et al., "Identity Mappings in Deep Residual Networks")."""

    def __init__(self, in_planes: int, planes: int, stride: int, dropout: float = 0.0):
        super().__init__()
        self.dropout = nn.Dropout(dropout) if dropout else None  # between the convs, as in wide ResNets
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        needs_projection = stride != 1 or in_planes != planes
        self.shortcut = nn.Conv2d(in_planes, planes, 1, stride, bias=False) if needs_projection else None

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(x))
        shortcut = x if self.shortcut is None else self.shortcut(out)
        out = F.relu(self.bn2(self.conv1(out)))
        if self.dropout is not None:
            out = self.dropout(out)
        out = self.conv2(out)
        return out + shortcut


class PreActResNet18(nn.Module):
    """The CIFAR ResNet-18 variant of He et al. [29]: 3x3 stem, four stages of two
    pre-activation blocks with widths (1, 2, 4, 8) x ``width``, global average pooling.

    ``dropout`` > 0 adds dropout between the two convs of every block and before the classifier:
    the network of the MC-dropout baseline (Gal et al., 2017), which keeps it on at prediction."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3, width: int = 64, dropout: float = 0.0):
        super().__init__()
        widths = [width, 2 * width, 4 * width, 8 * width]
        self.stem = nn.Conv2d(in_channels, width, 3, 1, 1, bias=False)
        blocks, in_planes = [], width
        for stage, planes in enumerate(widths):
            for i in range(2):
                stride = 2 if stage > 0 and i == 0 else 1
                blocks.append(PreActBlock(in_planes, planes, stride, dropout))
                in_planes = planes
        self.blocks = nn.Sequential(*blocks)
        self.bn = nn.BatchNorm2d(in_planes)
        self.dropout = nn.Dropout(dropout) if dropout else None
        self.fc = nn.Linear(in_planes, num_classes)

    def features(self, x: Tensor) -> Tensor:
        """Penultimate features (B, 8 * width) after the final BN-ReLU and average pooling."""
        out = F.relu(self.bn(self.blocks(self.stem(x))))
        return torch.flatten(F.adaptive_avg_pool2d(out, 1), 1)

    def forward(self, x: Tensor) -> Tensor:
        features = self.features(x)
        return self.fc(features if self.dropout is None else self.dropout(features))


def torchvision_resnet18(num_classes: int = 1000, in_channels: int = 3, width: int = 64) -> nn.Module:
    """torchvision's ImageNet ResNet-18 [28] (7x7 stem, max-pool); ``width`` must be 64."""
    if width != 64:
        raise ValueError(f"resnet18 has a fixed width of 64; got width={width} (use preact-resnet18)")
    net = torchvision.models.resnet18(weights=None, num_classes=num_classes)
    if in_channels != 3:
        net.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
    return net


ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {
    "preact-resnet18": PreActResNet18,
    "resnet18": torchvision_resnet18,
}


@torch.no_grad()
def init_like_prior(net: nn.Module, generator: torch.Generator) -> nn.Module:
    """Draw conv weights and batch-norm parameters from the paper's prior (Sec. 3.2)."""
    for module in net.modules():
        if isinstance(module, nn.Conv2d):
            fan_out = module.out_channels * module.kernel_size[0] * module.kernel_size[1]
            module.weight.normal_(0.0, (2.0 / fan_out) ** 0.5, generator=generator)
        elif isinstance(module, nn.BatchNorm2d):
            module.weight.normal_(1.0, BN_PRIOR_VAR**0.5, generator=generator)
            module.bias.normal_(0.0, BN_PRIOR_VAR**0.5, generator=generator)
    return net


def build_member(arch: str, num_classes: int, in_channels: int, width: int, seed: int, dropout: float = 0.0) -> nn.Module:
    """One member network, initialised from ``seed`` alone (independent of the global RNG)."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {sorted(ARCHITECTURES)}")
    if dropout and arch != "preact-resnet18":
        raise ValueError(f"dropout is built into preact-resnet18 only, not {arch!r}")
    extra = {"dropout": dropout} if dropout else {}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # PyTorch's default Linear init uses the global RNG
        net = ARCHITECTURES[arch](num_classes=num_classes, in_channels=in_channels, width=width, **extra)
    return init_like_prior(net, torch.Generator().manual_seed(seed))
