"""Every request counted, timed and logged in one line; /metrics for Prometheus (CONTRACT §12)."""
from __future__ import annotations

import functools
import hmac
import logging
import re
import time
import uuid

from flask import Flask, Response, g, jsonify, request
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4 as CONTENT_TYPE

from adapters import log_context
from adapters.prometheus_metrics import Collector, Metrics

log = logging.getLogger("realty.requests")

UNMATCHED = "unmatched"
"""The route of a request no route matched (a 404): its path is the client's, unbounded."""


def observe_requests(app: Flask, metrics: Metrics | None) -> None:
    """Registered before the facades' hooks: it runs first on the way in and last on the way out, so the
    status it counts is the one the client gets."""

    @app.before_request
    def start() -> None:
        g.ops_started = time.perf_counter()
        # A request without a Request-ID still gets one in the logs, so its jobs' lines point back at it.
        log_context.request_id.set(log_context.loggable_request_id(request.headers.get("Request-ID"))
                                   or str(uuid.uuid4()))
        log_context.org.set(None)

    @app.after_request
    def finish(response: Response) -> Response:
        started = g.get("ops_started")
        if started is None:  # a response made before any hook ran (e.g. a routing redirect)
            return response
        seconds = time.perf_counter() - started
        route = _template(request.url_rule.rule) if request.url_rule is not None else UNMATCHED
        if metrics is not None:
            metrics.request(route, request.method, response.status_code, seconds)
            codes = g.get("graphql_codes")
            if codes is not None:
                metrics.graphql_operation(g.get("graphql_operation"), [c for c in codes if c])
        log.info("%s %s %d %.1f ms", request.method, route, response.status_code, seconds * 1000,
                 extra=log_context.fields(method=request.method, route=route, status=response.status_code,
                                          durationMs=round(seconds * 1000, 1)))
        return response

    @app.teardown_request
    def forget(_exc: BaseException | None) -> None:
        # The thread serves other requests next, and logs between them belong to none.
        log_context.request_id.set(None)
        log_context.org.set(None)


@functools.lru_cache(maxsize=512)
def _template(rule: str) -> str:
    """`/realty/<uuid_segment:realtyId>/images` as `/realty/{realtyId}/images`, the way the API's docs write it."""
    return _CONVERTED.sub(r"{\1}", rule)


_CONVERTED = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


def add_metrics_endpoint(app: Flask, metrics: Metrics, live: Collector, token: str | None) -> None:
    @app.get("/metrics")
    def scrape() -> Response:
        if token and not _bearer_is(token):
            response = jsonify(errorCode="UNAUTHORIZED", message="/metrics needs the METRICS_TOKEN as a bearer token")
            response.status_code = 401
            response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
        return Response(metrics.exposition(live), content_type=CONTENT_TYPE)


def _bearer_is(token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").strip().partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())
