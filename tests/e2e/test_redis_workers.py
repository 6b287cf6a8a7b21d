"""The queue path for real: the gateway enqueues on Redis, `flask --app wsgi worker` processes render.

Redis is a redis-server the suite starts for itself (tests/servers.py), emptied before each test;
without the binary these tests are skipped, and `make test` says so.
"""
from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Iterator

import pytest

from tests.images import make_photo_jpeg
from tests.rest_support import RestCaller
from tests.servers import START_DEADLINE_S, children, descendants, kill_tree

ROOT = Path(__file__).resolve().parents[2]
HEARTBEAT_S = 3


@pytest.fixture
def redis_client(redis_url):
    import redis

    client = redis.Redis.from_url(redis_url, socket_timeout=30)
    yield client
    client.close()


@pytest.fixture
def queued_settings(settings, redis_url):
    return dataclasses.replace(settings, redis_url=redis_url, worker_heartbeat_seconds=HEARTBEAT_S,
                               processing_stale_seconds=2)


@pytest.fixture
def gateway_client(queued_settings):
    from wsgi import create_app

    app = create_app(queued_settings)
    yield app.test_client()
    app.extensions["realty"].close()


@pytest.fixture
def rest(gateway_client, make_token) -> RestCaller:
    return RestCaller(gateway_client, make_token())


def _leaves(pid: int) -> list[int]:
    """The processes below `pid` that have none of their own: those that run the jobs."""
    below = children(pid)
    return [leaf for child in below for leaf in (_leaves(child) or [child])]


class Workers:
    """`flask --app /abs/wsgi.py worker` processes, started from another directory as an operator would."""

    def __init__(self, settings, tmp_path: Path) -> None:
        self._env = {**os.environ, "DATABASE_URL": settings.database_url, "STORAGE_URL": settings.storage_url,
                     "AUTH_JWT_SECRET": settings.jwt_secret, "REDIS_URL": settings.redis_url,
                     "WORKER_HEARTBEAT_TIMEOUT": str(settings.worker_heartbeat_seconds),
                     "PROCESSING_STALE_AFTER": str(settings.processing_stale_seconds)}
        self._cwd = tmp_path
        self._started: list[subprocess.Popen] = []

    def start(self, processes: int = 1, threads: int = 1) -> subprocess.Popen:
        log = open(self._cwd / f"worker-{len(self._started)}.log", "wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", str(ROOT / "wsgi.py"), "worker", "--processes", str(processes),
             "--threads", str(threads)],
            cwd=self._cwd, env=self._env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self._started.append(process)
        return process

    @staticmethod
    def kill(process: subprocess.Popen) -> None:
        """SIGKILL the worker command and every process it started, as when its machine or container dies."""
        kill_tree(process)

    def stop_all(self) -> None:
        # Killed rather than terminated: Dramatiq's graceful stop takes seconds, and what these tests
        # prove does not depend on how a worker ends (one is killed mid-batch on purpose).
        for process in self._started:
            if process.poll() is None:
                self.kill(process)


@pytest.fixture
def workers(queued_settings, tmp_path) -> Iterator[Workers]:
    running = Workers(queued_settings, tmp_path)
    yield running
    running.stop_all()


def wait_for(condition, timeout: float, what: str, tmp_path: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    logs = "\n".join(p.read_text(errors="replace")[-3000:] for p in sorted(tmp_path.glob("worker-*.log")))
    pytest.fail(f"timed out after {timeout} s waiting for {what}; worker logs:\n{logs}")


def states(rest: RestCaller, realty: str) -> list[str]:
    return [i["processing"] for i in rest.images(realty)]


def test_a_worker_killed_mid_batch_has_its_jobs_redone(rest, workers, tmp_path):
    realty = str(uuid.uuid4())
    photo = make_photo_jpeg(1600, 1200, quality=95)
    keys = [rest.upload(photo, "image/jpeg", f"{n}.jpg") for n in range(12)]
    saved = rest.save_ok(realty, keys)
    assert [i["processing"] for i in saved] == ["PENDING"] * 12
    time.sleep(0.5)
    assert states(rest, realty) == ["PENDING"] * 12, "with REDIS_URL the gateway renders nothing itself"

    first = workers.start(processes=1, threads=1)
    wait_for(lambda: "READY" in states(rest, realty), START_DEADLINE_S, "a first image to be rendered", tmp_path)
    workers.kill(first)
    killed_at = time.monotonic()
    assert "PENDING" in states(rest, realty), "the worker was killed mid-batch"

    workers.start(processes=1, threads=1)
    wait_for(lambda: set(states(rest, realty)) == {"READY"}, 120, "every image to be READY", tmp_path)
    assert time.monotonic() - killed_at < 120
    for image in rest.images(realty):
        assert set(image["renditions"]) == {"thumbnail", "web", "large", "thumbnailWebp", "webWebp", "largeWebp"}
        for rendition in image["renditions"].values():
            magic = b"\xff\xd8" if rendition["contentType"] == "image/jpeg" else b"RIFF"
            assert rest.download(rendition["url"])[:len(magic)] == magic


def test_jobs_lost_from_the_queue_are_queued_again_from_the_database(rest, workers, redis_client, tmp_path):
    realty = str(uuid.uuid4())
    rest.save_ok(realty, [rest.upload(make_photo_jpeg(64, 48), "image/jpeg", "a.jpg") for _ in range(3)])
    redis_client.flushdb()  # Redis restarted without persistence: the messages are gone
    workers.start(processes=1, threads=2)
    wait_for(lambda: set(states(rest, realty)) == {"READY"}, START_DEADLINE_S,
             "the database sweep to queue the jobs again", tmp_path)


def test_the_worker_command_needs_redis(settings):
    from wsgi import create_app

    app = create_app(settings)  # no REDIS_URL: the gateway renders itself
    try:
        result = app.test_cli_runner().invoke(args=["worker"])
        assert result.exit_code != 0
        assert "REDIS_URL is not set" in result.output
    finally:
        app.extensions["realty"].close()


def test_one_killed_worker_child_does_not_stop_rendering(rest, workers, tmp_path):
    """Issue 20 #2: after kill -9 of one Dramatiq child its main process shut everything down and
    exited, and images stayed PENDING until a person started a worker (an OOM kill does the same)."""
    realty = str(uuid.uuid4())
    photo = make_photo_jpeg(1600, 1200, quality=95)
    rest.save_ok(realty, [rest.upload(photo, "image/jpeg", f"{n}.jpg") for n in range(8)])
    supervisor = workers.start(processes=2, threads=1)
    wait_for(lambda: "READY" in states(rest, realty), START_DEADLINE_S, "a first image to be rendered", tmp_path)
    rendering = wait_for(lambda: _leaves(supervisor.pid), START_DEADLINE_S, "the worker processes", tmp_path)
    os.kill(rendering[0], signal.SIGKILL)  # one child only, as the OOM killer does
    killed_at = time.monotonic()
    later = str(uuid.uuid4())
    rest.save_ok(later, [rest.upload(make_photo_jpeg(640, 480), "image/jpeg", f"{n}.jpg") for n in range(4)])
    wait_for(lambda: set(states(rest, realty) + states(rest, later)) == {"READY"}, 120,
             "every image to be READY with no operator", tmp_path)
    assert time.monotonic() - killed_at < 120
    assert supervisor.poll() is None, "the worker command keeps running"
    running = descendants(supervisor.pid)
    supervisor.terminate()  # as systemd or an operator stops it: every group stops gracefully
    assert supervisor.wait(timeout=60) == 0
    assert not [pid for pid in running if Path(f"/proc/{pid}").exists()], "no process left behind"


def test_the_worker_processes_end_with_a_killed_worker_command(workers, tmp_path):
    """kill -9 of the worker command itself (the OOM killer, a crashed container runtime): its queue engine's
    processes run in process groups of their own, and left running they would render with code and settings
    nobody supervises any more, beside the command started again in its place."""
    supervisor = workers.start(processes=2, threads=1)
    below = wait_for(lambda: len(_leaves(supervisor.pid)) == 2 and descendants(supervisor.pid), START_DEADLINE_S,
                     "the worker processes", tmp_path)
    os.kill(supervisor.pid, signal.SIGKILL)
    supervisor.wait(timeout=60)
    wait_for(lambda: not [pid for pid in below if _alive(pid)], 60, "the orphaned worker processes to end", tmp_path)


def _alive(pid: int) -> bool:
    """Whether `pid` still runs (a zombie waiting for its parent to read its status has ended)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
