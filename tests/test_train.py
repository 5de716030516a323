"""Training pieces: augmentation, the paper's stopping rule, the loss, learning on easy data."""

import numpy as np
import pytest
import torch

from dpe.config import make_config
from dpe.ensemble import build_ensemble
import math

from dpe.images import Normalizer, augment
from dpe.predict import evaluate, predict_probs
from dpe.train import Plateau, diverged, ensemble_loss, fast_steps, member_batch, train_ensemble
from tests.conftest import class_images


def test_augment_matches_a_per_image_reference():
    torch.manual_seed(0)
    x = torch.randn(6, 2, 5, 7)
    g1, g2 = torch.Generator().manual_seed(4), torch.Generator().manual_seed(4)
    out = augment(x, padding=2, flip=True, generator=g1)
    # replay the same draws: offsets (M, 1) for rows, then cols, then the flip coin
    dy = torch.randint(0, 5, (6, 1), generator=g2)
    dx = torch.randint(0, 5, (6, 1), generator=g2)
    flip = torch.rand(6, 1, generator=g2) < 0.5
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(6):
        crop = padded[i, :, dy[i, 0] : dy[i, 0] + 5, dx[i, 0] : dx[i, 0] + 7]
        expected = crop.flip(-1) if flip[i, 0] else crop
        torch.testing.assert_close(out[i], expected)


def test_augment_without_padding_or_flip_is_identity():
    x = torch.randn(3, 1, 4, 4)
    torch.testing.assert_close(augment(x, 0, False, torch.Generator()), x)


def test_plateau_drops_once_then_stops_after_twice_the_patience():
    rule = Plateau(patience=2)
    actions = [rule.step(a) for a in [0.5, 0.6, 0.6, 0.6, 0.55, 0.6, 0.6, 0.6]]
    #                          best   gain  1     2->drop  1     2     3     4->stop
    assert actions == ["continue", "continue", "continue", "drop", "continue", "continue", "continue", "stop"]
    rule = Plateau(patience=1)
    assert [rule.step(a) for a in [0.1, 0.1, 0.2, 0.2, 0.2]] == ["continue", "drop", "continue", "continue", "stop"]


def test_evaluate_hand_worked():
    probs = torch.tensor([  # E=2, N=3, K=2
        [[0.9, 0.1], [0.4, 0.6], [0.2, 0.8]],
        [[0.7, 0.3], [0.8, 0.2], [0.4, 0.6]],
    ])
    labels = torch.tensor([0, 1, 0])
    m = evaluate(probs, labels)  # mean: [.8,.2], [.6,.4], [.3,.7] -> predictions 0, 0, 1
    assert m["accuracy"] == pytest.approx(1 / 3)
    assert m["nll"] == pytest.approx(-(np.log(0.8) + np.log(0.4) + np.log(0.3)) / 3)
    assert m["member_accuracy"] == pytest.approx([2 / 3, 1 / 3])
    # confidences .8 (right), .6 (wrong), .7 (wrong) in 2 bins [0, .5), [.5, 1]: one bin holds all
    # three with accuracy 1/3 and confidence .7, so ECE = |1/3 - .7|
    m2 = evaluate(probs, labels, bins=2)
    assert m2["ece"] == pytest.approx(0.7 - 1 / 3)
    assert m2["reliability"]["count"] == [0, 3]
    assert m2["reliability"]["confidence"][1] == pytest.approx(0.7)



def test_ece_matches_a_numpy_reference():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 500, 4)) * 2
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    labels = rng.integers(0, 4, 500)
    mean = probs.mean(0)
    conf, pred = mean.max(-1), mean.argmax(-1)
    edges = np.linspace(0, 1, 11)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (conf >= lo) & (conf < hi)
        if inside.any():
            ece += inside.mean() * abs((pred[inside] == labels[inside]).mean() - conf[inside].mean())
    got = evaluate(torch.tensor(probs), torch.tensor(labels))
    assert got["ece"] == pytest.approx(ece, rel=1e-9)
    assert sum(got["reliability"]["count"]) == 500


@pytest.mark.heavy
@pytest.mark.parametrize("model", ["dpe", "l2-ensemble"])
def test_fast_protocol_learns_easy_data(model):
    labels = torch.arange(200) % 10
    images = torch.from_numpy(class_images(labels.numpy())).permute(0, 3, 1, 2).contiguous()
    config = make_config("smoke", model=model, max_epochs=6, min_steps=80, batch_size=20, lr=0.05)
    ens = build_ensemble("preact-resnet18", config.members, 10, 1, 4, seed=0)
    norm = Normalizer(torch.tensor([0.2]), torch.tensor([0.3]))
    before = evaluate(predict_probs(ens, images, norm), labels)["accuracy"]
    stats = train_ensemble(ens, images, labels, config, norm, torch.Generator().manual_seed(0), 2, True, progress=False)
    after = evaluate(predict_probs(ens, images, norm), labels)["accuracy"]
    assert stats["steps"] == 80 and np.isfinite(stats["final_loss"])
    assert after > 0.7 > before + 0.4


def test_paper_protocol_stops_by_patience_and_needs_validation():
    labels = torch.arange(40) % 10
    images = torch.from_numpy(class_images(labels.numpy())).permute(0, 3, 1, 2).contiguous()
    norm = Normalizer(torch.tensor([0.2]), torch.tensor([0.3]))
    # patience 2: at 1 a run on one thread stopped at epoch 4 at chance (0.125), on two at 0.9
    config = make_config("smoke", protocol="paper", patience=2, max_epochs=50, batch_size=20)
    ens = build_ensemble("preact-resnet18", config.members, 10, 1, 4, seed=0)
    with pytest.raises(ValueError, match="validation"):
        train_ensemble(ens, images, labels, config, norm, torch.Generator(), progress=False)
    stats = train_ensemble(ens, images, labels, config, norm, torch.Generator(), val=(images, labels), progress=False)
    assert 3 <= stats["epochs"] < 50  # at least: gain, drop, stop; well before the cap
    assert stats["best_val_accuracy"] >= 0.7  # these class images are easy: chance is 0.1, 0.9 measured (1 or 2 threads)
    kept = evaluate(predict_probs(ens, images, norm), labels)["accuracy"]
    assert kept == stats["best_val_accuracy"]  # the best validation epoch's weights are the ones kept


@pytest.mark.parametrize("shared", [False, True])
def test_members_draw_their_own_batches_unless_shared(shared):
    labels = torch.arange(64) % 10
    images = torch.from_numpy(class_images(labels.numpy())).permute(0, 3, 1, 2).contiguous()
    config = make_config("smoke", max_epochs=1, min_steps=1, batch_size=16, shared_batches=shared)
    ens = build_ensemble("preact-resnet18", 3, 10, 1, 2, seed=0)
    seen = []
    forward = ens.forward
    ens.forward = lambda x: seen.append(x.detach().clone()) or forward(x)
    norm = Normalizer(torch.tensor([0.2]), torch.tensor([0.3]))
    train_ensemble(ens, images, labels, config, norm, torch.Generator().manual_seed(0), 2, True, progress=False)
    x = seen[0]  # (E, B, C, H, W)
    assert x.shape == (3, 16, 1, 28, 28)
    assert torch.equal(x[0], x[1]) == shared and torch.equal(x[1], x[2]) == shared


@pytest.mark.parametrize("n, batch, epochs, floor, steps", [
    (100, 64, 50, 500, 500),  # quick, first round: 50 epochs of 1 step, the floor of 500 rules
    (800, 64, 50, 500, 600),  # quick, last round: 800 // 64 = 12 steps an epoch, 50 epochs
    (400, 64, 50, 500, 500),  # 6 x 50 = 300 < 500
    (30, 64, 50, 500, 500),  # fewer images than a batch: one 30-image step an epoch
    (2000, 64, 100, 1000, 3100),  # the convergence check's doubled length: 31 x 100
    (16000, 32, 15, 0, 7500),  # paper-fast: 500 x 15
    (2000, 64, 15, 1500, 1500),  # paper-cpu, first round: 31 x 15 = 465 < 1 500
    (8000, 64, 15, 1500, 1875),  # paper-cpu: 125 x 15
    (16000, 64, 15, 1500, 3750),  # paper-cpu, last round: 250 x 15
])
def test_fast_protocol_steps_hand_worked(n, batch, epochs, floor, steps):
    assert fast_steps(n, batch, epochs, floor) == steps


def test_training_runs_the_rule_and_reports_its_last_epoch_cross_entropy():
    labels = torch.arange(50) % 10
    images = torch.from_numpy(class_images(labels.numpy())).permute(0, 3, 1, 2).contiguous()
    config = make_config("smoke", max_epochs=3, min_steps=7, batch_size=16)  # 50 // 16 = 3 steps an epoch: 9, above the floor
    ens = build_ensemble("preact-resnet18", config.members, 10, 1, 4, seed=0)
    norm = Normalizer(torch.tensor([0.2]), torch.tensor([0.3]))
    stats = train_ensemble(ens, images, labels, config, norm, torch.Generator().manual_seed(0), progress=False)
    assert stats["steps"] == fast_steps(50, 16, 3, 7) == 9 and stats["epochs"] == 3
    assert 0 < stats["train_cross_entropy"] < math.log(10)  # 9 steps on easy data: better than chance


def test_divergence_is_cross_entropy_far_above_chance():
    assert diverged(2 * math.log(10) + 1e-9, 10) and not diverged(2 * math.log(10) - 1e-9, 10)
    assert not diverged(2.38, 10)  # a barely trained network near log 10 = 2.30 has not diverged
    assert diverged(float("nan"), 10) and diverged(3.7e5, 10) and not diverged(0.0, 2)


def test_ensemble_loss_returns_eq8_and_the_members_mean_cross_entropy():
    torch.manual_seed(0)
    ens = build_ensemble("preact-resnet18", 3, 10, 1, 2, seed=0)
    logits, targets = torch.randn(3, 5, 10, dtype=torch.float64), torch.randint(0, 10, (3, 5))
    config = make_config("smoke", model="l2-ensemble", members=3, weight_decay=0.01)
    loss, cross_entropy = ensemble_loss(ens, logits, targets, config)
    # by hand in float64: -log softmax at the target, averaged over all 15 (member, image) pairs
    log_p = logits - logits.exp().sum(-1, keepdim=True).log()
    ce = -log_p.gather(-1, targets[..., None]).mean()
    squares = sum((p.double() ** 2).sum() for p in ens.parameters())
    assert cross_entropy.item() == pytest.approx(ce.item(), rel=1e-12)
    assert loss.item() == pytest.approx(3 * ce.item() + 0.01 / 2 * squares.item(), rel=1e-6)


@pytest.mark.parametrize("step, total, expected", [
    (0, 100, 0.0), (1, 100, 1 / 15), (15, 100, 1.0), (50, 100, 50 / 85), (99, 100, 1 / 85),  # warm-up 15, decay 85
    (1, 3, 2 / 2.55), (2, 3, 1 / 2.55),  # 0.45 warm-up steps: the ramp's floor of 1 step
    (1, 2, 1 / 1.7),  # 1.7 decay steps: no floor
])
def test_fast_lr_scale_hand_worked(step, total, expected):
    from dpe.train import fast_lr_scale

    assert fast_lr_scale(step, total) == pytest.approx(expected, rel=1e-12)


def test_divergence_starts_strictly_above_twice_a_uniform_guess():
    assert diverged(2 * math.log(10), 10) is False and diverged(2 * math.log(10) + 1e-9, 10) is True
    assert diverged(float("nan"), 10) is True


def test_member_batches_walk_the_generators_permutations_whatever_the_global_rng():
    from dpe.train import member_batches

    torch.manual_seed(5)
    batches = member_batches(10, 2, 4, torch.Generator().manual_seed(3), "cpu")
    got = [next(batches) for _ in range(3)]  # 10 // 4 = 2 batches an epoch: the third starts a new draw
    g = torch.Generator().manual_seed(3)
    first, second = (torch.rand(2, 10, generator=g).argsort(1) for _ in range(2))
    assert [b.tolist() for b in got] == [first[:, :4].tolist(), first[:, 4:8].tolist(), second[:, :4].tolist()]


def test_the_dpe_loss_is_eq8_with_beta_times_kl():
    from dpe.regularizers import kl_penalty

    ens = build_ensemble("preact-resnet18", 3, 10, 1, 2, seed=0)
    logits, targets = torch.randn(3, 5, 10), torch.randint(0, 10, (3, 5))
    config = make_config("smoke", model="dpe", beta=1e-3)
    loss, cross_entropy = ensemble_loss(ens, logits, targets, config)
    ce = torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten())
    assert loss.item() == pytest.approx(3 * ce.item() + 1e-3 * kl_penalty(ens).item(), rel=1e-6)


def test_member_batch_gathers_normalises_and_augments_only_when_asked(monkeypatch):
    import dpe.train as train
    from dpe.images import Normalizer

    images = torch.randint(0, 256, (6, 1, 8, 8), dtype=torch.uint8)
    labels = torch.arange(6)
    norm = Normalizer(torch.tensor([0.25]), torch.tensor([2.0]))  # in [0, 1] units
    idx = torch.tensor([[4, 1, 3]])
    x, y = member_batch(images, labels, idx, 2, norm, torch.Generator())  # defaults: no augmentation at all
    assert x.shape == (2, 3, 1, 8, 8) and y.tolist() == [[4, 1, 3]] * 2
    torch.testing.assert_close(x[1], (images[[4, 1, 3]].double() / 255 - 0.25).float() / 2)
    calls = []
    monkeypatch.setattr(train, "augment", lambda x, pad, flip, g: calls.append((pad, flip, g)) or x)
    monkeypatch.setattr(train, "rand_augment", lambda x, g: calls.append(("strong", g)) or x)
    g = torch.Generator()
    member_batch(images, labels, idx, 2, norm, g, crop_padding=0, flip=True)
    member_batch(images, labels, idx, 2, norm, g, crop_padding=2, flip=False, strong=True)
    assert calls == [(0, True, g), ("strong", g), (2, False, g)]


def test_train_ensemble_hands_its_arguments_and_defaults_to_the_loop(monkeypatch):
    import dpe.train as train

    seen = {}
    monkeypatch.setattr(train, "_train", lambda *args: seen.setdefault("args", args) and {"steps": 1})
    ens = build_ensemble("preact-resnet18", 2, 10, 1, 2, seed=0)
    g, images, labels, config, norm = torch.Generator(), torch.zeros(4, 1, 8, 8, dtype=torch.uint8), torch.zeros(4), object(), object()
    train_ensemble(ens, images, labels, config, norm, g)
    args = seen.pop("args")
    assert args[:6] == (ens, images, labels, config, norm, g) and args[6:10] == (0, False, None, True)
    train_ensemble(ens, images, labels, config, norm, g, crop_padding=4, flip=True, progress=False)
    assert seen["args"][6:10] == (4, True, None, False)


# --- the training loop (dpe.train._train) with a scripted step: every count and rule by hand --

def _scripted(monkeypatch, losses=None, accuracies=None):
    """Replace the SGD step by one that adds 1 to the first parameter and returns (loss, CE) =
    (losses[s] or s, 10 s) at step s, recording the lr; validation accuracies come from the list."""
    import dpe.train as train

    seen = {"lr": [], "shapes": []}

    def step(forward, ensemble, optimizer, engine, x, y, config):
        s = len(seen["lr"])
        seen["lr"].append(optimizer.param_groups[0]["lr"])
        seen["shapes"].append((tuple(x.shape), tuple(y.shape)))
        with torch.no_grad():
            next(ensemble.parameters()).add_(1.0)
        loss = float(s) if losses is None else losses[s]
        return torch.tensor([loss, 10.0 * s])

    monkeypatch.setattr(train, "training_step", step)
    if accuracies is not None:
        scripted = iter(accuracies)
        monkeypatch.setattr(train, "predict_probs", lambda *args, **kwargs: None)
        monkeypatch.setattr(train, "evaluate", lambda probs, labels: {"accuracy": next(scripted)})
    return seen


def _tiny(n=8, channels=3):
    images = torch.randint(0, 256, (n, channels, 8, 8), dtype=torch.uint8)
    return images, torch.arange(n) % 10, Normalizer(torch.full((channels,), 0.5), torch.full((channels,), 0.25))


def test_the_fast_protocol_loop_by_hand(monkeypatch):
    """8 images, batches of 4: 2 steps an epoch, 2 epochs -> 4 steps at lr 0.1 x fast_lr_scale;
    the train cross-entropy is the last epoch's mean (20 + 30) / 2, the final loss the last step's."""
    import time

    from dpe.train import fast_lr_scale

    seen = _scripted(monkeypatch)
    ens = build_ensemble("preact-resnet18", 2, 10, 3, 2, seed=0)
    images, labels, norm = _tiny()
    config = make_config("smoke", batch_size=4, max_epochs=2, min_steps=0, lr=0.1, augment=False)
    start = time.perf_counter()
    stats = train_ensemble(ens, images, labels, config, norm, torch.Generator().manual_seed(0), progress=False)
    elapsed = time.perf_counter() - start
    assert seen["lr"] == pytest.approx([0.1 * fast_lr_scale(s, 4) for s in range(4)])
    assert seen["shapes"] == [((2, 4, 3, 8, 8), (2, 4))] * 4
    assert {k: v for k, v in stats.items() if k != "train_seconds"} == {
        "epochs": 2, "steps": 4, "final_loss": 3.0, "train_cross_entropy": 25.0, "best_val_accuracy": None}
    assert 0 <= stats["train_seconds"] <= elapsed


def test_the_paper_protocol_loop_by_hand(monkeypatch, capsys):
    """Patience 1 over validation accuracies 0.5, 0.6, 0.6, 0.6, 0.6: best at epoch 2, the lr
    drops x0.1 after epoch 3, the run stops after epoch 5 (2 x patience since the drop), and the
    weights are those of epoch 2's end (the scripted step adds 1 a step: 4)."""
    seen = _scripted(monkeypatch, accuracies=[0.5, 0.6, 0.6, 0.6, 0.6])
    ens = build_ensemble("preact-resnet18", 2, 10, 3, 2, seed=0)
    first = next(ens.parameters()).detach().clone()
    images, labels, norm = _tiny()
    config = make_config("smoke", protocol="paper", patience=1, batch_size=4, max_epochs=10, lr=0.1, augment=False)
    stats = train_ensemble(ens, images, labels, config, norm, torch.Generator(), val=(images, labels))
    assert seen["lr"] == pytest.approx([0.1] * 6 + [0.01] * 4)
    assert (stats["epochs"], stats["steps"], stats["best_val_accuracy"]) == (5, 10, 0.6)
    torch.testing.assert_close(next(ens.parameters()).detach(), first + 4)
    bar = capsys.readouterr().err
    assert "train 8 labels" in bar and "step" in bar and "val=0.600" in bar and "lr=0.01" in bar
    with pytest.raises(ValueError) as error:
        train_ensemble(ens, images, labels, config, norm, torch.Generator(), progress=False)
    assert str(error.value) == "the paper protocol needs a validation set (val_size > 0)"


def test_a_non_finite_loss_at_an_epochs_end_stops_training_with_what_to_do(monkeypatch):
    _scripted(monkeypatch, losses=[0.0, math.inf, 0.0, 0.0])
    ens = build_ensemble("preact-resnet18", 2, 10, 3, 2, seed=0)
    images, labels, norm = _tiny()
    config = make_config("smoke", batch_size=4, max_epochs=2, min_steps=0, augment=False)
    with pytest.raises(FloatingPointError) as error:
        train_ensemble(ens, images, labels, config, norm, torch.Generator(), progress=False)
    assert str(error.value) == "training diverged (loss inf) at epoch 1 with 8 labels; lower --lr (now 0.1) or --beta (now 1e-05)"


def test_divergence_advice_names_only_the_settings_that_act_on_the_run():
    from dpe.train import divergence_advice

    assert divergence_advice(make_config("smoke", model="l2-ensemble")) == "lower --lr (now 0.1)"  # no KL term
    assert divergence_advice(make_config("smoke", members=2, lr=0.05)) == (
        "lower --lr (now 0.05) or --beta (now 1e-05) or use 3 or more members (--members; the KL term is unstable with 2)")


@pytest.mark.parametrize("augment, strong, expected", [(True, False, (4, True, False)), (False, True, (0, False, True))])
def test_the_loop_augments_as_the_config_says(monkeypatch, augment, strong, expected):
    import dpe.train as train

    _scripted(monkeypatch)
    calls = []
    real = train.member_batch

    def spy(images, labels, idx, members, normalize, generator, crop_padding, flip, strong):
        calls.append((crop_padding, flip, strong, generator))
        return real(images, labels, idx, members, normalize, generator)

    monkeypatch.setattr(train, "member_batch", spy)
    ens = build_ensemble("preact-resnet18", 2, 10, 3, 2, seed=0)
    images, labels, norm = _tiny()
    config = make_config("smoke", batch_size=4, max_epochs=1, min_steps=0, augment=augment, strong_augment=strong)
    g = torch.Generator()
    train_ensemble(ens, images, labels, config, norm, g, crop_padding=4, flip=True, progress=False)
    assert calls == [(*expected, g)] * 2
