"""The outbox and change feed on the database under test (TEST_DATABASE=sqlite or postgresql)."""
from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from core.repositories import FeedBounds, OutboxEvent
from tests.conftest import TEST_DATABASE

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def event(org: str, n: int, at: datetime = T0) -> OutboxEvent:
    return OutboxEvent(org, f"evt-{org}-{n}", "image.created", at, {"realtyImageId": str(n), "image": {"x": [n]}})


def add(factory, *events: OutboxEvent) -> None:
    with factory() as uow:
        uow.events.add(list(events))
        uow.commit()


def test_events_are_numbered_per_org_and_read_back_in_order(factory):
    add(factory, event("a", 1), event("b", 1), event("a", 2))
    add(factory, event("a", 3))
    with factory(write=False) as uow:
        page = uow.events.after("a", 0, 10)
        assert [(e.seq, e.event.id) for e in page] == [(1, "evt-a-1"), (2, "evt-a-2"), (3, "evt-a-3")]
        assert page[0].event == event("a", 1), "stored as given, data and time included"
        assert [e.seq for e in uow.events.after("a", 1, 1)] == [2]
        assert [e.seq for e in uow.events.after("b", 0, 10)] == [1]
        assert uow.events.bounds("a") == FeedBounds(3, 0) and uow.events.bounds("nobody") == FeedBounds(0, 0)


def test_a_rolled_back_transaction_adds_no_event_and_uses_no_number(factory):
    with factory() as uow:
        uow.events.add([event("a", 1)])  # left without commit
    add(factory, event("a", 2))
    with factory(write=False) as uow:
        assert [(e.seq, e.event.id) for e in uow.events.after("a", 0, 10)] == [(1, "evt-a-2")]


def test_pruning_removes_old_events_and_remembers_how_far(factory):
    add(factory, event("a", 1, T0), event("a", 2, T0 + timedelta(days=1)), event("a", 3, T0 + timedelta(days=8)))
    with factory() as uow:
        assert uow.events.prune(T0 + timedelta(days=7), 100) == 2
        uow.commit()
    with factory(write=False) as uow:
        assert [e.seq for e in uow.events.after("a", 0, 10)] == [3]
        assert uow.events.bounds("a") == FeedBounds(3, 2)


@pytest.mark.skipif(TEST_DATABASE != "postgresql", reason="concurrent writers: PostgreSQL")
def test_numbers_follow_commit_order_when_writers_overlap(factory):
    """A reader must never see event n+1 before event n is committed: the second writer of an org waits
    for the first's commit, then numbers on from it."""
    first_added = threading.Event()
    release_first = threading.Event()

    def slow_writer() -> None:
        with factory() as uow:
            uow.events.add([event("a", 1)])
            first_added.set()
            release_first.wait(10)
            uow.commit()

    thread = threading.Thread(target=slow_writer)
    thread.start()
    first_added.wait(10)
    second = threading.Thread(target=add, args=(factory, event("a", 2)))
    second.start()
    time.sleep(0.3)
    with factory(write=False) as uow:
        assert uow.events.after("a", 0, 10) == [], "nothing is visible before the first commits"
    release_first.set()
    thread.join(10)
    second.join(10)
    with factory(write=False) as uow:
        assert [(e.seq, e.event.id) for e in uow.events.after("a", 0, 10)] == [(1, "evt-a-1"), (2, "evt-a-2")]
