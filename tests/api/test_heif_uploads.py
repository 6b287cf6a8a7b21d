"""HEIC/HEIF uploads over both APIs (CONTRACT §11): granted and saved like any other type, the original kept as
sent, rendered upright."""
from __future__ import annotations

import uuid

import pytest

from tests.graphql_support import (
    SEED_MAP, create_property, data_of, post_graphql, post_multipart, upload_operations,
)
from tests.images import assert_quadrants, make_heic, make_jpeg, opened
from tests.processing_support import wait_processed
from tests.rest_support import assert_error, local_path, rest  # noqa: F401 - fixtures


@pytest.mark.parametrize("granted, brand_heic, stored_type", [
    ("image/heic", True, "image/heic"),
    ("image/heif", False, "image/heif"),
    ("image/heic", False, "image/heif"),  # an iPhone's .heic of the generic brand
])
def test_a_granted_heic_is_saved_as_sent_and_rendered_upright(rest, granted, brand_heic, stored_type):
    data = make_heic(64, 48, orientation=6, brand_heic=brand_heic)
    realty = str(uuid.uuid4())
    [item] = rest.save_ok(realty, [rest.upload(data, granted, "IMG_0001.HEIC")])
    assert (item["contentType"], item["width"], item["height"]) == (stored_type, 64, 48)
    assert rest.download(item["url"]) == data, "the original is kept as sent"
    [item] = rest.processed(realty)
    assert item["processing"] == "READY"
    for rendition in item["renditions"].values():
        assert_quadrants(opened(rest.download(rendition["url"])))


def test_a_jpeg_sent_on_a_heic_grant_is_refused(rest):
    response = rest.save(str(uuid.uuid4()), [{"key": rest.upload(make_jpeg(), "image/heic", "x.heic")}])
    assert_error(response, 400, "BAD_REQUEST_BODY")


def test_graphql_takes_a_heic_upload(client, token):
    prop = create_property(client, token)
    data = make_heic(64, 48, orientation=8)
    operations = upload_operations("createPropertyImage", "CreatePropertyImageInput",
                                   {"propertyId": prop["id"], "category": "GENERAL", "hero": False},
                                   selection="image { id contentType width height url }")
    response = post_multipart(client, token, operations, SEED_MAP, {"0": (data, "IMG_0002.heic")})
    image = data_of(response)["createPropertyImage"]["image"]
    assert (image["contentType"], image["width"], image["height"]) == ("image/heic", 64, 48)
    assert client.get(local_path(image["url"])).get_data() == data
    wait_processed(client.application)
    query = "query($id: ID!) { image(id: $id) { processing renditions { url } } }"
    done = data_of(post_graphql(client, token, query, {"id": image["id"]}))["image"]
    assert done["processing"] == "READY"
    for rendition in done["renditions"]:
        assert_quadrants(opened(client.get(local_path(rendition["url"])).get_data()))
