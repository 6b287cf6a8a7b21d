"""The change feed over REST (CONTRACT §10): GET /events."""
from __future__ import annotations

from typing import Any

from core.api import CoreApi
from core.errors import GatewayError
from core.ports import Authenticator
from rest_api.auth import authenticate_request, current_caller
from rest_api.documenting import COMMON_ERRORS, ECHOED_REQUEST_ID, documents_errors
from rest_api.errors import core_error_response
from rest_api.event_schemas import EventPageSchema, EventsQuery
from rest_api.parsing import RestBlueprint, limit_request_body
from rest_api.schemas import OptionalRequestIdHeader


def create_events_blueprint(core: CoreApi, authenticator: Authenticator) -> RestBlueprint:
    events = RestBlueprint("Events", __name__, description=(
        "Every change to the organisation's images, oldest first: image.created, image.processed (READY or "
        "FAILED), image.updated, image.published, image.unpublished, image.deleted. Read on from the `next` "
        "cursor of each page; with `wait` the request is answered as soon as a change is committed."))
    events.before_request(limit_request_body)
    events.before_request(authenticate_request(authenticator))
    events.register_error_handler(GatewayError, core_error_response)

    @events.route("/events", methods=["GET"])
    @events.arguments(OptionalRequestIdHeader, location="headers", as_kwargs=True)
    @events.arguments(EventsQuery, location="query", as_kwargs=True)
    @events.response(200, EventPageSchema, headers=ECHOED_REQUEST_ID)
    @documents_errors(events, (*COMMON_ERRORS, 410))
    def list_events(limit: int, wait: float, after: str | None = None) -> dict[str, Any]:
        """The change feed

        The organisation's events after the cursor `after`, oldest first. A cursor older than the events
        kept (EVENT_RETENTION_DAYS, 7 by default) is 410 CURSOR_EXPIRED. An unchanged page asked again
        answers the same events; nothing is skipped, also while changes are being committed.
        """
        page = core.feed.page(current_caller(), after, limit, wait)
        return {"events": page.events, "next": page.next}

    return events
