"""Algorithm 1 end to end on a tiny Fashion-MNIST fixture: schedules, records, resume."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

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
    import torch

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
