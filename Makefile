# Salesmgr developer commands. `make run` and `make test` work on a fresh clone.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=
SEED_ARGS ?=
# The Celery queues `make worker` consumes: both by default; QUEUES=interactive or QUEUES=heavy
# for a worker of one queue (see README, "Running in production").
QUEUES ?= interactive,heavy

.DEFAULT_GOAL := help
.PHONY: help venv venv-dev run test lint fmt migrations-check worker beat seed clean

help:
	@echo "make run               migrate, collect static files, seed demo data once, serve on 127.0.0.1:PORT (default 8000);"
	@echo "                       DEBUG=true make run adds Django's debug pages"
	@echo "make test              run the test suite (PYTEST_ARGS='...' to pass options)"
	@echo "make lint | fmt        ruff check and format check | ruff import sorting and format"
	@echo "make migrations-check  fail if a model change has no migration"
	@echo "make worker | beat     Celery worker of both queues (QUEUES=heavy for one) | beat (need REDIS_URL)"
	@echo "make seed              seed demo data (SEED_ARGS='--reset --deals 5000')"
	@echo "make venv | venv-dev   install what the app runs on | that and the test and lint tools"
	@echo "make clean             remove caches and collected static files"

# Two stamps: .installed for what the app runs on (requirements.txt), .installed-dev for the
# test, lint and benchmark tools on top (requirements-dev.txt). `make run` needs only the
# first, so a fresh clone serves its first page without installing the test tools; `make test`
# after it adds them. Each stamp is rebuilt when a file it was installed from changes.
venv: $(VENV)/.installed

venv-dev: $(VENV)/.installed-dev

# The pip that comes with Python 3.11 installs every pinned wheel: no upgrade of pip itself
# on the way to the first page.
$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements-dev.txt $(VENV)/.installed
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

# Collecting the static files needs no database: it runs while the migrations do.
run: venv
	$(PY) manage.py collectstatic --noinput --verbosity 0 & collecting=$$!; \
		$(PY) manage.py migrate --noinput; migrated=$$?; \
		wait $$collecting && exit $$migrated
	$(PY) manage.py seed_demo
	@if [ -n "$$REDIS_URL" ]; then \
		echo "REDIS_URL is set: start 'make worker' and 'make beat' in two other terminals."; \
	fi
	@echo "Salesmgr is served at http://127.0.0.1:$${PORT:-8000}/"
	$(PY) manage.py runserver 127.0.0.1:$${PORT:-8000}

test: venv-dev
	$(PY) -m pytest $(PYTEST_ARGS)

lint: venv-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

fmt: venv-dev
	$(VENV)/bin/ruff check --select I --fix .
	$(VENV)/bin/ruff format .

migrations-check: venv
	$(PY) manage.py makemigrations --check --dry-run

worker: venv
	@[ -n "$$REDIS_URL" ] || { echo "REDIS_URL is not set: tasks run eagerly in the web process, so there is no queue for a worker." >&2; exit 1; }
	$(VENV)/bin/celery -A salesmgr worker -Q $(QUEUES) --loglevel=info

beat: venv
	@[ -n "$$REDIS_URL" ] || { echo "REDIS_URL is not set: beat would have no broker to send tasks to." >&2; exit 1; }
	$(PY) manage.py migrate --noinput
	$(VENV)/bin/celery -A salesmgr beat --loglevel=info --scheduler django_celery_beat.schedulers:DatabaseScheduler

seed: venv
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo $(SEED_ARGS)

# Keeps .venv and the database; delete db.sqlite3 by hand to start over.
clean:
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -exec rm -rf {} +
	rm -rf .pytest_cache .ruff_cache staticfiles
