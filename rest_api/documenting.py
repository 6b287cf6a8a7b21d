"""What every REST operation documents besides its own answer: the echoed Request-ID, and the error
answers it may give (each `arguments` documents its own 400)."""
from __future__ import annotations

import http
from typing import Callable

from rest_api.parsing import RestBlueprint
from rest_api.schemas import REQUEST_ID_HEADER

ECHOED_REQUEST_ID = {REQUEST_ID_HEADER: {
    "description": "The request's Request-ID header, echoed (on errors too).",
    "schema": {"type": "string", "format": "uuid"},
}}

COMMON_ERRORS = (401, 429, 500, 503)
"""Error answers every authenticated operation may give (429: the org's RATE_LIMIT is spent)."""


def documents_errors(blp: RestBlueprint, statuses: tuple[int, ...]) -> Callable[[Callable], Callable]:
    """Document error answers with the error schema (flask-smorest's lazily registered responses)."""

    def decorator(func: Callable) -> Callable:
        for status in sorted(statuses, reverse=True):
            func = blp.alt_response(status, response=http.HTTPStatus(status).name)(func)
        return func

    return decorator
