"""Webhook endpoints over REST (CONTRACT §10): subscribe, list, read, delete, test, and the delivery log."""
from __future__ import annotations

from typing import Any
from uuid import UUID

from core.api import CoreApi
from core.commands import CreateWebhook, DeleteWebhook, SendTestEvent
from core.errors import GatewayError
from core.ports import Authenticator
from core.webhooks import Attempt, Webhook
from rest_api.auth import authenticate_request, current_caller
from rest_api.documenting import COMMON_ERRORS, ECHOED_REQUEST_ID, documents_errors
from rest_api.errors import core_error_response
from rest_api.event_schemas import (
    CreatedWebhookSchema, DeliveriesSchema, TestEventResultSchema, WebhookPath, WebhookRequest,
    WebhookSchema, WebhooksSchema,
)
from rest_api.idempotency import once_per_request_id
from rest_api.parsing import RestBlueprint, limit_request_body
from rest_api.schemas import EmptySchema, OptionalRequestIdHeader, RequestIdHeader


def create_webhooks_blueprint(core: CoreApi, authenticator: Authenticator) -> RestBlueprint:
    hooks = RestBlueprint("Webhooks", __name__, description=(
        "Endpoints the organisation's events are POSTed to, signed as Standard Webhooks says (headers "
        "webhook-id, webhook-timestamp, webhook-signature; verify them with the secret shown at creation). "
        "A 2xx answer within 10 s is delivered; anything else is tried again after about 5 s, 5 min, 30 min, "
        "2 h, 5 h, 10 h and 10 h, then given up. An endpoint failing every attempt for 5 days is disabled."))
    hooks.before_request(limit_request_body)
    hooks.before_request(authenticate_request(authenticator))
    hooks.register_error_handler(GatewayError, core_error_response)
    bus, views = core.bus, core.views
    once = once_per_request_id(core.writes)

    @hooks.route("/webhooks", methods=["POST"])
    @once
    @hooks.arguments(RequestIdHeader, location="headers", as_kwargs=True)
    @hooks.arguments(WebhookRequest)
    @hooks.response(201, CreatedWebhookSchema, headers=ECHOED_REQUEST_ID)
    @documents_errors(hooks, (*COMMON_ERRORS, 409, 413, 415))
    def create(body: dict[str, Any]) -> dict[str, Any]:
        """Subscribe an endpoint

        It is sent the events committed from now on (of the listed types, or all). The answer holds its
        signing `secret`, which is never shown again.
        """
        webhook = bus.handle(CreateWebhook(current_caller(), body["url"], body["events"], body["description"]))
        return {**webhook_item(webhook), "secret": webhook.secret}

    @hooks.route("/webhooks", methods=["GET"])
    @hooks.arguments(OptionalRequestIdHeader, location="headers", as_kwargs=True)
    @hooks.response(200, WebhooksSchema, headers=ECHOED_REQUEST_ID)
    @documents_errors(hooks, COMMON_ERRORS)
    def list_webhooks() -> dict[str, Any]:
        """The organisation's endpoints"""
        return {"webhooks": [webhook_item(w) for w in views.webhooks(current_caller())]}

    @hooks.route("/webhooks/<uuid:webhookId>", methods=["GET"])
    @hooks.arguments(OptionalRequestIdHeader, location="headers", as_kwargs=True)
    @hooks.arguments(WebhookPath, location="path", as_kwargs=True)
    @hooks.response(200, WebhookSchema, headers=ECHOED_REQUEST_ID)
    @documents_errors(hooks, (*COMMON_ERRORS, 404))
    def get_webhook(webhookId: UUID) -> dict[str, Any]:
        """One endpoint"""
        return webhook_item(views.webhook(current_caller(), webhookId))

    @hooks.route("/webhooks/<uuid:webhookId>", methods=["DELETE"])
    @once
    @hooks.arguments(RequestIdHeader, location="headers", as_kwargs=True)
    @hooks.arguments(WebhookPath, location="path", as_kwargs=True)
    @hooks.response(200, EmptySchema, headers=ECHOED_REQUEST_ID)
    @documents_errors(hooks, (*COMMON_ERRORS, 404, 409))
    def delete_webhook(webhookId: UUID) -> dict[str, Any]:
        """Unsubscribe an endpoint: nothing more is sent to it."""
        bus.handle(DeleteWebhook(current_caller(), webhookId))
        return {}

    @hooks.route("/webhooks/<uuid:webhookId>/test", methods=["POST"])
    @hooks.arguments(RequestIdHeader, location="headers", as_kwargs=True)
    @hooks.arguments(WebhookPath, location="path", as_kwargs=True)
    @hooks.response(200, TestEventResultSchema, headers=ECHOED_REQUEST_ID)
    @documents_errors(hooks, (*COMMON_ERRORS, 404))
    def test_webhook(webhookId: UUID) -> dict[str, Any]:
        """Send a test event

        POSTs a `webhook.test` event (empty `data`) to the endpoint now, signed like every delivery, and
        answers how the endpoint answered.
        """
        result = bus.handle(SendTestEvent(current_caller(), webhookId))
        return {"delivered": result.delivered, "statusCode": result.status_code, "durationMs": result.duration_ms,
                "error": result.error}

    @hooks.route("/webhooks/<uuid:webhookId>/deliveries", methods=["GET"])
    @hooks.arguments(OptionalRequestIdHeader, location="headers", as_kwargs=True)
    @hooks.arguments(WebhookPath, location="path", as_kwargs=True)
    @hooks.response(200, DeliveriesSchema, headers=ECHOED_REQUEST_ID)
    @documents_errors(hooks, (*COMMON_ERRORS, 404))
    def deliveries(webhookId: UUID) -> dict[str, Any]:
        """The delivery log

        The latest attempts (at most 100), newest first: the event, how the endpoint answered, how long it
        took, and when a failed event is tried again.
        """
        return {"deliveries": [attempt_item(a) for a in views.delivery_log(current_caller(), webhookId)]}

    return hooks


def webhook_item(webhook: Webhook) -> dict[str, Any]:
    return {"id": webhook.id, "url": webhook.url, "events": list(webhook.events), "description": webhook.description,
            "createdAt": webhook.created_at, "disabled": webhook.disabled_at is not None,
            "disabledAt": webhook.disabled_at, "disabledReason": webhook.disabled_reason,
            "failingSince": webhook.failing_since}


def attempt_item(attempt: Attempt) -> dict[str, Any]:
    return {"eventId": attempt.event_id, "eventType": attempt.event_type, "attempt": attempt.attempt,
            "at": attempt.at, "statusCode": attempt.status_code, "durationMs": attempt.duration_ms,
            "error": attempt.error, "state": attempt.state.value, "nextAttemptAt": attempt.next_attempt_at}
