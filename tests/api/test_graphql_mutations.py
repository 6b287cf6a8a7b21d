"""The mutations beyond the seed's, for parity with REST: update, reorder, copy, publish, floor plans."""
from __future__ import annotations

import uuid

import pytest

from tests.core_support import fill
from tests.graphql_support import (
    SEED_MAP, create_property, create_room, data_of, global_id, post_graphql, post_multipart, property_images,
    single_error, unpadded, upload_operations, upload_property_image, upload_room_image,
)
from tests.images import make_jpeg, make_png, make_text_file
from tests.processing_support import wait_processed


@pytest.fixture
def app(shared_app):
    """The module's one app: every test here works on realties (properties) of its own."""
    return shared_app


@pytest.fixture
def gallery(client, token):
    prop = create_property(client, token, "Gallery")
    images = [upload_property_image(client, token, prop["id"], make_jpeg(20 + n, 20), f"{n}.jpg") for n in range(3)]
    return prop, images


UPDATE = """mutation($input: UpdateImageInput!) {
  updateImage(input: $input) { image { id hero category description modifiedAt } } }"""
REORDER = """mutation($input: ReorderImagesInput!) {
  reorderImages(input: $input) { property { images { id position } } } }"""
PUBLISH = """mutation($input: PublishImagesInput!) {
  publishImages(input: $input) { property { images { id active status } } } }"""
UNPUBLISH = """mutation($input: UnpublishImagesInput!) {
  unpublishImages(input: $input) { property { images { id active status } } } }"""
COPY = """mutation($input: CopyImagesInput!) {
  copyImages(input: $input) { property { id realtyId images { id imageHash hero active status } }
                              images { id realtyImageId } } }"""
DELETE = "mutation($input: DeleteImageInput!) { deleteImage(input: $input) { success } }"


def test_update_image_fields_and_single_hero(client, token, gallery):
    prop, images = gallery
    data = data_of(post_graphql(client, token, UPDATE, {"input": {
        "id": images[0]["id"], "hero": True, "category": "MAP", "description": "From the air"}}))
    assert data["updateImage"]["image"]["hero"] is True
    assert data["updateImage"]["image"]["category"] == "MAP"
    assert data["updateImage"]["image"]["description"] == "From the air"

    # A second hero replaces the first; addressed by REST id this time.
    data_of(post_graphql(client, token, UPDATE, {"input": {"id": images[2]["realtyImageId"], "hero": True}}))
    listed = property_images(client, token, prop["id"])
    assert [i["hero"] for i in listed] == [False, False, True]

    # Fields left out stay; null clears category and description.
    data = data_of(post_graphql(client, token, UPDATE, {"input": {"id": images[0]["id"]}}))
    assert data["updateImage"]["image"]["category"] == "MAP"
    data = data_of(post_graphql(client, token, UPDATE, {"input": {"id": images[0]["id"], "category": None,
                                                                  "description": None}}))
    assert data["updateImage"]["image"]["category"] is None
    assert data["updateImage"]["image"]["description"] is None


def test_update_image_errors(client, token, gallery):
    error = single_error(post_graphql(client, token, UPDATE, {"input": {"id": global_id("Image", 99999)}}))
    assert (error["message"], error["extensions"]["code"]) == ("input.id is not exist", "NOT_FOUND")
    response = post_graphql(client, token, UPDATE, {"input": {"id": gallery[1][0]["id"], "category": "CASTLE"}})
    assert response.status_code == 400
    assert single_error(response)["extensions"]["code"] == "BAD_USER_INPUT"


def test_reorder_images(client, token, gallery):
    prop, images = gallery
    new_order = [images[2]["id"], unpadded(images[0]["id"]), images[1]["realtyImageId"]]
    data = data_of(post_graphql(client, token, REORDER, {"input": {"propertyId": prop["id"], "imageIds": new_order}}))
    expected = [images[2]["id"], images[0]["id"], images[1]["id"]]
    assert data["reorderImages"]["property"]["images"] == [{"id": i, "position": n} for n, i in enumerate(expected)]
    assert [i["id"] for i in property_images(client, token, prop["id"])] == expected


@pytest.mark.parametrize("image_ids, message_part", [
    (lambda images: [images[0]["id"], images[1]["id"]], "missing"),
    (lambda images: [images[0]["id"], images[0]["id"], images[1]["id"]], "more than once"),
])
def test_reorder_must_name_the_whole_set_once(client, token, gallery, image_ids, message_part):
    prop, images = gallery
    error = single_error(post_graphql(client, token, REORDER, {"input": {"propertyId": prop["id"],
                                                                         "imageIds": image_ids(images)}}))
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert message_part in error["message"]
    assert [i["id"] for i in property_images(client, token, prop["id"])] == [i["id"] for i in images]


def test_reorder_with_an_image_of_another_property_or_org(client, token, gallery, make_token):
    prop, images = gallery
    other = create_property(client, token, "Other")
    stray = upload_property_image(client, token, other["id"], make_jpeg())
    stranger = make_token(org="org-b")
    foreign_prop = create_property(client, stranger)
    foreign = upload_property_image(client, stranger, foreign_prop["id"], make_jpeg())
    errors = []
    for intruder in (stray["id"], foreign["id"], global_id("Image", 424242), "garbage"):
        ids = [images[0]["id"], images[1]["id"], intruder]
        errors.append(single_error(post_graphql(client, token, REORDER, {"input": {"propertyId": prop["id"],
                                                                                   "imageIds": ids}})))
    assert all(e == errors[0] for e in errors)
    assert errors[0]["message"] == "input.imageIds[2] is not exist"


def test_list_sizes_are_bounded(client, token, gallery):
    prop, images = gallery
    too_many = [images[0]["id"]] * 201
    for query in (REORDER, PUBLISH, UNPUBLISH):
        error = single_error(post_graphql(client, token, query, {"input": {"propertyId": prop["id"],
                                                                           "imageIds": too_many}}))
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert "at most 200" in error["message"]


def test_publish_and_unpublish(client, token, gallery):
    prop, images = gallery
    data = data_of(post_graphql(client, token, PUBLISH, {"input": {"propertyId": prop["id"],
                                                                   "imageIds": [images[1]["id"]]}}))
    states = [(i["active"], i["status"]) for i in data["publishImages"]["property"]["images"]]
    assert states == [(False, "EXTERNAL_NEW"), (True, "APPROVED"), (False, "EXTERNAL_NEW")]

    data = data_of(post_graphql(client, token, PUBLISH, {"input": {"propertyId": prop["realtyId"]}}))
    assert all(i["active"] and i["status"] == "APPROVED" for i in data["publishImages"]["property"]["images"])

    # A published image cannot be deleted.
    error = single_error(post_graphql(client, token, DELETE, {"input": {"id": images[0]["id"]}}))
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "unpublish" in error["message"].lower()

    data = data_of(post_graphql(client, token, UNPUBLISH, {"input": {"propertyId": prop["id"],
                                                                     "imageIds": [images[0]["realtyImageId"]]}}))
    assert [i["active"] for i in data["unpublishImages"]["property"]["images"]] == [False, True, True]
    assert data["unpublishImages"]["property"]["images"][0]["status"] == "PENDING"
    data = data_of(post_graphql(client, token, UNPUBLISH, {"input": {"propertyId": prop["id"], "imageIds": None}}))
    assert not any(i["active"] for i in data["unpublishImages"]["property"]["images"])
    assert data_of(post_graphql(client, token, DELETE, {"input": {"id": images[0]["id"]}})) == {
        "deleteImage": {"success": True}}


def test_copy_images_to_an_existing_property_and_to_a_new_realty_uuid(client, token, gallery):
    source, images = gallery
    data_of(post_graphql(client, token, UPDATE, {"input": {"id": images[1]["id"], "hero": True}}))
    data_of(post_graphql(client, token, PUBLISH, {"input": {"propertyId": source["id"]}}))
    target = create_property(client, token, "Target")
    existing = upload_property_image(client, token, target["id"], make_png(), hero=True)

    data = data_of(post_graphql(client, token, COPY, {"input": {"sourcePropertyId": source["id"],
                                                                "targetPropertyId": target["id"]}}))["copyImages"]
    assert data["property"]["id"] == target["id"]
    listed = data["property"]["images"]
    assert [i["id"] for i in listed][0] == existing["id"]
    copies = listed[1:]
    assert [c["imageHash"] for c in copies] == [i["imageHash"] for i in property_images(client, token, source["id"])]
    assert {c["id"] for c in copies}.isdisjoint({i["id"] for i in images})
    assert [c["id"] for c in data["images"]] == [c["id"] for c in copies]
    assert [(c["active"], c["status"]) for c in copies] == [(False, "EXTERNAL_NEW")] * 3
    assert [i["hero"] for i in listed] == [True, False, False, False]  # the target keeps its hero

    new_uuid = str(uuid.uuid4())
    data = data_of(post_graphql(client, token, COPY, {"input": {"sourcePropertyId": source["realtyId"],
                                                                "targetPropertyId": new_uuid}}))["copyImages"]
    assert data["property"]["realtyId"] == new_uuid
    assert len(data["property"]["images"]) == 3
    assert [i["hero"] for i in data["property"]["images"]] == [False, True, False]
    assert [i["id"] for i in property_images(client, token, new_uuid)] == [i["id"] for i in data["images"]]

    error = single_error(post_graphql(client, token, COPY, {"input": {"sourcePropertyId": source["id"],
                                                                      "targetPropertyId": source["realtyId"]}}))
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    error = single_error(post_graphql(client, token, COPY, {"input": {"sourcePropertyId": global_id("Property", 777),
                                                                      "targetPropertyId": target["id"]}}))
    assert error["message"] == "input.sourcePropertyId is not exist"
    error = single_error(post_graphql(client, token, COPY, {"input": {"sourcePropertyId": source["id"],
                                                                      "targetPropertyId": global_id("Property", 777)}}))
    assert error["message"] == "input.targetPropertyId is not exist"


def test_floor_plan_images(client, token):
    prop = create_property(client, token)
    operations = upload_operations("createFloorPlanImage", "CreateFloorPlanImageInput",
                                   {"propertyId": prop["realtyId"], "description": "Ground floor"},
                                   selection="image { type category active status description room { id } }")
    data = data_of(post_multipart(client, token, operations, SEED_MAP, {"0": (make_png(), "plan.png")}))
    assert data["createFloorPlanImage"]["image"] == {"type": "FLOOR_PLAN_IMAGE", "category": None, "active": False,
                                                     "status": "EXTERNAL_NEW", "description": "Ground floor",
                                                     "room": None}
    error = single_error(post_multipart(client, token, operations, SEED_MAP, {"0": (make_text_file(), "plan.png")}))
    assert error["message"] == "file type error"


def test_room_image_of_an_uploaded_hero_and_description(client, token):
    prop = create_property(client, token)
    room = create_room(client, token, prop["id"])
    operations = upload_operations("createRoomImage", "CreateRoomImageInput",
                                   {"roomId": room["id"], "hero": True, "description": "Morning light"},
                                   selection="image { hero category type description room { id } }")
    data = data_of(post_multipart(client, token, operations, SEED_MAP, {"0": (make_jpeg(), "r.jpg")}))
    assert data["createRoomImage"]["image"] == {"hero": True, "category": "ROOM", "type": "ROOM_IMAGE",
                                                "description": "Morning light", "room": {"id": room["id"]}}


def test_at_most_200_images_per_property(app, client, token):
    # The cap is proven in the core (tests/unit/test_realty.py, tests/unit/test_core_services.py); here: how its
    # refusal reaches a GraphQL caller, on a property filled through the app's own service.
    prop = create_property(client, token)
    fill(app, prop["realtyId"], 200)
    error = single_error(post_multipart(client, token, upload_operations(
        "createPropertyImage", "CreatePropertyImageInput", {"propertyId": prop["id"], "category": "GENERAL"}),
        SEED_MAP, {"0": (make_jpeg(8, 8), "201.jpg")}))
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "200" in error["message"]
    images = property_images(client, token, prop["id"])
    assert len(images) == 200
    # Reordering all 200 in one request works (the list bound is exactly the cap).
    reversed_ids = [i["id"] for i in reversed(images)]
    data = data_of(post_graphql(client, token, REORDER, {"input": {"propertyId": prop["id"], "imageIds": reversed_ids}}))
    assert [i["id"] for i in data["reorderImages"]["property"]["images"]] == reversed_ids


def test_room_belongs_to_its_property(client, token):
    prop = create_property(client, token)
    room = create_room(client, token, prop["id"], "Attic")
    image = upload_room_image(client, token, room["id"], make_jpeg())
    data = data_of(post_graphql(client, token, """query($id: ID!) {
        property(id: $id) { rooms { name images { id } } } }""", {"id": prop["id"]}))
    assert data["property"]["rooms"] == [{"name": "Attic", "images": [{"id": image["id"]}]}]


def test_an_upload_answers_pending_and_becomes_ready_in_both_apis(client, token):
    prop = create_property(client, token, "Fresh")
    operations = upload_operations(
        "createPropertyImage", "CreatePropertyImageInput", {"propertyId": prop["id"], "category": "GENERAL"},
        selection="image { id realtyImageId processing processingError renditions { name } }")
    response = post_multipart(client, token, operations, SEED_MAP, {"0": (make_jpeg(640, 480), "f.jpg")})
    image = data_of(response)["createPropertyImage"]["image"]
    assert (image["processing"], image["processingError"], image["renditions"]) == ("PENDING", None, [])

    wait_processed(client.application)
    query = "query($id: ID!) { image(id: $id) { processing processingError renditions { name width } } }"
    done = data_of(post_graphql(client, token, query, {"id": image["id"]}))["image"]
    assert done == {"processing": "READY", "processingError": None,
                    "renditions": [{"name": "thumbnail", "width": 320}, {"name": "web", "width": 640},
                                   {"name": "large", "width": 640}, {"name": "thumbnailWebp", "width": 320},
                                   {"name": "webWebp", "width": 640}, {"name": "largeWebp", "width": 640}]}
    listed = client.get(f"/realty/{prop['realtyId']}/images", headers={"Authorization": f"Bearer {token}"})
    [item] = listed.get_json()["realtyImages"]
    assert (item["processing"], item["processingError"]) == ("READY", None)
    assert set(item["renditions"]) == {"thumbnail", "web", "large", "thumbnailWebp", "webWebp", "largeWebp"}
