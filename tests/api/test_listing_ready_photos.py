"""CONTRACT §11 over both APIs: each processed image's perceptual hash, blurhash, quality, channels, and its
duplicates anywhere in the org (and nowhere else), kept current when images are deleted."""
from __future__ import annotations

import uuid

import pytest

from tests.graphql_support import data_of, post_graphql, upload_property_image, create_property
from tests.images import encoded, scene
from tests.processing_support import wait_processed
from tests.rest_support import other_org, rest  # noqa: F401 - fixtures

PHOTO = scene(21, 1200, 800)
DIFFERENT = scene(22, 1200, 800)


def save_jpeg(caller, realty: str, data: bytes) -> str:
    [item] = caller.save_ok(realty, [caller.upload(data, "image/jpeg", "photo.jpg")])
    return item["realtyImageId"]


def listed(caller, realty: str) -> dict[str, dict]:
    wait_processed(caller.client.application)
    return {item["realtyImageId"]: item for item in caller.images(realty)}


def test_a_processed_image_has_its_hash_placeholder_quality_and_channels(rest):
    realty = str(uuid.uuid4())
    pending = rest.save_ok(realty, [rest.upload(encoded(scene(23, 800, 533)), "image/jpeg", "small.jpg")])[0]
    assert (pending["perceptualHash"], pending["blurhash"], pending["quality"], pending["channels"]) == (
        None, None, None, [])
    [item] = listed(rest, realty).values()
    assert len(item["perceptualHash"]) == 16 and int(item["perceptualHash"], 16) >= 0
    assert isinstance(item["blurhash"], str) and len(item["blurhash"]) >= 6
    quality = item["quality"]
    assert (quality["width"], quality["height"]) == (800, 533)
    assert quality["issues"] == ["LOW_RESOLUTION"]
    assert quality["sharpness"] > 100 and 40 < quality["brightness"] < 220
    channels = {c["channel"]: c for c in item["channels"]}
    assert {"Booking.com", "Expedia", "Airbnb", "Vrbo", "Zillow", "Rightmove"} <= set(channels)
    assert channels["Airbnb"] == {"channel": "Airbnb", "ready": False, "reasons": ["1024×683 needed, this is 800×533"]}
    assert channels["Zillow"]["ready"] is True
    assert item["duplicates"] == []


def test_the_same_photo_in_two_realties_of_an_org_names_the_other(rest):
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    original = save_jpeg(rest, first, encoded(PHOTO, quality=92))
    resized = save_jpeg(rest, second, encoded(PHOTO.resize((600, 400)), quality=60))
    unrelated = save_jpeg(rest, second, encoded(DIFFERENT))
    in_first, in_second = listed(rest, first), listed(rest, second)
    [seen_from_first] = in_first[original]["duplicates"]
    assert seen_from_first["realtyId"] == second and seen_from_first["realtyImageId"] == resized
    assert 0 <= seen_from_first["distance"] <= 6 and seen_from_first["identical"] is False
    assert [d["realtyImageId"] for d in in_second[resized]["duplicates"]] == [original]
    assert in_second[unrelated]["duplicates"] == []


def test_the_same_bytes_are_named_identical(rest):
    data = encoded(PHOTO)
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    a, b = save_jpeg(rest, first, data), save_jpeg(rest, second, data)
    [duplicate] = listed(rest, first)[a]["duplicates"]
    assert duplicate == {"realtyId": second, "realtyImageId": b, "distance": 0, "identical": True}


def test_another_orgs_copy_of_a_photo_is_not_a_duplicate(rest, other_org):
    data = encoded(PHOTO)
    mine, theirs = str(uuid.uuid4()), str(uuid.uuid4())
    a = save_jpeg(rest, mine, data)
    b = save_jpeg(other_org, theirs, data)
    assert listed(rest, mine)[a]["duplicates"] == []
    assert listed(other_org, theirs)[b]["duplicates"] == []


def test_a_deleted_image_is_gone_from_the_others_duplicates_at_once(rest):
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    a = save_jpeg(rest, first, encoded(PHOTO))
    b = save_jpeg(rest, second, encoded(PHOTO, quality=70))
    assert [d["realtyImageId"] for d in listed(rest, first)[a]["duplicates"]] == [b]
    etag = rest.list(first).headers["ETag"]
    assert rest.delete(second, b).status_code == 200
    after = rest.list(first)
    assert after.get_json()["realtyImages"][0]["duplicates"] == []
    assert after.headers["ETag"] != etag, "the listing changed, so does its ETag"


IMAGE_FIELDS = """query($id: ID!) { property(id: $id) { images {
  realtyImageId perceptualHash blurhash
  quality { width height sharpness brightness darkFraction brightFraction issues }
  channels { channel ready reasons }
  duplicates { realtyId realtyImageId distance identical } } } }"""


def test_graphql_shows_the_same_fields_as_rest(client, token, rest):
    prop = create_property(client, token)
    uploaded = upload_property_image(client, token, prop["id"], encoded(PHOTO), "photo.jpg")
    other_realty = str(uuid.uuid4())
    twin = save_jpeg(rest, other_realty, encoded(PHOTO.resize((900, 600))))
    wait_processed(client.application)
    [image] = data_of(post_graphql(client, token, IMAGE_FIELDS, {"id": prop["id"]}))["property"]["images"]
    item = listed(rest, prop["realtyId"])[uploaded["realtyImageId"]]
    assert image["perceptualHash"] == item["perceptualHash"] and image["blurhash"] == item["blurhash"]
    assert image["quality"] == item["quality"]
    assert image["channels"] == item["channels"]
    assert image["duplicates"] == item["duplicates"]
    assert [d["realtyImageId"] for d in image["duplicates"]] == [twin]
    assert image["duplicates"][0]["realtyId"] == other_realty
