"""The composition root: configuration, health routes and the `flask --app wsgi` commands."""
from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from config import Settings
from tests.conftest import JWT_SECRET

WSGI = Path(__file__).resolve().parents[2] / "wsgi.py"


def test_healthz_needs_no_credential(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_answers_503_when_storage_is_gone(app, client, settings):
    assert client.get("/readyz").status_code == 200
    shutil.rmtree(settings.storage_url.removeprefix("file://"))
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"] == {"database": True, "storage": False}


def test_cli_token_init_db_and_gc(app, client):
    runner = app.test_cli_runner()
    token = runner.invoke(args=["token", "--org", "org-x", "--sub", "agent-x"])
    assert token.exit_code == 0, token.output
    response = client.get("/uploadGrants?type=image/png", headers={
        "Authorization": f"Bearer {token.output.strip()}", "Request-ID": "9031d1c5-7d40-41dd-b2b8-7919a2fc4fe9"})
    assert response.status_code == 200
    for _ in range(2):  # idempotent
        assert runner.invoke(args=["init-db"]).exit_code == 0
    gc = runner.invoke(args=["gc"])
    assert gc.exit_code == 0 and "expired_uploads" in gc.output


def test_cli_token_refuses_without_a_secret(settings):
    from wsgi import create_app

    app = create_app(dataclasses.replace(settings, jwt_secret=None))
    try:
        result = app.test_cli_runner().invoke(args=["token", "--org", "o", "--sub", "s"])
        assert result.exit_code != 0 and "AUTH_JWT_SECRET" in result.output
    finally:
        app.extensions["realty"].close()


def test_settings_from_the_environment():
    settings = Settings.from_env({"MAX_UPLOAD_BYTES": "1000", "PUBLIC_URL": "https://img.example.com/",
                                  "AUTH_JWT_SECRET": "s"})
    assert settings.max_upload_bytes == 1000
    assert settings.public_url == "https://img.example.com"
    assert settings.database_url == "sqlite:///var/realty.db"
    assert settings.storage_url == "file://" + os.path.abspath("var/storage")
    for bad in ("ten", "0", "-5"):
        with pytest.raises(SystemExit, match="MAX_UPLOAD_BYTES"):
            Settings.from_env({"MAX_UPLOAD_BYTES": bad})


def test_the_download_url_window_is_read_and_checked_at_start():
    assert Settings.from_env({}).url_window_seconds == 900
    settings = Settings.from_env({"DOWNLOAD_URL_WINDOW": "60", "DOWNLOAD_URL_TTL": "120"})
    assert (settings.url_window_seconds, settings.url_ttl_seconds) == (60, 120)
    assert Settings.from_env({"DOWNLOAD_URL_WINDOW": "4800", "DOWNLOAD_URL_TTL": "600000"}).url_window_seconds == 4800
    # S3 refuses presigned URLs living longer than 7 days (604800 s): window + TTL must stay within.
    with pytest.raises(SystemExit, match="DOWNLOAD_URL_WINDOW.*604800"):
        Settings.from_env({"DOWNLOAD_URL_WINDOW": "4801", "DOWNLOAD_URL_TTL": "600000"})
    with pytest.raises(SystemExit, match="DOWNLOAD_URL_WINDOW"):
        Settings.from_env({"DOWNLOAD_URL_WINDOW": "0"})
    with pytest.raises(ValueError, match="604800"):
        Settings(url_window_seconds=600_000, url_ttl_seconds=5_000)


def test_backend_timeout_and_token_leeway_from_the_environment():
    defaults = Settings.from_env({})
    assert (defaults.backend_timeout, defaults.jwt_leeway_seconds) == (10, 30)
    settings = Settings.from_env({"BACKEND_TIMEOUT": "2.5", "AUTH_JWT_LEEWAY": "0"})
    assert (settings.backend_timeout, settings.jwt_leeway_seconds) == (2.5, 0)
    for bad in ("soon", "0", "-1", "nan", "inf"):
        with pytest.raises(SystemExit, match="BACKEND_TIMEOUT"):
            Settings.from_env({"BACKEND_TIMEOUT": bad})
    with pytest.raises(SystemExit, match="AUTH_JWT_LEEWAY"):
        Settings.from_env({"AUTH_JWT_LEEWAY": "-5"})


def test_the_backend_timeout_bounds_the_database_and_storage_clients(settings, aws_credentials):
    from wsgi import build

    gateway = build(dataclasses.replace(settings, backend_timeout=4, storage_url="s3://any-bucket"), JWT_SECRET)
    try:
        config = gateway.blobs.client.meta.config
        # Two tries of half the timeout each: a storage server that stops answering fails a call in time.
        assert (config.connect_timeout, config.read_timeout) == (2, 2)
        assert config.retries == {"mode": "standard", "total_max_attempts": 2}
        database = gateway.database.database
        if settings.database_url.startswith("sqlite"):
            assert dict(database._pragmas)["busy_timeout"] == 4000  # waiting for another writer's lock
        else:
            assert "statement_timeout=4000" in database.connect_params["options"]
            assert database.connect_params["connection_factory"].backend_timeout == 4
    finally:
        gateway.close()


@pytest.mark.parametrize("url", ["file://var/storage", "ftp://host/dir", "s3://"])
def test_unusable_storage_urls_are_refused_at_start(settings, url):
    from wsgi import create_app

    with pytest.raises(SystemExit, match="STORAGE_URL"):
        create_app(dataclasses.replace(settings, storage_url=url))


def test_a_storage_path_may_be_percent_encoded(settings, tmp_path):
    from wsgi import create_app

    app = create_app(dataclasses.replace(settings, storage_url=f"file://{tmp_path}/my%20images"))
    try:
        assert app.extensions["realty"].blobs.root == str(tmp_path / "my images")
    finally:
        app.extensions["realty"].close()


def test_the_app_starts_from_any_directory(tmp_path, database_url):
    """`flask --app /path/to/wsgi.py ...` from elsewhere: schema files and assets are found by module path."""
    env = {**os.environ, "AUTH_JWT_SECRET": JWT_SECRET, "DATABASE_URL": database_url}
    env.pop("STORAGE_URL", None)
    result = subprocess.run([sys.executable, "-m", "flask", "--app", str(WSGI), "token", "--org", "o", "--sub", "s"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(".") == 2  # a JWT
    assert (tmp_path / "var" / "storage").is_dir(), "the default storage is relative to the working directory"


def _cli(tmp_path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """`flask --app /path/to/wsgi.py ARGS` as an operator runs it, in a clean environment."""
    clean = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    clean.update({"AUTH_JWT_SECRET": JWT_SECRET, "STORAGE_URL": f"file://{tmp_path}/storage", **env})
    return subprocess.run([sys.executable, "-m", "flask", "--app", str(WSGI), *args], cwd=tmp_path, env=clean,
                          capture_output=True, text=True, timeout=180)


def _one_clear_line(result: subprocess.CompletedProcess, *words: str) -> str:
    output = (result.stdout + result.stderr).strip()
    assert result.returncode != 0, output
    assert "Traceback" not in output and len(output.splitlines()) == 1, output
    for word in words:
        assert word in output, output
    return output


def test_init_db_with_the_database_down_says_so_in_one_line(tmp_path):
    result = _cli(tmp_path, {"DATABASE_URL": "postgresql://gateway:s3cret@127.0.0.1:1/realty"}, "init-db")
    line = _one_clear_line(result, "database", "DATABASE_URL", "127.0.0.1:1", "Connection refused")
    assert "s3cret" not in line, "a password in DATABASE_URL is never printed"


def test_init_storage_without_credentials_says_so_in_one_line(tmp_path):
    result = _cli(tmp_path, {"DATABASE_URL": f"sqlite:///{tmp_path}/realty.db", "STORAGE_URL": "s3://some-bucket",
                             "AWS_DEFAULT_REGION": "us-east-1", "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                             "AWS_CONFIG_FILE": os.devnull, "AWS_EC2_METADATA_DISABLED": "true"}, "init-storage")
    _one_clear_line(result, "storage", "credentials", "AWS_ACCESS_KEY_ID")


def test_init_storage_with_the_storage_down_says_so_in_one_line(tmp_path):
    result = _cli(tmp_path, {"DATABASE_URL": f"sqlite:///{tmp_path}/realty.db", "STORAGE_URL": "s3://some-bucket",
                             "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "test",
                             "AWS_SECRET_ACCESS_KEY": "test", "AWS_ENDPOINT_URL": "http://127.0.0.1:1",
                             "AWS_EC2_METADATA_DISABLED": "true", "BACKEND_TIMEOUT": "2"}, "init-storage")
    _one_clear_line(result, "storage", "http://127.0.0.1:1", "AWS_ENDPOINT_URL")
