"""What happened: events the domain records as it changes, handled once the change is committed.

Image events are published (CONTRACT §10): the unit of work writes them to the outbox in the same
transaction as the change, so a change that rolls back records nothing and a committed one is never
missing from the feed or the webhooks. The others are the gateway's own after-commit duties.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar, Sequence

if TYPE_CHECKING:  # the domain records events, so it imports this module
    from core.domain import Image


class Event:
    """Base of every event."""


@dataclass(frozen=True, eq=False)
class ImageEvent(Event):
    """Something happened to an image of an org. `image` is the live object: what is published is the
    image as it stands when the change commits (its numeric id assigned, every change of the same
    transaction applied)."""

    type: ClassVar[str]
    org: str
    image: Image
    occurred_at: datetime


class ImageCreated(ImageEvent):
    type = "image.created"


class ImageProcessed(ImageEvent):
    """Processing ended, READY or FAILED."""

    type = "image.processed"


class ImageUpdated(ImageEvent):
    """Description, category, hero or position changed."""

    type = "image.updated"


class ImagePublished(ImageEvent):
    type = "image.published"


class ImageUnpublished(ImageEvent):
    type = "image.unpublished"


class ImageDeleted(ImageEvent):
    type = "image.deleted"


EVENT_TYPES: tuple[str, ...] = tuple(kind.type for kind in (
    ImageCreated, ImageProcessed, ImageUpdated, ImagePublished, ImageUnpublished, ImageDeleted))
"""Every published event type, as subscribers name them."""


@dataclass(frozen=True, eq=False)
class BlobsFreed(Event):
    """Stored blobs no image uses any more, tombstoned in the committed transaction: delete them now."""

    keys: tuple[str, ...]


def published(events: Sequence[Event]) -> list[ImageEvent]:
    """The image events to publish, one per image and type; an image created in the same transaction is
    published as created only (what else changed is part of how it was created)."""
    created = {id(e.image) for e in events if isinstance(e, ImageCreated)}
    seen: set[tuple[type, int]] = set()
    kept = []
    for event in events:
        if not isinstance(event, ImageEvent):
            continue
        slot = (type(event), id(event.image))
        if slot in seen or (isinstance(event, ImageUpdated) and id(event.image) in created):
            continue
        seen.add(slot)
        kept.append(event)
    return kept
