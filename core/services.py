"""The operations both facades call. Each is one use case: load, apply domain rules, persist, commit."""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Sequence
from uuid import UUID

from core.domain import (
    ACCEPTED_UPLOAD_TYPES, EXTENSIONS, MAX_IMAGES_PER_REALTY, MAX_ROOMS_PER_REALTY, Image, ImageCategory, ImageChange,
    ImageKind, ImageRef, Realty, Rendition, Room, UploadGrant, clean_file_name, copy_of,
)
from core.errors import (
    Conflict, FieldError, InvalidInput, NotFound, UnsupportedImageType, UnsupportedMediaType, UploadRejected,
)
from core.ports import (
    BlobStore, Caller, Clock, IdGenerator, ImageFacts, ImageInspector, RenditionSpec, UnitOfWorkFactory, UploadForm,
)

log = logging.getLogger(__name__)

UPLOAD_PREFIX = "uploads/"
DIRECT_UPLOAD_TYPES = (*ACCEPTED_UPLOAD_TYPES, "image/bmp")
"""Types a direct (GraphQL) upload may be: the GraphQL source accepts jpg, png, bmp and webp."""

RENDITIONS = (RenditionSpec("thumbnail", 320), RenditionSpec("web", 1280), RenditionSpec("large", 2048))


@dataclass(frozen=True)
class Limits:
    max_upload_bytes: int = 25 * 1024 * 1024
    max_image_pixels: int = 100_000_000
    grant_ttl: timedelta = timedelta(hours=1)
    url_ttl: timedelta = timedelta(hours=1)
    upload_retention: timedelta = timedelta(hours=24)


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


@dataclass
class _Stored:
    """Blobs written for images not yet committed; deleted again if the commit does not happen."""

    keys: list[str] = field(default_factory=list)


class ImageService:
    def __init__(self, uow: UnitOfWorkFactory, blobs: BlobStore, inspector: ImageInspector, clock: Clock,
                 ids: IdGenerator, limits: Limits = Limits()) -> None:
        self._uow = uow
        self._blobs = blobs
        self._inspector = inspector
        self._clock = clock
        self._ids = ids
        self.limits = limits

    # --- uploads --------------------------------------------------------------------------------

    def issue_grant(self, caller: Caller, content_type: str) -> IssuedGrant:
        if content_type not in ACCEPTED_UPLOAD_TYPES:
            raise UnsupportedMediaType(
                f"type must be one of {', '.join(ACCEPTED_UPLOAD_TYPES)}",
                [FieldError("type", "INVALID_TYPE", f"unsupported content type {content_type!r}")],
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
        """Verify every uploaded object, then attach them all to the realty, or none of them."""
        if not 1 <= len(items) <= MAX_IMAGES_PER_REALTY:
            raise InvalidInput(f"uploadedImages must hold 1 to {MAX_IMAGES_PER_REALTY} items",
                               [FieldError("uploadedImages", "BAD_REQUEST_BODY", "wrong number of items")])
        client_keys = [item.key for item in items]
        duplicates = sorted({k for k in client_keys if client_keys.count(k) > 1})
        if duplicates:
            raise UploadRejected("A key is listed more than once",
                                 [FieldError(k, "BAD_REQUEST_BODY", "listed more than once") for k in duplicates])
        keys = [self._logical_key(k) for k in client_keys]
        now = self._clock.now()
        with self._uow(write=False) as uow:
            grants = uow.grants.get_many(keys)
            existing = uow.realties.get(caller.org, realty_uuid)
        if existing is not None:
            existing.check_room_for(len(items))  # fail fast; re-checked under the lock

        errors: list[FieldError] = []
        stored = _Stored()
        images: list[Image] = []
        try:
            for item, key in zip(items, keys):
                # Verify every item so the caller learns all problems at once; store only while none was found.
                verified = (_grant_problem(caller, grants.get(key), item.key, now)
                            or self._read_upload(grants[key], item.key))
                if isinstance(verified, FieldError):
                    errors.append(verified)
                elif not errors:
                    data, facts = verified
                    try:
                        images.append(self._store(
                            data, facts, stored, description=item.description,
                            original_file_name=clean_file_name(item.original_file_name), category=item.category, hero=item.hero,
                            realty_uuid=realty_uuid))
                    except UploadRejected as exc:  # rendering refused what inspection let through
                        errors.append(_upload_error(item.key, exc))
            if errors:
                raise UploadRejected(f"{len(errors)} of the uploaded images cannot be saved; none was saved", errors)
            with self._uow() as uow:
                realty = self._lock(uow, caller, realty_uuid, create=True)
                realty.append(images, now)
                if uow.grants.claim(caller.org, keys, now) != len(keys):
                    raise UploadRejected("An upload was saved by another request meanwhile; none was saved",
                                         [FieldError(k, "BAD_REQUEST_BODY", "already saved") for k in client_keys])
                uow.realties.save_images(realty)
                uow.tombstones.add(keys, now)
                uow.commit()
        except BaseException:
            self._discard(stored.keys)
            raise
        self._purge(keys)
        return images

    def upload_image(self, caller: Caller, realty_ref: UUID | int, upload: DirectUpload) -> Image:
        """Attach an image whose bytes came with the request (GraphQL)."""
        realty = self.realty(caller, realty_ref)
        realty.check_room_for(1, target="file")  # fail fast, before decoding; re-checked under the lock
        realty_uuid = realty.uuid
        if upload.room_id is not None:
            room = self.room(caller, upload.room_id)
            if room.realty_uuid != realty_uuid:
                raise NotFound("The room is not a room of this property")
        facts = self._verify(upload.data, allowed=DIRECT_UPLOAD_TYPES)
        stored = _Stored()
        try:
            image = self._store(
                upload.data, facts, stored, description=upload.description,
                original_file_name=clean_file_name(upload.filename),
                category=upload.category, hero=upload.hero, realty_uuid=realty_uuid, kind=upload.kind,
                room_id=upload.room_id)
            with self._uow() as uow:
                realty = self._lock(uow, caller, realty_uuid, create=False)
                realty.append([image], image.created_at)
                uow.realties.save_images(realty)
                uow.commit()
        except BaseException:
            self._discard(stored.keys)
            raise
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

    def url(self, storage_key: str) -> str:
        return self._blobs.download_url(storage_key, int(self.limits.url_ttl.total_seconds()))

    # --- changing -------------------------------------------------------------------------------

    def create_property(self, caller: Caller, name: str, external_id: str | None = None) -> Realty:
        realty = Realty(uuid=self._ids.new(), org=caller.org, created_at=self._clock.now(),
                        name=name, external_id=external_id)
        with self._uow() as uow:
            uow.realties.add(realty)
            uow.commit()
        return realty

    def create_room(self, caller: Caller, realty_ref: UUID | int, name: str) -> Room:
        with self._uow() as uow:
            realty = self._lock(uow, caller, realty_ref)  # serialises racing creators, so the cap holds
            if len(uow.rooms.list_for(caller.org, [realty.uuid])) >= MAX_ROOMS_PER_REALTY:
                raise InvalidInput(f"A property holds at most {MAX_ROOMS_PER_REALTY} rooms",
                                   [FieldError("propertyId", "BAD_REQUEST_BODY", "too many rooms")])
            room = Room(realty_uuid=realty.uuid, org=caller.org, name=name, created_at=self._clock.now())
            uow.rooms.add(room)
            uow.commit()
        return room

    def update_images(self, caller: Caller, realty_ref: UUID | int, changes: Sequence[ImageChange],
                      reorder: bool) -> Realty:
        """Change images' metadata; with `reorder`, `changes` names the whole set in its new order."""
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
        """Delete an unpublished image, its original and its renditions."""
        if realty_ref is None:
            realty_ref = self._realty_of_image(caller, ref)
        now = self._clock.now()
        with self._uow() as uow:
            realty = self._lock(uow, caller, realty_ref)
            image = realty.remove(ref)
            uow.realties.save_images(realty)
            uow.tombstones.add(image.blob_keys, now)
            uow.commit()
        self._purge(image.blob_keys)

    def copy_images(self, caller: Caller, target_uuid: UUID, source_ref: UUID | int) -> list[Image]:
        """Copy every image of the source to the end of the target, with new ids and own blobs."""
        source = self.find_realty(caller, source_ref)
        if source is None:
            raise NotFound(f"Source realty {source_ref} not found",
                           [FieldError("sourceRealtyId", "INVALID_ID", "no such realty")])
        if source.uuid == target_uuid:
            raise InvalidInput("A realty cannot be copied onto itself",
                               [FieldError("sourceRealtyId", "BAD_REQUEST_BODY", "equals the target realty")])
        target = self.find_realty(caller, target_uuid)
        if target is not None:
            target.check_room_for(len(source.images))  # fail fast, before copying blobs; re-checked under the lock
        now = self._clock.now()
        stored = _Stored()
        try:
            copies = []
            for image in source.images:
                new_uuid = self._ids.new()
                keys = {old: _rekey(old, image.uuid, new_uuid) for old in image.blob_keys}
                for old, new in keys.items():
                    try:
                        self._blobs.copy(old, new)
                    except FileNotFoundError:
                        # The source was read without a lock: a concurrent delete purged this image meanwhile.
                        raise Conflict("The source realty changed while it was being copied; retry") from None
                    stored.keys.append(new)
                copies.append(copy_of(image, new_uuid, target_uuid, keys, now))
            with self._uow() as uow:
                target = self._lock(uow, caller, target_uuid, create=True)
                if target.hero is not None:
                    for copy in copies:
                        copy.hero = False
                target.append(copies, now)
                uow.realties.save_images(target)
                uow.commit()
        except BaseException:
            self._discard(stored.keys)
            raise
        return copies

    # --- operations -----------------------------------------------------------------------------

    def collect_garbage(self, batch: int = 500) -> dict[str, int]:
        """Delete uploads never saved within the retention time, and blobs left over by failed deletes."""
        # Never before the grant has expired: until then its holder may still save the upload.
        cutoff = self._clock.now() - max(self.limits.upload_retention, self.limits.grant_ttl)
        with self._uow(write=False) as uow:
            stale = uow.grants.stale(cutoff, batch)
        keys = [g.key for g in stale]
        if keys:
            self._blobs.delete(keys)
            with self._uow() as uow:
                uow.grants.delete(keys)
                uow.commit()
        with self._uow(write=False) as uow:
            leftovers = uow.tombstones.list(batch)
        self._purge(leftovers)
        return {"expired_uploads": len(keys), "purged_blobs": len(leftovers)}

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
        realty = uow.realties.lock(caller.org, ref, create=create)
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

    def _read_upload(self, grant: UploadGrant, target: str) -> tuple[bytes, ImageFacts] | FieldError:
        """The verified bytes of a granted upload, or why not (`target`: the key as the client named it)."""
        size = self._blobs.size(grant.key)
        if size is None:
            return FieldError(target, "VALUE_REQUIRED", "nothing was uploaded with this key")
        if size > self.limits.max_upload_bytes:
            return FieldError(target, "BAD_REQUEST_BODY",
                              f"{size} bytes exceeds the limit of {self.limits.max_upload_bytes}")
        data = self._blobs.read(grant.key)
        try:
            facts = self._verify(data, allowed=(grant.content_type,))
        except UploadRejected as exc:
            return _upload_error(target, exc)
        return data, facts

    def _verify(self, data: bytes, allowed: Sequence[str]) -> ImageFacts:
        if len(data) > self.limits.max_upload_bytes:
            raise UploadRejected(f"{len(data)} bytes exceeds the limit of {self.limits.max_upload_bytes}")
        facts = self._inspector.inspect(data, self.limits.max_image_pixels)
        if facts.content_type not in allowed:
            raise UnsupportedImageType(f"the file is {facts.content_type}, expected {' or '.join(allowed)}")
        return facts

    def _store(self, data: bytes, facts: ImageFacts, stored: _Stored, *, realty_uuid: UUID, **metadata) -> Image:
        """Write the original and its renditions under a new image's permanent keys.

        The original is written from the bytes that were verified, never copied from the upload key:
        a grant lets its holder overwrite that key until it expires.
        """
        uuid = self._ids.new()
        key = f"images/{uuid}/original.{EXTENSIONS[facts.content_type]}"
        self._blobs.put(key, data, facts.content_type)
        stored.keys.append(key)
        renditions = []
        for spec, rendered in zip(RENDITIONS, self._inspector.render(data, RENDITIONS)):
            r_key = f"images/{uuid}/{spec.name}.{EXTENSIONS[rendered.content_type]}"
            self._blobs.put(r_key, rendered.data, rendered.content_type)
            stored.keys.append(r_key)
            renditions.append(Rendition(spec.name, r_key, rendered.width, rendered.height, rendered.content_type))
        now = self._clock.now()
        return Image(uuid=uuid, realty_uuid=realty_uuid, storage_key=key, content_type=facts.content_type,
                     width=facts.width, height=facts.height, file_size=len(data),
                     md5=hashlib.md5(data).hexdigest(), created_at=now, modified_at=now,
                     renditions=tuple(renditions), **metadata)

    def _purge(self, keys: Sequence[str]) -> None:
        """Delete blobs whose tombstones are committed; on failure the tombstones stay for `gc`."""
        if not keys:
            return
        try:
            self._blobs.delete(keys)
            with self._uow() as uow:
                uow.tombstones.remove(keys)
                uow.commit()
        except Exception:  # noqa: BLE001 - the tombstones make this retryable
            log.warning("could not delete %d blobs now; gc will retry", len(keys), exc_info=True)

    def _discard(self, keys: Sequence[str]) -> None:
        """Remove blobs written for a change that did not commit."""
        if not keys:
            return
        try:
            with self._uow() as uow:
                uow.tombstones.add(keys, self._clock.now())
                uow.commit()
        except Exception:  # noqa: BLE001
            log.exception("could not record %d orphan blobs", len(keys))
        self._purge(keys)


def _grant_problem(caller: Caller, grant: UploadGrant | None, key: str, now) -> FieldError | None:
    # A grant of another org is reported like a missing one: it does not exist for this caller.
    if grant is None or grant.org != caller.org:
        return FieldError(key, "INVALID_ID", "this key was not granted to you")
    if grant.used_at is not None:
        return FieldError(key, "BAD_REQUEST_BODY", "this upload was already saved")
    if grant.expires_at <= now:
        return FieldError(key, "BAD_REQUEST_BODY", "the upload grant has expired")
    return None


def _upload_error(key: str, exc: UploadRejected) -> FieldError:
    return FieldError(key, "INVALID_TYPE" if isinstance(exc, UnsupportedImageType) else "BAD_REQUEST_BODY",
                      exc.message)


def _rekey(key: str, old_uuid: UUID, new_uuid: UUID) -> str:
    return key.replace(str(old_uuid), str(new_uuid), 1)
