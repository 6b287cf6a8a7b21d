"""The BlobStore contract, run against both adapters, plus each adapter's own promises.

S3 runs under moto's in-process `mock_aws` (which also intercepts `requests`, so presigned URLs and
POST forms are exercised over the requests API). The local store is driven through its Flask
blueprint with a test client. The upload policy checks S3 performs are asserted on the local
endpoint, which must enforce them itself; moto does not enforce POST policies.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import errno
import io
import json
import os
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Callable
from urllib.parse import urlsplit

import boto3
import pytest
import requests
from botocore.config import Config
from flask import Flask
from moto import mock_aws

from adapters.local_blobs import InvalidKey, LocalBlobStore, LocalStorageError
from storage_api import create_local_storage_blueprint
from adapters.s3_blobs import S3BlobStore
from core.errors import Unavailable
from core.ports import BlobChanged, BlobStore

BUCKET = "realty-test"
BASE_URL = "http://gateway.test"
MAX = 1000
SECRET = "local-secret-for-tests"
SEED_FIELDS = {"key", "Policy", "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Signature"}


@dataclass
class Response:
    status: int
    body: bytes
    headers: dict[str, str]


@dataclass
class Env:
    """A store plus the HTTP access a client would have to it."""

    name: str
    store: BlobStore
    get: Callable[[str], Response]
    post: Callable[[str, list[tuple[str, tuple]]], Response]


class Clock:
    """A settable clock for the local store, to reach expiry without sleeping."""

    def __init__(self) -> None:
        self.now = datetime.now(timezone.utc)

    def __call__(self) -> datetime:
        return self.now


def _requests_get(url: str) -> Response:
    r = requests.get(url, timeout=10)
    return Response(r.status_code, r.content, {k.lower(): v for k, v in r.headers.items()})


def _requests_post(url: str, parts: list[tuple[str, tuple]]) -> Response:
    r = requests.post(url, files=parts, timeout=10)
    return Response(r.status_code, r.content, {k.lower(): v for k, v in r.headers.items()})


@pytest.fixture
def s3_env(aws_credentials):
    with mock_aws():
        store = S3BlobStore(BUCKET)
        store.create_bucket()
        yield Env("s3", store, _requests_get, _requests_post)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def local_store(tmp_path, clock) -> LocalBlobStore:
    return LocalBlobStore(str(tmp_path / "storage"), SECRET, lambda: BASE_URL, now=clock)


@pytest.fixture
def client(local_store):
    app = Flask(__name__)
    app.register_blueprint(create_local_storage_blueprint(local_store, max_upload_bytes=MAX))
    return app.test_client()


@pytest.fixture
def local_env(local_store, client):
    def path(url: str) -> str:
        parts = urlsplit(url)
        assert f"{parts.scheme}://{parts.netloc}" == BASE_URL
        return parts.path + ("?" + parts.query if parts.query else "")

    def get(url: str) -> Response:
        r = client.get(path(url))
        return Response(r.status_code, r.data, {k.lower(): v for k, v in r.headers.items()})

    def post(url: str, parts: list[tuple[str, tuple]]) -> Response:
        return _post_multipart(client, path(url), parts)

    return Env("local", local_store, get, post)


@pytest.fixture(params=["s3", "local"])
def env(request) -> Env:
    return request.getfixturevalue(f"{request.param}_env")


def _post_multipart(client, path: str, parts: list[tuple[str, tuple]]) -> Response:
    # The same encoder `requests` uses for real HTTP, so the test client sees a browser-like body.
    prepared = requests.Request("POST", "http://x" + path, files=parts).prepare()
    r = client.post(path, data=prepared.body, content_type=prepared.headers["Content-Type"])
    return Response(r.status_code, r.data, {k.lower(): v for k, v in r.headers.items()})


def form_parts(fields: dict[str, str], data: bytes, *, filename: str = "photo.png",
               after: dict[str, str] | None = None) -> list[tuple[str, tuple]]:
    """Fields, then the `file` part, then whatever a browser sends after it (the submit button)."""
    parts = [(name, (None, value)) for name, value in fields.items()]
    parts.append(("file", (filename, data, "application/octet-stream")))
    parts += [(name, (None, value)) for name, value in (after or {}).items()]
    return parts


def error_code(response: Response) -> str:
    assert response.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(response.body)
    assert root.tag == "Error"
    return root.findtext("Code")


def new_key() -> str:
    return f"uploads/{uuid.uuid4()}"


def decode_policy(encoded: str) -> dict:
    return json.loads(base64.b64decode(encoded))


# --- the contract, for both stores ------------------------------------------------------------------

def exists(store: BlobStore, key: str) -> bool:
    return store.read_version(key, 0) is not None


def test_read_put_and_versions(env):
    store = env.store
    key = f"images/{uuid.uuid4()}/original.jpg"
    assert store.read_version(key, MAX) is None
    store.put(key, b"\xff\xd8jpeg bytes", "image/jpeg")
    first = store.read_version(key, MAX)
    assert (first.size, first.data) == (12, b"\xff\xd8jpeg bytes")
    assert store.read_version(key, 11) == replace(first, data=None), "too large: told, not read"
    assert store.read(key) == b"\xff\xd8jpeg bytes"
    store.put(key, io.BytesIO(b"replaced from a stream"), "image/jpeg")
    assert store.read(key) == b"replaced from a stream"
    assert store.read_version(key, MAX).version != first.version
    with pytest.raises(FileNotFoundError):
        store.read("images/missing/original.jpg")


def test_copy_is_independent_of_its_source(env):
    store = env.store
    store.put("images/a/original.png", b"png bytes", "image/png")
    version = store.read_version("images/a/original.png", MAX).version
    store.copy("images/a/original.png", "images/b/original.png", if_version=version)
    store.delete(["images/a/original.png"])
    assert not exists(store, "images/a/original.png")
    assert store.read("images/b/original.png") == b"png bytes"
    response = env.get(store.download_url("images/b/original.png", 60))
    assert response.headers["content-type"] == "image/png"  # the type travels with the copy
    with pytest.raises(FileNotFoundError):
        store.copy("images/missing/original.png", "images/c/original.png", if_version=version)


def test_copy_refuses_a_source_replaced_since_it_was_read(env):
    """What a save relies on: the upload it verified is the one it stores, even if re-POSTed meanwhile."""
    store = env.store
    store.put("uploads/r", b"verified bytes", "image/png")
    verified = store.read_version("uploads/r", MAX).version
    store.put("uploads/r", b"swapped bytes!", "image/png")
    with pytest.raises(BlobChanged):
        store.copy("uploads/r", "images/r/original.png", if_version=verified)
    assert not exists(store, "images/r/original.png")
    store.copy("uploads/r", "images/r/original.png", if_version=store.read_version("uploads/r", MAX).version)
    assert store.read("images/r/original.png") == b"swapped bytes!"


def test_delete_ignores_missing_keys(env):
    store = env.store
    store.put("images/x/original.png", b"1", "image/png")
    store.put("images/x/thumb.png", b"2", "image/png")
    store.delete(["images/x/original.png", "images/never/was.png", "images/x/thumb.png", "images/x/thumb.png"])
    assert not exists(store, "images/x/original.png")
    assert not exists(store, "images/x/thumb.png")
    store.delete([])


def test_download_url_serves_the_bytes_with_their_type(env):
    env.store.put("images/d/original.webp", b"RIFF....WEBP", "image/webp")
    response = env.get(env.store.download_url("images/d/original.webp", 120))
    assert response.status == 200
    assert response.body == b"RIFF....WEBP"
    assert response.headers["content-type"] == "image/webp"


def test_upload_form_admits_the_granted_upload(env):
    key = new_key()
    form = env.store.upload_form(key, "image/png", MAX, 300)
    assert form.fields["key"] == key
    assert SEED_FIELDS <= set(form.fields)
    assert form.fields["Content-Type"] == "image/png"
    assert form.fields["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert form.expires_at.tzinfo is not None
    assert abs((form.expires_at - datetime.now(timezone.utc)).total_seconds() - 300) < 5
    policy = decode_policy(form.fields["Policy"])
    assert {"key": key} in policy["conditions"]
    assert {"Content-Type": "image/png"} in policy["conditions"]
    assert ["content-length-range", 1, MAX] in policy["conditions"]
    assert datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00")) == form.expires_at

    # Exactly the seed's HTML form: fields, the file, and the submit button after it.
    response = env.post(form.url, form_parts(form.fields, b"\x89PNG image", after={"submit": "Upload to Amazon S3"}))
    assert response.status == 204, response.body
    assert response.body == b""
    assert env.store.read(key) == b"\x89PNG image"
    download = env.get(env.store.download_url(key, 60))
    assert download.body == b"\x89PNG image"
    assert download.headers["content-type"] == "image/png"


def test_ping(env):
    env.store.ping()


# --- S3 specifics ----------------------------------------------------------------------------------

def test_s3_grant_fields_use_the_seed_spelling_without_a_session_token(aws_credentials):
    store = S3BlobStore(BUCKET)  # presigning is local computation; no server needed
    fields = store.upload_form("uploads/k", "image/jpeg", MAX, 60).fields
    assert set(fields) == SEED_FIELDS | {"Content-Type"}
    assert fields["X-Amz-Credential"].startswith("testing/")
    assert all(not name.islower() or name == "key" for name in fields)


def test_s3_grant_fields_carry_the_session_token_when_credentials_have_one(aws_credentials, monkeypatch):
    monkeypatch.setenv("AWS_SESSION_TOKEN", "the-session-token")
    store = S3BlobStore(BUCKET)
    fields = store.upload_form("uploads/k", "image/jpeg", MAX, 60).fields
    assert set(fields) == SEED_FIELDS | {"Content-Type", "X-Amz-Security-Token"}
    assert fields["X-Amz-Security-Token"] == "the-session-token"
    # S3 requires every posted field to be covered by the policy, the token included.
    assert {"x-amz-security-token": "the-session-token"} in decode_policy(fields["Policy"])["conditions"]


def test_s3_prefix_is_prepended_to_every_object_key(aws_credentials):
    with mock_aws():
        store = S3BlobStore(BUCKET, prefix="/tenant/a/")
        store.create_bucket()
        form = store.upload_form("uploads/p", "image/png", MAX, 60)
        assert form.fields["key"] == "tenant/a/uploads/p"
        assert store.logical_key(form.fields["key"]) == "uploads/p"
        assert {"key": "tenant/a/uploads/p"} in decode_policy(form.fields["Policy"])["conditions"]

        assert requests.post(form.url, files=form_parts(form.fields, b"x")).status_code == 204
        assert store.read("uploads/p") == b"x"
        store.copy("uploads/p", "images/p/original.png", if_version=store.read_version("uploads/p", MAX).version)
        listed = store.client.list_objects_v2(Bucket=BUCKET)["Contents"]
        assert sorted(o["Key"] for o in listed) == ["tenant/a/images/p/original.png", "tenant/a/uploads/p"]
        assert "/tenant/a/images/p/original.png?" in store.download_url("images/p/original.png", 60)
        store.delete(["uploads/p", "images/p/original.png"])
        assert store.client.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 0
        with pytest.raises(ValueError):
            store.logical_key("elsewhere/uploads/p")


def test_s3_delete_goes_in_batches_of_1000(s3_env):
    store = s3_env.store
    keys = [f"images/bulk/{i}.png" for i in range(1005)]
    for key in keys:
        store.client.put_object(Bucket=BUCKET, Key=key, Body=b"x")
    store.delete(keys + ["images/bulk/missing.png"])
    assert store.client.list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0


def test_s3_create_bucket_is_idempotent_and_honours_the_region(aws_credentials, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    with mock_aws():
        store = S3BlobStore("regional-bucket")
        with pytest.raises(Exception):
            store.ping()  # no bucket yet, and the store never creates one by itself
        assert store.create_bucket() is True
        assert store.create_bucket() is False
        store.ping()
        location = store.client.get_bucket_location(Bucket="regional-bucket")["LocationConstraint"]
        assert location == "eu-west-1"


# --- local store: keys ------------------------------------------------------------------------------

BAD_KEYS = ["../escape", "uploads/../../escape", "/etc/passwd", "uploads//double", "uploads/./dot",
            ".meta/uploads/x", "uploads/.tmp-123", "", "uploads\\win", "a\x00b", "C:/x", "x" * 1100]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_local_store_refuses_keys_outside_its_root(local_store, key):
    for call in (lambda: local_store.put(key, b"x", "image/png"), lambda: local_store.read(key),
                 lambda: local_store.read_version(key, MAX), lambda: local_store.delete([key]),
                 lambda: local_store.download_url(key, 60),
                 lambda: local_store.upload_form(key, "image/png", MAX, 60),
                 lambda: local_store.copy("uploads/ok", key, if_version="v")):
        with pytest.raises(InvalidKey):
            call()


def test_local_store_refuses_symlinks_out_of_its_root(local_store, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"secret")
    os.symlink(outside, os.path.join(local_store.root, "link"))
    with pytest.raises(InvalidKey):
        local_store.read("link/secret")
    with pytest.raises(InvalidKey):
        local_store.put("link/new", b"x", "image/png")


def test_local_download_endpoint_refuses_traversal(local_store, client):
    with open(os.path.join(os.path.dirname(local_store.root), "secret.txt"), "wb") as f:
        f.write(b"secret")
    for path in ("/storage/blobs/../secret.txt", "/storage/blobs/%2E%2E/secret.txt",
                 "/storage/blobs/.meta/x.json"):
        response = client.get(path + "?expires=9999999999&signature=00")
        assert response.status_code in (403, 404)
        assert b"secret" not in response.data


def test_local_store_writes_atomically_and_tidies_up(local_store):
    local_store.put("images/t/original.png", b"one", "image/png")
    local_store.delete(["images/t/original.png"])
    # Empty directories go with their last object; no temp files are left behind.
    assert sorted(os.listdir(local_store.root)) == [".meta"]
    assert os.listdir(os.path.join(local_store.root, ".meta")) == []


def test_local_ping_fails_without_its_root(local_store):
    os.rename(local_store.root, local_store.root + ".gone")
    with pytest.raises(Unavailable):
        local_store.ping()
    os.mkdir(local_store.root)  # the empty directory an unmounted volume leaves
    with pytest.raises(Unavailable):
        local_store.ping()


@pytest.mark.parametrize("outage", ["root gone", "root replaced by a file", "volume unmounted"])
def test_local_store_without_its_root_is_unavailable_not_empty(local_store, client, outage):
    """An unmounted volume or a root replaced by mistake is an outage: no object may pass for missing
    (a save would blame the caller's key, a download tell a cache the image is gone, gc forget a blob)."""
    local_store.put("images/r/original.png", b"rr", "image/png")
    url = urlsplit(local_store.download_url("images/r/original.png", 60))
    os.rename(local_store.root, local_store.root + ".away")
    if outage == "root replaced by a file":
        with open(local_store.root, "w") as f:
            f.write("not a directory")
    elif outage == "volume unmounted":
        os.mkdir(local_store.root)  # the mount point, empty

    for call in (lambda: local_store.read_version("images/r/original.png", 100),
                 lambda: local_store.read("images/r/original.png"),
                 lambda: local_store.copy("images/r/original.png", "images/s/original.png", "any"),
                 lambda: local_store.delete(["images/r/original.png"]),
                 lambda: local_store.put("images/t/original.png", b"tt", "image/png")):
        with pytest.raises(Unavailable):
            call()
    download = client.get(f"{url.path}?{url.query}")
    assert download.status_code == 503 and b"<Code>ServiceUnavailable</Code>" in download.data
    fields = local_store.upload_form("uploads/r", "image/png", MAX, 60).fields
    upload = _post_multipart(client, "/storage/upload", form_parts(fields, b"\x89PNG"))
    assert upload.status == 503 and error_code(upload) == "ServiceUnavailable"

    if outage == "root replaced by a file":
        os.remove(local_store.root)
    elif outage == "volume unmounted":
        assert os.listdir(local_store.root) == [], "nothing was written beside the volume"
        os.rmdir(local_store.root)
    os.rename(local_store.root + ".away", local_store.root)
    assert local_store.read("images/r/original.png") == b"rr", "nothing was deleted while the root was away"


def test_local_ping_fails_when_the_disk_could_not_take_another_upload(local_store, tmp_path):
    local_store.ping()
    free = os.statvfs(local_store.root).f_bavail * os.statvfs(local_store.root).f_frsize
    full = LocalBlobStore(local_store.root, SECRET, lambda: BASE_URL, min_free_bytes=free + 2**40)
    with pytest.raises(OSError) as raised:
        full.ping()
    assert raised.value.errno == errno.ENOSPC


# --- local store: the upload endpoint enforces the policy like S3 ----------------------------------

@pytest.fixture
def grant(local_store):
    return local_store.upload_form(new_key(), "image/png", MAX, 300)


def post(client, form_url_fields: dict[str, str], data: bytes = b"\x89PNG", **kw) -> Response:
    return _post_multipart(client, "/storage/upload", form_parts(form_url_fields, data, **kw))


def sigv4_post_signature(secret: str, date_stamp: str, region: str, policy: str) -> str:
    """SigV4 as AWS documents it, written out independently of the adapter."""
    key = ("AWS4" + secret).encode()
    for part in (date_stamp, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, policy.encode(), hashlib.sha256).hexdigest()


def test_local_form_is_a_real_sigv4_post_policy(grant):
    fields = grant.fields
    assert set(fields) == SEED_FIELDS | {"Content-Type"}  # the same contract as the S3 adapter
    access, date_stamp, region, service, terminator = fields["X-Amz-Credential"].split("/")
    assert (region, service, terminator) == ("local", "s3", "aws4_request")
    assert fields["X-Amz-Date"].startswith(date_stamp)
    assert fields["X-Amz-Signature"] == sigv4_post_signature(SECRET, date_stamp, "local", fields["Policy"])
    assert grant.url == BASE_URL + "/storage/upload"


def test_local_endpoint_accepts_a_form_presigned_by_boto3(local_store, client):
    """Interoperability: boto3's own presigned POST, with our credentials and region, is accepted."""
    s3 = boto3.client("s3", region_name="local", endpoint_url=BASE_URL, aws_access_key_id="local",
                      aws_secret_access_key=SECRET, config=Config(signature_version="s3v4"))
    post_form = s3.generate_presigned_post(local_store.bucket, "uploads/from-boto3",
                                           Conditions=[["content-length-range", 1, 10]], ExpiresIn=60)
    response = post(client, post_form["fields"], b"boto3")
    assert response.status == 204, response.body
    assert local_store.read("uploads/from-boto3") == b"boto3"


def test_local_field_names_are_case_insensitive(local_store, client, grant):
    response = post(client, {name.lower(): value for name, value in grant.fields.items()})
    assert response.status == 204, response.body
    assert local_store.read(grant.fields["key"]) == b"\x89PNG"


def test_local_upload_refuses_a_tampered_signature(client, grant):
    signature = grant.fields["X-Amz-Signature"]
    tampered = {**grant.fields, "X-Amz-Signature": ("0" if signature[0] != "0" else "1") + signature[1:]}
    assert error_code(post(client, tampered)) == "SignatureDoesNotMatch"


def test_local_upload_refuses_a_rewritten_policy(local_store, client, grant):
    policy = decode_policy(grant.fields["Policy"])
    policy["conditions"] = [c for c in policy["conditions"] if not isinstance(c, list)] + [
        ["content-length-range", 1, 10 * MAX]]
    forged = {**grant.fields, "Policy": base64.b64encode(json.dumps(policy).encode()).decode()}
    response = post(client, forged, b"x" * (2 * MAX))
    assert response.status == 403
    assert error_code(response) == "SignatureDoesNotMatch"
    assert not exists(local_store, grant.fields["key"])


def test_local_upload_refuses_another_key(local_store, client, grant):
    response = post(client, {**grant.fields, "key": "uploads/someone-elses"})
    assert response.status == 403
    assert error_code(response) == "AccessDenied"
    assert not exists(local_store, "uploads/someone-elses")


def test_local_upload_refuses_another_content_type(local_store, client, grant):
    response = post(client, {**grant.fields, "Content-Type": "text/html"})
    assert response.status == 403
    assert error_code(response) == "AccessDenied"
    assert not exists(local_store, grant.fields["key"])


def test_local_upload_takes_the_seed_forms_fields_as_they_are(local_store, client, grant):
    # The seed's HTML form has no Content-Type input and posts an empty X-Amz-Security-Token.
    seed = {k: v for k, v in grant.fields.items() if k != "Content-Type"} | {"X-Amz-Security-Token": ""}
    response = post(client, seed)
    assert response.status == 204
    assert local_store.content_type(grant.fields["key"]) == grant.fields["Content-Type"]


def test_local_upload_refuses_a_security_token_the_grant_does_not_carry(client, grant):
    response = post(client, {**grant.fields, "X-Amz-Security-Token": "forged"})
    assert response.status == 403
    assert error_code(response) == "AccessDenied"


def test_local_upload_refuses_an_expired_policy(client, grant, clock):
    clock.now += timedelta(seconds=301)
    response = post(client, grant.fields)
    assert response.status == 403
    assert error_code(response) == "AccessDenied"
    assert b"expired" in response.body


def test_local_upload_refuses_oversized_and_empty_files(local_store, client, grant):
    key = grant.fields["key"]
    local_store.put(key, b"earlier", "image/png")
    too_big = post(client, grant.fields, b"x" * (MAX + 1))
    assert too_big.status == 400
    assert error_code(too_big) == "EntityTooLarge"
    empty = post(client, grant.fields, b"")
    assert error_code(empty) == "EntityTooSmall"
    # A refused upload changes nothing and leaves no partial file behind.
    assert local_store.read(key) == b"earlier"
    assert local_store.content_type(key) == "image/png"
    assert [n for n in os.listdir(os.path.join(local_store.root, "uploads")) if n.startswith(".tmp")] == []
    assert post(client, grant.fields, b"x" * MAX).status == 204


def test_local_upload_refuses_a_body_over_the_route_limit_unread(client, grant):
    response = post(client, grant.fields, b"x" * (MAX + 128 * 1024))
    assert response.status == 400
    assert error_code(response) == "EntityTooLarge"


def test_local_upload_refuses_fields_the_policy_does_not_cover(local_store, client, grant):
    response = post(client, {**grant.fields, "acl": "public-read"})
    assert response.status == 403
    assert error_code(response) == "AccessDenied"
    assert b"Extra input fields: acl" in response.body
    # S3 exempts x-ignore-* fields; fields after the file part are not even read.
    ok = post(client, {**grant.fields, "x-ignore-note": "hi"}, after={"acl": "public-read"})
    assert ok.status == 204, ok.body


def test_local_upload_refuses_malformed_requests(client, grant, local_store):
    no_file = _post_multipart(client, "/storage/upload", [(n, (None, v)) for n, v in grant.fields.items()])
    assert error_code(no_file) == "InvalidArgument"
    not_multipart = client.post("/storage/upload", data=grant.fields)  # urlencoded
    assert not_multipart.status_code == 412
    unsigned = {k: v for k, v in grant.fields.items() if k not in ("Policy", "X-Amz-Signature")}
    assert error_code(post(client, unsigned)) == "AccessDenied"
    other_id = LocalBlobStore(local_store.root, SECRET, lambda: BASE_URL, access_key_id="other")
    assert error_code(post(client, other_id.upload_form("uploads/o", "image/png", MAX, 60).fields)) \
        == "InvalidAccessKeyId"
    other_secret = LocalBlobStore(local_store.root, "another secret", lambda: BASE_URL)
    assert error_code(post(client, other_secret.upload_form("uploads/o", "image/png", MAX, 60).fields)) \
        == "SignatureDoesNotMatch"
    duplicated = [(n, (None, v)) for n, v in grant.fields.items()] + [("KEY", (None, "uploads/other"))]
    duplicated.append(("file", ("a.png", b"x", "image/png")))
    assert error_code(_post_multipart(client, "/storage/upload", duplicated)) == "InvalidArgument"
    garbage = client.post("/storage/upload", data=b"--b\r\nnot a part", content_type="multipart/form-data; boundary=b")
    assert garbage.status_code == 400
    # Many small fields are not a large upload: S3 names what is wrong, the form fields before the file.
    many = [(f"x-ignore-{n}", (None, "1")) for n in range(100)] + [(n, (None, v)) for n, v in grant.fields.items()]
    many.append(("file", ("a.png", b"x", "image/png")))
    assert error_code(_post_multipart(client, "/storage/upload", many)) == "MaxPostPreDataLengthExceeded"


def test_local_upload_honours_success_action_status(local_store, client):
    # Only a policy that covers the field admits it; then S3 answers 201 with an XML document.
    form = local_store.upload_form("uploads/s", "image/png", MAX, 60)
    assert error_code(post(client, {**form.fields, "success_action_status": "201"})) == "AccessDenied"

    s3 = boto3.client("s3", region_name="local", endpoint_url=BASE_URL, aws_access_key_id="local",
                      aws_secret_access_key=SECRET, config=Config(signature_version="s3v4"))
    covered = s3.generate_presigned_post(local_store.bucket, "uploads/s", Fields={"success_action_status": "201"},
                                         Conditions=[{"success_action_status": "201"}], ExpiresIn=60)
    response = post(client, covered["fields"], b"s")
    assert response.status == 201, response.body
    document = ET.fromstring(response.body)
    assert document.tag == "PostResponse"
    assert document.findtext("Key") == "uploads/s"
    assert document.findtext("ETag") == '"%s"' % hashlib.md5(b"s").hexdigest()


# --- local store: downloads ----------------------------------------------------------------------

def test_local_download_refuses_bad_or_expired_signatures(local_store, client, clock):
    local_store.put("images/z/original.png", b"zz", "image/png")
    url = urlsplit(local_store.download_url("images/z/original.png", 60))
    good = f"{url.path}?{url.query}"
    assert client.get(good).data == b"zz"
    assert client.head(good).status_code == 200

    assert client.get(url.path).status_code == 403
    tampered = good[:-1] + ("0" if good[-1] != "0" else "1")
    assert client.get(tampered).status_code == 403
    longer = good.replace("expires=", "expires=9")
    assert client.get(longer).status_code == 403
    other = local_store.download_url("images/z/thumb.png", 60)
    assert client.get(urlsplit(other).path + "?" + url.query).status_code == 403  # signed for another key

    clock.now += timedelta(seconds=61)
    expired = client.get(good)
    assert expired.status_code == 403
    assert expired.content_type.startswith("application/xml")


@pytest.mark.parametrize("spelling", ["0{e}", "+{e}", " {e}", "{e} ", "{e:_}", "{arabic}", "{e}.0"])
def test_local_download_accepts_expires_only_as_it_was_signed(local_store, client, spelling):
    """int() reads many spellings of one number; each would be another URL under the same signature."""
    local_store.put("images/e/original.png", b"ee", "image/png")
    url = urlsplit(local_store.download_url("images/e/original.png", 60))
    query = dict(part.split("=", 1) for part in url.query.split("&"))
    expires = int(query["expires"])
    arabic = "".join(chr(0x660 + int(digit)) for digit in str(expires))
    other = spelling.format(e=expires, arabic=arabic)
    assert client.get(url.path, query_string={"expires": str(expires), "signature": query["signature"]}).data == b"ee"
    refused = client.get(url.path, query_string={"expires": other, "signature": query["signature"]})
    assert refused.status_code == 403
    assert b"AccessDenied" in refused.data


def test_local_downloads_are_never_run_as_pages(local_store, client):
    """A stored original is whatever bytes the uploader chose (a JPEG with HTML appended, say): a browser
    must neither sniff it into a page nor run it on the gateway's origin."""
    local_store.put("images/p/original.jpg", b"\xff\xd8\xff<html><script>alert(1)</script>", "image/jpeg")
    url = urlsplit(local_store.download_url("images/p/original.jpg", 60))
    response = client.get(f"{url.path}?{url.query}")
    assert response.status_code == 200
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"] == "sandbox"


def test_local_download_of_a_missing_object_is_404(local_store, client):
    url = urlsplit(local_store.download_url("images/none/original.png", 60))
    response = client.get(f"{url.path}?{url.query}")
    assert response.status_code == 404
    assert b"<Code>NoSuchKey</Code>" in response.data


def test_local_store_errors_carry_s3_codes():
    error = LocalStorageError("EntityTooLarge", "too big")
    assert (error.code, error.status, error.message) == ("EntityTooLarge", 400, "too big")
    assert LocalStorageError("SignatureDoesNotMatch", "x").status == 403
