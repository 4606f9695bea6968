# Two commands on a fresh machine with Python 3.11: `make demo` and `make test`.
# With DATABASE_URL / REDIS_URL set, the same commands use PostgreSQL and Redis.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: demo test serve migrate bench backup restore lint requirements translations messages clean

$(VENV)/.base-installed: requirements/base.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements/base.txt
	touch $@

$(VENV)/.dev-installed: $(VENV)/.base-installed requirements/dev.txt
	$(PY) -m pip install --quiet -r requirements/dev.txt
	touch $@

## translations: compile locale/*/LC_MESSAGES/*.po into .mo (pure Python: no GNU gettext needed)
translations: $(VENV)/.base-installed
	$(PY) manage.py compile_translations

## messages: collect new strings into locale/ja/LC_MESSAGES/django.po (needs GNU gettext)
messages: $(VENV)/.base-installed
	$(PY) manage.py makemessages -l ja

## demo: install, migrate, seed the demo cohort, run the analyses and serve on http://$(HOST):$(PORT)
demo: $(VENV)/.base-installed translations
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	$(PY) manage.py run_analyses
	ANALYSIS_QUIET_SECONDS=$${ANALYSIS_QUIET_SECONDS:-20} $(PY) manage.py runserver $(HOST):$(PORT)

## test: the whole test suite
test: $(VENV)/.dev-installed translations
	$(PY) -m pytest

## migrate: apply migrations to DATABASE_URL (SQLite db.sqlite3 by default)
migrate: $(VENV)/.base-installed
	$(PY) manage.py migrate --noinput

## bench: benchmarks written to docs/benchmarks.md
bench: $(VENV)/.dev-installed
	$(PY) -m tests.bench.run

## backup: pg_dump (custom format) of DATABASE_URL to backups/registry-<UTC time>.dump (or BACKUP=path) + manifest
backup: $(VENV)/.base-installed
	$(PY) manage.py backup $(if $(BACKUP),'$(BACKUP)')

## restore: BACKUP=path into RESTORE_DATABASE_URL (default DATABASE_URL), empty unless FORCE=1; then verify it
restore: $(VENV)/.base-installed
	$(if $(BACKUP),,$(error BACKUP=path of the dump to restore is required))
	$(if $(RESTORE_DATABASE_URL),DATABASE_URL='$(RESTORE_DATABASE_URL)') $(PY) manage.py restore '$(BACKUP)' $(if $(filter 1,$(FORCE)),--force)

lint: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check .

## requirements: recompile the pinned requirements from the .in files
requirements: $(VENV)/.dev-installed
	cd requirements && ../$(VENV)/bin/pip-compile --quiet --strip-extras --no-header --no-emit-index-url --no-emit-find-links base.in -o base.txt
	cd requirements && ../$(VENV)/bin/pip-compile --quiet --strip-extras --no-header --no-emit-index-url --no-emit-find-links dev.in -o dev.txt

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles
