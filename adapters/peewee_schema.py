"""The schema: created when missing and brought up to date at start-up, by any number of processes at
once (gateways and workers start together).

A start-up on a current schema only reads the catalog: no DDL, no table lock. `CREATE ... IF NOT
EXISTS` takes its table lock even when there is nothing to create, and writers queued behind it
deadlocked with each other; so DDL runs only when the catalog lacks something, one process at a time,
and gives up quickly (LOCK_TIMEOUT) rather than stall the writers behind its lock.
"""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone

from playhouse.migrate import SchemaMigrator, migrate

from adapters.peewee_database import is_postgres
from adapters.peewee_models import Models

_SCHEMA_LOCK_KEY = 0x5EA17_1A6E  # advisory lock id: concurrent start-ups change the schema one at a time
_BACKFILL_BATCH = 1000
LOCK_TIMEOUT = "5s"
"""How long schema changes wait for a table lock before the start-up fails (and is retried)."""


def schema_is_current(models: Models) -> bool:
    """Whether every table, column and index of the models exists: catalog reads only."""
    database = models.database
    tables = set(database.get_tables())
    for model in models.all:
        table = model._meta.table_name
        if table not in tables:
            return False
        columns = {column.name for column in database.get_columns(table)}
        if any(field.column_name not in columns for field in model._meta.sorted_fields):
            return False
        indexes = {index.name for index in database.get_indexes(table)}
        if any(index._name not in indexes for index in model._meta.fields_to_index()):
            return False
    return True


def create_schema(models: Models) -> None:
    """Create missing tables and indexes, and add columns that tables made by an earlier version lack.

    Runs inside the caller's write transaction.
    """
    database = models.database
    if is_postgres(database):
        # CREATE ... IF NOT EXISTS still races between processes on PostgreSQL.
        database.execute_sql("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK_KEY,))
        database.execute_sql(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
    if schema_is_current(models):  # another process brought it up to date while this one waited
        return
    counting_starts = not database.table_exists(models.Blob._meta.table_name)
    stamping_starts = _lacks_column(models.Image, "changed_at")
    _add_missing_columns(models)  # before create_tables: new indexes may cover new columns
    if stamping_starts:
        _stamp_images(models)
    database.create_tables(models.all, safe=True)
    if counting_starts:
        _count_blob_uses(models)


def _add_missing_columns(models: Models) -> None:
    database = models.database
    migrator = SchemaMigrator.from_database(database)
    for model in models.all:
        table = model._meta.table_name
        if not database.table_exists(table):
            continue
        present = {column.name for column in database.get_columns(table)}
        operations = [migrator.add_column(table, field.column_name, field)
                      for field in model._meta.sorted_fields if field.column_name not in present]
        if operations:
            migrate(*operations)


def _lacks_column(model, column: str) -> bool:
    """Whether the model's table exists without the column (made by an earlier version)."""
    database, table = model._meta.database, model._meta.table_name
    return database.table_exists(table) and column not in {c.name for c in database.get_columns(table)}


def _stamp_images(models: Models) -> None:
    """Give images saved before the RESO feed their org and change stamps (their last modification)."""
    Image, Realty = models.Image, models.Realty
    org_of_realty = Realty.select(Realty.org).where(Realty.id == Image.realty)
    (Image.update(org=org_of_realty, changed_at=Image.modified_at, media_changed_at=Image.created_at)
     .where(Image.changed_at.is_null()).execute())


def _count_blob_uses(models: Models) -> None:
    """Record the blobs of images saved before blobs were counted (each image had its own then)."""
    Image, Blob = models.Image, models.Blob
    uses: Counter[str] = Counter()
    query = Image.select(Image.storage_key, Image.renditions).order_by(Image.id).dicts()
    for row in query.iterator():
        uses[row["storage_key"]] += 1
        uses.update(rendition["storage_key"] for rendition in row["renditions"] or ())
    now = datetime.now(timezone.utc)
    rows = [{"key": key, "refs": refs, "created_at": now} for key, refs in uses.items()]
    for start in range(0, len(rows), _BACKFILL_BATCH):
        Blob.insert_many(rows[start:start + _BACKFILL_BATCH]).as_rowcount().execute()


__all__ = ["create_schema", "schema_is_current"]
