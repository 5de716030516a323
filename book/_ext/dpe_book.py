"""Sphinx helpers for the book.

- **Tables numbered as tables.** The notebooks show DataFrames with ``{glue:figure}``, which
  Sphinx numbers as figures ("Fig. 7"). Every glued figure whose ``:name:`` starts with ``tbl-``
  becomes a ``glued_table``: numbered "Table N" by ``numfig``, caption above, ``{numref}``-able.
- **MathJax offline, and small.** ``sphinx-mathjax-offline`` copies the whole MathJax 3 tree
  (24 MB) into ``_static/mathjax``; the book loads ``tex-chtml.js``, which fetches only TeX
  extensions, its CHTML fonts and the menu at run time, so the rest is deleted after the build.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from docutils import nodes

TABLE_PREFIX = "tbl-"
MATHJAX_KEEP = {"tex-chtml.js", "input", "output", "ui", "a11y", "adaptors"}  # what tex-chtml.js loads
MATHJAX_KEEP_INPUT = {"tex"}  # input/tex/extensions: \require and autoloaded packages
MATHJAX_KEEP_OUTPUT = {"chtml"}  # output/chtml/fonts: the CHTML woff fonts


class glued_table(nodes.figure):
    """A ``{glue:figure}`` named ``tbl-...``: a table with its caption."""


def _visit(self, node):
    self.visit_figure(node)


def _depart(self, node):
    self.depart_figure(node)


def number_tables_as_tables(app, doctree) -> None:
    for figure in list(doctree.findall(nodes.figure)):
        if type(figure) is nodes.figure and any(name.startswith(TABLE_PREFIX) for name in figure["names"]):
            captions = [child for child in figure.children if isinstance(child, nodes.caption)]
            others = [child for child in figure.children if not isinstance(child, nodes.caption)]
            table = glued_table(figure.rawsource, *captions, *others, **figure.attributes)
            table["classes"] = [*figure["classes"], "dpe-table"]
            figure.replace_self(table)
            for name in table["names"]:  # the label registry points at the node that is numbered
                doctree.nameids[name] = table["ids"][0] if table["ids"] else doctree.nameids.get(name)
            for node_id in table["ids"]:
                doctree.ids[node_id] = table


def prune_mathjax(app, exception) -> None:
    root = Path(app.outdir) / "_static" / "mathjax"
    if exception is not None or not root.is_dir():
        return
    for path in root.iterdir():
        if path.name not in MATHJAX_KEEP:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    for folder, keep in (("input", MATHJAX_KEEP_INPUT), ("output", MATHJAX_KEEP_OUTPUT)):
        for path in (root / folder).iterdir():
            if path.name not in keep:
                shutil.rmtree(path) if path.is_dir() else path.unlink()


def setup(app):
    app.add_enumerable_node(glued_table, "table", html=(_visit, _depart))
    app.connect("doctree-read", number_tables_as_tables)
    app.connect("build-finished", prune_mathjax, priority=900)  # after sphinx-mathjax-offline copies it
    return {"parallel_read_safe": True, "parallel_write_safe": True}
