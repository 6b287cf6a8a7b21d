# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
PG_URL ?= postgresql://postgres@127.0.0.1:5432/test
REDIS_URL_FOR_TESTS ?= redis://127.0.0.1:6379
HOST ?= 127.0.0.1
PORT ?= 8000

CHROMIUM ?= /usr/bin/chromium
export CHROMIUM
DEV_SECRET := var/dev-jwt-secret

# Binds as werkzeug will (SO_REUSEADDR), so only a port someone listens on counts as taken.
define PORT_FREE
import socket, sys
family, kind, proto, _, address = socket.getaddrinfo(sys.argv[1], int(sys.argv[2]), type=socket.SOCK_STREAM)[0]
s = socket.socket(family, kind, proto)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(address)
endef
export PORT_FREE

.PHONY: install run test test-sqlite test-postgres bench vendor-assets clean

$(INSTALLED): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(INSTALLED)

install: $(INSTALLED)

# Serves the gateway on the embedded defaults (SQLite in ./var, files in ./var/storage) at http://$(HOST):$(PORT)
# (`make run PORT=8080`, `make run HOST=0.0.0.0`). Without AUTH_JWT_SECRET the dev secret in $(DEV_SECRET) is
# used, made (mode 0600) on the first run only, so tokens printed earlier keep working after a restart.
run: $(INSTALLED)
	@mkdir -p var
	@if [ -z "$$AUTH_JWT_SECRET" ] && [ ! -s $(DEV_SECRET) ]; then \
		(umask 077; $(PY) -c 'import secrets; print(secrets.token_urlsafe(32))' > $(DEV_SECRET)) || exit 1; \
		echo "Made a dev secret in $(DEV_SECRET) (delete it to invalidate every dev token)"; \
	fi
	@$(PY) -c "$$PORT_FREE" $(HOST) $(PORT) 2>/dev/null || { \
		echo "Cannot serve on $(HOST):$(PORT): the port is in use (or the address is not this machine's)."; \
		echo "Pick another with e.g. 'make run PORT=8001' (and HOST=... for the address)."; exit 1; }
	@export AUTH_JWT_SECRET="$${AUTH_JWT_SECRET:-$$(cat $(DEV_SECRET))}"; \
	echo "Dev token (org 'dev', valid 12 h):"; \
	$(VENV)/bin/flask --app wsgi token --org dev --sub dev-agent --ttl 43200 || exit 1; \
	echo "Serving on http://$(HOST):$(PORT)  (console: /, REST docs: /docs, GraphQL explorer: /graphql)"; \
	exec $(VENV)/bin/flask --app wsgi run --host $(HOST) --port $(PORT)

# The whole suite on SQLite, then on PostgreSQL when one answers at $(PG_URL).
# REQUIRE_POSTGRES=1 (set by .ci/run) turns a missing PostgreSQL into a failure instead of a skip;
# REQUIRE_REDIS=1 does the same for the queue tests, which need Redis at $(REDIS_URL_FOR_TESTS).
test: $(INSTALLED)
	@if $(PY) -c "import redis; redis.Redis.from_url('$(REDIS_URL_FOR_TESTS)', socket_connect_timeout=3).ping()" 2>/dev/null; then \
		echo "=== Redis answers at $(REDIS_URL_FOR_TESTS): the queue tests (render workers) run in both passes ==="; \
	elif [ -n "$$REQUIRE_REDIS" ]; then \
		echo "Redis is required (REQUIRE_REDIS) but does not answer at $(REDIS_URL_FOR_TESTS)"; exit 1; \
	else \
		echo "=== Redis queue tests SKIPPED: no Redis answers at $(REDIS_URL_FOR_TESTS) (everything else runs) ==="; \
	fi
	@$(MAKE) --no-print-directory test-sqlite
	@if $(PY) -c "import psycopg2; psycopg2.connect('$(PG_URL)', connect_timeout=3).close()" 2>/dev/null; then \
		$(MAKE) --no-print-directory test-postgres; \
	elif [ -n "$$REQUIRE_POSTGRES" ]; then \
		echo "PostgreSQL is required (REQUIRE_POSTGRES) but does not answer at $(PG_URL)"; exit 1; \
	else \
		echo "=== PostgreSQL pass SKIPPED: no PostgreSQL answers at $(PG_URL) (the SQLite pass above ran) ==="; \
	fi
	@if [ ! -x $(CHROMIUM) ]; then \
		echo "=== Browser tests SKIPPED: no Chromium at $(CHROMIUM) (apt-get install -y chromium; .ci/run does) ==="; \
	fi

# Bytecode is cached even where the environment says not to (PYTHONDONTWRITEBYTECODE): every test process
# (pytest's workers, gunicorn, render workers) would otherwise compile the project and the rewritten test
# modules again, seconds each. The __pycache__ directories are ignored by git.
TEST_ENV := PYTHONDONTWRITEBYTECODE=

test-sqlite: $(INSTALLED)
	@echo "=== test suite on SQLite ==="
	$(TEST_ENV) TEST_DATABASE=sqlite TEST_REDIS_URL=$(REDIS_URL_FOR_TESTS) $(PY) -m pytest -q -n 2 $(PYTEST_ARGS)

test-postgres: $(INSTALLED)
	@echo "=== test suite on PostgreSQL ($(PG_URL)) ==="
	$(TEST_ENV) TEST_DATABASE=postgresql TEST_POSTGRES_URL=$(PG_URL) TEST_REDIS_URL=$(REDIS_URL_FOR_TESTS) $(PY) -m pytest -q -n 2 $(PYTEST_ARGS)

# A quarter of an hour: listing puts 10 s of load on each target, then fills 1,000,000 rows in a scratch
# PostgreSQL database next to $(PG_URL) (skipped when none answers); the soak runs the production layout for
# 5 minutes under faults, in a scratch database of its own, and checks every invariant after (SOAK_ARGS, e.g.
# SOAK_ARGS='--seconds 60', shortens it). Every benchmark runs even if an earlier one misses a goal.
SOAK_ARGS ?=
bench: $(INSTALLED)
	@status=0; \
	$(PY) -m bench.renditions || status=1; \
	$(PY) -m bench.bulk_save || status=1; \
	$(PY) -m bench.listing --pg-url $(PG_URL) || status=1; \
	$(PY) -m bench.soak --pg-url $(PG_URL) $(SOAK_ARGS) || status=1; \
	exit $$status

# Refreshes the GraphQL explorer's vendored browser files (GraphiQL, React) from the npm registry, at the
# versions pinned in the script. Swagger UI needs nothing: it comes from the flask-swagger-ui package.
vendor-assets:
	bash scripts/vendor-assets.sh

clean:
	rm -rf $(VENV) var .pytest_cache *.egg-info
