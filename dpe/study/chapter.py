"""One chapter of the study at one profile: its parameters, its grid and what of it is finished.

Every parameter of a chapter is resolved here and nowhere else, in this order: the notebook's
own defaults (its ``parameters`` cell), then the profile's (``dpe.profiles.STUDY_PROFILES``), then
the caller's overrides (``-p key=value`` of the runner, or the values a notebook was executed
with). The runner, Findings and every notebook -- also for the other profiles a chapter shows
beside its own -- ask :func:`chapter` for the same answer.

    >>> ch = chapter("l2_vs_dpe", "paper-cpu")      # what `python -m dpe.study --profile paper-cpu` runs
    >>> ch.params["trials"], len(ch.grid), len(ch.done)
"""

from __future__ import annotations

import ast
import functools
import inspect
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import pandas as pd

from dpe.errors import ConfigError
from dpe.profiles import STUDY_PROFILES
from dpe.study import figures, grids
from dpe.study.convergence import check_outcome, status_note
from dpe.study.tables import load_rounds, load_segmentation_rounds, profile_note, segmentation_note, source_caption, wall_hours

__all__ = ["Chapter", "NOTEBOOK_DIR", "PARAMETERS_LOG", "chapter", "convergence_check", "grid_of", "notebook_chapter", "notebook_defaults", "parameters", "resolve", "resolves_as_noted"]

NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "notebooks"
PARAMETERS_LOG = "DPE_PARAMETERS_LOG"  # a file each chapter() call notes its resolution in (the runner sets it)


@functools.lru_cache(maxsize=None)
def _defaults(name: str) -> tuple[tuple[str, object], ...]:
    import papermill

    path = NOTEBOOK_DIR / f"{name}.ipynb"
    if not path.exists():
        raise ConfigError(f"chapter={name!r} is invalid: no notebook {path}")
    return tuple((k, _literal(v["default"])) for k, v in papermill.inspect_notebook(str(path)).items())


def notebook_defaults(name: str) -> dict:
    """The parameters of ``notebooks/<name>.ipynb`` at their defaults (its ``parameters`` cell)."""
    return dict(_defaults(name))


def _literal(text: str):
    """papermill reports defaults as source text; evaluate the literal."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


_KINDS = {bool: ((bool,), "true or false"), int: ((int,), "an integer"), float: ((int, float), "a number"),
          list: ((list, tuple), "a list"), str: ((str,), "a string"), dict: ((dict,), "a mapping")}


def _check_type(name: str, key: str, value, current) -> None:
    """Refuse an override whose kind differs from the parameter's (a number for a number, a list
    for a list): ``-p trials=abc`` fails here in one line, not as a traceback in a grid.
    Parameters that default to None take anything."""
    if type(current) not in _KINDS:
        return
    kinds, kind = _KINDS[type(current)]
    if not isinstance(value, kinds) or (isinstance(value, bool) and type(current) is not bool):
        raise ConfigError(f"-p {key}={value!r} is invalid: {name} expects {kind} (now {current!r})")


def parameters(name: str, profile: str = "quick", overrides: Mapping | None = None) -> dict:
    """The parameters chapter ``name`` runs with at ``profile``: the notebook's defaults, then the
    profile's (``STUDY_PROFILES``), then those of ``overrides`` the notebook has (others are
    ignored: the runner reports overrides that no selected chapter has). ``results_dir`` None
    means ``results/<profile>``."""
    defaults = notebook_defaults(name)
    given = STUDY_PROFILES.get(profile, {})
    params = {**defaults, "profile": profile, **given.get("*", {}), **given.get(name, {})}
    for key, value in (overrides or {}).items():
        if key in defaults:
            _check_type(name, key, value, params[key])
            params[key] = value
    params = {k: v for k, v in params.items() if k in defaults}
    if "results_dir" in params and params["results_dir"] is None:
        params["results_dir"] = f"results/{params['profile']}"
    return params


def grid_of(name: str, params: Mapping) -> grids.Grid:
    """The runs of chapter ``name`` (``dpe.study.grids.GRIDS``) for these parameters; [] for a
    chapter that only reads records (Findings)."""
    if name not in grids.GRIDS:
        return []
    function = grids.GRIDS[name]
    return function(**{k: params[k] for k in inspect.signature(function).parameters if k in params})


@dataclass(frozen=True)
class Chapter:
    """A chapter's parameters, its whole grid, and the finished part (``done``, with the records at
    ``paths``): what a notebook shows, never more than its records say."""

    name: str
    params: dict
    grid: grids.Grid
    done: grids.Grid
    paths: list[str]
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def profile(self) -> str:
        return self.params["profile"]

    @property
    def results_dir(self) -> Path:
        return Path(self.params["results_dir"])

    @property
    def tables(self) -> Path:
        """``results_dir/tables``, created: where the chapter's CSV files go."""
        folder = self.results_dir / "tables"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    @property
    def partial(self) -> str:
        """"" for a finished grid, else the Markdown line saying which runs exist."""
        return grids.partial_note(self.grid, self.done,
                                  f"python -m dpe.study --profile {self.params['profile']} --only {self.name}")

    def rounds(self) -> pd.DataFrame:
        """One row per round of every finished run, labelled by the grid (read once)."""
        if "rounds" not in self._cache:
            loader = load_segmentation_rounds if self.name == "segmentation" else load_rounds
            self._cache["rounds"] = loader(self.paths, [label for label, _ in self.done])
        return self._cache["rounds"]

    def status(self) -> str:
        """The sentence on whether this profile's protocol passed its convergence check."""
        return status_note(self.results_dir, self.profile, self.params.get("dataset", "fashion-mnist"),
                           self.params.get("settings"), models=resolve("convergence", self.profile)["models"], brief=True)

    def note(self, rounds: pd.DataFrame | None = None, cost: bool = False, extra: str = "") -> str:
        """The Markdown atop the chapter: what produced these numbers, the convergence status
        (classification), the wall hours with ``cost``, ``extra``, and the partial-grid line."""
        rounds = self.rounds() if rounds is None else rounds
        if self.name == "segmentation":
            text = segmentation_note(self.profile, rounds)
        else:
            text = profile_note(self.profile, rounds)
            if self.name != "convergence":
                text += " " + self.status()
        if cost:
            text += (f" Its {len(set(map(str, self.paths)))} finished runs took {wall_hours(self.paths):.1f} hours "
                     "by their records' wall times.")
        return text + extra + (f"\n\n{self.partial}" if self.partial else "")

    def figure(self, key: str, fig, name: str) -> None:
        """Save ``fig`` as ``figures/<name>.png`` and ``.pdf`` and glue it as ``key`` for the page."""
        from myst_nb import glue  # the book's glue: present where notebooks execute

        figures.save(fig, self.results_dir, name)
        glue(key, fig, display=False)

    def source(self, rounds: pd.DataFrame | None = None) -> str:
        """The sentence every caption ends with (``dpe.study.tables.source_caption``)."""
        return source_caption(self.profile, self.rounds() if rounds is None else rounds)


def resolve(name: str, profile: str, overrides: Mapping | None = None) -> dict:
    """``parameters(name, profile, overrides)``, noted for the render (``_note_parameters``): what
    a chapter uses to resolve another chapter's parameters."""
    params = parameters(name, profile, overrides)
    _note_parameters(name, profile, dict(overrides or {}), params)
    return params


def convergence_check(profile: str, results_dir: str | os.PathLike) -> tuple[str, dict]:
    """``dpe.study.convergence.check_outcome`` of ``profile``'s records in ``results_dir``, for the
    models and dataset its convergence chapter checks."""
    check = resolve("convergence", profile)
    return check_outcome(results_dir, profile, check["dataset"], models=check["models"])


def chapter(name: str, profile: str = "quick", run: bool = False, progress: bool = False, **overrides) -> Chapter:
    """Chapter ``name`` at ``profile`` with ``parameters(name, profile, overrides)``; with ``run``,
    its unfinished runs are run first (on ``device``, ``scheduler``, ... of its parameters)."""
    params = resolve(name, profile, overrides)
    grid = grid_of(name, params)
    if run and grid:
        grids.run_grid(grid, params["results_dir"], device=params.get("device", "cpu"), data_root=params.get("data_root"),
                       scheduler=params.get("scheduler"), progress=progress)
    done, paths = grids.finished_part(grid, params["results_dir"]) if grid else ([], [])
    return Chapter(name, params, grid, done, paths)


def _note_parameters(name: str, profile: str, overrides: dict, params: dict) -> None:
    """Note in ``$DPE_PARAMETERS_LOG`` (when set) what was resolved, so that a render whose
    chapters (its own or another profile's) would now resolve differently is stale."""
    log = os.environ.get(PARAMETERS_LOG)
    if log:
        with open(log, "a") as f:
            f.write(json.dumps({"name": name, "profile": profile, "overrides": overrides, "params": params}, default=str) + "\n")


def resolves_as_noted(entries: list[dict]) -> bool:
    """True when every noted resolution (``_note_parameters``) gives the same parameters today."""
    same = lambda a, b: json.loads(json.dumps(a, default=str)) == json.loads(json.dumps(b, default=str))  # noqa: E731
    try:
        return all(same(parameters(e["name"], e["profile"], e["overrides"]), e["params"]) for e in entries)
    except (ConfigError, KeyError):  # a notebook or parameter gone since
        return False


def notebook_chapter(name: str, namespace: Mapping) -> Chapter:
    """The chapter a notebook shows, from its own parameter values (``globals()`` after its
    parameters cell and papermill's): they are final, so they override the profile's; runs
    missing from the grid run first when ``run_missing`` is true."""
    given = {k: namespace[k] for k in notebook_defaults(name) if k in namespace}
    profile = given.pop("profile", "quick")
    return chapter(name, profile, run=bool(given.get("run_missing", False)), **given)
