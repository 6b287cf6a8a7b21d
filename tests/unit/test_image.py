"""The rules of one `Image`, of copying it, and of the text the domain keeps, on plain objects."""
from __future__ import annotations

import uuid

import pytest

from core.domain import ImageCategory, ImageKind, ImageType, ModerationStatus, Processing, Rendition, copy_of
from core.input_rules import MAX_NAME_LENGTH, clean_file_name, is_storable
from tests.unit.builders import LATER, T0, image

T0_MS = int(T0.timestamp() * 1000)
OTHER_REALTY = uuid.UUID("0fb5f172-b06d-4e49-8beb-5140e3b6f944")


# --- publication is approval ---------------------------------------------------------------------------

@pytest.mark.parametrize("status, published", [
    (ModerationStatus.APPROVED, True),
    (ModerationStatus.INTERNAL_NEW, False),
    (ModerationStatus.EXTERNAL_NEW, False),
    (ModerationStatus.PENDING, False),
    (ModerationStatus.REJECTED, False),
])
def test_an_image_is_published_exactly_when_it_is_approved(status, published):
    assert image(status=status).published is published


# --- type -----------------------------------------------------------------------------------------------

def test_a_floor_plan_is_a_floor_plan_image_whatever_its_category():
    assert image(kind=ImageKind.FLOOR_PLAN, category=ImageCategory.ROOM).type is ImageType.FLOOR_PLAN_IMAGE


def test_an_image_of_a_room_is_a_room_image():
    assert image(kind=ImageKind.ROOM).type is ImageType.ROOM_IMAGE


def test_a_property_image_in_the_room_category_is_a_room_image():
    assert image(kind=ImageKind.PROPERTY, category=ImageCategory.ROOM).type is ImageType.ROOM_IMAGE


@pytest.mark.parametrize("category", [None, ImageCategory.GENERAL, ImageCategory.MAP])
def test_any_other_image_is_a_property_image(category):
    assert image(category=category).type is ImageType.PROPERTY_IMAGE


# --- file names -------------------------------------------------------------------------------------------

def test_the_extension_is_the_original_file_names():
    assert image(original_file_name="Front door.JPEG", content_type="image/jpeg").extension == "JPEG"


def test_without_an_original_file_name_the_extension_is_the_stored_types():
    assert image(content_type="image/webp").extension == "webp"


def test_an_original_file_name_without_an_extension_gives_the_stored_types():
    assert image(original_file_name="kitchen", content_type="image/jpeg").extension == "jpg"


def test_an_unknown_stored_type_has_the_extension_bin():
    assert image(content_type="application/x-unknown").extension == "bin"


def test_the_filename_is_the_creation_time_in_ms_and_the_original_name_without_extension():
    assert image(original_file_name="Archways_ub_1.jpg").filename == f"{T0_MS}-Archways_ub_1"


def test_without_an_original_file_name_the_filename_uses_the_image_uuid():
    assert image(3).filename == f"{T0_MS}-{image(3).uuid}"


def test_the_source_is_filename_hash_and_extension():
    kept = image(original_file_name="Archways_ub_1.jpg", md5="9e107d9d372bb6826bd81d3542a419d6")
    assert kept.source == f"{T0_MS}-Archways_ub_1-9e107d9d372bb6826bd81d3542a419d6.jpg"


def test_the_stored_blobs_are_the_original_then_the_renditions():
    renditions = (Rendition("thumbnail", "images/a/thumbnail.jpg", 320, 240),
                  Rendition("web", "images/a/web.jpg", 1280, 960))
    assert image(storage_key="images/a/original.png", renditions=renditions).blob_keys == [
        "images/a/original.png", "images/a/thumbnail.jpg", "images/a/web.jpg"]


# --- copying ------------------------------------------------------------------------------------------------

def _copied(**fields):
    original = image(4, hero=True, description="Lobby", original_file_name="lobby.png",
                     category=ImageCategory.GENERAL, position=7, **fields)
    return original, copy_of(original, uuid.UUID(int=999), OTHER_REALTY, LATER)


def test_a_copy_has_a_new_uuid_no_numeric_id_and_belongs_to_the_target():
    original, copied = _copied()
    assert (copied.uuid, copied.id, copied.realty_uuid) == (uuid.UUID(int=999), None, OTHER_REALTY)
    assert original.uuid == image(4).uuid and original.id == 104, "the original is left as it was"


def test_a_copy_of_a_published_image_is_not_published():
    original, copied = _copied(status=ModerationStatus.APPROVED)
    assert not copied.published and copied.status is ModerationStatus.EXTERNAL_NEW
    assert original.published


def test_a_copy_of_a_room_image_is_a_property_image_in_no_room():
    _, copied = _copied(kind=ImageKind.ROOM, room_id=12)
    assert (copied.kind, copied.room_id) == (ImageKind.PROPERTY, None)


def test_a_copy_of_a_floor_plan_stays_a_floor_plan():
    _, copied = _copied(kind=ImageKind.FLOOR_PLAN)
    assert copied.kind is ImageKind.FLOOR_PLAN


def test_a_copy_is_created_and_modified_now():
    _, copied = _copied()
    assert (copied.created_at, copied.modified_at) == (LATER, LATER)


def test_a_copy_shares_the_stored_blobs_and_facts_of_the_original():
    renditions = (Rendition("thumbnail", "images/4/thumbnail.jpg", 320, 240),)
    original, copied = _copied(renditions=renditions, processing=Processing.READY)
    assert copied.blob_keys == original.blob_keys
    assert (copied.md5, copied.content_type, copied.width, copied.height, copied.file_size) == (
        original.md5, original.content_type, original.width, original.height, original.file_size)


def test_a_copy_keeps_the_metadata_of_the_original():
    original, copied = _copied()
    assert (copied.description, copied.original_file_name, copied.category, copied.hero) == (
        "Lobby", "lobby.png", ImageCategory.GENERAL, True)


@pytest.mark.parametrize("processing, error", [
    (Processing.PENDING, None), (Processing.READY, None), (Processing.FAILED, "could not be rendered")])
def test_a_copy_shares_the_processing_state_of_the_original(processing, error):
    _, copied = _copied(processing=processing, processing_error=error)
    assert (copied.processing, copied.processing_error) == (processing, error)


# --- text the domain keeps ----------------------------------------------------------------------------------

@pytest.mark.parametrize("given, kept", [
    ("kitchen.jpg", "kitchen.jpg"),
    ("../../etc/x.jpg", "x.jpg"),
    ("C:\\Users\\agent\\Desktop\\Front door.JPG", "Front door.JPG"),
    ("photos/", None),
    ("", None),
    (None, None),
    ("   ", None),
    ("  spaced.png  ", "spaced.png"),
    ("x\n.jpg", "x.jpg"),
    ("\x1b[31mred.png", "[31mred.png"),
    ("nul\x00.png", "nul.png"),
    ("del\x7f.png", "del.png"),
    ("lone\ud800.png", "lone.png"),
    ("Säätö 🏠.png", "Säätö 🏠.png"),
])
def test_a_file_name_is_kept_as_its_last_path_component_without_control_characters(given, kept):
    assert clean_file_name(given) == kept


def test_a_kept_file_name_is_at_most_255_characters():
    assert MAX_NAME_LENGTH == 255
    assert clean_file_name("k" * 300 + ".png") == "k" * 255
    assert clean_file_name("k" * 255) == "k" * 255


@pytest.mark.parametrize("text", ["", "Kitchen", "Säätö 🏠", "line\nbreak\ttab", "\x7f"])
def test_ordinary_text_is_storable(text):
    assert is_storable(text)


@pytest.mark.parametrize("text", ["\x00", "nul\x00inside", "lone \ud800 high", "lone \udfff low"])
def test_nul_and_unpaired_surrogates_are_not_storable(text):
    assert not is_storable(text)
