"""GraphQL's ids: global ids (`core.global_ids`) and, where the REST API uses them, UUIDs."""
from __future__ import annotations

from uuid import UUID

from core.global_ids import IMAGE, PROPERTY, ROOM, TYPES, decode, decode_any, encode
from core.input_rules import parse_uuid

__all__ = ["IMAGE", "PROPERTY", "ROOM", "TYPES", "decode", "decode_any", "encode", "image_ref", "parse_uuid",
           "realty_ref"]


def realty_ref(value: object) -> UUID | int | None:
    """A property named by its global id or by its REST realty UUID."""
    return parse_uuid(value) or decode(value, PROPERTY)


def image_ref(value: object) -> UUID | int | None:
    """An image named by its global id or by its REST realtyImageId."""
    return parse_uuid(value) or decode(value, IMAGE)
