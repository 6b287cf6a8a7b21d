"""Subscribing webhook endpoints, unsubscribing them, and sending one a test event."""
from __future__ import annotations

import json

from core.commands import CreateWebhook, DeleteWebhook, SendTestEvent
from core.dependencies import Deps
from core.errors import FieldError, InvalidInput, NotFound, Problem
from core.feed import rfc3339
from core.input_rules import TextRules
from core.ports import SendResult, WebhookMessage
from core.webhooks import (
    DELIVERY_TIMEOUT_SECONDS, MAX_WEBHOOKS_PER_ORG, TEST_EVENT, Webhook, check_events, check_url, new_secret,
)


def create_webhook(cmd: CreateWebhook, deps: Deps) -> Webhook:
    """A new endpoint of the org, sent the events committed from now on; its secret is in the answer."""
    texts = TextRules()
    texts.storable(cmd.url, "url")
    texts.description(cmd.description, "description")
    texts.raise_if_any()
    events = check_events(cmd.events)
    check_url(cmd.url, deps.url_policy, deps.sender.resolve)
    with deps.uow() as uow:
        if uow.webhooks.count(cmd.caller.org) >= MAX_WEBHOOKS_PER_ORG:
            raise InvalidInput(f"An organisation has at most {MAX_WEBHOOKS_PER_ORG} webhooks",
                               [FieldError("url", Problem.INVALID, "too many webhooks")])
        webhook = Webhook(id=deps.ids.new(), org=cmd.caller.org, url=cmd.url, events=events, secret=new_secret(),
                          created_at=deps.clock.now(), description=cmd.description,
                          after_seq=uow.events.bounds(cmd.caller.org).last)
        uow.webhooks.add(webhook)
        uow.commit()
    return webhook


def delete_webhook(cmd: DeleteWebhook, deps: Deps) -> None:
    with deps.uow() as uow:
        if not uow.webhooks.delete(cmd.caller.org, cmd.webhook_id):
            raise NotFound(f"Webhook {cmd.webhook_id} not found")
        uow.commit()


def test_webhook(cmd: SendTestEvent, deps: Deps) -> SendResult:
    with deps.uow(write=False) as uow:
        webhook = uow.webhooks.get(cmd.caller.org, cmd.webhook_id)
    if webhook is None:
        raise NotFound(f"Webhook {cmd.webhook_id} not found")
    addresses = check_url(webhook.url, deps.url_policy, deps.sender.resolve)
    now = deps.clock.now()
    event = {"id": str(deps.ids.new()), "type": TEST_EVENT, "occurredAt": rfc3339(now), "data": {}}
    message = WebhookMessage(webhook.url, addresses, event["id"], now, json.dumps(event).encode(), webhook.secret)
    return deps.sender.send(message, DELIVERY_TIMEOUT_SECONDS)
