"""Webhooks on the in-memory fakes: subscribing, fanning out, delivering, retrying, giving up (CONTRACT §10)."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest

from core.commands import CreateWebhook, DeleteWebhook, FanOut, RequeueDeliveries, SetPublished, SendTestEvent
from core.errors import InvalidInput, NotFound
from core.ports import SendResult
from core.webhooks import RETRY_SCHEDULE, DeliveryState, UrlPolicy
from tests.unit.world import ORG_A, ORG_B, REALTY, World

URL = "https://hooks.example.com/realty"


@pytest.fixture
def w() -> World:
    return World()


def subscribe(w: World, url: str = URL, **fields):
    return w.bus.handle(CreateWebhook(ORG_A, url, **fields))


def deliver(w: World) -> int:
    """Run the webhook jobs that are due, as a worker would, until none is."""
    return w.jobs.run_webhook_jobs(w.bus)


def sent(w: World) -> list[dict]:
    return [json.loads(message.body) for message in w.sender.sent]


def test_an_endpoint_gets_the_events_committed_after_it_subscribed_signed_with_its_secret(w):
    w.save(w.upload())  # before: not sent
    w.render()
    webhook = subscribe(w)
    assert webhook.secret.startswith("whsec_") and len(webhook.secret) > 30
    [image] = w.save(w.upload(), realty=REALTY)
    w.render()
    deliver(w)
    assert [(e["type"], e["data"]["realtyImageId"]) for e in sent(w)] == [
        ("image.created", str(image.uuid)), ("image.processed", str(image.uuid))]
    message = w.sender.sent[0]
    assert (message.url, message.secret, message.addresses) == (URL, webhook.secret, ["93.184.216.34"])
    assert message.id == sent(w)[0]["id"], "the webhook-id is the event's id"
    assert sent(w)[1]["data"]["image"]["renditions"]["thumbnail"]["url"].startswith("memory://")
    log = w.views.delivery_log(ORG_A, webhook.id)
    assert [(a.event_type, a.state, a.status_code) for a in log] == [
        ("image.processed", DeliveryState.DELIVERED, 200), ("image.created", DeliveryState.DELIVERED, 200)]


def test_an_endpoint_gets_only_the_types_it_asked_for_and_only_its_orgs(w):
    subscribe(w, events=["image.published"])
    w.bus.handle(CreateWebhook(ORG_B, "https://b.example.com/"))
    [image] = w.save(w.upload())
    w.bus.handle(SetPublished(ORG_A, REALTY, None, True))
    deliver(w)
    assert [(m.url, json.loads(m.body)["type"]) for m in w.sender.sent] == [(URL, "image.published")]


def test_a_failed_delivery_is_tried_again_on_the_schedule_then_given_up(w):
    webhook = subscribe(w)
    w.sender.answer = lambda message: SendResult(503, 12)
    w.save(w.upload())
    deliver(w)
    for wait in RETRY_SCHEDULE:
        assert deliver(w) == 0, "not before its time: the queue holds the retry back"
        w.clock.advance(seconds=wait.total_seconds())
        deliver(w)
    assert len(w.sender.sent) == len(RETRY_SCHEDULE) + 1
    log = w.views.delivery_log(ORG_A, webhook.id)
    assert log[0].state is DeliveryState.FAILED and log[0].next_attempt_at is None
    assert log[-1].next_attempt_at == log[-1].at + RETRY_SCHEDULE[0]
    w.clock.advance(days=1)
    assert deliver(w) == 0 and len(w.sender.sent) == len(RETRY_SCHEDULE) + 1


def test_an_endpoint_that_recovers_gets_what_failed(w):
    subscribe(w)
    w.sender.answer = lambda message: SendResult(None, 10_000, "timed out")
    w.save(w.upload(), w.upload())
    deliver(w)
    assert len(w.sender.sent) == 1, "the rest of the batch waits instead of timing out one by one"
    w.sender.answer = lambda message: SendResult(204, 5)
    w.clock.advance(seconds=5)
    deliver(w)
    assert [json.loads(m.body)["type"] for m in w.sender.sent] == ["image.created"] * 3
    assert len({m.id for m in w.sender.sent}) == 2, "the retry carries the same webhook-id"


def test_an_endpoint_failing_for_five_days_is_disabled_visibly(w):
    webhook = subscribe(w)
    w.sender.answer = lambda message: SendResult(500, 3)
    for _ in range(6):
        w.save(w.upload())
        deliver(w)
        w.clock.advance(days=1)
        deliver(w)
    disabled = w.views.webhook(ORG_A, webhook.id)
    assert disabled.disabled_at is not None and "failed" in disabled.disabled_reason
    count = len(w.sender.sent)
    w.save(w.upload())
    w.clock.advance(days=1)
    deliver(w)
    assert len(w.sender.sent) == count, "nothing more is sent to a disabled endpoint"


@pytest.mark.parametrize("url, reason", [
    ("http://hooks.example.com/", "https"), ("ftp://hooks.example.com/", "https"), ("https:///x", "https"),
    ("https://user:pw@hooks.example.com/", "credentials"), ("not a url", "https"),
])
def test_only_https_urls_are_subscribed(w, url, reason):
    with pytest.raises(InvalidInput, match=reason):
        subscribe(w, url)


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "192.168.0.10", "169.254.169.254", "::1",
                                     "fe80::1", "::ffff:127.0.0.1", "0.0.0.0", "100.64.0.1", "fd00::1"])
def test_a_host_resolving_to_a_private_address_is_refused(w, address):
    w.sender.addresses["hooks.example.com"] = ["93.184.216.34", address]
    with pytest.raises(InvalidInput, match="private"):
        subscribe(w)


def test_switches_allow_http_and_private_addresses_for_development():
    w = World(url_policy=UrlPolicy(allow_http=True, allow_private=True))
    w.sender.addresses["localhost"] = ["127.0.0.1"]
    assert w.bus.handle(CreateWebhook(ORG_A, "http://localhost:8080/hook")).url == "http://localhost:8080/hook"


def test_a_dns_answer_that_changes_after_subscribing_is_checked_at_delivery(w):
    webhook = subscribe(w)
    w.sender.addresses["hooks.example.com"] = ["10.0.0.7"]  # rebinding to the gateway's own network
    w.save(w.upload())
    deliver(w)
    assert w.sender.sent == []
    [attempt] = w.views.delivery_log(ORG_A, webhook.id)
    assert attempt.status_code is None and "private" in attempt.error and attempt.state is DeliveryState.PENDING


def test_unknown_event_types_are_refused(w):
    with pytest.raises(InvalidInput, match="image.exploded"):
        subscribe(w, events=["image.created", "image.exploded"])


def test_an_unsubscribed_endpoint_gets_nothing_more_and_is_gone(w):
    webhook = subscribe(w)
    w.save(w.upload())
    w.bus.handle(DeleteWebhook(ORG_A, webhook.id))
    deliver(w)
    assert w.sender.sent == []
    with pytest.raises(NotFound):
        w.views.webhook(ORG_A, webhook.id)
    with pytest.raises(NotFound):
        w.bus.handle(DeleteWebhook(ORG_B, webhook.id))


def test_a_test_event_is_sent_at_once(w):
    webhook = subscribe(w)
    result = w.bus.handle(SendTestEvent(ORG_A, webhook.id))
    assert result.delivered and json.loads(w.sender.sent[0].body)["type"] == "webhook.test"
    with pytest.raises(NotFound):
        w.bus.handle(SendTestEvent(ORG_B, webhook.id))


def test_lost_jobs_are_queued_again_by_the_sweep(w):
    subscribe(w)
    w.jobs.down = True
    w.save(w.upload())  # committed, but neither its render nor its fan-out could be queued
    w.jobs.down = False
    assert w.bus.handle(RequeueDeliveries()) == 1
    deliver(w)
    assert [json.loads(m.body)["type"] for m in w.sender.sent] == ["image.created"]
    # A delivery job lost after the fan-out: the delivery is overdue, and found again.
    w.save(w.upload())
    [(_, fan_out)] = w.jobs.webhook_jobs
    w.jobs.webhook_jobs.clear()
    w.bus.handle(FanOut(fan_out.org))
    w.jobs.webhook_jobs.clear()  # the delivery job went missing
    w.clock.advance(minutes=2)
    assert w.bus.handle(RequeueDeliveries()) == 1
    deliver(w)
    assert len(w.sender.sent) == 2
