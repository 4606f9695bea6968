# Two commands on a fresh machine with Python 3.11: `make demo` and `make test`.
# With DATABASE_URL / REDIS_URL set, the same commands use PostgreSQL and Redis.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: demo test serve migrate bench lint requirements clean

$(VENV)/.base-installed: requirements/base.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements/base.txt
	touch $@

$(VENV)/.dev-installed: $(VENV)/.base-installed requirements/dev.txt
	$(PY) -m pip install --quiet -r requirements/dev.txt
	touch $@

## demo: install, migrate, seed the demo cohort, run the analyses and serve on http://$(HOST):$(PORT)
demo: $(VENV)/.base-installed
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	$(PY) manage.py run_analyses
	$(PY) manage.py runserver $(HOST):$(PORT)

## test: the whole test suite
test: $(VENV)/.dev-installed
	$(PY) -m pytest

## migrate: apply migrations to DATABASE_URL (SQLite db.sqlite3 by default)
migrate: $(VENV)/.base-installed
	$(PY) manage.py migrate --noinput

## bench: benchmarks written to docs/benchmarks.md
bench: $(VENV)/.dev-installed
	$(PY) -m tests.bench.run

lint: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check .

## requirements: recompile the pinned requirements from the .in files
requirements: $(VENV)/.dev-installed
	cd requirements && ../$(VENV)/bin/pip-compile --quiet --strip-extras --no-header --no-emit-index-url --no-emit-find-links base.in -o base.txt
	cd requirements && ../$(VENV)/bin/pip-compile --quiet --strip-extras --no-header --no-emit-index-url --no-emit-find-links dev.in -o dev.txt

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles
