"""The production layout of the soak, on this machine, and its clean removal.

gunicorn (gunicorn.conf.py) and `flask --app wsgi worker` reach PostgreSQL (a scratch database of the
soak's own), moto's S3 server and a Redis of the soak's own through fault proxies, so the soak can cut
and freeze each backend while the gateway runs. The soak itself reads the database and the bucket
directly, past the proxies, to check what the gateway left behind.

Everything started here is stopped by `close()`, also after a failure or Ctrl+C: each process with its
whole tree (the worker command's groups run in process groups of their own, so a process-group signal
would miss them), then the scratch database is dropped. Nothing else on the server is touched: no other
database, and not the Redis on 6379.
"""
from __future__ import annotations

import ast
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import psycopg2
import redis
import requests
from psycopg2 import sql

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
BUCKET = "soak"
SECRET = "soak-secret-0123456789abcdef0123456789abcdef"


@dataclass(frozen=True)
class Layout:
    pg_admin_url: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    gunicorn_workers: int = 2
    gunicorn_threads: int = 4
    render_processes: int = 2
    render_threads: int = 2
    stale_after: int = 20
    """PROCESSING_STALE_AFTER: short, so that lost render jobs come back within the soak's recovery wait."""
    backend_timeout: float = 5.0
    """BACKEND_TIMEOUT: shorter than the freezes, so a frozen backend gives 503s rather than slow answers."""
    heartbeat: int = 15
    """WORKER_HEARTBEAT_TIMEOUT: when a killed render worker's unacknowledged jobs go back on the queue."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def descendants(pid: int) -> list[int]:
    return [d for child in children(pid) for d in (child, *descendants(child))]




def started_at(pid: int) -> int | None:
    """The process's start time (clock ticks since boot): with the pid, it names one process for good."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def identities(pids: list[int]) -> list[tuple[int, int | None]]:
    return [(pid, started_at(pid)) for pid in pids]


def kill(processes: list[tuple[int, int | None]], signum: int) -> None:
    """Signal each process that is still the one recorded: a pid the kernel gave to another process
    since (someone else's, on a shared machine) is left alone."""
    for pid, start in processes:
        if start is not None and started_at(pid) == start:
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass


class Stack:
    def __init__(self, layout: Layout, logs: Path) -> None:
        self.layout = layout
        self.logs = logs
        self.database = f"soak_{uuid.uuid4().hex[:12]}"
        self._processes: list[tuple[str, subprocess.Popen]] = []
        self._database_made = False
        self._proxies: subprocess.Popen | None = None
        self.base = ""
        self.gunicorn: subprocess.Popen | None = None
        self.workers: subprocess.Popen | None = None
        self.env: dict[str, str] = {}

    # --- starting --------------------------------------------------------------------------------

    def start(self) -> None:
        admin = urlsplit(self.layout.pg_admin_url)
        self.direct_database_url = admin._replace(path=f"/{self.database}").geturl()
        self._make_database()
        redis_port, moto_port = self._start_redis(), self._start_moto()
        ports = self._start_proxies({"postgres": f"{admin.hostname}:{admin.port or 5432}",
                                     "s3": f"127.0.0.1:{moto_port}", "redis": f"127.0.0.1:{redis_port}"})
        user = f"{admin.username}@" if admin.username else ""
        self.env = {**os.environ, "DATABASE_URL": f"postgresql://{user}127.0.0.1:{ports['postgres']}/{self.database}",
                    "STORAGE_URL": f"s3://{BUCKET}", "AWS_ENDPOINT_URL": f"http://127.0.0.1:{ports['s3']}",
                    "AWS_ACCESS_KEY_ID": "soak", "AWS_SECRET_ACCESS_KEY": "soak", "AWS_DEFAULT_REGION": "us-east-1",
                    "REDIS_URL": f"redis://127.0.0.1:{ports['redis']}/0", "AUTH_JWT_SECRET": SECRET,
                    "PROCESSING_STALE_AFTER": str(self.layout.stale_after),
                    "BACKEND_TIMEOUT": str(self.layout.backend_timeout),
                    "WORKER_HEARTBEAT_TIMEOUT": str(self.layout.heartbeat), "PYTHONDONTWRITEBYTECODE": ""}
        for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "PUBLIC_URL", "WEB_CONCURRENCY"):
            self.env.pop(name, None)
        self.s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{moto_port}", region_name="us-east-1",
                               aws_access_key_id="soak", aws_secret_access_key="soak")
        self.s3.create_bucket(Bucket=BUCKET)
        self.flask("init-db")
        self._start_gunicorn()
        self.workers = self._spawn("workers", [str(BIN / "flask"), "--app", str(ROOT / "wsgi.py"), "worker",
                                               "--processes", str(self.layout.render_processes),
                                               "--threads", str(self.layout.render_threads)])

    def _make_database(self) -> None:
        with self._admin() as conn, conn.cursor() as cur:
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.database)))
        self._database_made = True

    def _admin(self):
        conn = psycopg2.connect(self.layout.pg_admin_url, connect_timeout=10)
        conn.autocommit = True  # CREATE/DROP DATABASE cannot run in a transaction
        return closing(conn)

    def _start_redis(self) -> int:
        port = free_port()
        # No persistence and a directory of its own: this Redis is the soak's, thrown away at the end.
        self._spawn("redis", ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                              "--appendonly", "no", "--dir", str(self.logs)])
        client = redis.Redis(port=port, socket_connect_timeout=1)
        _wait(lambda: client.ping(), "Redis", redis.RedisError)
        client.close()
        return port

    def _start_moto(self) -> int:
        port = free_port()
        self._spawn("moto", [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)])
        _wait(lambda: requests.get(f"http://127.0.0.1:{port}/moto-api/", timeout=2), "moto's S3 server",
              requests.RequestException)
        return port

    def _start_proxies(self, targets: dict[str, str]) -> dict[str, int]:
        self._proxies = subprocess.Popen(
            [sys.executable, "-m", "bench.soak_proxies", *(f"{k}={v}" for k, v in targets.items())], cwd=ROOT,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=open(self.logs / "proxies.log", "wb"),
            text=True, start_new_session=True)
        return json.loads(self._proxies.stdout.readline())

    def _start_gunicorn(self) -> None:
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.gunicorn = self._spawn("gunicorn", [
            str(BIN / "gunicorn"), "-c", str(ROOT / "gunicorn.conf.py"), "--bind", f"127.0.0.1:{port}",
            "--workers", str(self.layout.gunicorn_workers), "--threads", str(self.layout.gunicorn_threads),
            "wsgi:app"])
        _wait(lambda: requests.get(self.base + "/healthz", timeout=2).raise_for_status(), "gunicorn",
              requests.RequestException, timeout=120)

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "ab")
        process = subprocess.Popen(args, cwd=ROOT, env=self.env or None, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
        self._processes.append((name, process))
        return process

    # --- operating -------------------------------------------------------------------------------

    def flask(self, *command: str, timeout: float = 180) -> subprocess.CompletedProcess:
        return subprocess.run([str(BIN / "flask"), "--app", str(ROOT / "wsgi.py"), *command], cwd=ROOT, env=self.env,
                              capture_output=True, text=True, timeout=timeout, check=False)

    def gc(self) -> dict[str, int] | None:
        """One `flask --app wsgi gc`, as cron runs it; its counts, or None when it failed."""
        try:
            done = self.flask("gc", timeout=120)
        except subprocess.TimeoutExpired:
            return None
        with open(self.logs / "gc.log", "a") as log:
            log.write(f"--- {time.strftime('%H:%M:%S')} exit {done.returncode}\n{done.stdout}{done.stderr[-4000:]}\n")
        if done.returncode != 0:
            return None
        return ast.literal_eval(done.stdout.strip().splitlines()[-1])

    def proxy(self, action: str, backend: str) -> None:
        assert self._proxies is not None
        self._proxies.stdin.write(f"{action} {backend}\n")
        self._proxies.stdin.flush()
        answer = self._proxies.stdout.readline().strip()
        if answer != "ok":
            raise RuntimeError(f"proxy {action} {backend}: {answer or 'the proxy process is gone'}")

    def render_processes(self) -> list[int]:
        """The Dramatiq worker processes that run jobs: the worker command starts one Dramatiq main
        process per group, and each of those forks the one that renders."""
        groups = children(self.workers.pid) if self.workers else []
        return [worker for group in groups for worker in children(group)]

    def gunicorn_workers(self) -> list[int]:
        return children(self.gunicorn.pid) if self.gunicorn else []

    # --- stopping --------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop everything started, newest first, then drop the scratch database. Never raises."""
        for name, process in reversed(self._processes):
            try:
                _stop_tree(process, grace=30 if name == "workers" else 15)
            except Exception as exc:  # noqa: BLE001 - keep stopping the others
                print(f"soak: could not stop {name} ({exc})", file=sys.stderr)
        if self._proxies is not None:
            try:
                self._proxies.stdin.close()
                self._proxies.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self._proxies.kill()
        if self._database_made:
            try:
                drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.database))
                with self._admin() as conn, conn.cursor() as cur:
                    cur.execute(drop)
                self._database_made = False
            except psycopg2.Error as exc:
                print(f"soak: could not drop the scratch database {self.database} ({exc})", file=sys.stderr)


def _stop_tree(process: subprocess.Popen, grace: float) -> None:
    """SIGTERM the process (gunicorn and the worker command pass it on and stop gracefully), then
    SIGKILL whatever of its tree is left after `grace` seconds."""
    if process.poll() is not None:
        return
    tree = identities(descendants(process.pid))
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        tree += identities(descendants(process.pid))
        process.kill()
        process.wait(timeout=10)
    kill(tree, signal.SIGKILL)  # anything orphaned (a render group started meanwhile, a stuck child)


def _wait(probe, what: str, errors: type[BaseException] | tuple, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            probe()
            return
        except errors:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not come up within {timeout:.0f} s") from None
            time.sleep(0.2)
