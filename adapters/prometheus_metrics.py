"""The gateway's Prometheus metrics (CONTRACT §12), kept with prometheus-client.

Under gunicorn, and in the render workers, several processes make one gateway. prometheus-client's
multiprocess mode then keeps each process's values in files under PROMETHEUS_MULTIPROC_DIR, and a scrape
of any one process sums them all. That variable must be set before prometheus_client is first imported,
so it is set by gunicorn.conf.py and by the worker supervisor (`ops.workers`), never here. Without it
(`flask run`, the test client) a scrape shows this process's own values.

Every label is bounded: route templates (never paths with ids), methods, statuses and codes from fixed
sets, GraphQL operation names up to MAX_OPERATION_NAMES a process, then `other`.
"""
from __future__ import annotations

import os
import re
import threading
from typing import Any, Iterable, Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics, generate_latest
from prometheus_client.core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from adapters.observations import backend_failed, webhook_answered

MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
JOB_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
"""Any other method a client sends is counted as `other`: it is a free-form string."""
MAX_OPERATION_NAMES = 100
_GRAPHQL_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,63}\Z")
BACKENDS = ("database", "storage", "redis")
JOB_KINDS = ("render_image", "fan_out", "deliver_events")
JOB_OUTCOMES = ("done", "retried", "failed")
WEBHOOK_OUTCOMES = ("delivered", "refused", "no_answer")


class Collector(Protocol):
    def collect(self) -> Iterable[Metric]: ...


class Metrics:
    """The metrics of one process, on a registry of its own (an app in a test counts only its requests)."""

    def __init__(self) -> None:
        # The *_created series double what a scrape holds and no dashboard uses them (multiprocess mode
        # never has them); the switch is the library's, for the whole process.
        disable_created_metrics()
        self.registry = registry = CollectorRegistry()
        self.requests = Counter("realty_http_requests", "HTTP requests answered, by route template, method and "
                                "status", ["route", "method", "status"], registry=registry)
        self.latency = Histogram("realty_http_request_duration_seconds", "Time to answer an HTTP request",
                                 ["route", "method"], buckets=LATENCY_BUCKETS, registry=registry)
        self.graphql = Counter("realty_graphql_operations", "GraphQL operations by operation name and error code "
                               "(OK: no error)", ["operation", "code"], registry=registry)
        self.jobs = Counter("realty_jobs", "Jobs run, by kind and outcome (retried: it failed and is queued "
                            "again)", ["kind", "outcome"], registry=registry)
        self.job_duration = Histogram("realty_job_duration_seconds", "Time a job ran", ["kind", "outcome"],
                                      buckets=JOB_BUCKETS, registry=registry)
        self.webhooks = Counter("realty_webhook_deliveries", "Webhook POSTs by outcome", ["outcome"],
                                registry=registry)
        self.backend_failures = Counter("realty_backend_failures", "Calls to a backend that failed as unavailable",
                                        ["backend"], registry=registry)
        # Present at 0 from the start, so a rate() over them has a series before the first failure.
        for backend in BACKENDS:
            self.backend_failures.labels(backend)
        for outcome in WEBHOOK_OUTCOMES:
            self.webhooks.labels(outcome)
        self._operations: set[str] = set()
        self._request_series: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._lock = threading.Lock()
        backend_failed.connect(self._backend_failed)
        webhook_answered.connect(self._webhook_answered)

    def request(self, route: str, method: str, status: int, seconds: float) -> None:
        method = method if method in METHODS else "other"
        series = self._request_series.get((route, method, status))
        if series is None:
            # Looked up once per (route, method, status): labels() takes a lock and builds its key each time.
            series = (self.requests.labels(route, method, str(status)), self.latency.labels(route, method))
            self._request_series[(route, method, status)] = series
        series[0].inc()
        series[1].observe(seconds)

    def graphql_operation(self, name: str | None, codes: Iterable[str]) -> None:
        operation = self._operation_label(name)
        for code in set(codes) or ("OK",):
            self.graphql.labels(operation, code).inc()

    def job(self, kind: str, outcome: str, seconds: float) -> None:
        self.jobs.labels(kind, outcome).inc()
        self.job_duration.labels(kind, outcome).observe(seconds)

    def exposition(self, *live: Collector) -> bytes:
        """The text a scrape gets: every process's values when in multiprocess mode, plus `live` ones
        (gauges read at scrape time, such as the queue's depth)."""
        directory = os.environ.get(MULTIPROC_DIR)
        counted = MultiProcessCollector(None, path=directory) if directory else self.registry
        return generate_latest(_Scrape(counted, *live))  # type: ignore[arg-type]

    def _operation_label(self, name: str | None) -> str:
        """None: refused before it ran (no credential, no valid body); "": it ran without a name."""
        if name is None:
            return "unknown"
        if not name:
            return "anonymous"
        if name in self._operations:
            return name
        if not _GRAPHQL_NAME.match(name):
            return "other"
        with self._lock:
            if len(self._operations) < MAX_OPERATION_NAMES:
                self._operations.add(name)
                return name
        return "other"

    def _backend_failed(self, backend: str) -> None:
        self.backend_failures.labels(backend).inc()

    def _webhook_answered(self, outcome: str) -> None:
        self.webhooks.labels(outcome).inc()


class _Scrape:
    def __init__(self, *collectors: Collector) -> None:
        self._collectors = collectors

    def collect(self) -> Iterable[Metric]:
        for collector in self._collectors:
            yield from collector.collect()


def process_ended(pid: int) -> None:
    """gunicorn's child_exit and a worker's shutdown: a dead process's live gauges stop counting."""
    directory = os.environ.get(MULTIPROC_DIR)
    if directory:
        mark_process_dead(pid, directory)
