# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
PG_URL ?= postgresql://postgres@127.0.0.1:5432/test
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test test-sqlite test-postgres bench clean

$(INSTALLED): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(INSTALLED)

install: $(INSTALLED)

# Serves the gateway on the embedded defaults (SQLite in ./var, files in ./var/storage).
# Without AUTH_JWT_SECRET a secret is made for this run and a ready dev token is printed.
run: $(INSTALLED)
	@mkdir -p var
	@export AUTH_JWT_SECRET="$${AUTH_JWT_SECRET:-$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(32))')}"; \
	echo "Dev token (org 'dev', valid 12 h):"; \
	$(VENV)/bin/flask --app wsgi token --org dev --sub dev-agent --ttl 43200 || exit 1; \
	echo "Serving on http://$(HOST):$(PORT)  (docs: /docs, GraphQL explorer: /graphql)"; \
	exec $(VENV)/bin/flask --app wsgi run --host $(HOST) --port $(PORT)

# The whole suite on SQLite, then on PostgreSQL when one answers at $(PG_URL).
# REQUIRE_POSTGRES=1 (set by .ci/run) turns a missing PostgreSQL into a failure instead of a skip.
test: $(INSTALLED)
	@$(MAKE) --no-print-directory test-sqlite
	@if $(PY) -c "import psycopg2; psycopg2.connect('$(PG_URL)', connect_timeout=3).close()" 2>/dev/null; then \
		$(MAKE) --no-print-directory test-postgres; \
	elif [ -n "$$REQUIRE_POSTGRES" ]; then \
		echo "PostgreSQL is required (REQUIRE_POSTGRES) but does not answer at $(PG_URL)"; exit 1; \
	else \
		echo "=== PostgreSQL pass SKIPPED: no PostgreSQL answers at $(PG_URL) (the SQLite pass above ran) ==="; \
	fi

test-sqlite: $(INSTALLED)
	@echo "=== test suite on SQLite ==="
	TEST_DATABASE=sqlite $(PY) -m pytest -q -n 2 $(PYTEST_ARGS)

test-postgres: $(INSTALLED)
	@echo "=== test suite on PostgreSQL ($(PG_URL)) ==="
	TEST_DATABASE=postgresql TEST_POSTGRES_URL=$(PG_URL) $(PY) -m pytest -q -n 2 $(PYTEST_ARGS)

# A few minutes: listing puts 10 s of load on each target, then fills 1,000,000 rows in a scratch PostgreSQL
# database next to $(PG_URL) (skipped when none answers). Both benchmarks run even if the first misses a goal.
bench: $(INSTALLED)
	@status=0; \
	$(PY) -m bench.renditions || status=1; \
	$(PY) -m bench.listing --pg-url $(PG_URL) || status=1; \
	exit $$status

clean:
	rm -rf $(VENV) var .pytest_cache *.egg-info
