"""The Findings page's text: its tables and lines, glued from the rows of
``dpe.study.findings.findings`` (never assuming a direction), with the rule each claim is read by."""

from __future__ import annotations

import pandas as pd

from dpe.study.findings import CLAIMS, NO_PAIR, NO_RECORDS, NOT_RUN, REPLICATED_STATUSES, Claim, claim_status
from dpe.study.stats import ClaimKind, Status
from dpe.study.tables import ci_text, p_text

__all__ = ["DATASET_NAMES", "SHORT", "findings_abstract", "findings_overview", "findings_summary", "readable", "result_text",
           "rules_table"]


def _math(text: str) -> str:
    return text.replace("H_ens", "$H_{ens}$").replace("V_w", "$V_w$").replace("H_cat", "$H_{cat}$")


def _signed(value: float, digits: int = 2) -> str:
    return "--" if value != value else f"{value:+.{digits}f}"


SHORT = {1: "DPE + H_ens over random sampling", 2: "over an L2 ensemble + H_ens", 3: "over a deterministic network + H_ens",
         4: "the gain over random sampling grows with the budget", 5: "Exponential-4 as good as Linear-8 and Linear-4",
         6: "the uncertainty functions alike", 7: "each uncertainty function over random sampling",
         8: "segmentation: DPE + H_ens over random crops", 9: "segmentation: over an L2 ensemble + H_ens",
         10: "V_w raises its target class's IoU", 11: "2 members unstable", 12: "the gain survives other starts"}
DATASET_NAMES = {"fashion-mnist": "Fashion-MNIST", "cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "imagenet": "ImageNet"}
MODELS = {"dpe": "DPE", "l2-ensemble": "L2 ensemble", "deterministic": "deterministic"}


def readable(label: str) -> str:
    """A configuration label as a reader says it: "l2-ensemble H_ens" -> "L2 ensemble + H_ens"."""
    model, _, acquisition = str(label).partition(" ")
    return f"{MODELS[model]} + {acquisition}" if model in MODELS and acquisition and " " not in acquisition else str(label)


def result_text(row, with_size: bool = True) -> str:
    """One comparison as the tables print it: "+3.18 [+1.98, +4.38] at 800 labels, 5 trials:
    **replicated**" (marked provisional where it has caveats), or why there is no number."""
    if row.status == NOT_RUN:
        return "not run at this scale"
    provisional = ", *provisional*" if row.caveat else ""
    if str(row.p_kind).startswith("Fisher"):  # counts of diverged runs, not a difference of means
        return f"{row.versus}; Fisher p {p_text(row.p)}: **{row.status}**{provisional}"
    if row.trials == 0:
        if row.status in (NO_PAIR, NO_RECORDS):
            return "runs finished, none paired yet" if row.status == NO_PAIR else "no finished runs"
        return "no matched pair" + (f" ({row.caveat})" if row.caveat else "")  # both arms ran, never alike
    ci = "" if row.ci_low != row.ci_low else " " + ci_text(row.ci_low, row.ci_high, scale=1)
    size = f" at {row.labeled:.0f} {'crops' if row.chapter == 'segmentation' else 'labels'}" if with_size else ""
    trials = f"{int(row.trials)} trial{'s' * (int(row.trials) != 1)}"
    reversed_ = ""
    if getattr(row, "kind", None) == ClaimKind.GAIN.value and row.p == row.p:  # a gain's verdict also needs Holm's p
        trials += f", {row.p_kind} p {p_text(row.p)}"
        if row.status == Status.INCONCLUSIVE.value and row.ci_high < 0:
            reversed_ = " (its CI lies below 0, against the paper's direction; Holm does not confirm it)"
    return f"{row.effect:+.2f}{ci}{size}, {trials}: **{row.status}**{reversed_}{provisional}"


def findings_overview(rows: pd.DataFrame, profiles) -> pd.DataFrame:
    """The page's first table, one row per comparison behind each claim: the claim, what it is
    compared with, the paper's effect at the matching budget, and ours at each of ``profiles``
    (effect in points with its 95 % CI, trials, status). A claim's comparisons are matched across
    profiles by their order within the claim; a comparison named differently at a profile (the
    gain at its own first size) says so in its cell."""
    profiles = [p for p in profiles if (rows.profile == p).any()]
    budgets = {p: rows[(rows.profile == p) & (rows.chapter != "segmentation")].labeled.max() for p in profiles}
    header = {p: f"Ours at {p}" + ("" if budgets[p] != budgets[p] else f" ({budgets[p]:.0f} labels)") for p in profiles}
    numbered = rows.assign(nth=rows.groupby(["profile", "claim_number"]).cumcount())
    out = []
    for (number, nth), group in numbered.groupby(["claim_number", "nth"], sort=True):
        by = group.set_index("profile")
        tested = group[group.trials > 0]
        first = tested.iloc[0] if len(tested) else group.iloc[0]
        paper_effect = tested.paper_effect.dropna()
        paper_cell = "no number" if paper_effect.empty else f"{paper_effect.iloc[0]:+.2f}"
        against = readable(first.versus) if first.versus == first.versus and first.versus else "–"
        if str(first.p_kind).startswith("Fisher"):
            against = "more members (runs with a diverged round)"
        row = {"Claim": f"{number}. {first.claim}" if nth == 0 else f"{number}. (continued)", "Compared with": against,
               "The paper": f"{paper_cell} ({first.paper})"}
        for p in profiles:
            if p not in by.index:
                here = rows[(rows.profile == p) & (rows.claim_number == number)]
                if len(here) == 1 and not here.iloc[0].trials:  # the claim's one placeholder covers each comparison
                    row[header[p]] = result_text(here.iloc[0])
                else:
                    row[header[p]] = "no finished runs yet" if (here.status != NOT_RUN).any() else "not run at this scale"
                continue
            r = by.loc[p]
            own = "" if r.versus == first.versus or not r.trials else f"vs {readable(r.versus)}: "
            row[header[p]] = own + result_text(r, with_size=r.labeled != budgets[p])
        out.append(row)
    return pd.DataFrame(out)


def rules_table(claims: list[Claim] = CLAIMS) -> pd.DataFrame:
    """Each claim's rule as the page prints it: its direction, the paper's effect at the
    paper's three budgets (against the claim's first comparison), the margin with why, and the
    comparisons Holm's p is adjusted over."""
    out = []
    for number, claim in enumerate(claims, 1):
        effects = [claim.effect(claim.against, i) for i in range(3)]
        if not any(e == e for e in effects):
            shown = "no number"
        elif len(set(effects)) == 1:
            shown = f"{_signed(effects[0])} (at the budget only)"
        else:
            shown = " / ".join(_signed(e) for e in effects)
        out.append({"Claim": f"{number}. {claim.text} ({claim.paper})", "Direction": claim.direction or claim.kind.value,
                    "The paper's effect (4k / 8k / 16k)": shown, "Margin, and why": claim.why,
                    "Holm's p adjusted over": claim.family})
    return pd.DataFrame(out)


def _scale_text(profile: str) -> str:
    from dpe.config import make_config  # the profiles' settings, only for their one-line description

    c = make_config(profile)
    return f"{DATASET_NAMES.get(c.dataset, c.dataset)}, {c.initial} to {c.budget} labels"


def findings_abstract(rows: pd.DataFrame, profiles) -> str:
    """The page's first lines, one per profile with results: how many of the claims it tests
    each status has, then each claim's one number that matters -- its first comparison at the
    budget, in points with the 95 % CI and the paper's effect -- grouped by status, as the rows
    say (never assumed)."""
    lines = []
    for p in profiles:
        at = rows[(rows.profile == p) & (rows.status != NOT_RUN)]
        statuses = {n: claim_status([s for s in g.status if s not in (NO_RECORDS, NO_PAIR)])
                    for n, g in at.groupby("claim_number")}
        tested = {n: s for n, s in statuses.items() if s != NO_RECORDS}
        if not tested:
            continue
        groups = []
        for status in dict.fromkeys(tested.values()):
            items = []
            for n in (n for n, s in tested.items() if s == status):
                claim_rows = at[at.claim_number == n]
                # a number only where it was tested: 2 or more paired trials (or Fisher's counts)
                measured = claim_rows[claim_rows.effect.notna() & ((claim_rows.trials >= 2) | claim_rows.p_kind.astype(str).str.startswith("Fisher"))]
                first = (measured if len(measured) else claim_rows).iloc[0]
                if not len(measured) or str(first.p_kind).startswith("Fisher"):
                    items.append(f"{_math(SHORT[n])} (claim {n})")
                    continue
                ci = "" if first.ci_low != first.ci_low else " " + ci_text(first.ci_low, first.ci_high, scale=1)
                paper_effect = "" if first.paper_effect != first.paper_effect else f"; paper {first.paper_effect:+.2f}"
                name = readable(first.versus)  # a claim of several comparisons says which one this is
                against = "" if rows[rows.claim_number == n].versus.nunique() < 2 else (
                    f", {_math(name)}" if " vs " in name else f", vs {_math(name)}")
                items.append(f"{_math(SHORT[n])} {first.effect:+.2f}{ci} (claim {n}{against}{paper_effect})")
            groups.append(f"  - **{status}** ({len(items)}): " + "; ".join(items) + ".")
        provisional = at[at.caveat.astype(bool)].claim_number.nunique()
        note = f"; {provisional} provisional" if provisional else ""
        lines.append(f"- **`{p}`** ({_scale_text(p)}; {len(tested)} claims tested{note}):")
        lines += groups
    if lines:
        lines.insert(0, "Effects in points of accuracy (mIoU for segmentation) at each profile's largest budget, with "
                        "their paired 95 % CIs in brackets; the claim's number and the paper's effect in parentheses.")
    return "\n".join(lines)


def findings_summary(rows: pd.DataFrame, profiles) -> str:
    """One numbered line per claim: its status at each of ``profiles``, marked *provisional* with
    the reasons of ``caveat`` where its comparisons have any, and a link to the table that shows
    it at the first profile (the book's)."""
    summary = []
    for number, claim in enumerate(CLAIMS, 1):
        parts = []
        for p in profiles:
            at = rows[(rows.claim_number == number) & (rows.profile == p)]
            if len(at) and (at.status == NOT_RUN).all():
                parts.append(f"at `{p}` {NOT_RUN}")
                continue
            compared = [s for s in at.status if s not in (NO_RECORDS, NO_PAIR)]
            if compared:
                status = claim_status(compared)
                n_ok = sum(s in REPLICATED_STATUSES for s in compared)
                caveats = "; ".join(dict.fromkeys(reason for c in at.caveat if c for reason in c.split("; ")))
                detail = (f" ({n_ok} of {len(at)} comparison{'s' * (len(at) != 1)} replicated"
                          + (f"; *provisional*: {caveats}" if caveats else "") + ")")
            else:
                status, detail = (NO_PAIR if (at.status == NO_PAIR).any() else NO_RECORDS), ""
            parts.append(f"at `{p}` **{status}**{detail}")
        shown = rows[(rows.claim_number == number) & (rows.profile == next(iter(profiles), None)) & (rows.trials > 0)]
        link = f" ({{numref}}`{claim.evidence}`)" if len(shown) else ""
        summary.append(f"{number}. {_math(claim.text)}{link}: " + "; ".join(parts) + ".")
    return "\n".join(summary)
