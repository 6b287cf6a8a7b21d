"""Credentials and tenancy over GraphQL (CONTRACT §2): 401 without a valid token, other orgs' objects
behave exactly like missing ones."""
from __future__ import annotations

import uuid

import pytest

from tests.conftest import JWT_SECRET
from tests.graphql_support import (
    SEED_MAP, bearer, create_property, create_room, data_of, global_id, post_graphql, post_multipart,
    property_images, single_error, upload_operations, upload_property_image, upload_room_image,
)
from tests.images import make_jpeg


@pytest.fixture
def app(shared_app):
    """The module's one app: every test here works on realties (properties) of its own."""
    return shared_app


QUERY = "{ property(id: \"eyJ0eXBlIjoiUHJvcGVydHkiLCJpZCI6MX0=\") { id } }"


def _assert_unauthenticated(response):
    assert response.status_code == 401
    error = single_error(response)
    assert error["extensions"] == {"code": "UNAUTHENTICATED"}
    assert error["message"]
    assert response.get_json() == {"errors": [error]}


@pytest.mark.parametrize("headers", [
    {},
    {"Authorization": "Bearer"},
    {"Authorization": "Bearer not-a-jwt"},
    {"Authorization": "Basic dXNlcjpwYXNz"},
    {"x-api-token": ""},
    {"x-api-token": "garbage"},
], ids=["none", "empty-bearer", "malformed", "basic", "empty-api-token", "garbage-api-token"])
def test_post_without_a_valid_credential_is_401(client, headers):
    _assert_unauthenticated(client.post("/graphql", json={"query": QUERY}, headers=headers))


def test_expired_and_wrongly_signed_tokens_are_401(client, make_token):
    # Expired longer ago than the clock-skew leeway (AUTH_JWT_LEEWAY, 30 s): within it a token still counts.
    for token in (make_token(ttl=-60), make_token(secret="another-secret-of-enough-length!!")):
        _assert_unauthenticated(post_graphql(client, token, QUERY))
        _assert_unauthenticated(client.post("/graphql", json={"query": QUERY}, headers={"x-api-token": token}))


@pytest.mark.parametrize("org, sub", [("org\u0000a", "agent"), ("org-\ud800", "agent"), ("org-a", "\udc00")],
                         ids=["nul-org", "surrogate-org", "surrogate-sub"])
def test_a_token_whose_org_or_sub_is_not_storable_text_is_401(client, make_token, org, sub):
    _assert_unauthenticated(post_graphql(client, make_token(org=org, sub=sub), QUERY))


def test_token_without_exp_is_401(client):
    import jwt

    token = jwt.encode({"sub": "agent", "org": "org-a"}, JWT_SECRET, algorithm="HS256")
    _assert_unauthenticated(post_graphql(client, token, QUERY))


def test_multipart_without_credential_is_401_before_reading_the_body(client):
    operations = upload_operations("createPropertyImage", "CreatePropertyImageInput",
                                   {"propertyId": global_id("Property", 1), "category": "GENERAL"})
    _assert_unauthenticated(post_multipart(client, None, operations, SEED_MAP, {"0": (make_jpeg(), "a.jpg")}))


def test_x_api_token_header_is_accepted(client, make_token):
    token = make_token(org="org-a")
    prop = create_property(client, token)
    response = client.post("/graphql", json={"query": "query($id: ID!) { property(id: $id) { id } }",
                                              "variables": {"id": prop["id"]}}, headers={"x-api-token": token})
    assert data_of(response) == {"property": {"id": prop["id"]}}


def test_org_defaults_to_sub(client, make_token):
    token_without_org = make_token(org=None, sub="solo-agent")
    prop = create_property(client, token_without_org)
    same_org = make_token(org="solo-agent", sub="someone-else")
    assert property_images(client, same_org, prop["id"]) == []
    assert property_images(client, make_token(org="org-b"), prop["id"]) is None


def test_explorer_needs_no_credential(client):
    response = client.get("/graphql")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert "graphiql" in response.get_data(as_text=True).lower()


def test_other_methods_answer_json_405(client, make_token):
    response = client.put("/graphql", json={"query": QUERY}, headers=bearer(make_token()))
    assert response.status_code == 405
    assert single_error(response)["extensions"]["code"] == "BAD_USER_INPUT"


# --- tenancy ------------------------------------------------------------------------------------


@pytest.fixture
def world(client, make_token):
    """org-a owns a property with a room, a property image and a room image; org-b owns nothing."""
    owner = make_token(org="org-a", sub="agent-a")
    prop = create_property(client, owner)
    room = create_room(client, owner, prop["id"])
    image = upload_property_image(client, owner, prop["id"], make_jpeg())
    room_image = upload_room_image(client, owner, room["id"], make_jpeg())
    return {"owner": owner, "stranger": make_token(org="org-b", sub="agent-b"), "property": prop, "room": room,
            "image": image, "room_image": room_image}


def _missing_ids(world):
    """Ids of the same types that name nothing at all."""
    def bump(value, type_name):
        import base64
        import json

        text = value.rstrip("=")
        number = json.loads(base64.b64decode(text + "=" * (-len(text) % 4)))["id"]
        return global_id(type_name, number + 1000)

    return {"property": bump(world["property"]["id"], "Property"), "room": bump(world["room"]["id"], "UnitType"),
            "image": bump(world["image"]["id"], "Image"), "realty_uuid": str(uuid.uuid4()),
            "image_uuid": str(uuid.uuid4())}


def test_queries_answer_null_for_foreign_ids_as_for_missing_ones(client, world):
    stranger, missing = world["stranger"], _missing_ids(world)
    cases = [
        ("property", world["property"]["id"], missing["property"]),
        ("property", world["property"]["realtyId"], missing["realty_uuid"]),
        ("room", world["room"]["id"], missing["room"]),
        ("image", world["image"]["id"], missing["image"]),
        ("image", world["image"]["realtyImageId"], missing["image_uuid"]),
        ("node", world["property"]["id"], missing["property"]),
        ("node", world["room"]["id"], missing["room"]),
        ("node", world["image"]["id"], missing["image"]),
    ]
    for field, foreign, absent in cases:
        query = f"query($id: ID!) {{ {field}(id: $id) {{ id }} }}"
        foreign_response = post_graphql(client, stranger, query, {"id": foreign})
        absent_response = post_graphql(client, stranger, query, {"id": absent})
        assert foreign_response.status_code == absent_response.status_code == 200
        assert foreign_response.get_json() == absent_response.get_json() == {"data": {field: None}}
        # ...while the owner sees it.
        assert data_of(post_graphql(client, world["owner"], query, {"id": foreign}))[field] is not None


MUTATIONS = {
    "createRoom": ("CreateRoomInput", lambda ids: {"propertyId": ids["property"], "name": "Hall"}, "room { id }"),
    "updateImage": ("UpdateImageInput", lambda ids: {"id": ids["image"], "hero": True}, "image { id }"),
    "deleteImage": ("DeleteImageInput", lambda ids: {"id": ids["image"]}, "success"),
    "reorderImages": ("ReorderImagesInput", lambda ids: {"propertyId": ids["property"], "imageIds": []},
                      "property { id }"),
    "publishImages": ("PublishImagesInput", lambda ids: {"propertyId": ids["property"]}, "property { id }"),
    "unpublishImages": ("UnpublishImagesInput", lambda ids: {"propertyId": ids["property"]}, "property { id }"),
    "copyImagesFromForeign": ("CopyImagesInput", lambda ids: {"sourcePropertyId": ids["property"],
                                                             "targetPropertyId": ids["own_property"]},
                              "property { id }"),
    "copyImagesToForeign": ("CopyImagesInput", lambda ids: {"sourcePropertyId": ids["own_property"],
                                                           "targetPropertyId": ids["property"]}, "property { id }"),
    "copyImagesToForeignUuid": ("CopyImagesInput", lambda ids: {"sourcePropertyId": ids["own_property"],
                                                               "targetPropertyId": ids["realty_uuid"]},
                                "property { id }"),
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_mutations_answer_the_same_error_for_foreign_and_missing_ids(client, world, name):
    input_type, make_input, selection = MUTATIONS[name]
    field = "copyImages" if name.startswith("copyImages") else name
    stranger = world["stranger"]
    own_property = create_property(client, stranger, "Stranger's own")
    foreign = {"property": world["property"]["id"], "image": world["image"]["id"], "own_property": own_property["id"],
               "realty_uuid": world["property"]["realtyId"]}
    missing_ids = _missing_ids(world)
    missing = {"property": missing_ids["property"], "image": missing_ids["image"], "own_property": own_property["id"],
               "realty_uuid": missing_ids["realty_uuid"]}
    query = f"mutation($input: {input_type}!) {{ {field}(input: $input) {{ {selection} }} }}"

    foreign_error = single_error(post_graphql(client, stranger, query, {"input": make_input(foreign)}))
    if name == "copyImagesToForeignUuid":
        # A realty UUID nobody has written comes into being for the caller (as over REST); one owned by
        # another org must not: it is refused like a missing global id.
        missing = {**missing, "realty_uuid": missing_ids["property"]}
    missing_error = single_error(post_graphql(client, stranger, query, {"input": make_input(missing)}))
    assert foreign_error == missing_error
    assert foreign_error["extensions"]["code"] == "NOT_FOUND"
    assert foreign_error["message"].startswith("input.") and foreign_error["message"].endswith(" is not exist")

    # Nothing of org-a changed.
    images = property_images(client, world["owner"], world["property"]["id"])
    assert [i["id"] for i in images] == [world["image"]["id"], world["room_image"]["id"]]
    assert [i["hero"] for i in images] == [False, False]
    assert [i["active"] for i in images] == [False, False]


@pytest.mark.parametrize("mutation, input_type, field", [
    ("createPropertyImage", "CreatePropertyImageInput", "propertyId"),
    ("createFloorPlanImage", "CreateFloorPlanImageInput", "propertyId"),
    ("createRoomImage", "CreateRoomImageInput", "roomId"),
])
def test_uploads_to_foreign_property_or_room_fail_like_missing_ones(client, world, mutation, input_type, field):
    stranger, missing = world["stranger"], _missing_ids(world)
    target = {"propertyId": world["property"]["id"], "roomId": world["room"]["id"]}[field]
    absent = {"propertyId": missing["property"], "roomId": missing["room"]}[field]
    extra = {"category": "GENERAL"} if mutation == "createPropertyImage" else {}
    errors = []
    for value in (target, absent, world["property"]["realtyId"] if field == "propertyId" else target):
        operations = upload_operations(mutation, input_type, {field: value, **extra})
        errors.append(single_error(post_multipart(client, stranger, operations, SEED_MAP,
                                                  {"0": (make_jpeg(), "x.jpg")})))
    assert errors[0] == errors[1] == errors[2]
    assert errors[0]["message"] == f"input.{field} is not exist"
    assert errors[0]["extensions"]["code"] == "NOT_FOUND"
    assert len(property_images(client, world["owner"], world["property"]["id"])) == 2


@pytest.mark.parametrize("bad_id", [
    "", "not-base64!", "eyJ0eXBlIjoiUHJvcGVydHkifQ", global_id("Image", 1), global_id("UnitType", 1),
    global_id("Property", 0), global_id("Property", -3), "e30=", "bnVsbA==",
], ids=["empty", "garbage", "no-id", "image-type", "room-type", "zero", "negative", "empty-object", "null"])
def test_undecodable_or_wrong_type_ids_are_missing_ids(client, make_token, bad_id):
    token = make_token()
    response = post_graphql(client, token, "query($id: ID!) { property(id: $id) { id } }", {"id": bad_id})
    assert response.get_json() == {"data": {"property": None}}
    response = post_graphql(client, token, """
        mutation($id: ID!) { createRoom(input: {propertyId: $id, name: "x"}) { room { id } } }""", {"id": bad_id})
    error = single_error(response)
    assert error["message"] == "input.propertyId is not exist"
    assert error["extensions"]["code"] == "NOT_FOUND"
