"""Persistence on peewee: SQLite or PostgreSQL behind the core's repositories and unit of work.

One `PeeweeUnitOfWorkFactory` owns one peewee database (connections are per thread) and its own model
classes. A unit of work is one transaction on the calling thread's connection:

- SQLite: writers start with `BEGIN IMMEDIATE`, so they queue on the database's single write lock up
  front instead of failing later when a read lock cannot be upgraded; WAL lets readers run alongside.
- PostgreSQL: writers run READ COMMITTED and serialize per realty with `SELECT ... FOR UPDATE`;
  readers get one consistent REPEATABLE READ, READ ONLY snapshot for the realty and its images.
"""
from __future__ import annotations

import contextlib
import functools
import logging
import os
import uuid as uuid_module
import weakref
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Iterator, Sequence, TypeVar
from uuid import UUID

import peewee
from playhouse.db_url import parse as parse_db_url
from playhouse.pool import MaxConnectionsExceeded, PooledPostgresqlDatabase, PooledSqliteDatabase

from adapters.peewee_models import JsonTextField, Models, UtcDateTimeField, build_models
from core.domain import (
    Image, ImageCategory, ImageKind, ModerationStatus, Realty, Rendition, Room, UploadGrant,
)
from core.errors import Conflict, NotFound, Unavailable
from core.ports import (
    GrantRepository, RealtyRepository, RoomRepository, TombstoneRepository, UnitOfWork, UnitOfWorkFactory,
)

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 10_000
INSERT_BATCH = 100
"""Rows per multi-row INSERT/UPDATE: at most ~4,000 bound parameters, within SQLite's limit (32,766 since 3.32)."""

_PG_RETRYABLE = {"40001", "40P01"}  # serialization failure, deadlock detected
_SCHEMA_LOCK_KEY = 0x5EA17_1A6E  # advisory lock id: concurrent start-ups create the schema one at a time

F = TypeVar("F", bound=Callable[..., Any])


# --- errors ----------------------------------------------------------------------------------------

@contextlib.contextmanager
def translate_errors() -> Iterator[None]:
    """Turn driver errors that mean "cannot reach or use the database now" into the core's errors.

    Integrity and programming errors pass through untouched: they are bugs, not outages.
    """
    try:
        yield
    except MaxConnectionsExceeded as exc:
        raise Unavailable("the database has no free connection") from exc
    except peewee.OperationalError as exc:
        if getattr(_driver_error(exc), "pgcode", None) in _PG_RETRYABLE:
            raise Conflict("a concurrent change won; retry") from exc
        raise Unavailable("the database is unavailable") from exc
    except peewee.InterfaceError as exc:
        # peewee raises InterfaceError itself for misuse (a message string); only wrapped driver errors,
        # such as a connection closed by the server, are outages.
        if isinstance(_driver_error(exc), Exception):
            raise Unavailable("the database is unavailable") from exc
        raise


def _driver_error(exc: BaseException) -> object:
    # peewee re-raises driver exceptions as its own type with the original as first argument.
    return exc.args[0] if exc.args else None


def _db_errors(method: F) -> F:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with translate_errors():
            return method(*args, **kwargs)
    return wrapper  # type: ignore[return-value]


# --- opening a database ----------------------------------------------------------------------------

def open_database(database_url: str) -> peewee.Database:
    """A peewee database for a `DATABASE_URL` (`sqlite:///path`, `postgresql://user@host:5432/db`).

    Query-string parameters are passed to the driver/pool and override the defaults chosen here,
    e.g. `postgresql://u@h/db?max_connections=50&connect_timeout=2`.
    """
    scheme = database_url.split(":", 1)[0].lower()
    kwargs = parse_db_url(database_url, unquote_password=True, unquote_user=True)
    name = kwargs.pop("database")
    if scheme in ("sqlite", "sqlite+pool"):
        if name == ":memory:" or not name:
            # Connections are per thread and per unit of work; each would see its own empty database.
            raise ValueError("an in-memory SQLite database cannot be shared between units of work; use a file")
        directory = os.path.dirname(os.path.abspath(name))
        os.makedirs(directory, exist_ok=True)
        kwargs.setdefault("pragmas", {
            "journal_mode": "wal",
            "busy_timeout": SQLITE_BUSY_TIMEOUT_MS,
            "foreign_keys": 1,
            "synchronous": "normal",  # durable enough with WAL, and much faster per commit
        })
        kwargs.setdefault("timeout", SQLITE_BUSY_TIMEOUT_MS / 1000)
        if scheme == "sqlite+pool":
            kwargs.setdefault("check_same_thread", False)  # pooled connections move between threads
            return PooledSqliteDatabase(name, autoconnect=False, **kwargs)
        return peewee.SqliteDatabase(name, autoconnect=False, **kwargs)
    if scheme in ("postgres", "postgresql", "postgres+pool", "postgresql+pool"):
        # Always pooled: a threaded server would otherwise open a server connection per request.
        kwargs.setdefault("max_connections", 20)
        kwargs.setdefault("stale_timeout", 300)
        kwargs.setdefault("timeout", 10)  # seconds to wait for a free pooled connection
        kwargs.setdefault("connect_timeout", 5)  # fail fast when the server is unreachable
        return PooledPostgresqlDatabase(name, autoconnect=False, **kwargs)
    raise ValueError(f"unsupported DATABASE_URL scheme {scheme!r}: use sqlite:/// or postgresql://")


def _is_postgres(database: peewee.Database) -> bool:
    return isinstance(database, peewee.PostgresqlDatabase)


# --- the factory -----------------------------------------------------------------------------------

class PeeweeUnitOfWorkFactory(UnitOfWorkFactory):
    """Units of work over one database; safe to share between threads."""

    def __init__(self, database_url: str) -> None:
        self.database = open_database(database_url)
        self.models = build_models(self.database)
        if isinstance(self.database, (PooledPostgresqlDatabase, PooledSqliteDatabase)):
            # Idle pooled connections would otherwise outlive a factory nobody closed (e.g. one app per test).
            weakref.finalize(self, self.database.close_all)

    def __call__(self, write: bool = True) -> "PeeweeUnitOfWork":
        return PeeweeUnitOfWork(self.models, write)

    def ping(self) -> None:
        with translate_errors(), self._connection():
            self.database.execute_sql("SELECT 1")

    def create_tables(self) -> None:
        """Create missing tables and indexes; safe to run at every start-up, also from several processes."""
        with self(write=True) as uow:
            with translate_errors():
                if _is_postgres(self.database):
                    # CREATE ... IF NOT EXISTS still races between processes on PostgreSQL.
                    self.database.execute_sql("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK_KEY,))
                self.database.create_tables(self.models.all, safe=True)
            uow.commit()

    def drop_tables(self) -> None:
        """Drop every table (tests and tooling only)."""
        with self(write=True) as uow:
            self.database.drop_tables(self.models.all, safe=True)
            uow.commit()

    def close(self) -> None:
        """Close the connections this factory holds; call at shutdown, when no unit of work runs."""
        if isinstance(self.database, (PooledPostgresqlDatabase, PooledSqliteDatabase)):
            self.database.close_all()
        elif not self.database.is_closed() and not self.database.in_transaction():
            self.database.close()

    @contextlib.contextmanager
    def _connection(self) -> Iterator[None]:
        opened = self.database.connect(reuse_if_open=True)
        try:
            yield
        finally:
            if opened:
                self.database.close()


# --- the unit of work ------------------------------------------------------------------------------

@dataclass
class _Session:
    """What a unit of work's repositories share: the models and what was loaded."""

    models: Models
    write: bool
    snapshots: dict[int, dict[str, Any]] = field(default_factory=dict)
    """Image id → its row as last read or written, so saves write only rows that changed."""
    loaded: dict[int, set[int]] = field(default_factory=dict)
    """Realty id → ids of its images as last read or written, so saves know what was removed."""

    @property
    def database(self) -> peewee.Database:
        return self.models.database


class PeeweeUnitOfWork(UnitOfWork):
    """One transaction on the calling thread's connection.

    Entered while the thread already has a transaction open (a nested unit of work), it runs in a
    savepoint of that transaction instead: it then shares the outer one's isolation and locks.
    """

    def __init__(self, models: Models, write: bool) -> None:
        self._db = models.database
        self._write = write
        self._session = _Session(models, write)
        self._state = "new"
        self._opened = False
        self._savepoint: str | None = None
        self.realties = PeeweeRealtyRepository(self._session)
        self.rooms = PeeweeRoomRepository(self._session)
        self.grants = PeeweeGrantRepository(self._session)
        self.tombstones = PeeweeTombstoneRepository(self._session)

    def __enter__(self) -> "PeeweeUnitOfWork":
        if self._state != "new":
            raise RuntimeError("a unit of work can be entered only once")
        with translate_errors():
            self._opened = self._db.connect(reuse_if_open=True)
            try:
                if self._db.in_transaction():
                    self._savepoint = "uow_" + uuid_module.uuid4().hex
                    self._db.execute_sql(f'SAVEPOINT "{self._savepoint}"')
                else:
                    self._db.execute_sql(self._begin_statement())
                    # Registering with peewee's stack makes nested peewee atomic() blocks use savepoints.
                    self._db.push_transaction(self._db.transaction())
            except BaseException:
                self._release()
                raise
        self._state = "active"
        return self

    def _begin_statement(self) -> str:
        if _is_postgres(self._db):
            if self._write:
                return "BEGIN ISOLATION LEVEL READ COMMITTED"
            return "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"
        return "BEGIN IMMEDIATE" if self._write else "BEGIN"

    def commit(self) -> None:
        if self._state != "active":
            raise RuntimeError(f"cannot commit a unit of work that is {self._state}")
        self._state = "committed"
        try:
            with translate_errors():
                if self._savepoint:
                    self._db.execute_sql(f'RELEASE SAVEPOINT "{self._savepoint}"')
                else:
                    self._db.pop_transaction()
                    try:
                        self._db.commit()
                    except BaseException:
                        # A failed COMMIT can leave SQLite's transaction open; never hand that back.
                        self._quiet_rollback("ROLLBACK")
                        raise
        finally:
            self._release()

    def rollback(self) -> None:
        if self._state != "active":
            return  # after commit, or never entered: nothing to undo
        self._state = "rolled back"
        try:
            if self._savepoint:
                self._quiet_rollback(f'ROLLBACK TO SAVEPOINT "{self._savepoint}"')
                self._quiet_rollback(f'RELEASE SAVEPOINT "{self._savepoint}"')
            else:
                self._db.pop_transaction()
                self._quiet_rollback("ROLLBACK")
        finally:
            self._release()

    def _quiet_rollback(self, statement: str) -> None:
        # Runs while another exception may be propagating, which must not be masked; a connection that
        # cannot roll back is broken and gets discarded on release.
        try:
            self._db.execute_sql(statement)
        except Exception:  # noqa: BLE001
            log.warning("%s failed", statement, exc_info=True)

    def _release(self) -> None:
        if not self._opened:
            return
        self._opened = False
        try:
            self._db.close()
        except Exception:  # noqa: BLE001 - the connection is gone either way
            log.warning("closing the database connection failed", exc_info=True)


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
        "renditions": [asdict(r) for r in image.renditions],
    }


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
    )


def _realty_from_row(row: dict[str, Any]) -> Realty:
    return Realty(id=row["id"], uuid=row["uuid"], org=row["org"], name=row["name"],
                  external_id=row["external_id"], created_at=row["created_at"])


def _grant_from_row(row: dict[str, Any]) -> UploadGrant:
    return UploadGrant(key=row["key"], org=row["org"], content_type=row["content_type"],
                       created_at=row["created_at"], expires_at=row["expires_at"], used_at=row["used_at"])


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


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


# --- repositories ----------------------------------------------------------------------------------

class _Repository:
    def __init__(self, session: _Session) -> None:
        self._session = session
        self._m = session.models

    @property
    def _db(self) -> peewee.Database:
        return self._session.database


class PeeweeRealtyRepository(_Repository, RealtyRepository):
    @_db_errors
    def get(self, org: str, ref: UUID | int) -> Realty | None:
        RealtyModel = self._m.Realty
        row = (RealtyModel.select().where(_realty_ref(RealtyModel, ref), RealtyModel.org == org)
               .dicts().first())
        if row is None:
            return None
        realty = _realty_from_row(row)
        self._load_images([realty])
        return realty

    @_db_errors
    def get_many(self, org: str, ids: Sequence[int]) -> list[Realty]:
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return []
        RealtyModel = self._m.Realty
        rows = RealtyModel.select().where(RealtyModel.id.in_(wanted), RealtyModel.org == org).dicts()
        by_id = {row["id"]: _realty_from_row(row) for row in rows}
        found = [by_id[i] for i in wanted if i in by_id]
        self._load_images(found)
        return found

    @_db_errors
    def lock(self, org: str, uuid: UUID, create: bool) -> Realty | None:
        if not self._session.write:
            raise RuntimeError("lock() needs a write unit of work")
        row = self._select_for_update(uuid)
        if row is None and create:
            RealtyModel = self._m.Realty
            # DO NOTHING: a concurrent creator may win the race; either way the row exists afterwards.
            (RealtyModel.insert(uuid=uuid, org=org, created_at=datetime.now(timezone.utc))
             .on_conflict(action="NOTHING", conflict_target=[RealtyModel.uuid])
             .execute())
            row = self._select_for_update(uuid)
        if row is None or row["org"] != org:
            return None
        realty = _realty_from_row(row)
        self._load_images([realty])
        return realty

    def _select_for_update(self, uuid: UUID) -> dict[str, Any] | None:
        RealtyModel = self._m.Realty
        query = RealtyModel.select().where(RealtyModel.uuid == uuid)
        if self._db.for_update:
            # SQLite needs no row lock: the write unit of work already holds the database's write lock.
            query = query.for_update()
        return query.dicts().first()

    @_db_errors
    def add(self, realty: Realty) -> None:
        RealtyModel = self._m.Realty
        realty.id = (RealtyModel.insert(uuid=realty.uuid, org=realty.org, name=realty.name,
                                        external_id=realty.external_id, created_at=realty.created_at)
                     .execute())
        self._session.loaded[realty.id] = set()
        if realty.images:
            self.save_images(realty)

    @_db_errors
    def save_images(self, realty: Realty) -> None:
        ImageModel = self._m.Image
        realty_id = realty.id if realty.id is not None else self._realty_id(realty)
        rows = {id(image): _image_row(image, realty_id) for image in realty.images}
        kept = {image.id for image in realty.images if image.id is not None}

        known = self._session.loaded.get(realty_id)
        if known is None:
            # Not loaded in this unit of work: let the database say what is gone.
            gone = ImageModel.realty == realty_id
            if kept:
                gone &= ImageModel.id.not_in(sorted(kept))
            ImageModel.delete().where(gone).execute()
        elif known - kept:
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
        self._update_rows(changed)

        new = [image for image in realty.images if image.id is None]
        self._insert_images(new, [rows[id(image)] for image in new])

        for image in realty.images:
            self._session.snapshots[image.id] = rows[id(image)]
        self._session.loaded[realty_id] = {image.id for image in realty.images}

    def _update_rows(self, changed: dict[int, dict[str, Any]]) -> None:
        """Write changed columns of many rows with one UPDATE per batch (a reorder of 200 is one statement)."""
        ImageModel = self._m.Image
        ids = sorted(changed)
        for batch in _chunks(ids, INSERT_BATCH):
            columns = sorted({c for image_id in batch for c in changed[image_id]})
            assignments = {}
            for column in columns:
                model_field = ImageModel._meta.fields[column]
                # Rows in the batch that did not change this column get their current value again.
                branches = [(image_id, model_field.to_value(self._value(image_id, column, changed)))
                            for image_id in batch]
                case: peewee.Node = peewee.Case(ImageModel.id, branches)
                if _is_postgres(self._db):
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
        for batch in _chunks(rows, INSERT_BATCH):
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

    @_db_errors
    def find_image(self, org: str, ref: UUID | int) -> Image | None:
        ImageModel, RealtyModel = self._m.Image, self._m.Realty
        row = (ImageModel.select(ImageModel, RealtyModel.uuid.alias("realty_uuid"))
               .join(RealtyModel).where(_image_ref(ImageModel, ref), RealtyModel.org == org).dicts().first())
        if row is None:
            return None
        image = _image_from_row(row, row["realty_uuid"])
        return image

    @_db_errors
    def realty_of_image(self, org: str, ref: UUID | int) -> UUID | None:
        ImageModel, RealtyModel = self._m.Image, self._m.Realty
        row = (RealtyModel.select(RealtyModel.uuid).join(ImageModel, on=(ImageModel.realty == RealtyModel.id))
               .where(_image_ref(ImageModel, ref), RealtyModel.org == org).dicts().first())
        return row["uuid"] if row else None

    def _load_images(self, realties: list[Realty]) -> None:
        """Fill in the images of several realties with one query, and remember them for `save_images`."""
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
            self._session.snapshots[image.id] = _image_row(image, realty.id)
            self._session.loaded[realty.id].add(image.id)


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


class PeeweeRoomRepository(_Repository, RoomRepository):
    def _select(self) -> peewee.ModelSelect:
        RoomModel, RealtyModel = self._m.Room, self._m.Realty
        return RoomModel.select(RoomModel, RealtyModel.uuid.alias("realty_uuid"), RealtyModel.org).join(RealtyModel)

    @staticmethod
    def _from_row(row: dict[str, Any]) -> Room:
        return Room(id=row["id"], realty_uuid=row["realty_uuid"], org=row["org"], name=row["name"],
                    created_at=row["created_at"])

    @_db_errors
    def get(self, org: str, room_id: int) -> Room | None:
        RoomModel, RealtyModel = self._m.Room, self._m.Realty
        row = self._select().where(RoomModel.id == room_id, RealtyModel.org == org).dicts().first()
        return self._from_row(row) if row else None

    @_db_errors
    def list_for(self, org: str, realty_uuids: Sequence[UUID]) -> list[Room]:
        if not realty_uuids:
            return []
        RoomModel, RealtyModel = self._m.Room, self._m.Realty
        rows = (self._select().where(RealtyModel.uuid.in_(list(realty_uuids)), RealtyModel.org == org)
                .order_by(RoomModel.id).dicts())
        return [self._from_row(row) for row in rows]

    @_db_errors
    def add(self, room: Room) -> None:
        RoomModel, RealtyModel = self._m.Room, self._m.Realty
        realty = (RealtyModel.select(RealtyModel.id)
                  .where(RealtyModel.uuid == room.realty_uuid, RealtyModel.org == room.org).dicts().first())
        if realty is None:
            raise NotFound(f"Realty {room.realty_uuid} not found")
        room.id = RoomModel.insert(realty=realty["id"], name=room.name, created_at=room.created_at).execute()


class PeeweeGrantRepository(_Repository, GrantRepository):
    @_db_errors
    def add(self, grant: UploadGrant) -> None:
        self._m.UploadGrant.insert(key=grant.key, org=grant.org, content_type=grant.content_type,
                                   created_at=grant.created_at, expires_at=grant.expires_at,
                                   used_at=grant.used_at).execute()

    @_db_errors
    def get_many(self, keys: Sequence[str]) -> dict[str, UploadGrant]:
        if not keys:
            return {}
        GrantModel = self._m.UploadGrant
        return {row["key"]: _grant_from_row(row)
                for row in GrantModel.select().where(GrantModel.key.in_(list(set(keys)))).dicts()}

    @_db_errors
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

    @_db_errors
    def stale(self, created_before: datetime, limit: int) -> list[UploadGrant]:
        GrantModel = self._m.UploadGrant
        rows = (GrantModel.select().where(GrantModel.created_at < created_before)
                .order_by(GrantModel.created_at, GrantModel.key).limit(limit).dicts())
        return [_grant_from_row(row) for row in rows]

    @_db_errors
    def delete(self, keys: Sequence[str]) -> None:
        if keys:
            GrantModel = self._m.UploadGrant
            GrantModel.delete().where(GrantModel.key.in_(list(set(keys)))).execute()


class PeeweeTombstoneRepository(_Repository, TombstoneRepository):
    @_db_errors
    def add(self, keys: Iterable[str], now: datetime) -> None:
        TombstoneModel = self._m.BlobTombstone
        unique = list(dict.fromkeys(keys))
        for batch in _chunks(unique, INSERT_BATCH):
            # A key already awaiting deletion stays as it is.
            (TombstoneModel.insert_many([{"key": key, "created_at": now} for key in batch])
             .on_conflict(action="NOTHING", conflict_target=[TombstoneModel.key])
             .as_rowcount().execute())

    @_db_errors
    def list(self, limit: int) -> list[str]:
        TombstoneModel = self._m.BlobTombstone
        query = (TombstoneModel.select(TombstoneModel.key)
                 .order_by(TombstoneModel.created_at, TombstoneModel.key).limit(limit))
        return [row["key"] for row in query.dicts()]

    @_db_errors
    def remove(self, keys: Iterable[str]) -> None:
        unique = list(dict.fromkeys(keys))
        if unique:
            TombstoneModel = self._m.BlobTombstone
            TombstoneModel.delete().where(TombstoneModel.key.in_(unique)).execute()
