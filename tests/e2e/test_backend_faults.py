"""Backends cut off and frozen under a running gateway (CONTRACT §8), over real connections.

A `FaultProxy` sits between the gateway and PostgreSQL, or between the gateway and moto's S3 server;
the gateway serves real HTTP on a thread (werkzeug, threaded) and the caller uses `requests`. With
BACKEND_TIMEOUT = 2 s every request that needs the broken backend must answer 503 SERVICE_UNAVAILABLE
(REST) / SERVICE_UNAVAILABLE (GraphQL) within that time and a small margin, `/healthz` at once,
`/readyz` 503; and after `restore()` the same gateway, never restarted, saves the same uploads with the
same keys: nothing was half-saved and no grant was used up.

The PostgreSQL scenarios run in the PostgreSQL pass only; S3 and the full disk in both passes. Each
timed request is printed as `FAULT | scenario | request | answer | seconds` (see them with -s).
"""
from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator
from urllib.parse import urlsplit

import pytest
import requests
from werkzeug.serving import make_server

from tests.conftest import TEST_DATABASE, _throwaway_postgres_database
from tests.fault_proxy import FaultProxy
from tests.graphql_support import upload_operations
from tests.images import make_jpeg
from tests.servers import SHUTDOWN_POLL

BACKEND_TIMEOUT = 2.0
MARGIN = 1.5
"""Beyond BACKEND_TIMEOUT: thread start-up, a loaded test machine. A fast failure is far below it."""
HTTP_TIMEOUT = 30


# --- the gateway, a caller ---------------------------------------------------------------------------

class Caller:
    def __init__(self, base: str, token: str, scenario: str) -> None:
        self.base = base
        self.scenario = scenario
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def timed(self, label: str, method: str, path: str, **kwargs) -> tuple[requests.Response, float]:
        started = time.monotonic()
        response = self.session.request(method, self.base + path, timeout=HTTP_TIMEOUT, **kwargs)
        elapsed = time.monotonic() - started
        code = _code(response)
        sys.stdout.write(f"FAULT | {self.scenario} | {label} | {response.status_code} {code} | {elapsed:.2f}\n")
        return response, elapsed

    def rest(self, label: str, method: str, path: str, request_id: str | None = None, **kwargs):
        headers = {"Request-ID": request_id or str(uuid.uuid4())}
        return self.timed(label, method, path, headers=headers, **kwargs)

    def upload(self, data: bytes) -> str:
        """Grant and upload (as the seed's form does); returns the key."""
        grant, _ = self.rest("grant", "GET", "/uploadGrants?type=image/jpeg")
        assert grant.status_code == 200, grant.text
        body = grant.json()
        parts = [(name, (None, value)) for name, value in body["fields"].items()]
        parts.append(("file", ("photo.jpg", data, "image/jpeg")))
        posted = requests.post(body["url"], files=parts, timeout=HTTP_TIMEOUT)
        assert posted.status_code in (200, 201, 204), posted.text
        return body["fields"]["key"]

    def save(self, realty: str, keys: list[str], request_id: str | None = None):
        return self.rest("POST /realty/{id}/images", "POST", f"/realty/{realty}/images", request_id,
                         json={"uploadedImages": [{"key": k} for k in keys]})

    def listing(self, realty: str):
        return self.timed("GET /realty/{id}/images", "GET", f"/realty/{realty}/images")

    def processed(self, realty: str, deadline_s: float = 180) -> None:
        """Return once none of the realty's images is PENDING (renders run after a save answers)."""
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            images = self.session.get(f"{self.base}/realty/{realty}/images", timeout=HTTP_TIMEOUT).json()
            if all(image["processing"] != "PENDING" for image in images["realtyImages"]):
                return
            time.sleep(0.1)
        pytest.fail(f"the images of {realty} were still PENDING after {deadline_s} s")

    def graphql_upload(self, realty: str, data: bytes, key: str | None = None):
        operations = upload_operations("createPropertyImage", "CreatePropertyImageInput",
                                       {"propertyId": realty, "category": "GENERAL"}, selection="image { id }")
        files = {"operations": (None, operations), "map": (None, '{"0": ["variables.input.file"]}'),
                 "0": ("photo.jpg", data, "image/jpeg")}
        headers = {"Idempotency-Key": key} if key else {}
        return self.timed("POST /graphql createPropertyImage" + (" (Idempotency-Key)" if key else ""), "POST",
                          "/graphql", files=files, headers=headers)


def _code(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    if isinstance(body, dict) and "errorCode" in body:
        return body["errorCode"]
    if isinstance(body, dict) and body.get("errors"):
        return body["errors"][0].get("extensions", {}).get("code", "")
    if isinstance(body, dict) and "checks" in body:
        return str(body["checks"])
    return ""


@pytest.fixture
def serve(make_token):
    """serve(settings, scenario[, init_storage]) -> a Caller of a gateway running on a thread, closed after the test."""
    running = []

    def start(settings, scenario: str, init_storage: bool = True) -> Caller:
        from wsgi import create_app

        if init_storage and settings.storage_url.startswith("s3://"):
            # The set-up is not under test: on a loaded machine moto may take longer than BACKEND_TIMEOUT.
            setup = create_app(settings)
            result = setup.test_cli_runner().invoke(args=["init-storage"])
            setup.extensions["realty"].close()
            assert result.exit_code == 0, result.output
        app = create_app(dataclasses.replace(settings, backend_timeout=BACKEND_TIMEOUT))
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, args=(SHUTDOWN_POLL,), daemon=True)
        thread.start()
        running.append((app, server, thread))
        return Caller(f"http://127.0.0.1:{server.server_port}", make_token(), scenario)

    yield start
    for app, server, thread in running:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        app.extensions["realty"].close()


def assert_unavailable(response: requests.Response, elapsed: float, graphql: bool = False) -> None:
    assert elapsed < BACKEND_TIMEOUT + MARGIN, f"answered after {elapsed:.2f} s"
    if graphql:
        # Before execution (the Idempotency-Key's record) it is HTTP 503; in a resolver, a field error.
        assert response.status_code in (200, 503), response.text
        [error] = response.json()["errors"]
        assert error["extensions"] == {"code": "SERVICE_UNAVAILABLE", "retryable": True}, error
    else:
        assert response.status_code == 503, response.text
        assert response.json()["errorCode"] == "SERVICE_UNAVAILABLE"


def assert_healthy_at_once(caller: Caller) -> None:
    response, elapsed = caller.timed("GET /healthz", "GET", "/healthz")
    assert response.status_code == 200 and elapsed < 1.0  # a backend wait would be BACKEND_TIMEOUT


def assert_not_ready(caller: Caller, failing: str) -> None:
    response, elapsed = caller.timed("GET /readyz", "GET", "/readyz")
    assert response.status_code == 503 and response.json()["checks"][failing] is False
    assert elapsed < 2 * BACKEND_TIMEOUT + MARGIN


def wait_ready(caller: Caller, deadline_s: float = 180) -> None:
    """After a backend is restored: until /readyz says the gateway reaches it again, by itself. On a busy
    machine the first calls over new connections may still take longer than BACKEND_TIMEOUT."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if caller.session.get(caller.base + "/readyz", timeout=HTTP_TIMEOUT).status_code == 200:
            return
        time.sleep(0.2)
    pytest.fail(f"the gateway was not ready again {deadline_s} s after its backend was restored")


def in_parallel(caller: Caller, fault: str, *calls):
    """Run `calls` at once; while they wait on a frozen backend, /healthz must still answer at once."""
    with ThreadPoolExecutor(len(calls)) as pool:
        futures = [pool.submit(call) for call in calls]
        if fault == "freeze":
            time.sleep(0.5)
            assert not all(f.done() for f in futures), "nothing waited on the frozen backend"
        assert_healthy_at_once(caller)
        return [f.result() for f in futures]


# --- PostgreSQL ----------------------------------------------------------------------------------------

@pytest.fixture
def postgres_proxy(database_url) -> Iterator[tuple[FaultProxy, str]]:
    if TEST_DATABASE != "postgresql":
        pytest.skip("PostgreSQL faults are injected in the PostgreSQL pass")
    parts = urlsplit(database_url)
    proxy = FaultProxy(parts.hostname, parts.port or 5432)
    user = f"{parts.username}@" if parts.username else ""
    yield proxy, parts._replace(netloc=user + proxy.address).geturl()
    proxy.close()


@pytest.mark.parametrize("fault", ["freeze", "cut"])
def test_postgresql_down_gives_fast_503s_and_the_gateway_recovers_by_itself(postgres_proxy, settings, serve, fault):
    proxy, url = postgres_proxy
    caller = serve(dataclasses.replace(settings, database_url=url), f"PostgreSQL {fault}")
    realty = str(uuid.uuid4())
    keys = [caller.upload(make_jpeg(40 + n, 30)) for n in range(3)]
    [saved_before], _ = caller.save(realty, [caller.upload(make_jpeg(20, 20))])[0].json()["realtyImages"], None
    save_id = str(uuid.uuid4())

    getattr(proxy, fault)()
    # Everything at once: the requests must not queue behind one another's database calls.
    answers = in_parallel(caller, fault, lambda: caller.save(realty, keys, save_id), lambda: caller.listing(realty),
                          lambda: caller.graphql_upload(realty, make_jpeg(50, 30)),
                          lambda: caller.graphql_upload(realty, make_jpeg(51, 30), key=str(uuid.uuid4())),
                          *[lambda: caller.listing(realty)] * 4)
    for index, (response, elapsed) in enumerate(answers):
        assert_unavailable(response, elapsed, graphql=index in (2, 3))
    assert_not_ready(caller, "database")

    proxy.restore()
    wait_ready(caller)
    saved, elapsed = caller.save(realty, keys, save_id)  # the same request, Request-ID and all
    assert saved.status_code == 201, saved.text
    listed, _ = caller.listing(realty)
    assert [i["realtyImageId"] for i in listed.json()["realtyImages"]] == (
        [saved_before["realtyImageId"]] + [i["realtyImageId"] for i in saved.json()["realtyImages"]]), \
        "nothing half-saved, no grant used up"
    ready, _ = caller.timed("GET /readyz", "GET", "/readyz")
    assert ready.status_code == 200


@pytest.fixture
def empty_postgres_proxy() -> Iterator[tuple[FaultProxy, str]]:
    """A new, empty PostgreSQL database (no tables) behind a proxy: (proxy, URL through it)."""
    if TEST_DATABASE != "postgresql":
        pytest.skip("PostgreSQL faults are injected in the PostgreSQL pass")
    with _throwaway_postgres_database() as url:
        parts = urlsplit(url)
        with FaultProxy(parts.hostname, parts.port or 5432) as proxy:
            user = f"{parts.username}@" if parts.username else ""
            yield proxy, parts._replace(netloc=user + proxy.address).geturl()


def test_a_gateway_started_while_postgresql_is_down_serves_once_it_answers(empty_postgres_proxy, settings, serve):
    """Soak finding (bench/soak.py): each process checked the schema as it started, and one started while
    PostgreSQL did not answer died of it. gunicorn stops altogether when a worker fails to boot, so one
    worker replaced during a database outage (the OOM killer, gunicorn's own timeout) took the whole API
    down for good (tests/e2e/test_gunicorn.py shows that end to end). A start must not need the database; on
    an empty one the schema is made as soon as it answers."""
    proxy, url = empty_postgres_proxy
    proxy.cut()
    caller = serve(dataclasses.replace(settings, database_url=url), "start with PostgreSQL cut")
    assert_healthy_at_once(caller)
    response, elapsed = caller.listing(str(uuid.uuid4()))
    assert_unavailable(response, elapsed)
    assert_not_ready(caller, "database")

    proxy.restore()
    saved, _ = caller.save(str(uuid.uuid4()), [caller.upload(make_jpeg(30, 20))])
    assert saved.status_code == 201, saved.text


# --- S3 ----------------------------------------------------------------------------------------------

@pytest.fixture
def s3_proxy(aws_credentials, moto_url, monkeypatch) -> Iterator[FaultProxy]:
    moto = urlsplit(moto_url)
    proxy = FaultProxy(moto.hostname, moto.port)
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://{proxy.address}")
    try:
        yield proxy
    finally:
        proxy.close()


@pytest.mark.parametrize("fault", ["freeze", "cut"])
def test_s3_down_gives_fast_503s_and_the_gateway_recovers_by_itself(s3_proxy, settings, serve, fault):
    caller = serve(dataclasses.replace(settings, storage_url=f"s3://faults-{uuid.uuid4().hex[:12]}"), f"S3 {fault}")
    realty, copy_target = str(uuid.uuid4()), str(uuid.uuid4())
    # More uploads than the save's pool has threads: the first timeout must end the save, not each round.
    keys = [caller.upload(make_jpeg(40 + n, 30)) for n in range(2 * settings.save_threads + 1)]
    before, _ = caller.save(realty, [caller.upload(make_jpeg(20, 20))])
    assert before.status_code == 201
    save_id, upload_id = str(uuid.uuid4()), str(uuid.uuid4())
    photo = make_jpeg(60, 40)

    getattr(s3_proxy, fault)()
    answers = in_parallel(caller, fault, lambda: caller.save(realty, keys, save_id),
                          lambda: caller.graphql_upload(realty, photo, key=upload_id),
                          lambda: caller.graphql_upload(realty, make_jpeg(61, 40)))
    for index, (response, elapsed) in enumerate(answers):
        assert_unavailable(response, elapsed, graphql=index > 0)
    assert_not_ready(caller, "storage")
    # What needs no storage call still works: a listing (URLs are signed locally), a copy (no byte moves).
    listed, _ = caller.listing(realty)
    assert listed.status_code == 200 and len(listed.json()["realtyImages"]) == 1
    copied, _ = caller.rest("POST /realty/{id}/images/copy", "POST", f"/realty/{copy_target}/images/copy",
                            json={"sourceRealtyId": realty})
    assert copied.status_code == 200, copied.text

    s3_proxy.restore()
    wait_ready(caller)
    saved, _ = caller.save(realty, keys, save_id)  # the same request, Request-ID and all
    assert saved.status_code == 201, saved.text
    uploaded, _ = caller.graphql_upload(realty, photo, key=upload_id)
    assert uploaded.status_code == 200 and "errors" not in uploaded.json(), uploaded.text
    listed, _ = caller.listing(realty)
    assert len(listed.json()["realtyImages"]) == 1 + len(keys) + 1, "nothing half-saved, no grant used up"
    ready, _ = caller.timed("GET /readyz", "GET", "/readyz")
    assert ready.status_code == 200


# --- both down ------------------------------------------------------------------------------------

@pytest.mark.parametrize("api", ["REST save", "GraphQL upload"])
def test_a_retry_after_a_503_is_done_at_once_though_the_database_went_down_meanwhile(
        postgres_proxy, s3_proxy, settings, serve, api):
    """The first request claims its key, then fails (storage hangs) while the database is gone, so it
    cannot free the key; once the database is back the key is freed by itself, and the retry is done
    at once rather than told "still being answered" until the claim's lease runs out."""
    database, database_url = postgres_proxy
    caller = serve(dataclasses.replace(settings, database_url=database_url,
                                       storage_url=f"s3://retry-{uuid.uuid4().hex[:12]}"), f"retry after 503 ({api})")
    realty, key, photo = str(uuid.uuid4()), str(uuid.uuid4()), make_jpeg(60, 40)
    assert caller.save(realty, [caller.upload(make_jpeg(20, 20))])[0].status_code == 201
    uploads = [caller.upload(make_jpeg(40 + n, 30)) for n in range(3)]
    caller.processed(realty)  # the first image's render job is done with the storage before it hangs

    def send():
        if api == "REST save":
            return caller.save(realty, uploads, key)
        return caller.graphql_upload(realty, photo, key=key)

    s3_proxy.freeze()
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(send)
        # The request claims its key before it touches the storage: once it waits there, cut the database.
        assert s3_proxy.holding.wait(HTTP_TIMEOUT), "the request never reached the storage"
        database.cut()
        response, _ = first.result()
    assert_unavailable(response, 0, graphql=api != "REST save")
    database.restore()
    s3_proxy.restore()
    wait_ready(caller)

    retried, elapsed = send()
    assert elapsed < BACKEND_TIMEOUT + MARGIN
    if api == "REST save":
        assert retried.status_code == 201, retried.text
    else:
        assert retried.status_code == 200 and "errors" not in retried.json(), retried.text
    assert "Idempotent-Replayed" not in retried.headers
    listed, _ = caller.listing(realty)
    assert len(listed.json()["realtyImages"]) == 1 + (3 if api == "REST save" else 1), "done once"


# --- S3 without credentials ------------------------------------------------------------------------

NO_CREDENTIALS = {"AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_CONFIG_FILE": os.devnull,
                  "AWS_EC2_METADATA_DISABLED": "true"}


def test_s3_without_credentials_gives_503s_not_500s(aws_credentials, moto_url, monkeypatch, settings, serve):
    """Credentials missing (a role not attached, a secret not mounted) are the operator's to fix, not
    the caller's nor a bug: every call that needs them is unavailable, and readiness says so."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    s3 = dataclasses.replace(settings, storage_url=f"s3://creds-{uuid.uuid4().hex[:12]}")
    with_credentials = serve(s3, "S3 with credentials")
    realty = str(uuid.uuid4())
    assert with_credentials.save(realty, [with_credentials.upload(make_jpeg(20, 20))])[0].status_code == 201
    key = with_credentials.upload(make_jpeg(21, 20))

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                 "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                 "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in NO_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    caller = serve(s3, "S3 without credentials", init_storage=False)  # the bucket is there
    for response, elapsed in (caller.rest("grant", "GET", "/uploadGrants?type=image/jpeg"),
                              caller.listing(realty), caller.save(realty, [key])):
        assert_unavailable(response, elapsed)
    listed, elapsed = caller.timed("POST /graphql property{images{url}}", "POST", "/graphql", json={
        "query": "query($id: ID!) { property(id: $id) { images { url } } }", "variables": {"id": realty}})
    assert_unavailable(listed, elapsed, graphql=True)
    uploaded, elapsed = caller.graphql_upload(realty, make_jpeg(22, 20))
    assert_unavailable(uploaded, elapsed, graphql=True)
    assert_not_ready(caller, "storage")


# --- a full local disk ----------------------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path) -> Iterator[str]:
    """A 4 MiB file system for the storage root (a tmpfs; needs root, as CI and the dev machines have)."""
    root = tmp_path / "small-disk"
    root.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(root)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small file system here: {mounted.stderr.decode().strip()}")
    try:
        yield str(root)
    finally:
        subprocess.run(["umount", "-l", str(root)], check=False)


def test_a_full_local_disk_gives_503_not_500_and_readiness_says_so(small_disk, settings, serve):
    caller = serve(dataclasses.replace(settings, storage_url=f"file://{small_disk}", max_upload_bytes=512 * 1024),
                   "full local disk")
    realty = str(uuid.uuid4())
    assert caller.save(realty, [caller.upload(make_jpeg(20, 20))])[0].status_code == 201
    keys = [caller.upload(make_jpeg(40 + n, 30)) for n in range(2)]
    filler = os.path.join(small_disk, "filler")
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass  # ENOSPC: the disk is full

    save_id = str(uuid.uuid4())
    saved, elapsed = caller.save(realty, keys, save_id)
    assert_unavailable(saved, elapsed)
    uploaded, elapsed = caller.graphql_upload(realty, make_jpeg(70, 50))
    assert_unavailable(uploaded, elapsed, graphql=True)
    assert_not_ready(caller, "storage")

    os.remove(filler)
    wait_ready(caller)
    saved, _ = caller.save(realty, keys, save_id)
    assert saved.status_code == 201, saved.text
    assert len(caller.listing(realty)[0].json()["realtyImages"]) == 1 + 2


# --- Redis (the render queue) -----------------------------------------------------------------------

@pytest.fixture
def redis_proxy(redis_url) -> Iterator[tuple[FaultProxy, str]]:
    """A proxy in front of the suite's own redis-server (tests/servers.py)."""
    server = urlsplit(redis_url)
    proxy = FaultProxy(server.hostname, server.port)
    yield proxy, f"redis://{proxy.address}{server.path}"
    proxy.close()


def test_a_frozen_redis_does_not_fail_or_hold_a_save(redis_proxy, settings, serve):
    """The images are saved; their render jobs are queued again by the sweep once Redis answers."""
    proxy, url = redis_proxy
    caller = serve(dataclasses.replace(settings, redis_url=url), "Redis freeze")
    realty = str(uuid.uuid4())
    keys = [caller.upload(make_jpeg(40 + n, 30)) for n in range(2)]
    proxy.freeze()
    saved, elapsed = caller.save(realty, keys)
    assert saved.status_code == 201, saved.text
    assert elapsed < BACKEND_TIMEOUT + MARGIN
    assert [i["processing"] for i in saved.json()["realtyImages"]] == ["PENDING", "PENDING"]
    proxy.restore()
