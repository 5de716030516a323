# The README's commands. `make study` runs the main job, `make test` the tests; each sets up
# a local virtual environment (.venv) and the default data on a fresh machine first.
PYTHON  ?= python3
VENV    := .venv
PY      := $(VENV)/bin/python
# make mutate: mutants tested at once, one thread each
MUTATE_CHILDREN ?= 2
PROFILE ?= quick
RESULTS ?= results/$(PROFILE)

.PHONY: study test test-slow mutate book data browser clean

$(VENV)/.installed-study: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e '.[test,study]'
	touch $@

# Fashion-MNIST from Debian's package where apt and root allow; otherwise torchvision
# downloads it on first use (or pass --data-root).
data:
	@if [ -d /usr/share/datasets/fashion-mnist ]; then \
	  echo "Fashion-MNIST: /usr/share/datasets/fashion-mnist"; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist >/dev/null) \
	  || echo "apt-get could not install dataset-fashion-mnist; torchvision will download Fashion-MNIST"; \
	else \
	  echo "Fashion-MNIST: not installed system-wide; torchvision will download it on first use"; \
	fi

# Debian's Chromium for the test that renders the built book (skipped where it cannot install)
browser:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || echo "could not install chromium"; \
	fi

test: $(VENV)/.installed-study data browser
	@$(PY) -m pytest -q; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 0; fi; exit $$rc

test-slow: $(VENV)/.installed-study data browser
	$(PY) -m pytest -q -m slow

# Mutation testing (not in CI; see README): mutants of the science modules against their fast tests
mutate: $(VENV)/.installed-study data
	$(PY) -m pip install --quiet -e '.[mutate]'
	$(PY) benchmarks/mutation_state.py restore
	OMP_NUM_THREADS=1 $(VENV)/bin/mutmut run --max-children $(MUTATE_CHILDREN) || true
	$(PY) benchmarks/mutation_state.py save
	mkdir -p benchmarks/results
	$(PY) benchmarks/mutation_report.py > benchmarks/results/mutation.md
	@cat benchmarks/results/mutation.md

study: $(VENV)/.installed-study data
	$(PY) -m dpe.study --profile $(PROFILE) --results $(RESULTS)
	$(MAKE) book

# The book renders results/quick/notebooks (see _toc.yml); a copy of the HTML is kept beside them.
# Its footer names the last commit of the book's sources (book/_ext/dpe_book.py): commit the
# notebooks first, then build and commit the copy, so that a fresh clone rebuilds it byte for byte.
# It builds from an empty _build, so that the copy holds no image of an earlier build and is the
# same byte for byte as a fresh clone's.
book: $(VENV)/.installed-study
	@for nb in $$(sed -n 's#^ *- file: \(results/quick/notebooks/.*\)#\1#p' _toc.yml); do \
	  [ -f $$nb.ipynb ] || { echo "error: $$nb.ipynb is missing: run $(PY) -m dpe.study --profile quick --only $$(basename $$nb) (or git checkout -- $$nb.ipynb)" >&2; exit 1; }; \
	done
	rm -rf _build
	$(VENV)/bin/jupyter-book build . -W --keep-going
	rm -rf results/quick/book && cp -r _build/html results/quick/book && rm -f results/quick/book/.buildinfo

clean:
	rm -rf _build $(VENV)
