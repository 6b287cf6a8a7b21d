"""The whole gateway over real HTTP, as a caller following the seed would use it.

The gateway runs in a real werkzeug server; the caller uses `requests` only. Storage is either moto's
threaded S3 server (reached through `AWS_ENDPOINT_URL`, as an S3-compatible server is in production,
the bucket made by `flask init-storage`) or the embedded local store with its own upload endpoint.
moto enforces no POST policy, so on moto the gateway's own checks are all that stand between a
hostile upload and a saved image.
"""
from __future__ import annotations

import dataclasses
import hashlib
import threading
import time
import uuid
from typing import Iterator

import pytest
import requests
from werkzeug.serving import make_server

from tests.images import make_jpeg, make_png
from tests.servers import SHUTDOWN_POLL

TIMEOUT = 60
"""A bound on a request that hangs, not a measure of speed."""
PROCESSED_DEADLINE_S = 180


@pytest.fixture(params=["moto-s3", "moto-s3-prefix", "local-disk"])
def gateway(request, settings, aws_credentials, monkeypatch) -> Iterator[str]:
    """The base URL of a running gateway on the given storage."""
    from wsgi import create_app

    moto = None
    if request.param.startswith("moto-s3"):
        moto = request.getfixturevalue("moto_url")
        monkeypatch.setenv("AWS_ENDPOINT_URL", moto)
        prefix = "/tenants/a" if request.param.endswith("prefix") else ""
        settings = dataclasses.replace(settings, storage_url=f"s3://e2e-{uuid.uuid4().hex[:12]}{prefix}")
    app = create_app(settings)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(SHUTDOWN_POLL,), daemon=True)
    try:
        if moto is not None:
            result = app.test_cli_runner().invoke(args=["init-storage"])
            assert result.exit_code == 0, result.output
        thread.start()
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        if thread.is_alive():
            thread.join(timeout=10)
        app.extensions["realty"].close()


class Caller:
    def __init__(self, base: str, token: str) -> None:
        self.base = base
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def rest(self, method: str, path: str, request_id: bool = True, **kwargs) -> requests.Response:
        headers = {"Request-ID": str(uuid.uuid4())} if request_id else {}
        return self.session.request(method, self.base + path, headers=headers, timeout=TIMEOUT, **kwargs)

    def upload(self, content_type: str, data: bytes, filename: str) -> str:
        """Get a grant and POST its form as the seed's HTML form does: every field, then `file`, then `submit`."""
        grant = self.rest("GET", f"/uploadGrants?type={content_type}")
        assert grant.status_code == 200, grant.text
        body = grant.json()
        parts = [(name, (None, value)) for name, value in body["fields"].items()]
        parts += [("file", (filename, data, content_type)), ("submit", (None, "Upload to Amazon S3"))]
        # No bearer token: like S3, the upload is authorised by the grant's signature alone.
        posted = requests.request(body["method"], body["url"], files=parts, timeout=TIMEOUT)
        assert posted.status_code in (200, 201, 204), posted.text
        return body["fields"]["key"]

    def processed(self, realty: str, timeout: float = PROCESSED_DEADLINE_S) -> list[dict]:
        """The realty's images once none is PENDING: renditions are made after the save answers."""
        deadline = time.monotonic() + timeout
        while True:
            listed = self.rest("GET", f"/realty/{realty}/images", request_id=False)
            assert listed.status_code == 200, listed.text
            images = listed.json()["realtyImages"]
            if all(i["processing"] != "PENDING" for i in images) or time.monotonic() > deadline:
                return images
            time.sleep(0.05)

    def graphql(self, query: str, variables: dict) -> dict:
        response = self.session.post(self.base + "/graphql", json={"query": query, "variables": variables},
                                     timeout=TIMEOUT)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def caller(gateway, make_token) -> Caller:
    return Caller(gateway, make_token())


def test_the_seed_flow_end_to_end(caller):
    realty = str(uuid.uuid4())
    photo = make_jpeg(1200, 800)
    key = caller.upload("image/jpeg", photo, "front.jpg")

    saved = caller.rest("POST", f"/realty/{realty}/images",
                        json={"uploadedImages": [{"key": key, "originalFileName": "front.jpg", "hero": True}]})
    assert saved.status_code == 201, saved.text
    [item] = saved.json()["realtyImages"]
    assert (item["width"], item["height"], item["fileSize"]) == (1200, 800, len(photo))
    assert item["imageHash"] == hashlib.md5(photo).hexdigest()

    # The original is stored, and downloadable, before the renditions exist.
    assert (item["processing"], item["renditions"]) == ("PENDING", {})
    assert requests.get(item["url"], timeout=TIMEOUT).content == photo

    [item] = caller.processed(realty)
    assert item["processing"] == "READY" and item["processingError"] is None
    # The signed URLs need no credential, and the original is the uploaded bytes exactly.
    assert requests.get(item["url"], timeout=TIMEOUT).content == photo
    thumbnail = requests.get(item["renditions"]["thumbnail"]["url"], timeout=TIMEOUT)
    assert thumbnail.status_code == 200 and thumbnail.content[:2] == b"\xff\xd8"

    # The same image over GraphQL.
    data = caller.graphql("query($id: ID!) { property(id: $id) { images { id realtyImageId hero imageHash "
                          "processing processingError renditions { name } } } }", {"id": realty})["data"]
    assert data["property"]["images"] == [{
        "id": item["graphqlId"], "realtyImageId": item["realtyImageId"], "hero": True, "imageHash": item["imageHash"],
        "processing": "READY", "processingError": None,
        "renditions": [{"name": "thumbnail"}, {"name": "web"}, {"name": "large"},
                       {"name": "thumbnailWebp"}, {"name": "webWebp"}, {"name": "largeWebp"}]}]

    # A copy moves no byte, and outlives its source.
    copy_target = str(uuid.uuid4())
    copied = caller.rest("POST", f"/realty/{copy_target}/images/copy", json={"sourceRealtyId": realty})
    assert copied.status_code == 200, copied.text
    [copy] = caller.processed(copy_target)
    assert copy["processing"] == "READY" and copy["imageHash"] == item["imageHash"]

    # Deleting the source keeps what its copy uses; deleting the copy then deletes the stored objects.
    deleted = caller.rest("DELETE", f"/realty/{realty}/images/{item['realtyImageId']}")
    assert deleted.status_code == 200 and deleted.json() == {}
    assert requests.get(copy["url"], timeout=TIMEOUT).content == photo
    assert requests.get(copy["renditions"]["thumbnail"]["url"], timeout=TIMEOUT).status_code == 200
    deleted = caller.rest("DELETE", f"/realty/{copy_target}/images/{copy['realtyImageId']}")
    assert deleted.status_code == 200
    for url in (copy["url"], copy["renditions"]["thumbnail"]["url"]):
        assert requests.get(url, timeout=TIMEOUT).status_code in (403, 404)


def test_the_gateway_checks_what_was_uploaded_before_saving(caller):
    """On moto nothing stops these uploads: the gateway must refuse them itself, for the whole batch."""
    realty = str(uuid.uuid4())
    good = caller.upload("image/jpeg", make_jpeg(64, 48), "good.jpg")
    png_in_jpeg_grant = caller.upload("image/jpeg", make_png(64, 48), "sneaky.jpg")
    not_an_image = caller.upload("image/jpeg", b"<html><script>alert(1)</script></html>", "page.jpg")

    response = caller.rest("POST", f"/realty/{realty}/images",
                           json={"uploadedImages": [{"key": good}, {"key": png_in_jpeg_grant}, {"key": not_an_image}]})

    assert response.status_code == 400, response.text
    body = response.json()
    assert {e["target"] for e in body["errors"]} == {png_in_jpeg_grant, not_an_image}
    assert caller.rest("GET", f"/realty/{realty}/images").status_code == 404, "nothing of the batch was saved"
    # The good upload was not used up by the failed batch.
    assert caller.rest("POST", f"/realty/{realty}/images", json={"uploadedImages": [{"key": good}]}).status_code == 201


def test_an_upload_cannot_be_saved_by_another_org(gateway, make_token):
    mine, theirs = Caller(gateway, make_token(org="org-a")), Caller(gateway, make_token(org="org-b"))
    key = mine.upload("image/png", make_png(32, 32), "a.png")

    response = theirs.rest("POST", f"/realty/{uuid.uuid4()}/images", json={"uploadedImages": [{"key": key}]})

    assert response.status_code == 400
    assert [e["target"] for e in response.json()["errors"]] == [key]
