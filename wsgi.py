"""The composition root: reads configuration, builds adapters and the core's use cases, mounts the facades.

`wsgi:app` is built on first access, so `flask --app wsgi run`, `gunicorn wsgi:app` and tests that
import `create_app` each get what they expect without side effects at import time.
"""
from __future__ import annotations

import gc
import hashlib
import hmac
import logging
import os
import re
import secrets
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from contextlib import contextmanager
from typing import Iterator
from urllib.parse import unquote, urlparse, urlsplit

import click
import dramatiq
from flask import Flask, Response, has_request_context, jsonify, request
from flask_cors import CORS

import graphql_api
import ops
from ops.request_bodies import UnreadableBodies
import rest_api
import reso_api
import storage_api
import web_console
from adapters.change_signals import LocalChangeSignals, RedisChangeSignals
from adapters.decode_memory import DecodeBudget, unmap_large_blocks_when_freed
from adapters.dramatiq_jobs import SWEEP_INTERVAL_SECONDS, DramatiqJobQueue, InProcessJobQueue, redis_queue
from adapters.dramatiq_workers import dramatiq_command, supervise
from adapters.jwt_auth import JwtAuthenticator
from adapters.local_blobs import LocalBlobStore
from adapters.peewee_uow import PeeweeUnitOfWorkFactory
from adapters.pillow_images import PillowInspector
from adapters.s3_blobs import S3BlobStore
from adapters.system import RandomIds, SystemClock
from adapters.webhook_sender import HttpWebhookSender
from config import Settings
from core.errors import GatewayError
from core.ports import BlobStore
from core.ports import Job
from core.processing import ProcessingLimits
from core.webhooks import UrlPolicy
from core.api import CoreApi, bootstrap
from core.commands import CollectGarbage
from core.dependencies import Limits
from core.idempotency import IdempotencyLimits
from core.views import Views

log = logging.getLogger("realty")

DEV_TOKEN_TTL = 12 * 3600

# CONTRACT §9: what a browser app on an allowed origin may send and read.
CORS_ALLOWED_HEADERS = ["Authorization", "Content-Type", "Request-ID", "x-api-token", "Idempotency-Key",
                        "If-None-Match"]
CORS_EXPOSED_HEADERS = ["Request-ID", "ETag", "Idempotent-Replayed"]
CORS_PATHS = ["/uploadGrants", r"/realty/.*", "/events", r"/webhooks.*", "/graphql", "/storage/upload",
              r"/storage/blobs/.*", "/openapi.json", r"/reso/.*"]
"""Both APIs, and the local store's upload and download endpoints a browser app uses beside them."""

FRAMING_POLICY = "frame-ancestors 'none'"
"""No page of the gateway is meant to be shown inside another's: a frame would let a site overlay /docs or
the console with its own and have a person click there (clickjacking). As a policy of its own, so a page's
own Content-Security-Policy (which its scripts depend on) stays as it is; a browser enforces both."""
SECURITY_HEADERS = {"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff"}
"""X-Frame-Options for browsers without frame-ancestors; nosniff so no answer (an uploaded file, a JSON error
quoting the request) is ever read as a script or a page its content type does not say."""


@dataclass
class Gateway:
    """Everything the gateway is made of, built from settings; the web app and the workers share it."""

    settings: Settings
    database: PeeweeUnitOfWorkFactory
    blobs: BlobStore
    authenticator: JwtAuthenticator
    core: CoreApi
    jobs: DramatiqJobQueue

    def close(self) -> None:
        if isinstance(self.jobs, InProcessJobQueue):
            self.jobs.stop()
        self.database.close()


def build(settings: Settings, secret: str) -> Gateway:
    """The adapters and the core's use cases, wired. Nothing here starts a thread or serves a request."""
    database = PeeweeUnitOfWorkFactory(settings.database_url, settings.backend_timeout)
    database.create_tables_when_reachable()
    blobs = _blob_store(settings, secret)
    unmap_large_blocks_when_freed()  # else the threads' decodes stay resident after the budget has them back
    inspector = PillowInspector(render_max_pixels=settings.max_image_pixels,
                                decode_budget=DecodeBudget(settings.decode_memory_bytes))
    clock = SystemClock()
    core: CoreApi | None = None  # the queue calls it; it enqueues on the queue

    def run(job: Job) -> None:
        core.run_job(job)

    def sweep() -> int:
        return core.sweep()

    # Sweep often enough that a stale image waits at most about 1.5 times the limit.
    interval = min(SWEEP_INTERVAL_SECONDS, settings.processing_stale_seconds / 2)
    jobs = (redis_queue(settings.redis_url, run, sweep, heartbeat_timeout_s=settings.worker_heartbeat_seconds,
                        sweep_interval=interval, timeout=settings.backend_timeout) if settings.redis_url
            else InProcessJobQueue(run, sweep, threads=settings.render_threads, sweep_interval=interval))
    limits = Limits(max_upload_bytes=settings.max_upload_bytes, max_image_pixels=settings.max_image_pixels,
                    grant_ttl=timedelta(seconds=settings.grant_ttl_seconds),
                    url_ttl=timedelta(seconds=settings.url_ttl_seconds),
                    event_retention=timedelta(days=settings.event_retention_days),
                    duplicate_distance=settings.duplicate_distance)
    signals = (RedisChangeSignals(settings.redis_url, settings.backend_timeout) if settings.redis_url
               else LocalChangeSignals())
    core = bootstrap(database, blobs, inspector, clock, RandomIds(), jobs, signals, HttpWebhookSender(),
                     ThreadPoolExecutor(settings.save_threads, thread_name_prefix="save"), limits,
                     IdempotencyLimits(max_answer_bytes=settings.idempotent_answer_max_bytes),
                     ProcessingLimits(stale_after=timedelta(seconds=settings.processing_stale_seconds)),
                     UrlPolicy(allow_http=settings.webhook_allow_http, allow_private=settings.webhook_allow_private),
                     max_feed_waits=settings.feed_max_waits)
    authenticator = JwtAuthenticator(secret, leeway_seconds=settings.jwt_leeway_seconds,
                                     provider=ops.identity_provider(settings))
    return Gateway(settings, database, blobs, authenticator, core, jobs)


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.config["SETTINGS"] = settings

    gateway = build(settings, settings.jwt_secret or _ephemeral_secret())
    app.extensions["realty"] = gateway
    core, authenticator = gateway.core, ops.init_app(app, gateway)  # metrics, logs, rate limit

    rest_api.init_app(app, core, authenticator)
    reso_api.init_app(app, core, authenticator)
    graphql_api.init_app(app, core, authenticator, max_file_bytes=settings.max_upload_bytes,
                         max_files=settings.max_files_per_request, max_request_bytes=settings.max_request_bytes)
    if isinstance(gateway.blobs, LocalBlobStore):
        app.register_blueprint(storage_api.create_local_storage_blueprint(gateway.blobs,
                                                              max_upload_bytes=settings.max_upload_bytes))
    if isinstance(gateway.jobs, InProcessJobQueue):
        # Started by the process that serves requests, never by a master that forks it.
        app.before_request(gateway.jobs.start)
    app.register_blueprint(web_console.create_console_blueprint())
    _add_cors(app, settings.cors_origins)
    app.after_request(_add_security_headers)
    app.wsgi_app = UnreadableBodies(app.wsgi_app)  # type: ignore[method-assign]
    _add_health_routes(app, core.views)
    _add_commands(app, gateway)
    if not settings.jwt_secret and not settings.jwks_url:  # no dev token in a log where a provider issues them
        dev_token = authenticator.issue("dev-agent", "dev", DEV_TOKEN_TTL)
        print(f"AUTH_JWT_SECRET is not set: using a secret valid until this process exits.\n"
              f"Dev token (org 'dev', 12 h):\n{dev_token}", file=sys.stderr)
    return app


def setup_worker() -> None:
    """What each `flask --app wsgi worker` process runs first (Dramatiq's CLI calls it after forking):
    its own database connections, store and queue, and Dramatiq's broker set to that queue's."""
    settings = Settings.from_env()
    if not settings.jwt_secret:
        raise SystemExit("AUTH_JWT_SECRET must be set for workers: they sign the same URLs as the gateway")
    dramatiq.set_broker(ops.init_worker(build(settings, settings.jwt_secret)))


def _add_cors(app: Flask, origins: tuple[str, ...]) -> None:
    """CORS for the configured origins only; any other origin gets no CORS header at all.

    Credentials travel in headers (Authorization, x-api-token), never in cookies, so the answers never
    allow credentials: a page on another origin can only act with a token it was given, which is why
    no CSRF defence is needed.
    """
    if not origins:
        return
    # Compiled and anchored: flask-cors would read an IPv6 origin such as http://[::1]:3000 as a regex.
    allowed = "*" if "*" in origins else [re.compile(re.escape(o) + r"\Z", re.IGNORECASE) for o in origins]
    CORS(app, resources={path: {} for path in CORS_PATHS}, origins=allowed, allow_headers=CORS_ALLOWED_HEADERS,
         expose_headers=CORS_EXPOSED_HEADERS, supports_credentials=False, always_send=False, max_age=600)


def _add_security_headers(response: Response) -> Response:
    """Every answer of every entrypoint, static files and errors included, refuses framing and sniffing."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    policies = response.headers.getlist("Content-Security-Policy")
    if not any("frame-ancestors" in policy for policy in policies):
        response.headers.add("Content-Security-Policy", FRAMING_POLICY)
    return response


def _ephemeral_secret() -> str:
    return secrets.token_urlsafe(32)


def _blob_store(settings: Settings, secret: str) -> BlobStore:
    url = urlparse(settings.storage_url)
    if url.scheme == "s3":
        if not url.netloc:
            raise SystemExit(f"STORAGE_URL {settings.storage_url!r} names no bucket")
        return S3BlobStore(bucket=url.netloc, prefix=url.path.strip("/"), timeout=settings.backend_timeout,
                           url_window=settings.url_window_seconds)
    if url.scheme == "file":
        if url.netloc not in ("", "localhost") or not url.path:
            # file://var/storage would silently mean /storage: say what an absolute URL looks like.
            raise SystemExit(f"STORAGE_URL {settings.storage_url!r} must name an absolute directory, "
                             "as in file:///srv/realty/storage")
        root = unquote(url.path)
        # The local store signs its forms and URLs with a key derived from, but not equal to, the JWT secret.
        signing_key = hmac.new(secret.encode(), b"local-blob-store", hashlib.sha256).digest()
        # Not ready when the disk could not take one more upload of the largest size.
        return LocalBlobStore(root, signing_key, base_url=lambda: _base_url(settings),
                              url_window=settings.url_window_seconds, min_free_bytes=settings.max_upload_bytes)
    raise SystemExit(f"STORAGE_URL must start with file:// or s3://, got {settings.storage_url!r}")


def _base_url(settings: Settings) -> str:
    if settings.public_url:
        return settings.public_url
    if has_request_context():
        return request.host_url.rstrip("/")
    return "http://127.0.0.1:8000"


def _add_health_routes(app: Flask, views: Views) -> None:
    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok")

    @app.get("/readyz")
    def readyz():
        checks = views.check_ready()
        ready = all(checks.values())
        return jsonify(status="ok" if ready else "unavailable", checks=checks), 200 if ready else 503


def _add_commands(app: Flask, gateway: Gateway) -> None:
    bus, database, blobs, authenticator = gateway.core.bus, gateway.database, gateway.blobs, gateway.authenticator
    settings = gateway.settings

    @app.cli.command("init-db")
    def init_db() -> None:
        """Create missing tables (idempotent)."""
        with _said_in_one_line(_database_hint(settings)):
            database.create_tables()
        click.echo("database ready")

    @app.cli.command("init-storage")
    def init_storage() -> None:
        """Create the S3 bucket when it is missing (idempotent); the local store needs nothing."""
        create = getattr(blobs, "create_bucket", None)
        if create:
            with _said_in_one_line(_storage_hint(settings)):
                create()
        click.echo("storage ready")

    @app.cli.command("token")
    @click.option("--org", required=True, help="The organisation (tenant).")
    @click.option("--sub", required=True, help="The agent.")
    @click.option("--ttl", default=3600, show_default=True, type=click.IntRange(min=1), help="Seconds valid.")
    def token(org: str, sub: str, ttl: int) -> None:
        """Print a bearer token signed with AUTH_JWT_SECRET."""
        if not app.config["SETTINGS"].jwt_secret:
            raise click.ClickException("AUTH_JWT_SECRET is not set; a token would be valid for no server")
        click.echo(authenticator.issue(sub, org, ttl))

    @app.cli.command("worker")
    @click.option("--processes", "-p", default=os.cpu_count() or 1, show_default=True, type=click.IntRange(min=1),
                  help="Worker processes: rendering is CPU-bound, so about one per core.")
    @click.option("--threads", "-t", default=2, show_default=True, type=click.IntRange(min=1),
                  help="Jobs at once per process: a second thread renders while the first waits on storage.")
    def worker(processes: int, threads: int) -> None:
        """Render images: Dramatiq workers taking jobs from REDIS_URL (run as many as the load needs).

        Each worker process is supervised: one that dies (even by SIGKILL) is started again."""
        if not gateway.settings.redis_url:
            raise click.ClickException("REDIS_URL is not set: without it the gateway renders images itself, "
                                       "and no worker is needed")
        if not gateway.settings.jwt_secret:
            raise click.ClickException("AUTH_JWT_SECRET must be set for workers: they sign the same URLs as the "
                                       "gateway")
        gateway.close()  # each worker process opens its own connections
        ops.start_worker_supervision(gateway.settings)  # logs, and /metrics of every worker process
        command = dramatiq_command("wsgi:setup_worker", threads, os.path.dirname(os.path.abspath(__file__)))
        sys.exit(supervise(command, processes))

    @app.cli.command("gc")
    def gc() -> None:
        """Delete uploads never saved within 24 h, blobs left behind, and records of writes older than 24 h."""
        with _said_in_one_line(f"{_database_hint(settings)}; {_storage_hint(settings)}"):
            click.echo(bus.handle(CollectGarbage()))


# --- the CLI's words for a backend that does not answer ------------------------------------------------
# An operator running `init-db` or `init-storage` needs what is wrong and where to look, in one line, not
# the 60-line traceback of a driver: the core's error says which backend, its cause says why.

@contextmanager
def _said_in_one_line(hint: str) -> Iterator[None]:
    try:
        yield
    except GatewayError as exc:
        raise click.ClickException(_one_line(exc, hint)) from None


def _one_line(exc: GatewayError, hint: str) -> str:
    cause: BaseException = exc
    while cause.__cause__ is not None:
        cause = cause.__cause__
    why = str(cause).strip().splitlines()[0] if cause is not exc and str(cause).strip() else ""
    return f"{exc.message}{f' ({why})' if why else ''}. {hint}."


def _database_hint(settings: Settings) -> str:
    url = urlsplit(settings.database_url)
    if url.password:  # shown, but never with its password
        url = url._replace(netloc=url.netloc.replace(f":{url.password}@", ":***@"))
    return f"Check DATABASE_URL ({url.geturl()}) and that the database server runs and answers there"


def _storage_hint(settings: Settings) -> str:
    hint = f"Check STORAGE_URL ({settings.storage_url})"
    if settings.storage_url.startswith("s3://"):
        endpoint = os.environ.get("AWS_ENDPOINT_URL")
        hint += (f", AWS_ENDPOINT_URL ({endpoint or 'unset: AWS itself'}) and the credentials "
                 "(AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a profile or a role)")
    return hint


def __getattr__(name: str):
    # Built lazily so importing this module (tests, tools) does not open databases or print tokens.
    if name == "app":
        global app
        try:
            app = create_app()
        except GatewayError as exc:
            if click.get_current_context(silent=True) is None:
                raise  # a server (gunicorn) logs it, traceback and all
            # `flask --app wsgi COMMAND`: the app is made before any command runs, and start-up creates
            # missing tables, so a database that does not answer stops every command here.
            raise click.ClickException(_one_line(exc, _database_hint(Settings.from_env()))) from None
        # What start-up made lives as long as the process: kept out of every later garbage collection
        # (a listing allocates thousands of objects, and each collection would walk all of them too).
        gc.freeze()
        return app
    raise AttributeError(name)
