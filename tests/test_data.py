"""Dataset loaders on tiny fixtures written in each dataset's real on-disk format."""

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dpe import data as D
from dpe.images import Normalizer
from tests.conftest import class_images, write_fashion_mnist


def test_fashion_mnist_from_data_root_gz(fmnist_root):
    ds = D.load_dataset("fashion-mnist", fmnist_root)
    assert ds.train_images.shape == (900, 1, 28, 28) and ds.train_images.dtype == torch.uint8
    assert ds.test_images.shape == (500, 1, 28, 28)
    assert ds.train_labels.tolist()[:12] == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    assert ds.num_classes == 10 and ds.source == str(fmnist_root)
    expected = class_images(np.arange(900) % 10, seed=1)[..., 0]
    np.testing.assert_array_equal(ds.train_images[:, 0].numpy(), expected)


def test_fashion_mnist_in_torchvision_layout_uncompressed(tmp_path):
    raw = write_fashion_mnist(tmp_path / "FashionMNIST" / "raw", n_train=30, n_test=20, gz=False)
    ds = D.load_fashion_mnist(tmp_path, download=False)
    assert ds.source == str(raw) and len(ds.train_labels) == 30


def test_missing_fashion_mnist_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(D, "DEBIAN_FASHION_MNIST", tmp_path / "nowhere")
    with pytest.raises(D.DataNotFound, match="apt-get install dataset-fashion-mnist"):
        D.load_fashion_mnist(tmp_path / "empty", download=False)


def test_a_user_data_root_without_the_files_is_only_read(tmp_path):
    """--data-root pointing at an empty folder: one error naming it, and nothing made inside it."""
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(D.DataNotFound, match=r"holds no Fashion-MNIST"):
        D.load_fashion_mnist(empty)
    assert list(empty.iterdir()) == []


@pytest.mark.parametrize("damage, problem", [
    (lambda b: b[: len(b) // 2], "cannot be read"),  # a .gz cut in half
    (lambda b: b"not gzip at all", "cannot be read"),
])
def test_a_damaged_data_file_is_named(tmp_path, damage, problem):
    write_fashion_mnist(tmp_path, n_train=30, n_test=20)
    target = tmp_path / "train-images-idx3-ubyte.gz"
    target.write_bytes(damage(target.read_bytes()))
    with pytest.raises(D.DataNotFound, match=rf"^{target} {problem}"):
        D.load_fashion_mnist(tmp_path, download=False)


def test_a_foreign_or_short_idx_file_is_named(tmp_path):
    write_fashion_mnist(tmp_path, n_train=30, n_test=20, gz=False)
    labels = tmp_path / "t10k-labels-idx1-ubyte"
    labels.write_bytes(labels.read_bytes()[:-3])  # header says 20 labels, 17 remain
    with pytest.raises(D.DataNotFound, match=rf"^{labels} holds 17 bytes of data where its header says 20"):
        D.load_fashion_mnist(tmp_path, download=False)
    labels.write_bytes(b"PK\x03\x04 a zip file")
    with pytest.raises(D.DataNotFound, match="is not an IDX file"):
        D.load_fashion_mnist(tmp_path, download=False)


def _write_cifar(root: Path, name: str, n_per_batch: int = 6) -> None:
    """cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta} or cifar-100-python/{train,test,meta}."""
    rng = np.random.default_rng(0)
    if name == "cifar10":
        folder, label_key = root / "cifar-10-batches-py", "labels"
        files = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
        meta_file, meta = "batches.meta", {"label_names": [f"c{i}" for i in range(10)]}
    else:
        folder, label_key = root / "cifar-100-python", "fine_labels"
        files = ["train", "test"]
        meta_file, meta = "meta", {"fine_label_names": [f"f{i}" for i in range(100)]}
    folder.mkdir(parents=True)
    for f in files:
        entry = {"data": rng.integers(0, 256, (n_per_batch, 3072), dtype=np.uint8), label_key: list(range(n_per_batch))}
        (folder / f).write_bytes(pickle.dumps(entry))
    (folder / meta_file).write_bytes(pickle.dumps(meta))


@pytest.mark.parametrize("name, n_train, n_classes", [("cifar10", 30, 10), ("cifar100", 6, 100)])
def test_cifar_in_torchvision_format(tmp_path, name, n_train, n_classes):
    _write_cifar(tmp_path, name)
    ds = D.load_dataset(name, tmp_path)
    assert ds.train_images.shape == (n_train, 3, 32, 32) and ds.test_images.shape == (6, 3, 32, 32)
    assert ds.num_classes == n_classes and ds.train_labels.tolist()[:6] == list(range(6))
    # channel-first conversion of the row-major CHW pickles: pixel (0, 0) of channel 1 is byte 1024
    raw = pickle.loads((tmp_path / ("cifar-10-batches-py/data_batch_1" if name == "cifar10" else "cifar-100-python/train")).read_bytes())
    assert ds.train_images[0, 1, 0, 0].item() == raw["data"][0, 1024]


def test_missing_cifar_names_the_expected_folder(tmp_path):
    with pytest.raises(D.DataNotFound, match="cifar-10-batches-py"):
        D.load_dataset("cifar10", tmp_path)


def test_imagenet_image_folder(tmp_path):
    for part, n in (("train", 3), ("val", 2)):
        for k, cls in enumerate(["n01440764", "n01443537"]):
            folder = tmp_path / part / cls
            folder.mkdir(parents=True)
            for i in range(n):
                Image.fromarray(np.full((40, 50, 3), 40 * k + i, np.uint8)).save(folder / f"{cls}_{i}.JPEG", format="PNG")
    ds = D.load_image_folder(tmp_path, image_size=16)
    assert ds.train_images.shape == (6, 3, 16, 16) and ds.test_images.shape == (4, 3, 16, 16)
    assert ds.classes == ["n01440764", "n01443537"] and ds.train_labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert ds.train_images[3, 0, 0, 0].item() == 40


def test_unknown_dataset():
    with pytest.raises(ValueError, match="dataset='mnist' is invalid"):
        D.load_dataset("mnist")


def test_split_is_fixed_disjoint_and_sized(fmnist_root):
    ds = D.load_dataset("fashion-mnist", fmnist_root)
    a, b = D.split(ds, 300, 100, 200), D.split(ds, 300, 100, 200)
    assert torch.equal(a.pool, b.pool) and torch.equal(a.val, b.val) and torch.equal(a.test, b.test)
    assert len(a.pool) == 300 and len(a.val) == 100 and len(a.test) == 200
    assert not set(a.pool.tolist()) & set(a.val.tolist())
    assert len(D.split(ds, None, 100, None).pool) == 800
    with pytest.raises(ValueError, match="pool_size=850 is invalid"):
        D.split(ds, 850, 100, None)


@pytest.mark.skipif(not D.DEBIAN_FASHION_MNIST.exists(), reason="Debian's dataset-fashion-mnist is not installed")
def test_real_fashion_mnist_from_debian():
    ds = D.load_dataset("fashion-mnist")
    assert ds.train_images.shape == (60000, 1, 28, 28) and ds.test_images.shape == (10000, 1, 28, 28)
    assert torch.bincount(ds.train_labels).tolist() == [6000] * 10
    normalizer = Normalizer.fit(ds.train_images)
    mean, std = normalizer.mean, normalizer.std
    assert mean.item() == pytest.approx(0.2860, abs=1e-3) and std.item() == pytest.approx(0.3530, abs=1e-3)
