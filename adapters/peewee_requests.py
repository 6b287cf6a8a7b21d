"""The record of writes done at most once per key (core/idempotency.py), on peewee."""
from __future__ import annotations

import zlib
from datetime import datetime
from typing import Any

from adapters.peewee_database import db_errors
from adapters.peewee_session import Repository
from core.repositories import RequestRecord, RequestRepository


class PeeweeRequestRepository(Repository, RequestRepository):
    @db_errors
    def claim(self, record: RequestRecord, expired_before: datetime) -> RequestRecord | None:
        Request = self._m.IdempotentRequest
        slot = (Request.org == record.org) & (Request.key == record.key)
        Request.delete().where(slot & (Request.created_at < expired_before)).execute()
        # The unique (org, key) index decides between racing claims: on PostgreSQL the second INSERT
        # waits for the first's transaction and then does nothing; SQLite runs writers one at a time.
        (Request.insert(org=record.org, key=record.key, operation=record.operation, fingerprint=record.fingerprint,
                        owner=record.owner, created_at=record.created_at, answer=None)
         .on_conflict(action="NOTHING", conflict_target=[Request.org, Request.key]).as_rowcount().execute())
        row = Request.select().where(slot).dicts().first()
        return _record(row) if row else None

    @db_errors
    def take_over(self, org: str, key: str, owner: str, new_owner: str, now: datetime) -> bool:
        Request = self._m.IdempotentRequest
        return bool(Request.update(owner=new_owner, created_at=now)
                    .where(Request.org == org, Request.key == key, Request.owner == owner,
                           Request.answer.is_null(), Request.done == False).execute())  # noqa: E712 - SQL

    @db_errors
    def keep_answer(self, org: str, key: str, owner: str, answer: bytes) -> None:
        Request = self._m.IdempotentRequest
        # JSON answers shrink about tenfold: a save of 200 images keeps some 20 KB instead of 200.
        (Request.update(answer=zlib.compress(answer))
         .where(Request.org == org, Request.key == key, Request.owner == owner).execute())

    @db_errors
    def mark_done(self, org: str, key: str, owner: str) -> None:
        Request = self._m.IdempotentRequest
        Request.update(done=True).where(Request.org == org, Request.key == key, Request.owner == owner).execute()

    @db_errors
    def forget(self, org: str, key: str, owner: str) -> None:
        Request = self._m.IdempotentRequest
        (Request.delete()
         .where(Request.org == org, Request.key == key, Request.owner == owner, Request.answer.is_null(),
                Request.done == False).execute())  # noqa: E712 - SQL

    @db_errors
    def expire(self, created_before: datetime, limit: int) -> int:
        Request = self._m.IdempotentRequest
        oldest = (Request.select(Request.id).where(Request.created_at < created_before)
                  .order_by(Request.created_at).limit(limit))
        return Request.delete().where(Request.id.in_(oldest)).execute()


def _record(row: dict[str, Any]) -> RequestRecord:
    answer = row["answer"]
    return RequestRecord(org=row["org"], key=row["key"], operation=row["operation"], fingerprint=row["fingerprint"],
                         owner=row["owner"], created_at=row["created_at"], done=bool(row["done"]),
                         answer=None if answer is None else zlib.decompress(bytes(answer)))
