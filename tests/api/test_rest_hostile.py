"""A hostile caller against the REST facade (CONTRACT §3): inputs that are valid HTTP and (mostly) valid
JSON but that a parser, a database driver or a lenient field would choke on. Each must be a 4xx in the
contract's envelope with the Request-ID echoed, never a 500, and must leave nothing behind."""
from __future__ import annotations

import uuid

import pytest

from tests.rest_support import (  # noqa: F401 - fixtures
    assert_error, distinct_png, error_targets, other_org, realty, request_id, rest,
)


@pytest.fixture
def app(shared_app):
    """The module's one app: every test here writes only to realties of its own."""
    return shared_app


# --- JSON the parser cannot turn into Python objects ------------------------------------------------

UNPARSABLE_JSON = [
    # Nested deeper than Python's recursion limit: json.loads raises RecursionError, not JSONDecodeError.
    pytest.param("[" * 100_000 + "]" * 100_000, id="deeply-nested"),
    pytest.param('{"uploadedImages": ' + "[" * 50_000, id="deeply-nested-unterminated"),
    # Longer than sys.get_int_max_str_digits(): json.loads raises a plain ValueError.
    pytest.param('{"uploadedImages": [{"key": "k", "hero": 1' + "0" * 5000 + "}]}", id="huge-integer"),
]


@pytest.mark.parametrize("path", ["images", "images/publish", "images/copy"])
@pytest.mark.parametrize("raw", UNPARSABLE_JSON)
def test_unparsable_json_is_400_bad_request_body(rest, realty, path, raw):
    rid = request_id()
    rest.add_images(realty, 1)

    response = rest.client.post(f"/realty/{realty}/{path}", data=raw, content_type="application/json",
                                headers=rest.headers(False, **{"Request-ID": rid}))

    assert_error(response, 400, "BAD_REQUEST_BODY")
    assert error_targets(response) == ["body"]
    assert response.headers["Request-ID"] == rid
    assert [i["published"] for i in rest.images(realty)] == [False]


# JSON with a member name twice is legal to most parsers, which keep one of the values silently (Python:
# the last). Which one a proxy, a WAF or a log reader keeps is anyone's guess, so the request is refused.
DUPLICATE_MEMBERS = [
    pytest.param("images/publish", '{"realtyImageIds": ["%(id)s"], "realtyImageIds": []}', id="publish"),
    pytest.param("images/copy", '{"sourceRealtyId": "%(id)s", "sourceRealtyId": "%(id)s"}', id="copy"),
    pytest.param("images", '{"uploadedImages": [{"key": "k", "key": "k2"}]}', id="nested"),
]


@pytest.mark.parametrize("path, raw", DUPLICATE_MEMBERS)
def test_duplicate_json_member_names_are_refused(rest, realty, path, raw):
    [image] = rest.add_images(realty, 1)

    response = rest.client.post(f"/realty/{realty}/{path}", data=raw % {"id": image["realtyImageId"]},
                                content_type="application/json", headers=rest.headers())

    assert_error(response, 400, "BAD_REQUEST_BODY")
    assert error_targets(response) == ["body"]
    assert rest.images(realty)[0]["published"] is False


def test_a_utf8_body_is_read_as_utf8_and_nothing_else(rest, realty):
    [image] = rest.add_images(realty, 1)
    body = '{"realtyImages": [{"realtyImageId": "%s", "description": "Keittiö"}]}' % image["realtyImageId"]

    assert rest.client.put(f"/realty/{realty}/images", data=body.encode("utf-8"), content_type="application/json",
                           headers=rest.headers()).status_code == 200
    for encoded in (body.encode("utf-16"), body.encode("latin-1")):
        response = rest.client.put(f"/realty/{realty}/images", data=encoded, content_type="application/json",
                                   headers=rest.headers())
        assert_error(response, 400, "BAD_REQUEST_BODY")
    assert rest.images(realty)[0]["description"] == "Keittiö"


# --- strings no database can store ---------------------------------------------------------------

# Valid JSON escapes that decode to a NUL (PostgreSQL text refuses it) or to a lone UTF-16 surrogate
# (no UTF-8 encoder accepts it: SQLite and psycopg2 both raise).
UNSTORABLE = [pytest.param(r"a\u0000b", id="nul"), pytest.param(r"\ud800", id="lone-surrogate"),
              pytest.param(r"x\udfffy", id="lone-low-surrogate")]


@pytest.mark.parametrize("field", ["description", "originalFileName"])
@pytest.mark.parametrize("escaped", UNSTORABLE)
def test_save_refuses_unstorable_text(rest, realty, field, escaped):
    rest.add_images(realty, 1)
    key = rest.upload(distinct_png(31))

    raw = '{"uploadedImages": [{"key": "%s", "%s": "%s"}]}' % (key, field, escaped)
    response = rest.client.post(f"/realty/{realty}/images", data=raw, content_type="application/json",
                                headers=rest.headers())

    errors = assert_error(response, 400, "BAD_REQUEST_BODY")["errors"]
    assert f"uploadedImages[0].{field}" in [e["target"] for e in errors], errors
    assert len(rest.images(realty)) == 1
    # The upload was not consumed: the same key saves fine with clean text.
    assert len(rest.save_ok(realty, [{"key": key, field: "clean"}])) == 1


@pytest.mark.parametrize("escaped", UNSTORABLE)
def test_save_refuses_an_unstorable_key(rest, realty, escaped):
    raw = '{"uploadedImages": [{"key": "uploads/%s"}]}' % escaped
    response = rest.client.post(f"/realty/{realty}/images", data=raw, content_type="application/json",
                                headers=rest.headers())

    errors = assert_error(response, 400, "BAD_REQUEST_BODY")["errors"]
    assert "uploadedImages[0].key" in [e["target"] for e in errors], errors
    assert_error(rest.list(realty), 404, "INVALID_ID")


@pytest.mark.parametrize("escaped", UNSTORABLE)
def test_put_refuses_unstorable_text(rest, realty, escaped):
    [image] = rest.add_images(realty, 1)

    raw = '{"realtyImages": [{"realtyImageId": "%s", "description": "%s"}]}' % (image["realtyImageId"], escaped)
    response = rest.client.put(f"/realty/{realty}/images", data=raw, content_type="application/json",
                               headers=rest.headers())

    errors = assert_error(response, 400, "BAD_REQUEST_BODY")["errors"]
    assert "realtyImages[0].description" in [e["target"] for e in errors], errors
    assert rest.images(realty)[0]["description"] is None


def test_ordinary_unicode_text_is_kept(rest, realty):
    text = "Keittiö ✓ 😀 \t tab, ünïcödé"
    key = rest.upload(distinct_png(32))

    [saved] = rest.save_ok(realty, [{"key": key, "description": text, "originalFileName": "kuva 😀.png"}])

    assert saved["description"] == text
    assert rest.images(realty)[0]["originalFileName"] == "kuva 😀.png"


# --- UUIDs: the canonical 8-4-4-4-12 form only ---------------------------------------------------

SOME_UUID = "ddc25849-7bc7-43c0-9c3b-602cb03f7806"
# Python's uuid.UUID() reads all of these, but none is the UUID text form the contract and the seed
# (`string <uuid>`, pattern `^[0-9a-f]{8}-[0-9a-f]{4}-...`) describe.
NON_CANONICAL = [
    pytest.param(SOME_UUID.replace("-", ""), id="no-hyphens"),
    pytest.param("{" + SOME_UUID + "}", id="braces"),
    pytest.param("urn:uuid:" + SOME_UUID, id="urn"),
    pytest.param(SOME_UUID[:8] + SOME_UUID[9:], id="missing-one-hyphen"),
    pytest.param(SOME_UUID[:7] + "-" + SOME_UUID[7] + SOME_UUID[9:], id="misplaced-hyphen"),
]


@pytest.mark.parametrize("value", NON_CANONICAL)
def test_request_id_must_be_a_canonical_uuid(rest, value):
    response = rest.client.get("/uploadGrants?type=image/png", headers=rest.headers(False, **{"Request-ID": value}))

    body = assert_error(response, 400, "BAD_REQUEST_PARAMETERS")
    assert [(e["target"], e["errorCode"]) for e in body["errors"]] == [("Request-ID", "INVALID_TYPE")]
    assert response.headers["Request-ID"] == value


@pytest.mark.parametrize("value", NON_CANONICAL)
def test_path_ids_must_be_canonical_uuids(rest, realty, value):
    [image] = rest.add_images(realty, 1)

    for response, target in ((rest.list(value), "realtyId"),
                             (rest.delete(realty, value), "realtyImageId")):
        body = assert_error(response, 400, "BAD_REQUEST_PARAMETERS")
        assert [(e["target"], e["errorCode"]) for e in body["errors"]] == [(target, "INVALID_TYPE")]
    assert rest.ids(realty) == [image["realtyImageId"]]


@pytest.mark.parametrize("value", NON_CANONICAL)
def test_body_ids_must_be_canonical_uuids(rest, realty, value):
    rest.add_images(realty, 1)

    cases = (
        (rest.copy(str(uuid.uuid4()), value), "sourceRealtyId"),
        (rest.publish(realty, [value]), "realtyImageIds[0]"),
        (rest.update(realty, [{"realtyImageId": value}]), "realtyImages[0].realtyImageId"),
    )
    for response, target in cases:
        errors = assert_error(response, 400, "BAD_REQUEST_BODY")["errors"]
        assert (target, "INVALID_TYPE") in [(e["target"], e["errorCode"]) for e in errors], errors


def test_uppercase_uuids_are_the_same_ids(rest, realty):
    [image] = rest.add_images(realty, 1)
    upper_realty, upper_image = realty.upper(), image["realtyImageId"].upper()

    assert [i["realtyImageId"] for i in rest.images(upper_realty)] == [image["realtyImageId"]]
    assert rest.publish(upper_realty, [upper_image]).status_code == 200
    assert rest.client.get("/uploadGrants?type=image/png",
                           headers=rest.headers(False, **{"Request-ID": SOME_UUID.upper()})).status_code == 200


# --- arrays beyond what any realty can hold ------------------------------------------------------

@pytest.mark.parametrize("action", ["publish", "unpublish"])
def test_publication_lists_are_bounded_like_every_other_list(rest, realty, action):
    [image] = rest.add_images(realty, 1)

    # More ids than a realty can ever hold: refused for its size, before anything is looked up.
    response = rest.publish(realty, [str(uuid.uuid4()) for _ in range(201)], action=action)

    errors = assert_error(response, 400, "BAD_REQUEST_BODY")["errors"]
    assert [e["target"] for e in errors] == ["realtyImageIds"], errors
    assert rest.publish(realty, [image["realtyImageId"]] * 200, action=action).status_code == 200


# A body under the 8 MiB limit can still hold a million array items or object members. Refusing it must
# cost about as much as reading it: one error for an overlong array, a bounded errors[] for the rest.

@pytest.mark.parametrize("method, path, body, target", [
    ("POST", "images", {"uploadedImages": [{}] * 100_000}, "uploadedImages"),
    ("PUT", "images", {"realtyImages": [{"realtyImageId": 1}] * 100_000}, "realtyImages"),
    ("POST", "images/publish", {"realtyImageIds": [1] * 100_000}, "realtyImageIds"),
])
def test_an_overlong_array_is_one_error_not_one_per_item(rest, realty, method, path, body, target):
    rest.add_images(realty, 1)

    response = rest.client.open(f"/realty/{realty}/{path}", method=method, json=body, headers=rest.headers())

    errors = assert_error(response, 400, "BAD_REQUEST_BODY")["errors"]
    assert [e["target"] for e in errors] == [target], errors[:3]


def test_the_errors_list_is_bounded(rest, realty):
    body = {"uploadedImages": [{"key": 1, "hero": "yes", "category": "KITCHEN"}] * 200}  # 600 errors

    response = rest.client.post(f"/realty/{realty}/images", json=body, headers=rest.headers())

    error = assert_error(response, 400, "BAD_REQUEST_BODY")
    assert len(error["errors"]) == 200
    assert {e["target"] for e in error["errors"][:3]} == {f"uploadedImages[0].{f}" for f in ("key", "hero", "category")}
    assert "400 further errors are not listed" in error["description"]


@pytest.mark.parametrize("path, body", [
    ("images/copy", {f"unknown{n}": 0 for n in range(5000)}),
    ("images", {"uploadedImages": [{"key": "k", **{f"unknown{n}": 0 for n in range(5000)}}]}),
])
def test_an_object_with_thousands_of_members_is_one_error(rest, realty, path, body):
    rest.add_images(realty, 1)

    response = rest.client.post(f"/realty/{realty}/{path}", json=body, headers=rest.headers())

    errors = assert_error(response, 400, "BAD_REQUEST_BODY")["errors"]
    assert [e["target"] for e in errors] == ["body"], errors[:3]


# --- OpenAPI: the Request-ID echo is documented on error answers too ------------------------------

def test_error_responses_document_the_echoed_request_id(client):
    spec = client.get("/openapi.json").get_json()
    responses = spec["components"]["responses"]
    checked = 0
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method not in {"get", "put", "post", "delete"}:
                continue
            for status, response in operation["responses"].items():
                if "$ref" in response:
                    response = responses[response["$ref"].rsplit("/", 1)[1]]
                assert "Request-ID" in response.get("headers", {}), (path, method, status)
                assert response["headers"]["Request-ID"]["schema"]["format"] == "uuid"
                checked += 1
    assert checked >= 8 * 5


# --- bodies without a length ----------------------------------------------------------------------

def test_a_chunked_body_over_the_limit_is_413_not_invalid_json(app, make_token):
    """Without Content-Length the limit is only met while reading: a body cut at the limit is not "invalid
    JSON", it is too large. Over real HTTP, since only a server sends a body in chunks."""
    import threading

    import requests
    from werkzeug.serving import make_server

    from rest_api.parsing import MAX_JSON_BODY
    from tests.servers import SHUTDOWN_POLL

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(SHUTDOWN_POLL,), daemon=True)
    thread.start()

    def chunked(body: bytes):
        for start in range(0, len(body), 64 * 1024):
            yield body[start:start + 64 * 1024]

    try:
        url = f"http://127.0.0.1:{server.server_port}/realty/{uuid.uuid4()}/images"
        headers = {"Authorization": f"Bearer {make_token()}", "Content-Type": "application/json"}
        small = b'{"uploadedImages": [{"key": "uploads/none"}]}'
        response = requests.post(url, data=chunked(small), headers={**headers, "Request-ID": request_id()}, timeout=30)
        assert response.status_code == 400, response.text  # read whole: the key is the problem
        assert response.json()["errors"][0]["target"] == "uploads/none"

        large = b'{"uploadedImages": [{"key": "' + b"k" * MAX_JSON_BODY + b'"}]}'
        rid = request_id()
        response = requests.post(url, data=chunked(large), headers={**headers, "Request-ID": rid}, timeout=30)
        assert response.status_code == 413, response.text
        assert response.json()["errorCode"] == "PAYLOAD_TOO_LARGE"
        assert response.headers["Request-ID"] == rid
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


# --- outages -------------------------------------------------------------------------------------

def test_database_outage_is_503_without_driver_details(settings, tmp_path, make_token, caplog):
    """A real outage (the SQLite file replaced by a directory), not a mock: 503 in the envelope, the
    Request-ID echoed, and the driver's own words (hosts, ports, paths) kept for the log."""
    import dataclasses
    import os

    from tests.rest_support import RestCaller
    from wsgi import create_app

    db_dir = tmp_path / "outage"
    app = create_app(dataclasses.replace(settings, database_url=f"sqlite:///{db_dir}/realty.db"))
    app.config["TESTING"] = True
    try:
        rest = RestCaller(app.test_client(), make_token())
        realty = str(uuid.uuid4())
        rest.add_images(realty, 1)
        app.extensions["realty"].close()
        for name in os.listdir(db_dir):
            os.remove(db_dir / name)
        os.mkdir(db_dir / "realty.db")

        for method, path in (("GET", f"/realty/{realty}/images"), ("GET", "/uploadGrants?type=image/png"),
                             ("POST", f"/realty/{realty}/images/publish")):
            rid = request_id()
            response = rest.client.open(path, method=method, headers=rest.headers(False, **{"Request-ID": rid}))
            body = assert_error(response, 503, "SERVICE_UNAVAILABLE")
            assert "unable to open database file" not in response.get_data(as_text=True), body
            assert response.headers["Request-ID"] == rid
        assert "unable to open database file" in caplog.text
    finally:
        app.extensions["realty"].close()
