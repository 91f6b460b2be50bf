# Two commands matter: `make run` (embedded mode, nothing else needed) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HOST ?= 127.0.0.1
PORT ?= 8000
# Line and branch coverage of analytics/ that `make test` requires (measured: 83 %, 2026-12-03).
COVERAGE_FLOOR ?= 80

.PHONY: run test lint bench e2e install install-dev lock migrate clean help

help:
	@echo "make run    - embedded mode on http://$(HOST):$(PORT) (SQLite + chDB, no services)"
	@echo "make test   - ruff, mypy + the whole pytest suite against PostgreSQL, Redis, a Kafka broker, chDB"
	@echo "make bench  - the benchmark suite; JSON summary on the last line"
	@echo "make e2e    - the scale-mode pipeline end to end (broker, web, consumer, loadgen --verify)"
	@echo "make lock   - recompile the hashed requirements/*.txt locks from requirements/*.in"

$(VENV)/bin/activate:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

# The requirements/*.txt files are locks: every package pinned, with the sha256 of each of
# its files on PyPI, so pip refuses anything else (docs/dependencies.md).
$(VENV)/.pip-installed: requirements/pip.txt | $(VENV)/bin/activate
	$(PIP) install --quiet --require-hashes -r requirements/pip.txt
	@touch $@

$(VENV)/.base-installed: requirements/base.txt requirements/prod.txt | $(VENV)/.pip-installed
	$(PIP) install --quiet --require-hashes -r requirements/prod.txt
	@touch $@

$(VENV)/.dev-installed: requirements/base.txt requirements/prod.txt requirements/dev.txt | $(VENV)/.pip-installed
	$(PIP) install --quiet --require-hashes -r requirements/dev.txt
	@touch $@ $(VENV)/.base-installed

install: $(VENV)/.base-installed
install-dev: $(VENV)/.dev-installed

# Recompile the locks from the .in files, in order (each layer is constrained by the one below
# it). pip's configuration on this machine is left out (PIP_CONFIG_FILE=/dev/null, no
# find-links or extra indexes) so the locks name PyPI's files only. Pass pip-compile options
# with LOCK_ARGS, e.g. `make lock LOCK_ARGS="--upgrade-package pyyaml"`.
LOCK_ENV := PIP_CONFIG_FILE=/dev/null PIP_FIND_LINKS= PIP_EXTRA_INDEX_URL= PIP_CONSTRAINT= \
	CUSTOM_COMPILE_COMMAND="make lock"
PIP_COMPILE := $(VENV)/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
	--no-emit-index-url --no-emit-find-links --newline=lf

lock: install-dev
	for req in pip base prod dev; do \
		$(LOCK_ENV) $(PIP_COMPILE) $(LOCK_ARGS) --output-file=requirements/$$req.txt requirements/$$req.in || exit 1; \
	done

migrate: install
	$(PY) manage.py migrate --noinput -v0
	$(PY) manage.py clickhouse_migrate

run: install
	$(PY) manage.py migrate --noinput -v0
	$(PY) manage.py clickhouse_migrate
	$(PY) manage.py bootstrap
	HOST=$(HOST) PORT=$(PORT) $(PY) manage.py serve

lint: install-dev
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy analytics config

test: install-dev
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy analytics config
	$(PY) -m pytest --cov --cov-report=term --cov-fail-under=$(COVERAGE_FLOOR) $(PYTEST_ARGS)

bench: install-dev
	$(PY) manage.py bench $(BENCH_ARGS)

e2e: install-dev
	$(PY) manage.py e2e $(E2E_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
