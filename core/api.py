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
from core.commands import DeliverEvents, FanOut, RequeueDeliveries
from core.ports import (
    BlobStore, ChangeSignals, Clock, FanOutJob, IdGenerator, ImageInspector, Job, JobQueue, RenderJob, WebhookSender,
)
from core.repositories import UnitOfWorkFactory
from core.processing import ImageProcessor, ProcessingLimits
from core.unit_of_work import PublishingUnitOfWorkFactory
from core.uploads import UploadVerifier
from core.views import Views
from core.webhooks import UrlPolicy


@dataclass(frozen=True)
class CoreApi:
    bus: MessageBus
    views: Views
    writes: IdempotentWrites
    feed: Feed
    processor: ImageProcessor

    def run_job(self, job: Job) -> None:
        """Do a job the queue handed out (Unavailable and Conflict mean: retry it later)."""
        if isinstance(job, RenderJob):
            self.processor.render(job)
        elif isinstance(job, FanOutJob):
            self.bus.handle(FanOut(job.org))
        else:
            self.bus.handle(DeliverEvents(job.org, job.webhook_id))

    def sweep(self) -> int:
        """Queue again what crashes and lost messages left undone; returns how many jobs."""
        return self.processor.requeue_stale() + self.bus.handle(RequeueDeliveries())


def bootstrap(database: UnitOfWorkFactory, blobs: BlobStore, inspector: ImageInspector, clock: Clock,
              ids: IdGenerator, jobs: JobQueue, signals: ChangeSignals, sender: WebhookSender, save_pool: Executor,
              limits: Limits = Limits(), idempotency: IdempotencyLimits = IdempotencyLimits(),
              processing: ProcessingLimits = ProcessingLimits(), url_policy: UrlPolicy = UrlPolicy(),
              max_feed_waits: int = 4) -> CoreApi:
    """The use cases over these adapters. `save_pool` runs the per-upload I/O and decoding of a save; its
    size bounds how many run at once. `max_feed_waits` bounds the long polls held at once."""
    uow = PublishingUnitOfWorkFactory(database, ids)
    writes = IdempotentWrites(uow, clock, ids, idempotency)
    verifier = UploadVerifier(blobs, inspector, save_pool, limits.max_upload_bytes, limits.max_image_pixels)
    deps = Deps(uow=uow, blobs=blobs, inspector=inspector, clock=clock, ids=ids, jobs=jobs,
                ledger=BlobLedger(uow, blobs, clock), verifier=verifier, writes=writes, signals=signals, sender=sender,
                url_policy=url_policy, limits=limits)
    bus = MessageBus(deps)
    uow.dispatch = bus.dispatch
    views = Views(uow, blobs, int(limits.url_ttl.total_seconds()), limits.duplicate_distance)
    feed = Feed(uow, signals, views.urls, max_feed_waits)
    return CoreApi(bus, views, writes, feed, ImageProcessor(deps, processing))
