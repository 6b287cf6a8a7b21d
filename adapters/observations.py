"""What adapters report for operators to count: a backend that failed, a webhook's answer.

Named blinker signals (the library Flask itself uses for such notices), so a translation of driver
errors does not need a metrics object handed to every repository: the composition root connects the
metrics to these, and with nothing connected a send costs a function call.
"""
from __future__ import annotations

from typing import TypeVar

from blinker import Namespace

from core.errors import Unavailable
from core.ports import SendResult

_signals = Namespace()
backend_failed = _signals.signal("backend-failed")
"""Sent with the backend's name (`database`, `storage`, `redis`) each time a call to it fails as Unavailable."""
webhook_answered = _signals.signal("webhook-answered")
"""Sent with the outcome of each webhook POST: `delivered`, `refused` (a non-2xx answer) or `no_answer`."""

E = TypeVar("E", bound=Unavailable)


def outage(backend: str, error: E) -> E:
    """`raise outage("database", Unavailable(...)) from exc`: the error, once counted."""
    backend_failed.send(backend)
    return error


def webhook_outcome(result: SendResult) -> SendResult:
    webhook_answered.send("delivered" if result.delivered else "no_answer" if result.status_code is None
                          else "refused")
    return result
