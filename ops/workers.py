"""The render workers' side: `flask --app wsgi worker` serves the metrics of all its worker processes.

Each worker process (see adapters.dramatiq_workers) counts its jobs into prometheus-client's multiprocess
files; the supervisor, which outlives them all, points them at one directory (emptied at its start, as
gunicorn.conf.py does for the gateway) and answers scrapes from it on WORKER_METRICS_HOST:PORT.
"""
from __future__ import annotations

import hmac
import logging
import os
import shutil
import tempfile
import threading
from typing import Any, Callable, Iterable
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4 as CONTENT_TYPE
from prometheus_client.exposition import ThreadingWSGIServer
from prometheus_client.multiprocess import MultiProcessCollector

from adapters.log_context import use_json_logs, use_text_logs
from adapters.prometheus_metrics import MULTIPROC_DIR
from config import Settings

log = logging.getLogger(__name__)


def start_worker_supervision(settings: Settings) -> None:
    """Logs as LOG_FORMAT says, the metrics directory the worker processes will inherit, and its scrapes."""
    if settings.log_format == "json":
        use_json_logs()
    else:
        use_text_logs()
    directory = os.environ.get(MULTIPROC_DIR) or tempfile.mkdtemp(prefix="realty-worker-metrics-")
    empty_directory(directory)
    os.environ[MULTIPROC_DIR] = directory  # the worker processes started from here import prometheus_client
    if settings.worker_metrics_port:
        try:
            server = make_server(settings.worker_metrics_host, settings.worker_metrics_port,
                                 _scrapes(directory, settings.metrics_token), ThreadingWSGIServer, _Quiet)
        except OSError as exc:  # the port is taken (another worker command on this machine): render anyway
            log.error("render worker metrics not served on %s:%d: %s; set WORKER_METRICS_PORT to a free port",
                      settings.worker_metrics_host, settings.worker_metrics_port, exc)
            return
        threading.Thread(target=server.serve_forever, name="worker-metrics", daemon=True).start()
        log.info("render worker metrics on http://%s:%d/metrics", settings.worker_metrics_host,
                 server.server_port)


def empty_directory(directory: str) -> None:
    """What processes of an earlier run left in a multiprocess metrics directory would count again."""
    os.makedirs(directory, exist_ok=True)
    for name in os.listdir(directory):
        path = os.path.join(directory, name)
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)


def _scrapes(directory: str, token: str | None) -> Callable[..., Iterable[bytes]]:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/metrics":
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"Not found: scrape /metrics\n"]
        scheme, _, given = environ.get("HTTP_AUTHORIZATION", "").strip().partition(" ")
        if token and not (scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())):
            start_response("401 Unauthorized", [("Content-Type", "text/plain"),
                                                ("WWW-Authenticate", 'Bearer realm="metrics"')])
            return [b"/metrics needs the METRICS_TOKEN as a bearer token\n"]
        start_response("200 OK", [("Content-Type", CONTENT_TYPE)])
        return [generate_latest(MultiProcessCollector(None, path=directory))]  # type: ignore[arg-type]

    return app


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass
