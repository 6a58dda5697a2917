# infotrack — every target has one line of help: `make help`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install assets init demo run test lint typecheck pytest bench clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# The console and tracker.js: npm packages from the lock file (no install scripts run), bundled
# by esbuild into the package's static folder. Rebuilt when a source or the lock file changes.
FRONTEND := frontend
ASSETS   := src/infotrack/console/static/dist/.built
$(FRONTEND)/node_modules/.installed: $(FRONTEND)/package-lock.json
	cd $(FRONTEND) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@

$(ASSETS): $(FRONTEND)/node_modules/.installed $(FRONTEND)/build.mjs $(shell find $(FRONTEND)/src -type f)
	cd $(FRONTEND) && node build.mjs
	@touch $@

assets: $(ASSETS) ## Build the console and tracker.js from frontend/ (npm ci + esbuild)

install: $(STAMP) $(ASSETS) ## Create .venv with infotrack, its dev tools and the console's assets (idempotent)

init: install ## Create or upgrade the schema in both sources
	$(BIN)/infotrack init

demo: init ## Load the demo data set (idempotent)
	$(BIN)/infotrack demo

run: demo ## Set up and serve on the embedded default (SQLite) with demo data
	$(BIN)/infotrack serve --host 127.0.0.1 --port 8000

lint: install ## ruff (lint and format check)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: install ## mypy --strict on the package
	$(BIN)/mypy

pytest: install ## The test suite only
	$(BIN)/pytest

test: lint typecheck pytest ## Set up and run everything CI runs: lint, types, tests

bench: install ## The ingest benchmark on MariaDB (see benchmarks/README.md)
	$(BIN)/python benchmarks/ingest.py --backend mysql --clients 16 64

clean: ## Remove the virtualenv, node_modules, built assets, caches and the embedded data under ./data
	rm -rf $(VENV) $(FRONTEND)/node_modules src/infotrack/console/static/dist .mypy_cache .ruff_cache .pytest_cache data
