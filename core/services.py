"""The operations both facades call. Each is one use case: load, apply domain rules, persist, commit."""
from __future__ import annotations

import hashlib
import logging
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable, Hashable, Sequence
from uuid import UUID

from core.blob_ledger import BlobLedger
from core.domain import (
    ACCEPTED_UPLOAD_TYPES, EXTENSIONS, Image, ImageCategory, ImageChange, ImageKind, ImageRef,
    Realty, Room, UploadGrant, check_room_count, copy_of,
)
from core.errors import FieldError, InvalidInput, NotFound, Problem, UnsupportedMediaType, UploadRejected
from core.idempotency import Answer, IdempotencyLimits, IdempotentWrites, Outcome
from core.ports import (
    BlobStore, Caller, Clock, IdGenerator, ImageFacts, ImageInspector, JobQueue, RenderJob, UnitOfWorkFactory,
    UploadForm,
)
from core.input_rules import TextRules, clean_file_name
from core.processing import render_jobs
from core.uploads import UploadVerifier, batch_keys

log = logging.getLogger(__name__)

UPLOAD_PREFIX = "uploads/"
DIRECT_UPLOAD_TYPES = (*ACCEPTED_UPLOAD_TYPES, "image/bmp")
"""Types a direct (GraphQL) upload may be: the GraphQL source accepts jpg, png, bmp and webp."""


@dataclass(frozen=True)
class Limits:
    max_upload_bytes: int = 25 * 1024 * 1024
    max_image_pixels: int = 100_000_000
    grant_ttl: timedelta = timedelta(hours=1)
    url_ttl: timedelta = timedelta(hours=1)
    upload_retention: timedelta = timedelta(hours=24)
    reservation_grace: timedelta = timedelta(hours=1)
    """How long a blob may stay reserved by its writer before gc takes it for abandoned; far longer
    than any save or render job takes."""


@dataclass(frozen=True)
class UploadedImage:
    """One item of a REST save: an uploaded key plus the caller's metadata."""

    key: str
    description: str | None = None
    original_file_name: str | None = None
    category: ImageCategory | None = None
    hero: bool = False


@dataclass(frozen=True)
class DirectUpload:
    """An image whose bytes arrive with the request (GraphQL multipart)."""

    data: bytes
    filename: str | None
    category: ImageCategory | None = None
    hero: bool = False
    description: str | None = None
    kind: ImageKind = ImageKind.PROPERTY
    room_id: int | None = None


@dataclass(frozen=True)
class IssuedGrant:
    key: str
    form: UploadForm
    expires_at: datetime


class ImageService:
    def __init__(self, uow: UnitOfWorkFactory, blobs: BlobStore, inspector: ImageInspector, clock: Clock,
                 ids: IdGenerator, jobs: JobQueue, pool: Executor, limits: Limits = Limits(),
                 idempotency: IdempotencyLimits = IdempotencyLimits()) -> None:
        """`pool` runs the per-upload I/O and decoding of a save; its size bounds how many run at once."""
        self._uow = uow
        self._blobs = blobs
        self._clock = clock
        self._ids = ids
        self._jobs = jobs
        self._ledger = BlobLedger(uow, blobs, clock)
        self._verifier = UploadVerifier(blobs, inspector, pool, limits.max_upload_bytes, limits.max_image_pixels)
        self._writes = IdempotentWrites(uow, clock, ids, idempotency)
        self.limits = limits
        self._url_ttl = int(limits.url_ttl.total_seconds())

    def run_once(self, caller: Caller, key: str, operation: str, fingerprint: str,
                 write: Callable[[], Answer]) -> Outcome:
        """Run a write at most once per key of the caller's org; a retry gets the first answer (core/idempotency.py)."""
        return self._writes.run(caller, key, operation, fingerprint, write)

    # --- uploads --------------------------------------------------------------------------------

    def issue_grant(self, caller: Caller, content_type: str) -> IssuedGrant:
        if content_type not in ACCEPTED_UPLOAD_TYPES:
            raise UnsupportedMediaType(
                f"type must be one of {', '.join(ACCEPTED_UPLOAD_TYPES)}",
                [FieldError("content_type", Problem.WRONG_TYPE, f"unsupported content type {content_type!r}")],
            )
        key = f"{UPLOAD_PREFIX}{self._ids.new()}"
        now = self._clock.now()
        ttl = int(self.limits.grant_ttl.total_seconds())
        form = self._blobs.upload_form(key, content_type, self.limits.max_upload_bytes, ttl)
        with self._uow() as uow:
            uow.grants.add(UploadGrant(key=key, org=caller.org, content_type=content_type,
                                       created_at=now, expires_at=now + self.limits.grant_ttl))
            uow.commit()
        return IssuedGrant(key=key, form=form, expires_at=now + self.limits.grant_ttl)

    def save_uploads(self, caller: Caller, realty_uuid: UUID, items: Sequence[UploadedImage]) -> list[Image]:
        """Verify every uploaded object, then attach them all to the realty, or none of them.

        Renditions are made afterwards by jobs: the images are answered PENDING.
        """
        client_keys = batch_keys([item.key for item in items])
        texts = TextRules()
        for n, item in enumerate(items):
            texts.storable(item.key, f"uploads[{n}].key")
            texts.description(item.description, f"uploads[{n}].description")
            texts.original_file_name(item.original_file_name, f"uploads[{n}].original_file_name")
        texts.raise_if_any()
        keys = [self._logical_key(k) for k in client_keys]
        now = self._clock.now()
        with self._uow(write=False) as uow:
            grants = uow.grants.get_many(keys)
            existing = uow.realties.get(caller.org, realty_uuid)
        if existing is not None:
            existing.check_room_for(len(items), "uploads")  # fail fast; re-checked under the lock
        verified = self._verifier.verify_batch(caller, keys, client_keys, grants, now)
        images = [self._new_image(v.facts, v.size, v.md5, realty_uuid, now, description=item.description,
                                  original_file_name=clean_file_name(item.original_file_name),
                                  category=item.category, hero=item.hero)
                  for v, item in zip(verified, items)]
        originals = [image.storage_key for image in images]
        with self._ledger.writing(originals):
            self._verifier.store_originals(verified, originals)
            with self._uow() as uow:
                realty = self._lock(uow, caller, realty_uuid, create=True)
                realty.append(images, now, "uploads")
                if uow.grants.claim(caller.org, keys, now) != len(keys):
                    raise UploadRejected("An upload was saved by another request meanwhile; none was saved",
                                         [FieldError(k, Problem.INVALID, "already saved", upload=True)
                                          for k in client_keys])
                uow.realties.save_images(realty)
                self._ledger.use(uow, originals)
                uow.tombstones.add(keys, now)  # the uploads themselves: their bytes now live under `originals`
                uow.commit()
        self._ledger.purge(keys)
        self._enqueue(render_jobs(caller.org, images))
        return images

    def upload_image(self, caller: Caller, realty_ref: UUID | int | None, upload: DirectUpload) -> Image:
        """Attach an image whose bytes came with the request (GraphQL); renditions follow by a job. A room's
        image may leave out `realty_ref`: its room says which realty it belongs to."""
        texts = TextRules()
        texts.description(upload.description, "description")
        texts.raise_if_any()
        with self._uow(write=False) as uow:
            room = uow.rooms.get(caller.org, upload.room_id) if upload.room_id is not None else None
            ref = room.realty_uuid if room is not None else realty_ref
            realty = uow.realties.get(caller.org, ref) if ref is not None else None
        if realty is None:
            raise NotFound(f"Realty {realty_ref} or room {upload.room_id} not found")
        if room is not None and realty_ref is not None and realty_ref not in (realty.uuid, realty.id):
            raise NotFound("The room is not a room of this property")
        realty.check_room_for(1, "file")  # fail fast, before decoding; re-checked under the lock
        facts = self._verifier.verify_bytes(upload.data, allowed=DIRECT_UPLOAD_TYPES)
        now = self._clock.now()
        image = self._new_image(facts, len(upload.data), hashlib.md5(upload.data).hexdigest(), realty.uuid, now,
                                description=upload.description, original_file_name=clean_file_name(upload.filename),
                                category=upload.category, hero=upload.hero, kind=upload.kind, room_id=upload.room_id)
        with self._ledger.writing([image.storage_key]):
            self._blobs.put(image.storage_key, upload.data, facts.content_type)
            with self._uow() as uow:
                realty = self._lock(uow, caller, realty.uuid, create=False)
                realty.append([image], now, "file")
                uow.realties.save_images(realty)
                self._ledger.use(uow, [image.storage_key])
                uow.commit()
        self._enqueue(render_jobs(caller.org, [image]))
        return image

    # --- reading --------------------------------------------------------------------------------

    def realty(self, caller: Caller, ref: UUID | int) -> Realty:
        """A realty with its images in order; NotFound when missing or another org's."""
        with self._uow(write=False) as uow:
            realty = uow.realties.get(caller.org, ref)
        if realty is None:
            raise NotFound(f"Realty {ref} not found")
        return realty

    def find_realty(self, caller: Caller, ref: UUID | int) -> Realty | None:
        with self._uow(write=False) as uow:
            return uow.realties.get(caller.org, ref)

    def realties(self, caller: Caller, ids: Sequence[int]) -> list[Realty]:
        with self._uow(write=False) as uow:
            return uow.realties.get_many(caller.org, ids)

    def find_image(self, caller: Caller, ref: ImageRef) -> Image | None:
        with self._uow(write=False) as uow:
            return uow.realties.find_image(caller.org, ref)

    def room(self, caller: Caller, room_id: int) -> Room:
        with self._uow(write=False) as uow:
            room = uow.rooms.get(caller.org, room_id)
        if room is None:
            raise NotFound(f"Room {room_id} not found")
        return room

    def find_room(self, caller: Caller, room_id: int) -> Room | None:
        with self._uow(write=False) as uow:
            return uow.rooms.get(caller.org, room_id)

    def rooms_of(self, caller: Caller, realty_uuids: Sequence[UUID]) -> list[Room]:
        with self._uow(write=False) as uow:
            return uow.rooms.list_for(caller.org, realty_uuids)

    def urls(self, storage_keys: Sequence[str]) -> list[str]:
        """Time-limited download URLs of stored blobs, signed at once."""
        return self._blobs.download_urls(storage_keys, self._url_ttl)

    def url_generation(self) -> Hashable:
        """Changes whenever `url` would sign the same key differently (the signing window turned)."""
        return self._blobs.url_generation()

    # --- changing -------------------------------------------------------------------------------

    def create_property(self, caller: Caller, name: str | None, external_id: str | None = None) -> Realty:
        texts = TextRules()
        name = texts.name(name, "name", required=True)
        external_id = texts.name(external_id, "external_id")
        texts.raise_if_any()
        realty = Realty(uuid=self._ids.new(), org=caller.org, created_at=self._clock.now(),
                        name=name, external_id=external_id)
        with self._uow() as uow:
            uow.realties.add(realty)
            uow.commit()
        return realty

    def create_room(self, caller: Caller, realty_ref: UUID | int, name: str | None) -> Room:
        texts = TextRules()
        name = texts.name(name, "name", required=True)
        texts.raise_if_any()
        with self._uow() as uow:
            realty = self._lock(uow, caller, realty_ref)  # serialises racing creators, so the cap holds
            check_room_count(len(uow.rooms.list_for(caller.org, [realty.uuid])))
            room = Room(realty_uuid=realty.uuid, org=caller.org, name=name, created_at=self._clock.now())
            uow.rooms.add(room)
            uow.commit()
        return room

    def update_images(self, caller: Caller, realty_ref: UUID | int, changes: Sequence[ImageChange],
                      reorder: bool) -> Realty:
        """Change images' metadata; with `reorder`, `changes` names the whole set in its new order."""
        texts = TextRules()
        for n, change in enumerate(changes):
            texts.description(change.description, f"images[{n}].description")
        texts.raise_if_any()
        with self._uow() as uow:
            realty = self._lock(uow, caller, realty_ref)
            realty.apply(changes, self._clock.now(), reorder=reorder)
            uow.realties.save_images(realty)
            uow.commit()
        return realty

    def update_image(self, caller: Caller, change: ImageChange) -> Image:
        realty = self.update_images(caller, self._realty_of_image(caller, change.ref), [change], reorder=False)
        return realty.image(change.ref)

    def set_published(self, caller: Caller, realty_ref: UUID | int, refs: Sequence[ImageRef] | None,
                      published: bool) -> Realty:
        with self._uow() as uow:
            realty = self._lock(uow, caller, realty_ref)
            realty.set_published(refs, published, self._clock.now())
            uow.realties.save_images(realty)
            uow.commit()
        return realty

    def delete_image(self, caller: Caller, ref: ImageRef, realty_ref: UUID | int | None = None) -> None:
        """Delete an unpublished image; its stored blobs go unless a copy still uses them."""
        if realty_ref is None:
            realty_ref = self._realty_of_image(caller, ref)
        with self._uow() as uow:
            realty = self._lock(uow, caller, realty_ref)
            image = realty.remove(ref)
            uow.realties.save_images(realty)
            gone = self._ledger.release(uow, image.blob_keys)
            uow.commit()
        self._ledger.purge(gone)

    def copy_images(self, caller: Caller, target_uuid: UUID, source_ref: UUID | int) -> list[Image]:
        """Copy every image of the source to the end of the target, with new ids.

        The copies share the source's stored blobs, so no byte moves: it is one transaction.
        """
        source = self.find_realty(caller, source_ref)
        if source is None:
            raise NotFound(f"Source realty {source_ref} not found",
                           [FieldError("source", Problem.UNKNOWN, "no such realty")])
        if source.uuid == target_uuid:
            raise InvalidInput("A realty cannot be copied onto itself",
                               [FieldError("source", Problem.INVALID, "equals the target realty")])
        now = self._clock.now()
        copies = [copy_of(image, self._ids.new(), target_uuid, now) for image in source.images]
        with self._uow() as uow:
            target = self._lock(uow, caller, target_uuid, create=True)
            if target.hero is not None:
                for copy in copies:
                    copy.hero = False
            target.append(copies, now, "source")
            uow.realties.save_images(target)
            # The source was read without its lock: a blob whose last user was deleted meanwhile is gone.
            self._ledger.use(uow, [key for copy in copies for key in copy.blob_keys])
            uow.commit()
        self._enqueue(render_jobs(caller.org, copies))
        return copies

    # --- operations -----------------------------------------------------------------------------

    def collect_garbage(self, batch: int = 500) -> dict[str, int]:
        """Delete uploads never saved within the retention time, blobs whose writer died before any
        image used them, blobs left over by failed deletes, and the records of writes older than a day."""
        now = self._clock.now()
        # Never before the grant has expired: until then its holder may still save the upload.
        cutoff = now - max(self.limits.upload_retention, self.limits.grant_ttl)
        with self._uow(write=False) as uow:
            stale = uow.grants.stale(cutoff, batch)
        keys = [g.key for g in stale]
        if keys:
            self._blobs.delete(keys)
            with self._uow() as uow:
                uow.grants.delete(keys)
                uow.commit()
        abandoned = self._ledger.collect_abandoned(now - self.limits.reservation_grace, batch)
        leftovers = self._ledger.purge_leftovers(batch)
        expired_requests = self._writes.expire(now, batch)
        return {"expired_uploads": len(keys), "abandoned_blobs": abandoned, "purged_blobs": leftovers,
                "expired_requests": expired_requests}

    def check_ready(self) -> dict[str, bool]:
        """Whether the database and storage answer."""
        status = {}
        for name, ping in (("database", self._uow.ping), ("storage", self._blobs.ping)):
            try:
                ping()
                status[name] = True
            except Exception:  # noqa: BLE001 - any failure means "not ready"
                log.warning("readiness check failed for %s", name, exc_info=True)
                status[name] = False
        return status

    # --- internals ------------------------------------------------------------------------------

    def _lock(self, uow, caller: Caller, ref: UUID | int, create: bool = False) -> Realty:
        if isinstance(ref, int):
            found = uow.realties.get(caller.org, ref)
            if found is None:
                raise NotFound(f"Realty {ref} not found")
            ref = found.uuid
        realty = uow.realties.lock(caller.org, ref, created_at=self._clock.now() if create else None)
        if realty is None:
            raise NotFound(f"Realty {ref} not found")
        return realty

    def _realty_of_image(self, caller: Caller, ref: ImageRef) -> UUID:
        with self._uow(write=False) as uow:
            realty_uuid = uow.realties.realty_of_image(caller.org, ref)
        if realty_uuid is None:
            raise NotFound(f"Image {ref} not found")
        return realty_uuid

    def _logical_key(self, client_key: str) -> str:
        try:
            return self._blobs.logical_key(client_key)
        except ValueError:
            return client_key  # no grant has it: reported as not granted

    def _new_image(self, facts: ImageFacts, size: int, md5: str, realty_uuid: UUID, now: datetime,
                   **metadata) -> Image:
        uuid = self._ids.new()
        return Image(uuid=uuid, realty_uuid=realty_uuid,
                     storage_key=f"images/{uuid}/original.{EXTENSIONS[facts.content_type]}",
                     content_type=facts.content_type, width=facts.width, height=facts.height, file_size=size,
                     md5=md5, created_at=now, modified_at=now, **metadata)

    def _enqueue(self, jobs: list[RenderJob]) -> None:
        if not jobs:
            return
        try:
            self._jobs.enqueue(jobs)
        except Exception:  # noqa: BLE001 - the images are saved; requeue_stale queues their jobs later
            log.warning("could not queue %d render jobs now; they will be queued again", len(jobs), exc_info=True)
