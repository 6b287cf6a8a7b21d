"""The core's rarer refusals and outcomes, on the in-memory fakes (tests/unit/test_core_services.py has the rest)."""
from __future__ import annotations

import pytest

from core.domain import Processing
from core.errors import InvalidInput, NotFound, Problem, UploadRejected
from core.processing import MISSING_ORIGINAL
from core.domain import MAX_IMAGES_PER_REALTY
from core.commands import CreateProperty, DirectUpload, SaveUploads, UploadedImage, UploadImage
from core.dependencies import Limits
from tests.fakes import fake_image
from tests.unit.world import ORG_A, OTHER, REALTY, World


@pytest.fixture
def w() -> World:
    return World()


@pytest.mark.parametrize("count", [0, MAX_IMAGES_PER_REALTY + 1])
def test_a_save_names_one_to_two_hundred_uploads(w, count):
    with pytest.raises(InvalidInput, match="1 to 200 images") as refused:
        w.bus.handle(SaveUploads(ORG_A, REALTY, [UploadedImage(key=f"uploads/{n}") for n in range(count)]))
    assert [(e.target, e.problem) for e in refused.value.errors] == [("uploads", Problem.INVALID)]


def test_an_upload_another_request_saves_meanwhile_is_refused_and_this_save_writes_nothing(w):
    key = w.upload()
    # Once this save has stored its copy of the upload, and before it writes, another request saves the
    # same upload elsewhere.
    w.blobs.before_copy.append(lambda: w.db.before_write.append(lambda: w.save(key, realty=OTHER)))
    with pytest.raises(UploadRejected, match="saved by another request meanwhile") as refused:
        w.save(key)
    assert [e.target for e in refused.value.errors] == [key]
    assert len(w.images(realty=OTHER)) == 1
    with pytest.raises(NotFound):
        w.images()  # this save wrote nothing


def test_an_upload_that_disappears_while_it_is_saved_is_named(w):
    key = w.upload()
    w.blobs.before_copy.append(lambda: w.blobs.objects.pop(key))
    with pytest.raises(UploadRejected) as refused:
        w.save(key)
    assert [e.target for e in refused.value.errors] == [key]
    assert "disappeared" in refused.value.errors[0].message


def test_a_direct_upload_over_the_size_limit_is_refused_before_it_is_decoded():
    w = World(Limits(max_upload_bytes=100))
    prop = w.bus.handle(CreateProperty(ORG_A, "Small"))
    with pytest.raises(UploadRejected, match="exceeds the limit of 100"):
        w.bus.handle(UploadImage(ORG_A, prop.id, DirectUpload(fake_image(salt="x" * 200), "big.png")))
    assert w.images(realty=prop.uuid) == []


def test_an_image_whose_original_is_gone_ends_failed_saying_so(w):
    [image] = w.save(w.upload())
    del w.blobs.objects[image.storage_key]
    w.render()
    [failed] = w.images()
    assert (failed.processing, failed.processing_error, failed.renditions) == (Processing.FAILED, MISSING_ORIGINAL, ())


def test_a_missing_room_is_none(w):
    assert w.views.find_room(ORG_A, 424242) is None
