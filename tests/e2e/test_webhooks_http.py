"""Webhooks end to end (CONTRACT §10): a real receiver on this machine verifies every delivery with the
`standardwebhooks` library; the gateway runs its jobs in process (the embedded default)."""
from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest
from standardwebhooks.webhooks import Webhook as Verifier

from tests.graphql_support import data_of, post_graphql
from tests.rest_support import RestCaller, distinct_png


class Receiver:
    """An endpoint that answers each POST with the next of `statuses` (then 200), and keeps what came."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.statuses: list[int] = []
        self.arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["content-length"]))
                with receiver.arrived:
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                    receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                    receiver.arrived.notify_all()
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/realty?source=gateway"

    def wait_for(self, count: int, timeout: float = 30) -> list[tuple[dict[str, str], bytes]]:
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.received) >= count, timeout), self.received
            return list(self.received)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    endpoint = Receiver()
    yield endpoint
    endpoint.server.shutdown()


@pytest.fixture
def settings(settings):
    return dataclasses.replace(settings, webhook_allow_http=True, webhook_allow_private=True)


@pytest.fixture
def rest(client, make_token) -> RestCaller:
    return RestCaller(client, make_token(org=f"org-{uuid.uuid4().hex[:8]}"))


def subscribe(rest: RestCaller, url: str, **fields) -> dict:
    response = rest.client.post("/webhooks", json={"url": url, **fields}, headers=rest.headers())
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def delivery_log(rest: RestCaller, webhook_id: str, settled: int, timeout: float = 30) -> list[dict]:
    """The delivery log once it shows `settled` attempts (the receiver answers before the log is written)."""
    deadline = time.monotonic() + timeout
    while True:
        log = rest.client.get(f"/webhooks/{webhook_id}/deliveries", headers=rest.headers(False)).get_json()
        if len(log["deliveries"]) >= settled or time.monotonic() > deadline:
            return log["deliveries"]
        time.sleep(0.05)


def test_a_delivery_verifies_with_the_standardwebhooks_library(rest, receiver):
    webhook = subscribe(rest, receiver.url, events=["image.created"])
    [item] = rest.save_ok(str(uuid.uuid4()), rest.upload_many([distinct_png(1)]))
    [(headers, body)] = receiver.wait_for(1)
    event = Verifier(webhook["secret"]).verify(body, headers)  # raises unless the signature is right
    assert event["type"] == "image.created" and event["data"]["realtyImageId"] == item["realtyImageId"]
    assert headers["webhook-id"] == event["id"] and headers["content-type"] == "application/json"
    with pytest.raises(Exception):
        Verifier("whsec_" + "A" * 32).verify(body, headers)
    assert [(d["eventType"], d["state"], d["statusCode"]) for d in delivery_log(rest, webhook["id"], 1)] == [
        ("image.created", "DELIVERED", 200)]


def test_a_receiver_that_fails_then_recovers_gets_the_event_on_retry(rest, receiver):
    receiver.statuses = [500]
    webhook = subscribe(rest, receiver.url, events=["image.created"])
    rest.save_ok(str(uuid.uuid4()), rest.upload_many([distinct_png(2)]))
    first, second = receiver.wait_for(2, timeout=40)
    assert first[0]["webhook-id"] == second[0]["webhook-id"], "the same message, tried again"
    log = delivery_log(rest, webhook["id"], 2)
    assert [(d["attempt"], d["state"], d["statusCode"]) for d in log] == [(2, "DELIVERED", 200), (1, "PENDING", 500)]
    assert log[1]["nextAttemptAt"] is not None


def test_both_apis_manage_the_same_webhooks(rest, receiver):
    created = data_of(post_graphql(rest.client, rest.token, """mutation($url: String!) {
        createWebhook(input: {url: $url, description: "CRM"}) { secret webhook { id url events } } }""",
                                   {"url": receiver.url}))["createWebhook"]
    assert created["secret"].startswith("whsec_") and created["webhook"]["events"] == []
    listed = rest.client.get("/webhooks", headers=rest.headers(False)).get_json()["webhooks"]
    assert [(w["id"], w["description"], w["disabled"]) for w in listed] == [(created["webhook"]["id"], "CRM", False)]
    assert "secret" not in listed[0], "shown only when made"
    test = rest.client.post(f"/webhooks/{created['webhook']['id']}/test", headers=rest.headers()).get_json()
    assert test["delivered"] is True and test["statusCode"] == 200
    [(headers, body)] = receiver.wait_for(1)
    assert Verifier(created["secret"]).verify(body, headers)["type"] == "webhook.test"
    deleted = data_of(post_graphql(rest.client, rest.token, """mutation($id: ID!) {
        deleteWebhook(input: {id: $id}) { success } }""", {"id": created["webhook"]["id"]}))
    assert deleted["deleteWebhook"]["success"] is True
    assert rest.client.get("/webhooks", headers=rest.headers(False)).get_json() == {"webhooks": []}
    missing = rest.client.get(f"/webhooks/{created['webhook']['id']}", headers=rest.headers(False))
    assert missing.status_code == 404 and missing.get_json()["errorCode"] == "INVALID_ID"


def test_another_orgs_webhooks_do_not_exist(rest, receiver, client, make_token):
    webhook = subscribe(rest, receiver.url)
    other = RestCaller(client, make_token(org="someone-else"))
    assert other.client.get("/webhooks", headers=other.headers(False)).get_json() == {"webhooks": []}
    for method, path in (("GET", ""), ("DELETE", ""), ("POST", "/test"), ("GET", "/deliveries")):
        response = other.client.open(f"/webhooks/{webhook['id']}{path}", method=method, headers=other.headers())
        assert response.status_code == 404, (method, path)


def test_the_example_receiver_verifies_and_prints_what_it_gets(rest, tmp_path):
    """scripts/webhook_receiver.py, as docs/events.md runs it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    webhook = subscribe(rest, f"http://127.0.0.1:{port}/hooks", events=["image.created"])
    script = Path(__file__).resolve().parents[2] / "scripts" / "webhook_receiver.py"
    out = open(tmp_path / "receiver.log", "w+")
    receiver = subprocess.Popen([sys.executable, str(script), "--port", str(port)], stdout=out,
                                stderr=subprocess.STDOUT, env={**os.environ, "WEBHOOK_SECRET": webhook["secret"]})
    try:
        deadline = time.monotonic() + 60
        while "listening" not in (tmp_path / "receiver.log").read_text():
            assert time.monotonic() < deadline and receiver.poll() is None, (tmp_path / "receiver.log").read_text()
            time.sleep(0.05)
        [item] = rest.save_ok(str(uuid.uuid4()), rest.upload_many([distinct_png(5)]))
        while item["realtyImageId"] not in (tmp_path / "receiver.log").read_text():
            assert time.monotonic() < deadline, (tmp_path / "receiver.log").read_text()
            time.sleep(0.05)
        assert '"type": "image.created"' in (tmp_path / "receiver.log").read_text()
    finally:
        receiver.terminate()
        receiver.wait(10)
