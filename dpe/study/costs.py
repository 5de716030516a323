"""What the study's runs cost, from their records' wall times: one row per chapter at each
profile with records, for the book's Reproduce page (never typed in by hand)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from dpe.profiles import NOTEBOOKS, OPTIONAL_NOTEBOOKS, STUDY_NOTEBOOKS
from dpe.records import read_record
from dpe.study.chapter import chapter
from dpe.study.display import book_table

__all__ = ["chapter_costs", "costs_table"]


def _row(profile: str, name: str, runs: set, paths: list, hours_of: dict) -> dict:
    hours = pd.Series([hours_of[p] for p in paths], dtype=float)
    return {"profile": profile, "chapter": name, "runs": len(runs), "finished": len(paths),
            "hours": hours.sum(), "median_hours": hours.median()}


def chapter_costs(profile: str, results_dir: str | Path) -> pd.DataFrame:
    """Per chapter of ``profile``'s study (``STUDY_NOTEBOOKS``, else the main job and the optional
    chapters): distinct runs in its grid, how many are finished, their one-thread hours by
    ``provenance.wall_seconds`` (every sitting of a resumed run counted) and the median hours a
    run; then the totals over distinct runs, of the main job and of everything."""
    main = [n for n in STUDY_NOTEBOOKS.get(profile, NOTEBOOKS) if n != "findings"]
    optional = [] if profile in STUDY_NOTEBOOKS else OPTIONAL_NOTEBOOKS
    rows, runs, paths = [], {"main": set(), "all": set()}, {"main": {}, "all": {}}
    hours_of: dict[str, float] = {}  # each record read once, whichever chapters share it
    for name in main + optional:
        ch = chapter(name, profile, results_dir=str(results_dir))
        grid_runs, done = {config for _, config in ch.grid}, list(dict.fromkeys(ch.paths))
        for p in done:
            if p not in hours_of:
                hours_of[p] = read_record(p)["provenance"]["wall_seconds"] / 3600
        rows.append(_row(profile, name, grid_runs, done, hours_of))
        for part in (["main", "all"] if name in main else ["all"]):
            runs[part] |= grid_runs
            paths[part].update(dict.fromkeys(done))
    rows.append(_row(profile, "the main job, each run once", runs["main"], list(paths["main"]), hours_of))
    if optional:
        rows.append(_row(profile, "with the optional chapters", runs["all"], list(paths["all"]), hours_of))
    return pd.DataFrame(rows)


def costs_table(costs: pd.DataFrame):
    """The costs as the book shows them (``book_table``): named columns, hours to one decimal."""
    shown = pd.DataFrame({
        "chapter": costs["chapter"].to_numpy(),
        "runs finished": [f"{f} of {r}" for f, r in zip(costs["finished"], costs["runs"])],
        "one-thread hours": costs["hours"].round(1).to_numpy(),
        "hours a run (median)": costs["median_hours"].round(2).to_numpy(),
    }, index=pd.Index(costs["profile"].to_numpy(), name="profile"))
    return book_table(shown, "profile", digits=2)
