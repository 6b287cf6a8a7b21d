"""Settling a delivery job's batch on the database under test: a few statements, whatever the batch size."""
from __future__ import annotations

import contextlib
import logging
import uuid
from datetime import datetime, timedelta, timezone
from typing import Iterator


from core.webhooks import Attempt, DeliveryState, Webhook

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
BATCH = 100
"""What one delivery job claims and settles (core/use_cases/delivering.py DELIVERY_BATCH)."""


class _Statements(logging.Handler):
    """peewee logs every statement it sends as (sql, params) at DEBUG."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.sql: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if isinstance(record.msg, tuple):
            self.sql.append(record.msg[0])


@contextlib.contextmanager
def statements() -> Iterator[_Statements]:
    logger, log = logging.getLogger("peewee"), _Statements()
    level = logger.level
    logger.addHandler(log)
    logger.setLevel(logging.DEBUG)
    try:
        yield log
    finally:
        logger.removeHandler(log)
        logger.setLevel(level)


def test_a_batch_delivered_one_event_after_another_is_settled_in_a_few_statements(factory):
    webhook = Webhook(id=uuid.uuid4(), org="org-a", url="https://hooks.example.com/x", events=(),
                      secret="whsec_abc", created_at=T0)
    with factory() as uow:
        uow.webhooks.add(webhook)
        uow.deliveries.add(webhook.id, list(range(1, BATCH + 1)), T0)
        claimed = uow.deliveries.claim(webhook.id, T0, T0 + timedelta(minutes=2), BATCH)
        uow.commit()
    # Each event is sent after the one before, so each attempt ends at a moment of its own.
    attempts = [(delivery, Attempt(webhook.id, f"e{n}", "image.created", 1, T0 + timedelta(milliseconds=3 * n),
                                   204, 2, None, DeliveryState.DELIVERED, None))
                for n, delivery in enumerate(claimed)]
    with factory() as uow, statements() as log:
        uow.deliveries.settle(attempts)
        uow.commit()
    writes = [s for s in log.sql if s.lstrip().upper().startswith(("UPDATE", "INSERT"))]
    assert len(writes) <= 3, f"{len(writes)} statements to settle {BATCH} deliveries: {writes[:3]}"
    with factory() as uow:
        assert uow.deliveries.next_due(webhook.id) is None, "every delivery is settled"
        assert uow.deliveries.claim(webhook.id, T0 + timedelta(days=1), T0 + timedelta(days=1), BATCH) == []
        logged = uow.deliveries.attempts(webhook.id, BATCH)
        assert len(logged) == BATCH and {a.state for a in logged} == {DeliveryState.DELIVERED}
        assert uow.deliveries.prune(T0 + timedelta(seconds=1), 10 * BATCH) == 2 * BATCH, \
            "settled (and logged) when their attempts ended, so gc finds them all by then"
