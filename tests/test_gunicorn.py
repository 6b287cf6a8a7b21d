"""The production server as the README starts it: `gunicorn -c gunicorn.conf.py wsgi:app`.

What gunicorn answers by itself, before the app sees a request (an over-long URL or header), is JSON
too; legitimate requests, a large bearer token included, pass its limits.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import jwt
import pytest
import requests

from tests.conftest import JWT_SECRET

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def gunicorn(tmp_path, database_url):
    env = {**os.environ, "AUTH_JWT_SECRET": JWT_SECRET, "DATABASE_URL": database_url,
           "STORAGE_URL": f"file://{tmp_path}/storage", "WEB_CONCURRENCY": "1"}
    log = open(tmp_path / "gunicorn.log", "w+")
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--bind", "127.0.0.1:0", "--no-control-socket",
         "wsgi:app"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        base = None
        while time.monotonic() < deadline and process.poll() is None:
            log.seek(0)
            found = re.search(r"Listening at: (http://127\.0\.0\.1:\d+)", log.read())
            if found:
                base = found.group(1)
                try:
                    if requests.get(base + "/healthz", timeout=5).status_code == 200:
                        break
                except requests.ConnectionError:
                    pass
            time.sleep(0.2)
        else:
            log.seek(0)
            pytest.fail(f"gunicorn did not start:\n{log.read()}")
        yield base
    finally:
        process.terminate()
        process.wait(30)
        log.close()


def test_gunicorn_answers_an_overlong_url_or_header_in_json(gunicorn):
    too_long_url = requests.get(gunicorn + "/realty/" + "x" * 9000, timeout=10)
    assert too_long_url.status_code == 414
    assert too_long_url.headers["Content-Type"] == "application/json"
    assert too_long_url.json()["errorCode"] == "URI_TOO_LONG"

    too_long_header = requests.get(gunicorn + "/healthz", headers={"X-Padding": "p" * 20_000}, timeout=10)
    assert too_long_header.status_code == 431
    assert too_long_header.json()["errorCode"] == "REQUEST_HEADER_FIELDS_TOO_LARGE"
    assert "<html" not in too_long_url.text + too_long_header.text


def test_legitimate_requests_fit_gunicorns_limits(gunicorn):
    # A bearer token carrying plenty of extra claims, as some identity providers issue them.
    token = jwt.encode({"sub": "agent-1", "org": "org-a", "exp": int(time.time()) + 600, "roles": ["r" * 60] * 100},
                       JWT_SECRET, algorithm="HS256")
    assert len(token) > 8000
    response = requests.get(gunicorn + "/uploadGrants?type=image/jpeg", timeout=10, headers={
        "Authorization": f"Bearer {token}", "Request-ID": "9031d1c5-7d40-41dd-b2b8-7919a2fc4fe9",
        **{f"X-Browser-Header-{n}": "v" * 100 for n in range(40)}})
    assert response.status_code == 200, response.text
