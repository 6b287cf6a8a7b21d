"""How the RESO field table shows a record (reso_api/fields.py), on plain objects: the rules a page of a
thousand records must keep however fast it is built."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from core.domain import ImageCategory, ImageKind, Rendition
from core.media_query import MediaRecord
from reso_api import fields

STAMP = datetime(2026, 3, 1, 12, 0, 0, tzinfo=timezone.utc)


def rendition(name: str, width: int, height: int, content_type: str = "image/jpeg") -> Rendition:
    return Rendition(name, f"images/x/{name}", width, height, content_type)


def record(*renditions: Rendition, **changes) -> MediaRecord:
    values = dict(image=uuid.uuid4(), realty=uuid.uuid4(), position=0, kind=ImageKind.PROPERTY,
                  category=ImageCategory.MAP, description="A view", hero=True, content_type="image/png", width=40,
                  height=30, renditions=renditions, changed_at=STAMP, media_changed_at=STAMP)
    return MediaRecord(**{**values, **changes})


def test_the_largest_rendition_jpeg_first_then_the_last_made():
    small, large = rendition("small", 10, 10), rendition("large", 20, 20)
    assert fields.largest_rendition([large, small]) is large and fields.largest_rendition([small, large]) is large
    png, jpeg = rendition("png", 20, 20, "image/png"), rendition("jpeg", 20, 20)
    assert fields.largest_rendition([jpeg, png]) is jpeg and fields.largest_rendition([png, jpeg]) is jpeg
    first, last = rendition("first", 20, 20), rendition("last", 20, 20)
    assert fields.largest_rendition([first, last]) is last
    assert fields.largest_rendition([]) is None


def test_timestamps_are_utc_with_microseconds_whatever_the_offset_given():
    plus_two = timezone(timedelta(hours=2))
    shown = record(changed_at=datetime(2026, 3, 1, 14, 0, 0, tzinfo=plus_two),
                   media_changed_at=datetime(2026, 3, 1, 12, 0, 0, 5, tzinfo=timezone.utc))
    [value] = fields.records([(shown, None, None)])
    assert value["ModificationTimestamp"] == "2026-03-01T12:00:00.000000Z"
    assert value["MediaModificationTimestamp"] == "2026-03-01T12:00:00.000005Z"


def test_a_record_shows_its_largest_rendition_or_else_the_original():
    large = rendition("large", 2048, 1365, "image/webp")
    [with_rendition, original] = fields.records([(record(large), large, "https://x/large"), (record(), None, None)])
    assert (with_rendition["ImageWidth"], with_rendition["ImageHeight"], with_rendition["MediaType"],
            with_rendition["ImageSizeDescription"], with_rendition["MediaURL"]) == (2048, 1365, "webp", "large",
                                                                                   "https://x/large")
    assert (original["ImageWidth"], original["MediaType"], original["ImageSizeDescription"]) == (40, "png", None)
    assert (original["ImageOf"], original["MediaCategory"], original["PreferredPhotoYN"]) == ("Map", "Photo", True)


def test_selected_fields_in_the_tables_order():
    selected = (fields.BY_NAME["Order"], fields.KEY)
    shown = record()
    [value] = fields.records([(shown, None, None)], tuple(f for f in fields.FIELDS if f in selected))
    assert list(value.items()) == [("MediaKey", str(shown.image)), ("Order", 0)]
