# Ardoise: `make run` starts everything on SQLite; `make test` runs ruff, mypy --strict and the whole suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint typecheck pytest bsky fuzz fuzz-atheris resilience bench clean lock

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
	  || { echo "Ardoise needs Python 3.11 or newer (found $$($(PYTHON) --version))"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c requirements.lock -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/ardoise serve --demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/hadolint Dockerfile

typecheck: $(STAMP)
	$(BIN)/mypy app tests $(wildcard bench)

bsky:
	@bash tests/bsky/install.sh

# Two workers (pytest-xdist) on a 2-core machine: the suite waits on subprocesses, servers and sockets as much as on
# the CPU. Every server fixture is per worker. `make pytest PYTEST_ARGS="-n 0 tests/x"` runs one file in-process.
PYTEST_ARGS ?= -n 2

pytest: $(STAMP) bsky
	$(BIN)/pytest -q -p no:cacheprovider $(PYTEST_ARGS)

test: lint typecheck pytest

fuzz: $(STAMP)
	$(BIN)/pytest -q -p no:cacheprovider tests/fuzz tests/attack/test_schemathesis.py --hypothesis-profile=long

fuzz-atheris: $(STAMP)
	$(BIN)/python -m pip install -q atheris
	$(BIN)/python bench/fuzz_atheris.py all -runs=100000

resilience: $(STAMP)
	$(BIN)/pytest -q -p no:cacheprovider tests/resilience

bench: $(STAMP)
	$(BIN)/python bench/run.py

# Regenerate the pinned versions from a fresh resolve (reviewed and committed).
lock:
	rm -rf /tmp/ardoise-lock && $(PYTHON) -m venv /tmp/ardoise-lock
	/tmp/ardoise-lock/bin/pip install -q -e '.[dev]'
	/tmp/ardoise-lock/bin/pip freeze --exclude-editable | grep -v '^-e ' > requirements.lock

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
