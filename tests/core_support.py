"""Putting a realty in a state through the app's own core (its bus and views), for API tests whose subject is one
request on a realty that is already full.

A rule such as "at most 200 images" is proven in the core (tests/unit, tests/unit/test_core_services.py,
tests/integration/test_persistence.py); an API test only shows how the rule's error reaches its callers. Two hundred
uploads over HTTP, each decoded, stored and rendered, made such tests the slowest of the suite for
nothing they proved: here a realty is filled through the core of the very app under test instead.
"""
from __future__ import annotations

import uuid

from flask import Flask

from core.domain import Image, ImageCategory, ImageKind, Processing
from core.ports import Caller
from core.commands import CopyImages, DirectUpload, IssueGrant, SaveUploads, UploadedImage, UploadImage
from tests.processing_support import wait_processed
from tests.rest_support import distinct_png

TINY_PNG = distinct_png(0, size=4)


def caller(org: str = "org-a", sub: str = "agent-1") -> Caller:
    return Caller(sub=sub, org=org)


def fill(app: Flask, realty: uuid.UUID | str, count: int, org: str = "org-a") -> list[Image]:
    """Append `count` images to the org's realty (made when missing); returns them in order.

    One tiny image is uploaded as a client does (a grant, the bytes at the grant's key, a save) and
    rendered; the rest are copies of it, made by `copy_images` from stock realties of 1, 2, 4... images.
    Copies of a READY image share its blobs and renditions, so filling takes a few transactions and
    no render job: a realty at the cap in a quarter of a second, with every image as a listing shows
    one that is done processing.
    """
    gateway, who = app.extensions["realty"], caller(org)
    bus, views = gateway.core.bus, gateway.core.views
    grant = bus.handle(IssueGrant(who, "image/png"))
    gateway.blobs.put(grant.key, TINY_PNG, "image/png")  # what the upload endpoint does with the bytes
    stock = {1: uuid.uuid4()}
    bus.handle(SaveUploads(who, stock[1], [UploadedImage(key=grant.key, original_file_name="tiny.png")]))
    wait_processed(app)
    assert views.realty(who, stock[1]).images[0].processing is Processing.READY
    size = 1
    while size * 2 <= count:
        doubled = uuid.uuid4()
        bus.handle(CopyImages(who, doubled, stock[size]))
        bus.handle(CopyImages(who, doubled, stock[size]))
        size *= 2
        stock[size] = doubled
    target = realty if isinstance(realty, uuid.UUID) else uuid.UUID(realty)
    added: list[Image] = []
    for size in sorted(stock, reverse=True):
        if count & size:
            added += bus.handle(CopyImages(who, target, stock[size]))
    return added


def add_room_images(app: Flask, realty: uuid.UUID | str, room_id: int, count: int,
                    org: str = "org-a") -> list[Image]:
    """`count` tiny images of a room, uploaded one by one as GraphQL's createRoomImage does."""
    bus, who = app.extensions["realty"].core.bus, caller(org)
    realty_uuid = realty if isinstance(realty, uuid.UUID) else uuid.UUID(realty)
    return [bus.handle(UploadImage(who, realty_uuid, DirectUpload(TINY_PNG, f"room-{n}.png", ImageCategory.ROOM,
                                                                kind=ImageKind.ROOM, room_id=room_id)))
            for n in range(count)]
