"""An org's published images as a feed (core/media_query.py), run as one indexed SQL query per page."""
from __future__ import annotations

from functools import reduce
from uuid import UUID
import operator as python_operator

import orjson
import peewee

from adapters.peewee_database import db_errors
from adapters.peewee_session import Repository
from core.domain import ImageCategory, ImageKind, ModerationStatus, Rendition
from core.media_query import (
    AllOf, AnyOf, Comparison, Condition, MediaField, MediaPage, MediaQuery, MediaRecord, Negation, Operator,
)
from core.repositories import MediaRepository

_COMPARE = {
    Operator.EQ: python_operator.eq, Operator.NE: python_operator.ne, Operator.GT: python_operator.gt,
    Operator.GE: python_operator.ge, Operator.LT: python_operator.lt, Operator.LE: python_operator.le,
}


class PeeweeMediaRepository(Repository, MediaRepository):
    @db_errors
    def published(self, org: str, query: MediaQuery) -> MediaPage:
        ImageModel, RealtyModel = self._m.Image, self._m.Realty
        # org and status first: with changed_at and uuid after them, the replication order is one index range.
        where = [ImageModel.org == org, ImageModel.status == ModerationStatus.APPROVED.value]
        if query.where is not None:
            where.append(self._condition(query.where))
        selected = (ImageModel.select(ImageModel.uuid, RealtyModel.uuid, ImageModel.position, ImageModel.kind,
                                      ImageModel.category, ImageModel.description, ImageModel.hero,
                                      ImageModel.content_type, ImageModel.width, ImageModel.height,
                                      ImageModel.renditions, ImageModel.changed_at, ImageModel.media_changed_at)
                    .join(RealtyModel, on=(ImageModel.realty == RealtyModel.id)))
        total = selected.where(*where).count() if query.count else None
        if query.after is not None:
            key = peewee.Tuple(ImageModel.changed_at, ImageModel.uuid)
            after = peewee.Tuple(ImageModel.changed_at.to_value(query.after.changed_at),
                                 ImageModel.uuid.to_value(query.after.image))
            where.append(key < after if query.order[0].descending else key > after)
        order = [self._column(o.field).desc() if o.descending else self._column(o.field).asc() for o in query.order]
        page = selected.where(*where).order_by(*order).offset(query.offset or None).limit(query.limit + 1)
        # The driver's rows, converted here: a page is a thousand rows, and peewee's per-row machinery
        # would cost as much again as what the columns need.
        rows = self._db.execute(page).fetchall()
        stamp = ImageModel.changed_at.python_value
        records = [_record(*row[:-2], stamp(row[-2]), stamp(row[-1])) for row in rows[:query.limit]]
        return MediaPage(records, more=len(rows) > query.limit, total=total)

    def _column(self, field: MediaField) -> peewee.Node:
        ImageModel, RealtyModel = self._m.Image, self._m.Realty
        return {
            MediaField.IMAGE: ImageModel.uuid, MediaField.REALTY: RealtyModel.uuid,
            MediaField.CHANGED_AT: ImageModel.changed_at, MediaField.HERO: ImageModel.hero,
            MediaField.POSITION: ImageModel.position,
            MediaField.FLOOR_PLAN: ImageModel.kind == ImageKind.FLOOR_PLAN.value,
        }[field]

    def _condition(self, condition: Condition) -> peewee.Node:
        if isinstance(condition, AllOf):
            return reduce(python_operator.and_, (self._condition(c) for c in condition.conditions))
        if isinstance(condition, AnyOf):
            return reduce(python_operator.or_, (self._condition(c) for c in condition.conditions))
        if isinstance(condition, Negation):
            return ~self._condition(condition.condition)
        return self._comparison(condition)

    def _comparison(self, comparison: Comparison) -> peewee.Node:
        ImageModel = self._m.Image
        compare = _COMPARE[comparison.operator]
        if comparison.field is MediaField.FLOOR_PLAN:
            # A column compared with a literal (never an expression compared with a boolean), which both
            # databases read alike.
            is_plan = comparison.value == (comparison.operator is Operator.EQ)
            kind = ImageKind.FLOOR_PLAN.value
            return ImageModel.kind == kind if is_plan else ImageModel.kind != kind
        column = self._column(comparison.field)
        return compare(column, column.to_value(comparison.value))


_KINDS = {kind.value: kind for kind in ImageKind}
_CATEGORIES = {category.value: category for category in ImageCategory}


def _record(image, realty, position, kind, category, description, hero, content_type, width, height, renditions,
            changed_at, media_changed_at) -> MediaRecord:
    # UUID() reads both spellings: PostgreSQL's text of a uuid and the hex digits SQLite keeps. The enums are
    # looked up in dicts: calling an Enum by value costs several times more, twice a row.
    return MediaRecord(_uuid(image), _uuid(realty), position, _KINDS.get(kind) or ImageKind(kind),
                       (_CATEGORIES.get(category) or ImageCategory(category)) if category else None, description,
                       bool(hero), content_type, width, height, tuple([Rendition(**r) for r in _json(renditions)]),
                       changed_at, media_changed_at)


def _uuid(value: UUID | str) -> UUID:
    return value if isinstance(value, UUID) else UUID(value)


def _json(text: str | None) -> list[dict]:
    # orjson reads a record's renditions in a third of the time json does (a page reads a thousand); the
    # column is the text JsonTextField writes, so it is the same JSON either way.
    return orjson.loads(text) if text else []
