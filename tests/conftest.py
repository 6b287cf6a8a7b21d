"""Shared fixtures. The suite runs once per database: TEST_DATABASE=sqlite (default) or postgresql.

On PostgreSQL each test session gets its own throw-away database (so parallel runs never collide),
and every test starts from empty tables.
"""
from __future__ import annotations

import contextlib
import os
import uuid

import pytest

from tests.servers import _moto_server, _redis_server, moto_url, redis_url  # noqa: F401 - fixtures

TEST_DATABASE = os.environ.get("TEST_DATABASE", "sqlite")
PG_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def pytest_report_header(config):
    return f"database under test: {TEST_DATABASE}"


@contextlib.contextmanager
def _throwaway_postgres_database():
    """A new, empty PostgreSQL database; dropped afterwards."""
    import psycopg2
    from psycopg2 import sql

    name = f"realty_test_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(PG_ADMIN_URL)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with admin.cursor() as cur:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.close()


@pytest.fixture(scope="session")
def _postgres_database():
    with _throwaway_postgres_database() as url:
        yield url


def _truncate_all(url: str) -> None:
    import psycopg2

    conn = psycopg2.connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        tables = [row[0] for row in cur.fetchall()]
        if tables:
            cur.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE")
    conn.close()


@pytest.fixture
def database_url(request, tmp_path) -> str:
    """A database URL whose tables (if any) are empty, on the database under test."""
    if TEST_DATABASE == "postgresql":
        url = request.getfixturevalue("_postgres_database")
        _truncate_all(url)
        return url
    return f"sqlite:///{tmp_path}/realty.db"


@pytest.fixture
def aws_credentials(monkeypatch):
    """Fake credentials so boto3 never looks for real ones."""
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)


JWT_SECRET = "test-secret-for-the-suite-0123456789abcdef"


@pytest.fixture
def settings(database_url, tmp_path):
    from config import Settings

    return Settings(database_url=database_url, storage_url=f"file://{tmp_path}/storage", jwt_secret=JWT_SECRET)


@pytest.fixture
def own_app(settings):
    """An app of this test's own, on empty tables: what `app` is unless the module shares one."""
    from wsgi import create_app

    app = create_app(settings)
    app.config["TESTING"] = True
    yield app
    app.extensions["realty"].close()


@pytest.fixture
def app(own_app):
    return own_app


@pytest.fixture(scope="module")
def module_app(tmp_path_factory):
    """One app for every test of a module that opts in, by overriding `app` with `shared_app`.

    For modules whose tests each write only to realties of their own (a fresh uuid) and never count what
    a table or an org holds: building and closing an app costs more than most such tests (the OpenAPI
    document, the routes, the tables; the render worker's stop).
    """
    from config import Settings
    from wsgi import create_app

    root = tmp_path_factory.mktemp("module-app")
    with contextlib.ExitStack() as stack:
        if TEST_DATABASE == "postgresql":
            # A database of its own: a test asking for `database_url` empties the session's, ids starting
            # over, and this app's caches would answer for rows that are gone.
            url = stack.enter_context(_throwaway_postgres_database())
        else:
            url = f"sqlite:///{root}/realty.db"
        app = create_app(Settings(database_url=url, storage_url=f"file://{root}/storage", jwt_secret=JWT_SECRET))
        app.config["TESTING"] = True
        try:
            yield app
        finally:
            app.extensions["realty"].close()


@pytest.fixture
def shared_app(module_app):
    """The module's app, with no render job of an earlier test still running (nor slowing this one)."""
    from tests.processing_support import wait_processed

    wait_processed(module_app)
    return module_app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def make_token():
    """make_token(org="org-a", sub="agent-1", ttl=3600, secret=JWT_SECRET) -> a bearer token string."""
    import time

    import jwt

    def make(org: str | None = "org-a", sub: str = "agent-1", ttl: int = 3600, secret: str = JWT_SECRET) -> str:
        claims = {"sub": sub, "exp": int(time.time()) + ttl}
        if org is not None:
            claims["org"] = org
        return jwt.encode(claims, secret, algorithm="HS256")

    return make


@pytest.fixture
def token(make_token) -> str:
    """A bearer token of org-a (the org of the `rest` helper's requests)."""
    return make_token(org="org-a")
