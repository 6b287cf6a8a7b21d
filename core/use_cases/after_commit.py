"""What follows a committed change, run by the bus from the events the commit published. Handlers that
call for jobs return them, and the bus queues all of a commit's jobs at once (one wait, not one per
handler, when the queue does not answer). All is best effort: what fails here is made good by a sweep
(render jobs, fan-outs), or by gc (blob deletes)."""
from __future__ import annotations

from typing import Sequence

from core.dependencies import Deps
from core.domain import Processing
from core.events import BlobsFreed, ImageCreated, ImageEvent
from core.ports import FanOutJob, Job, RenderJob


def render_new_images(events: Sequence[ImageCreated], deps: Deps) -> list[Job]:
    """New images are rendered by jobs (a copy of a READY image needs none)."""
    return [RenderJob(event.org, event.image.realty_uuid, event.image.uuid) for event in events
            if event.image.processing is Processing.PENDING]


def delete_freed_blobs(events: Sequence[BlobsFreed], deps: Deps) -> None:
    deps.ledger.purge([key for event in events for key in event.keys])


def wake_feed_readers(events: Sequence[ImageEvent], deps: Deps) -> None:
    """Long polls of these orgs answer now, in every process."""
    deps.signals.announce(sorted({event.org for event in events}))


def hand_to_webhooks(events: Sequence[ImageEvent], deps: Deps) -> list[Job]:
    """The org's webhooks get what was committed: a job makes it due to each (core/use_cases/delivering.py)."""
    return [FanOutJob(org) for org in sorted({event.org for event in events})]
