# Two entry points: `make demo` (the bot reviewing a sample PR against a local GitHub sandbox)
# and `make test` (lint, types, the whole test suite). Both create the virtualenv on first use;
# `make test` also installs the services its tests start (redis-server, the distribution registry).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: test lint demo bench clean services

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

lint: $(VENV)/.installed
	$(BIN)/ruff check app tests bench
	$(BIN)/mypy

services:
	scripts/install-test-services

test: lint services
	$(BIN)/pytest

demo: $(VENV)/.installed
	$(BIN)/image-review sandbox

bench: $(VENV)/.installed
	$(BIN)/python bench/corpus_accuracy.py
	$(BIN)/python bench/corpus_policy.py
	$(BIN)/python bench/scan_speed.py

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
