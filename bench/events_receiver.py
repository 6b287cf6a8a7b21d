"""A webhook receiver for bench/events.py: a threaded http.server that verifies every POST with the
`standardwebhooks` library, as an integrator's receiver would, and notes when each verified event came.

    /hooks/<name>   verified with the secret registered under <name>; 401 (and counted) when it fails

HTTP/1.1 with keep-alive, so the gateway's sender reuses its connection as it would with a real receiver.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass(frozen=True)
class Received:
    at: float
    """time.time() when the verified event was read."""
    id: str
    type: str
    occurred_at: float
    realty_image_id: str


class Receiver:
    def __init__(self) -> None:
        self._secrets: dict[str, Webhook] = {}
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self.received: dict[str, list[Received]] = {}
        self.refused = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                name = self.path.rsplit("/", 1)[-1]
                ok = receiver._take(name, body, {k.lower(): v for k, v in self.headers.items()})
                self.send_response(204 if ok else 401)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}/hooks"

    def add(self, name: str, secret: str) -> None:
        with self._lock:
            self._secrets[name] = Webhook(secret)
            self.received.setdefault(name, [])

    def _take(self, name: str, body: bytes, headers: dict[str, str]) -> bool:
        verifier = self._secrets.get(name)
        try:
            if verifier is None:
                raise WebhookVerificationError("no such hook")
            event = verifier.verify(body, headers)
        except WebhookVerificationError:
            with self._lock:
                self.refused += 1
            return False
        now = time.time()
        occurred = _epoch(event["occurredAt"])
        with self._changed:
            self.received[name].append(Received(now, event["id"], event["type"], occurred,
                                                event["data"].get("realtyImageId", "")))
            self._changed.notify_all()
        return True

    def count(self, name: str, type_: str | None = None) -> int:
        with self._lock:
            return sum(1 for r in self.received[name] if type_ is None or r.type == type_)

    def wait_for(self, name: str, count: int, timeout: float, type_: str | None = None) -> list[Received]:
        """The events of `name` once `count` distinct ones (of `type_`) came; TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                got = {r.id: r for r in self.received[name] if type_ is None or r.type == type_}
                if len(got) >= count:
                    return sorted(got.values(), key=lambda r: r.at)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{name}: {len(got)} of {count} events within {timeout:.0f} s")
                self._changed.wait(min(left, 1.0))

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _epoch(rfc3339: str) -> float:
    return datetime.strptime(rfc3339, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()

