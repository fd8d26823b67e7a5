# leadbot: `make run` starts the bot on its embedded defaults, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test install test-deps lint format lock bench clean

$(BIN)/leadbot: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

# Byte-compile the project too: where PYTHONDONTWRITEBYTECODE=1 is set nothing writes .pyc files on
# use, and each `leadbot …` subprocess (the tests start hundreds) would compile its imports again.
install: $(BIN)/leadbot
	$(BIN)/python -m compileall -q bot storage

run: install
	$(BIN)/leadbot serve

# System services the tests talk to for real: PostgreSQL, Dovecot, swaks.
test-deps:
	bash scripts/install-test-deps.sh

# The whole suite, one pytest-xdist worker per core (TEST_WORKERS=0 runs it in one process). Each
# worker starts its own PostgreSQL, Dovecot and CLI fork server on ports of its own; tests are
# handed out one at a time, longest first (tests/conftest.py), so no worker ends alone on a long
# one. Bytecode is compiled first: the environment may forbid writing it
# (PYTHONDONTWRITEBYTECODE), and every `leadbot serve` and its worker processes would otherwise
# compile the whole bot again.
TEST_WORKERS ?= auto
test: install test-deps
	$(BIN)/ruff check .
	$(BIN)/python -m compileall -q bot storage
	$(BIN)/pytest -q -n $(TEST_WORKERS) --maxschedchunk 1

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Re-resolve the pinned versions after changing pyproject.toml.
lock:
	$(BIN)/pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra dev -o requirements.lock

bench: install
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) .pytest_cache leadbot.db leadbot.db-wal leadbot.db-shm
