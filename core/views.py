"""Reading: what both facades show, straight from the repositories (no command, no event)."""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Hashable, Sequence
from uuid import UUID

from core.domain import Image, ImageRef, Realty, Room
from core.errors import NotFound
from core.media_query import MediaPage, MediaQuery
from core.photo_checks import DUPLICATE_DISTANCE, Duplicate
from core.webhooks import DELIVERY_LOG_PAGE, Attempt, Webhook
from core.ports import BlobStore, Caller
from core.repositories import UnitOfWorkFactory

log = logging.getLogger(__name__)


class Views:
    def __init__(self, uow: UnitOfWorkFactory, blobs: BlobStore, url_ttl_seconds: int,
                 duplicate_distance: int = DUPLICATE_DISTANCE) -> None:
        self._uow = uow
        self._blobs = blobs
        self._url_ttl = url_ttl_seconds
        self._duplicate_distance = duplicate_distance

    def realty(self, caller: Caller, ref: UUID | int) -> Realty:
        """A realty with its images in order; NotFound when missing or another org's."""
        realty = self.find_realty(caller, ref)
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

    def published_media(self, caller: Caller, query: MediaQuery) -> MediaPage:
        """A page of the caller's org's published images (CONTRACT §13's feed)."""
        with self._uow(write=False) as uow:
            return uow.media.published(caller.org, query)
    def duplicates(self, caller: Caller, images: Sequence[Image]) -> dict[UUID, list[Duplicate]]:
        """The other images of the caller's org showing the same photo as each of `images` (CONTRACT §11):
        read when asked, so an image deleted anywhere in the org is gone from them at once."""
        if not images:
            return {}
        with self._uow(write=False) as uow:
            return uow.photos.duplicates(caller.org, images, self._duplicate_distance)

    def find_room(self, caller: Caller, room_id: int) -> Room | None:
        with self._uow(write=False) as uow:
            return uow.rooms.get(caller.org, room_id)

    def rooms_of(self, caller: Caller, realty_uuids: Sequence[UUID]) -> list[Room]:
        with self._uow(write=False) as uow:
            return uow.rooms.list_for(caller.org, realty_uuids)

    def webhooks(self, caller: Caller) -> list[Webhook]:
        with self._uow(write=False) as uow:
            return uow.webhooks.list(caller.org)

    def webhook(self, caller: Caller, webhook_id: UUID) -> Webhook:
        with self._uow(write=False) as uow:
            webhook = uow.webhooks.get(caller.org, webhook_id)
        if webhook is None:
            raise NotFound(f"Webhook {webhook_id} not found")
        return webhook

    def delivery_log(self, caller: Caller, webhook_id: UUID, limit: int = DELIVERY_LOG_PAGE) -> list[Attempt]:
        """The webhook's latest delivery attempts, newest first."""
        with self._uow(write=False) as uow:
            if uow.webhooks.get(caller.org, webhook_id) is None:
                raise NotFound(f"Webhook {webhook_id} not found")
            return uow.deliveries.attempts(webhook_id, limit)

    def urls(self, storage_keys: Sequence[str]) -> list[str]:
        """Time-limited download URLs of stored blobs, signed at once."""
        return self._blobs.download_urls(storage_keys, self._url_ttl)

    def url_generation(self) -> Hashable:
        """Changes whenever `urls` would sign the same key differently (the signing window turned)."""
        return self._blobs.url_generation()

    def oldest_pending(self) -> datetime | None:
        """When the image waiting longest for its renditions was saved (for operators); None: none waits."""
        with self._uow(write=False) as uow:
            return uow.processing.oldest_pending()

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
