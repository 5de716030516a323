"""The study runner: ``python -m dpe.study --profile quick [--only NAME] [-p key=value]``.

1. Resolves each notebook's parameters: the notebook's own defaults, then the profile's
   (``STUDY_PROFILES``), then ``-p`` overrides (values parsed as YAML: ``-p trials=3``,
   ``-p "members=[2, 4]"``).
2. Runs every run of every selected notebook's grid (``dpe.study.grids``), with a progress bar,
   locally or on an existing Dask cluster (``--executor dask --scheduler ADDRESS``). Finished
   runs are reused.
3. Executes the notebooks with papermill into ``results/<profile>/notebooks/``; a notebook whose
   executed copy already has the same parameters and source and read the same records is skipped
   (``--force`` reruns).
   A failing notebook is named with its cell and error in one line; its partial output is kept.
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import sys
import time
from pathlib import Path

import yaml
from tqdm import tqdm  # the plain bar: tqdm.auto warns inside notebook kernels without ipywidgets

from dpe.cli import resolve_device
from dpe.errors import ConfigError, DataNotFound
from dpe.profiles import STUDY_NOTEBOOKS, STUDY_PROFILES, study_parameters
from dpe.records import RecordMismatch

__all__ = ["NOTEBOOKS", "STUDY_PROFILES", "main", "notebook_parameters", "notebook_records", "one_parameter_cell"]

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = ["convergence", "growth", "acquisition", "l2_vs_dpe", "ensembles", "segmentation", "findings"]  # findings reads the others' records
OPTIONAL_NOTEBOOKS = ["robustness"]  # notebooks run only with --only (long ones)


class StudyError(RuntimeError):
    """A bad parameter or a failed notebook; the message says which and what to do."""


def notebook_parameters(name: str, profile: str, overrides: dict, results_dir: Path, device: str, scheduler: str | None) -> dict:
    """The parameters ``name`` runs with: its defaults, the profile's, then those of
    ``overrides`` that it has (the caller reports overrides no selected notebook has)."""
    import papermill

    path = NOTEBOOK_DIR / f"{name}.ipynb"
    if not path.exists():
        raise StudyError(f"no notebook {path}; choose --only from {NOTEBOOKS + OPTIONAL_NOTEBOOKS}")
    defaults = {k: v["default"] for k, v in papermill.inspect_notebook(str(path)).items()}
    params = {k: _literal(v) for k, v in defaults.items()}
    params.update(profile=profile, results_dir=str(results_dir), device=device, scheduler=scheduler)
    params.update(study_parameters(profile, name))
    for key, value in overrides.items():
        if key in defaults:
            _check_type(name, key, value, params[key])
    params.update(overrides)
    return {k: v for k, v in params.items() if k in defaults}


_KINDS = {bool: ((bool,), "true or false"), int: ((int,), "an integer"), float: ((int, float), "a number"),
          list: ((list, tuple), "a list"), str: ((str,), "a string"), dict: ((dict,), "a mapping")}


def _check_type(notebook: str, key: str, value, current) -> None:
    """Fail on an override whose kind differs from the parameter's ``current`` value (a number
    for a number, a list for a list, ...): ``-p trials=abc`` is an error here, not a traceback
    in a grid. Parameters that default to None take anything."""
    if type(current) not in _KINDS:
        return
    kinds, name = _KINDS[type(current)]
    if not isinstance(value, kinds) or (isinstance(value, bool) and type(current) is not bool):
        raise StudyError(f"-p {key}={value!r} is invalid: {notebook} expects {name} (now {current!r})")


def _literal(text: str):
    """papermill reports defaults as source text; evaluate the literal."""
    import ast

    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def grid_of(name: str, params: dict):
    from dpe.study.grids import GRIDS

    if name not in GRIDS:  # a notebook that only reads records (findings)
        return []
    function = GRIDS[name]
    wanted = inspect.signature(function).parameters
    return function(**{k: params[k] for k in wanted if k in params})


def _source_hash(name: str) -> str:
    return hashlib.sha256((NOTEBOOK_DIR / f"{name}.ipynb").read_bytes()).hexdigest()[:16]


def records_digest(results_dir: Path) -> str:
    """A digest of every run record under ``results_dir/runs``: a notebook rendered over other
    records (a run finished or a round added since) is not current, whatever its parameters."""
    digest = hashlib.sha256()
    for path in sorted((Path(results_dir) / "runs").glob("*.json")):
        digest.update(path.name.encode() + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


def notebook_records(results_dir: Path, params: dict) -> str:
    """``records_digest`` of every folder a notebook reads: ``results_dir`` and the folders of
    its ``other_scales`` parameter (other profiles' records shown beside its own, relative to the
    repository root), so that a run finished at another scale makes the chapter stale too."""
    folders = [Path(results_dir)] + [ROOT / folder for folder in (params.get("other_scales") or {}).values()]
    digests = [records_digest(folder) for folder in dict.fromkeys(f.resolve() for f in folders)]
    return digests[0] if len(digests) == 1 else hashlib.sha256("".join(digests).encode()).hexdigest()[:16]


# Parameters that say what a render may do, not what it shows: after the grid step every run of
# the grid is finished (or the records say which are not), so a chapter rendered with
# run_missing=False (``--no-runs``) over the same records is the same chapter.
_NOT_CONTENT = ("run_missing",)


def _is_current(output: Path, params: dict, name: str, records: str) -> bool:
    """True when ``output`` ran to the end with these parameters (but ``_NOT_CONTENT``) from this
    source over these records (``records_digest``)."""
    if not output.exists():
        return False
    meta = json.loads(output.read_text()).get("metadata", {})
    ran = meta.get("papermill", {})
    study = meta.get("dpe_study", {})
    content = lambda p: {k: v for k, v in json.loads(json.dumps(p or {})).items() if k not in _NOT_CONTENT}  # noqa: E731
    return (
        not ran.get("exception")
        and content(ran.get("parameters")) == content(params)
        and study.get("source") == _source_hash(name)
        and study.get("records") == records
    )


def execute(name: str, params: dict, output: Path, progress: bool, records: str | None = None) -> float:
    """Run one notebook with papermill; returns its wall time. Raises StudyError on failure."""
    import nbformat
    import papermill

    output.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    try:
        papermill.execute_notebook(
            str(NOTEBOOK_DIR / f"{name}.ipynb"), str(output), parameters=params,
            kernel_name="python3", cwd=str(ROOT), progress_bar=progress,
        )
    except papermill.PapermillExecutionError as error:
        raise StudyError(
            f"{name}.ipynb failed in cell {error.exec_count} (index {error.cell_index}): "
            f"{error.ename}: {error.evalue.strip().splitlines()[-1] if error.evalue.strip() else ''} "
            f"-- partial output kept in {output}"
        ) from None
    seconds = time.perf_counter() - start
    notebook = nbformat.read(output, as_version=4)
    notebook.metadata["dpe_study"] = {"source": _source_hash(name), "records": records, "seconds": round(seconds, 1)}
    one_parameter_cell(notebook)
    nbformat.write(notebook, output)
    return seconds


def one_parameter_cell(notebook) -> None:
    """Show a chapter's parameters once, folded: papermill's injected cell holds every parameter
    at the value the chapter ran with (``notebook_parameters`` passes them all), so it stays,
    folded (``hide-input``); the notebook's own defaults, which may not be what ran, leave the
    page (``remove-cell``). The executed notebook keeps both cells."""
    injected = any("injected-parameters" in c.metadata.get("tags", []) for c in notebook.cells)
    for cell in notebook.cells:
        tags = cell.metadata.setdefault("tags", [])
        if "injected-parameters" in tags and "hide-input" not in tags:
            tags.append("hide-input")
        elif injected and "parameters" in tags and "remove-cell" not in tags:
            tags.append("remove-cell")


def _parse_overrides(pairs: list[str]) -> dict:
    overrides = {}
    for pair in pairs:
        if "=" not in pair:
            raise StudyError(f"-p {pair!r} is invalid: write -p key=value")
        key, value = pair.split("=", 1)
        overrides[key.strip()] = yaml.safe_load(value)
    return overrides


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dpe.study", description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="quick", help=f"one of {list(STUDY_PROFILES)} (default quick)")
    parser.add_argument("--only", action="append", default=None, help="run only this notebook (repeatable; default: every notebook of the main job, or the profile's own in dpe.profiles.STUDY_NOTEBOOKS)")
    parser.add_argument("-p", dest="overrides", action="append", default=[], help="notebook parameter key=value (YAML)")
    parser.add_argument("--results", default=None, help="results folder (default results/<profile>)")
    parser.add_argument("--device", default="auto", help="cpu or cuda (default: cuda if available)")
    parser.add_argument("--executor", default="local", help="local (default) or dask")
    parser.add_argument("--workers", type=int, default=1,
                        help="local: runs at a time, one CPU thread each (default 1: one run on every thread)")
    parser.add_argument("--scheduler", default=None, help="address of a running Dask scheduler, for --executor dask")
    parser.add_argument("--force", action="store_true", help="re-execute notebooks even if current")
    parser.add_argument("--no-runs", action="store_true",
                        help="run nothing: render the notebooks over the finished runs, partial grids marked as such")
    parser.add_argument("--float32", action="store_true",
                        help="train in float32 where the fast engine would use bf16 (the segmentation records so far are float32)")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    try:
        return _run(args)
    except StudyError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


def _run(args) -> int:
    if args.profile not in STUDY_PROFILES:
        raise StudyError(f"profile={args.profile!r} is invalid: choose one of {list(STUDY_PROFILES)}")
    if args.executor not in ("local", "dask"):
        raise StudyError(f"executor={args.executor!r} is invalid: use local or dask")
    if args.workers < 1:
        raise StudyError(f"workers={args.workers} is invalid: give 1 or more (2 on a 2-core CPU)")
    if args.executor == "dask" and not args.scheduler:
        raise StudyError("--executor dask needs --scheduler ADDRESS (e.g. tcp://10.0.0.5:8786)")
    names = args.only or STUDY_NOTEBOOKS.get(args.profile, NOTEBOOKS)  # a long profile runs only its own
    bad = [n for n in names if n not in NOTEBOOKS + OPTIONAL_NOTEBOOKS]
    if bad:
        raise StudyError(f"--only {bad[0]!r} is invalid: choose from {NOTEBOOKS + OPTIONAL_NOTEBOOKS}")
    try:
        device = resolve_device(args.device)
    except ConfigError as error:
        raise StudyError(str(error)) from None
    results = Path(args.results or ROOT / "results" / args.profile).resolve()
    # notebooks run in ROOT: a results folder inside it is passed as a relative, portable path
    results_param = results.relative_to(ROOT) if results.is_relative_to(ROOT) else results
    scheduler = args.scheduler if args.executor == "dask" else None
    overrides = _parse_overrides(args.overrides)
    if args.no_runs:
        overrides["run_missing"] = False
    params = {}
    for name in names:
        params[name] = notebook_parameters(name, args.profile, overrides, results_param, device, scheduler)
    unused = set(overrides) - {k for p in params.values() for k in p} - ({"run_missing"} if args.no_runs else set())
    if unused:
        raise StudyError(f"no selected notebook has parameter(s) {sorted(unused)}")

    from dpe.study.grids import run_grid

    try:
        grid = [pair for name in names for pair in grid_of(name, params[name])]
    except ValueError as error:  # a ConfigError from a bad setting
        raise StudyError(str(error)) from None
    if args.no_runs:
        grid = []
    engine = "auto"
    if args.float32:
        import dataclasses

        from dpe.engine import make_engine

        engine = dataclasses.replace(make_engine(device), bf16=False)  # how, never what: the record says which
    try:
        run_grid(grid, results, device=device, data_root=params[names[0]].get("data_root"),
                 scheduler=scheduler, progress=not args.no_progress, workers=args.workers, engine=engine)
    except (ConfigError, DataNotFound, FloatingPointError, RecordMismatch) as error:  # a bad setting, missing data, divergence
        raise StudyError(f"a run failed: {type(error).__name__}: {error} (finished runs are kept; rerun to resume)") from None

    bar = tqdm(names, desc="notebooks", disable=args.no_progress, unit="notebook")
    for name in bar:
        bar.set_postfix(notebook=name)
        output = results / "notebooks" / f"{name}.ipynb"
        records = notebook_records(results, params[name])  # the runs are done: what this notebook reads
        if not args.force and _is_current(output, params[name], name, records):
            continue
        execute(name, params[name], output, progress=False, records=records)
    print(results)
    return 0

