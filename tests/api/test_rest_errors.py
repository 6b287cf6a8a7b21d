"""Every REST error path of CONTRACT §2 and §3 that is not about uploads: credentials, Request-ID,
path ids, validation (400, never 422), routing, and the JSON envelope on every failure."""
from __future__ import annotations

import time
import uuid

import pytest

from tests.conftest import JWT_SECRET
from tests.rest_support import (  # noqa: F401 - fixtures
    RestCaller, assert_error, distinct_png, error_targets, other_org, realty, request_id, rest,
)

SOME_UUID = "ddc25849-7bc7-43c0-9c3b-602cb03f7806"

# (method, path template, json body) for every REST operation; {r} a realty id, {i} an image id.
OPERATIONS = [
    ("GET", "/uploadGrants?type=image/png", None),
    ("POST", "/realty/{r}/images", {"uploadedImages": [{"key": "uploads/x"}]}),
    ("GET", "/realty/{r}/images", None),
    ("PUT", "/realty/{r}/images", {"realtyImages": [{"realtyImageId": SOME_UUID}]}),
    ("DELETE", "/realty/{r}/images/{i}", None),
    ("POST", "/realty/{r}/images/copy", {"sourceRealtyId": SOME_UUID}),
    ("POST", "/realty/{r}/images/publish", {}),
    ("POST", "/realty/{r}/images/unpublish", {}),
]
REQUEST_ID_REQUIRED = [op for op in OPERATIONS if op[:2] != ("GET", "/realty/{r}/images")]


def call(client, method: str, path: str, body, headers: dict[str, str], r: str = SOME_UUID, i: str = SOME_UUID):
    return client.open(path.format(r=r, i=i), method=method, json=body, headers=headers)


def op_id(op) -> str:
    return f"{op[0]} {op[1]}"


@pytest.fixture
def app(shared_app):
    """The module's one app: every test here writes only to realties of its own."""
    return shared_app


# --- credentials -------------------------------------------------------------------------------

@pytest.mark.parametrize("op", OPERATIONS, ids=op_id)
def test_every_operation_needs_a_bearer_token(client, op):
    rid = request_id()
    response = call(client, *op, headers={"Request-ID": rid})

    assert_error(response, 401, "UNAUTHORIZED")
    assert response.headers["Request-ID"] == rid


@pytest.mark.parametrize("authorization", [
    pytest.param("Bearer not-a-jwt", id="malformed"),
    pytest.param("Bearer ", id="empty"),
    pytest.param("Basic dXNlcjpwYXNz", id="other-scheme"),
    pytest.param("{token}", id="no-scheme"),
    pytest.param("Bearer {expired}", id="expired"),
    pytest.param("Bearer {wrong_secret}", id="wrong-signature"),
    pytest.param("Bearer {no_exp}", id="no-exp"),
    pytest.param("Bearer {string_exp}", id="exp-not-a-number"),
    pytest.param("Bearer {long_org}", id="org-longer-than-any-stored-org"),
    pytest.param("Bearer {nul_org}", id="org-with-nul"),
    pytest.param("Bearer {surrogate_org}", id="org-with-lone-surrogate"),
    pytest.param("Bearer {surrogate_sub}", id="sub-with-lone-surrogate"),
    pytest.param("Bearer {future_iat}", id="issued-beyond-the-leeway"),
])
def test_bad_credentials_are_401(client, make_token, authorization):
    import jwt

    tokens = {
        "token": make_token(),
        "expired": make_token(ttl=-60),
        "wrong_secret": make_token(secret="another-secret-of-sufficient-length!"),
        "no_exp": jwt.encode({"sub": "agent-1", "org": "org-a"}, JWT_SECRET, algorithm="HS256"),
        # RFC 7519: exp is a NumericDate; a string is a malformed token even if it spells a number.
        "long_org": make_token(org="o" * 256),
        "string_exp": jwt.encode({"sub": "agent-1", "org": "org-a", "exp": str(int(time.time()) + 3600)},
                                 JWT_SECRET, algorithm="HS256"),
        # Text no database stores as it is: PostgreSQL refuses NUL, and SQLite made a tenant of its own.
        "nul_org": make_token(org="org-a\u0000"),
        "surrogate_org": make_token(org="org-\ud800"),
        "surrogate_sub": make_token(sub="agent-\udfff"),
        "future_iat": _token_with(iat=int(time.time()) + 600),
    }
    rid = request_id()

    response = client.get("/uploadGrants?type=image/png",
                          headers={"Authorization": authorization.format(**tokens), "Request-ID": rid})

    assert_error(response, 401, "UNAUTHORIZED")
    assert response.headers["Request-ID"] == rid
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("exp, reason", [(True, "exp must be a number"), (False, "exp must be a number"),
                                         ("4102444800", "exp must be a number"), ([1], "exp must be a number"),
                                         (float("inf"), "exp must be a number"), (float("nan"), "exp must be a number"),
                                         (None, "has no exp claim")],
                         ids=["true", "false", "string", "list", "infinity", "nan", "null"])
def test_an_exp_that_is_no_number_is_named_as_the_reason(client, exp, reason):
    """JSON's true is not the number 1: the reason given is the claim's type, not an expiry."""
    response = client.get("/uploadGrants?type=image/png",
                          headers={"Authorization": f"Bearer {_token_with(exp=exp)}", "Request-ID": request_id()})
    body = assert_error(response, 401, "UNAUTHORIZED")
    assert reason in body["message"], body


def _token_with(**claims) -> str:
    import jwt

    return jwt.encode({"sub": "agent-1", "org": "org-a", "exp": int(time.time()) + 3600, **claims}, JWT_SECRET,
                      algorithm="HS256")


@pytest.mark.parametrize("claim, offset", [("iat", 5), ("nbf", 5), ("exp", -5)],
                         ids=["iat-a-few-seconds-ahead", "nbf-a-few-seconds-ahead", "expired-a-few-seconds-ago"])
def test_clocks_a_little_apart_are_tolerated(client, claim, offset):
    """The issuer's clock and ours differ a little (AUTH_JWT_LEEWAY, 30 s by default)."""
    token = _token_with(**{claim: int(time.time()) + offset})
    response = client.get("/uploadGrants?type=image/png",
                          headers={"Authorization": f"Bearer {token}", "Request-ID": request_id()})
    assert response.status_code == 200, response.get_json()


def test_a_token_from_the_future_is_told_so(client):
    response = client.get("/uploadGrants?type=image/png", headers={
        "Authorization": f"Bearer {_token_with(iat=int(time.time()) + 600)}", "Request-ID": request_id()})
    body = assert_error(response, 401, "UNAUTHORIZED")
    assert "not valid yet" in body["message"]


def test_token_without_org_claim_uses_sub_as_org(client, make_token, realty):
    rest_sub_only = RestCaller(client, make_token(org=None, sub="solo"))
    rest_same_org = RestCaller(client, make_token(org="solo", sub="someone-else"))
    rest_sub_only.add_images(realty, 1)

    assert len(rest_same_org.images(realty)) == 1


def test_credential_is_checked_before_request_id_and_parameters(client):
    response = client.post("/realty/not-a-uuid/images", data="{broken", content_type="application/json")

    assert_error(response, 401, "UNAUTHORIZED")


# --- Request-ID ----------------------------------------------------------------------------------

@pytest.mark.parametrize("op", REQUEST_ID_REQUIRED, ids=op_id)
def test_request_id_is_required(rest, op):
    response = call(rest.client, *op, headers=rest.headers(with_request_id=False))

    body = assert_error(response, 400, "BAD_REQUEST_PARAMETERS")
    assert [(e["target"], e["errorCode"]) for e in body["errors"]] == [("Request-ID", "VALUE_REQUIRED")]
    assert "Request-ID" not in response.headers


@pytest.mark.parametrize("op", OPERATIONS, ids=op_id)
@pytest.mark.parametrize("value", ["not-a-uuid", "", "1234"])
def test_request_id_must_be_a_uuid(rest, op, value):
    response = call(rest.client, *op, headers=rest.headers(False, **{"Request-ID": value}))

    body = assert_error(response, 400, "BAD_REQUEST_PARAMETERS")
    assert [(e["target"], e["errorCode"]) for e in body["errors"]] == [("Request-ID", "INVALID_TYPE")]
    assert response.headers["Request-ID"] == value


def test_request_id_is_checked_before_path_and_body(rest):
    response = rest.client.post("/realty/not-a-uuid/images", data="{broken", content_type="application/json",
                                headers=rest.headers(with_request_id=False))

    body = assert_error(response, 400, "BAD_REQUEST_PARAMETERS")
    assert error_targets(response) == ["Request-ID"]
    assert body["errors"][0]["errorCode"] == "VALUE_REQUIRED"


def test_request_id_is_echoed_on_404_405_and_unknown_routes(rest, realty):
    for method, path in (("GET", f"/realty/{realty}/images"), ("PATCH", f"/realty/{realty}/images"),
                         ("GET", "/no/such/route")):
        rid = request_id()
        response = rest.client.open(path, method=method, headers=rest.headers(False, **{"Request-ID": rid}))
        assert response.status_code in (404, 405)
        assert response.headers["Request-ID"] == rid


# --- path ids ------------------------------------------------------------------------------------

@pytest.mark.parametrize("op", [op for op in OPERATIONS if "{r}" in op[1]], ids=op_id)
def test_malformed_realty_id_is_400_not_404(rest, op):
    response = call(rest.client, *op, headers=rest.headers(), r="not-a-uuid")

    body = assert_error(response, 400, "BAD_REQUEST_PARAMETERS")
    assert [(e["target"], e["errorCode"]) for e in body["errors"]] == [("realtyId", "INVALID_TYPE")]


def test_malformed_image_id_is_400(rest, realty):
    rest.add_images(realty, 1)

    response = rest.delete(realty, "12345")

    body = assert_error(response, 400, "BAD_REQUEST_PARAMETERS")
    assert error_targets(response) == ["realtyImageId"]
    assert body["errors"][0]["errorCode"] == "INVALID_TYPE"


def test_path_is_checked_before_the_body(rest):
    response = rest.client.put("/realty/nope/images", json={"realtyImages": "nope"}, headers=rest.headers())

    assert_error(response, 400, "BAD_REQUEST_PARAMETERS")
    assert error_targets(response) == ["realtyId"]


# --- unknown and foreign ids ---------------------------------------------------------------------

@pytest.mark.parametrize("op", [op for op in OPERATIONS  # saving creates the realty: see test_rest_uploads
                                if "{r}" in op[1] and op[:2] != ("POST", "/realty/{r}/images")], ids=op_id)
def test_realty_nobody_wrote_is_404_invalid_id(rest, op):
    response = call(rest.client, *op, headers=rest.headers(), r=str(uuid.uuid4()))

    assert_error(response, 404, "INVALID_ID")


def test_other_orgs_realty_does_not_exist(rest, other_org, realty):
    [image] = rest.add_images(realty, 1)
    image_id = image["realtyImageId"]
    foreign_source = str(uuid.uuid4())
    other_org.add_images(foreign_source, 1)

    assert_error(other_org.list(realty), 404, "INVALID_ID")
    assert_error(other_org.update(realty, [{"realtyImageId": image_id}]), 404, "INVALID_ID")
    assert_error(other_org.publish(realty), 404, "INVALID_ID")
    assert_error(other_org.unpublish(realty), 404, "INVALID_ID")
    assert_error(other_org.delete(realty, image_id), 404, "INVALID_ID")
    assert_error(other_org.copy(str(uuid.uuid4()), realty), 404, "INVALID_ID")  # foreign source
    assert_error(other_org.copy(realty, foreign_source), 404, "INVALID_ID")  # foreign target
    # Writing to it with own uploads does not take it over either.
    assert_error(other_org.save(realty, [{"key": other_org.upload(distinct_png(7))}]), 404, "INVALID_ID")

    [unchanged] = rest.images(realty)
    assert unchanged == {**image, "url": unchanged["url"],
                         "renditions": unchanged["renditions"]}  # urls are re-signed per read


def test_unknown_image_of_a_realty_is_404(rest, realty):
    rest.add_images(realty, 1)

    assert_error(rest.delete(realty, str(uuid.uuid4())), 404, "INVALID_ID")
    assert_error(rest.publish(realty, [str(uuid.uuid4())]), 404, "INVALID_ID")


def test_image_of_another_realty_cannot_be_deleted_through_this_one(rest, realty):
    rest.add_images(realty, 1)
    other = str(uuid.uuid4())
    [foreign] = rest.add_images(other, 1, start=5)

    assert_error(rest.delete(realty, foreign["realtyImageId"]), 404, "INVALID_ID")
    assert len(rest.images(other)) == 1


def test_copy_from_unknown_source_names_it(rest, realty):
    response = rest.copy(realty, str(uuid.uuid4()))

    assert_error(response, 404, "INVALID_ID")
    assert error_targets(response) == ["sourceRealtyId"]
    assert_error(rest.list(realty), 404, "INVALID_ID")  # a failed copy does not create the target


def test_copy_onto_itself_is_400(rest, realty):
    rest.add_images(realty, 1)

    assert_error(rest.copy(realty, realty), 400, "BAD_REQUEST_BODY")
    assert len(rest.images(realty)) == 1


# --- business rule refusals ----------------------------------------------------------------------

def test_published_image_cannot_be_deleted(rest, realty):
    [image] = rest.add_images(realty, 1)
    rest.publish(realty)

    assert_error(rest.delete(realty, image["realtyImageId"]), 400, "INVALID_STATUS")
    assert rest.ids(realty) == [image["realtyImageId"]]


def test_put_must_name_exactly_the_current_set(rest, realty):
    a, b = (i["realtyImageId"] for i in rest.add_images(realty, 2))
    stranger = str(uuid.uuid4())

    for items in ([{"realtyImageId": a}],  # missing b
                  [{"realtyImageId": a}, {"realtyImageId": b}, {"realtyImageId": stranger}],  # extra
                  [{"realtyImageId": a}, {"realtyImageId": b}, {"realtyImageId": a}],  # duplicate
                  [{"realtyImageId": b}, {"realtyImageId": a, "description": "x"}, {"realtyImageId": b}]):
        response = rest.update(realty, items)
        assert_error(response, 400, "BAD_REQUEST_BODY")
        assert response.get_json()["errors"], response.get_json()

    images = rest.images(realty)
    assert [i["realtyImageId"] for i in images] == [a, b]
    assert all(i["description"] is None for i in images)


def test_two_heroes_are_refused(rest, realty):
    a, b = (i["realtyImageId"] for i in rest.add_images(realty, 2))

    assert_error(rest.update(realty, [{"realtyImageId": a, "hero": True}, {"realtyImageId": b, "hero": True}]),
                 400, "BAD_REQUEST_BODY")
    keys = rest.upload_many([distinct_png(10), distinct_png(11)])
    assert_error(rest.save(realty, [{"key": k, "hero": True} for k in keys]), 400, "BAD_REQUEST_BODY")

    assert [i["hero"] for i in rest.images(realty)] == [False, False]


# --- request validation: 400, never 422 ------------------------------------------------------------

LONG = "x" * 4001


@pytest.mark.parametrize("body, target, code", [
    ({}, "uploadedImages", "VALUE_REQUIRED"),
    ({"uploadedImages": []}, "uploadedImages", "BAD_REQUEST_BODY"),
    ({"uploadedImages": [{"key": "k"}] * 201}, "uploadedImages", "BAD_REQUEST_BODY"),
    ({"uploadedImages": "k"}, "uploadedImages", "INVALID_TYPE"),
    ({"uploadedImages": [{}]}, "uploadedImages[0].key", "VALUE_REQUIRED"),
    ({"uploadedImages": [{"key": None}]}, "uploadedImages[0].key", "INVALID_TYPE"),
    ({"uploadedImages": [{"key": 12}]}, "uploadedImages[0].key", "INVALID_TYPE"),
    ({"uploadedImages": [{"key": "k", "description": LONG}]}, "uploadedImages[0].description", "BAD_REQUEST_BODY"),
    ({"uploadedImages": [{"key": "k", "originalFileName": "f" * 256}]}, "uploadedImages[0].originalFileName",
     "BAD_REQUEST_BODY"),
    ({"uploadedImages": [{"key": "k", "category": "KITCHEN"}]}, "uploadedImages[0].category", "BAD_REQUEST_BODY"),
    ({"uploadedImages": [{"key": "k", "hero": "true"}]}, "uploadedImages[0].hero", "INVALID_TYPE"),
    ({"uploadedImages": [{"key": "k", "hero": 1}]}, "uploadedImages[0].hero", "INVALID_TYPE"),
    ({"uploadedImages": [{"key": "k", "published": True}]}, "uploadedImages[0].published", "BAD_REQUEST_BODY"),
    ({"uploadedImages": [{"key": "k"}], "extra": 1}, "extra", "BAD_REQUEST_BODY"),
    ([{"key": "k"}], "body", "INVALID_TYPE"),
])
def test_save_body_validation(rest, realty, body, target, code):
    response = rest.client.post(f"/realty/{realty}/images", json=body, headers=rest.headers())

    errors = assert_error(response, 400, "BAD_REQUEST_BODY")["errors"]
    assert (target, code) in [(e["target"], e["errorCode"]) for e in errors], errors


@pytest.mark.parametrize("body, target, code", [
    ({}, "realtyImages", "VALUE_REQUIRED"),
    ({"realtyImages": []}, "realtyImages", "BAD_REQUEST_BODY"),
    ({"realtyImages": [{"realtyImageId": SOME_UUID}] * 201}, "realtyImages", "BAD_REQUEST_BODY"),
    ({"realtyImages": [{}]}, "realtyImages[0].realtyImageId", "VALUE_REQUIRED"),
    ({"realtyImages": [{"realtyImageId": "x"}]}, "realtyImages[0].realtyImageId", "INVALID_TYPE"),
    ({"realtyImages": [{"realtyImageId": SOME_UUID, "description": LONG}]}, "realtyImages[0].description",
     "BAD_REQUEST_BODY"),
    ({"realtyImages": [{"realtyImageId": SOME_UUID, "hero": None}]}, "realtyImages[0].hero", "INVALID_TYPE"),
    ({"realtyImages": [{"realtyImageId": SOME_UUID, "key": "k"}]}, "realtyImages[0].key", "BAD_REQUEST_BODY"),
])
def test_put_body_validation(rest, realty, body, target, code):
    rest.add_images(realty, 1)
    response = rest.client.put(f"/realty/{realty}/images", json=body, headers=rest.headers())

    errors = assert_error(response, 400, "BAD_REQUEST_BODY")["errors"]
    assert (target, code) in [(e["target"], e["errorCode"]) for e in errors], errors


@pytest.mark.parametrize("path, body, target, code", [
    ("copy", {}, "sourceRealtyId", "VALUE_REQUIRED"),
    ("copy", {"sourceRealtyId": "abc"}, "sourceRealtyId", "INVALID_TYPE"),
    ("copy", {"sourceRealtyId": SOME_UUID, "x": 1}, "x", "BAD_REQUEST_BODY"),
    ("publish", {"realtyImageIds": "abc"}, "realtyImageIds", "INVALID_TYPE"),
    ("publish", {"realtyImageIds": ["abc"]}, "realtyImageIds[0]", "INVALID_TYPE"),
    ("publish", {"realtyImageIds": None}, "realtyImageIds", "INVALID_TYPE"),
    ("unpublish", {"ids": [SOME_UUID]}, "ids", "BAD_REQUEST_BODY"),
])
def test_copy_and_publication_body_validation(rest, realty, path, body, target, code):
    rest.add_images(realty, 1)
    response = rest.client.post(f"/realty/{realty}/images/{path}", json=body, headers=rest.headers())

    errors = assert_error(response, 400, "BAD_REQUEST_BODY")["errors"]
    assert (target, code) in [(e["target"], e["errorCode"]) for e in errors], errors
    assert rest.images(realty)[0]["published"] is False


@pytest.mark.parametrize("op", [op for op in OPERATIONS if op[2] is not None], ids=op_id)
def test_malformed_json_is_400_bad_request_body(rest, op):
    method, path, _ = op
    response = rest.client.open(path.format(r=SOME_UUID, i=SOME_UUID), method=method, data='{"broken": ',
                                content_type="application/json", headers=rest.headers())

    assert_error(response, 400, "BAD_REQUEST_BODY")
    assert error_targets(response) == ["body"]


@pytest.mark.parametrize("op", [op for op in OPERATIONS if op[2] is not None], ids=op_id)
def test_non_json_body_is_415(rest, op):
    method, path, body = op
    import json

    response = rest.client.open(path.format(r=SOME_UUID, i=SOME_UUID), method=method, data=json.dumps(body),
                                content_type="text/plain", headers=rest.headers())

    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")


def test_body_without_content_type_is_415(rest, realty):
    response = rest.client.post(f"/realty/{realty}/images", data=b'{"uploadedImages": []}', headers=rest.headers())

    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")


def test_oversized_body_is_413_json(rest, realty):
    huge = '{"uploadedImages": [{"key": "' + "k" * (9 * 1024 * 1024) + '"}]}'

    response = rest.client.post(f"/realty/{realty}/images", data=huge, content_type="application/json",
                                headers=rest.headers())

    assert_error(response, 413, "PAYLOAD_TOO_LARGE")


# --- upload grant parameters ---------------------------------------------------------------------

def test_grant_without_type_is_400(rest):
    response = rest.client.get("/uploadGrants", headers=rest.headers())

    body = assert_error(response, 400, "BAD_REQUEST_PARAMETERS")
    assert [(e["target"], e["errorCode"]) for e in body["errors"]] == [("type", "VALUE_REQUIRED")]


@pytest.mark.parametrize("content_type", ["image/gif", "image/bmp", "application/pdf", "image/svg+xml", "",
                                          "IMAGE/PNG", "image/png; charset=x", "text/html"])
def test_grant_for_unsupported_type_is_415(rest, content_type):
    response = rest.grant(content_type)

    body = assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert error_targets(response) == ["type"], body


# --- routing and unexpected errors ---------------------------------------------------------------

def test_unknown_route_is_json_404(rest):
    for path in ("/nope", "/realty", f"/realty/{SOME_UUID}", f"/realty/{SOME_UUID}/images/{SOME_UUID}/x"):
        assert_error(rest.client.get(path, headers=rest.headers()), 404, "INVALID_ID")


@pytest.mark.parametrize("method, path", [
    ("PATCH", "/realty/{r}/images"), ("DELETE", "/realty/{r}/images"), ("POST", "/uploadGrants"),
    ("GET", "/realty/{r}/images/copy"), ("GET", "/realty/{r}/images/{r}"), ("PUT", "/realty/{r}/images/publish"),
])
def test_wrong_method_is_json_405(rest, method, path):
    response = rest.client.open(path.format(r=SOME_UUID), method=method, headers=rest.headers())

    assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert "Allow" in response.headers


@pytest.mark.parametrize("action", ["copy", "publish", "unpublish"])
@pytest.mark.parametrize("method", ["DELETE", "PUT", "GET"])
def test_an_action_route_is_not_an_image_id(rest, realty, action, method):
    """`DELETE .../images/copy` is the copy route asked with the wrong method, not a delete of an image
    named "copy": 405, and Allow names what the route takes."""
    response = rest.client.open(f"/realty/{realty}/images/{action}", method=method, headers=rest.headers())

    assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert set(response.headers["Allow"].split(", ")) == {"POST", "OPTIONS"}


def test_unexpected_exception_is_500_without_trace(settings, make_token, caplog):
    from wsgi import create_app

    app = create_app(settings)
    app.config["TESTING"] = True  # exceptions would propagate to the test if nothing handled them

    def explode():
        raise RuntimeError("secret internal detail")

    app.add_url_rule("/test-only/explode", view_func=explode)
    rid = request_id()
    try:
        response = app.test_client().get("/test-only/explode", headers={"Request-ID": rid})
    finally:
        app.extensions["realty"].close()

    body = assert_error(response, 500, "TECHNICAL_ERROR")
    assert "secret internal detail" not in response.get_data(as_text=True)
    assert rid in body.get("description", "")
    assert response.headers["Request-ID"] == rid
    assert "secret internal detail" in caplog.text  # logged for operators instead


def test_no_error_is_ever_422(rest, realty):
    bodies = [{"uploadedImages": [{"key": 1, "hero": "x", "category": 3, "zzz": None}]}, {"x": 1}, [], "text", 5]
    for body in bodies:
        response = rest.client.post(f"/realty/{realty}/images", json=body, headers=rest.headers())
        assert response.status_code == 400, body
