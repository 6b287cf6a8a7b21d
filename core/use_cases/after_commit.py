"""What follows a committed change, run by the bus from the events the commit published. Each is
best effort: what fails here is made good by a sweep (render jobs), or by gc (blob deletes)."""
from __future__ import annotations

import logging
from typing import Sequence

from core.dependencies import Deps
from core.domain import Processing
from core.events import BlobsFreed, ImageCreated, ImageEvent
from core.ports import RenderJob

log = logging.getLogger(__name__)


def queue_renders(events: Sequence[ImageCreated], deps: Deps) -> None:
    """New images are rendered by jobs (a copy of a READY image needs none)."""
    jobs = [RenderJob(event.org, event.image.realty_uuid, event.image.uuid) for event in events
            if event.image.processing is Processing.PENDING]
    if not jobs:
        return
    try:
        deps.jobs.enqueue(jobs)
    except Exception:  # noqa: BLE001 - the images are saved; the sweep queues their jobs later
        log.warning("could not queue %d render jobs now; they will be queued again", len(jobs), exc_info=True)


def delete_freed_blobs(events: Sequence[BlobsFreed], deps: Deps) -> None:
    deps.ledger.purge([key for event in events for key in event.keys])


def wake_feed_readers(events: Sequence[ImageEvent], deps: Deps) -> None:
    """Long polls of these orgs answer now, in every process."""
    deps.signals.announce(sorted({event.org for event in events}))
