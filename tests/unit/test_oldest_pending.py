"""The view operators watch (CONTRACT §12): when the image waiting longest for its renditions was saved."""
from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

from adapters.change_signals import LocalChangeSignals
from core.api import bootstrap
from core.commands import IssueGrant, SaveUploads, UploadedImage
from core.dependencies import Limits
from core.ports import Caller
from tests.fakes import (
    FakeClock, FakeInspector, InMemoryBlobStore, InMemoryDatabase, RecordingJobQueue, RecordingWebhookSender,
    SequentialIds, fake_image,
)

ORG = Caller(sub="agent-1", org="org-a")


def test_the_oldest_pending_image_is_the_earliest_saved_still_waiting_for_its_render():
    clock, blobs = FakeClock(), InMemoryBlobStore()
    jobs = RecordingJobQueue(clock)
    core = bootstrap(InMemoryDatabase(), blobs, FakeInspector(), clock, SequentialIds(), jobs, LocalChangeSignals(),
                     RecordingWebhookSender(), ThreadPoolExecutor(2), Limits())

    def save() -> None:
        grant = core.bus.handle(IssueGrant(ORG, "image/png"))
        blobs.objects[grant.key] = fake_image("image/png", salt=grant.key)
        core.bus.handle(SaveUploads(ORG, uuid.uuid4(), [UploadedImage(key=grant.key)]))

    assert core.views.oldest_pending() is None
    first_saved_at = clock.now()
    save()
    clock.advance(minutes=5)
    save()
    assert core.views.oldest_pending() == first_saved_at
    jobs.run(core.processor)
    assert core.views.oldest_pending() is None
