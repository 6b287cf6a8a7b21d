"""The relational schema, as peewee models.

Models are built per database (`build_models`) rather than declared once at module level: a peewee
model is bound to exactly one database, and a process may hold several unit-of-work factories at
once (tests do; so could a migration tool). Each factory therefore owns its own model classes.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from peewee import (
    SQL, AutoField, BigAutoField, BigIntegerField, BlobField, BooleanField, CharField, CompositeKey, Database, Field,
    ForeignKeyField, IntegerField, Model, PostgresqlDatabase, TextField, UUIDField,
)

_SQLITE_DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


class UtcDateTimeField(Field):
    """Timezone-aware UTC datetimes in and out, on every database.

    PostgreSQL gets a real `timestamptz`, so the stored instant never depends on the session's time
    zone. SQLite has no datetime type: there we store fixed-width UTC text, so comparing and sorting
    the text compares the instants (`expires_at > now` must work in SQL on both).
    """

    field_type = "DATETIME"

    def ddl_datatype(self, ctx: Any) -> SQL:
        return SQL("TIMESTAMPTZ" if self._native else "DATETIME")

    @property
    def _native(self) -> bool:
        return isinstance(self.model._meta.database, PostgresqlDatabase)

    def db_value(self, value: datetime | None) -> datetime | str | None:
        if value is None:
            return None
        # A naive datetime is taken to be UTC already: the domain only ever produces aware UTC ones.
        utc = value.astimezone(timezone.utc) if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return utc if self._native else utc.strftime(_SQLITE_DATETIME_FORMAT)

    def python_value(self, value: datetime | str | None) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return value.astimezone(timezone.utc) if value.tzinfo else value.replace(tzinfo=timezone.utc)


class JsonTextField(TextField):
    """JSON kept as plain text: the same column type and behaviour on SQLite and PostgreSQL."""

    def db_value(self, value: Any) -> str | None:
        return None if value is None else json.dumps(value, sort_keys=True, separators=(",", ":"))

    def python_value(self, value: str | None) -> Any:
        return None if value is None else json.loads(value)


@dataclass(frozen=True)
class Models:
    """One database's model classes."""

    database: Database
    Realty: type[Model]
    Room: type[Model]
    Image: type[Model]
    UploadGrant: type[Model]
    BlobTombstone: type[Model]
    Blob: type[Model]
    IdempotentRequest: type[Model]
    Event: type[Model]
    EventFeed: type[Model]
    Webhook: type[Model]
    WebhookDelivery: type[Model]
    WebhookAttempt: type[Model]
    MediaClock: type[Model]
    PerceptualBand: type[Model]

    @property
    def all(self) -> list[type[Model]]:
        return [self.Realty, self.Room, self.Image, self.UploadGrant, self.BlobTombstone, self.Blob,
                self.IdempotentRequest, self.Event, self.EventFeed, self.Webhook, self.WebhookDelivery,
                self.WebhookAttempt, self.MediaClock,
                self.PerceptualBand]


def build_models(database: Database) -> Models:
    """Fresh model classes bound to `database` only."""

    bound_to = database  # a class body cannot read a closure variable it also assigns

    class Base(Model):
        class Meta:
            database = bound_to

    class Realty(Base):
        id = AutoField()
        uuid = UUIDField(unique=True)
        org = CharField(max_length=255)
        name = TextField(null=True)
        external_id = TextField(null=True)
        created_at = UtcDateTimeField()
        version = BigIntegerField(default=0)
        """Bumped by every change of the realty's images: readers may reuse images read at the same version."""

        class Meta:
            table_name = "realty"

    class Room(Base):
        id = AutoField()
        realty = ForeignKeyField(Realty, on_delete="CASCADE", index=True)
        name = TextField()
        created_at = UtcDateTimeField()

        class Meta:
            table_name = "room"

    class Image(Base):
        id = AutoField()
        uuid = UUIDField(unique=True)
        realty = ForeignKeyField(Realty, on_delete="CASCADE", index=False)  # covered by (realty, position)
        room = ForeignKeyField(Room, null=True, on_delete="SET NULL", index=True)
        kind = CharField(max_length=32)
        position = IntegerField()
        storage_key = TextField()
        content_type = CharField(max_length=255)
        width = IntegerField()
        height = IntegerField()
        file_size = BigIntegerField()
        md5 = CharField(max_length=32)
        description = TextField(null=True)
        original_file_name = TextField(null=True)
        category = CharField(max_length=64, null=True)
        hero = BooleanField(default=False)
        status = CharField(max_length=32)
        created_at = UtcDateTimeField()
        modified_at = UtcDateTimeField()
        renditions = JsonTextField(default=list)
        # READY is what rows written before processing existed are: they were rendered on save.
        processing = CharField(max_length=16, default="READY")
        processing_error = TextField(null=True)
        processing_queued_at = UtcDateTimeField(null=True)
        """When the image's render job was last queued or started: finds the ones a crash or lost message left."""
        processing_attempts = IntegerField(default=0)
        """Render attempts begun: each stores its renditions under keys of its own."""
        # NULL only in rows of databases made before these columns, until create_schema fills them in.
        org = CharField(max_length=255, null=True)
        """Its realty's org (which never changes), so one org's published images are one index range."""
        changed_at = UtcDateTimeField(null=True)
        """When anything a reader sees of it last changed; stamped per org in commit order (MediaClock)."""
        media_changed_at = UtcDateTimeField(null=True)
        """When its stored files (original, renditions) last changed."""
        checks = JsonTextField(null=True)
        """What the render job measured (CONTRACT §11); null until READY."""

        class Meta:
            table_name = "image"
            # Not unique: positions are rewritten in place on reorder, and uniqueness would need deferred checks.
            indexes = (
                (("realty", "position"), False),
                (("processing", "processing_queued_at"), False),
                (("org", "status", "changed_at", "uuid"), False),  # a replication page is one index range
                (("md5",), False),  # exact duplicates across the org
            )

    class PerceptualBand(Base):
        """One band of an image's perceptual hash (core/photo_checks.py): duplicates are looked up by
        (org, band_no, band_value), an index range per probe, never by reading the org's images."""

        image = ForeignKeyField(Image, on_delete="CASCADE", index=False)  # the primary key's first column
        band_no = IntegerField()
        org = CharField(max_length=255)
        band_value = IntegerField()
        perceptual_hash = BigIntegerField()
        """The whole hash (signed), so candidates are verified without reading their images."""

        class Meta:
            table_name = "perceptual_band"
            primary_key = CompositeKey("image", "band_no")
            # The hash and image in the index too: a lookup reads the index alone (an index-only scan on
            # PostgreSQL), never the table's pages, which at 1,000,000 images are scattered over 400 MB.
            indexes = ((("org", "band_no", "band_value", "perceptual_hash", "image"), False),)

    class UploadGrant(Base):
        key = CharField(max_length=1024, primary_key=True)
        org = CharField(max_length=255)
        content_type = CharField(max_length=255)
        created_at = UtcDateTimeField(index=True)  # garbage collection scans by age
        expires_at = UtcDateTimeField()
        used_at = UtcDateTimeField(null=True)

        class Meta:
            table_name = "upload_grant"

    class BlobTombstone(Base):
        key = CharField(max_length=1024, primary_key=True)
        created_at = UtcDateTimeField(index=True)

        class Meta:
            table_name = "blob_tombstone"

    class Blob(Base):
        """A stored blob of images and how many use it; 0 while its writer has reserved it only."""

        key = CharField(max_length=1024, primary_key=True)
        refs = IntegerField(default=0)
        created_at = UtcDateTimeField()

        class Meta:
            table_name = "blob"
            indexes = ((("refs", "created_at"), False),)  # gc looks for old reservations

    class IdempotentRequest(Base):
        """A write of an org named by its client's key, done at most once (core/idempotency.py)."""

        id = AutoField()
        org = CharField(max_length=255)
        key = CharField(max_length=255)
        operation = CharField(max_length=255)
        fingerprint = CharField(max_length=64)
        owner = CharField(max_length=32)
        created_at = UtcDateTimeField(index=True)  # gc expires by age
        answer = BlobField(null=True)
        """zlib-compressed; NULL while the write runs."""
        done = BooleanField(default=False)
        """Set in the write's own transaction: it committed, so it is never done again."""

        class Meta:
            table_name = "idempotent_request"
            indexes = ((("org", "key"), True),)  # one holder per key: of two racing claims one wins

    class Event(Base):
        """The outbox: published events (CONTRACT §10), written in the transaction of their change."""

        id = BigAutoField()
        org = CharField(max_length=255)
        seq = BigIntegerField()
        """The event's place in its org's feed (the cursor)."""
        event_id = CharField(max_length=64)
        type = CharField(max_length=32)
        occurred_at = UtcDateTimeField(index=True)  # gc prunes by age
        data = JsonTextField()

        class Meta:
            table_name = "event"
            indexes = ((("org", "seq"), True),)  # a feed page is one index range

    class EventFeed(Base):
        """Per org: the last event's number and how far old events were pruned. Adding events updates
        the org's row, so transactions publishing events of one org take turns and numbers follow
        commit order: a reader never sees event n+1 before event n is committed."""

        org = CharField(max_length=255, primary_key=True)
        last_seq = BigIntegerField(default=0)
        pruned_through = BigIntegerField(default=0)
        fanned_out_through = BigIntegerField(default=0)
        """Events up to this one were made due to the org's webhooks."""

        class Meta:
            table_name = "event_feed"
            indexes = ((("fanned_out_through", "last_seq"), False),)

    class Webhook(Base):
        id = UUIDField(primary_key=True)
        org = CharField(max_length=255, index=True)
        url = TextField()
        events = JsonTextField()
        secret = CharField(max_length=255)
        description = TextField(null=True)
        created_at = UtcDateTimeField()
        after_seq = BigIntegerField(default=0)
        failing_since = UtcDateTimeField(null=True)
        disabled_at = UtcDateTimeField(null=True)
        disabled_reason = TextField(null=True)

        class Meta:
            table_name = "webhook"

    class WebhookDelivery(Base):
        """An event due to a webhook; `due_at` is NULL once it is delivered or given up."""

        id = BigAutoField()
        webhook = ForeignKeyField(Webhook, on_delete="CASCADE", index=False)  # covered by the indexes below
        event_seq = BigIntegerField()
        attempts = IntegerField(default=0)
        due_at = UtcDateTimeField(null=True)
        settled_at = UtcDateTimeField(null=True, index=True)  # gc removes old settled deliveries

        class Meta:
            table_name = "webhook_delivery"
            indexes = (
                (("webhook", "event_seq"), True),  # one delivery per event, however often it is fanned out
                (("webhook", "due_at"), False),  # what a delivery job claims
                (("due_at",), False),  # what the sweep finds overdue
            )

    class WebhookAttempt(Base):
        """The delivery log: every attempt, as GET /webhooks/{id}/deliveries shows it."""

        id = BigAutoField()
        webhook = ForeignKeyField(Webhook, on_delete="CASCADE", index=False)
        event_id = CharField(max_length=64)
        event_type = CharField(max_length=32)
        attempt = IntegerField()
        at = UtcDateTimeField(index=True)  # gc removes old ones
        status_code = IntegerField(null=True)
        duration_ms = IntegerField()
        error = TextField(null=True)
        state = CharField(max_length=16)
        next_attempt_at = UtcDateTimeField(null=True)

        class Meta:
            table_name = "webhook_attempt"
            indexes = ((("webhook", "id"), False),)  # the latest of one webhook

    class MediaClock(Base):
        """Per org: the latest `image.changed_at` stamped. A writer holds its org's row from stamping to
        commit, so stamps follow commit order and a reader never sees a later stamp before an earlier one."""

        org = CharField(max_length=255, primary_key=True)
        changed_through = UtcDateTimeField()

        class Meta:
            table_name = "media_clock"

    return Models(database, Realty, Room, Image, UploadGrant, BlobTombstone, Blob, IdempotentRequest, Event,
                  EventFeed, Webhook, WebhookDelivery, WebhookAttempt, MediaClock,
                  PerceptualBand)
