"""Active segmentation: IoU, crop scores, partial labels, V_w, the model, the data, the loop."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision

from dpe.acquisition import weighted_variance
from dpe.config import ConfigError
from dpe.regularizers import gaussian_kl
from dpe.segmentation.data import CITYSCAPES_CLASSES, IGNORE, load_bdd100k, load_cityscapes
from dpe.segmentation.model import (
    GRID, build_segmentation_ensemble, confusion_matrix, crop_pixel_mask, crop_sums, decoder_head,
    dilated_resnet18, iou_from_confusion, pixel_scores, segmentation_loss,
)


def _probs(E, B, K, H, W, seed=0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(E, B, K, H, W, generator=g, dtype=torch.float64).mul(2).softmax(2)


# --- metrics -------------------------------------------------------------------------------


def test_iou_against_a_hand_worked_confusion_matrix():
    target = torch.tensor([[0, 0, 1, 1], [2, 2, 2, IGNORE]])
    predicted = torch.tensor([[0, 1, 1, 1], [2, 0, 2, 1]])  # the last pixel is void: not counted
    # true 0: predicted 0, 1        -> row (1, 1, 0)
    # true 1: predicted 1, 1        -> row (0, 2, 0)
    # true 2: predicted 2, 0, 2     -> row (1, 0, 2)
    expected = torch.tensor([[1, 1, 0], [0, 2, 0], [1, 0, 2]])
    assert torch.equal(confusion_matrix(predicted, target, 3), expected)
    # IoU_k = TP / (row + column - TP): 1/(2+2-1), 2/(2+3-2), 2/(3+2-2)
    iou = iou_from_confusion(expected)
    assert torch.allclose(iou, torch.tensor([1 / 3, 2 / 3, 2 / 3], dtype=torch.float64))


def test_iou_is_nan_for_an_absent_class_and_miou_skips_it():
    confusion = torch.tensor([[3, 1, 0], [0, 0, 0], [0, 0, 2]])  # class 1 is absent, 1 false positive
    iou = iou_from_confusion(confusion)
    assert iou[0] == 0.75 and iou[1] == 0 and iou[2] == 1
    confusion = torch.tensor([[3, 0, 0], [0, 0, 0], [0, 0, 2]])  # class 1 neither true nor predicted
    iou = iou_from_confusion(confusion)
    assert torch.isnan(iou[1]) and float(iou.nanmean()) == 1.0


# --- crops and acquisition -------------------------------------------------------------------


def test_crop_scores_sum_exactly_the_pixel_scores_of_each_crop():
    probs = _probs(3, 2, 5, 12, 16)
    pixels = pixel_scores(probs, "H_ens")  # (2, 12, 16)
    crops = crop_sums(pixels)  # (2, 12)
    rows, cols = GRID
    for b in range(2):
        for r in range(rows):
            for c in range(cols):
                block = pixels[b, r * 4 : (r + 1) * 4, c * 4 : (c + 1) * 4]
                assert crops[b, cols * r + c] == block.sum()  # the same float64 additions
    assert torch.allclose(crops.sum(1), pixels.sum((1, 2)))
    # and each pixel score is H_ens of that pixel's (E, K) probabilities
    mean = probs[:, 1, :, 7, 9].mean(0)
    assert torch.allclose(pixels[1, 7, 9], -(mean * mean.log()).sum())


def test_crop_pixel_mask_marks_exactly_the_crops_pixels():
    crops = torch.zeros(1, 12, dtype=torch.bool)
    crops[0, 6] = True  # row 1, column 2
    mask = crop_pixel_mask(crops, 9, 16)
    expected = torch.zeros(9, 16, dtype=torch.bool)
    expected[3:6, 8:12] = True
    assert torch.equal(mask[0], expected)


def test_weighted_variance_with_a_one_hot_weight_ranks_crops_by_that_class_variance_alone():
    E, B, K, H, W = 4, 3, 5, 6, 8
    probs = _probs(E, B, K, H, W, seed=3)
    target = 2
    weights = torch.zeros(K)
    weights[target] = 1
    crops = crop_sums(pixel_scores(probs, "V_w", weights)).flatten()
    class_variance = probs[:, :, target].var(0, correction=0)  # (B, H, W): that class only
    assert torch.allclose(crops, crop_sums(class_variance).flatten())
    assert torch.equal(crops.argsort(), crop_sums(class_variance).flatten().argsort())
    # the total variance V ranks the crops differently here, so the test has teeth
    total = crop_sums(pixel_scores(probs, "V")).flatten()
    assert not torch.equal(total.argsort(), crops.argsort())
    # changing the other classes' probabilities leaves V_w's ranking unchanged
    other = probs.clone()
    other[:, :, [0, 1]] = other[:, :, [1, 0]]
    assert torch.allclose(crop_sums(pixel_scores(other, "V_w", weights)), crop_sums(pixel_scores(probs, "V_w", weights)))
    assert torch.allclose(weighted_variance(probs[:, 0, :, 0, :1].permute(0, 2, 1), weights), class_variance[0, 0, :1])


# --- model and loss -------------------------------------------------------------------------


def test_encoder_has_output_stride_8_with_the_last_two_stages_dilated():
    encoder = dilated_resnet18(3, width=8)
    assert encoder(torch.zeros(2, 3, 48, 64)).shape == (2, 64, 6, 8)
    layer3, layer4 = encoder.stages[2], encoder.stages[3]
    assert [b.conv1.dilation[0] for b in layer3] == [1, 2] and [b.conv2.dilation[0] for b in layer4] == [2, 4]
    assert all(conv.stride == (1, 1) for stage in (layer3, layer4) for b in stage for conv in (b.conv1, b.conv2))
    # at width 64 it is torchvision's ResNet-18 trunk: the same parameters, less the classifier
    full = torchvision.models.resnet18()
    trunk = sum(p.numel() for n, p in full.named_parameters() if not n.startswith("fc."))
    assert sum(p.numel() for p in dilated_resnet18(3, 64).parameters()) == trunk


def test_vectorised_heads_equal_each_head_run_alone():
    model = build_segmentation_ensemble(num_classes=5, members=3, width=8, seed=7, hidden=16).eval()
    x = torch.randn(2, 3, 48, 64)
    with torch.no_grad():
        logits = model(x)  # (3, 2, 5, 48, 64)
        features = model.encoder(x)
        for e in range(3):
            head = decoder_head(64, 16, 5, seed=7 * 1000 + e).eval()
            alone = F.interpolate(head(features), size=(48, 64), mode="bilinear", align_corners=False)
            assert torch.allclose(logits[e], alone, atol=1e-5)


def test_unlabelled_pixels_give_no_loss_and_no_gradient():
    model = build_segmentation_ensemble(num_classes=4, members=2, width=8, seed=0, hidden=8)
    x = torch.randn(2, 3, 48, 64)
    targets = torch.randint(0, 4, (2, 48, 64))
    keep = crop_pixel_mask(torch.tensor([[True] + [False] * 11, [False] * 5 + [True] + [False] * 6]), 48, 64)
    partial = torch.where(keep, targets, IGNORE)  # (B, H, W): two labelled crops

    model.zero_grad()
    logits = model(x)  # (E, B, K, H, W)
    logits.retain_grad()
    segmentation_loss(model, logits, partial, "kl", 1e-4, 5e-4).backward()
    per_pixel = logits.grad.permute(0, 2, 1, 3, 4)  # (E, K, B, H, W)
    assert per_pixel[:, :, ~keep].abs().max() == 0 and per_pixel[:, :, keep].abs().max() > 0
    got = [p.grad.clone() for p in model.parameters()]

    # independently: cross-entropy at every pixel, then only the labelled ones averaged
    model.zero_grad()
    logits = model(x)
    ce = torch.stack([F.cross_entropy(logits[e], targets, reduction="none") for e in range(2)])  # (E, B, H, W)
    data = sum(ce[e][keep].mean() for e in range(2))
    from dpe.regularizers import kl_penalty, l2_penalty

    (data + 5e-4 / 2 * l2_penalty(model.encoder) + 1e-4 * kl_penalty(model.heads)).backward()
    for a, b in zip(got, (p.grad for p in model.parameters())):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-7)


def test_segmentation_loss_matches_a_float64_hand_calculation():
    model = build_segmentation_ensemble(num_classes=3, members=2, width=8, seed=1, hidden=8).double()
    logits = torch.randn(2, 1, 3, 4, 4, dtype=torch.float64)
    targets = torch.randint(0, 3, (1, 4, 4))
    targets[0, :2] = IGNORE
    labelled = targets != IGNORE
    nll = 0.0
    for e in range(2):  # sum over members of the mean over labelled pixels of -log softmax
        logp = logits[e, 0].log_softmax(0)  # (K, 4, 4)
        nll += -logp.gather(0, targets.clamp(max=2))[0][labelled[0]].mean()
    encoder_l2 = sum((p.double() ** 2).sum() for p in model.encoder.parameters())
    heads = model.heads.flat_parameters().double()  # (E, P)
    kl = gaussian_kl(heads, *model.heads.prior_vectors(heads.device, heads.dtype))
    expected = nll + 5e-4 / 2 * encoder_l2 + 1e-4 * kl
    got = segmentation_loss(model, logits, targets, "kl", 1e-4, 5e-4)
    assert torch.allclose(got, expected, rtol=1e-10)
    heads_l2 = (heads**2).sum()
    got_l2 = segmentation_loss(model, logits, targets, "l2", 1e-4, 5e-4)
    assert torch.allclose(got_l2, nll + 5e-4 / 2 * (encoder_l2 + heads_l2), rtol=1e-10)


# --- data ----------------------------------------------------------------------------------


def test_scenes_are_deterministic_skewed_and_cached(fmnist_root, tmp_path):
    from dpe.segmentation.scenes import SCENE_CLASSES, compose_scenes, load_scenes

    from dpe.data import load_fashion_mnist

    items = load_fashion_mnist(fmnist_root)
    a = compose_scenes(items.train_images[:, 0], items.train_labels, 6, 48, 64, "target", np.full(6, 1 / 6), seed=5)
    b = compose_scenes(items.train_images[:, 0], items.train_labels, 6, 48, 64, "target", np.full(6, 1 / 6), seed=5)
    c = compose_scenes(items.train_images[:, 0], items.train_labels, 6, 48, 64, "target", np.full(6, 1 / 6), seed=6)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and not torch.equal(a[0], c[0])
    assert a[0].shape == (6, 3, 48, 64) and a[1].shape == (6, 48, 64) and int(a[1].max()) < len(SCENE_CLASSES)

    data = load_scenes("target", 60, 10, 48, 64, seed=0, data_root=fmnist_root, cache_dir=tmp_path)
    counts = data.pixels_per_class()
    assert counts[0] + counts[1] > counts[2:].sum()  # sky and ground dominate, as road and sky do
    assert counts[SCENE_CLASSES.index("Bag")] < counts[SCENE_CLASSES.index("T-shirt/top")] / 3  # bags are rare
    assert counts[SCENE_CLASSES.index("Ankle boot")] < counts[SCENE_CLASSES.index("T-shirt/top")] / 3
    cached = list(tmp_path.glob("target-48x64-*.pt"))
    assert len(cached) == 1
    stamp = cached[0].stat().st_mtime_ns
    again = load_scenes("target", 60, 10, 48, 64, seed=0, data_root=fmnist_root, cache_dir=tmp_path)
    assert cached[0].stat().st_mtime_ns == stamp and torch.equal(again.train_labels, data.train_labels)
    source = load_scenes("source", 20, 8, 48, 64, seed=0, data_root=fmnist_root, cache_dir=tmp_path)
    assert source.classes == data.classes
    assert (source.train_images.float().mean((0, 2, 3)) - data.train_images.float().mean((0, 2, 3))).abs().max() > 20


def _write_png(path, array):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


@pytest.mark.parametrize("layout", ["seg", "10k"])
def test_bdd100k_loader_reads_its_release_layout(tmp_path, layout):
    from PIL import Image

    rng = np.random.default_rng(0)
    root = tmp_path / "bdd100k"
    for split, n in (("train", 3), ("val", 2)):
        for i in range(n):
            stem = f"{split}{i:04d}-abc"
            image = rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)
            label = np.full((30, 40), 13, np.uint8)  # car
            label[:10] = 10  # sky
            label[-3:] = IGNORE
            if layout == "seg":
                folder, name = root / "seg", f"{stem}_train_id.png"
                images, labels = folder / "images" / split, folder / "labels" / split
            else:
                images, labels, name = root / "images" / "10k" / split, root / "labels" / "sem_seg" / "masks" / split, f"{stem}.png"
            images.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(images / f"{stem}.jpg")
            _write_png(labels / name, label)
    data = load_bdd100k(tmp_path, size=(15, 20))  # the parent folder works too
    assert data.train_images.shape == (3, 3, 15, 20) and data.eval_labels.shape == (2, 15, 20)
    assert data.classes == CITYSCAPES_CLASSES and len(data.classes) == 19
    assert set(data.train_labels.unique().tolist()) == {10, 13, IGNORE}  # nearest resizing keeps labels
    assert (data.train_labels[:, :5] == 10).all() and (data.train_labels[:, -1] == IGNORE).all()


def test_bdd100k_loader_says_what_to_do_when_missing(tmp_path):
    from dpe.data import DataNotFound

    with pytest.raises(DataNotFound, match="seg/images"):
        load_bdd100k(tmp_path, size=(15, 20))


def test_cityscapes_loader_maps_label_ids_to_train_ids(tmp_path):
    for split in ("train", "val"):
        for i in range(2):
            stem = f"aachen_{i:06d}_000019"
            _write_png(tmp_path / "leftImg8bit" / split / "aachen" / f"{stem}_leftImg8bit.png",
                       np.full((16, 32, 3), 100 + i, np.uint8))
            ids = np.full((16, 32), 7, np.uint8)  # road (id 7 -> train id 0)
            ids[:4] = 23  # sky (id 23 -> 10)
            ids[4:6] = 26  # car (id 26 -> 13)
            ids[-2:] = 0  # unlabeled (id 0 -> void)
            _write_png(tmp_path / "gtFine" / split / "aachen" / f"{stem}_gtFine_labelIds.png", ids)
    data = load_cityscapes(tmp_path, size=(8, 16))
    assert data.train_images.shape == (2, 3, 8, 16) and len(data.eval_labels) == 2
    label = data.train_labels[0]
    assert (label[:2] == 10).all() and (label[2] == 13).all() and (label[-1] == IGNORE).all() and (label[4] == 0).all()


# --- the active-learning loop ----------------------------------------------------------------


def _smoke(**overrides):
    from dpe.segmentation import make_seg_config

    return make_seg_config("smoke", **overrides)


def test_segmentation_run_queries_crops_and_records_every_round(fmnist_root, tmp_path, monkeypatch):
    from dpe.segmentation import run

    monkeypatch.setenv("DPE_CACHE", str(tmp_path / "cache"))
    config = _smoke(acquisition="V_w", class_weights=(0,) * 6 + (1, 0))  # Bag
    record = json.loads(run(config, tmp_path / "results", data_root=str(fmnist_root), progress=False).read_text())
    assert record["finished"] and [r["labeled"] for r in record["rounds"]] == [16, 32, 64]
    chosen = [record["initial"]] + [r["selected"] for r in record["rounds"][:-1]]
    flat = [c for part in chosen for c in part]
    assert len(flat) == len(set(flat)) == 64 and max(flat) < 16 * 12  # distinct crops of the 16 pool images
    assert [len(part) for part in chosen] == [16, 16, 32] and record["rounds"][-1]["selected"] == []
    for r in record["rounds"]:
        assert len(r["iou"]) == 8 and 0 <= r["miou"] <= 1 and np.array(r["confusion"]).shape == (8, 8)
    pretrained = list((tmp_path / "results" / "pretrained").glob("*.json"))
    assert len(pretrained) == 1 and record["provenance"]["pretrained"] == config.pretrain_settings()
    # the revealed pixels are those of the selected crops
    from dpe.segmentation import load_segmentation

    data = load_segmentation("scenes", (48, 64), 16, 8, 0, str(fmnist_root))
    selected = torch.zeros(16 * 12, dtype=torch.bool)
    selected[record["rounds"][0]["selected"]] = True
    pixels = data.train_labels[crop_pixel_mask(selected.view(16, 12), 48, 64)].long()
    assert record["rounds"][0]["selected_pixels_per_class"] == torch.bincount(pixels, minlength=8).tolist()


def test_killed_segmentation_run_resumes_to_the_same_record(fmnist_root, tmp_path):
    """SIGKILL ``python -m dpe segment`` once its first round is on disk; the rerun must finish
    the same run as an uninterrupted one (the same crops selected, the same mIoU)."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root), "DPE_CACHE": str(tmp_path / "cache")}

    def cli(results):
        return [sys.executable, "-m", "dpe", "segment", "--profile", "smoke", "--data-root", str(fmnist_root),
                "--results", str(results), "--min-steps", "30", "--no-progress"]

    done = subprocess.run(cli(tmp_path / "full"), env=env, capture_output=True, text=True, check=True)
    full_path = Path(done.stdout.strip().splitlines()[-1])
    full = json.loads(full_path.read_text())
    killed = tmp_path / "killed"
    (killed / "pretrained").mkdir(parents=True)  # the same pre-trained encoder: the kill tests the loop
    for f in (tmp_path / "full" / "pretrained").iterdir():
        (killed / "pretrained" / f.name).write_bytes(f.read_bytes())
    path = killed / "runs" / full_path.name
    proc = subprocess.Popen(cli(killed), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 300
    while time.time() < deadline:
        if path.exists() and len(json.loads(path.read_text())["rounds"]) >= 1:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = json.loads(path.read_text())
    assert not partial["finished"] and 1 <= len(partial["rounds"]) < len(full["rounds"]), "the kill came too late"
    subprocess.run(cli(killed), env=env, capture_output=True, text=True, check=True)
    resumed = json.loads(path.read_text())
    assert resumed["finished"] and resumed["rounds"][: len(partial["rounds"])] == partial["rounds"]
    assert [r["selected"] for r in resumed["rounds"]] == [r["selected"] for r in full["rounds"]]
    assert [r["miou"] for r in resumed["rounds"]] == pytest.approx([r["miou"] for r in full["rounds"]], abs=1e-6)
    assert [s["first_round"] for s in resumed["provenance"]["sessions"]] == [0, len(partial["rounds"])]


def test_bad_segmentation_settings_name_the_fix():
    with pytest.raises(ConfigError, match="V_w needs one weight per class"):
        _smoke(acquisition="V_w")
    with pytest.raises(ConfigError, match="divisible"):
        _smoke(height=50)
    with pytest.raises(ConfigError, match="pool of 192 crops"):
        _smoke(budget=500)
    with pytest.raises(ConfigError, match="choose one of"):
        _smoke(dataset="camvid")


def test_cli_segment_runs_one_record_and_rejects_bad_values(fmnist_root, tmp_path, monkeypatch, capsys):
    from dpe import cli

    monkeypatch.setenv("DPE_CACHE", str(tmp_path / "cache"))
    argv = ["segment", "--profile", "smoke", "--results", str(tmp_path), "--data-root", str(fmnist_root), "--no-progress",
            "--model", "l2-ensemble", "--acquisition", "R", "--budget", "32"]
    assert cli.main(argv) == 0
    record = json.loads(open(capsys.readouterr().out.strip()).read())
    assert record["config"]["model"] == "l2-ensemble" and [r["labeled"] for r in record["rounds"]] == [16, 32]
    assert cli.main(["segment", "--profile", "smoke", "--acquisition", "V_w"]) == 2
    assert "V_w needs one weight per class" in capsys.readouterr().err


@pytest.mark.parametrize("scale", [0.0, 0.5])
def test_a_frozen_encoder_stays_as_pretrained_and_only_the_heads_learn(scale):
    from dpe.engine import make_engine
    from dpe.segmentation.train import train_segmentation
    from dpe.images import Normalizer

    model = build_segmentation_ensemble(num_classes=3, members=2, width=8, seed=0, hidden=8)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    images = torch.randint(0, 255, (6, 3, 48, 64), dtype=torch.uint8)
    labels = torch.randint(0, 3, (6, 48, 64), dtype=torch.uint8)
    labels[:, :24] = IGNORE
    normalize = Normalizer(torch.full((3,), 0.5), torch.full((3,), 0.25))
    train_segmentation(model, images, labels, _smoke(), normalize, torch.Generator().manual_seed(0), make_engine("cpu"),
                       epochs=1, lr=0.05, min_steps=4, progress=False, encoder_lr_scale=scale)
    after = model.state_dict()
    encoder_same = all(torch.equal(before[k], after[k]) for k in before if k.startswith("encoder."))
    heads_same = all(torch.equal(before[k], after[k]) for k in before if k.startswith("heads."))
    assert encoder_same == (scale == 0) and not heads_same  # frozen: not even batch-norm statistics move


# --- the paper's protocol (Sec. 6: patience 10 on validation mIoU, Adam at lr 1e-4) ----------


def test_paper_protocol_drops_the_lr_then_stops_by_patience_and_keeps_the_best_epoch(monkeypatch):
    """Scripted validation mIoU per epoch, patience 2: best at epoch 2; no gain at epochs 3-4
    (drop the lr x0.1); 2 x patience more epochs without gain (5-8): stop after epoch 8, with the
    weights of epoch 2."""
    from dpe.engine import make_engine
    from dpe.images import Normalizer
    from dpe.segmentation import train as seg_train

    scripted = iter([0.1, 0.3, 0.2, 0.2, 0.25, 0.1, 0.29, 0.3, 0.9, 0.9])
    seen = []  # (lr of the heads, weights) at each validation
    optimizers = []
    make = seg_train.make_optimizer
    monkeypatch.setattr(seg_train, "make_optimizer", lambda *a: optimizers.append(make(*a)) or optimizers[-1])

    def fake_evaluate(model, images, labels, normalize, engine, num_classes):
        assert images.shape == (2, 3, 48, 64) and num_classes == 3
        seen.append((optimizers[0].param_groups[0]["lr"], {k: v.clone() for k, v in model.state_dict().items()}))
        return {"miou": next(scripted)}

    monkeypatch.setattr(seg_train, "evaluate_segmentation", fake_evaluate)
    model = build_segmentation_ensemble(num_classes=3, members=2, width=8, seed=0, hidden=8)
    images = torch.randint(0, 255, (8, 3, 48, 64), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    labels = torch.randint(0, 3, (8, 48, 64), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    config = _smoke(protocol="paper", optimizer="adam", patience=2, val_images=2, batch_size=4, lr=1e-3)
    normalize = Normalizer(torch.full((3,), 0.5), torch.full((3,), 0.25))
    stats = seg_train.train_segmentation(model, images, labels, config, normalize, torch.Generator().manual_seed(0),
                                         make_engine("cpu"), epochs=50, lr=1e-3, progress=False, encoder_lr_scale=0.5,
                                         val=(images[:2], labels[:2]))
    assert isinstance(optimizers[0], torch.optim.Adam)
    assert stats["epochs"] == 8 and stats["steps"] == 8 * 2 and stats["best_val_miou"] == 0.3
    assert [lr for lr, _ in seen] == pytest.approx([1e-3] * 4 + [1e-4] * 4)  # the drop after epoch 4
    best = seen[1][1]
    assert all(torch.equal(best[k], v) for k, v in model.state_dict().items())
    assert not all(torch.equal(seen[-1][1][k], v) for k, v in best.items())  # training went on past it
    with pytest.raises(ValueError, match="validation images"):
        seg_train.train_segmentation(model, images, labels, config, normalize, torch.Generator(), make_engine("cpu"),
                                     epochs=2, lr=1e-3, progress=False)


def test_the_paper_protocol_needs_held_out_images_and_they_leave_the_pool_as_it_was(fmnist_root, tmp_path, monkeypatch):
    from dpe.segmentation.datasets import target_data

    monkeypatch.setenv("DPE_CACHE", str(tmp_path / "cache"))
    with pytest.raises(ConfigError, match="--val-images"):
        _smoke(protocol="paper")
    with pytest.raises(ConfigError, match="choose one of"):
        _smoke(optimizer="rmsprop")
    plain = target_data(_smoke(), str(fmnist_root))
    held = target_data(_smoke(protocol="paper", val_images=4), str(fmnist_root))
    assert plain.val_images is None and held.val_images.shape == (4, 3, 48, 64)
    assert torch.equal(held.train_images, plain.train_images) and torch.equal(held.train_labels, plain.train_labels)
    assert torch.equal(held.eval_images, plain.eval_images)
    assert not any(torch.equal(v, t) for v in held.val_images for t in plain.train_images)


@pytest.mark.heavy
def test_the_paper_profile_runs_at_smoke_size(fmnist_root, tmp_path, monkeypatch):
    """The ``paper`` profile's protocol (Adam, patience on validation mIoU, the whole network
    fine-tuned) with the smoke profile's sizes, end to end."""
    from dpe.profiles import SEG_PROFILES
    from dpe.segmentation import make_seg_config, run

    monkeypatch.setenv("DPE_CACHE", str(tmp_path / "cache"))
    sizes = {k: v for k, v in SEG_PROFILES["smoke"].items() if k not in ("lr", "max_epochs", "min_steps")}
    config = make_seg_config("paper", **{**sizes, "dataset": "scenes", "pretrain": "scenes-source", "val_images": 4,
                                         "pretrain_lr": 0.05, "max_epochs": 6, "patience": 1, "budget": 32})
    assert (config.protocol, config.optimizer, config.lr, config.encoder_lr_scale) == ("paper", "adam", 1e-4, 1.0)
    record = json.loads(run(config, tmp_path / "results", data_root=str(fmnist_root), progress=False).read_text())
    assert record["finished"] and [r["labeled"] for r in record["rounds"]] == [16, 32]
    for r in record["rounds"]:
        assert 4 <= r["epochs"] <= 6 and 0 < r["best_val_miou"] <= 1 and r["steps"] == r["epochs"] * (r["labeled_images"] // 4)


def test_a_cut_pretrained_encoder_cache_is_trained_again(fmnist_root, tmp_path, monkeypatch, capsys):
    """A cache file cut in half (a killed copy, a full disk) is named in one line and rebuilt,
    to the same weights: the pre-training is seeded."""
    from dpe.segmentation.train import pretrained_encoder

    monkeypatch.setenv("DPE_CACHE", str(tmp_path / "cache"))
    config = _smoke()
    first = pretrained_encoder(config, tmp_path, "cpu", data_root=str(fmnist_root), progress=False)
    (cache,) = (tmp_path / "pretrained").glob("*.pt")
    cache.write_bytes(cache.read_bytes()[:100])
    again = pretrained_encoder(config, tmp_path, "cpu", data_root=str(fmnist_root), progress=False)
    assert f"pretrained encoder cache {cache} cannot be read" in capsys.readouterr().err
    assert first.keys() == again.keys() and all(torch.equal(first[k], again[k]) for k in first)
