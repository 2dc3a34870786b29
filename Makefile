# Two commands for a fresh clone: `make server` and `make test` (see README.md).
# uv comes from PyPI if it is not installed; everything else from uv.lock.
SHELL := /bin/bash
UV := python3 -m uv

.PHONY: server test lint unit bench sync

sync:
	@python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet --disable-pip-version-check uv
	@$(UV) sync --locked --quiet

server: sync
	$(UV) run --locked keyledger server

lint: sync
	$(UV) run --locked ruff check .
	$(UV) run --locked ruff format --check .
	$(UV) run --locked mypy
	$(UV) run --locked lint-imports

# One worker per core; a test file's store half at a time on one worker (see tests/conftest.py).
test: lint
	$(UV) run --locked pytest -n auto --dist loadfile

bench: sync
	$(UV) run --locked python bench/ledger.py
