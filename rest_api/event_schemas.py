"""Marshmallow schemas of the change feed and webhooks (CONTRACT §10): shapes only, as in schemas.py."""
from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from core.events import EVENT_TYPES
from core.feed import DEFAULT_PAGE, MAX_PAGE, MAX_WAIT_SECONDS


class EventsQuery(ma.Schema):
    after = fields.String(metadata={"description": "The `next` of the previous page; absent: from the oldest "
                                                   "event kept."})
    limit = fields.Integer(load_default=DEFAULT_PAGE, validate=validate.Range(1, MAX_PAGE), metadata={
        "description": f"Events per page, 1 to {MAX_PAGE}."})
    wait = fields.Float(load_default=0, validate=validate.Range(0, MAX_WAIT_SECONDS), metadata={
        "description": f"Seconds (at most {MAX_WAIT_SECONDS}) to hold the request open until an event newer than "
                       "`after` is committed, when there is none yet (a long poll)."})


class EventDataSchema(ma.Schema):
    realtyId = fields.String(required=True)
    realtyImageId = fields.String(required=True)
    graphqlId = fields.String(required=True)
    image = fields.Dict(metadata={"description": "The image as GET /realty/{realtyId}/images lists it when the "
                                                 "change was committed (URLs signed when read); absent for "
                                                 "image.deleted."})


class EventSchema(ma.Schema):
    id = fields.String(required=True, metadata={"description": "Unique; the webhook-id of its deliveries."})
    type = fields.String(required=True, metadata={"enum": list(EVENT_TYPES)})
    occurredAt = fields.String(required=True, metadata={"description": "RFC 3339, UTC."})
    data = fields.Nested(EventDataSchema, required=True)


class EventPageSchema(ma.Schema):
    events = fields.List(fields.Nested(EventSchema), required=True, metadata={"description": "Oldest first."})
    next = fields.String(required=True, metadata={"description": "The cursor to read on from (`after`)."})


class WebhookRequest(ma.Schema):
    url = fields.String(required=True, metadata={"description": "An https:// URL that resolves to public "
                                                                "addresses (checked again at each delivery)."})
    events = fields.List(fields.String(metadata={"enum": list(EVENT_TYPES)}), validate=validate.Length(max=20),
                         load_default=None, metadata={"description": "The event types to send; absent: all."})
    description = fields.String(allow_none=True, load_default=None)


class WebhookSchema(ma.Schema):
    id = fields.UUID(required=True)
    url = fields.String(required=True)
    events = fields.List(fields.String(), required=True, metadata={"description": "Empty: every type."})
    description = fields.String(allow_none=True, required=True)
    createdAt = fields.DateTime(required=True)
    disabled = fields.Boolean(required=True)
    disabledAt = fields.DateTime(allow_none=True, required=True)
    disabledReason = fields.String(allow_none=True, required=True)
    failingSince = fields.DateTime(allow_none=True, required=True, metadata={
        "description": "Since when every attempt failed; null while the last one succeeded. After 5 days of "
                       "failures the endpoint is disabled."})


class CreatedWebhookSchema(WebhookSchema):
    secret = fields.String(required=True, metadata={
        "description": "The signing secret (`whsec_...`), shown only now: verify each delivery with a Standard "
                       "Webhooks library."})


class WebhooksSchema(ma.Schema):
    webhooks = fields.List(fields.Nested(WebhookSchema), required=True)


class WebhookPath(ma.Schema):
    webhookId = fields.UUID(required=True)


class AttemptSchema(ma.Schema):
    eventId = fields.String(required=True)
    eventType = fields.String(required=True)
    attempt = fields.Integer(required=True, metadata={"description": "1 for the first attempt of the event."})
    at = fields.DateTime(required=True)
    statusCode = fields.Integer(allow_none=True, required=True, metadata={"description": "null: no answer."})
    durationMs = fields.Integer(required=True)
    error = fields.String(allow_none=True, required=True)
    state = fields.String(required=True, metadata={"enum": ["PENDING", "DELIVERED", "FAILED"]})
    nextAttemptAt = fields.DateTime(allow_none=True, required=True, metadata={
        "description": "When the event is tried again (PENDING); null when delivered or given up."})


class DeliveriesSchema(ma.Schema):
    deliveries = fields.List(fields.Nested(AttemptSchema), required=True, metadata={"description": "Newest first."})


class TestEventResultSchema(ma.Schema):
    delivered = fields.Boolean(required=True)
    statusCode = fields.Integer(allow_none=True, required=True)
    durationMs = fields.Integer(required=True)
    error = fields.String(allow_none=True, required=True)
