# Two entry points: `make run` (set up and run the default study) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test venv dry-run format lint clean-results browser rulegraph

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --profile profiles/local all

test: $(STAMP) browser
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pytest -q

# Chromium for the report test (tests/test_report.py), installed with apt-get when it is missing
# and can be (root, apt-get); otherwise that test skips, saying why. Quiet and idempotent.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    echo "installing chromium with apt-get (for tests/test_report.py)"; \
	    { DEBIAN_FRONTEND=noninteractive apt-get update -qq \
	      && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >/dev/null 2>&1 \
	      || echo "apt-get could not install chromium: tests/test_report.py will skip"; \
	  else echo "chromium is missing and cannot be installed here: tests/test_report.py will skip"; fi; }

# docs/rulegraph.svg: the rules of the default study and how they connect (needs graphviz `dot`).
rulegraph: $(STAMP)
	$(BIN)/snakemake --rulegraph --forceall all > docs/.rulegraph.dot
	dot -Tsvg docs/.rulegraph.dot > docs/rulegraph.svg && rm docs/.rulegraph.dot

dry-run: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --profile profiles/local -n all

format: $(STAMP)
	$(BIN)/ruff format workflow tests benchmarks
	$(BIN)/snakefmt Snakefile workflow/rules

lint: $(STAMP)
	$(BIN)/ruff check workflow tests benchmarks
	$(BIN)/snakefmt --check Snakefile workflow/rules
	$(BIN)/snakemake --lint
