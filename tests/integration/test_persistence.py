"""The peewee persistence adapter, on the database under test (TEST_DATABASE=sqlite or postgresql).

Exercised through the repositories and the core's use cases, never through mocks of our own code.
"""
from __future__ import annotations

import itertools
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterator

import pytest

from adapters.peewee_uow import PeeweeUnitOfWorkFactory
from core.processing import RENDITIONS
from core.domain import (
    MAX_IMAGES_PER_REALTY, Image, ImageCategory, ImageChange, ImageKind, ModerationStatus, Processing, Realty,
    Rendition, Room, UploadGrant,
)
from core.errors import InvalidInput, NotFound, Unavailable, UploadRejected
from core.ports import Caller
from adapters.change_signals import LocalChangeSignals
from core.api import bootstrap
from core.commands import (
    CollectGarbage, CopyImages, CreateProperty, CreateRoom, DeleteImage, DirectUpload, IssueGrant, SaveUploads,
    SetPublished, UpdateImages, UploadedImage, UploadImage,
)
from tests.conftest import TEST_DATABASE
from tests.fakes import (
    FakeClock, FakeInspector, InMemoryBlobStore, RecordingJobQueue, RecordingWebhookSender, SequentialIds, fake_image,
)

ORG_A, ORG_B = "org-a", "org-b"
T0 = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=timezone.utc)


def new_image(realty_uuid: uuid.UUID, n: int = 0, **overrides) -> Image:
    image = Image(
        uuid=uuid.uuid4(), realty_uuid=realty_uuid, storage_key=f"images/{n}/original.png", content_type="image/png",
        width=640 + n, height=480, file_size=1000 + n, md5=f"{n:032x}", created_at=T0, modified_at=T0,
    )
    return replace(image, **overrides)


def create_realty(factory: PeeweeUnitOfWorkFactory, org: str = ORG_A, images: int = 0) -> Realty:
    realty_uuid = uuid.uuid4()
    with factory() as uow:
        realty = uow.realties.lock(org, realty_uuid, created_at=T0)
        realty.append([new_image(realty_uuid, n) for n in range(images)], T0, "uploads")
        uow.realties.save_images(realty)
        uow.commit()
    return realty


def load(factory: PeeweeUnitOfWorkFactory, ref, org: str = ORG_A) -> Realty | None:
    with factory(write=False) as uow:
        return uow.realties.get(org, ref)


def count_realties(factory: PeeweeUnitOfWorkFactory) -> int:
    with factory(write=False):
        return factory.models.Realty.select().count()


@contextmanager
def statements(factory: PeeweeUnitOfWorkFactory) -> Iterator[list[str]]:
    """The SQL statements the factory's database runs inside the block."""
    seen: list[str] = []
    hook: Callable = lambda event: seen.append(event.sql)  # noqa: E731
    factory.database.query_hooks.append(hook)
    try:
        yield seen
    finally:
        factory.database.query_hooks.remove(hook)


# --- schema and connections ------------------------------------------------------------------------

def test_create_tables_is_idempotent(factory):
    factory.create_tables()
    factory.create_tables()
    factory.ping()
    with factory(write=False):
        tables = set(factory.database.get_tables())
    assert {"realty", "room", "image", "upload_grant", "blob_tombstone"} <= tables


def test_a_start_up_on_a_current_schema_runs_no_ddl(factory):
    """Issue 20 #3: every process start ran CREATE ... IF NOT EXISTS, whose table locks writers deadlocked on."""
    with statements(factory) as seen:
        factory.create_tables()
    ddl = [sql for sql in seen if sql.lstrip().upper().startswith(("CREATE", "ALTER", "DROP", "LOCK"))]
    assert ddl == [] and not any("advisory" in sql for sql in seen), ddl


@pytest.mark.skipif(TEST_DATABASE != "postgresql", reason="table locks of concurrent writers: PostgreSQL")
def test_a_start_up_beside_a_writer_holding_its_tables_does_not_wait(factory, database_url):
    import psycopg2

    writer = psycopg2.connect(database_url)
    try:
        with writer.cursor() as cur:  # a writer mid-transaction: ROW EXCLUSIVE on both tables
            cur.execute("LOCK TABLE realty, image IN ROW EXCLUSIVE MODE")
        started = time.monotonic()
        another = PeeweeUnitOfWorkFactory(database_url, timeout=5)
        another.create_tables()
        another.close()
        assert time.monotonic() - started < 2
    finally:
        writer.rollback()
        writer.close()


def test_sqlite_file_in_a_missing_directory_is_created(tmp_path):
    path = tmp_path / "deep" / "er" / "realty.db"
    database = PeeweeUnitOfWorkFactory(f"sqlite:///{path}")
    database.create_tables()
    database.ping()
    assert path.exists()
    with database(write=False) as uow:
        assert uow.realties.get(ORG_A, 1) is None
    database.close()


def test_unreachable_database_is_unavailable():
    database = PeeweeUnitOfWorkFactory("postgresql://postgres@127.0.0.1:1/nowhere?connect_timeout=1")
    with pytest.raises(Unavailable) as raised:
        database.ping()
    # Callers see a message fit for any client; host, port and driver text stay in the cause, for the log.
    assert "127.0.0.1" not in raised.value.message and "nowhere" not in raised.value.message
    assert "127.0.0.1" in str(raised.value.__cause__)
    with pytest.raises(Unavailable):
        with database():
            pass


def test_unsupported_urls_are_refused():
    with pytest.raises(ValueError):
        PeeweeUnitOfWorkFactory("mysql://root@localhost/db")
    with pytest.raises(ValueError):
        PeeweeUnitOfWorkFactory("sqlite:///:memory:")


def test_two_sqlite_factories_in_one_process_do_not_interfere(tmp_path):
    first = PeeweeUnitOfWorkFactory(f"sqlite:///{tmp_path}/one.db")
    second = PeeweeUnitOfWorkFactory(f"sqlite:///{tmp_path}/two.db")
    first.create_tables()
    second.create_tables()
    in_first, in_second = create_realty(first, images=2), create_realty(second, images=3)

    assert load(first, in_first.uuid) is not None and load(first, in_second.uuid) is None
    assert load(second, in_second.uuid) is not None and load(second, in_first.uuid) is None
    assert len(load(first, in_first.uuid).images) == 2
    assert len(load(second, in_second.uuid).images) == 3
    # Both get id 1: separate databases, separate sequences.
    assert in_first.id == in_second.id == 1
    # Interleaved units of work on one thread, one per database.
    with first() as uow_1, second() as uow_2:
        a = uow_1.realties.lock(ORG_A, in_first.uuid)
        b = uow_2.realties.lock(ORG_A, in_second.uuid)
        a.remove(a.images[0].uuid, T0)
        b.remove(b.images[0].uuid, T0)
        uow_1.realties.save_images(a)
        uow_2.realties.save_images(b)
        uow_2.commit()
    assert len(load(first, in_first.uuid).images) == 2, "the uncommitted unit of work was rolled back"
    assert len(load(second, in_second.uuid).images) == 2
    first.close()
    second.close()


def test_two_factories_on_one_database_see_each_others_commits(factory, database_url):
    other = PeeweeUnitOfWorkFactory(database_url)
    realty = create_realty(other, images=1)
    assert [i.uuid for i in load(factory, realty.uuid).images] == [i.uuid for i in realty.images]
    other.close()


# --- realties and images ---------------------------------------------------------------------------

def test_round_trip_of_a_realty_with_images(factory):
    realty_uuid = uuid.uuid4()
    realty = Realty(uuid=realty_uuid, org=ORG_A, created_at=T0, name="Villa", external_id="ext-1")
    room = Room(realty_uuid=realty_uuid, org=ORG_A, name="Kitchen", created_at=T0)
    with factory() as uow:
        uow.realties.add(realty)
        uow.rooms.add(room)
        uow.commit()
    assert realty.id and room.id

    renditions = (Rendition("thumbnail", f"images/{realty_uuid}/thumbnail.jpg", 320, 240),
                  Rendition("web", f"images/{realty_uuid}/web.webp", 1280, 960, "image/webp"))
    local = timezone(timedelta(hours=2))
    images = [
        new_image(realty_uuid, 0, description="Front", original_file_name="front.JPG",
                  category=ImageCategory.BUILDING_EXTERIOR, hero=True, status=ModerationStatus.APPROVED,
                  renditions=renditions),
        new_image(realty_uuid, 1, kind=ImageKind.ROOM, room_id=room.id, category=ImageCategory.ROOM,
                  created_at=T0.astimezone(local), modified_at=T0 + timedelta(seconds=1)),
        new_image(realty_uuid, 2, kind=ImageKind.FLOOR_PLAN, status=ModerationStatus.REJECTED, file_size=3 * 2**31),
    ]
    with factory() as uow:
        locked = uow.realties.lock(ORG_A, realty_uuid)
        locked.append(images, T0, "uploads")
        uow.realties.save_images(locked)
        uow.commit()
    assert all(i.id for i in images)

    for ref in (realty_uuid, realty.id):
        loaded = load(factory, ref)
        assert (loaded.id, loaded.uuid, loaded.org, loaded.name, loaded.external_id) == \
            (realty.id, realty_uuid, ORG_A, "Villa", "ext-1")
        assert loaded.created_at == T0 and loaded.created_at.tzinfo is not None
        assert loaded.images == images, "every field survives, datetimes as the same instants"
        for image in loaded.images:
            assert image.created_at.utcoffset() == timedelta(0) and image.modified_at.utcoffset() == timedelta(0)
        assert loaded.images[0].created_at < datetime.now(timezone.utc)
        assert isinstance(loaded.images[1].kind, ImageKind) and isinstance(loaded.images[0].category, ImageCategory)
        assert loaded.images[0].renditions == renditions
        assert loaded.images[1].type.value == "ROOM_IMAGE" and loaded.images[0].published

    with factory(write=False) as uow:
        assert uow.realties.find_image(ORG_A, images[1].uuid) == images[1]
        assert uow.realties.find_image(ORG_A, images[2].id) == images[2]
        assert uow.realties.find_image(ORG_A, uuid.uuid4()) is None
        assert uow.realties.realty_of_image(ORG_A, images[0].uuid) == realty_uuid
        assert uow.realties.realty_of_image(ORG_A, images[0].id) == realty_uuid
        assert uow.rooms.get(ORG_A, room.id) == room
        assert uow.rooms.list_for(ORG_A, [realty_uuid, uuid.uuid4()]) == [room]


def test_missing_realty_and_lock_without_create(factory):
    with factory() as uow:
        assert uow.realties.get(ORG_A, uuid.uuid4()) is None
        assert uow.realties.get(ORG_A, 12345) is None
        assert uow.realties.lock(ORG_A, uuid.uuid4()) is None
        uow.commit()


def test_another_orgs_objects_do_not_exist(factory):
    mine = create_realty(factory, ORG_A, images=2)
    with factory() as uow:
        room = Room(realty_uuid=mine.uuid, org=ORG_A, name="Hall", created_at=T0)
        uow.rooms.add(room)
        uow.commit()

    assert load(factory, mine.uuid, ORG_B) is None
    assert load(factory, mine.id, ORG_B) is None
    with factory() as uow:
        assert uow.realties.get_many(ORG_B, [mine.id]) == []
        assert uow.realties.find_image(ORG_B, mine.images[0].uuid) is None
        assert uow.realties.find_image(ORG_B, mine.images[0].id) is None
        assert uow.realties.realty_of_image(ORG_B, mine.images[0].uuid) is None
        assert uow.rooms.get(ORG_B, room.id) is None
        assert uow.rooms.list_for(ORG_B, [mine.uuid]) == []
        with pytest.raises(NotFound):
            uow.rooms.add(Room(realty_uuid=mine.uuid, org=ORG_B, name="Intruder", created_at=T0))
        assert uow.realties.lock(ORG_B, mine.uuid, created_at=T0) is None
        assert uow.realties.lock(ORG_B, mine.uuid) is None
        uow.commit()

    still = load(factory, mine.uuid, ORG_A)
    assert still.org == ORG_A and len(still.images) == 2
    with factory(write=False) as uow:
        assert uow.realties.get_many(ORG_A, [mine.id, mine.id + 1000]) == [still]
    assert count_realties(factory) == 1, "locking a foreign uuid created no row"


def test_get_many_uses_a_constant_number_of_queries(factory):
    realties = [create_realty(factory, images=n) for n in (0, 1, 3, 5)]
    foreign = create_realty(factory, ORG_B, images=2)
    ids = [r.id for r in reversed(realties)] + [foreign.id, 999_999]
    with factory(write=False) as uow, statements(factory) as seen:
        found = uow.realties.get_many(ORG_A, ids)
    # In the requested order; the foreign and the missing one are left out.
    assert [r.uuid for r in found] == [r.uuid for r in reversed(realties)]
    assert [len(r.images) for r in found] == [5, 3, 1, 0]
    assert [[i.position for i in r.images] for r in found] == [list(range(len(r.images))) for r in found]
    assert len(seen) == 2
    with factory(write=False) as uow, statements(factory) as seen:
        again = uow.realties.get(ORG_A, realties[0].uuid)
    assert len(seen) == 1, "unchanged since read: the realty's row, and its images from the cache"
    assert again.images == found[-1].images
    with factory(write=False) as uow, statements(factory) as seen:
        uow.realties.get(ORG_A, foreign.uuid)
    assert len(seen) == 1, "another org's realty is no realty, cached or not"


def test_a_cached_listing_is_never_older_than_the_database(factory, database_url):
    """The image cache is per process: another process's change must show at once."""
    realty = create_realty(factory, images=3)
    assert len(load(factory, realty.uuid).images) == 3  # cached now
    other = PeeweeUnitOfWorkFactory(database_url)  # another process, as far as caches go
    with other() as uow:
        locked = uow.realties.lock(ORG_A, realty.uuid)
        locked.remove(locked.images[0].uuid, T0)
        locked.apply([ImageChange(ref=locked.images[0].uuid, description="changed elsewhere")], T0, reorder=False)
        uow.realties.save_images(locked)
        uow.commit()
    other.close()
    images = load(factory, realty.uuid).images
    assert [i.uuid for i in images] == [i.uuid for i in realty.images[1:]]
    assert images[0].description == "changed elsewhere"
    images[0].description = "a caller's own change"
    assert load(factory, realty.uuid).images[0].description == "changed elsewhere", "callers get copies"


def test_save_images_inserts_updates_deletes_and_reorders(factory):
    realty = create_realty(factory, images=5)
    a, b, c, d, e = (i.uuid for i in realty.images)
    later = T0 + timedelta(minutes=5)
    with factory() as uow:
        locked = uow.realties.lock(ORG_A, realty.uuid)
        locked.remove(b, T0)
        locked.apply([ImageChange(ref=u) for u in (e, d, c, a)], later, reorder=True)
        locked.apply([ImageChange(ref=c, description="Garden", category=ImageCategory.COMMON_OUTDOOR_SPACES,
                                  hero=True)], later, reorder=False)
        locked.set_published([a], True, later)
        fresh = new_image(realty.uuid, 9)
        locked.append([fresh], T0, "uploads")
        uow.realties.save_images(locked)
        uow.commit()

    loaded = load(factory, realty.uuid)
    assert [i.uuid for i in loaded.images] == [e, d, c, a, fresh.uuid]
    assert [i.position for i in loaded.images] == [0, 1, 2, 3, 4]
    garden = loaded.image(c)
    assert (garden.description, garden.category, garden.hero, garden.modified_at) == \
        ("Garden", ImageCategory.COMMON_OUTDOOR_SPACES, True, later)
    assert loaded.image(a).published and loaded.image(a).modified_at == later
    assert loaded.image(e).modified_at == T0
    assert loaded.images == locked.images

    # Clearing values back to NULL works through the batched update too.
    with factory() as uow:
        locked = uow.realties.lock(ORG_A, realty.uuid)
        locked.apply([ImageChange(ref=c, clear_description=True, clear_category=True)], later, reorder=False)
        uow.realties.save_images(locked)
        uow.commit()
    garden = load(factory, realty.uuid).image(c)
    assert (garden.description, garden.category) == (None, None)


def test_save_images_writes_only_what_changed(factory):
    realty = create_realty(factory, images=MAX_IMAGES_PER_REALTY)
    with factory() as uow:
        locked = uow.realties.lock(ORG_A, realty.uuid)
        with statements(factory) as seen:
            uow.realties.save_images(locked)
        assert seen == [], "nothing changed, nothing written"

        locked.apply([ImageChange(ref=i.uuid) for i in reversed(locked.images)], T0, reorder=True)
        with statements(factory) as seen:
            uow.realties.save_images(locked)
        image_writes = [s for s in seen if '"image"' in s]
        assert len(image_writes) <= 2, "a reorder of 200 images is a couple of batched statements"
        clock = [s for s in seen if '"media_clock"' in s]
        assert len(clock) == 2, "the org's change stamp: read (locked) and moved on"
        assert len(seen) - len(image_writes) - len(clock) == 1, "and one for the realty's version"

        locked.apply([ImageChange(ref=locked.images[7].uuid, description="only me")], T0, reorder=False)
        with statements(factory) as seen:
            uow.realties.save_images(locked)
        assert len([s for s in seen if '"image"' in s]) == 1 and len(seen) == 4
        uow.commit()
    loaded = load(factory, realty.uuid)
    assert [i.uuid for i in loaded.images] == [i.uuid for i in reversed(realty.images)]
    assert loaded.images[7].description == "only me"
    assert [i.position for i in loaded.images] == list(range(MAX_IMAGES_PER_REALTY))


def test_save_images_of_a_realty_not_loaded_in_this_unit_of_work(factory):
    realty = create_realty(factory, images=3)
    realty.remove(realty.images[1].uuid, T0)
    realty.images[0].description = "changed elsewhere"
    with factory() as uow:
        uow.realties.save_images(realty)
        uow.commit()
    loaded = load(factory, realty.uuid)
    assert [i.uuid for i in loaded.images] == [i.uuid for i in realty.images]
    assert loaded.images[0].description == "changed elsewhere"


def test_lock_needs_a_write_unit_of_work(factory):
    with factory(write=False) as uow:
        with pytest.raises(RuntimeError):
            uow.realties.lock(ORG_A, uuid.uuid4(), created_at=T0)


# --- transactions ----------------------------------------------------------------------------------

def test_leaving_without_commit_rolls_back(factory):
    realty_uuid = uuid.uuid4()
    with factory() as uow:
        realty = uow.realties.lock(ORG_A, realty_uuid, created_at=T0)
        realty.append([new_image(realty_uuid)], T0, "uploads")
        uow.realties.save_images(realty)
        uow.grants.add(UploadGrant("uploads/x", ORG_A, "image/png", T0, T0 + timedelta(hours=1)))
        uow.tombstones.add(["a"], T0)
    with pytest.raises(ZeroDivisionError):
        with factory() as uow:
            uow.realties.add(Realty(uuid=uuid.uuid4(), org=ORG_A, created_at=T0))
            1 / 0
    assert load(factory, realty_uuid) is None
    with factory(write=False) as uow:
        assert uow.grants.get_many(["uploads/x"]) == {}
        assert uow.tombstones.list(10) == []
    assert count_realties(factory) == 0


def test_rollback_after_commit_is_a_no_op_and_a_unit_of_work_is_single_use(factory):
    uow = factory()
    with uow:
        uow.tombstones.add(["k"], T0)
        uow.commit()
        uow.rollback()
    with pytest.raises(RuntimeError):
        uow.__enter__()
    with factory(write=False) as check:
        assert check.tombstones.list(10) == ["k"]


def test_a_nested_unit_of_work_is_a_savepoint(factory):
    with factory() as outer:
        outer.tombstones.add(["outer"], T0)
        with factory() as inner:
            inner.tombstones.add(["inner, rolled back"], T0)
        with factory() as inner:
            inner.tombstones.add(["inner, committed"], T0)
            inner.commit()
        outer.commit()
    with factory(write=False) as uow:
        assert sorted(uow.tombstones.list(10)) == ["inner, committed", "outer"]


def test_a_read_unit_of_work_sees_one_snapshot(factory):
    realty = create_realty(factory, images=1)
    with factory(write=False) as reader:
        before = reader.realties.get(ORG_A, realty.uuid)
        done = threading.Event()

        def write() -> None:
            with factory() as uow:
                locked = uow.realties.lock(ORG_A, realty.uuid)
                locked.append([new_image(realty.uuid, 1)], T0, "uploads")
                uow.realties.save_images(locked)
                uow.commit()
            done.set()

        writer = threading.Thread(target=write)
        writer.start()
        writer.join(30)
        assert done.is_set(), "readers do not block writers"
        assert len(reader.realties.get(ORG_A, realty.uuid).images) == len(before.images) == 1
    assert len(load(factory, realty.uuid).images) == 2


# --- grants and tombstones -------------------------------------------------------------------------

def add_grant(factory, key: str, org: str = ORG_A, created: datetime = T0, ttl: timedelta = timedelta(hours=1)):
    with factory() as uow:
        uow.grants.add(UploadGrant(key, org, "image/jpeg", created, created + ttl))
        uow.commit()


def claim(factory, keys, org: str = ORG_A, now: datetime = T0 + timedelta(minutes=1)) -> int:
    with factory() as uow:
        claimed = uow.grants.claim(org, keys, now)
        uow.commit()
    return claimed


def test_grant_claim_is_once_unexpired_and_per_org(factory):
    add_grant(factory, "uploads/a")
    add_grant(factory, "uploads/b")
    add_grant(factory, "uploads/expired", ttl=timedelta(seconds=30))
    add_grant(factory, "uploads/theirs", org=ORG_B)

    assert claim(factory, ["uploads/theirs"]) == 0
    assert claim(factory, ["uploads/expired"]) == 0
    assert claim(factory, ["uploads/a", "uploads/missing"]) == 1
    assert claim(factory, ["uploads/a", "uploads/b"]) == 1, "a is used already"
    assert claim(factory, ["uploads/a"]) == 0
    assert claim(factory, ["uploads/theirs"], org=ORG_B) == 1

    with factory(write=False) as uow:
        grants = uow.grants.get_many(["uploads/a", "uploads/expired", "uploads/nope"])
    assert set(grants) == {"uploads/a", "uploads/expired"}
    assert grants["uploads/a"] == UploadGrant("uploads/a", ORG_A, "image/jpeg", T0, T0 + timedelta(hours=1),
                                              used_at=T0 + timedelta(minutes=1))
    assert grants["uploads/expired"].used_at is None
    assert grants["uploads/expired"].expires_at < datetime.now(timezone.utc)


def test_racing_claims_of_one_grant_let_exactly_one_win(factory):
    add_grant(factory, "uploads/contended")
    barrier = threading.Barrier(6)
    results: list[int] = []

    def race() -> None:
        barrier.wait()
        results.append(claim(factory, ["uploads/contended"]))

    threads = [threading.Thread(target=race) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(results) == [0, 0, 0, 0, 0, 1]


def test_stale_grants_and_deletion(factory):
    add_grant(factory, "uploads/old", created=T0 - timedelta(days=2))
    add_grant(factory, "uploads/older", created=T0 - timedelta(days=3))
    add_grant(factory, "uploads/new", created=T0)
    with factory(write=False) as uow:
        assert [g.key for g in uow.grants.stale(T0 - timedelta(days=1), 10)] == ["uploads/older", "uploads/old"]
        assert [g.key for g in uow.grants.stale(T0 - timedelta(days=1), 1)] == ["uploads/older"]
    with factory() as uow:
        uow.grants.delete(["uploads/old", "uploads/older", "uploads/unknown"])
        uow.commit()
    with factory(write=False) as uow:
        assert list(uow.grants.get_many(["uploads/old", "uploads/new"])) == ["uploads/new"]


def test_tombstones(factory):
    with factory() as uow:
        uow.tombstones.add(["b", "a", "a"], T0)
        uow.tombstones.add(["a", "c"], T0 + timedelta(seconds=1))
        uow.commit()
    with factory(write=False) as uow:
        assert uow.tombstones.list(10) == ["a", "b", "c"]
        assert uow.tombstones.list(2) == ["a", "b"]
    with factory() as uow:
        uow.tombstones.remove(["a", "zzz"])
        uow.tombstones.remove([])
        uow.commit()
    with factory(write=False) as uow:
        assert uow.tombstones.list(10) == ["b", "c"]


# --- concurrency -----------------------------------------------------------------------------------

def run_racers(count: int, body: Callable[[int], None]) -> list[BaseException]:
    """Run `body(i)` on `count` threads released at once; the exceptions they raised."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        barrier.wait()
        try:
            body(i)
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "a racer hung"
    return errors


@pytest.mark.parametrize("racers, per_racer", [(2, 150), (8, 30)])
def test_racing_appends_to_a_new_realty_respect_order_and_cap(factory, racers, per_racer):
    realty_uuid = uuid.uuid4()

    def append(i: int) -> None:
        with factory() as uow:
            realty = uow.realties.lock(ORG_A, realty_uuid, created_at=T0)
            realty.append([new_image(realty_uuid, 1000 * i + n) for n in range(per_racer)], T0, "uploads")  # checks the cap
            uow.realties.save_images(realty)
            uow.commit()

    errors = run_racers(racers, append)
    assert all(isinstance(e, InvalidInput) for e in errors), errors
    winners = racers - len(errors)
    assert winners == min(racers, MAX_IMAGES_PER_REALTY // per_racer)
    realty = load(factory, realty_uuid)
    assert len(realty.images) == winners * per_racer <= MAX_IMAGES_PER_REALTY
    assert [i.position for i in realty.images] == list(range(len(realty.images)))
    # Each racer's batch is contiguous: nobody's images were interleaved with another's.
    runs = [racer for racer, _ in itertools.groupby(i.width // 1000 for i in realty.images)]
    assert len(runs) == len(set(runs)) == winners
    assert count_realties(factory) == 1


# --- through the core's use cases ----------------------------------------------------------------------

class World:
    def __init__(self, factory: PeeweeUnitOfWorkFactory) -> None:
        self.blobs = InMemoryBlobStore()
        self.clock = FakeClock(T0)
        self.jobs = RecordingJobQueue(self.clock)
        self.sender = RecordingWebhookSender()
        core = bootstrap(factory, self.blobs, FakeInspector(), self.clock, SequentialIds(), self.jobs,
                         LocalChangeSignals(), self.sender, ThreadPoolExecutor(4))
        self.bus, self.views, self.processor = core.bus, core.views, core.processor

    def upload(self, caller: Caller) -> str:
        grant = self.bus.handle(IssueGrant(caller, "image/png"))
        self.blobs.objects[grant.key] = fake_image("image/png", salt=grant.key)
        return grant.key


CALLER_A, CALLER_B = Caller("agent-a", ORG_A), Caller("agent-b", ORG_B)


def test_service_use_cases_on_the_database(factory):
    w = World(factory)
    target = uuid.uuid4()
    saved = w.bus.handle(SaveUploads(CALLER_A, target, [UploadedImage(w.upload(CALLER_A), hero=True),
                                                      UploadedImage(w.upload(CALLER_A), description="two")]))
    assert [i.id is not None for i in saved] == [True, True]
    assert w.jobs.run(w.processor) == 2
    assert [(i.processing, len(i.renditions)) for i in w.views.realty(CALLER_A, target).images] == [
        (Processing.READY, len(RENDITIONS)), (Processing.READY, len(RENDITIONS))]
    with pytest.raises(UploadRejected):
        w.bus.handle(SaveUploads(CALLER_B, target, [UploadedImage(w.upload(CALLER_A))]))

    prop = w.bus.handle(CreateProperty(CALLER_A, "Villa", external_id="v-1"))
    room = w.bus.handle(CreateRoom(CALLER_A, prop.id, "Kitchen"))
    direct = w.bus.handle(UploadImage(CALLER_A, prop.id, DirectUpload(fake_image(), "k.png", kind=ImageKind.ROOM,
                                                                    room_id=room.id)))
    assert w.views.find_image(CALLER_A, direct.id).room_id == room.id
    assert w.views.rooms_of(CALLER_A, [prop.uuid]) == [room]

    w.bus.handle(UpdateImages(CALLER_A, target, [ImageChange(saved[1].uuid), ImageChange(saved[0].uuid)], reorder=True))
    w.bus.handle(SetPublished(CALLER_A, target, None, True))
    w.bus.handle(CopyImages(CALLER_A, prop.uuid, target))
    w.bus.handle(SetPublished(CALLER_A, target, [saved[0].uuid], False))
    w.bus.handle(DeleteImage(CALLER_A, saved[0].uuid))

    images = w.views.realty(CALLER_A, target).images
    assert [(i.uuid, i.position, i.published) for i in images] == [(saved[1].uuid, 0, True)]
    copies = w.views.realty(CALLER_A, prop.uuid).images
    assert [i.description for i in copies] == [None, "two", None]
    assert [i.published for i in copies] == [False, False, False]
    assert [r.uuid for r in w.views.realties(CALLER_A, [prop.id, 10_000])] == [prop.uuid]
    assert w.views.find_realty(CALLER_B, target) is None
    with pytest.raises(NotFound):
        w.bus.handle(DeleteImage(CALLER_B, saved[1].uuid))

    w.jobs.run(w.processor)
    stored = sorted(k for k in w.blobs.objects if k.startswith("images/"))
    in_use = sorted({k for i in images + copies + [w.views.find_image(CALLER_A, direct.id)] for k in i.blob_keys})
    assert stored == in_use, "the deleted image's blobs went; those its copy shares stayed"

    w.clock.advance(days=2)
    assert w.bus.handle(CollectGarbage()) == {"expired_uploads": 3, "abandoned_blobs": 0, "purged_blobs": 0,
                                              "expired_requests": 0, "expired_events": 0,
                                              "expired_deliveries": 0}
    assert w.views.check_ready() == {"database": True, "storage": True}


def test_racing_saves_through_the_service_keep_the_cap(factory):
    w = World(factory)
    target = uuid.uuid4()
    keys = [[w.upload(CALLER_A) for _ in range(120)] for _ in range(2)]

    def save(i: int) -> None:
        w.bus.handle(SaveUploads(CALLER_A, target, [UploadedImage(k) for k in keys[i]]))

    errors = run_racers(2, save)
    assert len(errors) == 1 and isinstance(errors[0], InvalidInput), errors
    images = w.views.realty(CALLER_A, target).images
    assert len(images) == 120 and [i.position for i in images] == list(range(120))


# --- blob uses, processing, and schema upgrades ----------------------------------------------------

def blob_refs(factory: PeeweeUnitOfWorkFactory) -> dict[str, int]:
    with factory(write=False):
        return {row["key"]: row["refs"] for row in factory.models.Blob.select().dicts()}


def test_blob_uses_are_counted_shared_and_released(factory):
    with factory() as uow:
        uow.blobs.reserve(["a", "b", "c"], T0)
        uow.blobs.reserve(["a"], T0 + timedelta(hours=1))  # reserved already: left as it is
        assert uow.blobs.use(["a", "b", "a", "missing"]) == 2, "a key listed twice counts twice"
        uow.commit()
    assert blob_refs(factory) == {"a": 2, "b": 1, "c": 0}
    with factory() as uow:
        assert uow.blobs.abandoned(T0 + timedelta(seconds=1), 10) == ["c"]
        assert uow.blobs.release(["a", "b", "never-recorded"]) == ["b"]
        assert sorted(uow.blobs.unused(["a", "c", "never-recorded"])) == ["c", "never-recorded"]
        uow.commit()
    assert blob_refs(factory) == {"a": 1}
    with factory() as uow:
        assert uow.blobs.release(["a"]) == ["a"]
        uow.commit()
    assert blob_refs(factory) == {}


def test_processing_state_is_stored_and_stale_jobs_are_claimed_once(factory):
    realty = create_realty(factory)
    pending = new_image(realty.uuid, 1, processing=Processing.PENDING)
    failed = new_image(realty.uuid, 2, processing=Processing.FAILED, processing_error="broken file")
    with factory() as uow:
        locked = uow.realties.lock(ORG_A, realty.uuid)
        locked.append([pending, failed], T0, "uploads")
        uow.realties.save_images(locked)
        uow.commit()
    images = load(factory, realty.uuid).images
    assert [(i.processing, i.processing_error) for i in images] == [
        (Processing.PENDING, None), (Processing.FAILED, "broken file")]
    with factory() as uow:
        assert uow.processing.claim_stale(T0, T0, 10) == [], "queued at T0: not stale before it"
        claimed = uow.processing.claim_stale(T0 + timedelta(minutes=5), T0 + timedelta(minutes=5), 10)
        uow.commit()
    assert [(j.org, j.realty_uuid, j.image_uuid) for j in claimed] == [(ORG_A, realty.uuid, pending.uuid)]
    with factory() as uow:
        assert uow.processing.claim_stale(T0 + timedelta(minutes=5), T0 + timedelta(minutes=5), 10) == []


def test_render_attempts_are_numbered_once_each_and_count_as_progress(factory):
    realty = create_realty(factory)
    pending = new_image(realty.uuid, 1, processing=Processing.PENDING)
    ready = new_image(realty.uuid, 2, processing=Processing.READY)
    with factory() as uow:
        locked = uow.realties.lock(ORG_A, realty.uuid)
        locked.append([pending, ready], T0, "uploads")
        uow.realties.save_images(locked)
        uow.commit()
    later = T0 + timedelta(minutes=5)
    attempts: list = []

    def start(_: int) -> None:
        with factory() as uow:
            attempts.append(uow.processing.start(ORG_A, pending.uuid, later))
            uow.commit()

    assert run_racers(2, start) == []
    assert sorted(attempts) == [1, 2]
    with factory() as uow:
        assert uow.processing.start(ORG_A, ready.uuid, later) is None, "only a PENDING image"
        assert uow.processing.start("org-b", pending.uuid, later) is None, "only the org's own"
        assert uow.processing.claim_stale(later, later, 10) == [], "started at `later`: not stale before it"
        assert len(uow.processing.claim_stale(later + timedelta(seconds=1), later, 10)) == 1


def test_recorded_blobs_are_those_reserved_or_used(factory):
    with factory() as uow:
        uow.blobs.reserve(["a", "b"], T0)
        uow.blobs.use(["a"])
        uow.commit()
    with factory() as uow:
        assert sorted(uow.blobs.recorded(["a", "b", "c", "a"])) == ["a", "b"]


def test_racing_sweepers_claim_each_stale_image_once(factory):
    realty = create_realty(factory)
    with factory() as uow:
        locked = uow.realties.lock(ORG_A, realty.uuid)
        locked.append([new_image(realty.uuid, n, processing=Processing.PENDING) for n in range(40)], T0, "uploads")
        uow.realties.save_images(locked)
        uow.commit()
    claims: list = []
    later = T0 + timedelta(minutes=5)

    def sweep(_: int) -> None:
        with factory() as uow:
            claims.extend(uow.processing.claim_stale(later, later, 25))
            uow.commit()

    assert run_racers(2, sweep) == []
    assert len(claims) == 40 and len({j.image_uuid for j in claims}) == 40


def test_idempotent_requests_are_claimed_once_kept_forgotten_and_expired(factory):
    from core.repositories import RequestRecord

    def claim_as(owner: str, at: datetime = T0, key: str = "k1") -> RequestRecord | None:
        with factory() as uow:
            holder = uow.requests.claim(RequestRecord(ORG_A, key, "save", "f" * 64, owner, at),
                                        expired_before=at - timedelta(hours=24))
            uow.commit()
        return holder

    assert claim_as("first").owner == "first"
    assert claim_as("second") == RequestRecord(ORG_A, "k1", "save", "f" * 64, "first", T0)
    answer = b'{"realtyImages": []}' * 1000
    with factory() as uow:
        uow.requests.keep_answer(ORG_A, "k1", "second", b"not the owner")  # ignored
        uow.requests.keep_answer(ORG_A, "k1", "first", answer)
        uow.requests.forget(ORG_A, "k1", "first")  # an answered record stays
        assert not uow.requests.take_over(ORG_A, "k1", "first", "third", T0)
        uow.commit()
    assert claim_as("second").answer == answer
    assert claim_as("late", at=T0 + timedelta(hours=25)).owner == "late", "an expired record is replaced"

    assert claim_as("x", key="k2").owner == "x"
    with factory() as uow:
        assert uow.requests.take_over(ORG_A, "k2", "x", "y", T0 + timedelta(minutes=5))
        uow.requests.forget(ORG_A, "k2", "y")
        uow.commit()
    assert claim_as("z", key="k2").owner == "z"
    with factory() as uow:
        assert uow.requests.expire(T0 + timedelta(hours=1), 100) == 1  # k2; k1 was renewed at T0 + 25 h
        uow.commit()


def test_racing_claims_of_one_request_key_let_exactly_one_win(factory):
    from core.repositories import RequestRecord

    holders: list[str] = []

    def race(i: int) -> None:
        with factory() as uow:
            holder = uow.requests.claim(RequestRecord(ORG_A, "contended", "save", "f", f"racer-{i}", T0),
                                        expired_before=T0 - timedelta(hours=24))
            uow.commit()
        holders.append(holder.owner)

    assert run_racers(6, race) == []
    assert len(holders) == 6 and len(set(holders)) == 1


def test_an_older_schema_is_brought_up_to_date_at_start(database_url):
    """Tables made before processing and blob counting existed get the new columns, and the blobs of
    images saved then are counted, so deleting them later deletes their blobs."""
    old = PeeweeUnitOfWorkFactory(database_url)
    old.create_tables()
    realty = create_realty(old, images=2)
    with old() as uow:
        locked = uow.realties.lock(ORG_A, realty.uuid)
        locked.images[0].renditions = (Rendition("thumbnail", "images/0/thumbnail.jpg", 32, 24),)
        uow.realties.save_images(locked)
        uow.commit()
    with old() as uow:
        old.database.execute_sql('DROP INDEX "image_processing_processing_queued_at"')
        for column in ("processing", "processing_error", "processing_queued_at"):
            old.database.execute_sql(f'ALTER TABLE "image" DROP COLUMN "{column}"')
        old.database.execute_sql('DROP TABLE "blob"')
        old.database.execute_sql('DROP TABLE "idempotent_request"')
        uow.commit()
    old.close()

    upgraded = PeeweeUnitOfWorkFactory(database_url)
    upgraded.create_tables()
    images = load(upgraded, realty.uuid).images
    assert [i.processing for i in images] == [Processing.READY, Processing.READY]
    assert blob_refs(upgraded) == {"images/0/original.png": 1, "images/0/thumbnail.jpg": 1,
                                   "images/1/original.png": 1}
    with upgraded() as uow:
        assert uow.requests.expire(datetime.now(timezone.utc), 10) == 0, "the table of idempotent requests exists"
    upgraded.create_tables()  # and again: nothing changes
    assert len(blob_refs(upgraded)) == 3
    upgraded.close()


def test_a_writer_takes_cached_images_and_a_rolled_back_change_leaves_no_trace(factory):
    realty = create_realty(factory, images=3)
    load(factory, realty.uuid)  # cached now
    with factory() as uow, statements(factory) as seen:
        locked = uow.realties.lock(ORG_A, realty.uuid)
    assert [s for s in seen if '"image"' in s] == [], "the locked realty's images came from the cache"
    with factory() as uow:
        locked = uow.realties.lock(ORG_A, realty.uuid)
        locked.apply([ImageChange(ref=locked.images[0].uuid, description="never committed")], T0, reorder=False)
        locked.remove(locked.images[2].uuid, T0)
        uow.realties.save_images(locked)
        # no commit: rolled back
    images = load(factory, realty.uuid).images
    assert [i.uuid for i in images] == [i.uuid for i in realty.images]
    assert images[0].description is None
    with factory() as uow:
        locked = uow.realties.lock(ORG_A, realty.uuid)
        locked.apply([ImageChange(ref=locked.images[1].uuid, description="committed")], T0, reorder=False)
        uow.realties.save_images(locked)
        uow.commit()
    assert [i.description for i in load(factory, realty.uuid).images] == [None, "committed", None]


def test_a_request_marked_done_is_neither_taken_over_nor_forgotten(factory):
    from core.repositories import RequestRecord

    with factory() as uow:
        uow.requests.claim(RequestRecord(ORG_A, "done-key", "save", "f", "first", T0), T0 - timedelta(days=1))
        uow.requests.mark_done(ORG_A, "done-key", "first")
        uow.commit()
    with factory() as uow:
        assert not uow.requests.take_over(ORG_A, "done-key", "first", "second", T0 + timedelta(hours=1))
        uow.requests.forget(ORG_A, "done-key", "first")
        holder = uow.requests.claim(RequestRecord(ORG_A, "done-key", "save", "f", "third", T0), T0 - timedelta(days=1))
        uow.commit()
    assert (holder.owner, holder.done, holder.answer) == ("first", True, None)
