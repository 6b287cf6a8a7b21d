"""The published-images feed (core/media_query.py) on the peewee adapter, on the database under test, and the
same scenarios on the in-memory fakes, which must agree with it.

Every change a reader can see bumps the image's `changed_at`; replication by (changed_at, image) sees each
change exactly once while writers run; one org never sees another's images.
"""
from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest

from adapters.change_signals import LocalChangeSignals
from adapters.peewee_uow import PeeweeUnitOfWorkFactory
from core.api import bootstrap
from core.commands import IssueGrant, SaveUploads, SetPublished, UpdateImages, UploadedImage
from core.domain import ImageCategory, ImageChange
from core.media_query import AllOf, AnyOf, Comparison, MediaField, MediaQuery, Negation, Operator, Ordering
from core.ports import Caller
from tests.fakes import (
    FakeClock, FakeInspector, InMemoryBlobStore, InMemoryDatabase, RecordingJobQueue, RecordingWebhookSender,
    SequentialIds, fake_image,
)

A, B = Caller("agent-a", "org-a"), Caller("agent-b", "org-b")


class World:
    def __init__(self, database) -> None:
        self.blobs = InMemoryBlobStore()
        self.clock = FakeClock(datetime(2026, 3, 1, tzinfo=timezone.utc))
        self.jobs = RecordingJobQueue(self.clock)
        core = bootstrap(database, self.blobs, FakeInspector(), self.clock, SequentialIds(), self.jobs,
                         LocalChangeSignals(), RecordingWebhookSender(), ThreadPoolExecutor(2))
        self.bus, self.views, self.processor = core.bus, core.views, core.processor

    def save(self, caller: Caller, realty: uuid.UUID, count: int, **item) -> list:
        keys = []
        for _ in range(count):
            grant = self.bus.handle(IssueGrant(caller, "image/png"))
            self.blobs.objects[grant.key] = fake_image("image/png", salt=grant.key)
            keys.append(grant.key)
        return self.bus.handle(SaveUploads(caller, realty, [UploadedImage(k, **item) for k in keys]))

    def publish(self, caller: Caller, realty: uuid.UUID, refs=None, published: bool = True) -> None:
        self.bus.handle(SetPublished(caller, realty, refs, published))

    def feed(self, caller: Caller, **query):
        return self.views.published_media(caller, MediaQuery(**query))

    def stamps(self, caller: Caller) -> dict[uuid.UUID, datetime]:
        return {r.image: r.changed_at for r in self.feed(caller, limit=1000).records}


@pytest.fixture(params=["database", "fakes"])
def world(request):
    if request.param == "fakes":
        yield World(InMemoryDatabase())
        return
    factory = PeeweeUnitOfWorkFactory(request.getfixturevalue("database_url"))
    factory.create_tables()
    yield World(factory)
    factory.close()


def test_only_published_images_of_the_callers_org(world):
    realty, other = uuid.uuid4(), uuid.uuid4()
    saved = world.save(A, realty, 3)
    world.save(B, other, 2)
    world.publish(B, other)
    assert world.feed(A).records == []
    world.publish(A, realty, [saved[0].uuid, saved[2].uuid])
    page = world.feed(A, count=True)
    assert sorted(r.image for r in page.records) == sorted([saved[0].uuid, saved[2].uuid])
    assert {r.realty for r in page.records} == {realty}
    assert (page.total, page.more) == (2, False)
    assert len(world.feed(B).records) == 2


def test_every_change_a_reader_sees_moves_the_stamp_forward(world):
    realty = uuid.uuid4()
    first, second = world.save(A, realty, 2)
    world.publish(A, realty)
    steps = [
        lambda: world.bus.handle(UpdateImages(A, realty, [ImageChange(first.uuid, description="Sea view")])),
        lambda: world.bus.handle(UpdateImages(A, realty, [ImageChange(first.uuid, category=ImageCategory.MAP)])),
        lambda: world.bus.handle(UpdateImages(A, realty, [ImageChange(second.uuid, hero=True)])),
        lambda: world.bus.handle(UpdateImages(A, realty, [ImageChange(second.uuid), ImageChange(first.uuid)],
                                              reorder=True)),
        lambda: world.jobs.run(world.processor),  # renditions made
    ]
    before = world.stamps(A)
    for step in steps:
        step()
        after = world.stamps(A)
        changed = {u for u in after if after[u] != before[u]}
        assert changed, step
        assert all(after[u] > before[u] for u in changed)
        assert all(after[u] > max(before.values()) for u in changed), "a later commit never stamps earlier"
        before = after
    media = {r.image: r for r in world.feed(A).records}
    assert all(r.media_changed_at == r.changed_at for r in media.values()), "the renditions were the last change"
    world.publish(A, realty, [first.uuid], published=False)
    assert [r.image for r in world.feed(A).records] == [second.uuid]
    world.publish(A, realty, [first.uuid])
    assert world.stamps(A)[first.uuid] > max(before.values()), "published again: a change"


def test_filters_orders_and_pages(world):
    north, south = uuid.uuid4(), uuid.uuid4()
    north_images = world.save(A, north, 3)
    south_images = world.save(A, south, 2, hero=False)
    world.publish(A, north)
    world.publish(A, south)
    world.bus.handle(UpdateImages(A, south, [ImageChange(south_images[1].uuid, hero=True)]))

    def uuids(**query):
        return [r.image for r in world.feed(A, **query).records]

    by_realty = Comparison(MediaField.REALTY, Operator.EQ, north)
    assert sorted(uuids(where=by_realty)) == sorted(i.uuid for i in north_images)
    assert uuids(where=AllOf((Negation(by_realty), Comparison(MediaField.HERO, Operator.EQ, True)))) == [
        south_images[1].uuid]
    assert len(uuids(where=AnyOf((by_realty, Comparison(MediaField.IMAGE, Operator.EQ, south_images[0].uuid))))) == 4
    assert uuids(where=Comparison(MediaField.FLOOR_PLAN, Operator.EQ, True)) == []
    ordered = uuids(where=by_realty, order=(Ordering(MediaField.POSITION, descending=True),))
    assert ordered == [i.uuid for i in reversed(north_images)]
    everything = uuids()
    stamps = world.stamps(A)
    assert everything == sorted(everything, key=lambda u: (stamps[u], u))
    assert uuids(limit=2, offset=1) == everything[1:3]
    newest = uuids(order=(Ordering(MediaField.CHANGED_AT, descending=True),))
    assert newest == list(reversed(everything))
    page = world.feed(A, limit=2)
    assert page.more
    rest = uuids(after=page.records[-1].resume)
    assert [r.image for r in page.records] + rest == everything
    cut = Comparison(MediaField.CHANGED_AT, Operator.GT, stamps[everything[2]])
    assert uuids(where=cut) == [u for u in everything if stamps[u] > stamps[everything[2]]]


def test_replication_sees_every_change_exactly_once_while_writers_run(world):
    """A consumer pages from where it stopped while two writers keep changing images of two realties."""
    realties = [uuid.uuid4(), uuid.uuid4()]
    images = {realty: world.save(A, realty, 6) for realty in realties}
    for realty in realties:
        world.publish(A, realty)
    stop = threading.Event()
    errors: list[BaseException] = []

    def write(realty: uuid.UUID) -> None:
        n = 0
        try:
            while not stop.is_set() and n < 40:
                target = images[realty][n % 6]
                world.bus.handle(UpdateImages(A, realty, [ImageChange(target.uuid, description=f"v{n}")]))
                n += 1
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    writers = [threading.Thread(target=write, args=(realty,)) for realty in realties]
    for writer in writers:
        writer.start()
    seen: list[tuple[uuid.UUID, datetime]] = []
    state: dict[uuid.UUID, str | None] = {}
    resume = None
    deadline = datetime.now(timezone.utc) + timedelta(seconds=60)
    while datetime.now(timezone.utc) < deadline:
        writing = any(w.is_alive() for w in writers)  # asked first: a page read after that sees all they did
        page = world.feed(A, limit=3, after=resume)
        for record in page.records:
            seen.append((record.image, record.changed_at))
            state[record.image] = record.description
        if page.records:
            resume = page.records[-1].resume
        if not page.more and not writing:
            break
    stop.set()
    for writer in writers:
        writer.join()
    assert not errors, errors
    assert len(seen) == len(set(seen)), "no version of an image is handed out twice"
    final = {r.image: r.description for r in world.feed(A, limit=1000).records}
    assert state == final, "the consumer's copy ends as the source is"


def test_images_of_an_older_schema_join_the_feed_after_the_upgrade(database_url):
    """A database made before the feed gets the columns, its images their org and stamps, and the index."""
    from adapters.peewee_schema import schema_is_current

    old = PeeweeUnitOfWorkFactory(database_url)
    old.create_tables()
    realty = uuid.uuid4()
    saved = World(old).save(A, realty, 2)
    World(old).publish(A, realty)
    with old() as uow:
        old.database.execute_sql('DROP INDEX "image_org_status_changed_at_uuid"')
        for column in ("org", "changed_at", "media_changed_at"):
            old.database.execute_sql(f'ALTER TABLE "image" DROP COLUMN "{column}"')
        old.database.execute_sql('DROP TABLE "media_clock"')
        uow.commit()
    with old(write=False):
        assert not schema_is_current(old.models)
    old.close()

    upgraded = PeeweeUnitOfWorkFactory(database_url)
    upgraded.create_tables()
    with upgraded(write=False):
        assert schema_is_current(upgraded.models)
    world = World(upgraded)
    records = world.feed(A).records
    assert sorted(r.image for r in records) == sorted(i.uuid for i in saved)
    modified = {i.uuid: i.modified_at for i in world.views.realty(A, realty).images}
    assert all(r.changed_at == modified[r.image] for r in records), "stamped with their last modification"
    assert world.feed(B).records == []
    world.bus.handle(UpdateImages(A, realty, [ImageChange(saved[0].uuid, description="after")]))
    assert world.stamps(A)[saved[0].uuid] > max(r.changed_at for r in records)
    upgraded.close()
