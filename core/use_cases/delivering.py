"""Delivering events to webhooks, by the job workers (CONTRACT §10).

After a commit the bus queues a fan-out of the org (core/use_cases/after_commit.py). The fan-out makes
each new event due to every endpoint of the org that wants it, and queues delivery jobs. A delivery job
claims a batch of what is due to one endpoint and sends it; a failure makes the delivery due again on
the retry schedule, and the retry is a job the queue holds back until then (no worker sleeps). A slow
or dead endpoint only ever holds the job of its own batch, for at most BATCH_SECONDS (plus one timeout):
the rest of the batch waits for the next try. Jobs lost on the way are queued again by the sweep.
"""
from __future__ import annotations

import json
import logging
import math
import time
from datetime import timedelta
from typing import Sequence
from uuid import UUID

from core.commands import DeliverEvents, FanOut, RequeueDeliveries
from core.dependencies import Deps
from core.errors import InvalidInput
from core.feed import published
from core.ports import DeliveryJob, FanOutJob, Job, SendResult, WebhookMessage
from core.repositories import StoredEvent
from core.webhooks import (
    DELIVERY_TIMEOUT_SECONDS, MAX_ERROR_LENGTH, Attempt, Delivery, DeliveryState, Webhook, after_failure, check_url,
)

log = logging.getLogger(__name__)

FAN_OUT_BATCH = 1000
DELIVERY_BATCH = 100
BATCH_SECONDS = 30.0
"""A delivery job stops taking new events of its batch after this long (one slow endpoint's job)."""
LEASE = timedelta(minutes=2)
"""A claimed delivery is due again after this, should its job die: longer than BATCH_SECONDS plus a timeout."""
OVERDUE = timedelta(minutes=1)
SWEEP_BATCH = 100


def fan_out(cmd: FanOut, deps: Deps) -> None:
    now = deps.clock.now()
    due: dict[UUID, int] = {}
    with deps.uow() as uow:
        start = uow.events.lock_fan_out(cmd.org)
        events = uow.events.after(cmd.org, start, FAN_OUT_BATCH)
        if not events:
            return
        for webhook in uow.webhooks.list(cmd.org):
            seqs = [e.seq for e in events if e.seq > webhook.after_seq and webhook.wants(e.event.type)]
            if seqs and uow.deliveries.add(webhook.id, seqs, now):
                due[webhook.id] = len(seqs)
        uow.events.set_fan_out(cmd.org, events[-1].seq)
        uow.commit()
    jobs: list[Job] = [DeliveryJob(cmd.org, webhook_id) for webhook_id, count in due.items()
                       for _ in range(math.ceil(count / DELIVERY_BATCH))]
    if len(events) == FAN_OUT_BATCH:
        jobs.append(FanOutJob(cmd.org))  # more to hand out
    _queue(deps, jobs)


def deliver_events(cmd: DeliverEvents, deps: Deps) -> None:
    now = deps.clock.now()
    with deps.uow() as uow:
        webhook = uow.webhooks.get(cmd.org, cmd.webhook_id)
        if webhook is None:
            return  # unsubscribed: its deliveries went with it
        if webhook.disabled_at is not None:
            uow.deliveries.give_up(webhook.id, now, webhook.disabled_reason or "the endpoint is disabled")
            uow.commit()
            return
        claimed = uow.deliveries.claim(webhook.id, now, now + LEASE, DELIVERY_BATCH)
        events = {e.seq: e for e in uow.events.numbered(cmd.org, [d.event_seq for d in claimed])}
        uow.commit()
    if not claimed:
        return
    settled, rest = _send(deps, webhook, claimed, events)
    with deps.uow() as uow:
        uow.deliveries.settle(settled)
        if rest:
            uow.deliveries.postpone(rest, settled[-1][1].next_attempt_at or deps.clock.now())
        uow.webhooks.update(webhook)
        if webhook.disabled_at is not None:
            uow.deliveries.give_up(webhook.id, deps.clock.now(), webhook.disabled_reason or "disabled")
        next_due = uow.deliveries.next_due(webhook.id)
        uow.commit()
    if next_due is not None:
        delay = max(0.0, (next_due - deps.clock.now()).total_seconds())
        _queue(deps, [DeliveryJob(cmd.org, webhook.id, delay)])


def requeue_deliveries(cmd: RequeueDeliveries, deps: Deps) -> int:
    """Queue again what a lost message or a killed worker left: fan-outs not done, deliveries overdue."""
    now = deps.clock.now()
    with deps.uow(write=False) as uow:
        jobs: list[Job] = [FanOutJob(org) for org in uow.events.not_fanned_out(SWEEP_BATCH)]
        jobs += [DeliveryJob(org, webhook_id) for org, webhook_id in uow.deliveries.overdue(now - OVERDUE, SWEEP_BATCH)]
    if jobs:
        deps.jobs.enqueue(jobs)
    return len(jobs)


def _send(deps: Deps, webhook: Webhook, claimed: Sequence[Delivery],
          events: dict[int, StoredEvent]) -> tuple[list[tuple[Delivery, Attempt]], list[Delivery]]:
    """Send the claimed deliveries in order until one fails or BATCH_SECONDS pass; returns each attempt
    made, and the deliveries not attempted (the endpoint failed, or the batch took its time)."""
    settled: list[tuple[Delivery, Attempt]] = []
    try:
        addresses = check_url(webhook.url, deps.url_policy, deps.sender.resolve)
        refused = None
    except InvalidInput as exc:  # its host resolves elsewhere now (or no more)
        addresses, refused = [], exc.message
    started = time.monotonic()
    for index, delivery in enumerate(claimed):
        stored = events.get(delivery.event_seq)
        if stored is None:  # pruned meanwhile: nothing left to send
            settled.append((delivery, _attempt(webhook, delivery, None, SendResult(None, 0, "event no longer kept"),
                                               deps, give_up=True)))
            continue
        if refused is not None:
            result = SendResult(None, 0, refused)
        else:
            document = published(stored, deps.urls)
            message = WebhookMessage(webhook.url, addresses, stored.event.id, deps.clock.now(),
                                     json.dumps(document, separators=(",", ":")).encode(), webhook.secret)
            result = deps.sender.send(message, DELIVERY_TIMEOUT_SECONDS)
        webhook.attempted(result.delivered, deps.clock.now())
        settled.append((delivery, _attempt(webhook, delivery, stored, result, deps)))
        if not result.delivered or webhook.disabled_at is not None or time.monotonic() - started > BATCH_SECONDS:
            return settled, list(claimed[index + 1:])
    return settled, []


def _attempt(webhook: Webhook, delivery: Delivery, stored: StoredEvent | None, result: SendResult, deps: Deps,
             give_up: bool = False) -> Attempt:
    now = deps.clock.now()
    number = delivery.attempts + 1
    if result.delivered:
        state, next_at = DeliveryState.DELIVERED, None
    else:
        next_at = None if give_up or webhook.disabled_at is not None else after_failure(number, now)
        state = DeliveryState.PENDING if next_at is not None else DeliveryState.FAILED
    error = None if result.error is None else result.error[:MAX_ERROR_LENGTH]
    return Attempt(webhook.id, stored.event.id if stored else "", stored.event.type if stored else "", number, now,
                   result.status_code, result.duration_ms, error, state, next_at)


def _queue(deps: Deps, jobs: list[Job]) -> None:
    if not jobs:
        return
    try:
        deps.jobs.enqueue(jobs)
    except Exception:  # noqa: BLE001 - what is due stays due: the sweep queues it again
        log.warning("could not queue %d webhook jobs now; the sweep will", len(jobs), exc_info=True)
