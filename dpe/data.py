"""Datasets as uint8 tensors held in memory, and the fixed pool / validation / test split.

Fashion-MNIST is the default: it is looked for in ``data_root``, then where Debian's package
``dataset-fashion-mnist`` puts it, then downloaded by torchvision (where there is network).
CIFAR-10/100 are read from torchvision's on-disk format, ImageNet-style data from an
ImageFolder tree (``train/`` and ``val/``) resized to a fixed size.
"""

from __future__ import annotations

import gzip
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torchvision
from torch import Tensor

from dpe.errors import DataNotFound, fail

__all__ = ["DATASETS", "DEBIAN_FASHION_MNIST", "DataNotFound", "ImageData", "Split", "load_dataset", "split"]

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
FASHION_MNIST_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]


@dataclass
class ImageData:
    """A classification dataset in memory; images (N, C, H, W) uint8, labels (N,) int64."""

    name: str
    train_images: Tensor
    train_labels: Tensor
    test_images: Tensor
    test_labels: Tensor
    classes: list[str]
    crop_padding: int  # pixels of zero padding for the random-crop augmentation (0 = none)
    flip: bool  # random horizontal flips as augmentation
    source: str  # where the files were read from

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def in_channels(self) -> int:
        return self.train_images.shape[1]



def _read_idx(path: Path) -> Tensor:
    """An IDX (MNIST-format) uint8 file, gzipped or not; a truncated or foreign file is a
    DataNotFound naming it, not a traceback."""
    fix = "reinstall it ('apt-get install --reinstall dataset-fashion-mnist') or replace the file"
    try:
        with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as error:  # gzip.BadGzipFile is an OSError; a cut .gz ends in EOFError
        raise DataNotFound(f"{path} cannot be read ({error or type(error).__name__}): {fix}") from None
    if len(data) < 4 or data[:3] != b"\x00\x00\x08":
        raise DataNotFound(f"{path} is not an IDX file of unsigned bytes: {fix}")
    ndim = data[3]
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    payload = bytearray(data[4 + 4 * ndim :])
    if len(payload) != math.prod(shape):
        raise DataNotFound(f"{path} holds {len(payload)} bytes of data where its header says {math.prod(shape)} "
                           f"(truncated?): {fix}")
    return torch.frombuffer(payload, dtype=torch.uint8).view(*shape)


def _find_idx_dir(root: Path) -> Path | None:
    """The folder under ``root`` (itself, or torchvision's FashionMNIST/raw) holding all 4 files."""
    for folder in (root, root / "FashionMNIST" / "raw"):
        if all(any((folder / (f + ext)).exists() for ext in ("", ".gz")) for f in FASHION_MNIST_FILES.values()):
            return folder
    return None


def _idx_file(folder: Path, name: str) -> Path:
    plain = folder / name
    return plain if plain.exists() else folder / (name + ".gz")


def load_fashion_mnist(data_root: str | os.PathLike | None = None, download: bool = True) -> ImageData:
    """Fashion-MNIST from ``data_root`` if given (only read: a folder without the files is an
    error), else Debian's package, else torchvision's download to ``~/.cache/dpe``."""
    if data_root and not Path(data_root).is_dir():
        raise DataNotFound(f"data_root={str(data_root)!r} is invalid: no such folder; pass the folder holding the four "
                           "Fashion-MNIST IDX files, or leave --data-root out to use Debian's copy "
                           "('apt-get install dataset-fashion-mnist')")
    candidates = [Path(data_root)] if data_root else [DEBIAN_FASHION_MNIST]  # an explicit folder is never replaced
    folder = next((f for f in map(_find_idx_dir, candidates) if f is not None), None)
    if folder is None and data_root:  # a user's folder is only read: nothing is downloaded or created in it
        raise DataNotFound(f"data_root={str(data_root)!r} holds no Fashion-MNIST: put the four IDX files "
                           "(train-images-idx3-ubyte.gz, ...) there, or leave --data-root out to use Debian's copy "
                           "('apt-get install dataset-fashion-mnist') or torchvision's download")
    if folder is None and download:
        target = Path(data_root) if data_root else Path.home() / ".cache" / "dpe"
        try:
            torchvision.datasets.FashionMNIST(target, train=True, download=True)
            torchvision.datasets.FashionMNIST(target, train=False, download=True)
        except Exception as error:  # no network: fall through to the clear error below
            print(f"torchvision could not download Fashion-MNIST: {error}")
        folder = _find_idx_dir(target)
    if folder is None:
        looked = ", ".join(str(c) for c in candidates)
        raise DataNotFound(
            f"Fashion-MNIST not found (looked in {looked}); install it with "
            "'apt-get install dataset-fashion-mnist' (Debian), or pass --data-root to a folder "
            "holding train-images-idx3-ubyte.gz and the other three IDX files"
        )
    t = {key: _read_idx(_idx_file(folder, name)) for key, name in FASHION_MNIST_FILES.items()}
    return ImageData(
        name="fashion-mnist",
        train_images=t["train_images"].unsqueeze(1), train_labels=t["train_labels"].long(),
        test_images=t["test_images"].unsqueeze(1), test_labels=t["test_labels"].long(),
        classes=FASHION_MNIST_CLASSES, crop_padding=2, flip=True, source=str(folder),
    )


def _cifar_class(base: type) -> type:
    """torchvision's CIFAR reader with the md5 sums of its files set to None, which makes its
    integrity check a presence check, so that a test fixture in the real format loads through
    the same code."""
    return type(base.__name__, (base,), {
        "train_list": [[name, None] for name, _ in base.train_list],
        "test_list": [[name, None] for name, _ in base.test_list],
        "meta": {**base.meta, "md5": None},
    })


def load_cifar(name: str, data_root: str | os.PathLike | None) -> ImageData:
    """CIFAR-10 or CIFAR-100 in torchvision's on-disk format (cifar-10-batches-py/...)."""
    base = {"cifar10": torchvision.datasets.CIFAR10, "cifar100": torchvision.datasets.CIFAR100}[name]
    if not data_root:
        raise DataNotFound(f"{name} needs --data-root: a folder holding {base.base_folder}/")
    try:
        train, test = (_cifar_class(base)(str(data_root), train=t) for t in (True, False))
    except RuntimeError:
        raise DataNotFound(
            f"{name} not found under {data_root}: expected {Path(data_root) / base.base_folder}; "
            f"get it once with torchvision.datasets.{base.__name__}(root, download=True)"
        ) from None

    def as_tensors(ds):
        images = torch.from_numpy(np.ascontiguousarray(ds.data)).permute(0, 3, 1, 2).contiguous()
        return images, torch.tensor(ds.targets, dtype=torch.long)

    (xtr, ytr), (xte, yte) = as_tensors(train), as_tensors(test)
    return ImageData(name, xtr, ytr, xte, yte, list(train.classes), 4, True, str(data_root))


def load_image_folder(data_root: str | os.PathLike | None, image_size: int = 64) -> ImageData:
    """ImageNet-style ``train/<class>/*.JPEG`` and ``val/<class>/*.JPEG``, each image resized
    (shorter side) and centre-cropped to ``image_size``, all held in memory: meant for ImageNet
    subsets and downsampled ImageNet, not the full 1.28M images."""
    root = Path(data_root) if data_root else None
    if root is None or not (root / "train").is_dir() or not (root / "val").is_dir():
        raise DataNotFound(f"imagenet needs --data-root with train/ and val/ class folders; got {root}")
    from torchvision import transforms

    resize = transforms.Compose([transforms.Resize(image_size), transforms.CenterCrop(image_size), transforms.PILToTensor()])

    def read(folder: Path):
        ds = torchvision.datasets.ImageFolder(str(folder), transform=resize)
        images = torch.stack([ds[i][0] for i in range(len(ds))])
        return images, torch.tensor(ds.targets, dtype=torch.long), ds.classes

    xtr, ytr, classes = read(root / "train")
    xte, yte, _ = read(root / "val")
    return ImageData("imagenet", xtr, ytr, xte, yte, classes, image_size // 8, True, str(root))


DATASETS = ("fashion-mnist", "cifar10", "cifar100", "imagenet")


def load_dataset(name: str, data_root: str | os.PathLike | None = None) -> ImageData:
    """Load one of DATASETS; ``data_root`` as described in the module docstring."""
    if name == "fashion-mnist":
        return load_fashion_mnist(data_root)
    if name in ("cifar10", "cifar100"):
        return load_cifar(name, data_root)
    if name == "imagenet":
        return load_image_folder(data_root)
    fail("dataset", name, f"choose one of {list(DATASETS)}")


@dataclass
class Split:
    """Indices of a dataset's fixed split: ``pool`` and ``val`` index the training images,
    ``test`` the test images. The pool's labels stay hidden until the loop queries them."""

    pool: Tensor  # (P,) int64
    val: Tensor  # (V,) int64
    test: Tensor  # (T,) int64


def split(data: ImageData, pool_size: int | None, val_size: int, test_size: int | None, seed: int = 0) -> Split:
    """The same split for every run of a dataset: the validation set is drawn first, the pool
    is the first ``pool_size`` of the rest (None = all), the test set a subset (None = all)."""
    n_train, n_test = len(data.train_labels), len(data.test_labels)
    available = n_train - val_size
    if pool_size is not None and pool_size > available:
        fail("pool_size", pool_size, f"must not exceed the {available} training images left after val_size={val_size}")
    if test_size is not None and test_size > n_test:
        fail("test_size", test_size, f"must not exceed the {n_test} test images of {data.name}")
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(n_train, generator=g)
    pool = order[val_size:][: pool_size if pool_size is not None else available]
    test = torch.randperm(n_test, generator=g)[: test_size if test_size is not None else n_test]
    return Split(pool=pool.sort().values, val=order[:val_size].sort().values, test=test.sort().values)
