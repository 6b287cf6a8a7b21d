"""Listings with an ETag, answered 304 when the client already holds them (CONTRACT §7).

The ETag is a digest of the exact bytes of the answer, keyed by the caller's org: it changes whenever
any byte does (an image saved, changed, reordered, published, deleted, copied in, processed, and also
when the signing window turns and the URLs change), and an org can never validate another org's
answer, not even one with the same bytes (an emptied realty lists as `{"realtyImages":[]}` for everyone).

flask-smorest's `Blueprint.etag` is not used: it answers 304 by raising before the ETag is set, so
its 304 carries no ETag (RFC 9110 §15.4.5 wants it), and it hashes the schema-dumped data through a
second, key-sorted JSON encoding. Here the answer is encoded once, hashed once, and werkzeug's
`make_conditional` turns it into a 304 without a body, ETag kept. The parameter and the answers are
documented by hand in the view (`LISTING_ETAG`, `ListingHeaders`).
"""
from __future__ import annotations

import hashlib
import hmac
import threading
from collections import OrderedDict
from typing import Any, Callable, Hashable

from flask import Response, current_app, request

LISTING_ETAG = {"ETag": {
    "description": "Changes whenever the listing does. Send it back as If-None-Match to get a 304 "
                   "without a body while nothing changed.",
    "schema": {"type": "string"},
}}
CACHE_CONTROL = "private, no-cache"
"""Only the caller's own cache may keep the answer, and must revalidate it (a 304 costs no body)."""


class Listings:
    """Listings as answered (their JSON bytes and ETag), kept while they stay right.

    The key says what a listing is derived from: the org, the realty and the version of its images
    (core.domain.Realty.version), and the generation of the signed URLs in it. Whenever any of them
    changes the key does too, so an entry is never stale; a few dozen of them, about 300 KB each at
    200 images, spare re-presenting and re-encoding a gallery polled by many clients.
    """

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._answers: OrderedDict[Hashable, tuple[bytes, str]] = OrderedDict()

    def answer(self, key: Hashable, org: str, build: Callable[[], dict[str, Any]]) -> Response:
        """The listing for `key` (built by `build` when not kept) as JSON, or a 304 when If-None-Match holds it."""
        with self._lock:
            kept = self._answers.get(key)
            if kept is not None:
                self._answers.move_to_end(key)
        if kept is None:
            data = current_app.json.response(build()).get_data()
            kept = (data, listing_etag(data, org))
            with self._lock:
                self._answers[key] = kept
                while len(self._answers) > self._size:
                    self._answers.popitem(last=False)
        data, etag = kept
        response = Response(data, mimetype=current_app.json.mimetype)
        response.set_etag(etag)
        response.headers["Cache-Control"] = CACHE_CONTROL
        return response.make_conditional(request)


def listing_etag(data: bytes, org: str) -> str:
    # HMAC keyed by the org: the same bytes listed for two orgs never share an ETag.
    return hmac.new(org.encode("utf-8", "surrogatepass"), data, hashlib.sha256).hexdigest()[:40]
