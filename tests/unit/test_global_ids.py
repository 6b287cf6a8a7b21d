"""Global ids (core/global_ids.py), the one identity both APIs share, on plain values.

The GraphQL-facing wrapper and the seed's odd paddings are tested in tests/unit/test_graphql_ids.py.
"""
from __future__ import annotations

import base64
import json

import pytest

from core import global_ids


def _raw(payload: object) -> str:
    return base64.b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode()


@pytest.mark.parametrize("type_name", global_ids.TYPES)
def test_an_id_is_padded_base64_of_compact_json(type_name):
    assert global_ids.encode(type_name, 42) == _raw({"type": type_name, "id": 42})


def test_an_id_of_an_unknown_type_cannot_be_made():
    with pytest.raises(ValueError, match="unknown global id type"):
        global_ids.encode("Building", 1)


@pytest.mark.parametrize("type_name", global_ids.TYPES)
def test_an_id_decodes_to_its_type_and_number(type_name):
    assert global_ids.decode_any(global_ids.encode(type_name, 1057715)) == (type_name, 1057715)
    assert global_ids.decode(global_ids.encode(type_name, 1057715), type_name) == 1057715


@pytest.mark.parametrize("spelling", [
    lambda v: v.rstrip("="),      # unpadded
    lambda v: v + "=",            # over-padded, as the seed's room id
    lambda v: f"  {v} ",          # surrounded by spaces
])
def test_other_spellings_of_an_id_decode_the_same(spelling):
    value = global_ids.encode("Image", 1_000_000_063)
    assert value.endswith("=")
    assert global_ids.decode(spelling(value), "Image") == 1_000_000_063


def test_the_url_safe_alphabet_is_accepted():
    # Our own ids never hold '+' or '/': this payload (an extra member, which is ignored) does.
    value = _raw({"type": "Image", "id": 7, "note": "???>>>"})
    assert "+" in value and "/" in value
    assert global_ids.decode(value.replace("+", "-").replace("/", "_"), "Image") == 7


def test_an_id_of_another_type_is_no_id():
    assert global_ids.decode(global_ids.encode("Image", 7), "Property") is None


def test_a_number_written_as_digits_is_accepted():
    assert global_ids.decode_any(_raw({"type": "Property", "id": "12"})) == ("Property", 12)


@pytest.mark.parametrize("payload", [
    {"type": "Property", "id": 0},
    {"type": "Property", "id": -1},
    {"type": "Property", "id": 2 ** 63},
    {"type": "Property", "id": True},
    {"type": "Property", "id": 1.5},
    {"type": "Property", "id": "１２"},  # digits, but not ASCII ones
    {"type": "Property", "id": None},
    {"type": "Building", "id": 1},
    {"type": "Property"},
    ["Property", 1],
    "Property:1",
])
def test_a_payload_that_names_no_object_is_no_id(payload):
    assert global_ids.decode_any(_raw(payload)) is None


def test_the_largest_number_a_database_stores_is_an_id():
    assert global_ids.decode_any(_raw({"type": "Image", "id": 2 ** 63 - 1})) == ("Image", 2 ** 63 - 1)


@pytest.mark.parametrize("value", [
    None, 5, b"eyJ0eXBlIjoiSW1hZ2UiLCJpZCI6MX0=", "", "=", "a", "abcde", "!!!!", "x" * 201,
    base64.b64encode(b"\xff\xfe not utf-8").decode(), base64.b64encode(b"{not json").decode(),
])
def test_anything_that_is_not_base64_json_is_no_id(value):
    assert global_ids.decode_any(value) is None
