"""Request parsing as the contract wants it: validation failures are 400 (not webargs' 422), a body
that is not JSON is 415 instead of being silently ignored, and a JSON body that is ambiguous (a member
named twice), absurdly wide, or that json.loads cannot hold (deep nesting, huge integers) is 400, never
a 500 nor seconds of validation."""
from __future__ import annotations

import json
from typing import Any

import flask
from flask_smorest import Blueprint
from webargs import core
from webargs.flaskparser import FlaskParser, abort, is_json_request
from werkzeug.exceptions import RequestEntityTooLarge
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
        try:
            # UTF-8 only (RFC 8259), as webargs' parse_json; json.loads(bytes) would also guess UTF-16/32.
            return json.loads(request_body().decode("utf-8"), object_pairs_hook=_checked_object)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise  # webargs' load_json reports these, and reads an empty body as "no body"
        except InvalidObject as exc:
            abort(400, exc=exc, messages={"json": [str(exc)]})
        except (RecursionError, ValueError) as exc:
            # What json.loads refuses without a JSONDecodeError: nesting deeper than Python's stack, an
            # integer literal longer than sys.get_int_max_str_digits(). The client's fault, not a 500;
            # answered exactly as webargs answers any other unreadable body.
            abort(400, exc=exc, messages={"json": ["Invalid JSON body."]})


MAX_OBJECT_MEMBERS = 100
"""No object of this API has more than 5 members. Validation costs (and errors[] grows) per unknown
member, so an object with thousands of them is refused before it is validated."""


class InvalidObject(ValueError):
    """A JSON object that names a member twice, or has far more members than any of this API's."""


def _checked_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """json's object_pairs_hook.

    A member named twice is refused: Python keeps the last value silently, other parsers (a proxy's,
    a log reader's) may keep the first, and a request must not mean different things to each.
    """
    if len(pairs) > MAX_OBJECT_MEMBERS:
        raise InvalidObject(f"An object has {len(pairs)} members; at most {MAX_OBJECT_MEMBERS} are read.")
    members: dict[str, Any] = {}
    for name, value in pairs:
        if name in members:
            raise InvalidObject(f"Duplicate member name {name!r}.")
        members[name] = value
    return members


class RestBlueprint(Blueprint):
    ARGUMENTS_PARSER = RestParser()


def limit_request_body() -> None:
    """A before_request hook: reading more than MAX_JSON_BODY answers 413 (Flask >= 3.1: per request)."""
    flask.request.max_content_length = MAX_JSON_BODY


def request_body() -> bytes:
    """The whole body of the current request, read once; RequestEntityTooLarge (413) past MAX_JSON_BODY.

    A chunked body has no Content-Length to check up front, and werkzeug's `get_data()` silently stops
    at `max_content_length`: the cut JSON would be answered as malformed rather than too large.
    Reading on past the limit makes werkzeug's limited stream raise instead.
    """
    body = flask.g.get("rest_request_body")
    if body is None:
        flask.request.max_content_length = MAX_JSON_BODY
        buffer = bytearray()
        while chunk := flask.request.stream.read(64 * 1024):
            buffer += chunk
            if len(buffer) > MAX_JSON_BODY:
                raise RequestEntityTooLarge()
        body = flask.g.rest_request_body = bytes(buffer)
    return body


class UuidSegment(BaseConverter):
    """A path segment documented as a UUID but matched as any text.

    werkzeug's own `uuid` converter would make a malformed id "no such route" (404); the contract wants
    400 BAD_REQUEST_PARAMETERS, so the views validate the segment (`location="path"` arguments) instead.
    """

    NAME = "uuid_segment"


class ImageIdSegment(UuidSegment):
    """An image id segment: like UuidSegment, but never one of the realty routes' action words.

    Otherwise `DELETE /realty/{id}/images/copy` would be a delete of an image with the malformed id
    "copy", and the 405 of `PUT .../copy` would advertise DELETE; this way such requests meet the
    copy (publish, unpublish) route, which answers 405 with the methods it really has.
    """

    NAME = "image_id_segment"
    regex = r"(?!(?:copy|publish|unpublish)$)[^/]+"


def uuid_segment_schema(converter: BaseConverter) -> dict[str, str]:
    return {"type": "string", "format": "uuid"}
