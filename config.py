"""Every setting the gateway reads, from the environment only (CONTRACT §1)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping
from urllib.parse import urlsplit

from adapters.rate_limits import parse_rate_limit
from adapters.url_window import check_window


def _default_storage_url() -> str:
    return "file://" + os.path.abspath(os.path.join("var", "storage"))


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///var/realty.db"
    storage_url: str = ""
    jwt_secret: str | None = None
    max_upload_bytes: int = 25 * 1024 * 1024
    max_image_pixels: int = 100_000_000
    public_url: str | None = None
    grant_ttl_seconds: int = 3600
    url_ttl_seconds: int = 3600
    url_window_seconds: int = 900
    """Download URLs are signed as of the start of such a window (CONTRACT §7; adapters.url_window)."""
    max_request_bytes: int = 0
    """Largest GraphQL request body; 0 means 10 files' worth of MAX_UPLOAD_BYTES plus 1 MiB."""
    max_files_per_request: int = 10
    redis_url: str | None = None
    """Redis for the job queue; None: jobs run in the gateway process."""
    render_threads: int = 1
    """Render jobs at once in the gateway process when there is no REDIS_URL."""
    save_threads: int = 8
    """Uploads a save verifies and stores at once (I/O and decoding, both off the GIL)."""
    decode_memory_bytes: int = 256 * 1024 * 1024
    """Pixel memory the decodes of one process may hold at once (save threads, GraphQL uploads and render
    jobs alike); decodes that would go over wait. A picture needing more on its own is decoded alone."""
    processing_stale_seconds: int = 120
    """A PENDING image whose job was queued or started longer ago than this is queued again."""
    worker_heartbeat_seconds: int = 60
    """A worker silent for this long counts as dead: its unfinished jobs go back on the queue."""
    cors_origins: tuple[str, ...] = ()
    """Browser origins allowed to call the APIs (CONTRACT §9); empty: none, "*": any."""
    backend_timeout: float = 10.0
    """Seconds a database statement or storage call may take before it counts as unavailable (CONTRACT §8)."""
    jwt_leeway_seconds: int = 30
    """Clock skew allowed between token issuers and the gateway, for `iat`, `nbf` and `exp`."""
    event_retention_days: int = 7
    """Published events stay in the change feed at least this long (CONTRACT §10); gc prunes older ones."""
    feed_max_waits: int = 4
    webhook_allow_http: bool = False
    webhook_allow_private: bool = False
    """WEBHOOK_ALLOW_HTTP=1 / WEBHOOK_ALLOW_PRIVATE=1: webhooks to http:// URLs and to loopback or private
    addresses, for development and tests only (CONTRACT §10)."""
    """Long polls of the change feed one process holds at once (each holds a server thread)."""
    idempotent_answer_max_bytes: int = 64 * 1024 * 1024
    duplicate_distance: int = 6
    """Perceptual hashes at most this many bits apart are duplicates (CONTRACT §11)."""
    """Largest answer of a write kept for its retries; of a larger one only the note that it was done."""
    # --- operating it (CONTRACT §12) ---
    log_format: str = "text"
    """LOG_FORMAT: `text` (readable) or `json` (one object a line, for a log store)."""
    metrics: bool = True
    """METRICS=0: no /metrics and nothing counted (the listing bench's baseline; a deployment without Prometheus)."""
    metrics_token: str | None = None
    """METRICS_TOKEN: when set, /metrics answers only to it as a bearer token."""
    worker_metrics_host: str = "127.0.0.1"
    worker_metrics_port: int = 9191
    """Where `flask --app wsgi worker` serves its processes' /metrics; port 0: nowhere."""
    rate_limit: str | None = None
    """RATE_LIMIT: requests per org, e.g. `1200/minute`; unset: no limit."""
    jwks_url: str | None = None
    """AUTH_JWKS_URL: an identity provider's published keys; its RS256/ES256 tokens are then accepted."""
    auth_issuer: str | None = None
    auth_audience: str | None = None
    auth_org_claim: str = "org"

    def __post_init__(self) -> None:
        if not self.storage_url:
            object.__setattr__(self, "storage_url", _default_storage_url())
        if not self.max_request_bytes:
            object.__setattr__(self, "max_request_bytes",
                               self.max_upload_bytes * self.max_files_per_request + 1024 * 1024)
        check_window(self.url_window_seconds, self.url_ttl_seconds)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "Settings":
        def number(name: str, default: int) -> int:
            raw = environ.get(name, "").strip()
            if not raw:
                return default
            try:
                value = int(raw)
            except ValueError:
                raise SystemExit(f"{name} must be an integer, got {raw!r}") from None
            if value <= 0:
                raise SystemExit(f"{name} must be positive, got {value}")
            return value

        def seconds(name: str, default: float, allow_zero: bool = False) -> float:
            raw = environ.get(name, "").strip()
            if not raw:
                return default
            try:
                value = float(raw)
            except ValueError:
                raise SystemExit(f"{name} must be a number of seconds, got {raw!r}") from None
            if not (value >= 0 if allow_zero else value > 0) or value == float("inf"):
                raise SystemExit(f"{name} must be {'zero or more' if allow_zero else 'positive'} "
                                 f"(and finite), got {raw!r}")
            return value

        def switch(name: str) -> bool:
            raw = environ.get(name, "").strip().lower()
            if raw in ("", "0", "false", "no"):
                return False
            if raw in ("1", "true", "yes"):
                return True
            raise SystemExit(f"{name} must be 1 or 0, got {raw!r}")

        def choice(name: str, allowed: tuple[str, ...]) -> str:
            raw = environ.get(name, "").strip().lower() or allowed[0]
            if raw not in allowed:
                raise SystemExit(f"{name} must be one of {', '.join(allowed)}; got {raw!r}")
            return raw

        def rate_limit(raw: str) -> str | None:
            if raw:
                try:
                    parse_rate_limit(raw)
                except ValueError:
                    raise SystemExit(f"RATE_LIMIT must read like 1200/minute or 20/second, got {raw!r}") from None
            return raw or None

        defaults = cls()
        url_ttl = number("DOWNLOAD_URL_TTL", defaults.url_ttl_seconds)
        url_window = number("DOWNLOAD_URL_WINDOW", defaults.url_window_seconds)
        try:
            check_window(url_window, url_ttl)
        except ValueError as exc:
            raise SystemExit(f"DOWNLOAD_URL_WINDOW and DOWNLOAD_URL_TTL do not fit together: {exc}") from None
        return cls(
            database_url=environ.get("DATABASE_URL") or defaults.database_url,
            storage_url=environ.get("STORAGE_URL") or _default_storage_url(),
            jwt_secret=environ.get("AUTH_JWT_SECRET") or None,
            max_upload_bytes=number("MAX_UPLOAD_BYTES", defaults.max_upload_bytes),
            max_image_pixels=number("MAX_IMAGE_PIXELS", defaults.max_image_pixels),
            public_url=(environ.get("PUBLIC_URL") or "").rstrip("/") or None,
            grant_ttl_seconds=number("UPLOAD_GRANT_TTL", defaults.grant_ttl_seconds),
            url_ttl_seconds=url_ttl,
            url_window_seconds=url_window,
            max_files_per_request=number("MAX_FILES_PER_REQUEST", defaults.max_files_per_request),
            max_request_bytes=number("MAX_REQUEST_BYTES", 0),
            redis_url=environ.get("REDIS_URL") or None,
            render_threads=number("RENDER_THREADS", defaults.render_threads),
            save_threads=number("SAVE_THREADS", defaults.save_threads),
            decode_memory_bytes=number("DECODE_MEMORY_BYTES", defaults.decode_memory_bytes),
            processing_stale_seconds=number("PROCESSING_STALE_AFTER", defaults.processing_stale_seconds),
            worker_heartbeat_seconds=number("WORKER_HEARTBEAT_TIMEOUT", defaults.worker_heartbeat_seconds),
            cors_origins=parse_origins(environ.get("CORS_ORIGINS", "")),
            backend_timeout=seconds("BACKEND_TIMEOUT", defaults.backend_timeout),
            jwt_leeway_seconds=int(seconds("AUTH_JWT_LEEWAY", defaults.jwt_leeway_seconds, allow_zero=True)),
            event_retention_days=number("EVENT_RETENTION_DAYS", defaults.event_retention_days),
            feed_max_waits=number("FEED_MAX_WAITS", defaults.feed_max_waits),
            webhook_allow_http=switch("WEBHOOK_ALLOW_HTTP"),
            webhook_allow_private=switch("WEBHOOK_ALLOW_PRIVATE"),
            idempotent_answer_max_bytes=number("IDEMPOTENT_ANSWER_MAX_BYTES", defaults.idempotent_answer_max_bytes),
            log_format=choice("LOG_FORMAT", ("text", "json")),
            metrics=environ.get("METRICS", "").strip() == "" or switch("METRICS"),
            metrics_token=environ.get("METRICS_TOKEN") or None,
            worker_metrics_host=environ.get("WORKER_METRICS_HOST") or defaults.worker_metrics_host,
            worker_metrics_port=(0 if environ.get("WORKER_METRICS_PORT", "").strip() == "0"
                                 else number("WORKER_METRICS_PORT", defaults.worker_metrics_port)),
            rate_limit=rate_limit(environ.get("RATE_LIMIT", "").strip()),
            jwks_url=environ.get("AUTH_JWKS_URL") or None,
            auth_issuer=environ.get("AUTH_ISSUER") or None,
            auth_audience=environ.get("AUTH_AUDIENCE") or None,
            auth_org_claim=environ.get("AUTH_ORG_CLAIM", "").strip() or defaults.auth_org_claim,
            duplicate_distance=number("DUPLICATE_DISTANCE", defaults.duplicate_distance),
        )


def parse_origins(raw: str) -> tuple[str, ...]:
    """CORS_ORIGINS: comma-separated origins such as `https://app.example.com,http://localhost:3000`.

    A browser sends its origin as scheme://host[:port] and nothing else, so anything with a path, a
    query or no host could never match: it is refused at start-up rather than silently ignored.
    """
    origins = []
    for entry in (part.strip() for part in raw.split(",")):
        if not entry:
            continue
        if entry == "*":
            origins.append(entry)
            continue
        origin = entry.removesuffix("/")
        if not _is_origin(origin):
            raise SystemExit(f"CORS_ORIGINS: {entry!r} is not an origin; write scheme://host[:port], "
                             "e.g. https://app.example.com or http://localhost:3000")
        origins.append(origin.lower())
    return tuple(origins)


def _is_origin(text: str) -> bool:
    parts = urlsplit(text)
    try:
        parts.port  # noqa: B018 - only to learn whether the port is a number in range
    except ValueError:
        return False
    return (parts.scheme in ("http", "https") and bool(parts.hostname) and parts.username is None
            and not (parts.path or parts.query or parts.fragment))
