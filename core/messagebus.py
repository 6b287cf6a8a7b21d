"""Which use case serves which command, and what runs once a commit's events are published.

`MessageBus.handle` runs a command's handler. Every unit of work calls `dispatch` with its events once
it has committed (core/unit_of_work.py): each event handler gets the events of that commit it is for.
"""
from __future__ import annotations

import logging
from typing import Any, Callable, Sequence

from core import commands
from core.dependencies import Deps
from core.events import BlobsFreed, Event, ImageCreated, ImageEvent
from core.ports import Job
from core.use_cases import (
    after_commit, changes, copying, deleting, delivering, grants, properties, saving, subscribing, upkeep,
)

log = logging.getLogger(__name__)

COMMAND_HANDLERS: dict[type[commands.Command], Callable[[Any, Deps], Any]] = {
    commands.IssueGrant: grants.issue_grant,
    commands.SaveUploads: saving.save_uploads,
    commands.UploadImage: saving.upload_image,
    commands.CreateProperty: properties.create_property,
    commands.CreateRoom: properties.create_room,
    commands.UpdateImages: changes.update_images,
    commands.UpdateImage: changes.update_image,
    commands.SetPublished: changes.set_published,
    commands.DeleteImage: deleting.delete_image,
    commands.CopyImages: copying.copy_images,
    commands.CollectGarbage: upkeep.collect_garbage,
    commands.CreateWebhook: subscribing.create_webhook,
    commands.DeleteWebhook: subscribing.delete_webhook,
    commands.SendTestEvent: subscribing.test_webhook,
    commands.FanOut: delivering.fan_out,
    commands.DeliverEvents: delivering.deliver_events,
    commands.RequeueDeliveries: delivering.requeue_deliveries,
}

EVENT_HANDLERS: dict[type[Event], list[Callable[[Sequence[Any], Deps], Sequence[Job] | None]]] = {
    ImageCreated: [after_commit.render_new_images],
    BlobsFreed: [after_commit.delete_freed_blobs],
    ImageEvent: [after_commit.wake_feed_readers, after_commit.hand_to_webhooks],
}
"""Keyed by event class; a handler of a base class gets every event of its subclasses too. A handler
returns the jobs its events call for, if any."""


class MessageBus:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def handle(self, command: commands.Command) -> Any:
        return COMMAND_HANDLERS[type(command)](command, self.deps)

    def dispatch(self, events: Sequence[Event]) -> None:
        """Run what the committed `events` call for, then queue every job they call for at once. The change
        is committed whatever happens here, so a failure is logged, never raised to the use case that
        committed; the sweeps queue again what could not be queued now."""
        jobs: list[Job] = []
        for kind, handlers in EVENT_HANDLERS.items():
            batch = [event for event in events if isinstance(event, kind)]
            if not batch:
                continue
            for handler in handlers:
                try:
                    jobs += handler(batch, self.deps) or ()
                except Exception:  # noqa: BLE001 - see above
                    log.exception("%s failed after a commit", handler.__name__)
        if jobs:
            try:
                self.deps.jobs.enqueue(jobs)
            except Exception:  # noqa: BLE001 - see above
                log.warning("could not queue %d jobs after a commit; the sweeps will", len(jobs), exc_info=True)
