"""The real clock and id source."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

from core.ports import Clock, IdGenerator


class SystemClock(Clock):
    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class RandomIds(IdGenerator):
    def new(self) -> uuid.UUID:
        return uuid.uuid4()
