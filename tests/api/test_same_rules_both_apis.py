"""Both APIs accept and refuse the same texts and ids: the rules live in the core, each API only words
the refusal its own way (REST: 400 naming the field; GraphQL: BAD_USER_INPUT, `input.<field> ...`)."""
from __future__ import annotations

import uuid

import pytest

from tests.graphql_support import (
    SEED_MAP, create_property, data_of, post_graphql, post_multipart, single_error, upload_operations,
)
from tests.images import make_jpeg
from tests.rest_support import (  # noqa: F401 - fixtures
    assert_error, distinct_png, realty, rest,
)

UPDATE = "mutation($input: UpdateImageInput!) { updateImage(input: $input) { image { description } } }"


def graphql_upload(client, token, property_id, description):
    operations = upload_operations("createPropertyImage", "CreatePropertyImageInput",
                                   {"propertyId": property_id, "category": "GENERAL", "description": description},
                                   selection="image { id description }")
    return post_multipart(client, token, operations, SEED_MAP, {"0": (make_jpeg(16, 12), "a.jpg")})


@pytest.mark.parametrize("description, accepted", [
    ("d" * 4000, True), (" kept as given, spaces and all ", True), ("d" * 4001, False),
    ("a\x00b", False), ("\ud800", False),
])
def test_a_description_is_accepted_or_refused_alike(client, token, rest, realty, description, accepted):
    saved = rest.save(realty, [{"key": rest.upload(distinct_png(1)), "description": description}])
    [image] = rest.processed(realty) if accepted else [None]
    put = rest.update(realty, [{"realtyImageId": image["realtyImageId"], "description": description}]) \
        if accepted else None
    prop = create_property(client, token, "Rules")
    uploaded = graphql_upload(client, token, prop["id"], description)

    if accepted:
        assert saved.status_code == 201 and put.status_code == 200
        assert rest.images(realty)[0]["description"] == description
        assert data_of(uploaded)["createPropertyImage"]["image"]["description"] == description
        return
    body = assert_error(saved, 400, "BAD_REQUEST_BODY")
    assert [e["target"] for e in body["errors"]] == ["uploadedImages[0].description"]
    error = single_error(uploaded)
    assert error["extensions"]["code"] == "BAD_USER_INPUT" and error["message"].startswith("input.description ")


def test_an_image_update_words_a_refused_description_for_each_api(client, token, rest, realty):
    [image] = rest.add_images(realty, 1)
    put = rest.update(realty, [{"realtyImageId": image["realtyImageId"], "description": "d" * 4001}])
    assert [e["target"] for e in assert_error(put, 400, "BAD_REQUEST_BODY")["errors"]] == [
        "realtyImages[0].description"]
    error = single_error(post_graphql(client, token, UPDATE, {"input": {"id": image["graphqlId"],
                                                                        "description": "d" * 4001}}))
    assert error["message"] == "input.description may be at most 4000 characters long"
    assert rest.images(realty)[0]["description"] == image["description"]


SPELLINGS = {
    "canonical": lambda u: str(u),
    "upper case": lambda u: str(u).upper(),
    "32 hex digits": lambda u: u.hex,
    "braces": lambda u: "{" + str(u) + "}",
    "urn": lambda u: u.urn,
    "spaces": lambda u: f" {u} ",
}


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_a_realty_id_is_read_alike_in_every_spelling(client, token, rest, realty, spelling):
    rest.add_images(realty, 1)
    written = SPELLINGS[spelling](uuid.UUID(realty))
    accepted = spelling in ("canonical", "upper case")

    listed = rest.client.get(f"/realty/{written}/images", headers=rest.headers(with_request_id=False))
    found = data_of(post_graphql(client, token, "query($id: ID!) { property(id: $id) { realtyId } }",
                                 {"id": written}))["property"]
    if accepted:
        assert listed.status_code == 200 and found == {"realtyId": realty}
    else:
        assert_error(listed, 400, "BAD_REQUEST_PARAMETERS")
        assert found is None


@pytest.mark.parametrize("name, refusal", [
    ("", "input.name must not be empty"), ("   ", "input.name must not be empty"),
    ("n" * 256, "input.name may be at most 255 characters long"),
    ("a\x00b", "input.name must not contain a NUL character or an unpaired surrogate"),
])
def test_property_and_room_names_follow_the_cores_rules(client, token, name, refusal):
    created = post_graphql(client, token, "mutation($input: CreatePropertyInput!) { createProperty(input: $input) "
                                          "{ property { id } } }", {"input": {"name": name}})
    assert single_error(created)["message"] == refusal
    prop = create_property(client, token, "  Trimmed  ")
    room = post_graphql(client, token, "mutation($input: CreateRoomInput!) { createRoom(input: $input) "
                                       "{ room { id } } }", {"input": {"propertyId": prop["id"], "name": name}})
    assert single_error(room)["message"] == refusal
