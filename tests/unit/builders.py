"""Domain objects built in memory for the unit tests: no service, no fakes, no database."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from core.domain import Image, Realty

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
LATER = T0 + timedelta(minutes=5)
REALTY_UUID = uuid.UUID("ddc25849-7bc7-43c0-9c3b-602cb03f7806")


def image(n: int = 0, **fields) -> Image:
    """A stored PNG image as a repository would return it (numeric id 100 + n), created at T0."""
    image_uuid = uuid.UUID(int=n + 1)
    values = dict(uuid=image_uuid, realty_uuid=REALTY_UUID, storage_key=f"images/{image_uuid}/original.png",
                  content_type="image/png", width=40, height=30, file_size=1234, md5=f"{n:032x}",
                  created_at=T0, modified_at=T0, id=100 + n)
    values.update(fields)
    return Image(**values)


def new_image(n: int, **fields) -> Image:
    """An image not yet stored: no numeric id, no realty."""
    return image(n, id=None, realty_uuid=uuid.UUID(int=0), **fields)


def realty(count: int = 0, **fields) -> Realty:
    """A realty holding `count` images, in order, at positions 0..count-1."""
    images = [image(n, position=n) for n in range(count)]
    return Realty(uuid=REALTY_UUID, org="org-a", created_at=T0, images=images, id=1, **fields)


def uuids(images) -> list[uuid.UUID]:
    return [i.uuid for i in images]
