"""Presigned S3 GetObject URLs at the cost of one HMAC, identical to the ones botocore makes.

botocore's `generate_presigned_url` costs about a millisecond a URL (it builds and resolves a whole
request, endpoint rules included); a listing of 200 images asks for 800. This signer does SigV4
query-string signing itself:

- Where a URL points (scheme, host, the path before the key, the region in the credential scope) is
  whatever botocore makes of this client: an actual botocore presigned URL of a probe key is taken
  apart once per window. So virtual-host or path style, a custom AWS_ENDPOINT_URL with its path,
  the global us-east-1 endpoint, a region learned by the client: all are botocore's decision.
- The probe also checks this signer: it signs the probe key as of botocore's own timestamp and must
  get botocore's exact URL. If it does not (a botocore that signs differently, SigV2, extra query
  parameters), every URL of that window is made by botocore instead, and a warning is logged; those
  are cached all the same, so they too stay the same within the window.
- URLs are signed as of the window start (adapters.url_window.window_start), so a (key, window, credentials)
  triple always gives the same URL: a bounded LRU keeps them, and the day's SigV4 signing key is
  derived once per (secret, date, region).
- Credentials are asked for at most once a second (`get_frozen_credentials()`, botocore's thread-safe
  way), so rotated credentials are used as soon as botocore has them; they are part of the cache key.
"""
from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence
from urllib.parse import parse_qsl, quote, urlsplit

from botocore.exceptions import NoCredentialsError

from adapters.url_window import MAX_PRESIGNED_SECONDS, check_window

log = logging.getLogger(__name__)

ALGORITHM = "AWS4-HMAC-SHA256"
PROBE_KEY = "url-signer-probe"
DEFAULT_CACHE_SIZE = 10_000
"""URLs kept: a dozen full listings (200 images x 4 URLs); about 8 MB."""
_AUTH_PARAMS = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders")
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class _Endpoint:
    """Where botocore points this bucket's objects, and how it signs for it."""

    origin: str
    """scheme://netloc, exactly as botocore writes it (a default port it was given stays)."""
    path: str
    """The encoded path before the key, e.g. "/" or "/bucket/" or "/base/bucket/"."""
    host: str
    """The Host header value botocore signs (lower case, default port dropped)."""
    region: str


class S3UrlSigner:
    """`url(key, ttl)`: a presigned GetObject URL for an S3 object key, stable within a window."""

    def __init__(self, client: Any, bucket: str, credentials: Callable[[], Any], window: int, *,
                 now: Callable[[], float] = time.time, cache_size: int = DEFAULT_CACHE_SIZE) -> None:
        """`credentials()` returns botocore Credentials (or None): what `client` signs with."""
        check_window(window)
        self._client = client
        self._bucket = bucket
        self._credentials = credentials
        self._window = window
        self._now = now
        self._probe_lock = threading.Lock()
        self._key_lock = threading.Lock()
        self._endpoints: dict[int, _Endpoint | None] = {}
        self._signing_keys: dict[tuple[str, str, str], bytes] = {}
        self._cached = functools.lru_cache(maxsize=cache_size)(self._url)
        self._current: tuple[Any, float] = (None, float("-inf"))
        """Frozen credentials and until when they are used (one tuple: replaced atomically)."""

    def url(self, key: str, ttl: int) -> str:
        return self.urls([key], ttl)[0]

    def urls(self, keys: Sequence[str], ttl: int) -> list[str]:
        expires = self._window + ttl
        if expires > MAX_PRESIGNED_SECONDS:
            check_window(self._window, ttl)  # raises, saying why
        start, credentials = self.generation()
        cached = self._cached
        return [cached(key, start, expires, credentials) for key in keys]

    def generation(self) -> tuple[int, Any]:
        """(window start, credentials): while both stay, every key's URL stays the same."""
        now = self._now()
        credentials, until = self._current
        if now >= until:
            # botocore refreshes expiring credentials minutes ahead, so a copy a second old is still valid.
            credentials = self._frozen_credentials()
            self._current = (credentials, now + 1.0)
        return int(now // self._window) * self._window, credentials

    # --- signing ---------------------------------------------------------------------------------

    def _url(self, key: str, start: int, expires: int, credentials: Any) -> str:
        endpoint = self._endpoint(start)
        if endpoint is None:
            return self._botocore_url(key, expires)
        return self._sign(endpoint, key, time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(start)), expires, credentials)

    def _sign(self, endpoint: _Endpoint, key: str, amz_date: str, expires: int, credentials: Any) -> str:
        """SigV4 query signing of GET `key`, as botocore's S3SigV4QueryAuth does it."""
        scope = f"{amz_date[:8]}/{endpoint.region}/s3/aws4_request"
        params = [("X-Amz-Algorithm", ALGORITHM), ("X-Amz-Credential", f"{credentials.access_key}/{scope}"),
                  ("X-Amz-Date", amz_date), ("X-Amz-Expires", str(expires)), ("X-Amz-SignedHeaders", "host")]
        if credentials.token is not None:
            params.append(("X-Amz-Security-Token", credentials.token))
        encoded = [(quote(name, safe="-_.~"), quote(value, safe="-_.~")) for name, value in params]
        # S3 signs the path as sent: botocore's greedy-label encoding of the key, never normalised.
        path = endpoint.path + quote(key, safe="/~")
        canonical_request = "\n".join((
            "GET", path, "&".join(f"{n}={v}" for n, v in sorted(encoded)),
            f"host:{endpoint.host}\n", "host", "UNSIGNED-PAYLOAD"))
        string_to_sign = "\n".join((ALGORITHM, amz_date, scope,
                                    hashlib.sha256(canonical_request.encode()).hexdigest()))
        signing_key = self._signing_key(credentials.secret_key, amz_date[:8], endpoint.region)
        signature = hmac.new(signing_key, string_to_sign.encode(), hashlib.sha256).hexdigest()
        query = "&".join(f"{n}={v}" for n, v in encoded)
        return f"{endpoint.origin}{path}?{query}&X-Amz-Signature={signature}"

    def _signing_key(self, secret: str, date: str, region: str) -> bytes:
        cache_key = (secret, date, region)
        signing_key = self._signing_keys.get(cache_key)
        if signing_key is None:
            signing_key = _hmac(("AWS4" + secret).encode(), date)
            for part in (region, "s3", "aws4_request"):
                signing_key = _hmac(signing_key, part)
            with self._key_lock:
                if len(self._signing_keys) >= 8:  # old days and rotated secrets
                    self._signing_keys.clear()
                self._signing_keys[cache_key] = signing_key
        return signing_key

    def _frozen_credentials(self) -> Any:
        credentials = self._credentials()
        if credentials is None:
            raise NoCredentialsError()
        return credentials.get_frozen_credentials()

    def _botocore_url(self, key: str, expires: int) -> str:
        return self._client.generate_presigned_url(
            "get_object", Params={"Bucket": self._bucket, "Key": key}, ExpiresIn=expires)

    # --- where botocore points -------------------------------------------------------------------

    def _endpoint(self, start: int) -> _Endpoint | None:
        """This window's endpoint, from one botocore URL; None when this signer cannot match botocore."""
        if start in self._endpoints:
            return self._endpoints[start]
        with self._probe_lock:
            if start not in self._endpoints:
                endpoint = self._probe()
                self._endpoints = {start: endpoint}  # earlier windows are done with
        return self._endpoints[start]

    def _probe(self) -> _Endpoint | None:
        probe = self._botocore_url(PROBE_KEY, 60)
        parts = urlsplit(probe)
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        expected = set(_AUTH_PARAMS) | {"X-Amz-Signature"} | ({"X-Amz-Security-Token"} & set(params))
        suffix = quote(PROBE_KEY, safe="/~")
        if (set(params) != expected or params["X-Amz-Algorithm"] != ALGORITHM
                or params["X-Amz-SignedHeaders"] != "host" or not parts.path.endswith("/" + suffix)):
            log.warning("botocore presigns S3 URLs in a way this signer does not know; botocore signs every URL "
                        "of this window instead (about a millisecond each): %s", parts._replace(query="").geturl())
            return None
        endpoint = _Endpoint(origin=f"{parts.scheme}://{parts.netloc}", path=parts.path[:-len(suffix)],
                             host=_host(parts), region=params["X-Amz-Credential"].split("/")[2])
        # The same key, time and expiry through this signer must give botocore's URL to the byte.
        credentials = self._frozen_credentials()
        if self._sign(endpoint, PROBE_KEY, params["X-Amz-Date"], 60, credentials) != probe:
            log.warning("this signer's URL differs from botocore's for %s; botocore signs every URL of this "
                        "window instead (about a millisecond each)", endpoint.origin)
            return None
        return endpoint


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def _host(parts: Any) -> str:
    """The Host header botocore signs for a URL (botocore.auth._host_from_url)."""
    host = parts.hostname
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    if parts.port is not None and parts.port != _DEFAULT_PORTS.get(parts.scheme):
        host = f"{host}:{parts.port}"
    return host


__all__ = ["S3UrlSigner"]
