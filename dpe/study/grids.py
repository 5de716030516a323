"""The grids of runs behind each notebook, as (label, RunConfig) pairs.

The notebooks and the study runner share these functions, so the runner can execute every run
first (locally or on a Dask cluster) and the notebooks then find them finished. ``settings``
are RunConfig overrides applied on top of the profile (``{"members": 8}``, ...).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Callable, Iterable, Sequence

import pandas as pd
from tqdm import tqdm  # the plain bar: tqdm.auto warns inside notebook kernels without ipywidgets

from dpe.active import run as run_classification
from dpe.config import PROFILES, RunConfig, make_config, round_scale
from dpe.errors import ConfigError
from dpe.records import read_record, record_path
from dpe.segmentation import make_seg_config, run as run_segmentation
from dpe.segmentation.data import CITYSCAPES_CLASSES
from dpe.segmentation.scenes import SCENE_CLASSES

__all__ = [
    "BASELINE_METHODS", "CONVERGENCE_MODELS", "GRIDS", "Grid", "ROBUSTNESS_METHODS", "baselines_grid", "UPPER_BOUND", "acquisition_grid", "convergence_grid", "finished_part", "has_runs", "is_upper_bound", "partial_note", "profile_round", "ensembles_grid", "growth_grid", "l2_vs_dpe_grid",
    "robustness_grid", "run_grid", "segmentation_classes",
    "segmentation_grid",
]

Grid = list[tuple[str, RunConfig]]
TRAIN_SIZE = {"fashion-mnist": 60000, "cifar10": 50000, "cifar100": 50000}


def _checked_trials(trials: int) -> int:
    if not isinstance(trials, int) or trials < 1:
        raise ConfigError(f"trials={trials!r} is invalid: give 1 or more (-p trials=3)")
    return trials


def _trials(trials: int, label: str, profile: str, dataset: str, settings: dict, **overrides) -> Grid:
    _checked_trials(trials)
    return [(label, make_config(profile, dataset=dataset, **{**settings, **overrides, "trial": t})) for t in range(trials)]


def pool_count(config: RunConfig) -> int:
    """Images in the pool of ``config`` (its pool_size, or all training images not held out)."""
    if config.pool_size is not None:
        return config.pool_size
    if config.dataset not in TRAIN_SIZE:
        raise ValueError(f"set pool_size for dataset {config.dataset!r}: its size is not known in advance")
    return TRAIN_SIZE[config.dataset] - config.val_size


def growth_grid(
    profile: str, dataset: str, trials: int, settings: dict | None = None, upper_check_trials: int | None = None,
) -> Grid:
    """Fig. 1: random with fixed b, Linear-8, Linear-4 and Exponential-4 with H_ens, and the
    upper bound trained on the whole pool; b is the profile's ``step``, B its ``budget``. Then the
    upper bound's convergence check, the schedules' shares of it resting on it: the upper bound
    trained twice as long (epochs and step floor doubled, "Upper bound | x2") over the first
    ``upper_check_trials`` trials (default ``trials``; 0: no check)."""
    settings = dict(settings or {})
    base = make_config(profile, dataset=dataset, **settings)
    b = base.step
    upper = dict(schedule="sizes", sizes=(pool_count(base),), acquisition="R")
    grid = []
    for label, extra in [
        (f"Random (b={b})", dict(schedule="linear", initial=b, step=b, acquisition="R")),
        ("Linear-8", dict(schedule="linear", initial=b, step=b, acquisition="H_ens")),
        ("Linear-4", dict(schedule="linear", initial=2 * b, step=2 * b, acquisition="H_ens")),
        ("Exponential-4", dict(schedule="exponential", initial=b, step=b, acquisition="H_ens")),
        ("Upper bound", upper),
    ]:
        grid += _trials(trials, label, profile, dataset, settings, **extra)
    check_trials = trials if upper_check_trials is None else upper_check_trials
    if not isinstance(check_trials, int) or check_trials < 0:
        raise ConfigError(f"upper_check_trials={check_trials!r} is invalid: give 0 (no check) or more")
    if check_trials:
        grid += _trials(check_trials, "Upper bound | x2", profile, dataset, settings, **upper,
                        max_epochs=2 * base.max_epochs, min_steps=2 * base.min_steps)
    return grid


def acquisition_grid(profile: str, dataset: str, trials: int, acquisitions: Sequence[str], settings: dict | None = None) -> Grid:
    """Table 3: a DPE with each acquisition function, Exponential-4."""
    settings = dict(settings or {})
    return [pair for a in acquisitions
            for pair in _trials(trials, a, profile, dataset, settings, model="dpe", schedule="exponential", acquisition=a)]


UPPER_BOUND = "upper bound"  # the label suffix of a run trained once on the whole pool


def is_upper_bound(labels: pd.Series) -> pd.Series:
    """True for the runs trained once on the whole pool ("Upper bound", "dpe upper bound",
    "Upper bound | x2"): their one size is the pool's, not a size the schedule reached."""
    return labels.str.contains(UPPER_BOUND, case=False, regex=False)


def l2_vs_dpe_grid(profile: str, dataset: str, trials: int, settings: dict | None = None, upper_bound: bool = False) -> Grid:
    """Table 4: deterministic, L2 ensemble and DPE, each with R and H_ens, Exponential-4; with
    ``upper_bound``, then the L2 ensemble and the DPE trained once on every pool label
    ("dpe upper bound", ...), the paper's reference line, after all the rest."""
    settings = dict(settings or {})
    grid = []
    for model in ("deterministic", "l2-ensemble", "dpe"):
        members = {"members": 1} if model == "deterministic" else {}
        for a in ("R", "H_ens"):
            grid += _trials(trials, f"{model} {a}", profile, dataset, {**settings, **members},
                            model=model, schedule="exponential", acquisition=a)
    if upper_bound:
        everything = (pool_count(make_config(profile, dataset=dataset, **settings)),)
        for model in ("l2-ensemble", "dpe"):
            grid += _trials(trials, f"{model} {UPPER_BOUND}", profile, dataset, settings,
                            model=model, schedule="sizes", sizes=everything, acquisition="R")
    return grid


def ensembles_grid(
    profile: str, dataset: str, trials: int, members: Sequence[int], betas: Sequence[float], settings: dict | None = None,
    size_trials: int | None = None,
) -> Grid:
    """Ensemble size (over ``size_trials`` trials, default ``trials``) and KL weight for DPE +
    H_ens, and the L2 ensemble beside the DPE for calibration; Exponential-4."""
    settings = dict(settings or {})
    common = dict(schedule="exponential", acquisition="H_ens")
    size_trials = trials if size_trials is None else size_trials
    if not isinstance(size_trials, int) or size_trials < 1:
        raise ConfigError(f"size_trials={size_trials!r} is invalid: give 1 or more (-p size_trials=5), or None for trials")
    grid = [pair for e in members
            for pair in _trials(size_trials, f"E={e}", profile, dataset, {**settings, "members": e}, model="dpe", **common)]
    grid += [pair for beta in betas for pair in _trials(trials, f"beta={beta:g}", profile, dataset, {**settings, "beta": beta}, model="dpe", **common)]
    grid += [pair for m in ("l2-ensemble", "dpe") for pair in _trials(trials, m, profile, dataset, settings, model=m, **common)]
    return grid


ROBUSTNESS_METHODS = {  # method label -> RunConfig overrides
    "DPE + R": dict(model="dpe", acquisition="R"),
    "DPE + H_ens": dict(model="dpe", acquisition="H_ens"),
    "MC dropout + R": dict(model="mc-dropout", acquisition="R"),
    "MC dropout + H_ens": dict(model="mc-dropout", acquisition="H_ens"),
    "DPE + core-set": dict(model="dpe", acquisition="coreset"),
}


def robustness_grid(
    profile: str, dataset: str, trials: int, starts: Sequence[int], settings: dict | None = None,
) -> Grid:
    """The robustness chapter, Exponential schedule to the profile's budget; labels read
    "condition | method":

    - ``base``: the profile's start and step, every method of ROBUSTNESS_METHODS;
    - ``start s, step s`` for each s of ``starts``: DPE + R and DPE + H_ens;
    - ``strong augmentation``: DPE + R and DPE + H_ens trained with RandAugment on top.

    Trial-major order: an interrupted grid leaves whole trials done, every method alike."""
    settings = dict(settings or {})
    base = make_config(profile, dataset=dataset, **settings)
    pair = ["DPE + R", "DPE + H_ens"]
    conditions = [(f"base (start {base.initial}, step {base.step})", {}, list(ROBUSTNESS_METHODS))]
    conditions += [(f"start {s}, step {s}", dict(initial=s, step=s), pair) for s in starts]
    conditions += [("strong augmentation", dict(strong_augment=True), pair)]
    grid = []
    for t in range(trials):
        for condition, changes, methods in conditions:
            for method in methods:
                overrides = {**settings, **changes, **ROBUSTNESS_METHODS[method], "schedule": "exponential", "trial": t}
                if overrides["model"] == "mc-dropout":
                    overrides.pop("members", None)  # a single network whatever the settings say
                grid.append((f"{condition} | {method}", make_config(profile, dataset=dataset, **overrides)))
    return grid


BASELINE_METHODS = {  # the "Beyond the paper" chapter: method label -> RunConfig overrides
    "DPE + R": dict(model="dpe", acquisition="R"),
    "DPE + H_ens": dict(model="dpe", acquisition="H_ens"),
    "DPE + margin": dict(model="dpe", acquisition="margin"),
    "DPE + least confidence": dict(model="dpe", acquisition="LC"),
    "DPE + BADGE": dict(model="dpe", acquisition="BADGE"),
    "DPE + TypiClust": dict(model="dpe", acquisition="TypiClust"),
    "deterministic + R": dict(model="deterministic", acquisition="R"),
    "deterministic + BADGE": dict(model="deterministic", acquisition="BADGE"),  # as BADGE's authors use it
}


def baselines_grid(profile: str, dataset: str, trials: int, settings: dict | None = None) -> Grid:
    """Today's baselines beside DPE + H_ens: every method of ``BASELINE_METHODS`` on the
    Exponential schedule from the profile's start and step, trial-major (an interrupted grid
    leaves whole trials done). DPE + R and DPE + H_ens are the robustness chapter's base runs."""
    settings = dict(settings or {})
    return [(method, make_config(profile, dataset=dataset, **{**settings, **overrides, "schedule": "exponential", "trial": t}))
            for t in range(_checked_trials(trials)) for method, overrides in BASELINE_METHODS.items()]


def profile_round(profile: str, settings: dict | None = None) -> tuple[int, int]:
    """A profile's round before any model's multiple (``round_scale``): its epochs and step floor."""
    settings = settings or {}
    return tuple(settings.get(k, PROFILES[profile].get(k, getattr(RunConfig, k))) for k in ("max_epochs", "min_steps"))


CONVERGENCE_MODELS = ("dpe", "l2-ensemble", "deterministic", "mc-dropout")


def convergence_grid(
    profile: str, dataset: str, trials: int, scales: Sequence[int] = (1, 2), models: Sequence[str] = CONVERGENCE_MODELS,
    settings: dict | None = None,
) -> Grid:
    """The convergence check of a profile's training protocol: random sampling on the
    Exponential schedule (every labelled size of the profile) for each model, each round trained
    ``scale`` times the profile's length (epochs and step floor both multiplied), for every scale
    of ``scales`` and, whatever they are, the model's own length at the profile (``s`` of
    ``dpe.profiles.ROUND_SCALE``) and twice it: the pair the check reads. The run at a model's own
    length is exactly the chapters' random-sampling run of that model and trial, so the check
    costs only the longer runs. Labels read "model | xscale"."""
    settings = dict(settings or {})
    epochs, floor = profile_round(profile, settings)
    grid = []
    for model in models:
        own = round_scale(profile, model)
        for scale in sorted(set(scales) | {own, 2 * own}):
            grid += _trials(trials, f"{model} | x{scale}", profile, dataset, settings, model=model, acquisition="R",
                            schedule="exponential", max_epochs=epochs * scale, min_steps=floor * scale)
    return grid


def segmentation_classes(dataset: str) -> list[str]:
    """Class names of a segmentation dataset, known without loading it."""
    return SCENE_CLASSES if dataset == "scenes" else CITYSCAPES_CLASSES


def segmentation_grid(
    profile: str, dataset: str, trials: int, target_class: str, settings: dict | None = None,
    check_trials: int | None = None,
) -> Grid:
    """Tables 5 and 6: the L2 ensemble and the DPE with R and H_ens, the DPE with V_w aimed at
    ``target_class`` (weight 1 on it, 0 elsewhere), and the upper bound trained on every crop;
    then the convergence check: DPE + R at the profile's length ("dpe R | x1") and with every
    round trained twice as long (epochs and step floor doubled, "dpe R | x2"), over
    ``check_trials`` trials (default ``trials``; the first ``trials`` of "dpe R | x1" are the
    "dpe R" runs themselves), and the upper bound likewise ("Upper bound | x2", ``trials``)."""
    settings = dict(settings or {})
    classes = segmentation_classes(settings.get("dataset", dataset))
    if target_class not in classes:
        raise ValueError(f"target_class={target_class!r} is invalid: choose one of {classes}")
    weights = tuple(float(c == target_class) for c in classes)

    check_trials = trials if check_trials is None else check_trials
    if check_trials < 1:
        raise ValueError(f"check_trials={check_trials} is invalid: the convergence check needs at least 1 trial")

    def trials_of(label, n=trials, **overrides):
        return [(label, make_seg_config(profile, **{"dataset": dataset, **settings, **overrides, "trial": t}))
                for t in range(n)]

    grid = []
    for model in ("l2-ensemble", "dpe"):
        for a in ("R", "H_ens"):
            grid += trials_of(f"{model} {a}", model=model, acquisition=a)
    grid += trials_of(f"dpe V_w ({target_class})", model="dpe", acquisition="V_w", class_weights=weights)
    grid += trials_of("Upper bound", model="dpe", acquisition="R", schedule="all")
    base = grid[0][1]
    doubled = dict(max_epochs=2 * base.max_epochs, min_steps=2 * base.min_steps)
    grid += trials_of("dpe R | x1", check_trials, model="dpe", acquisition="R")
    grid += trials_of("dpe R | x2", check_trials, model="dpe", acquisition="R", **doubled)
    grid += trials_of("Upper bound | x2", model="dpe", acquisition="R", schedule="all", **doubled)
    return grid


def run_grid(
    grid: Iterable[tuple[str, RunConfig]],
    results_dir: str | os.PathLike,
    device: str = "cpu",
    data_root: str | None = None,
    scheduler: str | None = None,
    progress: bool = True,
    workers: int = 1,
    engine: str | object = "auto",
) -> list[str]:
    """Run every config of ``grid`` (finished ones are reused); returns the record paths in
    grid order. With ``scheduler`` (a Dask scheduler address) the runs go to that cluster, whose
    workers must see ``results_dir`` and the data at the same paths; with ``workers`` > 1 they
    go to a local Dask cluster of that many one-thread processes. ``engine`` (a name or a
    ``dpe.engine.Engine``) says how every run computes, never what."""
    grid = list(grid)
    unique = list(dict.fromkeys(config for _, config in grid))
    todo = [c for c in unique if not _finished(c, results_dir)]
    if scheduler or (workers > 1 and len(todo) > 1):
        from distributed import Client, LocalCluster, as_completed

        with contextlib.ExitStack() as stack:
            if not scheduler:
                import dask

                # Dask starts workers with MALLOC_TRIM_THRESHOLD_=65536, which hands freed memory back
                # to the OS at once; PyTorch's CPU allocations then page-fault on every step: a quick
                # DPE step took 412 ms instead of 211 (two runs on 2 cores). Keep glibc's default.
                with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
                    scheduler_or_cluster = stack.enter_context(
                        LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None))
            else:
                scheduler_or_cluster = scheduler
            client = stack.enter_context(Client(scheduler_or_cluster))
            futures = client.map(_run_one, todo, results_dir=str(results_dir), device=device, data_root=data_root,
                                 threads=None if scheduler else 1, engine=engine, pure=False)
            for _ in tqdm(as_completed(futures), total=len(futures), desc="runs (dask)", disable=not progress):
                pass
            client.gather(futures)  # raises the first failed run's error, with its traceback
    else:
        for config in tqdm(todo, desc="runs", disable=not progress, unit="run"):
            _run_one(config, str(results_dir), device, data_root, engine=engine)
    return [str(record_path(results_dir, config)) for _, config in grid]


def finished_part(grid: Iterable[tuple[str, RunConfig]], results_dir: str | os.PathLike) -> tuple[Grid, list[str]]:
    """The pairs of ``grid`` whose runs are finished in ``results_dir``, and their record paths:
    what a notebook can show without running anything."""
    done = [(label, config) for label, config in grid if _finished(config, results_dir)]
    return done, [str(record_path(results_dir, config)) for _, config in done]


def partial_note(grid: Iterable[tuple[str, RunConfig]], done: Iterable[tuple[str, RunConfig]],
                 command: str = "python -m dpe.study") -> str:
    """"" when ``done`` is all of ``grid``; otherwise one Markdown line saying which
    configurations and trials exist, so that a partial grid is never read as a whole one, and
    the ``command`` that runs the rest."""
    grid, done = list(grid), list(done)
    if len(done) == len(grid):
        return ""
    trials: dict[str, list[int]] = {label: [] for label, _ in grid}
    for label, config in done:
        trials[label].append(config.trial)
    wanted = {label: sum(1 for g, _ in grid if g == label) for label in trials}
    parts = [f"{label}: {len(t)} of {wanted[label]}" + (f" (trials {', '.join(map(str, sorted(t)))})" if t else "")
             for label, t in trials.items()]
    return (f"**Partial grid: {len(done)} of {len(grid)} runs are finished**, so every number below covers only "
            f"these runs per configuration -- {'; '.join(parts)}. The rest run with `{command}`.")


READ_LOG = "DPE_RECORDS_READ_LOG"  # a file that every record looked at is named in (the runner sets it)


def _finished(config, results_dir) -> bool:
    """True when the record of ``config`` exists, passes ``read_record``'s checks (a bad one is named in
    one line, ``RecordMismatch``) and says finished. Every record a chapter shows
    is found here, so the path is noted in the file ``$DPE_RECORDS_READ_LOG`` (when set), present
    or not: the runner re-renders a chapter only when one of the records it looked at changed."""
    path = record_path(results_dir, config)
    _note_read(path)
    return path.exists() and read_record(path)["finished"]


def has_runs(results_dir: str | os.PathLike) -> bool:
    """True when ``results_dir/runs`` exists (a profile with records); noted like a record, so a
    chapter that skipped an absent profile is stale once the folder appears."""
    folder = Path(results_dir) / "runs"
    _note_read(folder)
    return folder.is_dir()


def _note_read(path: Path) -> None:
    log = os.environ.get(READ_LOG)
    if log:
        with open(log, "a") as f:
            f.write(f"{path.resolve()}\n")


def _run_one(config, results_dir: str, device: str, data_root: str | None, threads: int | None = None,
             engine: str | object = "auto") -> str:
    """One run: classification (a RunConfig) or segmentation (a SegConfig), on ``threads``
    CPU threads (None: PyTorch's default)."""
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    run = run_classification if isinstance(config, RunConfig) else run_segmentation
    return str(run(config, results_dir, device=device, data_root=data_root, progress=False, engine=engine))


GRIDS: dict[str, Callable[..., Grid]] = {
    "growth": growth_grid,
    "acquisition": acquisition_grid,
    "l2_vs_dpe": l2_vs_dpe_grid,
    "ensembles": ensembles_grid,
    "segmentation": segmentation_grid,
    "robustness": robustness_grid,
    "baselines": baselines_grid,
    "convergence": convergence_grid,
}
