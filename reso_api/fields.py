"""The one table of the Media resource (CONTRACT §13): each RESO Data Dictionary field, its EDM type, how a
record shows it, and what the core filters and orders it by. Records, $filter, $orderby, $select,
$metadata and the service document are all read from it, so none of them can drift from the others.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Sequence
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


Show = Callable[[MediaRecord, Rendition | None, str | None], Any]
"""How a field reads a record: from the core's record, its largest rendition and that rendition's URL, passed
as they are (a page calls this sixteen thousand times: no wrapper object per record)."""


@dataclass(frozen=True)
class Field:
    name: str
    edm_type: str
    show: Show
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
    # made, whose name says the size it was made for: hence >=, so a later equal replaces an earlier one.
    best, best_rank = None, (-1, False)
    for rendition in renditions:
        rank = (rendition.width * rendition.height, rendition.content_type == "image/jpeg")
        if rank >= best_rank:
            best, best_rank = rendition, rank
    return best


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
    # The repositories hand out UTC already; converting is then only a copy, two thousand times a page.
    utc = value if value.tzinfo is timezone.utc else value.astimezone(timezone.utc)
    return utc.isoformat(timespec="microseconds")[:-6] + "Z"


def _media_type(record: MediaRecord, rendition: Rendition | None, url: str | None) -> str:
    content_type = rendition.content_type if rendition else record.content_type
    return content_type.rpartition("/")[2]


def _short(description: str | None) -> str | None:
    if description is None or len(description) <= SHORT_DESCRIPTION_LENGTH:
        return description
    return description[:SHORT_DESCRIPTION_LENGTH - 1].rstrip() + "…"


def _image_of(record: MediaRecord) -> str | None:
    if record.kind is ImageKind.FLOOR_PLAN:
        return FLOOR_PLAN
    return IMAGE_OF.get(record.category) if record.category is not None else None


FIELDS: tuple[Field, ...] = (
    Field("MediaKey", "Edm.String", lambda r, rd, u: str(r.image), nullable=False, max_length=36,
          query_field=MediaField.IMAGE, literal=_uuid_literal),
    Field("ResourceName", "Edm.String", lambda r, rd, u: "Property", nullable=False),
    Field("ResourceRecordKey", "Edm.String", lambda r, rd, u: str(r.realty), nullable=False, max_length=36,
          query_field=MediaField.REALTY, literal=_uuid_literal),
    Field("Order", "Edm.Int32", lambda r, rd, u: r.position, nullable=False, query_field=MediaField.POSITION),
    Field("MediaURL", "Edm.String", lambda r, rd, u: u),
    Field("MediaType", "Edm.String", _media_type, nullable=False),
    Field("MediaCategory", "Edm.String", lambda r, rd, u: FLOOR_PLAN if r.kind is ImageKind.FLOOR_PLAN else PHOTO,
          nullable=False, query_field=MediaField.FLOOR_PLAN, literal=_category_literal),
    Field("ImageWidth", "Edm.Int32", lambda r, rd, u: rd.width if rd else r.width, nullable=False),
    Field("ImageHeight", "Edm.Int32", lambda r, rd, u: rd.height if rd else r.height,
          nullable=False),
    Field("ImageSizeDescription", "Edm.String", lambda r, rd, u: rd.name if rd else None),
    Field("ShortDescription", "Edm.String", lambda r, rd, u: _short(r.description),
          max_length=SHORT_DESCRIPTION_LENGTH),
    Field("LongDescription", "Edm.String", lambda r, rd, u: r.description),
    Field("PreferredPhotoYN", "Edm.Boolean", lambda r, rd, u: r.hero, nullable=False,
          query_field=MediaField.HERO, literal=_boolean_literal),
    Field("ImageOf", "Edm.String", lambda r, rd, u: _image_of(r)),
    Field("ModificationTimestamp", "Edm.DateTimeOffset", lambda r, rd, u: _timestamp(r.changed_at), nullable=False,
          query_field=MediaField.CHANGED_AT, literal=_timestamp_literal),
    Field("MediaModificationTimestamp", "Edm.DateTimeOffset", lambda r, rd, u: _timestamp(r.media_changed_at),
          nullable=False),
)
BY_NAME = {field.name: field for field in FIELDS}
KEY = BY_NAME["MediaKey"]
URL = BY_NAME["MediaURL"]


def records(shown: Iterable[tuple[MediaRecord, Rendition | None, str | None]],
            selected: tuple[Field, ...] = FIELDS) -> list[dict[str, Any]]:
    """Each (record, its largest rendition, that rendition's URL) as the wire has it: the selected fields, in
    the table's order."""
    pairs = _getters(selected)
    return [{name: show(record, rendition, url) for name, show in pairs} for record, rendition, url in shown]


@functools.lru_cache(maxsize=256)
def _getters(selected: tuple[Field, ...]) -> tuple[tuple[str, Show], ...]:
    # Read off the table once per $select rather than once per record.
    return tuple((field.name, field.show) for field in selected)
