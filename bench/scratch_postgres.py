"""Throw-away PostgreSQL databases for the benches, and the EXPLAIN of the SQL a gateway call sent to one."""
from __future__ import annotations

import logging
import uuid
from contextlib import contextmanager
from typing import Callable, Hashable, Iterable, Iterator, TypeVar

K = TypeVar("K", bound=Hashable)


class NoPostgres(Exception):
    """No PostgreSQL answers at the admin URL: the bench skips what needs one and says why."""


@contextmanager
def scratch_databases(admin_url: str, keys: Iterable[K], prefix: str = "realty_bench") -> Iterator[dict[K, str]]:
    """A new empty database per key, beside `admin_url`'s, as {key: url}; every one dropped when the block ends
    (also one whose creation failed halfway). Raises NoPostgres when no PostgreSQL answers."""
    try:
        import psycopg2
        from psycopg2 import sql

        admin = psycopg2.connect(admin_url, connect_timeout=3)
    except Exception as exc:  # noqa: BLE001 - any failure to connect means "no PostgreSQL here"
        raise NoPostgres(f"no PostgreSQL answers at {admin_url} ({exc.__class__.__name__})") from exc
    admin.autocommit = True
    names = {key: f"{prefix}_{uuid.uuid4().hex[:10]}" for key in keys}
    try:
        with admin.cursor() as cur:
            for name in names.values():
                cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        yield {key: admin_url.rsplit("/", 1)[0] + "/" + name for key, name in names.items()}
    finally:
        with admin.cursor() as cur:
            for name in names.values():
                cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.close()
        print(f"dropped the scratch databases {', '.join(names.values())}", flush=True)


class _SqlLog(logging.Handler):
    """peewee logs every statement as (sql, params) at DEBUG."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.statements: list[tuple[str, tuple]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if isinstance(record.msg, tuple) and len(record.msg) == 2:
            self.statements.append((record.msg[0], tuple(record.msg[1] or ())))


def explain_selects(url: str, send: Callable[[], object], wanted: Callable[[str], bool] = lambda statement: True,
                    indent: str = "") -> None:
    """Print EXPLAIN (ANALYZE, BUFFERS) of each SELECT that `send` made peewee run (those `wanted`), on `url`."""
    import psycopg2

    log, logger = _SqlLog(), logging.getLogger("peewee")
    level = logger.level
    logger.addHandler(log)
    logger.setLevel(logging.DEBUG)
    try:
        send()
    finally:
        logger.removeHandler(log)
        logger.setLevel(level)
    connection = psycopg2.connect(url)
    try:
        with connection.cursor() as cur:
            for statement, params in log.statements:
                if not statement.lstrip().upper().startswith("SELECT") or not wanted(statement):
                    continue
                cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, params)
                print(f"\n{indent}EXPLAIN (ANALYZE, BUFFERS) {cur.mogrify(statement, params).decode()}")
                for (line,) in cur.fetchall():
                    print(f"{indent}  {line}")
    finally:
        connection.close()
