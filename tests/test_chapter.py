"""The chapter API: every parameter resolved in one place, in one order; and the package's
imports form no cycle."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from dpe.errors import ConfigError
from dpe.profiles import STUDY_PROFILES
from dpe.study import grids
from dpe.study.chapter import chapter, notebook_chapter, notebook_defaults, parameters

ROOT = Path(__file__).resolve().parents[1]


def _default_in_notebook(name: str, key: str):
    """The value of ``key = ...`` in the notebook's parameters cell, read from its JSON by hand."""
    cell = next(c for c in json.loads((ROOT / "notebooks" / f"{name}.ipynb").read_text())["cells"]
                if "parameters" in c.get("metadata", {}).get("tags", []))
    line = next(l for l in "".join(cell["source"]).splitlines() if l.startswith(f"{key} = "))
    return ast.literal_eval(line.split("=", 1)[1].split("#")[0].strip())


def test_parameters_are_notebook_defaults_then_profile_then_overrides(monkeypatch):
    monkeypatch.setitem(STUDY_PROFILES, "test", {"*": {"trials": 7}, "growth": {"trials": 4, "dataset": "cifar10"}})
    assert parameters("growth", "unlisted")["trials"] == _default_in_notebook("growth", "trials") == 3
    assert parameters("acquisition", "test")["trials"] == 7  # the profile's "*"
    assert parameters("growth", "test")["trials"] == 4  # the profile's own entry beats "*"
    assert parameters("growth", "test", {"trials": 9})["trials"] == 9  # an override beats both
    grown = parameters("growth", "test")
    assert grown["dataset"] == "cifar10" and grown["profile"] == "test"
    assert grown["results_dir"] == "results/test"  # None means the profile's own folder
    assert parameters("growth", "test", {"results_dir": "elsewhere"})["results_dir"] == "elsewhere"
    assert "members" not in parameters("growth", "test", {"members": [2]})  # not growth's: ignored


def test_a_wrong_kind_of_override_is_one_line_naming_it():
    with pytest.raises(ConfigError, match=r"-p trials='abc' is invalid: growth expects an integer"):
        parameters("growth", "quick", {"trials": "abc"})
    with pytest.raises(ConfigError, match="expects a list"):
        parameters("acquisition", "quick", {"acquisitions": "H_ens"})
    assert parameters("growth", "quick", {"data_root": "/data"})["data_root"] == "/data"  # None takes anything


def test_defaults_come_from_the_notebook_itself():
    for name in ("growth", "l2_vs_dpe", "segmentation", "convergence"):
        defaults = notebook_defaults(name)
        for key in ("profile", "trials", "run_missing"):
            if key in defaults:
                assert defaults[key] == _default_in_notebook(name, key), (name, key)


def test_a_chapter_is_its_grid_and_the_finished_part_of_it(tmp_path):
    ch = chapter("l2_vs_dpe", "paper-cpu")
    assert ch.params["trials"] == STUDY_PROFILES["paper-cpu"]["l2_vs_dpe"]["trials"]
    assert ch.grid == grids.l2_vs_dpe_grid("paper-cpu", "fashion-mnist", ch.params["trials"], {}, upper_bound=True)
    done, paths = grids.finished_part(ch.grid, "results/paper-cpu")
    assert (ch.done, ch.paths) == (done, paths) and 0 < len(done) <= len(ch.grid)
    assert ch.partial == grids.partial_note(ch.grid, done, "python -m dpe.study --profile paper-cpu --only l2_vs_dpe")
    empty = chapter("growth", "quick", results_dir=str(tmp_path))
    assert empty.done == [] and empty.paths == [] and empty.partial.startswith("**Partial grid: 0 of")
    assert empty.partial.endswith("The rest run with `python -m dpe.study --profile quick --only growth`.")


def test_a_notebooks_own_values_override_its_profile():
    """Inside a notebook the parameter values are final (papermill has injected them): they win
    over the profile's, so a notebook executed by hand with -p trials 2 shows 2 trials."""
    namespace = {**notebook_defaults("l2_vs_dpe"), "trials": 2, "run_missing": False, "unrelated": 1}
    ch = notebook_chapter("l2_vs_dpe", namespace)
    assert ch.params["trials"] == 2 and STUDY_PROFILES["quick"]["l2_vs_dpe"]["trials"] != 2
    assert ch.grid == grids.l2_vs_dpe_grid("quick", "fashion-mnist", 2, {}, upper_bound=False)


def test_the_runner_and_findings_resolve_as_the_chapter_does():
    from dpe.study.findings import chapter_rounds

    rounds, params, finished, runs = chapter_rounds("l2_vs_dpe", "paper-cpu", Path("results/paper-cpu"))
    assert params == parameters("l2_vs_dpe", "paper-cpu")
    compared = [label for label, _ in chapter("l2_vs_dpe", "paper-cpu").grid if grids.UPPER_BOUND not in label]
    assert runs == len(compared)  # the upper bounds are shown, never compared: not counted
    assert finished == rounds.loc[~rounds["label"].str.contains(grids.UPPER_BOUND), "run"].nunique()


def test_parameters_are_resolved_nowhere_else():
    """The chapter API is the one place that reads a notebook's defaults or a profile's parameters."""
    sources = [p for p in (ROOT / "dpe").rglob("*.py")] + list((ROOT / "notebooks").glob("*.ipynb"))
    pattern = re.compile(r"inspect_notebook|\.get\(\"(trials|scales|models)\"|study_parameters\(")
    found = {str(p.relative_to(ROOT)) for p in sources if pattern.search(p.read_text())}
    assert found == {"dpe/study/chapter.py"}


def _imports(path: Path, package: str) -> set[str]:
    """Every dpe module ``path`` imports, at module level or inside a function (not under
    ``if TYPE_CHECKING``)."""
    tree = ast.parse(path.read_text())
    skip = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
            for n in ast.walk(node)}
    names = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(package):
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.startswith(package))
    return names


def test_the_package_has_no_import_cycle():
    modules = {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
               for p in (ROOT / "dpe").rglob("*.py")}
    graph = {m: {n for n in _imports(p, "dpe") if n in modules and n != m} for m, p in modules.items()}
    for m in modules:  # a package's __init__ re-exports its modules: importing it is not a cycle of theirs
        if modules[m].name == "__init__.py":
            graph[m] = set()
    state: dict[str, int] = {}

    def visit(m, path):
        state[m] = 1
        for n in graph[m]:
            if state.get(n) == 1:
                raise AssertionError("import cycle: " + " -> ".join(path[path.index(n):] + [n]))
            if n not in state:
                visit(n, path + [n])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])


def test_costs_sum_each_finished_records_wall_time_once(tmp_path):
    """Two finished growth runs and one unfinished: the chapter's row counts 2 of 18 and their
    hours; the profile's total counts a run shared by two chapters once."""
    from conftest import valid_record
    from dpe.records import record_path, save_record
    from dpe.study.costs import chapter_costs, costs_table

    grid = grids.growth_grid("quick", "fashion-mnist", 3)
    exponential = [c for label, c in grid if label == "Exponential-4"]  # also acquisition's H_ens runs
    save_record(record_path(tmp_path, exponential[0]), valid_record(exponential[0], wall_seconds=3600.0))
    save_record(record_path(tmp_path, exponential[1]), valid_record(exponential[1], wall_seconds=1800.0))
    save_record(record_path(tmp_path, exponential[2]), valid_record(exponential[2], rounds=2, wall_seconds=900.0))
    costs = chapter_costs("quick", tmp_path).set_index("chapter")
    assert (costs.loc["growth", "finished"], costs.loc["growth", "runs"]) == (2, 18)
    assert costs.loc["growth", "hours"] == pytest.approx(1.5) and costs.loc["growth", "median_hours"] == pytest.approx(0.75)
    assert costs.loc["acquisition", "hours"] == pytest.approx(1.5)  # the same two runs
    assert costs.loc["the main job, each run once", "hours"] == pytest.approx(1.5)
    assert costs.loc["the main job, each run once", "finished"] == 2
    html = costs_table(costs.reset_index()).data
    assert re.search(r">quick<.*?>growth<.*?>2 of 18<.*?>1.50<.*?>0.75<", html, re.S)
