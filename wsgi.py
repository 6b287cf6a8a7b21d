"""The composition root: reads configuration, builds adapters and the core service, mounts both facades.

`wsgi:app` is built on first access, so `flask --app wsgi run`, `gunicorn wsgi:app` and tests that
import `create_app` each get what they expect without side effects at import time.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import sys
from datetime import timedelta
from urllib.parse import unquote, urlparse

import click
from flask import Flask, has_request_context, jsonify, request

import graphql_api
import rest_api
from adapters.jwt_auth import JwtAuthenticator
from adapters.local_blobs import LocalBlobStore
from adapters.local_storage_http import create_local_storage_blueprint
from adapters.peewee_uow import PeeweeUnitOfWorkFactory
from adapters.pillow_images import PillowInspector
from adapters.s3_blobs import S3BlobStore
from adapters.system import RandomIds, SystemClock
from config import Settings
from core.ports import BlobStore
from core.services import ImageService, Limits

log = logging.getLogger("realty")

DEV_TOKEN_TTL = 12 * 3600


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.config["SETTINGS"] = settings

    secret = settings.jwt_secret or _ephemeral_secret()
    authenticator = JwtAuthenticator(secret)
    database = PeeweeUnitOfWorkFactory(settings.database_url)
    database.create_tables()
    blobs = _blob_store(app, settings, secret)
    service = ImageService(
        database, blobs, PillowInspector(render_max_pixels=settings.max_image_pixels), SystemClock(), RandomIds(),
        Limits(max_upload_bytes=settings.max_upload_bytes, max_image_pixels=settings.max_image_pixels,
               grant_ttl=timedelta(seconds=settings.grant_ttl_seconds),
               url_ttl=timedelta(seconds=settings.url_ttl_seconds)),
    )
    app.extensions["realty"] = {"service": service, "database": database, "blobs": blobs,
                                "authenticator": authenticator}

    rest_api.init_app(app, service, authenticator)
    graphql_api.init_app(app, service, authenticator, max_file_bytes=settings.max_upload_bytes,
                         max_files=settings.max_files_per_request, max_request_bytes=settings.max_request_bytes)
    _add_health_routes(app, service)
    _add_commands(app, service, database, blobs, authenticator)
    if not settings.jwt_secret:
        dev_token = authenticator.issue("dev-agent", "dev", DEV_TOKEN_TTL)
        print(f"AUTH_JWT_SECRET is not set: using a secret valid until this process exits.\n"
              f"Dev token (org 'dev', 12 h):\n{dev_token}", file=sys.stderr)
    return app


def _ephemeral_secret() -> str:
    return secrets.token_urlsafe(32)


def _blob_store(app: Flask, settings: Settings, secret: str) -> BlobStore:
    url = urlparse(settings.storage_url)
    if url.scheme == "s3":
        if not url.netloc:
            raise SystemExit(f"STORAGE_URL {settings.storage_url!r} names no bucket")
        return S3BlobStore(bucket=url.netloc, prefix=url.path.strip("/"), url_window=settings.url_window_seconds)
    if url.scheme == "file":
        if url.netloc not in ("", "localhost") or not url.path:
            # file://var/storage would silently mean /storage: say what an absolute URL looks like.
            raise SystemExit(f"STORAGE_URL {settings.storage_url!r} must name an absolute directory, "
                             "as in file:///srv/realty/storage")
        root = unquote(url.path)
        # The local store signs its forms and URLs with a key derived from, but not equal to, the JWT secret.
        signing_key = hmac.new(secret.encode(), b"local-blob-store", hashlib.sha256).digest()
        store = LocalBlobStore(root, signing_key, base_url=lambda: _base_url(settings),
                               url_window=settings.url_window_seconds)
        app.register_blueprint(create_local_storage_blueprint(store, max_upload_bytes=settings.max_upload_bytes))
        return store
    raise SystemExit(f"STORAGE_URL must start with file:// or s3://, got {settings.storage_url!r}")


def _base_url(settings: Settings) -> str:
    if settings.public_url:
        return settings.public_url
    if has_request_context():
        return request.host_url.rstrip("/")
    return "http://127.0.0.1:8000"


def _add_health_routes(app: Flask, service: ImageService) -> None:
    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok")

    @app.get("/readyz")
    def readyz():
        checks = service.check_ready()
        ready = all(checks.values())
        return jsonify(status="ok" if ready else "unavailable", checks=checks), 200 if ready else 503


def _add_commands(app: Flask, service: ImageService, database: PeeweeUnitOfWorkFactory, blobs: BlobStore,
                  authenticator: JwtAuthenticator) -> None:
    @app.cli.command("init-db")
    def init_db() -> None:
        """Create missing tables (idempotent)."""
        database.create_tables()
        click.echo("database ready")

    @app.cli.command("init-storage")
    def init_storage() -> None:
        """Create the S3 bucket when it is missing (idempotent); the local store needs nothing."""
        create = getattr(blobs, "create_bucket", None)
        if create:
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

    @app.cli.command("gc")
    def gc() -> None:
        """Delete uploads never saved within 24 h and blobs left behind by failed deletes."""
        click.echo(service.collect_garbage())


def __getattr__(name: str):
    # Built lazily so importing this module (tests, tools) does not open databases or print tokens.
    if name == "app":
        global app
        app = create_app()
        return app
    raise AttributeError(name)
