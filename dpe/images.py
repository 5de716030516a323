"""uint8 image batches on the device: mean-std normalisation and the training augmentations."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["Normalizer", "RAND_AUGMENT_GROUP", "augment", "rand_augment"]


@dataclass
class Normalizer:
    """uint8 images -> float, mean-std normalised per channel."""

    mean: Tensor  # (C,)
    std: Tensor  # (C,)

    @classmethod
    def fit(cls, images: Tensor, device: torch.device | str = "cpu") -> "Normalizer":
        """The per-channel mean and std of uint8 ``images`` (N, C, H, W), in [0, 1] units
        (computed in float64), kept in float32 on ``device``."""
        x = images.double() / 255
        return cls(x.mean((0, 2, 3)).float().to(device), x.std((0, 2, 3)).float().to(device))

    def __call__(self, images: Tensor) -> Tensor:  # (..., C, H, W) uint8 -> mean's dtype (float32)
        shape = (-1, 1, 1)
        return (images.to(self.mean.dtype) / 255 - self.mean.view(shape)) / self.std.view(shape)


def augment(x: Tensor, padding: int, flip: bool, generator: torch.Generator) -> Tensor:
    """Random crop with zero padding and random horizontal flip, one draw per image, done in
    batch by index arithmetic: x (M, C, H, W) -> (M, C, H, W)."""
    M, C, H, W = x.shape
    device = x.device
    rows = torch.arange(H, device=device).expand(M, H)  # (M, H)
    cols = torch.arange(W, device=device).expand(M, W)  # (M, W)
    if padding:
        x = F.pad(x, (padding,) * 4)
        rows = rows + torch.randint(0, 2 * padding + 1, (M, 1), generator=generator, device=device)
        cols = cols + torch.randint(0, 2 * padding + 1, (M, 1), generator=generator, device=device)
    if flip:
        flipped = torch.rand(M, 1, generator=generator, device=device) < 0.5
        cols = torch.where(flipped, cols.flip(1), cols)
    batch = torch.arange(M, device=device)[:, None, None, None]
    channel = torch.arange(C, device=device)[None, :, None, None]
    return x[batch, channel, rows[:, None, :, None], cols[:, None, None, :]]


RAND_AUGMENT_GROUP = 8  # images that share one RandAugment draw (ops and magnitudes)


def rand_augment(x: Tensor, generator: torch.Generator, group: int = RAND_AUGMENT_GROUP) -> Tensor:
    """torchvision's RandAugment (2 ops, magnitude 9; Cubuk et al., 2020), the augmentation of
    the strongly regularised baseline of Munjal et al. (2022): uint8 x (M, C, H, W) -> same.

    One draw of ops and magnitudes per ``group`` consecutive images (a per-image loop costs
    ~3 ms an image on a CPU, 30x the rest of a quick training step). The draws come from
    ``generator`` through a forked global RNG, so runs stay reproducible."""
    from torchvision.transforms import v2

    seed = int(torch.randint(2**62, (), generator=generator, device=generator.device))
    policy = v2.RandAugment(num_ops=2, magnitude=9)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return torch.cat([policy(part) for part in x.split(group)])
