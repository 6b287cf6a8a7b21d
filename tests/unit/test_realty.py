"""The rules of the `Realty` aggregate, one per test, on a realty built in memory (cosmicpython's
tests/unit style). The facades' tests only check that each rule's error maps to their answer."""
from __future__ import annotations

import copy
import uuid

import pytest

from core.domain import (
    MAX_IMAGES_PER_REALTY, ImageCategory, ImageChange, ModerationStatus, Processing, Rendition,
)
from core.errors import InvalidInput, InvalidState, NotFound
from tests.unit.builders import LATER, T0, image, new_image, realty, uuids


# --- the image cap -----------------------------------------------------------------------------------

def test_the_cap_is_two_hundred_images():
    assert MAX_IMAGES_PER_REALTY == 200


def test_a_realty_one_short_of_the_cap_has_room_for_one_more():
    realty(199).check_room_for(1, "uploads")


def test_a_full_realty_has_no_room_for_one_more():
    with pytest.raises(InvalidInput, match="at most 200 images"):
        realty(200).check_room_for(1, "uploads")


def test_a_batch_that_would_pass_the_cap_finds_no_room():
    with pytest.raises(InvalidInput, match="it has 150 and 51 more"):
        realty(150).check_room_for(51, "uploads")


def test_appending_up_to_the_cap_is_allowed():
    full = realty(150)
    full.append([new_image(n) for n in range(150, 200)], LATER, "uploads")
    assert len(full.images) == 200


def test_appending_past_the_cap_is_refused_and_appends_nothing():
    almost = realty(199)
    before = copy.deepcopy(almost.images)
    with pytest.raises(InvalidInput, match="at most 200 images"):
        almost.append([new_image(500), new_image(501)], LATER, "uploads")
    assert almost.images == before


# --- appending -----------------------------------------------------------------------------------------

def test_appended_images_follow_the_existing_ones_in_the_given_order():
    r = realty(2)
    r.append([new_image(7), new_image(5)], LATER, "uploads")
    assert uuids(r.images) == [image(0).uuid, image(1).uuid, image(7).uuid, image(5).uuid]
    assert [i.position for i in r.images] == [0, 1, 2, 3]


def test_appended_images_belong_to_the_realty():
    r = realty(0)
    r.append([new_image(1)], LATER, "uploads")
    assert r.images[0].realty_uuid == r.uuid


def test_an_appended_hero_takes_the_hero_from_the_existing_one():
    r = realty(2)
    r.images[0].hero = True
    r.append([new_image(9, hero=True)], LATER, "uploads")
    assert [i.hero for i in r.images] == [False, False, True]
    assert r.hero.uuid == image(9).uuid


def test_the_image_losing_the_hero_is_modified_then():
    r = realty(2)
    r.images[0].hero = True
    r.append([new_image(9, hero=True)], LATER, "uploads")
    assert r.images[0].modified_at == LATER
    assert r.images[1].modified_at == T0, "an image whose hero flag did not change is not modified"


def test_appending_without_a_hero_keeps_the_existing_hero():
    r = realty(1)
    r.images[0].hero = True
    r.append([new_image(9)], LATER, "uploads")
    assert r.hero.uuid == image(0).uuid and r.images[0].modified_at == T0


def test_appending_two_heroes_at_once_is_refused_and_appends_nothing():
    r = realty(1)
    r.images[0].hero = True
    with pytest.raises(InvalidInput, match="At most one image can be the hero"):
        r.append([new_image(8, hero=True), new_image(9, hero=True)], LATER, "uploads")
    assert uuids(r.images) == [image(0).uuid] and r.images[0].hero


# --- finding images ------------------------------------------------------------------------------------

def test_an_image_is_found_by_its_uuid_or_its_numeric_id():
    r = realty(3)
    assert r.image(image(1).uuid) is r.images[1]
    assert r.image(101) is r.images[1]


def test_an_image_of_no_realty_here_is_not_found():
    r = realty(3)
    for ref in (uuid.uuid4(), 999):
        with pytest.raises(NotFound):
            r.image(ref)


def test_a_realty_without_a_hero_has_none():
    assert realty(3).hero is None


# --- changing metadata and order -----------------------------------------------------------------------

def test_a_reorder_puts_the_images_in_the_given_order_and_renumbers_them():
    r = realty(3)
    a, b, c = uuids(r.images)
    r.apply([ImageChange(c), ImageChange(a), ImageChange(b)], LATER, reorder=True)
    assert uuids(r.images) == [c, a, b]
    assert [i.position for i in r.images] == [0, 1, 2]


def test_a_reorder_may_name_images_by_numeric_id():
    r = realty(2)
    r.apply([ImageChange(101), ImageChange(100)], LATER, reorder=True)
    assert [i.id for i in r.images] == [101, 100]


def test_a_reorder_missing_an_image_is_refused_naming_it():
    r = realty(3)
    a, b, c = uuids(r.images)
    with pytest.raises(InvalidInput, match=f"missing: {c}"):
        r.apply([ImageChange(a), ImageChange(b)], LATER, reorder=True)
    assert uuids(r.images) == [a, b, c]


def test_a_reorder_naming_an_image_twice_is_refused():
    r = realty(3)
    a, b, c = uuids(r.images)
    with pytest.raises(InvalidInput, match="more than once"):
        r.apply([ImageChange(c), ImageChange(a), ImageChange(b), ImageChange(c)], LATER, reorder=True)
    assert uuids(r.images) == [a, b, c]


def test_an_image_named_twice_is_refused_even_by_its_two_names():
    r = realty(2)
    with pytest.raises(InvalidInput, match="more than once"):
        r.apply([ImageChange(image(0).uuid), ImageChange(100), ImageChange(image(1).uuid)], LATER, reorder=True)


def test_a_reorder_naming_an_unknown_image_is_refused_naming_it():
    r = realty(3)
    stranger = uuid.uuid4()
    with pytest.raises(InvalidInput, match=f"Not images of this realty: {stranger}"):
        r.apply([ImageChange(u) for u in uuids(r.images)] + [ImageChange(stranger)], LATER, reorder=True)


def test_an_unknown_image_is_refused_even_without_a_reorder():
    r = realty(1)
    with pytest.raises(InvalidInput, match="Not images of this realty"):
        r.apply([ImageChange(999, description="x")], LATER, reorder=False)


def test_a_change_without_a_reorder_may_name_some_images_and_keeps_the_order():
    r = realty(3)
    r.apply([ImageChange(image(2).uuid, description="Sauna")], LATER, reorder=False)
    assert uuids(r.images) == [image(n).uuid for n in range(3)]
    assert r.images[2].description == "Sauna"


def test_a_refused_change_changes_nothing():
    r = realty(2)
    before = copy.deepcopy(r.images)
    with pytest.raises(InvalidInput):
        r.apply([ImageChange(image(0).uuid, description="new"), ImageChange(uuid.uuid4())], LATER, reorder=False)
    with pytest.raises(InvalidInput):
        r.apply([ImageChange(image(1).uuid, description="new")], LATER, reorder=True)
    assert r.images == before


def test_absent_metadata_is_left_as_it_is():
    r = realty(1)
    r.images[0].description, r.images[0].category = "Kitchen", ImageCategory.ROOM
    r.apply([ImageChange(image(0).uuid)], LATER, reorder=True)
    assert (r.images[0].description, r.images[0].category) == ("Kitchen", ImageCategory.ROOM)


def test_cleared_metadata_becomes_null():
    r = realty(1)
    r.images[0].description, r.images[0].category = "Kitchen", ImageCategory.ROOM
    r.apply([ImageChange(image(0).uuid, clear_description=True, clear_category=True)], LATER, reorder=True)
    assert (r.images[0].description, r.images[0].category) == (None, None)


def test_given_metadata_replaces_the_old():
    r = realty(1)
    r.images[0].description = "Kitchen"
    r.apply([ImageChange(image(0).uuid, description="Sauna", category=ImageCategory.MAP)], LATER, reorder=False)
    assert (r.images[0].description, r.images[0].category) == ("Sauna", ImageCategory.MAP)


def test_an_image_is_modified_only_when_its_metadata_changes():
    r = realty(2)
    r.images[0].description = "same"
    r.apply([ImageChange(image(0).uuid, description="same"), ImageChange(image(1).uuid, description="new")],
            LATER, reorder=True)
    assert [i.modified_at for i in r.images] == [T0, LATER]


def test_a_reorder_alone_modifies_no_image():
    r = realty(2)
    r.apply([ImageChange(image(1).uuid), ImageChange(image(0).uuid)], LATER, reorder=True)
    assert [i.modified_at for i in r.images] == [T0, T0]


def test_making_an_image_the_hero_takes_the_hero_from_the_other():
    r = realty(3)
    r.images[0].hero = True
    r.apply([ImageChange(image(2).uuid, hero=True)], LATER, reorder=False)
    assert [i.hero for i in r.images] == [False, False, True]
    assert [i.modified_at for i in r.images] == [LATER, T0, LATER]


def test_two_heroes_in_one_change_are_refused():
    r = realty(2)
    with pytest.raises(InvalidInput, match="At most one image can be the hero"):
        r.apply([ImageChange(image(0).uuid, hero=True), ImageChange(image(1).uuid, hero=True)], LATER, reorder=True)
    assert r.hero is None


def test_an_image_can_stop_being_the_hero():
    r = realty(1)
    r.images[0].hero = True
    r.apply([ImageChange(image(0).uuid, hero=False)], LATER, reorder=False)
    assert r.hero is None and r.images[0].modified_at == LATER


# --- deleting ------------------------------------------------------------------------------------------

def test_an_unpublished_image_is_removed_and_returned():
    r = realty(2)
    removed = r.remove(image(0).uuid, LATER)
    assert removed.uuid == image(0).uuid
    assert uuids(r.images) == [image(1).uuid]


def test_removing_renumbers_the_positions_from_zero():
    r = realty(3)
    r.remove(image(1).uuid, LATER)
    assert [(i.uuid, i.position) for i in r.images] == [(image(0).uuid, 0), (image(2).uuid, 1)]


def test_a_published_image_cannot_be_removed():
    r = realty(2)
    r.images[0].status = ModerationStatus.APPROVED
    with pytest.raises(InvalidState, match="unpublish it first"):
        r.remove(image(0).uuid, LATER)
    assert uuids(r.images) == [image(0).uuid, image(1).uuid]


def test_removing_an_image_of_no_realty_here_is_not_found():
    with pytest.raises(NotFound):
        realty(1).remove(uuid.uuid4(), LATER)


# --- publishing ----------------------------------------------------------------------------------------

def test_publishing_approves_the_named_images_only():
    r = realty(3)
    r.set_published([image(1).uuid], True, LATER)
    assert [i.status for i in r.images] == [
        ModerationStatus.EXTERNAL_NEW, ModerationStatus.APPROVED, ModerationStatus.EXTERNAL_NEW]
    assert [i.published for i in r.images] == [False, True, False]


def test_publishing_without_names_publishes_every_image():
    r = realty(3)
    r.set_published(None, True, LATER)
    assert all(i.published for i in r.images)


def test_unpublishing_puts_an_image_back_to_pending():
    r = realty(2)
    r.set_published(None, True, T0)
    r.set_published([100], False, LATER)
    assert [i.status for i in r.images] == [ModerationStatus.PENDING, ModerationStatus.APPROVED]


def test_publishing_modifies_only_images_whose_state_changes():
    r = realty(2)
    r.images[0].status = ModerationStatus.APPROVED
    r.set_published(None, True, LATER)
    assert [i.modified_at for i in r.images] == [T0, LATER]
    r.set_published([image(0).uuid], True, LATER.replace(hour=20))
    assert r.images[0].modified_at == T0


def test_unpublishing_an_unpublished_image_leaves_it_as_it_is():
    r = realty(1)
    r.set_published(None, False, LATER)
    assert (r.images[0].status, r.images[0].modified_at) == (ModerationStatus.EXTERNAL_NEW, T0)


def test_publishing_an_image_of_no_realty_here_is_not_found_and_publishes_nothing():
    r = realty(2)
    with pytest.raises(NotFound):
        r.set_published([image(0).uuid, uuid.uuid4()], True, LATER)
    assert not any(i.published for i in r.images)


# --- processing ----------------------------------------------------------------------------------------

RENDITIONS = (Rendition("thumbnail", "images/x/thumbnail.jpg", 320, 240),
              Rendition("web", "images/x/web.jpg", 1280, 960))


def test_a_new_image_is_pending_without_renditions():
    assert (image(0).processing, image(0).renditions, image(0).processing_error) == (Processing.PENDING, (), None)


def test_a_pending_image_finished_with_renditions_is_ready():
    r = realty(1)
    done = r.finish_processing(image(0).uuid, LATER, RENDITIONS)
    assert done is r.images[0]
    assert (done.processing, done.renditions, done.processing_error) == (Processing.READY, RENDITIONS, None)


def test_a_pending_image_finished_with_an_error_is_failed_with_the_reason_and_no_renditions():
    r = realty(1)
    failed = r.finish_processing(100, LATER, error="could not be rendered; upload it again")
    assert failed.processing is Processing.FAILED
    assert failed.processing_error == "could not be rendered; upload it again"
    assert failed.renditions == ()


def test_only_a_pending_image_takes_an_outcome():
    r = realty(2)
    r.finish_processing(image(0).uuid, LATER, RENDITIONS)
    r.finish_processing(image(1).uuid, LATER, error="broken")
    assert r.finish_processing(image(0).uuid, LATER, error="late failure") is None
    assert r.finish_processing(image(1).uuid, LATER, RENDITIONS) is None
    assert (r.images[0].processing, r.images[0].renditions) == (Processing.READY, RENDITIONS)
    assert (r.images[1].processing, r.images[1].renditions) == (Processing.FAILED, ())


def test_an_outcome_for_an_image_no_longer_here_is_ignored():
    r = realty(1)
    assert r.finish_processing(uuid.uuid4(), LATER, RENDITIONS) is None
    assert r.images[0].processing is Processing.PENDING


def test_finishing_processing_modifies_no_metadata():
    r = realty(1)
    r.finish_processing(image(0).uuid, LATER, RENDITIONS)
    assert r.images[0].modified_at == T0
