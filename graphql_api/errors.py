"""The one place where errors become GraphQL errors (`extensions.code`), and are logged.

Mapping of the core's errors:

| core error                                   | code                    | message                 |
| -------------------------------------------- | ----------------------- | ----------------------- |
| NotFound                                     | NOT_FOUND               | the error's             |
| UnsupportedImageType                         | BAD_USER_INPUT          | `file type error`       |
| InvalidInput, UploadRejected, ...MediaType   | BAD_USER_INPUT          | the error's             |
| RequestKeyReused (an Idempotency-Key)        | BAD_USER_INPUT          | a fixed one             |
| InvalidState (e.g. deleting a published one) | BAD_USER_INPUT          | the error's             |
| Unauthenticated                              | UNAUTHENTICATED         | the error's             |
| Conflict (a concurrent change won, or a copy | CONFLICT                | the error's             |
|   of the request is still being answered)    |                         |                         |
| CursorExpired (a feed cursor too old)        | BAD_USER_INPUT          | the error's             |
| AnswerNotKept (a retried mutation was done   | ALREADY_DONE            | the error's             |
|   already, its answer too large to keep)     |                         |                         |
| Unavailable (database or storage down, slow) | SERVICE_UNAVAILABLE     | a fixed, generic one    |
| RateLimited (the org's RATE_LIMIT is spent)  | RATE_LIMITED            | the error's             |
| anything else (a bug)                        | INTERNAL_SERVER_ERROR   | `Internal server error` |

CONFLICT, SERVICE_UNAVAILABLE and RATE_LIMITED (HTTP 429 with Retry-After) also carry
`extensions.retryable: true`: the same request may succeed when sent again (with the same Idempotency-Key,
a mutation is still done only once). By code alone a client tells "try again" (those three) from "fix your request" (BAD_USER_INPUT, NOT_FOUND,
UNAUTHENTICATED) from "our bug" (INTERNAL_SERVER_ERROR).

InvalidState is a BAD_USER_INPUT (not FAILED_PRECONDITION): the caller fixes it by changing what
they ask for (unpublish first), and clients already handle that code. GraphQL's own request errors
(syntax, validation, query depth, variable coercion) are BAD_USER_INPUT as well. Errors never carry
a stack trace: `debug` is ignored.
"""
from __future__ import annotations

import logging
import re
from typing import Any

from graphql import GraphQLError

from core.errors import (
    AnswerNotKept, Conflict, CursorExpired, GatewayError, InvalidInput, InvalidState, NotFound, RateLimited,
    RequestKeyReused,
    Unauthenticated, Unavailable, UnsupportedImageType,
)

log = logging.getLogger("graphql_api")

BAD_USER_INPUT = "BAD_USER_INPUT"
NOT_FOUND = "NOT_FOUND"
UNAUTHENTICATED = "UNAUTHENTICATED"
CONFLICT = "CONFLICT"
ALREADY_DONE = "ALREADY_DONE"
SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
RATE_LIMITED = "RATE_LIMITED"
INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"
RETRYABLE = frozenset({CONFLICT, SERVICE_UNAVAILABLE, RATE_LIMITED})

# HTTP statuses of errors answered before execution (no GraphQL result to carry them in a 200).
_HTTP_STATUS = {BAD_USER_INPUT: 400, UNAUTHENTICATED: 401, NOT_FOUND: 404, CONFLICT: 409, ALREADY_DONE: 409,
                SERVICE_UNAVAILABLE: 503, RATE_LIMITED: 429, INTERNAL_SERVER_ERROR: 500}

INTERNAL_MESSAGE = "Internal server error"
FILE_TYPE_ERROR = "file type error"


def not_exist(field: str) -> NotFound:
    """The GraphQL source's error for an id that names nothing the caller may see."""
    return NotFound(f"input.{field} is not exist")


# graphql-core quotes a refused variable's value in its message, and shows an object it does not know (an
# uploaded file, placed in the variables by the multipart reader) by its Python class: say what it is.
_UPLOAD_IN_A_MESSAGE = "<FileStorage instance>"
_UPLOAD_IN_WORDS = "<an uploaded file>"


def _in_words(message: str) -> str:
    return message.replace(_UPLOAD_IN_A_MESSAGE, _UPLOAD_IN_WORDS)


def _original(error: BaseException) -> BaseException | None:
    while isinstance(error, GraphQLError):
        if error.original_error is None:
            return None
        error = error.original_error
    return error


def classify(error: GraphQLError) -> tuple[str, str, bool]:
    """(code, message, unexpected) for an error raised while answering a request."""
    original = _original(error)
    if original is None:
        if error.path is not None:
            # graphql-core failed to complete a value it was given (e.g. null for a non-null field):
            # a bug on our side, not a problem with the request.
            return INTERNAL_SERVER_ERROR, INTERNAL_MESSAGE, True
        return BAD_USER_INPUT, _in_words(error.message), False
    if error.path is None and isinstance(original, (ValueError, TypeError)) and not isinstance(original, GatewayError):
        # A variable refused by a scalar's parser (e.g. an Upload that is not a file part): graphql-core's
        # message names the variable and quotes the parser's reason.
        return BAD_USER_INPUT, _in_words(error.message), False
    if isinstance(original, UnsupportedImageType):
        return BAD_USER_INPUT, FILE_TYPE_ERROR, False
    if isinstance(original, RequestKeyReused):
        return BAD_USER_INPUT, "This Idempotency-Key was used for a different request; send a new one", False
    if isinstance(original, NotFound):
        return NOT_FOUND, original.message, False
    if isinstance(original, (InvalidInput, InvalidState)):
        return BAD_USER_INPUT, _input_message(original), False
    if isinstance(original, Unauthenticated):
        return UNAUTHENTICATED, original.message, False
    if isinstance(original, Conflict):
        return CONFLICT, original.message, False
    if isinstance(original, AnswerNotKept):
        return ALREADY_DONE, original.message, False
    if isinstance(original, CursorExpired):
        return BAD_USER_INPUT, original.message, False
    if isinstance(original, RateLimited):
        return RATE_LIMITED, original.message, False
    if isinstance(original, Unavailable):
        # Its message may name hosts or driver details: not for clients.
        return SERVICE_UNAVAILABLE, "A backing service is unavailable; retry later", False
    if isinstance(original, GatewayError):
        return INTERNAL_SERVER_ERROR, original.message, False
    return INTERNAL_SERVER_ERROR, INTERNAL_MESSAGE, True


# The core's names of the input fields its text rules check, as this API's input names them.
_INPUT_FIELDS = {"name": "name", "external_id": "externalId", "description": "description"}
_ONE_IMAGE = re.compile(r"^images\[\d+\]\.")
"""updateImage changes one image: the core's `images[0].description` is its `input.description`."""


def _input_message(error: GatewayError) -> str:
    """The error's message, or for the core's text rules `input.<field> <what is wrong>`, as the GraphQL
    source words its input errors."""
    fields = [_ONE_IMAGE.sub("", e.target) for e in error.errors if not e.upload]
    if not error.errors or not all(field in _INPUT_FIELDS for field in fields):
        return error.message
    return "; ".join(f"input.{_INPUT_FIELDS[field]} {e.message}" for field, e in zip(fields, error.errors))


def format_error(error: GraphQLError, debug: bool = False) -> dict[str, Any]:
    """Ariadne's `error_formatter`: message, locations, path and `extensions.code`, nothing else."""
    code, message, _ = classify(error)
    formatted: dict[str, Any] = {"message": message}
    if error.locations:
        formatted["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
    if error.path is not None:
        formatted["path"] = list(error.path)
    extensions: dict[str, Any] = {"code": code}
    if code in RETRYABLE:
        extensions["retryable"] = True
    formatted["extensions"] = extensions
    return formatted


def error_body(message: str, code: str) -> dict[str, Any]:
    """A response body for an error answered before GraphQL execution (HTTP 400/401/413/500)."""
    extensions: dict[str, Any] = {"code": code}
    if code in RETRYABLE:
        extensions["retryable"] = True
    return {"errors": [{"message": message, "extensions": extensions}]}


def core_error_answer(error: GatewayError) -> tuple[dict[str, Any], int]:
    """A core error raised before execution (reading the request, the Idempotency-Key's record): the
    body and HTTP status, by the same table as errors raised by resolvers."""
    code, message, _ = classify(GraphQLError(error.message, original_error=error))
    if isinstance(error, Unavailable):
        log.warning("GraphQL outage before execution: %s", error.message, exc_info=error)
    return error_body(message, code), _HTTP_STATUS.get(code, 500)


class ErrorLog(logging.LoggerAdapter):
    """Given to Ariadne as its `logger`: it logs every error it reports with `logger.error(error,
    exc_info=error)`. Expected errors (bad input, missing ids) are not server faults; only
    unexpected ones are logged as errors, with their traceback."""

    def __init__(self) -> None:
        super().__init__(log, {})

    def error(self, msg: Any, *args: Any, **kwargs: Any) -> None:  # noqa: D102
        exc = kwargs.get("exc_info")
        if isinstance(exc, GraphQLError):
            code, _, unexpected = classify(exc)
            original = _original(exc) or exc
            if unexpected:
                self.logger.error("GraphQL request failed at %s: %r", exc.path, original,
                                  exc_info=(type(original), original, original.__traceback__))
            elif isinstance(original, Unavailable):
                # An outage: operators need the driver's words, which the client was not given.
                self.logger.warning("GraphQL outage at %s: %s", exc.path, original.message, exc_info=original)
            else:
                self.logger.info("GraphQL error %s: %s", code, exc.message)
            return
        self.logger.error(msg, *args, **kwargs)
