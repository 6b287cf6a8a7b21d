"""Domain objects as the contract's response items (dumped and formatted by rest_api.schemas)."""
from __future__ import annotations

from typing import Any, Callable
from uuid import UUID

from core.domain import Image
from core.photo_checks import Duplicate
from core.image_documents import as_json, image_items
from core.use_cases.grants import IssuedGrant


def image_list(images: list[Image], urls: Callable[[list[str]], list[str]],
               duplicates: dict[UUID, list[Duplicate]]) -> dict[str, Any]:
    """The images as items; `urls` signs all their storage keys at once."""
    return {"realtyImages": image_items(images, urls, duplicates)}


def image_list_json(images: list[Image], urls: Callable[[list[str]], list[str]],
                    duplicates: dict[UUID, list[Duplicate]]) -> dict[str, Any]:
    """`image_list` already formatted as RealtyImagesSchema formats it, for encoding as it is.

    Dumping 200 items through marshmallow cost more than everything else a listing does together;
    the items hold only strings, numbers, booleans, None, str enums (their values), UUIDs and
    datetimes, so formatting the last two is all the schema did. A test holds the two equal.
    """
    return {"realtyImages": [as_json(item) for item in image_items(images, urls, duplicates)]}


def upload_grant(grant: IssuedGrant) -> dict[str, Any]:
    return {"url": grant.form.url, "method": "POST", "fields": grant.form.fields, "expiresAt": grant.expires_at}
