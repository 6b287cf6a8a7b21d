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
