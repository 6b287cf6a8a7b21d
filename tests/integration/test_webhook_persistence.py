"""Webhooks, due deliveries and the delivery log on the database under test."""
from __future__ import annotations

import threading
import uuid
from datetime import datetime, timedelta, timezone


from core.webhooks import Attempt, DeliveryState, Webhook

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def add_webhook(factory, org: str = "org-a", **fields) -> Webhook:
    webhook = Webhook(id=uuid.uuid4(), org=org, url="https://hooks.example.com/x", events=("image.created",),
                      secret="whsec_abc", created_at=T0, **fields)
    with factory() as uow:
        uow.webhooks.add(webhook)
        uow.commit()
    return webhook


def test_webhooks_round_trip_per_org(factory):
    webhook = add_webhook(factory, description="CRM", after_seq=7)
    add_webhook(factory, org="org-b")
    with factory() as uow:
        assert uow.webhooks.get("org-a", webhook.id) == webhook
        assert uow.webhooks.get("org-b", webhook.id) is None
        assert [w.id for w in uow.webhooks.list("org-a")] == [webhook.id] and uow.webhooks.count("org-a") == 1
        webhook.failing_since, webhook.disabled_at, webhook.disabled_reason = T0, T0, "dead"
        uow.webhooks.update(webhook)
        uow.commit()
    with factory() as uow:
        assert uow.webhooks.get("org-a", webhook.id) == webhook
        assert not uow.webhooks.delete("org-b", webhook.id) and uow.webhooks.delete("org-a", webhook.id)
        uow.commit()


def test_deliveries_are_added_once_claimed_settled_and_logged(factory):
    webhook = add_webhook(factory)
    with factory() as uow:
        assert uow.deliveries.add(webhook.id, [1, 2, 3], T0) == 3
        assert uow.deliveries.add(webhook.id, [2, 3, 4], T0) == 1, "one delivery per event"
        uow.commit()
    with factory() as uow:
        claimed = uow.deliveries.claim(webhook.id, T0, T0 + timedelta(minutes=2), 3)
        uow.commit()
    assert [d.event_seq for d in claimed] == [1, 2, 3]
    with factory() as uow:
        assert [d.event_seq for d in uow.deliveries.claim(webhook.id, T0, T0, 10)] == [4], "the others are leased"
        failed = Attempt(webhook.id, "e1", "image.created", 1, T0, 500, 12, "answered 500", DeliveryState.PENDING,
                         T0 + timedelta(seconds=5))
        uow.deliveries.settle([(claimed[0], failed),
                               (claimed[1], Attempt(webhook.id, "e2", "image.created", 1, T0, 200, 3, None,
                                                    DeliveryState.DELIVERED, None))])
        uow.deliveries.postpone([claimed[2]], T0 + timedelta(seconds=5))
        uow.commit()
    with factory() as uow:
        assert uow.deliveries.next_due(webhook.id) == T0
        assert [(a.event_id, a.state) for a in uow.deliveries.attempts(webhook.id, 10)] == [
            ("e2", DeliveryState.DELIVERED), ("e1", DeliveryState.PENDING)]
        assert uow.deliveries.overdue(T0 + timedelta(seconds=1), 10) == [("org-a", webhook.id)]
        assert uow.deliveries.give_up(webhook.id, T0, "disabled") == 3
        assert uow.deliveries.next_due(webhook.id) is None
        uow.commit()


def test_deleting_a_webhook_deletes_its_deliveries_and_log(factory):
    webhook = add_webhook(factory)
    with factory() as uow:
        uow.deliveries.add(webhook.id, [1], T0)
        uow.webhooks.delete("org-a", webhook.id)
        uow.commit()
    with factory() as uow:
        assert uow.deliveries.overdue(T0 + timedelta(days=1), 10) == []


def test_two_claimers_at_once_never_get_the_same_delivery(factory):
    webhook = add_webhook(factory)
    with factory() as uow:
        uow.deliveries.add(webhook.id, list(range(1, 41)), T0)
        uow.commit()
    claims: list = []
    barrier = threading.Barrier(2)

    def claim() -> None:
        barrier.wait()
        with factory() as uow:
            claims.extend(d.event_seq for d in uow.deliveries.claim(webhook.id, T0, T0 + timedelta(minutes=2), 25))
            uow.commit()

    threads = [threading.Thread(target=claim) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(claims) == len(set(claims)) == 40
