"""Algorithm 1 (``dpe.active.algorithm_1``) alone, with a task that trains nothing: which items
each round sees as labelled, what it asks the task, what it records, how it resumes. Milliseconds
a test, so that a mutant of the loop is caught without a training run."""

import json
from pathlib import Path

import pytest
import torch

from dpe.active import algorithm_1
from dpe.config import make_config
from dpe.engine import make_engine
from dpe.records import new_record, record_path

POOL = 12
IDS = [100 + 3 * p for p in range(POOL)]  # record ids differ from pool positions, as in classification
SCORE = torch.tensor([5.0, 1, 9, 3, 11, 0, 7, 2, 10, 4, 8, 6])  # (POOL,) a fixed score per position


class FakeTask:
    """Pool of 12 items; the "model" of round r is r; acquire labels the k unlabelled positions
    of highest SCORE; evaluate reports accuracy r / 10. ``crash_in`` makes train fail in a round."""

    unit = "items"

    def __init__(self, config, sizes, crash_in=None):
        self.config, self.sizes, self.pool, self.crash_in = config, sizes, POOL, crash_in
        self.device, self.engine = torch.device("cpu"), make_engine("cpu")
        self.seen, self.asked, self.evaluated = [], [], []  # labelled positions at train, acquire's (r, k), evaluated r

    def new_record(self):
        return new_record(self.config, [IDS[p] for p in (1, 7)][: self.sizes[0]], self.device, "fake")

    def positions(self, ids):
        return torch.tensor([IDS.index(i) for i in ids], dtype=torch.long)

    def record_ids(self, positions):
        return [IDS[p] for p in positions.tolist()]

    def train(self, r, labeled):
        if r == self.crash_in:
            raise KeyboardInterrupt(f"killed in round {r}")
        self.seen.append(labeled.nonzero().squeeze(1).tolist())
        return r, {"steps": 10 * r}

    def evaluate(self, model, r):
        self.evaluated.append(model)
        return {"accuracy": model / 10}

    def acquire(self, model, labeled, k, r):
        self.asked.append((r, k))
        scores = SCORE.masked_fill(labeled, float("-inf"))
        return scores.topk(k).indices.flip(0)  # in no particular order: the loop sorts

    def describe_selection(self, selected):
        return {"n_selected": len(selected)}


def config(trial=0):
    return make_config("smoke", schedule="sizes", sizes=(2, 4, 7), trial=trial)


# by hand: initial {1, 7}; round 0 labels the 2 best of the rest by SCORE: 4 (11), 8 (10);
# round 1 the 3 best of the rest: 2 (9), 10 (8), 6 (7)
EXPECTED_SEEN = [[1, 7], [1, 4, 7, 8], [1, 2, 4, 6, 7, 8, 10]]
EXPECTED_SELECTED = [[IDS[4], IDS[8]], [IDS[2], IDS[6], IDS[10]], []]


def test_each_round_trains_on_the_initial_set_and_every_earlier_selection(tmp_path):
    task = FakeTask(config(), [2, 4, 7])
    path = algorithm_1(task.config, tmp_path, lambda: task, progress=False)
    assert path == record_path(tmp_path, task.config)
    assert task.seen == EXPECTED_SEEN
    assert task.asked == [(0, 2), (1, 3)]  # k = sizes[r+1] - sizes[r]; never in the last round
    assert task.evaluated == [0, 1, 2]
    record = json.loads(path.read_text())
    assert record["finished"] and record["initial"] == [IDS[1], IDS[7]]
    assert [r["selected"] for r in record["rounds"]] == EXPECTED_SELECTED  # ids, sorted by position
    assert [r["round"] for r in record["rounds"]] == [0, 1, 2]
    assert [r["labeled"] for r in record["rounds"]] == [2, 4, 7]
    assert [r["accuracy"] for r in record["rounds"]] == [0.0, 0.1, 0.2]
    assert [r["steps"] for r in record["rounds"]] == [0, 10, 20]
    assert [r["n_selected"] for r in record["rounds"]] == [2, 3, 0]
    assert record["rounds"][2]["score_seconds"] == 0.0
    assert all(r["score_seconds"] >= 0 for r in record["rounds"])
    assert [s["first_round"] for s in record["provenance"]["sessions"]] == [0]


@pytest.mark.parametrize("crash_in", [1, 2])
def test_a_run_stopped_in_any_round_resumes_there_with_the_same_labelled_set(tmp_path, crash_in):
    first = FakeTask(config(), [2, 4, 7], crash_in=crash_in)
    with pytest.raises(KeyboardInterrupt):
        algorithm_1(first.config, tmp_path, lambda: first, progress=False)
    partial = json.loads(record_path(tmp_path, first.config).read_text())
    assert len(partial["rounds"]) == crash_in and not partial["finished"]

    resumed = FakeTask(config(), [2, 4, 7])
    path = algorithm_1(resumed.config, tmp_path, lambda: resumed, progress=False)
    assert first.seen + resumed.seen == EXPECTED_SEEN  # nothing rerun, nothing lost
    record = json.loads(path.read_text())
    assert record["finished"] and [r["selected"] for r in record["rounds"]] == EXPECTED_SELECTED
    assert [s["first_round"] for s in record["provenance"]["sessions"]] == [0, crash_in]


def test_a_finished_run_is_returned_without_building_the_task(tmp_path):
    task = FakeTask(config(), [2, 4, 7])
    algorithm_1(task.config, tmp_path, lambda: task, progress=False)
    before = record_path(tmp_path, task.config).read_text()

    def must_not_build():
        raise AssertionError("a finished run built its task")

    assert algorithm_1(task.config, tmp_path, must_not_build, progress=False) == record_path(tmp_path, task.config)
    assert record_path(tmp_path, task.config).read_text() == before


def test_a_labelled_count_off_the_schedule_stops_the_run(tmp_path):
    task = FakeTask(config(), [3, 4, 7])  # the initial set holds 2, the schedule says 3
    with pytest.raises(RuntimeError, match="round 0: 2 labelled items, expected 3"):
        algorithm_1(task.config, tmp_path, lambda: task, progress=False)
    assert task.seen == []


def test_runs_of_different_configs_keep_separate_records(tmp_path):
    a, b = FakeTask(config(trial=0), [2, 4, 7]), FakeTask(config(trial=1), [2, 4, 7])
    pa = algorithm_1(a.config, tmp_path, lambda: a, progress=False)
    pb = algorithm_1(b.config, tmp_path, lambda: b, progress=False)
    assert pa != pb and b.seen == EXPECTED_SEEN  # the second run did not reuse the first's record
    assert {Path(p).stat().st_mode & 0o777 for p in (pa, pb)} == {0o644}  # readable by all, to share and commit
    assert not list(Path(pa).parent.glob("*.tmp"))  # no temporary file left beside them


def test_the_loop_passes_each_round_its_number_and_times_it_within_the_wall_clock(tmp_path):
    import time

    task = FakeTask(config(), [2, 4, 7])
    evaluated_rounds, trained_rounds = [], []
    evaluate, train = task.evaluate, task.train
    task.evaluate = lambda model, r: evaluated_rounds.append(r) or evaluate(model, r)
    task.train = lambda r, labeled: trained_rounds.append(r) or train(r, labeled)
    start = time.perf_counter()
    path = algorithm_1(task.config, tmp_path, lambda: task, progress=False)
    elapsed = time.perf_counter() - start
    record = json.loads(path.read_text())
    assert evaluated_rounds == trained_rounds == [0, 1, 2]
    assert all(0 <= r["score_seconds"] <= elapsed for r in record["rounds"])
    assert 0 <= record["provenance"]["wall_seconds"] <= elapsed


def test_the_progress_bar_names_the_run_and_is_on_by_default(tmp_path, capsys):
    task = FakeTask(config(trial=3), [2, 4, 7])
    algorithm_1(task.config, tmp_path, lambda: task)
    bar = capsys.readouterr().err
    assert f"{task.config.model} {task.config.acquisition} trial 3" in bar
    assert "3/3" in bar and ("round/s" in bar or "s/round" in bar)  # unit="round"
    assert "accuracy=0.200" in bar and "labeled=7" in bar
    quiet = FakeTask(config(trial=4), [2, 4, 7])
    algorithm_1(quiet.config, tmp_path, lambda: quiet, progress=False)
    assert capsys.readouterr().err == ""


def test_the_progress_bar_shows_miou_for_segmentation(tmp_path, capsys):
    task = FakeTask(config(trial=5), [2, 4, 7])
    task.evaluate = lambda model, r: {"miou": model / 4}
    algorithm_1(task.config, tmp_path, lambda: task)
    assert "miou=0.500" in capsys.readouterr().err


def test_each_sitting_notes_the_code_it_ran(tmp_path, monkeypatch):
    """A run resumed at another commit says so: each sitting keeps its own commit and tree state,
    the record's top level keeps the first's."""
    import dpe.records

    sittings = iter([{"commit": "a" * 40, "dirty": False}] * 2 + [{"commit": "b" * 40, "dirty": True}])
    monkeypatch.setattr(dpe.records, "git_commit", lambda: next(sittings))
    first = FakeTask(config(), [2, 4, 7], crash_in=1)
    with pytest.raises(KeyboardInterrupt):
        algorithm_1(first.config, tmp_path, lambda: first, progress=False)
    resumed = FakeTask(config(), [2, 4, 7])
    record = json.loads(algorithm_1(resumed.config, tmp_path, lambda: resumed, progress=False).read_text())
    sessions = record["provenance"]["sessions"]
    assert [(s["first_round"], s["git_commit"], s["git_dirty"]) for s in sessions] == [(0, "a" * 40, False), (1, "b" * 40, True)]
    assert (record["provenance"]["git_commit"], record["provenance"]["git_dirty"]) == ("a" * 40, False)
