"""Saving images: uploads a client POSTed under its grants (REST), or bytes that came with the request
(GraphQL). Both verify everything first, then take the same path: reserve the originals' keys, store
the bytes, attach the images to the realty in one transaction. Renditions follow by jobs: the images
are answered PENDING."""
from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Callable, Sequence
from uuid import UUID

from core.commands import SaveUploads, UploadImage
from core.dependencies import Deps
from core.domain import ACCEPTED_UPLOAD_TYPES, EXTENSIONS, Image
from core.errors import FieldError, NotFound, Problem, UploadRejected
from core.input_rules import TextRules, clean_file_name
from core.ports import Caller, ImageFacts
from core.repositories import UnitOfWork
from core.uploads import batch_keys
from core.use_cases.realties import lock_realty

DIRECT_UPLOAD_TYPES = (*ACCEPTED_UPLOAD_TYPES, "image/bmp")
"""Types a direct (GraphQL) upload may be: the GraphQL source accepts jpg, png, bmp and webp."""


def save_uploads(cmd: SaveUploads, deps: Deps) -> list[Image]:
    """Verify every uploaded object, then attach them all to the realty (made when missing), or none."""
    items = cmd.items
    client_keys = batch_keys([item.key for item in items])
    texts = TextRules()
    for n, item in enumerate(items):
        texts.storable(item.key, f"uploads[{n}].key")
        texts.description(item.description, f"uploads[{n}].description")
        texts.original_file_name(item.original_file_name, f"uploads[{n}].original_file_name")
    texts.raise_if_any()
    keys = [_logical_key(deps, k) for k in client_keys]
    now = deps.clock.now()
    with deps.uow(write=False) as uow:
        grants = uow.grants.get_many(keys)
        existing = uow.realties.get(cmd.caller.org, cmd.realty_uuid)
    if existing is not None:
        existing.check_room_for(len(items), "uploads")  # fail fast; checked again under the lock
    verified = deps.verifier.verify_batch(cmd.caller, keys, client_keys, grants, now)
    images = [_new_image(deps, v.facts, v.size, v.md5, cmd.realty_uuid, now, description=item.description,
                         original_file_name=clean_file_name(item.original_file_name), category=item.category,
                         hero=item.hero)
              for v, item in zip(verified, items)]

    def claim_grants(uow: UnitOfWork) -> None:
        if uow.grants.claim(cmd.caller.org, keys, now) != len(keys):
            raise UploadRejected("An upload was saved by another request meanwhile; none was saved",
                                 [FieldError(k, Problem.INVALID, "already saved", upload=True) for k in client_keys])
        deps.ledger.free(uow, keys)  # the uploads themselves: their bytes now live under the originals' keys

    store = lambda: deps.verifier.store_originals(verified, [image.storage_key for image in images])  # noqa: E731
    _attach(deps, cmd.caller, cmd.realty_uuid, images, now, "uploads", store, create=True, also=claim_grants)
    return images


def upload_image(cmd: UploadImage, deps: Deps) -> Image:
    """Verify the bytes, then attach the image to an existing realty (or the one of its room)."""
    upload, caller = cmd.upload, cmd.caller
    texts = TextRules()
    texts.description(upload.description, "description")
    texts.raise_if_any()
    with deps.uow(write=False) as uow:
        room = uow.rooms.get(caller.org, upload.room_id) if upload.room_id is not None else None
        ref = room.realty_uuid if room is not None else cmd.realty_ref
        realty = uow.realties.get(caller.org, ref) if ref is not None else None
    if realty is None:
        raise NotFound(f"Realty {cmd.realty_ref} or room {upload.room_id} not found")
    if room is not None and cmd.realty_ref is not None and cmd.realty_ref not in (realty.uuid, realty.id):
        raise NotFound("The room is not a room of this property")
    realty.check_room_for(1, "file")  # fail fast, before decoding; checked again under the lock
    facts = deps.verifier.verify_bytes(upload.data, allowed=DIRECT_UPLOAD_TYPES)
    now = deps.clock.now()
    image = _new_image(deps, facts, len(upload.data), hashlib.md5(upload.data).hexdigest(), realty.uuid, now,
                       description=upload.description, original_file_name=clean_file_name(upload.filename),
                       category=upload.category, hero=upload.hero, kind=upload.kind, room_id=upload.room_id)
    store = lambda: deps.blobs.put(image.storage_key, upload.data, facts.content_type)  # noqa: E731
    _attach(deps, caller, realty.uuid, [image], now, "file", store, create=False)
    return image


def _attach(deps: Deps, caller: Caller, realty_uuid: UUID, images: Sequence[Image], now: datetime, field: str,
            store: Callable[[], None], create: bool,
            also: Callable[[UnitOfWork], None] = lambda uow: None) -> None:
    """Reserve the originals' keys, `store` their bytes, then append the images to the locked realty and
    count the originals as used, with `also`, in one transaction. If anything fails, the stored bytes
    go again (core/blob_ledger.py)."""
    originals = [image.storage_key for image in images]
    with deps.ledger.writing(originals):
        store()
        with deps.uow() as uow:
            realty = lock_realty(uow, caller, realty_uuid, deps.clock, create=create)
            realty.append(images, now, field)
            also(uow)
            uow.realties.save_images(realty)
            deps.ledger.use(uow, originals)
            uow.commit()


def _logical_key(deps: Deps, client_key: str) -> str:
    try:
        return deps.blobs.logical_key(client_key)
    except ValueError:
        return client_key  # no grant has it: reported as not granted


def _new_image(deps: Deps, facts: ImageFacts, size: int, md5: str, realty_uuid: UUID, now: datetime,
               **metadata) -> Image:
    uuid = deps.ids.new()
    return Image(uuid=uuid, realty_uuid=realty_uuid, storage_key=f"images/{uuid}/original.{EXTENSIONS[facts.content_type]}",
                 content_type=facts.content_type, width=facts.width, height=facts.height, file_size=size,
                 md5=md5, created_at=now, modified_at=now, **metadata)
