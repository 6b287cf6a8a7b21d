"""The realty repository: a realty and its ordered images, read together and saved as a diff."""
from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator, Sequence
from uuid import UUID

import peewee

from adapters.peewee_database import db_errors, is_postgres
from adapters.peewee_models import JsonTextField, UtcDateTimeField
from adapters.peewee_photo_index import PeeweePhotoIndex
from adapters.peewee_session import Repository, Session
from core.photo_checks import PhotoChecks
from core.domain import Image, ImageCategory, ImageKind, ModerationStatus, Processing, Realty, Rendition
from core.errors import NotFound
from core.repositories import RealtyRepository

STAMP_STEP = timedelta(microseconds=1)
"""Stamps of one org's commits differ by at least this: the finest step both databases keep."""
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
INSERT_BATCH = 100
"""Rows per multi-row INSERT/UPDATE: at most ~4,000 bound parameters, within SQLite's limit (32,766 since 3.32)."""


# --- mapping ---------------------------------------------------------------------------------------

def _image_row(image: Image, realty_id: int) -> dict[str, Any]:
    """The image as column values (before peewee's conversion), comparable with a loaded row."""
    return {
        "uuid": image.uuid,
        "realty": realty_id,
        "room": image.room_id,
        "kind": ImageKind(image.kind).value,
        "position": image.position,
        "storage_key": image.storage_key,
        "content_type": image.content_type,
        "width": image.width,
        "height": image.height,
        "file_size": image.file_size,
        "md5": image.md5,
        "description": image.description,
        "original_file_name": image.original_file_name,
        "category": ImageCategory(image.category).value if image.category is not None else None,
        "hero": bool(image.hero),
        "status": ModerationStatus(image.status).value,
        "created_at": image.created_at,
        "modified_at": image.modified_at,
        "renditions": [{"name": r.name, "storage_key": r.storage_key, "width": r.width, "height": r.height,
                        "content_type": r.content_type} for r in image.renditions],
        "processing": Processing(image.processing).value,
        "processing_error": image.processing_error,
        "checks": _checks_row(image.checks),
    }


def _checks_row(checks: PhotoChecks | None) -> dict[str, Any] | None:
    if checks is None:
        return None
    return {**asdict(checks), "perceptual_hash": checks.perceptual_hash_hex}


def _checks_from_row(row: dict[str, Any] | None) -> PhotoChecks | None:
    if row is None:
        return None
    return PhotoChecks(**{**row, "perceptual_hash": int(row["perceptual_hash"], 16)})


def _image_from_row(row: dict[str, Any], realty_uuid: UUID) -> Image:
    return Image(
        id=row["id"],
        uuid=row["uuid"],
        realty_uuid=realty_uuid,
        room_id=row["room"],
        kind=ImageKind(row["kind"]),
        position=row["position"],
        storage_key=row["storage_key"],
        content_type=row["content_type"],
        width=row["width"],
        height=row["height"],
        file_size=row["file_size"],
        md5=row["md5"],
        description=row["description"],
        original_file_name=row["original_file_name"],
        category=ImageCategory(row["category"]) if row["category"] is not None else None,
        hero=bool(row["hero"]),
        status=ModerationStatus(row["status"]),
        created_at=row["created_at"],
        modified_at=row["modified_at"],
        renditions=tuple(Rendition(**r) for r in row["renditions"] or ()),
        processing=Processing(row["processing"]),
        processing_error=row["processing_error"],
        checks=_checks_from_row(row["checks"]),
    )


def _realty_from_row(row: dict[str, Any]) -> Realty:
    return Realty(id=row["id"], uuid=row["uuid"], org=row["org"], name=row["name"],
                  external_id=row["external_id"], created_at=row["created_at"], version=row["version"])



def _pg_cast_type(column: peewee.Field) -> str:
    """The SQL type of a column, for casting untyped CASE results on PostgreSQL."""
    if isinstance(column, peewee.ForeignKeyField):
        return "INTEGER"
    for kind, sql_type in ((UtcDateTimeField, "TIMESTAMPTZ"), (JsonTextField, "TEXT"), (peewee.BooleanField, "BOOLEAN"),
                           (peewee.BigIntegerField, "BIGINT"), (peewee.IntegerField, "INTEGER"),
                           (peewee.UUIDField, "UUID"), (peewee.CharField, "VARCHAR"), (peewee.TextField, "TEXT")):
        if isinstance(column, kind):
            return sql_type
    raise TypeError(f"no cast known for {column!r}")


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]



class PeeweeRealtyRepository(Repository, RealtyRepository):
    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self._photos = PeeweePhotoIndex(session)

    @db_errors
    def get(self, org: str, ref: UUID | int) -> Realty | None:
        RealtyModel = self._m.Realty
        row = (RealtyModel.select().where(_realty_ref(RealtyModel, ref), RealtyModel.org == org)
               .dicts().first())
        if row is None:
            return None
        realty = _realty_from_row(row)
        self._load_images([realty], {realty.id: row["version"]})
        return realty

    @db_errors
    def get_many(self, org: str, ids: Sequence[int]) -> list[Realty]:
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return []
        RealtyModel = self._m.Realty
        rows = list(RealtyModel.select().where(RealtyModel.id.in_(wanted), RealtyModel.org == org).dicts())
        by_id = {row["id"]: _realty_from_row(row) for row in rows}
        found = [by_id[i] for i in wanted if i in by_id]
        self._load_images(found, {row["id"]: row["version"] for row in rows})
        return found

    @db_errors
    def lock(self, org: str, uuid: UUID, created_at: datetime | None = None) -> Realty | None:
        if not self._session.write:
            raise RuntimeError("lock() needs a write unit of work")
        row = self._select_for_update(uuid)
        if row is None and created_at is not None:
            RealtyModel = self._m.Realty
            # DO NOTHING: a concurrent creator may win the race; either way the row exists afterwards.
            (RealtyModel.insert(uuid=uuid, org=org, created_at=created_at)
             .on_conflict(action="NOTHING", conflict_target=[RealtyModel.uuid])
             .execute())
            row = self._select_for_update(uuid)
        if row is None or row["org"] != org:
            return None
        realty = _realty_from_row(row)
        self._load_images([realty], {realty.id: row["version"]})
        return realty

    def _select_for_update(self, uuid: UUID) -> dict[str, Any] | None:
        RealtyModel = self._m.Realty
        query = RealtyModel.select().where(RealtyModel.uuid == uuid)
        if self._db.for_update:
            # SQLite needs no row lock: the write unit of work already holds the database's write lock.
            query = query.for_update()
        return query.dicts().first()

    @db_errors
    def add(self, realty: Realty) -> None:
        RealtyModel = self._m.Realty
        realty.id = (RealtyModel.insert(uuid=realty.uuid, org=realty.org, name=realty.name,
                                        external_id=realty.external_id, created_at=realty.created_at)
                     .execute())
        self._session.loaded[realty.id] = set()
        if realty.images:
            self.save_images(realty)

    @db_errors
    def save_images(self, realty: Realty) -> None:
        ImageModel = self._m.Image
        realty_id = realty.id if realty.id is not None else self._realty_id(realty)
        rows = {id(image): _image_row(image, realty_id) for image in realty.images}
        kept = {image.id for image in realty.images if image.id is not None}

        known = self._session.loaded.get(realty_id)
        wrote = known is None or bool(known - kept)
        if known is None:
            # Not loaded in this unit of work: let the database say what is gone.
            gone = ImageModel.realty == realty_id
            if kept:
                gone &= ImageModel.id.not_in(sorted(kept))
            self._photos.forget(ImageModel.select(ImageModel.id).where(gone))
            ImageModel.delete().where(gone).execute()
        elif known - kept:
            self._photos.forget(sorted(known - kept))
            (ImageModel.delete()
             .where(ImageModel.realty == realty_id, ImageModel.id.in_(sorted(known - kept))).execute())
        for image_id in (known or set()) - kept:
            self._session.snapshots.pop(image_id, None)

        changed: dict[int, dict[str, Any]] = {}
        for image in realty.images:
            if image.id is None:
                continue
            row, before = rows[id(image)], self._session.snapshots.get(image.id)
            diff = {c: v for c, v in row.items() if before is None or before.get(c) != v}
            if diff:
                changed[image.id] = diff

        new = [image for image in realty.images if image.id is None]
        stamp = None
        if changed or new:
            # The one place an image row changes: whatever a reader sees of it changed with it.
            stamp = self._stamp(realty.org)
            files_changed = [i for i, diff in changed.items() if {"storage_key", "renditions"} & diff.keys()]
            for diff in changed.values():
                diff["changed_at"] = stamp
            if files_changed:
                ImageModel.update(media_changed_at=stamp).where(ImageModel.id.in_(files_changed)).execute()
        self._update_rows(changed)
        self._insert_images(new, [{**rows[id(image)], "org": realty.org, "changed_at": stamp,
                                   "media_changed_at": stamp} for image in new])
        rechecked = [image for image in realty.images if image.id in changed and "checks" in changed[image.id]]
        self._photos.index(realty.org, rechecked + new)

        for image in realty.images:
            self._session.snapshots[image.id] = rows[id(image)]
        self._session.loaded[realty_id] = {image.id for image in realty.images}
        if wrote or changed or new:
            # In the same transaction as the images: a reader seeing this version sees exactly them.
            RealtyModel = self._m.Realty
            RealtyModel.update(version=RealtyModel.version + 1).where(RealtyModel.id == realty_id).execute()

    def _stamp(self, org: str) -> datetime:
        """The org's next change stamp: now, or just after the last one if that is later (another
        process's clock ahead). The org's clock row stays locked until the commit, so the stamps of an
        org's commits rise in commit order and a reader never sees a stamp before an earlier one lands."""
        Clock = self._m.MediaClock
        query = Clock.select(Clock.changed_through).where(Clock.org == org)
        if self._db.for_update:
            query = query.for_update()
        last = query.scalar()
        if last is None:
            Clock.insert(org=org, changed_through=_EPOCH).on_conflict(action="NOTHING",
                                                                     conflict_target=[Clock.org]).execute()
            last = query.scalar()
        stamp = max(datetime.now(timezone.utc), last + STAMP_STEP)
        Clock.update(changed_through=stamp).where(Clock.org == org).execute()
        return stamp

    def _update_rows(self, changed: dict[int, dict[str, Any]]) -> None:
        """Write changed columns of many rows with one UPDATE per batch (a reorder of 200 is one statement)."""
        ImageModel = self._m.Image
        ids = sorted(changed)
        for batch in chunks(ids, INSERT_BATCH):
            columns = sorted({c for image_id in batch for c in changed[image_id]})
            assignments = {}
            for column in columns:
                model_field = ImageModel._meta.fields[column]
                # Rows in the batch that did not change this column get their current value again.
                branches = [(image_id, model_field.to_value(self._value(image_id, column, changed)))
                            for image_id in batch]
                case: peewee.Node = peewee.Case(ImageModel.id, branches)
                if is_postgres(self._db):
                    case = peewee.Cast(case, _pg_cast_type(model_field))
                assignments[model_field] = case
            ImageModel.update(assignments).where(ImageModel.id.in_(list(batch))).execute()

    def _value(self, image_id: int, column: str, changed: dict[int, dict[str, Any]]) -> Any:
        if column in changed[image_id]:
            return changed[image_id][column]
        return self._session.snapshots[image_id][column]

    def _insert_images(self, images: list[Image], rows: list[dict[str, Any]]) -> None:
        if not images:
            return
        ImageModel = self._m.Image
        # A new image's render job is queued as it is committed (when it is PENDING at all).
        rows = [{**row, "processing_queued_at": image.created_at} for image, row in zip(images, rows)]
        for batch in chunks(rows, INSERT_BATCH):
            ImageModel.insert_many(batch).as_rowcount().execute()
        # Ids are read back by uuid: one query, no reliance on RETURNING order or lastrowid.
        uuids = [image.uuid for image in images]
        ids = {row["uuid"]: row["id"] for row in
               ImageModel.select(ImageModel.id, ImageModel.uuid).where(ImageModel.uuid.in_(uuids)).dicts()}
        for image in images:
            image.id = ids[image.uuid]

    def _realty_id(self, realty: Realty) -> int:
        RealtyModel = self._m.Realty
        row = (RealtyModel.select(RealtyModel.id)
               .where(RealtyModel.uuid == realty.uuid, RealtyModel.org == realty.org).dicts().first())
        if row is None:
            raise NotFound(f"Realty {realty.uuid} not found")
        realty.id = row["id"]
        return row["id"]

    @db_errors
    def find_image(self, org: str, ref: UUID | int) -> Image | None:
        ImageModel, RealtyModel = self._m.Image, self._m.Realty
        row = (ImageModel.select(ImageModel, RealtyModel.uuid.alias("realty_uuid"))
               .join(RealtyModel).where(_image_ref(ImageModel, ref), RealtyModel.org == org).dicts().first())
        if row is None:
            return None
        image = _image_from_row(row, row["realty_uuid"])
        return image

    @db_errors
    def realty_of_image(self, org: str, ref: UUID | int) -> UUID | None:
        ImageModel, RealtyModel = self._m.Image, self._m.Realty
        row = (RealtyModel.select(RealtyModel.uuid).join(ImageModel, on=(ImageModel.realty == RealtyModel.id))
               .where(_image_ref(ImageModel, ref), RealtyModel.org == org).dicts().first())
        return row["uuid"] if row else None

    def _load_images(self, realties: list[Realty], versions: dict[int, int]) -> None:
        """Fill in the images of several realties with one query (none for those found in the cache at
        their current version), and remember them for `save_images`.

        A writer may take cached images too: it read the version after locking the realty, and every
        change of its images bumps the version, so the cache holds exactly what the database does.
        """
        cache = self._session.cache
        if cache is not None:
            missing = []
            for realty in realties:
                cached = cache.get(realty.id, versions[realty.id])
                if cached is None:
                    missing.append(realty)
                    continue
                realty.images = cached
                self._session.loaded[realty.id] = {image.id for image in cached}
                if self._session.write:
                    for image in cached:
                        self._session.snapshots[image.id] = _image_row(image, realty.id)
            realties = missing
        if not realties:
            return
        ImageModel = self._m.Image
        by_id = {realty.id: realty for realty in realties}
        for realty in realties:
            realty.images = []
            self._session.loaded[realty.id] = set()
        rows = (ImageModel.select().where(ImageModel.realty.in_(list(by_id)))
                .order_by(ImageModel.realty, ImageModel.position, ImageModel.id).dicts())
        for row in rows:
            realty = by_id[row["realty"]]
            image = _image_from_row(row, realty.uuid)
            realty.images.append(image)
            if self._session.write:
                # The row as read is the snapshot: its values compare equal to `_image_row`'s.
                self._session.snapshots[image.id] = row
            self._session.loaded[realty.id].add(image.id)
        if cache is not None:
            for realty in realties:
                cache.put(realty.id, versions[realty.id], realty.images)


def _realty_ref(RealtyModel: type[peewee.Model], ref: UUID | int) -> peewee.Expression:
    if isinstance(ref, UUID):
        return RealtyModel.uuid == ref
    if isinstance(ref, int) and not isinstance(ref, bool):
        return RealtyModel.id == ref
    raise TypeError(f"a realty is named by UUID or int, not {type(ref).__name__}")


def _image_ref(ImageModel: type[peewee.Model], ref: UUID | int) -> peewee.Expression:
    if isinstance(ref, UUID):
        return ImageModel.uuid == ref
    if isinstance(ref, int) and not isinstance(ref, bool):
        return ImageModel.id == ref
    raise TypeError(f"an image is named by UUID or int, not {type(ref).__name__}")

