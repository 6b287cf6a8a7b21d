"""Opening a peewee database for a DATABASE_URL, and turning driver errors into the core's errors."""
from __future__ import annotations

import contextlib
import functools
import os
from typing import Any, Callable, Iterator, TypeVar

import peewee
from playhouse.db_url import parse as parse_db_url
from playhouse.pool import MaxConnectionsExceeded, PooledPostgresqlDatabase, PooledSqliteDatabase

from core.errors import Conflict, Unavailable

SQLITE_BUSY_TIMEOUT_MS = 10_000

_PG_RETRYABLE = {"40001", "40P01"}  # serialization failure, deadlock detected

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


def db_errors(method: F) -> F:
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


def is_postgres(database: peewee.Database) -> bool:
    return isinstance(database, peewee.PostgresqlDatabase)

