"""What every log line of a request or a job carries, and LOG_FORMAT=json (CONTRACT §12).

The Request-ID and org live in context variables: the HTTP layer sets them for a request, the job
observer for a job (from the message the request queued), and a logging filter adds them to each
record, so a line logged anywhere beneath (the core, an adapter) can be found by the Request-ID too.
"""
from __future__ import annotations

import logging
import re
import sys
from contextvars import ContextVar
from typing import Any

from pythonjsonlogger.json import JsonFormatter

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
org: ContextVar[str | None] = ContextVar("org", default=None)

_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,100}\Z")
TEXT_FORMAT = "[%(asctime)s] [PID %(process)d] [%(name)s] [%(levelname)s] %(message)s"


def loggable_request_id(value: str | None) -> str | None:
    """A client's Request-ID as logs may show it: in text logs anything else could forge a line."""
    return value if value is not None and _SAFE_REQUEST_ID.match(value) else None


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "requestId"):
            record.requestId = request_id.get()
        if not hasattr(record, "org"):
            record.org = org.get()
        return True


class _OurHandler(logging.StreamHandler):
    """Marks the handler this module installed, so configuring again replaces it instead of adding one."""


def json_formatter() -> logging.Formatter:
    """One JSON object a line: time (ISO 8601, UTC), level, logger, message, the process (which gunicorn
    or render worker), then the record's extras."""
    return JsonFormatter("%(levelname)s %(name)s %(message)s %(process)d",
                         rename_fields={"levelname": "level", "name": "logger", "process": "pid"}, timestamp="time")


def use_json_logs(level: int = logging.INFO) -> None:
    """LOG_FORMAT=json: every line of this process, whoever logs it, as one JSON object on stderr."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _OurHandler) or not _kept(handler):
            root.removeHandler(handler)  # whatever wrote text before (basicConfig, a server's default)
    _install(root, json_formatter(), level)
    # The development server logs each request line with its query string, which may hold a signed URL:
    # the request line the gateway logs replaces it.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)


def use_text_logs(level: int = logging.INFO) -> None:
    """The readable default for a process that has no handler yet (the worker supervisor)."""
    root = logging.getLogger()
    if not root.handlers:
        _install(root, logging.Formatter(TEXT_FORMAT), level)


def _kept(handler: logging.Handler) -> bool:
    # A plain StreamHandler is basicConfig's text on a terminal; a handler of another kind (a file, a
    # collector, a test's capture) was put there on purpose.
    return type(handler) is not logging.StreamHandler


def _install(root: logging.Logger, formatter: logging.Formatter, level: int) -> None:
    handler = _OurHandler(sys.stderr)
    handler.setFormatter(formatter)
    handler.addFilter(ContextFilter())
    root.addHandler(handler)
    root.setLevel(level)


def fields(**values: Any) -> dict[str, Any]:
    """`extra=` for a log call: only the values that are known."""
    return {key: value for key, value in values.items() if value is not None}
