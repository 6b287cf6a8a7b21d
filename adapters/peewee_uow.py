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
import logging
import threading
import uuid as uuid_module
import weakref
from typing import Iterator

from playhouse.pool import PooledPostgresqlDatabase, PooledSqliteDatabase

from adapters.peewee_database import DEFAULT_BACKEND_TIMEOUT, is_postgres, open_database, translate_errors
from adapters.peewee_image_cache import ImageCache
from adapters.peewee_models import Models, build_models
from adapters.peewee_media import PeeweeMediaRepository
from adapters.peewee_photo_index import PeeweePhotoIndex
from adapters.peewee_realties import PeeweeRealtyRepository
from adapters.peewee_repositories import (
    PeeweeBlobRepository, PeeweeGrantRepository, PeeweeProcessingRepository, PeeweeRoomRepository,
    PeeweeTombstoneRepository,
)
from adapters.peewee_events import PeeweeEventRepository
from adapters.peewee_requests import PeeweeRequestRepository
from adapters.peewee_webhooks import PeeweeDeliveryRepository, PeeweeWebhookRepository
from adapters.peewee_schema import create_schema, schema_is_current
from adapters.peewee_session import Session
from core.errors import Unavailable
from core.repositories import UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)


# --- the factory -----------------------------------------------------------------------------------

class PeeweeUnitOfWorkFactory(UnitOfWorkFactory):
    """Units of work over one database; safe to share between threads."""

    def __init__(self, database_url: str, timeout: float = DEFAULT_BACKEND_TIMEOUT) -> None:
        """`timeout`: seconds any one statement may take before it fails as Unavailable."""
        self.database = open_database(database_url, timeout)
        self.models = build_models(self.database)
        self.image_cache = ImageCache()
        self._schema_unchecked = False
        self._schema_check = threading.Lock()
        if isinstance(self.database, (PooledPostgresqlDatabase, PooledSqliteDatabase)):
            # Idle pooled connections would otherwise outlive a factory nobody closed (e.g. one app per test).
            weakref.finalize(self, self.database.close_all)

    def __call__(self, write: bool = True) -> PeeweeUnitOfWork:
        if self._schema_unchecked:
            self._check_schema()
        return PeeweeUnitOfWork(self.models, write, self.image_cache)

    def ping(self) -> None:
        with translate_errors(), self._connection():
            self.database.execute_sql("SELECT 1")

    def create_tables(self) -> None:
        """Create missing tables, indexes and columns; safe at every start-up, also from several processes.

        On a current schema this only reads the catalog (see adapters/peewee_schema.py)."""
        with self(write=False), translate_errors():
            if schema_is_current(self.models):
                return
        with self(write=True) as uow:
            with translate_errors():
                create_schema(self.models)
            uow.commit()

    def create_tables_when_reachable(self) -> None:
        """`create_tables` now, or, when the database does not answer, by the first unit of work after it
        does. A process must be able to start during an outage and answer 503s until it ends: gunicorn
        stops altogether when one of its workers fails to boot, so a worker replaced during an outage
        would otherwise take the whole API down for good."""
        try:
            self.create_tables()
        except Unavailable:
            # Not a warning: every request meanwhile answers 503 and says so, and a CLI command that needs the
            # database prints its own one line.
            log.info("the database does not answer; its schema is checked as soon as it does")
            self._schema_unchecked = True

    def _check_schema(self) -> None:
        # Not blocking: the check's own units of work pass by, and so do other threads' meanwhile, which
        # fail as fast as the check does while the database is still out of reach.
        if not self._schema_check.acquire(blocking=False):
            return
        try:
            if self._schema_unchecked:
                self.create_tables()
                self._schema_unchecked = False
        finally:
            self._schema_check.release()

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

class PeeweeUnitOfWork(UnitOfWork):
    """One transaction on the calling thread's connection.

    Entered while the thread already has a transaction open (a nested unit of work), it runs in a
    savepoint of that transaction instead: it then shares the outer one's isolation and locks.
    """

    def __init__(self, models: Models, write: bool, cache: ImageCache | None = None) -> None:
        self._db = models.database
        self._write = write
        self._session = Session(models, write, cache)
        self._state = "new"
        self._opened = False
        self._savepoint: str | None = None
        self.realties = PeeweeRealtyRepository(self._session)
        self.media = PeeweeMediaRepository(self._session)
        self.photos = PeeweePhotoIndex(self._session)
        self.rooms = PeeweeRoomRepository(self._session)
        self.grants = PeeweeGrantRepository(self._session)
        self.tombstones = PeeweeTombstoneRepository(self._session)
        self.blobs = PeeweeBlobRepository(self._session)
        self.processing = PeeweeProcessingRepository(self._session)
        self.requests = PeeweeRequestRepository(self._session)
        self.events = PeeweeEventRepository(self._session)
        self.webhooks = PeeweeWebhookRepository(self._session)
        self.deliveries = PeeweeDeliveryRepository(self._session)

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
        if is_postgres(self._db):
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

