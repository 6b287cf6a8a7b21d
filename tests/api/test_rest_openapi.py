"""The OpenAPI document and the docs UI (CONTRACT §1, §3): served without a credential, complete."""
from __future__ import annotations

import pytest

EXPECTED_OPERATIONS = {
    ("/uploadGrants", "get"),
    ("/realty/{realtyId}/images", "post"),
    ("/realty/{realtyId}/images", "get"),
    ("/realty/{realtyId}/images", "put"),
    ("/realty/{realtyId}/images/{realtyImageId}", "delete"),
    ("/realty/{realtyId}/images/copy", "post"),
    ("/realty/{realtyId}/images/publish", "post"),
    ("/realty/{realtyId}/images/unpublish", "post"),
}
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


@pytest.fixture
def spec(client) -> dict:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.get_json()


def operations(spec: dict):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield path, method, operation


def parameter(operation: dict, location: str, name: str) -> dict | None:
    return next((p for p in operation.get("parameters", []) if p["in"] == location and p["name"] == name), None)


def test_spec_is_openapi_3_with_the_api_title_and_version(spec):
    assert spec["openapi"].startswith("3.")
    assert spec["info"]["title"] == "Realty Image API"
    assert spec["info"]["version"] == "2.0"


def test_every_contract_operation_is_documented(spec):
    documented = {(path, method) for path, method, _ in operations(spec)}
    assert EXPECTED_OPERATIONS <= documented


def test_request_id_header_is_documented_on_every_operation(spec):
    for path, method, operation in operations(spec):
        if (path, method) not in EXPECTED_OPERATIONS:
            continue
        header = parameter(operation, "header", "Request-ID")
        assert header is not None, (path, method)
        assert header["schema"]["format"] == "uuid"
        assert header["required"] is ((path, method) != ("/realty/{realtyId}/images", "get")), (path, method)


def test_path_ids_are_documented_as_uuids(spec):
    for path, method, operation in operations(spec):
        for name in ("realtyId", "realtyImageId"):
            if "{" + name + "}" in path:
                param = parameter(operation, "path", name)
                assert param is not None and param["schema"] == {"type": "string", "format": "uuid"}, (path, name)


def test_bearer_auth_is_the_security_scheme(spec):
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {"type": "http", "scheme": "bearer",
                                                                   "bearerFormat": "JWT"}
    assert {"bearerAuth": []} in spec["security"]


def test_bodies_and_responses_are_documented_with_contract_names(spec):
    schemas = spec["components"]["schemas"]
    post = spec["paths"]["/realty/{realtyId}/images"]["post"]
    body_ref = post["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert "uploadedImages" in schemas[body_ref]["properties"]
    assert "201" in post["responses"]
    item = schemas["RealtyImage"]["properties"]
    assert {"realtyImageId", "description", "originalFileName", "contentType", "width", "height", "fileSize",
            "imageHash", "url", "category", "hero", "published", "creationTime", "modificationTime",
            "graphqlId"} <= set(item)
    assert set(schemas["UploadGrant"]["properties"]) >= {"url", "method", "fields", "expiresAt"}


def test_error_responses_use_the_error_envelope(spec):
    error_properties = set(spec["components"]["schemas"]["Error"]["properties"])
    assert error_properties == {"errorCode", "message", "description", "errors"}
    responses = spec["components"]["responses"]
    for path, method, operation in operations(spec):
        if (path, method) not in EXPECTED_OPERATIONS:
            continue
        for status in ("400", "401", "500"):
            ref = operation["responses"][status]["$ref"].rsplit("/", 1)[1]
            schema = responses[ref]["content"]["application/json"]["schema"]["$ref"]
            assert schema.endswith("/Error"), (path, method, status)
        assert "422" not in operation["responses"], (path, method)
        if "{realtyId}" in path:
            assert "404" in operation["responses"], (path, method)


def test_docs_ui_is_served_without_a_credential(client):
    response = client.get("/docs")

    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert "openapi.json" in response.get_data(as_text=True)
