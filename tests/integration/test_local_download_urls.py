"""Download URLs of the local-disk store: signed in windows like the S3 store's, and only in the one
spelling download_url writes (each other spelling of `expires` would be another URL for one signature)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask

from adapters.local_blobs import LocalBlobStore
from storage_api import create_local_storage_blueprint

WINDOW = 900
TTL = 3600
WINDOW_START = datetime(2027, 1, 15, 8, 0, tzinfo=timezone.utc)


class Clock:
    def __init__(self) -> None:
        self.now = WINDOW_START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path, clock) -> LocalBlobStore:
    store = LocalBlobStore(str(tmp_path / "storage"), "secret", lambda: "http://gateway.test", now=clock,
                           url_window=WINDOW)
    store.put("images/p/original.png", b"png bytes", "image/png")
    return store


@pytest.fixture
def client(store):
    app = Flask(__name__)
    app.register_blueprint(create_local_storage_blueprint(store))
    return app.test_client()


def _path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def test_one_url_per_key_within_a_window_and_valid_a_ttl_after_it_is_handed_out(store, clock, client):
    first = store.download_url("images/p/original.png", TTL)
    for offset in (0, 1, 450.5, WINDOW - 0.001):
        clock.now = WINDOW_START + timedelta(seconds=offset)
        url = store.download_url("images/p/original.png", TTL)
        assert url == first
        expires = int(parse_qs(urlsplit(url).query)["expires"][0])
        assert TTL <= expires - clock.now.timestamp() <= TTL + WINDOW
    clock.now = WINDOW_START + timedelta(seconds=WINDOW)
    assert store.download_url("images/p/original.png", TTL) != first

    clock.now = WINDOW_START + timedelta(seconds=WINDOW - 1 + TTL)  # a TTL after it was last handed out
    assert client.get(_path(first)).data == b"png bytes"
    clock.now = WINDOW_START + timedelta(seconds=WINDOW + TTL)
    assert client.get(_path(first)).status_code == 403


SPELLINGS = {  # each is read by int() as the same number
    "plus": "+{}".format,
    "leading zero": "0{}".format,
    "spaces": " {} ".format,
    "underscores": "{:_}".format,
    "arabic-indic digits": lambda n: "".join(chr(0x660 + int(d)) for d in str(n)),
    "fullwidth digits": lambda n: "".join(chr(0xFF10 + int(d)) for d in str(n)),
}


@pytest.mark.parametrize("spelling", list(SPELLINGS))
def test_expires_is_accepted_only_as_written(store, client, spelling):
    url = store.download_url("images/p/original.png", TTL)
    query = parse_qs(urlsplit(url).query)
    expires, signature = int(query["expires"][0]), query["signature"][0]
    assert client.get(_path(url)).status_code == 200

    other = SPELLINGS[spelling](expires)
    assert int(other) == expires
    response = client.get(urlsplit(url).path, query_string={"expires": other, "signature": signature})
    assert response.status_code == 403, other
    assert b"<Code>AccessDenied</Code>" in response.data
