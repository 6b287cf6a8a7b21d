"""The global id codec (CONTRACT §4), including the odd paddings the GraphQL source shows."""
from __future__ import annotations

import uuid

import pytest

from graphql_api import ids
from tests.graphql_support import SEED_DELETE_IMAGE_ID, SEED_PROPERTY_ID, SEED_ROOM_ID, global_id


def test_encoding_is_padded_base64_of_compact_json():
    assert ids.encode("Property", 1057715) == "eyJ0eXBlIjoiUHJvcGVydHkiLCJpZCI6MTA1NzcxNX0="
    assert ids.encode("Image", 3635825) == "eyJ0eXBlIjoiSW1hZ2UiLCJpZCI6MzYzNTgyNX0="  # the seed's response
    for type_name in ("Property", "UnitType", "Image"):
        assert ids.encode(type_name, 42) == global_id(type_name, 42)


@pytest.mark.parametrize("value, expected", [
    (SEED_PROPERTY_ID, ("Property", 1057715)),             # unpadded
    (SEED_PROPERTY_ID + "=", ("Property", 1057715)),       # padded
    (SEED_ROOM_ID, ("UnitType", 10099297)),                # a stray '=' after a complete quantum
    (SEED_ROOM_ID.rstrip("="), ("UnitType", 10099297)),
    (SEED_DELETE_IMAGE_ID, ("Image", 1152552)),
    ("eyJ0eXBlIjoiSW1hZ2UiLCJpZCI6MzYzNzc2NH0=", ("Image", 3637764)),
    (" " + SEED_PROPERTY_ID + " ", ("Property", 1057715)),
])
def test_decoding_accepts_the_seeds_paddings(value, expected):
    assert ids.decode_any(value) == expected
    assert ids.decode(value, expected[0]) == expected[1]


def test_url_safe_alphabet_is_accepted():
    value = ids.encode("Image", 1_000_000_063)
    assert ids.decode(value.replace("+", "-").replace("/", "_"), "Image") == 1_000_000_063


@pytest.mark.parametrize("value", [
    None, 5, "", "=", "a", "!!!!", "eyJ0eXBlIjoiUHJvcGVydHkifQ", global_id("Building", 1), "W10=",
    ids.encode("Property", 1)[:-3], "x" * 1000,
    "eyJ0eXBlIjoiUHJvcGVydHkiLCJpZCI6dHJ1ZX0=",  # {"type":"Property","id":true}
    "eyJ0eXBlIjoiUHJvcGVydHkiLCJpZCI6MS41fQ==",  # {"type":"Property","id":1.5}
])
def test_anything_else_decodes_to_nothing(value):
    assert ids.decode_any(value) is None


def test_wrong_type_is_nothing():
    assert ids.decode(ids.encode("Image", 7), "Property") is None
    assert ids.realty_ref(ids.encode("UnitType", 7)) is None


def test_refs_take_uuids_or_global_ids():
    realty = uuid.uuid4()
    assert ids.realty_ref(str(realty)) == realty
    assert ids.realty_ref(ids.encode("Property", 9)) == 9
    assert ids.image_ref(str(realty)) == realty
    assert ids.image_ref(ids.encode("Image", 9)) == 9
