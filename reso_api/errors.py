"""The Media resource's one error table: the core's errors and refused options as OData's error shape,
`{"error": {"code", "message", "target"?}}`."""
from __future__ import annotations

import json
import logging

from flask import Response
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from core.errors import GatewayError, InvalidInput, NotFound, Unauthenticated, Unavailable
from reso_api.query import QueryRefused

log = logging.getLogger(__name__)

_CORE_ERRORS: tuple[tuple[type[GatewayError], int, str], ...] = (
    (Unauthenticated, 401, "Unauthorized"),
    (InvalidInput, 400, "BadRequest"),
    (NotFound, 404, "NotFound"),
    (Unavailable, 503, "ServiceUnavailable"),
)


def error_response(status: int, code: str, message: str, target: str | None = None) -> Response:
    error = {"code": code, "message": message, **({"target": target} if target else {})}
    response = Response(json.dumps({"error": error}), status=status, mimetype="application/json")
    response.headers["OData-Version"] = "4.0"
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="reso"'
    return response


def refused(exc: QueryRefused) -> Response:
    return error_response(400, "BadRequest", exc.message, exc.target)


def core_error(exc: GatewayError) -> Response:
    for kind, status, code in _CORE_ERRORS:
        if isinstance(exc, kind):
            target = exc.errors[0].target if isinstance(exc, InvalidInput) and exc.errors else None
            return error_response(status, code, exc.message, target)
    return unexpected(exc)


def http_error(exc: HTTPException) -> Response:
    response = error_response(exc.code or 500, exc.name.replace(" ", ""), exc.description or exc.name)
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    return response


def unexpected(exc: Exception) -> Response:
    log.error("RESO request failed", exc_info=exc)
    return error_response(500, "InternalServerError", "The request could not be answered; it was logged")
