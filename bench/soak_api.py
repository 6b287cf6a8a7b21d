"""How a soak client talks to the gateway and to S3: one request at a time, each counted, and writes sent
again with the same key until they get an answer that is not "try again", as a real client would.

Every write carries its key (REST `Request-ID`, GraphQL `Idempotency-Key`) chosen once per write, so a
retry is the same request: the gateway must do it once, whatever the retries met.
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
import random
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable

import requests
from PIL import Image, ImageDraw
from PIL.PngImagePlugin import PngInfo

from bench.soak_tally import Tally

TIMEOUT = (5, 60)
"""Connect and read timeouts: every backend call is bounded by BACKEND_TIMEOUT, so a minute without an
answer means the gateway lost the request."""
RETRY_FOR = 200.0
"""How long a write is sent again: longer than the 2 minutes a write of a killed gunicorn worker keeps
its key busy (README: Failures and retries), plus a fault."""
RETRYABLE = {"SERVICE_UNAVAILABLE", "CONFLICT"}

log = logging.getLogger("soak.writes")


@dataclass(frozen=True)
class Upload:
    key: str
    md5: str
    name: str


@dataclass
class Reply:
    status: int | None
    """None: no answer at all (connection refused or dropped, or the read timeout passed)."""
    body: Any = None
    code: str | None = None
    """REST errorCode, or the first GraphQL error's extensions.code."""
    replayed: bool = False
    etag: str | None = None
    graphql: bool = False

    @property
    def ok(self) -> bool:
        """REST: a 2xx. GraphQL: no error, or a result beside errors (README: a request counts as done
        when any of its mutations returned a result, and its answer is kept for retries)."""
        if self.status is None or not 200 <= self.status < 300:
            return False
        return self.code is None or self.graphql and self._has_result()

    @property
    def done_unanswered(self) -> bool:
        """409 ALREADY_DONE: the write was done once, but its answer died with the process that did it
        (killed, or its database cut, between the commit and keeping the answer): final, never to retry."""
        return self.code == "ALREADY_DONE"

    @property
    def retryable(self) -> bool:
        if self.done_unanswered:
            return False
        if self.status is None or self.status in (409, 503):
            return True
        return self.code in RETRYABLE and not self.ok and not self.replayed

    @property
    def label(self) -> str:
        if self.status is None:
            return "no answer"
        if self.code and self.ok:
            return f"{self.status} result and {self.code}"
        return f"{self.status} {self.code}" if self.code else str(self.status)

    @property
    def message(self) -> str:
        body = self.body if isinstance(self.body, dict) else {}
        errors = body.get("errors") if isinstance(body.get("errors"), list) else []
        return str(errors[0].get("message") if errors else body.get("message", ""))[:160]

    def _has_result(self) -> bool:
        data = self.body.get("data") if isinstance(self.body, dict) else None
        return isinstance(data, dict) and any(value is not None for value in data.values())


class Api:
    """One client's connection to the gateway (a requests.Session is not shared between threads)."""

    def __init__(self, base: str, token: str, tally: Tally) -> None:
        self.base = base
        self.tally = tally
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token}"

    # --- one request -------------------------------------------------------------------------------

    def send(self, kind: str, method: str, url: str, **kwargs: Any) -> Reply:
        sent_at = time.monotonic()
        try:
            response = self.http.request(method, url, timeout=TIMEOUT, **kwargs)
        except requests.RequestException as exc:
            if url.startswith(self.base):
                self.tally.unanswered(sent_at, kind, type(exc).__name__)
            reply = Reply(None)
        else:
            reply = _reply(response, graphql=url == self.base + "/graphql")
        self.tally.request(kind, reply.label)
        return reply

    def rest(self, kind: str, method: str, path: str, key: str | None = None, **kwargs: Any) -> Reply:
        headers = {"Request-ID": key or str(uuid.uuid4()), **kwargs.pop("headers", {})}
        return self.send(kind, method, self.base + path, headers=headers, **kwargs)

    def graphql(self, kind: str, query: str, variables: dict[str, Any], key: str | None = None,
                file: tuple[str, bytes, str] | None = None) -> Reply:
        headers = {"Idempotency-Key": key} if key else {}
        operations = json.dumps({"query": query, "variables": variables})
        if file is None:
            return self.send(kind, "POST", self.base + "/graphql", data=operations,
                             headers={**headers, "Content-Type": "application/json"})
        # The GraphQL multipart request: operations, map, then the file part (graphql-multipart-request-spec).
        parts = [("operations", (None, operations)), ("map", (None, json.dumps({"0": ["variables.input.file"]}))),
                 ("0", file)]
        return self.send(kind, "POST", self.base + "/graphql", headers=headers, files=parts)

    # --- until answered ----------------------------------------------------------------------------

    def until_answered(self, kind: str, key: str, send: Callable[[], Reply]) -> Reply | None:
        """Send the same write (named by `key`) until its answer is not "try again"; None when RETRY_FOR
        passed first. Every answer but a first final one is logged, to follow a retried write."""
        started, attempts = time.monotonic(), 0
        while True:
            reply = send()
            attempts += 1
            if reply.retryable or attempts > 1:
                log.info("%s %s attempt %d: %s%s", kind, key, attempts, reply.label,
                         " (replayed)" if reply.replayed else "")
            if not reply.retryable:
                if attempts > 1:
                    outcome = "answered by replay" if reply.replayed else "done on retry" if reply.ok else "refused"
                    self.tally.note(f"writes retried, then {outcome}")
                return reply
            if time.monotonic() - started > RETRY_FOR:
                self.tally.note("writes never answered")
                return None
            time.sleep(min(4.0, 0.25 * 2 ** min(attempts, 4)) * random.uniform(0.5, 1.0))

    def grant_and_upload(self, data: bytes, content_type: str, name: str) -> Upload | None:
        """A grant for one file (asked again after a 503) and its POST to S3; None when either failed."""
        key = str(uuid.uuid4())
        grant = self.until_answered("REST grant", key, lambda: self.rest(
            "REST grant", "GET", f"/uploadGrants?type={content_type}", key))
        if not (grant and grant.ok and self.upload(grant.body, data, content_type)):
            return None
        return Upload(grant.body["fields"]["key"], hashlib.md5(data).hexdigest(), name)

    def upload(self, grant: dict[str, Any], data: bytes, content_type: str) -> bool:
        """POST a file to S3 as the grant says, again after a cut connection; whether S3 took it."""
        parts = [(k, (None, v)) for k, v in grant["fields"].items()] + [("file", ("photo", data, content_type))]
        deadline = time.monotonic() + RETRY_FOR
        while time.monotonic() < deadline:
            reply = self.send("S3 presigned POST", "POST", grant["url"], files=parts)
            if reply.ok:
                return True
            if reply.status is not None and reply.status < 500:
                return False
            time.sleep(1.0)
        return False


def _reply(response: requests.Response, graphql: bool) -> Reply:
    try:
        body = response.json() if response.content else None
    except ValueError:
        body = None
    code = None
    if isinstance(body, dict) and graphql:
        errors = body.get("errors") or []
        code = ((errors[0].get("extensions") or {}).get("code") or "NO_CODE") if errors else None
    elif isinstance(body, dict) and response.status_code >= 400:
        code = body.get("errorCode")
    return Reply(response.status_code, body, code, replayed=response.headers.get("Idempotent-Replayed") == "true",
                 etag=response.headers.get("ETag"), graphql=graphql)


# --- what clients upload ------------------------------------------------------------------------------

FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}


def photo(content_type: str, label: str) -> bytes:
    """A small picture, different from every other (`label` is drawn and stored in its metadata): small,
    so rendering costs little and the soak measures the gateway's bookkeeping rather than Pillow."""
    rnd = random.Random(label)
    img = Image.new("RGB", (rnd.randint(200, 480), rnd.randint(150, 360)), tuple(rnd.choices(range(256), k=3)))
    draw = ImageDraw.Draw(img)
    for _ in range(4):
        x, y = rnd.randrange(img.width), rnd.randrange(img.height)
        colour = tuple(rnd.choices(range(256), k=3))
        draw.rectangle((x, y, x + rnd.randint(10, 120), y + rnd.randint(10, 90)), fill=colour)
    draw.text((8, 8), label, fill=(255, 255, 255))
    out = io.BytesIO()
    kind = FORMATS[content_type]
    if kind == "JPEG":
        img.save(out, kind, quality=85, comment=label.encode())
    elif kind == "PNG":
        info = PngInfo()
        info.add_text("label", label)
        img.save(out, kind, pnginfo=info)
    else:
        img.save(out, kind, quality=80, xmp=label.encode())
    return out.getvalue()
