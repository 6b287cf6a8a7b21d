"""What the repositories of one unit of work share."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import peewee

from adapters.peewee_image_cache import ImageCache
from adapters.peewee_models import Models


@dataclass
class Session:
    """The models, and what this unit of work has read, so that saves write only what changed."""

    models: Models
    write: bool
    cache: ImageCache | None = None
    snapshots: dict[int, dict[str, Any]] = field(default_factory=dict)
    """Image id → its row as last read or written, so saves write only rows that changed."""
    loaded: dict[int, set[int]] = field(default_factory=dict)
    """Realty id → ids of its images as last read or written, so saves know what was removed."""

    @property
    def database(self) -> peewee.Database:
        return self.models.database


class Repository:
    def __init__(self, session: Session) -> None:
        self._session = session
        self._m = session.models

    @property
    def _db(self) -> peewee.Database:
        return self._session.database
