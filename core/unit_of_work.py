"""Units of work that publish what happened: the transactional outbox and the after-commit dispatch.

Every use case opens its transactions through `PublishingUnitOfWorkFactory`. On `commit()`, the events
the changed realties recorded (and those a use case recorded itself) are written to the outbox in the
same transaction; once the commit has succeeded they are handed to the dispatcher, which runs whatever
must follow (render jobs, blob deletes, notifications, webhooks). A use case never calls those itself,
and a transaction that rolls back publishes nothing. The commit also marks the idempotent write under
way as done (core/idempotency.py), in the same transaction.
"""
from __future__ import annotations

from typing import Callable, Sequence
from uuid import UUID

from core.domain import Realty
from core.events import Event, published
from core.idempotency import mark_done
from core.image_documents import event_data
from core.ports import IdGenerator
from core.repositories import OutboxEvent, RealtyRepository, UnitOfWork, UnitOfWorkFactory

Dispatch = Callable[[Sequence[Event]], None]


class _TrackingRealties(RealtyRepository):
    """The realty repository, remembering the realties a writer holds: their events are published."""

    def __init__(self, inner: RealtyRepository) -> None:
        self._inner = inner
        self.seen: list[Realty] = []

    def get(self, org: str, ref: UUID | int) -> Realty | None:
        return self._inner.get(org, ref)

    def get_many(self, org: str, ids: Sequence[int]) -> list[Realty]:
        return self._inner.get_many(org, ids)

    def lock(self, org, uuid, created_at=None):
        realty = self._inner.lock(org, uuid, created_at)
        if realty is not None:
            self.seen.append(realty)
        return realty

    def add(self, realty: Realty) -> None:
        self._inner.add(realty)
        self.seen.append(realty)

    def save_images(self, realty: Realty) -> None:
        self._inner.save_images(realty)

    def find_image(self, org, ref):
        return self._inner.find_image(org, ref)

    def realty_of_image(self, org, ref):
        return self._inner.realty_of_image(org, ref)


class PublishingUnitOfWork(UnitOfWork):
    def __init__(self, inner: UnitOfWork, ids: IdGenerator, dispatch: Dispatch, changes: bool) -> None:
        self._inner = inner
        self._changes = changes
        self._ids = ids
        self._dispatch = dispatch
        self._recorded: list[Event] = []

    def __enter__(self) -> PublishingUnitOfWork:
        inner = self._inner.__enter__()
        self.realties = _TrackingRealties(inner.realties)
        self.media, self.rooms, self.grants, self.tombstones = inner.media, inner.rooms, inner.grants, inner.tombstones
        self.blobs, self.processing, self.requests = inner.blobs, inner.processing, inner.requests
        self.events, self.webhooks, self.deliveries = inner.events, inner.webhooks, inner.deliveries
        self.photos = inner.photos
        return self

    def __exit__(self, *exc: object) -> None:
        self._inner.__exit__(*exc)

    def record(self, event: Event) -> None:
        """An event the use case itself tells of (the realties' own are collected on commit)."""
        self._recorded.append(event)

    def commit(self) -> None:
        events = [e for realty in self.realties.seen for e in realty.events] + self._recorded
        outbox = [OutboxEvent(e.org, str(self._ids.new()), e.type, e.occurred_at, event_data(e))
                  for e in published(events)]
        if outbox:
            self.events.add(outbox)
        committed = mark_done(self._inner) if self._changes else (lambda: None)
        self._inner.commit()
        committed()
        for realty in self.realties.seen:
            realty.events.clear()
        self._recorded = []
        if events:
            self._dispatch(events)

    def rollback(self) -> None:
        self._inner.rollback()


class PublishingUnitOfWorkFactory(UnitOfWorkFactory):
    def __init__(self, inner: UnitOfWorkFactory, ids: IdGenerator) -> None:
        self._inner = inner
        self._ids = ids
        self.dispatch: Dispatch = lambda events: None
        """Set by the composition root once what it dispatches to is built (it needs these units of work)."""

    def __call__(self, write: bool = True, changes: bool = True) -> PublishingUnitOfWork:
        """`changes`: committing it is the change a use case makes (and so marks the idempotent write done);
        False for the bookkeeping around one (reserving blobs, cleaning up after a failure)."""
        return PublishingUnitOfWork(self._inner(write), self._ids, lambda events: self.dispatch(events),
                                    write and changes)

    def ping(self) -> None:
        self._inner.ping()
