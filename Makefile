# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
PG_URL ?= postgresql://postgres@127.0.0.1:5432/test
REDIS_SERVER ?= redis-server
export REDIS_SERVER
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

# The whole suite on SQLite, then on PostgreSQL when one answers at $(PG_URL). The PostgreSQL pass runs even
# when the SQLite pass failed; both summaries are printed again at the end, and `make test` fails if either
# pass did. Each pass's output is also kept in var/test-logs/.
# The queue tests start a redis-server of their own on a free port (tests/redis_server.py) and never use a
# Redis that is running already; without the binary they are skipped. PostgreSQL is only used to create
# throw-away databases (realty_test_*), dropped afterwards.
# REQUIRE_POSTGRES=1 (set by .ci/run) turns a missing PostgreSQL into a failure instead of a skip;
# REQUIRE_REDIS=1 does the same for a missing redis-server binary.
LOGS := var/test-logs
PASS_SUMMARY = grep -E '^[0-9]+ (passed|failed|errors?|skipped|deselected)|^no tests ran' $(LOGS)/$(1).log | tail -n 1

test: $(INSTALLED)
	@if command -v $(REDIS_SERVER) >/dev/null 2>&1; then \
		echo "=== Redis: the queue tests start their own $(REDIS_SERVER) on a free port (no running Redis is used) ==="; \
	elif [ -n "$$REQUIRE_REDIS" ]; then \
		echo "A redis-server binary is required (REQUIRE_REDIS) but '$(REDIS_SERVER)' is not on PATH" \
			"(apt-get install redis-server, or REDIS_SERVER=/path/to/redis-server)"; exit 1; \
	else \
		echo "=== Redis queue tests SKIPPED: no '$(REDIS_SERVER)' binary on PATH (apt-get install redis-server);" \
			"everything else runs ==="; \
	fi
	@mkdir -p $(LOGS); rm -f $(LOGS)/*; \
	{ $(MAKE) --no-print-directory test-sqlite; echo $$? > $(LOGS)/sqlite.status; } 2>&1 | tee $(LOGS)/sqlite.log; \
	if $(PY) -c "import psycopg2; psycopg2.connect('$(PG_URL)', connect_timeout=10).close()" 2>/dev/null; then \
		{ $(MAKE) --no-print-directory test-postgres; echo $$? > $(LOGS)/postgres.status; } 2>&1 \
			| tee $(LOGS)/postgres.log; \
	elif [ -n "$$REQUIRE_POSTGRES" ]; then \
		echo "PostgreSQL is required (REQUIRE_POSTGRES) but does not answer at $(PG_URL)"; \
		echo 1 > $(LOGS)/postgres.status; \
	else \
		echo "=== PostgreSQL pass SKIPPED: no PostgreSQL answers at $(PG_URL) (the SQLite pass above ran) ==="; \
		echo skipped > $(LOGS)/postgres.status; \
	fi; \
	if [ ! -x $(CHROMIUM) ]; then \
		echo "=== Browser tests SKIPPED: no Chromium at $(CHROMIUM) (apt-get install -y chromium; .ci/run does) ==="; \
	fi; \
	echo "=== summary ==="; status=0; \
	for pass in sqlite postgres; do \
		result=$$(cat $(LOGS)/$$pass.status); \
		case $$result in 0) verdict=passed ;; skipped) verdict=SKIPPED ;; *) verdict=FAILED; status=1 ;; esac; \
		line=$$($(call PASS_SUMMARY,$$pass) 2>/dev/null); \
		name=$$(case $$pass in sqlite) echo SQLite ;; *) echo PostgreSQL ;; esac); \
		printf '%-12s %-8s %s\n' "$$name:" "$$verdict" "$$line"; \
	done; \
	exit $$status

# Bytecode is cached even where the environment says not to (PYTHONDONTWRITEBYTECODE): every test process
# (pytest's workers, gunicorn, render workers) would otherwise compile the project and the rewritten test
# modules again, seconds each. The __pycache__ directories are ignored by git.
TEST_ENV := PYTHONDONTWRITEBYTECODE=

test-sqlite: $(INSTALLED)
	@echo "=== test suite on SQLite ==="
	$(TEST_ENV) TEST_DATABASE=sqlite $(PY) -m pytest -q -n 2 $(PYTEST_ARGS)

test-postgres: $(INSTALLED)
	@echo "=== test suite on PostgreSQL ($(PG_URL)) ==="
	$(TEST_ENV) TEST_DATABASE=postgresql TEST_POSTGRES_URL=$(PG_URL) $(PY) -m pytest -q -n 2 $(PYTEST_ARGS)

# About forty-five minutes in all: listing puts 10 s of load on each target, then fills 1,000,000 rows in a
# scratch PostgreSQL database next to $(PG_URL) (skipped when none answers); photo_checks times the render job,
# fills scratch databases of 10,000 and 1,000,000 hashed images for duplicate lookups, and hashes 1,000
# generated pictures (about 5 minutes); bench.reso fills 10,000 and 1,000,000 rows and times RESO Media pages
# beside the REST listing; the soak runs the production layout for 5 minutes under faults, in a scratch
# database of its own, and checks every invariant after (SOAK_ARGS, e.g. SOAK_ARGS='--seconds 60', shortens
# it). Every benchmark runs even if an earlier one misses a goal.
# The events benchmark (bench/events.py) saves with and without a webhook, delivers 4 x 10,000 events to a
# local receiver, and reads the change feed at 10,000 and 1,000,000 events of one org (EVENTS_ARGS, e.g.
# EVENTS_ARGS='--feed-events 10000000', takes the feed to 10 million: minutes of loading and ~15 GB of disk).
SOAK_ARGS ?=
EVENTS_ARGS ?=
bench: $(INSTALLED)
	@status=0; \
	$(PY) -m bench.renditions || status=1; \
	$(PY) -m bench.bulk_save || status=1; \
	$(PY) -m bench.listing --pg-url $(PG_URL) || status=1; \
	$(PY) -m bench.photo_checks --pg-url $(PG_URL) || status=1; \
	$(PY) -m bench.reso --pg-url $(PG_URL) || status=1; \
	$(PY) -m bench.events --pg-url $(PG_URL) $(EVENTS_ARGS) || status=1; \
	$(PY) -m bench.soak --pg-url $(PG_URL) $(SOAK_ARGS) || status=1; \
	exit $$status

# Refreshes the GraphQL explorer's vendored browser files (GraphiQL, React) from the npm registry, at the
# versions pinned in the script. Swagger UI needs nothing: it comes from the flask-swagger-ui package.
vendor-assets:
	bash scripts/vendor-assets.sh

clean:
	rm -rf $(VENV) var .pytest_cache *.egg-info
