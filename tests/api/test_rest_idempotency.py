"""REST writes retried with their Request-ID (CONTRACT §8): the first answer again, the work done once."""
from __future__ import annotations

import threading
import uuid

import pytest

from tests.rest_support import (  # noqa: F401 - fixtures
    RestCaller, assert_error, distinct_png, other_org, realty, request_id, rest, upload_to,
)


@pytest.fixture
def app(shared_app):
    """The module's one app: every test here works on realties (properties) of its own."""
    return shared_app


def send(rest: RestCaller, method: str, path: str, rid: str, body=None):
    return rest.client.open(path, method=method, json=body, headers=rest.headers(False, **{"Request-ID": rid}))


def test_a_save_whose_answer_was_lost_is_retried_safely(rest, realty):
    keys = rest.upload_many([distinct_png(1), distinct_png(2)])
    body = {"uploadedImages": [{"key": k} for k in keys]}
    rid = request_id()
    first = send(rest, "POST", f"/realty/{realty}/images", rid, body)
    assert first.status_code == 201, first.get_json()
    assert "Idempotent-Replayed" not in first.headers

    retried = send(rest, "POST", f"/realty/{realty}/images", rid, body)
    assert retried.status_code == 201
    assert retried.get_data() == first.get_data(), "the first answer, byte for byte"
    assert retried.headers["Idempotent-Replayed"] == "true"
    assert retried.headers["Request-ID"] == rid
    assert len(rest.images(realty)) == 2, "not saved twice"

    # The same id in capitals is the same id (as everywhere in this API).
    assert send(rest, "POST", f"/realty/{realty}/images", rid.upper(), body).get_data() == first.get_data()


def test_the_same_body_spelled_differently_is_the_same_request(rest, realty):
    [key] = rest.upload_many([distinct_png(3)])
    rid = request_id()
    first = rest.client.post(f"/realty/{realty}/images", data=f'{{"uploadedImages": [{{"key": "{key}"}}]}}',
                             content_type="application/json", headers=rest.headers(False, **{"Request-ID": rid}))
    again = rest.client.post(f"/realty/{realty}/images", data=f'{{ "uploadedImages":[ {{ "key":"{key}" }} ] }}',
                             content_type="application/json", headers=rest.headers(False, **{"Request-ID": rid}))
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["Idempotent-Replayed"] == "true"


@pytest.mark.parametrize("change", ["body", "operation", "realty"])
def test_a_request_id_reused_for_another_request_is_refused(rest, realty, change):
    [image] = rest.add_images(realty, 1)
    rid = request_id()
    publish = {"realtyImageIds": [image["realtyImageId"]]}
    assert send(rest, "POST", f"/realty/{realty}/images/publish", rid, publish).status_code == 200
    other = {
        "body": ("POST", f"/realty/{realty}/images/publish", {}),
        "operation": ("POST", f"/realty/{realty}/images/unpublish", publish),
        "realty": ("POST", f"/realty/{uuid.uuid4()}/images/publish", publish),
    }[change]
    response = send(rest, other[0], other[1], rid, other[2])
    body = assert_error(response, 400, "BAD_REQUEST_PARAMETERS")
    assert [e["target"] for e in body["errors"]] == ["Request-ID"]
    assert response.headers["Request-ID"] == rid


def test_a_refused_write_keeps_nothing_so_it_can_be_sent_again(rest, realty):
    """The client saved before its upload arrived: nothing was done, so once the file is there the very
    same request, Request-ID and all, is done."""
    grant = rest.grant().get_json()
    rid = request_id()
    body = {"uploadedImages": [{"key": grant["fields"]["key"]}]}
    refused = assert_error(send(rest, "POST", f"/realty/{realty}/images", rid, body), 400, "BAD_REQUEST_BODY")
    assert [e["errorCode"] for e in refused["errors"]] == ["VALUE_REQUIRED"]

    upload_to(rest.client, grant, distinct_png(9))
    saved = send(rest, "POST", f"/realty/{realty}/images", rid, body)
    assert saved.status_code == 201 and "Idempotent-Replayed" not in saved.headers
    assert len(rest.images(realty)) == 1


def test_request_ids_belong_to_an_org(rest, other_org, realty):
    rid = request_id()
    [key_a] = rest.upload_many([distinct_png(4)])
    [key_b] = other_org.upload_many([distinct_png(5)])
    target_b = str(uuid.uuid4())
    assert send(rest, "POST", f"/realty/{realty}/images", rid, {"uploadedImages": [{"key": key_a}]}).status_code == 201
    answer = send(other_org, "POST", f"/realty/{target_b}/images", rid, {"uploadedImages": [{"key": key_b}]})
    assert answer.status_code == 201 and "Idempotent-Replayed" not in answer.headers


@pytest.mark.parametrize("operation", ["delete", "copy", "put", "unpublish"])
def test_every_write_is_done_once(rest, realty, operation):
    images = rest.add_images(realty, 2)
    target = str(uuid.uuid4())
    method, path, body = {
        "delete": ("DELETE", f"/realty/{realty}/images/{images[0]['realtyImageId']}", None),
        "copy": ("POST", f"/realty/{target}/images/copy", {"sourceRealtyId": realty}),
        "put": ("PUT", f"/realty/{realty}/images",
                {"realtyImages": [{"realtyImageId": i["realtyImageId"]} for i in reversed(images)]}),
        "unpublish": ("POST", f"/realty/{realty}/images/unpublish", {}),
    }[operation]
    rid = request_id()
    first = send(rest, method, path, rid, body)
    assert first.status_code == 200, first.get_json()
    again = send(rest, method, path, rid, body)
    assert (again.status_code, again.get_json()) == (200, first.get_json())
    assert again.headers["Idempotent-Replayed"] == "true"
    if operation == "delete":
        assert len(rest.images(realty)) == 1  # not a 404 for the second delete
    if operation == "copy":
        assert len(rest.images(target)) == 2, "copied once"


def test_two_identical_saves_at_the_same_time_save_once(app, rest, realty):
    keys = rest.upload_many([distinct_png(n) for n in range(10, 16)])
    body = {"uploadedImages": [{"key": k} for k in keys]}
    rid = request_id()
    barrier = threading.Barrier(2)
    answers = []

    def save() -> None:
        caller = RestCaller(app.test_client(), rest.token)
        barrier.wait()
        answers.append(send(caller, "POST", f"/realty/{realty}/images", rid, body))

    threads = [threading.Thread(target=save) for _ in range(2)]
    [t.start() for t in threads]
    [t.join(60) for t in threads]
    assert [a.status_code for a in answers] == [201, 201], [a.get_json() for a in answers]
    assert answers[0].get_data() == answers[1].get_data()
    assert sorted(a.headers.get("Idempotent-Replayed", "no") for a in answers) == ["no", "true"]
    assert len(rest.images(realty)) == 6


def test_records_of_writes_are_expired_by_gc(app, rest, realty):
    rest.add_images(realty, 1)
    result = app.test_cli_runner().invoke(args=["gc"])
    assert result.exit_code == 0 and "'expired_requests': 0" in result.output
