"""Gauges read when Prometheus scrapes, from the shared state itself: the same in whichever process answers."""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Iterable

from prometheus_client.core import GaugeMetricFamily, Metric

from adapters.dramatiq_jobs import DramatiqJobQueue
from core.errors import GatewayError
from core.views import Views

log = logging.getLogger(__name__)


class LiveGauges:
    def __init__(self, views: Views, jobs: DramatiqJobQueue) -> None:
        self._views = views
        self._jobs = jobs

    def collect(self) -> Iterable[Metric]:
        # A backend that does not answer leaves its gauge out of this scrape (Prometheus marks it stale)
        # rather than failing the whole scrape; the failure itself is counted in realty_backend_failures.
        try:
            depths = self._jobs.depths()
        except Exception:  # noqa: BLE001 - Redis unreachable, timed out...
            log.warning("queue depth unknown: the queue does not answer", exc_info=True)
        else:
            depth = GaugeMetricFamily("realty_queue_depth", "Jobs waiting or running, by queue", labels=["queue"])
            for queue, count in depths.items():
                depth.add_metric([queue], count)
            yield depth
        try:
            oldest = self._views.oldest_pending()
        except GatewayError:
            log.warning("oldest PENDING image unknown: the database does not answer")
        else:
            age = (datetime.now(timezone.utc) - oldest).total_seconds() if oldest is not None else 0.0
            yield GaugeMetricFamily("realty_oldest_pending_image_age_seconds",
                                    "How long the image waiting longest for its renditions has waited (0: none "
                                    "waits)", value=max(0.0, age))
