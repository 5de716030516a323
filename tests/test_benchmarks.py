"""The tools under benchmarks/ that other commands rely on."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_mutation_state_carries_only_results_and_restore_keeps_local_ones(tmp_path):
    """Only *.meta and mutmut-stats.json travel (not the mutated sources); restore leaves a file
    already in mutants/ as it is, save overwrites the committed one."""
    state = _load("mutation_state")
    local, committed = tmp_path / "mutants", tmp_path / "state"
    (local / "dpe" / "study").mkdir(parents=True)
    (local / "dpe" / "acquisition.py.meta").write_text("local acquisition")
    (local / "dpe" / "study" / "stats.py.meta").write_text("local stats")
    (local / "dpe" / "acquisition.py").write_text("mutated source")
    (local / "mutmut-stats.json").write_text("{}")
    assert state.copy(local, committed, overwrite=True) == 3
    assert sorted(map(str, state.state_files(committed))) == [
        "dpe/acquisition.py.meta", "dpe/study/stats.py.meta", "mutmut-stats.json"]
    (committed / "dpe" / "acquisition.py.meta").write_text("committed acquisition")
    (local / "dpe" / "study" / "stats.py.meta").unlink()
    assert state.copy(committed, local, overwrite=False) == 1  # only the missing stats.py.meta
    assert (local / "dpe" / "acquisition.py.meta").read_text() == "local acquisition"
    assert (local / "dpe" / "study" / "stats.py.meta").read_text() == "local stats"
    assert state.copy(local, committed, overwrite=True) == 3
    assert (committed / "dpe" / "acquisition.py.meta").read_text() == "local acquisition"
    assert state.main(["both"]) == 2


def test_paper_cpu_plan_counts_every_round_of_the_grid_hand_worked(monkeypatch):
    """One second a step and free prediction: a run's minutes are its steps / 60. Random sampling
    at paper-cpu trains 1 500 + 1 500 + 1 875 + 3 750 = 8 625 steps (2k, 4k, 8k, 16k labels: 15
    epochs of 64, at least 1 500 steps), its convergence twin twice that, and an upper bound
    15 x (55 000 // 64) = 12 885 steps; the L2 ensemble and the deterministic network train x2 there
    (ROUND_SCALE, fixed here as the check chose it on 2026-12-03), so their runs take twice the steps (the L2
    upper bound too) and their twins four times."""
    from dpe import profiles
    monkeypatch.setitem(profiles.ROUND_SCALE, "paper-cpu", {"l2-ensemble": 2, "deterministic": 2})
    cost = _load("paper_cpu_cost")
    step = {m: 1.0 for m in cost.MODELS}
    free = {m: {"score_pool": 0.0, "test_10k": 0.0} for m in cost.MODELS}
    plan = cost.plan(step, free)
    runs = {r["run"]: r for r in plan["runs"]}
    assert runs["dpe R"]["steps_per_round"] == [1500, 1500, 1875, 3750] and runs["dpe R"]["minutes"] == 143.8
    assert runs["dpe R | x2 (check)"]["steps_per_round"] == [3000, 3000, 3750, 7500]
    assert runs["dpe H_ens"]["minutes"] == 143.8 and "dpe H_ens | x2 (check)" not in runs  # the check is random sampling only
    assert runs["dpe upper bound"]["steps_per_round"] == [12885]
    assert len(runs) == 6 + 3 + 2  # Table 4's rows, the three doubled R runs, two upper bounds
    assert runs["deterministic R"]["steps_per_round"] == [3000, 3000, 3750, 7500]
    assert runs["deterministic R | x2 (check)"]["steps_per_round"] == [6000, 6000, 7500, 15000]
    assert runs["l2-ensemble upper bound"]["steps_per_round"] == [2 * 12885]  # its round length, on every label
    total = (8625 + 17250 + 8625) + 2 * (17250 + 34500 + 17250) + 12885 + 2 * 12885
    assert plan["cpu_hours_one_trial"] == pytest.approx(total / 3600, abs=0.01)  # the sum of minutes rounded per run
    slow = cost.plan(step, {m: {"score_pool": 60.0, "test_10k": 6.0} for m in cost.MODELS})
    by = {r["run"]: r["minutes"] for r in slow["runs"]}
    assert by["dpe H_ens"] == round((8625 + 3 * 60 + 4 * 6) / 60, 1) and by["dpe R"] == round((8625 + 4 * 6) / 60, 1)
