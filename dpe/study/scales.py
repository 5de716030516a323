"""A chapter's result at the other profiles: Table 4's gains at every scale, and the convergence
check of the profiles that run the paper's label counts. Each profile's chapter comes from
``dpe.study.chapter.chapter`` with that profile's own parameters and records."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable

import pandas as pd

from dpe.config import round_scale
from dpe.profiles import STUDY_PROFILES
from dpe.study import grids, paper
from dpe.study.chapter import Chapter, chapter
from dpe.study.convergence import check_lines, convergence_table, split_labels
from dpe.study.tables import ci_text, comparison_sentences, comparisons, profile_note, upper_bound_shares, wall_hours

__all__ = ["acquired_tests", "schedule_tests", "KEY_ROWS", "Scales", "convergence_elsewhere", "convergence_figure_text", "convergence_table_text", "convergence_note", "gains_at_scales", "scales_display", "scales_of", "split_bounds", "table4_scales", "table4_tests", "upper_bound_lines"]

KEY_ROWS = ["dpe R", "l2-ensemble H_ens", "deterministic H_ens"]  # the paper's claims: over random, L2 and one network


def table4_tests(rounds: pd.DataFrame) -> pd.DataFrame:
    """DPE + H_ens against every other row of Table 4 at each size after the random initial set,
    with the paper's own effect for that row as the equivalence margin."""
    sizes = sorted(rounds["labeled"].unique())[1:]  # the first size is the shared random set
    return comparisons(rounds, "dpe H_ens", sizes=sizes, margin=paper.table4_margins(sizes))


def acquired_tests(rounds: pd.DataFrame, reference: str = "H_ens") -> pd.DataFrame:
    """``reference`` against every other label at each size after the shared random set."""
    return comparisons(rounds, reference, sizes=sorted(rounds["labeled"].unique())[1:])


def schedule_tests(rounds: pd.DataFrame, reference: str = "Exponential-4") -> pd.DataFrame:
    """Fig. 1: ``reference`` against every other growth schedule at the final budget (the upper
    bound left out); random sampling's label names its step, "Random (b = step)" at every scale."""
    rounds = rounds[~grids.is_upper_bound(rounds["label"])]  # the upper bound and its convergence check
    rounds = rounds.assign(label=rounds["label"].str.replace(r"^Random \(b=\d+\)$", "Random (b = step)", regex=True))
    return comparisons(rounds, reference, sizes=[int(rounds["labeled"].max())])


def split_bounds(rounds: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rounds of the active-learning runs, and those of the upper bounds (one round each)."""
    is_bound = rounds["label"].str.endswith(grids.UPPER_BOUND)
    return rounds[~is_bound], rounds[is_bound]


def gains_at_scales(tests: dict[str, pd.DataFrame], published: pd.DataFrame | None = None,
                    published_name: str = "paper (CIFAR-10)") -> pd.DataFrame:
    """One comparison table (``comparisons``) per scale, keyed by its name (a profile), stacked
    into one tidy frame -- scale, labeled, versus, trials, difference, ci_low, ci_high, verdict --
    and, when given, the paper's published gains (``dpe.study.paper.table4_gains``) as scale
    ``published_name``, without interval or verdict (means of 3 trials only)."""
    columns = ["scale", "labeled", "versus", "trials", "difference", "ci_low", "ci_high", "verdict"]
    parts = [t.assign(scale=name)[columns] for name, t in tests.items() if len(t)]
    if published is not None:
        parts.append(published.assign(scale=published_name, trials=3, ci_low=math.nan, ci_high=math.nan,
                                      verdict="published means")[columns])
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)


def scales_display(gains: pd.DataFrame, versus: Iterable[str], name: str = "versus", digits: int = 2) -> pd.DataFrame:
    """``gains_at_scales`` as the book shows it: one row per (``versus``, scale, labelled size),
    the gain in points with its 95 % CI ("+3.42 [+2.29, +4.55]"; a published gain alone), the
    trials it pairs and its verdict; ``versus`` in the order given, the scales in the order of ``gains``."""
    def gain(r) -> str:
        if getattr(r, "trials", None) == 0:  # both arms ran, no trial alike: a difference of unpaired means is no gain
            return "no pair"
        ci = "" if math.isnan(r.ci_low) else " " + ci_text(r.ci_low, r.ci_high, digits=digits)
        return f"{100 * r.difference:+.{digits}f}{ci}"

    versus = list(versus)
    rows = gains[gains["versus"].isin(versus)]
    order = {s: i for i, s in enumerate(dict.fromkeys(rows["scale"]))}
    rows = rows.assign(_v=rows["versus"].map(versus.index), _s=rows["scale"].map(order)).sort_values(["_v", "_s", "labeled"], kind="stable")
    return pd.DataFrame({name: rows["versus"].to_numpy(), "scale": rows["scale"].to_numpy(), "labels": rows["labeled"].astype(int).to_numpy(),
                         "gain, points [95 % CI]": [gain(r) for r in rows.itertuples()],
                         "trials": rows["trials"].astype(int).to_numpy(),
                         "verdict": ["(the paper's means)" if r.verdict == "published means" else r.verdict for r in rows.itertuples()]})


@dataclass
class Scales:
    """Table 4 at each scale: ``tests`` by profile, their ``gains`` beside the paper's, the upper
    bound shares, and the Markdown ``notes`` and caption ``sources`` of each profile."""

    tests: dict[str, pd.DataFrame]
    bounds: dict[str, pd.DataFrame]
    notes: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    published: pd.DataFrame | None = None  # the paper's gains, without interval
    paper: str = " Paper: its Table 4, CIFAR-10, means of 3 trials."  # the caption's word on them

    @property
    def gains(self) -> pd.DataFrame:
        return gains_at_scales(self.tests, self.published)

    @property
    def rows(self) -> list[str]:
        """KEY_ROWS first, then every other row compared at some scale."""
        return KEY_ROWS + [v for v in dict.fromkeys(self.gains["versus"]) if v not in KEY_ROWS]

    @property
    def source(self) -> str:
        return " ".join(self.sources) + self.paper

    def largest_text(self) -> str:
        """At each scale's largest labelled set: the sentences for the KEY_ROWS."""
        parts = []
        for name, t in self.tests.items():
            if t.empty:  # no DPE + H_ens run finished at this scale yet
                continue
            largest = t[t["labeled"] == t["labeled"].max()].set_index("versus")
            largest = largest.loc[[v for v in KEY_ROWS if v in largest.index]].reset_index()
            parts.append(f"At `{name}`'s largest labelled set ({largest['labeled'].max()} labels):\n\n"
                         + comparison_sentences(largest, "DPE + H_ens"))
        return "\n\n".join(parts)


def table4_scales(ch: Chapter, tests: pd.DataFrame, rounds: pd.DataFrame, other_scales: dict[str, str]) -> Scales:
    """Chapter ``ch``'s Table 4 ``tests`` over ``rounds`` (upper bounds included), and the same at
    each profile of ``other_scales`` (profile: results folder) with finished runs; each other
    profile's tests are written to ``ch.tables/l2_vs_dpe-tests-<profile>.csv``."""
    active, _ = split_bounds(rounds)
    scales = Scales({ch.profile: tests}, {ch.profile: upper_bound_shares(rounds, grids.UPPER_BOUND)},
                    sources=[ch.source(active)], published=paper.table4_gains("CIFAR-10"))
    for other, folder in other_scales.items():
        if other == ch.profile:
            continue
        there = chapter("l2_vs_dpe", other, results_dir=folder)
        if not there.done:
            how = f"`python -m dpe.study --profile {other}`" if other in STUDY_PROFILES else "a GPU profile, run by `dpe run` on a lent GPU"
            scales.notes.append(f"- `{other}`: no finished Table 4 run in `{folder}` yet ({how}).")
            continue
        other_rounds = there.rounds()
        scales.bounds[other] = upper_bound_shares(other_rounds, grids.UPPER_BOUND)
        other_active, _ = split_bounds(other_rounds)
        scales.tests[other] = table4_tests(other_active)
        scales.tests[other].to_csv(ch.tables / f"l2_vs_dpe-tests-{other}.csv", index=False)
        scales.sources.append(there.source(other_active))
        partial = f" {there.partial}" if there.partial else ""
        scales.notes.append(f"- `{other}`: " + profile_note(other, other_active) + " " + there.status() + " "
                            + _runs_and_hours(there.paths, other_active["run"].nunique()) + partial)
    return scales


def _runs_and_hours(paths, active: int) -> str:
    """How many finished runs a scale's note covers (``active`` of them the table's rows, the rest
    upper bounds, which the note's profile line does not count) and their wall hours."""
    runs = len(set(map(str, paths)))
    bounds = f", {runs - active} upper bound{'s' * (runs - active != 1)}" if runs > active else ""
    return (f"Its {runs} finished runs ({active} of Table 4's rows{bounds}) took {wall_hours(paths):.1f} hours by "
            "their records' wall times.")


def scales_of(ch: Chapter, tests: pd.DataFrame, other_scales: dict[str, str], compare, published=None,
              paper_note: str = "") -> Scales:
    """Chapter ``ch``'s ``tests`` and the same ``compare(rounds)`` at each profile of
    ``other_scales`` (profile: results folder) with finished runs, written to
    ``ch.tables/<chapter>-tests-<profile>.csv``; a note per profile says what produced it, or that
    nothing has finished there yet."""
    scales = Scales({ch.profile: tests}, {}, sources=[ch.source()], published=published, paper=paper_note)
    for other, folder in other_scales.items():
        if other == ch.profile:
            continue
        there = chapter(ch.name, other, results_dir=folder)
        if not there.done:
            scales.notes.append(f"- `{other}`: no finished run of this chapter in `{folder}` yet "
                                f"(`python -m dpe.study --profile {other} --only {ch.name}`).")
            continue
        scales.tests[other] = compare(there.rounds())
        scales.tests[other].to_csv(ch.tables / f"{ch.name}-tests-{other}.csv", index=False)
        scales.sources.append(there.source())
        scales.notes.append(f"- `{other}`: " + there.note(cost=True).replace("\n\n", " "))
    return scales


def _gap_text(s) -> str:
    """The H_ens runs minus the bound, with Welch's CI where both sides have 2+ trials."""
    interval = "" if pd.isna(s.gap_low) else f", Welch 95 % CI [{100 * s.gap_low:+.2f}, {100 * s.gap_high:+.2f}]"
    return f" Difference: {100 * s.gap:+.2f} points{interval}."


def upper_bound_lines(bounds: dict[str, pd.DataFrame]) -> str:
    """How close active learning comes to training on every label, at each scale."""
    lines = [f"- `{name}`: {s.model} + H_ens at {s.labeled} labels ({100 * s.of_labels:.0f} % of the pool, {s.trials} trials): "
             f"{100 * s.accuracy:.2f} %, {100 * s.of_bound:.1f} % of the {s.model} trained once on all {s.pool} labels "
             f"({100 * s.bound:.2f} %, {s.bound_trials} trial{'s' * (s.bound_trials != 1)})." + _gap_text(s)
             for name, shares in bounds.items() for s in shares.itertuples()]
    return ("How close active learning comes to training on every label (the paper, Fig. 1 on CIFAR-10: "
            "99.2 % of the upper bound's accuracy with 32 % of the labels, Linear-8):\n\n"
            + ("\n".join(lines) or "- no upper bound has finished at any of these scales yet."))


def convergence_elsewhere(profile: str, other_profiles: dict[str, str]):
    """The convergence check of each profile of ``other_profiles`` (profile: results folder) but
    ``profile``: yields (profile, its chapter, its rounds, its check table, each model's own length),
    or (profile, its chapter, None, None, None) where no run of its check has finished."""
    for other, folder in other_profiles.items():
        if other == profile:
            continue
        there = chapter("convergence", other, results_dir=folder)
        if not there.done:
            yield other, there, None, None, None
            continue
        own = {model: round_scale(other, model) for model in there.params["models"]}
        rounds = split_labels(there.rounds())
        yield other, there, rounds, convergence_table(rounds, own_scales=own), own


def convergence_figure_text(other: str, there: Chapter, rounds: pd.DataFrame, results_dir) -> str:
    """The saved figure of another profile's check, as a numbered MyST figure with its caption
    (shown as an image: a figure object is shown only where it is glued)."""
    return (f"```{{figure}} ../figures/convergence-{other}.png\n:name: fig-convergence-{other}\n\n"
            f"Test accuracy of random sampling at `{other}` against the SGD steps of a round, one line per "
            f"labelled size (mean and one standard deviation over trials); each model's own length is ringed. "
            f"{there.source(rounds)} {{download}}`PDF <../figures/convergence-{other}.pdf>`\n```")


def convergence_table_text(other: str, there: Chapter, rounds: pd.DataFrame) -> str:
    """The glued check table of another profile (glue key ``conv_table_<profile>``), numbered."""
    return (f"```{{glue:figure}} conv_table_{other}\n:name: tbl-convergence-{other}\n\n"
            f"The convergence check at `{other}`: each model and labelled size trained at its length and at twice it "
            f"(random sampling; accuracy in %, the change in points with its paired 95 % CI). {there.source(rounds)}\n```")


def convergence_note(other: str, there: Chapter, rounds: pd.DataFrame, table: pd.DataFrame, own: dict) -> str:
    """The Markdown over another profile's check table, with that profile's own round length."""
    partial = f" {there.partial}" if there.partial else ""
    epochs, floor = grids.profile_round(other, there.params.get("settings"))
    length = f" Its round: {epochs} epochs and at least {floor} SGD steps, each model training its own multiple of that."
    return f"**`{other}`**: " + profile_note(other, rounds) + partial + length + "\n\n" + "\n".join(check_lines(table, own))
