"""Real servers for the tests that need one: werkzeug's HTTP server (as `flask run` uses), moto's S3,
and a redis-server of the suite's own.

The first two are werkzeug servers, whose `shutdown()` waits for the serving thread to look for it: with
socketserver's default of every half second, stopping them was most of what many tests cost.
"""
from __future__ import annotations

from typing import Iterator

import pytest
import requests

from tests.redis_server import RedisServerUnavailable, own_redis_server

SHUTDOWN_POLL = 0.05
"""Seconds between a serving thread's looks for `shutdown()`: pass to `serve_forever`."""


@pytest.fixture(scope="session")
def _moto_server() -> Iterator[str]:
    """One moto S3 server per test process (its stop alone takes half a second), on a free local port."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def moto_url(_moto_server) -> str:
    """The base URL of moto's S3 server, emptied for this test: no bucket or object of an earlier test."""
    requests.post(f"{_moto_server}/moto-api/reset", timeout=30).raise_for_status()
    return _moto_server


@pytest.fixture(scope="session")
def _redis_server(tmp_path_factory) -> Iterator[str]:
    """One redis-server per test process (each pytest-xdist worker has its own), on a free port; the tests
    never use a Redis they did not start, whose data may be someone's. Without the binary, every test
    that needs Redis is skipped, saying why (`make test` says so too; REQUIRE_REDIS=1 makes it a failure)."""
    try:
        with own_redis_server(tmp_path_factory.mktemp("redis")) as url:
            yield url
    except RedisServerUnavailable as exc:
        pytest.skip(f"the Redis tests need a redis-server of their own: {exc}")


@pytest.fixture
def redis_url(_redis_server) -> str:
    """The URL of the suite's own redis-server, emptied for this test (database 0)."""
    import redis

    with redis.Redis.from_url(_redis_server, socket_timeout=30) as client:
        client.flushall()
    return f"{_redis_server}/0"
