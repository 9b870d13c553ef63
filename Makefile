# The two commands a new machine needs: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# `make test` runs the test files on this many workers (one file per worker at a time, so a
# file's local cloud fixture is started once). Measured on the loaded 2-core machine, same
# tree: 18 min serial, 8 min on 2 workers (the tests mostly wait on processes and sockets).
TEST_JOBS ?= 2

.PHONY: demo test lint typecheck unit fast e2e bench bench-smoke stress clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

## demo: local cloud + deploy the template + a 5-call chain, followed as a tree
demo: $(STAMP)
	$(BIN)/recursectl --local deploy
	$(BIN)/recursectl --local invoke --calls 5 --follow
	@echo
	@echo "The local cloud is still running: '$(BIN)/recursectl local status' shows it, '$(BIN)/recursectl local stop' stops it."

## test: lint, type-check, and every test (unit, functional, end-to-end)
test: $(STAMP)
	$(BIN)/ruff check src tests bench templates
	$(BIN)/ruff format --check src tests bench templates
	$(BIN)/mypy
	scripts/ensure-chromium
	scripts/ensure-tmux
	$(BIN)/pytest -n $(TEST_JOBS) --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check src tests bench templates
	$(BIN)/ruff format --check src tests bench templates

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest tests/unit

## fast: the unit and CLI tiers only (no local cloud processes, no browser)
fast: $(STAMP)
	$(BIN)/pytest tests/unit tests/cli

bench: $(STAMP)
	$(BIN)/python -m bench

bench-smoke: $(STAMP)
	$(BIN)/python -m bench --smoke

## stress: the reliability suite at full size (200 parallel invokes, 20 x 50-hop chains, ...);
## `make test` runs it small. Figures: the RELIABILITY lines (docs/reliability.md).
stress: $(STAMP)
	RECURSECTL_STRESS=1 $(BIN)/pytest tests/reliability -s -q -p no:randomly

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
