"""The HTTP side of POST /graphql: multipart requests per the spec, malformed ones, and size limits
enforced while the body is read."""
from __future__ import annotations

import dataclasses
import io
import json

import pytest

from tests.graphql_support import (
    SEED_MAP, create_property, data_of, post_graphql, post_multipart, property_images, single_error,
    upload_operations,
)
from tests.images import make_jpeg, make_photo_jpeg


@pytest.fixture
def app(shared_app):
    """The module's one app: every test here works on realties (properties) of its own."""
    return shared_app


@pytest.fixture
def prop(client, token):
    return create_property(client, token)


def _operations(prop):
    return upload_operations("createPropertyImage", "CreatePropertyImageInput",
                             {"propertyId": prop["id"], "category": "GENERAL"})


def _assert_malformed(response, *fragments):
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    error = single_error(response)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "multipart" in error["message"]
    for fragment in fragments:
        assert fragment in error["message"], error["message"]


def test_a_well_formed_request_with_the_file_mapped_twice(client, token, prop):
    """The spec lets one file fill several variables; here it fills one field of each of two aliases."""
    query = """mutation Two($a: CreatePropertyImageInput!, $b: CreatePropertyImageInput!) {
      first: createPropertyImage(input: $a) { image { imageHash } }
      second: createPropertyImage(input: $b) { image { imageHash } } }"""
    variables = {name: {"propertyId": prop["id"], "category": "GENERAL", "file": None} for name in ("a", "b")}
    operations = json.dumps({"query": query, "variables": variables})
    files_map = json.dumps({"photo": ["variables.a.file", "variables.b.file"]})
    content = make_jpeg()
    data = data_of(post_multipart(client, token, operations, files_map, {"photo": (content, "p.jpg")}))
    assert data["first"]["image"]["imageHash"] == data["second"]["image"]["imageHash"]
    assert len(property_images(client, token, prop["id"])) == 2


@pytest.mark.parametrize("operations, files_map, fragments", [
    ("{not json", SEED_MAP, ["'operations' is not valid JSON"]),
    ("[]", SEED_MAP, ["batched"]),
    ('"a string"', SEED_MAP, ["'operations' must be a JSON object"]),
    (None, "{not json", ["'map' is not valid JSON"]),
    (None, '["variables.input.file"]', ["'map' must be a JSON object"]),
    (None, '{"0": "variables.input.file"}', ["entry '0'"]),
    (None, '{"0": []}', ["entry '0'"]),
    (None, '{"1": ["variables.input.file"]}', ["no such file part", "'1'"]),
    (None, '{"0": ["input.file"]}', ["must point into 'variables'"]),
    (None, '{"0": ["variables.input.nested.file"]}', ["does not exist"]),
    (None, '{"0": ["variables.input.category"]}', ["null placeholder"]),
    # str.isdigit() is true for these; int() refuses the first and reads the second as 1.
    ('{"query": "{ __typename }", "variables": {"l": [null, null]}}', '{"0": ["variables.l.\u00b2"]}',
     ["does not exist"]),
    ('{"query": "{ __typename }", "variables": {"l": [null, null]}}', '{"0": ["variables.l.\u0661"]}',
     ["does not exist"]),
    ('{"query": "{ __typename }", "variables": {"l": [null]}}', '{"0": ["variables.l.' + "9" * 5000 + '"]}',
     ["does not exist"]),
], ids=["operations-not-json", "operations-batch", "operations-not-object", "map-not-json", "map-not-object",
        "map-entry-not-list", "map-entry-empty", "map-names-missing-file", "path-outside-variables",
        "path-does-not-exist", "path-not-null", "path-superscript-digit", "path-arabic-indic-digit",
        "path-index-of-5000-digits"])
def test_malformed_multipart_is_400(client, token, prop, operations, files_map, fragments):
    response = post_multipart(client, token, operations or _operations(prop), files_map,
                              {"0": (make_jpeg(), "a.jpg")})
    _assert_malformed(response, *fragments)
    assert property_images(client, token, prop["id"]) == []


def test_missing_operations_or_map_is_400(client, token, prop):
    response = client.post("/graphql", data={"map": SEED_MAP, "0": (io.BytesIO(make_jpeg()), "a.jpg")},
                           headers={"Authorization": f"Bearer {token}"}, content_type="multipart/form-data")
    _assert_malformed(response, "'operations' field is missing")
    response = client.post("/graphql", data={"operations": _operations(prop)},
                           headers={"Authorization": f"Bearer {token}"}, content_type="multipart/form-data")
    _assert_malformed(response, "'map' field is missing")


def test_unmapped_file_and_unexpected_fields_are_400(client, token, prop):
    response = post_multipart(client, token, _operations(prop), SEED_MAP,
                              {"0": (make_jpeg(), "a.jpg"), "1": (make_jpeg(), "b.jpg")})
    _assert_malformed(response, "'1' is not named in 'map'")
    response = post_multipart(client, token, _operations(prop), SEED_MAP, {"0": (make_jpeg(), "a.jpg")},
                              extra_fields={"debug": "1"})
    _assert_malformed(response, "unexpected field 'debug'")


def _raw_multipart(parts: list[tuple[str, str | None, bytes]], boundary: str = "XyZ-boundary") -> bytes:
    body = b""
    for name, filename, content in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + content + b"\r\n"
    return body + f"--{boundary}--\r\n".encode()


def test_a_file_part_without_filename_is_400(client, token, prop):
    body = _raw_multipart([("operations", None, _operations(prop).encode()), ("map", None, SEED_MAP.encode()),
                           ("0", None, b"plain text, not a file part")])
    response = client.post("/graphql", data=body, content_type="multipart/form-data; boundary=XyZ-boundary",
                           headers={"Authorization": f"Bearer {token}"})
    _assert_malformed(response, "'0' is not a file")


def test_missing_boundary_and_truncated_bodies_are_400(client, token, prop):
    headers = {"Authorization": f"Bearer {token}"}
    body = _raw_multipart([("operations", None, _operations(prop).encode()), ("map", None, SEED_MAP.encode()),
                           ("0", "a.jpg", make_jpeg())])
    response = client.post("/graphql", data=body, content_type="multipart/form-data", headers=headers)
    _assert_malformed(response, "boundary")
    response = client.post("/graphql", data=body[: len(body) // 2],
                           content_type="multipart/form-data; boundary=XyZ-boundary", headers=headers)
    _assert_malformed(response)
    assert property_images(client, token, prop["id"]) == []


def test_upload_variable_must_come_from_a_file_part(client, token, prop):
    query = json.loads(_operations(prop))["query"]
    variables = {"input": {"propertyId": prop["id"], "category": "GENERAL", "file": "data:image/jpeg;base64,AAAA"}}
    response = post_graphql(client, token, query, variables)
    assert response.status_code == 400
    error = single_error(response)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "Upload" in error["message"]

    # null and never mapped
    response = post_graphql(client, token, query, {"input": {**variables["input"], "file": None}})
    assert response.status_code == 400
    assert single_error(response)["extensions"]["code"] == "BAD_USER_INPUT"


def test_unsupported_content_type_and_bad_json(client, token):
    headers = {"Authorization": f"Bearer {token}"}
    response = client.post("/graphql", data="query { __typename }", content_type="text/plain", headers=headers)
    assert response.status_code == 415
    assert single_error(response)["extensions"]["code"] == "BAD_USER_INPUT"
    response = client.post("/graphql", data="{nope", content_type="application/json", headers=headers)
    assert response.status_code == 400
    assert "not valid JSON" in single_error(response)["message"]
    response = client.post("/graphql", json=[{"query": "{ __typename }"}], headers=headers)
    assert response.status_code == 400
    assert "Batched" in single_error(response)["message"]
    for body in ({"query": ""}, {"query": "{ __typename }", "variables": [1]}, {"variables": {}}, "x"):
        response = client.post("/graphql", json=body, headers=headers)
        assert response.status_code == 400
        assert single_error(response)["extensions"]["code"] == "BAD_USER_INPUT"


# --- limits ----------------------------------------------------------------------------------------


def _app_with(settings, **changes):
    from wsgi import create_app

    app = create_app(dataclasses.replace(settings, **changes))
    app.config["TESTING"] = True
    return app


@pytest.fixture
def limited(settings):
    photo = make_photo_jpeg(256, 192)
    small = make_jpeg(32, 24)
    assert len(small) * 2 < 4000 < len(photo)
    app = _app_with(settings, max_upload_bytes=4000, max_files_per_request=2,
                    max_request_bytes=len(photo) + 10_000)
    yield app, photo, small
    app.extensions["realty"].close()


def test_a_file_over_the_per_file_limit_is_refused_while_streaming(limited, make_token):
    app, photo, small = limited
    client, token = app.test_client(), make_token()
    prop = create_property(client, token)
    response = post_multipart(client, token, _operations(prop), SEED_MAP, {"0": (photo, "big.jpg")})
    assert response.status_code == 413
    error = single_error(response)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "4000 bytes" in error["message"] and "big.jpg" in error["message"]
    assert property_images(client, token, prop["id"]) == []
    # The limit itself is allowed.
    data_of(post_multipart(client, token, _operations(prop), SEED_MAP, {"0": (small, "small.jpg")}))


def test_a_file_exactly_at_the_limit_is_accepted(settings, make_token):
    content = make_jpeg(40, 30)
    app = _app_with(settings, max_upload_bytes=len(content))
    try:
        client, token = app.test_client(), make_token()
        prop = create_property(client, token)
        data_of(post_multipart(client, token, _operations(prop), SEED_MAP, {"0": (content, "exact.jpg")}))
        response = post_multipart(client, token, _operations(prop), SEED_MAP, {"0": (content + b"\0", "over.jpg")})
        assert response.status_code == 413
    finally:
        app.extensions["realty"].close()


def test_too_many_files_are_refused(limited, make_token):
    app, _photo, small = limited
    client, token = app.test_client(), make_token()
    prop = create_property(client, token)
    query = "mutation($a: CreatePropertyImageInput!) { createPropertyImage(input: $a) { image { id } } }"
    operations = json.dumps({"query": query, "variables": {"a": {"propertyId": prop["id"], "category": "GENERAL",
                                                                 "file": None}}})
    files = {str(i): (small, f"{i}.jpg") for i in range(3)}
    files_map = json.dumps({"0": ["variables.a.file"], "1": ["variables.a.file"], "2": ["variables.a.file"]})
    response = post_multipart(client, token, operations, files_map, files)
    assert response.status_code == 413
    error = single_error(response)
    assert "at most 2 files" in error["message"]
    assert property_images(client, token, prop["id"]) == []


def test_a_request_over_the_total_limit_is_413(settings, make_token):
    photo = make_photo_jpeg(256, 192)
    app = _app_with(settings, max_upload_bytes=len(photo) + 1, max_request_bytes=len(photo) // 2)
    try:
        client, token = app.test_client(), make_token()
        prop = create_property(client, token)
        response = post_multipart(client, token, _operations(prop), SEED_MAP, {"0": (photo, "big.jpg")})
        assert response.status_code == 413
        error = single_error(response)
        assert f"{len(photo) // 2} bytes" in error["message"]
        # JSON bodies are bounded too.
        response = post_graphql(client, token, "{ __typename }", {"pad": "x" * len(photo)})
        assert response.status_code == 413
        assert single_error(response)["extensions"]["code"] == "BAD_USER_INPUT"
    finally:
        app.extensions["realty"].close()


def test_oversized_non_file_field_is_413(client, token):
    operations = json.dumps({"query": "{ __typename }", "variables": {"pad": "x" * (1024 * 1024 + 10)}})
    response = post_multipart(client, token, operations, "{}")
    assert response.status_code == 413
    assert single_error(response)["extensions"]["code"] == "BAD_USER_INPUT"


def test_multipart_without_files_works(client, token):
    response = post_multipart(client, token, json.dumps({"query": "{ __typename }"}), "{}")
    assert data_of(response) == {"__typename": "Query"}


@pytest.mark.parametrize("wrong, fragment", [
    ({"category": "GENERAL"}, "required field 'propertyId'"),
    ({"propertyId": "any", "category": "GENERAL", "bogus": 1}, "unknown field 'bogus'"),
], ids=["a missing field", "an unknown field"])
def test_a_variable_error_beside_a_file_names_the_file_in_words(client, token, wrong, fragment):
    """graphql-core quotes the variable it refused, file and all: `<FileStorage instance>` means nothing
    to a caller (nor should our framework's class names reach them)."""
    operations = json.dumps({"query": "mutation Upload($input: CreatePropertyImageInput!) { "
                                      "createPropertyImage(input: $input) { image { id } } }",
                             "variables": {"input": {**wrong, "file": None}}})
    response = post_multipart(client, token, operations, SEED_MAP, {"0": (make_jpeg(), "front.jpg")})
    assert response.status_code == 400
    message = single_error(response)["message"]
    assert fragment in message and "'file': <an uploaded file>" in message, message
    assert "FileStorage" not in message and "instance>" not in message, message
