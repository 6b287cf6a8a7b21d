"""The suite touches no data it did not make: on a developer's machine the local PostgreSQL and Redis
may hold someone's work, and other engineers may run the suite on the same machine at the same time."""
from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import PG_ADMIN_URL, TEST_DATABASE


def test_redis_is_a_server_of_the_suites_own(redis_url):
    """It is flushed before every test, so it must be one nobody else keeps data in: started by this
    test process, persisting nothing."""
    import redis

    with redis.Redis.from_url(redis_url, socket_timeout=30) as client:
        pid = client.info("server")["process_id"]
        assert client.config_get("save") == {"save": ""}
        assert client.config_get("appendonly") == {"appendonly": "no"}
    parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    assert parent == os.getpid()


def test_postgresql_tests_run_in_a_database_made_for_them(database_url):
    """Tables are emptied before every test: only in a throw-away database (dropped afterwards), never
    in the one TEST_POSTGRES_URL names."""
    if TEST_DATABASE != "postgresql":
        pytest.skip("the PostgreSQL pass only")
    import psycopg2

    name = urlsplit(database_url).path.lstrip("/")
    assert name.startswith("realty_test_") and name != urlsplit(PG_ADMIN_URL).path.lstrip("/")
    with psycopg2.connect(database_url) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT current_database()")
        assert cursor.fetchone() == (name,)
