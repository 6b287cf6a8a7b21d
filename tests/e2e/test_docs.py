"""The documentation's examples, run as a reader runs them, against a live gateway (tests/doc_examples.py).

README.md's walkthrough and docs/migrating.md: every ```sh block in order, in one bash, from the
repository's directory, with BASE and TOKEN set as the reader sets them; each printed answer has the shape
the document shows. Nothing they write is left in the repository.
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest
from werkzeug.serving import make_server

from tests import doc_examples
from tests.servers import SHUTDOWN_POLL

ROOT = Path(__file__).resolve().parents[2]
DEADLINE_S = 600
"""The whole document: a few dozen requests and a wait for renditions; generous for a busy machine."""

pytestmark = pytest.mark.skipif(not (shutil.which("curl") and shutil.which("python3")),
                                reason="the documents' examples use curl and python3")


@contextmanager
def serving(settings) -> Iterator[str]:
    """The gateway on a free port of 127.0.0.1 (local disk storage); yields its base URL."""
    from wsgi import create_app

    app = create_app(settings)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(SHUTDOWN_POLL,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=30)
        server.server_close()
        app.extensions["realty"].close()


@pytest.fixture
def gateway(settings) -> Iterator[str]:
    """The gateway with the embedded defaults, as `make run` serves it."""
    with serving(settings) as base:
        yield base


def reader_env(tmp_path: Path, **values: str) -> dict[str, str]:
    """A reader's terminal: their PATH and HOME, scratch directories under `tmp_path`, this Python."""
    env = {name: os.environ[name] for name in ("PATH", "HOME", "LANG", "LC_ALL") if name in os.environ}
    env.update(TMPDIR=str(tmp_path), PYTHON=sys.executable, **values)
    return env


def run_document(path: Path, env: dict[str, str]) -> list[doc_examples.Ran]:
    before = set(os.listdir(ROOT))
    found = doc_examples.examples(path)
    assert found, f"{path} has no sh examples"
    ran = doc_examples.run(found, env, ROOT, DEADLINE_S)
    assert set(os.listdir(ROOT)) - before == set(), "the examples left files in the repository"
    return ran


def test_the_readme_walkthrough_runs_as_written(gateway, tmp_path, token):
    ran = run_document(ROOT / "README.md", reader_env(tmp_path, BASE=gateway, TOKEN=token))
    printed = [document for result in ran for document in result.documents]
    errors = [d for d in printed if isinstance(d, dict) and ("errorCode" in d or "errors" in d)]
    assert errors == [], errors
    assert any("upload: HTTP 204" in result.output for result in ran)
    listings = [d["realtyImages"] for d in printed if isinstance(d, dict) and "realtyImages" in d]
    assert [(image["description"], image["hero"]) for image in listings[-1]] == [("Front", True)]
    created = [d["data"]["createPropertyImage"]["image"] for d in printed if "createPropertyImage" in d.get("data", {})]
    assert [(image["type"], image["status"]) for image in created] == [("ROOM_IMAGE", "EXTERNAL_NEW")]


@pytest.fixture
def webhook_settings(settings):
    """As the guide says to start the gateway to try webhooks on one machine (http, a local address)."""
    return dataclasses.replace(settings, webhook_allow_http=True, webhook_allow_private=True)


def test_the_migration_guide_runs_as_written_and_answers_as_shown(webhook_settings, tmp_path, token):
    with serving(webhook_settings) as gateway:
        ran = run_document(ROOT / "docs" / "migrating.md", reader_env(tmp_path, BASE=gateway, TOKEN=token))
    doc_examples.check_answers(ran)
    assert sum(len(result.example.answers) for result in ran) >= 29, "every operation shows its answer"
