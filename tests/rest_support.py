"""Helpers for tests of the REST facade, all through the Flask test client.

`RestCaller` is one agent of one org talking to the app: it adds the bearer token and a fresh
Request-ID to every call and performs the whole upload flow (grant, multipart POST of the grant's
fields plus a `file` part to the grant's url, which the local storage endpoint of the same app
serves) so tests can say `rest.upload(make_png())` and get the key back.
"""
from __future__ import annotations

import base64
import io
import json
import uuid
from typing import Any, Iterable
from urllib.parse import urlsplit

import pytest
from flask.testing import FlaskClient
from PIL import Image
from werkzeug.test import TestResponse

from tests.processing_support import wait_processed

ITEM_KEYS = {
    "realtyImageId", "description", "originalFileName", "contentType", "width", "height", "fileSize", "imageHash",
    "url", "category", "hero", "published", "creationTime", "modificationTime", "graphqlId", "renditions",
    "processing", "processingError", "perceptualHash", "blurhash", "quality", "channels", "duplicates",
}
"""A listing's or a save's item; an event's `image` is the same without `duplicates` (CONTRACT §11)."""
RENDITION_NAMES = {"thumbnail", "web", "large", "thumbnailWebp", "webWebp", "largeWebp"}


def request_id() -> str:
    return str(uuid.uuid4())


def local_path(url: str) -> str:
    """The path and query of an absolute URL the app handed out, for the test client."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def distinct_png(n: int, size: int = 8) -> bytes:
    """A tiny valid PNG whose bytes differ for every `n` (the colour encodes it)."""
    buf = io.BytesIO()
    Image.new("RGB", (size, size), (n % 256, (n // 256) % 256, 99)).save(buf, "PNG")
    return buf.getvalue()


def decode_graphql_id(value: str) -> dict[str, Any]:
    raw = base64.b64decode(value + "=" * (-len(value) % 4)).decode()
    assert raw == json.dumps(json.loads(raw), separators=(",", ":")), f"not compact JSON: {raw!r}"
    return json.loads(raw)


def error_targets(response: TestResponse) -> list[str]:
    return [e["target"] for e in response.get_json().get("errors", [])]


def assert_error(response: TestResponse, status: int, code: str) -> dict[str, Any]:
    """The response is the contract's JSON error envelope with this status and errorCode."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    assert response.mimetype == "application/json", response.get_data(as_text=True)
    body = response.get_json()
    assert body["errorCode"] == code, body
    assert isinstance(body["message"], str) and body["message"]
    assert set(body) <= {"errorCode", "message", "description", "errors"}, body
    for error in body.get("errors", []):
        assert set(error) == {"target", "errorCode", "message"}, error
    assert "Traceback" not in response.get_data(as_text=True)
    return body


class RestCaller:
    """One agent of one org, calling the REST API through a test client."""

    def __init__(self, client: FlaskClient, token: str) -> None:
        self.client = client
        self.token = token

    def headers(self, with_request_id: bool = True, **extra: str) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.token}"}
        if with_request_id:
            headers["Request-ID"] = request_id()
        headers.update(extra)
        return headers

    # --- raw operations (return the response) -------------------------------------------------

    def grant(self, content_type: str = "image/png") -> TestResponse:
        return self.client.get("/uploadGrants", query_string={"type": content_type}, headers=self.headers())

    def save(self, realty: str, items: list[dict[str, Any]]) -> TestResponse:
        return self.client.post(f"/realty/{realty}/images", json={"uploadedImages": items}, headers=self.headers())

    def list(self, realty: str) -> TestResponse:
        return self.client.get(f"/realty/{realty}/images", headers=self.headers(with_request_id=False))

    def update(self, realty: str, items: list[dict[str, Any]]) -> TestResponse:
        return self.client.put(f"/realty/{realty}/images", json={"realtyImages": items}, headers=self.headers())

    def delete(self, realty: str, image: str) -> TestResponse:
        return self.client.delete(f"/realty/{realty}/images/{image}", headers=self.headers())

    def copy(self, target: str, source: str) -> TestResponse:
        return self.client.post(f"/realty/{target}/images/copy", json={"sourceRealtyId": source},
                                headers=self.headers())

    def publish(self, realty: str, ids: list[str] | None = None, action: str = "publish") -> TestResponse:
        body = None if ids is None else {"realtyImageIds": ids}
        return self.client.post(f"/realty/{realty}/images/{action}", json=body, headers=self.headers())

    def unpublish(self, realty: str, ids: list[str] | None = None) -> TestResponse:
        return self.publish(realty, ids, action="unpublish")

    # --- flows ----------------------------------------------------------------------------------

    def upload(self, data: bytes, content_type: str = "image/png", filename: str = "photo.png") -> str:
        """Grant, then POST the grant's form with `data` as the `file` part; returns the key."""
        response = self.grant(content_type)
        assert response.status_code == 200, response.get_json()
        grant = response.get_json()
        upload_to(self.client, grant, data, filename, content_type)
        return grant["fields"]["key"]

    def grant_only(self, content_type: str = "image/png") -> str:
        """A granted key nothing was uploaded to."""
        response = self.grant(content_type)
        assert response.status_code == 200, response.get_json()
        return response.get_json()["fields"]["key"]

    def upload_many(self, blobs: Iterable[bytes]) -> list[str]:
        return [self.upload(data) for data in blobs]

    def save_ok(self, realty: str, items: list[dict[str, Any]] | list[str]) -> list[dict[str, Any]]:
        """Save (items may be bare keys) and return the new realty images."""
        items = [{"key": i} if isinstance(i, str) else i for i in items]
        response = self.save(realty, items)
        assert response.status_code == 201, response.get_json()
        return response.get_json()["realtyImages"]

    def images(self, realty: str) -> list[dict[str, Any]]:
        response = self.list(realty)
        assert response.status_code == 200, response.get_json()
        return response.get_json()["realtyImages"]

    def ids(self, realty: str) -> list[str]:
        return [i["realtyImageId"] for i in self.images(realty)]

    def processed(self, realty: str) -> list[dict[str, Any]]:
        """The realty's images once every render job has run."""
        wait_processed(self.client.application)
        return self.images(realty)

    def add_images(self, realty: str, count: int, start: int = 0) -> list[dict[str, Any]]:
        """Upload and save `count` distinct tiny PNGs; returns them as listed once processed."""
        saved = self.save_ok(realty, self.upload_many(distinct_png(start + n) for n in range(count)))
        listed = {i["realtyImageId"]: i for i in self.processed(realty)}
        return [listed[i["realtyImageId"]] for i in saved]

    def download(self, url: str) -> bytes:
        """Fetch a URL the API handed out, with no credential (it is signed)."""
        response = self.client.get(local_path(url))
        assert response.status_code == 200, (response.status_code, response.get_data(as_text=True))
        return response.get_data()


def upload_to(client: FlaskClient, grant: dict[str, Any], data: bytes, filename: str = "photo.png",
              content_type: str = "image/png") -> TestResponse:
    """POST a grant's form plus the file, exactly as the seed's HTML form does; asserts a 2xx."""
    assert grant["method"] == "POST"
    form: dict[str, Any] = dict(grant["fields"])
    form["file"] = (io.BytesIO(data), filename, content_type)
    response = client.post(local_path(grant["url"]), data=form, content_type="multipart/form-data")
    assert 200 <= response.status_code < 300, (response.status_code, response.get_data(as_text=True))
    return response


# --- fixtures (imported by the test_rest_* modules) -----------------------------------------------

@pytest.fixture
def rest(client, make_token) -> RestCaller:
    """An agent of org-a."""
    return RestCaller(client, make_token(org="org-a", sub="agent-a"))


@pytest.fixture
def other_org(client, make_token) -> RestCaller:
    """An agent of org-b, to whom org-a's data does not exist."""
    return RestCaller(client, make_token(org="org-b", sub="agent-b"))


@pytest.fixture
def realty() -> str:
    """A fresh realty id, never written."""
    return str(uuid.uuid4())
