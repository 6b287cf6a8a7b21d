"""End to end over real HTTP: a client POSTs a grant's form exactly as the seed's HTML form does.

(a) S3: moto's ThreadedMotoServer on a free local port, the store's client pointed at it.
(b) Local: the upload/download blueprint served by a real werkzeug server in a thread.

In both, the object must then exist with the posted bytes, and its download URL must return them.
"""
from __future__ import annotations

import threading
import uuid
import xml.etree.ElementTree as ET
from typing import Iterator

import boto3
import pytest
import requests
from botocore.config import Config
from flask import Flask
from werkzeug.serving import make_server

from adapters.local_blobs import LocalBlobStore
from storage_api import create_local_storage_blueprint
from adapters.s3_blobs import S3BlobStore
from core.ports import BlobStore
from tests.servers import SHUTDOWN_POLL

MAX = 2 * 1024 * 1024
SEED_ORDER = ["key", "Policy", "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Signature",
              "X-Amz-Security-Token"]
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 64


def seed_form(fields: dict[str, str], data: bytes) -> list[tuple[str, tuple]]:
    """The multipart body the seed's <form enctype="multipart/form-data"> sends: the hidden inputs in
    the seed's order, any further grant fields, the file, and the submit button last."""
    ordered = [name for name in SEED_ORDER if name in fields] + [n for n in fields if n not in SEED_ORDER]
    parts: list[tuple[str, tuple]] = [(name, (None, fields[name])) for name in ordered]
    parts.append(("file", ("living-room.png", data, "image/png")))
    parts.append(("submit", (None, "Upload to Amazon S3")))
    return parts


@pytest.fixture
def moto_store(aws_credentials, moto_url) -> S3BlobStore:
    client = boto3.client("s3", endpoint_url=moto_url, config=Config(signature_version="s3v4"))
    store = S3BlobStore("e2e-bucket", client=client)
    store.create_bucket()
    return store


@pytest.fixture
def local_server(tmp_path) -> Iterator[LocalBlobStore]:
    base = {}
    store = LocalBlobStore(str(tmp_path / "storage"), "e2e-secret", lambda: base["url"])
    app = Flask(__name__)
    app.register_blueprint(create_local_storage_blueprint(store, max_upload_bytes=MAX))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    base["url"] = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, args=(SHUTDOWN_POLL,), daemon=True)
    thread.start()
    try:
        yield store
    finally:
        server.shutdown()
        thread.join(timeout=10)


def upload_and_download(store: BlobStore) -> None:
    key = f"uploads/{uuid.uuid4()}"
    form = store.upload_form(key, "image/png", MAX, 300)
    response = requests.post(form.url, files=seed_form(form.fields, PNG), timeout=30)
    assert response.status_code == 204, response.text
    assert store.read_version(key, MAX).size == len(PNG)
    assert store.read(key) == PNG

    download = requests.get(store.download_url(key, 60), timeout=30)
    assert download.status_code == 200
    assert download.content == PNG
    assert download.headers["Content-Type"] == "image/png"


def test_seed_form_upload_to_s3(moto_store):
    upload_and_download(moto_store)


def test_seed_form_upload_to_s3_configured_by_environment(moto_store, monkeypatch):
    """A store without an explicit client finds the server and credentials through boto3's own
    configuration (AWS_ENDPOINT_URL, AWS_SESSION_TOKEN), and the token travels in the form."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_store.client.meta.endpoint_url)
    monkeypatch.setenv("AWS_SESSION_TOKEN", "session-token")
    store = S3BlobStore(moto_store.bucket)
    store.ping()
    assert store.upload_form("uploads/t", "image/png", MAX, 60).fields["X-Amz-Security-Token"] == "session-token"
    upload_and_download(store)


def test_seed_form_upload_to_the_local_endpoint(local_server):
    upload_and_download(local_server)


def test_local_endpoint_streams_a_large_upload(local_server):
    key = "uploads/large"
    data = PNG + b"\0" * (MAX - len(PNG))  # exactly the limit
    form = local_server.upload_form(key, "image/png", MAX, 300)
    response = requests.post(form.url, files=seed_form(form.fields, data), timeout=60)
    assert response.status_code == 204, response.text
    assert local_server.read(key) == data


def test_local_endpoint_answers_an_oversized_upload_with_an_s3_error(local_server):
    key = "uploads/too-large"
    form = local_server.upload_form(key, "image/png", 1024, 300)
    response = requests.post(form.url, files=seed_form(form.fields, PNG * 4), timeout=60)
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("application/xml")
    assert ET.fromstring(response.content).findtext("Code") == "EntityTooLarge"
    assert local_server.read_version(key, MAX) is None


def test_local_download_url_refuses_tampering_over_http(local_server):
    local_server.put("images/h/original.png", PNG, "image/png")
    url = local_server.download_url("images/h/original.png", 60)
    assert requests.get(url, timeout=10).content == PNG
    response = requests.get(url.replace("signature=", "signature=0"), timeout=10)
    assert response.status_code == 403
    assert ET.fromstring(response.content).findtext("Code") == "AccessDenied"
