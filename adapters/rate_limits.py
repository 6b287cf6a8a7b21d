"""Requests per org (CONTRACT §12: RATE_LIMIT), counted with the `limits` library: in Redis when REDIS_URL
is set, so that every gateway process shares one count per org, in this process's memory otherwise.

The limit is taken where a request's caller becomes known, its authentication: each facade authenticates
a request exactly once, so a request is counted once whichever API answers it, and what needs no
credential (/healthz, /readyz, /metrics, docs, the local store's signed URLs) is never limited.
"""
from __future__ import annotations

import logging
import math
import time

from limits import RateLimitItem, parse
from limits.errors import StorageError
from limits.storage import MemoryStorage, RedisStorage
from limits.strategies import FixedWindowRateLimiter

from adapters import log_context
from adapters.observations import outage
from core.errors import RateLimited, Unavailable
from core.ports import Authenticator, Caller

log = logging.getLogger(__name__)

KEY_PREFIX = "realty-rate"


def parse_rate_limit(text: str) -> RateLimitItem:
    """`1200/minute`, `20/second`, `50000 per day`...; ValueError for anything else."""
    return parse(text)


class OrgRateLimiter:
    """A fixed window per org: one atomic increment a request (Redis INCR with its expiry)."""

    def __init__(self, limit: RateLimitItem, redis_url: str | None, timeout: float) -> None:
        self._limit = limit
        storage = (RedisStorage(redis_url, key_prefix=KEY_PREFIX, wrap_exceptions=True, socket_timeout=timeout,
                                socket_connect_timeout=timeout) if redis_url else MemoryStorage())
        self._limiter = FixedWindowRateLimiter(storage)

    def retry_after(self, org: str) -> int | None:
        """Count one request of the org; None when it is within the limit, else the seconds to wait.

        Redis not answering lets the request through: a limit exists to protect the gateway, and
        refusing every org while Redis is away would do what it is meant to prevent.
        """
        try:
            if self._limiter.hit(self._limit, org):
                return None
            reset = self._limiter.get_window_stats(self._limit, org).reset_time
        except StorageError as exc:
            outage("redis", Unavailable("the rate limit's Redis is unavailable"))
            log.warning("rate limit not applied: Redis is unavailable (%s)", exc.__class__.__name__)
            return None
        return max(1, math.ceil(reset - time.time()))


class Admission(Authenticator):
    """The authenticator both facades use: the caller behind the token, noted for the request's log line,
    and held to the org's rate limit (RateLimited once it is spent)."""

    def __init__(self, authenticator: Authenticator, limiter: OrgRateLimiter | None) -> None:
        self._authenticator = authenticator
        self._limiter = limiter

    def authenticate(self, token: str | None) -> Caller:
        caller = self._authenticator.authenticate(token)
        log_context.org.set(caller.org)
        if self._limiter is not None:
            wait = self._limiter.retry_after(caller.org)
            if wait is not None:
                raise RateLimited(f"Too many requests for org {caller.org}; retry in {wait} s", retry_after=wait)
        return caller

    def issue(self, sub: str, org: str | None, ttl_seconds: int) -> str:
        return self._authenticator.issue(sub, org, ttl_seconds)
