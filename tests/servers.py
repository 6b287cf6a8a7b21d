"""Real servers for the tests that need one: werkzeug's HTTP server (as `flask run` uses), moto's S3,
and a redis-server of the suite's own.

The first two are werkzeug servers, whose `shutdown()` waits for the serving thread to look for it: with
socketserver's default of every half second, stopping them was most of what many tests cost.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest
import requests

from tests.redis_server import RedisServerUnavailable, own_redis_server

SHUTDOWN_POLL = 0.05
"""Seconds between a serving thread's looks for `shutdown()`: pass to `serve_forever`."""
START_DEADLINE_S = 180.0
"""How long a server process we start may take to answer. Generous on purpose: on a machine busy with
other work (other engineers' test runs, a load average of 8 on 2 cores) importing the app alone can take
tens of seconds, and a deadline only costs time when something is really wrong."""
ATTEMPT_TIMEOUT_S = 30.0
"""One look at a starting server: a read that takes longer than this is tried again, not given up on."""


def wait_until_answering(url: str, process: subprocess.Popen | None = None, log: Callable[[], str] = str,
                         deadline_s: float = START_DEADLINE_S) -> requests.Response:
    """GET `url` until it answers 200: connection refused, reset or a slow read just mean "not yet".

    Fails the test (with `log()`, e.g. the server's output) when `process` exits or the deadline passes.
    """
    deadline = time.monotonic() + deadline_s
    problem = "no attempt"
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            pytest.fail(f"the server exited with {process.returncode} before answering {url}:\n{log()}")
        try:
            response = requests.get(url, timeout=ATTEMPT_TIMEOUT_S)
            if response.status_code == 200:
                return response
            problem = f"HTTP {response.status_code}"
        except requests.RequestException as exc:
            problem = repr(exc)
        time.sleep(0.2)
    pytest.fail(f"{url} did not answer 200 within {deadline_s:.0f} s (last: {problem}):\n{log()}")


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


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid`, read from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return sorted(found)


def descendants(pid: int) -> list[int]:
    """Every process below `pid`. The worker command starts its queue engine's processes in process groups of
    their own (so one dying is seen and restarted), so killing its group alone leaves them running."""
    return [d for child in children(pid) for d in (child, *descendants(child))]



def kill_tree(process: subprocess.Popen) -> None:
    """SIGKILL a process and every process below it, as when its machine or container dies."""
    for pid in [process.pid, *descendants(process.pid)]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait(timeout=60)
