"""The core's error hierarchy and its words for what is wrong with an input. Each facade translates
them once, at its edge, into its own codes and field names."""
from __future__ import annotations

import enum
from dataclasses import dataclass


class Problem(str, enum.Enum):
    """What is wrong with one part of an input."""

    UNKNOWN = "UNKNOWN"
    """It names nothing the caller may use: an id, or an upload key never granted to them."""
    MISSING = "MISSING"
    """Something required is not there: a field, or the upload a key was granted for."""
    WRONG_TYPE = "WRONG_TYPE"
    """It is not of a type accepted there: a content type, or a file's real type."""
    INVALID = "INVALID"
    """It breaks a rule: too long, too many, listed twice, already used, expired..."""


@dataclass(frozen=True)
class FieldError:
    """One reason an input was refused, pinned to the part of it that is wrong.

    `target` is a field path in the core's words (`uploads[3].description`, `source`, `hero`), or, with
    `upload`, the key the caller named an uploaded object by.
    """

    target: str
    problem: Problem
    message: str
    upload: bool = False


class GatewayError(Exception):
    """Base of every error the core raises on purpose."""

    def __init__(self, message: str, errors: list[FieldError] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors: list[FieldError] = list(errors or [])


class Unauthenticated(GatewayError):
    """No usable credential."""


class NotFound(GatewayError):
    """The object does not exist for this caller (missing, or owned by another org)."""


class InvalidInput(GatewayError):
    """The request is well-formed but breaks a rule; `errors` says which part."""


class InvalidQuery(InvalidInput):
    """What to read is asked for wrongly (a feed cursor, a page size), rather than what to write."""


class UploadRejected(InvalidInput):
    """An uploaded object failed verification (grant, existence, type, limits)."""


class UnsupportedImageType(UploadRejected):
    """The bytes are not an image of an accepted type."""


class UnsupportedMediaType(InvalidInput):
    """A declared content type is not one we accept."""


class RequestKeyReused(InvalidInput):
    """A write's idempotency key was already used, by the same org, for a different request."""


class CursorExpired(GatewayError):
    """A change feed cursor older than the events kept: what happened after it cannot be told any more."""


class InvalidState(GatewayError):
    """The object's state forbids the operation (for example: deleting a published image)."""


class AnswerNotKept(GatewayError):
    """A retried write was done already, but its answer was too large to keep: the caller reads the result."""


class Conflict(GatewayError):
    """A concurrent change won; retrying may succeed."""


class RateLimited(GatewayError):
    """The caller's org has spent its requests for now (RATE_LIMIT); `retry_after` seconds until it may again."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unavailable(GatewayError):
    """A backing service (database, storage) does not answer."""


class TimedOut(Unavailable):
    """A backing service did not answer within the backend timeout: a call made now would most likely
    wait as long again, so clean-up that needs it is left for later (gc)."""

