"""The command line and the config: profiles, overrides, one-line errors."""

import dataclasses
import json
from pathlib import Path

import pytest

from dpe.cli import main
from dpe.config import PROFILES, ConfigError, RunConfig, make_config


def test_profiles_are_valid_configs():
    for name in PROFILES:
        config = make_config(name)
        assert isinstance(config, RunConfig)
    paper = make_config("paper")
    assert (paper.members, paper.batch_size, paper.lr, paper.momentum, paper.patience, paper.max_epochs) == (8, 32, 0.1, 0.9, 25, 400)
    assert paper.labeled_sizes() == [2000, 4000, 8000, 16000] and paper.beta == 1e-5


def test_hash_is_stable_and_ignores_nothing_that_matters():
    a, b = make_config("smoke"), make_config("smoke")
    assert a.hash() == b.hash() and len(a.hash()) == 16
    assert make_config("smoke", trial=1).hash() != a.hash()
    assert make_config("smoke", beta=2e-5).hash() != a.hash()


def test_deterministic_gets_one_member():
    assert make_config("quick", model="deterministic").members == 1
    with pytest.raises(ConfigError, match="single network"):
        make_config("quick", model="deterministic", members=4)


def test_a_model_of_round_scale_gets_its_longer_round_unless_told(monkeypatch):
    from dpe import config
    from dpe.study.grids import convergence_grid

    monkeypatch.setitem(config.ROUND_SCALE, "quick", {"l2-ensemble": 2, "mc-dropout": 4})
    quick = PROFILES["quick"]
    dpe, l2, mc = (make_config("quick", model=m) for m in ("dpe", "l2-ensemble", "mc-dropout"))
    assert (dpe.max_epochs, dpe.min_steps) == (quick["max_epochs"], quick["min_steps"])
    assert (l2.max_epochs, l2.min_steps) == (2 * quick["max_epochs"], 2 * quick["min_steps"])
    assert (mc.max_epochs, mc.min_steps, mc.members) == (4 * quick["max_epochs"], 4 * quick["min_steps"], 1)
    assert make_config("quick", model="l2-ensemble", max_epochs=7).max_epochs == 7  # an explicit value wins
    assert make_config("smoke", model="l2-ensemble").max_epochs == PROFILES["smoke"]["max_epochs"]  # other profiles
    grid = dict(convergence_grid("quick", "fashion-mnist", 1, scales=(1,)))
    assert grid["l2-ensemble | x2"] == dataclasses.replace(l2, acquisition="R", schedule="exponential")
    assert grid["l2-ensemble | x4"].max_epochs == 4 * quick["max_epochs"]  # twice the model's own round
    assert sorted(label for label in grid if label.startswith("mc-dropout")) == ["mc-dropout | x1", "mc-dropout | x4", "mc-dropout | x8"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "bnn"], "model='bnn' is invalid"),
        (["--acquisition", "BALD"], "acquisition='BALD' is invalid"),
        (["--dataset", "mnist"], "dataset='mnist' is invalid"),
        (["--budget", "-5"], "budget=-5 is invalid"),
        (["--budget", "100000"], "must not exceed the pool"),
        (["--members", "1"], "members=1 is invalid"),
        (["--profile", "huge"], "profile='huge' is invalid"),
        (["--members", "two"], "--members got 'two'"),
        (["--acquisition", "V_w"], "class_weights=None is invalid"),
        (["--acquisition", "V_w", "--class-weights", "0,1"], "give one weight per class: 10"),
        (["--results", "/proc/nope"], "results='/proc/nope' is invalid: cannot write records"),
        (["--data-root", "/nonexistent"], "data_root='/nonexistent' is invalid: no such folder"),
        (["--pool-size", "100000"], "pool_size=100000 is invalid"),
    ],
)
def test_bad_values_exit_nonzero_with_one_line(args, message, capsys, fmnist_root, tmp_path):
    try:
        code = main(["run", "--profile", "smoke", "--data-root", str(fmnist_root), "--results", str(tmp_path), *args])
    except SystemExit as exit_info:  # argparse's own errors
        code = exit_info.code
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and message in err, err


@pytest.mark.heavy
def test_cli_runs_and_prints_the_record_path_last(capsys, fmnist_root, tmp_path):
    code = main(["run", "--profile", "smoke", "--data-root", str(fmnist_root), "--results", str(tmp_path),
                 "--model", "l2-ensemble", "--acquisition", "VR", "--budget", "40", "--no-progress"])
    path = Path(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and path.parent == tmp_path / "runs"
    record = json.loads(path.read_text())
    assert record["config"]["model"] == "l2-ensemble" and record["config"]["acquisition"] == "VR"
    assert [r["labeled"] for r in record["rounds"]] == [20, 40]


@pytest.mark.heavy
def test_v_w_weights_from_the_command_line(capsys, fmnist_root, tmp_path):
    code = main(["run", "--profile", "smoke", "--data-root", str(fmnist_root), "--results", str(tmp_path),
                 "--acquisition", "V_w", "--class-weights", "0,0,0,0,0,0,0,0,0,1", "--budget", "40", "--no-progress"])
    record = json.loads(Path(capsys.readouterr().out.strip().splitlines()[-1]).read_text())
    assert code == 0 and record["config"]["class_weights"] == [0.0] * 9 + [1.0]
