"""A write whose answer is too large to keep is still done once (issue 20 #8): its retry is refused as
ALREADY_DONE in both APIs, never done again. IDEMPOTENT_ANSWER_MAX_BYTES is tiny here."""
from __future__ import annotations

import dataclasses
import uuid

import pytest

from tests.graphql_support import create_property, post_graphql, single_error
from tests.rest_support import RestCaller, distinct_png, request_id  # noqa: F401


@pytest.fixture
def settings(settings):
    return dataclasses.replace(settings, idempotent_answer_max_bytes=16)


def test_a_rest_copy_retried_after_a_large_answer_copies_once(client, make_token):
    rest = RestCaller(client, make_token(org="org-a"))
    source, target = str(uuid.uuid4()), str(uuid.uuid4())
    [key] = rest.upload_many([distinct_png(1)])
    assert rest.save(source, [{"key": key}]).status_code == 201
    rid = request_id()
    headers = rest.headers(False, **{"Request-ID": rid})
    body = {"sourceRealtyId": source}
    first = client.post(f"/realty/{target}/images/copy", json=body, headers=headers)
    assert first.status_code == 200
    again = client.post(f"/realty/{target}/images/copy", json=body, headers=headers)
    assert again.status_code == 409 and again.get_json()["errorCode"] == "ALREADY_DONE"
    assert "done already" in again.get_json()["message"]
    assert len(rest.images(target)) == 1, "copied once"


def test_a_graphql_mutation_retried_after_a_large_answer_is_done_once(client, token):
    prop = create_property(client, token, "Once")
    mutation = "mutation($input: CreateRoomInput!) { createRoom(input: $input) { room { id name } } }"
    variables = {"input": {"propertyId": prop["id"], "name": "Kitchen"}}
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    first = post_graphql(client, token, mutation, variables, headers=headers)
    assert "errors" not in first.get_json(), first.get_json()
    again = post_graphql(client, token, mutation, variables, headers=headers)
    error = single_error(again)
    assert again.status_code == 409 and error["extensions"]["code"] == "ALREADY_DONE"
    rooms = post_graphql(client, token, "query($id: ID!) { property(id: $id) { rooms { id } } }", {"id": prop["id"]})
    assert len(rooms.get_json()["data"]["property"]["rooms"]) == 1, "created once"
