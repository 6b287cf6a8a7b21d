"""The one place where failures become the REST error envelope.

Every error answer is `{"errorCode", "message", "description"?, "errors"?: [{"target", "errorCode",
"message"}]}`: core errors, request validation (webargs), Flask's own HTTP errors (unknown path,
wrong method, body too large) and unexpected exceptions alike. Never HTML, never a stack trace.
"""
from __future__ import annotations

import logging
import re
from typing import Any, Iterator

import marshmallow as ma
from flask import Flask, request
from werkzeug.exceptions import HTTPException

from core.errors import (
    AnswerNotKept, Conflict, CursorExpired, FieldError, GatewayError, InvalidInput, InvalidQuery, InvalidState,
    NotFound, Problem, RateLimited, RequestKeyReused, Unauthenticated, Unavailable, UnsupportedMediaType,
)
from rest_api.schemas import REQUEST_ID_HEADER

log = logging.getLogger(__name__)

ErrorResponse = tuple[dict[str, Any], int, list[tuple[str, str]]]

BAD_REQUEST_PARAMETERS = "BAD_REQUEST_PARAMETERS"
BAD_REQUEST_BODY = "BAD_REQUEST_BODY"
VALUE_REQUIRED = "VALUE_REQUIRED"
INVALID_TYPE = "INVALID_TYPE"
TECHNICAL_ERROR = "TECHNICAL_ERROR"

# Most specific class first: UnsupportedMediaType and UploadRejected are InvalidInputs.
_CORE_ERRORS: tuple[tuple[type[GatewayError], int, str], ...] = (
    (RequestKeyReused, 400, BAD_REQUEST_PARAMETERS),  # the Request-ID header names another request
    (Unauthenticated, 401, "UNAUTHORIZED"),
    (NotFound, 404, "INVALID_ID"),
    (UnsupportedMediaType, 415, "UNSUPPORTED_MEDIA_TYPE"),
    (InvalidQuery, 400, BAD_REQUEST_PARAMETERS),
    (InvalidInput, 400, BAD_REQUEST_BODY),
    (InvalidState, 400, "INVALID_STATUS"),
    # The contract names no code for this; 409 tells the client that retrying may succeed.
    (Conflict, 409, "CONFLICT"),
    (AnswerNotKept, 409, "ALREADY_DONE"),  # retrying never helps: the write was done once
    (CursorExpired, 410, "CURSOR_EXPIRED"),
    (RateLimited, 429, "TOO_MANY_REQUESTS"),  # CONTRACT §12
    (Unavailable, 503, "SERVICE_UNAVAILABLE"),
)

# For HTTP errors raised outside our views (routing, body size) or by the parser.
_HTTP_CODES = {
    400: BAD_REQUEST_PARAMETERS,
    401: "UNAUTHORIZED",
    404: "INVALID_ID",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    410: "GONE",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    500: TECHNICAL_ERROR,
    503: "SERVICE_UNAVAILABLE",
}

# webargs' body location; any other location (query, path, headers) is a parameter.
_BODY_LOCATIONS = frozenset({"json"})

# The core's words, as this API says them: what is wrong, and the fields it is wrong with.
_PROBLEM_CODES = {Problem.UNKNOWN: "INVALID_ID", Problem.MISSING: VALUE_REQUIRED, Problem.WRONG_TYPE: INVALID_TYPE,
                  Problem.INVALID: BAD_REQUEST_BODY}
_QUERY_PROBLEM_CODES = {**_PROBLEM_CODES, Problem.INVALID: BAD_REQUEST_PARAMETERS}
_FIELD_NAMES = {"uploads": "uploadedImages", "images": "realtyImages", "original_file_name": "originalFileName",
                "source": "sourceRealtyId", "content_type": "type"}
_FIELD = re.compile(r"[a-z_]+")

MAX_LISTED_ERRORS = 200
"""errors[] holds at most this many entries: one per item of the largest valid batch. A body of a
million unknown members must not become a response a hundred times its size."""


def error_body(code: str, message: str, *, description: str | None = None,
               errors: list[dict[str, str]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"errorCode": code, "message": message}
    if description:
        body["description"] = description
    if errors:
        body["errors"] = errors
    return body


def core_error_response(error: GatewayError) -> ErrorResponse:
    """Translate an error the core raised on purpose."""
    for error_class, status, code in _CORE_ERRORS:
        if isinstance(error, error_class):
            break
    else:
        # A GatewayError nobody mapped is a gap in this table, not the caller's fault.
        return unexpected_error_response(error)
    codes = _QUERY_PROBLEM_CODES if isinstance(error, InvalidQuery) else _PROBLEM_CODES
    errors = [{"target": _target(e), "errorCode": codes[e.problem], "message": e.message} for e in error.errors]
    headers = [("WWW-Authenticate", "Bearer")] if status == 401 else []
    if isinstance(error, RateLimited):
        headers.append(("Retry-After", str(error.retry_after)))
    message = error.message
    if isinstance(error, RequestKeyReused):
        message = "This Request-ID was used for a different request (another operation or body); send a new one"
        errors = [{"target": REQUEST_ID_HEADER, "errorCode": BAD_REQUEST_PARAMETERS, "message": "already used"}]
    if isinstance(error, Unavailable):
        # The driver's words (in the cause) name hosts, ports, paths or databases: for operators, not callers.
        log.warning("503 on %s %s (Request-ID %s): %s", request.method, request.path,
                    request.headers.get(REQUEST_ID_HEADER), error.message, exc_info=error)
        message = "A backing service is unavailable; retry later"
    return error_body(code, message, errors=errors), status, headers


def _target(error: FieldError) -> str:
    """A core field path in this API's names (`uploads[0].original_file_name` is
    `uploadedImages[0].originalFileName`); an upload key stays as the client sent it."""
    if error.upload:
        return error.target
    return _FIELD.sub(lambda name: _FIELD_NAMES.get(name.group(), name.group()), error.target)


def http_error_response(error: HTTPException) -> ErrorResponse:
    """Translate an HTTPException: webargs validation failures, the parser's 415, Flask's 404/405/413..."""
    data = getattr(error, "data", None) or {}
    if "messages" in data:
        return _validation_error_response(data["messages"])
    status = error.code or 500
    if status >= 500:
        original = getattr(error, "original_exception", None)
        log.error("%s on %s %s (Request-ID %s)", status, request.method, request.path,
                  request.headers.get(REQUEST_ID_HEADER), exc_info=original)
    code = _HTTP_CODES.get(status) or error.name.upper().replace(" ", "_")
    # Keep what the exception says about itself (Allow on 405, WWW-Authenticate), not its HTML type.
    headers = [(k, v) for k, v in error.get_headers() if k.lower() != "content-type"]
    return error_body(code, data.get("message") or error.name, description=error.description), status, headers


def unexpected_error_response(error: BaseException) -> ErrorResponse:
    """Anything nobody expected: logged with its trace, answered without it."""
    request_id = request.headers.get(REQUEST_ID_HEADER)
    log.error("Unhandled error on %s %s (Request-ID %s)", request.method, request.path, request_id,
              exc_info=error)
    description = f"Quote Request-ID {request_id} when reporting this." if request_id else None
    return error_body(TECHNICAL_ERROR, "An unexpected error occurred", description=description), 500, []


def register_app_handlers(app: Flask) -> None:
    """App-wide: so that no route, ours or not, ever answers with Flask's HTML error page.

    HTTPExceptions are handled by the Api (see rest_api.RestApi); this catches the rest.
    """
    app.register_error_handler(Exception, unexpected_error_response)


# --- validation errors ------------------------------------------------------------------------

def _validation_error_response(messages: dict[str, Any]) -> ErrorResponse:
    in_body = any(location in _BODY_LOCATIONS for location in messages)
    code = BAD_REQUEST_BODY if in_body else BAD_REQUEST_PARAMETERS
    errors = []
    for location, detail in messages.items():
        root = "body" if location in _BODY_LOCATIONS else location
        for target, text in _flatten(detail):
            errors.append({"target": target or root, "errorCode": _field_code(text, code), "message": text})
    message = "The request body is invalid" if in_body else "A request parameter is invalid"
    unlisted = len(errors) - MAX_LISTED_ERRORS
    description = f"{unlisted} further errors are not listed." if unlisted > 0 else None
    return error_body(code, message, description=description, errors=errors[:MAX_LISTED_ERRORS]), 400, []


def _flatten(messages: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """marshmallow's nested messages as (target, message): `uploadedImages[0].key`."""
    if isinstance(messages, dict):
        for key, value in messages.items():
            if key == ma.exceptions.SCHEMA:
                sub = path
            elif isinstance(key, int):
                sub = f"{path}[{key}]"
            else:
                sub = f"{path}.{key}" if path else str(key)
            yield from _flatten(value, sub)
    elif isinstance(messages, (list, tuple)):
        for item in messages:
            if isinstance(item, (dict, list, tuple)):
                yield from _flatten(item, path)
            else:
                yield path, str(item)
    else:
        yield path, str(messages)


def _default_messages(keys: tuple[str, ...]) -> frozenset[str]:
    """marshmallow's stock messages for these error keys, across every field class and Schema.

    Read from marshmallow itself rather than copied, so the codes follow its wording.
    """
    found: set[str] = set()
    pending: list[type] = [ma.fields.Field]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        messages = cls.__dict__.get("default_error_messages", {})
        found.update(messages[k] for k in keys if k in messages and "{" not in messages[k])
    schema_messages = ma.Schema._default_error_messages
    found.update(schema_messages[k] for k in keys if k in schema_messages)
    return frozenset(found)


_REQUIRED_MESSAGES = _default_messages(("required",))
_TYPE_MESSAGES = _default_messages(("invalid", "invalid_uuid", "type", "null"))


def _field_code(message: str, fallback: str) -> str:
    if message in _REQUIRED_MESSAGES:
        return VALUE_REQUIRED
    if message in _TYPE_MESSAGES:
        return INVALID_TYPE
    return fallback
