"""The study runner: ``python -m dpe.study --profile quick [--only NAME] [-p key=value]``.

1. Resolves each notebook's parameters with ``dpe.study.chapter.parameters``: the notebook's
   own defaults, then the profile's (``STUDY_PROFILES``), then ``-p`` overrides (values parsed as
   YAML: ``-p trials=3``, ``-p "members=[2, 4]"``).
2. Runs every run of every selected notebook's grid (``dpe.study.grids``), with a progress bar,
   locally or on an existing Dask cluster (``--executor dask --scheduler ADDRESS``). Finished
   runs are reused.
3. Executes the notebooks with papermill into ``results/<profile>/notebooks/``; a notebook whose
   executed copy already has the same parameters and source, and whose records (every one it
   looked at, at any scale) are unchanged, is skipped (``--force`` reruns); a change to the
   code that composes chapters (``CHAPTER_CODE``, the ``dpe.study`` modules) re-renders them all.
   A failing notebook is named with its cell and error in one line; the chapter it would have
   replaced stays as it was, and its partial output is kept beside it (``NAME.failed.ipynb``).
   Every record in the results folder is checked first (``dpe.records.read_record``): a bad one
   is named in one line, and nothing runs or renders. User errors exit 2, a failed notebook 1.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import yaml
from tqdm import tqdm  # the plain bar: tqdm.auto warns inside notebook kernels without ipywidgets

from dpe.engine import make_engine, resolve_device
from dpe.errors import ConfigError, DataNotFound
from dpe.profiles import NOTEBOOKS, OPTIONAL_NOTEBOOKS, STUDY_NOTEBOOKS, STUDY_PROFILES
from dpe.records import RecordMismatch, read_record
from dpe.study.chapter import NOTEBOOK_DIR, PARAMETERS_LOG, grid_of, parameters, resolves_as_noted
from dpe.study import grids
from dpe.study.grids import READ_LOG

__all__ = ["CHAPTER_CODE", "NOTEBOOKS", "NotebookFailed", "STUDY_PROFILES", "bad_records", "execute", "is_current", "main", "one_parameter_cell", "records_digest", "source_hash"]

ROOT = NOTEBOOK_DIR.parent


class StudyError(RuntimeError):
    """A bad parameter, a bad record or a failed notebook; the message says which and what to do."""


class NotebookFailed(StudyError):
    """A notebook that raised: its partial output is kept beside the chapter, which stays as it was."""


# The code that turns records into a chapter's prose, tables and figures: a chapter rendered by
# older code is stale (a prose change once stayed unseen by every fresh clone until --force).
# The runner and its entry point are not in it: they execute chapters and never run inside one.
CHAPTER_CODE = sorted(p for p in Path(__file__).parent.glob("*.py") if p.name not in ("runner.py", "__main__.py"))


def source_hash(name: str) -> str:
    """A digest of notebook ``name`` and of every module of ``CHAPTER_CODE``."""
    digest = hashlib.sha256((NOTEBOOK_DIR / f"{name}.ipynb").read_bytes())
    for path in CHAPTER_CODE:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def records_digest(paths: list[str]) -> str:
    """A digest of the run records at ``paths`` (relative to the repository root, or absolute):
    a finished record by its content, an unfinished or absent one as not finished (a chapter shows
    finished runs only, so a round added to a run in progress leaves it current), a folder
    (``grids.has_runs``) by its existence."""
    digest = hashlib.sha256()
    for name in sorted(paths):
        path = ROOT / name  # an absolute name stays absolute
        state = b"folder" if path.is_dir() else _record_state(path)
        digest.update(name.encode() + state)
    return digest.hexdigest()[:16]


def _record_state(path: Path) -> bytes:
    if not path.exists():
        return b"absent"
    content = path.read_bytes()
    try:
        finished = json.loads(content).get("finished") is True
    except (ValueError, AttributeError):
        finished = True  # unreadable: by its content, so that mending it re-renders
    return hashlib.sha256(content).digest() if finished else b"absent"


def _portable(path: str) -> str:
    """``path`` relative to the repository root where it lies inside it: committed renders are
    checked from any clone."""
    path = Path(path)
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


# Parameters that say what a render may do, not what it shows: after the grid step every run of
# the grid is finished (or the records say which are not), so a chapter rendered with
# run_missing=False (``--no-runs``) over the same records is the same chapter.
_NOT_CONTENT = ("run_missing",)


def is_current(output: Path, params: dict, name: str) -> bool:
    """True when ``output`` ran to the end with these parameters (but ``_NOT_CONTENT``) from this
    source, and every record it looked at (``read``, noted by ``dpe.study.grids``) is as it was
    then: a run finished or a round added elsewhere in the folder leaves it current."""
    if not output.exists():
        return False
    meta = json.loads(output.read_text()).get("metadata", {})
    ran = meta.get("papermill", {})
    study = meta.get("dpe_study", {})
    content = lambda p: {k: v for k, v in json.loads(json.dumps(p or {})).items() if k not in _NOT_CONTENT}  # noqa: E731
    return (
        not ran.get("exception")
        and content(ran.get("parameters")) == content(params)
        and study.get("source") == source_hash(name)
        and isinstance(study.get("read"), list)
        and study.get("records") == records_digest(study["read"])
        and isinstance(study.get("parameters"), list)
        and resolves_as_noted(study["parameters"])
    )


def execute(name: str, params: dict, output: Path, progress: bool) -> float:
    """Run one notebook with papermill; returns its wall time. Raises StudyError on failure.
    The executed notebook's metadata names the records it looked at and their digest."""
    import nbformat
    import papermill

    output.parent.mkdir(parents=True, exist_ok=True)
    running = output.with_name(f"{output.stem}.running.ipynb")  # moved over the chapter only on success
    failed = output.with_name(f"{output.stem}.failed.ipynb")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        log, resolved = Path(scratch) / "read", Path(scratch) / "parameters"
        log.touch()
        resolved.touch()
        os.environ[READ_LOG], os.environ[PARAMETERS_LOG] = str(log), str(resolved)  # the kernel inherits them
        try:
            papermill.execute_notebook(
                str(NOTEBOOK_DIR / f"{name}.ipynb"), str(running), parameters=params,
                kernel_name="python3", cwd=str(ROOT), progress_bar=progress,
            )
        except papermill.PapermillExecutionError as error:
            os.replace(running, failed)
            raise NotebookFailed(
                f"{name}.ipynb failed in cell {error.exec_count} (index {error.cell_index}): "
                f"{error.ename}: {error.evalue.strip().splitlines()[-1] if error.evalue.strip() else ''} "
                f"-- {output} is unchanged; the partial output is in {failed}"
            ) from None
        except BaseException:
            running.unlink(missing_ok=True)
            raise
        finally:
            os.environ.pop(READ_LOG, None)
            os.environ.pop(PARAMETERS_LOG, None)
        read = sorted({_portable(line) for line in log.read_text().splitlines() if line})
        noted = list({line: json.loads(line) for line in resolved.read_text().splitlines() if line}.values())
    seconds = time.perf_counter() - start
    notebook = nbformat.read(running, as_version=4)
    notebook.metadata["dpe_study"] = {"source": source_hash(name), "records": records_digest(read), "read": read,
                                      "parameters": noted, "seconds": round(seconds, 1)}
    one_parameter_cell(notebook)
    nbformat.write(notebook, running)
    os.replace(running, output)
    failed.unlink(missing_ok=True)  # an earlier failure's partial output is stale now
    return seconds


def bad_records(*folders: Path) -> list[str]:
    """One line per record under ``folder/runs`` that fails ``dpe.records.read_record``'s checks,
    naming the file, what is wrong and what to do."""
    problems = []
    for folder in folders:
        for path in sorted((Path(folder) / "runs").glob("*.json")):
            try:
                read_record(path)
            except RecordMismatch as error:
                problems.append(str(error))
    return problems


def one_parameter_cell(notebook) -> None:
    """Show a chapter's parameters once, folded: papermill's injected cell holds every parameter
    at the value the chapter ran with (the runner passes them all), so it stays,
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
    except NotebookFailed as error:  # may be a bug in a chapter: exit 1
        print(f"error: {error}", file=sys.stderr)
        return 1
    except StudyError as error:  # a user's to fix, in one line: exit 2, as ``python -m dpe run``
        print(f"error: {error}", file=sys.stderr)
        return 2


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
    results_param = _portable(results)
    scheduler = args.scheduler if args.executor == "dask" else None
    overrides = _parse_overrides(args.overrides)
    if args.no_runs:
        overrides["run_missing"] = False
    params = {}
    given = {**overrides, "results_dir": results_param, "device": device, "scheduler": scheduler}
    for name in names:
        try:
            params[name] = parameters(name, args.profile, given)
        except ConfigError as error:  # an override of the wrong kind
            raise StudyError(str(error)) from None
    unused = set(overrides) - {k for p in params.values() for k in p} - ({"run_missing"} if args.no_runs else set())
    if unused:
        raise StudyError(f"no selected notebook has parameter(s) {sorted(unused)}")

    problems = bad_records(results)  # before any run or render: a bad record is never used, nor a chapter replaced
    if problems:
        raise StudyError(f"{len(problems)} record(s) fail their checks; nothing was run or rendered:\n"
                         + "\n".join(f"  {p}" for p in problems))
    try:
        grid = [pair for name in names for pair in grid_of(name, params[name])]
    except ValueError as error:  # a ConfigError from a bad setting
        raise StudyError(str(error)) from None
    if args.no_runs:
        grid = []
    engine = "auto"
    if args.float32:
        import dataclasses

        engine = dataclasses.replace(make_engine(device), bf16=False)  # how, never what: the record says which
    try:
        grids.run_grid(grid, results, device=device, data_root=params[names[0]].get("data_root"),
                 scheduler=scheduler, progress=not args.no_progress, workers=args.workers, engine=engine)
    except (ConfigError, DataNotFound, FloatingPointError, RecordMismatch) as error:  # a bad setting, missing data, divergence
        raise StudyError(f"a run failed: {type(error).__name__}: {error} (finished runs are kept; rerun to resume)") from None
    except OSError as error:  # a full disk: every finished round is on disk, no temporary file left
        raise StudyError(f"cannot write under {results}: {error.strerror or error}; free space, then rerun to resume") from None

    bar = tqdm(names, desc="notebooks", disable=args.no_progress, unit="notebook")
    for name in bar:
        bar.set_postfix(notebook=name)
        output = results / "notebooks" / f"{name}.ipynb"
        if not args.force and is_current(output, params[name], name):
            continue
        execute(name, params[name], output, progress=False)
    print(results)
    return 0

