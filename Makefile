# imagination-book: two commands do everything, each with its own set-up.
#   make book   create .venv, install the pinned stack and the package, build _build/html (book scale),
#               and record each notebook's time and page weight in benchmarks/results/book_build_book.json
#   make test   the same set-up, then lint, unit tests, notebooks (ci scale), book build, browser tests
#   make serve  serve _build/html on 127.0.0.1
#   make paper  build the book at the paper's own scale (long; a GPU helps)
#
# Each notebook is executed once per run. The sources are staged into build/stage (nbmake skips any path under _build) (with
# execute_notebooks: off in the staged _config.yml), nbmake executes the staged notebooks in
# place (--overwrite, in parallel, one kernel per core) and reports each as a test, and
# jupyter-book then renders those executed copies with -W. The committed notebooks carry no
# outputs and are never written to. `jupyter-book build .` on the repository also works
# (it executes the notebooks itself, serially).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(CURDIR)/$(VENV)/bin
STAGE := build/stage
HTML := _build/html
REPORTS := _build/reports
JOBS ?= 2
PORT ?= 8000
# Fail the browser tests when Chromium is missing (set by .ci/run); locally they skip.
IMAGINATION_REQUIRE_BROWSER ?= 0

export PATH := $(BIN):$(PATH)
# One BLAS/torch thread per notebook kernel: JOBS kernels share the cores.
NB_ENV := IMAGINATION_STATIC=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 \
          PYDEVD_DISABLE_FILE_VALIDATION=1

.PHONY: help setup book paper serve test lint unit notebooks html browser clean

help:
	@echo "make book   set up .venv and build the book into $(HTML) (book scale)"
	@echo "make test   set up .venv and run every test (ci scale)"
	@echo "make serve  serve $(HTML) on http://127.0.0.1:$(PORT)/"
	@echo "make paper  build the book at the paper's scale"

# --- set-up -------------------------------------------------------------------------------
$(VENV)/.installed: requirements.txt pyproject.toml
	@test -n "$(PYTHON)" || { echo "need Python 3.11 (python3.11 or python3 on PATH)"; exit 1; }
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python >= 3.11 needed, found " + sys.version'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	# keep notebooks output-free on commit (a no-op outside a git clone)
	-git rev-parse --git-dir >/dev/null 2>&1 && $(BIN)/nbstripout --install
	touch $@

setup: $(VENV)/.installed

# --- the book ------------------------------------------------------------------------------
# stage SCALE: copy the book sources, switch execution off in the copy, execute with nbmake.
define stage_and_execute
	rm -rf $(STAGE) && mkdir -p $(STAGE) $(REPORTS)
	cp -r _config.yml _toc.yml book notebooks $(STAGE)/
	mkdir -p $(STAGE)/benchmarks && cp -r benchmarks/results $(STAGE)/benchmarks/
	sed -i -E 's/^(\s*execute_notebooks:).*/\1 "off"/' $(STAGE)/_config.yml
	grep -q 'execute_notebooks: "off"' $(STAGE)/_config.yml
	cd $(STAGE) && $(NB_ENV) IMAGINATION_SCALE=$(1) $(BIN)/python -m pytest -p no:cacheprovider \
	  --nbmake --overwrite --nbmake-timeout=900 -n $(JOBS) -o addopts="" \
	  --junitxml=$(CURDIR)/$(REPORTS)/notebooks-$(1).xml --durations=0 notebooks
endef

define render
	rm -rf $(HTML) _build/.doctrees
	$(BIN)/jupyter-book build $(STAGE) --path-output . --all -W --keep-going
endef

book: $(VENV)/.installed
	$(call stage_and_execute,book)
	$(call render)
	$(BIN)/python benchmarks/record_book.py --scale book
	@echo "Book built at book scale: open file://$(CURDIR)/$(HTML)/index.html (or: make serve)"

paper: $(VENV)/.installed
	$(call stage_and_execute,paper)
	$(call render)
	$(BIN)/python benchmarks/record_book.py --scale paper
	@echo "Book built at paper scale: open file://$(CURDIR)/$(HTML)/index.html (or: make serve)"

serve:
	@test -f $(HTML)/index.html || { echo "no book in $(HTML): run 'make book' first"; exit 1; }
	@echo "Serving the book on http://127.0.0.1:$(PORT)/ (Ctrl-C stops)"
	$(PYTHON) -m http.server $(PORT) --bind 127.0.0.1 --directory $(HTML)

# --- tests (ci scale) ----------------------------------------------------------------------
lint: $(VENV)/.installed
	$(BIN)/ruff check src tests benchmarks notebooks

unit: $(VENV)/.installed
	IMAGINATION_SCALE=ci $(BIN)/python -m pytest -m "not book and not browser" -n $(JOBS)

notebooks: $(VENV)/.installed
	$(call stage_and_execute,ci)

html: $(VENV)/.installed
	$(call render)

browser: $(VENV)/.installed
	IMAGINATION_REQUIRE_BROWSER=$(IMAGINATION_REQUIRE_BROWSER) $(BIN)/python -m pytest -m "book or browser"

test: lint unit notebooks html browser
	@echo "make test: all green"

clean:
	rm -rf _build build
