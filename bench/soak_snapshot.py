"""What the gateway left behind, read past it: its database tables and its bucket, directly.

The soak's checks compare these with what clients were told, so they read the tables as the peewee
models (adapters/peewee_models.py) lay them out, and the bucket with boto3 against moto itself rather
than through the fault proxy.
"""
from __future__ import annotations

import json
from collections import Counter
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timezone

import psycopg2

IMAGES = """SELECT i.uuid, r.uuid, r.org, i.position, i.hero, i.status = 'APPROVED', i.processing, i.storage_key,
                   i.renditions, i.md5, i.file_size, i.processing_attempts, i.processing_queued_at, i.processing_error
            FROM image i JOIN realty r ON r.id = i.realty_id"""


@dataclass(frozen=True)
class ImageRow:
    uuid: str
    realty: str
    org: str
    position: int
    hero: bool
    published: bool
    processing: str
    storage_key: str
    rendition_keys: tuple[str, ...]
    md5: str
    file_size: int
    attempts: int
    queued_at: datetime | None
    error: str | None

    @property
    def keys(self) -> list[str]:
        return [self.storage_key, *self.rendition_keys]


@dataclass(frozen=True)
class Snapshot:
    images: list[ImageRow]
    realties: dict[str, str]
    """Realty UUID -> org."""
    grants: dict[str, datetime | None]
    """Upload key -> when it was saved (None: never)."""
    blobs: dict[str, tuple[int, datetime]]
    """Blob key -> (images counted as using it, when it was reserved)."""
    tombstones: set[str]
    objects: dict[str, int]
    """Bucket key -> size."""
    taken_at: datetime

    def uses(self) -> Counter[str]:
        """How many image rows name each stored key (as original or rendition)."""
        return Counter(key for image in self.images for key in image.keys)

    def by_realty(self) -> dict[str, list[ImageRow]]:
        grouped: dict[str, list[ImageRow]] = {uuid: [] for uuid in self.realties}
        for image in self.images:
            grouped[image.realty].append(image)
        return grouped


def pending(database_url: str) -> list[ImageRow]:
    return _images(database_url, "WHERE i.processing = 'PENDING'")


def take(database_url: str, s3, bucket: str) -> Snapshot:
    with closing(psycopg2.connect(database_url)) as conn, conn.cursor() as cur:
        # One repeatable-read transaction: the tables as of one instant, whatever a sweep does meanwhile.
        conn.set_session(isolation_level="REPEATABLE READ", readonly=True)
        images = _rows(cur, IMAGES)
        cur.execute("SELECT uuid, org FROM realty")
        realties = {str(uuid): org for uuid, org in cur.fetchall()}
        cur.execute("SELECT key, used_at FROM upload_grant")
        grants = dict(cur.fetchall())
        cur.execute("SELECT key, refs, created_at FROM blob")
        blobs = {key: (refs, created) for key, refs, created in cur.fetchall()}
        cur.execute("SELECT key FROM blob_tombstone")
        tombstones = {key for (key,) in cur.fetchall()}
    objects = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        objects.update({o["Key"]: o["Size"] for o in page.get("Contents", [])})
    return Snapshot(images, realties, grants, blobs, tombstones, objects, datetime.now(timezone.utc))


def _images(database_url: str, where: str) -> list[ImageRow]:
    with closing(psycopg2.connect(database_url)) as conn, conn.cursor() as cur:
        return _rows(cur, f"{IMAGES} {where}")


def _rows(cur, query: str) -> list[ImageRow]:
    cur.execute(query)
    return [ImageRow(str(uuid), str(realty), org, position, hero, published, processing, key,
                     tuple(r["storage_key"] for r in json.loads(renditions or "[]")), md5, size, attempts, queued,
                     error)
            for (uuid, realty, org, position, hero, published, processing, key, renditions, md5, size, attempts,
                 queued, error) in cur.fetchall()]
