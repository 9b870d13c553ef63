# The two commands a new machine needs: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# `make test` runs the test files on this many workers (one file per worker at a time, so a
# file's local cloud fixture is started once). Measured on the loaded 2-core machine, same
# tree: 18 min serial, 8 min on 2 workers (the tests mostly wait on processes and sockets).
TEST_JOBS ?= 2

# Programs some tests need, as COMMAND=DEBIAN_PACKAGE: the browser test (chromium), the live-view
# test (tmux), the Node.js handlers (node, npm; the runtime interface client is compiled with
# g++, make and cmake). scripts/ensure-tools installs the missing ones as root with apt-get;
# elsewhere those tests skip and say why.
TEST_TOOLS := chromium=chromium tmux=tmux node=nodejs npm=npm g++=g++ cmake=cmake

.PHONY: demo test test-latest lock lint typecheck unit cli property e2e bench bench-smoke stress clean

# Every package comes from the lock (exact versions and hashes, for Python 3.10-3.13), so a fresh
# machine gets the set the tests passed with, whatever was released since. pyproject.toml keeps
# the compatible ranges; `make lock` refreshes the lock on purpose. The project itself is built
# by the locked hatchling (no build isolation: nothing unpinned is fetched).
LOCK   := requirements-lock.txt
# uv resolves one lock for every supported Python (`--universal`); pip-tools resolves for the
# interpreter it runs on only, which would need a lock per version. uv is needed by `make lock`
# alone: installing uses pip.
UV_VERSION ?= 0.13.9

$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r $(LOCK)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

## lock: resolve pyproject.toml's ranges (with the test extra and the build backend with its editable-install helper) again
lock:
	test -x .venv-tools/bin/uv || ($(PYTHON) -m venv .venv-tools && .venv-tools/bin/pip install --quiet uv==$(UV_VERSION))
	printf 'hatchling>=1.21\neditables>=0.5\n' | .venv-tools/bin/uv pip compile --quiet pyproject.toml - --extra test \
	  --universal --python-version 3.10 --generate-hashes --no-header --output-file $(LOCK)
	@echo "$(LOCK) refreshed: review 'git diff $(LOCK)', then run make test."

## test-latest: the suite against the newest releases pyproject.toml allows (not in CI), so a
## breaking release is seen before users meet it
test-latest:
	rm -rf .venv-latest
	$(PYTHON) -m venv .venv-latest
	.venv-latest/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	.venv-latest/bin/python -m pip install --quiet --disable-pip-version-check --upgrade --upgrade-strategy eager -e '.[test]'
	touch .venv-latest/.installed
	.venv-latest/bin/python -m pip list --format=freeze > .venv-latest/versions.txt
	$(MAKE) test VENV=.venv-latest

## demo: local cloud + deploy the template + a 5-call chain, followed as a tree
# The template is named (the repository's root holds no handler, and its pyproject.toml would
# name the function "recursectl").
demo: $(STAMP)
	$(BIN)/recursectl --local deploy --name recursectl-demo --handler templates/python/handler.py
	$(BIN)/recursectl --local invoke --name recursectl-demo --calls 5 --follow
	@echo
	@echo "The local cloud is still running: '$(BIN)/recursectl local status' shows it, '$(BIN)/recursectl local stop' stops it."

## test: lint, type-check, and every test (unit, property, functional, CLI, end-to-end, ...)
test: $(STAMP)
	$(BIN)/ruff check src tests bench templates
	$(BIN)/ruff format --check src tests bench templates
	$(BIN)/mypy
	scripts/ensure-tools $(TEST_TOOLS)
	$(BIN)/pytest -n $(TEST_JOBS) --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check src tests bench templates
	$(BIN)/ruff format --check src tests bench templates

typecheck: $(STAMP)
	$(BIN)/mypy

# The quick tiers, run as often as one saves a file. Python and pytest may keep compiled (and
# assertion-rewritten) modules in __pycache__/ (gitignored) even where the environment says not
# to (PYTHONDONTWRITEBYTECODE=1, as on the 2-core test machine): compiling src/ and rewriting
# the test files again on every run was about 0.9 s of the unit tier. No test in these tiers uses
# hypothesis, so its pytest plugin is off (it imports all of hypothesis, ~0.25 s, at the end of
# every run).
QUICK_PYTEST := PYTHONDONTWRITEBYTECODE= $(BIN)/pytest -p no:hypothesispytest
# The unit tier's temporary files (tmp_path: ~90 tests, ~7 MB a run) go to a RAM disk where there
# is one: on the test machine's disk a mkdir or a small write takes ~1 ms (8 us on tmpfs), ~0.7 s
# of the tier. `make unit UNIT_TMPDIR=` keeps them in the default place.
UNIT_TMPDIR ?= $(if $(wildcard /dev/shm/.),/dev/shm)

## unit: the pure-logic tier (no boto3 clients, moto, hypothesis, sockets or processes): ~2.5 s
unit: $(STAMP)
	$(if $(UNIT_TMPDIR),TMPDIR=$(UNIT_TMPDIR)) $(QUICK_PYTEST) tests/unit

## cli: the CLI tier (click's runner against a real front door: it starts real workers, minutes)
cli: $(STAMP)
	$(QUICK_PYTEST) tests/cli

## property: property, fuzz and size tests (hypothesis; chains of 341 to 10,000 invocations)
property: $(STAMP)
	$(BIN)/pytest tests/property

bench: $(STAMP)
	$(BIN)/python -m bench

bench-smoke: $(STAMP)
	$(BIN)/python -m bench --smoke

## stress: the reliability suite at full size (200 parallel invokes, 20 x 50-hop chains, ...);
## `make test` runs it small. Figures: the RELIABILITY lines (docs/reliability.md).
stress: $(STAMP)
	RECURSECTL_STRESS=1 $(BIN)/pytest tests/reliability -s -q -p no:randomly

clean:
	rm -rf $(VENV) .venv-latest .venv-tools .pytest_cache .mypy_cache .ruff_cache
