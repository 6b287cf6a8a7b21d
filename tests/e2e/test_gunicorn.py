"""The production server as the README starts it: `gunicorn -c gunicorn.conf.py wsgi:app`.

What gunicorn answers by itself, before the app sees a request (an over-long URL or header), is JSON
too; legitimate requests, a large bearer token included, pass its limits.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit

import jwt
import pytest
import requests

from tests.conftest import JWT_SECRET, TEST_DATABASE
from tests.fault_proxy import FaultProxy
from tests.servers import START_DEADLINE_S, wait_until_answering

ROOT = Path(__file__).resolve().parents[2]
HTTP_TIMEOUT = 60
"""A bound on a request that hangs, not a measure of speed: generous for a busy machine."""
STOP_DEADLINE_S = 150
"""gunicorn.conf.py lets a stop wait up to 120 s for requests in flight (none are, after a test)."""


@contextlib.contextmanager
def _gunicorn(tmp_path: Path, database_url: str, workers: int = 1) -> Iterator[tuple[str, subprocess.Popen]]:
    """gunicorn as the README starts it, with `workers` processes: (its base URL, the master process)."""
    env = {**os.environ, "AUTH_JWT_SECRET": JWT_SECRET, "DATABASE_URL": database_url,
           "STORAGE_URL": f"file://{tmp_path}/storage", "WEB_CONCURRENCY": str(workers)}
    log = open(tmp_path / "gunicorn.log", "w+")
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--bind", "127.0.0.1:0", "--no-control-socket",
         "wsgi:app"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)

    def output() -> str:
        log.seek(0)
        return log.read()

    try:
        # Port 0: the address is known once gunicorn has bound it and says so; ready once a worker answers.
        deadline = time.monotonic() + START_DEADLINE_S
        while not (found := re.search(r"Listening at: (http://127\.0\.0\.1:\d+)", output())):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"gunicorn did not start:\n{output()}")
            time.sleep(0.1)
        base = found.group(1)
        wait_until_answering(base + "/healthz", process, output)
        yield base, process
    finally:
        process.terminate()
        try:
            process.wait(STOP_DEADLINE_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_DEADLINE_S)
        log.close()


@pytest.fixture
def gunicorn(tmp_path, database_url):
    with _gunicorn(tmp_path, database_url) as (base, _):
        yield base


def test_gunicorn_answers_an_overlong_url_or_header_in_json(gunicorn):
    too_long_url = requests.get(gunicorn + "/realty/" + "x" * 9000, timeout=HTTP_TIMEOUT)
    assert too_long_url.status_code == 414
    assert too_long_url.headers["Content-Type"] == "application/json"
    assert too_long_url.json()["errorCode"] == "URI_TOO_LONG"

    too_long_header = requests.get(gunicorn + "/healthz", headers={"X-Padding": "p" * 20_000}, timeout=HTTP_TIMEOUT)
    assert too_long_header.status_code == 431
    assert too_long_header.json()["errorCode"] == "REQUEST_HEADER_FIELDS_TOO_LARGE"
    assert "<html" not in too_long_url.text + too_long_header.text


def test_legitimate_requests_fit_gunicorns_limits(gunicorn):
    # A bearer token carrying plenty of extra claims, as some identity providers issue them.
    token = jwt.encode({"sub": "agent-1", "org": "org-a", "exp": int(time.time()) + 600, "roles": ["r" * 60] * 100},
                       JWT_SECRET, algorithm="HS256")
    assert len(token) > 8000
    response = requests.get(gunicorn + "/uploadGrants?type=image/jpeg", timeout=HTTP_TIMEOUT, headers={
        "Authorization": f"Bearer {token}", "Request-ID": "9031d1c5-7d40-41dd-b2b8-7919a2fc4fe9",
        **{f"X-Browser-Header-{n}": "v" * 100 for n in range(40)}})
    assert response.status_code == 200, response.text


BROKEN_CHUNKED_BODIES = {
    "a chunk size that is no number": b"zz\r\n",
    "a negative chunk size": b"-5\r\n",
    "a chunk without its terminator": b"5\r\nabcdeq\r\n",
}


def _raw_post(base: str, path: str, headers: dict[str, str], body: bytes, half_close: bool = False) -> tuple[int, str]:
    """POST a chunked body as written, byte for byte; returns (status, answer body)."""
    host, port = base.removeprefix("http://").split(":")
    head = "".join(f"{name}: {value}\r\n" for name, value in {
        "Host": host, "Transfer-Encoding": "chunked", "Connection": "close", **headers}.items())
    with socket.create_connection((host, int(port)), timeout=HTTP_TIMEOUT) as connection:
        connection.sendall(f"POST {path} HTTP/1.1\r\n{head}\r\n".encode() + body)
        if half_close:
            connection.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2].decode(errors="replace")


@pytest.mark.parametrize("body, half_close", [*((b, False) for b in BROKEN_CHUNKED_BODIES.values()),
                                              (b'5\r\n{"a":', True)],
                         ids=[*BROKEN_CHUNKED_BODIES, "a body cut off mid-chunk"])
def test_a_chunked_body_the_server_cannot_read_is_400_in_each_entrypoints_shape(gunicorn, body, half_close):
    """gunicorn raises its own errors from the request body (InvalidChunkSize, ChunkMissingTerminator,
    NoMoreData): the client's request is broken, which is a 400, never our bug."""
    token = jwt.encode({"sub": "agent-1", "org": "org-a", "exp": int(time.time()) + 600}, JWT_SECRET, algorithm="HS256")
    json_headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    status, answer = _raw_post(gunicorn, "/graphql", json_headers, body, half_close)
    assert status == 400, answer
    assert json.loads(answer)["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"

    status, answer = _raw_post(gunicorn, f"/realty/{uuid.uuid4()}/images",
                               {**json_headers, "Request-ID": str(uuid.uuid4())}, body, half_close)
    assert status == 400, answer
    assert json.loads(answer)["errorCode"].startswith("BAD_REQUEST")

    status, answer = _raw_post(gunicorn, "/storage/upload", {"Content-Type": "multipart/form-data; boundary=XX"},
                               body, half_close)
    assert status == 400, answer
    assert "<Error><Code>" in answer


def test_a_worker_replaced_while_postgresql_is_down_does_not_stop_gunicorn(tmp_path, database_url):
    """Soak finding (bench/soak.py): a worker killed while PostgreSQL did not answer (the OOM killer,
    gunicorn's own timeout) was replaced by one that died in its start-up schema check, and gunicorn
    stops altogether ("Worker failed to boot") when a worker does: the API stayed down for good."""
    if TEST_DATABASE != "postgresql":
        pytest.skip("PostgreSQL faults are injected in the PostgreSQL pass")
    parts = urlsplit(database_url)
    user = f"{parts.username}@" if parts.username else ""
    with FaultProxy(parts.hostname, parts.port or 5432) as proxy, \
            _gunicorn(tmp_path, parts._replace(netloc=user + proxy.address).geturl()) as (base, master):
        [worker] = Path(f"/proc/{master.pid}/task/{master.pid}/children").read_text().split()
        proxy.cut()
        os.kill(int(worker), signal.SIGKILL)
        token = jwt.encode({"sub": "agent-1", "org": "org-a", "exp": int(time.time()) + 600}, JWT_SECRET, "HS256")
        listing = f"{base}/realty/{uuid.uuid4()}/images"

        def status() -> int | None:
            try:
                return requests.get(listing, headers={"Authorization": f"Bearer {token}"}, timeout=10).status_code
            except requests.RequestException:
                return None  # the new worker is still booting (or gunicorn is gone)

        deadline = time.monotonic() + 60
        while status() != 503 and master.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert master.poll() is None, "gunicorn stopped"
        assert status() == 503, "the new worker answers that the database is unavailable"
        proxy.restore()
        deadline = time.monotonic() + 30
        while status() != 404 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert status() == 404, "and serves once the database answers (an unknown realty is 404)"
