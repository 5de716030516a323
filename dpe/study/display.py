"""How the book shows a results table: one style for every table of every chapter.

``book_table`` turns a DataFrame into the HTML the book renders: every column named (the row
labels become a first column; a header made of tuples is refused), numbers with one precision
per table, gains and effects signed, p-values as ``p_text`` writes them, a missing cell as "–",
numbers right-aligned, and the table in its own horizontal scroll box so that a wide one never
runs into the page's margins. The look (contrast, the stacked layout on a phone) is in
``book/_ext/static/dpe-book.css``.
"""

from __future__ import annotations

import html
import math
import re
from typing import Iterable

import pandas as pd
from IPython.display import HTML

from dpe.study.tables import p_text

__all__ = ["COLUMN_NAMES", "book_table", "cell_text", "flat_header", "label_html", "markdown_html"]

# raw column names a reader should never see, as the book names them
COLUMN_NAMES = {
    "labeled": "labels", "label": "configuration", "nll": "NLL", "ece": "ECE", "accuracy": "accuracy (%)",
    "train_seconds": "training (s)", "score_seconds": "scoring (s)", "member_epochs": "member-epochs",
    "d_z": "d (z units)", "p_paired": "paired p", "p_holm": "Holm p",
}

SIGNED = re.compile(r"gain|difference|effect|change|Δ", re.I)  # columns whose numbers carry a sign
P_VALUE = re.compile(r"(^|\s)p($|\s|\))|p-value", re.I)  # "paired p", "Holm p", "p (Holm)"
SUBSCRIPT = re.compile(r"\b([A-Z])_\{?([a-z]{1,4})\}?")  # H_ens, H_{cat}, V_w -> H<sub>ens</sub>


STRONG = re.compile(r"\*\*(.+?)\*\*")
EMPHASIS = re.compile(r"(?<![\w*])\*([^*\s][^*]*?)\*(?![\w*])")


def _subscripts(text: str) -> str:
    return SUBSCRIPT.sub(r"\1<sub>\2</sub>", text)


def label_html(text: str) -> str:
    """A cell or header as HTML: escaped, the acquisition functions' subscripts written as HTML
    (``H_ens`` -> H<sub>ens</sub>), ``**bold**`` and ``*italic*`` as tags, and ``$...$``
    stripped, so that no raw TeX or Markdown reaches the page."""
    escaped = _subscripts(html.escape(str(text).replace("$", "")))
    escaped = STRONG.sub(r"<strong>\1</strong>", escaped)
    return EMPHASIS.sub(r"<em>\1</em>", escaped)


def cell_text(value, column: str, digits: int) -> str:
    """One cell as text: "–" if missing, p-values by ``p_text``, signed numbers in gain-like
    columns, every other float with ``digits`` decimals."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int,)) or (hasattr(value, "dtype") and getattr(value.dtype, "kind", "") in "iu"):
        return f"{int(value):+d}" if SIGNED.search(column) else f"{int(value)}"
    if isinstance(value, float) or (hasattr(value, "dtype") and getattr(value.dtype, "kind", "") == "f"):
        value = float(value)
        if P_VALUE.search(column):
            return p_text(value)
        return f"{value:+.{digits}f}" if SIGNED.search(column) else f"{value:.{digits}f}"
    return str(value)


def size_text(value) -> str:
    """A labelled size as a header says it: 16000 -> "16k", 800 -> "800"."""
    return f"{value / 1000:g}k" if isinstance(value, (int, float)) and value >= 1000 and value % 100 == 0 else str(value)


def flat_header(frame: pd.DataFrame) -> pd.DataFrame:
    """A two-level header (e.g. the paper's tables: dataset x labelled size) as one level of named
    columns: ("CIFAR-10", 16000) -> "CIFAR-10, 16k"."""
    out = frame.copy()
    out.columns = [", ".join(size_text(v) for v in c) if isinstance(c, tuple) else size_text(c) for c in frame.columns]
    return out


def _header(column) -> str:
    if isinstance(column, tuple):
        raise ValueError(f"a table column is a tuple {column!r}: name it (e.g. '{' '.join(map(str, column))}')")
    name = COLUMN_NAMES.get(str(column), str(column))
    if not name.strip():
        raise ValueError("a table column has no name: every column the book shows must say what it holds")
    return name


def _numeric(text: str) -> bool:
    return bool(re.match(r"^[+\-−<]?\s?\d", text))


def book_table(
    table: pd.DataFrame, first: str | Iterable[str] | None = None, digits: int = 1, stack: bool = False,
) -> HTML:
    """``table`` as the book shows it (module docstring). Row labels other than a plain 0..n-1
    index become the first column(s), named ``first`` (or by the index's own names); ``stack`` lays each row out as a card on a narrow screen
    (the Findings table) instead of scrolling sideways."""
    frame = table.copy()
    if isinstance(frame.columns, pd.MultiIndex):
        raise ValueError(f"a table has a two-level header {list(frame.columns)[:2]}...: make it one level of named columns")
    positions = frame.index.nlevels == 1 and frame.index.name is None and pd.api.types.is_integer_dtype(frame.index)
    if positions and first is None:  # a row number (0..n-1, or its order after a sort) is not a row label
        frame = frame.reset_index(drop=True)
    else:
        names = [first] if isinstance(first, str) else list(first) if first is not None else list(frame.index.names)
        if len(names) != frame.index.nlevels or any(n is None or not str(n).strip() for n in names):
            raise ValueError(f"name the table's row labels: first={first!r} for an index of {frame.index.nlevels} level(s)")
        frame.index.names = names
        frame = frame.reset_index()
    headers = [_header(c) for c in frame.columns]
    head = "".join(f'<th scope="col">{label_html(h)}</th>' for h in headers)
    body = []
    for row in frame.itertuples(index=False):
        cells = []
        for header, value in zip(headers, row):
            text = cell_text(value, header, digits)
            kind = ' class="num"' if _numeric(text) else ""
            cells.append(f'<td data-label="{html.escape(header)}"{kind}>{label_html(text)}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    classes = "dpe-results dpe-stack" if stack else "dpe-results"
    return HTML(f'<div class="dpe-table-scroll"><table class="{classes}"><thead><tr>{head}</tr></thead>'
                f'<tbody>{"".join(body)}</tbody></table></div>')


def markdown_html(text: str) -> HTML:
    """Markdown as HTML, for a page that shows another notebook's glued text (a glued Markdown
    object renders as its ``repr`` across pages): CommonMark, with ``$H_{ens}$`` written as
    H<sub>ens</sub> since the other page does not typeset it."""
    from markdown_it import MarkdownIt  # the book's own Markdown parser (myst-parser's)

    return HTML(_subscripts(MarkdownIt("commonmark").render(text).replace("$", "")))
