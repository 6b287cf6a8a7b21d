"""An image's published JSON form: the item of a REST listing (CONTRACT §3), which is also the `image`
of every event in the change feed and in webhooks (CONTRACT §10).

The one place outside a facade that names the wire's fields: §10 publishes events in the REST item's
shape whichever API made the change, and webhooks are sent by the job workers, which speak no API.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Callable, Sequence
from uuid import UUID

from core import global_ids
from core.channels import readiness
from core.photo_checks import Duplicate, quality_issues
from core.domain import Image
from core.events import ImageDeleted, ImageEvent

Signer = Callable[[Sequence[str]], list[str]]
"""Turns storage keys into time-limited download URLs, all at once."""


def image_item(image: Image, url: Callable[[str], str],
               duplicates: Sequence[Duplicate] | None = None) -> dict[str, Any]:
    """One realty image; `url` turns a storage key into a time-limited download URL. `duplicates` are read
    apart (they change with other realties' images); without them the item has no `duplicates` field."""
    item = {
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
        **photo_fields(image),
    }
    if duplicates is not None:
        item["duplicates"] = [duplicate_item(d) for d in duplicates]
    return item


def photo_fields(image: Image) -> dict[str, Any]:
    """CONTRACT §11's fields of a processed image (null, and no channels, before it is)."""
    checks = image.checks
    if checks is None:
        return {"perceptualHash": None, "blurhash": None, "quality": None, "channels": []}
    issues = quality_issues(checks, image.width, image.height)
    return {
        "perceptualHash": checks.perceptual_hash_hex,
        "blurhash": checks.blurhash,
        "quality": {"width": image.width, "height": image.height, "sharpness": checks.sharpness,
                    "brightness": checks.brightness, "darkFraction": checks.dark_fraction,
                    "brightFraction": checks.bright_fraction, "issues": [issue.value for issue in issues]},
        "channels": [{"channel": r.channel, "ready": r.ready, "reasons": list(r.reasons)}
                     for r in readiness(image.width, image.height, image.file_size, image.content_type, issues)],
    }


def duplicate_item(duplicate: Duplicate) -> dict[str, Any]:
    return {"realtyId": str(duplicate.realty_uuid), "realtyImageId": str(duplicate.image_uuid),
            "distance": duplicate.distance, "identical": duplicate.identical}


def image_items(images: Sequence[Image], urls: Signer,
                duplicates: dict[UUID, list[Duplicate]] | None = None) -> list[dict[str, Any]]:
    """The images as items, their storage keys signed all at once."""
    keys = [key for image in images for key in image.blob_keys]
    signed = dict(zip(keys, urls(keys)))
    return [image_item(image, signed.__getitem__, None if duplicates is None else duplicates.get(image.uuid, []))
            for image in images]


def as_json(item: dict[str, Any]) -> dict[str, Any]:
    """An item with its UUIDs and datetimes formatted as the wire has them (everything else in an item is a
    JSON value already, str enums included), ready to be encoded as it is."""
    for name, format_value in _FORMATTED.items():
        item[name] = format_value(item[name])
    return item


_FORMATTED: dict[str, Callable[[Any], str]] = {
    "realtyImageId": str, "creationTime": datetime.isoformat, "modificationTime": datetime.isoformat}


# --- events ------------------------------------------------------------------------------------------

_KEY = "storageKey"
"""Where a stored event holds a storage key: the URL is signed when the event is read, so a feed read
or a webhook sent days later hands out URLs that still work."""


def event_data(event: ImageEvent) -> dict[str, Any]:
    """An event's `data` as stored: the image as the listing shows it when the change commits, with
    storage keys where the URLs go (absent for a deleted image)."""
    image = event.image
    data: dict[str, Any] = {"realtyId": str(image.realty_uuid), "realtyImageId": str(image.uuid),
                            "graphqlId": global_ids.encode(global_ids.IMAGE, image.id)}
    if not isinstance(event, ImageDeleted):
        data["image"] = as_json(image_item(image, lambda key: {_KEY: key}))
    return data


def signed_data(data: dict[str, Any], urls: Signer) -> dict[str, Any]:
    """A stored event's `data` with its storage keys replaced by download URLs."""
    image = data.get("image")
    if image is None:
        return data
    holders = [image, *image["renditions"].values()]
    keys = [holder["url"][_KEY] for holder in holders]
    signed = [{**holder, "url": url} for holder, url in zip(holders, urls(keys))]
    renditions = dict(zip(image["renditions"], signed[1:]))
    return {**data, "image": {**signed[0], "renditions": renditions}}
