"""CORS by CORS_ORIGINS (CONTRACT §9), black-box through the Flask test client.

Allowed origins may call both APIs and the local store's upload and download endpoints; the preflight
allows exactly the contract's request headers, Request-ID, ETag and Idempotent-Replayed are exposed,
credentials (cookies) are never allowed. Any other origin, and every origin when CORS_ORIGINS is unset, gets no CORS header.
"""
from __future__ import annotations

import dataclasses
import uuid

import pytest

from config import Settings

APP_ORIGIN = "https://app.example.com"
CONTRACT_HEADERS = ["Authorization", "Content-Type", "Request-ID", "x-api-token", "Idempotency-Key", "If-None-Match"]
REALTY = "ddc25849-7bc7-43c0-9c3b-602cb03f7806"
API_PATHS = [
    ("GET", "/uploadGrants?type=image/png"),
    ("GET", f"/realty/{REALTY}/images"),
    ("PUT", f"/realty/{REALTY}/images"),
    ("DELETE", f"/realty/{REALTY}/images/940bf547-122f-4811-8ca0-6ffb9776f035"),
    ("POST", f"/realty/{REALTY}/images/copy"),
    ("POST", "/graphql"),
    ("POST", "/storage/upload"),
    ("GET", "/storage/blobs/images/x/original.jpg?expires=1&signature=x"),
]


@pytest.fixture
def cors_client(settings):
    from wsgi import create_app

    def make(*origins: str):
        app = create_app(dataclasses.replace(settings, cors_origins=origins))
        apps.append(app)
        return app.test_client()

    apps = []
    yield make
    for app in apps:
        app.extensions["realty"].close()


def preflight(client, path: str, method: str, origin: str, headers: list[str] = CONTRACT_HEADERS):
    return client.options(path, headers={"Origin": origin, "Access-Control-Request-Method": method,
                                         "Access-Control-Request-Headers": ", ".join(headers)})


def cors_headers(response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.lower().startswith("access-control-")}


@pytest.mark.parametrize("method, path", API_PATHS)
def test_the_preflight_allows_the_contracts_headers_to_an_allowed_origin(cors_client, method, path):
    client = cors_client(APP_ORIGIN, "http://localhost:3000")

    response = preflight(client, path, method, APP_ORIGIN)

    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == APP_ORIGIN
    allowed = {h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")}
    assert allowed == {h.lower() for h in CONTRACT_HEADERS}
    assert method in response.headers["Access-Control-Allow-Methods"]
    assert "Access-Control-Allow-Credentials" not in response.headers
    assert "Origin" in response.headers.get("Vary", "")


def test_the_preflight_allows_no_header_beyond_the_contracts(cors_client):
    client = cors_client(APP_ORIGIN)

    response = preflight(client, "/graphql", "POST", APP_ORIGIN, ["Content-Type", "X-Debug", "Cookie"])

    assert response.headers["Access-Control-Allow-Headers"].lower() == "content-type"


@pytest.mark.parametrize("method, path", API_PATHS)
def test_other_origins_get_no_cors_headers(cors_client, method, path):
    client = cors_client(APP_ORIGIN)
    for origin in ("https://evil.example.com", "https://app.example.com.evil.net", "http://app.example.com",
                   "https://app.example.com:8443", "null"):
        assert cors_headers(preflight(client, path, method, origin)) == {}, origin
        assert cors_headers(client.open(path, method=method, headers={"Origin": origin})) == {}, origin


def test_without_cors_origins_no_origin_gets_cors_headers(cors_client):
    client = cors_client()
    for method, path in API_PATHS:
        assert cors_headers(preflight(client, path, method, APP_ORIGIN)) == {}
        assert cors_headers(client.open(path, method=method, headers={"Origin": APP_ORIGIN})) == {}


def test_answers_to_an_allowed_origin_expose_request_id_etag_and_replays_also_on_errors(cors_client, make_token):
    client = cors_client(APP_ORIGIN)
    request_id = str(uuid.uuid4())

    ok = client.get("/uploadGrants?type=image/png", headers={
        "Origin": APP_ORIGIN, "Authorization": f"Bearer {make_token()}", "Request-ID": request_id})
    unauthorized = client.post("/graphql", json={"query": "{ __typename }"}, headers={"Origin": APP_ORIGIN})

    assert ok.status_code == 200 and unauthorized.status_code == 401
    for response in (ok, unauthorized):
        assert response.headers["Access-Control-Allow-Origin"] == APP_ORIGIN
        exposed = {h.strip().lower() for h in response.headers["Access-Control-Expose-Headers"].split(",")}
        assert exposed == {"request-id", "etag", "idempotent-replayed"}
        assert "Access-Control-Allow-Credentials" not in response.headers
    assert ok.headers["Request-ID"] == request_id


def test_origins_match_exactly_whatever_their_case(cors_client):
    client = cors_client("http://localhost:3000", "http://[::1]:5173")

    for origin in ("http://localhost:3000", "HTTP://LOCALHOST:3000", "http://[::1]:5173"):
        assert preflight(client, "/graphql", "POST", origin).headers.get("Access-Control-Allow-Origin") == origin
    for origin in ("http://localhost:30000", "http://localhost:300", "http://[::1]:5174", "http://1:5173"):
        assert cors_headers(preflight(client, "/graphql", "POST", origin)) == {}, origin


def test_a_star_allows_any_origin_still_without_credentials(cors_client):
    client = cors_client("*")

    response = preflight(client, "/uploadGrants", "GET", "https://anywhere.example.org")

    assert response.headers["Access-Control-Allow-Origin"] in ("*", "https://anywhere.example.org")
    assert "Access-Control-Allow-Credentials" not in response.headers


def test_pages_are_not_opened_to_other_origins(cors_client):
    client = cors_client(APP_ORIGIN)
    for path in ("/", "/docs", "/healthz", "/console/console.js"):
        assert cors_headers(client.get(path, headers={"Origin": APP_ORIGIN})) == {}, path


def test_cors_origins_are_read_from_the_environment():
    settings = Settings.from_env({"CORS_ORIGINS": " https://App.example.com/ , http://localhost:3000,,"})
    assert settings.cors_origins == ("https://app.example.com", "http://localhost:3000")
    assert Settings.from_env({}).cors_origins == ()
    assert Settings.from_env({"CORS_ORIGINS": "*"}).cors_origins == ("*",)
    for bad in ("app.example.com", "https://app.example.com/path", "ftp://files.example.com",
                "https://user@app.example.com", "http://localhost:99999"):
        with pytest.raises(SystemExit, match="CORS_ORIGINS"):
            Settings.from_env({"CORS_ORIGINS": f"http://ok.example.com,{bad}"})
