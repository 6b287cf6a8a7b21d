"""Operating the gateway (CONTRACT §12): metrics, request and job logs, and the admission of callers
(identity and rate limit), added to the app and the workers the composition root builds.

Nothing in the facades or the core knows about these: the HTTP layer sees every request here, the job
queue's middleware every job, and the facades take the `Admission` as the authenticator they use.
"""
from __future__ import annotations

import logging
from typing import Protocol

import dramatiq
from flask import Flask

from adapters.dramatiq_jobs import DramatiqJobQueue
from adapters.dramatiq_observer import JobObserver
from adapters.jwks_keys import FETCH_TIMEOUT_S, JwksKeys
from adapters.jwt_auth import IdentityProvider
from adapters.log_context import use_json_logs
from adapters.prometheus_metrics import Metrics
from adapters.rate_limits import Admission, OrgRateLimiter, parse_rate_limit
from config import Settings
from core.api import CoreApi
from core.ports import Authenticator
from ops.http import add_metrics_endpoint, observe_requests
from ops.live import LiveGauges
from ops.workers import start_worker_supervision

__all__ = ["identity_provider", "init_app", "init_worker", "start_worker_supervision"]


class Parts(Protocol):
    """What of the composition root's Gateway this package uses."""

    settings: Settings
    core: CoreApi
    authenticator: Authenticator
    jobs: DramatiqJobQueue


def init_app(app: Flask, gateway: Parts) -> Authenticator:
    """Metrics, logs and /metrics on the app; returns the authenticator the facades are to use."""
    settings = gateway.settings
    if settings.log_format == "json":
        use_json_logs()
    metrics = Metrics() if settings.metrics else None
    gateway.jobs.broker.add_middleware(JobObserver(metrics))
    observe_requests(app, metrics)
    if metrics is not None:
        add_metrics_endpoint(app, metrics, LiveGauges(gateway.core.views, gateway.jobs), settings.metrics_token)
    limiter = (OrgRateLimiter(parse_rate_limit(settings.rate_limit), settings.redis_url, settings.backend_timeout)
               if settings.rate_limit else None)
    return Admission(gateway.authenticator, limiter)


def identity_provider(settings: Settings) -> IdentityProvider | None:
    """AUTH_JWKS_URL's keys and rules, when it is set."""
    if not settings.jwks_url:
        return None
    return IdentityProvider(JwksKeys(settings.jwks_url, timeout=min(FETCH_TIMEOUT_S, settings.backend_timeout)),
                            issuer=settings.auth_issuer, audience=settings.auth_audience,
                            org_claim=settings.auth_org_claim)


def init_worker(gateway: Parts) -> dramatiq.Broker:
    """A render worker process: its jobs counted into the shared metrics files and logged."""
    if gateway.settings.log_format == "json":
        use_json_logs()
    else:
        logging.getLogger().setLevel(logging.INFO)
    gateway.jobs.broker.add_middleware(JobObserver(Metrics() if gateway.settings.metrics else None))
    return gateway.jobs.broker


