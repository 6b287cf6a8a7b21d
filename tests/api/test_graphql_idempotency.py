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


COPY = """mutation($input: CopyImagesInput!) {
  copyImages(input: $input) { images { realtyImageId } property { imageCount } } }"""


def test_a_copy_whose_answer_could_not_be_read_after_it_is_answered_as_done_and_not_done_again(token):
    """Soak finding (bench/soak.py): copyImages read the target property after the copy had committed;
    when the database went away just then, the whole mutation answered SERVICE_UNAVAILABLE, so its
    Idempotency-Key was freed as if nothing had been done, and the client's retry copied everything a
    second time. The copies are the answer; the property is read only as a field of it."""
    from concurrent.futures import ThreadPoolExecutor

    from flask import Flask

    import graphql_api
    from adapters.change_signals import LocalChangeSignals
    from adapters.jwt_auth import JwtAuthenticator
    from core.api import bootstrap
    from core.commands import IssueGrant, SaveUploads, UploadedImage
    from core.ports import Caller
    from tests.conftest import JWT_SECRET
    from tests.fakes import (
        FakeClock, FakeInspector, InMemoryBlobStore, InMemoryDatabase, RecordingJobQueue, RecordingWebhookSender,
        SequentialIds, fake_image,
    )

    db, blobs, clock = InMemoryDatabase(), InMemoryBlobStore(), FakeClock()
    core = bootstrap(db, blobs, FakeInspector(), clock, SequentialIds(), RecordingJobQueue(clock),
                     LocalChangeSignals(), RecordingWebhookSender(), ThreadPoolExecutor(2))
    app = Flask(__name__)
    graphql_api.init_app(app, core, JwtAuthenticator(JWT_SECRET), max_file_bytes=1 << 20, max_files=1,
                         max_request_bytes=2 << 20)
    caller, source, target = Caller(sub="agent-1", org="org-a"), uuid.uuid4(), uuid.uuid4()
    keys = [core.bus.handle(IssueGrant(caller, "image/png")).key for _ in range(2)]
    for key in keys:
        blobs.objects[key] = fake_image("image/png", salt=key)
    core.bus.handle(SaveUploads(caller, source, [UploadedImage(key=key) for key in keys]))
    variables = {"input": {"sourcePropertyId": str(source), "targetPropertyId": str(target)}}
    headers = {"Idempotency-Key": str(uuid.uuid4())}

    db.down_after_commits = 2  # the key's claim, then the copy: down before the answer is read or kept
    first = post_graphql(app.test_client(), token, COPY, variables, headers=headers)
    db.down = False
    retried = post_graphql(app.test_client(), token, COPY, variables, headers=headers)

    copies = first.get_json()["data"]["copyImages"]["images"]
    assert len(copies) == 2, first.get_json()
    assert retried.get_json() == first.get_json(), "the first answer again"
    assert retried.headers.get("Idempotent-Replayed") == "true"
    assert len(core.views.realty(caller, target).images) == 2, "copied once"
