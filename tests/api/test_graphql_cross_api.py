"""One core, two APIs (CONTRACT §5): what REST does, GraphQL sees, and the other way round.

REST is called exactly as a client would, through the Flask test client with a bearer token and a
fresh Request-ID per call, on the routes of CONTRACT §3.
"""
from __future__ import annotations

import hashlib
import io
import uuid
from urllib.parse import urlsplit

import pytest

from tests.core_support import fill
from tests.graphql_support import (
    PROPERTY_IMAGES_QUERY, SEED_MAP, create_property, create_room, data_of, post_graphql, post_multipart,
    property_images, rest_headers, single_error, upload_operations, upload_property_image, upload_room_image,
)
from tests.images import make_jpeg, make_png, make_webp


# --- REST, as a client calls it ------------------------------------------------------------------


def _local(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def rest_upload(client, token, content: bytes, content_type: str) -> str:
    grant = client.get(f"/uploadGrants?type={content_type}", headers=rest_headers(token))
    assert grant.status_code == 200, grant.get_data(as_text=True)
    grant = grant.get_json()
    form = dict(grant["fields"])
    form["file"] = (io.BytesIO(content), "upload")
    response = client.post(_local(grant["url"]), data=form, content_type="multipart/form-data")
    assert 200 <= response.status_code < 300, response.get_data(as_text=True)
    return grant["fields"]["key"]


def rest_save(client, token, realty_id: str, items: list[dict]) -> list[dict]:
    response = client.post(f"/realty/{realty_id}/images", json={"uploadedImages": items}, headers=rest_headers(token))
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()["realtyImages"]


def rest_list(client, token, realty_id: str) -> list[dict]:
    response = client.get(f"/realty/{realty_id}/images", headers=rest_headers(token))
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["realtyImages"]


def rest_ok(response) -> None:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == {}


# --- REST → GraphQL ------------------------------------------------------------------------------


def test_images_written_over_rest_are_seen_over_graphql(client, token):
    realty_id = str(uuid.uuid4())
    contents = [make_jpeg(30, 20), make_png(20, 30), make_webp(24, 24)]
    keys = [rest_upload(client, token, contents[0], "image/jpeg"), rest_upload(client, token, contents[1], "image/png"),
            rest_upload(client, token, contents[2], "image/webp")]
    saved = rest_save(client, token, realty_id, [
        {"key": keys[0], "originalFileName": "front.jpg", "category": "BUILDING_EXTERIOR", "hero": True,
         "description": "Front"},
        {"key": keys[1], "originalFileName": "plan.png", "category": "MAP"},
        {"key": keys[2], "category": "ROOM"},
    ])

    # A realty created over REST is a property over GraphQL, addressed by its UUID.
    data = data_of(post_graphql(client, token, PROPERTY_IMAGES_QUERY, {"id": realty_id}))["property"]
    assert data["realtyId"] == realty_id
    images = data["images"]
    assert [i["realtyImageId"] for i in images] == [s["realtyImageId"] for s in saved]
    assert [i["id"] for i in images] == [s["graphqlId"] for s in saved]
    assert [i["imageHash"] for i in images] == [hashlib.md5(c).hexdigest() for c in contents]
    assert [i["hero"] for i in images] == [True, False, False]
    assert [i["category"] for i in images] == ["BUILDING_EXTERIOR", "MAP", "ROOM"]
    assert [i["type"] for i in images] == ["PROPERTY_IMAGE", "PROPERTY_IMAGE", "ROOM_IMAGE"]
    assert [(i["active"], i["status"]) for i in images] == [(False, "EXTERNAL_NEW")] * 3
    assert images[0]["description"] == "Front" and images[0]["originalFileName"] == "front.jpg"
    # ...and by its global id too.
    assert property_images(client, token, data["id"]) == images

    # Reorder over REST.
    new_order = [saved[2], saved[0], saved[1]]
    rest_ok(client.put(f"/realty/{realty_id}/images", headers=rest_headers(token),
                       json={"realtyImages": [{"realtyImageId": s["realtyImageId"]} for s in new_order]}))
    images = property_images(client, token, realty_id)
    assert [i["realtyImageId"] for i in images] == [s["realtyImageId"] for s in new_order]
    assert [i["position"] for i in images] == [0, 1, 2]

    # Publish one, then all, over REST.
    rest_ok(client.post(f"/realty/{realty_id}/images/publish", headers=rest_headers(token),
                        json={"realtyImageIds": [saved[1]["realtyImageId"]]}))
    states = {i["realtyImageId"]: (i["active"], i["status"]) for i in property_images(client, token, realty_id)}
    assert states[saved[1]["realtyImageId"]] == (True, "APPROVED")
    assert states[saved[0]["realtyImageId"]] == (False, "EXTERNAL_NEW")

    # Unpublish and delete over REST.
    rest_ok(client.post(f"/realty/{realty_id}/images/unpublish", headers=rest_headers(token), json={}))
    assert not any(i["active"] for i in property_images(client, token, realty_id))
    rest_ok(client.delete(f"/realty/{realty_id}/images/{saved[0]['realtyImageId']}", headers=rest_headers(token)))
    images = property_images(client, token, realty_id)
    assert [i["realtyImageId"] for i in images] == [saved[2]["realtyImageId"], saved[1]["realtyImageId"]]
    gone = post_graphql(client, token, "query($id: ID!) { image(id: $id) { id } }", {"id": saved[0]["graphqlId"]})
    assert data_of(gone) == {"image": None}

    # Copy over REST into a property created over GraphQL.
    target = create_property(client, token, "Copy target")
    rest_ok(client.post(f"/realty/{target['realtyId']}/images/copy", headers=rest_headers(token),
                        json={"sourceRealtyId": realty_id}))
    copies = property_images(client, token, target["id"])
    assert [c["imageHash"] for c in copies] == [i["imageHash"] for i in images]
    assert {c["id"] for c in copies}.isdisjoint({i["id"] for i in images})


def test_rest_realty_ids_of_another_org_are_null_over_graphql(client, token, make_token):
    realty_id = str(uuid.uuid4())
    key = rest_upload(client, token, make_jpeg(), "image/jpeg")
    saved = rest_save(client, token, realty_id, [{"key": key}])
    stranger = make_token(org="org-b")
    for field, ref in (("property", realty_id), ("image", saved[0]["realtyImageId"]), ("image", saved[0]["graphqlId"])):
        response = post_graphql(client, stranger, f"query($id: ID!) {{ {field}(id: $id) {{ id }} }}", {"id": ref})
        assert response.get_json() == {"data": {field: None}}


# --- GraphQL → REST ------------------------------------------------------------------------------


def test_images_written_over_graphql_are_seen_over_rest(client, token):
    prop = create_property(client, token, "GraphQL-made")
    room = create_room(client, token, prop["id"], "Kitchen")
    contents = [make_jpeg(40, 30), make_png(30, 40), make_jpeg(10, 10)]
    first = upload_property_image(client, token, prop["id"], contents[0], "a.jpg", category="GENERAL", hero=True)
    second = upload_room_image(client, token, room["id"], contents[1], "b.png")
    third = upload_property_image(client, token, prop["id"], contents[2], "c.jpg", category="SPECIFIC")
    made = [first, second, third]

    items = rest_list(client, token, prop["realtyId"])
    assert [i["graphqlId"] for i in items] == [m["id"] for m in made]
    assert [i["realtyImageId"] for i in items] == [m["realtyImageId"] for m in made]
    assert [i["imageHash"] for i in items] == [hashlib.md5(c).hexdigest() for c in contents]
    assert [i["published"] for i in items] == [m["active"] for m in made] == [False, False, False]
    assert [i["hero"] for i in items] == [True, False, False]
    assert [i["category"] for i in items] == ["GENERAL", "ROOM", "SPECIFIC"]
    assert [i["originalFileName"] for i in items] == ["a.jpg", "b.png", "c.jpg"]
    assert [i["fileSize"] for i in items] == [len(c) for c in contents]
    assert client.get(_local(items[1]["url"])).data == contents[1]

    # Reorder over GraphQL.
    order = [third["id"], first["id"], second["id"]]
    data_of(post_graphql(client, token, """mutation($input: ReorderImagesInput!) {
        reorderImages(input: $input) { property { id } } }""", {"input": {"propertyId": prop["id"], "imageIds": order}}))
    assert [i["graphqlId"] for i in rest_list(client, token, prop["realtyId"])] == order

    # Update over GraphQL.
    data_of(post_graphql(client, token, """mutation($input: UpdateImageInput!) {
        updateImage(input: $input) { image { id } } }""",
                         {"input": {"id": third["id"], "hero": True, "description": "Sunset", "category": "MAP"}}))
    items = {i["graphqlId"]: i for i in rest_list(client, token, prop["realtyId"])}
    assert (items[third["id"]]["hero"], items[third["id"]]["description"], items[third["id"]]["category"]) == (
        True, "Sunset", "MAP")
    assert items[first["id"]]["hero"] is False

    # Publish over GraphQL.
    data_of(post_graphql(client, token, """mutation($input: PublishImagesInput!) {
        publishImages(input: $input) { property { id } } }""", {"input": {"propertyId": prop["id"],
                                                                          "imageIds": [first["id"], second["id"]]}}))
    items = rest_list(client, token, prop["realtyId"])
    graphql = {i["id"]: i["active"] for i in property_images(client, token, prop["id"])}
    assert [i["published"] for i in items] == [graphql[i["graphqlId"]] for i in items] == [False, True, True]

    # A published image cannot be deleted over REST either.
    response = client.delete(f"/realty/{prop['realtyId']}/images/{first['realtyImageId']}", headers=rest_headers(token))
    assert response.status_code == 400
    assert response.get_json()["errorCode"] == "INVALID_STATUS"

    # Unpublish and delete over GraphQL.
    data_of(post_graphql(client, token, """mutation($input: UnpublishImagesInput!) {
        unpublishImages(input: $input) { property { id } } }""", {"input": {"propertyId": prop["id"]}}))
    assert not any(i["published"] for i in rest_list(client, token, prop["realtyId"]))
    data_of(post_graphql(client, token, "mutation($input: DeleteImageInput!) { deleteImage(input: $input) { success } }",
                         {"input": {"id": first["id"]}}))
    assert [i["graphqlId"] for i in rest_list(client, token, prop["realtyId"])] == [third["id"], second["id"]]

    # Copy over GraphQL to a realty UUID nobody has written yet: REST sees it come into being.
    new_realty = str(uuid.uuid4())
    data_of(post_graphql(client, token, """mutation($input: CopyImagesInput!) {
        copyImages(input: $input) { property { id } } }""", {"input": {"sourcePropertyId": prop["id"],
                                                                       "targetPropertyId": new_realty}}))
    copies = rest_list(client, token, new_realty)
    assert [c["imageHash"] for c in copies] == [hashlib.md5(contents[2]).hexdigest(), hashlib.md5(contents[1]).hexdigest()]


def test_the_200_image_cap_counts_both_apis(app, client, token):
    prop = create_property(client, token)
    fill(app, prop["realtyId"], 198)  # through the app's own service: the cap is proven in the core
    small = make_png(4, 4)
    rest_save(client, token, prop["realtyId"], [{"key": rest_upload(client, token, small, "image/png")}])
    upload_property_image(client, token, prop["id"], make_jpeg(4, 4))  # the 200th, over GraphQL

    key = rest_upload(client, token, small, "image/png")
    response = client.post(f"/realty/{prop['realtyId']}/images", json={"uploadedImages": [{"key": key}]},
                           headers=rest_headers(token))
    assert response.status_code == 400
    assert response.get_json()["errorCode"] == "BAD_REQUEST_BODY"
    operations = upload_operations("createPropertyImage", "CreatePropertyImageInput",
                                   {"propertyId": prop["id"], "category": "GENERAL"})
    error = single_error(post_multipart(client, token, operations, SEED_MAP, {"0": (make_jpeg(4, 4), "x.jpg")}))
    assert error["extensions"]["code"] == "BAD_USER_INPUT" and "200" in error["message"]
    assert len(rest_list(client, token, prop["realtyId"])) == 200
