"""gunicorn's settings for the gateway: `gunicorn -c gunicorn.conf.py wsgi:app`.

gunicorn also reads this file by itself when started from this directory, so a bare `gunicorn wsgi:app`
uses it as well. Options on the command line win, e.g. `--bind 0.0.0.0:8000 --workers 4`.
"""
import json
import os
import shutil
import tempfile

from gunicorn import util
from gunicorn.glogging import Logger

# Threads, because a request mostly waits: on the database, on storage, on decoding that releases the
# GIL. Two processes of four threads save 200 phone photos in one request in a few seconds on two cores
# (bench/bulk_save.py). WEB_CONCURRENCY is gunicorn's usual way to set the number of processes.
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = 4

# A thread's request is bounded by its backend calls (BACKEND_TIMEOUT each), not by these: `timeout` is
# how long a worker process may stop answering gunicorn's heartbeat before it is replaced, and
# `graceful_timeout` how long a restart lets requests in flight finish. A save of 200 12-megapixel
# photos takes seconds; both leave ten times that.
timeout = 120
graceful_timeout = 120
keepalive = 5

# Every legitimate request fits well within these: the longest URL the gateway hands out or takes (a
# signed download URL, a listing, /uploadGrants?type=...) is under 1 KB, a bearer token a few KB, and a
# browser sends some 30 headers. Only abusive requests meet them, and are answered in JSON (below).
limit_request_line = 8190  # gunicorn's largest; a request line longer than this is 414
limit_request_fields = 100
limit_request_field_size = 16384  # a header line longer than this is 431


class JsonLogger(Logger):
    """LOG_FORMAT=json: gunicorn's own lines (starting, booting a worker, a worker timing out) as JSON objects
    too, in the same shape as the gateway's, so a log store gets nothing but JSON from this server.

    Not `logconfig_dict`: that also turns gunicorn's access log on, whose lines hold whole URLs, query
    strings and so signed URLs included (the gateway logs each request itself, by route template)."""

    def setup(self, cfg):
        super().setup(cfg)
        from adapters.log_context import json_formatter  # the gateway's own, so both read alike

        for handler in self.error_log.handlers:
            handler.setFormatter(json_formatter())


if os.environ.get("LOG_FORMAT", "").strip().lower() == "json":
    logger_class = JsonLogger


_CODES = {400: "BAD_REQUEST_PARAMETERS", 403: "FORBIDDEN", 414: "URI_TOO_LONG", 417: "EXPECTATION_FAILED",
          431: "REQUEST_HEADER_FIELDS_TOO_LARGE", 500: "TECHNICAL_ERROR", 501: "NOT_IMPLEMENTED"}


def _write_json_error(sock, status_int, reason, mesg):
    """What gunicorn answers for a request it cannot hand to the app (an over-long line, a malformed
    header), in the REST error envelope instead of gunicorn's HTML page (CONTRACT §3: never HTML)."""
    body = json.dumps({"errorCode": _CODES.get(status_int, reason.upper().replace(" ", "_")),
                       "message": reason, "description": mesg}).encode("ascii")
    head = (f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    util.write_nonblock(sock, head.encode("latin-1") + body)


def post_worker_init(worker):
    # gunicorn has no setting for the format of its own error answers; its workers send them through
    # gunicorn.util.write_error, so each worker process points that at the JSON writer above.
    util.write_error = _write_json_error


# --- metrics across the worker processes (CONTRACT §12) -------------------------------------------------
# prometheus-client's multiprocess mode: every worker writes its values to files in one directory and a
# scrape of any worker sums them. The variable is set here, as the configuration is read and before any
# worker (or a --preload) imports prometheus_client; without one from the environment, a directory of
# this server's own is made and removed again when it stops.
_OWN_METRICS_DIR = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _OWN_METRICS_DIR:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="realty-metrics-")


def on_starting(server):
    # What processes of an earlier run left there would be counted again.
    directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    os.makedirs(directory, exist_ok=True)
    for name in os.listdir(directory):
        if name.endswith(".db"):
            os.unlink(os.path.join(directory, name))


def child_exit(server, worker):
    from prometheus_client import multiprocess  # here, in the master, after the variable is set

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _OWN_METRICS_DIR:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
