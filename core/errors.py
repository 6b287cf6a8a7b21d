"""The core's error hierarchy. Each facade translates these once, at its edge."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    """One reason an input was refused, pinned to what the caller sent (`target`)."""

    target: str
    code: str
    message: str


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


class UploadRejected(InvalidInput):
    """An uploaded object failed verification (grant, existence, type, limits)."""


class UnsupportedImageType(UploadRejected):
    """The bytes are not an image of an accepted type."""


class UnsupportedMediaType(InvalidInput):
    """A declared content type is not one we accept."""


class RequestKeyReused(InvalidInput):
    """A write's idempotency key was already used, by the same org, for a different request."""


class InvalidState(GatewayError):
    """The object's state forbids the operation (for example: deleting a published image)."""


class Conflict(GatewayError):
    """A concurrent change won; retrying may succeed."""


class Unavailable(GatewayError):
    """A backing service (database, storage) does not answer."""


class TimedOut(Unavailable):
    """A backing service did not answer within the backend timeout: a call made now would most likely
    wait as long again, so clean-up that needs it is left for later (gc)."""

