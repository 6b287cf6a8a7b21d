"""Domain objects as the contract's response items (dumped and formatted by rest_api.schemas)."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Callable

from core import global_ids
from core.domain import Image
from core.services import IssuedGrant


def image_item(image: Image, url: Callable[[str], str]) -> dict[str, Any]:
    """One realty image; `url` turns a storage key into a time-limited download URL."""
    return {
        "realtyImageId": image.uuid,
        "description": image.description,
        "originalFileName": image.original_file_name,
        "contentType": image.content_type,
        "width": image.width,
        "height": image.height,
        "fileSize": image.file_size,
        "imageHash": image.md5,
        "url": url(image.storage_key),
        "category": image.category,
        "hero": image.hero,
        "published": image.published,
        "creationTime": image.created_at,
        "modificationTime": image.modified_at,
        "graphqlId": global_ids.encode(global_ids.IMAGE, image.id),
        "renditions": {
            r.name: {"url": url(r.storage_key), "width": r.width, "height": r.height, "contentType": r.content_type}
            for r in image.renditions
        },
        "processing": image.processing.value,
        "processingError": image.processing_error,
    }


def image_list(images: list[Image], urls: Callable[[list[str]], list[str]]) -> dict[str, Any]:
    """The images as items; `urls` signs all their storage keys at once."""
    keys = [key for image in images for key in image.blob_keys]
    signed = dict(zip(keys, urls(keys)))
    return {"realtyImages": [image_item(image, signed.__getitem__) for image in images]}


def image_list_json(images: list[Image], urls: Callable[[list[str]], list[str]]) -> dict[str, Any]:
    """`image_list` already formatted as RealtyImagesSchema formats it, for encoding as it is.

    Dumping 200 items through marshmallow cost more than everything else a listing does together;
    the items hold only strings, numbers, booleans, None, str enums (their values), UUIDs and
    datetimes, so formatting the last two is all the schema did. A test holds the two equal.
    """
    items = image_list(images, urls)["realtyImages"]
    for item in items:
        for name in _FORMATTED:
            item[name] = _FORMATTED[name](item[name])
    return {"realtyImages": items}


_FORMATTED: dict[str, Callable[[Any], str]] = {
    "realtyImageId": str, "creationTime": datetime.isoformat, "modificationTime": datetime.isoformat}
"""The item fields that are not JSON values as `image_item` gives them: what the schema formats."""


def upload_grant(grant: IssuedGrant) -> dict[str, Any]:
    return {"url": grant.form.url, "method": "POST", "fields": grant.form.fields, "expiresAt": grant.expires_at}
