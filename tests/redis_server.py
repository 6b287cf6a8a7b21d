"""A `redis-server` of our own, on a free port of 127.0.0.1, for whatever needs Redis and must not share one.

The tests and benchmarks flush and fill Redis as they please: they do it on a server they started, never on
one that may hold someone else's data. No persistence (nothing is written but its log), stopped afterwards.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Iterator

REDIS_SERVER = os.environ.get("REDIS_SERVER", "redis-server")
"""The binary: `redis-server` on PATH (Debian: apt-get install redis-server), or REDIS_SERVER=/path."""
START_DEADLINE_S = 60.0
"""Generous: on a machine busy with other work a start that takes 50 ms may take seconds."""
PORT_ATTEMPTS = 5
"""A free port may be taken by another process between our look and redis-server's bind: try another."""


class RedisServerUnavailable(RuntimeError):
    """No redis-server binary here, or it would not start."""


def redis_server_binary() -> str | None:
    return shutil.which(REDIS_SERVER)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _start(binary: str, directory: Path, port: int) -> subprocess.Popen | None:
    """redis-server on `port`, once it answers PING; None when the port turned out to be taken."""
    log = directory / f"redis-{port}.log"
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(directory), "--logfile", str(log)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + START_DEADLINE_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = log.read_text(errors="replace") if log.exists() else ""
            if "Address already in use" in output:
                return None
            raise RedisServerUnavailable(f"{binary} exited with {process.returncode}: {output[-2000:]}")
        if _answers(port):
            return process
        time.sleep(0.05)
    _stop(process)
    raise RedisServerUnavailable(f"{binary} did not answer on port {port} within {START_DEADLINE_S:.0f} s")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)


@contextlib.contextmanager
def own_redis_server(directory: Path) -> Iterator[str]:
    """Starts redis-server (its files in `directory`), yields its URL `redis://127.0.0.1:PORT`, stops it."""
    binary = redis_server_binary()
    if binary is None:
        raise RedisServerUnavailable(f"no {REDIS_SERVER} binary on PATH (apt-get install redis-server, "
                                     "or REDIS_SERVER=/path/to/redis-server)")
    directory.mkdir(parents=True, exist_ok=True)
    for _ in range(PORT_ATTEMPTS):
        port = _free_port()
        process = _start(binary, directory, port)
        if process is not None:
            break
    else:
        raise RedisServerUnavailable(f"{binary} found no free port in {PORT_ATTEMPTS} attempts")
    try:
        yield f"redis://127.0.0.1:{port}"
    finally:
        _stop(process)
