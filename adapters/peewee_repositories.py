"""The smaller repositories: rooms, upload grants, tombstones, blob uses and processing."""
from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime
from typing import Any, Iterable, Sequence
from uuid import UUID

import peewee

from adapters.peewee_database import db_errors
from adapters.peewee_realties import INSERT_BATCH, chunks
from adapters.peewee_session import Repository
from core.domain import Room, UploadGrant
from core.errors import NotFound
from core.ports import RenderJob
from core.repositories import BlobRepository, GrantRepository, ProcessingRepository, RoomRepository, TombstoneRepository


class PeeweeRoomRepository(Repository, RoomRepository):
    def _select(self) -> peewee.ModelSelect:
        RoomModel, RealtyModel = self._m.Room, self._m.Realty
        return RoomModel.select(RoomModel, RealtyModel.uuid.alias("realty_uuid"), RealtyModel.org).join(RealtyModel)

    @staticmethod
    def _from_row(row: dict[str, Any]) -> Room:
        return Room(id=row["id"], realty_uuid=row["realty_uuid"], org=row["org"], name=row["name"],
                    created_at=row["created_at"])

    @db_errors
    def get(self, org: str, room_id: int) -> Room | None:
        RoomModel, RealtyModel = self._m.Room, self._m.Realty
        row = self._select().where(RoomModel.id == room_id, RealtyModel.org == org).dicts().first()
        return self._from_row(row) if row else None

    @db_errors
    def list_for(self, org: str, realty_uuids: Sequence[UUID]) -> list[Room]:
        if not realty_uuids:
            return []
        RoomModel, RealtyModel = self._m.Room, self._m.Realty
        rows = (self._select().where(RealtyModel.uuid.in_(list(realty_uuids)), RealtyModel.org == org)
                .order_by(RoomModel.id).dicts())
        return [self._from_row(row) for row in rows]

    @db_errors
    def add(self, room: Room) -> None:
        RoomModel, RealtyModel = self._m.Room, self._m.Realty
        realty = (RealtyModel.select(RealtyModel.id)
                  .where(RealtyModel.uuid == room.realty_uuid, RealtyModel.org == room.org).dicts().first())
        if realty is None:
            raise NotFound(f"Realty {room.realty_uuid} not found")
        room.id = RoomModel.insert(realty=realty["id"], name=room.name, created_at=room.created_at).execute()


class PeeweeGrantRepository(Repository, GrantRepository):
    @db_errors
    def add(self, grant: UploadGrant) -> None:
        self._m.UploadGrant.insert(key=grant.key, org=grant.org, content_type=grant.content_type,
                                   created_at=grant.created_at, expires_at=grant.expires_at,
                                   used_at=grant.used_at).execute()

    @db_errors
    def get_many(self, keys: Sequence[str]) -> dict[str, UploadGrant]:
        if not keys:
            return {}
        GrantModel = self._m.UploadGrant
        return {row["key"]: _grant_from_row(row)
                for row in GrantModel.select().where(GrantModel.key.in_(list(set(keys)))).dicts()}

    @db_errors
    def claim(self, org: str, keys: Sequence[str], now: datetime) -> int:
        if not keys:
            return 0
        GrantModel = self._m.UploadGrant
        # One conditional UPDATE: of two racing claims the second finds used_at set (PostgreSQL re-checks
        # the WHERE after waiting for the first's row lock; SQLite runs writers one at a time).
        return (GrantModel.update(used_at=now)
                .where(GrantModel.key.in_(list(set(keys))), GrantModel.org == org, GrantModel.used_at.is_null(),
                       GrantModel.expires_at > now)
                .execute())

    @db_errors
    def stale(self, created_before: datetime, limit: int) -> list[UploadGrant]:
        GrantModel = self._m.UploadGrant
        rows = (GrantModel.select().where(GrantModel.created_at < created_before)
                .order_by(GrantModel.created_at, GrantModel.key).limit(limit).dicts())
        return [_grant_from_row(row) for row in rows]

    @db_errors
    def delete(self, keys: Sequence[str]) -> None:
        if keys:
            GrantModel = self._m.UploadGrant
            GrantModel.delete().where(GrantModel.key.in_(list(set(keys)))).execute()


class PeeweeTombstoneRepository(Repository, TombstoneRepository):
    @db_errors
    def add(self, keys: Iterable[str], now: datetime) -> None:
        TombstoneModel = self._m.BlobTombstone
        unique = list(dict.fromkeys(keys))
        for batch in chunks(unique, INSERT_BATCH):
            # A key already awaiting deletion stays as it is.
            (TombstoneModel.insert_many([{"key": key, "created_at": now} for key in batch])
             .on_conflict(action="NOTHING", conflict_target=[TombstoneModel.key])
             .as_rowcount().execute())

    @db_errors
    def list(self, limit: int) -> list[str]:
        TombstoneModel = self._m.BlobTombstone
        query = (TombstoneModel.select(TombstoneModel.key)
                 .order_by(TombstoneModel.created_at, TombstoneModel.key).limit(limit))
        return [row["key"] for row in query.dicts()]

    @db_errors
    def remove(self, keys: Iterable[str]) -> None:
        unique = list(dict.fromkeys(keys))
        if unique:
            TombstoneModel = self._m.BlobTombstone
            TombstoneModel.delete().where(TombstoneModel.key.in_(unique)).execute()


def _grant_from_row(row: dict[str, Any]) -> UploadGrant:
    return UploadGrant(key=row["key"], org=row["org"], content_type=row["content_type"],
                       created_at=row["created_at"], expires_at=row["expires_at"], used_at=row["used_at"])



class PeeweeBlobRepository(Repository, BlobRepository):
    @db_errors
    def reserve(self, keys: Iterable[str], now: datetime) -> None:
        Blob = self._m.Blob
        for batch in chunks(list(dict.fromkeys(keys)), INSERT_BATCH):
            (Blob.insert_many([{"key": key, "refs": 0, "created_at": now} for key in batch])
             .on_conflict(action="NOTHING", conflict_target=[Blob.key]).as_rowcount().execute())

    @db_errors
    def use(self, keys: Sequence[str]) -> int:
        return sum(self._add(batch, n) for n, batch in _by_count(keys))

    @db_errors
    def release(self, keys: Sequence[str]) -> list[str]:
        for n, batch in _by_count(keys):
            self._add(batch, -n)
        # Rows updated above stay locked until the commit, so a racing `use` of one of them either
        # came first (and keeps it) or finds it gone.
        return self._forget_unused(list(dict.fromkeys(keys)), missing_are_unused=False)

    @db_errors
    def unused(self, keys: Sequence[str]) -> list[str]:
        return self._forget_unused(list(dict.fromkeys(keys)), missing_are_unused=True)

    @db_errors
    def abandoned(self, reserved_before: datetime, limit: int) -> list[str]:
        Blob = self._m.Blob
        query = (Blob.select(Blob.key).where(Blob.refs <= 0, Blob.created_at < reserved_before)
                 .order_by(Blob.created_at, Blob.key).limit(limit))
        return [row["key"] for row in query.dicts()]

    @db_errors
    def recorded(self, keys: Sequence[str]) -> list[str]:
        Blob = self._m.Blob
        return [row["key"] for batch in chunks(list(dict.fromkeys(keys)), INSERT_BATCH)
                for row in Blob.select(Blob.key).where(Blob.key.in_(batch)).dicts()]

    def _add(self, keys: Sequence[str], n: int) -> int:
        Blob = self._m.Blob
        return Blob.update(refs=Blob.refs + n).where(Blob.key.in_(list(keys))).execute()

    def _forget_unused(self, keys: list[str], missing_are_unused: bool) -> list[str]:
        """Delete the rows of those keys no image uses; returns the keys whose blobs must go."""
        Blob = self._m.Blob
        gone: list[str] = []
        for batch in chunks(keys, INSERT_BATCH):
            recorded = {row["key"] for row in Blob.select(Blob.key).where(Blob.key.in_(list(batch))).dicts()}
            Blob.delete().where(Blob.key.in_(list(batch)), Blob.refs <= 0).execute()
            # Read again after the delete: a row whose use committed meanwhile survived it.
            kept = {row["key"] for row in Blob.select(Blob.key).where(Blob.key.in_(list(batch))).dicts()}
            gone += [key for key in batch if key not in kept and (missing_are_unused or key in recorded)]
        return gone


def _by_count(keys: Sequence[str]) -> list[tuple[int, Sequence[str]]]:
    """Keys grouped by how often each is listed, in batches: a copy may list one key several times."""
    groups: defaultdict[int, list[str]] = defaultdict(list)
    for key, n in Counter(keys).items():
        groups[n].append(key)
    return [(n, batch) for n, group in groups.items() for batch in chunks(group, INSERT_BATCH)]


class PeeweeProcessingRepository(Repository, ProcessingRepository):
    @db_errors
    def start(self, org: str, image_uuid: UUID, now: datetime) -> int | None:
        ImageModel, RealtyModel = self._m.Image, self._m.Realty
        of_org = RealtyModel.select(RealtyModel.id).where(RealtyModel.org == org)
        # One conditional UPDATE: two attempts starting at once get different numbers (the row lock).
        started = (ImageModel.update(processing_attempts=ImageModel.processing_attempts + 1,
                                     processing_queued_at=now)
                   .where(ImageModel.uuid == image_uuid, ImageModel.processing == "PENDING",
                          ImageModel.realty.in_(of_org))
                   .execute())
        if not started:
            return None
        return (ImageModel.select(ImageModel.processing_attempts).where(ImageModel.uuid == image_uuid)
                .scalar())

    @db_errors
    def claim_stale(self, queued_before: datetime, now: datetime, limit: int) -> list[RenderJob]:
        ImageModel, RealtyModel = self._m.Image, self._m.Realty
        query = (ImageModel.select(ImageModel.id, ImageModel.uuid, RealtyModel.uuid.alias("realty_uuid"),
                                   RealtyModel.org)
                 .join(RealtyModel)
                 .where(ImageModel.processing == "PENDING", ImageModel.processing_queued_at < queued_before)
                 .order_by(ImageModel.processing_queued_at).limit(limit))
        if self._db.for_update:
            # Two sweepers at once each claim different images; neither waits for the other.
            query = query.for_update(of=ImageModel, skip_locked=True)
        rows = list(query.dicts())
        if rows:
            ImageModel.update(processing_queued_at=now).where(ImageModel.id.in_([r["id"] for r in rows])).execute()
        return [RenderJob(row["org"], row["realty_uuid"], row["uuid"]) for row in rows]

    @db_errors
    def oldest_pending(self) -> datetime | None:
        ImageModel = self._m.Image
        # Few rows are PENDING at a time, and the (processing, processing_queued_at) index finds them.
        row = (ImageModel.select(ImageModel.created_at).where(ImageModel.processing == "PENDING")
               .order_by(ImageModel.created_at).limit(1).first())
        return row.created_at if row is not None else None
