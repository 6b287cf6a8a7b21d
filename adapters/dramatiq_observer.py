"""Dramatiq middleware: every job counted, timed and logged, with the Request-ID of the request that
queued it (CONTRACT §12). The same middleware on the gateway's broker (it stamps what is queued) and on
the workers' (they count and log what they run); in-process, one broker does both.

Dramatiq's own Prometheus middleware is not used: it serves its own exposition port from each main
process it forks from, which clashes once `flask --app wsgi worker` runs several groups of them; these
counters go to the same multiprocess files as the gateway's, and the supervisor serves them all.
"""
from __future__ import annotations

import logging
import os
import time
from typing import Any

import dramatiq
from dramatiq.middleware import Middleware

from adapters import log_context
from adapters.dramatiq_jobs import retry_outages
from adapters.prometheus_metrics import Metrics, process_ended

log = logging.getLogger("realty.jobs")

REQUEST_ID_OPTION = "request_id"


class JobObserver(Middleware):
    def __init__(self, metrics: Metrics | None) -> None:
        """`metrics` None (METRICS=0): jobs are logged, and carry their Request-ID, but not counted."""
        self._metrics = metrics
        self._running: dict[str, tuple[float, Any, Any]] = {}

    def before_enqueue(self, broker: dramatiq.Broker, message: dramatiq.Message, delay: int | None) -> None:
        request_id = log_context.request_id.get()
        if request_id and REQUEST_ID_OPTION not in message.options:
            message.options[REQUEST_ID_OPTION] = request_id

    def before_process_message(self, broker: dramatiq.Broker, message: dramatiq.Message) -> None:
        request_token = log_context.request_id.set(message.options.get(REQUEST_ID_OPTION))
        org_token = log_context.org.set(message.args[0] if message.args else None)
        self._running[message.message_id] = (time.perf_counter(), request_token, org_token)

    def after_process_message(self, broker: dramatiq.Broker, message: dramatiq.Message, *, result: Any = None,
                              exception: BaseException | None = None) -> None:
        started, request_token, org_token = self._running.pop(message.message_id, (None, None, None))
        if started is None:
            return
        seconds = time.perf_counter() - started
        if exception is None:
            outcome = "done"
        else:
            # The same test Dramatiq's Retries middleware makes next (it runs after this one).
            outcome = "retried" if retry_outages(message.options.get("retries", 0), exception) else "failed"
        if self._metrics is not None:
            self._metrics.job(message.actor_name, outcome, seconds)
        log.log(logging.INFO if outcome == "done" else logging.WARNING, "job %s %s in %d ms",
                message.actor_name, outcome, seconds * 1000,
                extra=log_context.fields(kind=message.actor_name, image=_image(message), outcome=outcome,
                                         durationMs=round(seconds * 1000, 1)))
        log_context.request_id.reset(request_token)
        log_context.org.reset(org_token)

    after_skip_message = after_process_message

    def after_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        process_ended(os.getpid())


def _image(message: dramatiq.Message) -> str | None:
    """The image a render job is about (its arguments are org, realty, image)."""
    return message.args[2] if message.actor_name == "render_image" and len(message.args) > 2 else None
