"""What the use cases work with, built once by the composition root and handed to every handler."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Sequence

from core.blob_ledger import BlobLedger
from core.idempotency import IdempotentWrites
from core.photo_checks import DUPLICATE_DISTANCE
from core.ports import BlobStore, ChangeSignals, Clock, IdGenerator, ImageInspector, JobQueue, WebhookSender
from core.unit_of_work import PublishingUnitOfWorkFactory
from core.uploads import UploadVerifier
from core.webhooks import UrlPolicy


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
    event_retention: timedelta = timedelta(days=7)
    """How long published events stay in the feed (EVENT_RETENTION_DAYS); gc removes older ones."""
    duplicate_distance: int = DUPLICATE_DISTANCE
    """Perceptual hashes at most this many bits apart name the same photo (DUPLICATE_DISTANCE, CONTRACT §11)."""


@dataclass(frozen=True)
class Deps:
    uow: PublishingUnitOfWorkFactory
    blobs: BlobStore
    inspector: ImageInspector
    clock: Clock
    ids: IdGenerator
    jobs: JobQueue
    ledger: BlobLedger
    verifier: UploadVerifier
    writes: IdempotentWrites
    signals: ChangeSignals
    sender: WebhookSender
    url_policy: UrlPolicy
    limits: Limits

    def urls(self, storage_keys: Sequence[str]) -> list[str]:
        """Time-limited download URLs of stored blobs, signed at once."""
        return self.blobs.download_urls(storage_keys, int(self.limits.url_ttl.total_seconds()))
