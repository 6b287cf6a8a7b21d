"""Events recorded in the outbox with their change (CONTRACT §10), on the in-memory fakes."""
from __future__ import annotations

import pytest

from core.commands import CopyImages, DeleteImage, SetPublished, UpdateImages
from core.domain import ImageChange
from core.errors import UploadRejected
from tests.unit.world import ORG_A, ORG_B, OTHER, REALTY, World


@pytest.fixture
def w() -> World:
    return World()


def feed(w: World, org: str = ORG_A.org) -> list[tuple[int, str, str]]:
    """(cursor, type, image uuid) of every event of the org, oldest first."""
    with w.db(write=False) as uow:
        return [(e.seq, e.event.type, e.event.data["realtyImageId"]) for e in uow.events.after(org, 0, 1000)]


def test_every_change_is_published_once_in_commit_order(w):
    a, b = w.save(w.upload(), w.upload())
    w.render()
    w.bus.handle(UpdateImages(ORG_A, REALTY, [ImageChange(b.uuid, hero=True), ImageChange(a.uuid)], reorder=True))
    w.bus.handle(SetPublished(ORG_A, REALTY, [b.uuid], True))
    w.bus.handle(DeleteImage(ORG_A, a.uuid, REALTY))
    assert [(seq, kind, image) for seq, kind, image in feed(w)] == [
        (1, "image.created", str(a.uuid)), (2, "image.created", str(b.uuid)),
        (3, "image.processed", str(a.uuid)), (4, "image.processed", str(b.uuid)),
        (5, "image.updated", str(b.uuid)), (6, "image.updated", str(a.uuid)),
        (7, "image.published", str(b.uuid)),
        (8, "image.deleted", str(a.uuid)),
    ]


def test_an_event_holds_the_image_as_the_listing_shows_it_then(w):
    [image] = w.save(w.upload(), description="Front")
    w.render()
    with w.db(write=False) as uow:
        created, processed = [e.event for e in uow.events.after(ORG_A.org, 0, 10)]
    assert created.data["realtyId"] == str(REALTY) and created.data["graphqlId"]
    assert created.data["image"]["description"] == "Front"
    assert (created.data["image"]["processing"], created.data["image"]["renditions"]) == ("PENDING", {})
    assert processed.data["image"]["processing"] == "READY"
    assert set(processed.data["image"]["renditions"]) == {"thumbnail", "web", "large", "thumbnailWebp", "webWebp", "largeWebp"}
    assert created.id != processed.id and created.occurred_at <= processed.occurred_at


def test_a_deleted_image_is_published_without_the_image(w):
    [image] = w.save(w.upload())
    w.bus.handle(DeleteImage(ORG_A, image.uuid, REALTY))
    with w.db(write=False) as uow:
        deleted = uow.events.after(ORG_A.org, 1, 10)[0].event
    assert deleted.type == "image.deleted" and "image" not in deleted.data


def test_copies_are_created_in_the_target(w):
    w.save(w.upload(), w.upload())
    copies = w.bus.handle(CopyImages(ORG_A, OTHER, REALTY))
    assert feed(w)[-2:] == [(3, "image.created", str(copies[0].uuid)), (4, "image.created", str(copies[1].uuid))]


def test_a_change_that_rolls_back_publishes_nothing(w):
    key = w.upload()
    # After this save's images were appended (their events recorded), and before it commits, another
    # request saves the same upload: this save rolls back.
    w.blobs.before_copy.append(lambda: w.db.before_write.append(lambda: w.save(key, realty=OTHER)))
    with pytest.raises(UploadRejected):
        w.save(key)
    assert [kind for _, kind, _ in feed(w)] == ["image.created"], "only the other request's image"


def test_each_org_has_its_own_cursor(w):
    w.save(w.upload())
    w.save(w.upload(caller=ORG_B), caller=ORG_B, realty=OTHER)
    assert [seq for seq, _, _ in feed(w)] == [1] and [seq for seq, _, _ in feed(w, ORG_B.org)] == [1]


def test_the_render_job_is_queued_by_the_created_event_after_the_commit(w):
    key = w.upload()
    w.blobs.before_copy.append(lambda: w.db.before_write.append(lambda: w.save(key, realty=OTHER)))
    with pytest.raises(UploadRejected):
        w.save(key)
    assert len(w.jobs.waiting) == 1, "the rolled back save queued nothing"
