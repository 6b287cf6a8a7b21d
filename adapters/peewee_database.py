"""Opening a peewee database for a DATABASE_URL, and turning driver errors into the core's errors."""
from __future__ import annotations

import contextlib
import math
import os
from typing import Any, Iterator

import peewee
from playhouse.db_url import parse as parse_db_url
from playhouse.pool import MaxConnectionsExceeded, PooledSqliteDatabase

from adapters.peewee_pool import BackendTimeout, TimedPostgresqlPool, install_wait_callback, timed_connection_class
from adapters.observations import outage
from core.errors import Conflict, TimedOut, Unavailable

DEFAULT_BACKEND_TIMEOUT = 10.0
"""Seconds a statement may take (BACKEND_TIMEOUT); the composition root passes the configured value."""

_PG_RETRYABLE = {"40001", "40P01"}  # serialization failure, deadlock detected
_PG_CANCELED = "57014"  # query_canceled: statement_timeout


# --- errors ----------------------------------------------------------------------------------------

@contextlib.contextmanager
def translate_errors() -> Iterator[None]:
    """Turn driver errors that mean "cannot reach or use the database now" into the core's errors.

    Integrity and programming errors pass through untouched: they are bugs, not outages.
    """
    try:
        yield
    except MaxConnectionsExceeded as exc:  # waited the whole timeout: every connection is busy or stuck
        raise outage("database", TimedOut("the database has no free connection")) from exc
    except peewee.OperationalError as exc:
        driver_error = _driver_error(exc)
        if getattr(driver_error, "pgcode", None) in _PG_RETRYABLE:
            raise Conflict("a concurrent change won; retry") from exc
        if isinstance(driver_error, BackendTimeout) or getattr(driver_error, "pgcode", None) == _PG_CANCELED:
            raise outage("database", TimedOut("the database did not answer in time")) from exc
        # Everything else: unreachable, refusing, a connection the server closed.
        raise outage("database", Unavailable("the database is unavailable")) from exc
    except peewee.InterfaceError as exc:
        # peewee raises InterfaceError itself for misuse (a message string); only wrapped driver errors,
        # such as a connection closed by the server, are outages.
        if isinstance(_driver_error(exc), Exception):
            raise outage("database", Unavailable("the database is unavailable")) from exc
        raise


def _driver_error(exc: BaseException) -> object:
    # peewee re-raises driver exceptions as its own type with the original as first argument.
    return exc.args[0] if exc.args else None


db_errors = translate_errors()
"""The same as a method decorator: contextlib's context managers decorate, entered anew for each call."""


# --- opening a database ----------------------------------------------------------------------------

def open_database(database_url: str, timeout: float = DEFAULT_BACKEND_TIMEOUT) -> peewee.Database:
    """A peewee database for a `DATABASE_URL` (`sqlite:///path`, `postgresql://user@host:5432/db`) whose
    statements each answer, or fail, within `timeout` seconds.

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
        # A local file cannot hang the way a server can; what can is waiting for another writer's lock.
        kwargs.setdefault("pragmas", {
            "journal_mode": "wal",
            "busy_timeout": int(timeout * 1000),
            "foreign_keys": 1,
            "synchronous": "normal",  # durable enough with WAL, and much faster per commit
        })
        kwargs.setdefault("timeout", timeout)
        if scheme == "sqlite+pool":
            kwargs.setdefault("check_same_thread", False)  # pooled connections move between threads
            return PooledSqliteDatabase(name, autoconnect=False, **kwargs)
        return peewee.SqliteDatabase(name, autoconnect=False, **kwargs)
    if scheme in ("postgres", "postgresql", "postgres+pool", "postgresql+pool"):
        # Always pooled: a threaded server would otherwise open a server connection per request.
        kwargs.setdefault("max_connections", 20)
        kwargs.setdefault("stale_timeout", 300)
        kwargs.setdefault("timeout", max(1, math.ceil(timeout)))  # seconds to wait for a free pooled connection
        _bound_postgres(kwargs, timeout)
        return TimedPostgresqlPool(name, autoconnect=False, **kwargs)
    raise ValueError(f"unsupported DATABASE_URL scheme {scheme!r}: use sqlite:/// or postgresql://")


def _bound_postgres(kwargs: dict[str, Any], timeout: float) -> None:
    """Every way a PostgreSQL call can wait, bounded by `timeout` (see adapters/peewee_pool.py)."""
    milliseconds = max(1, int(timeout * 1000))
    install_wait_callback()
    kwargs.setdefault("connection_factory", timed_connection_class(timeout))  # the client-side deadline
    kwargs.setdefault("connect_timeout", max(2, math.ceil(timeout)))  # libpq's minimum is 2 s
    # The server gives up on a statement (a lock wait included) by itself too, so a statement whose
    # client went away does not keep running, and a slow one fails cleanly on a reusable connection.
    server_options = f"-c statement_timeout={milliseconds}"
    kwargs["options"] = f"{kwargs['options']} {server_options}" if kwargs.get("options") else server_options
    # Idle pooled connections to a vanished host are noticed by the kernel; unacknowledged sends too.
    kwargs.setdefault("keepalives", 1)
    kwargs.setdefault("keepalives_idle", 30)
    kwargs.setdefault("keepalives_interval", 5)
    kwargs.setdefault("keepalives_count", 3)
    kwargs.setdefault("tcp_user_timeout", milliseconds)


def is_postgres(database: peewee.Database) -> bool:
    return isinstance(database, peewee.PostgresqlDatabase)

