"""Global ids, the one identity both APIs share: base64 of compact JSON `{"type":"Property","id":N}`
(CONTRACT §4). GraphQL speaks them; REST items carry them as `graphqlId`.

Output is padded standard base64, as in the GraphQL source's responses. Input may be padded,
unpadded or over-padded (the source shows `...fX0=` for a 44-character id), and the URL-safe
alphabet is accepted too. Anything that does not decode to the expected type is "no such id":
callers treat it exactly like a missing object.
"""
from __future__ import annotations

import base64
import binascii
import json
import re

PROPERTY = "Property"
ROOM = "UnitType"
IMAGE = "Image"
TYPES = (PROPERTY, ROOM, IMAGE)

_MAX_ID_LENGTH = 200
_MAX_NUMBER = 2 ** 63 - 1
"""The largest integer any SQL database stores (BIGINT). A larger one names nothing, and SQLite cannot
even bind it as a parameter: it must be "no such id" before it reaches the repository."""
_BASE64 = re.compile(r"^[A-Za-z0-9+/_-]+$")


def encode(type_name: str, number: int) -> str:
    if type_name not in TYPES:
        raise ValueError(f"unknown global id type {type_name!r}")
    # What json.dumps({"type": ..., "id": ...}, separators=(",", ":")) writes for these names and an
    # int, formatted directly: a listing encodes two hundred of them.
    payload = f'{{"type":"{type_name}","id":{int(number)}}}'
    return base64.b64encode(payload.encode()).decode("ascii")


def decode_any(value: object) -> tuple[str, int] | None:
    """(type, number) of a global id of a known type, or None."""
    if not isinstance(value, str) or not value or len(value) > _MAX_ID_LENGTH:
        return None
    text = value.strip().rstrip("=")
    if not _BASE64.match(text) or len(text) % 4 == 1:
        return None
    text = text.replace("-", "+").replace("_", "/")
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        payload = json.loads(raw.decode("utf-8"))
    except (binascii.Error, ValueError):
        return None
    if not isinstance(payload, dict):
        return None
    type_name, number = payload.get("type"), payload.get("id")
    if isinstance(number, str) and number.isdigit() and number.isascii():
        number = int(number)
    if type_name not in TYPES or not isinstance(number, int) or isinstance(number, bool):
        return None
    if not 0 < number <= _MAX_NUMBER:
        return None
    return type_name, number


def decode(value: object, type_name: str) -> int | None:
    """The number of a global id of `type_name`, or None for anything else."""
    decoded = decode_any(value)
    if decoded is None or decoded[0] != type_name:
        return None
    return decoded[1]
