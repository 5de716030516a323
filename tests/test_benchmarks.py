"""The tools under benchmarks/ that other commands rely on."""

from __future__ import annotations

import importlib.util
from pathlib import Path

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
