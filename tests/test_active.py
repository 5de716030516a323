"""Algorithm 1 end to end on a tiny Fashion-MNIST fixture: schedules, records, resume."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from dpe import active
from dpe.config import make_config

ROOT = Path(__file__).resolve().parents[1]
TIMING_KEYS = {"train_seconds", "score_seconds"}


def strip_timings(rounds):
    return [{k: v for k, v in r.items() if k not in TIMING_KEYS} for r in rounds]


@pytest.mark.parametrize(
    "settings, sizes",
    [
        (dict(schedule="exponential", initial=2000, step=2000, budget=16000), [2000, 4000, 8000, 16000]),
        (dict(schedule="linear", initial=2000, step=2000, budget=16000), list(range(2000, 16001, 2000))),
        (dict(schedule="linear", initial=4000, step=4000, budget=16000), [4000, 8000, 12000, 16000]),
        (dict(schedule="exponential", initial=100, step=100, budget=1000), [100, 200, 400, 800, 1000]),
        (dict(schedule="sizes", sizes=(10, 30, 70)), [10, 30, 70]),
    ],
)
def test_schedules(settings, sizes):
    assert make_config("paper", **settings).labeled_sizes() == sizes


@pytest.mark.heavy
def test_run_follows_the_schedule_and_records_everything(fmnist_root, tmp_path):
    config = make_config("smoke", acquisition="H_ens")
    path = active.run(config, tmp_path, data_root=str(fmnist_root), progress=False)
    record = json.loads(path.read_text())
    assert path.name == f"{config.hash()}.json" and record["finished"]
    assert [r["labeled"] for r in record["rounds"]] == config.labeled_sizes() == [20, 40, 80]
    labelled = set(record["initial"])
    assert len(labelled) == 20
    for r, nxt in zip(record["rounds"], config.labeled_sizes()[1:] + [None]):
        assert len(labelled) == r["labeled"]
        assert not labelled & set(r["selected"])  # only unlabelled images are selected
        assert len(r["selected"]) == (nxt - r["labeled"] if nxt else 0)
        assert sum(r["selection_histogram"]) == len(r["selected"])
        assert 0 <= r["accuracy"] <= 1 and r["nll"] > 0 and len(r["member_accuracy"]) == config.members
        labelled |= set(r["selected"])
    prov = record["provenance"]
    assert {"git_commit", "versions", "device", "wall_seconds", "sessions"} <= set(prov)
    assert prov["data_source"] == str(fmnist_root)


@pytest.mark.heavy
def test_same_trial_same_initial_set_across_methods(fmnist_root, tmp_path):
    a = make_config("smoke", acquisition="R", budget=40)
    b = make_config("smoke", model="l2-ensemble", acquisition="VR", budget=40)
    ra, rb = (json.loads(active.run(c, tmp_path, data_root=str(fmnist_root), progress=False).read_text()) for c in (a, b))
    assert ra["initial"] == rb["initial"]
    c = make_config("smoke", acquisition="R", budget=40, trial=1)
    rc = json.loads(active.run(c, tmp_path, data_root=str(fmnist_root), progress=False).read_text())
    assert rc["initial"] != ra["initial"]


def test_finished_runs_are_not_recomputed(fmnist_root, tmp_path, monkeypatch):
    config = make_config("smoke", budget=40)
    path = active.run(config, tmp_path, data_root=str(fmnist_root), progress=False)
    before = path.read_text()
    monkeypatch.setattr(active, "train_ensemble", lambda *a, **k: pytest.fail("retrained a finished run"))
    assert active.run(config, tmp_path, data_root=str(fmnist_root), progress=False) == path
    assert path.read_text() == before


def _cli(fmnist_root, results, *extra):
    return [sys.executable, "-m", "dpe", "run", "--profile", "smoke", "--data-root", str(fmnist_root),
            "--results", str(results), "--min-steps", "24", "--no-progress", *extra]


@pytest.mark.heavy
def test_killed_run_resumes_and_loses_nothing(fmnist_root, tmp_path):
    """SIGKILL the CLI after its first round is on disk; the rerun must finish the same run."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    reference = subprocess.run(_cli(fmnist_root, tmp_path / "ref"), env=env, capture_output=True, text=True, check=True)
    ref_path = Path(reference.stdout.strip().splitlines()[-1])
    ref = json.loads(ref_path.read_text())

    proc = subprocess.Popen(_cli(fmnist_root, tmp_path / "killed"), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    path = tmp_path / "killed" / "runs" / ref_path.name
    deadline = time.time() + 120
    while time.time() < deadline:
        if path.exists() and len(json.loads(path.read_text())["rounds"]) >= 1:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = json.loads(path.read_text())
    assert not partial["finished"] and 1 <= len(partial["rounds"]) < 3, "the kill came too late to test resume"

    resumed = subprocess.run(_cli(fmnist_root, tmp_path / "killed"), env=env, capture_output=True, text=True, check=True)
    assert resumed.stdout.strip().splitlines()[-1] == str(path)  # the record's path is printed last
    final = json.loads(path.read_text())
    assert final["finished"]
    assert final["rounds"][: len(partial["rounds"])] == partial["rounds"]  # nothing lost
    assert final["initial"] == ref["initial"]
    assert strip_timings(final["rounds"]) == strip_timings(ref["rounds"])  # same run as uninterrupted
    sessions = final["provenance"]["sessions"]
    assert [s["first_round"] for s in sessions] == [0, len(partial["rounds"])]


@pytest.mark.heavy
@pytest.mark.parametrize("killed_after", [1, 2])
def test_a_run_killed_after_any_round_resumes_to_the_uninterrupted_run(fmnist_root, tmp_path, monkeypatch, killed_after):
    """The labelled set is rebuilt from ``initial`` and every finished round's ``selected``: a
    kill after round 2 of 3 (two rounds of selections to replay) must resume exactly."""
    config = make_config("smoke", acquisition="H_ens")
    assert len(config.labeled_sizes()) == 3
    reference = json.loads(active.run(config, tmp_path / "ref", data_root=str(fmnist_root), progress=False).read_text())
    save = active.add_round

    def save_then_die(path, record, entry, seconds, rounds):
        save(path, record, entry, seconds, rounds)
        if len(record["rounds"]) == killed_after:
            raise KeyboardInterrupt("killed with the round on disk")

    monkeypatch.setattr(active, "add_round", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        active.run(config, tmp_path / "killed", data_root=str(fmnist_root), progress=False)
    monkeypatch.setattr(active, "add_round", save)
    path = active.run(config, tmp_path / "killed", data_root=str(fmnist_root), progress=False)
    resumed = json.loads(path.read_text())
    assert [s["first_round"] for s in resumed["provenance"]["sessions"]] == [0, killed_after]
    assert strip_timings(resumed["rounds"]) == strip_timings(reference["rounds"])


def test_the_loop_labels_the_top_k_of_independently_computed_scores(fmnist_root):
    """Round 0 of a smoke run, step by step through the task: the images acquired are the k
    unlabelled ones of highest H_ens, computed here in float64 numpy from the members' outputs."""
    import numpy as np

    from dpe.engine import make_engine
    from dpe.predict import predict_probs

    config = make_config("smoke", acquisition="H_ens")
    task = active.ClassificationTask(config, torch.device("cpu"), active.load_data("fashion-mnist", str(fmnist_root)),
                                     make_engine("cpu"), progress=False)
    labeled = torch.zeros(task.pool, dtype=torch.bool)
    labeled[active.initial_draw(config, task.pool, task.sizes[0])] = True
    ensemble, _ = task.train(0, labeled)
    k = task.sizes[1] - task.sizes[0]
    chosen = task.acquire(ensemble, labeled, k, 0)

    unlabeled = (~labeled).nonzero().squeeze(1).numpy()
    p = predict_probs(ensemble, task.pool_images[unlabeled], task.normalize).double().numpy().mean(0)  # (U, K)
    entropy = -(p * np.log(p)).sum(-1)
    expected = unlabeled[np.argsort(-entropy, kind="stable")[:k]]
    assert np.unique(entropy).size == entropy.size  # no ties: the top k is one set
    assert sorted(chosen.tolist()) == sorted(expected.tolist())
    assert not labeled[chosen].any()


# --- ClassificationTask, one step at a time (fast: nothing trains but where a test says so) --

def _task(fmnist_root, engine=None, **overrides):
    from dpe.engine import make_engine

    config = make_config("smoke", **overrides)
    return active.ClassificationTask(config, torch.device("cpu"), active.load_data("fashion-mnist", str(fmnist_root)),
                                     engine or make_engine("cpu"))


def test_seeds_are_sha256_of_seed_trial_and_purpose_and_the_initial_draw_uses_its_own():
    """derive_seed is the first 48 bits of SHA-256 of [seed, trial, *purpose] in JSON (records
    made earlier must replay exactly); the initial set is randperm's first items under the
    "initial" seed, sorted, whatever the global RNG has done."""
    import hashlib

    c = make_config("smoke", trial=2)
    blob = json.dumps([c.seed, 2, "acquire", 3]).encode()
    assert active.derive_seed(c, "acquire", 3) == int(hashlib.sha256(blob).hexdigest()[:12], 16) < 2**48
    assert len({active.derive_seed(c, p, 0) for p in ("init", "train", "acquire", "ties")}) == 4
    assert active.derive_seed(c, "init", 0) != active.derive_seed(make_config("smoke", trial=3), "init", 0)
    torch.manual_seed(123)
    g = torch.Generator().manual_seed(active.derive_seed(c, "initial"))
    expected = sorted(torch.randperm(50, generator=g)[:7].tolist())
    torch.manual_seed(456)
    assert active.initial_draw(c, 50, 7).tolist() == expected


def test_the_task_holds_the_split_and_maps_ids_to_positions(fmnist_root):
    from dpe.errors import ConfigError

    task = _task(fmnist_root)
    data, sp = task.data, task.split
    assert task.pool == len(sp.pool) == 600 and task.sizes == task.config.labeled_sizes() and task.val is None
    assert torch.equal(task.pool_images, data.train_images[sp.pool]) and torch.equal(task.pool_labels, data.train_labels[sp.pool])
    assert torch.equal(task.test_images, data.test_images[sp.test]) and torch.equal(task.test_labels, data.test_labels[sp.test])
    assert task.progress is True and task.mc == 0
    ids = [int(sp.pool[3]), int(sp.pool[7])]
    assert task.positions(ids).tolist() == [3, 7] and task.record_ids(torch.tensor([3, 7])) == ids
    assert task.positions([]).dtype == torch.long and task.positions([]).numel() == 0
    record = task.new_record()
    assert record["initial"] == task.record_ids(active.initial_draw(task.config, 600, task.sizes[0]))
    assert record["provenance"]["data_source"] == data.source
    paper = _task(fmnist_root, protocol="paper")
    assert torch.equal(paper.val[0], data.train_images[sp.val]) and torch.equal(paper.val[1], data.train_labels[sp.val])
    assert _task(fmnist_root, model="mc-dropout", dropout=0.25, mc_samples=5).mc == 5
    assert len(_task(fmnist_root, test_size=100).test_labels) == 100
    with pytest.raises(ConfigError, match="budget=800 is invalid: must not exceed the pool of 700 images"):
        _task(fmnist_root, pool_size=None, budget=800, step=260)  # 900 training images less 200 for validation
    weights = tuple([1.0] + [0.0] * 8)
    with pytest.raises(ConfigError, match="class_weights"):
        _task(fmnist_root, acquisition="V_w", class_weights=weights)


def test_train_gives_the_loop_a_fresh_seeded_ensemble_and_the_labelled_images(fmnist_root, monkeypatch):
    """What train hands train_ensemble, caught before any step: the members built from the
    round's "init" seed, the labelled images and labels, a generator in the "train" state, the
    dataset's augmentation, the engine and the progress flag; MC dropout's masks drawn from the
    ("dropout", "train", r) seed; a diverged loss is flagged."""
    from dpe.ensemble import build_ensemble

    task = _task(fmnist_root, model="mc-dropout", dropout=0.25, mc_samples=3)
    c, data = task.config, task.data
    seen = {}

    def fake_train(ensemble, images, labels, config, normalize, generator, crop_padding, flip, val, progress, engine):
        seen.update(ensemble=ensemble, images=images, labels=labels, config=config, generator=generator.get_state(),
                    crop_padding=crop_padding, flip=flip, val=val, progress=progress, engine=engine, draw=torch.rand(3))
        return {"train_cross_entropy": seen.get("ce", 2.0), "steps": 8}

    monkeypatch.setattr(active, "train_ensemble", fake_train)
    labeled = torch.zeros(task.pool, dtype=torch.bool)
    labeled[[5, 9, 30]] = True
    torch.manual_seed(0)
    ensemble, stats = task.train(2, labeled)
    reference = build_ensemble(c.arch, c.members, data.num_classes, data.in_channels, c.width,
                               seed=active.derive_seed(c, "init", 2), dropout=c.dropout)
    assert ensemble is seen["ensemble"] and all(torch.equal(a, b) for a, b in zip(ensemble.state_dict().values(), reference.state_dict().values()))
    assert torch.equal(seen["images"], task.pool_images[[5, 9, 30]]) and torch.equal(seen["labels"], task.pool_labels[[5, 9, 30]])
    assert torch.equal(seen["generator"], torch.Generator().manual_seed(active.derive_seed(c, "train", 2)).get_state())
    assert (seen["crop_padding"], seen["flip"], seen["val"], seen["progress"], seen["engine"]) == (
        data.crop_padding, data.flip, None, True, task.engine)
    torch.manual_seed(active.derive_seed(c, "dropout", "train", 2))
    assert torch.equal(seen["draw"], torch.rand(3))
    assert {m.p for m in ensemble.modules() if isinstance(m, torch.nn.Dropout)} == {0.25}  # MC dropout's rate
    assert stats == {"train_cross_entropy": 2.0, "steps": 8, "diverged": False}
    seen["ce"] = 1e4
    assert task.train(2, labeled)[1]["diverged"] is True
    paper = _task(fmnist_root, protocol="paper")
    paper.train(0, labeled)
    assert seen["val"] is paper.val


def test_acquire_takes_each_acquisitions_picks_from_the_unlabelled_pool(fmnist_root):
    """R: the top k of the round's "acquire" random scores, ties by its "ties" generator; core-set:
    the k-center picks of the whole pool's features; BADGE and TypiClust: their choices on the
    pool's gradient embeddings and features, drawn by the round's "acquire" generator; MC dropout + H_ens: the top k of the entropy
    of T passes whose masks come from the ("dropout", "acquire", r) seed. Untrained members."""
    import numpy as np

    from dpe.acquisition import k_center_greedy, random_scores, top_k
    from dpe.predict import pool_features, predict_probs

    labeled = torch.zeros(600, dtype=torch.bool)
    labeled[:20] = True
    unlabeled = torch.arange(20, 600)
    for_r = _task(fmnist_root, acquisition="R")
    ensemble = None  # R predicts nothing
    c = for_r.config
    scores = random_scores(580, torch.Generator().manual_seed(active.derive_seed(c, "acquire", 1)))
    expected = unlabeled[top_k(scores, 20, torch.Generator().manual_seed(active.derive_seed(c, "ties", 1)))]
    assert for_r.acquire(ensemble, labeled, 20, 1).tolist() == expected.tolist()
    assert for_r.acquire(ensemble, labeled, 20, 2).tolist() != expected.tolist()

    from dpe.ensemble import build_ensemble

    coreset = _task(fmnist_root, acquisition="coreset")
    d = coreset.data
    members = build_ensemble("preact-resnet18", 3, d.num_classes, d.in_channels, 4, seed=1)
    features = pool_features(members, coreset.pool_images, coreset.normalize, coreset.engine)
    assert coreset.acquire(members, labeled, 5, 0).tolist() == k_center_greedy(features, labeled, 5).tolist()
    # BADGE: k-means++ seeds on the gradient embeddings, drawn by the round's "acquire" generator;
    # the embeddings from the members' features and softmax of the whole pool
    from dpe.acquisition import gradient_embedding, kmeans_pp_seeds, typiclust
    from dpe.predict import pool_gradient_embeddings

    badge = _task(fmnist_root, acquisition="BADGE")
    embeddings = pool_gradient_embeddings(members, badge.pool_images, badge.normalize, badge.engine)
    probs = predict_probs(members, badge.pool_images, badge.normalize, badge.engine)  # (E, P, K)
    per_member = features.view(len(features), 3, -1).transpose(0, 1)  # (E, P, D)
    assert torch.allclose(embeddings, gradient_embedding(per_member, probs), atol=1e-5)
    rng = lambda task: torch.Generator().manual_seed(active.derive_seed(task.config, "acquire", 0))  # noqa: E731
    picks = badge.acquire(members, labeled, 5, 0)
    assert picks.tolist() == kmeans_pp_seeds(embeddings, labeled, 5, rng(badge)).tolist() and not labeled[picks].any()
    typical = _task(fmnist_root, acquisition="TypiClust")
    assert typical.acquire(members, labeled, 5, 0).tolist() == typiclust(features, labeled, 5, rng(typical)).tolist()

    mc = _task(fmnist_root, model="mc-dropout", dropout=0.25, mc_samples=4, acquisition="H_ens")
    net = build_ensemble("preact-resnet18", 1, d.num_classes, d.in_channels, 4, seed=1, dropout=0.25)
    picks = mc.acquire(net, labeled, 10, 3)
    torch.manual_seed(active.derive_seed(mc.config, "dropout", "acquire", 3))
    p = predict_probs(net, mc.pool_images[unlabeled], mc.normalize, mc.engine, mc_samples=4).double().mean(0).numpy()
    entropy = -(p * np.log(p)).sum(-1)
    assert np.unique(entropy).size == entropy.size
    assert sorted(picks.tolist()) == sorted(unlabeled[np.argsort(-entropy)[:10]].tolist())
    assert not labeled[picks].any()


def test_evaluate_uses_the_tasks_engine_and_the_test_dropout_seed(fmnist_root):
    import dataclasses

    from dpe.engine import make_engine
    from dpe.ensemble import build_ensemble
    from dpe.predict import evaluate, predict_probs

    default = make_engine("cpu")
    other = dataclasses.replace(default, bf16=not default.bf16)
    task = _task(fmnist_root, engine=other, model="mc-dropout", dropout=0.25, mc_samples=3)
    d = task.data
    net = build_ensemble("preact-resnet18", 1, d.num_classes, d.in_channels, 4, seed=1, dropout=0.25)
    got = task.evaluate(net, 4)
    torch.manual_seed(active.derive_seed(task.config, "dropout", "test", 4))
    assert got == evaluate(predict_probs(net, task.test_images, task.normalize, other, 3), task.test_labels)
    torch.manual_seed(active.derive_seed(task.config, "dropout", "test", 4))
    assert got != evaluate(predict_probs(net, task.test_images, task.normalize, default, 3), task.test_labels)


def test_describe_selection_counts_the_selected_images_classes(fmnist_root):
    task = _task(fmnist_root)
    selected = torch.tensor([0, 1, 2, 3])
    labels = task.pool_labels[selected].tolist()
    histogram = task.describe_selection(selected)["selection_histogram"]
    assert len(histogram) == task.data.num_classes and sum(histogram) == 4
    assert all(histogram[k] == labels.count(k) for k in range(task.data.num_classes))
    assert task.describe_selection(torch.zeros(0, dtype=torch.long))["selection_histogram"] == [0] * task.data.num_classes


def test_run_passes_progress_on_by_default(fmnist_root, tmp_path, monkeypatch):
    seen = {}

    def fake_loop(config, results_dir, make_task, progress):
        seen.update(progress=progress, task=make_task())
        return Path(results_dir)

    monkeypatch.setattr(active, "algorithm_1", fake_loop)
    active.run(make_config("smoke"), tmp_path, data_root=str(fmnist_root))
    assert seen["progress"] is True and seen["task"].progress is True
    active.run(make_config("smoke"), tmp_path, data_root=str(fmnist_root), progress=False)
    assert seen["progress"] is False and seen["task"].progress is False
    data = active.load_data("fashion-mnist", str(fmnist_root))
    active.run(make_config("smoke"), tmp_path, data=data, data_root="/nowhere", engine="plain")
    assert seen["task"].data is data and seen["task"].engine.name == "plain"


@pytest.mark.parametrize("acquisition", ["VR", "V_w"])
def test_acquire_scores_with_the_tasks_engine_and_weights_and_breaks_ties_by_the_round(fmnist_root, acquisition):
    """VR of 3 untrained members ties over most of the pool: the picks are top_k under the
    round's "ties" generator of the scores score_pool gives with the task's engine (and, for
    V_w, the config's class weights), worked out here."""
    import dataclasses

    from dpe.acquisition import top_k
    from dpe.engine import make_engine
    from dpe.ensemble import build_ensemble
    from dpe.predict import score_pool

    default = make_engine("cpu")
    other = dataclasses.replace(default, bf16=not default.bf16)
    weights = tuple(float(k == 6) for k in range(10)) if acquisition == "V_w" else None
    task = _task(fmnist_root, engine=other, acquisition=acquisition, class_weights=weights)
    d = task.data
    members = build_ensemble("preact-resnet18", 3, d.num_classes, d.in_channels, 4, seed=1)
    labeled = torch.zeros(600, dtype=torch.bool)
    labeled[:20] = True
    unlabeled = torch.arange(20, 600)
    scores = score_pool(members, task.pool_images[unlabeled], task.normalize, acquisition, other, weights=weights)
    expected = unlabeled[top_k(scores, 30, torch.Generator().manual_seed(active.derive_seed(task.config, "ties", 2)))]
    assert task.acquire(members, labeled, 30, 2).tolist() == expected.tolist()
    if acquisition == "VR":
        assert scores.unique().numel() < 10  # ties decide most picks
        other_round = unlabeled[top_k(scores, 30, torch.Generator().manual_seed(active.derive_seed(task.config, "ties", 3)))]
        assert other_round.tolist() != expected.tolist()
    default_scores = score_pool(members, task.pool_images[unlabeled], task.normalize, acquisition, default, weights=weights)
    assert not torch.equal(default_scores, scores) or acquisition == "VR"  # the engine matters for continuous scores
