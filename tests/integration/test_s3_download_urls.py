"""S3 download URLs (adapters.s3_url_signer through S3BlobStore): botocore's URLs to the byte, stable
within a signing window, valid at least DOWNLOAD_URL_TTL after they are handed out, and they fetch the
right bytes from moto's S3 server.

botocore is compared with its own clock frozen at the window start (`botocore.auth.get_current_datetime`,
the one clock its SigV4 signers read); the store is given the clock it signs by. Nothing of ours is patched.
"""
from __future__ import annotations

import itertools
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit

import boto3
import botocore.auth
import pytest
import requests
from botocore.config import Config
from botocore.credentials import Credentials

from adapters.s3_blobs import S3BlobStore
from adapters.url_window import MAX_PRESIGNED_SECONDS

BUCKET = "realty-urls"
WINDOW = 900
TTL = 3600
T0 = 1_800_000_123.4  # 2027-01-15T08:02:03.4Z, inside the window that starts at ...7200 (08:00:00)
WINDOW_START = int(T0 // WINDOW) * WINDOW
KEYS = [
    "images/0b7f4c1e-58aa-4e61-9a57-51b1f62e4f5d/original.jpg",
    "images/with space/plus+sign/ünïcödé €/tilde~and?query#hash&amp=eq.jpg",
    "uploads//double-slash/./dot/../dotdot/%41-percent",
]


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def frozen_botocore(monkeypatch):
    """botocore signs as of the window start (the time our URLs are signed as of)."""
    moment = datetime.fromtimestamp(WINDOW_START, timezone.utc).replace(tzinfo=None)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *args, **kwargs: moment)


def botocore_url(store: S3BlobStore, key: str, expires: int) -> str:
    return store.client.generate_presigned_url("get_object", Params={"Bucket": store.bucket, "Key": store.s3_key(key)},
                                               ExpiresIn=expires)


SETUPS = {
    "aws, virtual host": {},
    "aws, other region": {"AWS_DEFAULT_REGION": "eu-north-1"},
    "prefix": {"prefix": "tenants/a b+c/ü"},
    "session token": {"AWS_SESSION_TOKEN": "FwoGZXIvYXdzE/session+token=="},
    "custom endpoint": {"AWS_ENDPOINT_URL": "http://127.0.0.1:9000"},
    "custom endpoint with path and default port": {"AWS_ENDPOINT_URL": "https://s3.example.test:443/storage"},
    "dotted bucket": {"bucket": "realty.urls.example"},
}


@pytest.mark.parametrize("setup", list(SETUPS), ids=list(SETUPS))
@pytest.mark.parametrize("key", KEYS, ids=["plain", "special", "odd-path"])
def test_urls_are_byte_identical_to_botocores(aws_credentials, monkeypatch, frozen_botocore, setup, key):
    options = dict(SETUPS[setup])
    for name in [n for n in options if n.startswith("AWS_")]:
        monkeypatch.setenv(name, options.pop(name))
    store = S3BlobStore(options.pop("bucket", BUCKET), url_window=WINDOW, now=Clock(), **options)

    ours = store.download_url(key, TTL)

    assert ours == botocore_url(store, key, WINDOW + TTL)
    query = parse_qs(urlsplit(ours).query)
    assert query["X-Amz-Date"] == ["20270115T080000Z"]
    assert query["X-Amz-Expires"] == [str(WINDOW + TTL)]


def test_a_client_made_elsewhere_signs_with_the_credentials_it_is_given(monkeypatch, frozen_botocore):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    credentials = Credentials("AKIDEXPLICIT", "explicit-secret", "explicit-token")
    client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="AKIDEXPLICIT",
                          aws_secret_access_key="explicit-secret", aws_session_token="explicit-token",
                          config=Config(signature_version="s3v4"))
    store = S3BlobStore(BUCKET, client=client, credentials=lambda: credentials, url_window=WINDOW, now=Clock())
    assert store.download_url(KEYS[0], TTL) == botocore_url(store, KEYS[0], WINDOW + TTL)


def test_rotated_credentials_are_used_for_the_next_urls(monkeypatch, frozen_botocore):
    """botocore refreshes credentials in place (RefreshableCredentials); both signers must follow."""
    session = boto3.session.Session(aws_access_key_id="AKIDFIRST", aws_secret_access_key="first-secret",
                                    region_name="us-east-1")
    client = session.client("s3", config=Config(signature_version="s3v4"))
    clock = Clock()
    store = S3BlobStore(BUCKET, client=client, credentials=session.get_credentials, url_window=WINDOW, now=clock)
    first = store.download_url(KEYS[0], TTL)
    assert "AKIDFIRST%2F" in first and first == botocore_url(store, KEYS[0], WINDOW + TTL)

    credentials = session.get_credentials()
    credentials.access_key, credentials.secret_key, credentials.token = "AKIDSECOND", "second-secret", "tok/en+"
    clock.now += 2  # a copy of the credentials is used for a second at most
    second = store.download_url(KEYS[0], TTL)
    assert "AKIDSECOND%2F" in second and "X-Amz-Security-Token=tok%2Fen%2B" in second
    assert second == botocore_url(store, KEYS[0], WINDOW + TTL)


def test_credentials_unlike_the_clients_fall_back_to_botocores_own_urls(aws_credentials, frozen_botocore, caplog):
    """The signer checks itself against botocore once a window; URLs are never signed with other credentials."""
    store = S3BlobStore(BUCKET, url_window=WINDOW, now=Clock(),
                        credentials=lambda: Credentials("AKIDOTHER", "other-secret"))
    assert store.download_url(KEYS[0], TTL) == botocore_url(store, KEYS[0], WINDOW + TTL)
    assert "differs from botocore's" in caplog.text


def test_one_url_per_key_within_a_window_and_valid_a_ttl_after_it_is_handed_out(aws_credentials):
    clock = Clock(WINDOW_START)
    store = S3BlobStore(BUCKET, url_window=WINDOW, now=clock)
    first = store.download_url(KEYS[0], TTL)
    for moment in (WINDOW_START + 1, T0, WINDOW_START + WINDOW - 0.001):
        clock.now = moment
        url = store.download_url(KEYS[0], TTL)
        assert url == first
        query = parse_qs(urlsplit(url).query)
        signed_at = datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
        expires_at = signed_at.timestamp() + int(query["X-Amz-Expires"][0])
        assert expires_at - moment >= TTL
        assert expires_at - moment <= TTL + WINDOW
    clock.now = WINDOW_START + WINDOW
    assert store.download_url(KEYS[0], TTL) != first
    assert store.download_url(KEYS[1], TTL) != store.download_url(KEYS[0], TTL)


def test_a_lifetime_s3_would_refuse_is_never_signed(aws_credentials):
    store = S3BlobStore(BUCKET, url_window=WINDOW, now=Clock())
    with pytest.raises(ValueError, match="604800"):
        store.download_url(KEYS[0], MAX_PRESIGNED_SECONDS - WINDOW + 1)
    assert store.download_url(KEYS[0], MAX_PRESIGNED_SECONDS - WINDOW)


@pytest.fixture
def moto_server(aws_credentials, moto_url, monkeypatch) -> str:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    return moto_url


@pytest.mark.parametrize("prefix", ["", "tenants/a b"])
def test_urls_download_the_right_bytes_from_moto(moto_server, prefix):
    store = S3BlobStore(BUCKET, prefix=prefix, url_window=WINDOW)
    store.create_bucket()
    contents = {key: f"bytes of {key}".encode() + bytes(range(256)) for key in KEYS[:2]}
    for key, data in contents.items():
        store.put(key, data, "image/jpeg")
    for key, data in itertools.chain(contents.items(), reversed(contents.items())):  # fresh, then cached
        url = store.download_url(key, TTL)
        assert url.startswith(moto_server + "/")
        response = requests.get(url, timeout=10)
        assert response.status_code == 200, response.text
        assert response.content == data
        assert response.headers["Content-Type"] == "image/jpeg"
