# Two commands matter: `make run` (embedded mode, nothing else needed) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint bench e2e install install-dev migrate clean help

help:
	@echo "make run    - embedded mode on http://$(HOST):$(PORT) (SQLite + chDB, no services)"
	@echo "make test   - ruff + the whole pytest suite against PostgreSQL, Redis, a Kafka broker, chDB"
	@echo "make bench  - the benchmark suite; JSON summary on the last line"
	@echo "make e2e    - the scale-mode pipeline end to end (broker, web, consumer, loadgen --verify)"

$(VENV)/bin/activate:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.base-installed: requirements/base.txt requirements/prod.txt | $(VENV)/bin/activate
	$(PIP) install --quiet -r requirements/prod.txt
	@touch $@

$(VENV)/.dev-installed: requirements/base.txt requirements/prod.txt requirements/dev.txt | $(VENV)/bin/activate
	$(PIP) install --quiet -r requirements/dev.txt
	@touch $@ $(VENV)/.base-installed

install: $(VENV)/.base-installed
install-dev: $(VENV)/.dev-installed

migrate: install
	$(PY) manage.py migrate --noinput -v0
	$(PY) manage.py clickhouse_migrate

run: install
	$(PY) manage.py migrate --noinput -v0
	$(PY) manage.py clickhouse_migrate
	$(PY) manage.py bootstrap
	HOST=$(HOST) PORT=$(PORT) $(PY) manage.py serve

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

test: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(PY) -m pytest $(PYTEST_ARGS)

bench: install-dev
	$(PY) manage.py bench $(BENCH_ARGS)

e2e: install-dev
	$(PY) manage.py e2e $(E2E_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
