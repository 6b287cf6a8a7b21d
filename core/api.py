"""The core, assembled: what the entrypoints call (commands through the bus, reads through the views,
writes done once) and what the job workers run (the processor). `bootstrap` builds it from the ports."""
from __future__ import annotations

from concurrent.futures import Executor
from dataclasses import dataclass

from core.blob_ledger import BlobLedger
from core.dependencies import Deps, Limits
from core.feed import Feed
from core.idempotency import IdempotencyLimits, IdempotentWrites
from core.messagebus import MessageBus
from core.ports import BlobStore, ChangeSignals, Clock, IdGenerator, ImageInspector, JobQueue
from core.repositories import UnitOfWorkFactory
from core.processing import ImageProcessor, ProcessingLimits
from core.unit_of_work import PublishingUnitOfWorkFactory
from core.uploads import UploadVerifier
from core.views import Views


@dataclass(frozen=True)
class CoreApi:
    bus: MessageBus
    views: Views
    writes: IdempotentWrites
    feed: Feed
    processor: ImageProcessor


def bootstrap(database: UnitOfWorkFactory, blobs: BlobStore, inspector: ImageInspector, clock: Clock,
              ids: IdGenerator, jobs: JobQueue, signals: ChangeSignals, save_pool: Executor,
              limits: Limits = Limits(), idempotency: IdempotencyLimits = IdempotencyLimits(),
              processing: ProcessingLimits = ProcessingLimits(), max_feed_waits: int = 4) -> CoreApi:
    """The use cases over these adapters. `save_pool` runs the per-upload I/O and decoding of a save; its
    size bounds how many run at once. `max_feed_waits` bounds the long polls held at once."""
    uow = PublishingUnitOfWorkFactory(database, ids)
    writes = IdempotentWrites(uow, clock, ids, idempotency)
    verifier = UploadVerifier(blobs, inspector, save_pool, limits.max_upload_bytes, limits.max_image_pixels)
    deps = Deps(uow=uow, blobs=blobs, inspector=inspector, clock=clock, ids=ids, jobs=jobs,
                ledger=BlobLedger(uow, blobs, clock), verifier=verifier, writes=writes, signals=signals, limits=limits)
    bus = MessageBus(deps)
    uow.dispatch = bus.dispatch
    views = Views(uow, blobs, int(limits.url_ttl.total_seconds()))
    feed = Feed(uow, signals, views.urls, max_feed_waits)
    return CoreApi(bus, views, writes, feed, ImageProcessor(deps, processing))
