"""Queries: property/room/image/node, global ids, renditions, query cost, depth limit, error hygiene."""
from __future__ import annotations

import hashlib
import logging
import os
from urllib.parse import urlsplit

import pytest
from graphql import get_introspection_query

from tests.graphql_support import (
    FULL_PROPERTY, create_property, create_room, data_of, decode_global_id, global_id, post_graphql, single_error, unpadded,
    upload_property_image, upload_room_image,
)
from tests.images import make_jpeg, make_png
from tests.processing_support import wait_processed


@pytest.fixture
def estate(client, token):
    prop = create_property(client, token, "Seaside", external_id="S-1")
    kitchen = create_room(client, token, prop["id"], "Kitchen")
    bath = create_room(client, token, prop["id"], "Bath")
    contents = [make_jpeg(64, 48), make_png(40, 30), make_jpeg(30, 60)]
    facade = upload_property_image(client, token, prop["id"], contents[0], "facade.jpg", category="BUILDING_EXTERIOR",
                                   hero=True)
    kitchen_image = upload_room_image(client, token, kitchen["id"], contents[1], "kitchen.png")
    bath_image = upload_room_image(client, token, bath["id"], contents[2], "bath.jpg")
    wait_processed(client.application)
    return {"property": prop, "rooms": [kitchen, bath], "images": [facade, kitchen_image, bath_image],
            "contents": contents}


def _without_signatures(value):
    """`value` with every URL cut at its query string (its signature and expiry)."""
    if isinstance(value, dict):
        return {k: _without_signatures(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_signatures(v) for v in value]
    if isinstance(value, str) and value.startswith("http"):
        return value.split("?", 1)[0]
    return value


def test_property_by_global_id_padded_unpadded_and_by_realty_uuid(client, token, estate):
    prop = estate["property"]
    answers = [data_of(post_graphql(client, token, FULL_PROPERTY, {"id": ref}))["property"]
               for ref in (prop["id"], unpadded(prop["id"]), prop["realtyId"], prop["realtyId"].upper())]
    # Signed URLs carry the time they were signed at, which may tick between the requests.
    unsigned = [_without_signatures(answer) for answer in answers]
    assert unsigned[0] == unsigned[1] == unsigned[2] == unsigned[3]
    got = answers[0]
    assert got["id"] == prop["id"] and got["realtyId"] == prop["realtyId"]
    assert (got["name"], got["externalId"], got["imageCount"]) == ("Seaside", "S-1", 3)
    assert got["hero"] == {"id": estate["images"][0]["id"]}
    assert [i["id"] for i in got["images"]] == [i["id"] for i in estate["images"]]
    assert [i["position"] for i in got["images"]] == [0, 1, 2]
    assert [i["type"] for i in got["images"]] == ["PROPERTY_IMAGE", "ROOM_IMAGE", "ROOM_IMAGE"]
    assert [i["category"] for i in got["images"]] == ["BUILDING_EXTERIOR", "ROOM", "ROOM"]
    assert [i["hero"] for i in got["images"]] == [True, False, False]
    assert [i["room"] and i["room"]["name"] for i in got["images"]] == [None, "Kitchen", "Bath"]
    assert all(i["property"] == {"id": prop["id"]} for i in got["images"])
    assert [(i["width"], i["height"]) for i in got["images"]] == [(64, 48), (40, 30), (30, 60)]
    assert [i["contentType"] for i in got["images"]] == ["image/jpeg", "image/png", "image/jpeg"]
    assert [i["size"] for i in got["images"]] == [len(c) for c in estate["contents"]]
    assert [i["imageHash"] for i in got["images"]] == [hashlib.md5(c).hexdigest() for c in estate["contents"]]
    assert [i["originalFileName"] for i in got["images"]] == ["facade.jpg", "kitchen.png", "bath.jpg"]
    assert [r["name"] for r in got["rooms"]] == ["Kitchen", "Bath"]
    assert got["rooms"][0]["images"] == [{"id": estate["images"][1]["id"]}]
    assert got["rooms"][1]["property"] == {"id": prop["id"]}
    for image in got["images"]:
        assert image["source"] == f"{image['filename']}-{image['imageHash']}.{image['originalFileName'].rsplit('.')[1]}"
        assert image["createdAt"] and image["modifiedAt"]


def test_urls_and_renditions_download_without_credentials(client, token, estate):
    image = data_of(post_graphql(client, token, FULL_PROPERTY, {"id": estate["property"]["id"]}))["property"]["images"][0]
    original = client.get(_path(image["url"]))
    assert original.status_code == 200
    assert hashlib.md5(original.data).hexdigest() == image["imageHash"]
    assert [r["name"] for r in image["renditions"]] == ["thumbnail", "web", "large", "thumbnailWebp", "webWebp", "largeWebp"]
    for rendition in image["renditions"]:
        response = client.get(_path(rendition["url"]))
        assert response.status_code == 200
        assert response.mimetype == rendition["contentType"]
        assert rendition["width"] <= image["width"] and rendition["height"] <= image["height"]


def _path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def test_room_image_and_node_queries(client, token, estate):
    room = estate["rooms"][0]
    image = estate["images"][1]
    data = data_of(post_graphql(client, token, """
        query($room: ID!, $image: ID!, $uuid: ID!) {
          room(id: $room) { id name property { realtyId } images { id } }
          image(id: $image) { id realtyImageId room { id } property { id } }
          byUuid: image(id: $uuid) { id }
        }""", {"room": room["id"], "image": image["id"], "uuid": image["realtyImageId"]}))
    assert data["room"] == {"id": room["id"], "name": "Kitchen",
                            "property": {"realtyId": estate["property"]["realtyId"]}, "images": [{"id": image["id"]}]}
    assert data["image"] == {"id": image["id"], "realtyImageId": image["realtyImageId"], "room": {"id": room["id"]},
                             "property": {"id": estate["property"]["id"]}}
    assert data["byUuid"] == {"id": image["id"]}

    for value, typename in ((estate["property"]["id"], "Property"), (room["id"], "Room"), (image["id"], "Image")):
        node = data_of(post_graphql(client, token, "query($id: ID!) { node(id: $id) { __typename id } }",
                                    {"id": unpadded(value)}))["node"]
        assert node == {"__typename": typename, "id": value}


def test_global_ids_are_the_contract_encoding(client, token, estate):
    for value, type_name in ((estate["property"]["id"], "Property"), (estate["rooms"][0]["id"], "UnitType"),
                             (estate["images"][0]["id"], "Image")):
        decoded = decode_global_id(value)
        assert list(decoded) == ["type", "id"] and decoded["type"] == type_name
        assert value == global_id(type_name, decoded["id"])  # compact JSON, standard padded base64


def test_properties_list(client, token, estate, make_token):
    other = create_property(client, token, "Second")
    foreign = create_property(client, make_token(org="org-b"), "Foreign")
    data = data_of(post_graphql(client, token, """
        query($ids: [ID!]!) { properties(ids: $ids) { id name rooms { name } imageCount } }""",
                                {"ids": [other["id"], "nonsense", estate["property"]["id"], foreign["id"]]}))
    assert data["properties"] == [
        {"id": other["id"], "name": "Second", "rooms": [], "imageCount": 0},
        None,
        {"id": estate["property"]["id"], "name": "Seaside", "rooms": [{"name": "Kitchen"}, {"name": "Bath"}],
         "imageCount": 3},
        None,
    ]
    error = single_error(post_graphql(client, token, "query($ids: [ID!]!) { properties(ids: $ids) { id } }",
                                      {"ids": [other["id"]] * 101}))
    assert error["extensions"]["code"] == "BAD_USER_INPUT"


class _QueryCounter(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.count = 0

    def emit(self, record):
        self.count += 1


def _queries_for(client, token, query, variables) -> int:
    logger = logging.getLogger("peewee")
    counter, level = _QueryCounter(), logger.level
    logger.addHandler(counter)
    logger.setLevel(logging.DEBUG)
    try:
        data_of(post_graphql(client, token, query, variables))
    finally:
        logger.removeHandler(counter)
        logger.setLevel(level)
    return counter.count


def test_listing_images_costs_a_constant_number_of_queries(client, token):
    small = create_property(client, token, "Small")
    large = create_property(client, token, "Large")
    for prop, count in ((small, 2), (large, 12)):
        room = create_room(client, token, prop["id"])
        for n in range(count):
            if n % 2:
                upload_room_image(client, token, room["id"], make_jpeg(16, 12))
            else:
                upload_property_image(client, token, prop["id"], make_jpeg(16, 12))
    wait_processed(client.application)  # render jobs query the database too
    small_cost = _queries_for(client, token, FULL_PROPERTY, {"id": small["id"]})
    large_cost = _queries_for(client, token, FULL_PROPERTY, {"id": large["id"]})
    assert small_cost > 0
    assert large_cost == small_cost


def _nested(depth: int) -> str:
    """`property { hero { property { hero ... { id } } } }` with `depth` levels of fields.

    No lists: nested lists would be refused for their cost (tests/api/test_graphql_cost.py) before their depth.
    """
    fields = ["property(id: $id)"] + ["hero" if n % 2 else "property" for n in range(1, depth - 1)]
    return "query($id: ID!) { " + " { ".join(fields) + " { id" + " }" * (len(fields)) + " }"


def test_query_depth_is_bounded(client, token, estate):
    variables = {"id": estate["property"]["id"]}
    data_of(post_graphql(client, token, _nested(10), variables))
    response = post_graphql(client, token, _nested(11), variables)
    assert response.status_code == 400
    error = single_error(response)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "depth" in error["message"] and "10" in error["message"]


def test_depth_is_counted_through_fragments_and_cycles_are_refused(client, token, estate):
    deep = """query($id: ID!) { property(id: $id) { ...P } }
      fragment P on Property { images { property { images { property { images { ...I } } } } } }
      fragment I on Image { property { images { property { images { id } } } } }"""
    response = post_graphql(client, token, deep, {"id": estate["property"]["id"]})
    assert response.status_code == 400
    assert "depth" in single_error(response)["message"]

    cyclic = """query { property(id: "x") { ...A } }
      fragment A on Property { images { property { ...B } } }
      fragment B on Property { images { property { ...A } } }"""
    response = post_graphql(client, token, cyclic)
    assert response.status_code == 400
    assert all(e["extensions"]["code"] == "BAD_USER_INPUT" for e in response.get_json()["errors"])


def test_the_explorers_introspection_query_is_allowed(client, token):
    data = data_of(post_graphql(client, token, get_introspection_query(descriptions=True)))
    names = {t["name"] for t in data["__schema"]["types"]}
    assert {"Property", "Room", "Image", "Rendition", "Node", "Upload", "ImageStatus"} <= names


def test_syntax_and_validation_errors_are_400_bad_user_input(client, token):
    for query in ("{ property(id: ", "{ nosuchfield }", "{ property { id } }"):
        response = post_graphql(client, token, query)
        assert response.status_code == 400
        body = response.get_json()
        assert "data" not in body
        assert body["errors"] and all(e["extensions"] == {"code": "BAD_USER_INPUT"} for e in body["errors"])


def test_repeated_documents_are_parsed_and_validated_once():
    from graphql_api import make_schema
    from graphql_api.validation import DocumentCache, depth_limit_rule
    from graphql.validation import specified_rules

    cache, schema = DocumentCache(size=2), make_schema()
    rules = (*specified_rules, depth_limit_rule())
    first = cache.parse(None, {"query": "{ __typename }"})
    assert cache.parse(None, {"query": "{ __typename }"}) is first
    errors = cache.validate(schema, first, rules)
    assert errors == [] and cache.validate(schema, first, rules) is errors
    bad = cache.parse(None, {"query": "{ nope }"})
    assert cache.validate(schema, bad, rules) is cache.validate(schema, bad, rules)
    cache.parse(None, {"query": "{ a: __typename }"})  # evicts the least recently used: "{ __typename }"
    assert cache.parse(None, {"query": "{ __typename }"}) is not first


def test_an_unexpected_failure_is_internal_server_error_without_details(client, token, estate, caplog, monkeypatch):
    """A bug (here one in a library the gateway calls) is "our bug" to the client, with no detail."""
    from PIL import Image

    from tests.graphql_support import SEED_MAP, post_multipart, upload_operations

    class LibraryBug(Exception):
        """Nothing Pillow raises for a bad file (those are the client's to fix)."""

    def broken_open(*args, **kwargs):
        raise LibraryBug("secret internal detail")

    monkeypatch.setattr(Image, "open", broken_open)
    operations = upload_operations("createPropertyImage", "CreatePropertyImageInput",
                                   {"propertyId": estate["property"]["id"], "category": "GENERAL"})
    with caplog.at_level(logging.ERROR, logger="graphql_api"):
        response = post_multipart(client, token, operations, SEED_MAP, {"0": (make_jpeg(), "x.jpg")})

    assert response.status_code == 200
    assert response.get_json()["data"] == {"createPropertyImage": None}
    error = single_error(response)
    assert error == {**error, "message": "Internal server error", "extensions": {"code": "INTERNAL_SERVER_ERROR"}}
    assert "secret internal detail" not in response.get_data(as_text=True)
    assert any(r.exc_info and "secret internal detail" in str(r.exc_info[1]) for r in caplog.records), \
        "unexpected errors are logged with their traceback"


def test_storage_out_of_reach_is_service_unavailable(client, token, estate, settings):
    """The local store's directory replaced (or unmounted) is an outage to retry, not a bug."""
    root = urlsplit(settings.storage_url).path
    os.rename(root, root + ".away")
    with open(root, "w") as blocker:
        blocker.write("not a directory")
    try:
        from tests.graphql_support import SEED_MAP, post_multipart, upload_operations

        operations = upload_operations("createPropertyImage", "CreatePropertyImageInput",
                                       {"propertyId": estate["property"]["id"], "category": "GENERAL"})
        response = post_multipart(client, token, operations, SEED_MAP, {"0": (make_jpeg(), "x.jpg")})
        assert single_error(response)["extensions"] == {"code": "SERVICE_UNAVAILABLE", "retryable": True}
        assert root not in response.get_data(as_text=True)
    finally:
        os.remove(root)
        os.rename(root + ".away", root)
