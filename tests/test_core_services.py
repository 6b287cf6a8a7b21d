"""The core's use cases, on in-memory fakes of its ports."""
from __future__ import annotations

import threading
import uuid

import pytest

from core.domain import ImageCategory, ImageChange, ImageKind, ImageType, ModerationStatus
from core.errors import Conflict, InvalidInput, InvalidState, NotFound, UnsupportedImageType, UnsupportedMediaType, UploadRejected
from core.ports import Caller
from core.services import DirectUpload, ImageService, Limits, UploadedImage
from tests.fakes import FakeClock, FakeInspector, InMemoryBlobStore, InMemoryDatabase, SequentialIds, fake_image

ORG_A = Caller(sub="agent-1", org="org-a")
ORG_B = Caller(sub="agent-9", org="org-b")
REALTY = uuid.UUID("ddc25849-7bc7-43c0-9c3b-602cb03f7806")
OTHER = uuid.UUID("0fb5f172-b06d-4e49-8beb-5140e3b6f944")


class World:
    def __init__(self, limits: Limits = Limits()) -> None:
        self.db = InMemoryDatabase()
        self.blobs = InMemoryBlobStore()
        self.clock = FakeClock()
        self.service = ImageService(self.db, self.blobs, FakeInspector(), self.clock, SequentialIds(), limits)

    def upload(self, caller=ORG_A, content_type="image/png", data: bytes | None = None, salt: str = "") -> str:
        """Get a grant and put bytes at its key, as a client POSTing the form would."""
        grant = self.service.issue_grant(caller, content_type)
        self.blobs.objects[grant.key] = data if data is not None else fake_image(content_type, salt=salt or grant.key)
        return grant.key

    def save(self, *keys, caller=ORG_A, realty=REALTY, **meta):
        return self.service.save_uploads(caller, realty, [UploadedImage(key=k, **meta) for k in keys])

    def images(self, caller=ORG_A, realty=REALTY):
        return self.service.realty(caller, realty).images


@pytest.fixture
def w() -> World:
    return World()


def test_saved_images_keep_request_order_after_existing_ones(w):
    first = w.save(w.upload())
    batch = w.save(w.upload(), w.upload(), w.upload())
    listed = w.images()
    assert [i.uuid for i in listed] == [first[0].uuid] + [i.uuid for i in batch]
    assert [i.position for i in listed] == [0, 1, 2, 3]


def test_saved_image_records_facts_of_the_bytes_and_moves_out_of_uploads(w):
    key = w.upload(content_type="image/webp", data=fake_image("image/webp", 640, 480))
    [image] = w.save(key, description="Kitchen", original_file_name="kitchen.webp", category=ImageCategory.ROOM)
    assert (image.content_type, image.width, image.height) == ("image/webp", 640, 480)
    assert image.file_size == len(fake_image("image/webp", 640, 480))
    assert image.storage_key.startswith("images/") and image.storage_key in w.blobs.objects
    assert key not in w.blobs.objects, "the upload object is removed once saved"
    assert image.status is ModerationStatus.EXTERNAL_NEW and not image.published
    assert [r.name for r in image.renditions] == ["thumbnail", "web", "large"]
    assert all(r.storage_key in w.blobs.objects for r in image.renditions)


def test_md5_is_of_the_stored_bytes(w):
    import hashlib
    data = fake_image("image/png", 10, 10, salt="x")
    [image] = w.save(w.upload(data=data))
    assert image.md5 == hashlib.md5(data).hexdigest() == hashlib.md5(w.blobs.objects[image.storage_key]).hexdigest()


def test_grant_only_for_accepted_types(w):
    with pytest.raises(UnsupportedMediaType):
        w.service.issue_grant(ORG_A, "image/gif")


@pytest.mark.parametrize("problem", ["foreign", "expired", "used", "never_uploaded", "wrong_type", "not_image",
                                     "too_big", "too_many_pixels", "unknown_key"])
def test_a_bad_item_fails_the_whole_batch_and_names_its_key(problem):
    w = World(Limits(max_upload_bytes=10_000, max_image_pixels=1_000_000))
    bad = {
        "foreign": lambda: w.upload(caller=ORG_B),
        "expired": lambda: w.upload(),
        "used": lambda: w.upload(),
        "never_uploaded": lambda: w.service.issue_grant(ORG_A, "image/png").key,
        "wrong_type": lambda: w.upload(content_type="image/jpeg", data=fake_image("image/png")),
        "not_image": lambda: w.upload(data=b"<html>hello</html>"),
        "too_big": lambda: w.upload(data=fake_image("image/png", salt="x" * 20_000)),
        "too_many_pixels": lambda: w.upload(data=fake_image("image/png", 2000, 2000)),
        "unknown_key": lambda: "uploads/" + str(uuid.uuid4()),
    }[problem]()
    if problem == "used":
        w.save(bad, realty=OTHER)
    if problem == "expired":
        w.clock.advance(hours=2)
    good = w.upload()
    before = dict(w.blobs.objects)
    with pytest.raises(UploadRejected) as err:
        w.save(good, bad)
    assert [e.target for e in err.value.errors] == [bad]
    with pytest.raises(NotFound):
        w.images()  # the realty was never written
    assert w.blobs.objects == before, "nothing stored for a refused batch"


def test_all_problems_of_a_batch_are_reported(w):
    bad1, bad2 = w.upload(data=b"nope"), w.upload(data=b"nope either")
    with pytest.raises(UploadRejected) as err:
        w.save(w.upload(), bad1, bad2)
    assert sorted(e.target for e in err.value.errors) == sorted([bad1, bad2])


def test_a_key_can_be_saved_once(w):
    key = w.upload()
    w.save(key)
    with pytest.raises(UploadRejected):
        w.save(key)
    assert len(w.images()) == 1


def test_duplicate_key_in_one_batch(w):
    key = w.upload()
    with pytest.raises(UploadRejected):
        w.save(key, key)


def test_at_most_200_images_per_realty(w):
    w.save(*[w.upload() for _ in range(150)])
    with pytest.raises(InvalidInput):
        w.save(*[w.upload() for _ in range(51)])
    w.save(*[w.upload() for _ in range(50)])
    assert len(w.images()) == 200
    with pytest.raises(InvalidInput):
        w.service.upload_image(ORG_A, REALTY, DirectUpload(fake_image(), "x.png"))


def test_racing_saves_never_exceed_the_cap(w):
    batches = [[w.upload() for _ in range(150)] for _ in range(2)]
    outcomes = []

    def save(keys):
        try:
            w.save(*keys)
            outcomes.append("ok")
        except InvalidInput as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=save, args=(b,)) for b in batches]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert sorted(map(str, outcomes)).count("ok") == 1
    images = w.images()
    assert len(images) == 150 and [i.position for i in images] == list(range(150))
    assert len({i.uuid for i in images}) == 150


def test_a_storage_failure_midway_leaves_no_metadata_and_no_blobs(w):
    keys = [w.upload() for _ in range(3)]
    uploads = dict(w.blobs.objects)
    w.blobs.fail_puts_after = 5  # original + 3 renditions of the first, then the second original fails mid-way
    with pytest.raises(OSError):
        w.save(*keys)
    assert w.blobs.objects == uploads
    assert w.db.data.tombstones == set()
    with pytest.raises(NotFound):
        w.images()


def test_one_hero_per_realty(w):
    [a] = w.save(w.upload(), hero=True)
    [b] = w.save(w.upload(), hero=True)
    heroes = [i.uuid for i in w.images() if i.hero]
    assert heroes == [b.uuid]
    with pytest.raises(InvalidInput):
        w.service.update_images(ORG_A, REALTY, [ImageChange(a.uuid, hero=True), ImageChange(b.uuid, hero=True)],
                                reorder=True)


def test_reorder_names_exactly_the_current_set(w):
    a, b, c = w.save(w.upload(), w.upload(), w.upload())
    for wrong in ([a.uuid, b.uuid], [a.uuid, b.uuid, c.uuid, c.uuid], [a.uuid, b.uuid, c.uuid, uuid.uuid4()]):
        with pytest.raises(InvalidInput):
            w.service.update_images(ORG_A, REALTY, [ImageChange(u) for u in wrong], reorder=True)
    w.service.update_images(ORG_A, REALTY, [ImageChange(c.uuid, description="first"), ImageChange(a.uuid),
                                            ImageChange(b.uuid, category=ImageCategory.MAP)], reorder=True)
    listed = w.images()
    assert [i.uuid for i in listed] == [c.uuid, a.uuid, b.uuid]
    assert [i.position for i in listed] == [0, 1, 2]
    assert listed[0].description == "first" and listed[2].category is ImageCategory.MAP


def test_update_distinguishes_absent_from_cleared(w):
    [a] = w.save(w.upload(), description="keep", category=ImageCategory.GENERAL)
    w.service.update_images(ORG_A, REALTY, [ImageChange(a.uuid)], reorder=True)
    assert (w.images()[0].description, w.images()[0].category) == ("keep", ImageCategory.GENERAL)
    w.service.update_images(ORG_A, REALTY, [ImageChange(a.uuid, clear_description=True, clear_category=True)],
                            reorder=True)
    assert (w.images()[0].description, w.images()[0].category) == (None, None)


def test_published_image_cannot_be_deleted(w):
    a, b = w.save(w.upload(), w.upload())
    w.service.set_published(ORG_A, REALTY, [a.uuid], True)
    with pytest.raises(InvalidState):
        w.service.delete_image(ORG_A, a.uuid, REALTY)
    w.service.delete_image(ORG_A, b.uuid, REALTY)
    w.service.set_published(ORG_A, REALTY, None, False)
    w.service.delete_image(ORG_A, a.uuid, REALTY)
    assert w.images() == []
    assert not any(k.startswith("images/") for k in w.blobs.objects), "original and renditions deleted"


def test_publication_is_approval(w):
    [a] = w.save(w.upload())
    w.service.set_published(ORG_A, REALTY, None, True)
    image = w.images()[0]
    assert image.published and image.status is ModerationStatus.APPROVED
    w.service.set_published(ORG_A, REALTY, [a.uuid], False)
    assert not w.images()[0].published


def test_deleting_renumbers_positions(w):
    a, b, c = w.save(w.upload(), w.upload(), w.upload())
    w.service.delete_image(ORG_A, b.uuid, REALTY)
    assert [(i.uuid, i.position) for i in w.images()] == [(a.uuid, 0), (c.uuid, 1)]


def test_a_failed_blob_delete_is_retried_by_gc(w):
    [a] = w.save(w.upload())
    w.blobs.fail_deletes = True
    w.service.delete_image(ORG_A, a.uuid, REALTY)
    assert w.images() == [], "metadata is gone even though the blobs are not yet"
    assert a.storage_key in w.db.data.tombstones
    w.blobs.fail_deletes = False
    assert w.service.collect_garbage()["purged_blobs"] == 4
    assert not any(k.startswith("images/") for k in w.blobs.objects) and not w.db.data.tombstones


def test_gc_removes_uploads_never_saved_after_retention(w):
    old = w.upload()
    w.clock.advance(hours=23)
    young = w.upload()
    w.clock.advance(hours=2)
    assert w.service.collect_garbage()["expired_uploads"] == 1
    assert old not in w.blobs.objects and young in w.blobs.objects


def test_gc_leaves_uploads_whose_grant_is_still_valid():
    from datetime import timedelta

    w = World(Limits(grant_ttl=timedelta(hours=48)))
    key = w.upload()
    w.clock.advance(hours=30)
    assert w.service.collect_garbage()["expired_uploads"] == 0
    assert len(w.save(key)) == 1


def test_copy_gives_new_ids_own_blobs_appended_in_source_order(w):
    a, b = w.save(w.upload(), w.upload(), hero=False)
    w.service.set_published(ORG_A, REALTY, [a.uuid], True)
    [existing] = w.save(w.upload(), realty=OTHER)
    copies = w.service.copy_images(ORG_A, OTHER, REALTY)
    target = w.images(realty=OTHER)
    assert [i.uuid for i in target] == [existing.uuid] + [c.uuid for c in copies]
    assert {c.uuid for c in copies}.isdisjoint({a.uuid, b.uuid})
    assert [c.md5 for c in copies] == [a.md5, b.md5]
    assert not any(c.published for c in copies), "a copy is not published on the target"
    for copy_, orig in zip(copies, (a, b)):
        assert copy_.storage_key != orig.storage_key
        assert w.blobs.objects[copy_.storage_key] == w.blobs.objects[orig.storage_key]
    w.service.set_published(ORG_A, REALTY, None, False)
    w.service.delete_image(ORG_A, a.uuid, REALTY)
    assert copies[0].storage_key in w.blobs.objects, "deleting the source leaves the copy intact"


def test_copy_keeps_the_targets_hero(w):
    w.save(w.upload(), hero=True)
    [target_hero] = w.save(w.upload(), realty=OTHER, hero=True)
    w.service.copy_images(ORG_A, OTHER, REALTY)
    assert [i.uuid for i in w.images(realty=OTHER) if i.hero] == [target_hero.uuid]


def test_copy_refuses_self_and_missing_and_over_cap(w):
    w.save(*[w.upload() for _ in range(120)])
    with pytest.raises(InvalidInput):
        w.service.copy_images(ORG_A, REALTY, REALTY)
    with pytest.raises(NotFound):
        w.service.copy_images(ORG_A, OTHER, uuid.uuid4())
    w.save(*[w.upload() for _ in range(100)], realty=OTHER)
    blobs_before = set(w.blobs.objects)
    with pytest.raises(InvalidInput):
        w.service.copy_images(ORG_A, OTHER, REALTY)
    assert set(w.blobs.objects) == blobs_before, "copied blobs are removed when the copy is refused"


def test_another_orgs_realty_does_not_exist(w):
    w.save(w.upload())
    with pytest.raises(NotFound):
        w.service.realty(ORG_B, REALTY)
    with pytest.raises(NotFound):
        w.save(w.upload(caller=ORG_B), caller=ORG_B)  # writing to it does not take it over
    with pytest.raises(NotFound):
        w.service.copy_images(ORG_B, OTHER, REALTY)
    [image] = w.images()
    assert w.service.find_image(ORG_B, image.uuid) is None
    with pytest.raises(NotFound):
        w.service.delete_image(ORG_B, image.uuid)


def test_direct_upload_naming_and_type():
    w = World()
    prop = w.service.create_property(ORG_A, "Archways")
    room = w.service.create_room(ORG_A, prop.id, "Room 1")
    data = fake_image("image/jpeg", 800, 600)
    image = w.service.upload_image(ORG_A, prop.id, DirectUpload(data, "Archways_ub_1.jpg", ImageCategory.GENERAL))
    ms = int(image.created_at.timestamp() * 1000)
    assert image.filename == f"{ms}-Archways_ub_1"
    assert image.source == f"{ms}-Archways_ub_1-{image.md5}.jpg"
    assert image.type is ImageType.PROPERTY_IMAGE
    room_image = w.service.upload_image(ORG_A, prop.id, DirectUpload(
        data, "r.jpeg", ImageCategory.ROOM, kind=ImageKind.ROOM, room_id=room.id))
    assert room_image.type is ImageType.ROOM_IMAGE and room_image.source.endswith(".jpeg")
    plan = w.service.upload_image(ORG_A, prop.id, DirectUpload(data, "plan.png", kind=ImageKind.FLOOR_PLAN))
    assert plan.type is ImageType.FLOOR_PLAN_IMAGE
    assert [i.id for i in w.service.realty(ORG_A, prop.uuid).images] == [image.id, room_image.id, plan.id]


def test_direct_upload_accepts_bmp_but_not_other_things():
    w = World()
    prop = w.service.create_property(ORG_A, "P")
    w.service.upload_image(ORG_A, prop.id, DirectUpload(fake_image("image/bmp"), "a.bmp"))
    with pytest.raises(UnsupportedImageType):
        w.service.upload_image(ORG_A, prop.id, DirectUpload(b"GIF89a...", "a.jpg"))
    with pytest.raises(UnsupportedImageType):
        w.service.upload_image(ORG_A, prop.id, DirectUpload(fake_image("image/gif"), "a.gif"))


def test_room_must_belong_to_the_property():
    w = World()
    p1, p2 = w.service.create_property(ORG_A, "1"), w.service.create_property(ORG_A, "2")
    room = w.service.create_room(ORG_A, p1.id, "R")
    with pytest.raises(NotFound):
        w.service.upload_image(ORG_A, p2.id, DirectUpload(fake_image(), "a.png", kind=ImageKind.ROOM, room_id=room.id))
    with pytest.raises(NotFound):
        w.service.create_room(ORG_B, p1.id, "stolen")


def test_readiness_reports_each_dependency(w):
    assert w.service.check_ready() == {"database": True, "storage": True}
    w.db.down = True
    assert w.service.check_ready() == {"database": False, "storage": True}


def test_a_property_holds_at_most_200_rooms():
    w = World()
    prop = w.service.create_property(ORG_A, "Campus")
    for n in range(200):
        w.service.create_room(ORG_A, prop.id, f"Type {n}")
    with pytest.raises(InvalidInput, match="at most 200 rooms"):
        w.service.create_room(ORG_A, prop.id, "one too many")
    assert len(w.service.rooms_of(ORG_A, [prop.uuid])) == 200


def test_a_direct_upload_to_a_full_property_is_refused_before_the_file_is_examined():
    w = World()
    prop = w.service.create_property(ORG_A, "Full")
    w.save(*[w.upload() for _ in range(200)], realty=prop.uuid)
    with pytest.raises(InvalidInput, match="at most 200 images"):
        w.service.upload_image(ORG_A, prop.id, DirectUpload(b"not an image at all", "a.jpg"))
    assert len(w.images(realty=prop.uuid)) == 200


def test_an_image_that_cannot_be_rendered_fails_the_batch_naming_its_key(w):
    good = w.upload()
    bad = w.upload(data=fake_image("image/png", salt="unrenderable"))
    with pytest.raises(UploadRejected) as refused:
        w.save(good, bad)
    assert [e.target for e in refused.value.errors] == [bad]
    assert w.service.find_realty(ORG_A, REALTY) is None
    assert not [k for k in w.blobs.objects if k.startswith("images/")], "no blob of the failed batch is left"


def test_a_copy_racing_a_delete_of_the_source_is_a_retryable_conflict(w):
    """The source is read without a lock: an image deleted (and its blobs purged) meanwhile is a conflict."""
    first, second = w.save(w.upload(), w.upload())
    del w.blobs.objects[second.storage_key]  # what a concurrent delete's purge leaves behind
    with pytest.raises(Conflict):
        w.service.copy_images(ORG_A, OTHER, REALTY)
    assert w.service.find_realty(ORG_A, OTHER) is None
    assert not [k for k in w.blobs.objects if k.startswith("images/") and first.storage_key.split("/")[1] not in k
                and second.storage_key.split("/")[1] not in k], "the copies made so far are removed"


def test_an_image_losing_the_hero_to_a_new_upload_is_modified(w):
    [first] = w.save(w.upload(), hero=True)
    w.clock.advance(minutes=5)
    w.save(w.upload(), hero=True)
    [old_hero, new_hero] = w.images()
    assert (old_hero.hero, new_hero.hero) == (False, True)
    assert old_hero.modified_at == w.clock.now() > first.modified_at


@pytest.mark.parametrize("given, kept", [
    ("../../etc/x\n.jpg", "x.jpg"),
    ("C:\\Users\\agent\\Desktop\\Front door.JPG", "Front door.JPG"),
    ("\x1b[31mred.png", "[31mred.png"),
    ("photos/", None),
    ("k" * 300 + ".png", "k" * 255),
])
def test_a_file_name_is_kept_as_a_plain_name_over_both_apis(w, given, kept):
    [saved] = w.save(w.upload(), original_file_name=given)
    prop = w.service.create_property(ORG_A, "P")
    direct = w.service.upload_image(ORG_A, prop.id, DirectUpload(fake_image(), given))
    assert saved.original_file_name == direct.original_file_name == kept
