"""Records that cannot lie: every read checks a record, and every user error is one line, exit 2."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from dpe import active
from dpe.cli import main
from dpe.config import make_config
from dpe.errors import ConfigError
from dpe.records import RecordMismatch, content_digest, read_record, record_path, write_atomically
from dpe.study.grids import finished_part, l2_vs_dpe_grid
from dpe.study.tables import load_rounds, summarise


@pytest.fixture(scope="module")
def finished(fmnist_root, tmp_path_factory) -> Path:
    """One finished smoke run (3 rounds: 20, 40, 80 labels)."""
    results = tmp_path_factory.mktemp("records")
    return active.run(make_config("smoke", acquisition="H_ens"), results, data_root=str(fmnist_root), progress=False)


def _edited(finished: Path, tmp_path: Path, edit, digest: str = "drop") -> Path:
    """A copy of the finished record, under the same name, after ``edit(record)``; its digest
    dropped (a record from before digests: the other checks still hold), kept as it was
    ("keep": a hand edit), or written anew ("renew": a record the code could have written)."""
    copy = tmp_path / "runs" / finished.name
    copy.parent.mkdir(parents=True, exist_ok=True)
    record = json.loads(finished.read_text())
    edit(record)
    if digest == "drop":
        record.pop("digest")
    elif digest == "renew":
        record["digest"] = content_digest(record)
    copy.write_text(json.dumps(record))
    return copy


@pytest.mark.parametrize("edit, problem", [
    (lambda r: r["rounds"].pop(), "it says finished=True with 2 of its schedule's 3 rounds"),
    (lambda r: r["rounds"].pop(1), "its rounds are not numbered 0, 1, 2, ... in order"),
    (lambda r: r.pop("rounds"), "not a run record"),
    (lambda r: r.update(config_hash="0" * 16), "its name, its config_hash and the hash of its config disagree"),
    (lambda r: r["config"].update(acquisition="R"), "its name, its config_hash and the hash of its config disagree"),
    (lambda r: r["rounds"][0]["selected"].pop(), "round 1 says 40 labelled, but its initial draw and selections add up to 39"),
    (lambda r: r.update(finished=False), "it says finished=False with 3 of its schedule's 3 rounds"),
])
def test_a_record_that_does_not_add_up_is_named_with_what_is_wrong(finished, tmp_path, edit, problem):
    bad = _edited(finished, tmp_path, edit)
    with pytest.raises(RecordMismatch) as error:
        read_record(bad)
    message = str(error.value)
    assert message.startswith(f"{bad} is not a valid record: {problem}") and "\n" not in message
    assert "delete it" in message and f"git checkout -- {bad}" in message


def test_a_hand_edited_number_breaks_the_digest(finished, tmp_path):
    assert json.loads(finished.read_text())["digest"] == content_digest(json.loads(finished.read_text()))
    bad = _edited(finished, tmp_path, lambda r: r["rounds"][1].update(accuracy=0.99), digest="keep")
    with pytest.raises(RecordMismatch, match="its content does not match its digest"):
        read_record(bad)
    assert read_record(_edited(finished, tmp_path, lambda r: None, digest="keep"))["finished"]  # unedited: passes


def test_the_unedited_record_passes_and_a_truncated_one_is_named(finished, tmp_path):
    assert read_record(finished)["finished"]
    truncated = tmp_path / finished.name
    truncated.write_text(finished.read_text()[:300])
    with pytest.raises(RecordMismatch, match=rf"^{truncated} is not valid JSON .*truncated\?"):
        read_record(truncated)


def test_every_committed_record_passes_its_checks():
    for path in sorted(Path("results").glob("*/runs/*.json")):
        read_record(path)


def test_a_chapter_never_counts_a_bad_record_as_finished(finished, tmp_path):
    """The edit of the issue: H_ens relabelled R in place -- its name no longer matches."""
    bad = _edited(finished, tmp_path, lambda r: r["config"].update(acquisition="R"))
    config = make_config("smoke", acquisition="H_ens")
    assert bad.name == record_path(tmp_path, config).name
    with pytest.raises(RecordMismatch, match="disagree"):
        finished_part([("H_ens", config)], tmp_path)
    with pytest.raises(RecordMismatch):
        load_rounds([bad], ["H_ens"])


def test_the_command_line_refuses_a_bad_record_in_one_line(finished, fmnist_root, tmp_path, capsys):
    _edited(finished, tmp_path, lambda r: r["rounds"].pop(1))
    code = main(["run", "--profile", "smoke", "--acquisition", "H_ens", "--data-root", str(fmnist_root),
                 "--results", str(tmp_path), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "is not a valid record" in err


@pytest.mark.parametrize("setting", ["beta", "lr", "momentum", "weight_decay"])
@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_non_finite_settings_are_refused_before_training(setting, value):
    with pytest.raises(ConfigError, match=rf"^{setting}=(nan|inf) is invalid"):
        make_config("smoke", **{setting: value})


def test_trials_below_one_are_a_setting_error():
    with pytest.raises(ConfigError, match=r"^trials=0 is invalid: give 1 or more"):
        l2_vs_dpe_grid("smoke", "fashion-mnist", 0)


def test_a_segmentation_size_of_zero_is_one_line():
    from dpe.segmentation import make_seg_config

    with pytest.raises(ConfigError, match=r"^height x width=\(0, 64\) is invalid"):
        make_seg_config("smoke", height=0)


def test_diverged_rounds_leave_every_summary():
    rows = pd.DataFrame({"label": ["a"] * 4, "labeled": [100, 100, 200, 200], "trial": [0, 1, 0, 1],
                         "accuracy": [0.8, 0.1, 0.9, 0.85], "diverged": [False, True, False, False]})
    summary = summarise(rows, ["label", "labeled"]).set_index("labeled")
    assert summary.loc[100, "mean"] == pytest.approx(0.8) and summary.loc[100, "trials"] == 1
    assert summary.loc[200, "mean"] == pytest.approx(0.875)


def test_a_failed_write_leaves_the_previous_file_and_no_temporary(tmp_path):
    target = tmp_path / "record.json"
    target.write_text("previous")

    def full_disk(f):
        f.write("half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        write_atomically(target, full_disk)
    assert target.read_text() == "previous" and sorted(p.name for p in tmp_path.iterdir()) == ["record.json"]


def test_a_run_whose_every_round_diverged_exits_2(finished, fmnist_root, tmp_path, capsys):
    """Its record, every round marked diverged, is reused: the command names it and what to lower."""
    _edited(finished, tmp_path, lambda r: [round_.update(diverged=True) for round_ in r["rounds"]], digest="renew")
    code = main(["run", "--profile", "smoke", "--acquisition", "H_ens", "--data-root", str(fmnist_root),
                 "--results", str(tmp_path), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "every round of" in err and "lower --lr (now 0.1)" in err and "--beta" in err


def test_a_run_with_a_diverged_round_leaves_the_robustness_curves_and_tests():
    from dpe.study.robustness import curve_summary, final_rounds

    rows = pd.DataFrame({"condition": "c", "method": "m", "run": ["a", "a", "b", "b"], "trial": [0, 0, 1, 1],
                         "labeled": [100, 200, 100, 200], "accuracy": [0.7, 0.1, 0.72, 0.8],
                         "diverged": [False, True, False, False]})
    assert final_rounds(rows)["run"].tolist() == ["b"]
    summary = curve_summary(rows).set_index("labeled")
    assert summary.loc[100, "mean"] == pytest.approx(0.72) and summary.loc[200, "trials"] == 1
