"""Real servers for the tests that need one: werkzeug's HTTP server (as `flask run` uses) and moto's S3.

Both are werkzeug servers, whose `shutdown()` waits for the serving thread to look for it: with
socketserver's default of every half second, stopping them was most of what many tests cost.
"""
from __future__ import annotations

from typing import Iterator

import pytest
import requests

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
