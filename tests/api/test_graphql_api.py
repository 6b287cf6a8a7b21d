"""The GraphQL source's requests (seeds/002), replayed verbatim as multipart requests through Flask."""
from __future__ import annotations

import hashlib
import re

import pytest

from tests.graphql_support import (
    SEED_CREATE_PROPERTY_IMAGE_OPERATIONS, SEED_CREATE_ROOM_IMAGE_OPERATIONS, SEED_DELETE_IMAGE_ID,
    SEED_DELETE_IMAGE_QUERY, SEED_IMAGE_FIELDS, SEED_MAP, SEED_MAP_PRETTY, SEED_PROPERTY_FILE_NAME,
    SEED_PROPERTY_ID, SEED_ROOM_FILE_NAME, SEED_ROOM_ID, create_property, create_room, data_of,
    decode_global_id, post_graphql, post_multipart, property_images, seed_style_overpadded, single_error,
    unpadded, upload_operations,
)
from tests.images import make_bmp, make_gif, make_jpeg, make_png, make_svg, make_text_file, make_webp


@pytest.fixture
def app(shared_app):
    """The module's one app: every test here works on realties (properties) of its own."""
    return shared_app


def _seed_property_request(property_id: str) -> str:
    assert SEED_PROPERTY_ID in SEED_CREATE_PROPERTY_IMAGE_OPERATIONS
    return SEED_CREATE_PROPERTY_IMAGE_OPERATIONS.replace(SEED_PROPERTY_ID, property_id)


def _seed_room_request(room_id: str) -> str:
    assert SEED_ROOM_ID in SEED_CREATE_ROOM_IMAGE_OPERATIONS
    return SEED_CREATE_ROOM_IMAGE_OPERATIONS.replace(SEED_ROOM_ID, room_id)


@pytest.mark.parametrize("files_map", [SEED_MAP, SEED_MAP_PRETTY], ids=["map", "map-pretty"])
def test_seed_create_property_image(client, token, files_map):
    prop = create_property(client, token)
    content = make_jpeg(80, 60)
    # The seed sends the property id unpadded.
    response = post_multipart(client, token, _seed_property_request(unpadded(prop["id"])), files_map,
                              {"0": (content, SEED_PROPERTY_FILE_NAME)})

    image = data_of(response)["createPropertyImage"]["image"]
    assert set(image) == SEED_IMAGE_FIELDS
    md5 = hashlib.md5(content).hexdigest()
    assert image["active"] is False
    assert image["category"] == "ROOM"
    assert image["hero"] is False
    assert image["type"] == "ROOM_IMAGE"  # a property image of category ROOM
    assert image["status"] == "EXTERNAL_NEW"
    assert image["imageHash"] == md5
    assert re.fullmatch(r"\d{13}-Archways_ub_1", image["filename"]), image["filename"]
    assert image["source"] == f"{image['filename']}-{md5}.jpg"
    assert decode_global_id(image["id"])["type"] == "Image"
    assert image["id"].endswith("=") or len(image["id"]) % 4 == 0  # padded output, as in the seed

    listed = property_images(client, token, prop["id"])
    assert [i["id"] for i in listed] == [image["id"]]
    assert listed[0]["originalFileName"] == SEED_PROPERTY_FILE_NAME


def test_seed_create_room_image(client, token):
    prop = create_property(client, token)
    room = create_room(client, token, prop["id"], "Living room")
    content = make_jpeg(50, 70)
    # The seed's room id carries a stray '=' after an unpadded id; ours is sent the same way.
    response = post_multipart(client, token, _seed_room_request(seed_style_overpadded(room["id"])), SEED_MAP,
                              {"0": (content, SEED_ROOM_FILE_NAME)})

    image = data_of(response)["createRoomImage"]["image"]
    assert set(image) == SEED_IMAGE_FIELDS
    md5 = hashlib.md5(content).hexdigest()
    assert (image["active"], image["category"], image["hero"], image["type"], image["status"]) == (
        False, "ROOM", False, "ROOM_IMAGE", "EXTERNAL_NEW")
    assert image["imageHash"] == md5
    stem = SEED_ROOM_FILE_NAME.rsplit(".", 1)[0]
    assert re.fullmatch(r"\d{13}-" + re.escape(stem), image["filename"]), image["filename"]
    assert image["source"] == f"{image['filename']}-{md5}.jpeg"

    data = data_of(post_graphql(client, token, "query($id: ID!) { room(id: $id) { id images { id } property { id } } }",
                                {"id": room["id"]}))
    assert data["room"]["images"] == [{"id": image["id"]}]
    assert data["room"]["property"]["id"] == prop["id"]


def test_seed_delete_image(client, token):
    prop = create_property(client, token)
    response = post_multipart(client, token, _seed_property_request(prop["id"]), SEED_MAP,
                              {"0": (make_jpeg(), SEED_PROPERTY_FILE_NAME)})
    image_id = data_of(response)["createPropertyImage"]["image"]["id"]

    # The seed sends the image id unpadded.
    response = post_graphql(client, token, SEED_DELETE_IMAGE_QUERY, {"input": {"id": unpadded(image_id)}})
    assert response.get_json() == {"data": {"deleteImage": {"success": True}}}
    assert property_images(client, token, prop["id"]) == []

    # Deleting it again: the id names nothing any more.
    error = single_error(post_graphql(client, token, SEED_DELETE_IMAGE_QUERY, {"input": {"id": image_id}}))
    assert error["message"] == "input.id is not exist"
    assert error["extensions"]["code"] == "NOT_FOUND"


def test_seed_delete_image_with_the_seeds_own_id_is_not_found(client, token):
    response = post_graphql(client, token, SEED_DELETE_IMAGE_QUERY, {"input": {"id": SEED_DELETE_IMAGE_ID}})
    assert response.status_code == 200
    assert response.get_json()["data"] == {"deleteImage": None}
    assert single_error(response)["extensions"]["code"] == "NOT_FOUND"


def test_seed_request_for_a_property_that_does_not_exist(client, token):
    """The seed's request exactly as written: its property id names nothing here."""
    response = post_multipart(client, token, SEED_CREATE_PROPERTY_IMAGE_OPERATIONS, SEED_MAP,
                              {"0": (make_jpeg(), SEED_PROPERTY_FILE_NAME)})
    assert response.status_code == 200
    assert response.get_json()["data"] == {"createPropertyImage": None}
    error = single_error(response)
    assert error["message"] == "input.propertyId is not exist"
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert error["path"] == ["createPropertyImage"]


def test_seed_room_request_for_a_room_that_does_not_exist(client, token):
    response = post_multipart(client, token, SEED_CREATE_ROOM_IMAGE_OPERATIONS, SEED_MAP,
                              {"0": (make_jpeg(), SEED_ROOM_FILE_NAME)})
    error = single_error(response)
    assert error["message"] == "input.roomId is not exist"
    assert error["extensions"]["code"] == "NOT_FOUND"


@pytest.mark.parametrize("content, filename", [
    (make_text_file(), "notes.jpg"),
    (make_gif(), "anim.gif"),
    (make_svg(), "vector.png"),
    (b"", "empty.jpg"),
], ids=["text-renamed-jpg", "gif", "svg", "empty"])
def test_file_type_error_for_room_and_property_images(client, token, content, filename):
    prop = create_property(client, token)
    room = create_room(client, token, prop["id"])

    response = post_multipart(client, token, _seed_room_request(room["id"]), SEED_MAP, {"0": (content, filename)})
    error = single_error(response)
    assert error["message"] == "file type error"
    assert error["extensions"]["code"] == "BAD_USER_INPUT"

    response = post_multipart(client, token, _seed_property_request(prop["id"]), SEED_MAP,
                              {"0": (content, filename)})
    error = single_error(response)
    assert error["message"] == "file type error"
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert property_images(client, token, prop["id"]) == []


@pytest.mark.parametrize("maker, filename, content_type", [
    (make_jpeg, "a.JPG", "image/jpeg"),
    (make_png, "b.png", "image/png"),
    (make_bmp, "c.BMP", "image/bmp"),
    (make_webp, "d.webp", "image/webp"),
], ids=["jpg", "png", "bmp", "webp"])
def test_accepted_file_types(client, token, maker, filename, content_type):
    prop = create_property(client, token)
    content = maker()
    operations = upload_operations("createPropertyImage", "CreatePropertyImageInput",
                                   {"propertyId": prop["id"], "category": "GENERAL"},
                                   selection="image { contentType size source imageHash type }")
    image = data_of(post_multipart(client, token, operations, SEED_MAP, {"0": (content, filename)}))[
        "createPropertyImage"]["image"]
    assert image["contentType"] == content_type
    assert image["size"] == len(content)
    assert image["type"] == "PROPERTY_IMAGE"
    assert image["source"].endswith(f"-{hashlib.md5(content).hexdigest()}.{filename.rsplit('.', 1)[1]}")


def test_the_file_type_is_sniffed_not_taken_from_the_name(client, token):
    prop = create_property(client, token)
    operations = upload_operations("createPropertyImage", "CreatePropertyImageInput",
                                   {"propertyId": prop["id"], "category": "MAP"}, selection="image { contentType }")
    image = data_of(post_multipart(client, token, operations, SEED_MAP, {"0": (make_png(), "looks-like.jpg")}))[
        "createPropertyImage"]["image"]
    assert image["contentType"] == "image/png"


def test_create_property_and_room_answer_the_seed_shapes(client, token):
    prop = create_property(client, token, name="  Harbour Loft ", external_id="EXT-7")
    assert decode_global_id(prop["id"]) == {"type": "Property", "id": decode_global_id(prop["id"])["id"]}
    assert prop["name"] == "Harbour Loft"
    assert prop["externalId"] == "EXT-7"
    room = create_room(client, token, prop["id"], "Sauna")
    assert decode_global_id(room["id"])["type"] == "UnitType"
    assert room["property"]["id"] == prop["id"]


def test_create_room_for_unknown_property(client, token):
    response = post_graphql(client, token, """
        mutation { createRoom(input: {propertyId: "eyJ0eXBlIjoiUHJvcGVydHkiLCJpZCI6MTA1NzcxNX0", name: "x"}) {
          room { id } } }""")
    error = single_error(response)
    assert error["message"] == "input.propertyId is not exist"
    assert error["extensions"]["code"] == "NOT_FOUND"


@pytest.mark.parametrize("name", ["", "   ", "x" * 256])
def test_create_property_refuses_bad_names(client, token, name):
    response = post_graphql(client, token, """
        mutation($name: String!) { createProperty(input: {name: $name}) { property { id } } }""", {"name": name})
    error = single_error(response)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "input.name" in error["message"]


def test_a_new_upload_is_inactive_and_externally_new_then_listed_in_order(client, token):
    prop = create_property(client, token)
    first = data_of(post_multipart(client, token, _seed_property_request(prop["id"]), SEED_MAP,
                                   {"0": (make_jpeg(), "one.jpg")}))["createPropertyImage"]["image"]
    second = data_of(post_multipart(client, token, _seed_property_request(prop["id"]), SEED_MAP,
                                    {"0": (make_png(), "two.png")}))["createPropertyImage"]["image"]
    listed = property_images(client, token, prop["id"])
    assert [i["id"] for i in listed] == [first["id"], second["id"]]
    assert [i["position"] for i in listed] == [0, 1]
    assert all(i["active"] is False and i["status"] == "EXTERNAL_NEW" for i in listed)
