"""The core assembled on the honest in-memory fakes of tests/fakes.py: the world the unit tests act in."""
from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

from adapters.change_signals import LocalChangeSignals
from core.api import bootstrap
from core.commands import IssueGrant, SaveUploads, UploadedImage
from core.dependencies import Limits
from core.ports import Caller
from core.webhooks import UrlPolicy
from tests.fakes import (
    FakeClock, FakeInspector, InMemoryBlobStore, InMemoryDatabase, RecordingJobQueue, RecordingWebhookSender,
    SequentialIds, fake_image,
)

ORG_A = Caller(sub="agent-1", org="org-a")
ORG_B = Caller(sub="agent-9", org="org-b")
REALTY = uuid.UUID("ddc25849-7bc7-43c0-9c3b-602cb03f7806")
OTHER = uuid.UUID("0fb5f172-b06d-4e49-8beb-5140e3b6f944")


class World:
    def __init__(self, limits: Limits = Limits(), url_policy: UrlPolicy = UrlPolicy()) -> None:
        self.db = InMemoryDatabase()
        self.blobs = InMemoryBlobStore()
        self.clock = FakeClock()
        self.jobs = RecordingJobQueue(self.clock)
        self.sender = RecordingWebhookSender()
        self.inspector = FakeInspector()
        core = bootstrap(self.db, self.blobs, self.inspector, self.clock, SequentialIds(), self.jobs,
                         LocalChangeSignals(), self.sender, ThreadPoolExecutor(4), limits, url_policy=url_policy)
        self.core, self.bus, self.views, self.processor = core, core.bus, core.views, core.processor

    def render(self) -> int:
        """Run every waiting render job, as a worker would."""
        return self.jobs.run(self.processor)

    def upload(self, caller=ORG_A, content_type="image/png", data: bytes | None = None, salt: str = "") -> str:
        """Get a grant and put bytes at its key, as a client POSTing the form would."""
        grant = self.bus.handle(IssueGrant(caller, content_type))
        self.blobs.objects[grant.key] = data if data is not None else fake_image(content_type, salt=salt or grant.key)
        return grant.key

    def save(self, *keys, caller=ORG_A, realty=REALTY, **meta):
        return self.bus.handle(SaveUploads(caller, realty, [UploadedImage(key=k, **meta) for k in keys]))

    def images(self, caller=ORG_A, realty=REALTY):
        return self.views.realty(caller, realty).images
