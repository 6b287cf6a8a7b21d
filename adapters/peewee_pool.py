"""PostgreSQL connections that never wait longer than the backend timeout (CONTRACT §8).

Two things stand between a hung database server and a fast 503:

- psycopg2 blocks in C until the server answers. In psycopg2's "green" mode every wait goes through a
  Python callback instead; ours polls the socket with a deadline (the backend timeout) and gives up
  with `BackendTimeout`, after which psycopg2 closes the connection. Server-side `statement_timeout`
  cannot do this alone: a server that never receives the statement (a frozen network) never cancels it.
- peewee's pool opens new connections while holding both its pool lock and the database lock, and
  checks idle ones with a round trip under the pool lock: with a server that does not answer, every
  thread would queue behind one connection attempt, each waiting its turn. `TimedPostgresqlPool` opens
  connections outside any lock and checks idle ones without a round trip.
"""
from __future__ import annotations

import heapq
import select
import time
from typing import Any

import peewee
import psycopg2
import psycopg2.extensions as pg
from playhouse.pool import MaxConnectionsExceeded, PooledPostgresqlDatabase, PoolConnection


class BackendTimeout(psycopg2.OperationalError):
    """The database did not answer within the backend timeout; the connection has been closed."""


def timed_connection_class(timeout: float) -> type[pg.connection]:
    """A psycopg2 connection class carrying its deadline, for `connection_factory`."""
    return type("TimedConnection", (pg.connection,), {"backend_timeout": timeout})


def wait_with_deadline(conn: pg.connection) -> None:
    """psycopg2's wait callback (`set_wait_callback`): wait for the server, at most the connection's
    `backend_timeout` seconds per statement (or connection attempt); connections without one wait as
    long as it takes, as psycopg2 itself would."""
    timeout = getattr(conn, "backend_timeout", None)
    deadline = None if timeout is None else time.monotonic() + timeout
    poller = select.poll()  # not select.select: a busy server's descriptors go past FD_SETSIZE
    registered = None
    while True:
        try:
            state = conn.poll()
        except psycopg2.OperationalError as exc:
            if conn.server_version:
                raise
            # libpq names the server only in its blocking connect: operators need it (the client never sees it).
            raise psycopg2.OperationalError(
                f"connection to server at {conn.info.host}:{conn.info.port} failed: {exc}") from exc
        if state == pg.POLL_OK:
            return
        if state == pg.POLL_READ:
            events = select.POLLIN
        elif state == pg.POLL_WRITE:
            events = select.POLLOUT
        else:
            raise psycopg2.OperationalError(f"unexpected psycopg2 poll state {state!r}")
        if registered is None:
            poller.register(conn.fileno(), events)
        elif registered != events:
            poller.modify(conn.fileno(), events)
        registered = events
        if deadline is None:
            poller.poll()
            continue
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise BackendTimeout(f"the database at {conn.info.host}:{conn.info.port} did not answer "
                                 f"within {timeout:g} s")
        poller.poll(remaining * 1000)


def install_wait_callback() -> None:
    """Route psycopg2's waits through `wait_with_deadline`. The callback is process-wide in psycopg2;
    it only bounds connections made with `timed_connection_class`, so setting it twice is harmless."""
    if pg.get_wait_callback() is not wait_with_deadline:
        pg.set_wait_callback(wait_with_deadline)


class TimedPostgresqlPool(PooledPostgresqlDatabase):
    """peewee's PostgreSQL pool, rearranged so that no thread waits on another's round trip.

    Check-out takes an idle connection only if its socket shows nothing to read (an idle connection
    has nothing to read unless the server said goodbye: EOF, a termination notice); a new connection
    is opened outside every lock, bounded by the wait callback. Check-in keeps a connection only if it
    is idle: one left in a transaction is closed rather than rolled back over a network that may hang.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._opening = 0
        """Connections being opened right now, outside the lock: they count towards max_connections."""
        super().__init__(*args, **kwargs)

    def connect(self, reuse_if_open: bool = False) -> bool:
        # peewee's Database.connect does this under a database-wide lock; the state is per thread.
        if not self._state.closed:
            if reuse_if_open:
                return False
            raise peewee.OperationalError("Connection already opened.")
        self._state.reset()
        with peewee.__exception_wrapper__:
            conn = self._check_out()
            try:
                self._state.set_connection(conn)
                if self.server_version is None:
                    self._set_server_version(conn)
                self._initialize_connection(conn)
            except BaseException:
                self._state.reset()
                self._close(conn, close_conn=True)  # never counted as in use by nobody
                raise
        return True

    def _check_out(self) -> Any:
        deadline = time.monotonic() + (self._wait_timeout or float("inf"))
        with self._pool_available:
            while True:
                conn = self._take_idle()
                if conn is not None:
                    return conn
                if not self._max_connections or len(self._in_use) + self._opening < self._max_connections:
                    self._opening += 1
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise MaxConnectionsExceeded("Max connections exceeded, timed out attempting to connect.")
                self._pool_available.wait(timeout=min(remaining, 1.0))
        try:
            conn = peewee.PostgresqlDatabase._connect(self)
        finally:
            with self._pool_available:
                self._opening -= 1
                self._pool_available.notify()
        with self._pool_lock:
            self._in_use[self.conn_key(conn)] = PoolConnection(time.time(), conn, time.time())
        return conn

    def _take_idle(self) -> Any:
        while self._connections:
            timestamp, _counter, conn = heapq.heappop(self._connections)
            if self._is_closed(conn) or (self._stale_timeout and self._is_stale(timestamp)):
                self._close_raw(conn)
                continue
            self._in_use[self.conn_key(conn)] = PoolConnection(timestamp, conn, time.time())
            return conn
        return None

    def _is_closed(self, conn: Any) -> bool:
        if conn.closed or conn.get_transaction_status() == pg.TRANSACTION_STATUS_UNKNOWN:
            return True
        poller = select.poll()
        poller.register(conn.fileno(), select.POLLIN)
        return bool(poller.poll(0))

    def _can_reuse(self, conn: Any) -> bool:
        return not conn.closed and conn.get_transaction_status() == pg.TRANSACTION_STATUS_IDLE


__all__ = ["BackendTimeout", "TimedPostgresqlPool", "install_wait_callback", "timed_connection_class"]
