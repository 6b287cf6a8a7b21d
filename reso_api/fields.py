"""The one table of the Media resource (CONTRACT §13): each RESO Data Dictionary field, its EDM type, how a
record shows it, and what the core filters and orders it by. Records, $filter, $orderby, $select,
$metadata and the service document are all read from it, so none of them can drift from the others.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Sequence
from uuid import UUID

from odata_query import ast

from core.domain import ImageCategory, ImageKind, Rendition
from core.input_rules import parse_uuid
from core.media_query import MediaField, MediaRecord

RESOURCE = "Media"
NAMESPACE = "org.reso.metadata"
SHORT_DESCRIPTION_LENGTH = 50
"""The Data Dictionary's length of ShortDescription; LongDescription holds the whole description."""

IMAGE_OF = {
    ImageCategory.BUILDING_EXTERIOR: "Front of Structure",
    ImageCategory.COMMON_INDOOR_SPACES: "Community",
    ImageCategory.COMMON_OUTDOOR_SPACES: "Community",
    ImageCategory.MAP: "Map",
}
"""The Data Dictionary's ImageOf for the categories that name one (GENERAL, ROOM, SPECIFIC name none)."""
PHOTO, FLOOR_PLAN = "Photo", "Floor Plan"


class LiteralRefused(ValueError):
    """A $filter literal that is not a value of its field (the message says what would be)."""


@dataclass(frozen=True)
class Shown:
    """A record as the table reads it: the core's record, its largest rendition and that rendition's URL."""

    record: MediaRecord
    rendition: Rendition | None
    url: str | None


@dataclass(frozen=True)
class Field:
    name: str
    edm_type: str
    show: Callable[[Shown], Any]
    nullable: bool = True
    max_length: int | None = None
    query_field: MediaField | None = None
    """What the core orders by for it (None: not orderable)."""
    literal: Callable[[ast._Node], Any] | None = None
    """Reads a $filter literal as the core's value (None: not filterable)."""

    @property
    def filterable(self) -> bool:
        return self.literal is not None

    @property
    def orderable(self) -> bool:
        return self.query_field is not None


def largest_rendition(renditions: Sequence[Rendition]) -> Rendition | None:
    # Among equals (a small original is never enlarged), JPEG first, as every client shows it, then the last
    # made, whose name says the size it was made for.
    ranked = enumerate(renditions)
    best = max(ranked, key=lambda n_r: (n_r[1].width * n_r[1].height, n_r[1].content_type == "image/jpeg", n_r[0]),
               default=None)
    return best[1] if best else None


def _uuid_literal(node: ast._Node) -> UUID:
    value = parse_uuid(node.val) if isinstance(node, (ast.String, ast.GUID)) else None
    if value is None:
        raise LiteralRefused("is a key: a UUID in quotes, such as '2f1c0d4e-8a53-4b6e-9d2f-0c7a1e5b3d91'")
    return value


def _timestamp_literal(node: ast._Node) -> datetime:
    if not isinstance(node, ast.DateTime):
        raise LiteralRefused("is a DateTimeOffset, such as 2026-01-31T12:00:00.000000Z")
    value = node.py_val
    if value.tzinfo is None:
        raise LiteralRefused("is a DateTimeOffset: the time must name its offset (Z or +hh:mm)")
    return value.astimezone(timezone.utc)


def _category_literal(node: ast._Node) -> bool:
    if not isinstance(node, ast.String) or node.val not in (PHOTO, FLOOR_PLAN):
        raise LiteralRefused(f"is '{PHOTO}' or '{FLOOR_PLAN}'")
    return node.val == FLOOR_PLAN


def _boolean_literal(node: ast._Node) -> bool:
    if not isinstance(node, ast.Boolean):
        raise LiteralRefused("is true or false")
    return node.py_val


def _timestamp(value: datetime) -> str:
    return value.astimezone(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _media_type(shown: Shown) -> str:
    content_type = shown.rendition.content_type if shown.rendition else shown.record.content_type
    return content_type.split("/")[-1]


def _short(description: str | None) -> str | None:
    if description is None or len(description) <= SHORT_DESCRIPTION_LENGTH:
        return description
    return description[:SHORT_DESCRIPTION_LENGTH - 1].rstrip() + "…"


def _image_of(record: MediaRecord) -> str | None:
    if record.kind is ImageKind.FLOOR_PLAN:
        return FLOOR_PLAN
    return IMAGE_OF.get(record.category) if record.category is not None else None


FIELDS: tuple[Field, ...] = (
    Field("MediaKey", "Edm.String", lambda s: str(s.record.image), nullable=False, max_length=36,
          query_field=MediaField.IMAGE, literal=_uuid_literal),
    Field("ResourceName", "Edm.String", lambda s: "Property", nullable=False),
    Field("ResourceRecordKey", "Edm.String", lambda s: str(s.record.realty), nullable=False, max_length=36,
          query_field=MediaField.REALTY, literal=_uuid_literal),
    Field("Order", "Edm.Int32", lambda s: s.record.position, nullable=False, query_field=MediaField.POSITION),
    Field("MediaURL", "Edm.String", lambda s: s.url),
    Field("MediaType", "Edm.String", _media_type, nullable=False),
    Field("MediaCategory", "Edm.String", lambda s: FLOOR_PLAN if s.record.kind is ImageKind.FLOOR_PLAN else PHOTO,
          nullable=False, query_field=MediaField.FLOOR_PLAN, literal=_category_literal),
    Field("ImageWidth", "Edm.Int32", lambda s: s.rendition.width if s.rendition else s.record.width, nullable=False),
    Field("ImageHeight", "Edm.Int32", lambda s: s.rendition.height if s.rendition else s.record.height,
          nullable=False),
    Field("ImageSizeDescription", "Edm.String", lambda s: s.rendition.name if s.rendition else None),
    Field("ShortDescription", "Edm.String", lambda s: _short(s.record.description),
          max_length=SHORT_DESCRIPTION_LENGTH),
    Field("LongDescription", "Edm.String", lambda s: s.record.description),
    Field("PreferredPhotoYN", "Edm.Boolean", lambda s: s.record.hero, nullable=False,
          query_field=MediaField.HERO, literal=_boolean_literal),
    Field("ImageOf", "Edm.String", lambda s: _image_of(s.record)),
    Field("ModificationTimestamp", "Edm.DateTimeOffset", lambda s: _timestamp(s.record.changed_at), nullable=False,
          query_field=MediaField.CHANGED_AT, literal=_timestamp_literal),
    Field("MediaModificationTimestamp", "Edm.DateTimeOffset", lambda s: _timestamp(s.record.media_changed_at),
          nullable=False),
)
BY_NAME = {field.name: field for field in FIELDS}
KEY = BY_NAME["MediaKey"]
URL = BY_NAME["MediaURL"]


def record(shown: Shown, selected: tuple[Field, ...] = FIELDS) -> dict[str, Any]:
    """The record as the wire has it: the selected fields, in the table's order."""
    return {field.name: field.show(shown) for field in selected}
