"""Webhooks over GraphQL (CONTRACT §10): `webhooks`, `createWebhook`, `deleteWebhook`."""
from __future__ import annotations

from typing import Any

from ariadne import ObjectType

from core.commands import CreateWebhook, DeleteWebhook
from core.input_rules import parse_uuid
from core.webhooks import DELIVERY_LOG_PAGE
from graphql_api.errors import not_exist
from graphql_api.resolvers.mutations import missing_as, mutation
from graphql_api.resolvers.queries import query

webhook_type = ObjectType("Webhook")
attempt_type = ObjectType("WebhookAttempt")


@query.field("webhooks")
def resolve_webhooks(_root, info):
    return info.context.core.views.webhooks(info.context.caller)


@mutation.field("createWebhook")
def resolve_create_webhook(_root, info, input: dict[str, Any]):
    ctx = info.context
    webhook = ctx.handle(CreateWebhook(ctx.caller, input["url"], input.get("events"), input.get("description")))
    return {"webhook": webhook, "secret": webhook.secret}


@mutation.field("deleteWebhook")
def resolve_delete_webhook(_root, info, input: dict[str, Any]):
    ctx = info.context
    webhook_id = parse_uuid(input["id"])
    if webhook_id is None:
        raise not_exist("id")
    with missing_as("id"):
        ctx.handle(DeleteWebhook(ctx.caller, webhook_id))
    return {"success": True}


@webhook_type.field("disabled")
def resolve_disabled(webhook, _info):
    return webhook.disabled_at is not None


@webhook_type.field("deliveries")
def resolve_deliveries(webhook, info, first: int):
    return info.context.core.views.delivery_log(info.context.caller, webhook.id, max(0, min(first, DELIVERY_LOG_PAGE)))


for graphql_name, attribute in {"createdAt": "created_at", "disabledAt": "disabled_at",
                                "disabledReason": "disabled_reason", "failingSince": "failing_since"}.items():
    webhook_type.set_alias(graphql_name, attribute)
for graphql_name, attribute in {"eventId": "event_id", "eventType": "event_type", "statusCode": "status_code",
                                "durationMs": "duration_ms", "nextAttemptAt": "next_attempt_at"}.items():
    attempt_type.set_alias(graphql_name, attribute)


@attempt_type.field("state")
def resolve_state(attempt, _info):
    return attempt.state.value


bindables = [webhook_type, attempt_type]
