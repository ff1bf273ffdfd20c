# Two entry points: `make demo` (the bot reviewing a sample PR against a local GitHub sandbox)
# and `make test` (lint, types, the whole test suite). Both create the virtualenv on first use;
# `make test` also installs the services its tests start (redis-server, the distribution registry).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: test lint demo bench clean services selfcheck docs

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

# The project's own tree passes its own audit: no staging image in production, no expired exemption.
selfcheck: $(VENV)/.installed
	$(BIN)/image-review audit --fail-on-urgent > .selfcheck.txt || { cat .selfcheck.txt; exit 1; }
	@head -n 1 .selfcheck.txt; rm -f .selfcheck.txt

test: lint services selfcheck
	$(BIN)/pytest

# docs/rules.md is rendered from the rule modules (app/policy/rules/irNNN_*.py) and the template
# app/data/rules-doc-template.md; tests/test_policy_docs.py fails when it is stale. Written through a
# temporary file so a failing render leaves the old file in place.
docs: $(VENV)/.installed
	$(BIN)/python -m app.policy.rules_doc > docs/rules.md.tmp && mv docs/rules.md.tmp docs/rules.md

demo: $(VENV)/.installed
	$(BIN)/image-review sandbox

bench: $(VENV)/.installed
	$(BIN)/python bench/corpus_accuracy.py
	$(BIN)/python bench/corpus_policy.py
	$(BIN)/python bench/scan_speed.py

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
