"""The study end to end at the smoke profile: runner, notebooks, book, browser; and Dask."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import torch

from dpe.study import runner as study
from dpe.config import make_config
from dpe.study.chapter import parameters
from dpe.study.grids import run_grid
from dpe.study.robustness import VERDICTS

# the first test to use smoke_results pays for the whole smoke study (every notebook, the
# optional robustness one included): a few minutes alone, more on a shared machine
pytestmark = pytest.mark.timeout(1800)

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"  # screenshots of the rendered book; git-ignored
BIN = Path(sys.executable).parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def _tool(name: str) -> str | None:
    return str(BIN / name) if (BIN / name).exists() else shutil.which(name)


@pytest.fixture(scope="module")
def smoke_results(tmp_path_factory, fmnist_root) -> Path:
    """The whole study at the smoke profile, optional notebooks included, on the tiny
    Fashion-MNIST fixture."""
    results = tmp_path_factory.mktemp("study") / "smoke"
    every = [arg for name in study.NOTEBOOKS + study.OPTIONAL_NOTEBOOKS for arg in ("--only", name)]
    done = subprocess.run(
        [sys.executable, "-m", "dpe.study", "--profile", "smoke", "--results", str(results),
         "-p", f"data_root={fmnist_root}", "--no-progress", *every],
        env={**ENV, "DPE_CACHE": str(results.parent / "cache")}, capture_output=True, text=True, timeout=1200,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == str(results)
    return results


def test_every_notebook_executes_and_writes_its_tables_and_figures(smoke_results):
    for name in study.NOTEBOOKS + study.OPTIONAL_NOTEBOOKS:
        notebook = nbformat.read(smoke_results / "notebooks" / f"{name}.ipynb", as_version=4)
        assert notebook.metadata["papermill"]["parameters"]["profile"] == "smoke"
        errors = [o for c in notebook.cells for o in c.get("outputs", []) if o.output_type == "error"]
        assert not errors
        stderr = [o["text"] for c in notebook.cells for o in c.get("outputs", []) if o.get("name") == "stderr"]
        assert not stderr, stderr
        images = [o for c in notebook.cells for o in c.get("outputs", [])
                  if {"image/png", "application/papermill.record/image/png"} & set(o.get("data", {}))]
        assert images, f"{name}.ipynb shows no figure"
        shown = [o for c in notebook.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
        assert not shown, f"{name}.ipynb shows a figure outside its glued place (a duplicate in the book)"
    figures = {p.name for p in (smoke_results / "figures").iterdir()}
    for stem in ("convergence", "growth", "acquisition", "l2_vs_dpe", "l2_vs_dpe-scales", "ensembles-size", "ensembles-beta", "ensembles-reliability",
                 "segmentation", "segmentation-pixels", "segmentation-crops",
                 "robustness-curves", "robustness-differences", "robustness-efficiency", "baselines", "findings"):
        assert {f"{stem}.png", f"{stem}.pdf"} <= figures
    beyond = pd.read_csv(smoke_results / "tables" / "baselines-tests.csv")  # every new method ran, both readings
    assert set(beyond["against"]) == {"DPE + H_ens", "random sampling"} and (beyond["trials"] == 2).all()
    assert set(beyond.loc[beyond["against"] == "random sampling", "method"]) == {
        "DPE + margin", "DPE + least confidence", "DPE + BADGE", "DPE + TypiClust", "deterministic + BADGE"}
    tests = pd.read_csv(smoke_results / "tables" / "l2_vs_dpe-tests.csv")
    assert {"difference", "ci_low", "ci_high", "p_paired", "p_holm", "verdict", "z", "p_pooled", "p_welch"} <= set(tests)
    assert len(tests) == 5 * 2 and (tests["trials"] == 2).all()  # 5 other rows x 2 budgets after the random set
    assert ((tests["ci_low"] <= tests["difference"]) & (tests["difference"] <= tests["ci_high"])).all()
    scales = pd.read_csv(smoke_results / "tables" / "l2_vs_dpe-scales.csv")  # smoke beside the committed quick records
    assert list(dict.fromkeys(scales["scale"])) == ["smoke", "quick", "paper (CIFAR-10)"]
    quick = scales[scales["scale"] == "quick"]
    # 5 trials, of which the pairs whose arms ran in one dtype count (test_findings checks which)
    assert set(quick["labeled"]) == {200, 400, 800} and quick["trials"].between(2, 5).all()
    rounds = pd.read_csv(smoke_results / "tables" / "l2_vs_dpe-rounds.csv")
    bounds = rounds[rounds["label"].str.endswith("upper bound")]
    assert set(bounds["labeled"]) == {600} and bounds["trial"].nunique() == 2  # all of smoke's pool
    check = pd.read_csv(smoke_results / "tables" / "convergence-check.csv")
    assert set(check["model"]) == {"dpe", "deterministic"} and (check["steps_doubled"] >= 2 * check["steps"]).all()
    robust = pd.read_csv(smoke_results / "tables" / "robustness-tests.csv")
    assert list(robust["comparison"]) == [  # smoke: base start 20, one changed start (40), 2 trials
        "base (start 20, step 20): DPE + H_ens vs DPE + R", "base (start 20, step 20): DPE + core-set vs DPE + R",
        "start 40, step 40: DPE + H_ens vs DPE + R", "strong augmentation: DPE + H_ens vs DPE + R",
        "base (start 20, step 20): MC dropout + H_ens vs MC dropout + R",
        "base (start 20, step 20): DPE + H_ens vs MC dropout + H_ens",
        "base (start 20, step 20): DPE + H_ens vs DPE + core-set"]
    assert (robust["trials"] == 2).all() and robust["verdict"].isin(VERDICTS).all()
    assert ((robust["ci_low"] <= robust["difference"]) & (robust["difference"] <= robust["ci_high"])).all()


def test_rerunning_skips_current_notebooks(smoke_results, fmnist_root):
    before = {p: p.stat().st_mtime for p in (smoke_results / "notebooks").iterdir()}
    done = subprocess.run(
        [sys.executable, "-m", "dpe.study", "--profile", "smoke", "--results", str(smoke_results),
         "-p", f"data_root={fmnist_root}", "--no-progress"],
        env={**ENV, "DPE_CACHE": str(smoke_results.parent / "cache")}, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert {p: p.stat().st_mtime for p in (smoke_results / "notebooks").iterdir()} == before
    # each chapter names the records it looked at: its grid's, and some of the convergence check's (its first note)
    growth = nbformat.read(smoke_results / "notebooks" / "growth.ipynb", as_version=4).metadata["dpe_study"]
    convergence = nbformat.read(smoke_results / "notebooks" / "convergence.ipynb", as_version=4).metadata["dpe_study"]
    assert set(convergence["read"]) & set(growth["read"]) and growth["records"] == study.records_digest(growth["read"])
    # ... and, for its "At each scale" section, the other profile's records (paper-cpu's, committed)
    assert {Path(p).parent for p in growth["read"]} == {smoke_results / "runs", Path("results/paper-cpu/runs")}


@pytest.fixture(scope="module")
def smoke_book(smoke_results, tmp_path_factory) -> Path:
    """The book built over the smoke notebooks, in a copy of the book's sources."""
    jupyter_book = _tool("jupyter-book")
    if jupyter_book is None:
        pytest.skip("jupyter-book is not installed (make test installs it)")
    root = tmp_path_factory.mktemp("book")
    for item in ("_config.yml", "_toc.yml", "book"):
        (shutil.copytree if (ROOT / item).is_dir() else shutil.copy)(ROOT / item, root / item)
    shutil.copytree(smoke_results / "notebooks", root / "results" / "quick" / "notebooks")
    shutil.copytree(smoke_results / "figures", root / "results" / "quick" / "figures")  # the captions' PDF links
    done = subprocess.run([jupyter_book, "build", str(root), "-W", "--keep-going"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-4000:]
    return root / "_build" / "html"


def test_book_pages_carry_their_figures_and_tables(smoke_book):
    counts = {}
    for name in study.NOTEBOOKS + study.OPTIONAL_NOTEBOOKS:
        html = (smoke_book / "results" / "quick" / "notebooks" / f"{name}.html").read_text()
        counts[name] = (len(re.findall(r"<img ", html)), len(re.findall(r"<table", html)))
        assert "&lt;Figure size" not in html  # a figure that rendered as text (BOOK.md's trap)
    assert counts["convergence"] >= (1, 2)  # accuracy against length; the check and the cost
    assert counts["growth"][0] >= 1 and counts["growth"][1] >= 2
    assert counts["acquisition"] >= (1, 3) and counts["l2_vs_dpe"] >= (2, 4)  # + the gains at each scale
    assert counts["ensembles"][0] >= 3 and counts["ensembles"][1] >= 1
    assert counts["segmentation"] >= (3, 4)  # Figs. 3, 4 and the curves; Tables 5, 6 and the paper's
    assert counts["robustness"] >= (3, 2)  # curves, paired differences, efficiency; tests, efficiency
    assert counts["findings"][1] >= 1  # the claims table
    for name in study.NOTEBOOKS + study.OPTIONAL_NOTEBOOKS:
        html = (smoke_book / "results" / "quick" / "notebooks" / f"{name}.html").read_text()
        # one parameter cell, folded: papermill's (the values that ran), not the notebook's defaults
        assert html.count("tag_injected-parameters tag_hide-input") == 1 and "tag_parameters" not in html, name
        if name != "findings":  # every figure or table caption says what produced it
            assert "Profile smoke, " in html and "records written by commit" in html, name
    l2 = (smoke_book / "results" / "quick" / "notebooks" / "l2_vs_dpe.html").read_text()
    assert re.findall(r'caption-number">Table \d+', l2) and re.findall(r'caption-number">Fig\. \d+', l2)
    assert re.search(r'href="[^"]*_downloads/[^"]*/l2_vs_dpe\.pdf"', l2)  # the figure's PDF beside it
    assert re.search(r'href="[^"]*_downloads/[^"]*/l2_vs_dpe-scales\.pdf"', l2) and "Profile quick, 5 trials" in l2
    assert (smoke_book / "_static" / "mathjax" / "tex-chtml.js").exists()
    for page in ("index.html", "book/method.html", "book/reproduce.html", "book/references.html"):
        assert (smoke_book / page).exists()


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed (make test installs it)")
def test_book_renders_in_headless_chromium(smoke_book, tmp_path):
    ARTIFACTS.mkdir(exist_ok=True)
    # offline: every request that leaves the file system goes to a closed port (a CDN would fail);
    # the virtual time lets MathJax typeset before the DOM is read
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--proxy-server=http://127.0.0.1:9", "--virtual-time-budget=20000",
             f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,2400"]
    for page, shot, min_images, min_tables, min_maths in [
        ("book/intro.html", "home.png", 0, 0, 0),  # index.html only redirects here
        ("book/method.html", "method.png", 0, 1, 20),
        ("results/quick/notebooks/findings.html", "findings.png", 0, 1, 1),
        ("results/quick/notebooks/l2_vs_dpe.html", "l2_vs_dpe.png", 1, 3, 1),
    ]:
        url = (smoke_book / page).as_uri()
        dom = subprocess.run(["chromium", *flags, "--dump-dom", url], capture_output=True, text=True, timeout=120).stdout
        assert "Deep Probabilistic Ensembles" in dom
        assert len(re.findall(r"<img ", dom)) >= min_images and len(re.findall(r"<table", dom)) >= min_tables
        assert len(re.findall(r"<mjx-container", dom)) >= min_maths and "<mjx-merror" not in dom, page
        text = re.sub(r"<(script|style|pre|code)\b.*?</\1>", "", dom, flags=re.S)
        text = re.sub(r"<[^>]+>", "", text)
        assert not re.search(r"\\\(|\\\)|\\\[|\\\]|\$\$", text), (page, "raw TeX left unrendered")
        assert "<Figure size" not in text and "&lt;Figure size" not in text
        assert "problematic" not in dom  # an unresolved reference
        subprocess.run(["chromium", *flags, f"--screenshot={ARTIFACTS / shot}", url], capture_output=True, timeout=120)
        assert (ARTIFACTS / shot).stat().st_size > 10_000  # a rendered page, not a blank one


def test_the_citation_names_the_repository_and_version_the_book_names():
    """CITATION.cff, the book (_config.yml's repository.url, read by its footer and How to cite)
    and the package agree on the repository and the version."""
    import tomllib

    import yaml

    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    book = yaml.safe_load((ROOT / "_config.yml").read_text())
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert citation["repository-code"] == citation["url"] == book["repository"]["url"]
    assert str(citation["version"]) == version
    entries = re.split(r"\n(?=@)", (ROOT / "book" / "references.bib").read_text().strip())
    assert entries and all(re.search(r"^\s*url\s*=\s*\{https://", e, re.M) for e in entries)  # every reference links


CHROMIUM = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--proxy-server=http://127.0.0.1:9", "--virtual-time-budget=20000"]


def _probe(page: Path, width: int, profile: Path, height: int = 900) -> dict:
    """What ``tests/book_probe.html`` finds on a built page shown ``width`` px wide: the tables
    that break the one table style, raw TeX or Markdown, internal references, and the effects
    with a 95 % CI in the first ``height`` px."""
    url = f"{(ROOT / 'tests' / 'book_probe.html').as_uri()}#{width}#{height}#{page.as_uri()}"
    dom = subprocess.run([*CHROMIUM, "--allow-file-access-from-files", f"--user-data-dir={profile}",
                          f"--window-size={width + 40},{height + 100}", "--dump-dom", url],
                         capture_output=True, text=True, timeout=120).stdout
    found = re.search(r'<pre id="out">(.*?)</pre>', dom, re.S)
    assert found and found.group(1) != "pending", f"the probe did not run on {page}"
    return json.loads(found.group(1).replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"'))


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed (make test installs it)")
def test_every_page_of_the_book_keeps_one_table_style_and_no_raw_markup(smoke_book, tmp_path):
    """Each page at 1 400 px: no tuple or index header, no unnamed column, no table wider than the
    content column outside its own scroll box, every chapter's table numbered "Table N.M", cell
    text at 4.5:1 contrast or more, no raw $...$, \\( or **...** in the text, no "issue #"."""
    pages = sorted(smoke_book.glob("book/*.html")) + sorted(smoke_book.glob("results/quick/notebooks/*.html"))
    assert len(pages) >= 12
    problems = {}
    for page in pages:
        found = _probe(page, 1400, tmp_path / "profile")
        if found["problems"]:
            problems[page.name] = found["problems"]
    assert not problems


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed (make test installs it)")
def test_the_committed_findings_page_answers_on_its_first_screen(tmp_path):
    """The book as committed (results/quick/book): the first screen of Findings at 1 400 x 900
    holds effects with their 95 % CIs, and so does the landing page's; screenshots at 1 400 and
    420 px (a phone) are kept in test-artifacts/."""
    book = ROOT / "results" / "quick" / "book"
    findings = book / "results" / "quick" / "notebooks" / "findings.html"
    if not findings.exists():
        pytest.skip("no committed book (make book)")
    for page, width in ((findings, 1400), (book / "book" / "intro.html", 1400), (findings, 420)):
        found = _probe(page, width, tmp_path / "profile")
        assert len(found["first_screen_effects"]) >= 1 + (width > 420), (page.name, width, found)
        assert not found["problems"], (page.name, found["problems"])
    ARTIFACTS.mkdir(exist_ok=True)
    for width, height in ((1400, 900), (420, 900)):
        shot = ARTIFACTS / f"findings-{width}.png"
        subprocess.run([*CHROMIUM, f"--user-data-dir={tmp_path / 'profile'}", f"--window-size={width},{height}",
                        f"--screenshot={shot}", findings.as_uri()], capture_output=True, timeout=120)
        assert shot.stat().st_size > 10_000


def test_dask_cluster_and_local_workers_give_the_same_records_as_the_local_run(fmnist_root, tmp_path, monkeypatch):
    distributed = pytest.importorskip("distributed")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # the workers import dpe from the tree
    grid = [(f"{a}", make_config("smoke", acquisition=a, budget=40)) for a in ("R", "H_ens")]
    # Dask's nanny starts workers with OMP_NUM_THREADS=1; the local run uses one thread too, so
    # that both sum floats in the same order and give the same records bit for bit
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        local = run_grid(grid, tmp_path / "local", data_root=str(fmnist_root), progress=False)
    finally:
        torch.set_num_threads(threads)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        remote = run_grid(grid, tmp_path / "dask", data_root=str(fmnist_root), scheduler=cluster.scheduler_address, progress=False)
    workers = run_grid(grid, tmp_path / "workers", data_root=str(fmnist_root), workers=2, progress=False)
    for a, b in [*zip(local, remote), *zip(local, workers)]:
        ra, rb = json.loads(Path(a).read_text()), json.loads(Path(b).read_text())
        assert Path(a).name == Path(b).name and ra["initial"] == rb["initial"]
        strip = lambda rounds: [{k: v for k, v in r.items() if not k.endswith("seconds")} for r in rounds]  # noqa: E731
        assert strip(ra["rounds"]) == strip(rb["rounds"])


def test_runner_names_bad_parameters_in_one_line(capsys):
    assert study.main(["--profile", "smoke", "-p", "nonsense=1", "--no-progress"]) == 2  # as `python -m dpe run`
    assert capsys.readouterr().err.strip() == "error: no selected notebook has parameter(s) ['nonsense']"
    assert study.main(["--profile", "smoke", "--only", "tables"]) == 2
    assert "--only 'tables' is invalid" in capsys.readouterr().err
    assert study.main(["--profile", "smoke", "--executor", "dask"]) == 2
    assert "needs --scheduler" in capsys.readouterr().err
    assert study.main(["--profile", "smoke", "--only", "growth", "-p", "trials=abc"]) == 2
    assert capsys.readouterr().err.strip() == "error: -p trials='abc' is invalid: growth expects an integer (now 1)"


def test_a_bug_inside_a_run_keeps_its_traceback(monkeypatch):
    def broken(*args, **kwargs):
        raise KeyError("a bug, not a bad setting")

    monkeypatch.setattr("dpe.study.grids.run_grid", broken)
    with pytest.raises(KeyError, match="a bug"):
        study.main(["--profile", "smoke", "--only", "growth", "--no-progress"])


def test_a_failing_notebook_is_named_with_its_cell(tmp_path, monkeypatch):
    notebook = nbformat.v4.new_notebook()
    parameters = nbformat.v4.new_code_cell("x = 1")
    parameters.metadata["tags"] = ["parameters"]
    notebook.cells = [parameters, nbformat.v4.new_code_cell("y = x + 1"), nbformat.v4.new_code_cell("1 / 0")]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, tmp_path / "broken.ipynb")
    monkeypatch.setattr(study, "NOTEBOOK_DIR", tmp_path)
    output = tmp_path / "out" / "broken.ipynb"
    output.parent.mkdir()
    output.write_text("the chapter readers see")
    with pytest.raises(study.NotebookFailed, match=r"broken.ipynb failed in cell \d+ .*ZeroDivisionError"):
        study.execute("broken", {"x": 2}, output, progress=False)
    assert output.read_text() == "the chapter readers see"  # a failed render never replaces the chapter
    partial = nbformat.read(tmp_path / "out" / "broken.failed.ipynb", as_version=4)  # kept beside it
    assert partial.metadata["papermill"]["exception"]
    assert sorted(p.name for p in output.parent.iterdir()) == ["broken.failed.ipynb", "broken.ipynb"]  # no temporary left


def test_bad_records_stop_the_study_before_anything_runs(tmp_path, capsys):
    """A truncated record and a finished one with a middle round removed, in a copy of a results
    folder: both named, exit 2, no notebook written."""
    from dpe.records import record_path
    from dpe.study.grids import l2_vs_dpe_grid

    source = Path("results/quick/runs")
    runs = tmp_path / "results" / "runs"
    runs.mkdir(parents=True)
    label, config = l2_vs_dpe_grid("quick", "fashion-mnist", 2)[0]
    first = record_path("results/quick", config)
    second = record_path("results/quick", l2_vs_dpe_grid("quick", "fashion-mnist", 2)[1][1])
    for path in (first, second):
        shutil.copy(path, runs / path.name)
    (runs / first.name).write_text(first.read_text()[:500])  # truncated
    record = json.loads(second.read_text())
    record.pop("digest", None)  # a record from before digests: its structure alone gives it away
    del record["rounds"][1]
    (runs / second.name).write_text(json.dumps(record))
    assert study.main(["--profile", "quick", "--results", str(tmp_path / "results"), "--no-runs", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: 2 record(s) fail their checks; nothing was run or rendered:")
    assert f"{runs / first.name} is not valid JSON" in err
    assert f"{runs / second.name} is not a valid record: its rounds are not numbered 0, 1, 2, ... in order" in err
    assert not (tmp_path / "results" / "notebooks").exists()


def test_a_chapter_shows_one_parameter_cell_the_one_that_ran():
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# A chapter"),
        nbformat.v4.new_code_cell("trials = 3", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("trials = 1", metadata={"tags": ["injected-parameters"]}),
        nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["remove-input"]}),
    ])
    study.one_parameter_cell(notebook)
    study.one_parameter_cell(notebook)  # twice changes nothing more
    assert [c.metadata["tags"] for c in notebook.cells] == [
        [], ["parameters", "remove-cell"], ["injected-parameters", "hide-input"], ["remove-input"]]
    alone = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("trials = 3", metadata={"tags": ["parameters"]})])
    study.one_parameter_cell(alone)  # run without papermill: the defaults are what ran, and stay
    assert alone.cells[0].metadata["tags"] == ["parameters"]


def test_the_segmentation_chapter_renders_a_partial_grid(smoke_results, fmnist_root, tmp_path):
    """With only the upper bounds finished (no active run, no doubled run), the chapter still
    renders, marks the grid partial and claims nothing it has no runs for."""
    partial = tmp_path / "smoke"
    (partial / "runs").mkdir(parents=True)
    kept = 0
    for path in (smoke_results / "runs").glob("*.json"):
        config = json.loads(path.read_text())["config"]
        if config.get("task") != "segmentation" or (config["schedule"] == "all" and config["min_steps"] == 6):
            shutil.copy(path, partial / "runs")
            kept += config.get("task") == "segmentation"
    assert kept == 1  # smoke: 1 trial of the upper bound at the profile's length
    done = subprocess.run(
        [sys.executable, "-m", "dpe.study", "--profile", "smoke", "--results", str(partial), "--no-runs",
         "-p", f"data_root={fmnist_root}", "--no-progress", "--only", "segmentation"],
        env={**ENV, "DPE_CACHE": str(smoke_results.parent / "cache")}, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    notebook = nbformat.read(partial / "notebooks" / "segmentation.ipynb", as_version=4)
    text = "\n".join("".join(o.get("data", {}).get("text/markdown", "")) for c in notebook.cells for o in c.get("outputs", []))
    assert "**Partial grid: 1 of " in text and "not yet measured" in text and "the protocol is unchecked here" in text
    assert "DPE + $R$: no finished run" in text and "nan" not in text


def _render_metadata(output: Path, params: dict, read: list[str], noted: list | None = None) -> None:
    """An executed notebook's metadata as ``runner.execute`` writes it (no cells)."""
    output.parent.mkdir(parents=True, exist_ok=True)
    meta = {"papermill": {"parameters": params},
            "dpe_study": {"source": study.source_hash("growth"), "records": study.records_digest(read), "read": read,
                          "parameters": noted or []}}
    output.write_text(json.dumps({"metadata": meta, "cells": []}))


def test_a_chapter_is_stale_when_a_profile_it_read_would_resolve_differently(tmp_path, monkeypatch):
    """A chapter that showed another profile's chapter (Findings, the scales sections) is stale
    once that profile's parameters change, though none of its own did (they once went unnoticed)."""
    from dpe.profiles import STUDY_PROFILES
    from dpe.study.chapter import PARAMETERS_LOG, chapter

    log = tmp_path / "parameters.log"
    monkeypatch.setenv(PARAMETERS_LOG, str(log))
    chapter("acquisition", "paper-cpu", results_dir=str(tmp_path))  # what a quick chapter does in its kernel
    monkeypatch.delenv(PARAMETERS_LOG)
    noted = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(n["name"], n["profile"], n["params"]["trials"]) for n in noted] == [
        ("acquisition", "paper-cpu", STUDY_PROFILES["paper-cpu"]["acquisition"]["trials"])]
    params = {"profile": "quick", "trials": 3}
    output = tmp_path / "notebooks" / "growth.ipynb"
    _render_metadata(output, params, [], noted)
    assert study.is_current(output, params, "growth")
    monkeypatch.setitem(STUDY_PROFILES["paper-cpu"], "acquisition", {"trials": 4})
    assert not study.is_current(output, params, "growth")
    monkeypatch.setitem(STUDY_PROFILES["paper-cpu"], "acquisition", {"trials": 4, "dataset": "fashion-mnist"})
    assert not study.is_current(output, params, "growth")  # still 4, not what it showed
    _render_metadata(output, params, [], noted[:0])  # a chapter that read no other chapter
    assert study.is_current(output, params, "growth")


def test_a_chapter_is_stale_only_when_a_record_it_looked_at_changes(tmp_path, monkeypatch):
    """A render is reused while its parameters and source are the ones it ran with and every
    record it looked at is as it was: a round changed in a finished one, or one of its runs
    finishing, makes it stale; a run begun or going on does not (chapters show finished runs, and
    committing a partial record once left a fresh clone re-rendering), nor does a record of
    another chapter (it once re-rendered every chapter whenever a robustness run finished)."""
    from conftest import valid_record
    from dpe.records import save_record
    from dpe.study import grids

    own, other = tmp_path / "quick", tmp_path / "paper"
    grid = [("dpe R", make_config("smoke", trial=t)) for t in range(2)]
    (own / "runs").mkdir(parents=True)
    finished = grids.record_path(own, grid[0][1])
    save_record(finished, valid_record(grid[0][1]))
    log = tmp_path / "read.log"
    monkeypatch.setenv(grids.READ_LOG, str(log))
    done, _ = grids.finished_part(grid, own)  # what a chapter does, in its kernel
    assert not grids.has_runs(other)
    monkeypatch.delenv(grids.READ_LOG)
    read = sorted(set(log.read_text().split()))
    assert [config for _, config in done] == [grid[0][1]]
    assert read == sorted([str(finished), str(grids.record_path(own, grid[1][1])), str(other / "runs")])

    params = {"profile": "smoke", "trials": 2}
    output = own / "notebooks" / "growth.ipynb"
    _render_metadata(output, params, read)
    assert study.is_current(output, params, "growth")
    assert not study.is_current(output, {**params, "trials": 3}, "growth")
    # a render made with --no-runs serves make study over the same records (it used to re-execute all)
    assert study.is_current(output, {**params, "run_missing": True}, "growth")
    (own / "runs" / "ffff.json").write_text("{}")  # another chapter's run
    assert study.is_current(output, params, "growth")
    save_record(finished, valid_record(grid[0][1], [0.6, 0.7, 0.8]))  # its rounds measured again since
    assert not study.is_current(output, params, "growth")
    save_record(finished, valid_record(grid[0][1]))
    assert study.is_current(output, params, "growth")
    begun = grids.record_path(own, grid[1][1])
    save_record(begun, valid_record(grid[1][1], rounds=1))  # a run of its grid begun since: not shown yet
    assert study.is_current(output, params, "growth")
    save_record(begun, valid_record(grid[1][1], rounds=2))  # a round added while it runs
    assert study.is_current(output, params, "growth")
    save_record(begun, valid_record(grid[1][1]))  # finished: the chapter would show it
    assert not study.is_current(output, params, "growth")
    begun.unlink()
    assert study.is_current(output, params, "growth")
    (other / "runs").mkdir(parents=True)  # a profile it skipped now has records
    assert not study.is_current(output, params, "growth")
    (other / "runs").rmdir()
    assert study.is_current(output, params, "growth")
    _render_metadata(output, params, read)
    meta = json.loads(output.read_text())
    del meta["metadata"]["dpe_study"]["read"]  # a render from before reads were noted
    output.write_text(json.dumps(meta))
    assert not study.is_current(output, params, "growth")
    meta = json.loads(output.read_text())
    meta["metadata"]["dpe_study"]["read"] = read
    del meta["metadata"]["dpe_study"]["parameters"]  # a render from before resolutions were noted
    output.write_text(json.dumps(meta))
    assert not study.is_current(output, params, "growth")


def test_a_chapter_is_stale_when_the_code_that_composes_it_changes(tmp_path, monkeypatch):
    """A render is reused only while the ``dpe.study`` modules that compose chapters are as they
    were (a changed sentence in ``tables`` once stayed unseen by every fresh clone until --force);
    the runner itself, which never runs inside a chapter, re-renders nothing."""
    from dpe.study import runner

    names = [p.name for p in runner.CHAPTER_CODE]
    assert {"tables.py", "findings.py", "figures.py", "stats.py", "chapter.py"} <= set(names)
    assert "runner.py" not in names and "__main__.py" not in names
    module = tmp_path / "tables.py"
    module.write_text("SENTENCE = 'holds'\n")
    monkeypatch.setattr(runner, "CHAPTER_CODE", [module])
    params = {"profile": "smoke", "trials": 2}
    output = tmp_path / "notebooks" / "growth.ipynb"
    _render_metadata(output, params, [])
    assert study.is_current(output, params, "growth")
    module.write_text("SENTENCE = 'vanishes'\n")
    assert not study.is_current(output, params, "growth")
    module.write_text("SENTENCE = 'holds'\n")
    assert study.is_current(output, params, "growth")
    # the same bytes under another module's name are other code
    renamed = tmp_path / "figures.py"
    renamed.write_text("SENTENCE = 'holds'\n")
    monkeypatch.setattr(runner, "CHAPTER_CODE", [renamed])
    assert not study.is_current(output, params, "growth")


def test_float32_runs_the_grid_without_bf16(monkeypatch):
    seen = {}

    def capture(grid, results, **kwargs):
        seen.update(kwargs)
        raise KeyError("stop before the notebooks")

    monkeypatch.setattr("dpe.study.grids.run_grid", capture)
    with pytest.raises(KeyError):
        study.main(["--profile", "smoke", "--only", "growth", "--no-progress", "--float32"])
    assert seen["engine"].name == "fast" and seen["engine"].bf16 is False
    with pytest.raises(KeyError):
        study.main(["--profile", "smoke", "--only", "growth", "--no-progress"])
    assert seen["engine"] == "auto"


def test_the_segmentation_check_pair_runs_more_trials_than_the_tables():
    """check_trials=3 over trials=2: "dpe R | x1" is the two "dpe R" runs plus trial 2 at the
    same length; "dpe R | x2" the same three trials with epochs and step floor doubled; the
    tables' rows and the upper bound's pair keep 2 trials; and quick asks for 5 of each."""
    from dpe.study.grids import segmentation_grid

    grid = segmentation_grid("smoke", "scenes", 2, "Bag", check_trials=3)
    by_label: dict[str, list] = {}
    for label, config in grid:
        by_label.setdefault(label, []).append(config)
    assert [c.trial for c in by_label["dpe R | x1"]] == [0, 1, 2]
    assert by_label["dpe R | x1"][:2] == by_label["dpe R"] and len(by_label["dpe R"]) == 2
    short, long = by_label["dpe R | x1"][2], by_label["dpe R | x2"][2]
    assert (long.min_steps, long.max_epochs) == (2 * short.min_steps, 2 * short.max_epochs)
    assert long.acquisition == short.acquisition == "R" and long.trial == 2
    assert len(by_label["dpe R | x2"]) == 3 and len(by_label["Upper bound | x2"]) == 2
    assert [label for label, _ in segmentation_grid("smoke", "scenes", 2, "Bag")].count("dpe R | x1") == 2
    with pytest.raises(ValueError, match="check_trials=0"):
        segmentation_grid("smoke", "scenes", 2, "Bag", check_trials=0)
    params = parameters("segmentation", "quick")
    assert (params["trials"], params["check_trials"]) == (5, 5)


def test_table4_upper_bounds_train_once_on_the_whole_pool_after_the_rest():
    from dpe.study.grids import UPPER_BOUND, l2_vs_dpe_grid

    plain = l2_vs_dpe_grid("paper-cpu", "fashion-mnist", 2)
    grid = l2_vs_dpe_grid("paper-cpu", "fashion-mnist", 2, upper_bound=True)
    assert grid[:len(plain)] == plain and len(plain) == 6 * 2
    bounds = grid[len(plain):]
    assert [label for label, _ in bounds] == [f"l2-ensemble {UPPER_BOUND}"] * 2 + [f"dpe {UPPER_BOUND}"] * 2
    for _, config in bounds:
        assert (config.schedule, config.sizes, config.acquisition) == ("sizes", (60000 - 5000,), "R")
        assert config.labeled_sizes() == [55000]


def test_a_long_profile_runs_only_its_own_notebooks(monkeypatch):
    """--profile paper-cpu without --only: the convergence check, Table 4 (its models only), then
    Table 3 and Fig. 1; nothing of the other chapters; --only still chooses."""
    seen = {}

    def capture(grid, results, **kwargs):
        seen["labels"] = [label for label, _ in grid]
        raise KeyError("stop before the notebooks")

    monkeypatch.setattr("dpe.study.grids.run_grid", capture)
    with pytest.raises(KeyError):
        study.main(["--profile", "paper-cpu", "--no-progress"])
    labels = set(seen["labels"])
    assert {"dpe | x1", "dpe | x2", "l2-ensemble | x2", "deterministic | x2", "dpe H_ens", "dpe upper bound"} <= labels
    assert not any(label.startswith("mc-dropout") or label.startswith("E=") for label in labels)
    assert seen["labels"].index("dpe | x2") < seen["labels"].index("dpe H_ens")  # the check runs first
    assert seen["labels"].index("dpe H_ens") < seen["labels"].index("H_cat") < seen["labels"].index("Linear-8")
    with pytest.raises(KeyError):
        study.main(["--profile", "paper-cpu", "--only", "growth", "--no-progress"])
    assert "Exponential-4" in seen["labels"]


def test_every_committed_chapter_is_current():
    """Each chapter of the committed quick book was rendered from the committed notebook,
    ``dpe.study`` code, parameters and records (``runner.is_current``, with the parameters
    ``make study`` gives on a CPU): a commit that changes any of them without re-rendering fails
    here, not only in a fresh clone's ``make study`` -- and the optional chapters, which ``make
    study`` never re-renders, are held to the same rule."""
    from dpe.profiles import NOTEBOOKS, OPTIONAL_NOTEBOOKS

    given = {"results_dir": "results/quick", "device": "cpu", "scheduler": None}
    rendered = ROOT / "results" / "quick" / "notebooks"
    stale = [name for name in NOTEBOOKS + OPTIONAL_NOTEBOOKS
             if not study.is_current(rendered / f"{name}.ipynb", parameters(name, "quick", given), name)]
    assert not stale, (f"stale chapters {stale}: re-render them with python -m dpe.study --profile quick --no-runs "
                       + " ".join(f"--only {name}" for name in stale) + ", then commit them and rebuild the book")
