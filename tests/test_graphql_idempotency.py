"""GraphQL mutations retried with an Idempotency-Key (CONTRACT §8): the first answer again, done once."""
from __future__ import annotations

import threading
import uuid

import pytest

from tests.graphql_support import (
    SEED_MAP, create_property, data_of, post_graphql, post_multipart, property_images, single_error,
    upload_operations, upload_property_image,
)
from tests.images import make_jpeg

PUBLISH = """mutation($input: PublishImagesInput!) {
  publishImages(input: $input) { property { images { id active } } } }"""
DELETE = "mutation($input: DeleteImageInput!) { deleteImage(input: $input) { success } }"


@pytest.fixture
def app(shared_app):
    """The module's one app: every test here works on realties (properties) of its own."""
    return shared_app


@pytest.fixture
def prop(client, token):
    return create_property(client, token, "Retried")


def upload(client, token, prop, key: str | None, content: bytes):
    operations = upload_operations("createPropertyImage", "CreatePropertyImageInput",
                                   {"propertyId": prop["id"], "category": "GENERAL"},
                                   selection="image { id imageHash }")
    headers = {"Idempotency-Key": key} if key is not None else {}
    return post_multipart(client, token, operations, SEED_MAP, {"0": (content, "photo.jpg")}, headers=headers)


def test_a_retried_upload_makes_one_image(client, token, prop):
    key, photo = str(uuid.uuid4()), make_jpeg(30, 20)
    first = upload(client, token, prop, key, photo)
    assert "errors" not in first.get_json(), first.get_json()
    # A new multipart body (a new boundary), the same request.
    again = upload(client, token, prop, key, photo)
    assert again.status_code == 200 and again.get_data() == first.get_data()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(property_images(client, token, prop["id"])) == 1

    without_key = upload(client, token, prop, None, photo)
    assert "Idempotent-Replayed" not in without_key.headers
    assert len(property_images(client, token, prop["id"])) == 2, "without a key every request is new"


def test_a_key_reused_for_another_file_is_refused(client, token, prop):
    key = str(uuid.uuid4())
    data_of(upload(client, token, prop, key, make_jpeg(30, 20)))
    response = upload(client, token, prop, key, make_jpeg(31, 20))
    assert response.status_code == 400
    error = single_error(response)
    assert error["extensions"] == {"code": "BAD_USER_INPUT"} and "Idempotency-Key" in error["message"]
    assert len(property_images(client, token, prop["id"])) == 1


def test_two_identical_uploads_at_the_same_time_make_one_image(app, client, token, prop):
    key, photo = str(uuid.uuid4()), make_jpeg(40, 30)
    barrier = threading.Barrier(2)
    answers = []

    def send() -> None:
        own_client = app.test_client()
        barrier.wait()
        answers.append(upload(own_client, token, prop, key, photo))

    threads = [threading.Thread(target=send) for _ in range(2)]
    [t.start() for t in threads]
    [t.join(60) for t in threads]
    assert [a.status_code for a in answers] == [200, 200]
    assert answers[0].get_data() == answers[1].get_data()
    assert len(property_images(client, token, prop["id"])) == 1


def test_a_mutation_that_did_nothing_keeps_nothing(client, token, prop):
    """Deleting a published image is refused; once it is unpublished the same request, same key, works."""
    image = upload_property_image(client, token, prop["id"], make_jpeg(), "a.jpg")
    data_of(post_graphql(client, token, PUBLISH, {"input": {"propertyId": prop["id"]}}))
    key = str(uuid.uuid4())
    refused = post_graphql(client, token, DELETE, {"input": {"id": image["id"]}}, headers={"Idempotency-Key": key})
    assert single_error(refused)["extensions"] == {"code": "BAD_USER_INPUT"}
    data_of(post_graphql(client, token, """mutation($input: UnpublishImagesInput!) {
        unpublishImages(input: $input) { property { id } } }""", {"input": {"propertyId": prop["id"]}}))
    deleted = post_graphql(client, token, DELETE, {"input": {"id": image["id"]}}, headers={"Idempotency-Key": key})
    assert data_of(deleted) == {"deleteImage": {"success": True}}
    again = post_graphql(client, token, DELETE, {"input": {"id": image["id"]}}, headers={"Idempotency-Key": key})
    assert data_of(again) == {"deleteImage": {"success": True}}, "the first success, not 'no such image'"


def test_queries_ignore_the_key(client, token, prop):
    query = "query($id: ID!) { property(id: $id) { images { id } } }"
    key = str(uuid.uuid4())
    first = data_of(post_graphql(client, token, query, {"id": prop["id"]}, headers={"Idempotency-Key": key}))
    upload_property_image(client, token, prop["id"], make_jpeg(), "b.jpg")
    again = post_graphql(client, token, query, {"id": prop["id"]}, headers={"Idempotency-Key": key})
    assert len(data_of(again)["property"]["images"]) == len(first["property"]["images"]) + 1


@pytest.mark.parametrize("key", ["", " leading-space", "x" * 256, "ключ"], ids=["empty", "space", "long", "non-ascii"])
def test_a_key_that_cannot_name_a_request_is_400(client, token, prop, key):
    response = post_graphql(client, token, "mutation { createProperty(input: {name: \"x\"}) { property { id } } }",
                            headers={"Idempotency-Key": key.encode("utf-8").decode("latin-1")})
    assert response.status_code == 400
    assert single_error(response)["extensions"] == {"code": "BAD_USER_INPUT"}
