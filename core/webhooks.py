"""Webhooks (CONTRACT §10): endpoints an org subscribes, and the rules of delivering events to them.

Deliveries follow the Standard Webhooks specification: at least once, any 2xx is delivered; anything
else (another status, a redirect, no answer within DELIVERY_TIMEOUT) is tried again on RETRY_SCHEDULE,
then given up as failed. An endpoint that failed every attempt for DISABLE_AFTER is disabled, and says so.
"""
from __future__ import annotations

import base64
import enum
import ipaddress
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable, Sequence
from urllib.parse import urlsplit
from uuid import UUID

from core.errors import FieldError, InvalidInput, Problem
from core.events import EVENT_TYPES

RETRY_SCHEDULE = (timedelta(seconds=5), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2),
                  timedelta(hours=5), timedelta(hours=10), timedelta(hours=10))
"""Waits before the 2nd, 3rd, ... attempt: Standard Webhooks' (and Svix's) schedule, about 28 hours in all."""
DELIVERY_TIMEOUT_SECONDS = 10.0
DISABLE_AFTER = timedelta(days=5)
MAX_URL_LENGTH = 2000
MAX_WEBHOOKS_PER_ORG = 50
MAX_ERROR_LENGTH = 300
"""An attempt's error as the log keeps it: a sentence, cut there (it may quote what an endpoint sent)."""
DELIVERY_LOG_PAGE = 100
"""The most attempts the delivery log shows at once."""
TEST_EVENT = "webhook.test"


class DeliveryState(str, enum.Enum):
    PENDING = "PENDING"
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"


@dataclass
class Webhook:
    id: UUID
    org: str
    url: str
    events: tuple[str, ...]
    """The event types sent; empty: all of them."""
    secret: str
    """`whsec_` and base64 of random bytes, as the standardwebhooks libraries take it."""
    created_at: datetime
    description: str | None = None
    after_seq: int = 0
    """Its org's feed position when it was made: only later events are sent to it."""
    failing_since: datetime | None = None
    """When the attempts began to fail, all of them since; None while the last one succeeded."""
    disabled_at: datetime | None = None
    disabled_reason: str | None = None

    def wants(self, event_type: str) -> bool:
        return self.disabled_at is None and (not self.events or event_type in self.events)

    def attempted(self, delivered: bool, now: datetime) -> None:
        """Record how an attempt ended; after DISABLE_AFTER of nothing but failures, the endpoint is disabled."""
        if delivered:
            self.failing_since = None
            return
        if self.failing_since is None:
            self.failing_since = now
        elif now - self.failing_since >= DISABLE_AFTER and self.disabled_at is None:
            self.disabled_at = now
            self.disabled_reason = (f"Every delivery attempt since {self.failing_since.isoformat()} failed; make "
                                    "the endpoint answer 2xx, then subscribe it again")


@dataclass(frozen=True)
class Delivery:
    """One event to one endpoint, while it is due or being sent."""

    id: int
    webhook_id: UUID
    event_seq: int
    attempts: int


@dataclass(frozen=True)
class Attempt:
    """How one attempt to send one event ended, as the delivery log shows it."""

    webhook_id: UUID
    event_id: str
    event_type: str
    attempt: int
    at: datetime
    status_code: int | None
    duration_ms: int
    error: str | None
    state: DeliveryState
    next_attempt_at: datetime | None


def after_failure(attempts: int, now: datetime) -> datetime | None:
    """When to try again after the `attempts`-th attempt failed; None: give up."""
    return now + RETRY_SCHEDULE[attempts - 1] if attempts <= len(RETRY_SCHEDULE) else None


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def check_events(events: Sequence[str] | None) -> tuple[str, ...]:
    unknown = [e for e in events or () if e not in EVENT_TYPES]
    if unknown:
        raise InvalidInput(f"Unknown event types: {', '.join(unknown)}; use {', '.join(EVENT_TYPES)}",
                           [FieldError("events", Problem.INVALID, f"unknown event type {e!r}") for e in unknown])
    return tuple(dict.fromkeys(events or ()))


@dataclass(frozen=True)
class UrlPolicy:
    """WEBHOOK_ALLOW_HTTP / WEBHOOK_ALLOW_PRIVATE: for development and tests only."""

    allow_http: bool = False
    allow_private: bool = False


Resolve = Callable[[str, int], list[str]]
"""A host and port to the IP addresses a connection may go to (adapters: DNS)."""


def check_url(url: str, policy: UrlPolicy, resolve: Resolve) -> list[str]:
    """The addresses a webhook URL may be sent to now; InvalidInput (field `url`) when it may not be sent at
    all: not https, or a host that resolves to a loopback, private, link-local or otherwise non-public
    address (a request forged to the gateway's own network). Checked when subscribed and at every delivery,
    since a DNS answer may change in between."""
    def refuse(reason: str) -> InvalidInput:
        return InvalidInput(f"The webhook URL {reason}", [FieldError("url", Problem.INVALID, reason)])

    if len(url) > MAX_URL_LENGTH:
        raise refuse(f"is longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise refuse("is not a URL") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise refuse("must be an https:// URL")
    if parts.scheme == "http" and not policy.allow_http:
        raise refuse("must use https (WEBHOOK_ALLOW_HTTP allows http for development)")
    if parts.username or parts.password or parts.fragment:
        raise refuse("must not hold credentials or a fragment")
    addresses = resolve(parts.hostname, port)
    if not addresses:
        raise refuse(f"names a host that does not resolve ({parts.hostname})")
    if not policy.allow_private:
        for address in addresses:
            if not _is_public(address):
                raise refuse(f"resolves to {address}, a loopback, private or link-local address")
    return addresses


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone (fe80::1%eth0) is link-local anyway
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    return ip.is_global and not ip.is_multicast
