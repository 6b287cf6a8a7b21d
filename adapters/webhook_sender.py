"""Sending webhooks over HTTP (core/ports.py WebhookSender), signed as Standard Webhooks says.

The request goes to an address the core checked (`WebhookMessage.addresses`), never to what a new DNS
lookup would say: the connection is made to that IP, with the URL's host name in the Host header and,
for https, in TLS (SNI and certificate check). No redirect is followed, nothing is retried here (the
core schedules retries), and an answer's body is read only as far as ANSWER_BYTES. Connections are
kept alive per endpoint: a burst of events to one receiver reuses one connection.
"""
from __future__ import annotations

import socket
import threading
import time
from urllib.parse import urlsplit

import urllib3
from standardwebhooks.webhooks import Webhook as Signer
from urllib3.exceptions import HTTPError

from adapters.observations import webhook_outcome
from core.ports import SendResult, WebhookMessage, WebhookSender

ANSWER_BYTES = 64 * 1024
USER_AGENT = "realty-image-gateway-webhooks/1"
POOLS_KEPT = 256


class HttpWebhookSender(WebhookSender):
    def __init__(self) -> None:
        self._pools: dict[tuple[str, str, int, str], urllib3.HTTPConnectionPool] = {}
        self._lock = threading.Lock()

    def resolve(self, host: str, port: int) -> list[str]:
        try:
            found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError):
            return []
        return list(dict.fromkeys(info[4][0] for info in found))

    def send(self, message: WebhookMessage, timeout: float) -> SendResult:
        return webhook_outcome(self._post(message, timeout))

    def _post(self, message: WebhookMessage, timeout: float) -> SendResult:
        parts = urlsplit(message.url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "host": parts.netloc.rsplit("@", 1)[-1],
            "webhook-id": message.id,
            "webhook-timestamp": str(int(message.timestamp.timestamp())),
            "webhook-signature": Signer(message.secret).sign(message.id, message.timestamp, message.body.decode()),
        }
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        started = time.monotonic()
        try:
            pool = self._pool(parts.scheme, message.addresses[0], port, host)
            answer = pool.urlopen("POST", path, body=message.body, headers=headers, redirect=False, retries=False,
                                  timeout=urllib3.Timeout(total=timeout), preload_content=False)
            try:
                answer.read(ANSWER_BYTES)
            finally:
                answer.release_conn()
        except (HTTPError, OSError) as exc:
            return SendResult(None, _ms(started), f"no answer: {exc.__class__.__name__}")
        status = answer.status
        error = None if 200 <= status < 300 else (
            f"redirected to {answer.headers.get('location')!r} (not followed)" if 300 <= status < 400
            else f"answered {status}")
        return SendResult(status, _ms(started), error)

    def _pool(self, scheme: str, address: str, port: int, host: str) -> urllib3.HTTPConnectionPool:
        key = (scheme, address, port, host)
        with self._lock:
            pool = self._pools.get(key)
            if pool is None:
                if len(self._pools) >= POOLS_KEPT:
                    self._pools.pop(next(iter(self._pools))).close()
                if scheme == "https":
                    pool = urllib3.HTTPSConnectionPool(address, port, server_hostname=host, assert_hostname=host,
                                                       cert_reqs="CERT_REQUIRED", maxsize=4, block=False)
                else:
                    pool = urllib3.HTTPConnectionPool(address, port, maxsize=4, block=False)
                self._pools[key] = pool
            return pool


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
