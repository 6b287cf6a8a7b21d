"""Webhooks, their due deliveries and the delivery log (core/repositories.py), on peewee."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Sequence
from uuid import UUID

from adapters.peewee_database import db_errors
from adapters.peewee_realties import INSERT_BATCH, chunks
from adapters.peewee_session import Repository
from core.repositories import DeliveryRepository, WebhookRepository
from core.webhooks import Attempt, Delivery, DeliveryState, Webhook


class PeeweeWebhookRepository(Repository, WebhookRepository):
    @db_errors
    def add(self, webhook: Webhook) -> None:
        self._m.Webhook.insert(**_row(webhook)).execute()

    @db_errors
    def get(self, org: str, webhook_id: UUID) -> Webhook | None:
        Model = self._m.Webhook
        row = Model.select().where(Model.id == webhook_id, Model.org == org).dicts().first()
        return _webhook(row) if row else None

    @db_errors
    def list(self, org: str) -> list[Webhook]:
        Model = self._m.Webhook
        return [_webhook(row) for row in
                Model.select().where(Model.org == org).order_by(Model.created_at, Model.id).dicts()]

    @db_errors
    def count(self, org: str) -> int:
        Model = self._m.Webhook
        return Model.select().where(Model.org == org).count()

    @db_errors
    def update(self, webhook: Webhook) -> None:
        Model = self._m.Webhook
        (Model.update(failing_since=webhook.failing_since, disabled_at=webhook.disabled_at,
                      disabled_reason=webhook.disabled_reason)
         .where(Model.id == webhook.id, Model.org == webhook.org).execute())

    @db_errors
    def delete(self, org: str, webhook_id: UUID) -> bool:
        Model = self._m.Webhook
        return bool(Model.delete().where(Model.id == webhook_id, Model.org == org).execute())


class PeeweeDeliveryRepository(Repository, DeliveryRepository):
    @db_errors
    def add(self, webhook_id: UUID, event_seqs: Sequence[int], due: datetime) -> int:
        Model = self._m.WebhookDelivery
        added = 0
        for batch in chunks(list(event_seqs), INSERT_BATCH):
            added += (Model.insert_many([{"webhook": webhook_id, "event_seq": seq, "attempts": 0, "due_at": due}
                                         for seq in batch])
                      .on_conflict(action="NOTHING", conflict_target=[Model.webhook, Model.event_seq])
                      .as_rowcount().execute())
        return added

    @db_errors
    def claim(self, webhook_id: UUID, now: datetime, lease_until: datetime, limit: int) -> list[Delivery]:
        Model = self._m.WebhookDelivery
        query = (Model.select(Model.id, Model.event_seq, Model.attempts)
                 .where(Model.webhook == webhook_id, Model.due_at <= now).order_by(Model.event_seq).limit(limit))
        if self._db.for_update:
            query = query.for_update(skip_locked=True)  # two claimers at once take different deliveries
        rows = list(query.dicts())
        if rows:
            Model.update(due_at=lease_until).where(Model.id.in_([row["id"] for row in rows])).execute()
        return [Delivery(row["id"], webhook_id, row["event_seq"], row["attempts"]) for row in rows]

    @db_errors
    def settle(self, attempts: Sequence[tuple[Delivery, Attempt]]) -> None:
        Model, Log = self._m.WebhookDelivery, self._m.WebhookAttempt
        # Most attempts of a batch end alike (all delivered): one UPDATE for each kind of end, not one per row.
        # Each attempt ends at a moment of its own, so the moment is not part of the kind: the kind's
        # deliveries count as settled when its last attempt ended (the log keeps each attempt's own).
        ends: dict[tuple[int, datetime | None, bool], tuple[list[int], datetime]] = {}
        for delivery, attempt in attempts:
            kind = (attempt.attempt, attempt.next_attempt_at, attempt.state is not DeliveryState.PENDING)
            ids, last = ends.get(kind, ([], attempt.at))
            ids.append(delivery.id)
            ends[kind] = (ids, max(last, attempt.at))
        for (number, due_at, settled), (ids, last) in ends.items():
            settled_at = last if settled else None
            for batch in chunks(ids, INSERT_BATCH):
                (Model.update(attempts=number, due_at=due_at, settled_at=settled_at)
                 .where(Model.id.in_(batch)).execute())
        rows = [{"webhook": a.webhook_id, "event_id": a.event_id, "event_type": a.event_type, "attempt": a.attempt,
                 "at": a.at, "status_code": a.status_code, "duration_ms": a.duration_ms, "error": a.error,
                 "state": a.state.value, "next_attempt_at": a.next_attempt_at} for _, a in attempts]
        for batch in chunks(rows, INSERT_BATCH):
            Log.insert_many(batch).as_rowcount().execute()

    @db_errors
    def postpone(self, deliveries: Sequence[Delivery], until: datetime) -> None:
        Model = self._m.WebhookDelivery
        for batch in chunks([d.id for d in deliveries], INSERT_BATCH):
            Model.update(due_at=until).where(Model.id.in_(batch)).execute()

    @db_errors
    def next_due(self, webhook_id: UUID) -> datetime | None:
        Model = self._m.WebhookDelivery
        row = (Model.select(Model.due_at).where(Model.webhook == webhook_id, Model.due_at.is_null(False))
               .order_by(Model.due_at).limit(1).dicts().first())
        return row["due_at"] if row else None

    @db_errors
    def overdue(self, due_before: datetime, limit: int) -> list[tuple[str, UUID]]:
        Model, Hook = self._m.WebhookDelivery, self._m.Webhook
        query = (Hook.select(Hook.org, Hook.id).where(Hook.id.in_(
            Model.select(Model.webhook).where(Model.due_at < due_before).distinct())).limit(limit))
        return [(row["org"], row["id"]) for row in query.dicts()]

    @db_errors
    def attempts(self, webhook_id: UUID, limit: int) -> list[Attempt]:
        Log = self._m.WebhookAttempt
        rows = Log.select().where(Log.webhook == webhook_id).order_by(Log.id.desc()).limit(limit).dicts()
        return [Attempt(webhook_id, row["event_id"], row["event_type"], row["attempt"], row["at"], row["status_code"],
                        row["duration_ms"], row["error"], DeliveryState(row["state"]), row["next_attempt_at"])
                for row in rows]

    @db_errors
    def prune(self, before: datetime, limit: int) -> int:
        Model, Log = self._m.WebhookDelivery, self._m.WebhookAttempt
        settled = Model.select(Model.id).where(Model.settled_at < before).limit(limit)
        old = Log.select(Log.id).where(Log.at < before).limit(limit)
        return (Model.delete().where(Model.id.in_(settled)).execute()
                + Log.delete().where(Log.id.in_(old)).execute())

    @db_errors
    def give_up(self, webhook_id: UUID, now: datetime, reason: str) -> int:
        Model = self._m.WebhookDelivery
        return (Model.update(due_at=None, settled_at=now)
                .where(Model.webhook == webhook_id, Model.due_at.is_null(False)).execute())


def _row(webhook: Webhook) -> dict[str, Any]:
    return {"id": webhook.id, "org": webhook.org, "url": webhook.url, "events": list(webhook.events),
            "secret": webhook.secret, "description": webhook.description, "created_at": webhook.created_at,
            "after_seq": webhook.after_seq, "failing_since": webhook.failing_since,
            "disabled_at": webhook.disabled_at, "disabled_reason": webhook.disabled_reason}


def _webhook(row: dict[str, Any]) -> Webhook:
    return Webhook(id=row["id"], org=row["org"], url=row["url"], events=tuple(row["events"]), secret=row["secret"],
                   created_at=row["created_at"], description=row["description"], after_seq=row["after_seq"],
                   failing_since=row["failing_since"], disabled_at=row["disabled_at"],
                   disabled_reason=row["disabled_reason"])
