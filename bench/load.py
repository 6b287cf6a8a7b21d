"""Load for a bounded time against one URL: wrk when installed, else a Python loop. Returns req/s.

Every answer must have the expected status: a benchmark of error pages would measure nothing.
"""
from __future__ import annotations

import http.client
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

CONNECTIONS = 4
"""Enough to keep one sync worker busy while wrk reconnects (gunicorn's sync worker closes every connection)."""


@dataclass(frozen=True)
class Target:
    url: str
    method: str = "GET"
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    status: int = 200


@dataclass(frozen=True)
class Result:
    requests_per_second: float
    p50_ms: float | None
    tool: str


def tool() -> str:
    return "wrk" if shutil.which("wrk") else "python"


def measure(target: Target, seconds: float) -> Result:
    return _wrk(target, seconds) if shutil.which("wrk") else _python(target, seconds)


def _wrk(target: Target, seconds: float) -> Result:
    # A Lua script carries the method, body and headers: wrk's -H is fine for headers, but not bodies.
    lua = [f"wrk.method = {_lua_string(target.method)}", f"wrk.body = {_lua_string(target.body.decode())}"]
    lua += [f"wrk.headers[{_lua_string(k)}] = {_lua_string(v)}" for k, v in target.headers]
    # Count answers of an unexpected status (wrk itself only counts those outside 2xx/3xx).
    lua += ["wrong = 0",
            f"response = function(status, headers, body) if status ~= {target.status} then wrong = wrong + 1 end end",
            "done = function(summary, latency, requests) io.write(string.format('WRONG %d\\n', wrong)) end"]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write("\n".join(lua) + "\n")
    try:
        out = subprocess.run(
            ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{max(1, round(seconds))}s", "--latency", "-s", script.name,
             target.url], capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    finally:
        os.unlink(script.name)
    wrong = int(re.search(r"WRONG (\d+)", out).group(1))
    if wrong or "Socket errors" in out:
        raise RuntimeError(f"unexpected answers from {target.url}:\n{out}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)\b", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    return Result(rate, float(p50.group(1)) * scale[p50.group(2)] if p50 else None, "wrk")


def _lua_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _python(target: Target, seconds: float) -> Result:
    parts = urlsplit(target.url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    deadline = time.perf_counter() + seconds
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()

    def loop() -> None:
        while time.perf_counter() < deadline and not failures:
            started = time.perf_counter()
            connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
            try:
                connection.request(target.method, path, body=target.body or None, headers=dict(target.headers))
                response = connection.getresponse()
                response.read()
            finally:
                connection.close()
            with lock:
                if response.status != target.status:
                    failures.append(f"{response.status} from {target.url}")
                latencies.append(time.perf_counter() - started)

    threads = [threading.Thread(target=loop) for _ in range(2)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(failures[0])
    latencies.sort()
    return Result(len(latencies) / (time.perf_counter() - started), latencies[len(latencies) // 2] * 1000, "python")
