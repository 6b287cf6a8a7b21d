"""Operating it for real (CONTRACT §12): gunicorn with two worker processes, scraped and logged as an
operator would; the rate limit shared by two gateways through Redis; the render workers' own /metrics."""
from __future__ import annotations

import contextlib
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import JWT_SECRET
from tests.images import make_png
from tests.servers import START_DEADLINE_S, kill_tree, wait_until_answering

ROOT = Path(__file__).resolve().parents[2]
HTTP_TIMEOUT = 60
METRICS_TOKEN = "scrape-secret-0123456789"
LISTING = "/realty/{realtyId}/images"


class Gunicorn:
    def __init__(self, base: str, log: Path) -> None:
        self.base = base
        self._log = log

    def output(self) -> str:
        return self._log.read_text(errors="replace")

    def json_lines(self) -> list[dict]:
        """Every line the server wrote, each of which must be one JSON object."""
        lines = [line for line in self.output().splitlines() if line.strip()]
        return [json.loads(line) for line in lines]


@contextlib.contextmanager
def gunicorn(tmp_path: Path, name: str, workers: int, **env: str) -> Iterator[Gunicorn]:
    environment = {**os.environ, "AUTH_JWT_SECRET": JWT_SECRET, "STORAGE_URL": f"file://{tmp_path}/storage",
                   "WEB_CONCURRENCY": str(workers), **env}
    if "PROMETHEUS_MULTIPROC_DIR" not in env:
        environment.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log_path = tmp_path / f"{name}.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--bind", "127.0.0.1:0",
             "--no-control-socket", "wsgi:app"], cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT)
    server = Gunicorn("", log_path)
    try:
        deadline = time.monotonic() + START_DEADLINE_S
        while not (found := re.search(r"Listening at: (http://127\.0\.0\.1:\d+)", server.output())):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"gunicorn did not start:\n{server.output()}")
            time.sleep(0.1)
        server.base = found.group(1)
        wait_until_answering(server.base + "/healthz", process, server.output)
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(150)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(150)


def scrape(url: str, token: str | None = METRICS_TOKEN) -> dict[tuple[str, tuple], float]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = requests.get(url, headers=headers, timeout=HTTP_TIMEOUT)
    assert response.status_code == 200, response.text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.text) for s in family.samples}


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def bearer(token: str, request_id: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}", "Connection": "close"}
    if request_id:
        headers["Request-ID"] = request_id
    return headers


def test_two_gunicorn_workers_are_counted_as_one_gateway_and_log_json_lines_without_secrets(
        tmp_path, database_url, make_token):
    token = make_token(org="org-ops")
    with gunicorn(tmp_path, "gateway", workers=2, DATABASE_URL=database_url, LOG_FORMAT="json",
                  METRICS_TOKEN=METRICS_TOKEN, PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics")) as server:
        assert requests.get(server.base + "/metrics", timeout=HTTP_TIMEOUT).status_code == 401

        # An upload, saved with a Request-ID: the render job it queues logs that Request-ID too.
        grant = requests.get(server.base + "/uploadGrants", params={"type": "image/png"},
                             headers=bearer(token, str(uuid.uuid4())), timeout=HTTP_TIMEOUT).json()
        uploaded = requests.post(grant["url"], data=grant["fields"], timeout=HTTP_TIMEOUT,
                                 files={"file": ("a.png", io.BytesIO(make_png()), "image/png")})
        assert uploaded.ok, uploaded.text
        realty, save_id = str(uuid.uuid4()), str(uuid.uuid4())
        saved = requests.post(f"{server.base}/realty/{realty}/images", headers=bearer(token, save_id),
                              json={"uploadedImages": [{"key": grant["fields"]["key"]}]}, timeout=HTTP_TIMEOUT)
        assert saved.status_code == 201, saved.text
        image = saved.json()["realtyImages"][0]["realtyImageId"]

        # Many at once, each on a connection of its own, until both workers have answered some (which one
        # takes a connection is the kernel's choice).
        def listing(_: int) -> requests.Response:
            return requests.get(f"{server.base}/realty/{realty}/images", headers=bearer(token), timeout=HTTP_TIMEOUT)

        def listing_pids() -> set[int]:
            return {line["pid"] for line in server.json_lines() if line.get("route") == LISTING}

        listings = 0
        with ThreadPoolExecutor(16) as pool:
            while len(listing_pids()) < 2:
                assert listings < 2000, "one worker took every connection"
                answers = list(pool.map(listing, range(40)))
                assert {answer.status_code for answer in answers} == {200}
                listings += len(answers)
        signed_urls = [item["url"] for item in answers[-1].json()["realtyImages"]]
        for _ in range(6):  # whichever worker answers a scrape, it reports both workers' requests
            samples = scrape(server.base + "/metrics")
            assert value(samples, "realty_http_requests_total", route=LISTING, method="GET", status="200") == listings
            assert value(samples, "realty_http_request_duration_seconds_count", route=LISTING, method="GET") == listings
        deadline = time.monotonic() + 60
        while not value(scrape(server.base + "/metrics"), "realty_jobs_total", kind="render_image", outcome="done"):
            assert time.monotonic() < deadline, "the render job was not counted"
            time.sleep(0.2)

        lines = server.json_lines()
        output = server.output()

    requests_logged = [line for line in lines if line.get("route") == LISTING and line.get("method") == "GET"]
    assert len(requests_logged) == listings
    for line in requests_logged:
        assert {"time", "level", "requestId", "org", "method", "route", "status", "durationMs"} <= set(line)
        assert line["org"] == "org-ops" and line["status"] == 200
    [save_line] = [line for line in lines if line.get("requestId") == save_id and line.get("route")]
    assert save_line["status"] == 201 and save_line["method"] == "POST"
    [job_line] = [line for line in lines if line.get("kind") == "render_image"]
    assert job_line["image"] == image and job_line["outcome"] == "done" and job_line["requestId"] == save_id
    assert isinstance(job_line["durationMs"], (int, float))
    assert not [line for line in lines if line.get("logger") == "gunicorn.access"], "URLs with query strings"
    assert any(line.get("logger") == "gunicorn.error" for line in lines), "gunicorn's own lines are JSON too"
    for secret in (token, JWT_SECRET, METRICS_TOKEN, *signed_urls, *(u.split("?", 1)[1] for u in signed_urls)):
        assert secret not in output


def test_the_rate_limit_is_shared_by_two_gateways_through_redis(tmp_path, database_url, redis_url, make_token):
    token = make_token(org="org-busy")
    env = dict(DATABASE_URL=database_url, REDIS_URL=redis_url, RATE_LIMIT="5/hour")
    with gunicorn(tmp_path, "first", workers=1, **env) as first, \
            gunicorn(tmp_path, "second", workers=1, **env) as second:
        statuses = []
        for n in range(8):
            base = (first, second)[n % 2].base
            statuses.append(requests.get(f"{base}/realty/{uuid.uuid4()}/images", headers=bearer(token),
                                         timeout=HTTP_TIMEOUT).status_code)
        assert statuses == [404] * 5 + [429] * 3
        refused = requests.get(f"{first.base}/realty/{uuid.uuid4()}/images", headers=bearer(token),
                               timeout=HTTP_TIMEOUT)
        assert refused.json()["errorCode"] == "TOO_MANY_REQUESTS" and int(refused.headers["Retry-After"]) > 0
        graphql = requests.post(second.base + "/graphql", json={"query": "{ __typename }"}, headers=bearer(token),
                                timeout=HTTP_TIMEOUT)
        assert graphql.status_code == 429
        assert graphql.json()["errors"][0]["extensions"] == {"code": "RATE_LIMITED", "retryable": True}
        other = requests.get(f"{second.base}/realty/{uuid.uuid4()}/images", headers=bearer(make_token(org="org-calm")),
                             timeout=HTTP_TIMEOUT)
        assert other.status_code == 404
        for server in (first, second):
            assert requests.get(server.base + "/healthz", timeout=HTTP_TIMEOUT).status_code == 200
            assert requests.get(server.base + "/metrics", timeout=HTTP_TIMEOUT).status_code == 200


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_render_workers_serve_the_metrics_of_all_their_processes(tmp_path, settings, redis_url, make_token):
    import dataclasses

    from tests.rest_support import RestCaller
    from wsgi import create_app

    queued = dataclasses.replace(settings, redis_url=redis_url)
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": queued.database_url, "STORAGE_URL": queued.storage_url,
           "AUTH_JWT_SECRET": JWT_SECRET, "REDIS_URL": redis_url, "WORKER_METRICS_PORT": str(port),
           "METRICS_TOKEN": METRICS_TOKEN, "LOG_FORMAT": "json"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    app = create_app(queued)
    log_path = tmp_path / "worker.log"
    with open(log_path, "wb") as log:
        worker = subprocess.Popen([sys.executable, "-m", "flask", "--app", str(ROOT / "wsgi.py"), "worker",
                                   "--processes", "2", "--threads", "1"], cwd=tmp_path, env=env, stdout=log,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    try:
        rest = RestCaller(app.test_client(), make_token(org="org-w"))
        realty = str(uuid.uuid4())
        keys = [rest.upload(make_png(16 + n, 16)) for n in range(4)]
        save_id = str(uuid.uuid4())
        response = rest.client.post(f"/realty/{realty}/images", json={"uploadedImages": [{"key": k} for k in keys]},
                                    headers={**rest.headers(), "Request-ID": save_id})
        assert response.status_code == 201
        url = f"http://127.0.0.1:{port}/metrics"
        deadline = time.monotonic() + START_DEADLINE_S
        done = 0.0
        while done < 4:
            assert worker.poll() is None and time.monotonic() < deadline, log_path.read_text(errors="replace")
            try:
                done = value(scrape(url), "realty_jobs_total", kind="render_image", outcome="done")
            except requests.ConnectionError:
                pass
            time.sleep(0.3)
        assert done == 4
        assert requests.get(url, timeout=HTTP_TIMEOUT).status_code == 401
    finally:
        kill_tree(worker)  # its queue engine's processes too: left running, they would take later tests' jobs
        app.extensions["realty"].close()
    job_lines = [json.loads(line) for line in log_path.read_text().splitlines()
                 if line.startswith("{") and '"render_image"' in line and '"kind"' in line]
    assert len(job_lines) == 4 and {line["requestId"] for line in job_lines} == {save_id}
