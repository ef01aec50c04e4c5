# Two entry points: `make run` (set up and run the default study) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test venv dry-run format lint clean-results rulegraph

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --profile profiles/local all

test: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pytest -q

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
