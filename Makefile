# P2P Sandbox: `make run` serves the platform on the embedded default, `make test` runs the suite.

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
# Python 3.13: python3.13 on PATH, else pyenv's 3.13, else python3 (checked below); or PYTHON=...
PYTHON ?= $(shell command -v python3.13 2>/dev/null || ls -d $(HOME)/.pyenv/versions/3.13*/bin/python3.13 2>/dev/null | tail -n 1 | grep . || echo python3)

HOST ?= 127.0.0.1
PORT ?= 8000
# `make test` uses the standard local ports; override to point elsewhere.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/p2p_sandbox
TEST_REDIS_URL ?= redis://127.0.0.1:6379/0
CHROMIUM ?= /usr/bin/chromium
HAPROXY ?= /usr/sbin/haproxy

.PHONY: help run test test-embedded lint format migrations-check check-deploy worker beat bench clean

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(VENV)/bin/activate:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 13) else "Python 3.13 is required (see .python-version); found " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(VENV)/bin/activate
	$(PY) -m pip install --quiet -r requirements.txt
	@touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(VENV)/bin/activate
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@ $(VENV)/.runtime

# Debian's Chromium drives the browser tests (a downloaded browser build is not used).
$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
		echo "Browser tests need Debian's chromium: sudo apt-get install chromium"; exit 1; \
	fi

# Debian's HAProxy balances the web processes (deploy/haproxy.cfg); the load-balanced tests run it.
$(HAPROXY):
	@if [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >/dev/null; \
	else \
		echo "The load-balanced tests need Debian's haproxy: sudo apt-get install haproxy"; exit 1; \
	fi

run: $(VENV)/.runtime  ## Install, migrate, load demo data and serve on http://127.0.0.1:8000
	DEBUG=1 $(PY) manage.py migrate --no-input
	DEBUG=1 $(PY) manage.py seed_demo
	@echo "Serving P2P Sandbox on http://$(HOST):$(PORT)/ (Ctrl-C stops it)"
	DEBUG=1 $(PY) manage.py runserver $(HOST):$(PORT)

test: $(VENV)/.dev $(CHROMIUM) $(HAPROXY)  ## Run the whole suite against PostgreSQL and Redis on their local ports
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(PY) -m pytest $(PYTEST_ARGS)

test-embedded: $(VENV)/.dev $(CHROMIUM)  ## Run the suite with no servers (SQLite, in-memory layer)
	DATABASE_URL= REDIS_URL= $(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.dev  ## ruff check, ruff format --check, makemigrations --check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	DEBUG=1 $(PY) manage.py makemigrations --check --dry-run

format: $(VENV)/.dev  ## Apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

check-deploy: $(VENV)/.runtime  ## Django's deployment checklist with production-like settings
	SECRET_KEY=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(50))') ALLOWED_HOSTS=p2p.example EMAIL_HOST=smtp.p2p.example \
		$(PY) manage.py check --deploy --fail-level WARNING

worker: $(VENV)/.runtime  ## Celery worker (needs REDIS_URL)
	$(VENV)/bin/celery -A p2p_sandbox worker --loglevel=info

beat: $(VENV)/.runtime  ## Celery beat: periodic jobs such as the email outbox relay (needs REDIS_URL)
	$(VENV)/bin/celery -A p2p_sandbox beat --loglevel=info --schedule=/tmp/p2p-celerybeat-schedule

bench: $(VENV)/.dev $(HAPROXY)  ## Benchmarks (see bench/README.md); results in bench/results/
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
	$(PY) -m bench.run $(BENCH_ARGS)

clean:  ## Remove the virtualenv, the SQLite database and collected files
	rm -rf $(VENV) db.sqlite3 staticfiles .pytest_cache .ruff_cache
