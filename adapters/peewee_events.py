"""The outbox and change feed (core/ports.py EventRepository), on peewee."""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Sequence

from adapters.peewee_database import db_errors
from adapters.peewee_realties import INSERT_BATCH, chunks
from adapters.peewee_session import Repository
from core.repositories import EventRepository, FeedBounds, OutboxEvent, StoredEvent


class PeeweeEventRepository(Repository, EventRepository):
    @db_errors
    def add(self, events: Sequence[OutboxEvent]) -> None:
        Event, Feed = self._m.Event, self._m.EventFeed
        by_org: defaultdict[str, list[OutboxEvent]] = defaultdict(list)
        for event in events:
            by_org[event.org].append(event)
        for org in sorted(by_org):  # one order for every writer: two never wait on each other's rows
            batch = by_org[org]
            Feed.insert(org=org, last_seq=0).on_conflict(action="NOTHING", conflict_target=[Feed.org]).execute()
            # The row stays locked until the commit: the next writer of this org numbers on from here.
            Feed.update(last_seq=Feed.last_seq + len(batch)).where(Feed.org == org).execute()
            last = Feed.select(Feed.last_seq).where(Feed.org == org).scalar()
            rows = [{"org": org, "seq": last - len(batch) + n, "event_id": e.id, "type": e.type,
                     "occurred_at": e.occurred_at, "data": e.data} for n, e in enumerate(batch, start=1)]
            for rows_batch in chunks(rows, INSERT_BATCH):
                Event.insert_many(rows_batch).as_rowcount().execute()

    @db_errors
    def after(self, org: str, seq: int, limit: int) -> list[StoredEvent]:
        Event = self._m.Event
        rows = (Event.select(Event.seq, Event.event_id, Event.type, Event.occurred_at, Event.data)
                .where(Event.org == org, Event.seq > seq).order_by(Event.seq).limit(limit).dicts())
        return [StoredEvent(row["seq"], OutboxEvent(org, row["event_id"], row["type"], row["occurred_at"], row["data"]))
                for row in rows]

    @db_errors
    def numbered(self, org: str, seqs: Sequence[int]) -> list[StoredEvent]:
        Event = self._m.Event
        rows = (Event.select(Event.seq, Event.event_id, Event.type, Event.occurred_at, Event.data)
                .where(Event.org == org, Event.seq.in_(list(seqs))).order_by(Event.seq).dicts()) if seqs else []
        return [StoredEvent(row["seq"], OutboxEvent(org, row["event_id"], row["type"], row["occurred_at"], row["data"]))
                for row in rows]

    @db_errors
    def lock_fan_out(self, org: str) -> int:
        Feed = self._m.EventFeed
        query = Feed.select(Feed.fanned_out_through).where(Feed.org == org)
        if self._db.for_update:
            query = query.for_update()
        row = query.dicts().first()
        return row["fanned_out_through"] if row else 0

    @db_errors
    def set_fan_out(self, org: str, seq: int) -> None:
        Feed = self._m.EventFeed
        Feed.update(fanned_out_through=seq).where(Feed.org == org, Feed.fanned_out_through < seq).execute()

    @db_errors
    def not_fanned_out(self, limit: int) -> list[str]:
        Feed = self._m.EventFeed
        query = Feed.select(Feed.org).where(Feed.fanned_out_through < Feed.last_seq).order_by(Feed.org).limit(limit)
        return [row["org"] for row in query.dicts()]

    @db_errors
    def bounds(self, org: str) -> FeedBounds:
        Feed = self._m.EventFeed
        row = Feed.select(Feed.last_seq, Feed.pruned_through).where(Feed.org == org).dicts().first()
        return FeedBounds(row["last_seq"], row["pruned_through"]) if row else FeedBounds(0, 0)

    @db_errors
    def prune(self, occurred_before: datetime, limit: int) -> int:
        Event, Feed = self._m.Event, self._m.EventFeed
        rows = list(Event.select(Event.id, Event.org, Event.seq).where(Event.occurred_at < occurred_before)
                    .order_by(Event.occurred_at).limit(limit).dicts())
        if not rows:
            return 0
        through: dict[str, int] = {}
        for row in rows:
            through[row["org"]] = max(through.get(row["org"], 0), row["seq"])
        for org in sorted(through):
            (Feed.update(pruned_through=through[org])
             .where(Feed.org == org, Feed.pruned_through < through[org]).execute())
        for ids in chunks([row["id"] for row in rows], INSERT_BATCH):
            Event.delete().where(Event.id.in_(ids)).execute()
        return len(rows)
