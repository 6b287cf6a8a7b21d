"""The change feed (CONTRACT §10): an org's published events after a cursor, oldest first, optionally
waiting for the next one (a long poll woken by the commit, never by polling the database)."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.errors import CursorExpired, FieldError, InvalidQuery, Problem
from core.image_documents import Signer, signed_data
from core.ports import Caller, ChangeSignals
from core.repositories import StoredEvent, UnitOfWorkFactory

MAX_PAGE = 1000
DEFAULT_PAGE = 100
MAX_WAIT_SECONDS = 30


@dataclass(frozen=True)
class FeedPage:
    events: list[dict[str, Any]]
    """Each as published: {"id", "type", "occurredAt", "data"} with download URLs signed now."""
    next: str
    """The cursor to ask after next: the last event's, or the one asked after when there was none."""


class Feed:
    def __init__(self, uow: UnitOfWorkFactory, signals: ChangeSignals, urls: Signer, max_waiting: int) -> None:
        """`max_waiting`: long polls this process holds at once; more answer at once (each holds a
        server thread while it waits)."""
        self._uow = uow
        self._signals = signals
        self._urls = urls
        self._waiting = threading.BoundedSemaphore(max_waiting)

    def page(self, caller: Caller, after: str | None, limit: int = DEFAULT_PAGE, wait: float = 0) -> FeedPage:
        cursor = _cursor(after)
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidQuery(f"limit must be 1 to {MAX_PAGE}", [FieldError("limit", Problem.INVALID, "out of range")])
        if not 0 <= wait <= MAX_WAIT_SECONDS:
            raise InvalidQuery(f"wait must be 0 to {MAX_WAIT_SECONDS} seconds",
                               [FieldError("wait", Problem.INVALID, "out of range")])
        events = self._read(caller.org, cursor, limit)
        if events or wait == 0 or not self._waiting.acquire(blocking=False):
            return self._page(caller.org, events, cursor)
        try:
            deadline = time.monotonic() + wait
            while not events and (remaining := deadline - time.monotonic()) > 0:
                # The version is read before the events: a commit in between changes it, so no wake-up is lost.
                version = self._signals.version(caller.org)
                events = self._read(caller.org, cursor, limit)
                if not events:
                    self._signals.wait(caller.org, version, remaining)
        finally:
            self._waiting.release()
        return self._page(caller.org, events, cursor)

    def _read(self, org: str, cursor: int | None, limit: int) -> list[StoredEvent]:
        with self._uow(write=False) as uow:
            bounds = uow.events.bounds(org)
            if cursor is None:  # from the oldest event kept
                return uow.events.after(org, bounds.pruned_through, limit)
            if cursor > bounds.last:
                raise InvalidQuery("This cursor was never given by this feed",
                                   [FieldError("after", Problem.INVALID, "unknown cursor")])
            if cursor < bounds.pruned_through:
                raise CursorExpired("Events after this cursor are no longer kept; read the realties again and "
                                    "follow the feed from its start (without a cursor)")
            return uow.events.after(org, cursor, limit)

    def _page(self, org: str, events: list[StoredEvent], cursor: int | None) -> FeedPage:
        if events:
            return FeedPage([published(e, self._urls) for e in events], str(events[-1].seq))
        if cursor is None:
            with self._uow(write=False) as uow:
                cursor = uow.events.bounds(org).last
        return FeedPage([], str(cursor))


def published(stored: StoredEvent, urls: Signer) -> dict[str, Any]:
    """An event as the feed and webhooks publish it."""
    event = stored.event
    return {"id": event.id, "type": event.type, "occurredAt": rfc3339(event.occurred_at),
            "data": signed_data(event.data, urls)}


def rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _cursor(after: str | None) -> int | None:
    if after is None or after == "":
        return None
    if not (after.isascii() and after.isdigit()) or len(after) > 19:
        raise InvalidQuery("after must be a cursor this feed gave (`next`)",
                           [FieldError("after", Problem.INVALID, "not a cursor")])
    return int(after)
