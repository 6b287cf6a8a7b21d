"""The core's use cases, on in-memory fakes of its ports."""
from __future__ import annotations

import threading
import uuid

import pytest

from core.domain import ImageCategory, ImageChange, ImageKind, ImageType, ModerationStatus, Processing
from core.errors import (
    AnswerNotKept, Conflict, InvalidInput, Problem, InvalidState, NotFound, TimedOut, Unavailable, UnsupportedImageType, UnsupportedMediaType,
    UploadRejected,
)
from core.commands import (
    CollectGarbage, CopyImages, CreateProperty, CreateRoom, DeleteImage, DirectUpload, IssueGrant, SetPublished, UpdateImages,
    UploadImage,
)
from core.dependencies import Limits
from tests.fakes import SequentialIds, fake_image
from tests.unit.world import ORG_A, ORG_B, OTHER, REALTY, World


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
    assert image.processing is Processing.PENDING and image.renditions == ()


def test_renditions_are_made_by_a_job_after_the_save(w):
    [image] = w.save(w.upload(data=fake_image("image/png", 4000, 3000)))
    assert w.jobs.backlog() == 1
    assert w.render() == 1
    [done] = w.images()
    assert done.processing is Processing.READY and done.processing_error is None
    assert [(r.name, r.width, r.height) for r in done.renditions] == [
        ("thumbnail", 320, 240), ("web", 1280, 960), ("large", 2048, 1536),
        ("thumbnailWebp", 320, 240), ("webWebp", 1280, 960), ("largeWebp", 2048, 1536)]
    assert all(w.blobs.objects[r.storage_key] == b"rendition:" + r.name.encode() for r in done.renditions)


def test_a_render_job_done_twice_leaves_the_same_result(w):
    [image] = w.save(w.upload())
    job = w.jobs.waiting[0]
    w.render()
    first, blobs = w.images()[0], dict(w.blobs.objects)
    w.processor.render(job)
    assert w.images()[0] == first and w.blobs.objects == blobs
    assert w.db.data.blob_refs == {k: 1 for k in first.blob_keys}


def test_md5_is_of_the_stored_bytes(w):
    import hashlib
    data = fake_image("image/png", 10, 10, salt="x")
    [image] = w.save(w.upload(data=data))
    assert image.md5 == hashlib.md5(data).hexdigest() == hashlib.md5(w.blobs.objects[image.storage_key]).hexdigest()


def test_grant_only_for_accepted_types(w):
    with pytest.raises(UnsupportedMediaType):
        w.bus.handle(IssueGrant(ORG_A, "image/gif"))


@pytest.mark.parametrize("problem", ["foreign", "expired", "used", "never_uploaded", "wrong_type", "not_image",
                                     "too_big", "too_many_pixels", "unknown_key"])
def test_a_bad_item_fails_the_whole_batch_and_names_its_key(problem):
    w = World(Limits(max_upload_bytes=10_000, max_image_pixels=1_000_000))
    bad = {
        "foreign": lambda: w.upload(caller=ORG_B),
        "expired": lambda: w.upload(),
        "used": lambda: w.upload(),
        "never_uploaded": lambda: w.bus.handle(IssueGrant(ORG_A, "image/png")).key,
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
        w.bus.handle(UploadImage(ORG_A, REALTY, DirectUpload(fake_image(), "x.png")))


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
    w.blobs.fail_copies_after = 1  # the first original is stored, then storage stops answering
    with pytest.raises(Unavailable):
        w.save(*keys)
    assert w.blobs.objects == uploads
    assert w.db.data.tombstones == set() and w.db.data.blob_refs == {}
    assert w.jobs.waiting == []
    with pytest.raises(NotFound):
        w.images()
    w.blobs.fail_copies_after = None
    assert len(w.save(*keys)) == 3, "the grants were not used up"


def test_a_storage_timeout_midway_fails_at_once_and_leaves_the_files_to_gc(w):
    """Deleting what was stored would wait on the hung storage as long again: gc does it later."""
    key = w.upload()
    w.blobs.before_copy.append(lambda: setattr(w.blobs, "hanging", True))
    with pytest.raises(TimedOut):
        w.save(key)
    assert w.blobs.delete_calls == 0
    w.blobs.hanging = False
    assert len(w.save(key)) == 1, "the grant was not used up"
    w.clock.advance(hours=2)
    assert w.bus.handle(CollectGarbage())["abandoned_blobs"] == 1  # the failed save's reservation


def test_a_save_stops_at_the_first_storage_timeout_instead_of_waiting_out_every_upload(w):
    """The uploads are verified a pool's width at a time: once storage has not answered one, the others
    would not be answered either, and each round of them would cost the whole timeout again."""
    keys = [w.upload() for _ in range(40)]
    w.blobs.hanging, w.blobs.hang_seconds = True, 0.05
    with pytest.raises(TimedOut):
        w.save(*keys)
    assert w.blobs.read_calls <= 4, "only the pool's first round of calls was made"
    w.blobs.hanging = False
    assert len(w.save(*keys)) == 40, "the grants were not used up"


def test_an_upload_replaced_after_it_was_verified_is_not_saved(w):
    """A grant lets its holder POST again until it expires: the saved original must be what was verified."""
    key = w.upload(data=fake_image("image/png", 40, 30))
    w.blobs.before_copy.append(lambda: w.blobs.objects.__setitem__(key, b"<html>swapped</html>"))
    with pytest.raises(UploadRejected) as refused:
        w.save(key)
    assert [(e.target, "replaced" in e.message) for e in refused.value.errors] == [(key, True)]
    assert not [k for k in w.blobs.objects if k.startswith("images/")] and w.db.data.blob_refs == {}
    w.blobs.objects[key] = fake_image("image/png", 50, 50)
    [saved] = w.save(key)
    assert (saved.width, saved.height) == (50, 50), "the grant was not used up"


def test_a_writer_that_dies_mid_save_leaves_blobs_gc_finds(w):
    keys = [w.upload() for _ in range(2)]
    # Storage copies both originals, then the database goes away for good (as for a process killed
    # before its commit): the save cannot even undo what it stored.
    w.db.before_write.append(lambda: setattr(w.db, "down", True))
    with pytest.raises(Unavailable):
        w.save(*keys)
    w.db.down = False
    stored = [k for k in w.blobs.objects if k.startswith("images/")]
    assert len(stored) == 2 and all(w.db.data.blob_refs[k] == 0 for k in stored), "reserved before written"
    assert w.bus.handle(CollectGarbage())["abandoned_blobs"] == 0, "a reservation is left alone while young"
    w.clock.advance(hours=2)
    assert w.bus.handle(CollectGarbage())["abandoned_blobs"] == 2
    assert not [k for k in w.blobs.objects if k.startswith("images/")] and w.db.data.blob_refs == {}


def test_one_hero_per_realty(w):
    [a] = w.save(w.upload(), hero=True)
    [b] = w.save(w.upload(), hero=True)
    heroes = [i.uuid for i in w.images() if i.hero]
    assert heroes == [b.uuid]
    with pytest.raises(InvalidInput):
        w.bus.handle(UpdateImages(ORG_A, REALTY, [ImageChange(a.uuid, hero=True), ImageChange(b.uuid, hero=True)],
                                reorder=True))


def test_reorder_names_exactly_the_current_set(w):
    a, b, c = w.save(w.upload(), w.upload(), w.upload())
    for wrong in ([a.uuid, b.uuid], [a.uuid, b.uuid, c.uuid, c.uuid], [a.uuid, b.uuid, c.uuid, uuid.uuid4()]):
        with pytest.raises(InvalidInput):
            w.bus.handle(UpdateImages(ORG_A, REALTY, [ImageChange(u) for u in wrong], reorder=True))
    w.bus.handle(UpdateImages(ORG_A, REALTY, [ImageChange(c.uuid, description="first"), ImageChange(a.uuid),
                                            ImageChange(b.uuid, category=ImageCategory.MAP)], reorder=True))
    listed = w.images()
    assert [i.uuid for i in listed] == [c.uuid, a.uuid, b.uuid]
    assert [i.position for i in listed] == [0, 1, 2]
    assert listed[0].description == "first" and listed[2].category is ImageCategory.MAP


def test_update_distinguishes_absent_from_cleared(w):
    [a] = w.save(w.upload(), description="keep", category=ImageCategory.GENERAL)
    w.bus.handle(UpdateImages(ORG_A, REALTY, [ImageChange(a.uuid)], reorder=True))
    assert (w.images()[0].description, w.images()[0].category) == ("keep", ImageCategory.GENERAL)
    w.bus.handle(UpdateImages(ORG_A, REALTY, [ImageChange(a.uuid, clear_description=True, clear_category=True)],
                            reorder=True))
    assert (w.images()[0].description, w.images()[0].category) == (None, None)


def test_published_image_cannot_be_deleted(w):
    a, b = w.save(w.upload(), w.upload())
    w.bus.handle(SetPublished(ORG_A, REALTY, [a.uuid], True))
    with pytest.raises(InvalidState):
        w.bus.handle(DeleteImage(ORG_A, a.uuid, REALTY))
    w.bus.handle(DeleteImage(ORG_A, b.uuid, REALTY))
    w.bus.handle(SetPublished(ORG_A, REALTY, None, False))
    w.bus.handle(DeleteImage(ORG_A, a.uuid, REALTY))
    assert w.images() == []
    assert not any(k.startswith("images/") for k in w.blobs.objects), "original and renditions deleted"


def test_publication_is_approval(w):
    [a] = w.save(w.upload())
    w.bus.handle(SetPublished(ORG_A, REALTY, None, True))
    image = w.images()[0]
    assert image.published and image.status is ModerationStatus.APPROVED
    w.bus.handle(SetPublished(ORG_A, REALTY, [a.uuid], False))
    assert not w.images()[0].published


def test_deleting_renumbers_positions(w):
    a, b, c = w.save(w.upload(), w.upload(), w.upload())
    w.bus.handle(DeleteImage(ORG_A, b.uuid, REALTY))
    assert [(i.uuid, i.position) for i in w.images()] == [(a.uuid, 0), (c.uuid, 1)]


def test_a_failed_blob_delete_is_retried_by_gc(w):
    [a] = w.save(w.upload())
    w.render()
    w.blobs.fail_deletes = True
    w.bus.handle(DeleteImage(ORG_A, a.uuid, REALTY))
    assert w.images() == [], "metadata is gone even though the blobs are not yet"
    assert a.storage_key in w.db.data.tombstones
    w.blobs.fail_deletes = False
    assert w.bus.handle(CollectGarbage())["purged_blobs"] == 7, "the original and six renditions"
    assert not any(k.startswith("images/") for k in w.blobs.objects) and not w.db.data.tombstones


def test_gc_removes_uploads_never_saved_after_retention(w):
    old = w.upload()
    w.clock.advance(hours=23)
    young = w.upload()
    w.clock.advance(hours=2)
    assert w.bus.handle(CollectGarbage())["expired_uploads"] == 1
    assert old not in w.blobs.objects and young in w.blobs.objects


def test_gc_leaves_uploads_whose_grant_is_still_valid():
    from datetime import timedelta

    w = World(Limits(grant_ttl=timedelta(hours=48)))
    key = w.upload()
    w.clock.advance(hours=30)
    assert w.bus.handle(CollectGarbage())["expired_uploads"] == 0
    assert len(w.save(key)) == 1


def test_copy_gives_new_ids_appended_in_source_order_sharing_the_blobs(w):
    a, b = w.save(w.upload(), w.upload(), hero=False)
    w.render()
    w.bus.handle(SetPublished(ORG_A, REALTY, [a.uuid], True))
    [existing] = w.save(w.upload(), realty=OTHER)
    w.render()
    blobs_before = dict(w.blobs.objects)
    copies = w.bus.handle(CopyImages(ORG_A, OTHER, REALTY))
    assert w.blobs.objects == blobs_before, "no byte is copied"
    target = w.images(realty=OTHER)
    assert [i.uuid for i in target] == [existing.uuid] + [c.uuid for c in copies]
    assert {c.uuid for c in copies}.isdisjoint({a.uuid, b.uuid})
    assert [c.md5 for c in copies] == [a.md5, b.md5]
    assert not any(c.published for c in copies), "a copy is not published on the target"
    assert all(c.processing is Processing.READY for c in target) and w.jobs.waiting == []
    [a_now, b_now] = w.images()
    assert [c.blob_keys for c in copies] == [a_now.blob_keys, b_now.blob_keys]
    w.bus.handle(SetPublished(ORG_A, REALTY, None, False))
    w.bus.handle(DeleteImage(ORG_A, a.uuid, REALTY))
    assert all(k in w.blobs.objects for k in copies[0].blob_keys), "deleting the source leaves the copy intact"
    w.bus.handle(DeleteImage(ORG_A, copies[0].uuid, OTHER))
    assert not any(k in w.blobs.objects for k in copies[0].blob_keys), "the last user takes the blobs along"
    assert all(k in w.blobs.objects for k in copies[1].blob_keys)


def test_a_copy_of_a_pending_image_gets_renditions_of_its_own(w):
    [a] = w.save(w.upload())
    [copy_] = w.bus.handle(CopyImages(ORG_A, OTHER, REALTY))
    assert copy_.processing is Processing.PENDING and w.jobs.backlog() == 2
    w.render()
    [a_now], [copy_now] = w.images(), w.images(realty=OTHER)
    assert copy_now.storage_key == a_now.storage_key
    assert copy_now.processing is a_now.processing is Processing.READY
    assert {r.storage_key for r in copy_now.renditions}.isdisjoint(r.storage_key for r in a_now.renditions)
    w.bus.handle(DeleteImage(ORG_A, a.uuid, REALTY))
    assert all(k in w.blobs.objects for k in copy_now.blob_keys)


def test_copy_keeps_the_targets_hero(w):
    w.save(w.upload(), hero=True)
    [target_hero] = w.save(w.upload(), realty=OTHER, hero=True)
    w.bus.handle(CopyImages(ORG_A, OTHER, REALTY))
    assert [i.uuid for i in w.images(realty=OTHER) if i.hero] == [target_hero.uuid]


def test_copy_refuses_self_and_missing_and_over_cap(w):
    w.save(*[w.upload() for _ in range(120)])
    with pytest.raises(InvalidInput):
        w.bus.handle(CopyImages(ORG_A, REALTY, REALTY))
    with pytest.raises(NotFound):
        w.bus.handle(CopyImages(ORG_A, OTHER, uuid.uuid4()))
    w.save(*[w.upload() for _ in range(100)], realty=OTHER)
    blobs_before = set(w.blobs.objects)
    with pytest.raises(InvalidInput):
        w.bus.handle(CopyImages(ORG_A, OTHER, REALTY))
    assert set(w.blobs.objects) == blobs_before, "copied blobs are removed when the copy is refused"


def test_another_orgs_realty_does_not_exist(w):
    w.save(w.upload())
    with pytest.raises(NotFound):
        w.views.realty(ORG_B, REALTY)
    with pytest.raises(NotFound):
        w.save(w.upload(caller=ORG_B), caller=ORG_B)  # writing to it does not take it over
    with pytest.raises(NotFound):
        w.bus.handle(CopyImages(ORG_B, OTHER, REALTY))
    [image] = w.images()
    assert w.views.find_image(ORG_B, image.uuid) is None
    with pytest.raises(NotFound):
        w.bus.handle(DeleteImage(ORG_B, image.uuid))


def test_direct_upload_naming_and_type():
    w = World()
    prop = w.bus.handle(CreateProperty(ORG_A, "Archways"))
    room = w.bus.handle(CreateRoom(ORG_A, prop.id, "Room 1"))
    data = fake_image("image/jpeg", 800, 600)
    image = w.bus.handle(UploadImage(ORG_A, prop.id, DirectUpload(data, "Archways_ub_1.jpg", ImageCategory.GENERAL)))
    ms = int(image.created_at.timestamp() * 1000)
    assert image.filename == f"{ms}-Archways_ub_1"
    assert image.source == f"{ms}-Archways_ub_1-{image.md5}.jpg"
    assert image.type is ImageType.PROPERTY_IMAGE
    room_image = w.bus.handle(UploadImage(ORG_A, prop.id, DirectUpload(
        data, "r.jpeg", ImageCategory.ROOM, kind=ImageKind.ROOM, room_id=room.id)))
    assert room_image.type is ImageType.ROOM_IMAGE and room_image.source.endswith(".jpeg")
    plan = w.bus.handle(UploadImage(ORG_A, prop.id, DirectUpload(data, "plan.png", kind=ImageKind.FLOOR_PLAN)))
    assert plan.type is ImageType.FLOOR_PLAN_IMAGE
    assert [i.id for i in w.views.realty(ORG_A, prop.uuid).images] == [image.id, room_image.id, plan.id]


def test_direct_upload_accepts_bmp_but_not_other_things():
    w = World()
    prop = w.bus.handle(CreateProperty(ORG_A, "P"))
    w.bus.handle(UploadImage(ORG_A, prop.id, DirectUpload(fake_image("image/bmp"), "a.bmp")))
    with pytest.raises(UnsupportedImageType):
        w.bus.handle(UploadImage(ORG_A, prop.id, DirectUpload(b"GIF89a...", "a.jpg")))
    with pytest.raises(UnsupportedImageType):
        w.bus.handle(UploadImage(ORG_A, prop.id, DirectUpload(fake_image("image/gif"), "a.gif")))


def test_room_must_belong_to_the_property():
    w = World()
    p1, p2 = w.bus.handle(CreateProperty(ORG_A, "1")), w.bus.handle(CreateProperty(ORG_A, "2"))
    room = w.bus.handle(CreateRoom(ORG_A, p1.id, "R"))
    with pytest.raises(NotFound):
        w.bus.handle(UploadImage(ORG_A, p2.id, DirectUpload(fake_image(), "a.png", kind=ImageKind.ROOM, room_id=room.id)))
    with pytest.raises(NotFound):
        w.bus.handle(CreateRoom(ORG_B, p1.id, "stolen"))


def test_readiness_reports_each_dependency(w):
    assert w.views.check_ready() == {"database": True, "storage": True}
    w.db.down = True
    assert w.views.check_ready() == {"database": False, "storage": True}


def test_a_property_holds_at_most_200_rooms():
    w = World()
    prop = w.bus.handle(CreateProperty(ORG_A, "Campus"))
    for n in range(200):
        w.bus.handle(CreateRoom(ORG_A, prop.id, f"Type {n}"))
    with pytest.raises(InvalidInput, match="at most 200 rooms"):
        w.bus.handle(CreateRoom(ORG_A, prop.id, "one too many"))
    assert len(w.views.rooms_of(ORG_A, [prop.uuid])) == 200


def test_a_direct_upload_to_a_full_property_is_refused_before_the_file_is_examined():
    w = World()
    prop = w.bus.handle(CreateProperty(ORG_A, "Full"))
    w.save(*[w.upload() for _ in range(200)], realty=prop.uuid)
    with pytest.raises(InvalidInput, match="at most 200 images"):
        w.bus.handle(UploadImage(ORG_A, prop.id, DirectUpload(b"not an image at all", "a.jpg")))
    assert len(w.images(realty=prop.uuid)) == 200


def test_an_image_that_cannot_be_rendered_ends_failed_with_a_reason(w):
    good = w.upload()
    bad = w.upload(data=fake_image("image/png", salt="unrenderable"))
    w.save(good, bad)
    w.render()
    ok, failed = w.images()
    assert ok.processing is Processing.READY
    assert failed.processing is Processing.FAILED and failed.renditions == ()
    assert "could not be rendered" in failed.processing_error and "upload it again" in failed.processing_error
    assert [k for k in w.blobs.objects if str(failed.uuid) in k] == [failed.storage_key]


def test_a_render_job_hitting_a_bug_ends_failed_instead_of_pending_forever(w):
    [image] = w.save(w.upload())
    w.inspector.render = lambda data, specs: 1 / 0
    w.render()
    [failed] = w.images()
    assert failed.processing is Processing.FAILED and "internal error" in failed.processing_error


def test_a_render_job_retries_through_a_storage_outage(w):
    [image] = w.save(w.upload())
    job = w.jobs.waiting.pop(0)
    w.blobs.fail_puts_after = 1  # the thumbnail is stored, then storage stops answering
    with pytest.raises(Unavailable):
        w.processor.render(job)
    assert w.images()[0].processing is Processing.PENDING
    w.blobs.fail_puts_after = None
    w.processor.render(job)  # the queue's retry
    assert w.images()[0].processing is Processing.READY


def test_what_an_interrupted_render_wrote_is_gone_after_gc_once_its_image_is_deleted(w):
    """Its attempt's keys are its own: they stay reserved (never tombstoned behind a later attempt's back)
    until gc takes them as abandoned."""
    [image] = w.save(w.upload())
    job = w.jobs.waiting.pop(0)
    # The job dies after writing its renditions, before it records anything (the database went away).
    w.blobs.after_put = lambda key: setattr(w.db, "down", True)
    with pytest.raises(Unavailable):
        w.processor.render(job)
    w.db.down = False
    assert [k for k in w.blobs.objects if "thumbnail" in k], "the interrupted run wrote renditions"
    w.bus.handle(DeleteImage(ORG_A, image.uuid, REALTY))
    w.processor.render(job)  # delivered again: nothing to do
    w.clock.advance(hours=2)
    w.bus.handle(CollectGarbage())
    assert not [k for k in w.blobs.objects if k.startswith("images/")] and w.db.data.blob_refs == {}


def test_a_render_finishing_after_its_image_was_deleted_removes_its_renditions(w):
    [image] = w.save(w.upload())
    w.db.before_write.append(lambda: w.bus.handle(DeleteImage(ORG_A, image.uuid, REALTY)))
    w.render()
    assert not [k for k in w.blobs.objects if k.startswith("images/")] and w.db.data.blob_refs == {}


def test_stale_pending_images_are_queued_again_once(w):
    w.jobs.down = True
    [image] = w.save(w.upload())  # saved, but its job was never queued
    w.jobs.down = False
    assert w.jobs.waiting == [] and w.images()[0].processing is Processing.PENDING
    assert w.processor.requeue_stale() == 0, "not before the limit"
    w.clock.advance(minutes=3)
    assert w.processor.requeue_stale() == 1 and w.processor.requeue_stale() == 0, "claimed once per period"
    w.render()
    assert w.images()[0].processing is Processing.READY


def test_a_stale_image_is_queued_again_even_while_other_jobs_wait(w):
    """Issue 20 #4: the sweep ran only on an empty queue, so jobs lost in a Redis blip waited for a whole
    batch to drain. A duplicate of a job still waiting costs one read: the image is done once."""
    w.jobs.down = True
    [lost] = w.save(w.upload())  # saved, but its job was never queued
    w.jobs.down = False
    w.save(w.upload())  # a job that waits in the queue
    w.clock.advance(minutes=10)
    assert w.processor.requeue_stale() == 2 and w.jobs.backlog() == 3
    assert w.render() == 3
    assert [i.processing for i in w.images()] == [Processing.READY, Processing.READY]
    assert len([k for k in w.blobs.objects if "thumbnail-" in k]) == 2, "each image rendered once"


def test_a_job_started_recently_is_not_stale(w):
    w.save(w.upload())
    w.clock.advance(minutes=10)
    w.processor.requeue_stale()  # queued again: a second message now waits beside the first
    job = w.jobs.waiting.pop(0)
    with w.db() as uow:  # a worker starts the job, and is still rendering it a minute later
        uow.processing.start(job.org, job.image_uuid, w.clock.now())
        uow.commit()
    w.clock.advance(minutes=1)
    assert w.processor.requeue_stale() == 0


def test_a_copy_racing_a_delete_of_the_source_is_a_retryable_conflict(w):
    """The source is read without its lock: a blob whose last user was deleted meanwhile is gone."""
    first, second = w.save(w.upload(), w.upload())
    w.render()
    w.db.before_write.append(lambda: w.bus.handle(DeleteImage(ORG_A, second.uuid, REALTY)))
    with pytest.raises(Conflict):
        w.bus.handle(CopyImages(ORG_A, OTHER, REALTY))
    assert w.views.find_realty(ORG_A, OTHER) is None
    assert [i.uuid for i in w.images()] == [first.uuid]
    assert w.db.data.blob_refs == {k: 1 for k in w.images()[0].blob_keys}


def test_an_image_losing_the_hero_to_a_new_upload_is_modified(w):
    [first] = w.save(w.upload(), hero=True)
    w.clock.advance(minutes=5)
    w.save(w.upload(), hero=True)
    [old_hero, new_hero] = w.images()
    assert (old_hero.hero, new_hero.hero) == (False, True)
    assert old_hero.modified_at == w.clock.now() > first.modified_at


def test_a_stated_file_name_over_255_characters_is_refused_and_a_sent_one_is_cut():
    """`originalFileName` is text a caller states, bound like every name; a multipart file part's name
    comes from the client's disk and is kept as far as it fits."""
    w = World()
    key = w.upload()
    with pytest.raises(InvalidInput) as refused:
        w.save(key, original_file_name="k" * 256)
    assert [(e.target, e.problem) for e in refused.value.errors] == [("uploads[0].original_file_name",
                                                                      Problem.INVALID)]
    assert w.save(key, original_file_name="k" * 255)[0].original_file_name == "k" * 255
    prop = w.bus.handle(CreateProperty(ORG_A, "P"))
    direct = w.bus.handle(UploadImage(ORG_A, prop.id, DirectUpload(fake_image(), "k" * 300 + ".png")))
    assert direct.original_file_name == "k" * 255


@pytest.mark.parametrize("given, kept", [
    ("../../etc/x\n.jpg", "x.jpg"),
    ("C:\\Users\\agent\\Desktop\\Front door.JPG", "Front door.JPG"),
    ("\x1b[31mred.png", "[31mred.png"),
    ("photos/", None),
])
def test_a_file_name_is_kept_as_a_plain_name_over_both_apis(w, given, kept):
    [saved] = w.save(w.upload(), original_file_name=given)
    prop = w.bus.handle(CreateProperty(ORG_A, "P"))
    direct = w.bus.handle(UploadImage(ORG_A, prop.id, DirectUpload(fake_image(), given)))
    assert saved.original_file_name == direct.original_file_name == kept


def test_gc_after_a_render_retried_through_a_storage_error_keeps_every_file_the_image_lists(w):
    """Issue 20 #1: a render whose rendition upload failed (S3 cut) left its keys tombstoned; the queue's
    retry wrote the same keys and made the image READY, and the next gc deleted the live renditions."""
    [image] = w.save(w.upload())
    job = w.jobs.waiting.pop(0)
    w.blobs.fail_puts_after = 1  # the thumbnail is stored, then storage refuses (not a timeout)
    w.blobs.fail_deletes = True  # ...and so the clean-up of what the failed run wrote fails too
    with pytest.raises(Unavailable):
        w.processor.render(job)
    w.blobs.fail_puts_after, w.blobs.fail_deletes = None, False
    w.processor.render(job)  # the queue's retry
    [ready] = w.images()
    assert ready.processing is Processing.READY
    w.bus.handle(CollectGarbage())
    w.clock.advance(hours=2)
    w.bus.handle(CollectGarbage())
    for key in ready.blob_keys:
        assert key in w.blobs.objects, f"{key} of a READY image was deleted"
    assert not [k for k in w.blobs.objects if k.startswith("images/") and k not in ready.blob_keys], "orphans"


def test_a_tombstone_never_deletes_a_blob_that_is_recorded_again(w):
    """Should a key ever be written again after a failed write tombstoned it, the new blob stays: the
    reservation drops the tombstone, and a purge leaves alone any key the database records."""
    from core.blob_ledger import BlobLedger
    from core.unit_of_work import PublishingUnitOfWorkFactory

    ledger = BlobLedger(PublishingUnitOfWorkFactory(w.db, SequentialIds()), w.blobs, w.clock)
    with w.db() as uow:
        uow.tombstones.add(["images/x/reused.jpg", "images/x/gone.jpg"], w.clock.now())
        uow.commit()
    stale_listing = ["images/x/reused.jpg", "images/x/gone.jpg"]  # what a gc listed before the rewrite
    with ledger.writing(["images/x/reused.jpg"]):
        w.blobs.put("images/x/reused.jpg", b"live", "image/jpeg")
        with w.db() as uow:
            ledger.use(uow, ["images/x/reused.jpg"])
            uow.commit()
    assert w.db.data.tombstones == {"images/x/gone.jpg"}, "the reservation dropped its key's tombstone"
    ledger.purge(stale_listing)
    assert w.blobs.objects["images/x/reused.jpg"] == b"live" and not w.db.data.tombstones


def test_a_write_whose_process_died_before_keeping_its_answer_is_never_done_again(w):
    """Soak finding: the key was claimed, the save committed, and the process died before the answer was
    kept; after the lease a retry took the key over and saved again. Its commit marks the key done."""
    from core.idempotency import Answer, IdempotentWrites

    key = w.upload()
    saves: list = []

    def save_then_lose_the_database() -> Answer:
        saves.append(w.save(key))
        w.db.down = True  # the answer cannot be kept: as good as a process killed right after the commit
        return Answer(b"saved", changed=True)

    w.core.writes.run(ORG_A, "k1", "save", "f1", save_then_lose_the_database)
    w.db.down = False
    another_process = IdempotentWrites(w.db, w.clock, SequentialIds())
    w.clock.advance(minutes=3)  # past the lease
    with pytest.raises(AnswerNotKept, match="done already"):
        another_process.run(ORG_A, "k1", "save", "f1", lambda: saves.append(w.save(w.upload())))
    assert len(saves) == 1 and len(w.images()) == 1
