"""Sphinx helpers for the book.

- **Tables numbered as tables.** The notebooks show DataFrames with ``{glue:figure}``, which
  Sphinx numbers as figures ("Fig. 7"). Every glued figure whose ``:name:`` starts with ``tbl-``
  becomes a ``glued_table``: numbered "Table N" by ``numfig``, caption above, ``{numref}``-able.
- **One table style.** ``static/dpe-book.css`` styles the HTML tables of
  ``dpe.study.display.book_table``: full contrast, a scroll box for wide ones, one card per row
  on a phone for the Findings table.
- **What it was built from.** The footer names the study's version, the last commit that changed
  the book's sources and its date (``book_version``); How to cite reads the same values as MyST
  substitutions.
- **MathJax offline, and small.** ``sphinx-mathjax-offline`` copies the whole MathJax 3 tree
  (24 MB) into ``_static/mathjax``; the book loads ``tex-chtml.js``, which fetches only TeX
  extensions, its CHTML fonts and the menu at run time, so the rest is deleted after the build.
"""

from __future__ import annotations

import shutil
import subprocess
import tomllib
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


BOOK_SOURCES = ["results/quick/notebooks", "results/quick/figures", "book", "_toc.yml", "_config.yml"]


def _git(root: Path, *args: str) -> str:
    try:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=30)
    except OSError:
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def book_version(root: Path) -> dict[str, str]:
    """What the book was built from, from git and pyproject.toml (deterministic: the same sources
    give the same footer, so that a rebuild in a fresh clone is byte for byte the committed copy):
    the study's version, the last commit that changed the book's sources, its date, and whether
    the sources had uncommitted changes."""
    line = _git(root, "log", "-1", "--format=%H %cs", "--", *BOOK_SOURCES)
    commit, date = line.split() if line else ("unknown", "unknown date")
    dirty = bool(_git(root, "status", "--porcelain", "--", *BOOK_SOURCES))
    pyproject = root / "pyproject.toml"
    version = tomllib.loads(pyproject.read_text())["project"]["version"] if pyproject.exists() else "unknown"
    return {"version": version, "commit": commit[:7], "date": date, "dirty": " with uncommitted changes" if dirty else ""}


def add_version(app, config) -> None:
    """The footer and the ``{{ study_commit }}``-style substitutions of How to cite."""
    built = book_version(Path(app.srcdir))
    url = config.html_theme_options.get("repository_url", "")
    bibtex = "\n".join([
        "```bibtex", "@software{dpe_study,",
        "  title   = {Deep Probabilistic Ensembles for Active Learning: a reproducible study},",
        "  author  = {{The DPE study team}},", f"  year    = {{{built['date'][:4]}}},",
        f"  version = {{{built['version']}}},", f"  url     = {{{url}}},",
        f"  note    = {{Commit {built['commit']}; name the figure or table, its profile and its records' commit}}",
        "}", "```"])
    config.myst_substitutions = {**getattr(config, "myst_substitutions", {}), "study_version": built["version"],
                                 "study_commit": built["commit"], "study_date": built["date"], "study_url": url,
                                 "study_bibtex": bibtex}
    source = f'<a href="{url}">{url}</a>' if url else "the study's repository"
    config.html_theme_options["extra_footer"] = (
        f"<p>DPE study {built['version']}, built from commit <code>{built['commit']}</code>{built['dirty']} "
        f"({built['date']}) of {source}. Cite as in <em>How to cite</em> on the first page.</p>")


def add_table_style(app) -> None:
    app.config.html_static_path.append(str(Path(__file__).parent / "static"))
    app.add_css_file("dpe-book.css")


def setup(app):
    app.connect("builder-inited", add_table_style)
    app.connect("config-inited", add_version)
    app.add_enumerable_node(glued_table, "table", html=(_visit, _depart))
    app.connect("doctree-read", number_tables_as_tables)
    app.connect("build-finished", prune_mathjax, priority=900)  # after sphinx-mathjax-offline copies it
    return {"parallel_read_safe": True, "parallel_write_safe": True}
