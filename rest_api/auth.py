"""Bearer authentication for the REST operations (CONTRACT §2)."""
from __future__ import annotations

from typing import Callable

from flask import g, request

from core.errors import Unauthenticated
from core.ports import Authenticator, Caller

SECURITY_SCHEME = {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header; None for anything else."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def authenticate_request(authenticator: Authenticator) -> Callable[[], None]:
    """A before_request hook: every REST operation needs a caller, checked before anything else."""

    def authenticate() -> None:
        # A CORS preflight carries no credential by design; Flask answers it without calling a view.
        if request.method == "OPTIONS":
            return
        g.rest_caller = authenticator.authenticate(bearer_token(request.headers.get("Authorization")))

    return authenticate


def current_caller() -> Caller:
    caller = g.get("rest_caller")
    if caller is None:
        # Only reachable if a view were registered without the hook: fail closed.
        raise Unauthenticated("No authenticated caller")
    return caller
