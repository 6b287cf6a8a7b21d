"""Reading an org's published images as a replicable feed: which ones, in what order, a page at a time.

A consumer copies the feed by `changed_at`, the time the image last changed in anything a reader sees
(order, hero, description, category, renditions, publication). The repositories stamp it in the order
their transactions commit, per org, so paging on (changed_at, image) from where the last page ended
sees every change exactly once, even while images change between pages.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Union
from uuid import UUID

from core.domain import Image, ImageCategory, ImageKind, Rendition
from core.errors import FieldError, InvalidQuery, Problem

MAX_PAGE = 1000
DEFAULT_PAGE = 100


class MediaField(str, enum.Enum):
    """What a published image can be filtered and ordered by."""

    IMAGE = "image"
    """The image's uuid."""
    REALTY = "realty"
    """Its realty's uuid."""
    CHANGED_AT = "changed_at"
    FLOOR_PLAN = "floor_plan"
    HERO = "hero"
    POSITION = "position"


_VALUE_TYPES: dict[MediaField, type] = {
    MediaField.IMAGE: UUID, MediaField.REALTY: UUID, MediaField.CHANGED_AT: datetime,
    MediaField.FLOOR_PLAN: bool, MediaField.HERO: bool, MediaField.POSITION: int,
}


class Operator(str, enum.Enum):
    EQ = "eq"
    NE = "ne"
    GT = "gt"
    GE = "ge"
    LT = "lt"
    LE = "le"


@dataclass(frozen=True)
class Comparison:
    field: MediaField
    operator: Operator
    value: Any

    def __post_init__(self) -> None:
        expected = _VALUE_TYPES[self.field]
        value = self.value
        # bool is an int to Python: a position compared with True is still a mistake.
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise InvalidQuery(f"{self.field.value} is compared with a {expected.__name__}",
                               [FieldError(self.field.value, Problem.WRONG_TYPE, f"not a {expected.__name__}")])
        if expected is datetime and value.tzinfo is None:
            raise InvalidQuery(f"{self.field.value} is compared with a time that names its offset",
                               [FieldError(self.field.value, Problem.INVALID, "a time without offset")])
        if expected is bool and self.operator not in (Operator.EQ, Operator.NE):
            raise InvalidQuery(f"{self.field.value} is true or false: compare it with eq or ne",
                               [FieldError(self.field.value, Problem.INVALID, "ordered comparison of a flag")])


@dataclass(frozen=True)
class AllOf:
    conditions: tuple[Condition, ...]


@dataclass(frozen=True)
class AnyOf:
    conditions: tuple[Condition, ...]


@dataclass(frozen=True)
class Negation:
    condition: Condition


Condition = Union[Comparison, AllOf, AnyOf, Negation]


@dataclass(frozen=True)
class Ordering:
    field: MediaField
    descending: bool = False


@dataclass(frozen=True)
class Resume:
    """Where the previous page ended, in the replication order: its last image and that image's stamp."""

    changed_at: datetime
    image: UUID


REPLICATION_ORDER = (Ordering(MediaField.CHANGED_AT), Ordering(MediaField.IMAGE))


@dataclass(frozen=True)
class MediaQuery:
    """Which published images of an org to read, in what order, and which page of them."""

    where: Condition | None = None
    order: tuple[Ordering, ...] = REPLICATION_ORDER
    limit: int = DEFAULT_PAGE
    offset: int = 0
    after: Resume | None = None
    """Only after this point of the replication order (the order must be it, either direction)."""
    count: bool = False
    """Also count every image matching `where`, whatever the page."""

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= MAX_PAGE:
            raise InvalidQuery(f"A page holds 1 to {MAX_PAGE} images",
                               [FieldError("limit", Problem.INVALID, f"not within 1..{MAX_PAGE}")])
        if self.offset < 0:
            raise InvalidQuery("An offset is 0 or more", [FieldError("offset", Problem.INVALID, "negative")])
        fields = [o.field for o in self.order]
        if len(set(fields)) != len(fields):
            raise InvalidQuery("A field is ordered by once", [FieldError("order", Problem.INVALID, "listed twice")])
        if MediaField.IMAGE not in fields:
            # Images are unique, so every order is total and pages neither repeat nor skip an image.
            descending = self.order[-1].descending if self.order else False
            object.__setattr__(self, "order", (*self.order, Ordering(MediaField.IMAGE, descending)))
        if self.after is not None and not self.replicating:
            raise InvalidQuery("Resuming needs the replication order (changed_at, then image, one direction)",
                               [FieldError("after", Problem.INVALID, "not the replication order")])

    @property
    def replicating(self) -> bool:
        """Whether the order is the replication order, ascending or descending: pages can then resume."""
        if [o.field for o in self.order] != [o.field for o in REPLICATION_ORDER]:
            return False
        return self.order[0].descending == self.order[1].descending


@dataclass(slots=True)  # not frozen: a frozen dataclass sets each field the slow way, a thousand times a page
class MediaRecord:
    """A published image as the feed shows it: a read model of what a record needs, nothing more, as a page
    holds a thousand of them."""

    image: UUID
    realty: UUID
    position: int
    kind: ImageKind
    category: ImageCategory | None
    description: str | None
    hero: bool
    content_type: str
    width: int
    height: int
    renditions: tuple[Rendition, ...]
    changed_at: datetime
    """When anything a reader sees of it last changed."""
    media_changed_at: datetime
    """When its stored files (original, renditions) last changed."""

    @property
    def resume(self) -> Resume:
        return Resume(self.changed_at, self.image)

    @classmethod
    def of(cls, image: Image, changed_at: datetime, media_changed_at: datetime) -> MediaRecord:
        return cls(image.uuid, image.realty_uuid, image.position, image.kind, image.category, image.description,
                   image.hero, image.content_type, image.width, image.height, image.renditions, changed_at,
                   media_changed_at)


@dataclass(frozen=True)
class MediaPage:
    records: list[MediaRecord]
    more: bool
    """Whether more images follow this page."""
    total: int | None = None
    """Every image matching the query's `where` (when it asked for a count)."""
