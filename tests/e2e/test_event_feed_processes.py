"""A long poll held by one gateway process is woken by a commit in another (Redis pub/sub), as under
gunicorn's several workers or several machines."""
from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests

from tests.rest_support import RestCaller, distinct_png
from tests.servers import wait_until_answering

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def redis_settings(settings, redis_url):
    return dataclasses.replace(settings, redis_url=redis_url)


@pytest.fixture
def app(redis_settings):
    from wsgi import create_app

    app = create_app(redis_settings)
    yield app
    app.extensions["realty"].close()


@pytest.fixture
def other_gateway(redis_settings, tmp_path) -> str:
    """`flask run` of the same gateway in a process of its own, sharing the database and Redis."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": redis_settings.database_url, "STORAGE_URL": redis_settings.storage_url,
           "AUTH_JWT_SECRET": redis_settings.jwt_secret, "REDIS_URL": redis_settings.redis_url}
    log = open(tmp_path / "other-gateway.log", "wb")
    process = subprocess.Popen([sys.executable, "-m", "flask", "--app", str(ROOT / "wsgi.py"), "run", "--port",
                                str(port)], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(f"{base}/healthz", process, (tmp_path / "other-gateway.log").read_text)
    except BaseException:
        process.kill()
        raise
    yield base
    process.terminate()
    process.wait(30)


def test_a_commit_in_one_process_wakes_a_long_poll_in_another(app, client, make_token, other_gateway):
    token = make_token(org=f"org-{uuid.uuid4().hex[:8]}")
    headers = {"Authorization": f"Bearer {token}"}
    start = requests.get(f"{other_gateway}/events", headers=headers, timeout=30).json()["next"]
    answered: list = []

    def poll() -> None:
        page = requests.get(f"{other_gateway}/events", params={"after": start, "wait": 25}, headers=headers,
                            timeout=60).json()
        answered.append((page, time.monotonic()))

    thread = threading.Thread(target=poll)
    thread.start()
    time.sleep(1.0)
    assert not answered
    rest = RestCaller(client, token)
    saved_at = time.monotonic()
    rest.save_ok(str(uuid.uuid4()), rest.upload_many([distinct_png(3)]))  # committed by this process
    thread.join(30)
    page, at = answered[0]
    assert [e["type"] for e in page["events"]] == ["image.created"]
    assert at - saved_at < 3, "woken through Redis, not at the end of the wait"
