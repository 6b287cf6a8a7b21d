"""Request parsing as the contract wants it: validation failures are 400 (not webargs' 422), and a
body that is not JSON is 415 instead of being silently ignored."""
from __future__ import annotations

from typing import Any

import flask
from flask_smorest import Blueprint
from webargs import core
from webargs.flaskparser import FlaskParser, abort, is_json_request
from werkzeug.routing import BaseConverter

MAX_JSON_BODY = 8 * 1024 * 1024
"""Largest REST request body. The biggest valid one (200 items with 4,000-character descriptions,
every character \\u-escaped) stays below 5 MiB; this only keeps a client from making us buffer more."""


class RestParser(FlaskParser):
    DEFAULT_VALIDATION_STATUS = 400

    def _raw_load_json(self, req: flask.Request) -> Any:
        if not is_json_request(req):
            # webargs would treat a form or text body as "no body" and report missing fields instead.
            if req.content_length or req.headers.get("Transfer-Encoding"):
                abort(415, message="The request body must be application/json")
            return core.missing
        return core.parse_json(req.get_data(cache=True))


class RestBlueprint(Blueprint):
    ARGUMENTS_PARSER = RestParser()


def limit_request_body() -> None:
    """A before_request hook: reading more than MAX_JSON_BODY answers 413 (Flask >= 3.1: per request)."""
    flask.request.max_content_length = MAX_JSON_BODY


class UuidSegment(BaseConverter):
    """A path segment documented as a UUID but matched as any text.

    werkzeug's own `uuid` converter would make a malformed id "no such route" (404); the contract wants
    400 BAD_REQUEST_PARAMETERS, so the views validate the segment (`location="path"` arguments) instead.
    """

    NAME = "uuid_segment"


def uuid_segment_schema(converter: BaseConverter) -> dict[str, str]:
    return {"type": "string", "format": "uuid"}
